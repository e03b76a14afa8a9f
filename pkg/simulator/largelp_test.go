package simulator

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// Many one-per-node classes (each its own LP shape, one row per shape and offering) make an LP
// too big to solve densely: the plan is made without LP prices, honours maxNodes and says which
// limit left the other pods out.
func TestManyAntiAffinityClassesWithinMaxNodes(t *testing.T) {
	g := NewWithT(t)
	var pods []*corev1.Pod
	for i := range 300 {
		pods = append(pods, testPod(fmt.Sprintf("solo%d", i), fmt.Sprintf("%dm", 100+(i%7)*50), "128Mi",
			withLabels("anti", "one-per-node"), withOwner("ReplicaSet", fmt.Sprintf("solo%d", i)),
			withAntiAffinity(corev1.LabelHostname, map[string]string{"anti": "one-per-node"})))
	}
	var offerings []cloudprovider.Offering
	for i := range 12 {
		offerings = append(offerings, cloudprovider.Offering{ID: fmt.Sprint(i + 1), Name: fmt.Sprintf("s%d", i), Category: "standard",
			CPU: int64(1 + i), MemoryMiB: int64(1024 * (1 + i)), HourlyPrice: 0.01 * float64(1+i), Available: true})
	}
	ng := testNodeGroup("anti", ngMaxNodes(20))
	plan, err := Solve(Input{NodeGroups: []*v1alpha1.NodeGroup{ng}, Offerings: offerings, Pods: pods})
	g.Expect(err).NotTo(HaveOccurred())
	accounted(g, plan)
	g.Expect(plan.NewNodes).To(HaveLen(20))
	for _, n := range plan.NewNodes {
		g.Expect(n.Pods).To(HaveLen(1))
		g.Expect(n.Offering.Name).To(Equal("s0"), "one small pod per node: the cheapest size")
	}
	g.Expect(plan.Unschedulable).To(HaveLen(280))
	g.Expect(plan.Unschedulable[0].Reasons).To(ConsistOf(ContainSubstring("maxNodes 20")))
	g.Expect(plan.Deferred).To(BeEmpty())
}
