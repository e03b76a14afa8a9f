package simulator

import (
	"cmp"
	"slices"
)

// Which pending pods should take the free room of existing nodes? Largest first is a fair
// guess, but the right answer is "the ones that would be expensive to host on new nodes, in
// combinations that fill the room". Column generation answers that directly: each existing
// node is a free "template" usable once, whose columns are whole-pod patterns fitting its
// room; new-node templates compete in the same master LP. Each node then gets the pattern
// the LP uses most, Filter confirming every pod.

// existingColgenMax: above this many existing nodes the pass is skipped (one knapsack per
// node and iteration).
const existingColgenMax = 400

func (s *solver) existingPatterns() error {
	if len(s.existing) == 0 || len(s.existing) > existingColgenMax {
		return nil
	}
	// Diving: each round fixes the nodes whose chosen pattern the LP is surest of (a quarter
	// of those left, at least one), places their pods, and solves again for the rest, so the
	// later choices see what the earlier ones took.
	fixed := make([]bool, len(s.existing))
	left := len(s.existing)
	var prev *colgenResult
	for round := 0; round < existingDiveRounds && left > 0 && !s.hurry(); round++ {
		counts := make([]int, len(s.classes))
		for ci, c := range s.classes {
			counts[ci] = len(c.pods) - s.next[ci]
		}
		r, err := s.colgenWithExisting(counts, func(ei int) [numDims]int64 {
			if fixed[ei] {
				return [numDims]int64{}
			}
			return freeOf(s.snap.NodeInfo(s.existing[ei]))
		}, prev, fixed, true)
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
		for k, p := range r.cols {
			if p.ti < nt || r.lambda[k] <= 1e-9 || fixed[p.ti-nt] {
				continue
			}
			ei := p.ti - nt
			if best[ei] < 0 || r.lambda[k] > r.lambda[best[ei]] {
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
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(r.lambda[best[b]], r.lambda[best[a]]) })
		take := max(1, left/4)
		if round == existingDiveRounds-1 {
			take = len(order)
		}
		for _, ei := range order[:min(take, len(order))] {
			fixed[ei] = true
			left--
			if err := s.placePattern(s.existing[ei], r.cols[best[ei]], r.shapes); err != nil {
				return err
			}
		}
	}
	return nil
}

// existingDiveRounds bounds the diving rounds of existingPatterns.
const existingDiveRounds = 6

// placePattern puts a pattern's pods on node name, Filter confirming each.
func (s *solver) placePattern(name string, p pattern, shapes []*lpShape) error {
	for si, n := range p.counts {
		for _, ci := range shapes[si].classes {
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

type colgenResult struct {
	shapes    []*lpShape
	need      []int
	limited   []bool
	cols      []pattern
	lambda    []float64
	y         []float64
	nodeDuals []float64
}

// colgenWithExisting runs column generation over new-node templates and existing nodes (each
// usable once, with the room free(ei)) for counts[c] pods of each class. It returns nil when
// there is nothing to do or the LP cannot be solved. The columns of prev (an earlier round
// with more pods and room) that still fit start the pool, except those of the nodes in skip.
// Without exact, pricing is the greedy fill only (knapsack.go's search is skipped).
func (s *solver) colgenWithExisting(counts []int, free func(ei int) [numDims]int64, prev *colgenResult, skip []bool, exact bool) (*colgenResult, error) {
	existingBudget, templateBudget := knapsackExistingBudget, knapsackTemplateBudget
	// The search per pricing round is shared among the existing nodes: many nodes each get
	// less, so planning time does not grow with the cluster much beyond the greedy's.
	existingBudget = min(existingBudget, max(knapsackExistingRoundBudget/max(len(s.existing), 1), knapsackExistingMinBudget))
	if !exact {
		existingBudget, templateBudget = 0, 0
	}
	res, err := s.cover(counts, true)
	if err != nil || len(res.shapes) == 0 {
		return nil, nil // an LP that fails leaves the pods to the other phases
	}
	shapes := res.shapes
	need := make([]int, len(shapes))
	limited := make([]bool, len(shapes))
	for si, sh := range shapes {
		for _, ci := range sh.classes {
			need[si] += counts[ci]
			limited[si] = limited[si] || s.classes[ci].selfHostnameLimited
		}
	}
	onTemplate := func(si, ti int) bool { return s.allowed[shapes[si].classes[0]][ti] }
	onExisting := func(si, ei int) bool { return s.existingOK[shapes[si].classes[0]][ei] }
	nt := len(s.templates)

	// Columns: target < nt is a template, nt+ei an existing node.
	var cols []pattern
	seen := map[string]bool{}
	addCol := func(p pattern) bool {
		if p.counts == nil {
			return false
		}
		key := patternKey(p)
		if seen[key] {
			return false
		}
		seen[key] = true
		cols = append(cols, p)
		return true
	}
	y := make([]float64, len(shapes))
	for si, sh := range shapes {
		y[si] = res.value[sh.classes[0]]
	}
	for ti := range s.templates {
		for si, sh := range shapes {
			if onTemplate(si, ti) {
				addCol(s.singleShape(ti, si, sh, need, limited))
			}
		}
	}
	if prev != nil {
		// Warm start: the earlier pool, its counts moved to the current shapes and cut to the
		// pods left. Rooms only shrink on nodes in skip, so the rest still fit.
		shapeOf := map[int]int{}
		for si, sh := range shapes {
			for _, ci := range sh.classes {
				shapeOf[ci] = si
			}
		}
		for _, p := range prev.cols {
			if p.ti >= nt && skip != nil && skip[p.ti-nt] {
				continue
			}
			if q := remapPattern(p, prev.shapes, shapeOf, need, limited); q.counts != nil {
				addCol(q)
			}
		}
	}
	existingFree := free
	for ei := range s.existing {
		c, _ := s.knapsackFree(existingFree(ei), shapes, need, limited, y, func(si int) bool { return onExisting(si, ei) }, existingBudget)
		addCol(pattern{ti: nt + ei, counts: c})
	}

	var lambda, nodeDuals []float64
	for iter := 0; iter < colgenMaxIterations && !s.hurry(); iter++ {
		lp := s.newLP()
		for si := range shapes {
			lp.addRow(true, float64(need[si]))
		}
		nodeRow := make([]int, len(s.existing))
		for ei := range s.existing {
			nodeRow[ei] = lp.addRow(false, 1)
		}
		for _, p := range cols {
			cost := 0.0
			if p.ti < nt {
				cost = s.templates[p.ti].offering.HourlyPrice
			}
			col := lp.addCol(cost)
			for si, n := range p.counts {
				lp.set(si, col, float64(n))
			}
			if p.ti >= nt {
				lp.set(nodeRow[p.ti-nt], col, 1)
			}
		}
		x, duals, _, err := lp.solve()
		if err != nil {
			return nil, nil // leave it to the other phases
		}
		lambda = x
		nodeDuals = make([]float64, len(s.existing))
		for ei := range s.existing {
			nodeDuals[ei] = duals[nodeRow[ei]]
		}
		copy(y, duals[:len(shapes)])
		added := false
		for ti, t := range s.templates {
			if len(cols) >= colgenMaxColumns {
				break
			}
			p, v := s.knapsack(ti, shapes, need, limited, y, onTemplate, templateBudget)
			if p.counts != nil && v > t.offering.HourlyPrice*(1+1e-6) && addCol(p) {
				added = true
			}
		}
		for ei := range s.existing {
			if len(cols) >= colgenMaxColumns {
				break
			}
			c, v := s.knapsackFree(existingFree(ei), shapes, need, limited, y, func(si int) bool { return onExisting(si, ei) }, existingBudget)
			// The node's row price is <= 0: a pattern improves the LP when its value is above
			// what the node is already worth.
			if c != nil && v > -duals[nodeRow[ei]]+1e-9 && addCol(pattern{ti: nt + ei, counts: c}) {
				added = true
			}
		}
		if !added {
			break
		}
	}
	if lambda == nil {
		return nil, nil
	}
	// Columns added in the last iteration were never priced by the LP: it buys none of them.
	for len(lambda) < len(cols) {
		lambda = append(lambda, 0)
	}
	return &colgenResult{shapes: shapes, need: need, limited: limited, cols: cols, lambda: lambda, y: y, nodeDuals: nodeDuals}, nil
}
