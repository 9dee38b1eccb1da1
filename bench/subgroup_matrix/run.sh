#!/usr/bin/env bash
# Runs each variant of repro.js in its own node process under a timeout and
# writes a markdown summary to $OUT/subgroup_matrix.md, full logs to
# $OUT/subgroup_matrix_logs/<variant>.txt.
#   bash bench/subgroup_matrix/run.sh                  # every variant, in priority order
#   bash bench/subgroup_matrix/run.sh base plain u8    # just these
# Environment: NODE (node binary, default node), OUT (default /tmp/out),
# SM_TIMEOUT (seconds per variant, default 15; big gets 3x), SM_BUDGET (stop
# starting variants after this many seconds, default 400), DAWN_FLAGS (extra
# create() flags for every variant, e.g. backend=null to check the WGSL here).
set -u
here=$(cd "$(dirname "$0")" && pwd)
NODE=${NODE:-node}
OUT=${OUT:-/tmp/out}
per=${SM_TIMEOUT:-15}
budget=${SM_BUDGET:-400}
logs=$OUT/subgroup_matrix_logs
md=$OUT/subgroup_matrix.md
mkdir -p "$logs"
ulimit -c 0 2>/dev/null || true

# Most telling first: the control, the base, then one change at a time.
all="plain base submits1 then_plain pipeline_only loadstore zero dispatch2 dispatch10 submits10 big
barrier workgroup u8 m16n8 second_pipeline async_pipeline destroy wait_done padded
no_robustness coop_robust stride_elems no_memory_model subgroups f16_nvidia dump"
# If base passes at 64^3 but big (4096^3) fails, the one-change variants are
# run again at 4096^3 (as NAME@4096) so that they vary a failing base.
again="submits1 then_plain loadstore zero dispatch2 barrier workgroup u8 m16n8 padded no_robustness
coop_robust stride_elems wait_done destroy"
if [ $# -gt 0 ]; then variants="$*"; else variants=$all; fi

now() { echo $(($(date +%s%N) / 1000000)); } # ms; no bc on the device
start=$(now)
{
  echo "# Subgroup-matrix reproducer ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "node: $("$NODE" --version 2>&1), webgpu: $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "${WEBGPU_PKG:-$here/../../node_modules/webgpu/package.json}" 2>/dev/null | head -1)"
  echo "${DAWN_FLAGS:+DAWN_FLAGS: $DAWN_FLAGS}"
  echo
  echo "Each variant runs in its own process (timeout ${per}s). exit: 0 ok, 1 wrong values or WebGPU error, 3 feature absent, 124 timeout (hang), 128+n signal n."
  echo
  echo "| variant | what changes | exit | outcome | rounds ok | s | last step | first error / result |"
  echo "|---|---|---|---|---|---|---|---|"
} >"$md"

details=""
second=0
while :; do
for tok in $variants; do
  v=${tok%@*}
  size=""
  [ "$tok" != "$v" ] && size=${tok#*@}
  if [ $(($(now) - start)) -gt $((budget * 1000)) ]; then
    echo "| $tok | | | skipped (budget ${budget}s spent) | | | | |" >>"$md"
    continue
  fi
  t=$per
  [ "$v" = big ] || [ -n "$size" ] && t=$((per * 3))
  log=$logs/$tok.txt
  t0=$(now)
  SM_SIZE=$size timeout -k 5 "$t" "$NODE" "$here/repro.js" --variant "$v" >"$log" 2>&1
  rc=$?
  ms=$(($(now) - t0))
  dt=$((ms / 1000)).$((ms % 1000 / 100))
  case $rc in
  0) outcome=ok ;;
  1) outcome=FAIL ;;
  2) outcome="bad usage" ;;
  3) outcome="feature absent" ;;
  124) outcome="HANG (timeout ${t}s)" ;;
  137) outcome="HANG (killed after timeout)" ;;
  *) if [ "$rc" -gt 128 ]; then outcome="CRASH SIG$(kill -l $((rc - 128)) 2>/dev/null)"; else outcome="exit $rc"; fi ;;
  esac
  result=$(grep -m1 '^RESULT' "$log" | cut -c8-)
  # After RESULT: did the process die on the way out?
  if grep -q '^RESULT ok' "$log" && [ "$rc" != 0 ]; then outcome="$outcome after RESULT ok"; fi
  why=$(grep -m1 '^VARIANT' "$log" | sed 's/^VARIANT [^:]*: //')
  rounds_ok=$(grep -c '^ROUND [0-9]* ok' "$log")
  rounds_all=$(grep -c '^ROUND' "$log")
  last=$(grep '^STEP' "$log" | tail -1 | cut -c6-)
  err=$(grep -v 'LOST reason=destroyed' "$log" | grep -m1 -E '^(ERROR|UNCAPTURED|LOST|COMPILE error)|Assertion|Segmentation|terminate called|FATAL|Fatal|Error:' | cut -c1-160)
  [ -z "$err" ] && err=$result
  err=${err//|/\\|}
  why=${why//|/\\|}
  [ -n "$size" ] && why="$why, at ${size}^3"
  echo "| $tok | $why | $rc | $outcome | $rounds_ok/$rounds_all | $dt | $last | $err |" >>"$md"
  echo "$tok: $outcome ($dt s) rounds $rounds_ok/$rounds_all; $err"
  if [ "$outcome" != ok ] && [ "$outcome" != "feature absent" ]; then
    details+=$'\n'"### $tok (exit $rc)"$'\n\n```\n'"$(grep -v '^PARAMS\|^FEATURES' "$log" | tail -n 14 | cut -c1-300)"$'\n```\n'
  fi
done
  # Second pass at 4096^3 when only the big case fails.
  if [ $second = 0 ] && [ $# = 0 ] && grep -q '^RESULT ok' "$logs/base.txt" 2>/dev/null &&
    [ -f "$logs/big.txt" ] && ! grep -q '^RESULT ok' "$logs/big.txt"; then
    second=1
    variants=$(for x in $again; do printf '%s@4096 ' "$x"; done)
    echo "base passes at 64^3 and big fails: the one-change variants again at 4096^3"
    echo "| | **base passes, big fails: again at 4096^3** | | | | | | |" >>"$md"
    continue
  fi
  break
done

{
  echo
  first=$logs/base.txt
  [ -f "$first" ] || first=$(ls "$logs"/*.txt 2>/dev/null | head -1)
  if [ -n "$first" ]; then
    echo "Adapter (from $(basename "$first")):"
    echo
    echo '```'
    grep -m1 '^ADAPTER' "$first"
    grep '^CONFIG' "$first"
    grep -m1 '^FEATURES' "$first" | cut -c1-600
    echo '```'
    if [ -f "$logs/f16_nvidia.txt" ]; then
      echo
      echo "With vulkan_enable_f16_on_nvidia:"
      echo
      echo '```'
      grep '^CONFIG\|^FEATURES' "$logs/f16_nvidia.txt" | cut -c1-600
      echo '```'
    fi
  fi
  if [ -n "$details" ]; then
    echo
    echo "## Tails of the runs that did not end ok"
    echo "$details"
  fi
  echo
  echo "Total $((($(now) - start) / 1000)) s."
} >>"$md"
echo "summary: $md"
