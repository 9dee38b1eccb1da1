// Minimal reproducer for issue 13: on the H200, Dawn (npm webgpu 0.6.2) runs a
// first chromium-experimental-subgroup-matrix dispatch correctly, then later
// submissions in the same process crash or hang.
//
// One process runs ONE variant: a base case with exactly one thing changed.
//   node repro.js --variant base     (run.sh runs each variant in its own process)
//   node repro.js --list             (names and what each changes)
// Every round's output is checked against a CPU dot product (all of C for small
// sizes, the first and last tiles plus random entries for 4096^3), and a guard
// band after C must stay untouched. The last line is "RESULT <word>"; exit codes:
// 0 ok, 1 wrong values or a WebGPU error, 2 bad usage, 3 feature absent.
// Markers "STEP ..." are printed before every call that could die, so the tail of
// a crashed run says where.
'use strict';
const path = require('node:path');
const { pathToFileURL } = require('node:url');

// ---------------------------------------------------------------- variants
// base: i8 -> i32, M16 N16 K32, 64x64x64, operands loaded straight from storage,
// no barrier, one dispatch per submit, 3 submits (rounds), each read back with
// mapAsync, the same subgroup-matrix pipeline every round, no device.destroy().
const BASE = {
  kernel: 'sm',        // sm: subgroup-matrix matmul; plain: ordinary WGSL matmul (control)
  type: 'i8',          // i8 (array<i32>, result i32) or u8 (array<u32>, result u32)
  n: 16,               // matrix N: 16 (M16N16K32) or 8 (M16N8K32)
  size: 64,            // square problem size: C[size][size] = A[size][size] * B[size][size]
  rounds: 3,           // submits, each followed by a wait and a check
  dispatches: 1,       // dispatches of the kernel in each submit (same bind group; C is overwritten)
  barrier: false,      // workgroupBarrier() inside the K loop
  operands: 'storage', // storage: subgroupMatrixLoad from the storage arrays; workgroup: staged tiles
  later: 'same',       // same: every round runs the same kernel; plain: rounds after the first run the plain kernel
  secondPipeline: false, // create an ordinary pipeline after the subgroup-matrix one (and run it once per round)
  pipelineOnly: false, // create the subgroup-matrix pipeline but never dispatch it (rounds run the plain kernel)
  asyncPipeline: false, // createComputePipelineAsync instead of createComputePipeline
  destroy: false,      // device.destroy() before exit
  wait: 'map',         // map: mapAsync of the readback buffer; done: onSubmittedWorkDone first, then mapAsync
  pad: 0,              // extra bytes after A and B (and before C's guard) in case loads read past the end
  op: 'mma',           // mma: multiply-accumulate; loadstore: C = load(C) stored back (no i8, no multiply); zero: store a zero result
  toggles: [],         // extra Dawn toggles (enable-dawn-features)
  disable: [],         // Dawn toggles to disable (disable-dawn-features)
  features: [],        // extra device features
};

const VARIANTS = {
  plain: { kernel: 'plain', why: 'control: ordinary WGSL i8 matmul, no subgroup matrices, same rounds' },
  base: { why: 'i8 M16N16K32 64^3 storage operands, 1 dispatch/submit, 3 submits, mapAsync' },
  submits1: { rounds: 1, why: 'a single submit (does the process even exit cleanly?)' },
  submits10: { rounds: 10, why: '10 submits' },
  dispatch2: { dispatches: 2, why: '2 dispatches in each submit' },
  dispatch10: { dispatches: 10, why: '10 dispatches in each submit' },
  big: { size: 4096, why: '4096^3 instead of 64^3' },
  barrier: { barrier: true, why: 'workgroupBarrier() in the K loop' },
  workgroup: { operands: 'workgroup', why: 'A and B tiles staged in workgroup memory (needs barriers)' },
  u8: { type: 'u8', why: 'u8 -> u32 instead of i8 -> i32' },
  m16n8: { n: 8, why: 'M16N8K32 instead of M16N16K32' },
  then_plain: { later: 'plain', why: 'first round subgroup-matrix, later rounds only the plain kernel' },
  second_pipeline: { secondPipeline: true, why: 'an ordinary pipeline created after the subgroup-matrix one, run each round too' },
  pipeline_only: { pipelineOnly: true, why: 'subgroup-matrix pipeline created, never dispatched; rounds run the plain kernel' },
  async_pipeline: { asyncPipeline: true, why: 'createComputePipelineAsync' },
  destroy: { destroy: true, why: 'device.destroy() at the end' },
  wait_done: { wait: 'done', why: 'queue.onSubmittedWorkDone() before mapAsync' },
  padded: { pad: 1 << 20, why: '1 MiB of slack after A and B (out-of-bounds reads would land in it)' },
  loadstore: { op: 'loadstore', why: 'only subgroupMatrixLoad/Store of the i32 result (no i8, no multiply)' },
  zero: { op: 'zero', why: 'only store a zero-constructed result matrix' },
  no_robustness: { toggles: ['disable_robustness'], why: 'Dawn toggle disable_robustness (no clamping)' },
  coop_robust: { toggles: ['vulkan_use_cooperative_matrix_robust_access'], why: 'toggle vulkan_use_cooperative_matrix_robust_access' },
  stride_elems: { toggles: ['vulkan_cooperative_matrix_stride_is_matrix_elements'], why: 'toggle vulkan_cooperative_matrix_stride_is_matrix_elements (Mali stride workaround)' },
  no_memory_model: { disable: ['use_vulkan_memory_model'], why: 'disable toggle use_vulkan_memory_model' },
  subgroups: { features: ['subgroups'], why: 'also request the subgroups feature' },
  f16_nvidia: { toggles: ['vulkan_enable_f16_on_nvidia'], why: 'toggle vulkan_enable_f16_on_nvidia (does shader-f16 and an f16 config appear?)' },
  dump: { rounds: 1, toggles: ['dump_shaders', 'disable_symbol_renaming'], why: 'dump the generated shaders (SPIR-V) to the log' },
};

function parseArgs(argv) {
  const o = { variant: 'base', list: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--list') o.list = true;
    else if (a === '--variant') o.variant = argv[++i];
    else if (a.startsWith('--variant=')) o.variant = a.slice(10);
    else { console.log(`unknown argument ${a}`); process.exit(2); }
  }
  return o;
}

// ---------------------------------------------------------------- WGSL
function smShader(p) {
  const S = p.type === 'i8' ? 'i32' : 'u32';
  const T = p.type; // i8 or u8
  const M = 16, K = 32, N = p.n, D = p.size;
  const head = `enable chromium_experimental_subgroup_matrix;
alias S = ${S};
const M = ${M}u; const N = ${N}u; const K = ${K}u; const D = ${D}u;
const WG = ${p.wg}u; // the device's maxSubgroupSize: Dawn requires a multiple of it
@group(0) @binding(0) var<storage, read> A : array<S>;        // D x D int8, row-major, 4 per element
@group(0) @binding(1) var<storage, read> B : array<S>;        // D x D int8, row-major, 4 per element
@group(0) @binding(2) var<storage, read_write> C : array<S>;  // D x D, row-major
`;
  if (p.op === 'zero') {
    return head + `
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg : vec3u) {
  let acc = subgroup_matrix_result<S, N, M>();
  subgroupMatrixStore<row_major>(&C, wg.y * M * D + wg.x * N, acc, D);
}`;
  }
  if (p.op === 'loadstore') {
    return head + `
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg : vec3u) {
  let off = wg.y * M * D + wg.x * N;
  let acc = subgroupMatrixLoad<subgroup_matrix_result<S, N, M>, row_major>(&C, off, D);
  subgroupMatrixStore<row_major>(&C, off, acc, D);
}`;
  }
  const bar = p.barrier ? '    workgroupBarrier();\n' : '';
  if (p.operands === 'workgroup') {
    // Tiles: A 16x32 int8 = 128 words, B 32xN int8 = 8N words; the WG invocations copy them.
    return head + `
var<workgroup> TA : array<S, ${(M * K) / 4}>;
var<workgroup> TB : array<S, ${(K * N) / 4}>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg : vec3u, @builtin(local_invocation_index) li : u32) {
  let row0 = wg.y * M;
  let col0 = wg.x * N;
  var acc = subgroup_matrix_result<S, N, M>();
  for (var k = 0u; k < D; k += K) {
    for (var i = li; i < ${(M * K) / 4}u; i += WG) {
      let r = i / ${K / 4}u; let c = i % ${K / 4}u;
      TA[i] = A[((row0 + r) * D + k) / 4u + c];
    }
    for (var i = li; i < ${(K * N) / 4}u; i += WG) {
      let r = i / ${N / 4}u; let c = i % ${N / 4}u;
      TB[i] = B[((k + r) * D + col0) / 4u + c];
    }
    workgroupBarrier();
    let a = subgroupMatrixLoad<subgroup_matrix_left<${T}, K, M>, row_major>(&TA, 0u, K / 4u);
    let b = subgroupMatrixLoad<subgroup_matrix_right<${T}, N, K>, row_major>(&TB, 0u, N / 4u);
    acc = subgroupMatrixMultiplyAccumulate(a, b, acc);
    workgroupBarrier();
  }
  subgroupMatrixStore<row_major>(&C, row0 * D + col0, acc, D);
}`;
  }
  return head + `
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg : vec3u) {
  let row0 = wg.y * M;
  let col0 = wg.x * N;
  var acc = subgroup_matrix_result<S, N, M>();
  for (var k = 0u; k < D; k += K) {
    // offsets and strides in elements of the array (4 int8 each)
    let a = subgroupMatrixLoad<subgroup_matrix_left<${T}, K, M>, row_major>(&A, (row0 * D + k) / 4u, D / 4u);
    let b = subgroupMatrixLoad<subgroup_matrix_right<${T}, N, K>, row_major>(&B, (k * D + col0) / 4u, D / 4u);
    acc = subgroupMatrixMultiplyAccumulate(a, b, acc);
${bar}  }
  subgroupMatrixStore<row_major>(&C, row0 * D + col0, acc, D);
}`;
}

// The control: one invocation per C element, bytes unpacked by shifts.
function plainShader(p) {
  const S = p.type === 'i8' ? 'i32' : 'u32';
  const ext = p.type === 'i8'
    ? '(w << (24u - 8u * b)) >> 24u'              // arithmetic shift sign-extends i32
    : '(w >> (8u * b)) & 255u';
  return `alias S = ${S};
const D = ${p.size}u;
@group(0) @binding(0) var<storage, read> A : array<S>;
@group(0) @binding(1) var<storage, read> B : array<S>;
@group(0) @binding(2) var<storage, read_write> C : array<S>;
fn byteAt(arr : u32, i : u32) -> S {
  let b = i % 4u;
  var w : S;
  if (arr == 0u) { w = A[i / 4u]; } else { w = B[i / 4u]; }
  return ${ext};
}
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g : vec3u) {
  let r = g.y; let c = g.x;
  if (r >= D || c >= D) { return; }
  var s : S = S(0);
  for (var k = 0u; k < D; k++) { s += byteAt(0u, r * D + k) * byteAt(1u, k * D + c); }
  C[r * D + c] = s;
}`;
}

// ---------------------------------------------------------------- data and checks
function rng(seed) { // xorshift32, deterministic
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

function makeData(p) {
  const D = p.size;
  const r = rng(12345);
  const a = p.type === 'i8' ? new Int8Array(D * D) : new Uint8Array(D * D);
  const b = p.type === 'i8' ? new Int8Array(D * D) : new Uint8Array(D * D);
  for (let i = 0; i < a.length; i++) a[i] = r() & 255;
  for (let i = 0; i < b.length; i++) b[i] = r() & 255;
  return { a, b };
}

function refAt(a, b, D, r, c) {
  let s = 0;
  for (let k = 0; k < D; k++) s += a[r * D + k] * b[k * D + c];
  return s;
}

// Entries checked: all for small sizes, else the first and last 16x16 tiles plus 2048 random ones.
function checkPoints(D) {
  const pts = [];
  if (D <= 256) { for (let r = 0; r < D; r++) for (let c = 0; c < D; c++) pts.push([r, c]); return pts; }
  for (let r = 0; r < 16; r++) for (let c = 0; c < 16; c++) { pts.push([r, c]); pts.push([D - 16 + r, D - 16 + c]); }
  const g = rng(777);
  for (let i = 0; i < 2048; i++) pts.push([g() % D, g() % D]);
  return pts;
}

// Expected C for a kernel/op given the C contents before the dispatch.
function expectedAt(p, kind, data, before, r, c) {
  const D = p.size;
  if (kind === 'plain' || p.op === 'mma') {
    const v = refAt(data.a, data.b, D, r, c);
    return p.type === 'i8' ? (v | 0) : (v >>> 0);
  }
  if (p.op === 'zero') return 0;
  return before[r * D + c]; // loadstore: unchanged
}

// ---------------------------------------------------------------- main
async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const [k, v] of Object.entries(VARIANTS)) console.log(`${k.padEnd(16)} ${v.why}`);
    return 0;
  }
  const v = VARIANTS[args.variant];
  if (!v) { console.log(`unknown variant ${args.variant}; --list shows them`); return 2; }
  const p = { ...BASE, ...v };
  if (process.env.SM_SIZE) p.size = Number(process.env.SM_SIZE); // run.sh's second pass at 4096
  console.log(`VARIANT ${args.variant}: ${v.why}`);
  console.log(`PARAMS ${JSON.stringify(p)}`);

  const root = path.resolve(__dirname, '..', '..');
  const modPath = process.env.WEBGPU_MODULE || path.join(root, 'node_modules', 'webgpu', 'index.js');
  console.log(`STEP import ${modPath}`);
  const { create, globals } = await import(pathToFileURL(modPath).href);
  Object.assign(globalThis, globals);

  const flags = [`enable-dawn-features=${['allow_unsafe_apis', ...p.toggles].join(',')}`];
  if (p.disable.length) flags.push(`disable-dawn-features=${p.disable.join(',')}`);
  if (process.env.DAWN_FLAGS) flags.push(...process.env.DAWN_FLAGS.split(' ').filter(Boolean));
  console.log(`DAWN create(${JSON.stringify(flags)})`);
  const gpu = create(flags);
  globalThis.__gpu = gpu; // keep the instance alive until we exit

  console.log('STEP requestAdapter');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) { console.log('RESULT no-adapter'); return 1; }
  const info = adapter.info || {};
  console.log(`ADAPTER vendor=${info.vendor} arch=${info.architecture} device=${info.device} desc=${info.description} subgroupMinSize=${info.subgroupMinSize} subgroupMaxSize=${info.subgroupMaxSize}`);
  const feats = [...adapter.features].sort();
  console.log(`FEATURES ${feats.join(' ')}`);
  const SM = 'chromium-experimental-subgroup-matrix';
  const hasSM = adapter.features.has(SM);
  p.wg = info.subgroupMaxSize || 32;
  if (hasSM) {
    const cfgs = info.subgroupMatrixConfigs || [];
    if (!cfgs.length) console.log(`CONFIG none listed (adapter.info keys: ${Object.keys(Object.getPrototypeOf(info)).join(',')})`);
    for (const c of cfgs) {
      console.log(`CONFIG ${c.componentType}->${c.resultComponentType} M${c.M} N${c.N} K${c.K}`);
    }
  }
  const needsSM = p.kernel === 'sm';
  if (needsSM && !hasSM) {
    console.log(`RESULT feature-absent (${SM} not offered by this adapter)`);
    return 3;
  }

  const required = [];
  if (hasSM) required.push(SM);
  for (const f of p.features) if (adapter.features.has(f)) required.push(f);
  const D = p.size;
  const bytesAB = D * D; // int8
  const bytesC = D * D * 4;
  const guardBytes = 4096;
  const limits = {};
  const need = Math.max(bytesC + guardBytes, bytesAB + p.pad);
  if (need > 128 * 1024 * 1024) {
    limits.maxStorageBufferBindingSize = need;
    limits.maxBufferSize = need;
  }
  console.log(`STEP requestDevice features=${required.join(',')}`);
  let device;
  try {
    device = await adapter.requestDevice({ requiredFeatures: required, requiredLimits: limits });
  } catch (e) {
    console.log(`ERROR requestDevice: ${e && e.message}`);
    console.log('RESULT error');
    return 1;
  }
  let errors = 0;
  device.lost.then((l) => { console.log(`LOST reason=${l.reason} message=${l.message}`); });
  device.onuncapturederror = (e) => { errors++; console.log(`UNCAPTURED ${e.error && e.error.message}`); };

  // Buffers: A, B (+pad), C followed by a guard band of 0x5A5A5A5A.
  const data = makeData(p);
  const mk = (size, usage) => device.createBuffer({ size, usage });
  const S = GPUBufferUsage.STORAGE, CD = GPUBufferUsage.COPY_DST, CS = GPUBufferUsage.COPY_SRC;
  const bufA = mk(bytesAB + p.pad, S | CD);
  const bufB = mk(bytesAB + p.pad, S | CD);
  const bufC = mk(bytesC + guardBytes, S | CD | CS);
  const read = mk(bytesC + guardBytes, GPUBufferUsage.MAP_READ | CD);
  device.queue.writeBuffer(bufA, 0, data.a.buffer, 0, bytesAB);
  device.queue.writeBuffer(bufB, 0, data.b.buffer, 0, bytesAB);
  const initC = new Uint32Array((bytesC + guardBytes) / 4);
  const seedC = rng(99);
  for (let i = 0; i < D * D; i++) initC[i] = seedC() & 0xffff; // loadstore must keep these
  initC.fill(0x5a5a5a5a, D * D);
  const typedC = p.type === 'i8' ? new Int32Array(initC.buffer) : initC;
  const beforeC = typedC.slice(0, D * D);

  async function pipeline(kind) {
    const code = kind === 'sm' ? smShader(p) : plainShader(p);
    console.log(`STEP createShaderModule ${kind}`);
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code });
    const ci = await module.getCompilationInfo();
    for (const m of ci.messages) console.log(`COMPILE ${m.type} ${m.lineNum}:${m.linePos} ${m.message}`);
    const desc = { layout: 'auto', compute: { module, entryPoint: 'main' } };
    console.log(`STEP createComputePipeline${p.asyncPipeline ? 'Async' : ''} ${kind}`);
    let pl;
    try {
      pl = p.asyncPipeline ? await device.createComputePipelineAsync(desc) : device.createComputePipeline(desc);
    } catch (e) {
      console.log(`ERROR pipeline ${kind}: ${e && e.message}`);
    }
    const err = await device.popErrorScope();
    if (err) { console.log(`ERROR pipeline ${kind}: ${err.message}`); return null; }
    if (!pl) return null;
    const bg = device.createBindGroup({
      layout: pl.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: bufA, size: bytesAB } },
        { binding: 1, resource: { buffer: bufB, size: bytesAB } },
        { binding: 2, resource: { buffer: bufC, size: bytesC } },
      ].filter((e) => !(kind === 'sm' && p.op !== 'mma' && e.binding < 2)),
    });
    const groups = kind === 'sm' ? [D / p.n, D / 16] : [Math.ceil(D / 16), Math.ceil(D / 16)];
    return { kind, pl, bg, groups };
  }

  let sm = null, plain = null;
  if (p.kernel === 'sm') {
    sm = await pipeline('sm');
    if (!sm) { console.log('RESULT error'); return 1; }
  }
  if (p.kernel === 'plain' || p.later === 'plain' || p.secondPipeline || p.pipelineOnly) {
    plain = await pipeline('plain');
    if (!plain) { console.log('RESULT error'); return 1; }
  }
  const pts = checkPoints(D);
  let bad = 0;
  for (let round = 0; round < p.rounds; round++) {
    // Which kernels this round runs, in order; the last one determines C.
    let runs;
    if (p.kernel === 'plain' || p.pipelineOnly) runs = [plain];
    else if (p.later === 'plain' && round > 0) runs = [plain];
    else if (p.secondPipeline) runs = [sm, plain];
    else runs = [sm];
    const last = runs[runs.length - 1];
    const t0 = process.hrtime.bigint();
    console.log(`STEP round ${round} writeBuffer C`);
    device.queue.writeBuffer(bufC, 0, initC.buffer, 0, bytesC + guardBytes);
    console.log(`STEP round ${round} encode ${runs.map((r) => r.kind).join('+')} x${p.dispatches}`);
    const enc = device.createCommandEncoder();
    for (const r of runs) {
      const pass = enc.beginComputePass();
      pass.setPipeline(r.pl);
      pass.setBindGroup(0, r.bg);
      for (let d = 0; d < p.dispatches; d++) pass.dispatchWorkgroups(r.groups[0], r.groups[1]);
      pass.end();
    }
    enc.copyBufferToBuffer(bufC, 0, read, 0, bytesC + guardBytes);
    console.log(`STEP round ${round} submit`);
    device.queue.submit([enc.finish()]);
    if (p.wait === 'done') {
      console.log(`STEP round ${round} onSubmittedWorkDone`);
      await device.queue.onSubmittedWorkDone();
    }
    console.log(`STEP round ${round} mapAsync`);
    await read.mapAsync(GPUMapMode.READ);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const got = p.type === 'i8' ? new Int32Array(read.getMappedRange().slice(0)) : new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    let mism = 0, first = '';
    for (const [r, c] of pts) {
      const want = expectedAt(p, last.kind, data, beforeC, r, c);
      const have = got[r * D + c];
      if (have !== want) { if (!mism) first = ` first C[${r}][${c}]=${have} want ${want}`; mism++; }
    }
    let guard = 0;
    const g32 = new Uint32Array(got.buffer, D * D * 4);
    for (let i = 0; i < g32.length; i++) if (g32[i] !== 0x5a5a5a5a) guard++;
    const ok = mism === 0 && guard === 0;
    if (!ok) bad++;
    const tops = last.kind === 'sm' && p.op === 'mma' ? ` ~${((2 * D * D * D * p.dispatches) / (ms * 1e9)).toFixed(2)} TOP/s wall` : '';
    console.log(`ROUND ${round} ${ok ? 'ok' : 'FAIL'} kernel=${last.kind} checked=${pts.length} mismatches=${mism} guard_damaged=${guard}${first} ms=${ms.toFixed(2)}${tops} C[0][0..3]=${Array.from(got.slice(0, 4)).join(',')}`);
  }
  if (p.destroy) {
    console.log('STEP device.destroy');
    device.destroy();
  }
  console.log(`RESULT ${bad === 0 && errors === 0 ? 'ok' : 'FAIL'} rounds=${p.rounds} bad_rounds=${bad} errors=${errors}`);
  return bad === 0 && errors === 0 ? 0 : 1;
}

main().then(
  (code) => { console.log('STEP exit'); process.exit(code); },
  (e) => { console.log(`ERROR ${e && e.stack}`); console.log('RESULT error'); process.exit(1); },
);
