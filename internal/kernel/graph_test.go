package kernel

import (
	"slices"
	"testing"
)

// TestAssignSlots checks the arena's layout on lifetimes worked out by
// hand: which slot each value gets and the slots' sizes.
func TestAssignSlots(t *testing.T) {
	v := func(bytes uint64, first, last int) value { return value{bytes: bytes, first: first, last: last} }
	for _, tc := range []struct {
		name  string
		vs    []value
		slots []int
		sizes []uint64
	}{
		{"one", []value{v(64, 0, 1)}, []int{0}, []uint64{64}},
		// A chain: each value is read by the next launch only, so two
		// slots alternate (a value is alive at the launch that reads it).
		{"chain", []value{v(64, 0, 1), v(64, 1, 2), v(64, 2, 3), v(64, 3, 4)}, []int{0, 1, 0, 1}, []uint64{64, 64}},
		// A value read by its consumer's consumer keeps its slot busy.
		{"skip", []value{v(64, 0, 2), v(64, 1, 2), v(64, 2, 4), v(64, 3, 4), v(64, 4, 5)}, []int{0, 1, 2, 0, 1}, []uint64{64, 64, 64}},
		// Two outputs of one launch never share.
		{"two outputs", []value{v(32, 0, 1), v(32, 0, 1), v(32, 2, 3)}, []int{0, 1, 0}, []uint64{32, 32}},
		// Best fit: of the free slots (256 and 64 bytes), a 48-byte value
		// takes the 64; a 512-byte one then grows the largest free slot.
		{"best fit", []value{v(256, 0, 1), v(64, 0, 1), v(48, 2, 3), v(512, 2, 3)}, []int{0, 1, 1, 0}, []uint64{512, 64}},
		// A graph output (alive to the end) is never reused.
		{"output", []value{v(16, 0, 9), v(16, 1, 2), v(16, 3, 4)}, []int{0, 1, 1}, []uint64{16, 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := slices.Clone(tc.vs)
			sizes := assignSlots(vs)
			var slots []int
			for _, x := range vs {
				slots = append(slots, x.slot)
			}
			if !slices.Equal(slots, tc.slots) || !slices.Equal(sizes, tc.sizes) {
				t.Errorf("slots %v sizes %v, want %v %v", slots, sizes, tc.slots, tc.sizes)
			}
		})
	}
}
