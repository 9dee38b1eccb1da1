package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/wgsl"
)

// program assembles one kernel variant: the pack width, the dtype
// conversions, a storage declaration per buffer (bound in order, then the
// uniform), constants, and the kernel's own files with placeholders
// filled. Its key names every choice, so pipelines cache by it.
type program struct {
	name    string
	vec     int
	units   int // packs per unit: 2 for 16-byte accesses to 16-bit storage, else 1
	bufs    []wgsl.Buffer
	uniform []string          // uniform struct fields
	consts  map[string]string // const NAME = value;
	vars    map[string]string // {{NAME}} replacements
	files   []string          // embedded .wgsl files, in order
	extra   []string          // generated WGSL functions
	edits   [][2]string       // textual replacements, for experiments in tests
	dev     *gpu.Device
}

func newProgram(d *gpu.Device, name string, vec int, files ...string) *program {
	return &program{name: name, vec: vec, units: 1, consts: map[string]string{}, vars: map[string]string{}, files: files, dev: d}
}

// buf adds the next storage binding.
func (p *program) buf(name string, dt dtype.DType, write bool) *program {
	p.bufs = append(p.bufs, wgsl.Buffer{Name: name, Binding: len(p.bufs), DType: dt, Write: write})
	return p
}

// constant adds a WGSL constant (value as WGSL text).
func (p *program) constant(name, value string) *program {
	p.consts[name] = value
	return p
}

// subgroups fills the subgroup placeholders for the device and sets SUBGROUPS.
func (p *program) subgroups(use bool) *program {
	use = use && p.dev.Features.Subgroups
	dir, params, init := wgsl.Subgroups(use, p.dev.Features.SubgroupsEnable)
	p.vars["SG_DIRECTIVE"] = dir
	p.vars["SG_PARAMS"] = params
	p.vars["SG_INIT"] = init
	p.vars["SG_REDUCE"] = sgReduce(use)
	p.consts["SUBGROUPS"] = wgsl.Bool(use)
	return p
}

// sgReduce is the subgroup body of reduce.wgsl, empty without subgroups.
func sgReduce(use bool) string {
	if !use {
		return ""
	}
	return `let t = subgroupAdd(v);
    let nsg = (WG + sg_size - 1u) / sg_size;
    if (sg_lane == 0u) { red[base + lid / sg_size] = t; }
    workgroupBarrier();
    for (var i = 0u; i < nsg; i = i + 1u) { total = total + red[base + i]; }`
}

// key returns the pipeline cache key: name, pack width, files, uniform
// fields, each buffer's dtype, constants and placeholder values, sorted.
// With the device's features it determines the source.
func (p *program) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/v%dx%d/%v/%v", p.name, p.vec, p.units, p.files, p.uniform)
	for _, x := range p.bufs {
		fmt.Fprintf(&b, "/%s:%v", x.Name, x.DType)
	}
	for _, k := range sortedKeys(p.consts) {
		fmt.Fprintf(&b, "/%s=%s", k, p.consts[k])
	}
	for _, e := range p.extra {
		fmt.Fprintf(&b, "/%q", e)
	}
	for _, e := range p.edits {
		fmt.Fprintf(&b, "/edit%q", e)
	}
	for _, k := range sortedKeys(p.vars) {
		if k != "SG_DIRECTIVE" && k != "SG_PARAMS" && k != "SG_INIT" && k != "SG_REDUCE" {
			fmt.Fprintf(&b, "/%s=%q", k, p.vars[k])
		}
	}
	return b.String()
}

// source returns the assembled WGSL.
func (p *program) source() (string, error) {
	var b strings.Builder
	b.WriteString(p.vars["SG_DIRECTIVE"])
	b.WriteString(wgsl.Vec(p.vec, p.units))
	b.WriteString(wgsl.Conversions)
	for _, k := range sortedKeys(p.consts) {
		fmt.Fprintf(&b, "const %s = %s;\n", k, p.consts[k])
	}
	for _, x := range p.bufs {
		b.WriteString(x.Decl(p.vec, p.units))
	}
	if len(p.uniform) > 0 {
		b.WriteString(wgsl.Uniform(len(p.bufs), p.uniform...))
	}
	for _, e := range p.extra {
		b.WriteString(e)
	}
	for _, f := range p.files {
		b.WriteString(wgsl.Source(f))
		b.WriteByte('\n')
	}
	src, err := wgsl.Fill(b.String(), p.vars)
	for _, e := range p.edits {
		src = strings.ReplaceAll(src, e[0], e[1])
	}
	return src, err
}

// pipeline compiles (or fetches from the cache) the program's pipeline.
func (p *program) pipeline() (*gpu.Pipeline, error) {
	key := p.key()
	if pl := p.dev.Cached(key); pl != nil {
		return pl, nil // every op call ends here once warm: no source assembly
	}
	src, err := p.source()
	if err != nil {
		return nil, err
	}
	acc := make([]gpu.Access, 0, len(p.bufs)+1)
	for _, x := range p.bufs {
		if x.Write {
			acc = append(acc, gpu.ReadWrite)
		} else {
			acc = append(acc, gpu.Read)
		}
	}
	if len(p.uniform) > 0 {
		acc = append(acc, gpu.Uniform)
	}
	return p.dev.Pipeline(gpu.Kernel{Key: key, Source: src, Bindings: acc})
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// roundFn returns WGSL functions that round a pack to dt and back, so
// intermediate results match a composition that stores them: name, and
// name_unchecked, which skips bf16's NaN test and adds what it rounds to
// nan_sum instead (see wgsl.Conversions); for other dtypes the two agree.
func roundFn(name string, dt dtype.DType, vec int) string {
	var body string
	switch dt {
	case dtype.F16:
		body = "f16_to_f32(f32_to_f16(v))"
	case dtype.BF16:
		if vec == 4 {
			return fmt.Sprintf("fn %[1]s(v: P) -> P { return bf16x4_round(v); }\n"+
				"fn %[1]s_unchecked(v: P) -> P { nan_sum = nan_sum + hsum(v); return bf16x4_round_unchecked(v); }\n", name)
		}
		body = "bf16_to_f32(f32_to_bf16(v))"
	default:
		body = "v"
	}
	if vec == 4 && dt != dtype.F32 {
		s := strings.ReplaceAll(body, "v)", "v.%s)")
		body = fmt.Sprintf("P(%s, %s, %s, %s)", fmt.Sprintf(s, "x"), fmt.Sprintf(s, "y"), fmt.Sprintf(s, "z"), fmt.Sprintf(s, "w"))
	}
	return fmt.Sprintf("fn %[1]s(v: P) -> P { return %[2]s; }\nfn %[1]s_unchecked(v: P) -> P { return %[1]s(v); }\n", name, body)
}

// checkOutput is the WGSL line that adds an output pack y to nan_sum
// before an unchecked store of dtype dt, or nothing where stores are
// always checked.
func checkOutput(dt dtype.DType) string {
	if dt == dtype.BF16 {
		return "\n        nan_sum = nan_sum + hsum(y);"
	}
	return ""
}
