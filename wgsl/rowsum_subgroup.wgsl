// row_sum for rows owned by four neighbouring lanes of a subgroup
// (T = 4): the sum of the four partial values, by two shuffles.
fn row_sum(x: f32) -> f32 {
  let s = x + subgroupShuffleXor(x, 1u);
  return s + subgroupShuffleXor(s, 2u);
}
