package golden

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

// rawTensor is one tensor of a safetensors file.
type rawTensor struct {
	DType dtype.DType
	Shape []int
	Data  []byte
}

// maxHeader bounds the JSON header, so a corrupt length cannot allocate gigabytes.
const maxHeader = 100 << 20

// parseSafetensors reads the safetensors format: an 8-byte little-endian
// header length, a JSON header mapping names to dtype, shape and data
// offsets (plus "__metadata__" strings), then the data. Every offset and
// size is checked against the file.
func parseSafetensors(b []byte) (map[string]rawTensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("safetensors: file of %d bytes has no header", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("safetensors: header length %d exceeds the file (%d bytes)", n, len(b))
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header: %v", err)
	}
	data := b[8+n:]
	meta := map[string]string{}
	out := map[string]rawTensor{}
	for name, raw := range hdr {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e struct {
			DType   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %v", name, err)
		}
		dt, err := dtype.Parse(e.DType)
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %v", name, err)
		}
		if len(e.Offsets) != 2 || e.Offsets[0] > e.Offsets[1] || e.Offsets[1] > uint64(len(data)) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets %v outside the %d data bytes", name, e.Offsets, len(data))
		}
		count := uint64(1)
		for _, s := range e.Shape {
			if s < 0 || (s > 0 && count > math.MaxInt32/uint64(s)) {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: bad shape %v", name, e.Shape)
			}
			count *= uint64(s)
		}
		if count*uint64(dt.Size()) != e.Offsets[1]-e.Offsets[0] {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %v%v needs %d bytes, offsets give %d",
				name, dt, e.Shape, count*uint64(dt.Size()), e.Offsets[1]-e.Offsets[0])
		}
		out[name] = rawTensor{DType: dt, Shape: e.Shape, Data: data[e.Offsets[0]:e.Offsets[1]]}
	}
	return out, meta, nil
}
