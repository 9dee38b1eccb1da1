package launch

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
)

// TileClass is what a tuned tile table is keyed by: the products a GEMV
// serves, by their row bucket (Rows 1, 4, 8 or 16: see RowBucket), or
// those the tiled kernels serve (Rows 0), and the weight's bytes an
// element (4, 2, or 1 for FP8).
type TileClass struct {
	Rows, WSize int
}

// TileClasses lists every class an autotuner times: the four GEMV row
// buckets and the tiled products, each for 4-, 2- and 1-byte weights.
func TileClasses() []TileClass {
	var cs []TileClass
	for _, rows := range []int{1, 4, 8, 16, 0} {
		for _, ws := range []int{4, 2, 1} {
			cs = append(cs, TileClass{Rows: rows, WSize: ws})
		}
	}
	return cs
}

// String names the class: "gemv m<=4 w=2B", "tiled w=4B".
func (c TileClass) String() string {
	if c.Rows == 0 {
		return fmt.Sprintf("tiled w=%dB", c.WSize)
	}
	if c.Rows == 1 {
		return fmt.Sprintf("gemv m=1 w=%dB", c.WSize)
	}
	return fmt.Sprintf("gemv m<=%d w=%dB", c.Rows, c.WSize)
}

// RowBucket returns the GEMV row bucket of m rows (m <= GEMVMaxRows): 1,
// then the powers 4, 8 and 16 that bound it.
func RowBucket(m int) int {
	switch {
	case m <= 1:
		return 1
	case m <= 4:
		return 4
	case m <= 8:
		return 8
	}
	return 16
}

// Candidates returns the tiles an autotuner times for class c: the GEMV
// candidates or the tiled ones (MatmulCandidates). Not all fit every
// device.
func (c TileClass) Candidates() []Tile {
	if c.Rows > 0 {
		return GEMVCandidates()
	}
	return MatmulCandidates()
}

// ParseTile returns the candidate of class c that String names; a name
// that is no candidate is an error, so a tuned table can only ever pick
// tiles the tests check.
func (c TileClass) ParseTile(s string) (Tile, error) {
	for _, t := range c.Candidates() {
		if t.String() == s {
			return t, nil
		}
	}
	return Tile{}, fmt.Errorf("tile %q is not a candidate for %v", s, c)
}

// Tuned is a table of measured tiles by class, attached to a device with
// gpu.Device.SetTuned: MatmulTile takes a class's tile in place of its
// own choice wherever that tile serves the call.
type Tuned map[TileClass]Tile

// tunedTile returns the tuned tile for an [m,k] x [n,k]ᵀ product with
// wsize-byte weights on d, if the device has one for the product's class
// and it serves the call: a GEMV class's tile wherever the policy would
// run a GEMV, a tiled class's where the policy would run its default
// tiled tile (the one the tuner timed it against) and the product fills
// three quarters of the tuned tile each way.
func tunedTile(d *gpu.Device, m, n, k, wsize int) (Tile, bool) {
	tb, _ := d.Tuned().(Tuned)
	if tb == nil {
		return Tile{}, false
	}
	c := TileClass{WSize: wsize}
	if m <= GEMVMaxRows {
		c.Rows = RowBucket(m)
	}
	t, ok := tb[c]
	if !ok || !t.Fits(d) {
		return Tile{}, false
	}
	if c.Rows == 0 && (DefaultMatmulTile(d, m, n, k, wsize) != matmulDefault(d) || m < t.BM*3/4 || n < t.BN*3/4) {
		return Tile{}, false
	}
	return t, true
}
