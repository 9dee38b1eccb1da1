package kernel

import (
	"errors"
	"fmt"
	"slices"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
)

// ErrGraph marks a graph that cannot be recorded or replayed as asked:
// an input rebound with another dtype or shape, a recording that reads a
// tensor it did not make and did not declare as an input, a replay after
// Release or after the device closed.
var ErrGraph = errors.New("graph rule broken")

// Graph is a recorded sequence of launches (see Record) that Replay runs
// again with its pipelines and bind groups made once, its intermediates
// in an arena of buffers shared by those whose lifetimes do not overlap,
// and every launch in one compute pass.
type Graph struct {
	d      *gpu.Device
	steps  []step
	inputs []*gpu.Tensor // bound now, one per declared input
	values []value       // the intermediates: every output a launch allocated
	outs   []int         // values returned by the recorded function
	slots  []*gpu.Tensor // the arena
	preps  []*gpu.Prepared
	stats  Stats
	done   bool
}

// Pass rewrites the launches of a recording before the graph is built,
// e.g. merging several launches into one. A launch it makes binds, like
// a captured one, a tensor in every binding: the outputs of the
// launches it replaces in their output bindings, so that their readers
// find them; it must compute exactly what they did.
type Pass func(d *gpu.Device, ks []Kernel) []Kernel

// Stats counts a graph's launches and compares its arena with what an
// eager run of the same launches allocates.
type Stats struct {
	Recorded     int    // launches the recording made
	Kernels      int    // launches per replay, after the passes
	EagerBuffers int    // outputs an eager run allocates
	EagerBytes   uint64 // their bytes
	ArenaBuffers int    // buffers of the graph's arena
	ArenaBytes   uint64 // their bytes (before the pool's rounding)
}

type step struct {
	k    Kernel
	p    *gpu.Pipeline
	args []ref
}

// ref is one binding of a step: an input, an intermediate value or an
// external tensor (a weight) that stays bound, viewed as dt and shape.
type ref struct {
	input, value int // index, or -1
	t            *gpu.Tensor
	dt           dtype.DType
	shape        []int
}

type value struct {
	dt          dtype.DType
	shape       []int
	bytes       uint64
	first, last int // the launch that writes it first and the last that binds it
	slot        int
}

func graphErr(name, format string, args ...any) error {
	return errorf("graph", name, ErrGraph, format, args...)
}

// Record runs f once on d as usual, capturing its launches, and returns
// the graph of them with f's outputs of this run. inputs are the tensors
// f reads that change between replays; every other tensor a launch reads
// but no launch made (weights, tables) stays bound, and must outlive the
// graph. Whatever depends on the inputs must reach the launches through
// them: a tensor uploaded inside f and released before f returns is
// refused, since a replay could not see a new one. Every output of f
// must be made by a launch of f. A replay repeats the launches only:
// what f decided on the host (a value read back, a branch) is fixed at
// the recording, and launches other goroutines make on d meanwhile are
// recorded too.
//
// The passes rewrite the recorded launches, in order, before the graph
// is built.
func Record(d *gpu.Device, inputs []*gpu.Tensor, f func() ([]*gpu.Tensor, error), passes ...Pass) (*Graph, []*gpu.Tensor, error) {
	if d == nil {
		return nil, nil, graphErr("", "no device")
	}
	in := map[gpu.Storage]int{}
	for i, t := range inputs {
		if t == nil || t.Released() {
			return nil, nil, graphErr(fmt.Sprintf("input %d", i), "is nil or released")
		}
		if t.Device() != d {
			return nil, nil, graphErr(fmt.Sprintf("input %d", i), "is on another device")
		}
		if _, dup := in[t.Storage()]; dup {
			return nil, nil, graphErr(fmt.Sprintf("input %d", i), "shares its buffer with an earlier input")
		}
		in[t.Storage()] = i
	}
	var outs []*gpu.Tensor
	ks, err := Capture(d, func() error {
		var err error
		outs, err = f()
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	g := &Graph{d: d, inputs: slices.Clone(inputs)}
	recorded := len(ks)
	for _, p := range passes {
		ks = p(d, ks)
	}
	err = g.build(ks, in, outs)
	g.stats.Recorded = recorded
	if err != nil {
		g.Release()
		for _, t := range outs {
			t.Release()
		}
		return nil, nil, err
	}
	return g, outs, nil
}

// build turns the captured launches into steps, finds each
// intermediate's lifetime, lays out the arena and prepares every launch.
func (g *Graph) build(ks []Kernel, in map[gpu.Storage]int, outs []*gpu.Tensor) error {
	val := map[gpu.Storage]int{}
	for i, k := range ks {
		p, err := k.pipeline(g.d)
		if err != nil {
			return err
		}
		s := step{k: k, p: p}
		for _, b := range k.Bindings {
			r := ref{input: -1, value: -1, dt: b.T.DType, shape: slices.Clone(b.T.Shape)}
			id := b.T.Storage()
			if b.out != nil {
				r.value = len(g.values)
				val[id] = r.value
				g.values = append(g.values, value{dt: r.dt, shape: r.shape, bytes: (b.T.ByteSize() + 15) &^ 15, first: i, last: i})
			} else if j, ok := in[id]; ok {
				r.input = j
			} else if j, ok := val[id]; ok {
				r.value = j
				g.values[j].last = i
			} else if b.T.Released() {
				return graphErr(k.Name+"."+b.Name, "reads %v, made outside the recording's launches and released before it ended; pass it as an input", b.T)
			} else {
				r.t = b.T
			}
			s.args = append(s.args, r)
		}
		g.steps = append(g.steps, s)
	}
	for i, t := range outs {
		j, ok := val[t.Storage()]
		if !ok {
			return graphErr(fmt.Sprintf("output %d", i), "%v was not made by a launch of the recording", t)
		}
		g.values[j].last = len(g.steps)
		g.values[j].shape = slices.Clone(t.Shape) // a caller may have reshaped it
		g.outs = append(g.outs, j)
	}
	g.stats = Stats{Kernels: len(g.steps), EagerBuffers: len(g.values)}
	for _, v := range g.values {
		g.stats.EagerBytes += v.bytes
	}
	sizes := assignSlots(g.values)
	g.stats.ArenaBuffers = len(sizes)
	for _, n := range sizes {
		g.stats.ArenaBytes += n
		t, err := g.d.NewOutput(dtype.F32, int(n/4))
		if err != nil {
			return err
		}
		g.slots = append(g.slots, t)
	}
	g.preps = make([]*gpu.Prepared, len(g.steps))
	for i := range g.steps {
		if err := g.prepare(i, g.inputs); err != nil {
			return err
		}
	}
	return nil
}

// assignSlots gives each value, in the order launches make them, a slot
// of the arena that no value alive at the same time holds: the free slot
// of the closest size at least as large, else the largest free slot
// (grown), else a new one. It returns the slots' sizes in bytes. A value
// is alive from the launch that makes it to the last that binds it,
// both included, so a launch never reads and writes one slot.
func assignSlots(vs []value) []uint64 {
	var sizes []uint64
	var until []int // last launch of each slot's current value
	for i := range vs {
		v := &vs[i]
		best := -1
		for s := range sizes {
			if until[s] >= v.first {
				continue
			}
			switch {
			case best < 0:
				best = s
			case sizes[s] >= v.bytes && (sizes[best] < v.bytes || sizes[s] < sizes[best]):
				best = s
			case sizes[best] < v.bytes && sizes[s] > sizes[best]:
				best = s
			}
		}
		if best < 0 {
			best = len(sizes)
			sizes = append(sizes, 0)
			until = append(until, 0)
		}
		sizes[best] = max(sizes[best], v.bytes)
		until[best] = v.last
		v.slot = best
	}
	return sizes
}

// bind returns the tensor a ref binds with the given inputs.
func (g *Graph) bind(r ref, inputs []*gpu.Tensor) (*gpu.Tensor, error) {
	switch {
	case r.t != nil:
		return r.t, nil
	case r.input >= 0:
		t := inputs[r.input]
		if t.DType == r.dt && slices.Equal(t.Shape, r.shape) {
			return t, nil
		}
		return t.ViewAs(r.dt, r.shape...)
	default:
		return g.slots[g.values[r.value].slot].ViewAs(r.dt, r.shape...)
	}
}

// prepare makes step i's bind group with the given inputs, replacing
// the one it had.
func (g *Graph) prepare(i int, inputs []*gpu.Tensor) error {
	s := &g.steps[i]
	args := make([]*gpu.Tensor, len(s.args))
	for j, r := range s.args {
		t, err := g.bind(r, inputs)
		if err != nil {
			return err
		}
		args[j] = t
	}
	x, err := g.d.Prepare(s.p, s.k.Grid, s.k.params(), args...)
	if err != nil {
		return err
	}
	g.preps[i].Release()
	g.preps[i] = x
	return nil
}

// Stats returns the graph's launch and arena counts.
func (g *Graph) Stats() Stats { return g.stats }

// Inputs returns the tensors bound as the graph's inputs now.
func (g *Graph) Inputs() []*gpu.Tensor { return slices.Clone(g.inputs) }

// Replay records every launch of the graph into the device's current
// batch, in one compute pass, and returns views of its outputs, valid
// until the next replay or Release. With no arguments it reads the
// inputs bound before; otherwise it binds these (one per recorded input,
// each of the recorded dtype and shape) first, remaking only the bind
// groups of the launches that read an input that changed. Nothing is
// submitted: a download of an output, or Flush, does that.
func (g *Graph) Replay(inputs ...*gpu.Tensor) ([]*gpu.Tensor, error) {
	if g == nil || g.done {
		return nil, graphErr("", "replay after Release")
	}
	if len(inputs) > 0 {
		if err := g.rebind(inputs); err != nil {
			return nil, err
		}
	}
	if err := g.d.Encode(g.preps); err != nil {
		return nil, err
	}
	outs := make([]*gpu.Tensor, len(g.outs))
	for i, j := range g.outs {
		v := g.values[j]
		t, err := g.slots[v.slot].ViewAs(v.dt, v.shape...)
		if err != nil {
			return nil, err
		}
		outs[i] = t
	}
	return outs, nil
}

// rebind checks new inputs against the recorded ones and remakes the
// bind groups of the launches that read one that changed.
func (g *Graph) rebind(inputs []*gpu.Tensor) error {
	if len(inputs) != len(g.inputs) {
		return graphErr("inputs", "%d given, the graph was recorded with %d", len(inputs), len(g.inputs))
	}
	changed := map[int]bool{}
	for i, t := range inputs {
		old := g.inputs[i]
		if t == old {
			continue
		}
		name := fmt.Sprintf("input %d", i)
		if t == nil || t.Released() {
			return graphErr(name, "is nil or released")
		}
		if t.Device() != g.d {
			return graphErr(name, "is on another device")
		}
		if t.DType != old.DType || !slices.Equal(t.Shape, old.Shape) {
			return graphErr(name, "is %v, the graph was recorded with %v: a new shape needs a new recording", t, old)
		}
		changed[i] = true
	}
	if len(changed) == 0 {
		return nil
	}
	for i, s := range g.steps {
		for _, r := range s.args {
			if r.input >= 0 && changed[r.input] {
				if err := g.prepare(i, inputs); err != nil {
					return err
				}
				break
			}
		}
	}
	copy(g.inputs, inputs)
	return nil
}

// Write replaces input i's contents with little-endian storage bytes, in
// place: it submits the work recorded so far first, so that launches
// already recorded read the old contents.
func (g *Graph) Write(i int, b []byte) error {
	if g == nil || g.done {
		return graphErr("", "write after Release")
	}
	if i < 0 || i >= len(g.inputs) {
		return graphErr(fmt.Sprintf("input %d", i), "the graph has %d inputs", len(g.inputs))
	}
	if err := g.d.Flush(); err != nil {
		return err
	}
	return g.inputs[i].Write(b)
}

// Release frees the arena and the bind groups; the inputs and the
// tensors the graph kept bound are the caller's. It is idempotent.
func (g *Graph) Release() {
	if g == nil || g.done {
		return
	}
	g.done = true
	for _, x := range g.preps {
		x.Release()
	}
	for _, t := range g.slots {
		t.Release()
	}
	g.preps, g.slots = nil, nil
}
