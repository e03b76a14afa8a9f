package simulator

import (
	"fmt"
	"strings"
)

// The covering LP. Pending classes are grouped by where they may go (the templates allowed for
// new nodes, and the existing nodes they are compatible with). Its variables are x_t, the
// (fractional) number of new nodes of template t, and flows u[g,t,d] / v[g,p,d]: how much of
// dimension d (cpu, memory, pods) of template t, or of the pooled free room p of existing
// nodes, group g uses. It asks for:
//
//	sum_t u[g,t,d] + sum_p v[g,p,d] >= demand[g,d]   every group and dimension
//	sum_g u[g,t,d] <= free[t,d] * x_t                every template and dimension
//	sum_g v[g,p,d] <= free[p,d]                      every existing pool and dimension
//
// at minimum sum_t price_t x_t. Any real packing gives a feasible point of the same cost
// (split each node's room per dimension among the groups on it), so the optimum is a lower
// bound. Its row prices (duals) value a pod by what its demand costs at the margin, which
// the packer uses to compare nodes.

// dimUnit scales dimensions to sizes that keep the simplex well conditioned: cores, GiB, pods.
var dimUnit = [numDims]float64{1000, 1 << 30, 1}

type coverResult struct {
	cost float64
	// value per class: the LP price of one pod of it (0 for classes left out).
	value []float64
}

// cover solves the covering LP for counts[c] pods of each class. Classes without an allowed
// template are left out: they never cause new nodes. With useExisting, existing nodes' free
// room (before any pending pod was placed) is free supply.
func (s *solver) cover(counts []int, useExisting bool) (coverResult, error) {
	type group struct {
		classes   []int
		templates []int
		pools     []int
		demand    [numDims]float64
		compat    []bool // existing-node compatibility, when useExisting
	}
	var groups []*group
	byKey := map[string]*group{}
	for ci := range s.classes {
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
		g, ok := byKey[key.String()]
		if !ok {
			g = &group{templates: tmpls}
			if useExisting {
				g.compat = s.existingOK[ci]
			}
			byKey[key.String()] = g
			groups = append(groups, g)
		}
		g.classes = append(g.classes, ci)
		for d := 0; d < numDims; d++ {
			g.demand[d] += float64(counts[ci]) * float64(s.classes[ci].req[d]) / dimUnit[d]
		}
	}
	res := coverResult{value: make([]float64, len(s.classes))}
	if len(groups) == 0 {
		return res, nil
	}

	// Pools: existing nodes with the same set of compatible groups share one pool.
	var poolFree [][numDims]float64
	if useExisting {
		poolOf := map[string]int{}
		for ei := range s.existing {
			var key strings.Builder
			anyGroup := false
			for _, g := range groups {
				if g.compat[ei] {
					key.WriteByte('1')
					anyGroup = true
				} else {
					key.WriteByte('0')
				}
			}
			if !anyGroup {
				continue
			}
			pi, ok := poolOf[key.String()]
			if !ok {
				pi = len(poolFree)
				poolOf[key.String()] = pi
				poolFree = append(poolFree, [numDims]float64{})
				for gi, g := range groups {
					if g.compat[ei] {
						groups[gi].pools = append(groups[gi].pools, pi)
					}
				}
			}
			for d := 0; d < numDims; d++ {
				poolFree[pi][d] += float64(max(s.existingFree[ei][d], 0)) / dimUnit[d]
			}
		}
	}

	// Columns.
	tmplCol := map[int]int{}
	var tmplOrder []int // map iteration order must not leak into the LP: duals would vary
	var costs []float64
	for _, g := range groups {
		for _, ti := range g.templates {
			if _, ok := tmplCol[ti]; !ok {
				tmplCol[ti] = len(costs)
				tmplOrder = append(tmplOrder, ti)
				costs = append(costs, s.templates[ti].offering.HourlyPrice)
			}
		}
	}
	type flow struct{ g, target, d int }
	var tflows, pflows []flow
	for gi, g := range groups {
		for d := 0; d < numDims; d++ {
			if g.demand[d] <= 0 {
				continue
			}
			for _, ti := range g.templates {
				tflows = append(tflows, flow{gi, ti, d})
			}
			for _, pi := range g.pools {
				pflows = append(pflows, flow{gi, pi, d})
			}
		}
	}
	nTmpl := len(costs)
	ncols := nTmpl + len(tflows) + len(pflows)
	for len(costs) < ncols {
		costs = append(costs, 0)
	}

	// Rows.
	var a [][]float64
	var b []float64
	demandRow := map[[2]int]int{}
	for gi, g := range groups {
		for d := 0; d < numDims; d++ {
			if g.demand[d] <= 0 {
				continue
			}
			row := make([]float64, ncols)
			for k, f := range tflows {
				if f.g == gi && f.d == d {
					row[nTmpl+k] = 1
				}
			}
			for k, f := range pflows {
				if f.g == gi && f.d == d {
					row[nTmpl+len(tflows)+k] = 1
				}
			}
			demandRow[[2]int{gi, d}] = len(a)
			a = append(a, row)
			b = append(b, g.demand[d])
		}
	}
	for col, ti := range tmplOrder {
		for d := 0; d < numDims; d++ {
			row := make([]float64, ncols)
			used := false
			for k, f := range tflows {
				if f.target == ti && f.d == d {
					row[nTmpl+k] = -1
					used = true
				}
			}
			if !used {
				continue
			}
			row[col] = float64(max(s.templates[ti].free[d], 0)) / dimUnit[d]
			a = append(a, row)
			b = append(b, 0)
		}
	}
	for pi := range poolFree {
		for d := 0; d < numDims; d++ {
			row := make([]float64, ncols)
			used := false
			for k, f := range pflows {
				if f.target == pi && f.d == d {
					row[nTmpl+len(tflows)+k] = -1
					used = true
				}
			}
			if !used {
				continue
			}
			a = append(a, row)
			b = append(b, -poolFree[pi][d])
		}
	}

	_, y, cost, err := coverMin(a, b, costs)
	if err != nil {
		return res, fmt.Errorf("solving the lower-bound LP, %w", err)
	}
	res.cost = cost
	for gi, g := range groups {
		for _, ci := range g.classes {
			v := 0.0
			for d := 0; d < numDims; d++ {
				if r, ok := demandRow[[2]int{gi, d}]; ok {
					v += y[r] * float64(s.classes[ci].req[d]) / dimUnit[d]
				}
			}
			res.value[ci] = v
		}
	}
	return res, nil
}

// lowerBound is the LP bound for the pending pods the plan places (on existing or new nodes),
// with existing free room as free supply. Pods the plan leaves out are left out here too:
// NodeGroup limits are not in the LP, so a bound over them could exceed what any plan within
// the limits may spend.
func (s *solver) lowerBound() (float64, error) {
	counts := make([]int, len(s.classes))
	copy(counts, s.next)
	res, err := s.cover(counts, true)
	return res.cost, err
}
