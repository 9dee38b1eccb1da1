#!/usr/bin/env bash
# Builds the raw-Vulkan cooperative-matrix test into DIR (default .dev):
# DIR/vkcoop (C, linked against libvulkan.so.1) and DIR/mm_{nv,khr,plain}_n{16,8}.spv.
# Needs gcc, glslangValidator and the Vulkan headers here:
#   apt-get install -y glslang-tools libvulkan-dev
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-.dev}
mkdir -p "$out"
for t in glslangValidator gcc python3; do command -v $t >/dev/null || { echo "vkcoop: $t missing (apt-get install -y glslang-tools libvulkan-dev)" >&2; exit 1; }; done
[ -f /usr/include/vulkan/vulkan.h ] || { echo "vkcoop: Vulkan headers missing (apt-get install -y libvulkan-dev)" >&2; exit 1; }
for n in 16 8; do
  glslangValidator -V --target-env vulkan1.3 -DNN=${n}u "$here/mm.comp" -o "$out/mm_nv_n$n.spv" >/dev/null
  python3 "$here/nv2khr.py" "$out/mm_nv_n$n.spv" "$out/mm_khr_n$n.spv"
  glslangValidator -V --target-env vulkan1.3 -DNN=${n}u "$here/mm_plain.comp" -o "$out/mm_plain_n$n.spv" >/dev/null
done
gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -o "$out/vkcoop" "$here/vkcoop.c" -lvulkan
echo "vkcoop built in $out"
