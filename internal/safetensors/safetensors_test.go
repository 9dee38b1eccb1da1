package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/host"
)

// sample returns a file with one tensor of every readable dtype.
func sample(t *testing.T) ([]Tensor, []byte) {
	t.Helper()
	var ts []Tensor
	for i, dt := range []dtype.DType{dtype.F32, dtype.F16, dtype.BF16, dtype.FP8E4M3, dtype.FP8E5M2, dtype.U8, dtype.I32} {
		h := host.New(dt, 2, 3)
		for j := range h.Data {
			h.Data[j] = dtype.Round(dt, float64(j*(i+1))*0.75-1)
			if dt == dtype.U8 {
				h.Data[j] = float64(j * 7)
			}
		}
		ts = append(ts, FromHost(fmt.Sprintf("blocks.%d.w", i), h))
	}
	ts = append(ts, Tensor{Name: "scalar", DType: dtype.F32, Shape: []int{}, Data: []byte{0, 0, 0x80, 0x3f}})
	b, err := Encode(ts, map[string]string{"format": "pt", "config": `{"dim": 4}`})
	if err != nil {
		t.Fatal(err)
	}
	return ts, b
}

func checkRoundTrip(t *testing.T, f *File, want []Tensor) {
	t.Helper()
	if f.Len() != len(want) {
		t.Fatalf("%d tensors, want %d", f.Len(), len(want))
	}
	for _, w := range want {
		in, ok := f.Info(w.Name)
		if !ok {
			t.Fatalf("%s missing", w.Name)
		}
		if in.DType != w.DType || fmt.Sprint(in.Shape) != fmt.Sprint(w.Shape) || !in.Readable {
			t.Errorf("%s: %+v, want %v%v", w.Name, in, w.DType, w.Shape)
		}
		b, err := f.Bytes(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, w.Data) {
			t.Errorf("%s: bytes differ", w.Name)
		}
		h, err := f.Host(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		back := dtype.Encode(h.DType, h.Float32())
		if !bytes.Equal(back, w.Data) {
			t.Errorf("%s: decoded values do not encode back to the bytes", w.Name)
		}
	}
	if m := f.Metadata(); m["format"] != "pt" || m["config"] != `{"dim": 4}` {
		t.Errorf("metadata %v", m)
	}
}

func TestRoundTrip(t *testing.T) {
	want, b := sample(t)
	if hl := binary.LittleEndian.Uint64(b); hl%8 != 0 {
		t.Errorf("header length %d is not padded to 8", hl)
	}
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, f, want)
	if !f.Mapped() {
		t.Error("Parse should serve views of its bytes")
	}
	// Views, not copies: the tensor's bytes alias the buffer.
	v, _ := f.Bytes("blocks.0.w")
	in, _ := f.Info("blocks.0.w")
	if &v[0] != &b[8+binary.LittleEndian.Uint64(b)+in.Begin] {
		t.Error("Bytes copied the tensor")
	}

	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, f, want)
	if runtime.GOOS == "linux" && !f.Mapped() {
		t.Error("Open did not map the file on linux")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Bytes("blocks.0.w"); err == nil {
		t.Error("Bytes after Close succeeded")
	}

	// The plain-read path (what platforms without mmap use).
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err = ParseReaderAt(fh, int64(len(b)), fh)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, f, want)
	if f.Mapped() {
		t.Error("ParseReaderAt claims a mapping")
	}
	f.Close()
}

// header builds a file from a raw JSON header and n data bytes.
func header(h string, n int) []byte {
	b := make([]byte, 8, 8+len(h)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(h)))
	b = append(b, h...)
	return append(b, make([]byte, n)...)
}

func TestHostileFiles(t *testing.T) {
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	over := make([]byte, 16)
	binary.LittleEndian.PutUint64(over, MaxHeaderBytes+1)
	past := make([]byte, 16)
	binary.LittleEndian.PutUint64(past, 100)
	var many strings.Builder
	many.WriteString("{")
	for i := 0; i <= MaxTensors; i++ {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"t%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, i)
	}
	many.WriteString("}")
	tests := []struct {
		name   string
		file   []byte
		tensor string // the Error's tensor
		rule   string // a fragment of the rule
	}{
		{"empty", nil, "", "fewer than the 8"},
		{"short", []byte{1, 2, 3}, "", "fewer than the 8"},
		{"header length 2^62", huge, "", "over the 104857600-byte limit"},
		{"header length just over the cap", over, "", "over the 104857600-byte limit"},
		{"header past the end", past, "", "runs past the end"},
		{"not JSON", header("{nope}   ", 0), "", "not a JSON object"},
		{"JSON array", header("[1,2,3]", 0), "", "not a JSON object"},
		{"too many tensors", header(many.String(), 0), "", "more than 65536 tensors"},
		{"metadata not strings", header(`{"__metadata__":{"a":1}}`, 0), "", "__metadata__"},
		{"entry not an object", header(`{"w":[1]}`, 4), "w", "entry is not"},
		{"missing offsets", header(`{"w":{"dtype":"F32","shape":[1]}}`, 4), "w", "lacks"},
		{"unknown dtype", header(`{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, 16), "w", `unknown dtype "F128"`},
		{"negative dim", header(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "w", "negative"},
		{"shape overflow", header(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "w", "needs more than"},
		{"rank", header(`{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, 4), "w", "dimensions"},
		{"offsets past the end", header(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "w", "within the 4 data bytes"},
		{"offsets reversed", header(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4), "w", "not [begin, end]"},
		{"offsets wrong size", header(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8), "w", "needs 8 bytes"},
		{"three offsets", header(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 8), "w", "not [begin, end]"},
		{"overlap", header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "b", "overlap"},
		{"hole", header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), "b", "hole"},
		{"trailing bytes", header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 12), "", "cover 4 of the 12"},
		{"duplicate name", header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "a", "appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, how := range []string{"bytes", "reader"} {
				var err error
				if how == "bytes" {
					_, err = Parse(tc.file)
				} else {
					_, err = ParseReaderAt(bytes.NewReader(tc.file), int64(len(tc.file)), nil)
				}
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, ErrFormat) {
					t.Fatalf("%s: error %v, want a *safetensors.Error of ErrFormat", how, err)
				}
				if e.Tensor != tc.tensor || !strings.Contains(e.Rule, tc.rule) {
					t.Fatalf("%s: error %q, want tensor %q and a rule with %q", how, err, tc.tensor, tc.rule)
				}
			}
		})
	}
}

// TestUnreadableDType checks that a tensor in a dtype the library does
// not read (F64) leaves the file readable and names itself when asked.
func TestUnreadableDType(t *testing.T) {
	f, err := Parse(header(`{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12))
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := f.Info("d"); in.Readable || in.Type != "F64" {
		t.Errorf("info %+v", in)
	}
	if _, err := f.Bytes("d"); err == nil || !strings.Contains(err.Error(), `tensor "d": dtype F64 is not supported`) {
		t.Errorf("error %v", err)
	}
	if _, err := f.Host("absent"); err == nil || !strings.Contains(err.Error(), `"absent": is not in the file`) {
		t.Errorf("error %v", err)
	}
	if _, err := f.Bytes("w"); err != nil {
		t.Error(err)
	}
}

func TestOpenRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "absent")); err == nil {
		t.Error("absent file opened")
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte{1, 2}, 0o644)
	if _, err := Open(short); !errors.Is(err, ErrFormat) {
		t.Errorf("short file: %v", err)
	}
	if runtime.GOOS == "linux" {
		if _, err := Open("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("/dev/zero: %v", err)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	if _, err := Encode([]Tensor{{Name: "a", DType: dtype.F32, Shape: []int{2}, Data: make([]byte, 4)}}, nil); err == nil {
		t.Error("short data accepted")
	}
	a := Tensor{Name: "a", DType: dtype.U8, Shape: []int{1}, Data: []byte{1}}
	if _, err := Encode([]Tensor{a, a}, nil); err == nil {
		t.Error("repeated name accepted")
	}
}
