package ops

import (
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/kernel"
)

// Graph is a recorded forward (see Record): replaying it runs the same
// kernels with pipelines and bind groups made once, intermediates in an
// arena shared by those whose lifetimes do not overlap, and every kernel
// in one compute pass.
type Graph struct{ g *kernel.Graph }

// GraphStats counts a graph's kernels and compares its arena with the
// outputs an eager run allocates (kernel.Stats).
type GraphStats = kernel.Stats

// ErrGraph marks a graph used against its rules: an input rebound with
// another dtype or shape, a recording that reads a tensor it neither
// made nor declared as an input, a replay after Release.
var ErrGraph = kernel.ErrGraph

// Record runs f once on d (its outputs are returned as an eager call's
// would be) and records the kernels it launched, then merges runs of
// Narrow copies of one tensor into one kernel (mergeNarrows). inputs are the tensors
// f reads that change between replays; anything else its kernels read
// and did not make (weights) stays bound and must outlive the graph.
func Record(d *Device, inputs []*Tensor, f func() ([]*Tensor, error)) (*Graph, []*Tensor, error) {
	g, outs, err := kernel.Record(d, inputs, f, graphPasses...)
	if err != nil {
		return nil, nil, err
	}
	return &Graph{g}, outs, nil
}

// Replay runs the recorded kernels again, on new inputs if given (one
// per recorded input, same dtypes and shapes), and returns views of the
// outputs, valid until the next Replay or Release. Nothing is submitted
// until a download or Device.Flush.
func (g *Graph) Replay(inputs ...*Tensor) ([]*Tensor, error) { return g.g.Replay(inputs...) }

// Write replaces input i's values in place with h's, rounded to the
// input's dtype; h must have the input's element count. Work recorded
// before is submitted first, so that it reads the old values.
func (g *Graph) Write(i int, h *HostTensor) error {
	in := g.g.Inputs()
	if i < 0 || i >= len(in) {
		return errorf("Graph.Write", "input", "index %d outside the graph's %d inputs", i, len(in))
	}
	if h == nil || h.Numel() != in[i].Numel() {
		return errorf("Graph.Write", "input", "%d values for input %d, %v", numelOf(h), i, in[i])
	}
	return g.g.Write(i, dtype.Encode(in[i].DType, h.Float32()))
}

func numelOf(h *HostTensor) int {
	if h == nil {
		return 0
	}
	return h.Numel()
}

// Inputs returns the tensors bound as the graph's inputs now.
func (g *Graph) Inputs() []*Tensor { return g.g.Inputs() }

// Stats returns the graph's kernel and arena counts.
func (g *Graph) Stats() GraphStats { return g.g.Stats() }

// Release frees the graph's arena and bind groups. The inputs and the
// tensors it kept bound stay the caller's.
func (g *Graph) Release() { g.g.Release() }
