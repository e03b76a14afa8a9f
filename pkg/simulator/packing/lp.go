package packing

import (
	"errors"
	"fmt"
	"math"
)

// sparseLP is a linear program "minimise c·x subject to rows (>= or <=) and x >= 0" with
// sparse columns, solved by a two-phase revised simplex with an explicit basis inverse. Its
// cost grows with the number of rows squared and the number of non-zeros, not with the
// number of columns squared, which is what the covering LP needs: few rows (shapes,
// templates x dimensions, nodes x dimensions) and many sparse columns (shape x target).
type sparseLP struct {
	cols [][]lpEntry
	cost []float64
	rhs  []float64
	ge   []bool
	// stop, when set, is asked every few pivots; true abandons the solve with ErrStopped.
	stop func() bool
}

// ErrStopped: the solve was abandoned because the packer ran out of time.
var ErrStopped = errors.New("lp solve stopped: out of time")

// maxDenseRows bounds the rows of an LP solve: the explicit basis inverse takes rows² floats
// (50 MB at 2500) and each pivot rows² time. A bigger LP (one row per anti-affinity class and
// offering, say) is refused with errLPTooLarge; every caller has a plan without LP prices.
const maxDenseRows = 2500

var errLPTooLarge = errors.New("lp too large for the dense simplex")

type lpEntry struct {
	row int
	val float64
}

var (
	errInfeasible = errors.New("linear program is infeasible")
	errUnbounded  = errors.New("linear program is unbounded")
)

// Eps is the tolerance below which LP values count as zero.
const Eps = 1e-9

const lpEps = Eps

func (p *sparseLP) addRow(ge bool, rhs float64) int {
	p.rhs = append(p.rhs, rhs)
	p.ge = append(p.ge, ge)
	return len(p.rhs) - 1
}

func (p *sparseLP) addCol(cost float64) int {
	p.cols = append(p.cols, nil)
	p.cost = append(p.cost, cost)
	return len(p.cols) - 1
}

func (p *sparseLP) set(row, col int, v float64) {
	if v != 0 {
		p.cols[col] = append(p.cols[col], lpEntry{row, v})
	}
}

// solve returns the optimal x, the row duals y (for a ">=" row of a minimisation, y >= 0 is
// what one more unit of its right-hand side would cost) and the optimal objective.
func (p *sparseLP) solve() (x, y []float64, obj float64, err error) {
	m, n := len(p.rhs), len(p.cols)
	if m == 0 {
		return make([]float64, n), nil, 0, nil
	}
	if m > maxDenseRows {
		return nil, nil, 0, fmt.Errorf("%w: %d rows, at most %d", errLPTooLarge, m, maxDenseRows)
	}
	if p.stop != nil && p.stop() {
		return nil, nil, 0, ErrStopped
	}
	// Flip rows so every right-hand side is >= 0 and every ">=" row has a positive one; a ">="
	// row gets a surplus and an artificial, a "<=" row a slack that starts in the basis.
	sign := make([]float64, m)
	geFlipped := make([]bool, m)
	rhs := make([]float64, m)
	for i := range p.rhs {
		sign[i] = 1
		geFlipped[i] = p.ge[i]
		// ">= 0" rows flip too, into "<= 0", so their slack can start in the basis.
		if p.rhs[i] < 0 || (p.ge[i] && p.rhs[i] == 0) {
			sign[i] = -1
			geFlipped[i] = !p.ge[i]
		}
		rhs[i] = sign[i] * p.rhs[i]
	}
	// Column layout: structural 0..n-1, then one slack/surplus per row, then artificials.
	cols := make([][]lpEntry, 0, n+2*m)
	for j := 0; j < n; j++ {
		c := make([]lpEntry, len(p.cols[j]))
		for k, e := range p.cols[j] {
			c[k] = lpEntry{e.row, sign[e.row] * e.val}
		}
		cols = append(cols, c)
	}
	basis := make([]int, m)
	for i := 0; i < m; i++ {
		v := 1.0
		if geFlipped[i] {
			v = -1
		}
		cols = append(cols, []lpEntry{{i, v}})
		basis[i] = n + i
	}
	firstArt := len(cols)
	for i := 0; i < m; i++ {
		if geFlipped[i] {
			basis[i] = len(cols)
			cols = append(cols, []lpEntry{{i, 1}})
		}
	}
	total := len(cols)
	s := &simplex{m: m, cols: cols, basis: basis, rhs: rhs, pos: make([]int, total), stop: p.stop}
	s.binv = make([]float64, m*m)
	for i := 0; i < m; i++ {
		s.binv[i*m+i] = 1
	}
	s.xb = append([]float64(nil), rhs...)
	for j := range s.pos {
		s.pos[j] = -1
	}
	for i, j := range basis {
		s.pos[j] = i
	}

	if firstArt < total {
		phase1 := make([]float64, total)
		for j := firstArt; j < total; j++ {
			phase1[j] = 1
		}
		if err := s.run(phase1, total); err != nil {
			return nil, nil, 0, err
		}
		infeas := 0.0
		for i, j := range s.basis {
			if j >= firstArt {
				infeas += s.xb[i]
			}
		}
		if infeas > 1e-7*(1+maxAbs(rhs)) {
			return nil, nil, 0, errInfeasible
		}
		s.driveOutArtificials(firstArt)
	}
	cost := make([]float64, total)
	copy(cost, p.cost)
	if err := s.run(cost, firstArt); err != nil {
		return nil, nil, 0, err
	}
	x = make([]float64, n)
	for i, j := range s.basis {
		if j < n {
			x[j] = max(s.xb[i], 0)
		}
	}
	yf := s.duals(cost)
	y = make([]float64, m)
	for i := range y {
		y[i] = sign[i] * yf[i]
	}
	for j := 0; j < n; j++ {
		obj += p.cost[j] * x[j]
	}
	return x, y, obj, nil
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

type simplex struct {
	m     int
	stop  func() bool
	cols  [][]lpEntry
	basis []int
	pos   []int // column -> basis row, or -1
	binv  []float64
	xb    []float64
	rhs   []float64
	// priceFrom is where the next partial pricing scan starts.
	priceFrom int
	// nz is scratch for the nonzero positions of the pivot row.
	nz []int
}

const refactorEvery = 64

// run iterates until no column among the first `enterable` has a negative reduced cost.
func (s *simplex) run(cost []float64, enterable int) error {
	m := s.m
	u := make([]float64, m)
	maxIter := 50 * (m + len(s.cols) + 10)
	bland := false
	var y []float64
	for iter := 0; ; iter++ {
		if s.stop != nil && iter%32 == 0 && s.stop() {
			return ErrStopped
		}
		if iter > maxIter {
			return fmt.Errorf("simplex did not converge in %d iterations", maxIter)
		}
		if iter > 5*(m+10)+len(s.cols) {
			bland = true // long runs mean degenerate cycling; Bland's rule terminates
		}
		if iter > 0 && iter%max(refactorEvery, m) == 0 {
			// Rebuilding B^-1 costs m^3, so every m pivots keeps it at m^2 a pivot.
			if err := s.refactor(); err != nil {
				return err
			}
			y = nil
		}
		if y == nil {
			y = s.duals(cost)
		}
		// Partial pricing: scan from where the last scan stopped and take the best column of
		// the first window that has an improving one; only a full scan without one proves
		// optimality. Bland's rule scans from the start and takes the first.
		enter, best := -1, -1e-9
		window := max(256, enterable/8)
		start := s.priceFrom % max(enterable, 1)
		if bland {
			start = 0
		}
		for k := 0; k < enterable; k++ {
			j := start + k
			if j >= enterable {
				j -= enterable
			}
			if s.pos[j] < 0 {
				d := cost[j]
				for _, e := range s.cols[j] {
					d -= y[e.row] * e.val
				}
				if d < best {
					enter, best = j, d
					if bland {
						break
					}
				}
			}
			if enter >= 0 && !bland && k+1 >= window {
				s.priceFrom = j + 1
				break
			}
		}
		if enter < 0 {
			return nil
		}
		s.column(enter, u)
		leave := -1
		ratio := math.Inf(1)
		for i := 0; i < m; i++ {
			if u[i] > 1e-9 {
				q := max(s.xb[i], 0) / u[i]
				if q < ratio-1e-12 || (q <= ratio+1e-12 && leave >= 0 && s.basis[i] < s.basis[leave]) {
					ratio, leave = q, i
				}
			}
		}
		if leave < 0 {
			return errUnbounded
		}
		s.pivot(leave, enter, u)
		// The new duals differ from the old by the entering reduced cost times the new pivot
		// row of B^-1: an O(m) update instead of recomputing c_B B^-1.
		prow := s.binv[leave*m : (leave+1)*m]
		for i := range y {
			y[i] += best * prow[i]
		}
	}
}

// duals is c_B · B^-1.
func (s *simplex) duals(cost []float64) []float64 {
	m := s.m
	y := make([]float64, m)
	for k, j := range s.basis {
		c := cost[j]
		if c == 0 {
			continue
		}
		row := s.binv[k*m : (k+1)*m]
		for i := range y {
			y[i] += c * row[i]
		}
	}
	return y
}

// column computes u = B^-1 A_j.
func (s *simplex) column(j int, u []float64) {
	m := s.m
	clear(u)
	for _, e := range s.cols[j] {
		for k := 0; k < m; k++ {
			u[k] += s.binv[k*m+e.row] * e.val
		}
	}
}

func (s *simplex) pivot(r, enter int, u []float64) {
	m := s.m
	theta := s.xb[r] / u[r]
	for k := 0; k < m; k++ {
		if k != r {
			s.xb[k] -= theta * u[k]
		}
	}
	s.xb[r] = theta
	prow := s.binv[r*m : (r+1)*m]
	inv := 1 / u[r]
	nz := s.nz[:0]
	for i := range prow {
		if prow[i] != 0 {
			prow[i] *= inv
			nz = append(nz, i)
		}
	}
	s.nz = nz
	// The inverse of a covering LP's basis stays mostly zeros: updating only the pivot row's
	// nonzero positions turns the O(m^2) update into O(m * nnz).
	sparse := len(nz) < m/3
	for k := 0; k < m; k++ {
		if k == r || u[k] == 0 {
			continue
		}
		f := u[k]
		row := s.binv[k*m : (k+1)*m]
		if sparse {
			for _, i := range nz {
				row[i] -= f * prow[i]
			}
			continue
		}
		for i := range row {
			row[i] -= f * prow[i]
		}
	}
	s.pos[s.basis[r]] = -1
	s.basis[r] = enter
	s.pos[enter] = r
}

// driveOutArtificials pivots artificials that are still basic (at zero) out of the basis where
// some real column can replace them; a row where none can is redundant and keeps its
// artificial at zero for good.
func (s *simplex) driveOutArtificials(firstArt int) {
	u := make([]float64, s.m)
	for r := 0; r < s.m; r++ {
		if s.basis[r] < firstArt {
			continue
		}
		for j := 0; j < firstArt; j++ {
			if s.pos[j] >= 0 {
				continue
			}
			s.column(j, u)
			if math.Abs(u[r]) > 1e-7 {
				s.pivot(r, j, u)
				break
			}
		}
	}
}

// refactor recomputes B^-1 from the basis columns (Gauss-Jordan with partial pivoting) and
// the basic values from it, to stop rounding errors from piling up.
func (s *simplex) refactor() error {
	m := s.m
	a := make([]float64, m*m)
	for k, j := range s.basis {
		for _, e := range s.cols[j] {
			a[e.row*m+k] = e.val
		}
	}
	inv := make([]float64, m*m)
	for i := 0; i < m; i++ {
		inv[i*m+i] = 1
	}
	for c := 0; c < m; c++ {
		p := c
		for r := c + 1; r < m; r++ {
			if math.Abs(a[r*m+c]) > math.Abs(a[p*m+c]) {
				p = r
			}
		}
		if math.Abs(a[p*m+c]) < 1e-12 {
			return fmt.Errorf("simplex basis became singular")
		}
		if p != c {
			for i := 0; i < m; i++ {
				a[p*m+i], a[c*m+i] = a[c*m+i], a[p*m+i]
				inv[p*m+i], inv[c*m+i] = inv[c*m+i], inv[p*m+i]
			}
		}
		f := 1 / a[c*m+c]
		for i := 0; i < m; i++ {
			a[c*m+i] *= f
			inv[c*m+i] *= f
		}
		for r := 0; r < m; r++ {
			if r == c || a[r*m+c] == 0 {
				continue
			}
			g := a[r*m+c]
			for i := 0; i < m; i++ {
				a[r*m+i] -= g * a[c*m+i]
				inv[r*m+i] -= g * inv[c*m+i]
			}
		}
	}
	// B was assembled with basis position k as column k, so inv maps rows to positions.
	s.binv = inv
	for k := 0; k < m; k++ {
		v := 0.0
		for i := 0; i < m; i++ {
			v += inv[k*m+i] * s.rhs[i]
		}
		s.xb[k] = v
	}
	return nil
}
