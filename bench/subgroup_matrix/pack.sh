#!/usr/bin/env bash
# Run HERE (the build machine), from the repository root, before the device
# call: packs what the NVIDIA machine lacks into the git-ignored folder .dev/
#   .dev/node.xz            /usr/bin/node, xz -3
#   .dev/dawn.node.xz       node_modules/webgpu/dist/linux-x64/dawn.node, xz
#   .dev/webgpu/            the rest the webgpu package needs to load (index.js, package.json)
#   .dev/libvulkan.so.1     the Vulkan loader (the device has none)
#   .dev/vkcoop, .dev/*.spv the raw-Vulkan cooperative-matrix test (vkcoop.sh), if it builds
# Carry only .dev (the lead's .vk/ holds ~59 MB of other binaries: with .dev
# that passes the 64 MiB carry limit, so the loader travels in .dev/).
set -eu
cd "$(dirname "$0")/../.."
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || npm ci
rm -rf .dev
mkdir -p .dev/webgpu
xz -3 -T2 -c "$(readlink -f "$(command -v node)")" >.dev/node.xz
xz -T2 -c node_modules/webgpu/dist/linux-x64/dawn.node >.dev/dawn.node.xz
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .dev/webgpu/
loader=$(readlink -f /usr/lib/x86_64-linux-gnu/libvulkan.so.1 2>/dev/null || true)
if [ -z "$loader" ] || [ ! -f "$loader" ]; then
  apt-get install -y libvulkan1 >/dev/null
  loader=$(readlink -f /usr/lib/x86_64-linux-gnu/libvulkan.so.1)
fi
cp "$loader" .dev/libvulkan.so.1
if bash bench/subgroup_matrix/vkcoop/build.sh .dev; then
  echo "raw-Vulkan test built"
else
  echo "raw-Vulkan test NOT built (see above); the node reproducer does not need it"
fi
du -ab .dev | sort -k2
total=$(du -sb .dev | cut -f1)
echo "total $((total / 1024 / 1024)) MiB in .dev"
[ "$total" -lt $((45 * 1024 * 1024)) ] || { echo "over 45 MB" >&2; exit 1; }
