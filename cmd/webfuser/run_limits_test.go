package main

import (
	"strings"
	"testing"
)

// TestRunRefusesHugeSizes: each of these panicked in makeslice or ran
// out of memory before a size was checked; now each is an error before
// any device is opened or anything allocated.
func TestRunRefusesHugeSizes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--seq", "9223372036854775807"}, "overflow"},
		{[]string{"--seq", "1000000000"}, "host memory"},
		{[]string{"--batch", "4611686018427387904", "--seq", "4"}, "overflow"},
		{[]string{"--mlp-ratio", "1e12"}, "inner width"},
		{[]string{"--mlp-ratio", "NaN"}, "mlp_ratio"},
		{[]string{"--mlp-ratio", "+Inf"}, "mlp_ratio"},
		{[]string{"--dim", "1099511627776"}, "dim"},
		{[]string{"--dim", "-256"}, "dim"},
		{[]string{"--heads", "0"}, "num_heads"},
		{[]string{"--dim", "1048576", "--heads", "4096", "--seq", "4096", "--check", "none"}, "host memory"},
	} {
		ok, err := runBlock(c.args)
		if err == nil || ok || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %v: ok %v, err %v; want an error about %q", c.args, ok, err, c.want)
		}
	}
}
