package golden

import (
	"fmt"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/host"
	"github.com/webfuser/webfuser/internal/masks"
	"github.com/webfuser/webfuser/ops/attention"
	"github.com/webfuser/webfuser/ops/ref"
)

// Attention cases. Ops and attrs:
//
//	attention               in q, k, v; causal, scale, input_layout, output_layout (BSND/BNSD); out o
//	sage_attention          as attention, through attention.Sage (int8 QKᵀ, ref.SageAttention)
//	block_sparse_attention  in q, k, v, block_mask (u8); block_q, block_k (128), causal, scale; out o
//	radial_mask             seq_len, video_tokens, num_frames, block_size (128), decay_factor (1), model_type; out block_mask
//	local_sparse_attention  in q, k, v (BSND, S = frames*height*width); frames, height, width, topk (10),
//	                        local_range (6), window ([2,8,8]); out o and block_mask [B,H,nb,nb] (windowed order)
func init() {
	Register("attention", attentionGPU, attentionCPU)
	Register("sage_attention", sageGPU, sageCPU)
	Register("block_sparse_attention", blockSparseGPU, blockSparseCPU)
	Register("radial_mask", radialGPU, radialCPU)
	Register("local_sparse_attention", localGPU, localCPU)
}

func attnOptions(c *Case) (attention.Options, error) {
	var o attention.Options
	var err error
	if o.Causal, err = c.Bool("causal", false); err != nil {
		return o, err
	}
	s, err := c.Float("scale", 0)
	if err != nil {
		return o, err
	}
	o.Scale = float32(s)
	for name, dst := range map[string]*attention.Layout{"input_layout": &o.InputLayout, "output_layout": &o.OutputLayout} {
		v, err := c.String(name, "BSND")
		if err != nil {
			return o, err
		}
		if *dst, err = attention.ParseLayout(v); err != nil {
			return o, err
		}
	}
	return o, nil
}

// bsndInputs returns q, k, v in BSND, swapping the axes of BNSD inputs.
func bsndInputs(c *Case, o attention.Options) (q, k, v *ref.Tensor, err error) {
	ts := make([]*ref.Tensor, 3)
	for i, n := range []string{"q", "k", "v"} {
		if ts[i], err = c.Input(n); err != nil {
			return nil, nil, nil, err
		}
		if len(ts[i].Shape) != 4 {
			return nil, nil, nil, fmt.Errorf("in.%s: shape %v, want rank 4", n, ts[i].Shape)
		}
		if o.InputLayout == attention.BNSD {
			ts[i] = host.SwapAxes12(ts[i])
		}
	}
	return ts[0], ts[1], ts[2], nil
}

func toOut(t *ref.Tensor, o attention.Options) *ref.Tensor {
	if o.OutputLayout == attention.BNSD {
		return host.SwapAxes12(t)
	}
	return t
}

func attentionGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	o, err := attnOptions(c)
	if err != nil {
		return nil, err
	}
	y, err := attention.Dense(in["q"], in["k"], in["v"], o)
	return map[string]*gpu.Tensor{"o": y}, err
}

func attentionCPU(c *Case) (map[string]*ref.Tensor, error) { return denseCPU(c, ref.Attention) }

func sageGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	o, err := attnOptions(c)
	if err != nil {
		return nil, err
	}
	y, err := attention.Sage(in["q"], in["k"], in["v"], o)
	return map[string]*gpu.Tensor{"o": y}, err
}

func sageCPU(c *Case) (map[string]*ref.Tensor, error) { return denseCPU(c, ref.SageAttention) }

// denseCPU runs a dense attention reference f on a case's BSND inputs.
func denseCPU(c *Case, f func(q, k, v *ref.Tensor, causal bool, scale float64) (*ref.Tensor, error)) (map[string]*ref.Tensor, error) {
	o, err := attnOptions(c)
	if err != nil {
		return nil, err
	}
	q, k, v, err := bsndInputs(c, o)
	if err != nil {
		return nil, err
	}
	y, err := f(q, k, v, o.Causal, float64(o.Scale))
	if err != nil {
		return nil, err
	}
	return map[string]*ref.Tensor{"o": toOut(y, o)}, nil
}

func blockSizes(c *Case) (int, int, error) {
	bq, err := c.Int("block_q", 128)
	if err != nil {
		return 0, 0, err
	}
	bk, err := c.Int("block_k", 128)
	return bq, bk, err
}

func blockSparseGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	o, err := attnOptions(c)
	if err != nil {
		return nil, err
	}
	bq, bk, err := blockSizes(c)
	if err != nil {
		return nil, err
	}
	m, err := attention.MaskFromTensor(in["block_mask"], bq, bk)
	if err != nil {
		return nil, err
	}
	y, err := attention.BlockSparse(in["q"], in["k"], in["v"], m, o)
	return map[string]*gpu.Tensor{"o": y}, err
}

func blockSparseCPU(c *Case) (map[string]*ref.Tensor, error) {
	o, err := attnOptions(c)
	if err != nil {
		return nil, err
	}
	bq, bk, err := blockSizes(c)
	if err != nil {
		return nil, err
	}
	q, k, v, err := bsndInputs(c, o)
	if err != nil {
		return nil, err
	}
	m, err := c.Input("block_mask")
	if err != nil {
		return nil, err
	}
	y, err := ref.BlockSparseAttention(q, k, v, m, bq, bk, o.Causal, float64(o.Scale))
	if err != nil {
		return nil, err
	}
	return map[string]*ref.Tensor{"o": toOut(y, o)}, nil
}

type radialArgs struct {
	seq, video, frames, bs int
	decay                  float64
	model                  string
}

func radialAttrs(c *Case) (radialArgs, error) {
	r := c.Read()
	var a radialArgs
	a.seq = r.Int("seq_len", 0)
	a.video = r.Int("video_tokens", a.seq)
	a.frames = r.Int("num_frames", 0)
	a.bs = r.Int("block_size", 128)
	a.decay = r.Float("decay_factor", 1)
	a.model = r.String("model_type", "wan")
	return a, r.Err
}

func radialGPU(d *gpu.Device, c *Case, _ map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	a, err := radialAttrs(c)
	if err != nil {
		return nil, err
	}
	m, err := attention.RadialMask(a.seq, a.video, a.frames, a.bs, a.decay, a.model)
	if err != nil {
		return nil, err
	}
	t, err := d.UploadBytes(dtype.U8, m.Shape, m.Data)
	return map[string]*gpu.Tensor{"block_mask": t}, err
}

func radialCPU(c *Case) (map[string]*ref.Tensor, error) {
	a, err := radialAttrs(c)
	if err != nil {
		return nil, err
	}
	m, err := masks.Radial(a.seq, a.video, a.frames, a.bs, a.decay, a.model)
	return map[string]*ref.Tensor{"block_mask": m}, err
}

func localAttrs(c *Case) (p attention.LocalParams, err error) {
	r := c.Read()
	p.Frames = r.Int("frames", 0)
	p.Height = r.Int("height", 0)
	p.Width = r.Int("width", 0)
	p.TopK = r.Int("topk", 10)
	p.LocalRange = r.Int("local_range", 6)
	if r.Err != nil {
		return p, r.Err
	}
	p.Window = [3]int{2, 8, 8}
	if w, ok := c.Attrs["window"]; ok && w != nil {
		l, ok := w.([]any)
		if !ok || len(l) != 3 {
			return p, fmt.Errorf("attr window: %v is not a list of 3 integers", w)
		}
		for i, x := range l {
			f, ok := x.(float64)
			if !ok || f != float64(int(f)) {
				return p, fmt.Errorf("attr window: %v is not a list of 3 integers", w)
			}
			p.Window[i] = int(f)
		}
	}
	return p, nil
}

func localGPU(d *gpu.Device, c *Case, in map[string]*gpu.Tensor) (map[string]*gpu.Tensor, error) {
	p, err := localAttrs(c)
	if err != nil {
		return nil, err
	}
	y, m, err := attention.LocalSparse(in["q"], in["k"], in["v"], p, attention.Options{})
	if err != nil {
		return nil, err
	}
	mt, err := d.UploadBytes(dtype.U8, m.Shape, m.Data)
	if err != nil {
		y.Release()
		return nil, err
	}
	return map[string]*gpu.Tensor{"o": y, "block_mask": mt}, nil
}

func localCPU(c *Case) (map[string]*ref.Tensor, error) {
	p, err := localAttrs(c)
	if err != nil {
		return nil, err
	}
	ts := make([]*ref.Tensor, 3)
	for i, n := range []string{"q", "k", "v"} {
		if ts[i], err = c.Input(n); err != nil {
			return nil, err
		}
	}
	y, m, err := ref.LocalSparseAttention(ts[0], ts[1], ts[2], p.Frames, p.Height, p.Width, p.TopK, p.LocalRange, p.Window)
	if err != nil {
		return nil, err
	}
	return map[string]*ref.Tensor{"o": y, "block_mask": m}, nil
}
