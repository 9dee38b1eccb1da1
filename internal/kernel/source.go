package kernel

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/wgsl"
)

// Source assembles the kernel's WGSL for device features f, in this
// order: the f16 directive where the kernel computes in f16, the
// subgroup-matrix directive where it uses subgroup matrices, the subgroup directive where the runtime wants one, the pack
// aliases, the dtype conversions, the constants (SUBGROUPS and the
// device's FUSED_FMA among them),
// a declaration and accessors per binding, the uniform struct p, then
// the files with every {{NAME}} replaced by its snippet. SG_PARAMS and
// SG_INIT are supplied here: the entry point's subgroup builtins and the
// statement that copies them into sg_lane and sg_size (empty without
// subgroups). Source fails if a placeholder has no snippet, a snippet
// has no placeholder, the WGSL reads a uniform that is not declared, or
// a binding is declared that the WGSL never uses.
func (k *Kernel) Source(f gpu.Features) (string, error) {
	if k.Subgroups && !f.Subgroups {
		return "", errorf(k.Name, "", ErrFeature, "uses subgroups, which the device does not offer")
	}
	if k.F16 && !f.ShaderF16 {
		return "", errorf(k.Name, "", ErrFeature, "computes in f16, which the device does not offer (shader-f16)")
	}
	if k.SubgroupMatrix && len(f.SubgroupMatrixI8) == 0 {
		return "", errorf(k.Name, "", ErrFeature, "uses i8 subgroup matrices, which the device does not offer (chromium-experimental-subgroup-matrix with i8 configurations)")
	}
	var b strings.Builder
	if k.F16 {
		b.WriteString("enable f16;\n")
	}
	if k.SubgroupMatrix {
		b.WriteString("enable chromium_experimental_subgroup_matrix;\n")
	}
	dir, params, init := wgsl.Subgroups(k.Subgroups, f.SubgroupsEnable)
	b.WriteString(dir)
	b.WriteString(wgsl.Vec(k.vec(), k.units()))
	b.WriteString(wgsl.Conversions)
	fmt.Fprintf(&b, "const SUBGROUPS = %s;\nconst FUSED_FMA = %s;\n", wgsl.Bool(k.Subgroups), wgsl.Bool(f.FusedFMA))
	for _, c := range k.Consts {
		fmt.Fprintf(&b, "const %s = %s;\n", c.Name, c.Value)
	}
	for i, x := range k.Bindings {
		b.WriteString(wgsl.Buffer{Name: x.Name, Binding: i, DType: x.DType(), Write: x.Write, Words: x.Words, Ints: x.Ints, Pairs: x.Pairs}.Decl(k.vec(), k.units()))
	}
	if len(k.Uniforms) > 0 {
		fields := make([]string, len(k.Uniforms))
		for i, u := range k.Uniforms {
			fields[i] = u.Name + ": " + u.Type
		}
		b.WriteString(wgsl.Uniform(len(k.Bindings), fields...))
	}
	head := b.String()
	var body strings.Builder
	for _, name := range k.Files {
		body.WriteString(wgsl.Source(name))
		body.WriteByte('\n')
	}
	vars := map[string]string{"SG_PARAMS": params, "SG_INIT": init}
	for _, s := range k.Snippets {
		if _, dup := vars[s.Name]; dup {
			return "", errorf(k.Name, "", ErrDeclaration, "snippet %s is given twice", s.Name)
		}
		vars[s.Name] = s.WGSL
	}
	for _, s := range k.Snippets {
		if !strings.Contains(body.String(), "{{"+s.Name+"}}") {
			return "", errorf(k.Name, "", ErrDeclaration, "snippet %s has no {{%s}} in %v", s.Name, s.Name, k.Files)
		}
	}
	filled, err := wgsl.Fill(body.String(), vars)
	if err != nil {
		return "", errorf(k.Name, "", ErrDeclaration, "%v", err)
	}
	if err := k.checkUses(filled); err != nil {
		return "", err
	}
	return head + filled, nil
}

var uniformUse = regexp.MustCompile(`\bp\.([A-Za-z_][A-Za-z0-9_]*)`)

// checkUses compares what the files and snippets use with what the
// kernel declares: every uniform read is declared (a uniform may be
// declared for a branch that constants switch off), and every binding is
// used through its accessors or its buffer.
func (k *Kernel) checkUses(src string) error {
	declared := map[string]bool{}
	for _, u := range k.Uniforms {
		if declared[u.Name] {
			return errorf(k.Name, "", ErrDeclaration, "uniform %s is declared twice", u.Name)
		}
		declared[u.Name] = true
	}
	used := map[string]bool{}
	for _, m := range uniformUse.FindAllStringSubmatch(src, -1) {
		used[m[1]] = true
	}
	var undeclared []string
	for n := range used {
		if !declared[n] {
			undeclared = append(undeclared, n)
		}
	}
	sort.Strings(undeclared)
	if len(undeclared) > 0 {
		return errorf(k.Name, "", ErrDeclaration, "the WGSL reads uniforms %v that the kernel does not declare", undeclared)
	}
	for _, x := range k.Bindings {
		if !regexp.MustCompile(`\b(ld|ldv|ldu|st|stv|stu|rnd|rnd1)_` + x.Name + `(_unchecked)?\b|\b` + x.Name + `_buf\b`).MatchString(src) {
			return errorf(k.Name, x.Name, ErrDeclaration, "is bound but the WGSL never uses it")
		}
	}
	return nil
}
