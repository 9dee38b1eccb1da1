"""Timing shared by the PyTorch baselines (dit_block_torch.py,
torch_baseline.py), with the rules of `webfuser bench`'s harness so that
both sides of a comparison are measured alike:

- CUDA events around `reps` calls; medians over trials.
- Warm-up: time a 256 MB device copy until three consecutive trials agree
  within 3% (at most `cap` seconds; the report says whether it settled).
  An idle H200 drops its SM clock within a second, and a cold process
  measured a copy at 1.7 TB/s, then 4.2 TB/s a second later.
- Each trial times the copy right before the work; a trial whose copy is
  below 0.9x the best copy seen (the highest median of three consecutive
  copies) is run again, at most three times.
"""
import datetime
import statistics
import sys
import time

import torch

WINDOW, TOL, FLOOR, RETRIES = 3, 0.03, 0.9, 3


def time_calls(fn, reps):
    """Seconds per call of fn, from CUDA events around reps calls."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / reps


class Harness:
    """A device copy kept beside every measurement."""

    def __init__(self, copy_mb=256, cap=30.0, copy_reps=10):
        n = copy_mb * (1 << 20) // 4
        self.src = torch.randn(n, device="cuda", dtype=torch.float32)
        self.dst = torch.empty_like(self.src)
        self.nbytes = 2 * 4 * n  # read + write
        self.cap, self.copy_reps = cap, copy_reps
        self.recent, self.best = [], 0.0

    def copy_bw(self):
        """Times one copy trial; returns its bandwidth in bytes/s."""
        bw = self.nbytes / time_calls(lambda: self.dst.copy_(self.src), self.copy_reps)
        self.recent = (self.recent + [bw])[-WINDOW:]
        self.best = max(self.best, sorted(self.recent)[(len(self.recent) - 1) // 2])
        return bw

    def warm_up(self):
        """Times the copy until WINDOW trials agree within TOL, or cap seconds pass."""
        start, bws = time.monotonic(), []
        while True:
            bws.append(self.copy_bw())
            if len(bws) < WINDOW:
                continue
            last = bws[-WINDOW:]
            spread = max(last) / min(last) - 1
            elapsed = time.monotonic() - start
            if spread <= TOL or elapsed >= self.cap:
                return {"trials": len(bws), "elapsed_ns": int(elapsed * 1e9), "stable": spread <= TOL,
                        "copy_gbs": bws[-1] / 1e9, "spread": spread}

    def trial(self, fn, reps):
        """A copy, then reps calls of fn; run again while the copy is low.
        Returns (seconds per call, copy bytes/s, repeats, still low)."""
        for r in range(RETRIES + 1):
            bw = self.copy_bw()
            t = time_calls(fn, reps)
            low = bw < FLOOR * self.best
            if not low or r == RETRIES:
                return t, bw, r, low

    def measure(self, fn, trials, reps):
        """Median seconds per call of fn over trials, each next to a copy."""
        fn()
        torch.cuda.synchronize()
        res = [self.trial(fn, reps) for _ in range(trials)]
        return {"seconds": statistics.median(r[0] for r in res),
                "copy_gbs": statistics.median(r[1] for r in res) / 1e9,
                "repeats": sum(r[2] for r in res), "low_trials": sum(1 for r in res if r[3])}


def warm_text(w):
    state = f"stable: the last {WINDOW} within {100 * w['spread']:.1f}%" if w["stable"] else \
        f"NOT stable when the time cap was reached (last {WINDOW} spread {100 * w['spread']:.1f}%)"
    return f"warm-up: {w['trials']} copy trials in {w['elapsed_ns'] / 1e9:.2f}s, copy {w['copy_gbs']:.0f} GB/s, {state}"


def report(tool, warmups, rows):
    """The JSON report `webfuser bench --torch` reads (cmd/webfuser/bench_report.go)."""
    return {"tool": tool, "device": torch.cuda.get_device_name(), "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
            "command": " ".join(["python3"] + sys.argv), "warmup": warmups, "rows": rows}
