#!/usr/bin/env bash
# Run HERE before `bash bench/device.sh w8a8` on the NVIDIA machine: packs
# into the git-ignored .dev/ what bench/subgroup_matrix/pack.sh packs (node,
# dawn.node, the webgpu package's loader, the Vulkan loader; about 31 MiB),
# then the GOOS=js test binaries of ./ops, ./gpu, ./models/dit
# (BenchmarkDiTBlockVariants, the W8A8 block test) and ./ops/attention
# (Sage), the GOOS=js webfuser (verify of the w8a8 and sage goldens
# through Dawn) and Go's wasm_exec.js (the NVIDIA machine has no Go).
# Carry only .dev (under 60 MiB in all).
set -eu
cd "$(dirname "$0")/.."
bash bench/subgroup_matrix/pack.sh
# The test binaries travel xz-compressed (ops: 8.6 MB -> 1.8 MB).
for p in ops:ops gpu:gpu dit:models/dit attention:ops/attention; do
  GOOS=js GOARCH=wasm go test -c -o .dev/${p%%:*}_js.test ./${p#*:}
  xz -f -T2 .dev/${p%%:*}_js.test
done
GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o .dev/webfuser_js.wasm ./cmd/webfuser
xz -f -T2 .dev/webfuser_js.wasm
mkdir -p .dev/goroot/lib/wasm
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" .dev/goroot/lib/wasm/
total=$(du -sb .dev | cut -f1)
echo "total $((total / 1024 / 1024)) MiB in .dev"
[ "$total" -lt $((60 * 1024 * 1024)) ] || { echo "over 60 MiB: drop .dev/vkcoop" >&2; exit 1; }
