package gpu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpWritesEachNewPipeline compiles two pipelines with DumpEnv set
// and one again (cached): two files, each opening with its binding kinds
// and key, then the source as compiled.
func TestDumpWritesEachNewPipeline(t *testing.T) {
	d := testDevice(t)
	dir := t.TempDir()
	t.Setenv(DumpEnv, dir)
	ks := []Kernel{
		{Key: "test/dump a", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}},
		{Key: "test/dump b", Source: addOne + "\n", Bindings: []Access{Read, ReadWrite, Uniform}},
		{Key: "test/dump a", Source: addOne, Bindings: []Access{Read, ReadWrite, Uniform}},
	}
	for _, k := range ks {
		if _, err := d.Pipeline(k); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.wgsl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("dumped %d files (%v), want 2", len(files), files)
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f, "-test_dump_"+"ab"[i:i+1]+".wgsl") {
			t.Errorf("file %s: want the key in its name", f)
		}
		head := "// bindings: ssu\n// key: " + ks[i].Key + "\n"
		if got := string(b); got != head+ks[i].Source {
			t.Errorf("file %s:\n%s\nwant the header %q and then the source", f, got, head)
		}
	}
}
