package safetensors

import (
	"os"
)

// Open opens a safetensors file. It must be a regular file. The header
// is read and checked at once; the data is memory-mapped where the
// platform allows (Mapped reports it) and otherwise read tensor by
// tensor when Bytes asks. Close releases the file.
func Open(path string) (*File, error) {
	// Stat before opening, so that a FIFO or a device is refused without
	// the open blocking on it; the opened file is checked again.
	if st, err := os.Stat(path); err != nil {
		return nil, &Error{Rule: err.Error(), Err: err}
	} else if !st.Mode().IsRegular() {
		return nil, formatErr("", "%s is not a regular file (mode %v)", path, st.Mode())
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, &Error{Rule: err.Error(), Err: err}
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, &Error{Rule: err.Error(), Err: err}
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, formatErr("", "%s is not a regular file (mode %v)", path, st.Mode())
	}
	size := st.Size()
	if size < 8 {
		fh.Close()
		return nil, formatErr("", "%s has %d bytes, fewer than the 8 of the header length", path, size)
	}
	if b, unmap, ok := mapFile(fh, size); ok {
		fh.Close() // the mapping outlives the descriptor
		f, err := Parse(b)
		if err != nil {
			unmap()
			return nil, err
		}
		f.src.(*bytesSource).release = unmap
		return f, nil
	}
	f, err := ParseReaderAt(fh, size, fh)
	if err != nil {
		fh.Close()
		return nil, err
	}
	return f, nil
}

// Mapped reports whether the file's data is a memory mapping (or bytes
// in memory) rather than read on demand.
func (f *File) Mapped() bool {
	_, ok := f.src.(*bytesSource)
	return ok
}
