// Package layers holds the test of the import rules of architecture.md:
// models import ops only, and no production package links the float64
// reference, so that the reference stays an independent oracle.
package layers

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/webfuser/webfuser/"

// rules lists, per tree of production packages, the imports it must not have.
var rules = []struct {
	tree      string
	forbidden []string
	why       string
}{
	{"ops", []string{module + "ops/ref"}, "the operators must not lean on their test oracle"},
	{"models", []string{module + "ops/ref", module + "gpu", module + "wgsl", module + "internal"}, "models import ops only"},
}

func TestImportRules(t *testing.T) {
	for _, r := range rules {
		root := filepath.Join("..", "..", r.tree)
		checked := 0
		err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return err
			}
			pkg, err := build.ImportDir(path, 0)
			if err != nil {
				return nil // no Go files here
			}
			rel, _ := filepath.Rel(filepath.Join("..", ".."), path)
			self := module + filepath.ToSlash(rel)
			checked++
			for _, imp := range pkg.Imports {
				for _, bad := range r.forbidden {
					if self != bad && (imp == bad || strings.HasPrefix(imp, bad+"/")) {
						t.Errorf("%s imports %s: %s", self, imp, r.why)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if checked == 0 {
			t.Fatalf("no packages found under %s", root)
		}
	}
}
