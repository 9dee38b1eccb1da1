package attention

// SetTiledEverywhere makes the planner choose the tiled kernel on CPU
// drivers too, for the external tests.
func SetTiledEverywhere(on bool) { tiledEverywhere = on }
