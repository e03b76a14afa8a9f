package state_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var batchTaint = corev1.Taint{Key: v1alpha1.TaintKeyBatchPending, Value: "b1", Effect: corev1.TaintEffectNoSchedule}

// A registered Node held for its batch is Ready and otherwise usable: the plan must see it as
// the in-flight node it is, not as a tainted node it cannot use (it would launch a duplicate).
func TestSnapshotHidesTheBatchTaintOfAHeldNode(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	vn := launching("g1")
	vn.Labels[v1alpha1.LabelBatch] = "b1"
	node := registered(vn, false)
	node.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}, batchTaint}
	c.Update(vn)
	c.Update(node)

	s := c.Snapshot()
	g.Expect(s.InFlight).To(HaveKeyWithValue(node.Name, vn.Name))
	n := findNode(s, node.Name)
	g.Expect(n).NotTo(BeNil())
	g.Expect(n.Spec.Taints).To(ConsistOf(corev1.Taint{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}))
}

// A Ready Node that still carries the taint while the model has no in-flight VPSieNode for it
// (the VPSieNode not seen yet) is shown without it, and the cached Node is not changed.
func TestSnapshotStripsTheBatchTaintFromRealNodes(t *testing.T) {
	g := NewWithT(t)
	c := state.NewCluster(clocktesting.NewFakeClock(time.Now()))
	node := fixtures.KubeletNode("vpsie://orphan")
	other := corev1.Taint{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}
	node.Spec.Taints = []corev1.Taint{batchTaint, other}
	plain := fixtures.KubeletNode("vpsie://plain")
	c.Update(node)
	c.Update(plain)

	s := c.Snapshot()
	n := findNode(s, node.Name)
	g.Expect(n).NotTo(BeNil())
	g.Expect(n.Spec.Taints).To(ConsistOf(other))
	g.Expect(node.Spec.Taints).To(ConsistOf(batchTaint, other), "the model's Node is shared with the informer: copied, not changed")
	g.Expect(findNode(s, plain.Name)).To(BeIdenticalTo(plain), "a Node without the taint is not copied")
}
