package golden

import (
	"fmt"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/safetensors"
	"github.com/webfuser/webfuser/ops/ref"
)

// Limits of a case file. The header and the tensor count are checked
// before anything else is read; the element budget before any tensor is
// decoded; the attribute bounds (attrs.go) before either.
const (
	// MaxCaseTensors caps the tensors one case file may declare.
	MaxCaseTensors = 1024
	// MaxElements caps the elements a case decodes in all (each becomes
	// a float64: 512 MB), and any one allocation that its attributes and
	// shapes drive.
	MaxElements = 1 << 26
	// MaxWork caps the multiply-adds of the largest product a case asks
	// for (a matmul or an attention), about a minute of the float64
	// reference.
	MaxWork = 1 << 36
)

// limits are MaxElements and MaxWork; the fuzz tests lower them so that
// every case they make runs in milliseconds.
var limits = struct{ elements, work int }{MaxElements, MaxWork}

// caseLimits are the reader's limits for a case file: the format's
// 100 MB header cap and MaxCaseTensors.
var caseLimits = safetensors.Limits{MaxHeaderBytes: safetensors.MaxHeaderBytes, MaxTensors: MaxCaseTensors}

// decode reads one tensor of f into float64 values, allocated once at
// the size its header gave.
func decode(f *safetensors.File, info safetensors.Info) (*ref.Tensor, error) {
	b, err := f.Bytes(info.Name)
	if err != nil {
		return nil, err
	}
	numel := info.Numel()
	t := &ref.Tensor{Shape: info.Shape, DType: info.DType, Data: make([]float64, numel)}
	const chunk = 4096
	sz := info.DType.Size()
	for i := 0; i < numel; i += chunk {
		n := min(chunk, numel-i)
		v := dtype.Decode(info.DType, b[i*sz:(i+n)*sz], n)
		if v == nil {
			return nil, fmt.Errorf("golden: tensor %q: short data", info.Name)
		}
		for j, x := range v {
			t.Data[i+j] = float64(x)
		}
	}
	return t, nil
}
