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

// Column generation over all tiers never buys a node for riders only: a pattern for a
// template always holds a pod whose highest-weight group is the template's.
func TestNativeKnapsackForcesANativePod(t *testing.T) {
	g := NewWithT(t)
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{
			testNodeGroup("preferred", ngWeight(10)),
			testNodeGroup("batch", ngLabels("pool", "batch"),
				ngRequirement(v1alpha1.LabelInstanceType, v1alpha1.NodeSelectorOpIn, "s-4vcpu-8gb")),
		},
		Offerings: standardOfferings(),
		Pods: append(replicas(1, "job", "1", "1Gi", withNodeSelector("pool", "batch")),
			replicas(8, "web", "1", "1Gi")...),
	}
	s, err := newSolver(in, nil)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	_, err = s.solve()
	g.Expect(err).NotTo(HaveOccurred())
	var job, web, batch int
	for ci, c := range s.classes {
		if c.pods[0].Name == "job-0" {
			job = ci
		} else {
			web = ci
		}
	}
	for ti, tm := range s.templates {
		if tm.group.name == "batch" {
			batch = ti
		}
	}
	// Two shapes: 0 = job (native on batch), 1 = web (rides there). Web is worth more per pod,
	// so a plain fill would take three web pods; the node must carry the job instead of one.
	shapes := []*lpShape{{classes: []int{job}}, {classes: []int{web}}}
	need := []int{1, 8}
	y := []float64{0.01, 0.03}
	fitsOn := func(si, ti int) bool { return s.fits[shapes[si].classes[0]][ti] }
	native := func(si, ti int) bool { return si == 0 }
	p, v := s.nativeKnapsack(batch, shapes, need, []bool{false, false}, y, fitsOn, native, 100)
	g.Expect(p.counts).To(Equal([]int{1, 2}))
	g.Expect(v).To(BeNumerically("~", 0.07, 1e-9))
}
