package bounded

import (
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// FuzzParse feeds arbitrary bytes to the reader: it must return an
// error or a file whose every tensor reads back as exactly
// Numel*Size bytes inside the file, never panic or allocate more
// than the file holds. Seeds: testdata/fuzz/FuzzParse and the files below.
func FuzzParse(f *testing.F) {
	good, _ := Encode(map[string]string{"op": "rms_norm", "attrs": `{"eps":1e-5}`}, []Data{
		{"in.x", dtype.F32, []int{2, 3}, make([]byte, 24)},
		{"in.weight", dtype.BF16, []int{3}, make([]byte, 6)},
		{"out.y", dtype.F16, []int{2, 3}, make([]byte, 12)},
		{"in.mask", dtype.U8, []int{0, 5}, nil},
	})
	f.Add(good)
	f.Add(file(`{"x":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}`, 4))
	f.Add(file(`{"x":{"dtype":"I32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}`, 16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := Parse(b, Limits{MaxHeaderBytes: 1 << 16, MaxTensors: 64})
		if err != nil {
			return
		}
		for _, n := range fl.Names() {
			info, ok := fl.Tensor(n)
			if !ok {
				t.Fatalf("listed tensor %q missing", n)
			}
			if info.Begin < 0 || info.End < info.Begin || fl.base+info.End > int64(len(b)) {
				t.Fatalf("tensor %q: range [%d,%d) outside a file of %d bytes", n, info.Begin, info.End, len(b))
			}
			data, err := fl.Bytes(n)
			if err != nil {
				t.Fatalf("tensor %q: %v", n, err)
			}
			if int64(len(data)) != int64(info.Numel)*int64(info.DType.Size()) {
				t.Fatalf("tensor %q: %d bytes for %d elements of %v", n, len(data), info.Numel, info.DType)
			}
		}
	})
}
