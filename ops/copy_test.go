package ops

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
	"github.com/webfuser/webfuser/internal/gputest"
)

func TestCopy(t *testing.T) {
	d := testDevice(t)
	for _, c := range []struct {
		dt    dtype.DType
		shape []int
	}{{dtype.F32, []int{4}}, {dtype.F32, []int{3, 1028}}, {dtype.BF16, []int{8}}, {dtype.F16, []int{5, 24}}} {
		t.Run(fmt.Sprintf("%v%v", c.dt, c.shape), func(t *testing.T) {
			x := upload(t, d, randTensor(rand.New(rand.NewSource(1)), c.dt, c.shape, 1, 0))
			gputest.Guard(t, d)
			y, err := Copy(x)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := x.Bytes()
			got, _ := y.Bytes()
			if !bytes.Equal(got, want) {
				t.Fatal("copy differs from its input")
			}
		})
	}
	odd, _ := d.NewTensor(dtype.F32, 3)
	if _, err := Copy(odd); err == nil || !contains(err.Error(), "ops.Copy: x: f32[3] is 12 bytes, not a multiple of 16") {
		t.Fatalf("got %v", err)
	}
}

func TestErrorsCarrySentinels(t *testing.T) {
	d := testDevice(t)
	x, _ := d.NewTensor(dtype.F32, 3)
	u8, _ := d.NewTensor(dtype.U8, 16)
	if _, err := Copy(x); !errors.Is(err, ErrInvalid) {
		t.Errorf("odd copy: %v is not ErrInvalid", err)
	}
	if _, err := RMSNormForward(u8, nil, nil, 1e-5); !errors.Is(err, ErrDType) {
		t.Errorf("u8 norm: %v is not ErrDType", err)
	}
}
