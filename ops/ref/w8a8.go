package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// QuantizeInt8Rows is ops.QuantizeInt8 (and the per-token activation
// quantisation of ops.LinearW8A8): x [..., K] is quantised row by row,
// symmetric, with scale = max|row| / 127 and code = round(v / scale)
// half to even, clamped to [-127, 127] (0 where the scale is 0). The
// scale and the quotient are each one f32 operation, as in the kernels
// and in SmoothQuant's quantize_*_absmax (torch's div_ and round_, which
// rounds half to even). It returns the codes as float64 values in x's
// shape (dtype U8 marks them codes) and the f32 scales [rows].
func QuantizeInt8Rows(x *Tensor) (codes, scale *Tensor, err error) {
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] == 0 {
		return nil, nil, fmt.Errorf("ref.QuantizeInt8Rows: x %v needs a non-empty last dimension", x.Shape)
	}
	k := x.Shape[len(x.Shape)-1]
	rows := len(x.Data) / k
	codes, scale = New(dtype.U8, x.Shape...), New(dtype.F32, rows)
	for r := 0; r < rows; r++ {
		m := 0.0
		for _, v := range x.Data[r*k : (r+1)*k] {
			m = math.Max(m, math.Abs(v))
		}
		s := float32(m) / 127
		scale.Data[r] = float64(s)
		for c := 0; c < k; c++ {
			if s == 0 {
				continue
			}
			q := math.RoundToEven(float64(float32(x.Data[r*k+c]) / s))
			codes.Data[r*k+c] = math.Max(-127, math.Min(127, q))
		}
	}
	return codes, scale, nil
}

// LinearW8A8 is ops.LinearW8A8 in float64: x [..., K] is quantised per
// token (QuantizeInt8Rows), multiplied by the weight codes wq [N, K]
// with exact integer sums, and dequantised: y = acc * sx[row] * sw[n]
// (+ bias[n]), rounded to x's dtype [..., N]. The sums are exact and the
// rest is float64, so the kernels differ from it only by their f32
// epilogue.
func LinearW8A8(x, wq, wscale, bias *Tensor) (*Tensor, error) {
	if len(wq.Shape) != 2 || len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != wq.Shape[1] {
		return nil, fmt.Errorf("ref.LinearW8A8: x %v and wq %v do not match [..., K] and [N, K]", x.Shape, wq.Shape)
	}
	n, k := wq.Shape[0], wq.Shape[1]
	if len(wscale.Data) != n || (bias != nil && len(bias.Data) != n) {
		return nil, fmt.Errorf("ref.LinearW8A8: wscale %v and bias must have N=%d elements", wscale.Shape, n)
	}
	xq, sx, err := QuantizeInt8Rows(x)
	if err != nil {
		return nil, err
	}
	rows := len(x.Data) / k
	shape := append(append([]int{}, x.Shape[:len(x.Shape)-1]...), n)
	y := New(x.DType, shape...)
	for r := 0; r < rows; r++ {
		for j := 0; j < n; j++ {
			var acc int64
			for c := 0; c < k; c++ {
				acc += int64(xq.Data[r*k+c]) * int64(wq.Data[j*k+c])
			}
			v := float64(acc) * sx.Data[r] * wscale.Data[j]
			if bias != nil {
				v += bias.Data[j]
			}
			y.Data[r*n+j] = dtype.Round(x.DType, v)
		}
	}
	return y, nil
}

// LinearW8A8Act is ops.LinearW8A8Act: act(LinearW8A8(...)), the linear
// output rounded to x's dtype before the activation (as LinearAct).
func LinearW8A8Act(x, wq, wscale, bias *Tensor, act string) (*Tensor, error) {
	h, err := LinearW8A8(x, wq, wscale, bias)
	if err != nil {
		return nil, err
	}
	return Activation(h, act)
}

// LinearW8A8GateResidual is ops.LinearW8A8GateResidual: residual + gate *
// LinearW8A8(...), with GateResidual's roundings and broadcasts.
func LinearW8A8GateResidual(x, wq, wscale, bias, gate, residual *Tensor) (*Tensor, error) {
	h, err := LinearW8A8(x, wq, wscale, bias)
	if err != nil {
		return nil, err
	}
	return GateResidual(h, gate, residual)
}

// W8A8Linear is ops.LinearInt8's forward from a float weight w [N, K]:
// w quantised per output channel (QuantizeInt8Rows), then LinearW8A8.
func W8A8Linear(x, w, bias *Tensor) (*Tensor, error) {
	wq, ws, err := QuantizeInt8Rows(w)
	if err != nil {
		return nil, err
	}
	return LinearW8A8(x, wq, ws, bias)
}
