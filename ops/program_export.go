package ops

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// Program assembles one kernel variant for operator packages outside ops
// (ops/attention): the pack width, the dtype conversions, a storage
// declaration per buffer (bound in order, then the uniform), constants,
// the kernel files with their placeholders filled. Its cache key names
// every choice.
type Program struct{ p *program }

// NewProgram starts a program named name with pack width vec (1 or 4)
// made of the embedded kernel files, in order.
func NewProgram(d *gpu.Device, name string, vec int, files ...string) *Program {
	return &Program{newProgram(d, name, vec, files...)}
}

// Buf adds the next storage binding (accessors ld_NAME, ldv_NAME, ...).
func (p *Program) Buf(name string, dt dtype.DType, write bool) *Program {
	p.p.buf(name, dt, write)
	return p
}

// Const adds a WGSL constant; value is WGSL text.
func (p *Program) Const(name, value string) *Program {
	p.p.constant(name, value)
	return p
}

// Var sets the replacement of the placeholder {{name}}.
func (p *Program) Var(name, value string) *Program {
	p.p.vars[name] = value
	return p
}

// Extra appends generated WGSL (functions) before the kernel files.
func (p *Program) Extra(src string) *Program {
	p.p.extra = append(p.p.extra, src)
	return p
}

// Uniform declares the uniform struct's fields ("n: u32", ...).
func (p *Program) Uniform(fields ...string) *Program {
	p.p.uniform = append(p.p.uniform, fields...)
	return p
}

// Subgroups fills the subgroup placeholders (SG_DIRECTIVE, SG_PARAMS,
// SG_INIT) and the constant SUBGROUPS; use is honoured only where the
// device has subgroups. It reports whether subgroups are on.
func (p *Program) Subgroups(use bool) bool {
	p.p.subgroups(use)
	return p.p.consts["SUBGROUPS"] == "true"
}

// Source returns the assembled WGSL.
func (p *Program) Source() (string, error) { return p.p.source() }

// Key returns the pipeline cache key.
func (p *Program) Key() string { return p.p.key() }

// Pipeline compiles (or fetches from the cache) the program's pipeline.
func (p *Program) Pipeline() (*gpu.Pipeline, error) { return p.p.pipeline() }
