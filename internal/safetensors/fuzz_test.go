package safetensors

import (
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// FuzzParse feeds arbitrary bytes to the reader, with lowered limits:
// it must return an error or a file whose every tensor lies inside the
// file and holds exactly Numel*Size bytes (read back for the dtypes the
// library reads, refused by Bytes for the others), never panic or
// allocate more than the file holds. Seeds: testdata/fuzz/FuzzParse and the files below.
func FuzzParse(f *testing.F) {
	good, _ := Encode([]Tensor{
		{"in.x", dtype.F32, []int{2, 3}, make([]byte, 24)},
		{"in.weight", dtype.BF16, []int{3}, make([]byte, 6)},
		{"out.y", dtype.F16, []int{2, 3}, make([]byte, 12)},
		{"in.mask", dtype.U8, []int{0, 5}, nil},
	}, map[string]string{"op": "rms_norm", "attrs": `{"eps":1e-5}`})
	f.Add(good)
	f.Add(header(`{"x":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}`, 4))
	f.Add(header(`{"x":{"dtype":"I32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}`, 16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := Parse(b, WithLimits(Limits{MaxHeaderBytes: 1 << 16, MaxTensors: 64}))
		if err != nil {
			return
		}
		for _, n := range fl.Names() {
			info, ok := fl.Info(n)
			if !ok {
				t.Fatalf("listed tensor %q missing", n)
			}
			if info.End < info.Begin || fl.base+info.End > uint64(len(b)) {
				t.Fatalf("tensor %q: range [%d,%d) outside a file of %d bytes", n, info.Begin, info.End, len(b))
			}
			if want := uint64(info.Numel()) * uint64(sizes[info.Type]); info.ByteSize() != want {
				t.Fatalf("tensor %q: %d bytes for %d elements of %s", n, info.ByteSize(), info.Numel(), info.Type)
			}
			data, err := fl.Bytes(n)
			if !info.Readable {
				if err == nil {
					t.Fatalf("tensor %q of %s: Bytes read an unreadable dtype", n, info.Type)
				}
				continue
			}
			if err != nil {
				t.Fatalf("tensor %q: %v", n, err)
			}
			if uint64(len(data)) != info.ByteSize() {
				t.Fatalf("tensor %q: %d bytes read, want %d", n, len(data), info.ByteSize())
			}
		}
	})
}
