package launch

import "testing"

// TestQuantizeRowsPerWorkgroup checks the rows a quantisation workgroup
// takes: 8 where 512 workgroups remain, else 1.
func TestQuantizeRowsPerWorkgroup(t *testing.T) {
	for _, c := range []struct{ m, want int }{
		{0, 1}, {1, 1}, {1024, 1}, {4095, 1}, {4096, 8}, {8192, 8}, {32768, 8}, {1 << 24, 8},
	} {
		if got := QuantizeRowsPerWorkgroup(c.m); got != c.want {
			t.Errorf("QuantizeRowsPerWorkgroup(%d) = %d, want %d", c.m, got, c.want)
		}
	}
}
