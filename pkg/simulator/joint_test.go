package simulator

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// A node bought for a lower-weight group's pod may be sized up for riders. The job needs a
// batch node (s-4vcpu-8gb or s-8vcpu-16gb); the six web pods get new nodes only from
// "preferred" (weight 10) but may ride on the batch node. Tier by tier: s-4vcpu-8gb for the
// job with two web pods beside it ($0.06575), then four web pods on preferred nodes, at best
// s-4vcpu-8gb (3 pods) + s-2vcpu-2gb (1) = $0.09041; $0.15616 in all. Together: one
// s-8vcpu-16gb batch node (7.9 cpu allocatable) holds the job and all six web pods, $0.13151.
func TestJointTiersSizeUpANodeForRiders(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{
			testNodeGroup("preferred", ngWeight(10)),
			testNodeGroup("batch", ngLabels("pool", "batch"),
				ngRequirement(v1alpha1.LabelInstanceType, v1alpha1.NodeSelectorOpIn, "s-4vcpu-8gb", "s-8vcpu-16gb")),
		},
		Offerings: standardOfferings(),
		Pods: append(replicas(1, "job", "1", "1Gi", withNodeSelector("pool", "batch")),
			replicas(6, "web", "1", "1Gi")...),
	})
	g.Expect(plan.Unschedulable).To(BeEmpty())
	g.Expect(plan.NewNodes).To(HaveLen(1))
	g.Expect(plan.NewNodes[0].NodeGroup).To(Equal("batch"))
	g.Expect(plan.NewNodes[0].Offering.Name).To(Equal("s-8vcpu-16gb"))
	g.Expect(plan.NewNodes[0].Pods).To(HaveLen(7))
	g.Expect(plan.HourlyCost).To(BeNumerically("~", 0.13151, 1e-9))
	g.Expect(plan.LowerBound).To(BeNumerically("<=", plan.HourlyCost+1e-9))
}
