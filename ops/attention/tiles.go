package attention

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
)

// TileConfig is one configuration of the register-blocked flash kernel
// (wgsl/attention_tiled.wgsl): BQ query rows per workgroup, key tiles of
// BK keys, a TM x TN block of scores per invocation (so (BQ/TM)*(BK/TN)
// invocations), D staged DC elements at a time, and one or two stage
// buffers. The value stages, the accumulators per invocation and the
// workgroup memory follow from these and the head dimension (layout).
type TileConfig struct {
	BQ, BK int
	TM, TN int
	DC     int
	Double bool
}

// String names the configuration as sub-benchmarks and subtests do:
// 64x64/8x4/d16/db (BQ x BK / TM x TN / DC / double or single buffer).
func (c TileConfig) String() string {
	db := "sb"
	if c.Double {
		db = "db"
	}
	return fmt.Sprintf("%dx%d/%dx%d/d%d/%s", c.BQ, c.BK, c.TM, c.TN, c.DC, db)
}

// Invocations returns the workgroup size.
func (c TileConfig) Invocations() int { return (c.BQ / c.TM) * (c.BK / c.TN) }

// TileCandidates lists the tiled kernel's configurations, the one the
// planner prefers first. The planner takes the first that fits the
// device (workgroup memory for the head dimension, invocations) and the
// call (a block mask's query blocks must be whole tiles). None needs
// subgroups: the row maxima go through workgroup memory, one barrier and
// a few loads per tile. The first row is the best of both dtypes in
// BenchmarkAttentionSweep on the H200 (2026-11-28, S=4096 H=24 D=128,
// bench/results/2026-11-28-h200-attention-sweep.txt): 64x64/4x4/d16/db
// 24.1 TFLOP/s in f32 and 23.1 in bf16 (64x128/8x8 gave 24.3 in f32,
// 64x64/8x4/d16/db 23.3); the rest follow the arithmetic below (D=128;
// TestTileChooser prints it): FMAs per workgroup barrier and per load of
// workgroup memory in the two products (higher is better), and the
// registers an invocation holds for scores (S) and accumulators (O).
//
//	config            inv  smem    FMA/barrier  FMA/load S, PV  S, O regs  needs
//	64x64/8x4/d16/db  128  41 KiB  630          10.7, 16        32, 64     48 KiB (NVIDIA)
//	64x64/8x4/d32/sb  128  39 KiB  630          10.7, 16        32, 64     48 KiB
//	64x64/4x4/d16/db  256  41 KiB  315           8, 10.7        16, 32     48 KiB
//	128x32/8x2/d8/db  256  41 KiB  195           6.4, 16        16, 64     48 KiB
//	64x128/8x8/d8/sb  128  46 KiB  334          16, 16          64, 64     48 KiB
//	64x32/8x2/d16/db  128  28 KiB  315           6.4, 16        16, 64     32 KiB (Apple, lavapipe, SwiftShader)
//	32x64/4x4/d16/db  128  26 KiB  240           8, 10.7        16, 32     32 KiB
//	64x64/8x4/d8/sb   128  27 KiB  167          10.7, 16        32, 64     32 KiB
//	32x32/4x4/d8/db    64  12 KiB  163           8, 12.8        16, 64     16 KiB, 256 (WebGPU core limits)
var TileCandidates = []TileConfig{
	{BQ: 64, BK: 64, TM: 4, TN: 4, DC: 16, Double: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 16, Double: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 32, Double: false},
	{BQ: 128, BK: 32, TM: 8, TN: 2, DC: 8, Double: true},
	{BQ: 64, BK: 128, TM: 8, TN: 8, DC: 8, Double: false},
	{BQ: 64, BK: 32, TM: 8, TN: 2, DC: 16, Double: true},
	{BQ: 32, BK: 64, TM: 4, TN: 4, DC: 16, Double: true},
	{BQ: 64, BK: 64, TM: 8, TN: 4, DC: 8, Double: false},
	{BQ: 32, BK: 32, TM: 4, TN: 4, DC: 8, Double: true},
}

// Valid returns an error when the kernel cannot be built from c.
func (c TileConfig) Valid() error {
	pow2 := func(v int) bool { return v > 0 && v&(v-1) == 0 }
	switch {
	case !pow2(c.BQ) || !pow2(c.BK) || !pow2(c.TM) || !pow2(c.TN) || c.BQ < c.TM || c.BK < c.TN:
		return fmt.Errorf("tile %v: BQ, BK, TM and TN must be powers of two with TM <= BQ, TN <= BK", c)
	case c.BK < 4 || (c.BK/c.TN)%4 != 0:
		return fmt.Errorf("tile %v: BK/TN must be a multiple of 4", c)
	case c.DC < 8 || c.DC%8 != 0:
		return fmt.Errorf("tile %v: DC must be a positive multiple of 8", c)
	case c.Invocations() > 1024:
		return fmt.Errorf("tile %v: %d invocations", c, c.Invocations())
	}
	return nil
}

// tiledLayout is a configuration resolved for a head dimension: every
// constant the WGSL is specialised on (sizes in packs of 4 elements).
type tiledLayout struct {
	TileConfig
	dp, h    int // packs of D; packs per 16-byte unit (2 for D % 8 == 0)
	ntx, nty int // invocations along keys (and D) and along rows
	wg       int
	dcp, rs  int // packs of D per query/key stage; padded row stride
	upc, nc  int // units per staged row chunk; query/key stages per tile
	kc, nv   int // keys per value stage; value stages per tile
	vs, upv  int // row stride of a value stage; units per value row
	dj       int // accumulator packs per row and invocation
	ps       int // row stride of P
	stg      int // packs per stage buffer
	nbuf     int
	redp     int // packs of the reduction array
	nr       int // fetched units per invocation and stage
}

// layout resolves c for head dimension d.
func (c TileConfig) layout(d int) tiledLayout {
	t := tiledLayout{TileConfig: c, dp: d / 4, h: 1}
	if d%8 == 0 {
		t.h = 2
	}
	t.ntx, t.nty = c.BK/c.TN, c.BQ/c.TM
	t.wg = t.ntx * t.nty
	t.dcp = min(c.DC/4, ceilDiv(t.dp, t.h)*t.h)
	t.rs = t.dcp | 1 // odd: rows of neighbouring lanes in different banks
	t.upc = t.dcp / t.h
	t.nc = ceilDiv(t.dp, t.dcp)
	t.dj = ceilDiv(t.dp, t.ntx)
	t.vs = t.ntx * t.dj
	t.upv = t.dp / t.h
	qk := (c.BQ + c.BK) * t.rs
	t.kc = 4
	for t.kc*2 <= c.BK && t.kc*2*t.vs <= qk {
		t.kc *= 2
	}
	t.nv = c.BK / t.kc
	t.stg = max(qk, t.kc*t.vs)
	t.nbuf = 1
	if c.Double {
		t.nbuf = 2
	}
	t.ps = c.BK/4 + 1
	t.redp = c.BQ * t.ntx / 4
	t.nr = max(ceilDiv((c.BQ+c.BK)*t.upc, t.wg), ceilDiv(t.kc*t.upv, t.wg))
	return t
}

// barriers returns the workgroup barriers per key tile.
func (t tiledLayout) barriers() int { return t.nbuf%2*(t.nc+t.nv) + t.nc + t.nv + 1 }

// smem returns the workgroup memory the kernel declares, in bytes.
func (t tiledLayout) smem() int { return 16 * (t.nbuf*t.stg + t.BQ*t.ps + t.redp) }

// fits reports whether limits allow the configuration for head
// dimension d (zero limits read as WebGPU's defaults: 16 KiB, 256).
func (c TileConfig) fits(lim gpu.Limits, d int) bool {
	if c.Valid() != nil {
		return false
	}
	mem, inv := int(lim.MaxWorkgroupMemory), int(lim.MaxInvocations)
	if mem <= 0 {
		mem = 16384
	}
	if inv <= 0 {
		inv = 256
	}
	if x := int(lim.MaxWorkgroupSizeX); x > 0 {
		inv = min(inv, x)
	}
	return c.layout(d).smem() <= mem && c.Invocations() <= inv
}

// chooseTile returns the first candidate that fits the device and the
// call, and false when none does (the row kernel then serves the call).
func (l *call) chooseTile(lim gpu.Limits) (TileConfig, bool) {
	for _, c := range TileCandidates {
		if !c.fits(lim, l.d) {
			continue
		}
		if l.mask != nil && l.mask.BQ%c.BQ != 0 {
			continue
		}
		return c, true
	}
	return TileConfig{}, false
}
