package packing

import (
	"cmp"
	"slices"
)

// Exact-ish pricing for column generation. The greedy fills of Fill miss patterns
// that mix pods so that every dimension of a node's room is used (a fragment of 700m cpu and
// 5 GiB wants one memory-heavy pod and a few small ones, not the densest pod first); when
// pricing misses improving columns, the master LP stops above its optimum and its duals
// mislead what goes where. Branch and bound over pod counts, best greedy fill as the
// incumbent, bounded by fractional relaxations (single dimensions and blends of them, each
// a relaxation of the real problem, so pruning by their minimum is safe), fixes that.
// A node budget keeps it bounded and deterministic: past it, the best fill found is
// returned, which is still a valid pattern, just maybe not the most valuable one.

type kItem struct {
	si  int
	req [NumDims]int64
	v   float64
	ub  int64
}

// knapsackBB maximises sum v_i n_i over whole counts 0 <= n_i <= ub_i with sum req_i n_i <=
// free in every dimension, starting from the incumbent fill (counts per shape, may be nil)
// of value incumbent, visiting at most budget search nodes. It returns counts per shape (len
// nShapes) and their value; the result is never worse than the incumbent.
//
// Fills worth target or less are of no use to the caller (a column that does not improve
// the master LP), so subtrees that cannot beat target are pruned too: near the LP's optimum
// most pricing calls have no improving fill, and proving that needs far fewer nodes than
// finding the best fill.
func knapsackBB(free [NumDims]int64, items []kItem, nShapes int, incumbent []int, incumbentValue float64, budget int, target float64) ([]int, float64) {
	if len(items) == 0 {
		return incumbent, incumbentValue
	}
	// Surrogate weight: each dimension's use as a share of the room.
	weight := func(r [NumDims]int64) float64 {
		w := 0.0
		for d := 0; d < NumDims; d++ {
			if free[d] > 0 {
				w += float64(r[d]) / float64(free[d])
			}
		}
		return max(w, 1e-12)
	}
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b kItem) int {
		return cmp.Compare(b.v/weight(b.req), a.v/weight(a.req))
	})
	n := len(items)
	// Relaxations: one knapsack constraint sum_d mu_d (req_d n) <= sum_d mu_d room_d, for
	// multipliers mu >= 0 - single dimensions, their normalised sum, and cpu/memory blends
	// (two dimensions that both bind are bounded well only by a blend).
	var mus [][NumDims]float64
	for d := 0; d < NumDims; d++ {
		var mu [NumDims]float64
		mu[d] = 1
		mus = append(mus, mu)
	}
	for _, a := range []float64{0.5, 0.25, 0.75} {
		var mu [NumDims]float64
		if free[DimCPU] > 0 && free[DimMemory] > 0 {
			mu[DimCPU], mu[DimMemory] = a/float64(free[DimCPU]), (1-a)/float64(free[DimMemory])
		}
		if a == 0.5 && free[DimPods] > 0 {
			mu[DimPods] = 0.5 / float64(free[DimPods])
		}
		mus = append(mus, mu)
	}
	type boundOrder struct {
		idx []int
		w   []float64 // per item (position in items), its weight in this relaxation
		mu  [NumDims]float64
	}
	var bounds []boundOrder
	for _, mu := range mus {
		bo := boundOrder{mu: mu, w: make([]float64, n)}
		used := false
		for i, it := range items {
			for d := 0; d < NumDims; d++ {
				bo.w[i] += mu[d] * float64(it.req[d])
			}
			used = used || bo.w[i] > 0
			bo.idx = append(bo.idx, i)
		}
		if !used {
			continue // bounds nothing
		}
		slices.SortStableFunc(bo.idx, func(a, b int) int {
			return cmp.Compare(items[b].v/max(bo.w[b], 1e-12), items[a].v/max(bo.w[a], 1e-12))
		})
		bounds = append(bounds, bo)
	}
	counts := make([]int64, n)
	best := make([]int64, n)
	bestValue := incumbentValue
	improved := false

	// Flat per-relaxation arrays in density order: position in items, weight, value.
	type entry struct {
		pos        int
		w, invW, v float64
		zeroW      bool // weight 0 in this relaxation: always taken whole
	}
	flat := make([][]entry, len(bounds))
	for b, bo := range bounds {
		for _, i := range bo.idx {
			e := entry{pos: i, w: bo.w[i], v: items[i].v, zeroW: bo.w[i] <= 0}
			if !e.zeroW {
				e.invW = 1 / e.w
			}
			flat[b] = append(flat[b], e)
		}
	}
	// prunes says whether no fill of items k.. in room can lift value above the best: true
	// as soon as one relaxation's fractional optimum cannot. Per call of prunes, each item's count bound in the room is computed once, lazily (most
	// relaxations stop after a few items), and shared by the relaxations; the relaxation that
	// pruned last is tried first, as it is the likeliest to prune again.
	ubMemo := make([]float64, n)
	ubStamp := make([]int, n)
	call, lastPruner := 0, 0
	prunes := func(k int, room [NumDims]int64, value, target float64) bool {
		call++
		for r := range bounds {
			b := (lastPruner + r) % len(bounds)
			bo := &bounds[b]
			capacity := 0.0
			for d := 0; d < NumDims; d++ {
				capacity += bo.mu[d] * float64(room[d])
			}
			v := value
			for _, e := range flat[b] {
				if e.pos < k {
					continue
				}
				// No more of an item than fits the room in every dimension.
				ub := ubMemo[e.pos]
				if ubStamp[e.pos] != call {
					it := items[e.pos]
					m := it.ub
					for d := 0; d < NumDims; d++ {
						if it.req[d] > 0 {
							m = min(m, room[d]/it.req[d])
						}
					}
					ub = float64(m)
					ubMemo[e.pos], ubStamp[e.pos] = ub, call
				}
				if e.zeroW {
					v += ub * e.v
					continue
				}
				take := min(ub, capacity*e.invW)
				v += take * e.v
				capacity -= take * e.w
				if capacity <= 0 {
					break
				}
			}
			if v <= target {
				lastPruner = b
				return true
			}
		}
		return false
	}
	var dfs func(k int, room [NumDims]int64, value float64)
	dfs = func(k int, room [NumDims]int64, value float64) {
		if budget <= 0 {
			return
		}
		budget--
		if value > bestValue*(1+1e-9)+1e-12 {
			bestValue = value
			copy(best, counts)
			improved = true
		}
		if k == n || prunes(k, room, value, max(bestValue*(1+1e-9)+1e-12, target)) {
			return
		}
		it := items[k]
		m := it.ub
		for d := 0; d < NumDims; d++ {
			if it.req[d] > 0 {
				m = min(m, room[d]/it.req[d])
			}
		}
		for c := m; c >= 0; c-- {
			next := room
			for d := 0; d < NumDims; d++ {
				next[d] -= c * it.req[d]
			}
			counts[k] = c
			dfs(k+1, next, value+float64(c)*it.v)
			counts[k] = 0
			if budget <= 0 {
				return
			}
		}
	}
	dfs(0, free, 0)
	if !improved {
		return incumbent, incumbentValue
	}
	out := make([]int, nShapes)
	for i, it := range items {
		out[it.si] = int(best[i])
	}
	return out, bestValue
}

// nativeKnapsackTries: how many of the most valuable native shapes nativeKnapsack forces
// in turn when the plain fill has none.
const nativeKnapsackTries = 3

// nativeKnapsack is knapsack for a bin of type ti that must carry at least one item of a
// shape for which isNative(si, ti) (the bin is bought for it). When the best fill has none,
// it forces one item of each of the most valuable native shapes in turn and fills the rest
// of the room around it.
func (p *Problem) nativeKnapsack(ti int, shapes []*Shape, need []int, limited []bool, y []float64, allowedOn, isNative func(si, ti int) bool, budget int, target float64) (Pattern, float64) {
	c, v := p.knapsack(ti, shapes, need, limited, y, allowedOn, budget, target)
	for si, n := range c.Counts {
		if n > 0 && isNative(si, ti) {
			return c, v
		}
	}
	var natives []int
	for si := range shapes {
		if need[si] > 0 && allowedOn(si, ti) && isNative(si, ti) {
			natives = append(natives, si)
		}
	}
	slices.SortStableFunc(natives, func(a, b int) int { return cmp.Compare(y[b], y[a]) })
	best, bestValue := Pattern{}, 0.0
	for _, si := range natives[:min(len(natives), nativeKnapsackTries)] {
		req := p.req(shapes, si)
		room := p.Types[ti].Free
		ok := true
		for d := 0; d < NumDims; d++ {
			room[d] -= req[d]
			ok = ok && room[d] >= 0
		}
		if !ok {
			continue
		}
		rest := slices.Clone(need)
		rest[si]--
		if limited[si] {
			rest[si] = 0
		}
		counts, value := p.fill(room, shapes, rest, limited, y, func(sj int) bool { return allowedOn(sj, ti) }, budget, target-y[si])
		if counts == nil {
			counts = make([]int, len(shapes))
		}
		counts[si]++
		value += y[si]
		if best.Counts == nil || value > bestValue*(1+1e-9) {
			best, bestValue = Pattern{Bin: ti, Counts: counts}, value
		}
	}
	return best, bestValue
}
