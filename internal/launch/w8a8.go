package launch

import "github.com/webfuser/webfuser/gpu"

// W8A8 is the launch of an int8 GEMM (ops.LinearW8A8): on subgroup
// matrices (Matrix: each subgroup of WG invocations computes RM x RN
// tiles of Shape) or, where the device lacks them, the plain kernel with
// dot4I8Packed. Without Staged a workgroup is one subgroup loading its
// operands straight from storage (wgsl/matmul_w8a8_sm.wgsl); with it,
// SMY x SNX subgroups share operand slices KS configurations deep, staged
// in workgroup memory (wgsl/matmul_w8a8_smw.wgsl; it needs the subgroups
// feature and a fixed subgroup size, SubgroupMinSize == SubgroupMaxSize).
type W8A8 struct {
	Matrix bool
	Shape  gpu.MatrixShape
	RM, RN int
	WG     int
	Staged bool
	SMY    int
	SNX    int
	KS     int
	// WT: the direct kernel reads a transposed copy of the weight codes
	// [K, N] as row-major right operands, the form the H200 reproducer
	// proved (bench/subgroup_matrix), instead of [N, K] as col_major.
	WT bool
}

// BlockM and BlockN return the rows and columns of c one workgroup computes.
func (w W8A8) BlockM() int { return w.Shape.M * w.RM * max(w.SMY, 1) }

// BlockN returns the columns of c one workgroup computes.
func (w W8A8) BlockN() int { return w.Shape.N * w.RN * max(w.SNX, 1) }

// BlockK returns the depth K must be a multiple of.
func (w W8A8) BlockK() int { return w.Shape.K * max(w.KS, 1) }

// Fits reports whether a GEMM of n columns and depth k tiles into w's blocks.
func (w W8A8) Fits(n, k int) bool {
	return w.Matrix && w.WG > 0 && n%w.BlockN() == 0 && k%w.BlockK() == 0
}

// PadRows returns the rows the activations are padded to: a multiple of
// the tensor-core block height, or m itself for the plain kernel.
func (w W8A8) PadRows(m int) int {
	if !w.Matrix {
		return m
	}
	h := w.BlockM()
	return (m + h - 1) / h * h
}

// ChooseW8A8 picks the W8A8 launch for x [m, k] times w [n, k]^T: the
// subgroup-matrix kernel only where the device lists an i8 -> i32
// configuration (Dawn on NVIDIA: M16N16K32 and M16N8K32, issue 13),
// reports its largest subgroup size (Dawn wants the workgroup a multiple
// of it), k is a multiple of the configuration's K and n of its N.
// 2 x RN tiles per subgroup, RN up to 4 as n allows, reuse each loaded
// operand tile; m at most one tile high keeps RM at 1.
//
// Where the device has subgroups of one fixed size and the GEMM tiles
// into 64 x 64 blocks, it picks the staged kernel: 2 x 2 subgroups of
// 2 x 2 M16N16K32 tiles, one configuration deep, the fastest plan on the
// H200 at 4096³ (96.8 TOP/s against 57.2 for the best direct one and
// torch._int_mm's 125; bench/results/2026-11-28-h200-s2-w8a8.txt).
func ChooseW8A8(d *gpu.Device, m, n, k int) W8A8 {
	f := d.Features
	if !HasInt8Matrix(d) {
		return W8A8{}
	}
	staged := W8A8{Matrix: true, Shape: gpu.MatrixShape{M: 16, N: 16, K: 32}, RM: 2, RN: 2, WG: int(f.SubgroupMaxSize), Staged: true, SMY: 2, SNX: 2, KS: 1}
	if f.Subgroups && f.SubgroupMinSize == f.SubgroupMaxSize && f.HasSubgroupMatrixI8(staged.Shape) && m > 2*staged.Shape.M && staged.Fits(n, k) {
		return staged
	}
	for _, s := range w8a8Shapes {
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

// w8a8Shapes are the i8 -> i32 subgroup-matrix configurations the
// tensor-core kernels use, in order of preference.
var w8a8Shapes = []gpu.MatrixShape{{M: 16, N: 16, K: 32}, {M: 16, N: 8, K: 32}}

// HasInt8Matrix reports whether ChooseW8A8 can pick a tensor-core launch
// on d for some shape: the device lists one of the i8 subgroup-matrix
// configurations the kernels use and reports a subgroup size of at most 256.
func HasInt8Matrix(d *gpu.Device) bool {
	f := d.Features
	if f.SubgroupMaxSize == 0 || f.SubgroupMaxSize > 256 {
		return false
	}
	for _, s := range w8a8Shapes {
		if f.HasSubgroupMatrixI8(s) {
			return true
		}
	}
	return false
}
