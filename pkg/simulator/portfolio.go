package simulator

import (
	"maps"
	"slices"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator/packing"
)

// strategy is how the packer follows the LP: how much worse than the LP (price over LP value)
// a rounded pattern node may be and still be opened, and how patterns are rounded.
type strategy struct {
	tolerance  float64
	cumulative bool
	colgen     bool
	// dive: column generation opens one node of its most fractional pattern per round and
	// solves again, instead of leaving the fractional rest to LP-following and greedy.
	dive bool
	// joint packs all weight tiers together by column generation first (riders on nodes
	// bought for other tiers' pods), before the tiers one by one.
	joint bool
	// balanced: hostname-spread classes get a chosen number of nodes with an even share each
	// (openBalanced) before the others are packed.
	balanced bool
}

// How closely to follow the LP is a trade-off that depends on the workload: rounding a
// pattern can waste more than the greedy would, or less. For inputs small enough, the packer
// tries several strategies on forks of the snapshot and keeps the best plan (most pods
// placed, then cheapest; the first on ties, so the result stays deterministic). Large inputs
// get two (largeStrategies); strategies with nothing to add to the first are skipped.
var (
	strategies = []strategy{
		// First: it is quick, and bestOf runs the winner again unless it is the last attempt.
		balancedStrategy,
		colgenStrategy,
		{tolerance: 1.05, cumulative: true},
		{tolerance: 1.05},
		{tolerance: 1.1, cumulative: true},
		{tolerance: 1.2},
		{tolerance: 1.1, cumulative: true, colgen: true, joint: true},
		{tolerance: 1.1, cumulative: true, colgen: true, dive: true},
		{tolerance: 1.1, cumulative: true, colgen: true, joint: true, dive: true},
	}
	colgenStrategy   = strategy{tolerance: 1.1, cumulative: true, colgen: true}
	balancedStrategy = strategy{tolerance: 1.1, cumulative: true, colgen: true, balanced: true}
	largeStrategies  = []strategy{balancedStrategy, colgenStrategy, {tolerance: 1.2}}
	// portfolioMaxPods and portfolioMaxLP (classes x templates, the size of the LPs): above
	// either, one attempt only.
	portfolioMaxPods = 6000
	portfolioMaxLP   = 5000
)

type solverState struct {
	next     []int
	allowed  [][]bool
	groups   [][3]int64
	placedOn map[string][]podRef
	seq      int
	// newNodes planned before the save (a fallback round packs on top of an earlier one);
	// copied, since attempts may change a planned node in place (downsizing).
	newNodes []plannedNode
}

func (s *solver) save() solverState {
	st := solverState{next: append([]int(nil), s.next...), placedOn: maps.Clone(s.placedOn), seq: s.seq}
	for _, n := range s.newNodes {
		st.newNodes = append(st.newNodes, *n)
	}
	for _, a := range s.allowed {
		st.allowed = append(st.allowed, append([]bool(nil), a...))
	}
	for _, g := range s.groups {
		st.groups = append(st.groups, [3]int64{int64(g.nodes), g.cpu, g.memory})
	}
	return st
}

func (s *solver) restore(st solverState) {
	copy(s.next, st.next)
	for i := range s.allowed {
		copy(s.allowed[i], st.allowed[i])
	}
	for i, g := range s.groups {
		g.nodes, g.cpu, g.memory = int(st.groups[i][0]), st.groups[i][1], st.groups[i][2]
	}
	s.placedOn = maps.Clone(st.placedOn)
	s.newNodes = nil
	for _, n := range st.newNodes {
		s.newNodes = append(s.newNodes, &n)
	}
	s.seq = st.seq
}

// packNew places the pending pods: on existing nodes first, then on new nodes. Both stages
// have variants: what goes on existing nodes (best fit, or column generation with diving
// and exchange), and how new nodes follow the LP (strategies). For inputs small enough,
// every existing variant is followed by every new-node strategy, each on a fork of the
// snapshot, and the best plan is kept (most pods placed, then cheapest; the first on ties,
// so the result stays deterministic).
func (s *solver) packNew() error {
	left := 0
	for ci, c := range s.classes {
		left += len(c.pods) - s.next[ci]
	}
	packExisting := func(colgen bool) error {
		if colgen {
			if err := s.existingPatterns(); err != nil {
				return err
			}
		}
		if err := s.fillExisting(); err != nil {
			return err
		}
		if colgen {
			return s.exchangeExisting()
		}
		return nil
	}
	packNewNodes := func(st strategy) error {
		s.strategy = st
		if st.balanced {
			return s.openBalanced()
		}
		if err := s.openNewNodes(); err != nil {
			return err
		}
		if err := s.emptyNodes(); err != nil {
			return err
		}
		return s.downsize()
	}
	tries := strategies
	if left > portfolioMaxPods || len(s.classes)*len(s.templates) > portfolioMaxLP {
		// Large inputs: column generation and plain LP-following, which win on different
		// workloads, and nothing else.
		tries = largeStrategies
	}
	if s.in.onlyBalanced {
		if s.redundant(balancedStrategy) {
			return nil // no hostname spread to balance: nothing placed
		}
		tries = []strategy{balancedStrategy}
	}
	tries = slices.DeleteFunc(slices.Clone(tries), s.redundant)
	if left == 0 {
		tries = tries[:1]
	}
	existingVariants := []bool{false}
	if len(s.existing) > 0 && len(s.existing) <= packing.ExistingColgenMax && left > 0 {
		existingVariants = append(existingVariants, true)
	}
	return s.bestOf(len(existingVariants), func(i int) error {
		if err := packExisting(existingVariants[i]); err != nil {
			return err
		}
		return s.bestOf(len(tries), func(j int) error { return packNewNodes(tries[j]) })
	})
}

// bestOf runs attempt(0..n-1) in turn, each on a fork of the snapshot from the same solver
// state, and leaves the solver with the best outcome (most pods placed, then cheapest; the
// first on ties): the last attempt is kept when it wins, otherwise the winner runs again.
func (s *solver) bestOf(n int, attempt func(i int) error) error {
	if n == 1 {
		return attempt(0)
	}
	saved := s.save()
	best, bestPlaced, bestCost := -1, -1, 0.0
	for i := 0; i < n; i++ {
		s.snap.Fork()
		if err := attempt(i); err != nil {
			return err
		}
		placed, cost := 0, 0.0
		for ci := range s.classes {
			placed += s.next[ci]
		}
		for _, nd := range s.newNodes {
			cost += nd.tmpl.offering.HourlyPrice
		}
		if placed > bestPlaced || (placed == bestPlaced && cost < bestCost-1e-9) {
			best, bestPlaced, bestCost = i, placed, cost
			if i == n-1 {
				return s.snap.Commit()
			}
		}
		if s.hurry() {
			// No time to try the rest or to run the winner again: keep this attempt.
			return s.snap.Commit()
		}
		if err := s.snap.Revert(); err != nil {
			return err
		}
		s.restore(saved)
	}
	return attempt(best)
}

// redundant says whether strategy st would repeat the plain colgen strategy: its extra pass
// has nothing to work on (a single weight tier).
func (s *solver) redundant(st strategy) bool {
	if st.balanced {
		return len(s.spreadClasses()) == 0
	}
	if st.joint {
		var tiers []int32
		for ci := range s.classes {
			for ti, ok := range s.allowed[ci] {
				if ok {
					if w := s.templates[ti].group.weight; !slices.Contains(tiers, w) {
						tiers = append(tiers, w)
					}
					break
				}
			}
		}
		return len(tiers) < 2
	}
	return false
}
