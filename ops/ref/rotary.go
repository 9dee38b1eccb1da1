package ref

import (
	"fmt"
)

// Rotary applies rotary embedding to x [B,S,H,D] with cos/sin tables
// [S, D/2] or full width [S, D] (see ops.ApplyRotaryEmb for the column
// each pair reads), in float64, rounded to x's dtype.
func Rotary(x, cos, sin *Tensor, interleaved bool) (*Tensor, error) {
	if len(x.Shape) != 4 || x.Shape[3]%2 != 0 {
		return nil, fmt.Errorf("ref.Rotary: x %v, want [B,S,H,D] with D even", x.Shape)
	}
	B, S, H, D := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	w := cos.Shape[len(cos.Shape)-1]
	if (w != D/2 && w != D) || cos.Numel() != S*w || sin.Numel() != S*w {
		return nil, fmt.Errorf("ref.Rotary: tables %v %v do not match x %v", cos.Shape, sin.Shape, x.Shape)
	}
	ce := 1
	if w == D && interleaved {
		ce = 2
	}
	y := New(x.DType, x.Shape...)
	for b := 0; b < B; b++ {
		for s := 0; s < S; s++ {
			for h := 0; h < H; h++ {
				base := ((b*S+s)*H + h) * D
				for i := 0; i < D/2; i++ {
					c, sn := cos.Data[s*w+i*ce], sin.Data[s*w+i*ce]
					i0, i1 := base+2*i, base+2*i+1
					if !interleaved {
						i0, i1 = base+i, base+i+D/2
					}
					x0, x1 := x.Data[i0], x.Data[i1]
					y.Data[i0] = x0*c - x1*sn
					y.Data[i1] = x0*sn + x1*c
				}
			}
		}
	}
	return y.Round(x.DType), nil
}
