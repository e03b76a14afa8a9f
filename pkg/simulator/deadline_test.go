package simulator

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

func deadlineInput() Input {
	pods := replicas(40, "anti", "250m", "256Mi", withLabels("app", "anti"), withOwner("ReplicaSet", "anti"),
		withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "anti"}))
	pods = append(pods, replicas(60, "web", "500m", "512Mi", withLabels("app", "web"), withOwner("ReplicaSet", "web"))...)
	pods = append(pods, testPod("huge", "500", "1Ti"))
	return Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings: []cloudprovider.Offering{
			{ID: "1", Name: "small", Category: "standard", CPU: 2, MemoryMiB: 4096, HourlyPrice: 0.02, Available: true},
			{ID: "2", Name: "large", Category: "standard", CPU: 8, MemoryMiB: 16384, HourlyPrice: 0.09, Available: true},
		},
		Nodes: []*corev1.Node{testNode("existing", "2", "4Gi", nil)},
		Pods:  pods,
	}
}

// accounted checks that every pending pod is placed, deferred or unschedulable exactly once.
func accounted(g Gomega, plan *Plan) {
	seen := map[string]int{}
	for _, e := range plan.Existing {
		for _, p := range e.Pods {
			seen[p]++
		}
	}
	for _, n := range plan.NewNodes {
		for _, p := range n.Pods {
			seen[p]++
		}
	}
	for _, u := range plan.Unschedulable {
		seen[u.Pod]++
	}
	for _, p := range plan.Deferred {
		seen[p]++
	}
	g.Expect(seen).To(HaveLen(plan.Pending))
	for p, n := range seen {
		g.Expect(n).To(Equal(1), "pod %s appears %d times", p, n)
	}
}

func TestSolveContextDeadlinePassed(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := deadlineInput()
	in.ctx = ctx
	plan, s, err := solveKeep(in)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()

	g.Expect(plan.DeadlineExceeded).To(BeTrue())
	accounted(g, plan)
	// The pod no offering can hold is unschedulable with its reason, not deferred: the
	// deadline is not why it has no place.
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.Unschedulable[0].Pod).To(Equal("default/huge"))
	g.Expect(plan.Deferred).NotTo(BeEmpty())
	// With no time left at all a pass still opens a few nodes, so pass after pass progresses.
	g.Expect(plan.NewNodes).NotTo(BeEmpty())
	g.Expect(len(plan.NewNodes)).To(BeNumerically("<=", minProgressNodes))
	g.Expect(plan.LowerBoundError).To(ContainSubstring("deadline"))
	expectPlacementsValid(g, in, plan, s)
}

func TestSolveInAHurryStillPlansEveryPod(t *testing.T) {
	g := NewWithT(t)
	defer func(f float64) { hurryFraction = f }(hurryFraction)
	hurryFraction = 0 // optimising time is over at once; the deadline itself is far away

	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	in := deadlineInput()
	in.ctx = ctx
	plan, s, err := solveKeep(in)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()

	g.Expect(plan.DeadlineExceeded).To(BeTrue(), "the optimisers were cut short")
	g.Expect(plan.Deferred).To(BeEmpty())
	accounted(g, plan)
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.OnNew() + plan.OnExisting()).To(Equal(100))
	expectPlacementsValid(g, in, plan, s)
	// The deadline is far: the hurried plan still gets its bound, to say how far off it is.
	g.Expect(plan.LowerBoundError).To(BeEmpty())
	g.Expect(plan.LowerBound).To(And(BeNumerically(">", 0), BeNumerically("<=", plan.HourlyCost+1e-9)))

	// The unhurried plan is at least as cheap.
	full, err := Solve(deadlineInput())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(full.HourlyCost).To(BeNumerically("<=", plan.HourlyCost+1e-9))
	g.Expect(full.DeadlineExceeded).To(BeFalse())
}

func TestSolveContextWithoutDeadlineIsSolve(t *testing.T) {
	g := NewWithT(t)
	a, err := SolveContext(context.Background(), deadlineInput())
	g.Expect(err).NotTo(HaveOccurred())
	b, err := Solve(deadlineInput())
	g.Expect(err).NotTo(HaveOccurred())
	a.SolveTime, b.SolveTime, a.ReplayTime, b.ReplayTime = 0, 0, 0, 0
	g.Expect(a).To(Equal(b))
}
