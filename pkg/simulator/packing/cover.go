package packing

import (
	"encoding/binary"
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

// CoverInput is one covering LP: Counts[c] items of each class.
type CoverInput struct {
	Counts []int
	// Allowed[c][t]: class c may go on a new bin of type t.
	Allowed [][]bool
	// Native[c][t] (nil: no such rows): a bin of type t may be bought for class c; every new
	// bin must hold at least one item it was bought for.
	Native [][]bool
	// Compat[c][e]: class c fits existing bin e, whose room is ExistingFree[e]; nil Compat
	// leaves existing bins out.
	Compat       [][]bool
	ExistingFree []Vec
	// Limits per group (see BinType.Group).
	Limits []Limit
}

// CoverResult is the covering LP's answer.
type CoverResult struct {
	Cost float64
	// Value per class: the LP price of one item of it (0 for classes left out).
	Value []float64
	// Nodes per type: the LP's fractional number of new bins of each type.
	Nodes []float64
	// Shapes and Pods[shape][type]: how many items of each shape the LP puts on each type
	// (existing pools left out).
	Shapes []*Shape
	Pods   []map[int]float64
}

// Shape is the classes the LP does not tell apart: same demands, same places to go.
type Shape struct {
	Classes   []int
	templates []int
	pools     []int
	req       [NumDims]float64
	n         float64
	onePer    bool
	compat    []bool
	// native[t]: a new node of template t may be bought for this shape (its highest-weight
	// NodeGroup); other templates it may only use when bought for others.
	native []bool
}

// Cover solves the covering LP. Classes without an allowed type are left out: they never
// cause new bins. With Compat, existing bins' room is free supply.
//
// The answers of recent calls are kept: packing asks the same LP more than once (a portfolio
// runs its winning strategy again, the configuration bound starts from the cover the lower
// bound just solved), and the LP is most of what those cost. The caller may change Value and
// Nodes of what it gets; the rest is shared and read-only.
func (p *Problem) Cover(in CoverInput) (CoverResult, error) {
	key := coverKey(in)
	if r, ok := p.covers[key]; ok {
		return r.clone(), nil
	}
	res, err := p.cover(in)
	if err != nil {
		return res, err
	}
	if p.covers == nil {
		p.covers = map[string]CoverResult{}
	}
	if len(p.coverKeys) == coverCacheSize {
		delete(p.covers, p.coverKeys[0])
		p.coverKeys = p.coverKeys[1:]
	}
	p.covers[key] = res
	p.coverKeys = append(p.coverKeys, key)
	return res.clone(), nil
}

// coverCacheSize bounds the covering LPs Cover keeps.
const coverCacheSize = 64

func (r CoverResult) clone() CoverResult {
	r.Value, r.Nodes = slices.Clone(r.Value), slices.Clone(r.Nodes)
	return r
}

// coverKey is everything a covering LP depends on besides the Problem, exactly.
func coverKey(in CoverInput) string {
	b := make([]byte, 0, 64+len(in.Counts)*4)
	b = binary.AppendUvarint(b, uint64(len(in.Counts)))
	for _, n := range in.Counts {
		b = binary.AppendUvarint(b, uint64(n))
	}
	bits := func(tag byte, m [][]bool) {
		b = append(b, tag)
		if m == nil {
			return
		}
		b = binary.AppendUvarint(b, uint64(len(m)))
		for _, row := range m {
			b = binary.AppendUvarint(b, uint64(len(row)))
			var cur byte
			for i, v := range row {
				if v {
					cur |= 1 << (i % 8)
				}
				if i%8 == 7 || i == len(row)-1 {
					b = append(b, cur)
					cur = 0
				}
			}
		}
	}
	bits('a', in.Allowed)
	bits('n', in.Native)
	bits('c', in.Compat)
	b = append(b, 'e')
	b = binary.AppendUvarint(b, uint64(len(in.ExistingFree)))
	for _, v := range in.ExistingFree {
		for d := 0; d < NumDims; d++ {
			b = binary.AppendVarint(b, v[d])
		}
	}
	b = append(b, 'l')
	for _, l := range in.Limits {
		for _, f := range []struct {
			has bool
			v   float64
		}{{l.HasNodes, l.Nodes}, {l.HasCores, l.Cores}, {l.HasGiB, l.GiB}} {
			if !f.has {
				b = append(b, 0)
				continue
			}
			b = append(b, 1)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.v))
		}
	}
	return string(b)
}

func (p *Problem) cover(in CoverInput) (CoverResult, error) {
	useExisting := in.Compat != nil
	var shapes []*Shape
	byKey := map[string]*Shape{}
	for ci, c := range p.Classes {
		if in.Counts[ci] == 0 {
			continue
		}
		var key strings.Builder
		var tmpls []int
		for ti, ok := range in.Allowed[ci] {
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
			for _, ok := range in.Compat[ci] {
				if ok {
					key.WriteByte('1')
				} else {
					key.WriteByte('0')
				}
			}
		}
		for d := 0; d < NumDims; d++ {
			key.WriteByte('|')
			key.WriteString(strconv.FormatInt(c.Req[d], 10))
		}
		if in.Native != nil {
			key.WriteByte('|')
			for _, ok := range in.Native[ci] {
				if ok {
					key.WriteByte('1')
				} else {
					key.WriteByte('0')
				}
			}
		}
		if c.OnePerBin || c.Limited {
			// "One per node" holds within a class, not across classes: two such classes
			// with the same requests may share a node, so they must not share a shape.
			key.WriteString("|class")
			key.WriteString(strconv.Itoa(ci))
		}
		sh, ok := byKey[key.String()]
		if !ok {
			sh = &Shape{templates: tmpls, onePer: c.OnePerBin}
			for d := 0; d < NumDims; d++ {
				sh.req[d] = float64(c.Req[d]) / dimUnit[d]
			}
			if useExisting {
				sh.compat = in.Compat[ci]
			}
			if in.Native != nil {
				sh.native = in.Native[ci]
			}
			byKey[key.String()] = sh
			shapes = append(shapes, sh)
		}
		sh.Classes = append(sh.Classes, ci)
		sh.n += float64(in.Counts[ci])
	}
	res := CoverResult{Value: make([]float64, len(p.Classes)), Nodes: make([]float64, len(p.Types))}
	if len(shapes) == 0 {
		return res, nil
	}

	// Pools: existing nodes compatible with the same set of shapes share one pool.
	var poolFree [][NumDims]float64
	if useExisting {
		poolOf := map[string]int{}
		for ei := range in.ExistingFree {
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
				poolFree = append(poolFree, [NumDims]float64{})
				for _, sh := range shapes {
					if sh.compat[ei] {
						sh.pools = append(sh.pools, pi)
					}
				}
			}
			for d := 0; d < NumDims; d++ {
				poolFree[pi][d] += float64(max(in.ExistingFree[ei][d], 0)) / dimUnit[d]
			}
		}
	}

	// Columns: x_t per template, z[s,t] and z[s,p] per shape and target.
	lp := p.newLP()
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
			col := lp.addCol(p.Types[ti].Price)
			tmplCol[ti] = col
			tmplOrder = append(tmplOrder, ti)
			capRow[ti] = len(lp.rhs)
			for d := 0; d < NumDims; d++ {
				// free[t,d] x_t - sum_s req[s,d] z[s,t] >= 0
				row := lp.addRow(true, 0)
				lp.set(row, col, float64(max(p.Types[ti].Free[d], 0))/dimUnit[d])
			}
		}
	}
	poolRow := make([]int, len(poolFree))
	for pi := range poolFree {
		poolRow[pi] = len(lp.rhs)
		for d := 0; d < NumDims; d++ {
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
			for d := 0; d < NumDims; d++ {
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
			for d := 0; d < NumDims; d++ {
				lp.set(poolRow[pi]+d, col, sh.req[d])
			}
		}
	}

	// Every new node hosts at least one pod it was bought for (one whose highest-weight
	// NodeGroup is the node's): pods may ride on any planned node, but no node is bought for
	// riders only.
	if in.Native != nil {
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
	p.addLimitRows(lp, in.Limits, len(tmplOrder), func(k int) int { return tmplOrder[k] }, func(k int) int { return tmplCol[tmplOrder[k]] })

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
	res.Cost = cost
	for _, ti := range tmplOrder {
		res.Nodes[ti] = x[tmplCol[ti]]
	}
	res.Shapes = shapes
	res.Pods = make([]map[int]float64, len(shapes))
	for si := range shapes {
		res.Pods[si] = map[int]float64{}
	}
	for _, z := range zt {
		if v := x[z.col]; v > lpEps {
			res.Pods[z.shape][z.target] = v
		}
	}
	for si, sh := range shapes {
		for _, ci := range sh.Classes {
			res.Value[ci] = y[shapeRow[si]]
		}
	}
	return res, nil
}

// addLimitRows caps, per group, the bins, cores and GiB of the n columns (col(k), of type
// typ(k)) an LP may buy at what limits leaves.
func (p *Problem) addLimitRows(lp *sparseLP, limits []Limit, n int, typ, col func(k int) int) {
	for g, l := range limits {
		limit := func(capacity float64, per func(t *BinType) float64) {
			row := -1
			for k := 0; k < n; k++ {
				t := &p.Types[typ(k)]
				if t.Group != g {
					continue
				}
				if row < 0 {
					row = lp.addRow(false, max(capacity, 0))
				}
				lp.set(row, col(k), per(t))
			}
		}
		if l.HasNodes {
			limit(l.Nodes, func(*BinType) float64 { return 1 })
		}
		if l.HasCores {
			limit(l.Cores, func(t *BinType) float64 { return t.Cores })
		}
		if l.HasGiB {
			limit(l.GiB, func(t *BinType) float64 { return t.GiB })
		}
	}
}
