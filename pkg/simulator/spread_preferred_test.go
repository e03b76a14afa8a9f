package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

var webLabels = map[string]string{"app": "web"}

func preferredSpreadInput(maxNodes int32, n int, opts ...podOpt) Input {
	opts = append([]podOpt{withLabels("app", "web"), withOwner("ReplicaSet", "web"),
		withSpread(corev1.LabelHostname, 1, corev1.ScheduleAnyway, webLabels)}, opts...)
	return Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general", ngCategory("standard"), ngMaxNodes(maxNodes))},
		Offerings:  standardOfferings(),
		Pods:       replicas(n, "web", "100m", "128Mi", opts...),
	}
}

// withTaintedNode adds a node no web pod tolerates. Spread counts it as a hostname domain
// (nodeTaintsPolicy defaults to Ignore) with no web pod, so a strict maxSkew 1 allows at most
// one web pod per node.
func withTaintedNode(in Input) Input {
	in.Nodes = append(in.Nodes, testNode("tainted", "4", "8Gi", nil,
		corev1.Taint{Key: "dedicated", Value: "other", Effect: corev1.TaintEffectNoSchedule}))
	return in
}

// solveChecked solves in and checks every placement against the original specs.
func solveChecked(g Gomega, in Input) *Plan {
	plan, s, err := solveKeep(in)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	expectPlacementsValid(g, in, plan, s)
	return plan
}

func podsPerNewNode(plan *Plan) []int {
	var out []int
	for _, n := range plan.NewNodes {
		out = append(out, len(n.Pods))
	}
	return out
}

func TestPreferredSpreadHonouredWhenRoomAllows(t *testing.T) {
	g := NewWithT(t)
	in := preferredSpreadInput(10, 4)
	plan := solveChecked(g, in)
	g.Expect(plan.Unschedulable).To(BeEmpty())
	g.Expect(podsPerNewNode(plan)).To(Equal([]int{1, 1, 1, 1}))

	// Spread never enters the lower bound: it is the bound of the same pods without it.
	plain := preferredSpreadInput(10, 4)
	for _, p := range plain.Pods {
		p.Spec.TopologySpreadConstraints = nil
	}
	ref, err := Solve(plain)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(podsPerNewNode(ref)).To(Equal([]int{4}), "without the constraint one node takes all")
	g.Expect(plan.LowerBound).To(BeNumerically("~", ref.LowerBound, 1e-9))
	g.Expect(plan.LowerBound).To(BeNumerically(">", 0))
}

func TestPreferredSpreadRelaxedWhenNodesRunOut(t *testing.T) {
	for name, in := range map[string]Input{
		"max nodes 2":                      preferredSpreadInput(2, 4),
		"max nodes 2 and a tainted domain": withTaintedNode(preferredSpreadInput(2, 4)),
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			plan := solveChecked(g, in)
			g.Expect(plan.Unschedulable).To(BeEmpty())
			g.Expect(plan.Existing).To(BeEmpty())
			// Relaxed pods are placed wherever they fit: kube-scheduler's scoring, not the
			// plan, decides how evenly they end up.
			g.Expect(plan.NewNodes).To(HaveLen(2))
			g.Expect(plan.OnNew()).To(Equal(4))
			g.Expect(plan.Pending).To(Equal(4))
		})
	}
}

func TestPreferredSpreadStrictPassAloneWouldStrand(t *testing.T) {
	// The tainted domain makes the strict form place only one pod per node; the two pods it
	// strands are placed by the relaxed pass, next to the first ones.
	g := NewWithT(t)
	in := withTaintedNode(preferredSpreadInput(2, 4))
	strict, lenient := strictInput(in)
	g.Expect(lenient).To(HaveLen(4))
	s, err := newSolver(strict, lenient)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	pending := s.prepare()
	g.Expect(s.packNew()).To(Succeed())
	first := s.placement(pending)
	g.Expect(first.Unschedulable).To(HaveLen(2))
	g.Expect(podsPerNewNode(first)).To(Equal([]int{1, 1}))
	// The input keeps its ScheduleAnyway constraints.
	for _, p := range in.Pods {
		g.Expect(p.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable).To(Equal(corev1.ScheduleAnyway))
	}
}

func TestPreferredSpreadKeepsRequiredSpreadWhenRelaxed(t *testing.T) {
	// Relaxed, the DoNotSchedule maxSkew 2 still allows at most two web pods per node (the
	// tainted node has none): 4 of 6 fit on the 2 nodes, where strict alone places 2.
	g := NewWithT(t)
	in := withTaintedNode(preferredSpreadInput(2, 6, withSpread(corev1.LabelHostname, 2, corev1.DoNotSchedule, webLabels)))
	plan := solveChecked(g, in)
	g.Expect(podsPerNewNode(plan)).To(Equal([]int{2, 2}))
	g.Expect(plan.Unschedulable).To(HaveLen(2))
	for _, u := range plan.Unschedulable {
		g.Expect(u.Reasons).NotTo(BeEmpty())
	}
}

func TestPreferredSpreadDeterministic(t *testing.T) {
	g := NewWithT(t)
	mk := func() Input {
		in := withTaintedNode(preferredSpreadInput(3, 7, withSpread(corev1.LabelHostname, 2, corev1.DoNotSchedule, webLabels)))
		in.Pods = append(in.Pods, replicas(3, "api", "500m", "512Mi", withLabels("app", "api"),
			withSpread(corev1.LabelHostname, 1, corev1.ScheduleAnyway, map[string]string{"app": "api"}))...)
		return in
	}
	in := mk()
	a, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	b, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	a.SolveTime, b.SolveTime, a.ReplayTime, b.ReplayTime = 0, 0, 0, 0
	g.Expect(b).To(Equal(a))
	g.Expect(in).To(Equal(mk()), "the input is not modified")
}
