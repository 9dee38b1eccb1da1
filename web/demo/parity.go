package demo

import (
	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/ref"
)

// Two adapts an operator that returns two tensors to Run.GPU.
func Two(a, b *gpu.Tensor, err error) ([]*gpu.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return []*gpu.Tensor{a, b}, nil
}

// TwoRef adapts a reference that returns two tensors to Run.CPU.
func TwoRef(a, b *ref.Tensor, err error) ([]*ref.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return []*ref.Tensor{a, b}, nil
}

// gateSelect makes the operands of a gate-select entry in dtype dt: two
// sets of scale, shift and gate [batch, hidden], and an index whose first
// quarter of each batch's tokens (the first frame's) picks set 1.
func (c *Ctx) gateSelect(dt dtype.DType) (ops.GateSelect, ref.GateSelectSets) {
	var in [6]Input
	for i := range in {
		in[i] = c.Input(dt, []int{batch, hidden}, 0.5, 0)
	}
	index := ref.New(dtype.U8, batch, tokens)
	for i := range index.Data {
		if i%tokens < tokens/4 {
			index.Data[i] = 1
		}
	}
	gi := c.Upload(index)
	return ops.GateSelect{Scale0: in[0].G, Shift0: in[1].G, Gate0: in[2].G, Scale1: in[3].G, Shift1: in[4].G, Gate1: in[5].G, Index: gi},
		ref.GateSelectSets{Scale0: in[0].R, Shift0: in[1].R, Gate0: in[2].R, Scale1: in[3].R, Shift1: in[4].R, Gate1: in[5].R, Index: index}
}

// int8AsI32 turns int8 codes held as raw bytes (QuantizeInt8PerBlock's
// u8 tensor, which it releases) into an i32 tensor of their values, the
// form ops/ref returns them in.
func int8AsI32(d *gpu.Device, q *gpu.Tensor) (*gpu.Tensor, error) {
	defer q.Release()
	codes, err := ops.Int8Values(q)
	if err != nil {
		return nil, err
	}
	v := make([]float32, len(codes))
	for i, b := range codes {
		v[i] = float32(b)
	}
	return d.Upload(dtype.I32, q.Shape, v)
}

// nf4Stats compresses NF4 absmax values on the device (ops.QuantizeNF4Stats)
// and returns the stats with their expansion by ops/ref, f32 [blocks].
func (c *Ctx) nf4Stats(absmax *ref.Tensor) (ops.NF4Stats, *ref.Tensor, error) {
	ga := c.Upload(absmax)
	if c.err != nil {
		return ops.NF4Stats{}, nil, c.err
	}
	st, err := ops.QuantizeNF4Stats(ga)
	if err != nil {
		return st, nil, err
	}
	c.own = append(c.own, st.Codes, st.Scale, st.Code)
	var rs [3]*ref.Tensor
	for i, g := range []*gpu.Tensor{st.Codes, st.Scale, st.Code} {
		v, err := g.Float32()
		if err != nil {
			return st, nil, err
		}
		rs[i] = ref.New(g.DType, g.Shape...)
		for j, x := range v {
			rs[i].Data[j] = float64(x)
		}
	}
	a, err := ref.DequantizeNF4Stats(rs[0], rs[1], rs[2], float64(st.Offset))
	return st, a, err
}
