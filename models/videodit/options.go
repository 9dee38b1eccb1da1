package videodit

import (
	"github.com/webfuser/webfuser/ops"
	"github.com/webfuser/webfuser/ops/attention"
)

// SetOptions chooses how the model's blocks run. Linear W8A8 (or auto,
// on a device with int8 tensor cores: ops.LinearMode.Resolve) swaps the
// blocks' float projections whose input width is a multiple of 4 for
// int8 copies (ops.ReplaceLinearLayersInt8, once: the float weights are
// released, so a W8A8 model cannot go back to exact); the embeddings and
// the head stay float, as TeleFuser's quantisation leaves them. attn is
// the blocks' attention implementation (zero means TORCH_SDPA). It
// returns the linear mode the model now runs.
func (m *Model) SetOptions(linear ops.LinearMode, attn attention.AttnImplType) (ops.LinearMode, error) {
	if _, err := attention.ParseAttnImpl(attn.String()); attn != 0 && err != nil {
		return m.linear, errorf("attention", "%v", err)
	}
	mode := linear.Resolve(m.dev)
	switch {
	case mode != ops.LinearModeExact && mode != ops.LinearModeW8A8:
		return m.linear, errorf("linear", "unknown linear mode %v", linear)
	case mode == ops.LinearModeExact && m.linear == ops.LinearModeW8A8:
		return m.linear, errorf("linear", "the model runs W8A8 and released its float weights; load it again for exact linears")
	}
	if mode == ops.LinearModeW8A8 && m.linear != ops.LinearModeW8A8 {
		keep := func(l *ops.Linear) bool { return l.In%4 == 0 }
		for _, b := range m.Blocks {
			if _, err := ops.ReplaceLinearLayersInt8(b, keep); err != nil {
				m.collectInt8()
				return m.linear, err
			}
		}
		m.collectInt8()
		m.linear = ops.LinearModeW8A8
	}
	for _, b := range m.Blocks {
		b.AttnImpl = attn
	}
	return m.linear, nil
}

// Linear returns the linear mode the model runs (exact until SetOptions).
func (m *Model) Linear() ops.LinearMode { return m.linear }

// collectInt8 records the blocks' int8 projections, which the model made
// and Release frees.
func (m *Model) collectInt8() {
	seen := map[*ops.LinearInt8]bool{}
	for _, l := range m.int8 {
		seen[l] = true
	}
	for _, b := range m.Blocks {
		for _, p := range b.Projections() {
			if l, ok := (*p).(*ops.LinearInt8); ok && !seen[l] {
				seen[l] = true
				m.int8 = append(m.int8, l)
			}
		}
	}
}
