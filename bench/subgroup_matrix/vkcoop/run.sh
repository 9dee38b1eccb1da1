#!/usr/bin/env bash
# Runs the raw-Vulkan test (built by build.sh into DIR) on the NVIDIA machine:
# the cooperative-matrix properties, then the i8 multiply through the KHR form
# (what Dawn emits) and the NV form, each case in its own process with a timeout,
# several submits per process. Usage: run.sh DIR
set -u
d=${1:-.dev}
timeout 30 "$d/vkcoop" props
echo
printf '| case | exit | outcome | rounds ok | last line |\n|---|---|---|---|---|\n' >/tmp/vkcoop_table.md
while read -r name spv mode n size rounds disp; do
  [ -z "$name" ] && continue
  log=/tmp/vkcoop_$name.txt
  timeout -k 3 12 "$d/vkcoop" run "$d/$spv" "$mode" "$n" "$size" "$rounds" "$disp" >"$log" 2>&1
  rc=$?
  case $rc in 0) o=ok ;; 1) o=FAIL ;; 3) o="extension absent" ;; 124 | 137) o=HANG ;; *) if [ $rc -gt 128 ]; then o="CRASH SIG$(kill -l $((rc - 128)))"; else o="exit $rc"; fi ;; esac
  echo "== $name: $o (exit $rc)"
  grep -v '^KHR \|^NV  \|^DEVICE\|^EXT' "$log" | tail -8
  echo "| $name | $rc | $o | $(grep -c '^ROUND [0-9]* ok' "$log")/$(grep -c '^ROUND' "$log") | $(tail -1 "$log" | cut -c1-120) |" >>/tmp/vkcoop_table.md
done <<'CASES'
plain_n16_64 mm_plain_n16.spv plain 16 64 3 1
khr_n16_64 mm_khr_n16.spv khr 16 64 3 1
khr_n16_64_x10 mm_khr_n16.spv khr 16 64 10 10
khr_n8_64 mm_khr_n8.spv khr 8 64 3 1
nv_n16_64 mm_nv_n16.spv nv 16 64 3 1
nv_n8_64 mm_nv_n8.spv nv 8 64 3 1
khr_n16_4096 mm_khr_n16.spv khr 16 4096 3 2
nv_n16_4096 mm_nv_n16.spv nv 16 4096 3 2
CASES
echo
cat /tmp/vkcoop_table.md
