package ops

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// meanRows is how many rows of the sequence one invocation of
// quant_int8_mean_part sums: at L=4096 the first pass has 64 invocations
// per (b, h, d) column where one serial invocation per column (3072 at
// H=24, D=128) left the H200 idle (0.5 ms in f32, 1.4 ms in bf16).
const meanRows = 64

// sequenceMean returns the mean over the sequence of every (b, h, d)
// column of x (element (b, l, h, d) at b*sb + h*sh + l*sl + d), rounded
// to x's dtype, as f32 [B*H*D]. Two passes, both compensated (Kahan):
// partial sums of meanRows rows with their compensation terms, then one
// invocation per column adds a column's partial sums and terms in order.
// The compensation multiplies by the uniform one (1), which the shader
// compiler cannot fold: without it lavapipe's optimiser rewrote
// (s + y) - s as y and the sums came out as naive as a plain loop's
// (TestSequenceMean).
func sequenceMean(dev *gpu.Device, x *gpu.Tensor, B, H, L, D, sb, sh, sl int) (*gpu.Tensor, error) {
	cols := B * H * D
	nch := (L + meanRows - 1) / meanRows
	pk := elementwise(dev, "quant_int8_mean_part", 1, nch*cols).Snippet("BODY", `let col = i % p.cols;
  let ch = i / p.cols;
  let c = col % p.d;
  let bh = col / p.d;
  let base = (bh / p.h) * p.sb + (bh % p.h) * p.sh + c;
  let l1 = min(ch * ROWS + ROWS, p.l);
  var s = 0.0;
  var comp = 0.0;
  for (var l = ch * ROWS; l < l1; l = l + 1u) {
    let y = ld_x(base + l * p.sl) - comp;
    let t = s + y;
    comp = (t * p.one - s) - y;
    s = t;
  }
  st_part(i, s);
  st_part(p.n + i, -comp);`)
	pk.Uint("ROWS", meanRows).In("x", x).Out("part", dtype.F32, 2*nch*cols)
	pk.F32("one", 1).U32("cols", cols).U32("d", D).U32("h", H).U32("l", L).U32("sb", sb).U32("sh", sh).U32("sl", sl)
	part, err := pk.RunOne(dev)
	if err != nil {
		return nil, err
	}
	defer part.Release()
	mk := elementwise(dev, "quant_int8_mean", 1, cols).Snippet("BODY", `var s = 0.0;
  var comp = 0.0;
  for (var e = 0u; e < 2u * p.nch; e = e + 1u) {
    let y = ld_part((e % 2u) * p.nch * p.n + (e / 2u) * p.n + i) - comp;
    let t = s + y;
    comp = (t * p.one - s) - y;
    s = t;
  }
  st_km(i, rnd1_x(s / f32(p.l)));`)
	mk.In("x", x).In("part", part).Out("km", dtype.F32, cols)
	mk.F32("one", 1).U32("nch", nch).U32("l", L)
	return mk.RunOne(dev)
}
