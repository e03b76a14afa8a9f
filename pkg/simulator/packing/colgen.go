package packing

import (
	"cmp"
	"slices"
)

// Column generation (Gilmore-Gomory). Instead of rounding the covering LP's fractional
// per-bin mix, the master LP's columns are whole-item bin patterns: "a bin of type t with a
// items of shape 1, b of shape 2, ...". The master LP picks how many bins of each pattern to
// buy; its duals price the shapes; a knapsack per type then looks for a pattern worth more
// than the bin's price, and adds it. The caller opens the bins of the patterns the LP buys
// whole.

const (
	colgenMaxIterations = 40
	colgenMaxColumns    = 4000
)

// Search nodes per knapsackBB call. An existing bin's room is small and odd-shaped, and what
// goes there decides the plan (on w06, before diving and exchange, 4000 instead of 1000 took
// cost/LB from 1.10 to 1.04); new bins are large, priced often, and their greedy fills are
// close to the best.
const (
	knapsackExistingBudget = 4000
	// knapsackExistingRoundBudget is shared among the existing bins per pricing round, with
	// at least knapsackExistingMinBudget each (80 bins: 4000 each; 400 bins: 800).
	knapsackExistingRoundBudget = 320000
	knapsackExistingMinBudget   = 200
	// TemplateBudget is the exact search's budget per new-bin pricing.
	TemplateBudget = 1000
	// DiveBudget: diving solves again and again; its rounds need the best columns less than a
	// single column generation does (w02/w05 within 1 s, same plans).
	DiveBudget = 250
)

// ExistingColgenMax: above this many existing bins, column generation over them (one
// knapsack per bin and iteration) and the configuration bound are skipped.
const ExistingColgenMax = 400

// Columns is the outcome of a column generation.
type Columns struct {
	Shapes []*Shape
	// Need and Limited per shape: the items to place, and at most one per new bin.
	Need    []int
	Limited []bool
	Cols    []Pattern
	// Lambda per column: the bins of the pattern the master LP buys (0 for columns it never
	// priced); Y per shape: the last duals.
	Lambda []float64
	Y      []float64
	// NodeDuals per existing bin (GenerateWithExisting only): the row price of using it.
	NodeDuals []float64
}

// GenerateInput is a column generation over new bins.
type GenerateInput struct {
	Shapes  []*Shape
	Need    []int
	Limited []bool
	// Allowed says whether items of shape si may go on a bin of type ti; Native (nil: always)
	// whether such a bin may be bought for them: every pattern carries one item it was
	// bought for.
	Allowed func(si, ti int) bool
	Native  func(si, ti int) bool
	// Y is the shapes' starting prices (the covering LP's).
	Y []float64
	// Warm (may be nil): an earlier round's columns, moved to the current shapes and cut to
	// the items left, start the pool.
	Warm *Columns
	// Budget is the exact pricing search's per call (see TemplateBudget, DiveBudget).
	Budget int
	Limits []Limit
}

// Generate runs column generation over new bins. It returns nil when the master LP cannot
// be solved (the caller falls back to its other phases).
func (p *Problem) Generate(in GenerateInput) *Columns {
	shapes, need, limited := in.Shapes, in.Need, in.Limited
	isNative := func(si, ti int) bool { return in.Native == nil || in.Native(si, ti) }
	price := func(ti int, y []float64, budget int, target float64) (Pattern, float64) {
		if in.Native == nil {
			return p.knapsack(ti, shapes, need, limited, y, in.Allowed, budget, target)
		}
		return p.nativeKnapsack(ti, shapes, need, limited, y, in.Allowed, isNative, budget, target)
	}
	pool := newColumnPool()
	if in.Warm != nil {
		shapeOf := ShapeOf(shapes)
		for _, c := range in.Warm.Cols {
			if q := remapPattern(c, in.Warm.Shapes, shapeOf, need, limited); q.Counts != nil {
				pool.add(q)
			}
		}
	}
	y := slices.Clone(in.Y)
	for ti := range p.Types {
		if !p.buyable(ti) {
			continue
		}
		if c, v := price(ti, y, 0, 0); v > 0 && c.Counts != nil {
			pool.add(c)
		}
		// Single-shape patterns guarantee the master LP is feasible.
		for si := range shapes {
			if in.Allowed(si, ti) && isNative(si, ti) {
				if c := p.singleShape(ti, si, shapes, need, limited); c.Counts != nil {
					pool.add(c)
				}
			}
		}
	}
	var lambda []float64
	for iter := 0; iter < colgenMaxIterations && !p.stopped(); iter++ {
		lp := p.newLP()
		for si := range shapes {
			lp.addRow(true, float64(need[si]))
		}
		for _, c := range pool.cols {
			col := lp.addCol(p.Types[c.Bin].Price)
			for si, n := range c.Counts {
				lp.set(si, col, float64(n))
			}
		}
		cols := pool.cols
		p.addLimitRows(lp, in.Limits, len(cols), func(k int) int { return cols[k].Bin }, func(k int) int { return k })
		x, duals, _, err := lp.solve()
		if err != nil {
			return nil
		}
		lambda, y = x, duals[:len(shapes)]
		added := false
		for ti, t := range p.Types {
			if !p.buyable(ti) || len(pool.cols) >= colgenMaxColumns {
				continue
			}
			improves := t.Price * (1 + 1e-6)
			c, v := price(ti, y, in.Budget, improves)
			if c.Counts != nil && v > improves && pool.add(c) {
				added = true
			}
		}
		if !added {
			break
		}
	}
	if lambda == nil {
		return nil
	}
	return &Columns{Shapes: shapes, Need: need, Limited: limited, Cols: pool.cols, Lambda: padded(lambda, len(pool.cols)), Y: y}
}

// padded extends lambda to n columns: columns added in the last iteration were never priced
// by the LP, so it buys none of them.
func padded(lambda []float64, n int) []float64 {
	for len(lambda) < n {
		lambda = append(lambda, 0)
	}
	return lambda
}

// columnPool is a column generation's columns, each pattern once.
type columnPool struct {
	cols []Pattern
	seen map[string]bool
}

func newColumnPool() *columnPool { return &columnPool{seen: map[string]bool{}} }

func (c *columnPool) add(p Pattern) bool {
	if p.Counts == nil {
		return false
	}
	key := patternKey(p)
	if c.seen[key] {
		return false
	}
	c.seen[key] = true
	c.cols = append(c.cols, p)
	return true
}

func patternKey(p Pattern) string {
	b := make([]byte, 0, 8+4*len(p.Counts))
	b = append(b, byte(p.Bin), byte(p.Bin>>8), '|')
	for _, n := range p.Counts {
		b = append(b, byte(n), byte(n>>8), ',')
	}
	return string(b)
}

// ShapeOf maps each class to its shape.
func ShapeOf(shapes []*Shape) map[int]int {
	out := map[int]int{}
	for si, sh := range shapes {
		for _, ci := range sh.Classes {
			out[ci] = si
		}
	}
	return out
}

// NeedOf is, per shape, the items of its classes counts has, and whether any of its classes
// is Limited.
func (p *Problem) NeedOf(shapes []*Shape, counts []int) (need []int, limited []bool) {
	need = make([]int, len(shapes))
	limited = make([]bool, len(shapes))
	for si, sh := range shapes {
		for _, ci := range sh.Classes {
			need[si] += counts[ci]
			limited[si] = limited[si] || p.Classes[ci].Limited
		}
	}
	return need, limited
}

// req is the demand of shape si (every class of a shape has the same).
func (p *Problem) req(shapes []*Shape, si int) Vec { return p.Classes[shapes[si].Classes[0]].Req }

// singleShape is the pattern of as many items of one shape as a bin of type ti holds.
func (p *Problem) singleShape(ti, si int, shapes []*Shape, need []int, limited []bool) Pattern {
	n := fitCount(p.Types[ti].Free, p.req(shapes, si), need[si], limited[si])
	if n <= 0 {
		return Pattern{}
	}
	counts := make([]int, len(need))
	counts[si] = int(n)
	return Pattern{Bin: ti, Counts: counts}
}

// remapPattern moves pattern c, whose counts are per shape of oldShapes, onto the current
// shapes (shapeOf: class -> shape) with counts cut to need (and to one for limited shapes).
// Shapes group classes by a key that does not depend on the counts, so an old shape's
// classes that are still pending all belong to one current shape. It returns a pattern
// without counts when nothing is left of c.
func remapPattern(c Pattern, oldShapes []*Shape, shapeOf map[int]int, need []int, limited []bool) Pattern {
	moved := make([]int, len(need))
	any := false
	for osi, n := range c.Counts {
		if n == 0 {
			continue
		}
		for _, ci := range oldShapes[osi].Classes {
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
		return Pattern{}
	}
	return Pattern{Bin: c.Bin, Counts: moved}
}

// knapsack fills a bin of type ti to maximise the items' value under y (see fill for budget
// and target).
func (p *Problem) knapsack(ti int, shapes []*Shape, need []int, limited []bool, y []float64, allowedOn func(si, ti int) bool, budget int, target float64) (Pattern, float64) {
	counts, value := p.fill(p.Types[ti].Free, shapes, need, limited, y, func(si int) bool { return allowedOn(si, ti) }, budget, target)
	return Pattern{Bin: ti, Counts: counts}, value
}

// Fill fills room free greedily to maximise the items' value under y (need[si] items of
// shape si at most, one where limited, only shapes allowed), trying a few item orders (value
// density against the scarcest use of the room, value, size) and keeping the best. A bounded
// exact search (knapsack.go) of up to budget nodes then looks further: column generation
// stops early and steers badly when pricing misses improving columns. It returns counts per
// shape (nil when nothing is worth anything) and their value.
func (p *Problem) Fill(free Vec, shapes []*Shape, need []int, limited []bool, y []float64, allowed func(si int) bool, budget int) ([]int, float64) {
	return p.fill(free, shapes, need, limited, y, allowed, budget, 0)
}

// fill is Fill for a caller that only needs fills worth more than target: the exact search
// does not look for better fills where none can beat it.
func (p *Problem) fill(free Vec, shapes []*Shape, need []int, limited []bool, y []float64, allowed func(si int) bool, budget int, target float64) ([]int, float64) {
	var items []int
	for si := range shapes {
		if y[si] > lpEps && need[si] > 0 && allowed(si) {
			items = append(items, si)
		}
	}
	if len(items) == 0 {
		return nil, 0
	}
	size := func(si int) float64 {
		r := p.req(shapes, si)
		sz := 1e-12
		for d := 0; d < NumDims; d++ {
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
			r := p.req(shapes, si)
			n := fitCount(room, r, need[si], limited[si])
			if n <= 0 {
				continue
			}
			for d := 0; d < NumDims; d++ {
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
		r := p.req(shapes, si)
		if ub := fitCount(free, r, need[si], limited[si]); ub > 0 {
			kitems = append(kitems, kItem{si: si, req: r, v: y[si], ub: ub})
		}
	}
	return knapsackBB(free, kitems, len(shapes), best, bestValue, budget, target)
}

// fitCount is how many items of demand r fit room: at most need, at most one when limited.
func fitCount(room, r Vec, need int, limited bool) int64 {
	n := int64(need)
	for d := 0; d < NumDims; d++ {
		if r[d] > 0 {
			n = min(n, room[d]/r[d])
		}
	}
	if limited {
		n = min(n, 1)
	}
	return n
}
