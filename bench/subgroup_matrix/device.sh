#!/usr/bin/env bash
# Runs on the lent NVIDIA machine, from the repository root, with .dev/ carried
# (made here by bench/subgroup_matrix/pack.sh):
#   bash bench/subgroup_matrix/device.sh
# Writes to $OUT: subgroup_matrix.md (the table), subgroup_matrix_logs/,
# device_info.txt (driver, GPU, cooperative-matrix properties), vkcoop.txt
# (the same i8 multiply through raw Vulkan), kernel_log.txt (Xid lines, if readable).
# Takes at most about 8.5 minutes: give the device call a 540 s timeout.
set -u
start=$(date +%s)
root=$PWD
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
dev=$root/.dev
[ -f "$dev/node.xz" ] && [ -f "$dev/dawn.node.xz" ] || { echo "missing $dev/node.xz or $dev/dawn.node.xz: run bench/subgroup_matrix/pack.sh here and carry .dev" >&2; exit 1; }

unxz_to() { # unxz_to SRC DST: xz where the machine has it, else Python's lzma
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$1" "$2"; fi
}
w=/tmp/sm
pkg=$w/node_modules/webgpu
mkdir -p "$pkg/dist/linux-x64"
t0=$(date +%s)
unxz_to "$dev/node.xz" "$w/node" && chmod +x "$w/node"
unxz_to "$dev/dawn.node.xz" "$pkg/dist/linux-x64/dawn.node"
cp "$dev"/webgpu/* "$pkg/"
echo "unpacked in $(($(date +%s) - t0)) s: $("$w/node" --version)"

# Vulkan: a loader from .dev (or .vk), and the NVIDIA driver through EGL (no X server).
if [ -f "$dev/libvulkan.so.1" ]; then vk=$dev; else vk=$root/.vk; fi
export LD_LIBRARY_PATH=$vk:${LD_LIBRARY_PATH:-}
echo '{"file_format_version":"1.0.0","ICD":{"library_path":"libEGL_nvidia.so.0","api_version":"1.3.0"}}' >/tmp/nv_icd.json
export VK_ICD_FILENAMES=${SM_ICD:-/tmp/nv_icd.json} XDG_RUNTIME_DIR=/tmp   # SM_ICD: to try this script elsewhere
export NODE=$w/node WEBGPU_MODULE=$pkg/index.js WEBGPU_PKG=$pkg/package.json OUT

{
  echo "== nvidia-smi"
  nvidia-smi --query-gpu=name,driver_version,vbios_version,memory.total,clocks.sm --format=csv 2>&1
  nvidia-smi 2>&1 | head -4
  echo "== uname"; uname -a
  echo "== glibc"; ldd --version 2>&1 | head -1
  if command -v vulkaninfo >/dev/null 2>&1; then
    echo "== vulkaninfo (cooperative matrix)"
    vulkaninfo 2>&1 | grep -i -A40 'cooperative_matrix\|CooperativeMatrix' | head -120
  else
    echo "== vulkaninfo: not installed (vkcoop.txt lists the cooperative-matrix properties)"
  fi
} >"$OUT/device_info.txt" 2>&1
cat "$OUT/device_info.txt" | head -12

# Raw Vulkan: properties, then the i8 cooperative-matrix multiply, several submits in one process.
if [ -x "$dev/vkcoop" ]; then
  timeout 130 bash "$root/bench/subgroup_matrix/vkcoop/run.sh" "$dev" >"$OUT/vkcoop.txt" 2>&1
  tail -14 "$OUT/vkcoop.txt"
else
  echo "no .dev/vkcoop: raw-Vulkan test skipped" | tee "$OUT/vkcoop.txt"
fi

# The node variants get what is left of ~8 minutes (each may overrun by its own timeout).
export SM_BUDGET=${SM_BUDGET:-$((470 - ($(date +%s) - start)))}
echo "node variants: budget ${SM_BUDGET}s"
bash "$root/bench/subgroup_matrix/run.sh"

# GPU faults (Xid) land in the kernel log, if this container may read it.
{ dmesg 2>&1 | grep -i -E 'xid|nvrm' | tail -40; } >"$OUT/kernel_log.txt" 2>&1
head -5 "$OUT/kernel_log.txt"
cat "$OUT/subgroup_matrix.md" | sed -n '/^| variant/,/^$/p'
