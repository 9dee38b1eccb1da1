package attention

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/ops/ref"
)

func TestBlockSparseMatchesReference(t *testing.T) {
	d := testDevice(t)
	type sc struct {
		attnCase
		bs    int
		rank  int // 2 shared, 3 per head, 4 per batch and head
		dense float64
	}
	cases := []sc{
		{attnCase{b: 1, sq: 300, sk: 300, h: 2, hk: 2, d: 64, dt: dtype.F32}, 128, 2, 0.5},
		{attnCase{b: 2, sq: 300, sk: 300, h: 4, hk: 2, d: 80, dt: dtype.F16, in: BNSD}, 64, 3, 0.4},
		{attnCase{b: 2, sq: 200, sk: 330, h: 2, hk: 1, d: 128, dt: dtype.BF16, out: BNSD}, 64, 4, 0.5},
		{attnCase{b: 1, sq: 256, sk: 256, h: 2, hk: 2, d: 96, causal: true, dt: dtype.F32}, 64, 3, 0.7},
		{attnCase{b: 1, sq: 77, sk: 77, h: 1, hk: 1, d: 12, dt: dtype.F32}, 64, 2, 0.5},
	}
	for ci, c := range cases {
		for _, vr := range variants(d) {
			t.Run(fmt.Sprintf("%v/bs%d/rank%d/%s", c.attnCase, c.bs, c.rank, vr.name), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(ci)))
				q, k, v := c.inputs(rng)
				nq, nk := ceilDiv(c.sq, c.bs), ceilDiv(c.sk, c.bs)
				shape := []int{nq, nk}
				switch c.rank {
				case 3:
					shape = []int{c.h, nq, nk}
				case 4:
					shape = []int{c.b, c.h, nq, nk}
				}
				mt := ref.New(dtype.U8, shape...)
				for i := range mt.Data {
					if rng.Float64() < c.dense {
						mt.Data[i] = 1
					}
				}
				for j := 0; j < nk; j++ {
					mt.Data[nk+j] = 0 // query block 1 of plane 0 sees nothing: zeros
				}
				want, err := ref.BlockSparseAttention(q, k, v, mt, c.bs, c.bs, c.causal, 0)
				if err != nil {
					t.Fatal(err)
				}
				m, err := MaskFromRef(mt, c.bs, c.bs)
				if err != nil {
					t.Fatal(err)
				}
				l := &call{op: "BlockSparseAttention", q: upload(t, d, toLayout(q, c.in)), k: upload(t, d, toLayout(k, c.in)),
					v: upload(t, d, toLayout(v, c.in)), in: c.in, out: c.out, causal: c.causal, mask: m}
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

// naiveRadial materialises every frame pair's token mask as the spec
// states the algorithm, to check the interval arithmetic of masks.Radial.
func naiveRadial(seq, video, frames, bs int, decay float64, model string) []uint8 {
	n := seq / bs
	out := make([]uint8, n*n)
	vb := video / bs
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			if r >= vb || c >= vb {
				out[r*n+c] = 1
			}
		}
	}
	tpf := video / frames
	nb := (tpf-1)/bs + 1
	for i := 0; i < frames; i++ {
		for j := 0; j < frames; j++ {
			local := make([]bool, tpf*tpf)
			for r := 0; r < tpf; r++ {
				for c := 0; c < tpf; c++ {
					if j == 0 && model == "wan" {
						local[r*tpf+c] = true
						continue
					}
					dist := i - j
					if dist < 0 {
						dist = -dist
					}
					g := bits.Len(uint(dist))
					dl := math.Pow(2, float64(bits.Len(uint(tpf)))) / math.Pow(2, float64(g))
					win := float64(tpf)
					if dist > 1 {
						win = math.Max(dl*decay, float64(bs))
					}
					split := dl >= 128 || dist%int(128/dl) == 0
					local[r*tpf+c] = math.Abs(float64(c-r)) <= win && split
				}
			}
			ro, co := (i*tpf)%bs, (j*tpf)%bs
			ph, pw := ro+nb*bs, co+nb*bs
			pad := make([]bool, ph*pw)
			for r := 0; r < tpf; r++ {
				for c := 0; c < tpf; c++ {
					pad[(ro+r)*pw+co+c] = local[r*tpf+c]
				}
			}
			for br := 0; br < nb; br++ {
				for bc := 0; bc < nb; bc++ {
					nz, hi := 0.0, 0.0
					for x := 0; x < bs; x++ {
						cnt := 0
						for y := 0; y < bs; y++ {
							if pad[(br*bs+y)*pw+bc*bs+x] {
								cnt++
							}
						}
						dens := float64(cnt) / float64(bs)
						if dens > 0 {
							nz++
						}
						if dens > 1.0/3 {
							hi++
						}
					}
					on := hi/(nz+1e-9) > 0.6 || br == 0 || br == nb-1
					R, C := i*tpf/bs+br, j*tpf/bs+bc
					if on && R < n && C < n {
						out[R*n+C] = 1
					}
				}
			}
		}
	}
	return out
}

func TestRadialMaskMatchesSpec(t *testing.T) {
	for _, c := range []struct {
		seq, video, frames, bs int
		decay                  float64
		model                  string
	}{
		{1000, 1000, 4, 128, 1, "wan"},
		{1000, 900, 3, 128, 1, "hunyuan"},
		{2100, 2000, 8, 128, 0.5, "wan"},
		{2100, 2000, 8, 64, 1, "hunyuan"},
		{4096, 3840, 16, 128, 1, "wan"},
		{700, 600, 12, 64, 2, "wan"},
		{12800, 12480, 8, 128, 1, "wan"},
		{6500, 6240, 16, 64, 1, "hunyuan"},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			m, err := RadialMask(c.seq, c.video, c.frames, c.bs, c.decay, c.model)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveRadial(c.seq, c.video, c.frames, c.bs, c.decay, c.model)
			n := c.seq / c.bs
			if fmt.Sprint(m.Shape) != fmt.Sprint([]int{n, n}) {
				t.Fatalf("shape %v, want [%d %d]", m.Shape, n, n)
			}
			for i := range want {
				if m.Data[i] != want[i] {
					t.Fatalf("block (%d, %d) = %d, want %d", i/n, i%n, m.Data[i], want[i])
				}
			}
			again, _ := RadialMask(c.seq, c.video, c.frames, c.bs, c.decay, c.model)
			if again != m {
				t.Fatal("mask not cached")
			}
			// With three or more blocks per frame, distant frames drop out.
			if tpf := c.video / c.frames; tpf >= 3*c.bs && c.frames >= 8 && m.Density() >= 0.9 {
				t.Fatalf("mask of %d frames of %d tokens has density %.2f", c.frames, tpf, m.Density())
			}
		})
	}
}

func TestRadialAttention(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewSource(11))
	c := attnCase{b: 1, sq: 1630, sk: 1630, h: 2, hk: 2, d: 32, dt: dtype.F16}
	q, k, v := c.inputs(rng)
	cfg := RadialAttention(2, 0, 1, false)
	cfg.Sparse.BlockSize = 64
	cfg.State = &SparseAttentionState{Config: cfg.Sparse, ModelType: "hunyuan", VideoTokens: 1600, NumFrames: 8}
	gq, gk, gv := upload(t, d, q), upload(t, d, k), upload(t, d, v)
	// Timestep 0 < dense_timesteps: dense.
	o, err := Attention(gq, gk, gv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dense, _ := ref.Attention(q, k, v, false, 0)
	expectClose(t, o, dense)
	cfg.State.Update(5, 3)
	o, err = Attention(gq, gk, gv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := radialAttentionMask(1630, 1600, 8, 64, 1, "hunyuan")
	if m.Shape[0] != 26 || m.Density() > 0.9 {
		t.Fatalf("mask %v density %g", m.Shape, m.Density())
	}
	mt := ref.New(dtype.U8, m.Shape...)
	for i, x := range m.Data {
		mt.Data[i] = float64(x)
	}
	want, _ := ref.BlockSparseAttention(q, k, v, mt, 64, 64, false, 0)
	expectClose(t, o, want)
}

func TestLocalSparseMatchesReference(t *testing.T) {
	d := testDevice(t)
	for _, c := range []struct {
		f, h, w, heads, hk, dim, topk, local int
		dt                                   dtype.DType
		in                                   Layout
	}{
		{4, 16, 16, 2, 2, 32, 10, 3, dtype.F32, BSND},
		{2, 16, 24, 2, 1, 64, 4, 2, dtype.BF16, BNSD},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(c.f * c.w)))
			S := c.f * c.h * c.w
			q := randTensor(rng, c.dt, []int{1, S, c.heads, c.dim}, 1)
			k := randTensor(rng, c.dt, []int{1, S, c.hk, c.dim}, 1)
			v := randTensor(rng, c.dt, []int{1, S, c.hk, c.dim}, 1)
			win := [3]int{2, 8, 8}
			want, wmask, err := ref.LocalSparseAttention(q, k, v, c.f, c.h, c.w, c.topk, c.local, win)
			if err != nil {
				t.Fatal(err)
			}
			cfg := LocalSparseAttention(0, 0, c.local, c.topk)
			cfg.InputLayout = c.in
			cfg.State = &SparseAttentionState{Config: cfg.Sparse, Frames: c.f, Height: c.h, Width: c.w, Timestep: 1}
			o, err := Attention(upload(t, d, toLayout(q, c.in)), upload(t, d, toLayout(k, c.in)), upload(t, d, toLayout(v, c.in)), cfg)
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, o, want)
			live := 0
			for _, x := range wmask.Data {
				live += int(x)
			}
			if live == 0 || live == len(wmask.Data) {
				t.Fatalf("mask has %d of %d live blocks: not a sparse selection", live, len(wmask.Data))
			}
		})
	}
}
