package dit

import (
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/ops"
)

// TestBlockGraph records the block, replays it on new x and cond, and
// checks the replay against the float64 reference, and its arena
// against what the eager block allocates.
func TestBlockGraph(t *testing.T) {
	d := testDevice(t)
	gputest.Guard(t, d)
	for i, dt := range []ops.DType{ops.F32, ops.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(20 + i)))
			cfg := Config{Dim: 32, NumHeads: 2, MLPRatio: 4, ActivationFn: "gelu-approximate", Eps: 1e-5}
			wr, err := RandomWeights(cfg, dt, rng)
			if err != nil {
				t.Fatal(err)
			}
			w, err := UploadWeights(d, wr)
			if err != nil {
				t.Fatal(err)
			}
			defer ReleaseWeights(w)
			b, err := New(cfg, w)
			if err != nil {
				t.Fatal(err)
			}
			xr, cr := RandomInputs(cfg, dt, 2, 7, rng)
			x, _ := ops.Upload(d, xr)
			cond, _ := ops.Upload(d, cr)
			defer x.Release()
			defer cond.Release()
			g, outs, err := ops.Record(d, []*ops.Tensor{x, cond}, func() ([]*ops.Tensor, error) {
				y, err := b.Forward(x, cond)
				return []*ops.Tensor{y}, err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Release()
			outs[0].Release()
			st := g.Stats()
			if st.ArenaBuffers >= st.EagerBuffers || st.ArenaBytes >= st.EagerBytes {
				t.Errorf("stats %+v: the arena should hold less than the eager block allocates", st)
			}
			// The block's 18 launches include six Narrow chunks of the
			// adaLN output and three of the QKV projection: one each.
			if st.Recorded != 18 || st.Kernels != 11 {
				t.Errorf("stats %+v: want 18 recorded launches and 11 replayed", st)
			}
			xr2, cr2 := RandomInputs(cfg, dt, 2, 7, rng)
			want, err := reference(cfg, xr2, cr2, wr)
			if err != nil {
				t.Fatal(err)
			}
			x2, _ := ops.Upload(d, xr2)
			cond2, _ := ops.Upload(d, cr2)
			defer x2.Release()
			defer cond2.Release()
			got, err := g.Replay(x2, cond2)
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, got[0], want)
		})
	}
}
