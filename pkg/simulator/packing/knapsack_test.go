package packing

import (
	"testing"

	. "github.com/onsi/gomega"
)

// Room of 10 cpu, 10 GiB, 110 pods. A (6 cpu, 1 GiB, worth 6) is the densest item, so a
// greedy fill takes it first and then nothing else fits (4 cpu left, B needs 5): worth 6.
// Two B (5 cpu, 5 GiB, worth 5 each) fill the room exactly: worth 10, the optimum.
func TestKnapsackBBFindsWhatGreedyMisses(t *testing.T) {
	g := NewWithT(t)
	free := [NumDims]int64{10000, 10 << 30, 110}
	items := []kItem{
		{si: 0, req: [NumDims]int64{6000, 1 << 30, 1}, v: 6, ub: 1},
		{si: 2, req: [NumDims]int64{5000, 5 << 30, 1}, v: 5, ub: 2},
	}
	counts, value := knapsackBB(free, items, 3, []int{1, 0, 0}, 6, 1000, 0)
	g.Expect(value).To(BeNumerically("~", 10, 1e-9))
	g.Expect(counts).To(Equal([]int{0, 0, 2}))

	// A target prunes what cannot beat it: the optimum is still found above the target, and
	// the incumbent is returned as it is when nothing beats the target.
	counts, value = knapsackBB(free, items, 3, []int{1, 0, 0}, 6, 1000, 9)
	g.Expect(value).To(BeNumerically("~", 10, 1e-9))
	g.Expect(counts).To(Equal([]int{0, 0, 2}))
	counts, value = knapsackBB(free, items, 3, []int{1, 0, 0}, 6, 1000, 10.5)
	g.Expect(value).To(BeNumerically("~", 6, 1e-9))
	g.Expect(counts).To(Equal([]int{1, 0, 0}))
}

// Upper bounds per item (pods left of the shape, one per node) hold, and the pod-count
// dimension binds like the others.
func TestKnapsackBBRespectsCountsAndPodSlots(t *testing.T) {
	g := NewWithT(t)
	free := [NumDims]int64{8000, 8 << 30, 3}
	items := []kItem{
		{si: 0, req: [NumDims]int64{1000, 1 << 30, 1}, v: 3, ub: 1},
		{si: 1, req: [NumDims]int64{2000, 1 << 30, 1}, v: 2, ub: 5},
		{si: 2, req: [NumDims]int64{100, 100 << 20, 1}, v: 0.5, ub: 10},
	}
	counts, value := knapsackBB(free, items, 3, nil, 0, 1000, 0)
	// Three pod slots: A once (its bound), then B twice (4 cpu) beats small pods.
	g.Expect(counts).To(Equal([]int{1, 2, 0}))
	g.Expect(value).To(BeNumerically("~", 7, 1e-9))
}

// An incumbent that is already optimal, or a search without budget, is returned as it is.
func TestKnapsackBBKeepsIncumbent(t *testing.T) {
	g := NewWithT(t)
	free := [NumDims]int64{4000, 4 << 30, 110}
	items := []kItem{{si: 0, req: [NumDims]int64{2000, 2 << 30, 1}, v: 1, ub: 2}}
	counts, value := knapsackBB(free, items, 1, []int{2}, 2, 1000, 0)
	g.Expect(counts).To(Equal([]int{2}))
	g.Expect(value).To(BeNumerically("~", 2, 1e-9))

	counts, value = knapsackBB(free, items, 1, []int{1}, 1, 0, 0)
	g.Expect(counts).To(Equal([]int{1}))
	g.Expect(value).To(BeNumerically("~", 1, 1e-9))
}
