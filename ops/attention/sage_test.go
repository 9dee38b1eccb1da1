package attention

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// sageCases are shapes for the Sage kernel: sequences that are no
// multiple of the quantisation blocks (128, 64) or of the tiles, head
// dims from 4 to 256, grouped heads, cross and causal attention, both
// layouts and every storage dtype.
func sageCases() []attnCase {
	return []attnCase{
		{b: 1, sq: 1, sk: 1, h: 1, hk: 1, d: 4, dt: dtype.F32},
		{b: 1, sq: 9, sk: 33, h: 1, hk: 1, d: 4, dt: dtype.BF16},
		{b: 2, sq: 77, sk: 77, h: 2, hk: 2, d: 64, dt: dtype.F32},
		{b: 1, sq: 300, sk: 300, h: 2, hk: 1, d: 128, dt: dtype.F16, in: BNSD},
		{b: 1, sq: 130, sk: 200, h: 4, hk: 2, d: 32, dt: dtype.BF16, out: BNSD},
		{b: 1, sq: 77, sk: 300, h: 3, hk: 1, d: 12, causal: true, dt: dtype.F32, in: BNSD, out: BNSD},
		{b: 1, sq: 200, sk: 200, h: 1, hk: 1, d: 96, causal: true, dt: dtype.F16},
		{b: 1, sq: 65, sk: 129, h: 2, hk: 2, d: 80, scale: 0.3, dt: dtype.F32},
		{b: 1, sq: 5, sk: 70, h: 1, hk: 1, d: 256, dt: dtype.F32},
		{b: 1, sq: 65, sk: 129, h: 3, hk: 3, d: 80, causal: true, scale: 0.3, dt: dtype.F32, in: BNSD, out: BNSD},
	}
}

// sageVariants returns the Sage launches to test on d: the portable
// row kernel as SageRows picks it without subgroup matrices, a narrow
// portable tile, the tensor-core launch where the device has one, and,
// with tiled and head dims of whole 16-code packs, the tiled kernel as
// ChooseSage picks it for a GPU with d's limits (but for a register
// block too heavy for Dawn's CPU driver) and the smallest tile (Fold,
// one stage buffer).
func sageVariants(d *gpu.Device, dHead int, tiled bool) map[string]*launch.Sage {
	f := d.Features
	f.SubgroupMatrixI8 = nil
	vs := map[string]*launch.Sage{}
	if s, ok := launch.SageRows(f, d.Limits, dHead); ok {
		vs["portable"] = &s
	}
	vs["portable-8x8"] = &launch.Sage{BQ: 8, BK: 8, WG: 32}
	if s, ok := launch.SageRows(d.Features, d.Limits, dHead); ok && s.Matrix {
		vs["matrix"] = &s
	}
	if !tiled {
		return vs
	}
	if s, ok := launch.ChooseSage(d.Features, d.Limits, gpu.ClassDiscrete, dHead); ok && s.Tiled && !heavyBuild(d, s.Tile) {
		vs["tiled"] = &s
	}
	if small := sageSmallTile(); small.Fits(d.Limits, dHead) {
		vs["tiled-32x32"] = &small
	}
	return vs
}

// sageSmallTile is the tiled launch of the smallest configuration.
func sageSmallTile() launch.Sage {
	return launch.SageTiled(launch.AttentionTile{BQ: 32, BK: 32, TM: 4, TN: 4, DC: 8, Double: true, Late: true, Fold: true})
}

// sageInputs returns q, k, v with a per-channel offset on k, as real
// models have, which the smoothing removes.
func sageInputs(c attnCase, rng *rand.Rand) (q, k, v *ref.Tensor) {
	q, k, v = c.inputs(rng)
	off := make([]float64, c.d)
	for i := range off {
		off[i] = 3 * rng.NormFloat64()
	}
	for i := range k.Data {
		k.Data[i] = dtype.Round(k.DType, k.Data[i]+off[i%c.d])
	}
	return q, k, v
}

// sageCodesRef returns the float64 reference of Sage on the GPU
// quantiser's own codes and scales of q and k (uploaded in layout in):
// exact but for f32 rounding, whatever the quantiser's ties (its mean of
// K is compensated f32, the reference's float64, so a code may sit one
// apart at a rounding tie; TestQuantizeInt8PerBlock* checks the codes).
func sageCodesRef(t *testing.T, q, k *gpu.Tensor, v *ref.Tensor, c attnCase) *ref.Tensor {
	t.Helper()
	scale := float64(c.scale)
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(c.d))
	}
	head := c.in == BNSD
	qc, qs, err := ops.QuantizeInt8PerBlock(q, ops.Int8BlockOptions{Block: 128, Scale: float32(scale * ops.Log2E), HeadFirst: head})
	if err != nil {
		t.Fatal(err)
	}
	kc, ks, err := ops.QuantizeInt8PerBlock(k, ops.Int8BlockOptions{Block: 64, SmoothMean: true, HeadFirst: head})
	if err != nil {
		t.Fatal(err)
	}
	host := func(x *gpu.Tensor) *ref.Tensor {
		r := ref.New(x.DType, x.Shape...)
		if x.DType == dtype.U8 {
			codes, err := ops.Int8Values(x)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range codes {
				r.Data[i] = float64(c)
			}
			return toLayout(r, c.in)
		}
		f, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range f {
			r.Data[i] = float64(v)
		}
		return r
	}
	want, err := ref.SageAttentionCodes(host(qc), host(qs), host(kc), host(ks), v, c.causal, c.dt)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestSageMatchesReference checks every Sage launch against the float64
// reference on the same codes, into guarded outputs. On Dawn's CPU
// driver with -short (slowBuild) the tiled kernels run on one case only.
func TestSageMatchesReference(t *testing.T) {
	d := testDevice(t)
	for ci, c := range sageCases() {
		rng := rand.New(rand.NewSource(int64(40 + ci)))
		q, k, v := sageInputs(c, rng)
		qg, kg, vg := upload(t, d, toLayout(q, c.in)), upload(t, d, toLayout(k, c.in)), upload(t, d, toLayout(v, c.in))
		want := toLayout(sageCodesRef(t, qg, kg, v, c), c.out)
		for name, s := range sageVariants(d, c.d, !slowBuild() || d.Info.Class != gpu.ClassCPU || ci == 4) {
			t.Run(fmt.Sprintf("%v/%s", c, name), func(t *testing.T) {
				gputest.Guard(t, d)
				opt := Options{Causal: c.causal, Scale: c.scale, InputLayout: c.in, OutputLayout: c.out}
				o, err := sage(qg, kg, vg, opt, s)
				if err != nil {
					t.Fatal(err)
				}
				gputest.ExpectClose(t, o, want, sageTol(c.dt))
			})
		}
	}
}

// sageTol is the tolerance against the reference on the same codes:
// the logits agree to f32 rounding, so what remains is exp2's and the
// accumulation's f32 error (f32 outputs) or one rounding of the output
// (16-bit), far tighter than the spec's tolerance for products, which a
// logit scaled by 1.001 would pass.
func sageTol(dt dtype.DType) gputest.Tol {
	switch dt {
	case dtype.F16:
		return gputest.Tol{Atol: 1e-3, Rtol: 1e-3}
	case dtype.BF16:
		return gputest.Tol{Atol: 8e-3, Rtol: 8e-3}
	}
	return gputest.Tol{Atol: 2e-5, Rtol: 2e-5}
}

// TestSageRejects checks that operands Sage cannot take are errors
// naming the tensor, never panics.
func TestSageRejects(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(5))
	mk := func(dt dtype.DType, shape ...int) *gpu.Tensor { return upload(t, d, randTensor(rng, dt, shape, 1)) }
	q, k := mk(dtype.F32, 1, 8, 2, 16), mk(dtype.F32, 1, 8, 2, 16)
	small := sageSmallTile()
	for _, c := range []struct {
		name     string
		q, k, v  *gpu.Tensor
		opt      Options
		force    *launch.Sage
		tensor   string
		sentinel error
	}{
		{"head dim 6", mk(dtype.F32, 1, 8, 2, 6), mk(dtype.F32, 1, 8, 2, 6), mk(dtype.F32, 1, 8, 2, 6), Options{}, nil, "q", ops.ErrInvalid},
		{"no keys", q, mk(dtype.F32, 1, 0, 2, 16), mk(dtype.F32, 1, 0, 2, 16), Options{}, nil, "k", ops.ErrInvalid},
		{"heads", mk(dtype.F32, 1, 8, 3, 16), k, k, Options{}, nil, "q", ops.ErrInvalid},
		{"v shape", q, k, mk(dtype.F32, 1, 9, 2, 16), Options{}, nil, "v", ops.ErrInvalid},
		{"dtype", q, k, mk(dtype.U8, 1, 8, 2, 16), Options{}, nil, "v", ops.ErrInvalid},
		{"nil", q, nil, k, Options{}, nil, "k", ops.ErrInvalid},
		{"causal Sq > Sk", mk(dtype.F32, 1, 9, 2, 16), k, k, Options{Causal: true}, nil, "q", ops.ErrInvalid},
		{"negative scale", q, k, k, Options{Scale: -1}, nil, "scale", ops.ErrInvalid},
		{"tile too big", q, k, k, Options{}, &launch.Sage{BQ: 16, BK: 1 << 16, WG: 128}, "q", gpu.ErrLimit},
		{"tiled D20", mk(dtype.F32, 1, 8, 2, 20), mk(dtype.F32, 1, 8, 2, 20), mk(dtype.F32, 1, 8, 2, 20), Options{}, &small, "q", gpu.ErrLimit},
	} {
		o, err := sage(c.q, c.k, c.v, c.opt, c.force)
		var e *Error
		if err == nil || !errors.As(err, &e) || e.Tensor != c.tensor || !errors.Is(err, c.sentinel) {
			t.Errorf("%s: got %v, %v; want an error naming %q (%v)", c.name, o, err, c.tensor, c.sentinel)
		}
	}
}

// TestSageDispatch checks that the SageAttention names run the Sage
// kernel without a fallback warning: their output matches the reference
// on the GPU's codes at sageTol, which exact attention's would not.
func TestSageDispatch(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(8))
	c := attnCase{b: 1, sq: 70, sk: 70, h: 2, hk: 1, d: 32, causal: true, dt: dtype.F32}
	q, k, v := sageInputs(c, rng)
	for _, impl := range []AttnImplType{SAGE_ATTN_2_8_8, SAGE_ATTN_2_8_16, SAGE_ATTN_2_8_8_SM90} {
		if kern, own := KernelFor(impl); kern != KernelSage || !own {
			t.Fatalf("%v: KernelFor = %v, %v; want %v, true", impl, kern, own, KernelSage)
		}
	}
	want := sageCodesRef(t, upload(t, d, q), upload(t, d, k), v, c)
	warnings := runImpls(t, d, q, k, v, func(o *gpu.Tensor) { gputest.ExpectClose(t, o, want, sageTol(c.dt)) },
		SAGE_ATTN_2_8_8, SAGE_ATTN_2_8_16, SAGE_ATTN_2_8_8_SM90)
	if len(warnings) != 0 {
		t.Fatalf("warnings %q, want none", warnings)
	}
}

// TestSageAccuracy states Sage's accuracy against exact attention
// (ref.Attention in float64) on inputs like a DiT's: unit-variance q, k
// and v with a per-channel offset on k (3 sigma spread, which the
// smoothing removes), S=512, H=2, D=128, f32 and bf16 storage. Measured
// on lavapipe: cosine similarity 0.99991 for both dtypes, worst error
// 0.028 (f32) and 0.032 (bf16) of the row's largest output; the bounds
// are 0.9998 and 0.05. bench/sage_accuracy.py measures the same at
// S=4096 H=24 against PyTorch SDPA.
func TestSageAccuracy(t *testing.T) {
	d := testDevice(t)
	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		c := attnCase{b: 1, sq: 512, sk: 512, h: 2, hk: 2, d: 128, dt: dt}
		q, k, v := sageInputs(c, rand.New(rand.NewSource(17)))
		exact, err := ref.Attention(q, k, v, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		o, err := Sage(upload(t, d, q), upload(t, d, k), upload(t, d, v), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := o.Float32()
		if err != nil {
			t.Fatal(err)
		}
		var dot, ng, nw, worst float64
		for i, w := range exact.Data {
			g := float64(got[i])
			dot, ng, nw = dot+g*w, ng+g*g, nw+w*w
		}
		for r := 0; r < len(exact.Data)/c.d; r++ {
			row := exact.Data[r*c.d : (r+1)*c.d]
			scale := 0.0
			for _, w := range row {
				scale = math.Max(scale, math.Abs(w))
			}
			for x, w := range row {
				worst = math.Max(worst, math.Abs(float64(got[r*c.d+x])-w)/scale)
			}
		}
		cos := dot / math.Sqrt(ng*nw)
		t.Logf("%v: cos %.6f, max error / row max %.4f", dt, cos, worst)
		if cos < 0.9998 || worst > 0.05 {
			t.Errorf("%v: cos %.6f (want >= 0.9998), max error / row max %.4f (want <= 0.05)", dt, cos, worst)
		}
	}
}

// TestSageTiledCompiles hands the tiled Sage kernel of every tile of
// launch.AttentionTiles (and the small one) in its variants (storage
// dtypes, head dims of 4 to 16 packs of codes, causal, layouts) to the
// WGSL compiler: naga and the driver's pipeline build natively, Tint
// under GOOS=js; tiles over this device's limits are compiled too.
func TestSageTiledCompiles(t *testing.T) {
	d := testDevice(t)
	nt := tensorMaker(t, d)
	tiles := append([]launch.AttentionTile{sageSmallTile().Tile}, launch.AttentionTiles...)
	for _, cfg := range tiles {
		for _, vc := range []struct {
			dt     dtype.DType
			hd     int
			causal bool
			in     Layout
		}{{dtype.F32, 128, false, BSND}, {dtype.BF16, 64, true, BNSD}, {dtype.F16, 48, true, BSND}, {dtype.BF16, 256, false, BSND}} {
			t.Run(fmt.Sprintf("%v/%v/D%d/causal=%v/%v", cfg, vc.dt, vc.hd, vc.causal, vc.in), func(t *testing.T) {
				x := nt(vc.dt, 1, 256, 2, vc.hd)
				l := &call{op: "SageAttention", q: x, k: x, v: x, causal: vc.causal, in: vc.in, out: vc.in}
				if err := l.validate(); err != nil {
					t.Fatal(err)
				}
				codes := nt(dtype.U8, 1, 256, 2, vc.hd)
				k := l.sageTiledKernel(cfg, codes, nt(dtype.F32, 1, 2, 2), codes, nt(dtype.F32, 1, 2, 4))
				if err := gputest.CompileOnly(d, k); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
