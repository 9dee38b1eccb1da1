// Package gpu owns the WebGPU device for WebFuser: adapter choice, tensors
// and their buffers, a buffer pool, a pipeline cache keyed by kernel
// variant, command batching, readback, GPU timing and error capture.
// It knows nothing of neural networks; package ops builds operators on it.
//
// The same code runs natively through wgpu-native (cgo) and in the browser
// as a GOOS=js build; the few runtime differences live in files named
// *_native.go and *_js.go.
package gpu
