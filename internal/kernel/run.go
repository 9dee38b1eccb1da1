package kernel

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/webfuser/webfuser/gpu"
)

// Run checks the launch, compiles the kernel's pipeline on first use
// (cached by Key), allocates its output bindings through the device's
// output allocator (guarded in tests, see gpu.Device.GuardOutputs) and
// records the dispatch. It returns the outputs it allocated, in binding
// order; on an error it releases them and returns none.
func (k *Kernel) Run(d *gpu.Device) ([]*gpu.Tensor, error) {
	if err := k.check(d); err != nil {
		return nil, err
	}
	p, err := k.pipeline(d)
	if err != nil {
		return nil, err
	}
	var outs []*gpu.Tensor
	release := func() {
		for _, t := range outs {
			t.Release()
		}
	}
	args := make([]*gpu.Tensor, len(k.Bindings))
	for i, x := range k.Bindings {
		t := x.T
		if x.out != nil {
			if t, err = d.NewOutput(x.out.dt, x.out.shape...); err != nil {
				release()
				return nil, err
			}
			if err := checkSize(d, k.Name, x.Name, t); err != nil {
				t.Release()
				release()
				return nil, err
			}
			outs = append(outs, t)
		}
		args[i] = t
	}
	if err := d.Dispatch(p, k.Grid, k.params(), args...); err != nil {
		release()
		// A tensor released by another goroutine since check: name it.
		if errors.Is(err, gpu.ErrReleased) {
			for _, x := range k.Bindings {
				if x.out == nil && x.T.Released() {
					return nil, errorf(k.Name, x.Name, gpu.ErrReleased, "%v was released", x.T)
				}
			}
		}
		return nil, err
	}
	k.record(d, args)
	return outs, nil
}

// RunOne is Run for a kernel with exactly one output binding.
func (k *Kernel) RunOne(d *gpu.Device) (*gpu.Tensor, error) {
	outs, err := k.Run(d)
	if err != nil {
		return nil, err
	}
	if len(outs) != 1 {
		for _, t := range outs {
			t.Release()
		}
		return nil, errorf(k.Name, "", ErrDeclaration, "RunOne on a kernel with %d outputs", len(outs))
	}
	return outs[0], nil
}

// check refuses what the device would reject or the WGSL could not
// serve: a missing or released tensor, one on another device or over the binding
// limit, a uniform value its WGSL type cannot hold, a grid over the
// device's limit per dimension.
func (k *Kernel) check(d *gpu.Device) error {
	if d == nil {
		return errorf(k.Name, "", ErrDeclaration, "no device")
	}
	for _, x := range k.Bindings {
		if x.out != nil {
			continue
		}
		if x.T == nil {
			return errorf(k.Name, x.Name, ErrDeclaration, "no tensor bound")
		}
		if x.T.Released() {
			return errorf(k.Name, x.Name, gpu.ErrReleased, "%v was released (or never allocated)", x.T)
		}
		if x.T.Device() != d {
			return errorf(k.Name, x.Name, ErrDeclaration, "is on another device")
		}
		if err := checkSize(d, k.Name, x.Name, x.T); err != nil {
			return err
		}
	}
	for _, u := range k.Uniforms {
		lo, hi := 0.0, float64(math.MaxUint32)
		switch u.Type {
		case "i32":
			lo, hi = math.MinInt32, math.MaxInt32
		case "f32":
			continue
		}
		if u.v < lo || u.v > hi {
			return errorf(k.Name, u.Name, ErrLimit, "value %v does not fit the kernel's %s", u.v, u.Type)
		}
	}
	for _, n := range k.Grid {
		if n > d.Limits.MaxGroupsPerDim {
			return errorf(k.Name, "", ErrLimit, "grid %v: %d workgroups in one dimension exceeds the device's limit of %d; split the work",
				k.Grid, n, d.Limits.MaxGroupsPerDim)
		}
	}
	return nil
}

func checkSize(d *gpu.Device, kernel, name string, t *gpu.Tensor) error {
	if t.ByteSize() > d.Limits.MaxBindingSize {
		return errorf(kernel, name, ErrLimit, "%v is %d bytes, over the device's maxStorageBufferBindingSize of %d; split the work",
			t, t.ByteSize(), d.Limits.MaxBindingSize)
	}
	return nil
}

// Build compiles the kernel's pipeline on d, or finds it in d's cache,
// without dispatching it.
func (k *Kernel) Build(d *gpu.Device) error {
	_, err := k.pipeline(d)
	return err
}

// pipeline returns the cached pipeline of the kernel's key, assembling
// and compiling the source only on a miss.
func (k *Kernel) pipeline(d *gpu.Device) (*gpu.Pipeline, error) {
	key := k.Key()
	if p := d.Cached(key); p != nil {
		return p, nil
	}
	src, err := k.Source(d.Features)
	if err != nil {
		return nil, err
	}
	acc := make([]gpu.Access, 0, len(k.Bindings)+1)
	for _, x := range k.Bindings {
		if x.Write {
			acc = append(acc, gpu.ReadWrite)
		} else {
			acc = append(acc, gpu.Read)
		}
	}
	if len(k.Uniforms) > 0 {
		acc = append(acc, gpu.Uniform)
	}
	return d.Pipeline(gpu.Kernel{Key: key, Source: src, Bindings: acc})
}

// params returns the byte image of the uniform struct.
func (k *Kernel) params() []byte {
	if len(k.Uniforms) == 0 {
		return nil
	}
	b := make([]byte, 0, (len(k.Uniforms)*4+15)&^15)
	for _, u := range k.Uniforms {
		var w uint32
		switch u.Type {
		case "f32":
			w = math.Float32bits(float32(u.v))
		case "i32":
			w = uint32(int32(u.v))
		default:
			w = uint32(u.v)
		}
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	for len(b)%16 != 0 {
		b = append(b, 0)
	}
	return b
}
