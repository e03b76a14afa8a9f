package packing

// Which pending items should take the free room of existing bins? Largest first is a fair
// guess, but the right answer is "the ones that would be expensive to put in new bins, in
// combinations that fill the room". Column generation answers that directly: each existing
// bin is a free type usable once, whose columns are whole-item patterns fitting its room;
// new-bin types compete in the same master LP.

// ExistingInput is a column generation over new and existing bins.
type ExistingInput struct {
	// Cover is the covering LP whose shapes and prices start it: Counts, Allowed on new bins,
	// Compat with existing ones (not nil), Limits.
	Cover CoverInput
	// Free is existing bin e's room now (the covering LP takes Cover.ExistingFree).
	Free func(e int) Vec
	// Prev (may be nil) is an earlier round with more items and room: its columns that still
	// fit start the pool, except those of the bins in Skip.
	Prev *Columns
	Skip []bool
	// Exact: pricing runs the bounded exact search too, not only the greedy fills.
	Exact bool
}

// GenerateWithExisting runs column generation over new-bin types and existing bins (each
// usable once). A column's Bin is a type index, or len(Types)+e for existing bin e. It
// returns nil when there is nothing to do or the LP cannot be solved.
func (p *Problem) GenerateWithExisting(in ExistingInput) (*Columns, error) {
	nExisting := len(in.Cover.ExistingFree)
	existingBudget, templateBudget := knapsackExistingBudget, TemplateBudget
	// The search per pricing round is shared among the existing bins: many bins each get
	// less, so planning time does not grow with the cluster much beyond the greedy's.
	existingBudget = min(existingBudget, max(knapsackExistingRoundBudget/max(nExisting, 1), knapsackExistingMinBudget))
	if !in.Exact {
		existingBudget, templateBudget = 0, 0
	}
	res, err := p.Cover(in.Cover)
	if err != nil || len(res.Shapes) == 0 {
		return nil, nil // an LP that fails leaves the items to the caller's other phases
	}
	shapes := res.Shapes
	need, limited := p.NeedOf(shapes, in.Cover.Counts)
	onTemplate := func(si, ti int) bool { return in.Cover.Allowed[shapes[si].Classes[0]][ti] }
	onExisting := func(si, ei int) bool { return in.Cover.Compat[shapes[si].Classes[0]][ei] }
	nt := len(p.Types)

	pool := newColumnPool()
	y := make([]float64, len(shapes))
	for si, sh := range shapes {
		y[si] = res.Value[sh.Classes[0]]
	}
	for ti := range p.Types {
		for si := range shapes {
			if onTemplate(si, ti) {
				pool.add(p.singleShape(ti, si, shapes, need, limited))
			}
		}
	}
	if in.Prev != nil {
		// Warm start: the earlier pool, its counts moved to the current shapes and cut to the
		// items left. Rooms only shrink on bins in Skip, so the rest still fit.
		shapeOf := ShapeOf(shapes)
		for _, c := range in.Prev.Cols {
			if c.Bin >= nt && in.Skip != nil && in.Skip[c.Bin-nt] {
				continue
			}
			if q := remapPattern(c, in.Prev.Shapes, shapeOf, need, limited); q.Counts != nil {
				pool.add(q)
			}
		}
	}
	fillExisting := func(ei int, y []float64, target float64) ([]int, float64) {
		return p.fill(in.Free(ei), shapes, need, limited, y, func(si int) bool { return onExisting(si, ei) }, existingBudget, target)
	}
	for ei := 0; ei < nExisting; ei++ {
		c, _ := fillExisting(ei, y, 0)
		pool.add(Pattern{Bin: nt + ei, Counts: c})
	}

	var lambda, nodeDuals []float64
	for iter := 0; iter < colgenMaxIterations && !p.stopped(); iter++ {
		lp := p.newLP()
		for si := range shapes {
			lp.addRow(true, float64(need[si]))
		}
		nodeRow := make([]int, nExisting)
		for ei := range nodeRow {
			nodeRow[ei] = lp.addRow(false, 1)
		}
		for _, c := range pool.cols {
			cost := 0.0
			if c.Bin < nt {
				cost = p.Types[c.Bin].Price
			}
			col := lp.addCol(cost)
			for si, n := range c.Counts {
				lp.set(si, col, float64(n))
			}
			if c.Bin >= nt {
				lp.set(nodeRow[c.Bin-nt], col, 1)
			}
		}
		x, duals, _, err := lp.solve()
		if err != nil {
			return nil, nil // leave it to the caller's other phases
		}
		lambda = x
		nodeDuals = make([]float64, nExisting)
		for ei := range nodeDuals {
			nodeDuals[ei] = duals[nodeRow[ei]]
		}
		copy(y, duals[:len(shapes)])
		added := false
		for ti, t := range p.Types {
			if len(pool.cols) >= colgenMaxColumns {
				break
			}
			improves := t.Price * (1 + 1e-6)
			c, v := p.knapsack(ti, shapes, need, limited, y, onTemplate, templateBudget, improves)
			if c.Counts != nil && v > improves && pool.add(c) {
				added = true
			}
		}
		for ei := 0; ei < nExisting; ei++ {
			if len(pool.cols) >= colgenMaxColumns {
				break
			}
			// The bin's row price is <= 0: a pattern improves the LP when its value is above
			// what the bin is already worth.
			improves := -duals[nodeRow[ei]] + 1e-9
			c, v := fillExisting(ei, y, improves)
			if c != nil && v > improves && pool.add(Pattern{Bin: nt + ei, Counts: c}) {
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
	return &Columns{Shapes: shapes, Need: need, Limited: limited, Cols: pool.cols, Lambda: padded(lambda, len(pool.cols)), Y: y, NodeDuals: nodeDuals}, nil
}
