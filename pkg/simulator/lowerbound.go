package simulator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The covering LP (fractional vector bin packing). Pending classes with the same requests and
// the same places to go (templates allowed for new nodes, compatible existing nodes, at most
// one per node or not) form a shape s with n_s pods. Variables: x_t, the fractional number of
// new nodes of template t, and z[s,t] / z[s,p], the pods of shape s put on template t or on
// the pooled free room p of existing nodes. It asks for:
//
//	sum_t z[s,t] + sum_p z[s,p] >= n_s                       every shape
//	sum_s req[s,d] z[s,t]      <= free[t,d] x_t              every template and dimension
//	sum_s req[s,d] z[s,p]      <= free[p,d]                  every pool and dimension
//	z[s,t]                     <= x_t                        shapes limited to one per node
//
// at minimum sum_t price_t x_t. Every real packing is a feasible point of the same cost, so
// the optimum is a lower bound; it is loose only by rounding (a pod never straddles nodes in
// reality). Pods keep their shape in the LP, so cpu for a pod cannot come from one offering
// and its memory from another. The row prices (duals) of the shape rows are what one more pod
// of the shape would cost at the margin: the packer values pods with them.

// dimUnit scales dimensions to sizes that keep the simplex well conditioned: cores, GiB, pods.
var dimUnit = [numDims]float64{1000, 1 << 30, 1}

type coverResult struct {
	cost float64
	// value per class: the LP price of one pod of it (0 for classes left out).
	value []float64
	// nodes per template: the LP's fractional number of new nodes of each template.
	nodes []float64
	// shapes and pods[shape][template]: how many pods of each shape the LP puts on each
	// template (existing pools left out).
	shapes []*lpShape
	pods   []map[int]float64
}

type lpShape struct {
	classes   []int
	templates []int
	pools     []int
	req       [numDims]float64
	n         float64
	onePer    bool
	compat    []bool
	// native[t]: a new node of template t may be bought for this shape (its highest-weight
	// NodeGroup); other templates it may only use when bought for others.
	native []bool
}

// cover solves the covering LP for counts[c] pods of each class. Classes without an allowed
// template are left out: they never cause new nodes. With useExisting, existing nodes' free
// room (before any pending pod was placed) is free supply.
func (s *solver) cover(counts []int, useExisting bool) (coverResult, error) {
	var shapes []*lpShape
	byKey := map[string]*lpShape{}
	for ci, c := range s.classes {
		if counts[ci] == 0 {
			continue
		}
		var key strings.Builder
		var tmpls []int
		for ti, ok := range s.allowed[ci] {
			if ok {
				tmpls = append(tmpls, ti)
				key.WriteByte('1')
			} else {
				key.WriteByte('0')
			}
		}
		if len(tmpls) == 0 {
			continue
		}
		key.WriteByte('|')
		if useExisting {
			for _, ok := range s.existingOK[ci] {
				if ok {
					key.WriteByte('1')
				} else {
					key.WriteByte('0')
				}
			}
		}
		for d := 0; d < numDims; d++ {
			key.WriteByte('|')
			key.WriteString(strconv.FormatInt(c.req[d], 10))
		}
		if s.native != nil {
			key.WriteByte('|')
			for _, ok := range s.native[ci] {
				if ok {
					key.WriteByte('1')
				} else {
					key.WriteByte('0')
				}
			}
		}
		if c.selfAntiAffinity || c.selfHostnameLimited {
			// "One per node" holds within a class, not across classes: two such classes
			// with the same requests may share a node, so they must not share a shape.
			key.WriteString("|class")
			key.WriteString(strconv.Itoa(ci))
		}
		sh, ok := byKey[key.String()]
		if !ok {
			sh = &lpShape{templates: tmpls, onePer: c.selfAntiAffinity}
			for d := 0; d < numDims; d++ {
				sh.req[d] = float64(c.req[d]) / dimUnit[d]
			}
			if useExisting {
				sh.compat = s.existingOK[ci]
			}
			if s.native != nil {
				sh.native = s.native[ci]
			}
			byKey[key.String()] = sh
			shapes = append(shapes, sh)
		}
		sh.classes = append(sh.classes, ci)
		sh.n += float64(counts[ci])
	}
	res := coverResult{value: make([]float64, len(s.classes)), nodes: make([]float64, len(s.templates))}
	if len(shapes) == 0 {
		return res, nil
	}

	// Pools: existing nodes compatible with the same set of shapes share one pool.
	var poolFree [][numDims]float64
	if useExisting {
		poolOf := map[string]int{}
		for ei := range s.existing {
			var key strings.Builder
			anyShape := false
			for _, sh := range shapes {
				if sh.compat[ei] {
					key.WriteByte('1')
					anyShape = true
				} else {
					key.WriteByte('0')
				}
			}
			if !anyShape {
				continue
			}
			pi, ok := poolOf[key.String()]
			if !ok {
				pi = len(poolFree)
				poolOf[key.String()] = pi
				poolFree = append(poolFree, [numDims]float64{})
				for _, sh := range shapes {
					if sh.compat[ei] {
						sh.pools = append(sh.pools, pi)
					}
				}
			}
			for d := 0; d < numDims; d++ {
				poolFree[pi][d] += float64(max(s.existingFree[ei][d], 0)) / dimUnit[d]
			}
		}
	}

	// Columns: x_t per template, z[s,t] and z[s,p] per shape and target.
	lp := s.newLP()
	shapeRow := make([]int, len(shapes))
	for si, sh := range shapes {
		shapeRow[si] = lp.addRow(true, sh.n)
	}
	tmplCol := map[int]int{}
	var tmplOrder []int // map iteration order must not leak into the LP: duals would vary
	capRow := map[int]int{}
	for _, sh := range shapes {
		for _, ti := range sh.templates {
			if _, ok := tmplCol[ti]; ok {
				continue
			}
			col := lp.addCol(s.templates[ti].offering.HourlyPrice)
			tmplCol[ti] = col
			tmplOrder = append(tmplOrder, ti)
			capRow[ti] = len(lp.rhs)
			for d := 0; d < numDims; d++ {
				// free[t,d] x_t - sum_s req[s,d] z[s,t] >= 0
				row := lp.addRow(true, 0)
				lp.set(row, col, float64(max(s.templates[ti].free[d], 0))/dimUnit[d])
			}
		}
	}
	poolRow := make([]int, len(poolFree))
	for pi := range poolFree {
		poolRow[pi] = len(lp.rhs)
		for d := 0; d < numDims; d++ {
			lp.addRow(false, poolFree[pi][d])
		}
	}
	type zcol struct{ shape, target, col int }
	var zt []zcol
	for si, sh := range shapes {
		for _, ti := range sh.templates {
			col := lp.addCol(0)
			zt = append(zt, zcol{si, ti, col})
			lp.set(shapeRow[si], col, 1)
			for d := 0; d < numDims; d++ {
				lp.set(capRow[ti]+d, col, -sh.req[d])
			}
			if sh.onePer {
				// z[s,t] <= x_t
				row := lp.addRow(true, 0)
				lp.set(row, tmplCol[ti], 1)
				lp.set(row, col, -1)
			}
		}
		for _, pi := range sh.pools {
			col := lp.addCol(0)
			lp.set(shapeRow[si], col, 1)
			for d := 0; d < numDims; d++ {
				lp.set(poolRow[pi]+d, col, sh.req[d])
			}
		}
	}

	// Every new node hosts at least one pod it was bought for (one whose highest-weight
	// NodeGroup is the node's): pods may ride on any planned node, but no node is bought for
	// riders only.
	if s.native != nil {
		for _, ti := range tmplOrder {
			row := lp.addRow(true, 0)
			lp.set(row, tmplCol[ti], -1)
			for _, z := range zt {
				if z.target == ti && shapes[z.shape].native[ti] {
					lp.set(row, z.col, 1)
				}
			}
		}
	}

	// NodeGroup limits: maxNodes, cpu and memory, counted from the start of the plan for the
	// lower bound and from now while packing.
	withoutLimits := len(lp.rhs)
	for _, g := range s.groups {
		nodes, cpu, mem := g.nodes, g.cpu, g.memory
		if useExisting {
			nodes, cpu, mem = g.baseNodes, g.baseCPU, g.baseMemory
		}
		limit := func(cap float64, per func(t *template) float64) {
			row := -1
			for _, ti := range tmplOrder {
				if s.templates[ti].group == g {
					if row < 0 {
						row = lp.addRow(false, max(cap, 0))
					}
					lp.set(row, tmplCol[ti], per(s.templates[ti]))
				}
			}
		}
		if g.maxNodes > 0 {
			limit(float64(g.maxNodes-nodes), func(*template) float64 { return 1 })
		}
		if g.limitCPU != 0 {
			limit(float64(g.limitCPU-cpu)/dimUnit[dimCPU], func(t *template) float64 { return float64(t.offering.CPU) })
		}
		if g.limitMem != 0 {
			limit(float64(g.limitMem-mem)/dimUnit[dimMemory], func(t *template) float64 {
				return float64(t.offering.MemoryMiB<<20) / dimUnit[dimMemory]
			})
		}
	}

	x, y, cost, err := lp.solve()
	if err != nil && len(lp.rhs) > withoutLimits {
		// The pods left cannot all fit within the limits; price them as if they could, the
		// packer stops at the limits anyway.
		lp.rhs, lp.ge = lp.rhs[:withoutLimits], lp.ge[:withoutLimits]
		for j := range lp.cols {
			kept := lp.cols[j][:0]
			for _, e := range lp.cols[j] {
				if e.row < withoutLimits {
					kept = append(kept, e)
				}
			}
			lp.cols[j] = kept
		}
		x, y, cost, err = lp.solve()
	}
	if err != nil {
		return res, fmt.Errorf("solving the lower-bound LP, %w", err)
	}
	res.cost = cost
	for _, ti := range tmplOrder {
		res.nodes[ti] = x[tmplCol[ti]]
	}
	res.shapes = shapes
	res.pods = make([]map[int]float64, len(shapes))
	for si := range shapes {
		res.pods[si] = map[int]float64{}
	}
	for _, z := range zt {
		if v := x[z.col]; v > lpEps {
			res.pods[z.shape][z.target] = v
		}
	}
	for si, sh := range shapes {
		for _, ci := range sh.classes {
			res.value[ci] = y[shapeRow[si]]
		}
	}
	return res, nil
}

// lowerBound is the LP bound for the pending pods the plan places (on existing or new nodes),
// with existing free room as free supply. Pods the plan leaves out are left out here too:
// NodeGroup limits are not in the LP, so a bound over them could exceed what any plan within
// the limits may spend.
func (s *solver) lowerBound() (float64, error) {
	// The bound must consider every template a pod could use: not only the highest-weight
	// ones (a pod may take spare room on any planned node) nor only those packing still
	// proposes.
	packing := s.allowed
	s.allowed, s.native = s.boundFits, s.allowedAtStart
	defer func() { s.allowed, s.native = packing, nil }()
	counts := make([]int, len(s.classes))
	copy(counts, s.next)
	res, err := s.cover(counts, true)
	if err != nil {
		return 0, err
	}
	return max(res.cost, s.configBound(counts)), nil
}

// configBound is a second, often tighter, lower bound from the configuration LP (columns are
// whole-pod node patterns), where the covering LP lets a pod's requests straddle the leftover
// room of several existing nodes. Column generation only finds good patterns heuristically,
// so its LP value proves nothing; but any row prices y >= 0 give a bound by weak duality once
// made feasible for every possible pattern: scale y by theta so that no node of any template
// can be worth more than its price, and charge each existing node the most its room could be
// worth. Both use an upper bound of the best pattern's value (a fractional knapsack per
// dimension), never the heuristic's answer. NodeGroup limits are left out (a relaxation).
// Pricing stays greedy here: any duals give a valid bound, and exact pricing costs time.
func (s *solver) configBound(counts []int) float64 {
	if len(s.existing) > existingColgenMax {
		return 0
	}
	r, err := s.colgenWithExisting(counts, func(ei int) [numDims]int64 { return s.existingFree[ei] }, nil, nil, false)
	if err != nil || r == nil {
		return 0
	}
	onePer := make([]bool, len(r.shapes))
	for si, sh := range r.shapes {
		for _, ci := range sh.classes {
			onePer[si] = onePer[si] || s.classes[ci].selfAntiAffinity
		}
	}
	y := make([]float64, len(r.y))
	for si, v := range r.y {
		y[si] = max(v, 0)
	}
	theta := 1.0
	for ti, t := range s.templates {
		ub := s.patternValueBound(t.free, r, onePer, y, func(si int) bool { return s.allowed[r.shapes[si].classes[0]][ti] })
		if ub > t.offering.HourlyPrice {
			theta = min(theta, t.offering.HourlyPrice/ub)
		}
	}
	total := 0.0
	for si := range r.shapes {
		total += float64(r.need[si]) * y[si]
	}
	for ei := range s.existing {
		total -= s.patternValueBound(s.existingFree[ei], r, onePer, y, func(si int) bool { return s.existingOK[r.shapes[si].classes[0]][ei] })
	}
	return max(theta*total, 0)
}

// patternValueBound is an upper bound of the value under y of any set of pending pods that
// fits in room free: for each dimension alone, the fractional knapsack (items bounded by the
// pods there are, one per node for self anti-affinity, and what fits in every dimension);
// the smallest of these.
func (s *solver) patternValueBound(free [numDims]int64, r *colgenResult, onePer []bool, y []float64, allowed func(si int) bool) float64 {
	type item struct {
		si    int
		bound float64
	}
	var items []item
	for si := range r.shapes {
		if y[si] <= 0 || r.need[si] == 0 || !allowed(si) {
			continue
		}
		req := s.classes[r.shapes[si].classes[0]].req
		b := int64(r.need[si])
		if onePer[si] {
			b = min(b, 1)
		}
		for d := 0; d < numDims; d++ {
			if req[d] > 0 {
				b = min(b, max(free[d], 0)/req[d])
			}
		}
		if b > 0 {
			items = append(items, item{si, float64(b)})
		}
	}
	if len(items) == 0 {
		return 0
	}
	best := math.Inf(1)
	for d := 0; d < numDims; d++ {
		req := func(si int) float64 { return float64(s.classes[r.shapes[si].classes[0]].req[d]) }
		sorted := slices.Clone(items)
		slices.SortStableFunc(sorted, func(a, b item) int {
			ra, rb := req(a.si), req(b.si)
			switch {
			case ra == 0 && rb == 0:
				return 0
			case ra == 0:
				return -1
			case rb == 0:
				return 1
			}
			return cmp.Compare(y[b.si]/rb, y[a.si]/ra)
		})
		room := float64(max(free[d], 0))
		value := 0.0
		for _, it := range sorted {
			q := req(it.si)
			if q == 0 {
				value += it.bound * y[it.si]
				continue
			}
			take := min(it.bound, room/q)
			if take <= 0 {
				break
			}
			value += take * y[it.si]
			room -= take * q
		}
		best = min(best, value)
	}
	return best
}
