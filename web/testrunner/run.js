// Runs a GOOS=js GOARCH=wasm binary (usually a test binary) in node with
// Dawn's WebGPU as navigator.gpu. Arguments: wasm_exec.js, the binary, its
// arguments. Modelled on Go's lib/wasm/wasm_exec_node.js.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const [wasmExec, binary, ...args] = process.argv.slice(2);
if (!binary) {
	console.error("usage: run.js WASM_EXEC_JS BINARY [ARGS...]");
	process.exit(2);
}

const root = path.resolve(__dirname, "..", "..");
let webgpu;
try {
	// WEBGPU_MODULE: the package's index.js where it is not under the root (the NVIDIA machine).
	webgpu = require(process.env.WEBGPU_MODULE || require.resolve("webgpu", { paths: [root, process.cwd()] }));
} catch (e) {
	console.error(`webfuser testrunner: cannot load the "webgpu" npm package (${e.message}); run \`npm ci\` in ${root}`);
	process.exit(2);
}

// Dawn's WebGPU globals (GPUBufferUsage, ...) and an instance. The
// instance keeps node alive while it is referenced, so exit drops it.
Object.assign(globalThis, webgpu.globals);
// allow_unsafe_apis lets Dawn offer experimental features such as
// chromium-experimental-subgroup-matrix (tensor cores, issue 13); the
// library requests only those it uses. vulkan_enable_f16_on_nvidia makes
// Dawn offer shader-f16 on NVIDIA's Vulkan driver, which it withholds by
// default (bench/subgroup_matrix/README.md), so that the f16-products
// kernels compile through Tint there; other adapters ignore it.
// WEBFUSER_DAWN_FLAGS adds more create() flags, separated by spaces.
const dawnFlags = ["enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"];
if (process.env.WEBFUSER_DAWN_FLAGS) dawnFlags.push(...process.env.WEBFUSER_DAWN_FLAGS.split(" ").filter(Boolean));
let gpu = webgpu.create(dawnFlags);
Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });

globalThis.require = require;
globalThis.fs = fs;
globalThis.path = path;
globalThis.TextEncoder = require("util").TextEncoder;
globalThis.TextDecoder = require("util").TextDecoder;
globalThis.performance ??= require("perf_hooks").performance;
globalThis.crypto ??= require("crypto");

require(wasmExec);

const go = new Go();
go.argv = [binary, ...args];
go.env = Object.assign({ TMPDIR: os.tmpdir() }, process.env);
go.exit = (code) => {
	globalThis.navigator = undefined;
	gpu = null;
	process.exit(code);
};

WebAssembly.instantiate(fs.readFileSync(binary), go.importObject).then((result) => {
	// The binding's queue.writeBuffer reads Go's memory through this global.
	globalThis.wasm = result;
	process.on("exit", (code) => {
		if (code === 0 && !go.exited) {
			// deadlock: make Go print its goroutines
			go._pendingEvent = { id: 0 };
			go._resume();
		}
	});
	return go.run(result.instance);
}).catch((err) => {
	console.error(err);
	process.exit(1);
});
