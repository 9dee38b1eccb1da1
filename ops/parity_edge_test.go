package ops

import (
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// TestParityZeroSizes runs every parity operator on empty tensors: no error, no dispatch trouble.
func TestParityZeroSizes(t *testing.T) {
	d := testDevice(t)
	x, _ := d.NewTensor(dtype.F32, 2, 0, 8)
	m, _ := d.NewTensor(dtype.F32, 2, 8)
	idx, _ := d.NewTensor(dtype.U8, 2, 0)
	s := GateSelect{m, m, m, m, m, m, idx}
	if _, _, err := ScaleShiftGateSelect(x, s); err != nil {
		t.Error(err)
	}
	if _, _, err := LayerNormScaleShiftGateSelect(x, nil, nil, 1e-6, s); err != nil {
		t.Error(err)
	}
	o, _ := d.NewTensor(dtype.F32, 0, 4, 8)
	l, _ := d.NewTensor(dtype.F32, 0, 4, 1)
	if _, _, err := MergeAttnStates(o, l, o, l); err != nil {
		t.Error(err)
	}
	q, _ := d.NewTensor(dtype.F32, 1, 0, 2, 8)
	if _, _, err := QuantizeInt8PerBlock(q, Int8BlockOptions{Block: 64}); err != nil {
		t.Error(err)
	}
	xs, _ := d.NewTensor(dtype.F32, 0, 64)
	w, _ := d.NewTensor(dtype.U8, 32*64/2)
	a, _ := d.NewTensor(dtype.F32, 32)
	if _, err := LinearNF4Forward(xs, w, a, nil, 32, 0); err != nil {
		t.Error(err)
	}
	lg, _ := d.NewTensor(dtype.F32, 0, 4)
	if _, _, err := RouteTopK(lg, nil, MoEConfig{TopK: 2}); err != nil {
		t.Error(err)
	}
}
