package packing

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
)

const gib = int64(1) << 30

// Two bin types: small (4 cpu, 4 GiB, $1) and large (8 cpu, 8 GiB, $1.8). Items of 1 cpu and
// 1 GiB.
func twoTypes(classes ...Class) *Problem {
	return &Problem{
		Classes: classes,
		Types: []BinType{
			{Free: Vec{4000, 4 * gib, 110}, Price: 1, Group: 0, Cores: 4, GiB: 4},
			{Free: Vec{8000, 8 * gib, 110}, Price: 1.8, Group: 1, Cores: 8, GiB: 8},
		},
	}
}

func everywhere(classes, types int) [][]bool {
	out := make([][]bool, classes)
	for c := range out {
		out[c] = make([]bool, types)
		for t := range out[c] {
			out[c][t] = true
		}
	}
	return out
}

func TestCoverPicksTheCheapestRoomAndPricesItems(t *testing.T) {
	g := NewWithT(t)
	p := twoTypes(Class{Req: Vec{1000, gib, 1}})
	res, err := p.Cover(CoverInput{Counts: []int{10}, Allowed: everywhere(1, 2)})
	g.Expect(err).NotTo(HaveOccurred())
	// Large bins cost $0.225 per item, small ones $0.25: 1.25 large bins.
	g.Expect(res.Cost).To(BeNumerically("~", 2.25, 1e-9))
	g.Expect(res.Nodes).To(HaveLen(2))
	g.Expect(res.Nodes[0]).To(BeNumerically("~", 0, 1e-9))
	g.Expect(res.Nodes[1]).To(BeNumerically("~", 1.25, 1e-9))
	g.Expect(res.Value[0]).To(BeNumerically("~", 0.225, 1e-9))
	g.Expect(res.Shapes).To(HaveLen(1))
	g.Expect(res.Shapes[0].Classes).To(Equal([]int{0}))
	g.Expect(res.Pods[0][1]).To(BeNumerically("~", 10, 1e-9))
}

func TestCoverHonoursOnePerBinLimitsAndExistingRoom(t *testing.T) {
	g := NewWithT(t)
	// Never two in a bin: three items need three bins of the cheaper type, however small.
	p := twoTypes(Class{Req: Vec{100, gib / 8, 1}, OnePerBin: true, Limited: true})
	res, err := p.Cover(CoverInput{Counts: []int{3}, Allowed: everywhere(1, 2)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Cost).To(BeNumerically("~", 3, 1e-9))

	// At most one large bin: eight items there, the other two on half a small bin.
	p = twoTypes(Class{Req: Vec{1000, gib, 1}})
	limits := []Limit{{}, {HasNodes: true, Nodes: 1}}
	res, err = p.Cover(CoverInput{Counts: []int{10}, Allowed: everywhere(1, 2), Limits: limits})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Cost).To(BeNumerically("~", 1.8+0.5, 1e-9))
	// A limit nothing can meet is dropped rather than failing: the packer stops at it anyway.
	res, err = p.Cover(CoverInput{Counts: []int{10}, Allowed: [][]bool{{false, true}}, Limits: limits})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Cost).To(BeNumerically("~", 2.25, 1e-9))

	// Existing room for four items is free.
	res, err = p.Cover(CoverInput{Counts: []int{10}, Allowed: everywhere(1, 2),
		Compat: [][]bool{{true}}, ExistingFree: []Vec{{4000, 4 * gib, 110}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Cost).To(BeNumerically("~", 0.225*6, 1e-9))
}

// A repeated LP is answered from what Cover keeps: the same answer, which the caller may change
// without changing the next one; any change of the input is a different LP.
func TestCoverKeepsRecentAnswers(t *testing.T) {
	g := NewWithT(t)
	p := twoTypes(Class{Req: Vec{1000, gib, 1}})
	in := CoverInput{Counts: []int{10}, Allowed: everywhere(1, 2)}
	first, err := p.Cover(in)
	g.Expect(err).NotTo(HaveOccurred())
	first.Value[0], first.Nodes[1] = 99, 99
	again, err := p.Cover(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.Cost).To(BeNumerically("~", 2.25, 1e-9))
	g.Expect(again.Value[0]).To(BeNumerically("~", 0.225, 1e-9))
	g.Expect(again.Nodes[1]).To(BeNumerically("~", 1.25, 1e-9))
	g.Expect(p.covers).To(HaveLen(1))

	in.Allowed = [][]bool{{true, false}}
	small, err := p.Cover(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(small.Cost).To(BeNumerically("~", 2.5, 1e-9), "small bins only")
	in.Allowed = everywhere(1, 2)
	in.Limits = []Limit{{}, {HasNodes: true, Nodes: 1}}
	limited, err := p.Cover(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(limited.Cost).To(BeNumerically("~", 2.3, 1e-9))
	for range coverCacheSize {
		in.Counts = []int{in.Counts[0] + 1}
		_, err := p.Cover(in)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(p.covers).To(HaveLen(coverCacheSize))
}

// Every bin bought holds an item it was bought for: riders alone never pay for a bin.
func TestCoverNativeRows(t *testing.T) {
	g := NewWithT(t)
	p := twoTypes(Class{Req: Vec{1000, gib, 1}}, Class{Req: Vec{500, gib / 2, 1}})
	// Class 0 may only be bought small bins for, class 1 only large ones; one item of class 1.
	native := [][]bool{{true, false}, {false, true}}
	free, err := p.Cover(CoverInput{Counts: []int{8, 1}, Allowed: everywhere(2, 2)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(free.Cost).To(BeNumerically("~", 1.9125, 1e-9), "1.0625 large bins for everything")
	res, err := p.Cover(CoverInput{Counts: []int{8, 1}, Allowed: everywhere(2, 2), Native: native})
	g.Expect(err).NotTo(HaveOccurred())
	// With the rows, large bins are bounded by the class-1 items on them: the LP covers
	// class 1 more than it must (1.0667 items, room taken from class 0) to afford them.
	g.Expect(res.Nodes[1]).To(BeNumerically("~", 16.0/15, 1e-9))
	g.Expect(res.Cost).To(BeNumerically("~", 1.8*16/15, 1e-9))
}

// The covering LP lets an item straddle existing bins' leftover room; the configuration bound
// does not. Two items of 3 GiB, two existing bins with 2 GiB free each, new bins of 8 GiB at $1:
// the cover prices 4/3 items into the leftovers ($0.25), the configuration bound knows no item
// fits there ($1, the optimum).
func TestConfigBoundIsTighterThanTheCoverAndStillABound(t *testing.T) {
	g := NewWithT(t)
	p := &Problem{
		Classes: []Class{{Req: Vec{100, 3 * gib, 1}}},
		Types:   []BinType{{Free: Vec{4000, 8 * gib, 110}, Price: 1, Group: -1}},
	}
	in := CoverInput{Counts: []int{2}, Allowed: everywhere(1, 1), Compat: [][]bool{{true, true}},
		ExistingFree: []Vec{{4000, 2 * gib, 110}, {4000, 2 * gib, 110}}}
	res, err := p.Cover(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Cost).To(BeNumerically("~", 0.25, 1e-9))
	g.Expect(p.ConfigBound(in)).To(BeNumerically("~", 1, 1e-9))
}

// Column generation finds whole patterns whose bins cover the need at the LP's cost.
func TestGenerateCoversTheNeedWithWholePatterns(t *testing.T) {
	g := NewWithT(t)
	// Items of 3 cpu and of 1 cpu: a large bin holds two big and two small, which the
	// single-shape starting columns do not show.
	p := twoTypes(Class{Req: Vec{3000, gib, 1}}, Class{Req: Vec{1000, gib, 1}})
	in := CoverInput{Counts: []int{4, 4}, Allowed: everywhere(2, 2)}
	res, err := p.Cover(in)
	g.Expect(err).NotTo(HaveOccurred())
	need, limited := p.NeedOf(res.Shapes, in.Counts)
	y := make([]float64, len(res.Shapes))
	for si, sh := range res.Shapes {
		y[si] = res.Value[sh.Classes[0]]
	}
	cols := p.Generate(GenerateInput{Shapes: res.Shapes, Need: need, Limited: limited,
		Allowed: func(si, ti int) bool { return true }, Y: y, Budget: TemplateBudget})
	g.Expect(cols).NotTo(BeNil())
	expectCovered(g, p, cols)
	cost := 0.0
	for k, c := range cols.Cols {
		cost += cols.Lambda[k] * p.Types[c.Bin].Price
	}
	g.Expect(cost).To(BeNumerically("~", 3.6, 1e-6), "two large bins of 3+3+1+1 cpu")
	g.Expect(cost).To(BeNumerically(">=", res.Cost-1e-9))
}

// With existing bins, the LP puts what fits there for free and buys the rest.
func TestGenerateWithExistingUsesFreeRoomFirst(t *testing.T) {
	g := NewWithT(t)
	p := twoTypes(Class{Req: Vec{1000, gib, 1}})
	room := []Vec{{3000, 3 * gib, 110}}
	cols, err := p.GenerateWithExisting(ExistingInput{
		Cover: CoverInput{Counts: []int{10}, Allowed: everywhere(1, 2), Compat: [][]bool{{true}}, ExistingFree: room},
		Free:  func(e int) Vec { return room[e] }, Exact: true,
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cols).NotTo(BeNil())
	expectCovered(g, p, cols)
	onExisting := 0.0
	for k, c := range cols.Cols {
		if c.Bin == len(p.Types) {
			onExisting += cols.Lambda[k] * float64(c.Counts[0])
		}
	}
	g.Expect(onExisting).To(BeNumerically("~", 3, 1e-6))
	g.Expect(cols.NodeDuals).To(HaveLen(1))
}

// expectCovered checks that every column fits its bin and the LP's columns cover the need.
func expectCovered(g Gomega, p *Problem, cols *Columns) {
	covered := make([]float64, len(cols.Shapes))
	for k, c := range cols.Cols {
		var room Vec
		if c.Bin < len(p.Types) {
			room = p.Types[c.Bin].Free
		} else {
			room = Vec{1 << 62, 1 << 62, 1 << 62} // existing rooms are checked by Fill's callers
		}
		for d := 0; d < NumDims; d++ {
			used := int64(0)
			for si, n := range c.Counts {
				used += int64(n) * p.req(cols.Shapes, si)[d]
			}
			g.Expect(used).To(BeNumerically("<=", room[d]), "column %d overfills dimension %d", k, d)
		}
		for si, n := range c.Counts {
			covered[si] += cols.Lambda[k] * float64(n)
		}
	}
	for si := range cols.Shapes {
		g.Expect(covered[si]).To(BeNumerically(">=", float64(cols.Need[si])-1e-6))
	}
}

// Fill never exceeds the room, the counts or one item for limited shapes, and the exact search
// never returns less than the greedy fills.
func TestFillProperties(t *testing.T) {
	g := NewWithT(t)
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 200 {
		p, shapes, need, limited, y := randomProblem(r, 6)
		free := p.Types[r.IntN(len(p.Types))].Free
		all := func(int) bool { return true }
		greedy, gv := p.Fill(free, shapes, need, limited, y, all, 0)
		exact, ev := p.Fill(free, shapes, need, limited, y, all, 2000)
		g.Expect(ev).To(BeNumerically(">=", gv-1e-12), "trial %d", trial)
		for _, counts := range [][]int{greedy, exact} {
			if counts == nil {
				continue
			}
			var used Vec
			value := 0.0
			for si, n := range counts {
				g.Expect(n).To(BeNumerically("<=", need[si]))
				if limited[si] {
					g.Expect(n).To(BeNumerically("<=", 1))
				}
				for d := 0; d < NumDims; d++ {
					used[d] += int64(n) * p.req(shapes, si)[d]
				}
				value += float64(n) * y[si]
			}
			for d := 0; d < NumDims; d++ {
				g.Expect(used[d]).To(BeNumerically("<=", free[d]), "trial %d", trial)
			}
		}
	}
}

// randomProblem is n classes of random demands, each its own shape, over a few bin types.
func randomProblem(r *rand.Rand, n int) (*Problem, []*Shape, []int, []bool, []float64) {
	p := &Problem{}
	var shapes []*Shape
	var need []int
	var limited []bool
	var y []float64
	for c := range n {
		p.Classes = append(p.Classes, Class{Req: Vec{int64(100 + r.IntN(3900)), int64(1+r.IntN(16)) * gib / 4, 1}, Limited: r.IntN(5) == 0})
		shapes = append(shapes, &Shape{Classes: []int{c}})
		need = append(need, 1+r.IntN(20))
		limited = append(limited, p.Classes[c].Limited)
		y = append(y, r.Float64())
	}
	for k := range 8 {
		size := int64(1) << (k % 4)
		p.Types = append(p.Types, BinType{Free: Vec{2000 * size, 4 * gib * size, 110}, Price: 0.02 * float64(size) * (1 + 0.1*float64(k/4)), Group: -1})
	}
	return p, shapes, need, limited, y
}

func BenchmarkCover(b *testing.B) {
	for _, n := range []int{20, 200} {
		b.Run(fmt.Sprintf("classes=%d", n), func(b *testing.B) {
			p, _, need, _, _ := randomProblem(rand.New(rand.NewPCG(1, 2)), n)
			in := CoverInput{Counts: need, Allowed: everywhere(n, len(p.Types))}
			for b.Loop() {
				if _, err := p.Cover(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{20, 50} {
		b.Run(fmt.Sprintf("classes=%d", n), func(b *testing.B) {
			p, _, counts, _, _ := randomProblem(rand.New(rand.NewPCG(1, 2)), n)
			res, err := p.Cover(CoverInput{Counts: counts, Allowed: everywhere(n, len(p.Types))})
			if err != nil {
				b.Fatal(err)
			}
			need, limited := p.NeedOf(res.Shapes, counts)
			y := make([]float64, len(res.Shapes))
			for si, sh := range res.Shapes {
				y[si] = res.Value[sh.Classes[0]]
			}
			in := GenerateInput{Shapes: res.Shapes, Need: need, Limited: limited, Allowed: func(si, ti int) bool { return true }, Y: y, Budget: TemplateBudget}
			for b.Loop() {
				if p.Generate(in) == nil {
					b.Fatal("no columns")
				}
			}
		})
	}
}
