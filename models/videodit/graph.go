package videodit

import (
	"slices"

	"github.com/webfuser/webfuser/ops"
)

// ForwardGraph is Forward in graph mode (ops.Record): its first call
// records the forward with the tokens and the conditioning as inputs,
// later calls replay it, writing the new times' sinusoid (and the
// classes', when they changed) into the recorded inputs in place.
type ForwardGraph struct {
	m       *Model
	g       *ops.Graph
	cond    []*ops.Tensor // sinusoid, one-hot classes, context tokens
	classes []int
}

// NewForwardGraph returns a ForwardGraph of the model; nothing is
// recorded until its first Forward.
func (m *Model) NewForwardGraph() *ForwardGraph { return &ForwardGraph{m: m} }

// Forward is Model.Forward. The output is a view of the graph's arena,
// valid until the next call or Release; a batch of another size than
// the first call's is an ops.ErrGraph error naming input 0.
func (f *ForwardGraph) Forward(x *ops.Tensor, t []float64, classes []int) (*ops.Tensor, error) {
	m := f.m
	if f.g == nil {
		return f.record(x, t, classes)
	}
	if len(t) != len(classes) || len(t) != len(f.classes) {
		return nil, errorf("t", "%d times and %d classes; the graph was recorded with a batch of %d", len(t), len(classes), len(f.classes))
	}
	sinH, hotH, ctxH, err := m.Config.Conditioning(m.DType, t, classes)
	if err != nil {
		return nil, err
	}
	if err := f.g.Write(1, sinH); err != nil {
		return nil, err
	}
	if !slices.Equal(classes, f.classes) {
		if err := f.g.Write(2, hotH); err != nil {
			return nil, err
		}
		if err := f.g.Write(3, ctxH); err != nil {
			return nil, err
		}
		f.classes = slices.Clone(classes)
	}
	outs, err := f.g.Replay(x, f.cond[0], f.cond[1], f.cond[2])
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// record runs the first forward eagerly and records it.
func (f *ForwardGraph) record(x *ops.Tensor, t []float64, classes []int) (*ops.Tensor, error) {
	m := f.m
	if err := m.checkTokens(x, len(t)); err != nil {
		return nil, err
	}
	sinH, hotH, ctxH, err := m.Config.Conditioning(m.DType, t, classes)
	if err != nil {
		return nil, err
	}
	if f.cond, err = m.upload(sinH, hotH, ctxH); err != nil {
		return nil, err
	}
	g, outs, err := ops.Record(m.dev, append([]*ops.Tensor{x}, f.cond...), func() ([]*ops.Tensor, error) {
		v, err := m.forward(x, f.cond[0], f.cond[1], f.cond[2])
		return []*ops.Tensor{v}, err
	})
	if err != nil {
		return nil, err
	}
	f.g, f.classes = g, slices.Clone(classes)
	return outs[0], nil
}

// Stats returns the recorded graph's kernel and arena counts (zero
// before the first Forward).
func (f *ForwardGraph) Stats() ops.GraphStats {
	if f.g == nil {
		return ops.GraphStats{}
	}
	return f.g.Stats()
}

func (f *ForwardGraph) forward(x *ops.Tensor, t []float64, classes []int) (*ops.Tensor, error) {
	return f.Forward(x, t, classes)
}

// Release frees the graph and the conditioning it holds.
func (f *ForwardGraph) Release() {
	if f.g != nil {
		f.g.Release()
		f.g = nil
	}
	for _, t := range f.cond {
		t.Release()
	}
	f.cond = nil
}

func (f *ForwardGraph) release() { f.Release() }
