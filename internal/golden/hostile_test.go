package golden

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/ops/ref"
)

// caseBytes encodes a case: op, attrs JSON, extra metadata and tensors.
func caseBytes(t testing.TB, op, attrs string, meta map[string]string, ts ...safetensors.Tensor) []byte {
	t.Helper()
	m := map[string]string{"op": op}
	if attrs != "" {
		m["attrs"] = attrs
	}
	for k, v := range meta {
		m[k] = v
	}
	b, err := safetensors.Encode(ts, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func f32(name string, shape ...int) safetensors.Tensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return safetensors.Tensor{Name: name, DType: dtype.F32, Shape: shape, Data: make([]byte, 4*n)}
}

// allocated runs f and returns the bytes the Go heap handed out meanwhile.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestHostileCasesAreRefused holds one case per class of the issue:
// each must be an error, not a panic, an exhausted memory or a hang.
func TestHostileCasesAreRefused(t *testing.T) {
	out := f32("out.y", 1)
	cases := []struct {
		name, want string
		b          []byte
	}{
		{"radial seq_len drives a huge mask", "would allocate block_mask",
			caseBytes(t, "radial_mask", `{"seq_len":16000000,"video_tokens":16000000,"num_frames":1,"block_size":1}`, nil, out)},
		{"radial seq_len out of bound", "outside",
			caseBytes(t, "radial_mask", `{"seq_len":1e12,"block_size":1}`, nil, out)},
		{"int over int64", "does not fit an int",
			caseBytes(t, "block_sparse_attention", `{"block_q":1e19}`, nil, out)},
		{"int with a fraction", "not an integer",
			caseBytes(t, "dit_block", `{"num_heads":2.5}`, nil, out)},
		{"local window of one token", "would allocate block_mask",
			caseBytes(t, "local_sparse_attention", `{"frames":64,"height":64,"width":64,"window":[1,1,1]}`, nil,
				f32("in.q", 1, 262144, 1, 1), f32("in.k", 1, 262144, 1, 1), f32("in.v", 1, 262144, 1, 1), out)},
		{"window not a list", "list of 3",
			caseBytes(t, "local_sparse_attention", `{"window":"big"}`, nil, out)},
		{"linear K=1 makes M x N", "would allocate y",
			caseBytes(t, "linear", "", nil, f32("in.x", 1<<14, 1), f32("in.weight", 1<<14, 1), out)},
		{"feed-forward hidden", "would allocate proj_in",
			caseBytes(t, "feed_forward", "", nil, f32("in.x", 1<<14, 1), f32("in.proj_in.weight", 1<<14, 1), f32("in.proj_out.weight", 1, 1), out)},
		{"attention work", "would compute attention",
			caseBytes(t, "attention", "", nil, f32("in.q", 1, 1<<19, 1, 1), f32("in.k", 1, 1<<19, 1, 1), f32("in.v", 1, 1<<19, 1, 1), out)},
		{"block mask planes", "would allocate block_mask",
			caseBytes(t, "block_sparse_attention", `{"block_q":1,"block_k":1}`, nil,
				f32("in.q", 1, 1<<14, 1, 1), f32("in.k", 1, 1<<14, 1, 1), f32("in.v", 1, 1<<14, 1, 1), out)},
		{"video DiT feed-forward work", "would compute ffn",
			caseBytes(t, "video_dit", `{"layers":65536,"ffn_dim":65536}`, nil, f32("in.x", 1, 1<<10, 1), f32("in.patch_embedding.weight", 64, 1), out)},
		{"video DiT patch of two numbers", "list of 3", caseBytes(t, "video_dit", `{"patch":[1,2]}`, nil, out)},
		{"Wan block self-attention work", "would compute self-attention",
			caseBytes(t, "wan_block", "", nil, f32("in.x", 1, 1<<19, 1), f32("in.context", 1, 1, 1), out)},
		{"Wan block rope_theta", "outside", caseBytes(t, "wan_block", `{"rope_theta":1e300}`, nil, out)},
		{"mlp_ratio", "outside",
			caseBytes(t, "dit_block", `{"num_heads":2,"mlp_ratio":1e12}`, nil, out)},
		{"NaN atol", "finite non-negative", caseBytes(t, "rms_norm", "", map[string]string{"atol": "NaN"}, out)},
		{"Inf rtol", "finite non-negative", caseBytes(t, "rms_norm", "", map[string]string{"rtol": "+Inf"}, out)},
		{"negative atol", "finite non-negative", caseBytes(t, "rms_norm", "", map[string]string{"atol": "-1e-3"}, out)},
		{"unknown op", "unsupported op", caseBytes(t, "no_such_op", "", nil, out)},
		{"attrs not an object", "not a JSON object", caseBytes(t, "rms_norm", `[1,2]`, nil, out)},
		{"attr of the wrong kind", "not a number", caseBytes(t, "rms_norm", `{"eps":"small"}`, nil, out)},
		{"bool attr", "not a boolean", caseBytes(t, "rotary", `{"interleaved":1}`, nil, out)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			grew := allocated(func() { _, err = Parse(c.b, c.name) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
			if grew > 8<<20 {
				t.Errorf("refusing it allocated %d bytes", grew)
			}
		})
	}
}

// TestBigUnknownOpIsRefusedBeforeDecoding: a 256 MB case with an unknown
// op (it took 8.8 GB and 26 s) is refused from its header alone.
func TestBigUnknownOpIsRefusedBeforeDecoding(t *testing.T) {
	// A header for 256 MB of u8 data, the data a sparse hole in the file.
	sparse := func(op string) string {
		hdr := `{"__metadata__":{"op":"` + op + `"},"in.x":{"dtype":"U8","shape":[268435456],"data_offsets":[0,268435456]},` +
			`"out.y":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`
		path := filepath.Join(t.TempDir(), op+".safetensors")
		b := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, int64(len(b))+256<<20); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path := sparse("no_such_op")
	start := time.Now()
	var err error
	grew := allocated(func() { _, err = Load(path) })
	if err == nil || !strings.Contains(err.Error(), "unsupported op") {
		t.Fatalf("err %v", err)
	}
	if grew > 1<<20 || time.Since(start) > time.Second {
		t.Fatalf("refusing it took %v and %d bytes", time.Since(start), grew)
	}
	// The same file with a known op is refused by the element budget.
	path = sparse("rms_norm")
	grew = allocated(func() { _, err = Load(path) })
	if err == nil || !strings.Contains(err.Error(), "over the limit") || grew > 1<<20 {
		t.Fatalf("err %v after %d bytes", err, grew)
	}
}

// TestBogusHeaderInAHugeFile: a 3 GB file whose header length is bogus
// costs a few bytes, not 3 GB.
func TestBogusHeaderInAHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.safetensors")
	b := binary.LittleEndian.AppendUint64(nil, 1<<40)
	os.WriteFile(path, b, 0o644)
	os.Truncate(path, 3<<30)
	var err error
	grew := allocated(func() { _, err = Load(path) })
	if err == nil || grew > 1<<20 {
		t.Fatalf("err %v after %d bytes", err, grew)
	}
}

func TestLoadRefusesNonRegularFiles(t *testing.T) {
	for _, p := range []string{"/dev/zero", t.TempDir()} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestTooManyTensors(t *testing.T) {
	var ts []safetensors.Tensor
	for i := 0; i <= MaxCaseTensors; i++ {
		ts = append(ts, safetensors.Tensor{Name: "in.t" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), DType: dtype.U8, Shape: []int{0}})
	}
	_, err := Parse(caseBytes(t, "rms_norm", "", nil, ts...), "many")
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err %v", err)
	}
}

func TestCaseInt(t *testing.T) {
	c := &Case{Attrs: map[string]any{"big": 1e19, "neg": -1e19, "edge": math.Ldexp(1, 63), "ok": math.Ldexp(1, 62), "nan": math.NaN(), "inf": math.Inf(1)}}
	for _, n := range []string{"big", "neg", "edge", "nan", "inf"} {
		if v, err := c.Int(n, 0); err == nil {
			t.Errorf("%s: got %d, want an error", n, v)
		}
	}
	if v, err := c.Int("ok", 0); err != nil || v != 1<<62 {
		t.Errorf("2^62: %d %v", v, err)
	}
}

// TestHandMadeCasesAreChecked: Run checks a case built in code as Load
// checks a file.
func TestHandMadeCasesAreChecked(t *testing.T) {
	x := ref.New(dtype.F32, 2, 4)
	for _, c := range []*Case{
		{Op: "rms_norm", Atol: math.NaN(), Inputs: map[string]*ref.Tensor{"x": x}},
		{Op: "rms_norm", Rtol: -1, Inputs: map[string]*ref.Tensor{"x": x}},
		{Op: "radial_mask", Attrs: map[string]any{"seq_len": 1e9, "block_size": 1.0}},
		{Op: "rms_norm", Inputs: map[string]*ref.Tensor{"x": {Shape: []int{4, 4}, DType: dtype.F32, Data: make([]float64, 3)}}},
	} {
		if r := Run(nil, c); r.Err == nil || r.Pass {
			t.Errorf("%+v ran: %+v", c, r)
		}
	}
}

func TestRunnerPanicIsAFailedCase(t *testing.T) {
	Register("test_panics", nil, func(c *Case) (map[string]*ref.Tensor, error) { panic("boom") })
	defer delete(registry, "test_panics")
	r := Run(nil, &Case{Op: "test_panics"})
	if !errors.Is(r.Err, ErrPanic) || r.Pass {
		t.Fatalf("%+v", r)
	}
}
