// Command webfuser inspects the WebGPU device, verifies golden cases,
// benchmarks the kernels, runs a DiT block and serves the browser demo.
//
//	webfuser info
//	webfuser verify [--device gpu|cpu] PATH...
//	webfuser bench [--shape 8,4096,3072] [--dtypes f32,bf16] [--checked] [--json FILE] [--svg FILE] [--torch FILE]
//	webfuser bench block [--size dit,wan | --dim D --heads H --seq S] [--json FILE] [--svg FILE] [--torch FILE]
//	webfuser run [--dim 256] [--heads 4] [--seq 64] [--batch 2] [--dtype f32] [--check full|sample|none]
//	webfuser tune [--rows 1,4,8,16,0] [--weights f32,bf16,fp8_e4m3] [--small] [--out FILE]
//	webfuser serve [--addr 127.0.0.1:8080]
package main

import (
	"fmt"
	"os"
)

const usage = `usage: webfuser <command> [flags]

commands:
  info                     print the adapter, backend, driver, features and limits
  verify [--device gpu|cpu] PATH...
                           run golden cases (files or folders); exit 1 on any failure
  bench [flags]            time the memory-bound kernels against a copy on the same
                           device, after a warm-up until the copy is stable
  bench block [flags]      time the DiT block (presets dit and wan, or --dim --heads --seq)
                           with a per-kernel breakdown from GPU timestamps
  run [--dim D] [--heads H] [--seq S] [--batch B] [--dtype f32|f16|bf16] [--check full|sample|none]
                           run a DiT block with random weights on the GPU, check it
                           against the CPU reference (every row, or a sample of rows at
                           large sizes), print the error and the GPU time;
                           exit 1 when the error is outside the spec's tolerance
  generate [--class N] [--seed S] [--steps K] [--cfg G] [--out clip.gif] [--weights FILE] [--no-check]: sample a clip from the video DiT (GIF + PNG strip)
  tune [--rows R] [--weights W] [--small] [--out FILE]
                           time every candidate matmul tile of each class of product on
                           this device and cache the fastest per adapter; the other
                           commands apply the cached table (WEBFUSER_TUNING=off: not;
                           =PATH: that file)
  serve [--addr ADDR]      serve the browser demo
  wgsl OP [--dtype f32|f16|bf16] [--shape 2,8,64]
                           print the assembled WGSL of every kernel OP launches
                           for that dtype and shape on this device
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "info":
		err = info(os.Args[2:])
	case "verify":
		var ok bool
		ok, err = verify(os.Args[2:])
		if err == nil && !ok {
			os.Exit(1)
		}
	case "bench":
		err = bench(os.Args[2:])
	case "run":
		var ok bool
		ok, err = runBlock(os.Args[2:])
		if err == nil && !ok {
			os.Exit(1)
		}
	case "generate":
		var ok bool
		if ok, err = generate(os.Args[2:], os.Stdout, os.Stderr); err == nil && !ok {
			os.Exit(1)
		}
	case "tune":
		err = tune(os.Args[2:], os.Stdout, os.Stderr)
	case "serve":
		err = serve(os.Args[2:])
	case "wgsl":
		err = wgslCmd(os.Args[2:], os.Stdout)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "webfuser: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webfuser:", err)
		os.Exit(1)
	}
}
