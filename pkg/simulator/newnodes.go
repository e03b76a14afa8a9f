package simulator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Choosing new nodes by cost. The covering LP prices every pending pod (its row prices times
// its requests); a candidate node's worth is the price of the pods a quick estimate packs onto
// it, and the node opened next is the one with the lowest price-to-worth ratio. No node can
// score below 1 (LP duality), so a plan made of nodes near 1 is near the lower bound. Small
// leftovers naturally go to small offerings, big homogeneous batches to whatever size packs
// them with the least waste (daemonset overhead included). The framework's Filter confirms
// every placement; the estimate only proposes.

type fillItem struct {
	ci int
	n  int
}

// rePriceFraction: the LP prices are recomputed whenever the pods left fall below this share
// of the count they were computed for, so late decisions use prices of the pods actually left.
const rePriceFraction = 0.5

func (s *solver) openNewNodes() error {
	remaining := make([]int, len(s.classes))
	total := 0
	for ci, c := range s.classes {
		if slices.Contains(s.allowed[ci], true) {
			remaining[ci] = len(c.pods) - s.next[ci]
			total += remaining[ci]
		}
	}
	if total == 0 {
		return nil
	}
	values, orders, err := s.price(remaining)
	if err != nil {
		return err
	}
	pricedAt := total
	seq := 0
	for total > 0 {
		best, bestFill := -1, []fillItem(nil)
		bestRatio := math.Inf(1)
		for ti, t := range s.templates {
			if !t.group.allows(t.offering) {
				continue
			}
			fill, worth := s.estimate(ti, remaining, values, orders)
			if worth <= 0 {
				continue
			}
			ratio := t.offering.HourlyPrice / worth
			if ratio < bestRatio*(1-1e-9) ||
				(ratio <= bestRatio*(1+1e-9) && t.offering.HourlyPrice < s.templates[best].offering.HourlyPrice) {
				best, bestFill, bestRatio = ti, fill, ratio
			}
		}
		if best < 0 {
			break // nothing left that any allowed node within limits can take
		}
		t := s.templates[best]
		seq++
		name := fmt.Sprintf("%s-%s-%d", t.group.name, t.offering.Name, seq)
		if err := s.snap.AddNodeInfo(t.instantiate(name)); err != nil {
			return err
		}
		placedAny := false
		for _, it := range bestFill {
			c := s.classes[it.ci]
			for k := 0; k < it.n; k++ {
				if !s.sched.Filter(c.prep, s.snap.NodeInfo(name)).IsSuccess() {
					break
				}
				if err := s.place(it.ci, name); err != nil {
					return err
				}
				remaining[it.ci]--
				total--
				placedAny = true
			}
		}
		if !placedAny {
			// The estimate was wrong for every class it proposed (pod affinity, spread...):
			// drop the node and stop proposing this template for them.
			if err := s.snap.RemoveNode(name); err != nil {
				return err
			}
			for _, it := range bestFill {
				s.allowed[it.ci][best] = false
			}
			continue
		}
		t.group.count(t.offering.CPU*1000, t.offering.MemoryMiB<<20)
		s.newNodes = append(s.newNodes, &plannedNode{name: name, tmpl: t})
		if float64(total) <= rePriceFraction*float64(pricedAt) && total > 0 {
			if values, orders, err = s.price(remaining); err != nil {
				return err
			}
			pricedAt = total
		}
	}
	return nil
}

// price solves the covering LP for the remaining pods (new nodes only) and returns each
// class's per-pod value and the class orders the estimate tries.
func (s *solver) price(remaining []int) ([]float64, [][]int, error) {
	res, err := s.cover(remaining, false)
	if err != nil {
		return nil, nil, err
	}
	values := res.value
	for ci, c := range s.classes {
		// A pod whose every dimension is priced at zero (degenerate LP) still has to go
		// somewhere; a tiny value keeps it last in line instead of never.
		floor := 1e-9 * (1 + float64(c.req[dimCPU])/dimUnit[dimCPU] + float64(c.req[dimMemory])/dimUnit[dimMemory])
		values[ci] = max(values[ci], floor)
	}
	idx := make([]int, len(s.classes))
	for i := range idx {
		idx[i] = i
	}
	shape := func(ci int) float64 {
		r := s.classes[ci].req
		return (float64(r[dimCPU]) / dimUnit[dimCPU]) / (float64(r[dimMemory])/dimUnit[dimMemory]/4 + 1e-6)
	}
	byValue := slices.Clone(idx)
	slices.SortStableFunc(byValue, func(a, b int) int { return cmp.Compare(values[b], values[a]) })
	cpuFirst := slices.Clone(idx)
	slices.SortStableFunc(cpuFirst, func(a, b int) int { return cmp.Compare(shape(b), shape(a)) })
	memFirst := slices.Clone(idx)
	slices.SortStableFunc(memFirst, func(a, b int) int { return cmp.Compare(shape(a), shape(b)) })
	return values, [][]int{byValue, cpuFirst, memFirst}, nil
}

// estimate packs remaining pods onto an empty node of template ti with resource arithmetic,
// greedily in each of the given class orders, and returns the most valuable fill.
func (s *solver) estimate(ti int, remaining []int, values []float64, orders [][]int) ([]fillItem, float64) {
	t := s.templates[ti]
	var best []fillItem
	bestWorth := 0.0
	for _, order := range orders {
		free := t.free
		var fill []fillItem
		worth := 0.0
		for _, ci := range order {
			if remaining[ci] == 0 || !s.allowed[ci][ti] {
				continue
			}
			c := s.classes[ci]
			n := int64(remaining[ci])
			for d := 0; d < numDims; d++ {
				if c.req[d] > 0 {
					n = min(n, free[d]/c.req[d])
				}
			}
			if c.selfHostnameLimited {
				n = min(n, 1)
			}
			if n <= 0 {
				continue
			}
			for d := 0; d < numDims; d++ {
				free[d] -= n * c.req[d]
			}
			fill = append(fill, fillItem{ci: ci, n: int(n)})
			worth += float64(n) * values[ci]
		}
		if worth > bestWorth*(1+1e-9) {
			best, bestWorth = fill, worth
		}
	}
	return best, bestWorth
}
