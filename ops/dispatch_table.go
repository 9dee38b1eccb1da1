package ops

// This file holds the launch choices of the memory-bound kernels, each
// backed by the sweep in perf_test.go (bench/ has the figures).

// chooseModulate picks the modulate launch for rows of c channels: rows
// long enough to fill a workgroup get the row kernel.
func chooseModulate(c int) modulateVariant {
	if c >= 1024 {
		return modulateVariant{rows: true}
	}
	return modulateVariant{}
}
