package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

// moeTileCases are the tile choices the grouped expert tests run: the
// device's (launch.MoETiles), 64-row tiles (so the small shapes below
// span several tiles per expert and several column tiles), the core
// 128x128x8 tile and moe_gemm.wgsl (ok false).
var moeTileCases = []struct {
	name         string
	gateUp, down launch.Tile
	ok           bool
}{
	{"device", launch.Tile{}, launch.Tile{}, true},
	{"64x64", launch.Tile{Kind: launch.Blocked, BM: 64, BN: 64, BK: 8, TM: 8, TN: 8, Double: true, Group: 2},
		launch.Tile{Kind: launch.Blocked, BM: 64, BN: 64, BK: 16, TM: 4, TN: 4, Double: true}, true},
	{"128x128x8", launch.Tile{Kind: launch.Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8},
		launch.Tile{Kind: launch.Blocked, BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, Double: true}, true},
	{"moe_gemm", launch.Tile{}, launch.Tile{}, false},
}

// withMoETiles makes the grouped expert forwards use case c's tiles until
// the test ends.
func withMoETiles(t *testing.T, c struct {
	name         string
	gateUp, down launch.Tile
	ok           bool
}) {
	if c.name != "device" {
		t.Cleanup(forceMoETiles(c.gateUp, c.down, c.ok))
	}
}

// forceMoETiles makes the grouped expert forwards use tiles gateUp and
// down (ok false: moe_gemm.wgsl) and returns what restores the choice.
func forceMoETiles(gateUp, down launch.Tile, ok bool) (restore func()) {
	old := moeTileChoice
	moeTileChoice = func(*gpu.Device, int, int) (launch.Tile, launch.Tile, bool) { return gateUp, down, ok }
	return func() { moeTileChoice = old }
}

// moeIndexCases are routings given as index patterns: experts that get
// no token, T not a multiple of the tile, top-1 and top-2, D and I not
// multiples of 4 (the element path) and multiples of 4 (the unit path).
var moeIndexCases = []struct {
	t, d, i, e, k int
	used          []int // the experts the indices pick from
}{
	{3, 13, 5, 16, 2, []int{3, 9, 15}},    // 13 of 16 experts empty, element path
	{70, 16, 24, 8, 2, []int{0, 2, 7}},    // 140 rows: several 64-row tiles, empty experts
	{150, 12, 20, 4, 1, []int{1, 3}},      // top-1, one expert of 2 tiles + a partial one
	{33, 8, 6, 3, 2, []int{0, 1, 2}},      // I % 4 != 0 with D % 4 == 0
	{65, 72, 136, 2, 2, []int{0, 1}},      // two column tiles of the down GEMM, three of the gate
	{129, 20, 8, 5, 1, []int{4}},          // one expert, 129 rows: a tile of one row
	{40, 24, 40, 6, 2, []int{0, 1, 2, 5}}, // a zero routing weight per token (below)
}

// moeIndices returns indices i32 [T,K] drawn from used (distinct per
// token where used allows) and weights f32 [T,K], every fifth zero.
func moeIndices(rng *rand.Rand, T, K int, used []int) (idx, w *ref.Tensor) {
	idx, w = ref.New(dtype.I32, T, K), ref.New(dtype.F32, T, K)
	for t := 0; t < T; t++ {
		p := rng.Perm(len(used))
		for k := 0; k < K; k++ {
			idx.Data[t*K+k] = float64(used[p[k%len(p)]])
			w.Data[t*K+k] = dtype.Round(dtype.F32, 0.1+rng.Float64())
			if (t*K+k)%5 == 4 {
				w.Data[t*K+k] = 0
			}
		}
	}
	return idx, w
}

// TestGroupedExpertTilesMatchReference runs GroupedExpertForward and its
// FP8 variant with every tile choice on routings with empty experts,
// partial tiles, top-1 and top-2 and odd widths, into guarded outputs.
// With -short each routing runs in one dtype, f32 and bf16 in turn (node +
// Dawn builds every pipeline in seconds: the whole matrix took 500 s).
func TestGroupedExpertTilesMatchReference(t *testing.T) {
	d := testDevice(t)
	for _, tc := range moeTileCases {
		for ci, c := range moeIndexCases {
			for di, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
				if testing.Short() && di != ci%2 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%v/T=%d/D=%d/I=%d/E=%d/k=%d", tc.name, dt, c.t, c.d, c.i, c.e, c.k), func(t *testing.T) {
					withMoETiles(t, tc)
					gputest.Guard(t, d)
					rng := rand.New(rand.NewSource(int64(90 + ci)))
					x := randTensor(rng, dt, []int{c.t, c.d}, 1, 0)
					w1 := randTensor(rng, dt, []int{c.e, c.i, c.d}, 0.4, 0)
					w3 := randTensor(rng, dt, []int{c.e, c.i, c.d}, 0.4, 0)
					w2 := randTensor(rng, dt, []int{c.e, c.d, c.i}, 0.4, 0)
					idx, wts := moeIndices(rng, c.t, c.k, c.used)
					act := ActSiLU
					if ci%2 == 1 {
						act = ActGELUTanh
					}
					want, err := ref.GroupedExpertForward(x, idx, wts, w1, w2, w3, act.String())
					if err != nil {
						t.Fatal(err)
					}
					gx, gi, gw := upload(t, d, x), upload(t, d, idx), upload(t, d, wts)
					y, err := GroupedExpertForward(gx, gi, gw, upload(t, d, w1), upload(t, d, w2), upload(t, d, w3), act)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, matmulTol(dt))
					ex, r := randomFP8Experts(t, d, rng, dt, c.e, c.i, c.d)
					want, err = ref.GroupedExpertForwardFP8(x, idx, wts, r[0], r[1], r[2], r[3], r[4], r[5], act.String())
					if err != nil {
						t.Fatal(err)
					}
					y, err = GroupedExpertForwardFP8(gx, gi, gw, ex, act)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, tolFor(dtype.BF16))
				})
			}
		}
	}
}

// TestGroupedExpertMixedWeightDTypes runs the tiled grouped forward with
// gate and up weights of different dtypes (bf16 w1, f32 w3, f16 w2 and
// x), where one loader serves both and decodes each at fetch, on the unit
// path (D and I multiples of 8) and the element path, into guarded
// outputs.
func TestGroupedExpertMixedWeightDTypes(t *testing.T) {
	d := testDevice(t)
	for _, c := range []struct{ t, d, i, e, k int }{{37, 64, 48, 3, 2}, {21, 30, 26, 2, 1}} {
		t.Run(fmt.Sprintf("T=%d/D=%d/I=%d", c.t, c.d, c.i), func(t *testing.T) {
			gputest.Guard(t, d)
			rng := rand.New(rand.NewSource(7))
			x := randTensor(rng, dtype.F16, []int{c.t, c.d}, 1, 0)
			w1 := randTensor(rng, dtype.BF16, []int{c.e, c.i, c.d}, 0.4, 0)
			w3 := randTensor(rng, dtype.F32, []int{c.e, c.i, c.d}, 0.4, 0)
			w2 := randTensor(rng, dtype.F16, []int{c.e, c.d, c.i}, 0.4, 0)
			used := make([]int, c.e)
			for i := range used {
				used[i] = i
			}
			idx, wts := moeIndices(rng, c.t, c.k, used)
			want, err := ref.GroupedExpertForward(x, idx, wts, w1, w2, w3, ActSiLU.String())
			if err != nil {
				t.Fatal(err)
			}
			y, err := GroupedExpertForward(upload(t, d, x), upload(t, d, idx), upload(t, d, wts), upload(t, d, w1), upload(t, d, w2), upload(t, d, w3), ActSiLU)
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, y, want, matmulTol(dtype.BF16))
		})
	}
}
