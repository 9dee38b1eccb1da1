package wgsl

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/internal/dtype"
)

// Buffer describes one storage binding of a kernel.
//
// For a binding named x the generated WGSL declares the variable X_buf and
// these functions over element indices (f32 math whatever the storage):
//
//	ld_x(i: u32) -> f32          element i
//	ldv_x(i: u32) -> P           pack i: elements V*i .. V*i+V-1
//	st_x(i: u32, v: f32)         (read-write) element i
//	stv_x(i: u32, v: P)          (read-write) pack i
//
//	rnd_x(v: P) -> P             v rounded to x's dtype and back, as
//	                             storing and reloading it would
//	rnd_x_unchecked(v: P) -> P   the same without bf16's NaN test, adding
//	                             v to nan_sum instead (see Conversions)
//	rnd1_x(v: f32) -> f32        rnd_x for one element
//
// P is vec4<f32> when V is 4 and f32 when V is 1 (see Vec). Packs let one
// kernel body serve the vector and the scalar variant. An FP8 binding
// that is only read gets ld_x, decoding with fp8.wgsl's functions; other
// 8-bit and integer bindings are raw words (x_buf) that the kernel
// decodes itself. A 16- or 8-bit
// element shares its 32-bit word with others; st_x on such a type writes
// with atomics so that neighbouring threads never lose each other's
// values; stv_x writes whole words.
type Buffer struct {
	Name    string
	Binding int
	DType   dtype.DType
	Write   bool
	Words   bool // raw 16-byte words (array<vec4<u32>> x_buf), no accessors
	Ints    bool // raw i32 words (array<i32> x_buf), no accessors
	Pairs   bool // raw 8-byte words (array<vec2<u32>> x_buf), no accessors
}

// Vec returns the declarations of the pack type for width v (1 or 4)
// and h packs per unit (1, or 2 for 16-byte loads of 16-bit storage):
// the constants V and H, the aliases P and PU (array<P, H>), hsum(P) ->
// f32, the sum of a pack's lanes, and splat(f32) -> PU.
func Vec(v, h int) string {
	var s string
	if v == 4 {
		s = "const V: u32 = 4u;\nalias P = vec4<f32>;\nfn hsum(q: P) -> f32 { return q.x + q.y + q.z + q.w; }\n"
	} else {
		s = "const V: u32 = 1u;\nalias P = f32;\nfn hsum(q: P) -> f32 { return q; }\n"
	}
	s += fmt.Sprintf("const H: u32 = %du;\nalias PU = array<P, H>;\n", h)
	if h == 2 {
		return s + "fn splat(v: f32) -> PU { return PU(P(v), P(v)); }\n"
	}
	return s + "fn splat(v: f32) -> PU { return PU(P(v)); }\n"
}

// Conversions is WGSL for rounding f32 to f16 and bf16 bits with ties to
// even, written with integer operations so that every compiler gives the
// same bits (WGSL leaves pack2x16float's rounding and overflow to the
// implementation).
const Conversions = `
fn f32_to_bf16(f: f32) -> u32 {
  let b = bitcast<u32>(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return ((b >> 16u) | 0x40u) & 0xffffu; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}
fn bf16_to_f32(h: u32) -> f32 { return bitcast<f32>(h << 16u); }
fn f32_to_f16(f: f32) -> u32 {
  let b = bitcast<u32>(f);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  if (a >= 0x477ff000u) { return sign | 0x7c00u; } // rounds to >= 65520: inf
  if (a >= 0x38800000u) { // normal half
    let h = ((a >> 13u) - (112u << 10u));
    let rest = a & 0x1fffu;
    let up = select(0u, 1u, rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u));
    return sign | (h + up);
  }
  if (a < 0x33000000u) { return sign; } // below half the smallest subnormal
  let e = a >> 23u;
  let m = (a & 0x7fffffu) | 0x800000u;
  let shift = 126u - e; // 14 - (e - 112)
  let h = m >> shift;
  let rest = m & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  let up = select(0u, 1u, rest > half || (rest == half && (h & 1u) == 1u));
  return sign | (h + up);
}
fn f16_to_f32(h: u32) -> f32 { return unpack2x16float(h & 0xffffu).x; }
// Four lanes at once, without branches: the pack path of the
// memory-bound kernels, which on a fast GPU is bound by these integer
// operations as much as by memory. bf16x4_hi rounds each lane to bf16,
// ties to even, leaving the result in the high 16 bits and garbage in the
// low 16; a NaN becomes the canonical 0x7fc0, as in PyTorch (adding the
// rounding bias alone could turn one into infinity or zero).
// bf16x4_hi_unchecked skips that NaN test: it is right for every input
// but NaN, and kernels use it only where they check for NaN themselves.
fn bf16x4_hi_unchecked(v: vec4<f32>) -> vec4<u32> {
  let b = bitcast<vec4<u32>>(v);
  return b + vec4<u32>(0x7fffu) + ((b >> vec4<u32>(16u)) & vec4<u32>(1u));
}
fn bf16x4_hi(v: vec4<f32>) -> vec4<u32> {
  let nan = (bitcast<vec4<u32>>(v) << vec4<u32>(1u)) > vec4<u32>(0xff000000u);
  return select(bf16x4_hi_unchecked(v), vec4<u32>(0x7fc00000u), nan);
}
fn bf16x4_pack(h: vec4<u32>) -> vec2<u32> {
  return vec2<u32>((h.x >> 16u) | (h.y & 0xffff0000u), (h.z >> 16u) | (h.w & 0xffff0000u));
}
fn f32x4_to_bf16(v: vec4<f32>) -> vec2<u32> { return bf16x4_pack(bf16x4_hi(v)); }
fn f32x4_to_bf16_unchecked(v: vec4<f32>) -> vec2<u32> { return bf16x4_pack(bf16x4_hi_unchecked(v)); }
fn bf16x4_to_f32(w: vec2<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u));
}
fn bf16x4_round(v: vec4<f32>) -> vec4<f32> { return bitcast<vec4<f32>>(bf16x4_hi(v) & vec4<u32>(0xffff0000u)); }
fn bf16x4_round_unchecked(v: vec4<f32>) -> vec4<f32> { return bitcast<vec4<f32>>(bf16x4_hi_unchecked(v) & vec4<u32>(0xffff0000u)); }
fn f16x4_to_f32(w: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(f16_to_f32(w.x), f16_to_f32(w.x >> 16u), f16_to_f32(w.y), f16_to_f32(w.y >> 16u));
}
fn f32x4_to_f16(v: vec4<f32>) -> vec2<u32> {
  return vec2<u32>(f32_to_f16(v.x) | (f32_to_f16(v.y) << 16u), f32_to_f16(v.z) | (f32_to_f16(v.w) << 16u));
}
// nan_seen is what a kernel that rounds with the unchecked functions
// tests before it stores: the f32 sum of every value it rounded, not
// finite when one of them was NaN or infinite (or when the sum
// overflowed, which only costs the checked path). Infinities count too:
// where a driver contracts the float-pipe rounding's product into an fma
// (NVIDIA does), a value past its range rounds to an infinity rather than
// NaN (wgsl/round_fp.wgsl). The test is on the bits, which no compiler
// folds away.
var<private> nan_sum: f32;
fn nan_seen() -> bool { return (bitcast<u32>(nan_sum) << 1u) >= 0xff000000u; }
`

// Decl returns the declaration and accessors of b for pack width v and
// h packs per unit (see Vec). Besides the accessors listed on Buffer it
// declares ldu_x(i) -> PU, unit i, and for a writable buffer stu_x(i, PU)
// and stu_x_unchecked(i, PU), which rounds bf16 without the NaN test
// (the same as stu_x for other dtypes). With h == 2, 16-bit storage moves
// a unit (eight values) in one 16-byte access.
func (b Buffer) Decl(v, h int) string {
	n, B := b.Name, b.Name+"_buf"
	access := "read"
	if b.Write {
		access = "read_write"
	}
	var s strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&s, f, a...) }
	if b.Words {
		w("@group(0) @binding(%d) var<storage, %s> %s: array<vec4<u32>>;\n", b.Binding, access, B)
		return s.String()
	}
	if b.Pairs {
		w("@group(0) @binding(%d) var<storage, %s> %s: array<vec2<u32>>;\n", b.Binding, access, B)
		return s.String()
	}
	if b.Ints {
		w("@group(0) @binding(%d) var<storage, %s> %s: array<i32>;\n", b.Binding, access, B)
		return s.String()
	}
	half := b.DType == dtype.F16 || b.DType == dtype.BF16
	wide := h == 2 && v == 4
	dec, dec4, enc, enc4, unchecked4 := "bf16_to_f32", "bf16x4_to_f32", "f32_to_bf16", "f32x4_to_bf16", "f32x4_to_bf16_unchecked"
	if b.DType == dtype.F16 {
		dec, dec4, enc, enc4, unchecked4 = "f16_to_f32", "f16x4_to_f32", "f32_to_f16", "f32x4_to_f16", "f32x4_to_f16"
	}
	switch {
	case b.DType == dtype.F32 && v == 4:
		w("@group(0) @binding(%d) var<storage, %s> %s: array<vec4<f32>>;\n", b.Binding, access, B)
		w("fn ld_%s(i: u32) -> f32 { return %s[i >> 2u][i & 3u]; }\n", n, B)
		w("fn ldv_%s(i: u32) -> P { return %s[i]; }\n", n, B)
		if b.Write {
			w("fn stv_%s(i: u32, v: P) { %s[i] = v; }\n", n, B)
		}
	case b.DType == dtype.F32:
		w("@group(0) @binding(%d) var<storage, %s> %s: array<f32>;\n", b.Binding, access, B)
		w("fn ld_%s(i: u32) -> f32 { return %s[i]; }\n", n, B)
		w("fn ldv_%s(i: u32) -> P { return %s[i]; }\n", n, B)
		if b.Write {
			w("fn st_%s(i: u32, v: f32) { %s[i] = v; }\n", n, B)
			w("fn stv_%s(i: u32, v: P) { %s[i] = v; }\n", n, B)
		}
	case half && wide:
		// Eight halves are four words: one 16-byte access per unit.
		w("@group(0) @binding(%d) var<storage, %s> %s: array<vec4<u32>>;\n", b.Binding, access, B)
		w("fn ld_%s(i: u32) -> f32 { return %s(%s[i >> 3u][(i >> 1u) & 3u] >> ((i & 1u) * 16u)); }\n", n, dec, B)
		w("fn ldv_%s(i: u32) -> P { let w = %s[i >> 1u]; return %s(select(w.xy, w.zw, (i & 1u) == 1u)); }\n", n, B, dec4)
	case half && v == 4:
		// Four halves are two words: read and write them as vec2<u32>.
		w("@group(0) @binding(%d) var<storage, %s> %s: array<vec2<u32>>;\n", b.Binding, access, B)
		w("fn ld_%s(i: u32) -> f32 { return %s(%s[i >> 2u][(i >> 1u) & 1u] >> ((i & 1u) * 16u)); }\n", n, dec, B)
		w("fn ldv_%s(i: u32) -> P { return %s(%s[i]); }\n", n, dec4, B)
		if b.Write {
			w("fn stv_%s(i: u32, v: P) { %s[i] = %s(v); }\n", n, B, enc4)
		}
	case half && b.Write:
		w("@group(0) @binding(%d) var<storage, read_write> %s: array<atomic<u32>>;\n", b.Binding, B)
		w("fn ld_%s(i: u32) -> f32 { return %s(atomicLoad(&%s[i >> 1u]) >> ((i & 1u) * 16u)); }\n", n, dec, B)
		w("fn ldv_%s(i: u32) -> P { return ld_%s(i); }\n", n, n)
		w("fn st_%s(i: u32, v: f32) {\n  let sh = (i & 1u) * 16u;\n  atomicAnd(&%s[i >> 1u], ~(0xffffu << sh));\n  atomicOr(&%s[i >> 1u], %s(v) << sh);\n}\n", n, B, B, enc)
		w("fn stv_%s(i: u32, v: P) { st_%s(i, v); }\n", n, n)
	case half:
		w("@group(0) @binding(%d) var<storage, read> %s: array<u32>;\n", b.Binding, B)
		w("fn ld_%s(i: u32) -> f32 { return %s(%s[i >> 1u] >> ((i & 1u) * 16u)); }\n", n, dec, B)
		w("fn ldv_%s(i: u32) -> P { return ld_%s(i); }\n", n, n)
	default:
		// 8-bit and integer storage: raw words, decoded by the kernel itself.
		w("@group(0) @binding(%d) var<storage, %s> %s: array<u32>;\n", b.Binding, access, B)
		if !b.Write && (b.DType == dtype.FP8E4M3 || b.DType == dtype.FP8E5M2) {
			dec := "e4m3_decode"
			if b.DType == dtype.FP8E5M2 {
				dec = "e5m2_decode"
			}
			w("fn ld_%s(i: u32) -> f32 { return %s((%s[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu); }\n", n, dec, B)
		}
		return s.String()
	}
	s.WriteString(rounding(n, b.DType, v))
	// Units, and their stores with and without bf16's NaN test.
	switch {
	case wide && half:
		w("fn ldu_%s(i: u32) -> PU { let w = %s[i]; return PU(%s(w.xy), %s(w.zw)); }\n", n, B, dec4, dec4)
	case wide:
		w("fn ldu_%s(i: u32) -> PU { return PU(%s[2u * i], %s[2u * i + 1u]); }\n", n, B, B)
	default:
		w("fn ldu_%s(i: u32) -> PU { return PU(ldv_%s(i)); }\n", n, n)
	}
	if !b.Write {
		return s.String()
	}
	switch {
	case half && v == 4:
		stu := func(suffix, enc string) {
			if wide {
				w("fn stu_%s%s(i: u32, u: PU) { %s[i] = vec4<u32>(%s(u[0]), %s(u[1])); }\n", n, suffix, B, enc, enc)
			} else {
				w("fn stu_%s%s(i: u32, u: PU) { %s[i] = %s(u[0]); }\n", n, suffix, B, enc)
			}
		}
		stu("", enc4)
		stu("_unchecked", unchecked4)
		return s.String()
	case wide:
		w("fn stu_%s(i: u32, u: PU) { %s[2u * i] = u[0]; %s[2u * i + 1u] = u[1]; }\n", n, B, B)
	default:
		w("fn stu_%s(i: u32, u: PU) { stv_%s(i, u[0]); }\n", n, n)
	}
	w("fn stu_%s_unchecked(i: u32, u: PU) { stu_%s(i, u); }\n", n, n)
	return s.String()
}

// Uniform declares the uniform struct Params at binding i with the given
// fields ("n: u32", "eps: f32", ...) as the variable p.
func Uniform(binding int, fields ...string) string {
	return fmt.Sprintf("struct Params { %s }\n@group(0) @binding(%d) var<uniform> p: Params;\n",
		strings.Join(fields, ", "), binding)
}

// rounding returns rnd_NAME, rnd_NAME_unchecked and rnd1_NAME for a
// float dtype and pack width v (see Buffer).
func rounding(name string, dt dtype.DType, v int) string {
	one := "v"
	switch dt {
	case dtype.F16:
		one = "f16_to_f32(f32_to_f16(v))"
	case dtype.BF16:
		one = "bf16_to_f32(f32_to_bf16(v))"
	}
	s := fmt.Sprintf("fn rnd1_%s(v: f32) -> f32 { return %s; }\n", name, one)
	switch {
	case dt == dtype.BF16 && v == 4:
		return s + fmt.Sprintf("fn rnd_%[1]s(v: P) -> P { return bf16x4_round(v); }\n"+
			"fn rnd_%[1]s_unchecked(v: P) -> P { nan_sum = nan_sum + hsum(v); return bf16x4_round_unchecked(v); }\n", name)
	case dt == dtype.F32:
		return s + fmt.Sprintf("fn rnd_%[1]s(v: P) -> P { return v; }\nfn rnd_%[1]s_unchecked(v: P) -> P { return v; }\n", name)
	case v == 1:
		return s + fmt.Sprintf("fn rnd_%[1]s(v: P) -> P { return rnd1_%[1]s(v); }\nfn rnd_%[1]s_unchecked(v: P) -> P { return rnd_%[1]s(v); }\n", name)
	}
	return s + fmt.Sprintf("fn rnd_%[1]s(v: P) -> P { return P(rnd1_%[1]s(v.x), rnd1_%[1]s(v.y), rnd1_%[1]s(v.z), rnd1_%[1]s(v.w)); }\n"+
		"fn rnd_%[1]s_unchecked(v: P) -> P { return rnd_%[1]s(v); }\n", name)
}
