package demo

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/golden"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/models/dit"
)

// MaxFileBytes is the largest file the page reads: a golden case is a
// few kB to a few MB; anything larger is refused before it is read, so
// that a wrong or hostile file cannot exhaust the tab's memory.
const MaxFileBytes = 64 << 20

// fileLimits are the reader's limits for a file dropped on the page.
var fileLimits = safetensors.Limits{MaxHeaderBytes: 16 << 20, MaxTensors: 4096, MaxFileBytes: MaxFileBytes}

// FileResult is what CheckFile found in a file: a golden case it ran
// (Kind "case"), a set of weights it described ("weights"), or a
// refusal ("refused") saying why.
type FileResult struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	OK      bool   `json:"ok"`
	Summary string `json:"summary"`
	Detail  string `json:"detail,omitempty"`
}

// CheckFile reads a safetensors file the visitor chose: a golden case
// (metadata with an op) runs on d (or the CPU reference when d is nil)
// and is compared with its expected outputs; any other file is read as
// weights and described, with a check of their shapes against a DiT
// block. A file over MaxFileBytes, malformed, or over any of the
// readers' limits is refused with the reason; nothing here panics.
func CheckFile(d *gpu.Device, name string, b []byte) (res FileResult) {
	res = FileResult{Name: name, Kind: "refused"}
	defer func() {
		if p := recover(); p != nil {
			res.Kind, res.OK, res.Summary = "refused", false, fmt.Sprintf("internal error while reading the file: %v", p)
		}
	}()
	if len(b) > MaxFileBytes {
		res.Summary = fmt.Sprintf("%s is %s, over the limit of %s: refused", name, mb(int64(len(b))), mb(MaxFileBytes))
		return res
	}
	f, err := safetensors.Parse(b, safetensors.WithLimits(fileLimits))
	if err != nil {
		res.Summary = "not a valid safetensors file: " + strings.TrimPrefix(err.Error(), "safetensors: ")
		return res
	}
	if f.Metadata()["op"] != "" {
		return checkCase(d, name, b, res)
	}
	return describeWeights(f, res)
}

func checkCase(d *gpu.Device, name string, b []byte, res FileResult) FileResult {
	c, err := golden.Parse(b, name)
	if err != nil {
		res.Summary = "not a usable golden case: " + err.Error()
		return res
	}
	r := golden.Run(d, c)
	res.Kind, res.OK = "case", r.Pass
	where := "this GPU"
	if d == nil {
		where = "the CPU reference"
	}
	status := "PASS"
	if !r.Pass {
		status = "FAIL"
	}
	res.Summary = fmt.Sprintf("golden case %s (%s): %s on %s, max abs error %.3g, max rel error %.3g", r.Op, r.DType, status, where, r.MaxAbs, r.MaxRel)
	if r.Err != nil {
		res.Detail = r.Err.Error()
	}
	return res
}

// describeWeights lists a weight file's tensors and checks them against
// the DiT block of the width norm1.weight gives, if it has one.
func describeWeights(f *safetensors.File, res FileResult) FileResult {
	names := f.Names()
	var total int64
	dts := map[string]int{}
	for _, n := range names {
		t, _ := f.Info(n)
		total += int64(t.ByteSize())
		if t.Readable {
			dts[t.DType.String()]++
		} else {
			dts[t.Type]++
		}
	}
	var kinds []string
	for dt, n := range dts {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, dt))
	}
	sort.Strings(kinds)
	res.Kind, res.OK = "weights", true
	res.Summary = fmt.Sprintf("weights: %d tensors (%s), %s of data", len(names), strings.Join(kinds, ", "), mb(total))
	res.Detail = ditCheck(f)
	return res
}

// ditCheck says whether a weight file holds one DiT block, inferring
// its width from norm1.weight, its inner width from ffn.proj_out.weight
// and its heads and activation from the metadata (num_heads,
// activation_fn) when present.
func ditCheck(f *safetensors.File) string {
	norm, ok := f.Info("norm1.weight")
	if !ok || len(norm.Shape) != 1 {
		return "not a DiT block (no norm1.weight [D])"
	}
	D := norm.Shape[0]
	cfg := dit.NewConfig(D, 1)
	if h, err := strconv.Atoi(f.Metadata()["num_heads"]); err == nil {
		cfg.NumHeads = h
	}
	if a := f.Metadata()["activation_fn"]; a != "" {
		cfg.ActivationFn = a
	}
	if out, ok := f.Info("ffn.proj_out.weight"); ok && len(out.Shape) == 2 && D > 0 {
		cfg.MLPRatio = float64(out.Shape[1]) / float64(D)
	}
	shapes, err := cfg.WeightShapes()
	if err != nil {
		return "not a DiT block: " + err.Error()
	}
	for _, n := range dit.WeightNames() {
		t, ok := f.Info(n)
		if !ok {
			if strings.HasSuffix(n, ".bias") {
				continue
			}
			return fmt.Sprintf("not a DiT block of dim %d: %s is missing", D, n)
		}
		if fmt.Sprint(t.Shape) != fmt.Sprint(shapes[n]) {
			return fmt.Sprintf("not a DiT block of dim %d (%s, mlp_ratio %g): %s is %v, want %v", D, cfg.ActivationFn, cfg.MLPRatio, n, t.Shape, shapes[n])
		}
	}
	return fmt.Sprintf("the weights of a DiT block: dim %d, mlp_ratio %g, %s", D, cfg.MLPRatio, cfg.ActivationFn)
}

func mb(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d bytes (%.1f MB)", n, float64(n)/(1<<20))
}
