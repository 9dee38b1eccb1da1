package gpu

import (
	"encoding/binary"
	"math"
)

// Params builds the byte image of a WGSL uniform struct made of 4-byte
// scalars (u32, i32, f32), in declaration order.
type Params struct{ b []byte }

// NewParams starts an empty parameter block.
func NewParams() *Params { return &Params{} }

// U32 appends a u32 field.
func (p *Params) U32(v uint32) *Params {
	p.b = binary.LittleEndian.AppendUint32(p.b, v)
	return p
}

// F32 appends an f32 field.
func (p *Params) F32(v float32) *Params { return p.U32(math.Float32bits(v)) }

// Bytes returns the image, padded to 16 bytes as uniform buffers require.
func (p *Params) Bytes() []byte {
	for len(p.b)%16 != 0 || len(p.b) == 0 {
		p.b = append(p.b, 0)
	}
	return p.b
}
