package analysis

import (
	"math"
	"slices"
)

// line is y = a + b·x.
type line struct{ a, b float64 }

// fitLine is the ordinary least-squares line through the points; ok is
// false when the xs do not vary.
func fitLine(xs, ys []float64) (line, bool) {
	if len(xs) < 2 {
		return line{}, false
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	n := float64(len(xs))
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		dx := xs[i] - mx
		sxx += dx * dx
		sxy += dx * (ys[i] - my)
	}
	if sxx == 0 {
		return line{}, false
	}
	b := sxy / sxx
	return line{my - b*mx, b}, true
}

// sse is the sum of squared residuals.
func (l line) sse(xs, ys []float64) float64 {
	var s float64
	for i := range xs {
		r := ys[i] - l.a - l.b*xs[i]
		s += r * r
	}
	return s
}

// hinge is the continuous two-segment line y = a + b·x + c·max(0, x-k):
// slope b before the breakpoint k, b+c after it.
type hinge struct{ a, b, c, k float64 }

// fitHinge fits a hinge with its breakpoint fixed at k by least squares on
// the basis (1, x, max(0, x-k)); ok is false when the system is singular.
func fitHinge(xs, ys []float64, k float64) (hinge, bool) {
	var m [3][4]float64 // normal equations, augmented
	for i := range xs {
		row := [3]float64{1, xs[i], math.Max(0, xs[i]-k)}
		for r := range 3 {
			for c := range 3 {
				m[r][c] += row[r] * row[c]
			}
			m[r][3] += row[r] * ys[i]
		}
	}
	sol, ok := solve3(m)
	if !ok {
		return hinge{}, false
	}
	return hinge{sol[0], sol[1], sol[2], k}, true
}

func (h hinge) at(x float64) float64 { return h.a + h.b*x + h.c*math.Max(0, x-h.k) }

func (h hinge) sse(xs, ys []float64) float64 {
	var s float64
	for i := range xs {
		r := ys[i] - h.at(xs[i])
		s += r * r
	}
	return s
}

// solve3 solves a 3×3 linear system by Gaussian elimination with partial
// pivoting.
func solve3(m [3][4]float64) ([3]float64, bool) {
	scale := 0.0
	for r := range 3 {
		for c := range 3 {
			scale = math.Max(scale, math.Abs(m[r][c]))
		}
	}
	for col := range 3 {
		pivot := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[pivot][col]) {
				pivot = r
			}
		}
		if math.Abs(m[pivot][col]) <= 1e-12*scale {
			return [3]float64{}, false
		}
		m[col], m[pivot] = m[pivot], m[col]
		for r := col + 1; r < 3; r++ {
			f := m[r][col] / m[col][col]
			for c := col; c < 4; c++ {
				m[r][c] -= f * m[col][c]
			}
		}
	}
	var x [3]float64
	for r := 2; r >= 0; r-- {
		s := m[r][3]
		for c := r + 1; c < 3; c++ {
			s -= m[r][c] * x[c]
		}
		x[r] = s / m[r][r]
	}
	return x, true
}

// median of the values; 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
