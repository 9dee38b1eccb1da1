package launch

import "testing"

// TestQuantizeRowsPerWorkgroup checks the rows a quantisation workgroup
// takes: powers of two up to 8, while 2048 workgroups remain.
func TestQuantizeRowsPerWorkgroup(t *testing.T) {
	for _, c := range []struct{ m, want int }{
		{0, 1}, {1, 1}, {4095, 1}, {4096, 2}, {8191, 2}, {8192, 4}, {16384, 8}, {32768, 8}, {1 << 24, 8},
	} {
		if got := QuantizeRowsPerWorkgroup(c.m); got != c.want {
			t.Errorf("QuantizeRowsPerWorkgroup(%d) = %d, want %d", c.m, got, c.want)
		}
	}
}
