package simulator

import (
	"cmp"
	"math"
	"slices"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator/packing"
)

// Column generation (Gilmore-Gomory). Instead of rounding the LP's fractional per-node mix,
// the LP's columns are whole-pod node patterns: "a node of template t with a pods of shape 1,
// b of shape 2, ...". The master LP picks how many nodes of each pattern to buy; its duals
// price the shapes; a knapsack per template then looks for a pattern worth more than the
// node's price, and adds it. When no such pattern is found, the nodes of the patterns the LP
// buys whole are opened as they are: no rounding inside a node, only the fractional counts
// of patterns are left over (for the LP-following and greedy phases).

const (
	// colgenMaxDives bounds the diving rounds (each a column generation, warm started); past
	// it LP-following and greedy take the rest. 12 instead of 6 buys ~0.1% for ~20% more time.
	colgenMaxDives = 6
)

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
	s.dive = nil
	defer func() { s.dive = nil }()
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
	current := s.allowed
	s.allowed, s.native = fitsOn, native
	res, err := s.cover(remaining, false)
	s.allowed, s.native = current, nil
	if err != nil || len(res.Shapes) == 0 {
		return false, nil // an LP that fails leaves the pods to the other phases
	}
	shapes := res.Shapes
	p := s.problem()
	need, limited := p.NeedOf(shapes, remaining)
	gen := packing.GenerateInput{
		Shapes: shapes, Need: need, Limited: limited,
		Allowed: func(si, ti int) bool { return fitsOn[shapes[si].Classes[0]][ti] },
		// Start with the LP's values: the best knapsack fill per template.
		Y:      make([]float64, len(shapes)),
		Budget: packing.TemplateBudget,
		Limits: s.limits(false),
	}
	if native != nil {
		gen.Native = func(si, ti int) bool { return native[shapes[si].Classes[0]][ti] }
	}
	for si, sh := range shapes {
		gen.Y[si] = res.Value[sh.Classes[0]]
	}
	if roundUp {
		// Diving again: the columns of the last round start the pool (templates' rooms do not
		// change). Diving solves many times; each round needs good columns less than the
		// first plan.
		gen.Warm, gen.Budget = s.dive, packing.DiveBudget
	}
	r := p.Generate(gen)
	if r == nil {
		return false, nil // leave it to the other phases
	}
	if roundUp {
		s.dive = r
	}
	cols, lambda, y, shapeOf := r.Cols, r.Lambda, r.Y, packing.ShapeOf(shapes)
	openPattern := func(k int) (bool, error) {
		c := cols[k]
		t := s.templates[c.Bin]
		if !t.group.allows(t.offering) {
			return false, nil
		}
		fill := s.patternToFill(c, shapes, remaining)
		if native != nil {
			// The pods the node is bought for go first: Filter sees them before riders. A
			// node whose first such pod Filter would refuse would carry riders only.
			slices.SortStableFunc(fill, func(a, b fillItem) int {
				return cmp.Compare(b2i(native[b.ci][c.Bin]), b2i(native[a.ci][c.Bin]))
			})
			if len(fill) == 0 || !native[fill[0].ci][c.Bin] || !s.sched.Filter(s.classes[fill[0].ci].prep, t.info).IsSuccess() {
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
		placed, err := s.openNode(c.Bin, fill, remaining, total)
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

// patternToFill turns a pattern into pods of concrete classes still waiting.
func (s *solver) patternToFill(p packing.Pattern, shapes []*packing.Shape, remaining []int) []fillItem {
	var fill []fillItem
	for si, n := range p.Counts {
		for _, ci := range shapes[si].Classes {
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

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
