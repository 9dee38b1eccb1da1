package ref

import "fmt"

// DiTConfig holds the attributes of the spec's reference DiT block
// (dit_block) that the weights do not imply: the head count, the
// feed-forward kind (as FeedForward names it) and the RMSNorm epsilon.
type DiTConfig struct {
	NumHeads     int
	ActivationFn string
	Eps          float64
	Linear       LinearFunc // every projection; nil means Linear
}

// DiTBlock computes the spec's reference DiT block on x [B,S,D] with
// conditioning cond [B,D]:
//
//	m = linear(silu(cond), adaln); shift1, scale1, gate1, shift2, scale2, gate2 = split(m, 6)
//	h = modulate(rms_norm(x, norm1, eps), shift1, scale1)
//	q, k, v = split(linear(h, qkv) reshaped [B,S,3,H,D/H])
//	x = x + gate1[:,None] * linear(attention(q, k, v) flattened, proj)
//	x = x + gate2[:,None] * feed_forward(modulate(rms_norm(x, norm2, eps), shift2, scale2))
//
// Weights are named as in the spec (norm1.weight, adaln.weight,
// qkv.weight, ffn.proj_in.weight, ...); the ".bias" tensors may be absent.
// Every stored intermediate is rounded to its dtype as PyTorch stores it
// (the composed ref functions do that), products of a gate rounded before
// the residual add.
func DiTBlock(x, cond *Tensor, w map[string]*Tensor, cfg DiTConfig) (*Tensor, error) {
	if x == nil || len(x.Shape) != 3 {
		return nil, fmt.Errorf("ref.DiTBlock: x must be [B,S,D]")
	}
	B, S, D := x.Shape[0], x.Shape[1], x.Shape[2]
	if cond == nil || len(cond.Shape) != 2 || cond.Shape[0] != B || cond.Shape[1] != D {
		return nil, fmt.Errorf("ref.DiTBlock: cond must be [%d,%d]", B, D)
	}
	H := cfg.NumHeads
	if H <= 0 || D%H != 0 {
		return nil, fmt.Errorf("ref.DiTBlock: dim %d is not a multiple of num_heads %d", D, H)
	}
	for _, n := range []string{"norm1.weight", "norm2.weight", "adaln.weight", "qkv.weight", "proj.weight", "ffn.proj_in.weight", "ffn.proj_out.weight"} {
		if w[n] == nil {
			return nil, fmt.Errorf("ref.DiTBlock: weight %s is missing", n)
		}
	}
	lin := cfg.Linear
	if lin == nil {
		lin = exactLinear
	}
	a, err := Activation(cond, "silu")
	if err != nil {
		return nil, err
	}
	m, err := lin(a, w["adaln.weight"], w["adaln.bias"])
	if err != nil {
		return nil, fmt.Errorf("ref.DiTBlock: adaln: %v", err)
	}
	if m.Numel() != B*6*D {
		return nil, fmt.Errorf("ref.DiTBlock: adaln output %v, want [%d,%d]", m.Shape, B, 6*D)
	}
	chunk := func(i int) *Tensor { return columns(m, i*D, D) }
	shift1, scale1, gate1, shift2, scale2, gate2 := chunk(0), chunk(1), chunk(2), chunk(3), chunk(4), chunk(5)

	n1, err := RMSNorm(x, w["norm1.weight"], nil, cfg.Eps)
	if err != nil {
		return nil, err
	}
	h, err := Modulate(n1, shift1, scale1)
	if err != nil {
		return nil, err
	}
	qkv, err := lin(h, w["qkv.weight"], w["qkv.bias"])
	if err != nil {
		return nil, fmt.Errorf("ref.DiTBlock: qkv: %v", err)
	}
	if qkv.Numel() != B*S*3*D {
		return nil, fmt.Errorf("ref.DiTBlock: qkv output %v, want [%d,%d,%d]", qkv.Shape, B, S, 3*D)
	}
	split := func(i int) *Tensor {
		t := columns(qkv, i*D, D)
		t.Shape = []int{B, S, H, D / H}
		return t
	}
	o, err := Attention(split(0), split(1), split(2), false, 0)
	if err != nil {
		return nil, err
	}
	o.Shape = []int{B, S, D}
	p, err := lin(o, w["proj.weight"], w["proj.bias"])
	if err != nil {
		return nil, fmt.Errorf("ref.DiTBlock: proj: %v", err)
	}
	x1, err := GateResidual(p, gate1, x)
	if err != nil {
		return nil, err
	}
	n2, err := RMSNorm(x1, w["norm2.weight"], nil, cfg.Eps)
	if err != nil {
		return nil, err
	}
	h2, err := Modulate(n2, shift2, scale2)
	if err != nil {
		return nil, err
	}
	f, err := FeedForwardWith(lin, h2, w["ffn.proj_in.weight"], w["ffn.proj_in.bias"], w["ffn.proj_out.weight"], w["ffn.proj_out.bias"], cfg.ActivationFn)
	if err != nil {
		return nil, fmt.Errorf("ref.DiTBlock: ffn: %v", err)
	}
	return GateResidual(f, gate2, x1)
}

// columns copies columns [start, start+n) of the last dimension of t
// into a new tensor of t's dtype.
func columns(t *Tensor, start, n int) *Tensor {
	rows, d := lastDim(t)
	shape := append(append([]int(nil), t.Shape[:len(t.Shape)-1]...), n)
	y := New(t.DType, shape...)
	for r := 0; r < rows; r++ {
		copy(y.Data[r*n:(r+1)*n], t.Data[r*d+start:r*d+start+n])
	}
	return y
}
