package state_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var unschedulable = corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}

// pendingPod is a pod the scheduler gave up on, as the informer would deliver it (with a UID).
func pendingPod() *corev1.Pod {
	p := fixtures.BoundPod("")
	p.UID = uuid.NewUUID()
	p.Status.Conditions = []corev1.PodCondition{unschedulable}
	return p
}

func boundPod(node string) *corev1.Pod {
	p := fixtures.BoundPod(node)
	p.UID = uuid.NewUUID()
	p.Status.Phase = corev1.PodRunning
	return p
}

func daemonSetPod(node string) *corev1.Pod {
	p := boundPod(node)
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "ds-uid", Controller: ptr.To(true)}}
	return p
}

func TestIsProvisionable(t *testing.T) {
	now := metav1.Now()
	for name, tc := range map[string]struct {
		mutate func(*corev1.Pod)
		want   bool
	}{
		"unschedulable":    {func(*corev1.Pod) {}, true},
		"bound":            {func(p *corev1.Pod) { p.Spec.NodeName = "n1" }, false},
		"daemonset-owned":  {func(p *corev1.Pod) { p.OwnerReferences = daemonSetPod("").OwnerReferences }, false},
		"mirror":           {func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }, false},
		"terminating":      {func(p *corev1.Pod) { p.DeletionTimestamp = &now }, false},
		"gated":            {func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "wait"}} }, false},
		"nominated":        {func(p *corev1.Pod) { p.Status.NominatedNodeName = "n1" }, false},
		"succeeded":        {func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		"failed":           {func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, false},
		"no condition yet": {func(p *corev1.Pod) { p.Status.Conditions = nil }, false},
		"scheduling gated condition": {func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}
		}, false},
		"scheduled": {func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
		}, false},
		"replicaset-owned": {func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}}
		}, true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			p := pendingPod()
			tc.mutate(p)
			g.Expect(state.IsProvisionable(p)).To(Equal(tc.want))
		})
	}
}

func TestPendingPodsOldestFirst(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	old, young, bound := pendingPod(), pendingPod(), boundPod("n1")
	old.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	young.CreationTimestamp = metav1.Now()
	c.Update(young)
	c.Update(old)
	c.Update(bound)
	g.Expect(c.PendingPods()).To(Equal([]*corev1.Pod{old, young}))
	c.Delete(old)
	g.Expect(c.PendingPods()).To(Equal([]*corev1.Pod{young}))
}

func nodeNames(nodes []*corev1.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func podUIDs(pods []*corev1.Pod) []types.UID {
	var out []types.UID
	for _, p := range pods {
		out = append(out, p.UID)
	}
	return out
}

func findNode(s *state.Snapshot, name string) *corev1.Node {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// launching is a VPSieNode whose VM is being created: no Node yet.
func launching(group string) *v1alpha1.VPSieNode {
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v1alpha1.LabelNodeGroup: group, "team": "a"}},
		Spec: v1alpha1.VPSieNodeSpec{
			NodeGroup:     group,
			Taints:        []v1alpha1.Taint{{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
			StartupTaints: []v1alpha1.Taint{{Key: "cni-not-ready", Effect: corev1.TaintEffectNoSchedule}},
		},
	})
	vn.Status.Phase = v1alpha1.VPSieNodeLaunching
	return vn
}

// registered gives vn a Node (Ready) and marks it registered, optionally initialized.
func registered(vn *v1alpha1.VPSieNode, initialized bool) *corev1.Node {
	vn.Status.ProviderID = "vpsie://" + vn.Name
	node := fixtures.KubeletNode(vn.Status.ProviderID)
	node.Spec.Taints = []corev1.Taint{{Key: "cni-not-ready", Effect: corev1.TaintEffectNoSchedule}}
	vn.Status.NodeName = node.Name
	vn.Status.Phase = v1alpha1.VPSieNodeRegistering
	vn.Status.Conditions = []metav1.Condition{{Type: v1alpha1.VPSieNodeRegistered, Status: metav1.ConditionTrue}}
	if initialized {
		vn.Status.Phase = v1alpha1.VPSieNodeReady
		vn.Status.Conditions = append(vn.Status.Conditions, metav1.Condition{Type: v1alpha1.VPSieNodeInitialized, Status: metav1.ConditionTrue})
		node.Spec.Taints = nil
	}
	return node
}

func TestSnapshotLaunchingVPSieNodeIsInFlight(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	c.Update(vn)

	s := c.Snapshot()
	g.Expect(s.InFlight).To(Equal(map[string]string{vn.Name: vn.Name}))
	n := findNode(s, vn.Name)
	g.Expect(n).NotTo(BeNil())
	g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.LabelNodeGroup, "g1"))
	g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.LabelOffering, vn.Spec.OfferingID))
	g.Expect(n.Labels).To(HaveKeyWithValue("team", "a"))
	g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.LabelHostname, vn.Name))
	g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.LabelVPSieNode, vn.Name))
	g.Expect(n.Spec.Taints).To(ConsistOf(corev1.Taint{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}))
	g.Expect(n.Status.Allocatable).To(Equal(vn.Spec.Resources))
	g.Expect(n.Status.Conditions).To(BeEmpty())
	g.Expect(s.GroupNodes).To(Equal(map[string]int{"g1": 1}))
	g.Expect(s.GroupCPU).To(Equal(map[string]int64{"g1": 3900}))
	g.Expect(s.GroupMemory).To(Equal(map[string]int64{"g1": 7000 << 20}))

	// The VPSieNode's labels are its own: the in-flight node must not alias them.
	n.Labels["x"] = "y"
	g.Expect(vn.Labels).NotTo(HaveKey("x"))
}

func TestSnapshotRegisteredNotInitializedReplacesItsNode(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	node := registered(vn, false)
	ds := daemonSetPod(node.Name)
	c.Update(vn)
	c.Update(node)
	c.Update(ds)

	s := c.Snapshot()
	g.Expect(nodeNames(s.Nodes)).To(Equal([]string{node.Name}))
	g.Expect(s.InFlight).To(Equal(map[string]string{node.Name: vn.Name}))
	n := s.Nodes[0]
	g.Expect(n).NotTo(BeIdenticalTo(node))
	g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.LabelHostname, node.Name))
	g.Expect(n.Spec.Taints).To(ConsistOf(corev1.Taint{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}))
	g.Expect(n.Spec.ProviderID).To(Equal(vn.Status.ProviderID))
	g.Expect(podUIDs(s.Pods)).To(ConsistOf(ds.UID))
}

func TestSnapshotInitializedUsesTheRealNode(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	node := registered(vn, true)
	pod := boundPod(node.Name)
	c.Update(vn)
	c.Update(node)
	c.Update(pod)

	s := c.Snapshot()
	g.Expect(s.Nodes).To(Equal([]*corev1.Node{node}))
	g.Expect(s.InFlight).To(BeEmpty())
	g.Expect(podUIDs(s.Pods)).To(ConsistOf(pod.UID))
	g.Expect(s.GroupNodes).To(Equal(map[string]int{"g1": 1}))
}

func TestSnapshotLeavesOutDeletingVPSieNodes(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	now := metav1.Now()
	gone := launching("g1")
	node := registered(gone, true)
	gone.DeletionTimestamp = &now
	gone.Finalizers = []string{v1alpha1.TerminationFinalizer}
	onGone := boundPod(node.Name)
	// A launching VPSieNode being deleted has no in-flight node either.
	goneLaunching := launching("g1")
	goneLaunching.DeletionTimestamp = &now
	kept := launching("g1")
	for _, o := range []client.Object{gone, node, onGone, goneLaunching, kept} {
		c.Update(o)
	}

	s := c.Snapshot()
	g.Expect(nodeNames(s.Nodes)).To(Equal([]string{kept.Name}))
	g.Expect(s.Pods).To(BeEmpty())
	g.Expect(s.GroupNodes).To(Equal(map[string]int{"g1": 1}))
	g.Expect(s.GroupCPU).To(Equal(map[string]int64{"g1": 3900}))
}

func TestSnapshotNodesAndPods(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	ready := fixtures.KubeletNode("")
	notReady := fixtures.KubeletNode("")
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	noConditions := fixtures.KubeletNode("")
	noConditions.Status.Conditions = nil
	deleting := fixtures.KubeletNode("")
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	onReady, onNotReady := boundPod(ready.Name), boundPod(notReady.Name)
	finished := boundPod(ready.Name)
	finished.Status.Phase = corev1.PodSucceeded
	pending, gated := pendingPod(), pendingPod()
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "wait"}}
	for _, n := range []*corev1.Node{ready, notReady, noConditions, deleting} {
		c.Update(n)
	}
	for _, p := range []*corev1.Pod{onReady, onNotReady, finished, pending, gated} {
		c.Update(p)
	}
	c.Update(&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "ds"}})
	ng := fixtures.NodeGroup()
	c.Update(ng)
	deletingGroup := fixtures.NodeGroup()
	deletingGroup.DeletionTimestamp = ptr.To(metav1.Now())
	c.Update(deletingGroup)

	s := c.Snapshot()
	g.Expect(nodeNames(s.Nodes)).To(Equal([]string{ready.Name}))
	g.Expect(podUIDs(s.Pods)).To(ConsistOf(onReady.UID, pending.UID))
	g.Expect(podUIDs(s.Pending)).To(ConsistOf(pending.UID))
	g.Expect(s.DaemonSets).To(HaveLen(1))
	g.Expect(s.NodeGroups).To(Equal([]*v1alpha1.NodeGroup{ng}))
	g.Expect(c.NodeGroups()).To(Equal([]*v1alpha1.NodeGroup{ng}))

	c.Delete(ready)
	g.Expect(c.Snapshot().Nodes).To(BeEmpty())
}

func TestSyncedWaitsForLaunchedVPSieNodes(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	c := state.NewCluster(clk)
	g.Expect(c.Synced()).To(BeTrue())

	vn := launching("g1")
	c.MarkLaunched(vn.Name)
	g.Expect(c.Synced()).To(BeFalse())
	c.Update(vn)
	g.Expect(c.Synced()).To(BeTrue())

	// Already in the model: nothing to wait for.
	c.MarkLaunched(vn.Name)
	g.Expect(c.Synced()).To(BeTrue())

	// Never seen (deleted before the informer delivered it): Synced gives up after a while.
	c.MarkLaunched("never-seen")
	clk.Step(30 * time.Second)
	g.Expect(c.Synced()).To(BeFalse())
	clk.Step(31 * time.Second)
	g.Expect(c.Synced()).To(BeTrue())

	// Seen as a delete also counts.
	c.MarkLaunched("deleted")
	c.Delete(&v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Name: "deleted"}})
	g.Expect(c.Synced()).To(BeTrue())
}

func TestClusterCost(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	a, b, unpriced, deleting := launching("g1"), launching("g1"), launching("g1"), launching("g1")
	a.Status.HourlyPrice = "0.04"
	b.Status.HourlyPrice = "0.08"
	deleting.Status.HourlyPrice = "1"
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	for _, vn := range []*v1alpha1.VPSieNode{a, b, unpriced, deleting} {
		c.Update(vn)
	}
	g.Expect(testutil.ToFloat64(metrics.ClusterCost)).To(BeNumerically("~", 0.12, 1e-9))
	c.Delete(a)
	g.Expect(testutil.ToFloat64(metrics.ClusterCost)).To(BeNumerically("~", 0.08, 1e-9))
	g.Expect(c.VPSieNodes()).To(HaveLen(3))
}

func TestInFlightNodeDefaultsPods(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	delete(vn.Spec.Resources, corev1.ResourcePods)
	c.Update(vn)
	n := c.Snapshot().Nodes[0]
	g.Expect(n.Status.Allocatable).To(HaveKey(corev1.ResourcePods))
	g.Expect(n.Status.Allocatable[corev1.ResourceCPU]).To(Equal(resource.MustParse("3900m")))
}
