package attention

import (
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops/ref"
)

type attnCase struct {
	b, sq, sk, h, hk, d int
	causal              bool
	scale               float32
	dt                  dtype.DType
	in, out             Layout
}

func (c attnCase) String() string {
	return fmt.Sprintf("B%d_Sq%d_Sk%d_H%d_Hk%d_D%d_c%v_s%g_%v_%v-%v", c.b, c.sq, c.sk, c.h, c.hk, c.d, c.causal, c.scale, c.dt, c.in, c.out)
}

func denseCases() []attnCase {
	dts := []dtype.DType{dtype.F32, dtype.F16, dtype.BF16}
	var cs []attnCase
	i := 0
	for _, s := range []int{1, 77, 300} {
		for _, d := range []int{64, 80, 96, 128, 12} {
			c := attnCase{b: 1 + i%2, sq: s, sk: s, h: 2, hk: 2, d: d, dt: dts[i%3], in: Layout(i % 2), out: Layout((i / 2) % 2)}
			if i%4 == 1 {
				c.h, c.hk = 4, 2 // grouped
			}
			cs = append(cs, c)
			i++
		}
	}
	return append(cs,
		attnCase{b: 1, sq: 77, sk: 300, h: 3, hk: 1, d: 64, dt: dtype.F32},                            // cross, grouped
		attnCase{b: 2, sq: 300, sk: 77, h: 2, hk: 2, d: 96, dt: dtype.F16, in: BNSD},                  // cross
		attnCase{b: 1, sq: 77, sk: 77, h: 2, hk: 1, d: 64, causal: true, dt: dtype.F32},               // causal
		attnCase{b: 1, sq: 77, sk: 300, h: 2, hk: 2, d: 128, causal: true, dt: dtype.BF16, out: BNSD}, // causal cross
		attnCase{b: 1, sq: 300, sk: 300, h: 1, hk: 1, d: 80, causal: true, dt: dtype.F16},
		attnCase{b: 1, sq: 77, sk: 77, h: 2, hk: 2, d: 64, scale: 0.3, dt: dtype.F32},              // custom scale
		attnCase{b: 1, sq: 5, sk: 77, h: 2, hk: 2, d: 256, dt: dtype.F32},                          // widest head
		attnCase{b: 1, sq: 9, sk: 33, h: 1, hk: 1, d: 4, dt: dtype.BF16},                           // narrowest head
		attnCase{b: 1, sq: 1, sk: 1000, h: 4, hk: 2, d: 64, dt: dtype.F16},                         // decode: split-K
		attnCase{b: 2, sq: 7, sk: 700, h: 2, hk: 2, d: 128, causal: true, dt: dtype.F32, in: BNSD}, // split-K, causal
	)
}

func (c attnCase) inputs(rng *rand.Rand) (q, k, v *ref.Tensor) {
	q = randTensor(rng, c.dt, []int{c.b, c.sq, c.h, c.d}, 1)
	k = randTensor(rng, c.dt, []int{c.b, c.sk, c.hk, c.d}, 1)
	v = randTensor(rng, c.dt, []int{c.b, c.sk, c.hk, c.d}, 1)
	return
}

// variant is one kernel choice a test runs a call with.
type variant struct {
	name string
	set  func(l *call)
}

// variants returns the kernel variants to test on d: the row kernel
// without subgroups, with subgroups where the device has them, and the
// tiled kernel in the planner's choice for d's limits (natively, and
// under GOOS=js only without -short: SwiftShader takes tens of seconds
// to build each tiled variant, and TestTiledCandidatesCompile has Tint
// compile every one).
func variants(d *gpu.Device) []variant {
	vs := []variant{{"rows-portable", func(l *call) { l.rows, l.portable = true, true }}}
	if d.Features.Subgroups {
		vs = append(vs, variant{"rows-subgroups", func(l *call) { l.rows = true }})
	}
	if runtime.GOOS != "js" || !testing.Short() {
		vs = append(vs, variant{"tiled", func(l *call) { l.tiled = true }})
	}
	return vs
}

func TestDenseMatchesReference(t *testing.T) {
	d := testDevice(t)
	for ci, c := range denseCases() {
		for _, vr := range variants(d) {
			t.Run(fmt.Sprintf("%v/%s", c, vr.name), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(ci)))
				q, k, v := c.inputs(rng)
				want, err := ref.Attention(q, k, v, c.causal, float64(c.scale))
				if err != nil {
					t.Fatal(err)
				}
				l := &call{op: "Attention", q: upload(t, d, toLayout(q, c.in)), k: upload(t, d, toLayout(k, c.in)),
					v: upload(t, d, toLayout(v, c.in)), in: c.in, out: c.out, causal: c.causal, scale: c.scale}
				vr.set(l)
				o, err := l.run()
				if err != nil {
					t.Fatal(err)
				}
				expectClose(t, o, toLayout(want, c.out))
			})
		}
	}
}

// TestSplitKDecode forces key splits (folded by attention_combine.wgsl
// with the MergeAttnStates merge) on decode shapes: key counts that are
// no multiple of the split, one-token queries, grouped heads, both
// layouts, and causal rows whose last splits see no key; guarded outputs.
func TestSplitKDecode(t *testing.T) {
	d := testDevice(t)
	cases := []struct {
		c      attnCase
		splits []int
	}{
		{attnCase{b: 1, sq: 3, sk: 200, h: 2, hk: 1, d: 32, dt: dtype.F32}, []int{2, 3, 7}},
		{attnCase{b: 1, sq: 1, sk: 1001, h: 8, hk: 2, d: 64, dt: dtype.F16}, []int{2, 5, 31}},
		{attnCase{b: 2, sq: 1, sk: 97, h: 3, hk: 3, d: 128, dt: dtype.BF16, in: BNSD}, []int{2, 4}},
		{attnCase{b: 1, sq: 1, sk: 513, h: 4, hk: 1, d: 80, causal: true, dt: dtype.F32, out: BNSD}, []int{3, 16}},
		{attnCase{b: 1, sq: 16, sk: 40, h: 2, hk: 2, d: 16, causal: true, dt: dtype.F32}, []int{2}},      // queries 0-7 see no key of split 2
		{attnCase{b: 1, sq: 13, sk: 333, h: 6, hk: 3, d: 12, causal: true, dt: dtype.F16}, []int{3, 11}}, // last split short
	}
	for ci, tc := range cases {
		for _, n := range tc.splits {
			for _, vr := range variants(d) {
				if vr.name == "tiled" {
					continue // split launches use the row kernel
				}
				t.Run(fmt.Sprintf("%v/split%d/%s", tc.c, n, vr.name), func(t *testing.T) {
					c := tc.c
					rng := rand.New(rand.NewSource(int64(100 + ci)))
					q, k, v := c.inputs(rng)
					want, err := ref.Attention(q, k, v, c.causal, 0)
					if err != nil {
						t.Fatal(err)
					}
					gputest.Guard(t, d)
					l := &call{op: "Attention", q: upload(t, d, toLayout(q, c.in)), k: upload(t, d, toLayout(k, c.in)),
						v: upload(t, d, toLayout(v, c.in)), in: c.in, out: c.out, causal: c.causal, split: n}
					vr.set(l)
					if err := l.validate(); err != nil {
						t.Fatal(err)
					}
					if pl := l.plan(d.Features.Subgroups && !l.portable); pl.NSplit < 2 || pl.NSplit > n {
						t.Fatalf("planner made %d splits, want 2 to %d", pl.NSplit, n)
					}
					o, err := l.run()
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, o, toLayout(want, c.out))
				})
			}
		}
	}
}

func TestAttentionConfigDispatch(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(3))
	c := attnCase{b: 1, sq: 40, sk: 40, h: 2, hk: 2, d: 16, dt: dtype.F32}
	q, k, v := c.inputs(rng)
	want, _ := ref.Attention(q, k, v, true, 0)
	warnings := runImpls(t, d, q, k, v, func(o *gpu.Tensor) { expectClose(t, o, want) }, TORCH_SDPA, FLASH_ATTN_2,
		FLASH_ATTN_3, FLASH_ATTN_4, TORCH_CUDNN, SPARGE_ATTN, SPARGE_ATTN, RADIAL_ATTN, LOCAL_SPARSE_ATTN)
	// One warning per fallback message: SPARGE_ATTN ran twice (the
	// SageAttention names run their own kernel: TestSageDispatch).
	if len(warnings) != 3 {
		t.Fatalf("warnings %q, want 3 (SPARGE_ATTN, RADIAL_ATTN and LOCAL_SPARSE_ATTN without state)", warnings)
	}
	for _, name := range []string{"flash_attn_2", "AttnImplType.TORCH_SDPA", "RADIAL_ATTN"} {
		if _, err := ParseAttnImpl(name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSparseAttentionState(t *testing.T) {
	cfg := RadialAttention(40, 2, 1, false)
	st := NewSparseAttentionState(cfg.Sparse, "wan")
	for _, c := range []struct {
		ts, layer int
		dense     bool
	}{{0, 5, true}, {39, 5, true}, {40, 1, true}, {40, 2, false}, {100, 30, false}} {
		st.Update(c.ts, c.layer)
		if st.ShouldUseDense() != c.dense {
			t.Errorf("timestep %d layer %d: dense %v, want %v", c.ts, c.layer, !c.dense, c.dense)
		}
	}
	st.Update(-1, 0)
	if st.Timestep != 100 || st.Layer != 0 || st.SparsityType() != "dense" {
		t.Errorf("Update(-1, 0): %+v", st)
	}
	if (&SparseAttentionConfig{DenseTimesteps: 0}).ShouldUseDense(5, 5) != true {
		t.Error("a config with no sparse implementation must run dense")
	}
}

func TestBadInputIsAnError(t *testing.T) {
	d := testDevice(t)
	nt := func(dt dtype.DType, s ...int) *gpu.Tensor {
		x, err := d.NewTensor(dt, s...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	q := nt(dtype.F32, 1, 16, 6, 8)
	k4 := nt(dtype.F32, 1, 16, 4, 8)
	k2 := nt(dtype.F32, 1, 16, 2, 8)
	k16 := nt(dtype.F32, 1, 16, 2, 16)
	q6 := nt(dtype.F32, 1, 16, 2, 6)
	qi := nt(dtype.I32, 1, 16, 2, 8)
	m, _ := NewBlockMask([]int{2, 2}, 64, 64, []uint8{1, 1, 1, 1})
	var ae *Error
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"heads", func() error { _, e := Dense(q, k4, k4, Options{}); return e }, "ops.Attention: q: 6 heads is not a multiple of the 4 kv heads"},
		{"head dims", func() error { _, e := Dense(q, k2, k16, Options{}); return e }, "ops.Attention: k: head dims differ: q 8, k 8, v 16"},
		{"head dim 6", func() error { _, e := Dense(q6, q6, q6, Options{}); return e }, "head dim 6: want a positive multiple of 4"},
		{"dtype", func() error { _, e := Dense(qi, qi, qi, Options{}); return e }, "ops.Attention: q: dtype i32 is not supported"},
		{"nil", func() error { _, e := Dense(nil, k2, k2, Options{}); return e }, "ops.Attention: q: is required"},
		{"mask shape", func() error { _, e := BlockSparse(q, k2, k2, m, Options{}); return e }, "ops.BlockSparseAttention: block_mask: block mask shape [2 2], want [1 1]"},
		{"mask data", func() error { _, e := NewBlockMask([]int{2, 3}, 64, 64, []uint8{1}); return e }, "ops.BlockSparseAttention: block_mask: shape [2 3] with 1 values"},
		{"mask literal", func() error {
			_, e := BlockSparse(q, k2, k2, &BlockMask{Shape: []int{1, 1}, BQ: 0, BK: 64, Data: []uint8{1}}, Options{})
			return e
		}, "ops.BlockSparseAttention: block_mask: block sizes 0 x 64"},
		{"backend", func() error { _, e := ParseAttnImpl("FLASH_ATTN_9"); return e }, `ops.Attention: attn_impl: unknown attention backend "FLASH_ATTN_9"`},
		{"backend value", func() error { _, e := Attention(q, k2, k2, AttentionConfig{Impl: 99}); return e }, "unknown attention backend"},
		{"causal", func() error {
			_, e := Dense(q, nt(dtype.F32, 1, 8, 2, 8), nt(dtype.F32, 1, 8, 2, 8), Options{Causal: true})
			return e
		}, "causal attention needs Sq <= Sk"},
		{"radial model", func() error { _, e := RadialMask(1024, 1024, 4, 128, 1, "sora"); return e }, `model_type "sora"`},
		{"local grid", func() error {
			_, _, e := LocalSparse(q, k2, k2, LocalParams{Frames: 2, Height: 8, Width: 1}, Options{})
			return e
		}, "ops.LocalSparseAttention: window: grid 2x8x1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if !errors.As(err, &ae) {
				t.Fatalf("%T is not *attention.Error", err)
			}
		})
	}
}

func TestNoWritesPastOutputs(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(5))
	for _, c := range []attnCase{
		{b: 1, sq: 77, sk: 77, h: 3, hk: 1, d: 12, dt: dtype.F16},
		{b: 2, sq: 1, sk: 600, h: 2, hk: 2, d: 64, dt: dtype.BF16}, // split-K
		{b: 1, sq: 130, sk: 130, h: 2, hk: 2, d: 80, dt: dtype.F32, out: BNSD},
		{b: 1, sq: 65, sk: 65, h: 1, hk: 1, d: 4, dt: dtype.BF16},
	} {
		for _, sparse := range []bool{false, true} {
			for _, vr := range variants(d) {
				q, k, v := c.inputs(rng)
				l := &call{op: "Attention", q: upload(t, d, q), k: upload(t, d, k), v: upload(t, d, v), out: c.out}
				vr.set(l)
				if sparse {
					nq, nk := ceilDiv(c.sq, 64), ceilDiv(c.sk, 64)
					data := make([]uint8, nq*nk)
					for i := range data {
						data[i] = uint8(rng.Intn(2))
					}
					l.mask, _ = NewBlockMask([]int{nq, nk}, 64, 64, data)
				}
				if err := l.validate(); err != nil {
					t.Fatal(err)
				}
				d.GuardOutputs(true)
				_, err := l.dispatch()
				gerr := d.CheckGuards()
				d.GuardOutputs(false)
				if err != nil {
					t.Fatal(err)
				}
				if gerr != nil {
					t.Fatalf("%v sparse=%v %s: %v", c, sparse, vr.name, gerr)
				}
			}
		}
	}
}
