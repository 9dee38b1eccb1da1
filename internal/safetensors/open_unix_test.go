//go:build linux || darwin

package safetensors

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenRefusesFIFO: opening a FIFO for reading would block until a
// writer came; Open refuses it from its mode (TestOpenRefusesNonRegular
// has directories and devices).
func TestOpenRefusesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := Open(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file (a named pipe)") {
		t.Errorf("fifo: %v", err)
	}
}
