package simulator

import (
	"cmp"
	"slices"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator/packing"
)

// Which pending pods should take the free room of existing nodes? Largest first is a fair
// guess, but the right answer is "the ones that would be expensive to host on new nodes, in
// combinations that fill the room". Column generation answers that directly: each existing
// node is a free "template" usable once, whose columns are whole-pod patterns fitting its
// room; new-node templates compete in the same master LP (packing.GenerateWithExisting).
// Each node then gets the pattern the LP uses most, Filter confirming every pod.

func (s *solver) existingPatterns() error {
	if len(s.existing) == 0 || len(s.existing) > packing.ExistingColgenMax {
		return nil
	}
	// Diving: each round fixes the nodes whose chosen pattern the LP is surest of (a quarter
	// of those left, at least one), places their pods, and solves again for the rest, so the
	// later choices see what the earlier ones took.
	fixed := make([]bool, len(s.existing))
	left := len(s.existing)
	var prev *packing.Columns
	for round := 0; round < existingDiveRounds && left > 0 && !s.hurry(); round++ {
		counts := make([]int, len(s.classes))
		for ci, c := range s.classes {
			counts[ci] = len(c.pods) - s.next[ci]
		}
		r, err := s.problem().GenerateWithExisting(packing.ExistingInput{
			Cover: s.coverInput(counts, true),
			Free: func(ei int) packing.Vec {
				if fixed[ei] {
					return packing.Vec{}
				}
				return freeOf(s.snap.NodeInfo(s.existing[ei]))
			},
			Prev: prev, Skip: fixed, Exact: true,
		})
		if err != nil || r == nil {
			return err
		}
		prev = r
		nt := len(s.templates)
		// Each node's pattern is the one the LP uses most, however little.
		best := make([]int, len(s.existing))
		for i := range best {
			best[i] = -1
		}
		for k, p := range r.Cols {
			if p.Bin < nt || r.Lambda[k] <= 1e-9 || fixed[p.Bin-nt] {
				continue
			}
			ei := p.Bin - nt
			if best[ei] < 0 || r.Lambda[k] > r.Lambda[best[ei]] {
				best[ei] = k
			}
		}
		var order []int
		for ei, k := range best {
			if k >= 0 {
				order = append(order, ei)
			}
		}
		if len(order) == 0 {
			return nil
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(r.Lambda[best[b]], r.Lambda[best[a]]) })
		take := max(1, left/4)
		if round == existingDiveRounds-1 {
			take = len(order)
		}
		for _, ei := range order[:min(take, len(order))] {
			fixed[ei] = true
			left--
			if err := s.placePattern(s.existing[ei], r.Cols[best[ei]], r.Shapes); err != nil {
				return err
			}
		}
	}
	return nil
}

// existingDiveRounds bounds the diving rounds of existingPatterns.
const existingDiveRounds = 6

// placePattern puts a pattern's pods on node name, Filter confirming each.
func (s *solver) placePattern(name string, p packing.Pattern, shapes []*packing.Shape) error {
	for si, n := range p.Counts {
		for _, ci := range shapes[si].Classes {
			c := s.classes[ci]
			for ; n > 0 && s.next[ci] < len(c.pods); n-- {
				if !s.sched.Filter(c.prep, s.snap.NodeInfo(name)).IsSuccess() {
					break
				}
				if err := s.place(ci, name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
