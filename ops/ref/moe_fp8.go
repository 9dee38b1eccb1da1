package ref

import (
	"fmt"

	"github.com/webfuser/webfuser/internal/dtype"
)

// QuantizeExpertsFP8 quantises expert weights w [E,N,K] to E4M3 per output
// channel (QuantizeFP8 per row of the [E*N, K] view). It returns q
// fp8_e4m3 [E,N,K] (decoded values) and scale f32 [E,N].
func QuantizeExpertsFP8(w *Tensor) (q, scale *Tensor, err error) {
	if len(w.Shape) != 3 {
		return nil, nil, fmt.Errorf("ref.QuantizeExpertsFP8: w %v, want [E,N,K]", w.Shape)
	}
	rows := &Tensor{DType: w.DType, Shape: []int{w.Shape[0] * w.Shape[1], w.Shape[2]}, Data: w.Data}
	q, scale, err = QuantizeFP8(rows, false, dtype.FP8E4M3)
	if err != nil {
		return nil, nil, err
	}
	q.Shape, scale.Shape = append([]int(nil), w.Shape...), []int{w.Shape[0], w.Shape[1]}
	return q, scale, nil
}

// GroupedExpertForwardFP8 is TeleFuser's fp8_expert_forward for tokens x
// [T,D], indices and weights [T,K], and E4M3 experts w1, w3 [E,I,D] with
// scales s1, s3 [E,I] and w2 [E,D,I] with s2 [E,D] (QuantizeExpertsFP8):
// for each pair (t, k) whose weight is not 0, with e its expert, x_t is
// quantised to E4M3 per row (QuantizeFP8), gate = bf16(Σ x_q w1[e] * s_x
// * s1[e]) and up likewise with w3, h = bf16(bf16(act(gate)) * up), h is
// quantised per row, and o = bf16(Σ h_q w2[e] * s_h * s2[e]) rounded to
// x's dtype, sums in float64; y_t = Σ_k weight * o, rounded to x's dtype.
func GroupedExpertForwardFP8(x, indices, weights, w1, w2, w3, s1, s2, s3 *Tensor, act string) (*Tensor, error) {
	if len(x.Shape) != 2 || len(w1.Shape) != 3 || len(w2.Shape) != 3 || fmt.Sprint(w1.Shape) != fmt.Sprint(w3.Shape) {
		return nil, fmt.Errorf("ref.GroupedExpertForwardFP8: x %v, w1 %v, w2 %v, w3 %v", x.Shape, w1.Shape, w2.Shape, w3.Shape)
	}
	D := x.Shape[1]
	E, I := w1.Shape[0], w1.Shape[1]
	if w1.Shape[2] != D || w2.Shape[0] != E || w2.Shape[1] != D || w2.Shape[2] != I ||
		s1.Numel() != E*I || s3.Numel() != E*I || s2.Numel() != E*D {
		return nil, fmt.Errorf("ref.GroupedExpertForwardFP8: shapes w1 %v, w2 %v, s1 %v, s2 %v, s3 %v for D=%d",
			w1.Shape, w2.Shape, s1.Shape, s2.Shape, s3.Shape, D)
	}
	f, err := ActivationFn(act)
	if err != nil {
		return nil, err
	}
	bf := func(v float64) float64 { return dtype.Round(dtype.BF16, v) }
	xq, sx, err := QuantizeFP8(x, false, dtype.FP8E4M3)
	if err != nil {
		return nil, err
	}
	dt := x.DType
	h := New(dtype.F32, 1, I)
	return expertPairs("ref.GroupedExpertForwardFP8", x, indices, weights, E, func(t, e int, w float64, acc []float64) error {
		xr := xq.Data[t*D : (t+1)*D]
		for i := 0; i < I; i++ {
			var sg, su float64
			for c, v := range xr {
				sg += v * w1.Data[(e*I+i)*D+c]
				su += v * w3.Data[(e*I+i)*D+c]
			}
			g := bf(sg * sx.Data[t] * s1.Data[e*I+i])
			u := bf(su * sx.Data[t] * s3.Data[e*I+i])
			h.Data[i] = bf(bf(f(g)) * u)
		}
		hq, sh, err := QuantizeFP8(h, false, dtype.FP8E4M3)
		if err != nil {
			return err
		}
		for c := 0; c < D; c++ {
			s := 0.0
			for i, v := range hq.Data {
				s += v * w2.Data[(e*D+c)*I+i]
			}
			acc[c] += w * dtype.Round(dt, bf(s*sh.Data[0]*s2.Data[e*D+c]))
		}
		return nil
	})
}

// MoEFP8 is RouteTopK followed by GroupedExpertForwardFP8: the golden op moe_fp8.
func MoEFP8(x, logits, bias, w1, w2, w3, s1, s2, s3 *Tensor, c MoERouting, act string) (*Tensor, error) {
	idx, w, err := RouteTopK(logits, bias, c)
	if err != nil {
		return nil, err
	}
	return GroupedExpertForwardFP8(x, idx, w, w1, w2, w3, s1, s2, s3, act)
}
