package state_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
)

// pinnedTo is the node each pod in the snapshot is bound to, by UID.
func pinnedTo(s *state.Snapshot) map[types.UID]string {
	out := map[types.UID]string{}
	for _, p := range s.Pods {
		out[p.UID] = p.Spec.NodeName
	}
	return out
}

func TestNominatedPodsAreBoundToTheirInFlightNode(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	nominated, other := pendingPod(), pendingPod()
	for _, o := range []client.Object{vn, nominated, other} {
		c.Update(o)
	}
	c.Nominate([]types.UID{nominated.UID}, vn.Name)

	s := c.Snapshot()
	g.Expect(podUIDs(s.Pending)).To(ConsistOf(other.UID))
	g.Expect(s.Nominated).To(Equal(1))
	g.Expect(pinnedTo(s)).To(Equal(map[types.UID]string{nominated.UID: vn.Name, other.UID: ""}))
	// The model's pod is untouched: only the snapshot's copy is bound.
	g.Expect(nominated.Spec.NodeName).To(BeEmpty())

	// Registered under its own Node name: the pod follows the node.
	node := registered(vn, false)
	c.Update(vn)
	c.Update(node)
	g.Expect(pinnedTo(c.Snapshot())).To(HaveKeyWithValue(nominated.UID, node.Name))
}

func TestNominationEndsWithTheVPSieNode(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	pod := pendingPod()
	c.Update(vn)
	c.Update(pod)
	c.Nominate([]types.UID{pod.UID}, vn.Name)

	// Being deleted: the pod is pending again, so the next plan finds it another node.
	deleting := vn.DeepCopy()
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	c.Update(deleting)
	g.Expect(podUIDs(c.Snapshot().Pending)).To(ConsistOf(pod.UID))

	// Gone, and a VPSieNode of the same name later: the old nomination does not carry over.
	c.Delete(deleting)
	c.Update(vn)
	g.Expect(podUIDs(c.Snapshot().Pending)).To(ConsistOf(pod.UID))
}

func TestNominationEndsWhenThePodIsBound(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	pod := pendingPod()
	c.Update(vn)
	c.Update(pod)
	c.Nominate([]types.UID{pod.UID}, vn.Name)

	bound := pod.DeepCopy()
	bound.Spec.NodeName = "elsewhere"
	c.Update(bound)
	// Unbound again (a new incarnation would have a new UID; this guards the bookkeeping).
	c.Update(pod)
	s := c.Snapshot()
	g.Expect(podUIDs(s.Pending)).To(ConsistOf(pod.UID))
	g.Expect(s.Nominated).To(BeZero())
}

func TestNominationOutlivesInitializationByTheGrace(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	c := state.NewCluster(clk)
	vn := launching("g1")
	node := registered(vn, true)
	for i := range vn.Status.Conditions {
		vn.Status.Conditions[i].LastTransitionTime = metav1.NewTime(clk.Now())
	}
	pod := pendingPod()
	c.Update(vn)
	c.Update(node)
	c.Update(pod)
	c.Nominate([]types.UID{pod.UID}, vn.Name)

	// Initialized: the scheduler is about to bind the pod there, so it is still placed.
	g.Expect(pinnedTo(c.Snapshot())).To(HaveKeyWithValue(pod.UID, node.Name))

	// Not bound within the grace: the pod is planned afresh (the node may not suit it after all).
	clk.Step(state.NominationGrace)
	s := c.Snapshot()
	g.Expect(podUIDs(s.Pending)).To(ConsistOf(pod.UID))
	g.Expect(pinnedTo(s)).To(HaveKeyWithValue(pod.UID, ""))
	g.Expect(s.Nodes).To(Equal([]*corev1.Node{node}))
}

func TestNominatedToCountsWaitingPodsPastTheGrace(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	c := state.NewCluster(clk)
	vn := launching("g1")
	node := registered(vn, true)
	for i := range vn.Status.Conditions {
		vn.Status.Conditions[i].LastTransitionTime = metav1.NewTime(clk.Now())
	}
	waiting, bound, unknown := pendingPod(), pendingPod(), pendingPod()
	for _, o := range []client.Object{vn, node, waiting, bound} {
		c.Update(o)
	}
	c.Nominate([]types.UID{waiting.UID, bound.UID, unknown.UID}, vn.Name)
	g.Expect(c.NominatedTo(vn.Name)).To(Equal(2), "a pod the model does not have counts for nothing")
	g.Expect(c.NominatedTo("other")).To(BeZero())

	// Past the grace the snapshot plans the pod afresh, but it still heads for this node.
	clk.Step(state.NominationGrace)
	g.Expect(c.NominatedTo(vn.Name)).To(Equal(2))

	onNode := bound.DeepCopy()
	onNode.Spec.NodeName = node.Name
	c.Update(onNode)
	g.Expect(c.NominatedTo(vn.Name)).To(Equal(1), "a bound pod is no longer nominated")
	c.Delete(waiting)
	g.Expect(c.NominatedTo(vn.Name)).To(BeZero())
}
