//go:build js

package ops

import (
	"fmt"
	"testing"

	"github.com/webfuser/webfuser/internal/gputest"
	"github.com/webfuser/webfuser/internal/launch"
)

// TestMatmulTilesCompileTint hands every matmul kernel variant that
// TestLinearEveryTile runs natively to Tint, without building a
// pipeline (node + Dawn's SwiftShader takes seconds per pipeline; with
// -short TestLinearEveryTile runs only shortTileCases there): every
// candidate tile, the Narrow form and the GEMV tiles (with and without
// subgroups), in each float
// storage dtype on each staging path (element, units of four, units of
// eight), with the epilogues in turn, and the FP8 operands on the unit
// path. Tiles the device cannot launch are skipped.
func TestMatmulTilesCompileTint(t *testing.T) {
	d := testDevice(t)
	narrow := launch.Tile{Kind: launch.Blocked, BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, Double: true, Narrow: true, Group: 3}
	tiles := append(append(launch.MatmulCandidates(), narrow), launch.GEMVCandidates()...)
	// One shape per path: element (K = 19), units of four (N = 12), units of eight.
	paths := []mnk{{13, 33, 19}, {5, 12, 40}, {16, 48, 40}}
	for ti, tile := range tiles {
		if !tile.Fits(d) {
			continue
		}
		for di, dt := range floatStorage {
			for pi, s := range paths {
				e := epilogueCases[(ti+3*di+pi)%len(epilogueCases)]
				t.Run(fmt.Sprintf("%v/%v/%v/%s", tile, dt, s, e.name), func(t *testing.T) {
					sp, _ := epilogueProduct(t, dt, s, e)
					if err := gputest.CompileOnly(d, sp.kernel(tile)); err != nil {
						t.Fatal(err)
					}
					if tile.Kind == launch.GEMV && d.Features.Subgroups {
						// The reduction through workgroup memory, for devices without subgroups.
						if err := gputest.CompileOnly(d, sp.gemvKernel(tile)); err != nil {
							t.Fatal(err)
						}
					}
				})
			}
		}
		for ci, c := range fp8Cases {
			dt := floatStorage[(ti+ci)%len(floatStorage)]
			s := mnk{16, 48, 48}
			t.Run(fmt.Sprintf("%v/%s/x=%v/%v", tile, c.name, dt, s), func(t *testing.T) {
				sp, _ := fp8Product(t, dt, s, c)
				if err := gputest.CompileOnly(d, sp.kernel(tile)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
