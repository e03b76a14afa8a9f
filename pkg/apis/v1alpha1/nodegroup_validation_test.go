package v1alpha1_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

type invalidCase struct {
	name string
	obj  func() client.Object
	// want are substrings of the apiserver's error; the first names the field.
	want []string
}

func nodeGroupWith(mutate func(*v1alpha1.NodeGroup)) func() client.Object {
	return func() client.Object {
		ng := fixtures.NodeGroup()
		mutate(ng)
		return ng
	}
}

func requirement(key string, op v1alpha1.NodeSelectorOperator, values ...string) v1alpha1.NodeSelectorRequirement {
	return v1alpha1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func withRequirements(reqs ...v1alpha1.NodeSelectorRequirement) func() client.Object {
	return nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Requirements = reqs })
}

func withBudget(b v1alpha1.Budget) func() client.Object {
	return nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Disruption.Budgets = []v1alpha1.Budget{b} })
}

func hours(h int) *metav1.Duration { return &metav1.Duration{Duration: time.Duration(h) * time.Hour} }

var invalidNodeGroups = []invalidCase{
	// sizes
	{"minNodes above maxNodes", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.MinNodes, ng.Spec.MaxNodes = 5, 4 }),
		[]string{"spec.minNodes must be less than or equal to spec.maxNodes"}},
	{"maxNodes zero", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxNodes = 0 }),
		[]string{"spec.maxNodes", "spec.maxNodes must be greater than or equal to 1"}},
	{"maxNodes missing", func() client.Object {
		return unstructuredOf("NodeGroup", map[string]any{"datacenterID": "dc-1"})
	}, []string{"spec.maxNodes: Required value"}},
	{"minNodes negative", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.MinNodes = -1 }),
		[]string{"spec.minNodes must be greater than or equal to 0"}},
	{"weight above 100", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Weight = 101 }),
		[]string{"spec.weight", "spec.weight must be between 0 and 100"}},
	{"weight negative", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Weight = -1 }),
		[]string{"spec.weight must be between 0 and 100"}},
	{"datacenterID empty", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.DatacenterID = "" }),
		[]string{"spec.datacenterID", "at least 1 chars long"}},
	{"datacenterID missing", func() client.Object {
		return unstructuredOf("NodeGroup", map[string]any{"maxNodes": int64(3)})
	}, []string{"spec.datacenterID: Required value"}},
	{"maxNodes not a number", func() client.Object {
		return unstructuredOf("NodeGroup", map[string]any{"datacenterID": "dc-1", "maxNodes": "ten"})
	}, []string{"spec.maxNodes", "must be of type integer"}},

	// requirements
	{"requirement operator unknown", withRequirements(requirement(v1alpha1.LabelCategory, "Like", "standard")),
		[]string{"spec.requirements[0].operator", `Unsupported value: "Like"`}},
	{"requirement key not well-known", withRequirements(requirement(v1alpha1.LabelHostname, v1alpha1.NodeSelectorOpIn, "node-1")),
		[]string{"spec.requirements[0]", "spec.requirements.key must be one of autoscaling.vpsie.com/offering"}},
	{"requirement key typo", withRequirements(requirement("autoscaling.vpsie.com/memory", v1alpha1.NodeSelectorOpExists)),
		[]string{"spec.requirements.key must be one of"}},
	{"In without values", withRequirements(requirement(v1alpha1.LabelCategory, v1alpha1.NodeSelectorOpIn)),
		[]string{"spec.requirements[0]", "spec.requirements.values must not be empty when operator is In or NotIn"}},
	{"NotIn with an empty list", withRequirements(v1alpha1.NodeSelectorRequirement{Key: v1alpha1.LabelOffering, Operator: v1alpha1.NodeSelectorOpNotIn, Values: []string{}}),
		[]string{"spec.requirements.values must not be empty when operator is In or NotIn"}},
	{"Exists with values", withRequirements(requirement(v1alpha1.LabelZone, v1alpha1.NodeSelectorOpExists, "dc-1")),
		[]string{"spec.requirements.values must be empty when operator is Exists or DoesNotExist"}},
	{"DoesNotExist with values", withRequirements(requirement(v1alpha1.LabelZone, v1alpha1.NodeSelectorOpDoesNotExist, "dc-1")),
		[]string{"spec.requirements.values must be empty when operator is Exists or DoesNotExist"}},
	{"Gt with two values", withRequirements(requirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpGt, "1", "2")),
		[]string{"spec.requirements.values must hold exactly one non-negative integer when operator is Gt or Lt"}},
	{"Lt with a non-integer", withRequirements(requirement(v1alpha1.LabelMemoryMiB, v1alpha1.NodeSelectorOpLt, "8Gi")),
		[]string{"spec.requirements.values must hold exactly one non-negative integer when operator is Gt or Lt"}},
	{"Gt with a negative integer", withRequirements(requirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpGt, "-1")),
		[]string{"spec.requirements.values must hold exactly one non-negative integer when operator is Gt or Lt"}},
	{"Gt without values", withRequirements(requirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpGt)),
		[]string{"spec.requirements.values must hold exactly one non-negative integer when operator is Gt or Lt"}},
	{"requirement value not a label value", withRequirements(requirement(v1alpha1.LabelCategory, v1alpha1.NodeSelectorOpIn, "memory optimized")),
		[]string{"spec.requirements[0].values", "spec.requirements.values must be valid label values"}},
	{"too many requirements", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		for range 33 {
			ng.Spec.Requirements = append(ng.Spec.Requirements, requirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpGt, "1"))
		}
	}), []string{"spec.requirements", "must have at most 32 items"}},

	// offerings and price
	{"offeringIDs duplicated", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.OfferingIDs = []string{"101", "102", "101"} }),
		[]string{"spec.offeringIDs", "spec.offeringIDs must not contain duplicates"}},
	{"offeringIDs with an empty id", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.OfferingIDs = []string{""} }),
		[]string{"spec.offeringIDs[0]", "at least 1 chars long"}},
	{"maxHourlyPrice zero", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxHourlyPrice = "0.000" }),
		[]string{"spec.maxHourlyPrice", `spec.maxHourlyPrice must be a positive decimal number such as "0.25"`}},
	{"maxHourlyPrice negative", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxHourlyPrice = "-0.5" }),
		[]string{"spec.maxHourlyPrice must be a positive decimal number"}},
	{"maxHourlyPrice not a number", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxHourlyPrice = "cheap" }),
		[]string{"spec.maxHourlyPrice must be a positive decimal number"}},
	{"maxHourlyPrice with a currency", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxHourlyPrice = "$0.25" }),
		[]string{"spec.maxHourlyPrice must be a positive decimal number"}},

	// template
	{"label key with a space", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Template.Labels = map[string]string{"bad key": "x"} }),
		[]string{"spec.template.labels", "spec.template.labels keys must be qualified names"}},
	{"label key with an upper-case prefix", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Labels = map[string]string{"Example.COM/team": "x"}
	}), []string{"spec.template.labels keys must be qualified names"}},
	{"label key name too long", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Labels = map[string]string{strings.Repeat("a", 64): "x"}
	}), []string{"spec.template.labels keys must be qualified names"}},
	{"label value too long", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Labels = map[string]string{"team": strings.Repeat("v", 64)}
	}), []string{"spec.template.labels values must be at most 63 characters"}},
	{"label owned by the autoscaler", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Labels = map[string]string{v1alpha1.LabelNodeGroup: "other"}
	}), []string{"spec.template.labels must not set labels the autoscaler owns"}},
	{"well-known zone label", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Labels = map[string]string{v1alpha1.LabelZone: "dc-2"}
	}), []string{"spec.template.labels must not set labels the autoscaler owns"}},
	{"taint key invalid", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Taints = []v1alpha1.Taint{{Key: "dedicated/", Effect: corev1.TaintEffectNoSchedule}}
	}), []string{"spec.template.taints[0].key", "taint key must be a qualified name"}},
	{"taint key empty", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Taints = []v1alpha1.Taint{{Key: "", Effect: corev1.TaintEffectNoSchedule}}
	}), []string{"spec.template.taints[0].key", "at least 1 chars long"}},
	{"taint effect unknown", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Taints = []v1alpha1.Taint{{Key: "dedicated", Value: "x", Effect: "Sometimes"}}
	}), []string{"spec.template.taints[0].effect", `Unsupported value: "Sometimes"`}},
	{"taint effect missing", func() client.Object {
		return unstructuredOf("NodeGroup", map[string]any{"datacenterID": "dc-1", "maxNodes": int64(3),
			"template": map[string]any{"taints": []any{map[string]any{"key": "dedicated"}}}})
	}, []string{"spec.template.taints[0].effect: Required value"}},
	{"startup taint value invalid", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.StartupTaints = []v1alpha1.Taint{{Key: "node.cilium.io/agent-not-ready", Value: "-no-", Effect: corev1.TaintEffectNoExecute}}
	}), []string{"spec.template.startupTaints[0].value", "taint value must be a valid label value"}},

	{"taint repeated", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Taints = []v1alpha1.Taint{
			{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule},
			{Key: "dedicated", Value: "b", Effect: corev1.TaintEffectNoSchedule},
		}
	}), []string{"spec.template.taints", "spec.template.taints must not repeat a key with the same effect"}},
	{"startup taint repeated", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.StartupTaints = []v1alpha1.Taint{
			{Key: "example.com/booting", Effect: corev1.TaintEffectNoExecute},
			{Key: "example.com/booting", Effect: corev1.TaintEffectNoExecute},
		}
	}), []string{"spec.template.startupTaints must not repeat a key with the same effect"}},
	{"taint both permanent and startup", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Taints = []v1alpha1.Taint{{Key: "example.com/booting", Effect: corev1.TaintEffectNoSchedule}}
		ng.Spec.Template.StartupTaints = []v1alpha1.Taint{{Key: "example.com/booting", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
	}), []string{"spec.template: Invalid value", "spec.template.taints and spec.template.startupTaints must not both hold a taint with the same key and effect"}},

	// limits
	{"limits negative", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
	}), []string{"spec.limits", "spec.limits must not be negative"}},
	{"limits on an unsupported resource", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Limits = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("100")}
	}), []string{"spec.limits may only contain cpu and memory"}},
	{"limits not a quantity", func() client.Object {
		return unstructuredOf("NodeGroup", map[string]any{"datacenterID": "dc-1", "maxNodes": int64(3),
			"limits": map[string]any{"cpu": "lots"}})
	}, []string{"spec.limits.cpu", "should match"}},

	// disruption
	{"consolidationPolicy unknown", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Disruption.ConsolidationPolicy = "Always" }),
		[]string{"spec.disruption.consolidationPolicy", `Unsupported value: "Always"`}},
	{"consolidateAfter in words", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Disruption.ConsolidateAfter = "5 minutes" }),
		[]string{"spec.disruption.consolidateAfter", "spec.disruption.consolidateAfter must be a duration of whole hours, minutes and seconds"}},
	{"consolidateAfter fractional", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.Disruption.ConsolidateAfter = "1.5h" }),
		[]string{"spec.disruption.consolidateAfter", "spec.disruption.consolidateAfter must be a duration of whole hours, minutes and seconds"}},
	{"expireAfter in days", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.ExpireAfter = "30d" }),
		[]string{"spec.expireAfter", `spec.expireAfter must be a duration of whole hours, minutes and seconds (e.g. "720h" or "1h30m") or "Never"`}},
	{"expireAfter lower-case never", nodeGroupWith(func(ng *v1alpha1.NodeGroup) { ng.Spec.ExpireAfter = "never" }),
		[]string{"spec.expireAfter", `spec.expireAfter must be a duration of whole hours, minutes and seconds (e.g. "720h" or "1h30m") or "Never"`}},
	{"budget nodes not a number", withBudget(v1alpha1.Budget{Nodes: "ten"}),
		[]string{"spec.disruption.budgets[0].nodes", `spec.disruption.budgets.nodes must be a non-negative integer ("3") or a percentage from 0% to 100% ("10%")`}},
	{"budget nodes above 100%", withBudget(v1alpha1.Budget{Nodes: "101%"}),
		[]string{"spec.disruption.budgets.nodes must be a non-negative integer"}},
	{"budget nodes negative", withBudget(v1alpha1.Budget{Nodes: "-1"}),
		[]string{"spec.disruption.budgets.nodes must be a non-negative integer"}},
	{"budget schedule not cron", withBudget(v1alpha1.Budget{Nodes: "0", Schedule: ptr.To("every morning"), Duration: hours(8)}),
		[]string{"spec.disruption.budgets[0].schedule", "spec.disruption.budgets.schedule must be a cron expression with 5 fields"}},
	{"budget schedule with 4 fields", withBudget(v1alpha1.Budget{Nodes: "0", Schedule: ptr.To("0 9 * *"), Duration: hours(8)}),
		[]string{"spec.disruption.budgets.schedule must be a cron expression with 5 fields"}},
	{"budget schedule unknown macro", withBudget(v1alpha1.Budget{Nodes: "0", Schedule: ptr.To("@fortnightly"), Duration: hours(8)}),
		[]string{"spec.disruption.budgets.schedule must be a cron expression"}},
	{"budget schedule without duration", withBudget(v1alpha1.Budget{Nodes: "0", Schedule: ptr.To("0 9 * * 1-5")}),
		[]string{"spec.disruption.budgets[0]", "spec.disruption.budgets.schedule and spec.disruption.budgets.duration must be set together"}},
	{"budget duration without schedule", withBudget(v1alpha1.Budget{Nodes: "0", Duration: hours(8)}),
		[]string{"spec.disruption.budgets.schedule and spec.disruption.budgets.duration must be set together"}},
	{"budget duration in days", func() client.Object {
		return unstructuredOf("NodeGroup", map[string]any{"datacenterID": "dc-1", "maxNodes": int64(3),
			"disruption": map[string]any{"budgets": []any{map[string]any{"nodes": "1", "schedule": "@daily", "duration": "1d"}}}})
	}, []string{"spec.disruption.budgets[0].duration", "spec.disruption.budgets.duration must be a duration of whole hours, minutes and seconds"}},
	{"budget reason repeated", withBudget(v1alpha1.Budget{Nodes: "1", Reasons: []v1alpha1.DisruptionReason{"Empty", "Empty"}}),
		[]string{"spec.disruption.budgets[0].reasons[1]", `Duplicate value: "Empty"`}},
	{"budget reason unknown", withBudget(v1alpha1.Budget{Nodes: "1", Reasons: []v1alpha1.DisruptionReason{"Bored"}}),
		[]string{"spec.disruption.budgets[0].reasons[0]", `Unsupported value: "Bored"`}},
}

func TestNodeGroupRejectsInvalidSpecs(t *testing.T) {
	e := apiserver(t)
	for _, tc := range invalidNodeGroups {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := e.Client.Create(testContext(t), tc.obj(), strict)
			t.Logf("apiserver: %v", err)
			expectInvalid(g, err, tc.want...)
		})
	}
}

func TestNodeGroupDefaults(t *testing.T) {
	e := apiserver(t)
	g := NewWithT(t)
	ctx := testContext(t)
	u := unstructuredOf("NodeGroup", map[string]any{"datacenterID": "dc-1", "maxNodes": int64(3)})
	g.Expect(e.Client.Create(ctx, u, strict)).To(Succeed())
	t.Cleanup(func() { _ = e.Client.Delete(ctx, u) })

	ng := &v1alpha1.NodeGroup{}
	g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(u), ng)).To(Succeed())
	g.Expect(ng.Spec.MinNodes).To(BeZero())
	g.Expect(ng.Spec.Disruption.ConsolidationPolicy).To(Equal(v1alpha1.ConsolidationPolicyWhenEmptyOrUnderutilized))
	g.Expect(ng.Spec.Disruption.ConsolidateAfter).To(Equal(v1alpha1.NillableDuration("0s")))
	g.Expect(ng.Spec.Disruption.Budgets).To(Equal([]v1alpha1.Budget{{Nodes: "10%"}}))
	g.Expect(ng.Spec.ExpireAfter).To(Equal(v1alpha1.Never))
	// the raw object must carry minNodes too, so printer columns and CEL see it
	raw := &unstructured.Unstructured{}
	raw.SetGroupVersionKind(u.GroupVersionKind())
	g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(u), raw)).To(Succeed())
	minNodes, found, err := unstructured.NestedInt64(raw.Object, "spec", "minNodes")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue())
	g.Expect(minNodes).To(BeZero())

	// a budget without nodes gets 10% too
	withSchedule := fixtures.NodeGroup()
	withSchedule.Spec.Disruption.Budgets = []v1alpha1.Budget{{Schedule: ptr.To("@daily"), Duration: hours(1)}}
	g.Expect(e.Client.Create(ctx, withSchedule, strict)).To(Succeed())
	t.Cleanup(func() { _ = e.Client.Delete(ctx, withSchedule) })
	g.Expect(withSchedule.Spec.Disruption.Budgets[0].Nodes).To(Equal("10%"))
}

func TestNodeGroupAcceptsValidSpecs(t *testing.T) {
	e := apiserver(t)
	full := func() *v1alpha1.NodeGroup {
		return fixtures.NodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{
			MinNodes: 2,
			MaxNodes: 2,
			Requirements: []v1alpha1.NodeSelectorRequirement{
				requirement(v1alpha1.LabelCategory, v1alpha1.NodeSelectorOpIn, "standard", "memory-optimized"),
				requirement(v1alpha1.LabelOffering, v1alpha1.NodeSelectorOpNotIn, "101"),
				requirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpGt, "1"),
				requirement(v1alpha1.LabelMemoryMiB, v1alpha1.NodeSelectorOpLt, "65537"),
				requirement(v1alpha1.LabelInstanceType, v1alpha1.NodeSelectorOpExists),
				requirement(v1alpha1.LabelZone, v1alpha1.NodeSelectorOpIn, "dc-hel1"),
				requirement(v1alpha1.LabelArch, v1alpha1.NodeSelectorOpIn, "amd64"),
				requirement(v1alpha1.LabelOS, v1alpha1.NodeSelectorOpDoesNotExist),
			},
			OfferingIDs:    []string{"101", "102", "105"},
			MaxHourlyPrice: "0.25",
			Template: v1alpha1.NodeTemplate{
				Labels: map[string]string{"team": "payments", "example.com/tier": "gold", "empty": ""},
				Taints: []v1alpha1.Taint{
					{Key: "dedicated", Value: "compute", Effect: corev1.TaintEffectNoSchedule},
					{Key: "example.com/spot", Effect: corev1.TaintEffectPreferNoSchedule},
				},
				StartupTaints: []v1alpha1.Taint{{Key: "node.cilium.io/agent-not-ready", Value: "true", Effect: corev1.TaintEffectNoExecute}},
			},
			Weight: 100,
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi")},
			Disruption: v1alpha1.Disruption{
				ConsolidationPolicy: v1alpha1.ConsolidationPolicyWhenEmpty,
				ConsolidateAfter:    "1h30m",
				Budgets: []v1alpha1.Budget{
					{Nodes: "0", Schedule: ptr.To("0 9 * * mon-fri"), Duration: hours(8), Reasons: []v1alpha1.DisruptionReason{v1alpha1.DisruptionReasonUnderutilized, v1alpha1.DisruptionReasonDrifted}},
					{Nodes: "100%", Schedule: ptr.To("@weekly"), Duration: &metav1.Duration{Duration: 90 * time.Minute}},
					{Nodes: "3", Reasons: []v1alpha1.DisruptionReason{v1alpha1.DisruptionReasonEmpty, v1alpha1.DisruptionReasonExpired}},
					{Nodes: "0%"},
				},
			},
			ExpireAfter: "720h",
		}})
	}
	for _, tc := range []struct {
		name string
		ng   *v1alpha1.NodeGroup
	}{
		{"fixture", fixtures.NodeGroup()},
		{"every field set", full()},
		{"weight 0 and consolidation never", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Weight = 0
			ng.Spec.Disruption.ConsolidateAfter = v1alpha1.Never
		})().(*v1alpha1.NodeGroup)},
		{"Gt zero and zero limits", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Requirements = []v1alpha1.NodeSelectorRequirement{requirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpGt, "0")}
			ng.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")}
		})().(*v1alpha1.NodeGroup)},
		{"one taint key with two effects", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Template.Taints = []v1alpha1.Taint{
				{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule},
				{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute},
			}
			ng.Spec.Template.StartupTaints = []v1alpha1.Taint{{Key: "dedicated", Effect: corev1.TaintEffectPreferNoSchedule}}
		})().(*v1alpha1.NodeGroup)},
		{"cron with ranges, steps and lists", nodeGroupWith(func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Disruption.Budgets = []v1alpha1.Budget{{Nodes: "1", Schedule: ptr.To("*/15 0-6,22-23 1,15 * ?"), Duration: hours(1)}}
		})().(*v1alpha1.NodeGroup)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := testContext(t)
			want := tc.ng.Spec.DeepCopy()
			g.Expect(e.Client.Create(ctx, tc.ng, strict)).To(Succeed())
			t.Cleanup(func() { _ = e.Client.Delete(ctx, tc.ng) })
			got := &v1alpha1.NodeGroup{}
			g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(tc.ng), got)).To(Succeed())
			g.Expect(got.Spec.DatacenterID).To(Equal(want.DatacenterID))
			g.Expect(got.Spec.Requirements).To(Equal(want.Requirements))
			g.Expect(got.Spec.Template).To(Equal(want.Template))
			g.Expect(got.Spec.Disruption.Budgets).To(HaveLen(len(want.Disruption.Budgets)))
		})
	}
}

func TestNodeGroupUpdatesAreValidatedToo(t *testing.T) {
	e := apiserver(t)
	g := NewWithT(t)
	ctx := testContext(t)
	ng := fixtures.NodeGroup()
	g.Expect(e.Client.Create(ctx, ng)).To(Succeed())
	t.Cleanup(func() { _ = e.Client.Delete(ctx, ng) })

	ng.Spec.MinNodes = 50
	expectInvalid(g, e.Client.Update(ctx, ng), "spec.minNodes must be less than or equal to spec.maxNodes")

	g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(ng), ng)).To(Succeed())
	ng.Spec.MaxNodes = 50
	ng.Spec.MinNodes = 50
	g.Expect(e.Client.Update(ctx, ng)).To(Succeed(), "changing sizes is allowed")
}

func TestNodeGroupStatusSubresource(t *testing.T) {
	e := apiserver(t)
	g := NewWithT(t)
	ctx := testContext(t)
	ng := fixtures.NodeGroup()
	g.Expect(e.Client.Create(ctx, ng)).To(Succeed())
	t.Cleanup(func() { _ = e.Client.Delete(ctx, ng) })

	ng.Status = v1alpha1.NodeGroupStatus{
		Nodes:              3,
		ReadyNodes:         2,
		Resources:          corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("12")},
		ObservedGeneration: ng.Generation,
		Conditions: []metav1.Condition{{
			Type: v1alpha1.NodeGroupOfferingsResolved, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonOfferingsResolved,
			Message: "7 offerings", LastTransitionTime: metav1.Now(), ObservedGeneration: ng.Generation,
		}},
	}
	g.Expect(e.Client.Status().Update(ctx, ng)).To(Succeed())
	got := &v1alpha1.NodeGroup{}
	g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(ng), got)).To(Succeed())
	g.Expect(got.Status.Nodes).To(BeEquivalentTo(3))
	g.Expect(got.Status.Conditions).To(HaveLen(1))
	g.Expect(got.Generation).To(Equal(ng.Generation), "status writes do not bump the generation")

	// a spec change through the main resource leaves status alone, and vice versa
	got.Spec.Weight = 7
	got.Status.Nodes = 99
	g.Expect(e.Client.Update(ctx, got)).To(Succeed())
	g.Expect(got.Status.Nodes).To(BeEquivalentTo(3))
	g.Expect(got.Spec.Weight).To(BeEquivalentTo(7))
}
