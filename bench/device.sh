#!/usr/bin/env bash
# Runs on the lent NVIDIA machine (device tool), from the repository root,
# with bin/webfuser (built here) and .vk/libvulkan.so.1 carried:
#   bash bench/device.sh goldens   # regenerate testdata/golden with PyTorch, verify on the GPU
#   bash bench/device.sh bench     # foundation benchmarks next to PyTorch
#   bash bench/device.sh dispatch  # fused against composed paths (needs bin/ops.test)
#   bash bench/device.sh membound  # memory-bound kernels and launch variants vs a copy (needs bin/ops.test)
#   bash bench/device.sh attention # S=4096 attention next to PyTorch SDPA (needs bin/attention.test)
#   bash bench/device.sh harness   # memory-bound kernels after a warm-up, copy beside every trial, next to PyTorch
#   bash bench/device.sh block     # the DiT block (dit and wan sizes, f32 and bf16) next to its PyTorch twin
#   bash bench/device.sh attnsweep # the shipped attention tile at S=4096 (dense, causal, grouped) and the planner at S=16384
#                                  # (dense, causal), f32 and bf16, then SDPA on the same cases (bench/attention_sdpa.py --sweep;
#                                  # needs bin/attention.test; under a minute)
#   bash bench/device.sh attnperf  # attention tile variants (launch.AttentionVariants) vs the shipped tile, f32/bf16, their tests, SDPA (needs bin/attention.test; ~2 min)
#   bash bench/device.sh limits    # matmul limit probes, f16 products, rotary flat vs rows, their tests (needs bin/ops.test; ~3 min)
#   bash bench/device.sh graph     # the video DiT's forward and sampler step, eager against graph mode (about 1 minute)
#   bash bench/device.sh w8a8      # int8 tensor cores through node + Dawn (shader-f16 on through vulkan_enable_f16_on_nvidia):
#                                  # W8A8 and f16-products tests, the W8A8 block test, the w8a8 goldens if testdata/golden/w8a8
#                                  # is there (run goldens first), BenchmarkW8A8, torch._int_mm
#                                  # (needs .dev from bench/w8a8_pack.sh, carried alone; ~5 min)
#   bash bench/device.sh sage      # Sage attention through node + Dawn: its tests, golden area 'sage' verified,
#                                  # BenchmarkSage, SDPA f32/f16/bf16, bench/sage_accuracy.py (same .dev; ~5 min)
#   bash bench/device.sh sagetiles # BenchmarkSage sweeping the tiled Sage kernel's tiles (same .dev; ~3 min)
#   bash bench/device.sh goldensjs # the w8a8 and sage golden areas through node + Dawn (needs .dev's js webfuser)
#   bash bench/device.sh w8a8block # BenchmarkDiTBlockVariants through node + Dawn: the DiT block exact / W8A8 / Sage / both, then its PyTorch twin
#                                  # (same .dev; its own call, a few minutes)
#   bash bench/device.sh attnlimits # the flash attention limit probes (BenchmarkAttentionLimits, f32 and bf16, S=4096 H=24 D=128)
#                                  # and their test, compiled by naga (native), then by Tint (node + Dawn) when .dev is there
#                                  # (needs bin/attention.test, and .dev from bench/w8a8_pack.sh for Tint; ~2 min + ~3 min)
#   bash bench/device.sh limitsjs  # the matmul limit probes compiled by naga (native) and by Tint (node + Dawn), same call
#                                  # (needs bin/ops.test and .dev from bench/w8a8_pack.sh)
#   bash bench/device.sh sweepjs   # BenchmarkMatmulSweep at 4096^3 f32, every candidate tile, native (naga) then node + Dawn
#                                  # (Tint; robustness as WEBFUSER_DAWN_FLAGS leaves it): the browser tile (same needs; ~3 min)
#   bash bench/device.sh dumpjs    # the SPIR-V Tint emits for the shipped f32 Blocked matmul on this GPU and its clamps
#                                  # per function (bench/tint_clamps.py; same needs, WEBFUSER_DAWN_FLAGS added; seconds)
#   bash bench/device.sh verify    # every golden case in testdata/golden through wgpu-native (needs bin/webfuser)
#   bash bench/device.sh skinny    # BenchmarkSkinnyLinear (GEMV tiles, limit probes: nox, noreduce, and for FP8 nodecode, loadonly, nonan; weights rotated past L2; serial rows,
#                                  # whose calls wait for each other as a model's layers do, for every tile) next to
#                                  # bench/skinny_torch.py, joined in $OUT/skinny.md (needs bin/ops.test; ~7 min for M = 1, 4, 8, 16 and
#                                  # every tile; SKINNY='BenchmarkSkinnyLinear/M=(4|8|16)/K=N=/w=(f32|bf16|fp8_e4m3)/(auto=|gemv[0-9]+x)'
#                                  # times the policy and the column-group tiles past one row, ~4 min; WEBFUSER_SKINNY_MODES=serial
#                                  # drops the overlapped auto rows, WEBFUSER_GEMV_TILES=BNxTN/Threads,... adds tiles,
#                                  # WEBFUSER_SKINNY_SHAPES=KxN,... replaces the square shapes, rows without a PyTorch twin)
#   bash bench/device.sh pipestats # the driver's registers, shared and local memory of every kernel the FMA, matmul and attention
#                                  # limit-probe tests compile (gpu.DumpEnv, naga, bench/pipestats.c,
#                                  # bench/pipestats.py; needs bin/ops.test, bin/attention.test, bin/naga, bin/pipestats; ~1 min)
#   bash bench/device.sh occupancy # BenchmarkMatmulOccupancy (Blocked tiles around the shipped one, 4096^3 f32) with each tile's
#                                  # registers from the driver (same needs as pipestats but attention.test; ~1 min)
#   bash bench/device.sh gap       # BenchmarkDispatchGap: what a call that depends on the one before costs, from copies (needs bin/ops.test; seconds)
#   bash bench/device.sh tune      # webfuser tune (every class: ~6 min; TUNE_ROWS=1,4,8,16 for the GEMV classes alone, ~4 min), then
#                                  # the table against the defaults at shapes it did not time (BenchmarkSkinnyLinear, serial, K=N=5120 and
#                                  # K=3072 N=12288, auto= and default= rows; needs bin/webfuser and bin/ops.test; ~40 s)
#   bash bench/device.sh parity    # TeleFuser-parity operators next to their PyTorch compositions, $OUT/parity.md (needs bin/ops.test)
# Output files go to $OUT. harness and block take about 1 and 5 minutes on an H200.
set -u
export LD_LIBRARY_PATH=$PWD/.vk:${LD_LIBRARY_PATH:-}
echo '{"file_format_version":"1.0.0","ICD":{"library_path":"libEGL_nvidia.so.0","api_version":"1.3.0"}}' >/tmp/nv_icd.json
export VK_ICD_FILENAMES=/tmp/nv_icd.json XDG_RUNTIME_DIR=/tmp
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
# dawn_setup unpacks node + Dawn (npm webgpu) and the GOOS=js test binaries
# from .dev (bench/w8a8_pack.sh) and points PATH, WEBGPU_MODULE and GOROOT
# at them; Dawn runs through the NVIDIA driver's Vulkan (EGL ICD above).
dawn_setup() {
  dev=$PWD/.dev w=/tmp/w8a8
  pkg=$w/node_modules/webgpu
  mkdir -p "$pkg/dist/linux-x64"
  unxz_to() { if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$1" "$2"; fi; }
  unxz_to "$dev/node.xz" "$w/node" && chmod +x "$w/node"
  unxz_to "$dev/dawn.node.xz" "$pkg/dist/linux-x64/dawn.node"
  cp "$dev"/webgpu/* "$pkg/"
  # The GOOS=js binaries .dev holds (a call near the carry limit may pack only some).
  for f in "$dev"/*_js.test.xz "$dev"/webfuser_js.wasm.xz; do
    [ -f "$f" ] && unxz_to "$f" "$w/$(basename "$f" .xz)"
  done
  [ -f "$dev/libvulkan.so.1" ] && export LD_LIBRARY_PATH=$dev:$LD_LIBRARY_PATH
  export PATH=$w:$PATH WEBGPU_MODULE=$pkg/index.js GOROOT=$dev/goroot
  run=web/testrunner/go_js_wasm_exec
}
for step in "$@"; do
  case $step in
  goldens)
    python3 testdata/gen_golden.py --out "$OUT/golden" ${GOLDEN_AREAS:-} >"$OUT/gen.log" 2>&1; tail -5 "$OUT/gen.log"
    (cd "$OUT" && tar czf golden.tgz golden && rm -rf golden)
    tar xzf "$OUT/golden.tgz" -C testdata   # this copy of the tree only: verify every area
    if [ -x ./bin/webfuser ]; then  # absent in a call that carries .dev alone (w8a8 then verifies through Dawn)
      ./bin/webfuser verify testdata/golden >"$OUT/verify_gpu.txt" 2>&1; tail -3 "$OUT/verify_gpu.txt"
      grep FAIL "$OUT/verify_gpu.txt" | head -20
    fi
    ;;
  verify)
    # Every golden case in the tree through the native path (wgpu-native).
    ./bin/webfuser verify testdata/golden >"$OUT/verify_native.txt" 2>&1; tail -2 "$OUT/verify_native.txt"
    grep FAIL "$OUT/verify_native.txt" | head -20
    ;;
  bench)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    ./bin/webfuser info
    ./bin/webfuser bench --checked 2>&1 | tee "$OUT/bench_foundation.md"
    python3 bench/torch_baseline.py 2>&1 | tee "$OUT/torch_baseline.md"
    ;;
  attention)
    WEBFUSER_BENCH_ATTENTION=1 ./bin/attention.test -test.run '^$' -test.bench 'BenchmarkAttention|BenchmarkBlockSparse' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/attention.txt"
    python3 bench/attention_sdpa.py 2>&1 | tee -a "$OUT/attention.txt"
    ;;
  attnsweep)
    WEBFUSER_BENCH_ATTENTION=1 ./bin/attention.test -test.run '^$' -test.bench 'BenchmarkAttentionSweep/(f32|bf16)/(dense|causal|gqa)/S[0-9]+/H[0-9_Hk]+/(planner|128x64)/8x4/d32/sb/fold/(union|late)' -test.benchtime 1x 2>&1 | grep '^sweep' | tee "$OUT/attention.txt"
    python3 bench/attention_sdpa.py --sweep 2>&1 | tee -a "$OUT/attention.txt"
    ;;
  attnperf)
    # The variants' reference and guard-region checks first (those over
    # lavapipe's 32 KiB run only here), then the timing.
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    ./bin/attention.test -test.short -test.run 'TestTiledVariantsMatchReference|TestTiledCandidatesCompile' 2>&1 | grep -v '^=== \|^    --- PASS' | tail -15 | tee "$OUT/attnperf_tests.txt"
    WEBFUSER_BENCH_ATTENTION=variants ./bin/attention.test -test.run '^$' -test.bench 'BenchmarkAttentionSweep' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu\|^Benchmark' | tee "$OUT/attnperf.txt"
    python3 bench/attention_sdpa.py 2>&1 | tee -a "$OUT/attnperf.txt"
    ;;
  harness)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    python3 bench/torch_baseline.py --json "$OUT/torch_baseline.json" 2>&1 | tee "$OUT/torch_baseline.md"
    torch=""; [ -s "$OUT/torch_baseline.json" ] && torch="--torch $OUT/torch_baseline.json"
    ./bin/webfuser bench --json "$OUT/bench.json" --svg "$OUT/bench_roofline.svg" $torch 2>&1 | tee "$OUT/bench.md"
    ;;
  block)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    python3 bench/dit_block_torch.py --size dit,wan --json "$OUT/block_torch.json" 2>&1 | tee "$OUT/block_torch.md"
    torch=""; [ -s "$OUT/block_torch.json" ] && torch="--torch $OUT/block_torch.json"
    ./bin/webfuser bench block --size dit,wan --dtypes f32,bf16 --json "$OUT/block.json" --svg "$OUT/block_roofline.svg" $torch 2>&1 | tee "$OUT/block.md"
    ;;
  graph)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    ./bin/webfuser bench graph --trials 5 --reps 20 --steps 20 2>&1 | tee "$OUT/graph.md"
    ./bin/webfuser generate --class 16 --seed 1 --steps 20 --no-check --graph off --out "$OUT/eager.gif" 2>/dev/null | grep sampled | sed 's/^/eager: /' | tee -a "$OUT/graph.md"
    ./bin/webfuser generate --class 16 --seed 1 --steps 20 --no-check --graph on --out "$OUT/graph.gif" 2>/dev/null | grep sampled | sed 's/^/graph: /' | tee -a "$OUT/graph.md"
    cmp "$OUT/eager.gif" "$OUT/graph.gif" && echo "eager and graph clips: identical" | tee -a "$OUT/graph.md"
    ;;
  membound)
    # The bf16 candidates' tests first (fma rounding, erfc GELU, paired
    # norm rows, store=fma in every kernel; under a minute), then the
    # benchmark, which times every candidate with a copy beside it.
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/membound.txt"
    ./bin/ops.test -test.short -test.run 'TestFMARoundingIsExact|TestFloatPipeRoundingIsExact|TestGELUFormsMatchFloat64|TestActivationUnitsVariants|TestGatedUnitsVariants|TestNormModulateFastPaths|TestRMSNormPairedRows|TestRotaryRowsVariants|TestStreamNonFiniteInputs' 2>&1 | tail -20 | tee -a "$OUT/membound.txt"
    ./bin/ops.test -test.run '^$' -test.bench BenchmarkMemoryBound -test.benchtime 10x 2>&1 | tee -a "$OUT/membound.txt"
    ;;
  limits)
    # Each matmul benchmark keeps the GPU busy for 300 ms before it measures
    # (warmMeasure); BenchmarkMemoryBound times a copy beside every kernel.
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    ./bin/ops.test -test.run '^$' -test.bench 'BenchmarkMatmulLimits|BenchmarkMatmulF16Math' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/limits.txt"
    python3 bench/torch_matmul4096.py 2>&1 | tee -a "$OUT/limits.txt"
    ./bin/ops.test -test.run '^$' -test.bench 'BenchmarkMemoryBound/./rotary' -test.benchtime 10x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/rotary.txt"
    ./bin/ops.test -test.short -test.run 'TestLinearF16Math|TestMatmulLimitProbes|TestRotaryFlatKernel|TestRotaryRowsVariants|TestRotaryMatchesReference|TestLinearEveryTile' 2>&1 | tail -15 | tee "$OUT/limits_tests.txt"
    ;;
  sage)
    # Sage attention (int8 QK^T; tensor cores where Dawn lists i8
    # configurations): its tests against ops/ref, the golden area 'sage'
    # (SAGE_REGEN=1: generated anew here with PyTorch) verified through node + Dawn,
    # BenchmarkSage, then the formula's accuracy and SDPA's timing.
    dawn_setup
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    timeout 150 $run "$w/attention_js.test" -test.v -test.short -test.run 'TestSage' 2>&1 | grep -v '^=== RUN\|--- PASS: TestSageTiledCompiles/' | tail -40 | tee "$OUT/sage_tests.txt"
    timeout 60 $run "$w/ops_js.test" -test.short -test.run 'TestSequenceMean|TestQuantizeInt8|TestPerBlockInt8' 2>&1 | tail -5 | tee -a "$OUT/sage_tests.txt"
    if [ -n "${SAGE_REGEN:-}" ]; then  # make the area anew with PyTorch (it is committed: testdata/golden/sage)
      timeout 60 python3 testdata/gen_golden.py --out "$OUT/golden" sage 2>&1 | tail -2
      (cd "$OUT" && tar czf golden_sage.tgz golden && rm -rf golden)
      tar xzf "$OUT/golden_sage.tgz" -C testdata
    fi
    timeout 100 $run "$w/webfuser_js.wasm" verify testdata/golden/sage 2>&1 | tail -20 | tee "$OUT/sage_verify.txt"
    timeout 150 $run "$w/attention_js.test" -test.run '^$' -test.bench BenchmarkSage -test.benchtime 1x -test.v 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/sage_bench.txt"
    timeout 30 python3 bench/attention_sdpa.py 2>&1 | tee -a "$OUT/sage_bench.txt"
    timeout 60 python3 bench/sage_accuracy.py 2>&1 | tee "$OUT/sage_accuracy.md"
    ;;
  sagetiles)
    # BenchmarkSage with every tile of the tiled Sage kernel (WEBFUSER_BENCH_SAGE=tiles).
    dawn_setup
    WEBFUSER_BENCH_SAGE=tiles timeout 400 $run "$w/attention_js.test" -test.run '^$' -test.bench BenchmarkSage -test.benchtime 1x -test.v 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/sage_tiles.txt"
    ;;
  w8a8)
    dawn_setup
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    echo "node $(node --version)"
    timeout 40 $run "$w/gpu_js.test" -test.v -test.run 'TestJSAdapterInfoAndFeatures|TestJSSubgroupMatrixFeature' 2>&1 | tail -8 | tee "$OUT/w8a8_tests.txt"
    timeout 200 $run "$w/ops_js.test" -test.v -test.short -test.run 'TestQuantizeInt8MatchesReference|TestLinearW8A8|TestW8A8Dequantize|TestChooseW8A8|TestTransposeCodes|TestLinearModes|TestLinearF16Math|TestLinearPrecision' 2>&1 | grep -v '^=== RUN\|^    --- PASS' | tail -60 | tee -a "$OUT/w8a8_tests.txt"
    timeout 120 $run "$w/dit_js.test" -test.v -test.short -test.run 'TestBlockW8A8|TestBlockMatchesReference' 2>&1 | grep -v '^=== RUN' | tail -20 | tee -a "$OUT/w8a8_tests.txt"
    if [ -d testdata/golden/w8a8 ]; then
      timeout 120 $run "$w/webfuser_js.wasm" verify testdata/golden/w8a8 >"$OUT/w8a8_verify_dawn.txt" 2>&1; head -1 "$OUT/w8a8_verify_dawn.txt"; tail -1 "$OUT/w8a8_verify_dawn.txt"
      grep FAIL "$OUT/w8a8_verify_dawn.txt" | head -10
    fi
    timeout 270 $run "$w/ops_js.test" -test.run '^$' -test.bench BenchmarkW8A8 -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/w8a8_bench.txt"
    timeout 90 python3 bench/int8_torch.py 2>&1 | tee -a "$OUT/w8a8_bench.txt"
    ;;
  goldensjs)
    # The tensor-core golden areas (w8a8, sage) through node + Dawn with the js webfuser alone.
    dawn_setup
    for a in w8a8 sage; do
      timeout 120 $run "$w/webfuser_js.wasm" verify testdata/golden/$a >"$OUT/verify_dawn_$a.txt" 2>&1; head -1 "$OUT/verify_dawn_$a.txt"; tail -1 "$OUT/verify_dawn_$a.txt"
      grep FAIL "$OUT/verify_dawn_$a.txt" | head -10
    done
    ;;
  w8a8block)
    dawn_setup
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    timeout 540 $run "$w/dit_js.test" -test.run '^$' -test.bench BenchmarkDiTBlockVariants -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/w8a8_block.txt"
    # The PyTorch twin of the same block (D=3072 H=24 S=4096) in the same call.
    timeout 240 python3 bench/dit_block_torch.py --size dit --json "$OUT/w8a8_block_torch.json" 2>&1 | tee -a "$OUT/w8a8_block.txt"
    ;;
  limitsjs)
    # The f32 matmul limit probes compiled by naga (native) and by Tint
    # (node + Dawn) on the same GPU in one call: is the FMA-rate limit of
    # bench/matmul.md the WGSL compiler's or the driver's? Needs bin/ops.test
    # and .dev from bench/w8a8_pack.sh.
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    ./bin/ops.test -test.run '^$' -test.bench 'BenchmarkMatmulLimits' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | sed 's/^/naga: /' | tee "$OUT/limitsjs.txt"
    dawn_setup
    timeout 300 $run "$w/ops_js.test" -test.run '^$' -test.bench 'BenchmarkMatmulLimits' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | sed "s/^/tint${WEBFUSER_DAWN_FLAGS:+[$WEBFUSER_DAWN_FLAGS]}: /" | tee -a "$OUT/limitsjs.txt"
    ;;
  attnlimits)
    # What limits dense flash attention: the shipped tile with QKᵀ,
    # softmax, PV or the global loads taken out (ops/attention/limits_test.go),
    # TFLOP/s of the full 4·S²·H·D and ms, naga then (with .dev) Tint.
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/attnlimits.txt"
    ./bin/attention.test -test.run 'TestAttentionLimitProbes' 2>&1 | tail -3 | sed 's/^/naga test: /' | tee -a "$OUT/attnlimits.txt"
    ./bin/attention.test -test.run '^$' -test.bench 'BenchmarkAttentionLimits' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu\|^Benchmark' | sed 's/^/naga: /' | tee -a "$OUT/attnlimits.txt"
    if [ -d .dev ]; then
      dawn_setup
      timeout 400 $run "$w/attention_js.test" -test.run '^$' -test.bench 'BenchmarkAttentionLimits' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu\|^Benchmark' | sed "s/^/tint${WEBFUSER_DAWN_FLAGS:+[$WEBFUSER_DAWN_FLAGS]}: /" | tee -a "$OUT/attnlimits.txt"
    fi
    ;;
  sweepjs)
    # Every candidate tile of the f32 matmul at 4096^3 compiled by naga and
    # by Tint, robustness on unless WEBFUSER_DAWN_FLAGS turns it off: the
    # tile to pick for browsers. Needs bin/ops.test and .dev (bench/w8a8_pack.sh).
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    f='BenchmarkMatmulSweep/^4096x4096x4096$/^f32$'
    ./bin/ops.test -test.run '^$' -test.bench "$f" -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | sed 's/^/naga: /' | tee "$OUT/sweepjs.txt"
    dawn_setup
    timeout 400 $run "$w/ops_js.test" -test.run '^$' -test.bench "$f" -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | sed "s/^/tint${WEBFUSER_DAWN_FLAGS:+[$WEBFUSER_DAWN_FLAGS]}: /" | tee -a "$OUT/sweepjs.txt"
    ;;
  dumpjs)
    # The shipped tile's kernel through node + Dawn with dump_shaders: what
    # Dawn's robustness leaves in it on this driver (OpArrayLength: storage
    # clamped by Tint, not by robustBufferAccess2). Needs .dev.
    # Dawn keeps the last enable-dawn-features flag: add the dump toggles to
    # the caller's, or to the test runner's defaults.
    dawn_setup
    dump=dump_shaders,disable_symbol_renaming f=${WEBFUSER_DAWN_FLAGS:-}
    case $f in
    *enable-dawn-features=*) f=${f/enable-dawn-features=/enable-dawn-features=$dump,} ;;
    *) f="enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia,$dump $f" ;;
    esac
    WEBFUSER_DAWN_FLAGS=$f timeout 120 $run "$w/ops_js.test" -test.short -test.v -test.run 'TestMatmulLimitProbes/.*/.*/.*/.*/^shipped$' >"$OUT/dumpjs.txt" 2>&1
    grep -E '^(---|ok|PASS|FAIL)' "$OUT/dumpjs.txt" | head -5
    python3 bench/tint_clamps.py "$OUT/dumpjs.txt" | tee "$OUT/dumpjs_clamps.txt"
    ;;
  parity)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    ./bin/ops.test -test.run '^$' -test.bench BenchmarkParity -test.benchtime 10x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/parity_go.txt"
    python3 bench/parity_torch.py --go "$OUT/parity_go.txt" 2>&1 | tee "$OUT/parity.md"
    ;;
  skinny)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
    ./bin/ops.test -test.run '^$' -test.bench "${SKINNY:-BenchmarkSkinnyLinear}" -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/skinny_go.txt"
    python3 bench/skinny_torch.py --go "$OUT/skinny_go.txt" 2>&1 | tee "$OUT/skinny.md"
    ;;
  pipestats)
    dump=/tmp/wgsl_dump; rm -rf "$dump"; mkdir -p "$dump"
    WEBFUSER_DUMP_WGSL=$dump ./bin/ops.test -test.run "${PIPESTATS_OPS:-TestFMAPeakProbes|TestFMATileProbes|TestMatmulLimitProbes}" 2>&1 | tail -1
    WEBFUSER_DUMP_WGSL=$dump ./bin/attention.test -test.run "${PIPESTATS_ATTENTION:-TestAttentionLimitProbes}" 2>&1 | tail -1
    ls "$dump" | wc -l
    timeout 240 python3 bench/pipestats.py "$dump" | tee "$OUT/pipestats.md"
    ;;
  occupancy)
    dump=/tmp/wgsl_occ; rm -rf "$dump"; mkdir -p "$dump"
    WEBFUSER_DUMP_WGSL=$dump ./bin/ops.test -test.run '^$' -test.bench 'BenchmarkMatmulOccupancy' -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/occupancy.txt"
    timeout 120 python3 bench/pipestats.py "$dump" | tee -a "$OUT/occupancy.txt"
    ;;
  tune)
    ./bin/webfuser tune --rows "${TUNE_ROWS:-1,4,8,16,0}" --out "$OUT/tuning.json" 2>"$OUT/tune.err" | tee "$OUT/tune.md"
    WEBFUSER_TUNING="$OUT/tuning.json" WEBFUSER_SKINNY_MODES=serial WEBFUSER_SKINNY_SHAPES=5120x5120,3072x12288 \
      ./bin/ops.test -test.run '^$' -test.bench 'BenchmarkSkinnyLinear/./^K=/^w=(f32|bf16|fp8_e4m3)$/^(auto|default)=/./^serial$' \
      -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/tune_check.txt"
    ;;
  gap)
    ./bin/ops.test -test.run '^$' -test.bench BenchmarkDispatchGap -test.benchtime 1x 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee "$OUT/gap.txt"
    ;;
  dispatch)
    ./bin/ops.test -test.run '^$' -test.bench BenchmarkDispatch -test.benchtime 10x 2>&1 | grep -v '^    dispatch_test' | tee "$OUT/dispatch.txt"
    ;;
  esac
done
