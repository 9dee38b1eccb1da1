package launch

import (
	"testing"

	"github.com/webfuser/webfuser/gpu"
)

// TestTunedTile checks that MatmulTile takes a tuned table's tile for the
// product's class where it serves the call (a tiled class's only where
// the default tiled tile would run), and its own choice elsewhere (want "").
func TestTunedTile(t *testing.T) {
	gemv := Tile{Kind: GEMV, BN: 4, Threads: 64}
	tiled := Tile{Kind: Simple, BM: 32, BN: 32, BK: 16}
	big := Tile{Kind: Blocked, BM: 128, BN: 128, BK: 32, TM: 8, TN: 8, Group: MatmulGroup} // 33 KiB
	cases := []struct {
		name  string
		tuned Tuned
		m, n  int
		wsize int
		want  string
	}{
		{"gemv bucket", Tuned{{4, 4}: gemv}, 3, 4096, 4, "gemv4/64"},
		{"other bucket", Tuned{{4, 4}: gemv}, 5, 4096, 4, ""},
		{"other weight", Tuned{{4, 4}: gemv}, 3, 4096, 2, ""},
		{"one row", Tuned{{1, 2}: gemv}, 1, 4096, 2, "gemv4/64"},
		{"tiled fills", Tuned{{0, 4}: tiled}, 1024, 1024, 4, "simple32x32x16"},
		{"tiled, not the default's product", Tuned{{0, 4}: tiled}, 96, 96, 4, ""}, // the default would get 2 workgroups
		{"tiled, fewer workgroups than the default asks", Tuned{{0, 4}: Tile{Kind: Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, Group: MatmulGroup}}, 1024, 1024, 4, "blocked128x128x8/8x8/sb/g8"}, // 64 workgroups
		{"tiled short", Tuned{{0, 4}: Tile{Kind: Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, Group: MatmulGroup}}, 4096, 64, 4, ""},
		{"tiled does not fit", Tuned{{0, 4}: big}, 4096, 4096, 4, ""},
		{"none", nil, 4096, 4096, 4, ""},
	}
	for _, c := range cases {
		d := &gpu.Device{Limits: gpu.Limits{MaxWorkgroupMemory: 32768, MaxInvocations: 256, MaxWorkgroupSizeX: 256}}
		want := c.want
		if want == "" {
			want = DefaultMatmulTile(d, c.m, c.n, 512, c.wsize).String()
		}
		if c.tuned != nil {
			d.SetTuned(c.tuned)
		}
		if got := MatmulTile(d, c.m, c.n, 512, c.wsize).String(); got != want {
			t.Errorf("%s: MatmulTile(%d, %d, w=%dB) = %s, want %s", c.name, c.m, c.n, c.wsize, got, want)
		}
		d.SetTuned(nil)
		if got, def := MatmulTile(d, c.m, c.n, 512, c.wsize), DefaultMatmulTile(d, c.m, c.n, 512, c.wsize); got != def {
			t.Errorf("%s: without the table MatmulTile = %v, DefaultMatmulTile %v", c.name, got, def)
		}
	}
}

// TestTileClasses checks that every class parses each of its candidates
// back from its name and rejects a name that is none of them.
func TestTileClasses(t *testing.T) {
	for _, c := range TileClasses() {
		for _, tile := range c.Candidates() {
			got, err := c.ParseTile(tile.String())
			if err != nil || got != tile {
				t.Errorf("%v: ParseTile(%q) = %v, %v", c, tile, got, err)
			}
		}
		if _, err := c.ParseTile("gemv3/7"); err == nil {
			t.Errorf("%v: ParseTile accepted gemv3/7", c)
		}
	}
	for m, want := range map[int]int{1: 1, 2: 4, 4: 4, 5: 8, 8: 8, 9: 16, 16: 16} {
		if got := RowBucket(m); got != want {
			t.Errorf("RowBucket(%d) = %d, want %d", m, got, want)
		}
	}
}
