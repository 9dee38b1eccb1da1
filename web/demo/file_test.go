package demo

import (
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/models/dit"
)

// TestCheckFile: a golden case runs, weights are described, and an
// oversized, malformed or hostile file is refused with a message.
func TestCheckFile(t *testing.T) {
	d := testDevice(t)
	good, err := os.ReadFile("../../testdata/golden/norm/rms_norm_f32_0_w.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cfg := dit.NewConfig(16, 2)
	w, _ := dit.RandomWeights(cfg, dtype.BF16, rand.New(rand.NewSource(1)))
	var ts []safetensors.Tensor
	for n, x := range w {
		ts = append(ts, safetensors.Tensor{Name: n, DType: x.DType, Shape: x.Shape, Data: dtype.Encode(x.DType, x.Float32())})
	}
	weights, _ := safetensors.Encode(ts, nil)
	hostile, _ := safetensors.Encode([]safetensors.Tensor{{Name: "out.block_mask", DType: dtype.U8, Shape: []int{1}, Data: []byte{1}}},
		map[string]string{"op": "radial_mask", "attrs": `{"seq_len":16000000,"block_size":1}`})
	for _, c := range []struct {
		name, kind, want string
		b                []byte
	}{
		{"case", "case", "PASS", good},
		{"weights", "weights", "the weights of a DiT block: dim 16", weights},
		{"truncated", "refused", "not a valid safetensors file", good[:40]},
		{"noise", "refused", "not a valid safetensors file", []byte("this is not a tensor file at all")},
		{"hostile case", "refused", "would allocate", hostile},
		{"too big", "refused", "over the limit", make([]byte, MaxFileBytes+1)},
	} {
		r := CheckFile(d, c.name, c.b)
		if r.Kind != c.kind || !strings.Contains(r.Summary+" "+r.Detail, c.want) {
			t.Errorf("%s: %+v, want kind %s and %q", c.name, r, c.kind, c.want)
		}
		t.Logf("%s: %s %s", c.name, r.Summary, r.Detail)
	}
}
