package launch

import "github.com/webfuser/webfuser/gpu"

// W8A8 is the launch of an int8 GEMM (ops.LinearW8A8): on subgroup
// matrices (Matrix: one subgroup of WG invocations per workgroup computes
// RM x RN tiles of Shape) or, where the device lacks them, the plain
// kernel with dot4I8Packed or unpacked multiply-adds.
type W8A8 struct {
	Matrix bool
	Shape  gpu.MatrixShape
	RM, RN int
	WG     int
}

// PadRows returns the rows the activations are padded to: a multiple of
// the tensor-core block height (TM*RM), or m itself for the plain kernel.
func (w W8A8) PadRows(m int) int {
	if !w.Matrix {
		return m
	}
	h := w.Shape.M * w.RM
	return (m + h - 1) / h * h
}

// ChooseW8A8 picks the W8A8 launch for x [m, k] times w [n, k]^T: the
// subgroup-matrix kernel only where the device lists an i8 -> i32
// configuration (Dawn on NVIDIA: M16N16K32 and M16N8K32, issue 13),
// reports its largest subgroup size (Dawn wants the workgroup a multiple
// of it), k is a multiple of the configuration's K and n of its N.
// 2 x RN tiles per subgroup, RN up to 4 as n allows, reuse each loaded
// operand tile; m at most one tile high keeps RM at 1.
func ChooseW8A8(d *gpu.Device, m, n, k int) W8A8 {
	f := d.Features
	if f.SubgroupMaxSize == 0 || f.SubgroupMaxSize > 256 {
		return W8A8{}
	}
	for _, s := range []gpu.MatrixShape{{M: 16, N: 16, K: 32}, {M: 16, N: 8, K: 32}} {
		if !f.HasSubgroupMatrixI8(s) || k%s.K != 0 || n%s.N != 0 {
			continue
		}
		w := W8A8{Matrix: true, Shape: s, RM: 2, RN: 1, WG: int(f.SubgroupMaxSize)}
		if m <= s.M {
			w.RM = 1
		}
		for _, rn := range []int{4, 2} {
			if n%(s.N*rn) == 0 {
				w.RN = rn
				break
			}
		}
		return w
	}
	return W8A8{}
}
