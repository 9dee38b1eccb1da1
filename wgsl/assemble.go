package wgsl

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

//go:embed *.wgsl
var files embed.FS

// Source returns the embedded kernel file name (without ".wgsl").
func Source(name string) string {
	b, err := files.ReadFile(name + ".wgsl")
	if err != nil {
		panic("wgsl: no embedded kernel " + name) // a programming error, never user input
	}
	return string(b)
}

// Digest returns a short hash of every embedded kernel file, which
// changes whenever a kernel does (tuned tile tables record it).
var Digest = sync.OnceValue(func() string {
	h := sha256.New()
	entries, err := files.ReadDir(".")
	if err != nil {
		panic("wgsl: embedded kernels unreadable: " + err.Error()) // a build error, never user input
	}
	for _, e := range entries { // sorted by name
		b, _ := files.ReadFile(e.Name())
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
})

var placeholder = regexp.MustCompile(`\{\{([A-Z0-9_]+)\}\}`)

// Fill replaces every {{NAME}} in src with vars[NAME]. A placeholder with
// no value is an error, so a variant can never compile with a hole in it.
func Fill(src string, vars map[string]string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(src, func(m string) string {
		k := m[2 : len(m)-2]
		v, ok := vars[k]
		if !ok {
			missing = append(missing, k)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("wgsl: no value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Subgroups returns the pieces a kernel needs to use subgroup builtins on
// a runtime: the enable directive (Tint wants it, naga rejects it), the
// entry-point parameters and the statements that copy them into the
// private variables sg_lane and sg_size. Without subgroups the
// parameters are empty and sg_size is 0.
func Subgroups(have, enable bool) (directive, params, init string) {
	if !have {
		return "", "", ""
	}
	if enable {
		directive = "enable subgroups;\n"
	}
	return directive,
		", @builtin(subgroup_invocation_id) sgl: u32, @builtin(subgroup_size) sgs: u32",
		"sg_lane = sgl; sg_size = sgs;"
}

// Bool renders a Go bool as a WGSL literal.
func Bool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// U32 renders an unsigned constant as a WGSL literal.
func U32(v int) string { return fmt.Sprintf("%du", v) }
