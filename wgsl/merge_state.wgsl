// The merge of two attention states over disjoint key sets (TeleFuser's
// merge_attn_states), shared by merge_attn_states.wgsl (the operator)
// and attention_combine.wgsl (split-K attention's merge of its key
// splits). A state is an output normalised over its keys and its
// natural log-sum-exp p (prev) or s (suff). Merged: out = prev - w *
// (prev - suff) with w = merge_weight(p, s) = sigmoid(s - p), lse =
// merge_lse(p, s) = log(exp(p) + exp(s)) = max(p, s) + log(1 + exp(-|p - s|)).
// An infinite lse (either sign) marks a state that saw no key (the
// callers pass the other through). Infinities are told apart by their
// bits and never enter the arithmetic, which compilers may assume finite.

fn empty_lse(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u; }

// merge_weight is the weight of suff in the merge of two states that
// both saw keys.
fn merge_weight(p: f32, s: f32) -> f32 { return 1.0 / (1.0 + exp(clamp(p - s, -80.0, 80.0))); }

// merge_lse is the merged log-sum-exp of p and s.
fn merge_lse(p: f32, s: f32) -> f32 {
  let pe = empty_lse(p);
  let se = empty_lse(s);
  if (pe && se) { return bitcast<f32>(bitcast<u32>(p) | 0x80000000u); } // -inf, built at run time
  if (pe) { return s; }
  if (se) { return p; }
  return max(p, s) + log(1.0 + exp(-min(abs(p - s), 80.0)));
}
