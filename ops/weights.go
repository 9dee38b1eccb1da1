package ops

import (
	"fmt"
	"sort"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/safetensors"
)

// The FP8 storage dtypes of quantised linear weights.
const (
	FP8E4M3 DType = dtype.FP8E4M3
	FP8E5M2 DType = dtype.FP8E5M2
)

// StateDict is a PyTorch state dict saved by safetensors.torch.save_file,
// read lazily (safetensors.File): the header is checked when it is
// opened, each tensor's bytes are read (natively: mapped) when LoadState
// uploads it.
type StateDict = safetensors.File

// OpenStateDict opens a safetensors file; natively it is memory-mapped.
// Close it once the model is loaded.
func OpenStateDict(path string) (*StateDict, error) { return safetensors.Open(path) }

// ParseStateDict reads a state dict held in memory, e.g. the bytes the
// browser fetched; the tensors are views of b.
func ParseStateDict(b []byte) (*StateDict, error) { return safetensors.Parse(b) }

// StateSpec declares the parameters a model expects, by PyTorch module
// path (e.g. "blocks.0.self_attn.q.weight"), with their shapes.
type StateSpec struct {
	params []paramSpec
	index  map[string]int
}

type paramSpec struct {
	name     string
	shape    []int
	optional bool
	linear   bool // a linear layer's weight: float, or FP8 with a ".weight_scale" sibling
}

// Param declares a required float parameter of the given shape.
func (s *StateSpec) Param(name string, shape ...int) { s.add(paramSpec{name: name, shape: shape}) }

// Optional declares a float parameter that may be absent.
func (s *StateSpec) Optional(name string, shape ...int) {
	s.add(paramSpec{name: name, shape: shape, optional: true})
}

// Linear declares a torch.nn.Linear at prefix: prefix.weight [out, in],
// stored as a float dtype or as FP8 (F8_E4M3, F8_E5M2) with an f32
// prefix.weight_scale [out, 1] or [1, 1], and, when bias is set, a
// required prefix.bias [out].
func (s *StateSpec) Linear(prefix string, out, in int, bias bool) {
	s.add(paramSpec{name: prefix + ".weight", shape: []int{out, in}, linear: true})
	if bias {
		s.Param(prefix+".bias", out)
	}
}

func (s *StateSpec) add(p paramSpec) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	p.shape = append([]int{}, p.shape...)
	if i, ok := s.index[p.name]; ok {
		s.params[i] = p
		return
	}
	s.index[p.name] = len(s.params)
	s.params = append(s.params, p)
}

// Names returns the declared parameter names in declaration order.
func (s *StateSpec) Names() []string {
	out := make([]string, len(s.params))
	for i, p := range s.params {
		out[i] = p.name
	}
	return out
}

// State holds a model's parameters on a device, by module path. Every
// float parameter has the one dtype DType; FP8 linear weights keep their
// format, with their f32 scales.
type State struct {
	DType   DType
	tensors map[string]*Tensor
}

// loadErr returns an *Error of LoadState naming a parameter.
func loadErr(name string, kind error, format string, args ...any) error {
	return &Error{Op: "LoadState", Tensor: name, Rule: fmt.Sprintf(format, args...), Err: kind}
}

func isFloat(dt DType) bool { return dt == F32 || dt == F16 || dt == BF16 }

// LoadState checks a state dict against spec and uploads every
// parameter to d once, in the dtype it is stored in, straight from the
// file's bytes. It refuses, with an *Error naming the parameter: a
// tensor the spec does not declare (unexpected), a declared one that is
// absent (missing), a shape other than declared, a dtype that is not a
// float (FP8 only for linear weights, which then need their scale), and
// a float dtype other than the first parameter's (mixed dtypes). Nothing
// stays on the device when it fails.
func LoadState(d *Device, sd *StateDict, spec *StateSpec) (*State, error) {
	if d == nil || sd == nil || spec == nil {
		return nil, loadErr("", ErrInvalid, "device, state dict and spec are required")
	}
	scales := map[string]string{} // scale name -> weight name, for declared linears
	for _, p := range spec.params {
		if p.linear {
			scales[p.name+"_scale"] = p.name
		}
	}
	// Unexpected tensors first, in name order.
	for _, n := range sd.Names() {
		if _, ok := spec.index[n]; ok {
			continue
		}
		w, isScale := scales[n]
		if isScale {
			if in, ok := sd.Info(w); ok && isFP8(in.DType) && in.Readable {
				continue
			}
		}
		in, _ := sd.Info(n)
		why := "is not a parameter of the model"
		if isScale {
			why = fmt.Sprintf("is a scale, but %s is not an FP8 weight", w)
		}
		return nil, loadErr(n, ErrInvalid, "unexpected tensor %s%v: %s", in.Type, in.Shape, why)
	}
	st := &State{tensors: map[string]*Tensor{}}
	first := ""
	type job struct {
		name  string
		dt    DType
		shape []int
	}
	var jobs []job
	for _, p := range spec.params {
		in, ok := sd.Info(p.name)
		if !ok {
			if p.optional {
				continue
			}
			return nil, loadErr(p.name, ErrInvalid, "is missing (want shape %v)", p.shape)
		}
		if !in.Readable || !(isFloat(in.DType) || (p.linear && isFP8(in.DType))) {
			want := "F32, F16 or BF16"
			if p.linear {
				want += ", or F8_E4M3/F8_E5M2 with a weight_scale"
			}
			return nil, loadErr(p.name, ErrDType, "dtype %s, want %s", in.Type, want)
		}
		if fmt.Sprint(in.Shape) != fmt.Sprint(p.shape) {
			return nil, loadErr(p.name, ErrInvalid, "shape %v, want %v", in.Shape, p.shape)
		}
		if isFloat(in.DType) {
			if first == "" {
				st.DType, first = in.DType, p.name
			} else if in.DType != st.DType {
				return nil, loadErr(p.name, ErrDType, "dtype %v differs from %s's %v: a model runs in one dtype", in.DType, first, st.DType)
			}
		}
		jobs = append(jobs, job{p.name, in.DType, in.Shape})
		if isFP8(in.DType) {
			sn := p.name + "_scale"
			si, ok := sd.Info(sn)
			if !ok {
				return nil, loadErr(sn, ErrInvalid, "is missing: FP8 weight %s needs its f32 scale [%d,1] or [1,1]", p.name, p.shape[0])
			}
			if !si.Readable || si.DType != F32 {
				return nil, loadErr(sn, ErrDType, "dtype %s, want F32", si.Type)
			}
			if n := si.Numel(); len(si.Shape) != 2 || si.Shape[1] != 1 || (n != p.shape[0] && n != 1) {
				return nil, loadErr(sn, ErrInvalid, "shape %v, want [%d,1] or [1,1]", si.Shape, p.shape[0])
			}
			jobs = append(jobs, job{sn, F32, si.Shape})
		}
	}
	for _, j := range jobs {
		b, err := sd.Bytes(j.name)
		if err != nil {
			st.Release()
			return nil, loadErr(j.name, ErrInvalid, "read: %v", err)
		}
		t, err := d.UploadBytes(j.dt, j.shape, b)
		if err != nil {
			st.Release()
			return nil, fmt.Errorf("ops.LoadState: %s: upload: %w", j.name, err)
		}
		st.tensors[j.name] = t
	}
	return st, nil
}

// Tensor returns the parameter at a module path, or nil if it was an
// absent optional one.
func (s *State) Tensor(name string) *Tensor { return s.tensors[name] }

// Linear returns the layer at prefix: a *Linear for a float weight, a
// *LinearFP8 (activations quantised per token) for an FP8 one; the bias
// is prefix.bias when loaded.
func (s *State) Linear(prefix string) (Projector, error) {
	w := s.tensors[prefix+".weight"]
	if w == nil {
		return nil, loadErr(prefix+".weight", ErrInvalid, "was not loaded")
	}
	b := s.tensors[prefix+".bias"]
	if isFP8(w.DType) {
		return NewLinearFP8(w, s.tensors[prefix+".weight_scale"], b, "per_token")
	}
	return NewLinear(w, b)
}

// Names returns the loaded tensors' names, sorted.
func (s *State) Names() []string {
	out := make([]string, 0, len(s.tensors))
	for n := range s.tensors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Bytes returns the device bytes the parameters occupy.
func (s *State) Bytes() uint64 {
	var n uint64
	for _, t := range s.tensors {
		n += t.ByteSize()
	}
	return n
}

// Release frees every parameter on the device. Layers built from the
// state must not be used afterwards.
func (s *State) Release() {
	for n, t := range s.tensors {
		t.Release()
		delete(s.tensors, n)
	}
}
