// Index of the operand element that element (row = b*L + l, c) of x
// [B,L,C] reads, for an operand broadcast with strides (sb, sl, ldiv):
// b*sb + (l/ldiv)*sl + c. Needs p.l (L) in the uniform block.
fn operand_index(row: u32, c: u32, sb: u32, sl: u32, ldiv: u32) -> u32 {
  let b = row / p.l;
  let l = row - b * p.l;
  return b * sb + (l / ldiv) * sl + c;
}
