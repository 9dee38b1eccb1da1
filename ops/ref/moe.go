package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// MoERouting configures RouteTopK (TeleFuser's route_topk).
type MoERouting struct {
	TopK, Groups, TopKGroups int     // Groups 0 means 1, TopKGroups 0 means Groups
	RoutingScale             float64 // 0 means 1
}

func (c MoERouting) resolve(experts int) (MoERouting, error) {
	if c.Groups == 0 {
		c.Groups = 1
	}
	if c.TopKGroups == 0 {
		c.TopKGroups = c.Groups
	}
	if c.RoutingScale == 0 {
		c.RoutingScale = 1
	}
	if experts%c.Groups != 0 || c.TopKGroups < 1 || c.TopKGroups > c.Groups || c.TopK < 1 || c.TopK > c.TopKGroups*(experts/c.Groups) {
		return c, fmt.Errorf("ref.RouteTopK: %d experts, %d groups, top %d groups, top_k %d do not fit", experts, c.Groups, c.TopKGroups, c.TopK)
	}
	return c, nil
}

// dtypeEps is torch.finfo(dt).eps.
func dtypeEps(dt dtype.DType) float64 {
	switch dt {
	case dtype.BF16:
		return 0.0078125
	case dtype.F16:
		return 0.0009765625
	}
	return 1.1920928955078125e-07
}

// RouteTopK is TeleFuser's route_topk (LingBot's group-limited sigmoid
// router) for logits [T,E]: scores = sigmoid(logits) rounded to the
// logits' dtype; selection scores sel = scores + bias (bias [E] or nil,
// in f32); each of Groups groups of consecutive experts scores the sum of
// its top min(2, E/Groups) sel; the TopKGroups best groups stay and
// their TopK best experts by sel are chosen (ties: the lower index wins,
// groups and experts alike). weights = scores of the chosen experts
// divided by their sum (clamped below at the dtype's eps), times
// RoutingScale, each step rounded to the logits' dtype. It returns
// indices i32 [T,TopK] (best first) and weights f32 [T,TopK].
func RouteTopK(logits, bias *Tensor, c MoERouting) (indices, weights *Tensor, err error) {
	if len(logits.Shape) != 2 {
		return nil, nil, fmt.Errorf("ref.RouteTopK: logits %v, want [T,E]", logits.Shape)
	}
	T, E := logits.Shape[0], logits.Shape[1]
	if c, err = c.resolve(E); err != nil {
		return nil, nil, err
	}
	dt := logits.DType
	epg := E / c.Groups
	indices, weights = New(dtype.I32, T, c.TopK), New(dtype.F32, T, c.TopK)
	for t := 0; t < T; t++ {
		score := make([]float64, E)
		sel := make([]float64, E)
		for e := range score {
			score[e] = dtype.Round(dt, 1/(1+math.Exp(-logits.Data[t*E+e])))
			sel[e] = score[e]
			if bias != nil {
				sel[e] = float64(float32(score[e] + bias.Data[e]))
			}
		}
		gs := make([]float64, c.Groups)
		for g := range gs {
			a, b := math.Inf(-1), math.Inf(-1) // the two largest
			for _, v := range sel[g*epg : (g+1)*epg] {
				if v > a {
					a, b = v, a
				} else if v > b {
					b = v
				}
			}
			gs[g] = a
			if epg > 1 {
				gs[g] = float64(float32(a + b))
			}
		}
		keep := make([]bool, c.Groups)
		for i := 0; i < c.TopKGroups; i++ {
			best := -1
			for g, v := range gs {
				if !keep[g] && (best < 0 || v > gs[best]) {
					best = g
				}
			}
			keep[best] = true
		}
		taken := make([]bool, E)
		sum := 0.0
		for k := 0; k < c.TopK; k++ {
			best := -1
			for e, v := range sel {
				if keep[e/epg] && !taken[e] && (best < 0 || v > sel[best]) {
					best = e
				}
			}
			taken[best] = true
			indices.Data[t*c.TopK+k] = float64(best)
			weights.Data[t*c.TopK+k] = score[best]
			sum += score[best]
		}
		den := math.Max(dtype.Round(dt, sum), dtypeEps(dt))
		for k := 0; k < c.TopK; k++ {
			i := t*c.TopK + k
			weights.Data[i] = dtype.Round(dt, dtype.Round(dt, weights.Data[i]/den)*c.RoutingScale)
		}
	}
	return indices, weights, nil
}

// GroupedExpertForward is TeleFuser's grouped_expert_forward for tokens
// x [T,D], indices and weights [T,K], and expert weights w1, w3 [E,I,D]
// and w2 [E,D,I]: for each pair (t, k) whose weight is not 0, with e its
// expert, h = act(x_t @ w1[e]ᵀ) * (x_t @ w3[e]ᵀ) and o = h @ w2[e]ᵀ, every
// stored intermediate (the two products, the activation, h, o) rounded to
// x's dtype; y_t = Σ_k weight * o in float64, rounded to x's dtype. act is
// an Activation name ("silu" in TeleFuser).
func GroupedExpertForward(x, indices, weights, w1, w2, w3 *Tensor, act string) (*Tensor, error) {
	if len(x.Shape) != 2 || len(w1.Shape) != 3 || len(w2.Shape) != 3 || fmt.Sprint(w1.Shape) != fmt.Sprint(w3.Shape) {
		return nil, fmt.Errorf("ref.GroupedExpertForward: x %v, w1 %v, w2 %v, w3 %v", x.Shape, w1.Shape, w2.Shape, w3.Shape)
	}
	D := x.Shape[1]
	E, I := w1.Shape[0], w1.Shape[1]
	if w1.Shape[2] != D || w2.Shape[0] != E || w2.Shape[1] != D || w2.Shape[2] != I {
		return nil, fmt.Errorf("ref.GroupedExpertForward: expert shapes w1 %v, w2 %v for D=%d", w1.Shape, w2.Shape, D)
	}
	dt := x.DType
	g := New(dt, 1, I)
	u := New(dt, 1, I)
	return expertPairs("ref.GroupedExpertForward", x, indices, weights, E, func(t, e int, w float64, acc []float64) error {
		xr := x.Data[t*D : (t+1)*D]
		for i := 0; i < I; i++ {
			var sg, su float64
			for c, v := range xr {
				sg += v * w1.Data[(e*I+i)*D+c]
				su += v * w3.Data[(e*I+i)*D+c]
			}
			g.Data[i], u.Data[i] = dtype.Round(dt, sg), dtype.Round(dt, su)
		}
		a, err := Activation(g, act)
		if err != nil {
			return err
		}
		h := make([]float64, I)
		for i := range h {
			h[i] = dtype.Round(dt, a.Data[i]*u.Data[i])
		}
		for c := 0; c < D; c++ {
			s := 0.0
			for i, v := range h {
				s += v * w2.Data[(e*D+c)*I+i]
			}
			acc[c] += w * dtype.Round(dt, s)
		}
		return nil
	})
}

// expertPairs calls f for every pair (t, k) of indices and weights [T,K]
// whose weight is not 0, with its expert e (checked against E) and
// token t's row of float64 sums acc [D]; it returns y [T,D] in x's
// dtype, the sums rounded.
func expertPairs(name string, x, indices, weights *Tensor, E int, f func(t, e int, w float64, acc []float64) error) (*Tensor, error) {
	T, D := x.Shape[0], x.Shape[1]
	K := indices.Shape[1]
	y := New(x.DType, T, D)
	acc := make([]float64, D)
	for t := 0; t < T; t++ {
		clear(acc)
		for k := 0; k < K; k++ {
			w := weights.Data[t*K+k]
			if w == 0 {
				continue
			}
			e := int(indices.Data[t*K+k])
			if e < 0 || e >= E {
				return nil, fmt.Errorf("%s: expert index %d outside [0,%d)", name, e, E)
			}
			if err := f(t, e, w, acc); err != nil {
				return nil, err
			}
		}
		for c, v := range acc {
			y.Data[t*D+c] = dtype.Round(x.DType, v)
		}
	}
	return y, nil
}

// MoE is RouteTopK followed by GroupedExpertForward: the golden op moe.
func MoE(x, logits, bias, w1, w2, w3 *Tensor, c MoERouting, act string) (*Tensor, error) {
	idx, w, err := RouteTopK(logits, bias, c)
	if err != nil {
		return nil, err
	}
	return GroupedExpertForward(x, idx, w, w1, w2, w3, act)
}
