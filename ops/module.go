package ops

import "github.com/webfuser/webfuser/gpu"

// Projector is a layer that maps [..., In] to [..., Out]: a Linear or a
// LinearFP8. Layers hold their projections as Projector values so that
// ReplaceLinearLayers can swap one kind for the other.
type Projector interface {
	// Forward computes the projection of x.
	Forward(x *gpu.Tensor) (*gpu.Tensor, error)
	// ForwardAct computes act(Forward(x)), fused where the dispatch table says so.
	ForwardAct(x *gpu.Tensor, act Activation) (*gpu.Tensor, error)
	// Dims returns the input and output features.
	Dims() (in, out int)
	// Parameters returns the tensors the projection owns.
	Parameters() []*gpu.Tensor
}

// Module is a layer built from ops layers, as ReplaceLinearLayers and
// ParameterBytes walk it.
type Module interface {
	// Projections returns pointers to the projections the module owns
	// directly, so that a walker can replace them.
	Projections() []*Projector
	// Children returns the sub-modules.
	Children() []Module
	// Parameters returns the tensors the module owns directly, outside
	// its projections and children.
	Parameters() []*gpu.Tensor
}

// ParameterBytes returns the device bytes of every distinct tensor a
// module tree owns, projections included.
func ParameterBytes(m Module) uint64 {
	seen := map[*gpu.Tensor]bool{}
	var total uint64
	var walk func(Module)
	add := func(ts []*gpu.Tensor) {
		for _, t := range ts {
			if t != nil && !seen[t] {
				seen[t] = true
				total += t.ByteSize()
			}
		}
	}
	walk = func(m Module) {
		add(m.Parameters())
		for _, p := range m.Projections() {
			if *p != nil {
				add((*p).Parameters())
			}
		}
		for _, c := range m.Children() {
			walk(c)
		}
	}
	walk(m)
	return total
}

// replaceLinears walks a module tree and swaps every Linear projection
// that keep accepts (nil keeps all) for quant's copy of it, releasing the
// full-width weight; it returns the number of layers replaced.
func replaceLinears(m Module, keep func(*Linear) bool, quant func(*Linear) (Projector, error)) (int, error) {
	n := 0
	var walk func(Module) error
	walk = func(m Module) error {
		for _, p := range m.Projections() {
			lin, ok := (*p).(*Linear)
			if !ok || (keep != nil && !keep(lin)) {
				continue
			}
			f, err := quant(lin)
			if err != nil {
				return err
			}
			*p = f
			lin.Weight.Release()
			lin.Weight = nil
			n++
		}
		for _, c := range m.Children() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return n, walk(m)
}
