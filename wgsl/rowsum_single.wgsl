// row_sum for rows owned by one invocation (T = 1): the value itself.
fn row_sum(x: f32) -> f32 { return x; }
