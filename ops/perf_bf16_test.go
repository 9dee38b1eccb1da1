package ops

import (
	"fmt"
	"os"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/shapes"
)

// TestPerfBF16 times the bf16 memory-bound kernels at the benchmark shape
// as shipped and with one of their two bf16 measures undone: 16-byte
// units (against 8-byte packs) and unchecked rounding with a NaN sum
// (against a NaN test per lane), each next to a copy of the same bytes
// timed just before, and each output compared with the shipped kernel's.
// WEBFUSER_PERF=1 only; timings are never asserted.
func TestPerfBF16(t *testing.T) {
	if os.Getenv("WEBFUSER_PERF") == "" {
		t.Skip("set WEBFUSER_PERF=1 to run the bf16 ablation")
	}
	d := testDevice(t)
	shape := []int{8, 4096, 3072}
	if d.Info.Type == "cpu" {
		shape = []int{2, 64, 3072} // lavapipe: a check that every variant compiles and agrees
	}
	B, C := shape[0], shape[2]
	dt := dtype.BF16
	x := randomDevice(t, d, dt, shape...)
	y := randomDevice(t, d, dt, shape...)
	w := randomDevice(t, d, dt, C)
	bias := randomDevice(t, d, dt, C)
	sc := randomDevice(t, d, dt, B, C)
	sh := randomDevice(t, d, dt, B, C)
	fmt.Printf("device: %s\n\n| kernel | variant | time | copy | vs copy | values unlike shipped |\n|---|---|---|---|---|---|\n", d)
	want := map[string][]byte{}
	row := func(kernel, variant string, run func() error) {
		// A burst of calls first: the H200 drops to idle clocks (345 MHz
		// against 1980) within a second of light load, and the readback
		// below is such a pause.
		if _, _, err := d.Measure(1, 400, run); err != nil {
			t.Fatalf("%s %s: %v", kernel, variant, err)
		}
		ct, _, err := d.Measure(7, 10, func() error { return copyInto(d, x, y) })
		if err != nil {
			t.Fatal(err)
		}
		tm, _, err := d.Measure(7, 10, run)
		if err != nil {
			t.Fatal(err)
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
		fmt.Printf("| %s | %s | %v | %v | %.2fx | %d |\n", kernel, variant, tm, ct, ct.Seconds()/tm.Seconds(), unlike)
	}
	// checked makes the output pass round with the per-lane NaN test.
	checked := [][2]string{{"if (!nan_seen())", "if (false)"}}
	norm := func(s *normSpec, units, wg int, edits [][2]string) func() error {
		if err := s.validate(); err != nil {
			t.Fatal(err)
		}
		du := C / (4 * units)
		pr, params, args := s.program(y, 4, units, wg, (du+wg-1)/wg)
		pr.edits = edits
		return func() error {
			pipe, err := pr.pipeline()
			if err != nil {
				return err
			}
			return d.Dispatch(pipe, d.Groups(s.rows), params.Bytes(), args...)
		}
	}
	kinds := []struct {
		name string
		spec func() *normSpec
	}{
		{"rms_norm", func() *normSpec { return &normSpec{op: "x", kind: KindRMSNorm, x: x, w: w, eps: 1e-6} }},
		{"layer_norm", func() *normSpec { return &normSpec{op: "x", kind: KindLayerNorm, x: x, w: w, b: bias, eps: 1e-6} }},
		{"rms_norm+modulate [B,C]", func() *normSpec {
			return &normSpec{op: "x", kind: KindRMSNorm, x: x, w: w, eps: 1e-6, mod: &ModulateArgs{Scale: sc, Shift: sh, Constant: 1}}
		}},
	}
	for _, k := range kinds {
		row(k.name, "shipped (16-byte units, wg 64)", norm(k.spec(), 2, 64, nil))
		row(k.name, "16-byte units, wg 32", norm(k.spec(), 2, 32, nil))
		row(k.name, "16-byte units, wg 128", norm(k.spec(), 2, 128, nil))
		row(k.name, "8-byte packs, wg 128", norm(k.spec(), 1, 128, nil))
		row(k.name, "NaN test per lane", norm(k.spec(), 2, 64, checked))
		row(k.name, "8-byte packs, NaN test per lane (before)", norm(k.spec(), 1, 128, checked))
	}
	bC, _ := shapes.ModulateBroadcast(shape, []int{B, C})
	mod := func(v modulateVariant) func() error {
		pr, params, groups := modulateProgram(x, sc, sh, y, 1, bC, bC, v)
		return func() error {
			pipe, err := pr.pipeline()
			if err != nil {
				return err
			}
			return d.Dispatch(pipe, groups, params.Bytes(), x, sc, sh, y)
		}
	}
	row("modulate [B,C]", "shipped (16-byte units, wg 128)", mod(chooseModulate(C)))
	for _, wg := range []int{64, 256} {
		row("modulate [B,C]", fmt.Sprintf("16-byte units, wg %d", wg), mod(modulateVariant{rows: true, wg: wg}))
	}
	row("modulate [B,C]", "8-byte packs, wg 256", mod(modulateVariant{rows: true, wg: 256, units: 1}))
	row("modulate [B,C]", "flat kernel, 8-byte packs", mod(modulateVariant{}))
}
