package simulator

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// spreadCounts counts, per node of the plan (existing and new), the pods whose name starts
// with prefix.
func spreadCounts(plan *Plan, prefix string, nodes ...string) map[string]int {
	counts := map[string]int{}
	for _, n := range nodes {
		counts[n] = 0
	}
	add := func(node string, pods []string) {
		counts[node] += 0
		for _, p := range pods {
			if strings.HasPrefix(p, prefix) {
				counts[node]++
			}
		}
	}
	for _, n := range plan.NewNodes {
		add(n.Name, n.Pods)
	}
	for _, e := range plan.Existing {
		add(e.Node, e.Pods)
	}
	return counts
}

func expectBalanced(g *WithT, counts map[string]int, maxSkew int) {
	lo, hi := 1<<30, 0
	for _, n := range counts {
		lo, hi = min(lo, n), max(hi, n)
	}
	g.Expect(hi-lo).To(BeNumerically("<=", maxSkew), "per-node counts %v", counts)
}

func TestSmallSpreadPodsShareNodesEvenly(t *testing.T) {
	g := NewWithT(t)
	spread := withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "s"})
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods: append(replicas(300, "s", "100m", "128Mi", withLabels("app", "s"), spread),
			replicas(40, "bulk", "500m", "1Gi")...),
	}
	plan, s, err := solveKeep(in)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	g.Expect(plan.Unschedulable).To(BeEmpty())
	expectPlacementsValid(g, in, plan, s)
	// One node per spread pod would be 300 nodes; the demand fits on a few dozen.
	g.Expect(len(plan.NewNodes)).To(BeNumerically("<", 100))
	t.Logf("%d new nodes, $%.4f/h, cost/LB %.3f", len(plan.NewNodes), plan.HourlyCost, plan.CostRatio())
	g.Expect(plan.CostRatio()).To(BeNumerically("<=", 1.25))
	expectBalanced(g, spreadCounts(plan, "default/s-"), 1)
}

func TestSpreadWithinMaxNodesPacksSeveralPerNode(t *testing.T) {
	g := NewWithT(t)
	// One pod per node would need 60 nodes; maxNodes 6 leaves only an even share of ten each.
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general", ngMaxNodes(6))},
		Offerings:  standardOfferings(),
		Pods: replicas(60, "s", "200m", "256Mi", withLabels("app", "s"),
			withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "s"})),
	}
	plan, s, err := solveKeep(in)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	g.Expect(plan.Unschedulable).To(BeEmpty())
	expectPlacementsValid(g, in, plan, s)
	g.Expect(len(plan.NewNodes)).To(BeNumerically("<=", 6))
	expectBalanced(g, spreadCounts(plan, "default/s-"), 1)
}

func TestSpreadClassesSkipAntiAffinityAndMinDomains(t *testing.T) {
	g := NewWithT(t)
	spread := withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "s"})
	withMinDomains := func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].MinDomains = ptrTo(int32(3)) }
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods: append(append(replicas(3, "s", "200m", "256Mi", withLabels("app", "s"), spread),
			replicas(3, "m", "200m", "256Mi", withLabels("app", "m"),
				withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "m"}), withMinDomains)...),
			replicas(3, "a", "200m", "256Mi", withLabels("app", "a"),
				withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "a"}))...),
	}
	s, err := newSolver(in, nil)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	s.prepare()
	var names []string
	for _, ci := range s.spreadClasses() {
		names = append(names, s.classes[ci].pods[0].Name)
	}
	g.Expect(names).To(ConsistOf("s-0"))
}
