package ops

import (
	"errors"
	"testing"

	"github.com/webfuser/webfuser/internal/dtype"
)

// TestTempsReleasesWhatItKept checks that Temps releases the tensors Keep
// recorded, passes results through, and records nothing on an error.
func TestTempsReleasesWhatItKept(t *testing.T) {
	d := testDevice(t)
	before := d.MemStats().LiveTensors
	var s Temps
	for i := 0; i < 3; i++ {
		x, err := s.Keep(d.NewTensor(dtype.F32, 4))
		if err != nil || x == nil {
			t.Fatalf("Keep: %v, %v", x, err)
		}
	}
	boom := errors.New("boom")
	if x, err := s.Keep(nil, boom); x != nil || err != boom {
		t.Fatalf("Keep on an error: %v, %v", x, err)
	}
	if got := d.MemStats().LiveTensors; got != before+3 {
		t.Fatalf("live tensors %d, want %d", got, before+3)
	}
	s.Release()
	if got := d.MemStats().LiveTensors; got != before {
		t.Fatalf("after Release: live tensors %d, want %d", got, before)
	}
}
