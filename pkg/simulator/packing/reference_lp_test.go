package packing

import (
	"errors"
	"fmt"
	"math"
)

// A small dense tableau simplex: the reference the revised simplex (revised.go) is checked
// against in tests. It needs a starting basis of slacks, which covering LPs always have once
// dualised.

// simplexMax maximises c·x subject to A x <= b, x >= 0, for b >= 0. It returns the optimal x,
// the optimal duals y (one per row; y >= 0 and Aᵀy >= c) and the objective value.
func simplexMax(a [][]float64, b, c []float64) (x, y []float64, obj float64, err error) {
	m, n := len(a), len(c)
	for i := range a {
		if len(a[i]) != n {
			return nil, nil, 0, fmt.Errorf("row %d has %d columns, want %d", i, len(a[i]), n)
		}
		if b[i] < 0 {
			return nil, nil, 0, fmt.Errorf("row %d has a negative bound %g", i, b[i])
		}
	}
	// Tableau rows 0..m-1 are constraints, row m the objective; columns 0..n-1 the variables,
	// n..n+m-1 the slacks, n+m the right-hand side.
	w := n + m + 1
	t := make([]float64, (m+1)*w)
	row := func(i int) []float64 { return t[i*w : (i+1)*w] }
	for i := 0; i < m; i++ {
		r := row(i)
		copy(r, a[i])
		r[n+i] = 1
		r[w-1] = b[i]
	}
	objRow := row(m)
	for j := 0; j < n; j++ {
		objRow[j] = -c[j]
	}
	basis := make([]int, m)
	for i := range basis {
		basis[i] = n + i
	}

	maxIter := 50 * (m + n + 10)
	bland := false
	for iter := 0; ; iter++ {
		if iter > maxIter {
			return nil, nil, 0, fmt.Errorf("simplex did not converge in %d iterations", maxIter)
		}
		if iter > 10*(m+n+10) {
			// Long runs mean degenerate cycling; Bland's rule is slower but terminates.
			bland = true
		}
		enter := -1
		best := -lpEps
		for j := 0; j < n+m; j++ {
			if objRow[j] < best {
				enter = j
				if bland {
					break
				}
				best = objRow[j]
			}
		}
		if enter < 0 {
			break
		}
		leave := -1
		ratio := math.Inf(1)
		for i := 0; i < m; i++ {
			r := row(i)
			if r[enter] > lpEps {
				q := r[w-1] / r[enter]
				if q < ratio-lpEps || (math.Abs(q-ratio) <= lpEps && leave >= 0 && basis[i] < basis[leave]) {
					ratio, leave = q, i
				}
			}
		}
		if leave < 0 {
			return nil, nil, 0, errUnbounded
		}
		pivot(t, w, m, leave, enter)
		basis[leave] = enter
	}
	x = make([]float64, n)
	for i, j := range basis {
		if j < n {
			x[j] = row(i)[w-1]
		}
	}
	y = make([]float64, m)
	for i := 0; i < m; i++ {
		y[i] = objRow[n+i]
	}
	return x, y, objRow[w-1], nil
}

func pivot(t []float64, w, m, pr, pc int) {
	prow := t[pr*w : (pr+1)*w]
	inv := 1 / prow[pc]
	for j := range prow {
		prow[j] *= inv
	}
	prow[pc] = 1
	for i := 0; i <= m; i++ {
		if i == pr {
			continue
		}
		r := t[i*w : (i+1)*w]
		f := r[pc]
		if f == 0 {
			continue
		}
		for j := range r {
			r[j] -= f * prow[j]
		}
		r[pc] = 0
	}
}

// coverMin minimises c·x subject to A x >= b, x >= 0, for c >= 0 (costs), by solving its dual
// max b·y s.t. Aᵀy <= c, y >= 0, whose all-zero start is feasible because c >= 0. It returns
// the primal optimum x, the row prices y (what one more unit of each row's demand would cost)
// and the optimal cost.
func coverMin(a [][]float64, b, c []float64) (x, y []float64, cost float64, err error) {
	m := len(a)
	n := len(c)
	for j, cj := range c {
		if cj < 0 {
			return nil, nil, 0, fmt.Errorf("cost of column %d is negative (%g)", j, cj)
		}
	}
	at := make([][]float64, n)
	for j := 0; j < n; j++ {
		at[j] = make([]float64, m)
		for i := 0; i < m; i++ {
			at[j][i] = a[i][j]
		}
	}
	y, x, cost, err = simplexMax(at, c, b)
	if errors.Is(err, errUnbounded) {
		return nil, nil, 0, fmt.Errorf("covering problem is infeasible: %w", err)
	}
	return x, y, cost, err
}
