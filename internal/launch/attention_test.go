package launch

import (
	"testing"

	"github.com/webfuser/webfuser/gpu"
)

// The launch choices of the attention kernels, pinned: rows recorded
// from main at 2a6ac04 (before the tile table moved here from
// ops/attention)
// over synthetic limits, so that a move or refactor that changes any
// choice fails here. A deliberate change of policy edits the rows.

var pinLimits = map[string]gpu.Limits{
	"core":   {MaxWorkgroupMemory: 16384, MaxInvocations: 256, MaxWorkgroupSizeX: 256},
	"small":  {MaxWorkgroupMemory: 32768, MaxInvocations: 256, MaxWorkgroupSizeX: 256},
	"cpu32":  {MaxWorkgroupMemory: 32768, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024},
	"nvidia": {MaxWorkgroupMemory: 49152, MaxInvocations: 1024, MaxWorkgroupSizeX: 1024},
	"zero":   {},
}

// pinTile is one tile choice: limits, head dim, mask query block (0: no
// mask) and the chosen tile's name ("": none, the row kernel).
type pinTile struct {
	lim       string
	d, maskBQ int
	want      string
}

// pinCall is one call of the planner; pinPlan its expected launch.
type pinCall struct {
	b, h, sq, sk, d, maskBQ int
	perm                    bool
	split                   int
	rows, tiled, sg         bool
}

type pinPlan struct {
	tiled                                bool
	tile                                 string
	sg                                   bool
	t, bq, bk, wg, dpt, nsplit, splitLen int
}

type pinPlanRow struct {
	lim   string
	class gpu.Class
	c     pinCall
	want  pinPlan
}

var pinTiles = []pinTile{
	{"core", 4, 0, "64x32/8x2/d16/db"},
	{"core", 4, 16, ""},
	{"core", 4, 64, "64x32/8x2/d16/db"},
	{"core", 4, 128, "64x32/8x2/d16/db"},
	{"core", 12, 0, "32x32/4x4/d8/db"},
	{"core", 12, 16, ""},
	{"core", 12, 64, "32x32/4x4/d8/db"},
	{"core", 12, 128, "32x32/4x4/d8/db"},
	{"core", 32, 0, "32x32/4x4/d8/db"},
	{"core", 32, 16, ""},
	{"core", 32, 64, "32x32/4x4/d8/db"},
	{"core", 32, 128, "32x32/4x4/d8/db"},
	{"core", 36, 0, "32x32/4x4/d8/db"},
	{"core", 36, 16, ""},
	{"core", 36, 64, "32x32/4x4/d8/db"},
	{"core", 36, 128, "32x32/4x4/d8/db"},
	{"core", 64, 0, "32x32/4x4/d8/db"},
	{"core", 64, 16, ""},
	{"core", 64, 64, "32x32/4x4/d8/db"},
	{"core", 64, 128, "32x32/4x4/d8/db"},
	{"core", 80, 0, "32x32/4x4/d8/db"},
	{"core", 80, 16, ""},
	{"core", 80, 64, "32x32/4x4/d8/db"},
	{"core", 80, 128, "32x32/4x4/d8/db"},
	{"core", 128, 0, "32x32/4x4/d8/db"},
	{"core", 128, 16, ""},
	{"core", 128, 64, "32x32/4x4/d8/db"},
	{"core", 128, 128, "32x32/4x4/d8/db"},
	{"core", 192, 0, "32x32/4x4/d8/db"},
	{"core", 192, 16, ""},
	{"core", 192, 64, "32x32/4x4/d8/db"},
	{"core", 192, 128, "32x32/4x4/d8/db"},
	{"core", 256, 0, "32x32/4x4/d8/db"},
	{"core", 256, 16, ""},
	{"core", 256, 64, "32x32/4x4/d8/db"},
	{"core", 256, 128, "32x32/4x4/d8/db"},
	{"small", 4, 0, "64x64/4x4/d16/db/late"},
	{"small", 4, 16, ""},
	{"small", 4, 64, "64x64/4x4/d16/db/late"},
	{"small", 4, 128, "64x64/4x4/d16/db/late"},
	{"small", 12, 0, "64x64/8x4/d32/sb"},
	{"small", 12, 16, ""},
	{"small", 12, 64, "64x64/8x4/d32/sb"},
	{"small", 12, 128, "64x64/8x4/d32/sb"},
	{"small", 32, 0, "64x32/8x2/d16/db"},
	{"small", 32, 16, ""},
	{"small", 32, 64, "64x32/8x2/d16/db"},
	{"small", 32, 128, "64x32/8x2/d16/db"},
	{"small", 36, 0, "64x32/8x2/d16/db"},
	{"small", 36, 16, ""},
	{"small", 36, 64, "64x32/8x2/d16/db"},
	{"small", 36, 128, "64x32/8x2/d16/db"},
	{"small", 64, 0, "64x32/8x2/d16/db"},
	{"small", 64, 16, ""},
	{"small", 64, 64, "64x32/8x2/d16/db"},
	{"small", 64, 128, "64x32/8x2/d16/db"},
	{"small", 80, 0, "64x32/8x2/d16/db"},
	{"small", 80, 16, ""},
	{"small", 80, 64, "64x32/8x2/d16/db"},
	{"small", 80, 128, "64x32/8x2/d16/db"},
	{"small", 128, 0, "64x32/8x2/d16/db"},
	{"small", 128, 16, ""},
	{"small", 128, 64, "64x32/8x2/d16/db"},
	{"small", 128, 128, "64x32/8x2/d16/db"},
	{"small", 192, 0, "64x32/8x2/d16/db"},
	{"small", 192, 16, ""},
	{"small", 192, 64, "64x32/8x2/d16/db"},
	{"small", 192, 128, "64x32/8x2/d16/db"},
	{"small", 256, 0, "64x32/8x2/d16/db"},
	{"small", 256, 16, ""},
	{"small", 256, 64, "64x32/8x2/d16/db"},
	{"small", 256, 128, "64x32/8x2/d16/db"},
	{"cpu32", 4, 0, "64x64/4x4/d16/db/late"},
	{"cpu32", 4, 16, ""},
	{"cpu32", 4, 64, "64x64/4x4/d16/db/late"},
	{"cpu32", 4, 128, "64x64/4x4/d16/db/late"},
	{"cpu32", 12, 0, "64x64/8x4/d32/sb"},
	{"cpu32", 12, 16, ""},
	{"cpu32", 12, 64, "64x64/8x4/d32/sb"},
	{"cpu32", 12, 128, "64x64/8x4/d32/sb"},
	{"cpu32", 32, 0, "64x32/8x2/d16/db"},
	{"cpu32", 32, 16, ""},
	{"cpu32", 32, 64, "64x32/8x2/d16/db"},
	{"cpu32", 32, 128, "64x32/8x2/d16/db"},
	{"cpu32", 36, 0, "64x32/8x2/d16/db"},
	{"cpu32", 36, 16, ""},
	{"cpu32", 36, 64, "64x32/8x2/d16/db"},
	{"cpu32", 36, 128, "64x32/8x2/d16/db"},
	{"cpu32", 64, 0, "64x32/8x2/d16/db"},
	{"cpu32", 64, 16, ""},
	{"cpu32", 64, 64, "64x32/8x2/d16/db"},
	{"cpu32", 64, 128, "64x32/8x2/d16/db"},
	{"cpu32", 80, 0, "64x32/8x2/d16/db"},
	{"cpu32", 80, 16, ""},
	{"cpu32", 80, 64, "64x32/8x2/d16/db"},
	{"cpu32", 80, 128, "64x32/8x2/d16/db"},
	{"cpu32", 128, 0, "64x32/8x2/d16/db"},
	{"cpu32", 128, 16, ""},
	{"cpu32", 128, 64, "64x32/8x2/d16/db"},
	{"cpu32", 128, 128, "64x32/8x2/d16/db"},
	{"cpu32", 192, 0, "64x32/8x2/d16/db"},
	{"cpu32", 192, 16, ""},
	{"cpu32", 192, 64, "64x32/8x2/d16/db"},
	{"cpu32", 192, 128, "64x32/8x2/d16/db"},
	{"cpu32", 256, 0, "64x32/8x2/d16/db"},
	{"cpu32", 256, 16, ""},
	{"cpu32", 256, 64, "64x32/8x2/d16/db"},
	{"cpu32", 256, 128, "64x32/8x2/d16/db"},
	{"nvidia", 4, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 4, 16, ""},
	{"nvidia", 4, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 4, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 12, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 12, 16, ""},
	{"nvidia", 12, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 12, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 32, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 32, 16, ""},
	{"nvidia", 32, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 32, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 36, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 36, 16, ""},
	{"nvidia", 36, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 36, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 64, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 64, 16, ""},
	{"nvidia", 64, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 64, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 80, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 80, 16, ""},
	{"nvidia", 80, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 80, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 128, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 128, 16, ""},
	{"nvidia", 128, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 128, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 192, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 192, 16, ""},
	{"nvidia", 192, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 192, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 256, 0, "128x64/8x4/d32/sb/fold/late/union"},
	{"nvidia", 256, 16, ""},
	{"nvidia", 256, 64, "64x64/4x4/d16/db/late"},
	{"nvidia", 256, 128, "128x64/8x4/d32/sb/fold/late/union"},
	{"zero", 4, 0, "64x32/8x2/d16/db"},
	{"zero", 4, 16, ""},
	{"zero", 4, 64, "64x32/8x2/d16/db"},
	{"zero", 4, 128, "64x32/8x2/d16/db"},
	{"zero", 12, 0, "32x32/4x4/d8/db"},
	{"zero", 12, 16, ""},
	{"zero", 12, 64, "32x32/4x4/d8/db"},
	{"zero", 12, 128, "32x32/4x4/d8/db"},
	{"zero", 32, 0, "32x32/4x4/d8/db"},
	{"zero", 32, 16, ""},
	{"zero", 32, 64, "32x32/4x4/d8/db"},
	{"zero", 32, 128, "32x32/4x4/d8/db"},
	{"zero", 36, 0, "32x32/4x4/d8/db"},
	{"zero", 36, 16, ""},
	{"zero", 36, 64, "32x32/4x4/d8/db"},
	{"zero", 36, 128, "32x32/4x4/d8/db"},
	{"zero", 64, 0, "32x32/4x4/d8/db"},
	{"zero", 64, 16, ""},
	{"zero", 64, 64, "32x32/4x4/d8/db"},
	{"zero", 64, 128, "32x32/4x4/d8/db"},
	{"zero", 80, 0, "32x32/4x4/d8/db"},
	{"zero", 80, 16, ""},
	{"zero", 80, 64, "32x32/4x4/d8/db"},
	{"zero", 80, 128, "32x32/4x4/d8/db"},
	{"zero", 128, 0, "32x32/4x4/d8/db"},
	{"zero", 128, 16, ""},
	{"zero", 128, 64, "32x32/4x4/d8/db"},
	{"zero", 128, 128, "32x32/4x4/d8/db"},
	{"zero", 192, 0, "32x32/4x4/d8/db"},
	{"zero", 192, 16, ""},
	{"zero", 192, 64, "32x32/4x4/d8/db"},
	{"zero", 192, 128, "32x32/4x4/d8/db"},
	{"zero", 256, 0, "32x32/4x4/d8/db"},
	{"zero", 256, 16, ""},
	{"zero", 256, 64, "32x32/4x4/d8/db"},
	{"zero", 256, 128, "32x32/4x4/d8/db"},
}

var pinPlans = []pinPlanRow{
	{"core", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 16, 4, 256}},
	{"core", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 4, 4, 256}},
	{"core", gpu.ClassCPU, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 8, 64, 8, 6, 688}},
	{"core", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 16, 1, 100}},
	{"core", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 16, 64, 16, 1, 100}},
	{"core", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 16, 256, 4, 1, 100}},
	{"core", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 8, 256, 8, 1, 4096}},
	{"core", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"core", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 8, 16, 32, 1, 4096}},
	{"core", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"core", gpu.ClassCPU, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"core", gpu.ClassCPU, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 4, 256, 16, 1, 300}},
	{"core", gpu.ClassCPU, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 3, 1, 77}},
	{"core", gpu.ClassCPU, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 5, 2, 256}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 16, 4, 256}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 4, 4, 256}},
	{"core", gpu.ClassDiscrete, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 8, 64, 8, 6, 688}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 16, 64, 16, 1, 100}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 16, 64, 16, 1, 100}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 16, 256, 4, 1, 100}},
	{"core", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{true, "32x32/4x4/d8/db", true, 4, 64, 8, 256, 8, 1, 4096}},
	{"core", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"core", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 8, 16, 32, 1, 4096}},
	{"core", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{true, "32x32/4x4/d8/db", true, 4, 64, 4, 256, 16, 1, 300}},
	{"core", gpu.ClassDiscrete, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 32, 64, 3, 1, 77}},
	{"core", gpu.ClassDiscrete, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 5, 2, 256}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 4, 256}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 4, 4, 256}},
	{"small", gpu.ClassCPU, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 8, 6, 688}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 1, 100}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 32, 64, 16, 1, 100}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 32, 256, 4, 1, 100}},
	{"small", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 16, 256, 8, 1, 4096}},
	{"small", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"small", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 16, 16, 32, 1, 4096}},
	{"small", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 8, 256, 16, 1, 300}},
	{"small", gpu.ClassCPU, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 3, 1, 77}},
	{"small", gpu.ClassCPU, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 5, 2, 256}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 4, 256}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 4, 4, 256}},
	{"small", gpu.ClassDiscrete, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 8, 6, 688}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 32, 64, 16, 1, 100}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 32, 64, 16, 1, 100}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 32, 256, 4, 1, 100}},
	{"small", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{true, "64x32/8x2/d16/db", true, 4, 64, 16, 256, 8, 1, 4096}},
	{"small", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"small", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 16, 16, 32, 1, 4096}},
	{"small", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{true, "64x32/8x2/d16/db", true, 4, 64, 8, 256, 16, 1, 300}},
	{"small", gpu.ClassDiscrete, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{true, "64x64/8x4/d32/sb", false, 1, 64, 32, 64, 3, 1, 77}},
	{"small", gpu.ClassDiscrete, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 5, 2, 256}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 4, 256}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 4, 4, 256}},
	{"cpu32", gpu.ClassCPU, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 8, 6, 688}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 1, 100}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 32, 64, 16, 1, 100}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 32, 256, 4, 1, 100}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 16, 256, 8, 1, 4096}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 16, 16, 32, 1, 4096}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 8, 256, 16, 1, 300}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 3, 1, 77}},
	{"cpu32", gpu.ClassCPU, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 5, 2, 256}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 4, 256}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 4, 4, 256}},
	{"cpu32", gpu.ClassDiscrete, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 8, 6, 688}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 32, 64, 16, 1, 100}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 32, 64, 16, 1, 100}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 32, 256, 4, 1, 100}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{true, "64x32/8x2/d16/db", true, 4, 64, 16, 256, 8, 1, 4096}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 16, 16, 32, 1, 4096}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{true, "64x32/8x2/d16/db", false, 1, 64, 16, 64, 32, 1, 4096}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{true, "64x32/8x2/d16/db", true, 4, 64, 8, 256, 16, 1, 300}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{true, "64x64/8x4/d32/sb", false, 1, 64, 32, 64, 3, 1, 77}},
	{"cpu32", gpu.ClassDiscrete, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 5, 2, 256}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 4, 256}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 4, 4, 256}},
	{"nvidia", gpu.ClassCPU, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 8, 6, 704}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 1, 100}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "128x64/8x4/d32/sb/fold/late/union", false, 1, 64, 32, 64, 16, 1, 100}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 32, 256, 4, 1, 100}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 32, 256, 8, 1, 4096}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 32, 1, 4096}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 32, 16, 32, 1, 4096}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 32, 1, 4096}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 16, 256, 16, 1, 300}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 3, 1, 77}},
	{"nvidia", gpu.ClassCPU, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 5, 2, 256}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 16, 4, 256}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 4, 4, 256}},
	{"nvidia", gpu.ClassDiscrete, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 8, 6, 704}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{true, "128x64/8x4/d32/sb/fold/late/union", false, 1, 64, 32, 64, 16, 1, 100}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "128x64/8x4/d32/sb/fold/late/union", false, 1, 64, 32, 64, 16, 1, 100}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 32, 256, 4, 1, 100}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{true, "128x64/8x4/d32/sb/fold/late/union", true, 4, 64, 32, 256, 8, 1, 4096}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{true, "64x64/4x4/d16/db/late", false, 1, 64, 32, 64, 32, 1, 4096}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 32, 16, 32, 1, 4096}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{true, "128x64/8x4/d32/sb/fold/late/union", false, 1, 64, 32, 64, 32, 1, 4096}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{true, "128x64/8x4/d32/sb/fold/late/union", true, 4, 64, 16, 256, 16, 1, 300}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{true, "128x64/8x4/d32/sb/fold/late/union", false, 1, 64, 32, 64, 3, 1, 77}},
	{"nvidia", gpu.ClassDiscrete, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 32, 64, 5, 2, 256}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 16, 4, 256}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 4, 4, 256}},
	{"zero", gpu.ClassCPU, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 8, 64, 8, 6, 688}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 16, 1, 100}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 16, 64, 16, 1, 100}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 16, 256, 4, 1, 100}},
	{"zero", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 8, 256, 8, 1, 4096}},
	{"zero", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"zero", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 8, 16, 32, 1, 4096}},
	{"zero", gpu.ClassCPU, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 64, 4, 256, 16, 1, 300}},
	{"zero", gpu.ClassCPU, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 3, 1, 77}},
	{"zero", gpu.ClassCPU, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 5, 2, 256}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, false}, pinPlan{false, "", false, 1, 64, 16, 64, 16, 4, 256}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 1, 1000, 64, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 4, 4, 256}},
	{"zero", gpu.ClassDiscrete, pinCall{2, 24, 16, 4096, 128, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 8, 64, 8, 6, 688}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 16, 64, 16, 1, 100}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, false, true, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 16, 64, 16, 1, 100}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 100, 100, 64, 0, false, 0, true, false, true}, pinPlan{false, "", true, 4, 64, 16, 256, 4, 1, 100}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 0, false, 0, false, false, true}, pinPlan{true, "32x32/4x4/d8/db", true, 4, 64, 8, 256, 8, 1, 4096}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 64, false, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 16, false, 0, false, false, false}, pinPlan{false, "", false, 1, 16, 8, 16, 32, 1, 4096}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 24, 4096, 4096, 128, 128, true, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 8, 64, 32, 1, 4096}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 3, 200, 32, 0, false, 3, false, false, false}, pinPlan{false, "", false, 1, 64, 32, 64, 8, 3, 96}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 300, 300, 256, 0, false, 0, false, false, true}, pinPlan{true, "32x32/4x4/d8/db", true, 4, 64, 4, 256, 16, 1, 300}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 2, 7, 77, 12, 0, false, 0, false, false, false}, pinPlan{true, "32x32/4x4/d8/db", false, 1, 64, 32, 64, 3, 1, 77}},
	{"zero", gpu.ClassDiscrete, pinCall{1, 1, 16, 512, 80, 0, false, 0, false, false, true}, pinPlan{false, "", true, 4, 16, 16, 64, 5, 2, 256}},
}

func TestLaunchChoicesPinned(t *testing.T) {
	for _, r := range pinTiles {
		if got := pinChooseTile(pinLimits[r.lim], r.d, r.maskBQ); got != r.want {
			t.Errorf("%s D=%d mask BQ %d: tile %q, want %q", r.lim, r.d, r.maskBQ, got, r.want)
		}
	}
	for _, r := range pinPlans {
		if got := pinPlanOf(pinLimits[r.lim], r.class, r.c); got != r.want {
			t.Errorf("%s class %d %+v:\n got %+v\nwant %+v", r.lim, r.class, r.c, got, r.want)
		}
	}
}

// pinChooseTile and pinPlanOf adapt the table to the planner.
func pinChooseTile(lim gpu.Limits, d, maskBQ int) string {
	if c, ok := ChooseAttentionTile(lim, d, maskBQ); ok {
		return c.String()
	}
	return ""
}

func pinPlanOf(lim gpu.Limits, class gpu.Class, c pinCall) pinPlan {
	p := PlanAttention(lim, class, AttentionCall{B: c.b, H: c.h, Sq: c.sq, Sk: c.sk, D: c.d, MaskBQ: c.maskBQ,
		Perm: c.perm, Split: c.split, Rows: c.rows, Tiled: c.tiled, Subgroups: c.sg})
	tile := ""
	if p.Tiled {
		tile = p.Layout.AttentionTile.String()
	}
	return pinPlan{p.Tiled, tile, p.Subgroups, p.T, p.BQ, p.BK, p.WG, p.DPT, p.NSplit, p.SplitLen}
}

// TestTileChooser checks the planner's choice by device limits: the
// first candidate that fits, the WebGPU core limits served for every
// head dimension up to 256, and the row kernel for block masks whose
// query blocks are not whole tiles. It logs the arithmetic behind the
// order of AttentionTiles (D=128).
func TestTileChooser(t *testing.T) {
	core, nvidia, small := pinLimits["core"], pinLimits["nvidia"], pinLimits["small"]
	for hd := 4; hd <= 256; hd += 4 {
		c, ok := ChooseAttentionTile(core, hd, 0)
		if !ok {
			t.Fatalf("D=%d: no candidate fits the WebGPU core limits", hd)
		}
		if lay := c.Layout(hd); lay.Smem() > 16384 || lay.WG > 256 {
			t.Fatalf("D=%d: %v uses %d bytes, %d invocations", hd, c, lay.Smem(), lay.WG)
		}
		for _, lim := range []gpu.Limits{nvidia, small} {
			c, ok := ChooseAttentionTile(lim, hd, 0)
			if !ok || !c.Fits(lim, hd) {
				t.Fatalf("D=%d: %v, %v for %+v", hd, c, ok, lim)
			}
		}
	}
	if c, _ := ChooseAttentionTile(nvidia, 128, 0); c != AttentionTiles[0] {
		t.Errorf("NVIDIA limits: %v, want %v", c, AttentionTiles[0])
	}
	if c, _ := ChooseAttentionTile(small, 128, 0); c.Layout(128).Smem() > 32768 || c.Invocations() > 256 {
		t.Errorf("32 KiB limits: %v", c)
	}
	if c, ok := ChooseAttentionTile(nvidia, 128, 16); ok {
		t.Errorf("mask of 16-row blocks: chose %v, want the row kernel", c)
	}
	for _, c := range append(append([]AttentionTile{}, AttentionTiles...), AttentionVariants...) {
		if err := c.Valid(); err != nil {
			t.Error(err)
		}
		lay := c.Layout(128)
		if c.Fold && !c.Union && lay.Smem() != 16*(lay.NBuf*lay.STG+c.BQ*c.BK/4) {
			t.Errorf("%v: %d bytes, want the stages and an unpadded P only", c, lay.Smem())
		}
		// Union: P and the query/key stage from pack 0, the reduction
		// after the stage, the value stage after P and the reduction.
		if qk := (c.BQ + c.BK) * lay.RS; c.Union && (lay.RedB < qk || lay.VB < c.BQ*lay.PS || lay.VB < lay.RedB+lay.RedP ||
			lay.Smem() != 16*(lay.VB+lay.KC*lay.VS) || lay.NBuf != 1) {
			t.Errorf("%v: regions overlap: stage %d, P %d, reduction %d+%d, value stage %d+%d", c, qk, c.BQ*lay.PS, lay.RedB, lay.RedP, lay.VB, lay.KC*lay.VS)
		}
		if !c.Fits(nvidia, 128) {
			t.Errorf("%v does not fit NVIDIA's 48 KiB at D=128", c)
		}
		fma := 2 * c.BQ * c.BK * 128 / lay.WG
		t.Logf("%-28v inv %4d  smem %5d B  KC %3d  stages %2d+%-2d  FMA/barrier %4d  FMA/LDS S %4.1f PV %4.1f  regs: S %2d O %2d fetch %d units",
			c, lay.WG, lay.Smem(), lay.KC, lay.NC, lay.NV, fma/lay.Barriers(),
			float64(4*c.TM*c.TN)/float64(c.TM+c.TN), float64(16*c.TM*lay.DJ)/float64(c.TM+4*lay.DJ),
			c.TM*c.TN, 4*c.TM*lay.DJ, lay.NR)
	}
}
