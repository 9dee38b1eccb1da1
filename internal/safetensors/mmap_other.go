//go:build !unix

package safetensors

import "os"

// mapFile never maps where the platform has no syscall.Mmap (js, wasip1,
// windows): the caller reads each tensor when asked.
func mapFile(fh *os.File, size int64) (b []byte, unmap func() error, ok bool) {
	return nil, nil, false
}
