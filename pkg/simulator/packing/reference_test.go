package packing

import (
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
)

func TestSimplexMaxTextbook(t *testing.T) {
	g := NewWithT(t)
	// max 3x + 5y s.t. x <= 4, 2y <= 12, 3x + 2y <= 18 -> x=2, y=6, 36.
	x, y, obj, err := simplexMax([][]float64{{1, 0}, {0, 2}, {3, 2}}, []float64{4, 12, 18}, []float64{3, 5})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(obj).To(BeNumerically("~", 36, 1e-9))
	g.Expect(x[0]).To(BeNumerically("~", 2, 1e-9))
	g.Expect(x[1]).To(BeNumerically("~", 6, 1e-9))
	// Known duals: 0, 1.5, 1.
	g.Expect(y[0]).To(BeNumerically("~", 0, 1e-9))
	g.Expect(y[1]).To(BeNumerically("~", 1.5, 1e-9))
	g.Expect(y[2]).To(BeNumerically("~", 1, 1e-9))
}

func TestSimplexMaxUnboundedAndBadInput(t *testing.T) {
	g := NewWithT(t)
	_, _, _, err := simplexMax([][]float64{{1, -1}}, []float64{1}, []float64{0, 1})
	g.Expect(err).To(MatchError(errUnbounded))
	_, _, _, err = simplexMax([][]float64{{1}}, []float64{-1}, []float64{1})
	g.Expect(err).To(MatchError(ContainSubstring("negative bound")))
	_, _, _, err = simplexMax([][]float64{{1, 2}}, []float64{1}, []float64{1})
	g.Expect(err).To(MatchError(ContainSubstring("columns")))
}

func TestCoverMinHandWorked(t *testing.T) {
	g := NewWithT(t)
	// Need 10 cpu and 10 GiB from node A (2 cpu, 4 GiB, $1) and node B (4 cpu, 2 GiB, $1.5).
	// Both constraints tight: 2a + 4b = 10, 4a + 2b = 10 -> a = b = 5/3, cost 25/6.
	x, y, cost, err := coverMin([][]float64{{2, 4}, {4, 2}}, []float64{10, 10}, []float64{1, 1.5})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cost).To(BeNumerically("~", 25.0/6, 1e-9))
	g.Expect(x[0]).To(BeNumerically("~", 5.0/3, 1e-9))
	g.Expect(x[1]).To(BeNumerically("~", 5.0/3, 1e-9))
	// Row prices make both nodes exactly break even: 2y1+4y2 = 1, 4y1+2y2 = 1.5 -> y1=1/3, y2=1/12.
	g.Expect(y[0]).To(BeNumerically("~", 1.0/3, 1e-9))
	g.Expect(y[1]).To(BeNumerically("~", 1.0/12, 1e-9))

	// Only cpu needed: the cheaper per cpu wins outright (B: 0.375/cpu < A: 0.5/cpu).
	_, _, cost, err = coverMin([][]float64{{2, 4}}, []float64{10}, []float64{1, 1.5})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cost).To(BeNumerically("~", 3.75, 1e-9))

	// Nothing can cover the demand.
	_, _, _, err = coverMin([][]float64{{0, 0}}, []float64{1}, []float64{1, 1})
	g.Expect(err).To(MatchError(ContainSubstring("infeasible")))
}

// Weak duality on random instances: any feasible primal point costs at least the optimum, and
// the optimum's x is feasible with the reported cost.
func TestCoverMinRandomFeasibility(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		g := NewWithT(t)
		m, n := 1+rng.IntN(6), 1+rng.IntN(8)
		a := make([][]float64, m)
		for i := range a {
			a[i] = make([]float64, n)
			for j := range a[i] {
				if rng.IntN(3) > 0 {
					a[i][j] = float64(rng.IntN(10))
				}
			}
			a[i][rng.IntN(n)] += 1 // every row coverable
		}
		b := make([]float64, m)
		for i := range b {
			b[i] = float64(rng.IntN(50))
		}
		c := make([]float64, n)
		for j := range c {
			c[j] = float64(1 + rng.IntN(20))
		}
		x, _, cost, err := coverMin(a, b, c)
		g.Expect(err).NotTo(HaveOccurred())
		got := 0.0
		for j := range x {
			g.Expect(x[j]).To(BeNumerically(">=", -1e-9))
			got += c[j] * x[j]
		}
		g.Expect(got).To(BeNumerically("~", cost, 1e-6))
		for i := range a {
			lhs := 0.0
			for j := range x {
				lhs += a[i][j] * x[j]
			}
			g.Expect(lhs).To(BeNumerically(">=", b[i]-1e-6))
		}
		// A simple feasible point: cover each row alone with its best column, scaled up.
		naive := 0.0
		for i := range a {
			best := -1.0
			for j := range a[i] {
				if a[i][j] > 0 && (best < 0 || c[j]/a[i][j] < best) {
					best = c[j] / a[i][j]
				}
			}
			naive += best * b[i]
		}
		g.Expect(cost).To(BeNumerically("<=", naive+1e-6))
	}
}
