package main

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/webfuser/webfuser/models/dit"
	"github.com/webfuser/webfuser/ops/ref"
)

// The sampled check of `webfuser run --check sample`. The float64
// reference of a whole block costs about S·18·D² + 2·S²·D multiply-adds
// per batch: minutes at DiT sizes. The output rows of a block depend on
// the other rows only through attention's keys and values, so a few rows
// can be checked exactly for the cost of the K and V projections of their
// batch (2·S·D², run on every CPU) plus the few rows themselves. Every
// step calls the same ops/ref function that ref.DiTBlock calls, on the
// rows it needs, so the sampled rows equal those of the full reference
// bit for bit (run_sample_test.go checks that).

// refMACs estimates the multiply-adds of the full reference block.
func refMACs(cfg dit.Config, batch, seq int) float64 {
	shapes, err := cfg.WeightShapes()
	if err != nil {
		return 0
	}
	D := float64(cfg.Dim)
	var perRow float64
	for _, n := range []string{"qkv.weight", "proj.weight", "ffn.proj_in.weight", "ffn.proj_out.weight"} {
		perRow += float64(shapes[n][0]) * float64(shapes[n][1])
	}
	B, S := float64(batch), float64(seq)
	return B*S*perRow + 2*B*S*S*D
}

// sampleRows picks n distinct flat row indices of [0, total): the first,
// the last and the rest evenly spaced between them.
func sampleRows(total, n int) []int {
	n = min(n, total)
	if n <= 0 {
		return nil
	}
	if n == 1 {
		return []int{0}
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = int(int64(i) * int64(total-1) / int64(n-1))
	}
	return rows
}

// referenceRows computes the reference block (as golden.DiTReference) for the
// given flat rows b·S+s of x [B,S,D] only, and returns them as [len(rows), D].
func referenceRows(cfg dit.Config, x, cond *ref.Tensor, w map[string]*ref.Tensor, rows []int) (*ref.Tensor, error) {
	if len(x.Shape) != 3 || x.Shape[2] != cfg.Dim {
		return nil, fmt.Errorf("check: x %v is not [B,S,%d]", x.Shape, cfg.Dim)
	}
	B, S, D, H := x.Shape[0], x.Shape[1], x.Shape[2], cfg.NumHeads
	act := cfg.ActivationFn
	if act == "" {
		act = dit.DefaultActivationFn
	}
	for _, n := range []string{"norm1.weight", "norm2.weight", "adaln.weight", "qkv.weight", "proj.weight", "ffn.proj_in.weight", "ffn.proj_out.weight"} {
		if w[n] == nil {
			return nil, fmt.Errorf("check: weight %s is missing", n)
		}
	}
	eps := float64(cfg.Eps)
	a, err := ref.Activation(cond, "silu")
	if err != nil {
		return nil, err
	}
	m, err := ref.Linear(a, w["adaln.weight"], w["adaln.bias"])
	if err != nil {
		return nil, err
	}
	qkvW, qkvB := w["qkv.weight"], w["qkv.bias"]
	out := ref.New(x.DType, len(rows), D)
	byBatch := map[int][]int{} // batch -> indices into rows
	var order []int
	for i, r := range rows {
		if r < 0 || r >= B*S {
			return nil, fmt.Errorf("check: row %d is outside [0, %d)", r, B*S)
		}
		if byBatch[r/S] == nil {
			order = append(order, r/S)
		}
		byBatch[r/S] = append(byBatch[r/S], i)
	}
	for _, b := range order {
		idx := rowsOf(m, b, 1)
		chunk := func(i int) *ref.Tensor { return colsOf(idx, i*D, D) } // [1, D]
		shift1, scale1, gate1, shift2, scale2, gate2 := chunk(0), chunk(1), chunk(2), chunk(3), chunk(4), chunk(5)

		xb := rowsOf(x, b*S, S) // [S, D]
		xb.Shape = []int{1, S, D}
		n1, err := ref.RMSNorm(xb, w["norm1.weight"], nil, eps)
		if err != nil {
			return nil, err
		}
		h, err := ref.Modulate(n1, shift1, scale1)
		if err != nil {
			return nil, err
		}
		// Keys and values of every token of the batch, queries of the sampled ones.
		kv, err := parallelLinear(h, rowsOf(qkvW, D, 2*D), vecPart(qkvB, D, 2*D))
		if err != nil {
			return nil, err
		}
		sel := byBatch[b]
		hs := ref.New(h.DType, 1, len(sel), D)
		xs := ref.New(x.DType, 1, len(sel), D)
		for j, i := range sel {
			s := rows[i] - b*S
			copy(hs.Data[j*D:(j+1)*D], h.Data[s*D:(s+1)*D])
			copy(xs.Data[j*D:(j+1)*D], xb.Data[s*D:(s+1)*D])
		}
		q, err := ref.Linear(hs, rowsOf(qkvW, 0, D), vecPart(qkvB, 0, D))
		if err != nil {
			return nil, err
		}
		k, v := colsOf(kv, 0, D), colsOf(kv, D, D)
		q.Shape, k.Shape, v.Shape = []int{1, len(sel), H, D / H}, []int{1, S, H, D / H}, []int{1, S, H, D / H}
		o, err := ref.Attention(q, k, v, false, 0)
		if err != nil {
			return nil, err
		}
		o.Shape = []int{1, len(sel), D}
		p, err := ref.Linear(o, w["proj.weight"], w["proj.bias"])
		if err != nil {
			return nil, err
		}
		x1, err := ref.GateResidual(p, gate1, xs)
		if err != nil {
			return nil, err
		}
		n2, err := ref.RMSNorm(x1, w["norm2.weight"], nil, eps)
		if err != nil {
			return nil, err
		}
		h2, err := ref.Modulate(n2, shift2, scale2)
		if err != nil {
			return nil, err
		}
		f, err := ref.FeedForward(h2, w["ffn.proj_in.weight"], w["ffn.proj_in.bias"], w["ffn.proj_out.weight"], w["ffn.proj_out.bias"], act)
		if err != nil {
			return nil, err
		}
		y, err := ref.GateResidual(f, gate2, x1)
		if err != nil {
			return nil, err
		}
		for j, i := range sel {
			copy(out.Data[i*D:(i+1)*D], y.Data[j*D:(j+1)*D])
		}
	}
	return out, nil
}

// parallelLinear is ref.Linear over the rows of x [..., K], split into
// one chunk per CPU. Each output row is computed as ref.Linear computes
// it, so the result is the same.
func parallelLinear(x, weight, bias *ref.Tensor) (*ref.Tensor, error) {
	K := x.Shape[len(x.Shape)-1]
	rows := x.Numel() / K
	N := weight.Shape[0]
	workers := max(1, min(runtime.NumCPU(), rows))
	per := (rows + workers - 1) / workers
	y := ref.New(x.DType, rows, N)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for c := 0; c < workers; c++ {
		lo, hi := c*per, min(rows, (c+1)*per)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(c, lo, hi int) {
			defer wg.Done()
			part, err := ref.Linear(rowsOf(x, lo, hi-lo), weight, bias)
			if err != nil {
				errs[c] = err
				return
			}
			copy(y.Data[lo*N:hi*N], part.Data)
		}(c, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return y, nil
}

// rowsOf copies rows [start, start+n) of t viewed as [rows, last dim].
func rowsOf(t *ref.Tensor, start, n int) *ref.Tensor {
	d := t.Shape[len(t.Shape)-1]
	y := ref.New(t.DType, n, d)
	copy(y.Data, t.Data[start*d:(start+n)*d])
	return y
}

// colsOf copies columns [start, start+n) of t's last dimension.
func colsOf(t *ref.Tensor, start, n int) *ref.Tensor {
	d := t.Shape[len(t.Shape)-1]
	rows := t.Numel() / d
	y := ref.New(t.DType, rows, n)
	for r := 0; r < rows; r++ {
		copy(y.Data[r*n:(r+1)*n], t.Data[r*d+start:r*d+start+n])
	}
	return y
}

// vecPart copies elements [start, start+n) of a vector, or returns nil for nil.
func vecPart(t *ref.Tensor, start, n int) *ref.Tensor {
	if t == nil {
		return nil
	}
	y := ref.New(t.DType, n)
	copy(y.Data, t.Data[start:start+n])
	return y
}
