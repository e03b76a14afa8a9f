package simulator

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilnode "k8s.io/component-helpers/node/topology"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// Replay says how a plan fares when kube-scheduler meets it: every new node of the batch
// released together, the pods taken in queue order, each bound where the default profile's
// Filter and Score plugins send it.
type Replay struct {
	// Ran: the replay ran; Skipped says why not otherwise.
	Ran     bool   `json:"ran"`
	Skipped string `json:"skipped,omitempty"`
	// PackedHourlyCost is the packed plan's price, before the replay changed it.
	PackedHourlyCost float64 `json:"packed_hourly_cost"`
	// Stranded is how many pods the scheduler would leave pending on the packed plan's nodes.
	Stranded int `json:"stranded"`
	// AddedNodes are the nodes the plan gained so that the replay strands no pod.
	AddedNodes int `json:"added_nodes"`
	// Moved counts pods the replay binds to another node than the packed plan (or the
	// Alternative) chose (most only trade places between like nodes).
	Moved int `json:"moved"`
	// Remaining is how many pods the final plan's replay still strands (0 when repaired).
	Remaining int `json:"remaining"`
	// SecondRoundHourlyCost is the packed plan plus the nodes a second provisioning round
	// would buy for what it strands; SafeHourlyCost is the cheapest stranding-free plan the
	// repair (or the Alternative) found (0: none in time). Repaired: the plan is the repair's,
	// as it cost at most a little more than the second round would.
	SecondRoundHourlyCost float64 `json:"second_round_hourly_cost,omitempty"`
	SafeHourlyCost        float64 `json:"safe_hourly_cost,omitempty"`
	Repaired              bool    `json:"repaired"`
	// Alternative names the plan taken instead of the packed one or its repair: "balanced",
	// the plan of the balanced spread strategy alone, which strands no pod and costs less
	// than the repaired plan or, without one, than the second round (plus replayPremium).
	Alternative string `json:"alternative,omitempty"`
	// Rounds is the number of replays run.
	Rounds int `json:"rounds"`
}

// replayRounds bounds the repair: each round replays the plan and buys nodes for what it
// stranded, and the nodes bought change where the scheduler sends the other pods.
const replayRounds = 8

// replayPremium is how much more than the two-round outcome (the packed plan, then the nodes a
// second provisioning round buys for what it strands) a stranding-free plan may cost: a little
// money for not making those pods wait for a second round of node boots.
var replayPremium = 0.03

// minReplayBudget is the least time the replay gets under a deadline; otherwise it may take as
// long as packing took, within the deadline. A fast packer must not starve it: a 3000-pod
// batch packed in 0.6 s takes about 1 s to replay.
const minReplayBudget = 1500 * time.Millisecond

// replayOutcome is one replay: where each placed pod ends ("namespace/name" -> node) and the
// pods no node could take when their turn came, in queue order.
type replayOutcome struct {
	boundTo  map[string]string
	stranded []string
	// nodes are the new nodes as the replay built them (with their daemonset pods).
	nodes []*framework.NodeInfo
}

// replayPlan replays plan the way kube-scheduler meets it and, while the replay strands pods,
// plans those onto nodes added to the batch and replays again. The stranding-free plan found
// is taken when it costs at most replayPremium more than letting a second provisioning round
// pick up the stranded pods; otherwise the packed plan stands and the replay only reports
// what it will strand. s is the solver that produced plan (its snapshot is reset to the input
// when it can be; otherwise a new one is built). packTime is how long packing took. A repaired
// plan places the pods where its replay binds them.
func replayPlan(ctx context.Context, in Input, plan *Plan, s *solver, packTime time.Duration) (*Plan, error) {
	rep := &Replay{PackedHourlyCost: plan.HourlyCost}
	placed := plannedPods(plan)
	if len(placed) == 0 {
		rep.Skipped = "no pod placed"
		plan.Replay = rep
		return plan, nil
	}
	if ctx.Err() != nil {
		rep.Skipped = "the solve deadline was reached"
		plan.Replay = rep
		return plan, nil
	}
	parent, budget := ctx, max(minReplayBudget, packTime)
	if _, ok := ctx.Deadline(); ok {
		// Under a deadline the replay gets a budget; without one it runs to the end, so a plan
		// without a deadline does not depend on the machine's speed.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	// Nodes the repair adds continue the plan's numbering.
	seq := s.seq
	s, done, err := replaySolver(in, s)
	if err != nil {
		return nil, err
	}
	defer done()

	first, err := s.replay(ctx, plan, placed)
	if err != nil {
		return nil, err
	}
	if first == nil {
		rep.Skipped = "out of time for the replay"
		plan.Replay = rep
		return plan, nil
	}
	rep.Ran, rep.Rounds, rep.Stranded = true, 1, len(first.stranded)
	chosen, chosenOut := plan, first
	cur, out := plan, first
	for round := 1; round < replayRounds && len(out.stranded) > 0; round++ {
		extra, next, err := repairFor(ctx, in, cur, out, seq)
		if err != nil {
			return nil, err
		}
		if len(extra) == 0 {
			break // nothing more can be bought for them, or no time left
		}
		seq = next
		grown := *cur
		grown.NewNodes = append(slices.Clone(cur.NewNodes), extra...)
		grown.HourlyCost = cur.HourlyCost
		for _, n := range extra {
			grown.HourlyCost += n.Offering.HourlyPrice
		}
		cur = &grown
		if round == 1 {
			rep.SecondRoundHourlyCost = cur.HourlyCost
		}
		if err := s.reset(); err != nil {
			return nil, err
		}
		if out, err = s.replay(ctx, cur, placed); err != nil {
			return nil, err
		}
		if out == nil {
			break
		}
		rep.Rounds++
		if len(out.stranded) == 0 {
			rep.SafeHourlyCost = cur.HourlyCost
			if cur.HourlyCost <= rep.SecondRoundHourlyCost*(1+replayPremium)+1e-9 {
				chosen, chosenOut = cur, out
				rep.Repaired = true
			}
		}
	}
	rep.Remaining = len(chosenOut.stranded)
	for p, node := range placed {
		if to, ok := chosenOut.boundTo[p]; ok && to != node {
			rep.Moved++
		}
	}
	spread := slices.ContainsFunc(s.classes, func(c *podClass) bool { return c.selfHostnameLimited && !c.selfAntiAffinity })
	if rep.SecondRoundHourlyCost > 0 && spread && !in.onlyBalanced {
		// The balanced strategy's plan competes with the repair under the same rule, and wins
		// when it is cheaper than the repaired plan.
		limit := rep.SecondRoundHourlyCost * (1 + replayPremium)
		if rep.Repaired {
			limit = min(limit, chosen.HourlyCost)
		}
		alt, altOut, err := balancedAlternative(parent, in, plan, limit, budget)
		if err != nil {
			return nil, err
		}
		if alt != nil {
			rep.Repaired, rep.AddedNodes = false, 0
			rep.Alternative, rep.SafeHourlyCost, rep.Remaining, rep.Moved = "balanced", alt.HourlyCost, 0, 0
			altPlaced := plannedPods(alt)
			for p, node := range altPlaced {
				if to, ok := altOut.boundTo[p]; ok && to != node {
					rep.Moved++
				}
			}
			final := replayed(alt, altOut, altPlaced)
			final.Replay = rep
			return final, nil
		}
	}
	if !rep.Repaired {
		// The packed plan stands with its own placements: they are what the provisioner waits
		// for and protects, and the replay's differ only in which of like nodes a pod takes,
		// or strand the pods a second round will plan.
		plan.Replay = rep
		return plan, nil
	}
	placedBy := replayed(chosen, chosenOut, placed)
	rep.AddedNodes = len(placedBy.NewNodes) - len(plan.NewNodes)
	placedBy.Replay = rep
	return placedBy, nil
}

// balancedAlternative plans in with the balanced spread strategy alone and replays that plan.
// It returns the plan and its replay when the plan places as many pods as packed, costs less
// than limit (what the packed plan and a second round would cost, or a cheaper repaired
// plan) and strands no pod; nil
// otherwise. The packer keeps the cheapest plan it finds, but a hostname spread packed node
// by node is often one the scheduler does not follow, while the balanced plan deals every
// node its share and is followed as it is. Under a deadline it gets budget of its own.
func balancedAlternative(ctx context.Context, in Input, packed *Plan, limit float64, budget time.Duration) (*Plan, *replayOutcome, error) {
	if _, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	if ctx.Err() != nil {
		return nil, nil, nil
	}
	alt := in
	alt.ctx, alt.onlyBalanced, alt.SkipReplay = ctx, true, true
	plan, s, err := solveKeep(alt)
	if err != nil {
		return nil, nil, err
	}
	defer s.sched.Close()
	if plan.DeadlineExceeded || len(plan.Unschedulable) > len(packed.Unschedulable) || plan.OnExisting()+plan.OnNew() == 0 ||
		plan.HourlyCost >= limit-1e-9 || ctx.Err() != nil {
		return nil, nil, nil
	}
	s, done, err := replaySolver(in, s)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	out, err := s.replay(ctx, plan, plannedPods(plan))
	if err != nil || out == nil || len(out.stranded) > 0 {
		return nil, nil, err
	}
	return plan, out, nil
}

// replaySolver is s with its snapshot reset to the input, or, when it cannot be, a new solver
// for in; done closes what replaySolver built.
func replaySolver(in Input, s *solver) (*solver, func(), error) {
	if s.resettable() && s.reset() == nil {
		return s, func() {}, nil
	}
	base := in
	base.ctx = nil
	fresh, err := newSolver(base, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("building the replay, %w", err)
	}
	return fresh, fresh.sched.Close, nil
}

// plannedPods lists the pods plan places, each with the node it chose.
func plannedPods(plan *Plan) map[string]string {
	out := map[string]string{}
	for _, e := range plan.Existing {
		for _, p := range e.Pods {
			out[p] = e.Node
		}
	}
	for _, n := range plan.NewNodes {
		for _, p := range n.Pods {
			out[p] = n.Name
		}
	}
	return out
}

// replayed is cur (the packed plan with the nodes the repair added) with every placed pod
// where the replay bound it; a pod the replay strands keeps the node the packer chose, so the
// plan still accounts for every pod (the scheduler will retry it once nodes free up).
func replayed(cur *Plan, out *replayOutcome, placed map[string]string) *Plan {
	final := *cur
	final.Existing, final.NewNodes = nil, nil
	onNode := map[string][]string{}
	for p := range placed {
		node, ok := out.boundTo[p]
		if !ok {
			node = placed[p]
		}
		onNode[node] = append(onNode[node], p)
	}
	seen := map[string]bool{}
	for _, n := range cur.NewNodes {
		seen[n.Name] = true
	}
	var existing []string
	for node := range onNode {
		if !seen[node] {
			existing = append(existing, node)
		}
	}
	slices.Sort(existing)
	for _, node := range existing {
		pods := onNode[node]
		slices.Sort(pods)
		final.Existing = append(final.Existing, Placement{Node: node, Pods: pods})
	}
	final.HourlyCost = 0
	for _, n := range cur.NewNodes {
		pods := onNode[n.Name]
		slices.Sort(pods)
		n.Pods = pods
		final.NewNodes = append(final.NewNodes, n)
		final.HourlyCost += n.Offering.HourlyPrice
	}
	return &final
}

// resettable says whether the snapshot can be taken back to the input's state by removing
// what packing added: only when packing worked on the input's own pods and nodes.
func (s *solver) resettable() bool { return s.reusable && s.snap.Depth() == 0 }

// reset removes the pending pods placed and the new nodes from the snapshot, so it holds the
// input's nodes and bound pods again.
func (s *solver) reset() error {
	if s.snap.Depth() != 0 {
		return fmt.Errorf("resetting the snapshot inside a fork")
	}
	// New nodes go first, with their pods; then the pods left on the input's nodes.
	var added []string
	for _, n := range s.newNodes {
		added = append(added, n.name)
	}
	for _, name := range append(added, s.replayNodes...) {
		if s.snap.NodeInfo(name) != nil {
			if err := s.snap.RemoveNode(name); err != nil {
				return err
			}
		}
	}
	for node, refs := range s.placedOn {
		if s.snap.NodeInfo(node) == nil {
			continue
		}
		for _, r := range refs {
			if err := s.snap.RemovePod(s.classes[r.ci].pods[r.i], node); err != nil {
				return err
			}
		}
	}
	for node, pods := range s.replayBound {
		if s.snap.NodeInfo(node) == nil {
			continue
		}
		for _, pod := range pods {
			if err := s.snap.RemovePod(pod, node); err != nil {
				return err
			}
		}
	}
	s.placedOn, s.newNodes = map[string][]podRef{}, nil
	s.replayNodes, s.replayBound = nil, nil
	return nil
}

// replay binds the placed pods of plan one by one the way kube-scheduler would, on the input's
// nodes plus plan's new nodes. It returns nil when the deadline stopped it.
func (s *solver) replay(ctx context.Context, plan *Plan, placed map[string]string) (*replayOutcome, error) {
	out := &replayOutcome{boundTo: map[string]string{}}
	templates := map[[2]string]*template{}
	for _, t := range s.templates {
		templates[[2]string{t.group.name, t.offering.Name}] = t
	}
	for _, n := range plan.NewNodes {
		t := templates[[2]string{n.NodeGroup, n.Offering.Name}]
		if t == nil {
			return nil, fmt.Errorf("replaying: node %s has no template %s/%s", n.Name, n.NodeGroup, n.Offering.Name)
		}
		ni := t.instantiate(n.Name)
		if err := s.snap.AddNodeInfo(ni); err != nil {
			return nil, err
		}
		s.replayNodes = append(s.replayNodes, n.Name)
		out.nodes = append(out.nodes, ni)
	}
	order := s.schedulerOrder()

	type queued struct {
		pod   *corev1.Pod
		ci, i int
		pos   int
	}
	var queue []queued
	for ci, c := range s.classes {
		for i, p := range c.pods {
			if _, ok := placed[podKey(p)]; ok {
				queue = append(queue, queued{pod: p, ci: ci, i: i, pos: s.inputPos(ci, i)})
			}
		}
	}
	// The scheduling queue pops the highest priority first, then the pod queued first: here
	// the oldest, then the input's order (the order the pods were created in).
	slices.SortStableFunc(queue, func(a, b queued) int {
		if c := cmp.Compare(corev1helpers.PodPriority(b.pod), corev1helpers.PodPriority(a.pod)); c != 0 {
			return c
		}
		if c := a.pod.CreationTimestamp.Compare(b.pod.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})

	preps := make([]*Prepared, len(s.classes))
	// The scheduler breaks ties between equal scores at random; a fixed seed keeps plans
	// reproducible.
	rng := rand.New(rand.NewPCG(uint64(len(queue)), 20261204))
	start := 0
	feasible := make([]fwk.NodeInfo, 0, len(order))
	s.replayBound = map[string][]*corev1.Pod{}
	for k, q := range queue {
		if k%64 == 0 && ctx.Err() != nil {
			return nil, nil
		}
		if preps[q.ci] == nil {
			preps[q.ci] = s.sched.Prepare(q.pod)
		}
		p := preps[q.ci]
		node, next := s.selectNode(p, q.pod, order, start, feasible[:0], rng)
		start = next
		if node == "" {
			out.stranded = append(out.stranded, podKey(q.pod))
			continue
		}
		if err := s.sched.PlaceInfo(p, s.classes[q.ci].infos[q.i], node); err != nil {
			return nil, err
		}
		s.replayBound[node] = append(s.replayBound[node], q.pod)
		out.boundTo[podKey(q.pod)] = node
	}
	return out, nil
}

// selectNode is one scheduling cycle: Filter over the nodes from start on until enough feasible
// ones are found (kube-scheduler's percentageOfNodesToScore rule), Score them, and take the
// best. It returns the node ("" when none fits) and where the next cycle starts.
func (s *solver) selectNode(p *Prepared, pod *corev1.Pod, order []*framework.NodeInfo, start int, feasible []fwk.NodeInfo, rng *rand.Rand) (string, int) {
	n := len(order)
	if n == 0 {
		return "", 0
	}
	want := numFeasibleNodesToFind(n)
	processed := 0
	for i := 0; i < n && len(feasible) < want; i++ {
		ni := order[(start+i)%n]
		processed++
		if s.sched.Filter(p, ni).IsSuccess() {
			feasible = append(feasible, ni)
		}
	}
	next := (start + processed) % n
	switch len(feasible) {
	case 0:
		return "", next
	case 1:
		return feasible[0].Node().Name, next
	}
	// Score plugins write their PreScore state into the cycle state; the Filter plugins'
	// entries are left alone, so the class's state stays valid for the next pod.
	if st := s.sched.fw.RunPreScorePlugins(s.sched.ctx, p.state, pod, feasible); !st.IsSuccess() && !st.IsSkip() {
		return feasible[0].Node().Name, next
	}
	scores, st := s.sched.fw.RunScorePlugins(s.sched.ctx, p.state, pod, feasible)
	if !st.IsSuccess() {
		return feasible[0].Node().Name, next
	}
	best, ties := -1, 0
	for i := range scores {
		switch {
		case best < 0 || scores[i].TotalScore > scores[best].TotalScore:
			best, ties = i, 1
		case scores[i].TotalScore == scores[best].TotalScore:
			ties++
			if rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return scores[best].Name, next
}

// numFeasibleNodesToFind is kube-scheduler's: all nodes up to 100, then a share that shrinks
// with the cluster (50% less 1% per 125 nodes, at least 5%), never fewer than 100.
func numFeasibleNodesToFind(n int) int {
	const minNodes, minPercent = 100, 5
	if n < minNodes {
		return n
	}
	percent := max(50-n/125, minPercent)
	return max(n*percent/100, minNodes)
}

// schedulerOrder lists the input's nodes and then the batch's new ones the way kube-scheduler's
// node tree does: zones taken in turn, each zone's nodes in the order they were added.
func (s *solver) schedulerOrder() []*framework.NodeInfo {
	var zones []string
	byZone := map[string][]*framework.NodeInfo{}
	for _, name := range append(slices.Clone(s.existing), s.replayNodes...) {
		ni := s.snap.NodeInfo(name)
		z := utilnode.GetZoneKey(ni.Node())
		if _, ok := byZone[z]; !ok {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], ni)
	}
	var out []*framework.NodeInfo
	for i := 0; ; i++ {
		added := false
		for _, z := range zones {
			if i < len(byZone[z]) {
				out = append(out, byZone[z][i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// inputPos is the position of member i of class ci in the input's pod list.
func (s *solver) inputPos(ci, i int) int {
	if s.podPos == nil {
		s.podPos = map[string]int{}
		for k, p := range s.in.Pods {
			s.podPos[podKey(p)] = k
		}
	}
	return s.podPos[podKey(s.classes[ci].pods[i])]
}

// repairFor plans the pods out stranded onto new nodes, on the cluster as the replay left it
// (the input plus cur's new nodes, every other placed pod bound where the replay put it). It
// returns the nodes to add, named after seq, and the next seq.
func repairFor(ctx context.Context, in Input, cur *Plan, out *replayOutcome, seq int) ([]NewNode, int, error) {
	stranded := map[string]bool{}
	for _, p := range out.stranded {
		stranded[p] = true
	}
	// Pending pods outside the batch (left out of the plan) are not part of the repair.
	next := withPlannedBound(in, out.nodes, out.boundTo, func(key string) bool { return stranded[key] })
	next.ctx = ctx
	next.seqFrom = seq
	next.SkipReplay = true
	plan, s, err := solveKeep(next)
	if err != nil {
		return nil, 0, fmt.Errorf("planning the pods the replay stranded, %w", err)
	}
	defer s.sched.Close()
	return plan.NewNodes, s.seq, nil
}
