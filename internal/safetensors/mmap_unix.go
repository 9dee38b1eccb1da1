//go:build unix

package safetensors

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of fh read-only; ok is false when the mapping
// fails, and the caller reads instead.
func mapFile(fh *os.File, size int64) (b []byte, unmap func() error, ok bool) {
	if int64(int(size)) != size {
		return nil, nil, false
	}
	b, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, false
	}
	return b, func() error { return syscall.Munmap(b) }, true
}
