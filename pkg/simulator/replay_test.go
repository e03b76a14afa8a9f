package simulator

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// expectReplayValid re-checks a replayed plan in the cluster it describes (the input's nodes
// and the plan's new nodes, every placed pod where the plan puts it): each placed pod passes
// Filter there. Only a repaired plan (or an alternative) has the replay's placements (the packed plan's own are
// checked by expectPlacementsValid), and it strands no pod.
func expectReplayValid(g Gomega, in Input, plan *Plan) {
	g.Expect(plan.Replay).NotTo(BeNil())
	if !plan.Replay.Repaired && plan.Replay.Alternative == "" {
		return
	}
	g.Expect(plan.Replay.Remaining).To(BeZero())
	base := in
	base.ctx = nil
	s, err := newSolver(base, nil)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	templates := map[[2]string]*template{}
	for _, t := range s.templates {
		templates[[2]string{t.group.name, t.offering.Name}] = t
	}
	pods := map[string]*corev1.Pod{}
	for _, p := range in.Pods {
		pods[podKey(p)] = withUID(p)
	}
	for _, n := range plan.NewNodes {
		t := templates[[2]string{n.NodeGroup, n.Offering.Name}]
		g.Expect(t).NotTo(BeNil(), "node %s has a template", n.Name)
		g.Expect(s.snap.AddNodeInfo(t.instantiate(n.Name))).To(Succeed())
	}
	placed := plannedPods(plan)
	for key, node := range placed {
		g.Expect(s.snap.AddPod(pods[key], node)).To(Succeed())
	}
	for key, node := range placed {
		pod := pods[key]
		g.Expect(s.snap.RemovePod(pod, node)).To(Succeed())
		g.Expect(s.sched.CheckPodFits(pod, node)).To(Succeed(), "pod %s on %s", key, node)
		g.Expect(s.snap.AddPod(pod, node)).To(Succeed())
	}
}

func exampleInput(t *testing.T, name string) Input {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	offerings, err := cloudprovider.LoadOfferings(filepath.Join(root, "hack", "examples", "offerings.json"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := LoadWorkload(filepath.Join(root, "hack", "examples", "workloads", name))
	if err != nil {
		t.Fatal(err)
	}
	return w.Input(offerings)
}

func TestReplayPredictsWhatTheSchedulerStrands(t *testing.T) {
	g := NewWithT(t)
	// mixed-200's memory NodeGroup has no taint: the general pods, queued before the
	// memory-selecting ones, take the room the packer meant for those (LeastAllocated likes the
	// big memory node), so the packed plan strands pods under the real scheduler (the e2e
	// fidelity suite measures 52 with all nodes released together).
	in := exampleInput(t, "mixed-200.yaml")
	plan, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	r := plan.Replay
	g.Expect(r).NotTo(BeNil())
	g.Expect(r.Ran).To(BeTrue())
	g.Expect(r.Stranded).To(BeNumerically("~", 52, 10), "the packed plan strands pods")
	// Every node bought for them draws general pods too: the stranding-free plan costs far more
	// than a second round would, so the packed plan stands and says what it will strand.
	g.Expect(r.SecondRoundHourlyCost).To(BeNumerically(">", r.PackedHourlyCost))
	g.Expect(r.SafeHourlyCost).To(BeNumerically(">", r.SecondRoundHourlyCost*(1+replayPremium)))
	g.Expect(r.Repaired).To(BeFalse())
	g.Expect(r.Remaining).To(Equal(r.Stranded))
	g.Expect(plan.HourlyCost).To(Equal(r.PackedHourlyCost))
	g.Expect(r.AddedNodes).To(BeZero())
	g.Expect(plan.OnExisting() + plan.OnNew() + len(plan.Unschedulable) + len(plan.Deferred)).To(Equal(plan.Pending))
	t.Logf("mixed-200: packed $%.4f/h strands %d; second round $%.4f/h; stranding-free $%.4f/h; %d moved, %d rounds",
		r.PackedHourlyCost, r.Stranded, r.SecondRoundHourlyCost, r.SafeHourlyCost, r.Moved, r.Rounds)

	packedIn := in
	packedIn.SkipReplay = true
	packed, err := Solve(packedIn)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(packed.Replay).To(BeNil())
	g.Expect(packed.HourlyCost).To(Equal(r.PackedHourlyCost))
	g.Expect(packed.LowerBound).To(Equal(plan.LowerBound), "the replay does not change the bound")
}

func TestReplayBuysNodesForThePodsTheSchedulerWouldStrand(t *testing.T) {
	g := NewWithT(t)
	defer func(p float64) { replayPremium = p }(replayPremium)
	replayPremium = 10 // any price for a plan the scheduler follows
	in := exampleInput(t, "mixed-200.yaml")
	plan, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	r := plan.Replay
	g.Expect(r.Ran).To(BeTrue())
	g.Expect(r.Stranded).To(BeNumerically(">", 0))
	g.Expect(r.Repaired).To(BeTrue())
	g.Expect(r.Remaining).To(BeZero(), "the replayed plan strands none")
	g.Expect(r.AddedNodes).To(BeNumerically(">", 0))
	g.Expect(plan.HourlyCost).To(Equal(r.SafeHourlyCost))
	g.Expect(plan.HourlyCost).To(BeNumerically(">", r.PackedHourlyCost))
	g.Expect(r.Moved).To(BeNumerically(">", 0))
	g.Expect(plan.OnExisting() + plan.OnNew() + len(plan.Unschedulable) + len(plan.Deferred)).To(Equal(plan.Pending))
	expectReplayValid(g, in, plan)

	// The same input, the same plan.
	again, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	plan.SolveTime, plan.ReplayTime, again.SolveTime, again.ReplayTime = 0, 0, 0, 0
	g.Expect(again).To(Equal(plan))
}

func TestReplayLeavesAFollowablePlanAlone(t *testing.T) {
	g := NewWithT(t)
	// Identical pods on one NodeGroup: wherever the scheduler sends each, they all fit.
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods:       replicas(40, "web", "500m", "512Mi"),
	}
	plan, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Replay.Ran).To(BeTrue())
	g.Expect(plan.Replay.Stranded).To(BeZero())
	g.Expect(plan.Replay.AddedNodes).To(BeZero())
	g.Expect(plan.HourlyCost).To(Equal(plan.Replay.PackedHourlyCost))
	g.Expect(plan.OnNew()).To(Equal(40))
	expectReplayValid(g, in, plan)
}

func TestReplaySkippedPastTheDeadline(t *testing.T) {
	g := NewWithT(t)
	in := exampleInput(t, "mixed-200.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	plan, err := SolveContext(ctx, in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Replay).NotTo(BeNil())
	g.Expect(plan.Replay.Ran).To(BeFalse())
	g.Expect(plan.Replay.Skipped).To(ContainSubstring("deadline"))
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	for _, tc := range []struct{ nodes, want int }{
		{0, 0}, {50, 50}, {100, 100}, {162, 100}, {500, 230}, {1000, 420}, {5000, 500}, {10000, 500},
	} {
		if got := numFeasibleNodesToFind(tc.nodes); got != tc.want {
			t.Errorf("numFeasibleNodesToFind(%d) = %d, want %d", tc.nodes, got, tc.want)
		}
	}
}

// Seven Deployments spread over hostnames (maxSkew 1), of sizes from 100m to 3 cpu. Node by
// node, the packer mixes them on many small nodes, which the scheduler does not follow: pods
// taken in queue order find a node with fewer of their kind and the skew rules out the
// planned ones, so the replay strands pods and the repair only adds nodes. The balanced
// strategy deals every node its share of every Deployment; its plan is followed as it is and
// costs less than the repaired one, so it is taken.
func TestReplayTakesTheBalancedPlanWhenItIsCheaperThanTheRepair(t *testing.T) {
	g := NewWithT(t)
	in := Input{Offerings: exampleInput(t, "mixed-200.yaml").Offerings, NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")}}
	sizes := [][2]string{{"100m", "384Mi"}, {"100m", "768Mi"}, {"1500m", "3Gi"}, {"3", "3Gi"}, {"1", "8Gi"}, {"1500m", "3Gi"}, {"100m", "192Mi"}}
	for d, sz := range sizes {
		app := fmt.Sprintf("spread%d", d)
		in.Pods = append(in.Pods, replicas(20, app, sz[0], sz[1], withLabels("app", app),
			withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": app}))...)
	}
	plan, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	r := plan.Replay
	g.Expect(r.Ran).To(BeTrue())
	g.Expect(r.Stranded).To(BeNumerically(">", 0), "the packed plan is not followed")
	g.Expect(r.Alternative).To(Equal("balanced"))
	g.Expect(r.Repaired).To(BeFalse())
	g.Expect(r.Remaining).To(BeZero())
	g.Expect(plan.HourlyCost).To(Equal(r.SafeHourlyCost))
	g.Expect(plan.HourlyCost).To(BeNumerically("<", r.SecondRoundHourlyCost))
	g.Expect(plan.HourlyCost).To(BeNumerically(">", r.PackedHourlyCost))
	g.Expect(plan.Unschedulable).To(BeEmpty())
	g.Expect(plan.OnNew()).To(Equal(len(in.Pods)))
	// Every node carries an even share: 140 pods on nodes holding the same of each kind.
	for _, n := range plan.NewNodes {
		g.Expect(len(n.Pods)%len(sizes)).To(BeZero(), "node %s", n.Name)
	}
	expectReplayValid(g, in, plan)

	again, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	again.SolveTime, again.ReplayTime, plan.SolveTime, plan.ReplayTime = 0, 0, 0, 0
	g.Expect(again).To(Equal(plan), "deterministic")
}
