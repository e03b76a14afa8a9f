package v1alpha1_test

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

func vpsieNodeWith(mutate func(*v1alpha1.VPSieNode)) func() client.Object {
	return func() client.Object {
		vn := fixtures.VPSieNode()
		mutate(vn)
		return vn
	}
}

var invalidVPSieNodes = []invalidCase{
	{"nodeGroup empty", vpsieNodeWith(func(vn *v1alpha1.VPSieNode) { vn.Spec.NodeGroup = "" }),
		[]string{"spec.nodeGroup", "at least 1 chars long"}},
	{"offeringID missing", func() client.Object {
		return unstructuredOf("VPSieNode", map[string]any{"nodeGroup": "default", "datacenterID": "dc-1"})
	}, []string{"spec.offeringID: Required value"}},
	{"datacenterID missing", func() client.Object {
		return unstructuredOf("VPSieNode", map[string]any{"nodeGroup": "default", "offeringID": "105"})
	}, []string{"spec.datacenterID: Required value"}},
	{"taint key invalid", vpsieNodeWith(func(vn *v1alpha1.VPSieNode) {
		vn.Spec.Taints = []v1alpha1.Taint{{Key: "has space", Effect: corev1.TaintEffectNoSchedule}}
	}), []string{"spec.taints[0].key", "taint key must be a qualified name"}},
	{"taint repeated", vpsieNodeWith(func(vn *v1alpha1.VPSieNode) {
		vn.Spec.Taints = []v1alpha1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "a", Effect: corev1.TaintEffectNoSchedule}}
	}), []string{"spec.taints", "spec.taints must not repeat a key with the same effect"}},
	{"startup taint effect unknown", vpsieNodeWith(func(vn *v1alpha1.VPSieNode) {
		vn.Spec.StartupTaints = []v1alpha1.Taint{{Key: "example.com/booting", Effect: "Eventually"}}
	}), []string{"spec.startupTaints[0].effect", `Unsupported value: "Eventually"`}},
	{"resources negative", vpsieNodeWith(func(vn *v1alpha1.VPSieNode) {
		vn.Spec.Resources = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Gi")}
	}), []string{"spec.resources", "spec.resources must not be negative"}},
}

func TestVPSieNodeRejectsInvalidSpecs(t *testing.T) {
	e := apiserver(t)
	for _, tc := range invalidVPSieNodes {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := e.Client.Create(testContext(t), tc.obj(), strict)
			t.Logf("apiserver: %v", err)
			expectInvalid(g, err, tc.want...)
		})
	}
}

// The suite promises at least 25 distinct invalid objects, each with its message checked.
func TestInvalidCaseCount(t *testing.T) {
	g := NewWithT(t)
	g.Expect(len(invalidNodeGroups) + len(invalidVPSieNodes)).To(BeNumerically(">=", 25))
	for _, cases := range [][]invalidCase{invalidNodeGroups, invalidVPSieNodes} {
		names := map[string]bool{}
		for _, tc := range cases {
			g.Expect(names).NotTo(HaveKey(tc.name), "case names are unique")
			names[tc.name] = true
			g.Expect(tc.want).NotTo(BeEmpty(), "case %q checks the message", tc.name)
		}
	}
}

func TestVPSieNodeSpecIsImmutable(t *testing.T) {
	e := apiserver(t)
	ctx := testContext(t)
	g := NewWithT(t)
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{
		Taints:        []v1alpha1.Taint{{Key: "dedicated", Value: "compute", Effect: corev1.TaintEffectNoSchedule}},
		StartupTaints: []v1alpha1.Taint{{Key: "node.cilium.io/agent-not-ready", Value: "true", Effect: corev1.TaintEffectNoExecute}},
	}})
	g.Expect(e.Client.Create(ctx, vn, strict)).To(Succeed())
	t.Cleanup(func() { _ = e.Client.Delete(ctx, vn) })

	for name, mutate := range map[string]func(*v1alpha1.VPSieNode){
		"offeringID":   func(vn *v1alpha1.VPSieNode) { vn.Spec.OfferingID = "106" },
		"nodeGroup":    func(vn *v1alpha1.VPSieNode) { vn.Spec.NodeGroup = "other" },
		"datacenterID": func(vn *v1alpha1.VPSieNode) { vn.Spec.DatacenterID = "dc-2" },
		"taints":       func(vn *v1alpha1.VPSieNode) { vn.Spec.Taints = nil },
		"resources": func(vn *v1alpha1.VPSieNode) {
			vn.Spec.Resources[corev1.ResourceCPU] = resource.MustParse("8")
		},
		"offeringName added": func(vn *v1alpha1.VPSieNode) { vn.Spec.OfferingName = "renamed" },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			fresh := &v1alpha1.VPSieNode{}
			g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(vn), fresh)).To(Succeed())
			mutate(fresh)
			err := e.Client.Update(ctx, fresh)
			t.Logf("apiserver: %v", err)
			expectInvalid(g, err, "spec: Invalid value", "spec is immutable")
		})
	}

	// metadata (labels, finalizers) and status stay writable
	fresh := &v1alpha1.VPSieNode{}
	g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(vn), fresh)).To(Succeed())
	controllerutil.AddFinalizer(fresh, v1alpha1.TerminationFinalizer)
	fresh.Labels[v1alpha1.LabelCategory] = "standard"
	g.Expect(e.Client.Update(ctx, fresh)).To(Succeed())
	g.Expect(fresh.Finalizers).To(ConsistOf(v1alpha1.TerminationFinalizer))
	controllerutil.RemoveFinalizer(fresh, v1alpha1.TerminationFinalizer)
	g.Expect(e.Client.Update(ctx, fresh)).To(Succeed())
}

func TestVPSieNodeStatus(t *testing.T) {
	e := apiserver(t)
	ctx := testContext(t)
	g := NewWithT(t)
	vn := fixtures.VPSieNode()
	g.Expect(e.Client.Create(ctx, vn, strict)).To(Succeed())
	t.Cleanup(func() { _ = e.Client.Delete(ctx, vn) })

	now := metav1.Now()
	vn.Status = v1alpha1.VPSieNodeStatus{
		Phase:          v1alpha1.VPSieNodeReady,
		ProviderID:     "vpsie://2d1c9f4e-0000-4000-8000-000000000001",
		InstanceID:     "2d1c9f4e-0000-4000-8000-000000000001",
		NodeName:       "worker-abc",
		Hostname:       "worker-abc",
		IP:             "10.0.0.7",
		Capacity:       corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
		Allocatable:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3900m"), corev1.ResourceMemory: resource.MustParse("7000Mi")},
		HourlyPrice:    "0.06575",
		LaunchAttempts: 1,
		Conditions: []metav1.Condition{
			{Type: v1alpha1.VPSieNodeLaunched, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonLaunched, LastTransitionTime: now},
			{Type: v1alpha1.VPSieNodeRegistered, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRegistered, LastTransitionTime: now},
			{Type: v1alpha1.VPSieNodeInitialized, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonInitialized, LastTransitionTime: now},
		},
	}
	g.Expect(e.Client.Status().Update(ctx, vn)).To(Succeed())
	got := &v1alpha1.VPSieNode{}
	g.Expect(e.Client.Get(ctx, client.ObjectKeyFromObject(vn), got)).To(Succeed())
	g.Expect(got.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
	g.Expect(got.Status.ProviderID).To(Equal(vn.Status.ProviderID))
	g.Expect(got.Status.Conditions).To(HaveLen(3))

	got.Status.Phase = "Booting"
	err := e.Client.Status().Update(ctx, got)
	t.Logf("apiserver: %v", err)
	expectInvalid(g, err, "status.phase", `Unsupported value: "Booting"`)
}
