package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// standardOfferings is the standard category of the bench catalogue (prices per hour).
func standardOfferings() []cloudprovider.Offering {
	mk := func(id, name string, cpu, mem int64, hourly float64) cloudprovider.Offering {
		return cloudprovider.Offering{ID: id, Name: name, Category: "standard", CPU: cpu, MemoryMiB: mem,
			MonthlyPrice: hourly * 730, HourlyPrice: hourly, Available: true}
	}
	return []cloudprovider.Offering{
		mk("101", "s-1vcpu-1gb", 1, 1024, 0.00822),
		mk("102", "s-1vcpu-2gb", 1, 2048, 0.01644),
		mk("103", "s-2vcpu-2gb", 2, 2048, 0.02466),
		mk("104", "s-2vcpu-4gb", 2, 4096, 0.03288),
		mk("105", "s-4vcpu-8gb", 4, 8192, 0.06575),
		mk("106", "s-6vcpu-16gb", 6, 16384, 0.12329),
		mk("107", "s-8vcpu-16gb", 8, 16384, 0.13151),
		mk("108", "s-8vcpu-32gb", 8, 32768, 0.20548),
		mk("109", "s-12vcpu-48gb", 12, 49152, 0.31233),
		mk("110", "s-16vcpu-64gb", 16, 65536, 0.41096),
	}
}

type ngOpt func(*v1alpha1.NodeGroup)

func testNodeGroup(name string, opts ...ngOpt) *v1alpha1.NodeGroup {
	ng := &v1alpha1.NodeGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.NodeGroupSpec{DatacenterID: "dc-test", MaxNodes: 1000},
	}
	for _, o := range opts {
		o(ng)
	}
	return ng
}

func ngCategory(values ...string) ngOpt {
	return func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Requirements = append(ng.Spec.Requirements, v1alpha1.NodeSelectorRequirement{
			Key: v1alpha1.LabelCategory, Operator: v1alpha1.NodeSelectorOpIn, Values: values,
		})
	}
}

func ngRequirement(key string, op v1alpha1.NodeSelectorOperator, values ...string) ngOpt {
	return func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Requirements = append(ng.Spec.Requirements, v1alpha1.NodeSelectorRequirement{Key: key, Operator: op, Values: values})
	}
}

func ngWeight(w int32) ngOpt { return func(ng *v1alpha1.NodeGroup) { ng.Spec.Weight = w } }

func ngMaxNodes(n int32) ngOpt { return func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxNodes = n } }

func ngLabels(kv ...string) ngOpt {
	return func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			ng.Spec.Template.Labels[kv[i]] = kv[i+1]
		}
	}
}

func ngTaint(key, value string) ngOpt {
	return func(ng *v1alpha1.NodeGroup) {
		ng.Spec.Template.Taints = append(ng.Spec.Template.Taints, v1alpha1.Taint{Key: key, Value: value, Effect: corev1.TaintEffectNoSchedule})
	}
}

func solveT(t *testing.T, in Input) *Plan {
	t.Helper()
	plan, err := Solve(in)
	if err != nil {
		t.Fatalf("solve: %v", err)
	}
	return plan
}

func offeringNames(p *Plan) []string {
	var out []string
	for _, n := range p.NewNodes {
		out = append(out, n.Offering.Name)
	}
	return out
}

// 10 pods of 1 cpu / 1Gi on the standard category, no daemonsets. With the default
// reservation a node of c cores holds floor(c - 0.1) such pods (memory is never the limit from
// 4 GiB up), so per pod: s-2vcpu-2gb 1 pod $0.02466, s-4vcpu-8gb 3 pods $0.02192,
// s-6vcpu-16gb 5 pods $0.02466, s-8vcpu-16gb 7 pods $0.01879, s-12vcpu-48gb 11 pods $0.02839.
// The cheapest cover of 10 is s-8vcpu-16gb (7) + s-4vcpu-8gb (3) = $0.19726/h; the next best,
// s-8vcpu-16gb + 3 x s-2vcpu-2gb, costs $0.20549.
func TestOfferingChoiceHandWorked(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general", ngCategory("standard"))},
		Offerings:  standardOfferings(),
		Pods:       replicas(10, "web", "1", "1Gi", withLabels("app", "web")),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	g.Expect(offeringNames(plan)).To(ConsistOf("s-8vcpu-16gb", "s-4vcpu-8gb"))
	g.Expect(plan.HourlyCost).To(BeNumerically("~", 0.19726, 1e-9))
	g.Expect(plan.OnNew()).To(Equal(10))
	// The covering LP may split pods across nodes: its best offering is the cheapest per
	// fractional pod, s-2vcpu-2gb with min(1.9 cpu / 1, 1589Mi / 1024Mi) = 1.5518 pods for
	// $0.02466, so $0.15892/h for ten. The pattern bound knows pods are whole: the best price
	// per whole pod is s-8vcpu-16gb's 7 pods for $0.13151, so ten pods cost at least $0.18787.
	g.Expect(plan.LowerBound).To(BeNumerically("~", 10*0.13151/7, 1e-9))
}

func TestDaemonSetOverheadCountsOnTemplates(t *testing.T) {
	g := NewWithT(t)
	ds := func(name, cpu, mem string, nodeSelector map[string]string) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{NodeSelector: nodeSelector, Containers: []corev1.Container{{
					Name: "main", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
					}},
				}}},
			}},
		}
	}
	// s-4vcpu-8gb has 3900m allocatable; a 1 cpu daemonset leaves room for 2 pods of 1 cpu,
	// not 3. The gpu-only daemonset does not land on these nodes and costs nothing.
	offerings := []cloudprovider.Offering{standardOfferings()[4]}
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  offerings,
		DaemonSets: []*appsv1.DaemonSet{
			ds("agent", "1", "100Mi", nil),
			ds("gpu-driver", "2", "100Mi", map[string]string{"gpu": "true"}),
		},
		Pods: replicas(4, "web", "1", "1Gi"),
	})
	g.Expect(plan.NewNodes).To(HaveLen(2))
	for _, n := range plan.NewNodes {
		g.Expect(n.Pods).To(HaveLen(2))
	}
}

func TestExistingNodesFirst(t *testing.T) {
	g := NewWithT(t)
	existing := testNode("old-1", "4", "8Gi", map[string]string{v1alpha1.LabelNodeGroup: "general"})
	bound := testPod("bound", "1", "1Gi")
	bound.Spec.NodeName = "old-1"
	pods := append(replicas(4, "web", "1", "1Gi"), bound)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Nodes:      []*corev1.Node{existing},
		Pods:       pods,
	})
	// 4 cpu node with 1 cpu bound: 3 more fit, the 4th needs a new node.
	g.Expect(plan.Pending).To(Equal(4))
	g.Expect(plan.Existing).To(HaveLen(1))
	g.Expect(plan.Existing[0].Node).To(Equal("old-1"))
	g.Expect(plan.Existing[0].Pods).To(HaveLen(3))
	g.Expect(plan.NewNodes).To(HaveLen(1))
	// One 1-cpu pod: s-2vcpu-2gb is the cheapest offering that holds it.
	g.Expect(plan.NewNodes[0].Offering.Name).To(Equal("s-2vcpu-2gb"))
}

func TestHostnameAntiAffinityOnePodPerNode(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods: replicas(3, "db", "500m", "512Mi", withLabels("app", "db"),
			withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "db"})),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	// Each 500m/512Mi pod alone: s-1vcpu-1gb (900m, 617Mi allocatable) is enough.
	g.Expect(offeringNames(plan)).To(Equal([]string{"s-1vcpu-1gb", "s-1vcpu-1gb", "s-1vcpu-1gb"}))
}

func TestHostnameSpreadAcrossNewNodes(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods: append(
			replicas(4, "s", "250m", "256Mi", withLabels("app", "s"),
				withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "s"})),
			replicas(12, "bulk", "1", "1Gi")...),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	perNode := map[string]int{}
	for _, n := range plan.NewNodes {
		for _, p := range n.Pods {
			if p[:10] == "default/s-" {
				perNode[n.Name]++
			}
		}
	}
	lo, hi := 1<<30, 0
	for _, n := range plan.NewNodes {
		lo, hi = min(lo, perNode[n.Name]), max(hi, perNode[n.Name])
	}
	g.Expect(hi - lo).To(BeNumerically("<=", 1))
}

func TestTaintsAndSelectorsPickTheRightGroup(t *testing.T) {
	g := NewWithT(t)
	groups := []*v1alpha1.NodeGroup{
		testNodeGroup("general"),
		testNodeGroup("compute", ngLabels("workload", "compute"), ngTaint("dedicated", "compute")),
	}
	plan := solveT(t, Input{
		NodeGroups: groups,
		Offerings:  standardOfferings(),
		Pods: append(
			replicas(2, "batch", "1", "1Gi", withNodeSelector("workload", "compute"),
				withToleration("dedicated", "compute", corev1.TaintEffectNoSchedule)),
			append(replicas(1, "web", "1", "1Gi"),
				// Selects the compute nodes but does not tolerate their taint: nowhere to go.
				replicas(1, "lost", "1", "1Gi", withNodeSelector("workload", "compute"))...)...),
	})
	byGroup := map[string][]string{}
	for _, n := range plan.NewNodes {
		byGroup[n.NodeGroup] = append(byGroup[n.NodeGroup], n.Pods...)
	}
	g.Expect(byGroup["compute"]).To(ConsistOf("default/batch-0", "default/batch-1"))
	g.Expect(byGroup["general"]).To(ConsistOf("default/web-0"))
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.Unschedulable[0].Pod).To(Equal("default/lost-0"))
	g.Expect(plan.Unschedulable[0].Reasons).To(ConsistOf(
		HavePrefix("compute: TaintToleration:"),
		HavePrefix("general: NodeAffinity:"),
	))
}

func TestWeightWinsOverPrice(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{
			testNodeGroup("cheap", ngRequirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpLt, "8")),
			testNodeGroup("preferred", ngWeight(10), ngRequirement(v1alpha1.LabelCPU, v1alpha1.NodeSelectorOpGt, "7")),
		},
		Offerings: standardOfferings(),
		Pods:      replicas(1, "web", "1", "1Gi"),
	})
	g.Expect(plan.NewNodes).To(HaveLen(1))
	g.Expect(plan.NewNodes[0].NodeGroup).To(Equal("preferred"))
	g.Expect(plan.NewNodes[0].Offering.Name).To(Equal("s-8vcpu-16gb"))
}

func TestFullHighWeightGroupFallsBackToTheNextTier(t *testing.T) {
	g := NewWithT(t)
	preferred := func() *v1alpha1.NodeGroup {
		return testNodeGroup("preferred", ngWeight(10), ngMaxNodes(1),
			ngRequirement(v1alpha1.LabelInstanceType, v1alpha1.NodeSelectorOpIn, "s-2vcpu-2gb"))
	}
	// Filled during the plan: one node from the preferred group, the rest from the other.
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{preferred(), testNodeGroup("fallback")},
		Offerings:  standardOfferings(),
		Pods:       replicas(3, "web", "1500m", "1Gi"),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	groups := map[string]int{}
	for _, n := range plan.NewNodes {
		groups[n.NodeGroup] += len(n.Pods)
	}
	g.Expect(plan.Deferred).To(BeEmpty())
	g.Expect(plan.OnNew()).To(Equal(3), "%+v", plan.NewNodes)
	g.Expect(groups).To(HaveKeyWithValue("preferred", 1))
	g.Expect(groups).To(HaveKeyWithValue("fallback", 2))

	// Full before the plan: its node exists already (room for one pod).
	full := testNode("preferred-0", "2", "2Gi", map[string]string{v1alpha1.LabelNodeGroup: "preferred"})
	plan = solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{preferred(), testNodeGroup("fallback")},
		Offerings:  standardOfferings(),
		Nodes:      []*corev1.Node{full},
		Pods:       replicas(3, "web", "1500m", "1Gi"),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	g.Expect(plan.OnExisting()).To(Equal(1))
	g.Expect(plan.OnNew()).To(Equal(2))
	for _, n := range plan.NewNodes {
		g.Expect(n.NodeGroup).To(Equal("fallback"))
	}

	// With no other tier the reason still names the limit.
	plan = solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{preferred()},
		Offerings:  standardOfferings(),
		Nodes:      []*corev1.Node{full},
		Pods:       replicas(2, "web", "1500m", "1Gi"),
	})
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.Unschedulable[0].Reasons).To(ConsistOf(ContainSubstring("maxNodes 1 reached")))
}

func TestOfferingConstraints(t *testing.T) {
	g := NewWithT(t)
	ng := testNodeGroup("general")
	ng.Spec.OfferingIDs = []string{"105", "106", "109"}
	ng.Spec.MaxHourlyPrice = "0.2"
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{ng},
		Offerings:  standardOfferings(),
		Pods:       replicas(1, "web", "100m", "128Mi"),
	})
	// Allowed: 105 and 106 (109 costs 0.31233 > 0.2); the cheaper is s-4vcpu-8gb.
	g.Expect(offeringNames(plan)).To(Equal([]string{"s-4vcpu-8gb"}))

	// A pod bigger than anything allowed is unschedulable, with the group's reason.
	plan = solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{ng},
		Offerings:  standardOfferings(),
		Pods:       replicas(1, "huge", "8", "1Gi"),
	})
	g.Expect(plan.NewNodes).To(BeEmpty())
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.Unschedulable[0].Reasons).To(ConsistOf(And(
		HavePrefix("general: NodeResourcesFit: Insufficient cpu"),
		ContainSubstring("pod requests 8 cpu"),
		ContainSubstring("s-6vcpu-16gb has 5900m cpu"),
	)))

	// No offering satisfies the requirements at all.
	plan = solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("gpu", ngCategory("gpu"))},
		Offerings:  standardOfferings(),
		Pods:       replicas(1, "web", "100m", "128Mi"),
	})
	g.Expect(plan.Unschedulable[0].Reasons).To(ConsistOf(HavePrefix("gpu: no offering allowed (s-1vcpu-1gb does not satisfy autoscaling.vpsie.com/category In [gpu]")))
}

func TestMaxNodesAndLimits(t *testing.T) {
	g := NewWithT(t)
	existing := testNode("old-1", "1", "1Gi", map[string]string{v1alpha1.LabelNodeGroup: "general"})
	existing.Spec.Unschedulable = true // counts against the group, takes no pods
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general", ngMaxNodes(2), ngRequirement(v1alpha1.LabelInstanceType, v1alpha1.NodeSelectorOpIn, "s-2vcpu-2gb"))},
		Offerings:  standardOfferings(),
		Nodes:      []*corev1.Node{existing},
		Pods:       replicas(3, "web", "1", "1Gi"),
	})
	// One existing node already counts: one new node of one pod, two pods left over.
	g.Expect(plan.NewNodes).To(HaveLen(1))
	g.Expect(plan.Unschedulable).To(HaveLen(2))
	g.Expect(plan.Unschedulable[0].Reasons).To(Equal([]string{"general: maxNodes 2 reached"}))

	ng := testNodeGroup("general", ngRequirement(v1alpha1.LabelInstanceType, v1alpha1.NodeSelectorOpIn, "s-2vcpu-2gb"))
	ng.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
	plan = solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{ng},
		Offerings:  standardOfferings(),
		Pods:       replicas(3, "web", "1", "1Gi"),
	})
	// 2-cpu nodes under a 4 cpu limit: two nodes.
	g.Expect(plan.NewNodes).To(HaveLen(2))
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.Unschedulable[0].Reasons[0]).To(HavePrefix("general: limits reached"))
}

func TestBadInput(t *testing.T) {
	g := NewWithT(t)
	_, err := Solve(Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("bad", ngRequirement("k", "Like", "x"))},
	})
	g.Expect(err).To(MatchError(ContainSubstring(`nodegroup bad: requirement "k": unknown operator "Like"`)))
	_, err = Solve(Input{Offerings: []cloudprovider.Offering{{ID: "1", Name: "x"}}})
	g.Expect(err).To(MatchError(ContainSubstring("invalid offering")))
	plan, err := Solve(Input{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Pending).To(BeZero())
	g.Expect(plan.CostRatio()).To(Equal(1.0))
}

func TestPendingPodSelection(t *testing.T) {
	g := NewWithT(t)
	gated := testPod("gated", "1", "1Gi")
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	done := testPod("done", "1", "1Gi")
	done.Status.Phase = corev1.PodSucceeded
	dsPod := testPod("ds-pod", "1", "1Gi", withOwner("DaemonSet", "agent"))
	elsewhere := testPod("elsewhere", "1", "1Gi")
	elsewhere.Spec.NodeName = "unknown-node"
	noUID := testPod("no-uid", "1", "1Gi")
	noUID.UID = ""
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods:       []*corev1.Pod{gated, done, dsPod, elsewhere, noUID, testPod("web", "1", "1Gi")},
	})
	// Only the two plain pending pods are planned; the pod without a UID is not modified.
	g.Expect(plan.Pending).To(Equal(2))
	g.Expect(plan.OnNew()).To(Equal(2))
	g.Expect(noUID.UID).To(BeEmpty())
}

func TestHostPortsOnePodPerNode(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods:       replicas(3, "ingress", "100m", "128Mi", withLabels("app", "ingress"), withHostPort(443)),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	g.Expect(offeringNames(plan)).To(Equal([]string{"s-1vcpu-1gb", "s-1vcpu-1gb", "s-1vcpu-1gb"}))
	// The bound knows it too: three nodes of the cheapest offering.
	g.Expect(plan.LowerBound).To(BeNumerically("~", 3*0.00822, 1e-9))
}

// Pods get new nodes from their highest-weight group but ride on any node planned anyway.
func TestRidersUseSpareRoomOfLowerWeightNodes(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{
			testNodeGroup("preferred", ngWeight(10)),
			testNodeGroup("batch", ngLabels("pool", "batch"),
				ngRequirement(v1alpha1.LabelInstanceType, v1alpha1.NodeSelectorOpIn, "s-4vcpu-8gb")),
		},
		Offerings: standardOfferings(),
		Pods: append(replicas(1, "job", "1", "1Gi", withNodeSelector("pool", "batch")),
			replicas(2, "web", "1", "1Gi")...),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	// The batch node (3.9 cpu) is needed for the job anyway; the two web pods fit beside it.
	g.Expect(plan.NewNodes).To(HaveLen(1))
	g.Expect(plan.NewNodes[0].NodeGroup).To(Equal("batch"))
	g.Expect(plan.NewNodes[0].Pods).To(ConsistOf("default/job-0", "default/web-0", "default/web-1"))
	// With riders allowed, the bound is that one node too.
	g.Expect(plan.LowerBound).To(BeNumerically("<=", plan.HourlyCost))
}
