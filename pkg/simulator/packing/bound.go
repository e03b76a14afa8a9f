package packing

import (
	"cmp"
	"math"
	"slices"
)

// ConfigBound is a second, often tighter, lower bound from the configuration LP (columns are
// whole-pod node patterns), where the covering LP lets a pod's requests straddle the leftover
// room of several existing nodes. Column generation only finds good patterns heuristically,
// so its LP value proves nothing; but any row prices y >= 0 give a bound by weak duality once
// made feasible for every possible pattern: scale y by theta so that no node of any template
// can be worth more than its price, and charge each existing node the most its room could be
// worth. Both use an upper bound of the best pattern's value (a fractional knapsack per
// dimension), never the heuristic's answer. NodeGroup limits are left out (a relaxation).
// Pricing stays greedy here: any duals give a valid bound, and exact pricing costs time.
//
// in is the covering LP's input (with existing bins) whose items are bounded.
func (p *Problem) ConfigBound(in CoverInput) float64 {
	if len(in.ExistingFree) > ExistingColgenMax {
		return 0
	}
	r, err := p.GenerateWithExisting(ExistingInput{Cover: in, Free: func(ei int) Vec { return in.ExistingFree[ei] }})
	if err != nil || r == nil {
		return 0
	}
	onePer := make([]bool, len(r.Shapes))
	for si, sh := range r.Shapes {
		for _, ci := range sh.Classes {
			onePer[si] = onePer[si] || p.Classes[ci].OnePerBin
		}
	}
	y := make([]float64, len(r.Y))
	for si, v := range r.Y {
		y[si] = max(v, 0)
	}
	theta := 1.0
	for ti, t := range p.Types {
		ub := p.patternValueBound(t.Free, r, onePer, y, func(si int) bool { return in.Allowed[r.Shapes[si].Classes[0]][ti] })
		if ub > t.Price {
			theta = min(theta, t.Price/ub)
		}
	}
	total := 0.0
	for si := range r.Shapes {
		total += float64(r.Need[si]) * y[si]
	}
	for ei := range in.ExistingFree {
		total -= p.patternValueBound(in.ExistingFree[ei], r, onePer, y, func(si int) bool { return in.Compat[r.Shapes[si].Classes[0]][ei] })
	}
	return max(theta*total, 0)
}

// patternValueBound is an upper bound of the value under y of any set of pending pods that
// fits in room free: for each dimension alone, the fractional knapsack (items bounded by the
// pods there are, one per node for self anti-affinity, and what fits in every dimension);
// the smallest of these.
func (p *Problem) patternValueBound(free Vec, r *Columns, onePer []bool, y []float64, allowed func(si int) bool) float64 {
	type item struct {
		si    int
		bound float64
	}
	var items []item
	for si := range r.Shapes {
		if y[si] <= 0 || r.Need[si] == 0 || !allowed(si) {
			continue
		}
		req := p.Classes[r.Shapes[si].Classes[0]].Req
		b := int64(r.Need[si])
		if onePer[si] {
			b = min(b, 1)
		}
		for d := 0; d < NumDims; d++ {
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
	for d := 0; d < NumDims; d++ {
		req := func(si int) float64 { return float64(p.Classes[r.Shapes[si].Classes[0]].Req[d]) }
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
