// Package safetensors reads and writes the safetensors format of
// Hugging Face's `safetensors` library: an 8-byte little-endian header
// length, a JSON header that maps tensor names to a dtype, a shape and
// the byte range of their data (plus an optional "__metadata__" object
// of strings), then the data.
//
// The reader is bounded and lazy, and every size is checked before it
// is allocated. It reads the header length first and refuses one over
// the header limit or past the end of the file, refuses a file over the
// file limit, counts tensors against the tensor limit while it decodes
// the header (one member at a time), refuses repeated names and
// anything after the JSON object but padding, and checks every tensor's
// byte range against its dtype, its shape and the file size; the ranges
// must tile the data section exactly, as the format requires (no holes,
// no overlaps). The limits default to the format's own (MaxHeaderBytes,
// MaxTensors, MaxRank, no file limit); WithLimits lowers them for
// untrusted input (golden cases, files dropped on the web page).
// Tensor data is not read until asked for: Open memory-maps a regular
// file where the platform can (Bytes then returns a view of the mapping,
// never a copy) and otherwise reads each tensor with one ReadAt when it
// is asked for; Parse reads from bytes already in memory (in the
// browser, what Fetch returns).
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/host"
)

// Default limits of the reader.
const (
	MaxHeaderBytes = 100 << 20 // the largest JSON header accepted (the format's own bound)
	MaxTensors     = 1 << 16   // the most tensors one file may hold
	MaxRank        = 16        // the most dimensions one tensor may have
)

// Limits bound what a file may declare; a zero field takes its default
// (MaxHeaderBytes, MaxTensors, no bound on the file's size).
type Limits struct {
	MaxHeaderBytes int64 // largest JSON header, bytes
	MaxTensors     int   // most tensors
	MaxFileBytes   int64 // largest file, bytes
}

func (l Limits) header() uint64 {
	if l.MaxHeaderBytes > 0 {
		return uint64(l.MaxHeaderBytes)
	}
	return MaxHeaderBytes
}

func (l Limits) tensors() int {
	if l.MaxTensors > 0 {
		return l.MaxTensors
	}
	return MaxTensors
}

// file refuses a file of size bytes over the file limit.
func (l Limits) file(size uint64) error {
	if l.MaxFileBytes > 0 && size > uint64(l.MaxFileBytes) {
		return formatErr("", "the file of %d bytes is over the limit of %d bytes", size, l.MaxFileBytes)
	}
	return nil
}

// Option changes how Open, Parse and ParseReaderAt read a file.
type Option func(*Limits)

// WithLimits reads with lim's limits in place of the defaults.
func WithLimits(lim Limits) Option { return func(l *Limits) { *l = lim } }

func limitsOf(opts []Option) Limits {
	var l Limits
	for _, o := range opts {
		o(&l)
	}
	return l
}

// ErrFormat marks a file that breaks the format's rules; errors.Is finds
// it beneath every error of a malformed file.
var ErrFormat = errors.New("malformed safetensors file")

// Error reports a malformed file or a tensor that cannot be read: the
// file (its path, when Open read it), the tensor (empty for the file as
// a whole) and the rule it broke.
type Error struct {
	File   string
	Tensor string
	Rule   string
	Err    error // ErrFormat, or the I/O error beneath
}

// Error returns "safetensors: FILE: tensor "TENSOR": RULE", without the
// parts that are empty.
func (e *Error) Error() string {
	s := "safetensors: "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Tensor == "" {
		return s + e.Rule
	}
	return s + fmt.Sprintf("tensor %q: %s", e.Tensor, e.Rule)
}

// Unwrap returns ErrFormat or the I/O error beneath.
func (e *Error) Unwrap() error { return e.Err }

func formatErr(tensor, format string, args ...any) error {
	return &Error{Tensor: tensor, Rule: fmt.Sprintf(format, args...), Err: ErrFormat}
}

// sizes holds the element size of every dtype the format names; the
// ones without a dtype.DType are parsed and checked but not readable.
var sizes = map[string]int{"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
	"F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}

// readable maps the format's dtype names to the storage dtypes the
// library reads.
var readable = map[string]dtype.DType{"F32": dtype.F32, "F16": dtype.F16, "BF16": dtype.BF16,
	"F8_E4M3": dtype.FP8E4M3, "F8_E5M2": dtype.FP8E5M2, "U8": dtype.U8, "I32": dtype.I32}

// Info describes one tensor of a file.
type Info struct {
	Name     string
	Type     string      // the dtype as the file names it, e.g. "BF16"
	DType    dtype.DType // the storage dtype; meaningful only when Readable
	Readable bool        // whether the library reads Type (F32, F16, BF16, F8_E4M3, F8_E5M2, U8, I32)
	Shape    []int
	Begin    uint64 // byte range in the data section
	End      uint64
}

// Numel returns the number of elements.
func (i Info) Numel() int {
	n := 1
	for _, s := range i.Shape {
		n *= s
	}
	return n
}

// ByteSize returns the size of the tensor's data in bytes.
func (i Info) ByteSize() uint64 { return i.End - i.Begin }

// source gives the bytes of the data section.
type source interface {
	// slice returns n bytes at offset off of the data section.
	slice(off, n uint64) ([]byte, error)
	close() error
}

// File is an open safetensors file: its header, parsed and checked, and
// a lazy view of its data.
type File struct {
	infos map[string]*Info
	names []string // sorted
	meta  map[string]string
	src   source
	base  uint64 // offset of the data section in the file
	size  uint64 // size of the file
}

// bytesSource is a data section already in memory (or memory-mapped).
type bytesSource struct {
	b       []byte
	release func() error
}

func (s *bytesSource) slice(off, n uint64) ([]byte, error) {
	if s.b == nil {
		return nil, &Error{Rule: "the file is closed", Err: ErrFormat}
	}
	return s.b[off : off+n : off+n], nil
}

func (s *bytesSource) close() error {
	s.b = nil
	if s.release != nil {
		r := s.release
		s.release = nil
		return r()
	}
	return nil
}

// Parse reads a whole file held in b. The tensors' bytes are views of b,
// which must not change while the File is in use.
func Parse(b []byte, opts ...Option) (*File, error) {
	lim := limitsOf(opts)
	if err := lim.file(uint64(len(b))); err != nil {
		return nil, err
	}
	if len(b) < 8 {
		return nil, formatErr("", "the file has %d bytes, fewer than the 8 of the header length", len(b))
	}
	n, err := headerLen(b[:8], uint64(len(b)), lim)
	if err != nil {
		return nil, err
	}
	return parseHeader(b[8:8+n], uint64(len(b)), lim, &bytesSource{b: b[8+n:]})
}

// headerLen reads the header length and checks it against the cap and
// the file size.
func headerLen(b []byte, size uint64, lim Limits) (uint64, error) {
	n := binary.LittleEndian.Uint64(b)
	if n > lim.header() {
		return 0, formatErr("", "header length %d is over the %d-byte limit", n, lim.header())
	}
	if n > size-8 {
		return 0, formatErr("", "header length %d runs past the end of the %d-byte file", n, size)
	}
	if n < 2 {
		return 0, formatErr("", "header length %d cannot hold a JSON object", n)
	}
	return n, nil
}

// parseHeader checks the JSON header h of a file of size bytes. It
// decodes the object one member at a time, so that the tensor count is
// enforced while reading rather than after.
func parseHeader(h []byte, size uint64, lim Limits, src source) (*File, error) {
	dataLen := size - 8 - uint64(len(h))
	f := &File{infos: map[string]*Info{}, meta: map[string]string{}, src: src, base: 8 + uint64(len(h)), size: size}
	dec := json.NewDecoder(bytes.NewReader(h))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, formatErr("", "header is not a JSON object")
	}
	sawMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatErr("", "header is not a JSON object: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, formatErr("", "header is not a JSON object: key %v is not a string", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, formatErr("", "header is not a JSON object: %v", err)
		}
		if name == "__metadata__" {
			if sawMeta {
				return nil, formatErr("", "header has two __metadata__ entries")
			}
			sawMeta = true
			if err := json.Unmarshal(v, &f.meta); err != nil {
				return nil, formatErr("", "__metadata__ must map strings to strings: %v", err)
			}
			if f.meta == nil {
				f.meta = map[string]string{}
			}
			continue
		}
		if _, dup := f.infos[name]; dup {
			return nil, formatErr(name, "appears twice in the header")
		}
		if len(f.infos) >= lim.tensors() {
			return nil, formatErr("", "header lists more than %d tensors, the limit", lim.tensors())
		}
		info, err := parseEntry(name, v, dataLen)
		if err != nil {
			return nil, err
		}
		f.infos[name] = info
		f.names = append(f.names, name)
	}
	if _, err := dec.Token(); err != nil {
		return nil, formatErr("", "header is not a JSON object: %v", err)
	}
	// Only padding (spaces, as the format allows) may follow the object.
	if len(bytes.TrimSpace(h[dec.InputOffset():])) != 0 {
		return nil, formatErr("", "header has data after the JSON object")
	}
	sort.Strings(f.names)
	// The byte ranges must tile the data section: sorted by start, each
	// starts where the one before ended and the last ends at the end.
	order := make([]*Info, 0, len(f.infos))
	for _, n := range f.names {
		order = append(order, f.infos[n])
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].Begin != order[j].Begin {
			return order[i].Begin < order[j].Begin
		}
		return order[i].End < order[j].End
	})
	var at uint64
	for _, in := range order {
		switch {
		case in.Begin > at:
			return nil, formatErr(in.Name, "data_offsets [%d, %d] leave a hole at bytes [%d, %d)", in.Begin, in.End, at, in.Begin)
		case in.Begin < at:
			return nil, formatErr(in.Name, "data_offsets [%d, %d] overlap another tensor's bytes (which end at %d)", in.Begin, in.End, at)
		}
		at = in.End
	}
	if at != dataLen {
		return nil, formatErr("", "the tensors cover %d of the %d data bytes", at, dataLen)
	}
	return f, nil
}

// parseEntry checks one tensor's header entry.
func parseEntry(name string, v json.RawMessage, dataLen uint64) (*Info, error) {
	var e struct {
		DType   *string   `json:"dtype"`
		Shape   *[]int64  `json:"shape"`
		Offsets *[]uint64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, formatErr(name, "entry is not {dtype, shape, data_offsets}: %v", err)
	}
	if e.DType == nil || e.Shape == nil || e.Offsets == nil {
		return nil, formatErr(name, "entry lacks one of dtype, shape, data_offsets")
	}
	size, ok := sizes[*e.DType]
	if !ok {
		return nil, formatErr(name, "unknown dtype %q", *e.DType)
	}
	if len(*e.Shape) > MaxRank {
		return nil, formatErr(name, "shape has %d dimensions, over the limit of %d", len(*e.Shape), MaxRank)
	}
	// The data bounds the element count (every dtype takes at least one
	// byte), so the product is checked against it as it grows, before it
	// can overflow; a shape with a zero dimension holds nothing, and its
	// other dimensions are bounded by 2^32 in all so that no caller's
	// product overflows.
	shape := make([]int, len(*e.Shape))
	zero := false
	for i, s := range *e.Shape {
		if s < 0 {
			return nil, formatErr(name, "shape %v has a negative dimension", *e.Shape)
		}
		shape[i] = int(s)
		zero = zero || s == 0
	}
	limit := dataLen
	if zero {
		limit = 1 << 32
	}
	count := uint64(1)
	for _, s := range *e.Shape {
		if s == 0 {
			continue
		}
		if count > limit/uint64(s) {
			if zero {
				return nil, formatErr(name, "shape %v: the dimensions beside the zero one multiply past 2^32", *e.Shape)
			}
			return nil, formatErr(name, "shape %v needs more than the %d data bytes", *e.Shape, dataLen)
		}
		count *= uint64(s)
	}
	if zero {
		count = 0
	}
	offs := *e.Offsets
	if len(offs) != 2 || offs[0] > offs[1] || offs[1] > dataLen {
		return nil, formatErr(name, "data_offsets %v are not [begin, end] within the %d data bytes", offs, dataLen)
	}
	if need := count * uint64(size); need != offs[1]-offs[0] {
		return nil, formatErr(name, "%s%v needs %d bytes, data_offsets %v give %d", *e.DType, shape, need, offs, offs[1]-offs[0])
	}
	dt, ok := readable[*e.DType]
	return &Info{Name: name, Type: *e.DType, DType: dt, Readable: ok, Shape: shape, Begin: offs[0], End: offs[1]}, nil
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Len returns the number of tensors.
func (f *File) Len() int { return len(f.names) }

// Info returns the description of a tensor and whether the file has it.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.infos[name]
	if !ok {
		return Info{}, false
	}
	c := *in
	c.Shape = append([]int(nil), in.Shape...)
	return c, true
}

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return int64(f.size) }

// Metadata returns the "__metadata__" strings (empty when there are none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// Bytes returns a tensor's little-endian storage bytes: a view of the
// mapping or of the parsed bytes (valid until Close), or, for a file
// read without a mapping, the bytes read for this call.
func (f *File) Bytes(name string) ([]byte, error) {
	in, ok := f.infos[name]
	if !ok {
		return nil, &Error{Tensor: name, Rule: "is not in the file", Err: ErrFormat}
	}
	if !in.Readable {
		return nil, &Error{Tensor: name, Rule: fmt.Sprintf("dtype %s is not supported (want F32, F16, BF16, F8_E4M3, F8_E5M2, U8 or I32)", in.Type), Err: ErrFormat}
	}
	b, err := f.src.slice(in.Begin, in.End-in.Begin)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, &Error{Tensor: name, Rule: e.Rule, Err: e.Err}
		}
		return nil, &Error{Tensor: name, Rule: "read: " + err.Error(), Err: err}
	}
	return b, nil
}

// Host decodes a tensor into a host tensor of its dtype and shape.
func (f *File) Host(name string) (*host.Tensor, error) {
	b, err := f.Bytes(name)
	if err != nil {
		return nil, err
	}
	in := f.infos[name]
	v := dtype.Decode(in.DType, b, in.Numel())
	t := host.New(in.DType, in.Shape...)
	for i, x := range v {
		t.Data[i] = float64(x)
	}
	return t, nil
}

// Close releases the mapping or the open file. Views returned by Bytes
// must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.src == nil {
		return nil
	}
	return f.src.close()
}

// Tensor is one tensor to write: a name, a dtype, a shape and its
// little-endian storage bytes.
type Tensor struct {
	Name  string
	DType dtype.DType
	Shape []int
	Data  []byte
}

// FromHost returns a tensor to write from a host tensor, encoded in its dtype.
func FromHost(name string, t *host.Tensor) Tensor {
	return Tensor{Name: name, DType: t.DType, Shape: append([]int(nil), t.Shape...), Data: dtype.Encode(t.DType, t.Float32())}
}

// EncodeHost returns a file holding the host tensors of ts, each encoded
// in its dtype and sorted by name (as safetensors.torch.save_file lays a
// state dict out), and the metadata strings. Tests and tools write
// weight files with it.
func EncodeHost(ts map[string]*host.Tensor, meta map[string]string) ([]byte, error) {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Tensor, 0, len(names))
	for _, n := range names {
		out = append(out, FromHost(n, ts[n]))
	}
	return Encode(out, meta)
}

// Encode returns a file holding the tensors (in the order given, as
// `safetensors.torch.save_file` lays them out: sorted by name when the
// caller sorts them) and the metadata strings. The header is padded with
// spaces to a multiple of 8 bytes, as the Python writer pads it.
func Encode(tensors []Tensor, meta map[string]string) ([]byte, error) {
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets []uint64 `json:"data_offsets"`
	}
	var hdr strings.Builder
	hdr.WriteByte('{')
	first := true
	put := func(k string, v any) error {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if !first {
			hdr.WriteByte(',')
		}
		first = false
		hdr.Write(kb)
		hdr.WriteByte(':')
		hdr.Write(vb)
		return nil
	}
	if len(meta) > 0 {
		if err := put("__metadata__", meta); err != nil {
			return nil, err
		}
	}
	var off uint64
	seen := map[string]bool{}
	for _, t := range tensors {
		if seen[t.Name] || t.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: tensor name %q is repeated or reserved", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, s := range t.Shape {
			n *= s
		}
		if len(t.Data) != n*t.DType.Size() {
			return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for %v%v", t.Name, len(t.Data), t.DType, t.Shape)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		if err := put(t.Name, entry{t.DType.SafetensorsName(), shape, []uint64{off, off + uint64(len(t.Data))}}); err != nil {
			return nil, err
		}
		off += uint64(len(t.Data))
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	out := make([]byte, 8, 8+uint64(hdr.Len())+off)
	binary.LittleEndian.PutUint64(out, uint64(hdr.Len()))
	out = append(out, hdr.String()...)
	for _, t := range tensors {
		out = append(out, t.Data...)
	}
	return out, nil
}

// readerSource reads each tensor with one ReadAt when asked for it.
type readerSource struct {
	r      io.ReaderAt
	base   uint64 // offset of the data section in r
	closer io.Closer
}

func (s *readerSource) slice(off, n uint64) ([]byte, error) {
	if s.r == nil {
		return nil, &Error{Rule: "the file is closed", Err: ErrFormat}
	}
	if s.base+off > math.MaxInt64 {
		return nil, formatErr("", "offset %d is too large", s.base+off)
	}
	b := make([]byte, n)
	if _, err := s.r.ReadAt(b, int64(s.base+off)); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, err
	}
	return b, nil
}

func (s *readerSource) close() error {
	s.r = nil
	if s.closer != nil {
		c := s.closer
		s.closer = nil
		return c.Close()
	}
	return nil
}

// ParseReaderAt reads the header of a file of size bytes from r (the
// header length first, then the header it announces) and returns a File
// that reads each tensor from r when asked; closer, if not nil, is
// closed by Close.
func ParseReaderAt(r io.ReaderAt, size int64, closer io.Closer, opts ...Option) (*File, error) {
	lim := limitsOf(opts)
	if size < 0 {
		return nil, formatErr("", "negative size %d", size)
	}
	if err := lim.file(uint64(size)); err != nil {
		return nil, err
	}
	if size < 8 {
		return nil, formatErr("", "the file has %d bytes, fewer than the 8 of the header length", size)
	}
	var lb [8]byte
	if _, err := r.ReadAt(lb[:], 0); err != nil {
		return nil, &Error{Rule: "read the header length: " + err.Error(), Err: err}
	}
	n, err := headerLen(lb[:], uint64(size), lim)
	if err != nil {
		return nil, err
	}
	h := make([]byte, n)
	if _, err := r.ReadAt(h, 8); err != nil {
		return nil, &Error{Rule: "read the header: " + err.Error(), Err: err}
	}
	return parseHeader(h, uint64(size), lim, &readerSource{r: r, base: 8 + n, closer: closer})
}
