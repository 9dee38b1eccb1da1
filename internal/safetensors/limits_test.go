package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// TestRoundTripEmptyAndScalar: tensors with a zero dimension and with
// no dimension read back, with the metadata and the names sorted.
func TestRoundTripEmptyAndScalar(t *testing.T) {
	in := []Tensor{
		{"a", dtype.F32, []int{2, 3}, dtype.Encode(dtype.F32, []float32{1, 2, 3, 4, 5, 6})},
		{"b", dtype.BF16, []int{3}, dtype.Encode(dtype.BF16, []float32{1, -2, 0.5})},
		{"empty", dtype.F16, []int{0, 7}, nil},
		{"scalar", dtype.U8, nil, []byte{9}},
	}
	b, err := Encode(in, map[string]string{"op": "x"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata()["op"] != "x" || strings.Join(f.Names(), ",") != "a,b,empty,scalar" {
		t.Fatalf("metadata %v names %v", f.Metadata(), f.Names())
	}
	for _, d := range in {
		info, _ := f.Info(d.Name)
		got, err := f.Bytes(d.Name)
		if err != nil || !bytes.Equal(got, d.Data) && len(d.Data)+len(got) != 0 || info.DType != d.DType {
			t.Errorf("%s: %v %v, %v", d.Name, got, info, err)
		}
	}
}

func TestMalformedFilesAreErrors(t *testing.T) {
	cases := map[string][]byte{
		"empty":            nil,
		"short":            {1, 2, 3},
		"header too long":  {0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, '{', '}'},
		"header past file": header(`{}`, 0)[:9],
		"not an object":    header(`[1]`, 0),
		"trailing":         header(`{} {}`, 0),
		"unknown dtype":    header(`{"x":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, 16),
		"offsets past end": header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4),
		"offsets reversed": header(`{"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4),
		"offsets triple":   header(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, 4),
		"size mismatch":    header(`{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8),
		"negative dim":     header(`{"x":{"dtype":"U8","shape":[-1,-4],"data_offsets":[0,4]}}`, 4),
		"overflowing dims": header(`{"x":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}`, 0),
		"huge dim":         header(`{"x":{"dtype":"U8","shape":[1e30],"data_offsets":[0,0]}}`, 0),
		"zero hides huge":  header(`{"x":{"dtype":"U8","shape":[0,9223372036854775807,9223372036854775807],"data_offsets":[0,0]}}`, 0),
		"duplicate":        header(`{"x":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, 1),
		"two metadata":     header(`{"__metadata__":{},"__metadata__":{}}`, 0),
		"metadata numbers": header(`{"__metadata__":{"op":1}}`, 0),
		"deep rank":        header(`{"x":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}`, 1),
	}
	for name, b := range cases {
		_, err := Parse(b)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %T %v is not a *safetensors.Error", name, err, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestLimits(t *testing.T) {
	hdr := `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"c":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}`
	b := header(hdr, 3)
	if _, err := Parse(b, WithLimits(Limits{MaxTensors: 2})); err == nil || !strings.Contains(err.Error(), "more than 2 tensors") {
		t.Errorf("tensor cap: %v", err)
	}
	if _, err := Parse(b, WithLimits(Limits{MaxHeaderBytes: 16})); err == nil || !strings.Contains(err.Error(), "over the 16-byte limit") {
		t.Errorf("header cap: %v", err)
	}
	if _, err := Parse(b, WithLimits(Limits{MaxFileBytes: 16})); err == nil || !strings.Contains(err.Error(), "over the limit of 16 bytes") {
		t.Error("file cap not enforced")
	}
	if _, err := Parse(b); err != nil {
		t.Error(err)
	}
}

// TestHugeHeaderLengthReadsNothing: a header length of 3 GB in a small
// file is refused without allocating it.
func TestHugeHeaderLengthReadsNothing(t *testing.T) {
	b := binary.LittleEndian.AppendUint64(nil, 3<<30)
	b = append(b, "{}"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Parse(b, WithLimits(Limits{MaxHeaderBytes: 4 << 30}))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("no error")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusing the header allocated %d bytes", grew)
	}
}

// TestOpenReadsOnlyTheHeader: a large file with a bad header is refused
// after reading its first bytes, and a good one reads a tensor on demand.
func TestOpenReadsOnlyTheHeader(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.safetensors")
	fh, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write(header(`{"x":nope}`, 0))
	fh.Truncate(3 << 30) // sparse: 3 GB that are never read
	fh.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Open(big); err == nil {
		t.Fatal("bad header accepted")
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusing a 3 GB file allocated %d bytes", grew)
	}

	good := filepath.Join(dir, "good.safetensors")
	b, _ := Encode([]Tensor{{"w", dtype.F32, []int{2}, dtype.Encode(dtype.F32, []float32{1, 2})}}, nil)
	os.WriteFile(good, b, 0o644)
	f, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := f.Bytes("w"); err != nil || len(got) != 8 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := f.Bytes("nope"); err == nil {
		t.Fatal("missing tensor read")
	}
}
