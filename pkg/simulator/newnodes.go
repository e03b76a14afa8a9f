package simulator

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator/packing"
)

// Choosing new nodes by cost. When the strategy asks for it and there are several weight
// tiers, column generation over all of them first opens nodes that carry riders of other
// tiers (jointColumnGeneration). Then per weight tier, three phases in turn take the pods left:
//
//  1. column generation (colgen.go), when the strategy asks for it: whole-pod node patterns
//     priced by an LP, the nodes the LP buys whole opened as they are (diving: also one node
//     of the most fractional pattern, then the LP again for the pods left, and so on);
//  2. following the covering LP's fractional node mix (followLP), each node filled with the
//     LP's per-node pattern rounded to whole pods, while that wastes little;
//  3. greedy: the covering LP prices every pod (row prices); a candidate node's worth is the
//     price of the pods a quick estimate packs onto it, and the node opened next is the one
//     with the lowest price-to-worth ratio. No node scores below 1 (LP duality), so nodes
//     near 1 make a plan near the bound; small leftovers go to small offerings.
//
// The framework's Filter confirms every placement; estimates and patterns only propose.
// Repairs (improve.go) and the choice among strategies (portfolio.go) come after.

type fillItem struct {
	ci int
	n  int
}

// rePriceFraction: the LP prices are recomputed whenever the pods left fall below this share
// of the count they were computed for, so late decisions use prices of the pods actually left.
const rePriceFraction = 0.5

func (s *solver) openNewNodes() error {
	// Pods get new nodes only from their highest-weight NodeGroup, but may ride on any node
	// that is planned anyway. So the tiers are packed from the lowest weight up, and after
	// each, pods of higher tiers first take the spare room of the nodes planned so far.
	tier := make([]int32, len(s.classes))
	var tiers []int32
	for ci := range s.classes {
		tier[ci] = math.MinInt32
		for ti, ok := range s.allowed[ci] {
			if ok {
				tier[ci] = s.templates[ti].group.weight
				break
			}
		}
		if tier[ci] != math.MinInt32 && !slices.Contains(tiers, tier[ci]) {
			tiers = append(tiers, tier[ci])
		}
	}
	slices.Sort(tiers)
	if s.strategy.joint && len(tiers) > 1 {
		remaining := make([]int, len(s.classes))
		total := 0
		for ci, c := range s.classes {
			if tier[ci] != math.MinInt32 {
				remaining[ci] = len(c.pods) - s.next[ci]
				total += remaining[ci]
			}
		}
		if err := s.jointColumnGeneration(remaining, &total); err != nil {
			return err
		}
	}
	for i, w := range tiers {
		remaining := make([]int, len(s.classes))
		total := 0
		for ci, c := range s.classes {
			if tier[ci] == w {
				remaining[ci] = len(c.pods) - s.next[ci]
				total += remaining[ci]
			}
		}
		if total > 0 {
			if err := s.packTier(remaining, &total); err != nil {
				return err
			}
		}
		if i < len(tiers)-1 {
			if err := s.ride(func(ci int) bool { return tier[ci] > w }); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *solver) packTier(remaining []int, total *int) error {
	if s.strategy.colgen {
		if err := s.columnGeneration(remaining, total); err != nil {
			return err
		}
	}
	if err := s.followLP(remaining, total); err != nil {
		return err
	}
	return s.greedy(remaining, total)
}

// ride places pods of the selected classes in the spare room of the new nodes planned so far,
// best fit by resource arithmetic, Filter deciding.
func (s *solver) ride(selected func(ci int) bool) error {
	if len(s.newNodes) == 0 {
		return nil
	}
	names := make([]string, len(s.newNodes))
	for k, n := range s.newNodes {
		names[k] = n.name
	}
	all := func(int) bool { return true }
	for ci, c := range s.classes {
		if !selected(ci) || s.next[ci] >= len(c.pods) {
			continue
		}
		if err := s.bestFit(ci, names, all); err != nil {
			return err
		}
	}
	return nil
}

// followRounds bounds the LP-following rounds.
const followRounds = 8

// followLP opens the whole nodes of the LP's optimal mix for the pods left, each filled with
// the LP's pattern for its template, interleaving templates in proportion to the mix so that
// shapes several templates share are consumed evenly. A pattern whose rounding wastes too
// much (e.g. 1.6 pods per node rounded to 1) is not followed; greedy handles what is left.
func (s *solver) followLP(remaining []int, total *int) error {
	for round := 0; round < followRounds && *total > 0 && !s.hurry(); round++ {
		res, err := s.cover(remaining, false)
		if err != nil {
			return nil // an LP that fails leaves the pods to greedy
		}
		before := *total
		quota := make([]int, len(s.templates))
		opened := make([]int, len(s.templates))
		for ti, x := range res.Nodes {
			quota[ti] = int(math.Floor(x + 1e-6))
		}
		for {
			best := -1
			for ti := range s.templates {
				if opened[ti] >= quota[ti] {
					continue
				}
				// Most behind its share of the mix first.
				if best < 0 || float64(opened[ti])/float64(quota[ti]) < float64(opened[best])/float64(quota[best]) {
					best = ti
				}
			}
			if best < 0 {
				break
			}
			t := s.templates[best]
			fill := s.patternFill(best, res, remaining, opened[best])
			worth := 0.0
			for _, it := range fill {
				worth += float64(it.n) * res.Value[it.ci]
			}
			if len(fill) == 0 || !t.group.allows(t.offering) || t.offering.HourlyPrice > s.strategy.tolerance*worth {
				quota[best] = opened[best]
				continue
			}
			placed, err := s.openNode(best, fill, remaining, total)
			if err != nil {
				return err
			}
			if placed == 0 {
				quota[best] = opened[best]
				continue
			}
			opened[best]++
		}
		if *total == before {
			return nil
		}
	}
	return nil
}

// patternFill proposes the pods for one node of template ti: the LP's per-node pattern
// rounded down, then rounded up where room is left, then anything else that fits, by value.
func (s *solver) patternFill(ti int, res packing.CoverResult, remaining []int, nth int) []fillItem {
	t := s.templates[ti]
	x := res.Nodes[ti]
	free := t.free
	left := slices.Clone(remaining)
	taken := map[int]int{}
	var order []int // classes in the order first taken, for a deterministic fill
	take := func(ci int, want int64) int64 {
		c := s.classes[ci]
		n := min(want, int64(left[ci]))
		for d := 0; d < numDims; d++ {
			if c.req[d] > 0 {
				n = min(n, free[d]/c.req[d])
			}
		}
		if c.selfHostnameLimited {
			n = min(n, int64(1-taken[ci]))
		}
		if n <= 0 || !s.allowed[ci][ti] {
			return 0
		}
		for d := 0; d < numDims; d++ {
			free[d] -= n * c.req[d]
		}
		if taken[ci] == 0 {
			order = append(order, ci)
		}
		taken[ci] += int(n)
		left[ci] -= int(n)
		return n
	}
	takeShape := func(si int, want int64) {
		for _, ci := range res.Shapes[si].Classes {
			if want <= 0 {
				return
			}
			want -= take(ci, want)
		}
	}
	type target struct {
		si  int
		per float64
	}
	var targets []target
	for si, m := range res.Pods {
		if v := m[ti]; v > packing.Eps && x > packing.Eps {
			targets = append(targets, target{si, v / x})
		}
	}
	slices.SortStableFunc(targets, func(a, b target) int { return cmp.Compare(b.per, a.per) })
	// Rounding the pattern: either every node rounds down (then up where room is left), or
	// (cumulative) node k of the template gets round((k+1)p) - round(k p) pods of a shape with
	// p per node, so over the LP's count of nodes the fractional parts add up to what the LP
	// meant instead of every node rounding the same way.
	k := float64(nth)
	for _, tg := range targets {
		want := math.Floor(tg.per + 1e-9)
		if s.strategy.cumulative {
			want = math.Floor((k+1)*tg.per+0.5) - math.Floor(k*tg.per+0.5)
		}
		takeShape(tg.si, int64(want))
	}
	if !s.strategy.cumulative {
		// Round up where room is left, largest fractional part first.
		slices.SortStableFunc(targets, func(a, b target) int {
			return cmp.Compare(b.per-math.Floor(b.per+1e-9), a.per-math.Floor(a.per+1e-9))
		})
	}
	for _, tg := range targets {
		takeShape(tg.si, 1)
	}
	byValue := make([]int, 0, len(s.classes))
	for ci := range s.classes {
		if left[ci] > 0 && s.allowed[ci][ti] {
			byValue = append(byValue, ci)
		}
	}
	slices.SortStableFunc(byValue, func(a, b int) int { return cmp.Compare(res.Value[b], res.Value[a]) })
	for _, ci := range byValue {
		take(ci, int64(left[ci]))
	}
	fill := make([]fillItem, 0, len(order))
	for _, ci := range order {
		fill = append(fill, fillItem{ci: ci, n: taken[ci]})
	}
	return fill
}

// openNode adds a node of template ti and places the proposed pods on it, each confirmed by
// Filter. A node that takes nothing is removed again, and its template is no longer proposed
// for the classes that were refused.
func (s *solver) openNode(ti int, fill []fillItem, remaining []int, total *int) (int, error) {
	t := s.templates[ti]
	s.seq++
	name := fmt.Sprintf("%s-%s-%d", t.group.name, t.offering.Name, s.seq)
	if err := s.snap.AddNodeInfo(t.instantiate(name)); err != nil {
		return 0, err
	}
	placed := 0
	for _, it := range fill {
		c := s.classes[it.ci]
		for k := 0; k < it.n; k++ {
			if !s.sched.Filter(c.prep, s.snap.NodeInfo(name)).IsSuccess() {
				break
			}
			if err := s.place(it.ci, name); err != nil {
				return placed, err
			}
			remaining[it.ci]--
			*total--
			placed++
		}
	}
	if placed == 0 {
		// The estimate was wrong for every class it proposed (pod affinity, spread...).
		if err := s.snap.RemoveNode(name); err != nil {
			return 0, err
		}
		for _, it := range fill {
			s.allowed[it.ci][ti] = false
		}
		return 0, nil
	}
	t.group.count(t.offering.CPU*1000, t.offering.MemoryMiB<<20)
	s.newNodes = append(s.newNodes, &plannedNode{name: name, tmpl: t, seq: s.seq})
	return placed, nil
}

// minProgressNodes is how many nodes the greedy opens in one call even past the deadline.
const minProgressNodes = 8

// greedy opens one node at a time: the candidate with the lowest price per LP value packed.
// Candidates per template are quick arithmetic fills in a few class orders plus, for templates
// the LP uses, the LP's own per-node pattern rounded to whole pods.
func (s *solver) greedy(remaining []int, total *int) error {
	res, orders, err := s.price(remaining)
	if err != nil {
		return err
	}
	pricedAt := *total
	opened := 0
	for *total > 0 {
		// Past the deadline the greedy stops, but not before it has opened a few nodes: a
		// pass whose preparation alone takes the deadline (a slow machine, thousands of
		// classes) must still get some pods their nodes, or every pass would end where the
		// last one did.
		if s.expired() && opened >= minProgressNodes {
			s.cut = true
			return nil
		}
		best, bestFill := -1, []fillItem(nil)
		bestRatio := math.Inf(1)
		consider := func(ti int, fill []fillItem) {
			worth := 0.0
			for _, it := range fill {
				worth += float64(it.n) * res.Value[it.ci]
			}
			if worth <= 0 {
				return
			}
			price := s.templates[ti].offering.HourlyPrice
			ratio := price / worth
			if ratio < bestRatio*(1-1e-9) ||
				(ratio <= bestRatio*(1+1e-9) && price < s.templates[best].offering.HourlyPrice) {
				best, bestFill, bestRatio = ti, fill, ratio
			}
		}
		for ti, t := range s.templates {
			if !t.group.allows(t.offering) {
				continue
			}
			fill, _ := s.estimate(ti, remaining, res.Value, orders)
			consider(ti, fill)
			if res.Nodes[ti] > packing.Eps {
				consider(ti, s.patternFill(ti, res, remaining, 0))
			}
		}
		if best < 0 {
			return nil // nothing left that any allowed node within limits can take
		}
		if _, err := s.openNode(best, bestFill, remaining, total); err != nil {
			return err
		}
		opened++
		if float64(*total) <= rePriceFraction*float64(pricedAt) && *total > 0 && !s.hurry() {
			if res, orders, err = s.price(remaining); err != nil {
				return err
			}
			pricedAt = *total
		}
	}
	return nil
}

// price solves the covering LP for the remaining pods (new nodes only) and returns each
// class's per-pod value and the class orders the estimate tries.
func (s *solver) price(remaining []int) (packing.CoverResult, [][]int, error) {
	res, err := s.cover(remaining, false)
	if err != nil {
		// Without LP prices, value pods by size: a worse plan, but a plan.
		res = packing.CoverResult{Value: make([]float64, len(s.classes)), Nodes: make([]float64, len(s.templates))}
		for ci, c := range s.classes {
			res.Value[ci] = sizeScore(c.req)
		}
	}
	values := res.Value
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
	return res, [][]int{byValue, cpuFirst, memFirst}, nil
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
