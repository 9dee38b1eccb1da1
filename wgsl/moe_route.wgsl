// MoE routing (TeleFuser's route_topk), one token per invocation of
// elementwise.wgsl's BODY: sigmoid scores of the logits lg [T, NE] rounded
// to their dtype, selection scores sel = score (+ bias cb: SEL), NG
// groups of EPG consecutive experts, of which the TKG whose top-two sel
// sum is largest stay, then the TOPK largest sel among their experts
// (ties: lower index), weights = score / max(rounded sum, EPS) times the
// scale uniform, rounded to the logits' dtype at each step.
// Specialised on: NE, NG, EPG, TKG, TOPK, EPS, SEL and the logits' dtype.

fn score(t: u32, e: u32) -> f32 {
  return rnd1_lg(1.0 / (1.0 + exp(-clamp(ld_lg(t * NE + e), -80.0, 80.0))));
}

fn sel(t: u32, e: u32) -> f32 {
  {{SEL}}
}
