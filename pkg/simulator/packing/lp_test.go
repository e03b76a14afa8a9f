package packing

import (
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
)

func denseToSparse(a [][]float64, b, c []float64) *sparseLP {
	p := &sparseLP{}
	for i := range a {
		p.addRow(true, b[i])
	}
	for j := range c {
		col := p.addCol(c[j])
		for i := range a {
			p.set(i, col, a[i][j])
		}
	}
	return p
}

func TestSparseLPHandWorked(t *testing.T) {
	g := NewWithT(t)
	// The covering case of TestCoverMinHandWorked: cost 25/6 with x = (5/3, 5/3).
	x, y, obj, err := denseToSparse([][]float64{{2, 4}, {4, 2}}, []float64{10, 10}, []float64{1, 1.5}).solve()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(obj).To(BeNumerically("~", 25.0/6, 1e-9))
	g.Expect(x[0]).To(BeNumerically("~", 5.0/3, 1e-9))
	g.Expect(x[1]).To(BeNumerically("~", 5.0/3, 1e-9))
	g.Expect(y[0]).To(BeNumerically("~", 1.0/3, 1e-9))
	g.Expect(y[1]).To(BeNumerically("~", 1.0/12, 1e-9))

	// Mixed senses: min x + y s.t. x + y >= 2, x <= 0.5, y - x >= -10 (rhs < 0) -> 2.
	p := &sparseLP{}
	r0, r1, r2 := p.addRow(true, 2), p.addRow(false, 0.5), p.addRow(true, -10)
	cx, cy := p.addCol(1), p.addCol(1)
	p.set(r0, cx, 1)
	p.set(r0, cy, 1)
	p.set(r1, cx, 1)
	p.set(r2, cy, 1)
	p.set(r2, cx, -1)
	_, _, obj, err = p.solve()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(obj).To(BeNumerically("~", 2, 1e-9))

	// Infeasible: x >= 2 and x <= 1.
	p = &sparseLP{}
	r0, r1 = p.addRow(true, 2), p.addRow(false, 1)
	cx = p.addCol(1)
	p.set(r0, cx, 1)
	p.set(r1, cx, 1)
	_, _, _, err = p.solve()
	g.Expect(err).To(MatchError(errInfeasible))
}

// The revised simplex agrees with the dense one on random covering problems, and its duals
// prove optimality (b·y equals the cost).
func TestSparseLPMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		g := NewWithT(t)
		m, n := 1+rng.IntN(12), 1+rng.IntN(20)
		a := make([][]float64, m)
		for i := range a {
			a[i] = make([]float64, n)
			for j := range a[i] {
				if rng.IntN(3) == 0 {
					a[i][j] = float64(rng.IntN(10))
				}
			}
			a[i][rng.IntN(n)] += 1
		}
		b := make([]float64, m)
		for i := range b {
			b[i] = float64(rng.IntN(50))
		}
		c := make([]float64, n)
		for j := range c {
			c[j] = float64(rng.IntN(20)) // zero costs too
		}
		_, _, want, err := coverMin(a, b, c)
		g.Expect(err).NotTo(HaveOccurred())
		x, y, got, err := denseToSparse(a, b, c).solve()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(BeNumerically("~", want, 1e-6*(1+want)))
		by := 0.0
		for i := range b {
			g.Expect(y[i]).To(BeNumerically(">=", -1e-9))
			by += b[i] * y[i]
			lhs := 0.0
			for j := range x {
				lhs += a[i][j] * x[j]
			}
			g.Expect(lhs).To(BeNumerically(">=", b[i]-1e-6))
		}
		g.Expect(by).To(BeNumerically("~", got, 1e-6*(1+got)))
	}
}
