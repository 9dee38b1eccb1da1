// Package bounded reads the safetensors format (an 8-byte
// little-endian header length, a JSON header, then the tensors' bytes)
// with every size checked before it is allocated: the header length
// against a cap and the file, the tensor count against a cap, each
// tensor's offsets against the real size of the file and its shape
// against its byte count. Only the header is read when a file is
// opened; a tensor's bytes are read when asked for, so a caller can
// refuse a file by its header alone. The golden-case reader and the
// browser demo share it; the model loader uses its parent package, the
// lazy memory-mapped reader (merging the two is left to do).
package bounded

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/webfuser/webfuser/internal/dtype"
)

// Default limits, used where a Limits field is zero.
const (
	// MaxHeaderBytes caps the JSON header at 100 MB, as the format's
	// reference implementation does.
	MaxHeaderBytes = 100 << 20
	// MaxTensors caps the number of tensors a header may declare.
	MaxTensors = 1 << 16
	// MaxRank caps the number of dimensions of one tensor.
	MaxRank = 16
)

// ErrFormat marks a file that is not a well-formed safetensors file or
// breaks one of the reader's limits.
var ErrFormat = errors.New("malformed safetensors file")

// Limits bound what a file may declare; a zero field takes its default.
type Limits struct {
	MaxHeaderBytes int64 // largest JSON header (default MaxHeaderBytes)
	MaxTensors     int   // most tensors (default MaxTensors)
	MaxFileBytes   int64 // largest file (default: no limit)
}

func (l Limits) header() int64 {
	if l.MaxHeaderBytes > 0 {
		return l.MaxHeaderBytes
	}
	return MaxHeaderBytes
}

func (l Limits) tensors() int {
	if l.MaxTensors > 0 {
		return l.MaxTensors
	}
	return MaxTensors
}

// Tensor describes one tensor of a file: its name, dtype, shape, number
// of elements and the byte range of its data, counted from the start of
// the data section.
type Tensor struct {
	Name       string
	DType      dtype.DType
	Shape      []int
	Numel      int
	Begin, End int64
}

// Bytes returns the size of the tensor's data.
func (t Tensor) Bytes() int64 { return t.End - t.Begin }

// File is an opened safetensors file whose header has been read and
// checked. Its methods are safe for use by one goroutine at a time.
type File struct {
	Metadata map[string]string // the "__metadata__" strings (never nil)

	tensors map[string]Tensor
	names   []string
	r       io.ReaderAt
	base    int64 // offset of the data section in the file
	size    int64 // size of the file
	closer  io.Closer
}

// Error is a failure to read a file: where it was read from, what is
// wrong, and ErrFormat or the I/O error beneath.
type Error struct {
	Source, Msg string
	Err         error
}

func (e *Error) Error() string {
	if e.Source == "" {
		return "safetensors: " + e.Msg
	}
	return "safetensors: " + e.Source + ": " + e.Msg
}

// Unwrap returns ErrFormat or the I/O error beneath.
func (e *Error) Unwrap() error { return e.Err }

func formatf(src, format string, args ...any) error {
	return &Error{Source: src, Msg: fmt.Sprintf(format, args...), Err: ErrFormat}
}

// Open opens the file at path and reads its header. Anything but a
// regular file (a FIFO, a device such as /dev/zero, a directory) is
// refused before it is opened, so that reading it cannot block or run
// forever. Close releases the file.
func Open(path string, lim Limits) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Source: path, Msg: err.Error(), Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, formatf(path, "not a regular file (%s)", kindOf(st.Mode()))
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, &Error{Source: path, Msg: err.Error(), Err: err}
	}
	// Stat the opened file too: the path may have changed in between.
	if st, err = fh.Stat(); err != nil || !st.Mode().IsRegular() {
		fh.Close()
		if err == nil {
			err = formatf(path, "not a regular file (%s)", kindOf(st.Mode()))
		}
		return nil, err
	}
	f, err := read(fh, st.Size(), lim, path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
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

// Parse reads the header of a file held in memory.
func Parse(b []byte, lim Limits) (*File, error) {
	return read(bytes.NewReader(b), int64(len(b)), lim, "")
}

// Read reads the header of a file of size bytes read through r.
func Read(r io.ReaderAt, size int64, lim Limits) (*File, error) {
	return read(r, size, lim, "")
}

func read(r io.ReaderAt, size int64, lim Limits, src string) (*File, error) {
	if size < 0 {
		return nil, formatf(src, "negative size %d", size)
	}
	if lim.MaxFileBytes > 0 && size > lim.MaxFileBytes {
		return nil, formatf(src, "file of %d bytes is over the limit of %d", size, lim.MaxFileBytes)
	}
	if size < 8 {
		return nil, formatf(src, "file of %d bytes has no header", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, &Error{Source: src, Msg: "reading the header length: " + err.Error(), Err: err}
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > uint64(lim.header()) {
		return nil, formatf(src, "header length %d is over the limit of %d bytes", n, lim.header())
	}
	if n > uint64(size-8) {
		return nil, formatf(src, "header length %d exceeds the file (%d bytes)", n, size)
	}
	if n < 2 {
		return nil, formatf(src, "header length %d is too short for a JSON object", n)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, &Error{Source: src, Msg: "reading the header: " + err.Error(), Err: err}
	}
	f := &File{Metadata: map[string]string{}, tensors: map[string]Tensor{}, r: r, base: 8 + int64(n), size: size}
	if err := f.parseHeader(hdr, size-f.base, lim.tensors(), src); err != nil {
		return nil, err
	}
	sort.Strings(f.names)
	return f, nil
}

// entry is one tensor as the header writes it.
type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets []uint64 `json:"data_offsets"`
}

// parseHeader decodes the JSON object one member at a time, so that the
// tensor count is enforced while reading rather than after.
func (f *File) parseHeader(hdr []byte, dataLen int64, maxTensors int, src string) error {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return formatf(src, "header is not a JSON object")
	}
	sawMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return formatf(src, "header: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return formatf(src, "header: key %v is not a string", tok)
		}
		if name == "__metadata__" {
			if sawMeta {
				return formatf(src, "header has two __metadata__ entries")
			}
			sawMeta = true
			if err := dec.Decode(&f.Metadata); err != nil {
				return formatf(src, "__metadata__ must map strings to strings: %v", err)
			}
			if f.Metadata == nil {
				f.Metadata = map[string]string{}
			}
			continue
		}
		if _, dup := f.tensors[name]; dup {
			return formatf(src, "tensor %q appears twice", name)
		}
		if len(f.tensors) >= maxTensors {
			return formatf(src, "more than %d tensors", maxTensors)
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return formatf(src, "tensor %q: %v", name, err)
		}
		t, err := check(name, e, dataLen)
		if err != nil {
			return formatf(src, "%v", err)
		}
		f.tensors[name] = t
		f.names = append(f.names, name)
	}
	if _, err := dec.Token(); err != nil {
		return formatf(src, "header: %v", err)
	}
	// Only padding (spaces, as the format allows) may follow the object.
	if len(bytes.TrimSpace(hdr[dec.InputOffset():])) != 0 {
		return formatf(src, "header: data after the JSON object")
	}
	return nil
}

// check validates one entry: a known dtype, a shape of non-negative
// dimensions whose product does not overflow, offsets inside the data
// section, and a byte range that holds exactly the shape's elements.
func check(name string, e entry, dataLen int64) (Tensor, error) {
	dt, err := dtype.Parse(e.DType)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: dtype %q is not supported", name, e.DType)
	}
	if len(e.Shape) > MaxRank {
		return Tensor{}, fmt.Errorf("tensor %q: rank %d is over the limit of %d", name, len(e.Shape), MaxRank)
	}
	if len(e.Offsets) != 2 {
		return Tensor{}, fmt.Errorf("tensor %q: data_offsets %v is not a pair", name, e.Offsets)
	}
	b, end := e.Offsets[0], e.Offsets[1]
	if b > end || end > uint64(dataLen) {
		return Tensor{}, fmt.Errorf("tensor %q: data_offsets %v outside the %d data bytes", name, e.Offsets, dataLen)
	}
	have := end - b
	// The bytes bound the element count (every dtype takes at least one
	// byte), so the product is checked against them as it grows; a shape
	// with a zero dimension holds nothing, and its other dimensions are
	// bounded by 2^32 in all so that no caller's product overflows.
	shape := make([]int, len(e.Shape))
	zero := false
	for i, s := range e.Shape {
		if s < 0 {
			return Tensor{}, fmt.Errorf("tensor %q: shape %v has a negative dimension", name, e.Shape)
		}
		shape[i] = int(s)
		zero = zero || s == 0
	}
	limit := have
	if zero {
		limit = 1 << 32
	}
	count := uint64(1)
	for _, s := range e.Shape {
		if s == 0 {
			continue
		}
		if count > limit/uint64(s) {
			return Tensor{}, fmt.Errorf("tensor %q: shape %v is larger than its %d bytes", name, e.Shape, have)
		}
		count *= uint64(s)
	}
	if zero {
		count = 0
	}
	if count*uint64(dt.Size()) != have {
		return Tensor{}, fmt.Errorf("tensor %q: %v%v needs %d bytes, data_offsets give %d",
			name, dt, shape, count*uint64(dt.Size()), have)
	}
	return Tensor{Name: name, DType: dt, Shape: shape, Numel: int(count), Begin: int64(b), End: int64(end)}, nil
}

// Names returns the tensors' names, sorted.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Tensor returns what the header says of the named tensor.
func (f *File) Tensor(name string) (Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return f.size }

// Bytes reads the named tensor's data: exactly Numel*Size bytes,
// allocated once its size has been checked against the file.
func (f *File) Bytes(name string) ([]byte, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, &Error{Msg: fmt.Sprintf("no tensor %q", name), Err: ErrFormat}
	}
	b := make([]byte, t.Bytes())
	if len(b) == 0 {
		return b, nil
	}
	if _, err := f.r.ReadAt(b, f.base+t.Begin); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("reading tensor %q: %v", name, err), Err: err}
	}
	return b, nil
}

// Close closes the file Open opened; it does nothing for Parse and Read.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
}

// Data is a tensor to encode: its name, dtype, shape and storage bytes.
type Data struct {
	Name  string
	DType dtype.DType
	Shape []int
	Bytes []byte
}

// Encode writes tensors and metadata in the safetensors format, the
// tensors' data in the order given. Tests and tools use it to make files.
func Encode(meta map[string]string, ts []Data) ([]byte, error) {
	hdr := map[string]any{}
	if len(meta) > 0 {
		hdr["__metadata__"] = meta
	}
	var off uint64
	for _, t := range ts {
		if _, dup := hdr[t.Name]; dup || t.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: tensor name %q repeated or reserved", t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		hdr[t.Name] = map[string]any{"dtype": t.DType.SafetensorsName(), "shape": shape,
			"data_offsets": []uint64{off, off + uint64(len(t.Bytes))}}
		off += uint64(len(t.Bytes))
	}
	j, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	for len(j)%8 != 0 {
		j = append(j, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(j)))
	out = append(out, j...)
	for _, t := range ts {
		out = append(out, t.Bytes...)
	}
	return out, nil
}
