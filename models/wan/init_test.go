package wan

import "testing"

func TestRandomInit(t *testing.T) {
	tests := []struct {
		name      string
		shape     []int
		std, mean float64
	}{
		{"norm3.weight", []int{32}, 0.2, 1},
		{"self_attn.norm_q.weight", []int{32}, 0.2, 1},
		{"modulation", []int{1, 6, 32}, 0.3, 0},
		{"head.modulation", []int{1, 2, 32}, 0.3, 0},
		{"ffn.0.weight", []int{128, 64}, 0.125, 0},
		{"ffn.0.bias", []int{128}, 0.1, 0},
	}
	for _, tc := range tests {
		if std, mean := RandomInit(tc.name, tc.shape); std != tc.std || mean != tc.mean {
			t.Errorf("%s %v: N(%g, %g²), want N(%g, %g²)", tc.name, tc.shape, mean, std, tc.mean, tc.std)
		}
	}
}
