// Package kernel is the one way WebFuser launches a WGSL program. A
// Kernel value declares everything about one launch: its WGSL files, the
// constants and generated snippets it is specialised on, its storage
// bindings (name, tensor, read or write), its uniforms (name, WGSL type,
// value) and its grid. From that one declaration Run derives the
// pipeline cache key (before any source is assembled), the storage
// declarations and uniform struct of the WGSL, a check that the WGSL
// uses exactly the uniforms and bindings declared, the bind group, the
// uniform bytes and the outputs it allocates. A recorded graph is a list
// of such values.
package kernel

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/wgsl"
)

// Kernel declares one launch of a WGSL program.
type Kernel struct {
	Name      string   // operator family; the key and errors start with it
	Files     []string // embedded wgsl/*.wgsl files, in order
	Vec       int      // pack width P of the accessors: 1 or 4 (0 means 1)
	Units     int      // packs per unit: 2 for 16-byte accesses to 16-bit storage (0 means 1)
	Subgroups bool     // the WGSL uses subgroup builtins (the device must have them)
	F16       bool     // the WGSL computes in f16 ("enable f16"; the device must have shader-f16)
	// SubgroupMatrix: the WGSL uses i8 subgroup matrices (tensor cores;
	// the device must list i8 -> i32 configurations, gpu.Features).
	SubgroupMatrix bool
	Consts         []Const   // WGSL constants, emitted before the files
	Snippets       []Snippet // generated WGSL, each filling {{NAME}} in the files
	Bindings       []Binding // storage buffers, bound in order
	Uniforms       []Uniform // fields of the uniform struct p, bound after the buffers
	Grid           gpu.Grid  // workgroups to dispatch
}

// Const is a WGSL constant: const Name = Value; (Value is WGSL text).
type Const struct{ Name, Value string }

// Snippet is generated WGSL that replaces {{Name}} in the kernel's files.
type Snippet struct{ Name, WGSL string }

// Binding is one storage buffer: the name its accessors carry (ld_x,
// st_x, ...), the tensor bound and whether the kernel writes it. An
// output binding has no tensor yet: Run allocates it with Out's dtype and
// shape.
type Binding struct {
	Name  string
	T     *gpu.Tensor
	Write bool
	Words bool // declared as raw 16-byte words (NAME_buf), whatever the dtype
	Ints  bool // declared as raw i32 words (NAME_buf: array<i32>), as subgroup matrices of i8 need
	Pairs bool // declared as raw 8-byte words (NAME_buf: array<vec2<u32>>), whatever the dtype
	out   *outSpec
}

type outSpec struct {
	dt    dtype.DType
	shape []int
}

// DType returns the storage dtype the binding is declared with.
func (b Binding) DType() dtype.DType {
	if b.out != nil {
		return b.out.dt
	}
	if b.T == nil {
		return 0
	}
	return b.T.DType
}

// Output reports whether the binding is an output that Run allocates.
func (b Binding) Output() bool { return b.out != nil }

// Uniform is one 4-byte field of the uniform struct: a name, a WGSL
// type (u32, i32 or f32) and its value.
type Uniform struct {
	Name, Type string
	v          float64
}

// Value returns the value of the uniform name, and whether the kernel
// has one.
func (k *Kernel) Value(name string) (float64, bool) {
	for _, u := range k.Uniforms {
		if u.Name == name {
			return u.v, true
		}
	}
	return 0, false
}

// In adds a binding the kernel reads.
func (k *Kernel) In(name string, t *gpu.Tensor) *Kernel {
	k.Bindings = append(k.Bindings, Binding{Name: name, T: t})
	return k
}

// Into adds a binding the kernel writes into an existing tensor.
func (k *Kernel) Into(name string, t *gpu.Tensor) *Kernel {
	k.Bindings = append(k.Bindings, Binding{Name: name, T: t, Write: true})
	return k
}

// Out adds an output binding that Run allocates with dtype dt and shape.
func (k *Kernel) Out(name string, dt dtype.DType, shape ...int) *Kernel {
	k.Bindings = append(k.Bindings, Binding{Name: name, Write: true, out: &outSpec{dt, append([]int(nil), shape...)}})
	return k
}

// Words declares the last binding added as raw 16-byte words: the WGSL
// sees NAME_buf: array<vec4<u32>> and no accessors.
func (k *Kernel) Words() *Kernel {
	k.Bindings[len(k.Bindings)-1].Words = true
	return k
}

// Pairs declares the last binding added as raw 8-byte words: the WGSL
// sees NAME_buf: array<vec2<u32>> and no accessors.
func (k *Kernel) Pairs() *Kernel {
	k.Bindings[len(k.Bindings)-1].Pairs = true
	return k
}

// Ints declares the last binding added as raw i32 words (NAME_buf:
// array<i32>, no accessors): subgroupMatrixLoad of i8 matrices and
// subgroupMatrixStore of i32 results take pointers to such arrays.
func (k *Kernel) Ints() *Kernel {
	k.Bindings[len(k.Bindings)-1].Ints = true
	return k
}

// U32 adds a u32 uniform; Run refuses a value outside [0, 2³²).
func (k *Kernel) U32(name string, v int) *Kernel {
	k.Uniforms = append(k.Uniforms, Uniform{name, "u32", float64(v)})
	return k
}

// I32 adds an i32 uniform; Run refuses a value outside the i32 range.
func (k *Kernel) I32(name string, v int) *Kernel {
	k.Uniforms = append(k.Uniforms, Uniform{name, "i32", float64(v)})
	return k
}

// F32 adds an f32 uniform.
func (k *Kernel) F32(name string, v float32) *Kernel {
	k.Uniforms = append(k.Uniforms, Uniform{name, "f32", float64(v)})
	return k
}

// SetU32 changes the value of the u32 uniform name, adding it if the
// kernel has none, for a declaration that runs several times.
func (k *Kernel) SetU32(name string, v int) *Kernel {
	for i := range k.Uniforms {
		if k.Uniforms[i].Name == name {
			k.Uniforms[i].v = float64(v)
			return k
		}
	}
	return k.U32(name, v)
}

// Reuse turns the output bindings, in order, into bindings that write
// the given tensors (the outputs of an earlier Run), so that a
// declaration can run again into the same outputs.
func (k *Kernel) Reuse(outs []*gpu.Tensor) *Kernel {
	i := 0
	for j := range k.Bindings {
		if k.Bindings[j].out != nil && i < len(outs) {
			k.Bindings[j].T, k.Bindings[j].out = outs[i], nil
			i++
		}
	}
	return k
}

// Const adds the WGSL constant name = value (WGSL text).
func (k *Kernel) Const(name, value string) *Kernel {
	k.Consts = append(k.Consts, Const{name, value})
	return k
}

// Uint adds an unsigned WGSL constant.
func (k *Kernel) Uint(name string, v int) *Kernel { return k.Const(name, wgsl.U32(v)) }

// Bool adds a boolean WGSL constant.
func (k *Kernel) Bool(name string, v bool) *Kernel { return k.Const(name, wgsl.Bool(v)) }

// Snippet sets the WGSL that replaces {{name}} in the files.
func (k *Kernel) Snippet(name, src string) *Kernel {
	k.Snippets = append(k.Snippets, Snippet{name, src})
	return k
}

func (k *Kernel) vec() int   { return max(k.Vec, 1) }
func (k *Kernel) units() int { return max(k.Units, 1) }

// Key returns the pipeline cache key: the kernel's name, its bindings'
// dtypes and a hash of the rest of its declaration (everything the source
// depends on apart from the device's features). It is computed from the
// declaration alone, so a warm call assembles no source, and it hashes
// the declaration's fields as they are, each prefixed by its length, with
// hash/maphash: every eager call computes it, and formatting the snippets
// (quoted by fmt) into an FNV hash took half the host time of a GEMV
// call (BenchmarkEagerHost, 2026-11-29). The hash's seed is made per
// process, so keys differ between runs.
func (k *Kernel) Key() string {
	h := keyHash{}
	h.h.SetSeed(keySeed)
	h.str(k.Name)
	h.num(k.vec(), k.units())
	h.flags(k.Subgroups, k.F16, k.SubgroupMatrix)
	h.num(len(k.Files))
	for _, f := range k.Files {
		h.str(f)
	}
	h.num(len(k.Consts))
	for _, c := range k.Consts {
		h.str(c.Name)
		h.str(c.Value)
	}
	h.num(len(k.Bindings))
	dts := make([]string, len(k.Bindings))
	for i, x := range k.Bindings {
		dts[i] = x.DType().String()
		h.str(x.Name)
		h.str(dts[i])
		h.flags(x.Write, x.Words, x.Ints, x.Pairs)
	}
	h.num(len(k.Uniforms))
	for _, u := range k.Uniforms {
		h.str(u.Name)
		h.str(u.Type)
	}
	h.num(len(k.Snippets))
	for _, sn := range k.Snippets {
		h.str(sn.Name)
		h.str(sn.WGSL)
	}
	return k.Name + "/" + strings.Join(dts, ",") + "/" + fmt.Sprintf("%016x", h.h.Sum64())
}

// keySeed seeds every Key of this process.
var keySeed = maphash.MakeSeed()

// keyHash feeds Key's fields to a maphash.Hash.
type keyHash struct {
	h   maphash.Hash
	buf [8]byte
}

// num hashes each value as eight bytes.
func (h *keyHash) num(vs ...int) {
	for _, v := range vs {
		binary.LittleEndian.PutUint64(h.buf[:], uint64(v))
		h.h.Write(h.buf[:])
	}
}

// str hashes s's length, then its bytes: no two field sequences give
// the same stream.
func (h *keyHash) str(s string) {
	h.num(len(s))
	h.h.WriteString(s)
}

// flags hashes the booleans as one byte each.
func (h *keyHash) flags(bs ...bool) {
	for _, b := range bs {
		if b {
			h.h.WriteByte(1)
		} else {
			h.h.WriteByte(0)
		}
	}
}
