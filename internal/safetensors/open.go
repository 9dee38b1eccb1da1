package safetensors

import (
	"errors"
	"os"
)

// Open opens a safetensors file. It must be a regular file: a FIFO, a
// device such as /dev/zero or a directory is refused before it is
// opened, so that reading it cannot block or run forever. The header is
// read and checked at once; the data is memory-mapped where the
// platform allows (Mapped reports it) and otherwise read tensor by
// tensor when Bytes asks. Errors name the path. Close releases the file.
func Open(path string, opts ...Option) (*File, error) {
	f, err := open(path, opts)
	var e *Error
	if errors.As(err, &e) && e.File == "" {
		e.File = path
	}
	return f, err
}

func open(path string, opts []Option) (*File, error) {
	// Stat before opening, so that a FIFO or a device is refused without
	// the open blocking on it; the opened file is checked again.
	if st, err := os.Stat(path); err != nil {
		return nil, &Error{Rule: err.Error(), Err: err}
	} else if !st.Mode().IsRegular() {
		return nil, formatErr("", "not a regular file (%s)", kindOf(st.Mode()))
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
		return nil, formatErr("", "not a regular file (%s)", kindOf(st.Mode()))
	}
	size := st.Size()
	if err := limitsOf(opts).file(uint64(size)); err != nil {
		fh.Close()
		return nil, err
	}
	if size < 8 {
		fh.Close()
		return nil, formatErr("", "the file has %d bytes, fewer than the 8 of the header length", size)
	}
	if b, unmap, ok := mapFile(fh, size); ok {
		fh.Close() // the mapping outlives the descriptor
		f, err := Parse(b, opts...)
		if err != nil {
			unmap()
			return nil, err
		}
		f.src.(*bytesSource).release = unmap
		return f, nil
	}
	f, err := ParseReaderAt(fh, size, fh, opts...)
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

// kindOf names the kind of a file that is not a regular one.
func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeCharDevice != 0, m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.Type().String()
}
