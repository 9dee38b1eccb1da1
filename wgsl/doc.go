// Package wgsl holds WebFuser's kernel sources (embedded .wgsl files) and
// assembles specialised variants of them: storage accessors for each
// tensor's dtype and vector width, the subgroup preamble of the runtime,
// and constants substituted into the source. It holds no other logic.
package wgsl
