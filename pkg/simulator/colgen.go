package simulator

import (
	"cmp"
	"math"
	"slices"
)

// Column generation (Gilmore-Gomory). Instead of rounding the LP's fractional per-node mix,
// the LP's columns are whole-pod node patterns: "a node of template t with a pods of shape 1,
// b of shape 2, ...". The master LP picks how many nodes of each pattern to buy; its duals
// price the shapes; a knapsack per template then looks for a pattern worth more than the
// node's price, and adds it. When no such pattern is found, the nodes of the patterns the LP
// buys whole are opened as they are: no rounding inside a node, only the fractional counts
// of patterns are left over (for the LP-following and greedy phases).

const (
	colgenMaxIterations = 40
	colgenMaxColumns    = 4000
	// colgenMaxDives bounds the diving rounds (each a column generation, warm started); past
	// it LP-following and greedy take the rest. 12 instead of 6 buys ~0.1% for ~20% more time.
	colgenMaxDives = 6
)

type pattern struct {
	ti     int
	counts []int // per shape
}

// columnGeneration packs the remaining pods of one weight tier by column generation.
func (s *solver) columnGeneration(remaining []int, total *int) error {
	return s.colgenDive(remaining, total, false)
}

// colgenDive runs column generation once, or, when the strategy dives, again and again,
// rounding one fractional pattern up each time, so that little is left to the coarser
// phases: the LP re-solved for the pods left after each rounding sees what it cost.
func (s *solver) colgenDive(remaining []int, total *int, joint bool) error {
	if !s.strategy.dive {
		_, err := s.colgen(remaining, total, joint, false)
		return err
	}
	// Diving: open what the LP buys whole and one node more, then solve again for the rest.
	s.diveCols, s.diveShapes = nil, nil
	defer func() { s.diveCols, s.diveShapes = nil, nil }()
	for d := 0; d < colgenMaxDives && *total > 0 && !s.hurry(); d++ {
		opened, err := s.colgen(remaining, total, joint, true)
		if err != nil || !opened {
			return err
		}
	}
	return nil
}

// jointColumnGeneration is column generation over the pods of every weight tier at once: a
// node of template t may carry any pod that fits it, as long as it carries at least one pod
// whose highest-weight NodeGroup is t's (the node is bought for that pod; the others ride on
// it, as they may on any planned node). Packing the tiers one after another cannot do that:
// e.g. a memory-optimised node bought for pods that need one can be a size larger and host
// memory-heavy pods of the general group, cheaper than standard nodes would.
func (s *solver) jointColumnGeneration(remaining []int, total *int) error {
	return s.colgenDive(remaining, total, true)
}

// colgen runs column generation for the remaining pods and opens the nodes the LP buys
// whole (with roundUp, also one node of its most fractional pattern); it says whether it
// opened any.
func (s *solver) colgen(remaining []int, total *int, joint, roundUp bool) (bool, error) {
	// fitsOn[c][t]: pods of class c may go on a node of template t; native[c][t]: such a node
	// may be bought for them (nil: the same).
	fitsOn, native := s.allowed, [][]bool(nil)
	if joint {
		native = make([][]bool, len(s.allowed))
		fitsOn = make([][]bool, len(s.allowed))
		for ci := range s.allowed {
			native[ci] = slices.Clone(s.allowed[ci])
			fitsOn[ci] = make([]bool, len(s.templates))
			for ti := range s.templates {
				// A class that a node of the template refused earlier stays off it.
				fitsOn[ci][ti] = s.fits[ci][ti] && (s.allowed[ci][ti] || !s.allowedAtStart[ci][ti])
			}
		}
	}
	packing := s.allowed
	s.allowed, s.native = fitsOn, native
	res, err := s.cover(remaining, false)
	s.allowed, s.native = packing, nil
	if err != nil || len(res.shapes) == 0 {
		return false, nil // an LP that fails leaves the pods to the other phases
	}
	shapes := res.shapes
	need := make([]int, len(shapes))
	for si, sh := range shapes {
		for _, ci := range sh.classes {
			need[si] += remaining[ci]
		}
	}
	limited := make([]bool, len(shapes))
	for si, sh := range shapes {
		for _, ci := range sh.classes {
			limited[si] = limited[si] || s.classes[ci].selfHostnameLimited
		}
	}
	allowedOn := func(si, ti int) bool { return fitsOn[shapes[si].classes[0]][ti] }
	isNative := func(si, ti int) bool { return native == nil || native[shapes[si].classes[0]][ti] }
	price := func(ti int, y []float64, budget int) (pattern, float64) {
		if native == nil {
			return s.knapsack(ti, shapes, need, limited, y, allowedOn, budget)
		}
		return s.nativeKnapsack(ti, shapes, need, limited, y, allowedOn, isNative, budget)
	}
	shapeOf := map[int]int{}
	for si, sh := range shapes {
		for _, ci := range sh.classes {
			shapeOf[ci] = si
		}
	}

	var cols []pattern
	seen := map[string]bool{}
	addCol := func(p pattern) bool {
		key := patternKey(p)
		if seen[key] {
			return false
		}
		seen[key] = true
		cols = append(cols, p)
		return true
	}
	if roundUp && s.diveShapes != nil {
		// Diving again: the columns of the last round, moved to the current shapes and cut
		// to the pods left, start the pool (templates' rooms do not change).
		for _, p := range s.diveCols {
			if q := remapPattern(p, s.diveShapes, shapeOf, need, limited); q.counts != nil {
				addCol(q)
			}
		}
	}
	budget := knapsackTemplateBudget
	if roundUp {
		// Diving solves many times; each round needs good columns less than the first plan.
		budget = knapsackDiveBudget
	}
	// Start with the LP's values: the best knapsack fill per template.
	y := make([]float64, len(shapes))
	for si, sh := range shapes {
		y[si] = res.value[sh.classes[0]]
	}
	for ti, t := range s.templates {
		if !t.group.allows(t.offering) {
			continue
		}
		if p, v := price(ti, y, 0); v > 0 && p.counts != nil {
			addCol(p)
		}
		// Single-shape patterns guarantee the master LP is feasible.
		for si, sh := range shapes {
			if allowedOn(si, ti) && isNative(si, ti) {
				if p := s.singleShape(ti, si, sh, need, limited); p.counts != nil {
					addCol(p)
				}
			}
		}
	}
	var lambda []float64
	for iter := 0; iter < colgenMaxIterations && !s.hurry(); iter++ {
		lp := s.newLP()
		for si := range shapes {
			lp.addRow(true, float64(need[si]))
		}
		for _, p := range cols {
			col := lp.addCol(s.templates[p.ti].offering.HourlyPrice)
			for si, n := range p.counts {
				lp.set(si, col, float64(n))
			}
		}
		s.addLimitRows(lp, cols)
		x, duals, _, err := lp.solve()
		if err != nil {
			return false, nil // leave it to the other phases
		}
		duals = duals[:len(shapes)]
		lambda, y = x, duals
		added := false
		for ti, t := range s.templates {
			if !t.group.allows(t.offering) || len(cols) >= colgenMaxColumns {
				continue
			}
			p, v := price(ti, y, budget)
			if p.counts != nil && v > t.offering.HourlyPrice*(1+1e-6) && addCol(p) {
				added = true
			}
		}
		if !added {
			break
		}
	}

	if lambda == nil {
		return false, nil
	}
	// Columns added in the last iteration were never priced by the LP: it buys none of them.
	for len(lambda) < len(cols) {
		lambda = append(lambda, 0)
	}
	if roundUp {
		s.diveCols, s.diveShapes = cols, shapes
	}
	openPattern := func(k int) (bool, error) {
		p := cols[k]
		t := s.templates[p.ti]
		if !t.group.allows(t.offering) {
			return false, nil
		}
		fill := s.patternToFill(p, shapes, remaining)
		if native != nil {
			// The pods the node is bought for go first: Filter sees them before riders. A
			// node whose first such pod Filter would refuse would carry riders only.
			slices.SortStableFunc(fill, func(a, b fillItem) int {
				return cmp.Compare(b2i(native[b.ci][p.ti]), b2i(native[a.ci][p.ti]))
			})
			if len(fill) == 0 || !native[fill[0].ci][p.ti] || !s.sched.Filter(s.classes[fill[0].ci].prep, t.info).IsSuccess() {
				return false, nil
			}
		}
		worth := 0.0
		for _, it := range fill {
			worth += float64(it.n) * y[shapeOf[it.ci]]
		}
		// Other patterns may have taken this one's pods; a node that lost too many is
		// not worth opening as is.
		if len(fill) == 0 || t.offering.HourlyPrice > s.strategy.tolerance*worth {
			return false, nil
		}
		placed, err := s.openNode(p.ti, fill, remaining, total)
		return placed > 0, err
	}
	// Open the whole nodes of every pattern the LP buys, most bought first.
	order := make([]int, len(cols))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(lambda[b], lambda[a]) })
	opened := false
	for _, k := range order {
		for n := 0; n < int(math.Floor(lambda[k]+1e-6)); n++ {
			ok, err := openPattern(k)
			if err != nil {
				return false, err
			}
			if !ok {
				break
			}
			opened = true
		}
	}
	if !roundUp || *total == 0 {
		return opened, nil
	}
	// Diving: one node of the pattern with the largest fractional part is opened too, and
	// the caller solves again for the pods left.
	bestK, bestFrac := -1, 1e-6
	for _, k := range order {
		if f := lambda[k] - math.Floor(lambda[k]+1e-6); f > bestFrac {
			bestK, bestFrac = k, f
		}
	}
	if bestK < 0 {
		return opened, nil
	}
	ok, err := openPattern(bestK)
	return opened || ok, err
}

func patternKey(p pattern) string {
	b := make([]byte, 0, 8+4*len(p.counts))
	b = append(b, byte(p.ti), byte(p.ti>>8), '|')
	for _, n := range p.counts {
		b = append(b, byte(n), byte(n>>8), ',')
	}
	return string(b)
}

// singleShape is the pattern of as many pods of one shape as a node of template ti holds.
func (s *solver) singleShape(ti, si int, sh *lpShape, need []int, limited []bool) pattern {
	t := s.templates[ti]
	req := s.classes[sh.classes[0]].req
	n := int64(need[si])
	for d := 0; d < numDims; d++ {
		if req[d] > 0 {
			n = min(n, t.free[d]/req[d])
		}
	}
	if limited[si] {
		n = min(n, 1)
	}
	if n <= 0 {
		return pattern{}
	}
	counts := make([]int, len(need))
	counts[si] = int(n)
	return pattern{ti: ti, counts: counts}
}

// knapsack fills a node of template ti to maximise the pods' value under y (see knapsackFree
// for budget).
func (s *solver) knapsack(ti int, shapes []*lpShape, need []int, limited []bool, y []float64, allowedOn func(si, ti int) bool, budget int) (pattern, float64) {
	counts, value := s.knapsackFree(s.templates[ti].free, shapes, need, limited, y, func(si int) bool { return allowedOn(si, ti) }, budget)
	return pattern{ti: ti, counts: counts}, value
}

// knapsackFree fills room free greedily to maximise the pods' value under y, trying a few
// item orders (value density against the scarcest use of the room, value, size) and keeping
// the best. A bounded exact search (knapsack.go) of up to budget nodes then looks further:
// column generation stops early and steers badly when pricing misses improving columns.
func (s *solver) knapsackFree(free [numDims]int64, shapes []*lpShape, need []int, limited []bool, y []float64, allowed func(si int) bool, budget int) ([]int, float64) {
	var items []int
	for si := range shapes {
		if y[si] > lpEps && need[si] > 0 && allowed(si) {
			items = append(items, si)
		}
	}
	if len(items) == 0 {
		return nil, 0
	}
	req := func(si int) [numDims]int64 { return s.classes[shapes[si].classes[0]].req }
	size := func(si int) float64 {
		r := req(si)
		sz := 1e-12
		for d := 0; d < numDims; d++ {
			if free[d] > 0 {
				sz = max(sz, float64(r[d])/float64(free[d]))
			}
		}
		return sz
	}
	orders := [][]int{slices.Clone(items), slices.Clone(items), slices.Clone(items)}
	slices.SortStableFunc(orders[0], func(a, b int) int { return cmp.Compare(y[b]/size(b), y[a]/size(a)) })
	slices.SortStableFunc(orders[1], func(a, b int) int { return cmp.Compare(y[b], y[a]) })
	slices.SortStableFunc(orders[2], func(a, b int) int { return cmp.Compare(size(b), size(a)) })
	var best []int
	bestValue := 0.0
	for _, order := range orders {
		room := free
		counts := make([]int, len(shapes))
		value := 0.0
		for _, si := range order {
			r := req(si)
			n := int64(need[si])
			for d := 0; d < numDims; d++ {
				if r[d] > 0 {
					n = min(n, room[d]/r[d])
				}
			}
			if limited[si] {
				n = min(n, 1)
			}
			if n <= 0 {
				continue
			}
			for d := 0; d < numDims; d++ {
				room[d] -= n * r[d]
			}
			counts[si] = int(n)
			value += float64(n) * y[si]
		}
		if value > bestValue*(1+1e-9) {
			best, bestValue = counts, value
		}
	}
	if budget <= 0 {
		return best, bestValue
	}
	// The greedy fills are the incumbent of a bounded exact search (knapsack.go).
	kitems := make([]kItem, 0, len(items))
	for _, si := range items {
		r := req(si)
		ub := int64(need[si])
		if limited[si] {
			ub = min(ub, 1)
		}
		for d := 0; d < numDims; d++ {
			if r[d] > 0 {
				ub = min(ub, free[d]/r[d])
			}
		}
		if ub > 0 {
			kitems = append(kitems, kItem{si: si, req: r, v: y[si], ub: ub})
		}
	}
	return knapsackBB(free, kitems, len(shapes), best, bestValue, budget)
}

// patternToFill turns a pattern into pods of concrete classes still waiting.
func (s *solver) patternToFill(p pattern, shapes []*lpShape, remaining []int) []fillItem {
	var fill []fillItem
	for si, n := range p.counts {
		for _, ci := range shapes[si].classes {
			if n <= 0 {
				break
			}
			k := min(n, remaining[ci])
			if k > 0 {
				fill = append(fill, fillItem{ci: ci, n: k})
				n -= k
			}
		}
	}
	return fill
}

// addLimitRows caps, per NodeGroup, the nodes, cpu and memory the master LP may buy, with
// what the group has left now.
func (s *solver) addLimitRows(lp *sparseLP, cols []pattern) {
	for _, g := range s.groups {
		limit := func(capacity float64, per func(t *template) float64) {
			row := -1
			for k, p := range cols {
				t := s.templates[p.ti]
				if t.group != g {
					continue
				}
				if row < 0 {
					row = lp.addRow(false, max(capacity, 0))
				}
				lp.set(row, k, per(t))
			}
		}
		if g.maxNodes > 0 {
			limit(float64(g.maxNodes-g.nodes), func(*template) float64 { return 1 })
		}
		if g.limitCPU != 0 {
			limit(float64(g.limitCPU-g.cpu)/dimUnit[dimCPU], func(t *template) float64 { return float64(t.offering.CPU) })
		}
		if g.limitMem != 0 {
			limit(float64(g.limitMem-g.memory)/dimUnit[dimMemory], func(t *template) float64 {
				return float64(t.offering.MemoryMiB<<20) / dimUnit[dimMemory]
			})
		}
	}
}

// remapPattern moves pattern p, whose counts are per shape of oldShapes, onto the current
// shapes (shapeOf: class -> shape) with counts cut to need (and to one for limited shapes).
// Shapes group classes by a key that does not depend on the counts, so an old shape's
// classes that are still pending all belong to one current shape. It returns a pattern
// without counts when nothing is left of p.
func remapPattern(p pattern, oldShapes []*lpShape, shapeOf map[int]int, need []int, limited []bool) pattern {
	moved := make([]int, len(need))
	any := false
	for osi, n := range p.counts {
		if n == 0 {
			continue
		}
		for _, ci := range oldShapes[osi].classes {
			if si, ok := shapeOf[ci]; ok {
				moved[si] += n
				break
			}
		}
	}
	for si := range moved {
		moved[si] = min(moved[si], need[si])
		if limited[si] {
			moved[si] = min(moved[si], 1)
		}
		any = any || moved[si] > 0
	}
	if !any {
		return pattern{}
	}
	return pattern{ti: p.ti, counts: moved}
}
