package ops

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/gpu/dtype"
	"github.com/webfuser/webfuser/ops/ref"
	"github.com/webfuser/webfuser/wgsl"
)

// bf16Rounding is a candidate body of bf16x4_hi (and bf16x4_round) for
// the bf16 experiment below.
type bf16Rounding struct{ name, hi, round string }

const bf16RoundMasked = "fn bf16x4_round(v: vec4<f32>) -> vec4<f32> { return bitcast<vec4<f32>>(bf16x4_hi(v) & vec4<u32>(0xffff0000u)); }\n"

var bf16Roundings = []bf16Rounding{
	{name: "base"},
	{name: "canon", hi: `fn bf16x4_hi(v: vec4<f32>) -> vec4<u32> {
  let b = bitcast<vec4<u32>>(v);
  let r = b + vec4<u32>(0x7fffu) + ((b >> vec4<u32>(16u)) & vec4<u32>(1u));
  return select(r, vec4<u32>(0x7fc00000u), (b << vec4<u32>(1u)) > vec4<u32>(0xff000000u));
}
`, round: bf16RoundMasked},
	{name: "fpsum", hi: `fn bf16x4_hi(v: vec4<f32>) -> vec4<u32> {
  let b = bitcast<vec4<u32>>(v);
  let r = b + vec4<u32>(0x7fffu) + ((b >> vec4<u32>(16u)) & vec4<u32>(1u));
  let s = (v.x + v.y) + (v.z + v.w);
  if ((bitcast<u32>(s) << 1u) > 0xff000000u) {
    return select(r, vec4<u32>(0x7fc00000u), (b << vec4<u32>(1u)) > vec4<u32>(0xff000000u));
  }
  return r;
}
`, round: bf16RoundMasked},
	{name: "no-nan (ablation)", hi: `fn bf16x4_hi(v: vec4<f32>) -> vec4<u32> {
  let b = bitcast<vec4<u32>>(v);
  return b + vec4<u32>(0x7fffu) + ((b >> vec4<u32>(16u)) & vec4<u32>(1u));
}
`, round: bf16RoundMasked},
	{name: "truncate (ablation)", hi: "fn bf16x4_hi(v: vec4<f32>) -> vec4<u32> { return bitcast<vec4<u32>>(v); }\n", round: bf16RoundMasked},
}

// cut returns the text of src from the line starting with start to the
// end of that function.
func cut(src, start string) string {
	i := strings.Index(src, start)
	if i < 0 {
		return ""
	}
	end := "\n}\n"
	if strings.HasSuffix(strings.SplitN(src[i:], "\n", 2)[0], "}") {
		end = "\n"
	}
	return src[i : i+strings.Index(src[i:], end)+len(end)]
}

// edits returns the source edits that install r.
func (r bf16Rounding) edits() [][2]string {
	if r.hi == "" {
		return nil
	}
	return [][2]string{{cut(wgsl.Conversions, "fn bf16x4_hi("), r.hi}, {cut(wgsl.Conversions, "fn bf16x4_round("), r.round}}
}

// conversions returns wgsl.Conversions with r installed.
func (r bf16Rounding) conversions() string {
	s := wgsl.Conversions
	for _, e := range r.edits() {
		s = strings.Replace(s, e[0], e[1], 1)
	}
	return s
}

// wideKernel is a bf16 kernel that moves 16 bytes (eight values) per
// load, for comparison with the eight-byte packs of the production
// kernels: RMSNorm with weight, or modulate with [B,C] operands.
func wideKernel(d *gpu.Device, rms, keep bool, wg, nk int, r bf16Rounding) (*gpu.Pipeline, error) {
	dir, params, init := wgsl.Subgroups(d.Features.Subgroups, d.Features.SubgroupsEnable)
	var b strings.Builder
	b.WriteString(dir + wgsl.Vec(4) + r.conversions())
	fmt.Fprintf(&b, "const WG = %du;\nconst NK = %du;\nconst SUBGROUPS = %v;\n", wg, nk, d.Features.Subgroups)
	b.WriteString(`@group(0) @binding(0) var<storage, read> xw: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> aw: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> bw: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> yw: array<vec4<u32>>;
struct Params { rows: u32, d: u32, dw: u32, eps: f32, l: u32 }
@group(0) @binding(4) var<uniform> p: Params;
`)
	reduce, err := wgsl.Fill(wgsl.Source("reduce"), map[string]string{"SG_REDUCE": sgReduce(d.Features.Subgroups)})
	if err != nil {
		return nil, err
	}
	b.WriteString(reduce)
	body := `
  let ob = (row / p.l) * p.dw;
  for (var k = 0u; k < NK; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.dw) {
      let w = xw[base + j];
      let s = aw[ob + j];
      let h = bw[ob + j];
      let lo = bf16x4_to_f32(w.xy) * (P(1.0) + bf16x4_to_f32(s.xy)) + bf16x4_to_f32(h.xy);
      let hi = bf16x4_to_f32(w.zw) * (P(1.0) + bf16x4_to_f32(s.zw)) + bf16x4_to_f32(h.zw);
      yw[base + j] = vec4<u32>(f32x4_to_bf16(lo), f32x4_to_bf16(hi));
    }
  }`
	if rms {
		body = `
  var r: array<vec4<u32>, NK>;
  var q = 0.0;
  for (var k = 0u; k < NK; k = k + 1u) {
    let j = lid + k * WG;
    var w = vec4<u32>(0u);
    if (j < p.dw) { w = xw[base + j]; }
    r[k] = w;
    let a = bf16x4_to_f32(w.xy);
    let c = bf16x4_to_f32(w.zw);
    q = q + hsum(a * a) + hsum(c * c);
  }
  let inv = inverseSqrt(reduce_sum2(vec2<f32>(q, 0.0), lid, 0u).x / f32(p.d) + p.eps);
  for (var k = 0u; k < NK; k = k + 1u) {
    let j = lid + k * WG;
    if (j < p.dw) {
      let w = aw[j];
      let a = bf16x4_round(bf16x4_to_f32(r[k].xy) * inv) * bf16x4_to_f32(w.xy);
      let c = bf16x4_round(bf16x4_to_f32(r[k].zw) * inv) * bf16x4_to_f32(w.zw);
      yw[base + j] = vec4<u32>(f32x4_to_bf16(a), f32x4_to_bf16(c));
    }
  }`
	}
	fmt.Fprintf(&b, `
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) lid: u32 %s) {
  %s
  let row = wid.y * nw.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.dw;
%s
}
`, params, init, body)
	src := b.String()
	if keep { // keep the row as f32 between the passes instead of raw words
		src = strings.NewReplacer("var r: array<vec4<u32>, NK>;", "var r: array<vec4<f32>, 2u * NK>;",
			"r[k] = w;", "r[2u * k] = bf16x4_to_f32(w.xy); r[2u * k + 1u] = bf16x4_to_f32(w.zw);",
			"bf16x4_to_f32(r[k].xy)", "r[2u * k]", "bf16x4_to_f32(r[k].zw)", "r[2u * k + 1u]").Replace(src)
	}
	return d.Pipeline(gpu.Kernel{Key: fmt.Sprintf("wide/%v/%v/%d/%d/%s", rms, keep, wg, nk, r.name), Source: src,
		Bindings: []gpu.Access{gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform}})
}

// TestPerfBF16 times the bf16 memory-bound kernels at the benchmark shape
// with each candidate rounding, and 16-byte-load variants, each next to a
// copy of the same bytes timed just before. WEBFUSER_PERF=1 only.
func TestPerfBF16(t *testing.T) {
	if os.Getenv("WEBFUSER_PERF") == "" {
		t.Skip("set WEBFUSER_PERF=1 to run the bf16 experiment")
	}
	d := testDevice(t)
	shape := []int{8, 4096, 3072}
	if d.Info.Type == "cpu" {
		shape = []int{2, 64, 3072} // lavapipe: a check that every variant compiles and agrees
	}
	B, L, C := shape[0], shape[1], shape[2]
	dt := dtype.BF16
	x := randomDevice(t, d, dt, shape...)
	y := randomDevice(t, d, dt, shape...)
	w := randomDevice(t, d, dt, C)
	bias := randomDevice(t, d, dt, C)
	sc := randomDevice(t, d, dt, B, C)
	sh := randomDevice(t, d, dt, B, C)
	scl := randomDevice(t, d, dt, shape...)
	shl := randomDevice(t, d, dt, shape...)
	nb := float64(x.Numel() * dt.Size())
	fmt.Printf("device: %s\n\n| kernel | rounding | variant | time | copy | vs copy | values unlike base |\n|---|---|---|---|---|---|---|\n", d)
	want := map[string][]byte{}
	row := func(kernel, rnd, variant string, bytes float64, run func() error) {
		if err := run(); err != nil {
			t.Fatalf("%s %s %s: %v", kernel, rnd, variant, err)
		}
		got, err := y.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if want[kernel] == nil {
			want[kernel] = got
		}
		unlike := 0
		for i := 0; i < len(got); i += 2 {
			if got[i] != want[kernel][i] || got[i+1] != want[kernel][i+1] {
				unlike++
			}
		}
		ct, _, err := d.Measure(7, 10, func() error { return copyInto(d, x, y) })
		if err != nil {
			t.Fatal(err)
		}
		tm, _, err := d.Measure(7, 10, run)
		if err != nil {
			t.Fatalf("%s %s %s: %v", kernel, rnd, variant, err)
		}
		fmt.Printf("| %s | %s | %s | %v | %v | %.2fx | %d |\n", kernel, rnd, variant, tm, ct, ct.Seconds()/tm.Seconds()*bytes/(2*nb), unlike)
	}
	bC, _ := ref.ModulateBroadcast(shape, []int{B, C})
	bL, _ := ref.ModulateBroadcast(shape, shape)
	norm := func(s *normSpec, wg int, r bf16Rounding, extra ...[2]string) func() error {
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
		pr, params, args := s.program(y, 4, wg, (C/4+wg-1)/wg)
		pr.edits = append(r.edits(), extra...)
		return func() error {
			pipe, err := pr.pipeline()
			if err != nil {
				return err
			}
			return d.Dispatch(pipe, d.Groups(s.rows), params.Bytes(), args...)
		}
	}
	mod := func(s, h *gpu.Tensor, bs ref.Broadcast, v modulateVariant, r bf16Rounding) func() error {
		pr, params, groups := modulateProgram(x, s, h, y, 1, bs, bs, v)
		pr.edits = r.edits()
		return func() error {
			pipe, err := pr.pipeline()
			if err != nil {
				return err
			}
			return d.Dispatch(pipe, groups, params.Bytes(), x, s, h, y)
		}
	}
	wide := func(rms, keep bool, wg int, r bf16Rounding) func() error {
		nk := (C/8 + wg - 1) / wg
		params := gpu.NewParams().U32(uint32(B * L)).U32(uint32(C)).U32(uint32(C / 8)).F32(1e-6).U32(uint32(L))
		args := []*gpu.Tensor{x, sc, sh, y}
		if rms {
			args = []*gpu.Tensor{x, w, w, y}
		}
		return func() error {
			pipe, err := wideKernel(d, rms, keep, wg, nk, r)
			if err != nil {
				return err
			}
			return d.Dispatch(pipe, d.Groups(B*L), params.Bytes(), args...)
		}
	}
	// Keep the GPU busy for a few seconds first, so that it is at its
	// working clocks; print them where nvidia-smi is there to ask.
	for i := 0; i < 10; i++ {
		if _, _, err := d.Measure(3, 100, func() error { return copyInto(d, x, y) }); err != nil {
			t.Fatal(err)
		}
	}
	rms := func() *normSpec { return &normSpec{op: "x", kind: KindRMSNorm, x: x, w: w, eps: 1e-6} }
	for _, r := range bf16Roundings {
		for _, wg := range []int{64, 128} {
			row("rms_norm", r.name, fmt.Sprintf("wg %d", wg), 2*nb, norm(rms(), wg, r))
		}
		row("layer_norm", r.name, "wg 128", 2*nb, norm(&normSpec{op: "x", kind: KindLayerNorm, x: x, w: w, b: bias, eps: 1e-6}, 128, r))
		row("rms_norm+modulate [B,C]", r.name, "wg 128", 2*nb, norm(&normSpec{op: "x", kind: KindRMSNorm, x: x, w: w, eps: 1e-6, mod: &ModulateArgs{Scale: sc, Shift: sh, Constant: 1}}, 128, r))
		row("modulate [B,C]", r.name, "rows wg 128", 2*nb, mod(sc, sh, bC, modulateVariant{rows: true, wg: 128}, r))
		row("modulate [B,L,C]", r.name, "rows wg 256", 4*nb, mod(scl, shl, bL, modulateVariant{rows: true, wg: 256}, r))
		for _, wg := range []int{64, 128} {
			row("rms_norm", r.name, fmt.Sprintf("16-byte loads, wg %d", wg), 2*nb, wide(true, false, wg, r))
			row("rms_norm", r.name, fmt.Sprintf("16-byte loads, f32 row, wg %d", wg), 2*nb, wide(true, true, wg, r))
			row("modulate [B,C]", r.name, fmt.Sprintf("16-byte loads, wg %d", wg), 2*nb, wide(false, false, wg, r))
		}
	}
}
