package ops

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/kernel"
	"github.com/webfuser/webfuser/internal/launch"
	"github.com/webfuser/webfuser/ops/ref"
)

// matmulTol is the spec's tolerance for ops with matrix products.
func matmulTol(dt dtype.DType) tol {
	if dt == dtype.F32 {
		return tol{Atol: 2e-3, Rtol: 2e-3}
	}
	return tolFor(dt)
}

func TestLinearMatchesReference(t *testing.T) {
	d := testDevice(t)
	shapes := []struct{ m, n, k int }{{1, 1, 1}, {1, 77, 33}, {77, 5, 1000}, {3, 8, 4097}, {65, 130, 31}, {2, 1000, 7}}
	for _, dt := range floatStorage {
		for i, s := range shapes {
			for _, bias := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%dx%dx%d/bias=%v", dt, s.m, s.n, s.k, bias), func(t *testing.T) {
					rng := rand.New(rand.NewSource(int64(i)))
					x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
					w := randTensor(rng, dt, []int{s.n, s.k}, 0.1, 0)
					var b *ref.Tensor
					if bias {
						b = randTensor(rng, dt, []int{s.n}, 1, 0)
					}
					want, err := ref.Linear(x, w, b)
					if err != nil {
						t.Fatal(err)
					}
					y, err := LinearForward(upload(t, d, x), upload(t, d, w), upload(t, d, b))
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, y, want, matmulTol(dt))
				})
			}
		}
	}
}

// mnk is a product's shape: x [M,K], w [N,K].
type mnk struct{ m, n, k int }

func (s mnk) String() string { return fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k) }

// path says which staging path of the matmul kernels the shape takes: 0
// element by element (N or K not a multiple of 4), 2 units of eight
// (both multiples of 8; for 16-bit storage), 1 units of four.
func (s mnk) path() int {
	switch {
	case s.n%4 != 0 || s.k%4 != 0:
		return 0
	case s.n%8 == 0 && s.k%8 == 0:
		return 2
	}
	return 1
}

// tileShapes are the shapes every Simple and Blocked tile runs: element
// paths (N or K not a multiple of 4), 16-byte units with stores of four
// (N = 12, K = 100: four-element units) and of eight (N = 48), partial
// tiles in M, N and K, several K steps, and more rows of tiles than a
// raster group (M = 600).
var tileShapes = []mnk{{77, 33, 19}, {1, 3, 2}, {5, 12, 40}, {130, 67, 259}, {70, 48, 40}, {130, 136, 100}, {600, 72, 24}}

// gemvShapes are the GEMV's: at most 16 rows (fewer for tiles of
// eight columns, launch.GEMVMaxAccumulators), the same paths, and a K
// long enough that invocations take several units (K = 2064); row counts
// that the kernel pads (5 and 13 run as 8 and 16).
var gemvShapes = []mnk{{1, 3, 2}, {5, 12, 40}, {13, 33, 19}, {3, 67, 259}, {16, 48, 40}, {1, 136, 100}, {3, 24, 2064}}

// epilogueCase is one epilogue of the matmul kernels.
type epilogueCase struct {
	name string
	bias bool
	act  Activation
	gate int // 0: none; 1: gate [N]; 2: gate [M,N]; both with a residual
}

var epilogueCases = []epilogueCase{
	{"plain", false, ActNone, 0},
	{"bias", true, ActNone, 0},
	{"bias+gelu_tanh", true, ActGELUTanh, 0},
	{"bias+gate[N]+res", true, ActNone, 1},
	{"silu+gate[M,N]+res", false, ActSiLU, 2},
}

// checkTile runs y = epi(x @ wᵀ) with tile on random operands of dtype dt
// into guarded outputs and compares it with ops/ref.
func checkTile(t *testing.T, tile launch.Tile, dt dtype.DType, s mnk, e epilogueCase) {
	sp, want := epilogueProduct(t, dt, s, e)
	runKernel(t, sp, sp.kernel(tile), want, matmulTol(dt))
}

// epilogueProduct returns y = epi(x @ wᵀ) on random operands of dtype dt
// and its reference.
func epilogueProduct(t *testing.T, dt dtype.DType, s mnk, e epilogueCase) (*matmulSpec, *ref.Tensor) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(int64(s.m*131 + s.n*7 + s.k)))
	x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
	w := randTensor(rng, dt, []int{s.n, s.k}, 0.3, 0)
	var b *ref.Tensor
	if e.bias {
		b = randTensor(rng, dt, []int{s.n}, 1, 0)
	}
	want, err := ref.Linear(x, w, b)
	if err != nil {
		t.Fatal(err)
	}
	if e.act != ActNone {
		if want, err = ref.Activation(want, e.act.String()); err != nil {
			t.Fatal(err)
		}
	}
	sp := &matmulSpec{op: "Linear", x: upload(t, d, x), w: upload(t, d, w), b: upload(t, d, b), act: e.act}
	if e.gate > 0 {
		gs := []int{s.n}
		if e.gate == 2 {
			gs = []int{s.m, s.n}
		}
		g, res := randTensor(rng, dt, gs, 1, 0), randTensor(rng, dt, []int{s.m, s.n}, 1, 0)
		if want, err = ref.GateResidual(want, g, res); err != nil {
			t.Fatal(err)
		}
		sp.gr = &GateResidual{upload(t, d, g), upload(t, d, res)}
	}
	if err := sp.validate(); err != nil {
		t.Fatal(err)
	}
	return sp, want
}

// fp8Case is one use of FP8 storage in a matmul.
type fp8Case struct {
	name      string
	format    dtype.DType
	perTensor bool // one weight scale [1,1] instead of one per row
	perToken  bool // x quantised per row too (x fp8 with a scale)
}

var fp8Cases = []fp8Case{
	{"e4m3/row-scales", dtype.FP8E4M3, false, false},
	{"e5m2/one-scale", dtype.FP8E5M2, true, false},
	{"e4m3/per-token", dtype.FP8E4M3, false, true},
}

// checkTileFP8 runs LinearFP8's product (bias included) with tile.
func checkTileFP8(t *testing.T, tile launch.Tile, dt dtype.DType, s mnk, c fp8Case) {
	sp, want := fp8Product(t, dt, s, c)
	runKernel(t, sp, sp.kernel(tile), want, matmulTol(dt))
}

// fp8Product returns LinearFP8's product (bias included) on random
// operands, x of dtype dt, and its reference.
func fp8Product(t *testing.T, dt dtype.DType, s mnk, c fp8Case) (*matmulSpec, *ref.Tensor) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(int64(s.m*131 + s.n*7 + s.k)))
	x := randTensor(rng, dt, []int{s.m, s.k}, 1, 0)
	w := randTensor(rng, dtype.F32, []int{s.n, s.k}, 0.2, 0)
	b := randTensor(rng, dt, []int{s.n}, 1, 0)
	wq, ws, err := ref.QuantizeFP8(w, c.perTensor, c.format)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.LinearFP8(x, wq, ws, b, c.perToken)
	if err != nil {
		t.Fatal(err)
	}
	sp := &matmulSpec{op: "LinearFP8", x: upload(t, d, x), w: upload(t, d, wq), wScale: upload(t, d, ws), b: upload(t, d, b)}
	if c.perToken {
		xq, xs, err := ref.QuantizeFP8(x, false, c.format)
		if err != nil {
			t.Fatal(err)
		}
		sp.x, sp.xScale, sp.outDT = upload(t, d, xq), upload(t, d, xs), dt
	}
	if err := sp.validate(); err != nil {
		t.Fatal(err)
	}
	return sp, want
}

// runKernel runs k (a declaration of sp) into guarded outputs and
// compares the result with want.
func runKernel(t *testing.T, sp *matmulSpec, k *kernel.Kernel, want *ref.Tensor, tl tol) {
	t.Helper()
	d := sp.x.Device()
	gputest.Guard(t, d)
	y, err := k.RunOne(d)
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, y, want, tl)
}

// TestLinearEveryTile runs every candidate tile of internal/launch (the
// Blocked variants the sweep times, one of them also Narrow with raster
// groups of three tile rows, the Simple fallbacks and the GEMV variants)
// on odd shapes in f32, f16 and bf16 into guarded outputs, with the
// epilogues in turn (each tile meets every epilogue), and with FP8
// weights (per-row and single scales, E4M3 and E5M2) and FP8
// activations. Tiles the device cannot launch are skipped. With -short
// (node + Dawn, where each pipeline takes seconds to build) it runs
// shortTileCases instead: each kernel's paths once.
func TestLinearEveryTile(t *testing.T) {
	d := testDevice(t)
	if testing.Short() {
		for _, c := range shortTileCases {
			t.Run(fmt.Sprintf("%v/%v/%v/%s%s", c.tile, c.dt, c.s, c.epi.name, c.fp8.name), func(t *testing.T) {
				if !c.tile.Fits(d) {
					t.Skipf("does not fit the device")
				}
				if c.fp8.name != "" {
					checkTileFP8(t, c.tile, c.dt, c.s, c.fp8)
				} else {
					checkTile(t, c.tile, c.dt, c.s, c.epi)
				}
			})
		}
		return
	}
	narrow := launch.Tile{Kind: launch.Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, Double: true, Narrow: true, Group: 3}
	for ti, tile := range append(append(launch.MatmulCandidates(), narrow), gemvTiles(t)...) {
		t.Run(tile.String(), func(t *testing.T) {
			if !tile.Fits(d) {
				t.Skipf("needs %d bytes of workgroup memory and %d invocations; the device has %d and %d",
					tile.Smem(), tile.Invocations(), d.Limits.MaxWorkgroupMemory, d.Limits.MaxInvocations)
			}
			shapes := tileShapes
			if tile.Kind == launch.GEMV {
				shapes = gemvShapes
			}
			for di, dt := range floatStorage {
				for _, s := range shapes {
					if tile.Kind == launch.GEMV {
						s.m = min(s.m, launch.GEMVMaxAccumulators/tile.GEMVColumns()) // the rows the launch policy gives it
					}
					// One epilogue per tile, dtype and path, so that the
					// shapes of a path share a pipeline; over its dtypes and
					// paths each tile meets every epilogue.
					e := epilogueCases[(ti+3*di+s.path())%len(epilogueCases)]
					t.Run(fmt.Sprintf("%v/%v/%s", dt, s, e.name), func(t *testing.T) { checkTile(t, tile, dt, s, e) })
				}
			}
			// FP8: an element path (K = 19) and a unit path (K = 48: whole
			// 16-code words), one dtype of x each.
			fshapes := []mnk{{77, 33, 19}, {70, 48, 48}}
			if tile.Kind == launch.GEMV {
				// K = 4112: 257 units of 16 codes, so that every lane of
				// a group of up to 128 invocations takes more than one.
				fshapes = []mnk{{5, 33, 19}, {5, 40, 96}, {3, 24, 4112}}
			}
			for ci, c := range fp8Cases {
				dt := floatStorage[(ti+ci)%len(floatStorage)]
				for _, s := range fshapes {
					t.Run(fmt.Sprintf("%s/x=%v/%v", c.name, dt, s), func(t *testing.T) { checkTileFP8(t, tile, dt, s, c) })
				}
			}
		})
	}
}

// gemvTiles returns launch.GEMVCandidates and the tiles that
// WEBFUSER_GEMV_TILES adds (BNxTN/Threads, comma-separated, as
// "64x4/128,128x4/256"), so that a device run can check and time a tile
// before it joins the candidates.
func gemvTiles(t testing.TB) []launch.Tile {
	ts := launch.GEMVCandidates()
	env := os.Getenv("WEBFUSER_GEMV_TILES")
	if env == "" {
		return ts
	}
	for _, f := range strings.Split(env, ",") {
		tile := launch.Tile{Kind: launch.GEMV}
		if _, err := fmt.Sscanf(f, "%dx%d/%d", &tile.BN, &tile.TN, &tile.Threads); err != nil {
			t.Fatalf("WEBFUSER_GEMV_TILES: %q is not BNxTN/Threads", f)
		}
		if err := tile.Valid(); err != nil {
			t.Fatalf("WEBFUSER_GEMV_TILES: %q: %v", f, err)
		}
		ts = append(ts, tile)
	}
	return ts
}

// shortTileCases are TestLinearEveryTile's cases with -short: per kernel,
// the element path, 16-byte units of f32 and 16-bit storage (with stores
// of four and of eight), FP8 weights and activations, every epilogue.
var shortTileCases = func() []struct {
	tile launch.Tile
	dt   dtype.DType
	s    mnk
	epi  epilogueCase
	fp8  fp8Case
} {
	blocked := launch.Tile{Kind: launch.Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, Double: true, Group: launch.MatmulGroup}
	small := launch.Tile{Kind: launch.Blocked, BM: 64, BN: 64, BK: 16, TM: 4, TN: 4, Double: true, Group: 2}
	// 4 x 16 invocations: the layout without 8 x 4 lanes per 32, single-buffered.
	plain := launch.Tile{Kind: launch.Blocked, BM: 64, BN: 32, BK: 8, TM: 4, TN: 8, Group: 1}
	// The dense default (internal/launch: single-buffered, 8 x 4 lanes).
	dflt := launch.Tile{Kind: launch.Blocked, BM: 128, BN: 64, BK: 16, TM: 8, TN: 4, Group: launch.MatmulGroup}
	gemv8 := launch.Tile{Kind: launch.GEMV, BN: 8, Threads: 128}
	gemv4 := launch.Tile{Kind: launch.GEMV, BN: 4, Threads: 64}
	// Column groups of 128 and 64 invocations (the defaults past one
	// row): 8 columns each, 4 each.
	groups8 := launch.Tile{Kind: launch.GEMV, BN: 16, TN: 8, Threads: 256}
	groups4 := launch.Tile{Kind: launch.GEMV, BN: 16, TN: 4, Threads: 256}
	type c = struct {
		tile launch.Tile
		dt   dtype.DType
		s    mnk
		epi  epilogueCase
		fp8  fp8Case
	}
	e := epilogueCases
	return []c{
		{blocked, dtype.F32, mnk{77, 33, 19}, e[4], fp8Case{}},
		{blocked, dtype.BF16, mnk{70, 48, 40}, e[3], fp8Case{}},
		{blocked, dtype.F16, mnk{130, 136, 100}, e[2], fp8Case{}},
		{blocked, dtype.BF16, mnk{70, 48, 48}, epilogueCase{}, fp8Cases[2]},
		{small, dtype.F32, mnk{130, 136, 100}, e[1], fp8Case{}},
		{dflt, dtype.F32, mnk{130, 136, 100}, e[2], fp8Case{}},
		{dflt, dtype.BF16, mnk{70, 48, 48}, e[1], fp8Case{}},
		{plain, dtype.F32, mnk{130, 136, 100}, e[3], fp8Case{}},
		{plain, dtype.BF16, mnk{70, 48, 48}, e[0], fp8Case{}},
		{gemv8, dtype.BF16, mnk{8, 48, 40}, e[0], fp8Case{}},
		{gemv8, dtype.F32, mnk{5, 40, 96}, epilogueCase{}, fp8Cases[0]},
		{gemv4, dtype.F16, mnk{16, 33, 19}, e[2], fp8Case{}},
		{gemv4, dtype.BF16, mnk{3, 40, 96}, epilogueCase{}, fp8Cases[1]},
		{groups8, dtype.BF16, mnk{8, 136, 40}, e[1], fp8Case{}},
		{groups4, dtype.F32, mnk{16, 67, 259}, e[3], fp8Case{}},
		{groups4, dtype.F16, mnk{5, 40, 96}, epilogueCase{}, fp8Cases[2]},
	}
}()

// TestMatmulTileChoice checks the launch policy: the GEMV up to
// launch.GEMVMaxRows rows with at most launch.GEMVMaxAccumulators
// accumulators, the default Blocked tile for large products where it
// fits, and on devices with WebGPU's core limits (16 KiB, 256
// invocations) or less, tiles that fit; every candidate is well formed.
func TestMatmulTileChoice(t *testing.T) {
	for _, tile := range append(launch.MatmulCandidates(), launch.GEMVCandidates()...) {
		if err := tile.Valid(); err != nil {
			t.Error(err)
		}
	}
	big := &gpu.Device{Limits: gpu.Limits{MaxWorkgroupMemory: 48 << 10, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024, MaxGroupsPerDim: 65535}}
	core := &gpu.Device{Limits: gpu.Limits{MaxWorkgroupMemory: 16 << 10, MaxInvocations: 256, MaxWorkgroupSizeX: 256, MaxGroupsPerDim: 65535}}
	tiny := &gpu.Device{Limits: gpu.Limits{MaxWorkgroupMemory: 4 << 10, MaxInvocations: 64, MaxWorkgroupSizeX: 64, MaxGroupsPerDim: 65535}}
	for _, d := range []*gpu.Device{big, core, tiny, testDevice(t)} {
		for _, sz := range []struct {
			s  mnk
			eb int
		}{{mnk{1, 4096, 4096}, 4}, {mnk{8, 3072, 3072}, 2}, {mnk{16, 64, 8192}, 4}, {mnk{17, 3072, 3072}, 2}, {mnk{77, 33, 19}, 4}, {mnk{512, 3072, 3072}, 2}, {mnk{4096, 4096, 4096}, 4}, {mnk{4096, 4096, 4096}, 2}, {mnk{32760, 3072, 12288}, 4}} {
			s := sz.s
			tile := launch.MatmulTile(d, s.m, s.n, s.k, sz.eb)
			if !tile.Fits(d) {
				t.Errorf("%v on %+v: %v does not fit", s, d.Limits, tile)
			}
			if gemv := s.m <= launch.GEMVMaxRows && d != tiny; gemv != (tile.Kind == launch.GEMV) {
				t.Errorf("%v on %+v: %v", s, d.Limits, tile)
			}
			// 128 accumulators on discrete GPUs, 64 elsewhere.
			if acc := tile.GEMVColumns() * s.m; tile.Kind == launch.GEMV && (acc > launch.GEMVMaxAccumulators || d.Info.Class != gpu.ClassDiscrete && acc > 64) {
				t.Errorf("%v on a %v GPU: %v keeps %d accumulators", s, d.Info.Class, tile, acc)
			}
			if s.m >= 4096 && d == big && (tile.Kind != launch.Blocked || tile.BM < 128) {
				t.Errorf("%v on %+v: %v, want the default Blocked tile", s, d.Limits, tile)
			}
			if s.m >= 4096 && d == core && tile.Kind != launch.Blocked {
				t.Errorf("%v on WebGPU's core limits: %v, want a Blocked tile", s, tile)
			}
		}
	}
}

// TestLinearDispatch checks which kernel file the operators launch: the
// GEMV for up to 16 rows (LinearFP8 without activation quantisation
// included), a matmul above (here the Simple one: the products are small).
func TestLinearDispatch(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(3))
	for _, c := range []struct {
		m    int
		fp8  bool
		want string
	}{{1, false, "matmul_gemv"}, {16, false, "matmul_gemv"}, {17, false, "matmul"}, {3, true, "matmul_gemv"}, {40, true, "matmul"}} {
		x := upload(t, d, randTensor(rng, dtype.BF16, []int{c.m, 64}, 1, 0))
		w := randTensor(rng, dtype.F32, []int{32, 64}, 0.2, 0)
		ks, err := kernel.Capture(d, func() error {
			var y *gpu.Tensor
			var err error
			if c.fp8 {
				wq, ws, _ := ref.QuantizeFP8(w, false, dtype.FP8E4M3)
				y, err = LinearFP8Forward(x, upload(t, d, wq), upload(t, d, ws), nil, "none")
			} else {
				y, err = LinearForward(x, upload(t, d, w.Round(dtype.BF16)), nil)
			}
			if err == nil {
				y.Release()
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 1 || ks[0].Files[len(ks[0].Files)-1] != c.want {
			var names []string
			for _, k := range ks {
				names = append(names, k.Files[len(k.Files)-1])
			}
			t.Errorf("m=%d fp8=%v: launched %v, want [%s]", c.m, c.fp8, names, c.want)
		}
	}
}

// TestGEMVFP8AllCodes runs every FP8 code through the GEMV's weight
// decoders (e4m3x4_fast, e5m2x4_fast, for K a multiple of 16) and
// requires the exact value times the scale. x is [4,16] with x[m,m] = 1,
// each weight row holds four codes at K = 0..3, so y[m,n] = w[n,m] *
// scale; the NaN and infinite codes sit alone in rows of their own, in
// each word and byte position of the 16-code unit (they make their whole
// column NaN or infinite, as the reference's sums do).
func TestGEMVFP8AllCodes(t *testing.T) {
	d := testDevice(t)
	const M, K = 4, 16
	for _, f := range []dtype.DType{dtype.FP8E4M3, dtype.FP8E5M2} {
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		vals := dtype.Decode(f, all, 256)
		var rows [][]byte
		var finite []byte
		for i, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				// Alone in its row, once in each word and byte of a 16-code unit (K = 0, 5, 10, 15).
				for _, at := range []int{0, 5, 10, 15} {
					r := make([]byte, at+1)
					r[at] = byte(i)
					rows = append(rows, r)
				}
			} else {
				finite = append(finite, byte(i))
			}
		}
		for i := 0; i < len(finite); i += M {
			rows = append(rows, finite[i:min(i+M, len(finite))])
		}
		for len(rows)%8 != 0 {
			rows = append(rows, nil)
		}
		n := len(rows)
		wb := make([]byte, n*K)
		for r, codes := range rows {
			copy(wb[r*K:], codes)
		}
		xv := make([]float32, M*K)
		for m := 0; m < M; m++ {
			xv[m*K+m] = 1
		}
		w, err := d.UploadBytes(f, []int{n, K}, wb)
		if err != nil {
			t.Fatal(err)
		}
		x, err := d.Upload(dtype.F32, []int{M, K}, xv)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := d.Upload(dtype.F32, []int{1, 1}, []float32{0.5})
		if err != nil {
			t.Fatal(err)
		}
		dec := dtype.Decode(f, wb, n*K)
		tiles := []launch.Tile{{Kind: launch.GEMV, BN: 8, Threads: 128}, {Kind: launch.GEMV, BN: 4, Threads: 64}}
		if testing.Short() {
			tiles = tiles[:1]
		}
		for _, tile := range tiles {
			sp := &matmulSpec{op: "LinearFP8", x: x, w: w, wScale: ws}
			if err := sp.validate(); err != nil {
				t.Fatal(err)
			}
			y, err := sp.run(tile)
			if err != nil {
				t.Fatal(err)
			}
			got, err := y.Float32()
			if err != nil {
				t.Fatal(err)
			}
			for m := 0; m < M; m++ {
				for c := 0; c < n; c++ {
					s := 0.0
					for k := 0; k < K; k++ {
						s += float64(xv[m*K+k]) * float64(dec[c*K+k])
					}
					want, g := float32(s*0.5), got[m*n+c]
					if (want != want) != (g != g) || (want == want && g != want) {
						t.Errorf("%v %v: y[%d,%d] (codes %x): got %g, want %g", f, tile, m, c, rows[c], g, want)
					}
				}
			}
		}
	}
}
