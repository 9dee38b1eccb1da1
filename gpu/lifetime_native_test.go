//go:build !js

package gpu

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webfuser/webfuser/internal/dtype"
)

// TestRawReleaseIsDeviceLost: releasing the raw device behind the
// package's back made the next call abort in Rust; now it is an error.
func TestRawReleaseIsDeviceLost(t *testing.T) {
	d, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := d.Upload(dtype.F32, []int{2}, []float32{1, 2})
	d.Raw().Release()
	_, err = d.NewTensor(dtype.F32, 4)
	wantIs(t, "NewTensor", err, ErrDeviceLost)
	_, err = x.Float32()
	wantIs(t, "Float32", err, ErrDeviceLost)
	wantIs(t, "Flush", d.Flush(), ErrDeviceLost)
	x.Release()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wantIs(t, "after Close", d.Err(), ErrClosed)
}

// TestDriverLossSurfaces: a loss the driver reports (here: destroying
// the device underneath) makes the next calls errors.
func TestDriverLossSurfaces(t *testing.T) {
	d, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := d.Upload(dtype.F32, []int{2}, []float32{1, 2})
	destroyDevice(d.dev)
	d.dev.Poll(false, nil) // wgpu-native reports the loss from a poll
	var lastErr error
	for i := 0; i < 50 && lastErr == nil; i++ { // the callback may come on another thread
		_, lastErr = x.Float32()
		time.Sleep(time.Millisecond)
	}
	if lastErr == nil {
		t.Skip("the driver reported no loss for a destroyed device")
	}
	_, err = d.NewTensor(dtype.F32, 4)
	if err == nil {
		t.Fatal("a lost device allocated")
	}
	t.Logf("after the loss: %v / %v", lastErr, err)
	wantIs(t, "download after the loss", lastErr, ErrDeviceLost)
	wantIs(t, "allocation after the loss", err, ErrDeviceLost)
	x.Release()
	d.Close()
}

// rssKB returns the resident set size of this process (VmRSS), in kB.
func rssKB(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err == nil {
				return kb
			}
		}
	}
	t.Skip("no VmRSS line")
	return 0
}

// TestOpenClose50Devices: 30 Opens grew RSS from 7 to 354 MB (12 MB a
// device), never freed. Opening, using and closing 50 devices must leave
// RSS where the first 30 left it: within 16 MB over the last twenty (or
// over one of up to three windows of twenty more),
// whereas one device leaked each time would add 240 MB. (On lavapipe
// RSS steps up by a few MB as malloc arenas settle, then stays flat: 150
// devices measured 108.3 MB after 30 and 109.0 MB after 150; on a loaded
// machine the arenas took 30 devices to settle, 113.8 MB after 10 and
// 133.3 MB after 30, then 133.5 MB after 50.)
func TestOpenClose50Devices(t *testing.T) {
	n := 50
	if testing.Short() {
		n = 20
	}
	cycle := func(i int) {
		d, err := Open(Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := addPipeline(t, d)
		x, _ := d.Upload(dtype.F32, []int{256}, make([]float32, 256))
		y, _ := d.NewTensor(dtype.F32, 256)
		if err := d.Dispatch(p, Grid{4, 1, 1}, NewParams().U32(256).F32(1).Bytes(), x, y); err != nil {
			t.Fatal(err)
		}
		if v, err := y.Float32(); err != nil || v[255] != 1 {
			t.Fatalf("device %d: %v %v", i, v[255], err)
		}
		x.Release() // y is left live: Close must free it
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
	}
	settled := n * 3 / 5
	var base int
	for i := 0; i < n; i++ {
		cycle(i)
		if i == settled-1 {
			time.Sleep(50 * time.Millisecond)
			base = rssKB(t)
		}
		if i%10 == 9 {
			t.Logf("after %d devices: VmRSS %d kB", i+1, rssKB(t))
		}
	}
	time.Sleep(50 * time.Millisecond)
	end := rssKB(t)
	window := n - settled
	t.Logf("VmRSS after %d devices %d kB, after %d: %d kB (%+d kB a device)", settled, base, n, end, (end-base)/window)
	grew := end - base
	// The arenas can settle late, in steps of about 9 MB: a fresh-clone
	// CI run with both test lanes measured +18.6 MB over devices 31-50
	// (2026-11-29), and 150 devices here stepped at the 65th, then stayed
	// flat. A leak grows at its rate in every window, so up to three more
	// windows are judged, and one within the bound passes.
	for w := 1; grew > 16<<10 && w <= 3; w++ {
		for i := 0; i < window; i++ {
			cycle(n*w + i)
		}
		time.Sleep(50 * time.Millisecond)
		base, end = end, rssKB(t)
		grew = end - base
		t.Logf("VmRSS after %d more devices: %d kB (%+d kB a device)", window, end, grew/window)
	}
	if grew > 16<<10 {
		t.Fatalf("RSS grew by %d kB over %d devices (%d kB each): devices are not freed", grew, window, grew/window)
	}
}
