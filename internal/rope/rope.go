// Package rope builds rotary-embedding tables on the host: the Wan-style
// 3-D cos and sin tables that the rotary operator uploads and its
// float64 reference reads.
package rope

import (
	"math"

	"github.com/webfuser/webfuser/internal/host"
)

// Tables3D returns Wan-style cos and sin tables [F*H*W, D/2] in
// f32 for a frames x height x width grid: the D/2 pairs split into
// c-2(c/3), c/3, c/3 parts (c = D/2) indexed by frame, row and column;
// pair j of a part of p pairs has frequency theta^(-j/p).
func Tables3D(frames, height, width, headDim int, theta float64) (cos, sin *host.Tensor) {
	c := headDim / 2
	parts := []int{c - 2*(c/3), c / 3, c / 3}
	n := frames * height * width
	cos, sin = host.New(0, n, c), host.New(0, n, c)
	for f := 0; f < frames; f++ {
		for h := 0; h < height; h++ {
			for w := 0; w < width; w++ {
				t := (f*height+h)*width + w
				pos := []int{f, h, w}
				col := 0
				for k, p := range parts {
					for j := 0; j < p; j++ {
						a := float64(pos[k]) * math.Pow(theta, -float64(2*j)/float64(2*p))
						cos.Data[t*c+col] = float64(float32(math.Cos(a)))
						sin.Data[t*c+col] = float64(float32(math.Sin(a)))
						col++
					}
				}
			}
		}
	}
	return cos, sin
}
