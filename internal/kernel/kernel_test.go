package kernel

import (
	"errors"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// elementwise declares the smallest real kernel: y = x over n items.
func elementwise(body string) *Kernel {
	k := &Kernel{Name: "test", Files: []string{"elementwise"}}
	return k.U32("n", 4).Snippet("BODY", body)
}

func TestSourceChecksTheDeclaration(t *testing.T) {
	f := gpu.Features{}
	tests := []struct {
		name string
		k    *Kernel
		want string // "" for success
	}{
		{"ok", elementwise("st_y(i, ld_x(i));").In("x", nil).Out("y", dtype.F32, 4), ""},
		{"undeclared uniform", elementwise("st_y(i, ld_x(i) * p.scale);").In("x", nil).Out("y", dtype.F32, 4), "reads uniforms [scale]"},
		{"unused binding", elementwise("st_y(i, 1.0);").In("x", nil).Out("y", dtype.F32, 4), "x: is bound but the WGSL never uses it"},
		{"unchecked store counts as use", elementwise("stu_y_unchecked(i, ldu_x(i));").In("x", nil).Out("y", dtype.BF16, 4), ""},
		{"snippet without placeholder", elementwise("st_y(i, ld_x(i));").In("x", nil).Out("y", dtype.F32, 4).Snippet("NOWHERE", "x"), "snippet NOWHERE has no"},
		{"snippet twice", elementwise("st_y(i, ld_x(i));").In("x", nil).Out("y", dtype.F32, 4).Snippet("BODY", "x"), "given twice"},
		{"missing snippet", (&Kernel{Name: "test", Files: []string{"elementwise"}}).U32("n", 1).In("x", nil), "no value for BODY"},
		{"subgroups without the feature", func() *Kernel {
			k := elementwise("st_y(i, ld_x(i));").In("x", nil).Out("y", dtype.F32, 4)
			k.Subgroups = true
			return k
		}(), "subgroups"},
		{"f16 without the feature", func() *Kernel {
			k := elementwise("st_y(i, f32(f16(ld_x(i))));").In("x", nil).Out("y", dtype.F32, 4)
			k.F16 = true
			return k
		}(), "shader-f16"},
		{"subgroup matrices without the feature", func() *Kernel {
			k := elementwise("st_y(i, ld_x(i));").In("x", nil).Out("y", dtype.F32, 4)
			k.SubgroupMatrix = true
			return k
		}(), "chromium-experimental-subgroup-matrix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := tc.k.Source(f)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(src, "struct Params { n: u32 }") {
					t.Fatalf("no uniform struct in\n%s", src)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrDeclaration) && !errors.Is(err, ErrFeature) {
				t.Fatalf("%v is neither ErrDeclaration nor ErrFeature", err)
			}
		})
	}
}

// TestSourceEnablesF16 checks that a kernel computing in f16 starts
// with the directive WGSL requires and one that does not never has it.
func TestSourceEnablesF16(t *testing.T) {
	for _, f16 := range []bool{false, true} {
		k := elementwise("st_y(i, f32(f16(ld_x(i))));").In("x", nil).Out("y", dtype.F32, 4)
		k.F16 = f16
		src, err := k.Source(gpu.Features{ShaderF16: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.HasPrefix(src, "enable f16;\n"); got != f16 {
			t.Errorf("F16 %v: source starts with the f16 directive: %v", f16, got)
		}
	}
}

func TestKeyNamesTheDeclaration(t *testing.T) {
	base := func() *Kernel { return elementwise("st_y(i, ld_x(i));").In("x", nil).Out("y", dtype.F32, 4) }
	k0 := base().Key()
	if k0 != base().Key() {
		t.Fatal("the same declaration gave two keys")
	}
	if !strings.HasPrefix(k0, "test/") {
		t.Fatalf("key %q does not start with the kernel's name", k0)
	}
	variants := map[string]*Kernel{
		"dtype":   elementwise("st_y(i, ld_x(i));").In("x", nil).Out("y", dtype.BF16, 4),
		"snippet": elementwise("st_y(i, 2.0 * ld_x(i));").In("x", nil).Out("y", dtype.F32, 4),
		"const":   base().Uint("WG", 64),
		"vec":     func() *Kernel { k := base(); k.Vec = 4; return k }(),
		"f16":     func() *Kernel { k := base(); k.F16 = true; return k }(),
		"units":   func() *Kernel { k := base(); k.Units = 2; return k }(),
		"sg":      func() *Kernel { k := base(); k.Subgroups = true; return k }(),
		"files":   func() *Kernel { k := base(); k.Files = append(k.Files, "act"); return k }(),
		"words":   elementwise("st_y(i, ld_x(i));").In("x", nil).Words().Out("y", dtype.F32, 4),
		"uniform": base().U32("m", 1),
		// The same text split differently between a constant's name and value.
		"split a": base().Const("WG", "64"),
		"split b": base().Const("WG6", "4"),
	}
	for name, k := range variants {
		if k.Key() == k0 {
			t.Errorf("changing the %s left the key %q unchanged", name, k0)
		}
	}
	if variants["split a"].Key() == variants["split b"].Key() {
		t.Error("a constant's name and value split at another place gave the same key")
	}
	// Uniform values and grids are launch data, not part of the variant.
	k := base()
	k.SetU32("n", 99)
	k.Grid = gpu.Grid{7, 1, 1}
	if k.Key() != k0 {
		t.Error("a uniform value or the grid changed the key")
	}
}

func TestParamsLayout(t *testing.T) {
	k := (&Kernel{}).U32("a", 1).I32("b", -2).F32("c", 1.5)
	got := k.params()
	want := []byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0, 0, 0xc0, 0x3f, 0, 0, 0, 0}
	if string(got) != string(want) {
		t.Fatalf("params % x, want % x", got, want)
	}
}

// TestSourceEnablesSubgroupMatrix checks the directive Tint needs for
// subgroup matrices and the array<i32> declaration of an Ints binding.
func TestSourceEnablesSubgroupMatrix(t *testing.T) {
	f := gpu.Features{SubgroupMatrixI8: []gpu.MatrixShape{{M: 16, N: 16, K: 32}}}
	for _, sm := range []bool{false, true} {
		k := elementwise("y_buf[i] = x_buf[i];").In("x", nil).Ints().Out("y", dtype.I32, 4).Ints()
		k.SubgroupMatrix = sm
		src, err := k.Source(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.HasPrefix(src, "enable chromium_experimental_subgroup_matrix;\n"); got != sm {
			t.Errorf("SubgroupMatrix %v: source starts with the directive: %v", sm, got)
		}
		for _, decl := range []string{"var<storage, read> x_buf: array<i32>;", "var<storage, read_write> y_buf: array<i32>;"} {
			if !strings.Contains(src, decl) {
				t.Errorf("no %q in\n%s", decl, src)
			}
		}
	}
	a := elementwise("y_buf[i] = x_buf[i];").In("x", nil).Ints().Out("y", dtype.I32, 4).Ints()
	b := elementwise("y_buf[i] = x_buf[i];").In("x", nil).Ints().Out("y", dtype.I32, 4).Ints()
	b.SubgroupMatrix = true
	if a.Key() == b.Key() {
		t.Error("the key does not tell a subgroup-matrix kernel from a plain one")
	}
}
