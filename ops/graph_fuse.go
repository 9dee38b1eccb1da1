package ops

import (
	"fmt"
	"strings"

	"github.com/webfuser/webfuser/gpu"
	"github.com/webfuser/webfuser/internal/kernel"
)

// graphPasses are the rewrites Record applies to a recording.
var graphPasses = []kernel.Pass{mergeNarrows}

// mergeNarrows replaces each run of consecutive Narrow launches that
// read the same tensor with the same widths (the chunks of an adaLN
// modulation, of a fused QKV projection) by one launch that writes all
// their outputs: one kernel instead of up to seven, each output element
// copied as before. A run is cut so that the launch binds at most the
// device's storage buffers per stage.
func mergeNarrows(d *gpu.Device, ks []kernel.Kernel) []kernel.Kernel {
	maxOuts := int(d.Limits.MaxStorageBuffers) - 1
	var out []kernel.Kernel
	for i := 0; i < len(ks); {
		j := i + 1
		for j < len(ks) && j-i < maxOuts && sameNarrow(&ks[i], &ks[j]) {
			j++
		}
		if j-i < 2 {
			out = append(out, ks[i])
		} else {
			out = append(out, *narrowMany(d, ks[i:j]))
		}
		i = j
	}
	return out
}

// isNarrow reports whether k is a launch that Narrow declared.
func isNarrow(k *kernel.Kernel) bool {
	return k.Name == "narrow" && len(k.Bindings) == 2 && k.Bindings[0].Name == "x" && k.Bindings[1].Output()
}

// sameNarrow reports whether b copies columns of a's input with a's
// pack width, row width and stride.
func sameNarrow(a, b *kernel.Kernel) bool {
	if !isNarrow(a) || !isNarrow(b) || a.Vec != b.Vec || a.Bindings[0].T.Storage() != b.Bindings[0].T.Storage() {
		return false
	}
	for _, u := range []string{"n", "w", "stride"} {
		va, _ := a.Value(u)
		vb, _ := b.Value(u)
		if va != vb {
			return false
		}
	}
	return true
}

// narrowMany declares the launch that does the Narrow launches ks at
// once: output j is ks[j]'s output, copied from its start column.
func narrowMany(d *gpu.Device, ks []kernel.Kernel) *kernel.Kernel {
	first := &ks[0]
	n, _ := first.Value("n")
	w, _ := first.Value("w")
	stride, _ := first.Value("stride")
	var body strings.Builder
	body.WriteString("let r = i / p.w;\n  let s = r * p.stride + (i - r * p.w);\n")
	k := elementwise(d, "narrow", first.Vec, int(n))
	k.In("x", first.Bindings[0].T)
	for j := range ks {
		y := ks[j].Bindings[1].T
		name := fmt.Sprintf("y%d", j)
		k.Out(name, y.DType, y.Shape...)
		k.Bindings[len(k.Bindings)-1].T = y
		fmt.Fprintf(&body, "  stv_%s(i, ldv_x(s + p.start%d));\n", name, j)
	}
	k.U32("w", int(w)).U32("stride", int(stride))
	for j := range ks {
		start, _ := ks[j].Value("start")
		k.U32(fmt.Sprintf("start%d", j), int(start))
	}
	return k.Snippet("BODY", body.String())
}
