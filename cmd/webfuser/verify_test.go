package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyReportsEveryCase(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("../../testdata/golden/norm/rms_norm_f32_0_w.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	hdr := `{"__metadata__":{"op":"no_such_op"},"out.y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	unsupported := append([]byte{byte(len(hdr)), 0, 0, 0, 0, 0, 0, 0}, hdr...)
	unsupported = append(unsupported, 0, 0, 0, 0)
	files := map[string][]byte{
		"a_good.safetensors":        good,
		"b_truncated.safetensors":   good[:20],
		"c_unsupported.safetensors": unsupported,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	ok, err := verifyTo(&out, []string{"--device", "cpu", dir})
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("verify passed a run with failed cases")
	}
	text := out.String()
	for _, want := range []string{"a_good.safetensors", "PASS", "b_truncated.safetensors", "FAIL (safetensors:", "unsupported op \"no_such_op\"", "1 passed, 2 failed\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestVerifyWithNoCasesIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("no cases here"), 0o644)
	var out bytes.Buffer
	ok, err := verifyTo(&out, []string{"--device", "cpu", dir})
	if err == nil || ok || !strings.Contains(err.Error(), "no case files") {
		t.Fatalf("verify on a folder without cases: ok %v, err %v", ok, err)
	}
}
