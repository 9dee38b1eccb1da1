package dit

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/ops"
)

// TestConfigBoundsSizes: attributes that size allocations are bounded
// before anything is allocated (mlp_ratio 1e12 panicked in makeslice).
func TestConfigBoundsSizes(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Dim: 256, NumHeads: 4, MLPRatio: 1e12}, "inner width"},
		{Config{Dim: 256, NumHeads: 4, MLPRatio: math.Inf(1)}, "positive number"},
		{Config{Dim: 256, NumHeads: 4, MLPRatio: math.NaN()}, "positive number"},
		{Config{Dim: 256, NumHeads: 4, MLPRatio: 1e-9}, "inner width"},
		{Config{Dim: 1 << 40, NumHeads: 4}, "dim"},
		{Config{Dim: -4, NumHeads: 4}, "dim"},
		{Config{Dim: 256, NumHeads: 4, Eps: float32(math.Inf(1))}, "eps"},
	} {
		_, err := RandomWeights(c.cfg, ops.F32, rand.New(rand.NewSource(1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error about %q", c.cfg, err, c.want)
		}
	}
}

func TestHostElements(t *testing.T) {
	cfg := NewConfig(8, 2)
	n, err := cfg.HostElements(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := RandomWeights(cfg, ops.F32, rand.New(rand.NewSource(1)))
	want := 2*3*8 + 2*8
	for _, x := range w {
		want += x.Numel()
	}
	if n != want {
		t.Errorf("HostElements = %d, want %d", n, want)
	}
	for _, bs := range [][2]int{{0, 1}, {1, -1}, {math.MaxInt / 2, math.MaxInt / 2}, {1, math.MaxInt}} {
		if _, err := cfg.HostElements(bs[0], bs[1]); err == nil {
			t.Errorf("batch %d seq %d accepted", bs[0], bs[1])
		}
	}
}

func TestForwardOnAZeroBlock(t *testing.T) {
	var b *Block
	if _, err := b.Forward(nil, nil); err == nil {
		t.Error("nil block ran")
	}
	if _, err := (&Block{}).Forward(nil, nil); err == nil {
		t.Error("zero block ran")
	}
	if p := (&Block{}).Parameters(); len(p) != 0 {
		t.Errorf("zero block has parameters %v", p)
	}
}
