package gpu

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// DumpEnv names the environment variable that, set to a directory, makes
// every device write the WGSL of each pipeline it compiles there, as
// NNNN-KEY.wgsl (the key's first 80 letters, digits, - and _, other
// characters as _), its first line a comment with the binding kinds in
// order (s storage, u uniform) and its second the pipeline key. For
// inspecting what the driver compiles (bench/pipestats.c reads the
// binding line).
const DumpEnv = "WEBFUSER_DUMP_WGSL"

var dumpSeq atomic.Int64

// dumpKernel writes k's source into dir as DumpEnv describes; a failure
// is reported on stderr and never fails the pipeline.
func dumpKernel(dir string, k Kernel) {
	var kinds strings.Builder
	for _, a := range k.Bindings {
		kinds.WriteByte("ssu"[a])
	}
	name := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, k.Key)
	if len(name) > 80 {
		name = name[:80]
	}
	file := filepath.Join(dir, fmt.Sprintf("%04d-%s.wgsl", dumpSeq.Add(1), name))
	src := fmt.Sprintf("// bindings: %s\n// key: %s\n%s", kinds.String(), strings.ReplaceAll(k.Key, "\n", " "), k.Source)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "webfuser: %s: %v\n", DumpEnv, err)
	}
}
