package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
)

// fastOut says how a memory-bound kernel rounds on its fast path. A
// bf16 output in packs of four is stored without the per-lane NaN test,
// and the kernel adds each output pack to nan_sum; where that sum is NaN
// it recomputes with the checked rounding. Roundings of intermediate
// values (TeleFuser rounds to the storage dtype between steps) use the
// integer rounding without the NaN test, which adds its input to
// nan_sum, or, with launch.RoundFloat, the float pipe
// (wgsl/round_fp.wgsl), whose NaN for what it cannot round reaches the
// output and so its sum. Other outputs store as usual.
type fastOut struct {
	vec       int             // pack width
	units     int             // packs per unit of y
	bf16      bool            // y is bf16 in packs of four
	mode      launch.Rounding // how intermediate bf16 values round
	storeMode launch.Rounding // how bf16 outputs round: RoundInt in the store, or RoundFMA before the NaN sum (see launch.BF16StoreRounding)
	erfc      bool            // exact GELU by act_gelu_erfc (launch.GELUErfc)
}

func newFastOut(y dtype.DType, vec int, mode launch.Rounding) fastOut {
	return fastOut{vec: vec, units: 1, bf16: y == dtype.BF16 && vec == 4, mode: mode}
}

// float reports whether intermediate bf16 values round on the float pipe.
func (f fastOut) float() bool { return f.bf16 && f.mode == launch.RoundFloat }

// fma reports whether any bf16 rounding of the fast path is bf16x4_round_fma.
func (f fastOut) fma() bool {
	return f.bf16 && (f.mode == launch.RoundFMA || f.storeMode == launch.RoundFMA)
}

// declare adds the WGSL file and the uniforms the fast path needs.
func (f fastOut) declare(k *kernel.Kernel) {
	if f.float() || f.fma() {
		k.Files = append([]string{"round_fp"}, k.Files...)
	}
	if f.float() {
		k.U32("zero", 0)
	}
	if f.fma() {
		k.F32("one", 1)
	}
}

// keep is WGSL for the fast pass that adds the output pack v to nan_sum
// where the output's store skips the NaN test; with the RoundFMA store
// it rounds v first, so that the sum sees the NaN of a value the
// rounding cannot take.
func (f fastOut) keep(v string) string {
	switch {
	case f.bf16 && f.storeMode == launch.RoundFMA:
		return fmt.Sprintf("%[1]s = bf16x4_round_fma(%[1]s, p.one);\n        nan_sum = nan_sum + hsum(%[1]s);", v)
	case f.bf16:
		return fmt.Sprintf("nan_sum = nan_sum + hsum(%s);", v)
	}
	return ""
}

// store is WGSL that stores unit u at unit index i of y on the fast
// path: with the RoundFMA store, packing the values keep rounded.
func (f fastOut) store(i string) string {
	switch {
	case f.bf16 && f.storeMode == launch.RoundFMA && f.units == 2:
		return fmt.Sprintf("y_buf[%s] = vec4<u32>(bf16x4_pack_rounded(u[0]), bf16x4_pack_rounded(u[1]));", i)
	case f.bf16 && f.storeMode == launch.RoundFMA:
		return fmt.Sprintf("y_buf[%s] = bf16x4_pack_rounded(u[0]);", i)
	case f.bf16:
		return fmt.Sprintf("stu_y_unchecked(%s, u);", i)
	}
	return fmt.Sprintf("stu_y(%s, u);", i)
}

// rnd is WGSL that rounds the pack expression v to the dtype dt of
// binding name, as storing and reloading it would, for a value that
// feeds more arithmetic: rnd_NAME on the checked pass; on the fast pass
// the float pipe (see fastOut) or rnd_NAME_unchecked, which adds v to
// nan_sum (dtypes without an unchecked rounding get the checked one).
func (f fastOut) rnd(checked bool, name string, dt dtype.DType, v string) string {
	switch {
	case checked:
		return fmt.Sprintf("rnd_%s(%s)", name, v)
	case f.float() && dt == dtype.BF16:
		return "bf16x4_round_fp(" + v + ", p.zero)"
	case f.bf16 && f.mode == launch.RoundFMA && dt == dtype.BF16:
		return "bf16x4_round_fma(" + v + ", p.one)"
	}
	return fmt.Sprintf("rnd_%s_unchecked(%s)", name, v)
}

// unitsVariant is a launch shape of the wgsl/units.wgsl kernels; the
// zero value takes internal/launch's choices.
type unitsVariant struct {
	wg, nu   int             // flat kernel: workgroup size and units per invocation; row kernel: nu is the target units per invocation; 0: launch's
	units    int             // packs per unit, 1 or 2 (where sizes allow); 0: launch.Packing's
	round    launch.Rounding // how intermediate bf16 values round, where setRnd
	setRnd   bool
	store    launch.Rounding // how bf16 outputs round, where setStore
	setStore bool
	erf      string // the exact GELU: "erfc" (act_gelu_erfc) or "poly" (act_gelu); "": launch.GELUErfc's
}

// name lists the variant's settings that differ from launch's choice.
func (v unitsVariant) name() string {
	var parts []string
	for _, f := range []struct {
		key string
		v   int
	}{{"wg", v.wg}, {"nu", v.nu}, {"units", v.units}} {
		if f.v != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", f.key, f.v))
		}
	}
	if v.setRnd {
		parts = append(parts, "round="+v.round.String())
	}
	if v.setStore {
		parts = append(parts, "store="+v.store.String())
	}
	if v.erf != "" {
		parts = append(parts, "erf="+v.erf)
	}
	return strings.Join(parts, "/")
}

// fastOut is the variant's fast path for a y of dt in packs of vec, units per unit, on d,
// for a gated unit (two halves of x per output) or not.
func (v unitsVariant) fastOut(d *gpu.Device, dt dtype.DType, vec, units int, gated bool) fastOut {
	f := newFastOut(dt, vec, v.rounding(d))
	f.units = units
	f.storeMode = launch.BF16StoreRounding(d)
	if v.setStore {
		f.storeMode = v.store
	}
	f.erfc = launch.GELUErfc(gated)
	if v.erf != "" {
		f.erfc = v.erf == "erfc"
	}
	return f
}

// rounding is the variant's rounding of intermediate bf16 values on d.
func (v unitsVariant) rounding(d *gpu.Device) launch.Rounding {
	if v.setRnd {
		return v.round
	}
	return launch.BF16Rounding(d)
}

// unitsSpec is one kernel over wgsl/units.wgsl: a flat kernel over n
// elements, or a row kernel over rows of cols outputs whose x rows are
// xcols long, cols dividing xcols.
type unitsSpec struct {
	name              string
	x                 *gpu.Tensor
	yShape            []int
	row               bool
	rows, cols, xcols int
	n                 int
	loadW             string                               // WGSL that loads a second operand's unit k into ws[k] (j is the unit's column in the row, xb the x row's first unit)
	apply             func(f fastOut, checked bool) string // WGSL that turns pack v of x (and wu[h] of the second operand) into pack v of y
	bind              func(k *kernel.Kernel)               // further bindings and uniforms, declared after x
	v                 unitsVariant
}

// kernel declares the spec's kernel.
func (s *unitsSpec) kernel() *kernel.Kernel {
	d := s.x.Device()
	dt := s.x.DType
	span := s.n
	if s.row {
		span = s.cols
	}
	vec, units := launch.Packing(span, dt)
	if s.v.units != 0 && vec == 4 && (s.v.units == 1 || span%8 == 0) {
		units = s.v.units
	}
	per := vec * units
	f := s.v.fastOut(d, dt, vec, units, s.row && s.xcols > s.cols)
	k := &kernel.Kernel{Name: s.name, Vec: vec, Units: units, Files: []string{"act", "units"}}
	f.declare(k)
	var wg, nu int
	if s.row {
		cu := s.cols / per
		want := launch.RowUnitsPerInvocation
		if s.xcols > s.cols {
			want = launch.GatedUnitsPerInvocation
		}
		if s.v.nu != 0 {
			want = s.v.nu
		}
		wg, nu = launch.Row(d, cu, want)
		k.Grid = d.Groups(s.rows)
		k.U32("n", 0).U32("rows", s.rows).U32("cu", cu).U32("xs", s.xcols/per)
	} else {
		wg, nu = launch.StreamWorkgroup, launch.StreamUnits
		if s.v.wg != 0 {
			wg = s.v.wg
		}
		if s.v.nu != 0 {
			nu = s.v.nu
		}
		if m := int(d.Limits.MaxInvocations); m > 0 {
			wg = min(wg, m)
		}
		k.Grid = launch.StreamGrid(d, s.n/per, wg, nu)
		k.U32("n", s.n/per).U32("rows", 0).U32("cu", 0).U32("xs", 0)
	}
	k.Uint("WG", wg).Uint("NU", max(nu, 1)).Bool("ROWS", s.row)
	k.In("x", s.x)
	if s.bind != nil {
		s.bind(k)
	}
	k.Out("y", dt, s.yShape...)
	return k.Snippet("LOAD_W", s.loadW).
		Snippet("APPLY_FAST", s.apply(f, false)+joinLine(f.keep("v"))).
		Snippet("APPLY_CHECKED", s.apply(f, true)).
		Snippet("STORE_FAST", f.store("yb + j"))
}

// joinLine puts a WGSL statement on a line of its own after a snippet.
func joinLine(s string) string {
	if s == "" {
		return ""
	}
	return "\n        " + s
}

// act applies the activation fn to each lane of the pack expression v.
func (f fastOut) act(fn Activation, v string) string {
	name := fn.wgslFn()
	if fn == ActGELU && f.erfc {
		name = "act_gelu_erfc"
	}
	return lanes(f.vec, name+"(%s)", v)
}
