package packing

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
)

func TestSparseLPRefusesMoreRowsThanTheDenseBasisAllows(t *testing.T) {
	g := NewWithT(t)
	lp := &sparseLP{}
	col := lp.addCol(1)
	for range maxDenseRows + 1 {
		lp.set(lp.addRow(true, 1), col, 1)
	}
	_, _, _, err := lp.solve()
	g.Expect(errors.Is(err, errLPTooLarge)).To(BeTrue(), "%v", err)
}

// A bin bought for its group's items never carries riders only. Shape 0 (a job, native on the
// type) and shape 1 (web, riding): web is worth more per item, so a plain fill takes three web
// items; the bin must carry the job instead of one of them.
func TestNativeKnapsackForcesANativeItem(t *testing.T) {
	g := NewWithT(t)
	p := &Problem{
		Classes: []Class{{Req: Vec{1000, 1 << 30, 1}}, {Req: Vec{1000, 1 << 30, 1}}},
		Types:   []BinType{{Free: Vec{3900, 7 << 30, 110}, Price: 0.06, Group: -1}},
	}
	shapes := []*Shape{{Classes: []int{0}}, {Classes: []int{1}}}
	need := []int{1, 8}
	y := []float64{0.01, 0.03}
	all := func(si, ti int) bool { return true }
	plain, v := p.knapsack(0, shapes, need, []bool{false, false}, y, all, 100, 0)
	g.Expect(plain.Counts).To(Equal([]int{0, 3}))
	g.Expect(v).To(BeNumerically("~", 0.09, 1e-9))

	native := func(si, ti int) bool { return si == 0 }
	c, v := p.nativeKnapsack(0, shapes, need, []bool{false, false}, y, all, native, 100, 0)
	g.Expect(c.Counts).To(Equal([]int{1, 2}))
	g.Expect(v).To(BeNumerically("~", 0.07, 1e-9))
}
