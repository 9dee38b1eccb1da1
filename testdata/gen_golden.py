#!/usr/bin/env python3
"""Writes WebFuser's golden cases with PyTorch.

Each area module (golden_<area>.py beside this file) defines
generate(emit, torch). emit() stores one case in the spec's format
(shared/spec/ops.md): a safetensors file with metadata op, attrs (JSON),
optional atol/rtol/note, inputs in.NAME and expected outputs out.NAME.
Expected outputs must come from float64 math on the stored inputs, cast to
the output dtype at the end.

Usage: python3 testdata/gen_golden.py [--out testdata/golden] [area ...]
"""
import argparse
import glob
import importlib.util
import json
import os
import zlib
import sys
import traceback

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "golden"))
    ap.add_argument("areas", nargs="*")
    args = ap.parse_args()
    torch.manual_seed(0)
    mods = sorted(glob.glob(os.path.join(HERE, "golden_*.py")))
    total = 0
    failed = []
    for path in mods:
        area = os.path.basename(path)[len("golden_"):-3]
        if args.areas and area not in args.areas:
            continue
        spec = importlib.util.spec_from_file_location("golden_" + area, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        outdir = os.path.join(args.out, area)
        os.makedirs(outdir, exist_ok=True)
        for old in glob.glob(os.path.join(outdir, "*.safetensors")):
            os.remove(old)
        names = set()

        def emit(name, op, attrs, inputs, outputs, atol=None, rtol=None, note=""):
            if name in names:
                raise ValueError("duplicate case name " + name)
            names.add(name)
            meta = {"op": op, "attrs": json.dumps(attrs, sort_keys=True)}
            if atol is not None:
                meta["atol"] = repr(float(atol))
            if rtol is not None:
                meta["rtol"] = repr(float(rtol))
            if note:
                meta["note"] = note
            # Each tensor gets storage of its own: current safetensors
            # refuses tensors that share memory (views of one split, an
            # output that is its input).
            tensors = {}
            for k, v in inputs.items():
                if v is not None:
                    tensors["in." + k] = v.detach().cpu().clone().contiguous()
            for k, v in outputs.items():
                tensors["out." + k] = v.detach().cpu().clone().contiguous()
            save_file(tensors, os.path.join(outdir, name + ".safetensors"), metadata=meta)

        torch.manual_seed(zlib.crc32(area.encode()))
        try:
            mod.generate(emit, torch)
        except Exception:
            traceback.print_exc()
            failed.append(area)
        print(f"{area}: {len(names)} cases", file=sys.stderr)
        total += len(names)
    print(f"{total} cases written to {args.out}", file=sys.stderr)
    if failed:
        sys.exit("generation failed in: " + ", ".join(failed))


if __name__ == "__main__":
    main()
