package attention

import (
	"sync"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/host"
	"github.com/webfuser/webfuser/internal/shapes"
)

// BlockMask is a block-sparse attention mask held on the host: query
// block i (of BQ rows) sees key block j (of BK keys) where the mask is
// nonzero. Shape is [nqb, nkb] (shared by every head), [H, nqb, nkb] or
// [B, H, nqb, nkb]. The kernel reads it as per-row lists of live key
// blocks, built and uploaded once per device.
type BlockMask struct {
	Shape  []int
	BQ, BK int
	Data   []uint8

	mu    sync.Mutex
	lists map[*gpu.Device]*csrLists
}

type csrLists struct{ rowptr, cols *gpu.Tensor }

// NewBlockMask wraps mask data (row-major, 0 or nonzero) of the given shape.
func NewBlockMask(shape []int, bq, bk int, data []uint8) (*BlockMask, error) {
	n := 1
	for _, s := range shape {
		if s < 0 {
			n = -1
			break
		}
		n *= s
	}
	if len(shape) < 2 || len(shape) > 4 || n != len(data) {
		return nil, errorf("BlockSparseAttention", "block_mask", "shape %v with %d values: want rank 2 to 4 holding every value", shape, len(data))
	}
	if bq <= 0 || bk <= 0 {
		return nil, errorf("BlockSparseAttention", "block_mask", "block sizes %d x %d must be positive", bq, bk)
	}
	return &BlockMask{Shape: append([]int(nil), shape...), BQ: bq, BK: bk, Data: data}, nil
}

// MaskFromRef wraps a reference tensor holding 0/1 values.
func MaskFromRef(t *host.Tensor, bq, bk int) (*BlockMask, error) {
	d := make([]uint8, len(t.Data))
	for i, v := range t.Data {
		if v != 0 {
			d[i] = 1
		}
	}
	return NewBlockMask(t.Shape, bq, bk, d)
}

// MaskFromTensor downloads a u8 (or any) block-mask tensor from the device.
func MaskFromTensor(t *gpu.Tensor, bq, bk int) (*BlockMask, error) {
	if t == nil {
		return nil, errorf("BlockSparseAttention", "block_mask", "is required")
	}
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	d := make([]uint8, len(v))
	for i, x := range v {
		if x != 0 {
			d[i] = 1
		}
	}
	return NewBlockMask(t.Shape, bq, bk, d)
}

// Density returns the fraction of live blocks.
func (m *BlockMask) Density() float64 { return float64(m.live()) / float64(max(1, m.total())) }

func (m *BlockMask) total() int { return len(m.Data) }

func (m *BlockMask) live() int {
	n := 0
	for _, v := range m.Data {
		if v != 0 {
			n++
		}
	}
	return n
}

func (m *BlockMask) check(op string, B, H, nqb, nkb int) error {
	if err := shapes.CheckBlockMask(m.Shape, B, H, nqb, nkb); err != nil {
		return errorf(op, "block_mask", "%v (blocks of %d x %d)", err, m.BQ, m.BK)
	}
	return nil
}

// planeStrides returns how (b, h) step through the mask's planes.
func (m *BlockMask) planeStrides() (sb, sh int) {
	switch len(m.Shape) {
	case 3:
		return 0, 1
	case 4:
		return m.Shape[1], 1
	}
	return 0, 0
}

// csr returns the mask's live-block lists on d, uploading them once.
func (m *BlockMask) csr(d *gpu.Device) (*csrLists, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.lists[d]; ok {
		return c, nil
	}
	r := len(m.Shape)
	nkb := m.Shape[r-1]
	rows := len(m.Data) / max(1, nkb)
	rowptr := make([]int, 0, rows+1)
	var cols []int
	rowptr = append(rowptr, 0)
	for i := 0; i < rows; i++ {
		for j := 0; j < nkb; j++ {
			if m.Data[i*nkb+j] != 0 {
				cols = append(cols, j)
			}
		}
		rowptr = append(rowptr, len(cols))
	}
	rp, err := uploadI32(d, rowptr)
	if err != nil {
		return nil, err
	}
	cl, err := uploadI32(d, cols)
	if err != nil {
		rp.Release()
		return nil, err
	}
	if m.lists == nil {
		m.lists = map[*gpu.Device]*csrLists{}
	}
	c := &csrLists{rp, cl}
	m.lists[d] = c
	return c, nil
}
