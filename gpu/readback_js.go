//go:build js

package gpu

import (
	"syscall/js"
	"time"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// raceTimeout is a JavaScript function (p, ms) that settles with "ok"
// when p resolves, "timeout" after ms milliseconds, or p's rejection,
// and clears its timer either way (node would otherwise wait for it).
var raceTimeout = js.Global().Get("Function").New("p", "ms", `
	let id;
	const t = new Promise((r) => { id = setTimeout(() => r("timeout"), ms); });
	return Promise.race([p.then(() => "ok"), t]).finally(() => clearTimeout(id));`)

// transfer copies the range out, waiting for the mapping for at most
// the device's read timeout. d.mu is held.
func (d *Device) transfer(op string, src *wgpu.Buffer, offset, size uint64) ([]byte, error) {
	return d.copyOut(op, src, offset, size, func(b *wgpu.Buffer) error {
		p := jsValue(b).Call("mapAsync", uint32(wgpu.MapModeRead), 0, size)
		v, err := await(op, raceTimeout.Invoke(p, d.readTimeout.Milliseconds()))
		if err != nil {
			if lost, _ := stateOf(d).take(); lost != "" {
				d.lost = kindf(ErrDeviceLost, op, "%s", lost)
				return d.lost
			}
			return err
		}
		if v.String() != "ok" {
			d.lost = kindf(ErrDeviceLost, op, "no result after %v: the device is treated as lost", d.readTimeout)
			return d.lost
		}
		return nil
	})
}

// pollsDone reports true: a browser download never leaves a helper behind.
func (d *Device) pollsDone(time.Duration) bool { return true }
