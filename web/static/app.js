// The page side of the WebFuser demo. The Go WebAssembly module
// (web/wasm) does the work and reports through globalThis.webfuserUI;
// this file draws what it reports. When a run ends, globalThis.webfuserDone
// holds the summary ({passed, failed, skipped, error, unavailable}); the
// browser test waits for it. A file the visitor chooses is checked for
// size here, before it is read, and then handed to the module
// (webfuserCheckFile), whose verdict ends in globalThis.webfuserFile.
// The Generate button hands the chosen class, seed, steps and guidance to
// the module (webfuserGenerate), which fetches the video DiT's weights
// from weightsURL once, samples on the GPU and reports each step; the
// clip then plays in a canvas, its frames side by side below, and
// globalThis.webfuserClip holds its description ({class, name, seed,
// steps, ms, linear, ...} or {error}); globalThis.webfuserProgress lists
// the steps reported so far. globalThis.webfuserLinear says which linear
// layers the model uses on this adapter: "w8a8" (int8 tensor cores) or
// "exact", also shown in the adapter panel. The Tune button has the
// module time the matmul tiles on this GPU (webfuserTune) and keep the
// table in localStorage, applied on later visits;
// globalThis.webfuserTuning holds the report of the table in use
// ({applied, date, classes, changed, why}), with error after a run that
// failed or was stopped.
"use strict";

const $ = (id) => document.getElementById(id);
const results = [];
globalThis.webfuserResults = results; // every result so far, for tests

function setStatus(text, cls) {
	const s = $("status");
	s.textContent = text;
	s.className = cls || "";
}

function esc(s) {
	return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

function fmtMs(v) {
	if (!(v > 0)) return "–";
	return v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0);
}

function rowId(name) {
	return "op-" + name.replace(/[^A-Za-z0-9]/g, "_");
}

// The video DiT's weights, served by `webfuser serve` (web.WeightsURL).
const weightsURL = "models/videodit.safetensors";
const clipScale = 8; // canvas pixels per clip pixel
let player = 0; // the interval that plays the clip

function setGenStatus(text, cls) {
	const s = $("gen-status");
	s.textContent = text;
	s.className = cls || "";
}

function fillSelect(sel, names) {
	sel.innerHTML = names.map((n, i) => `<option value="${i}">${esc(n)}</option>`).join("");
}

function startGenerate(e) {
	if (e) e.preventDefault();
	if (typeof globalThis.webfuserGenerate !== "function") return setGenStatus("the WebAssembly module is not running", "bad");
	const num = (id) => Number($(id).value);
	const req = {
		weights: weightsURL, shape: num("gen-shape"), color: num("gen-color"), direction: num("gen-direction"),
		seed: num("gen-seed"), steps: num("gen-steps"), cfg: num("gen-cfg"),
	};
	globalThis.webfuserClip = undefined;
	globalThis.webfuserProgress = [];
	$("generate").disabled = true;
	$("gen-progress").max = req.steps > 0 ? req.steps : 1;
	$("gen-progress").value = 0;
	setGenStatus("starting…", "pending");
	globalThis.webfuserGenerate(req);
}

// showClip draws every frame side by side in the strip and plays them in
// the big canvas, 8 frames a second, looping.
function showClip(meta, rgba) {
	const { frames, width: w, height: h } = meta;
	const frame = (f) => new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + f * w * h * 4, w * h * 4), w, h);
	const small = document.createElement("canvas");
	small.width = w;
	small.height = h;
	const sctx = small.getContext("2d");
	const clip = $("clip"), strip = $("strip");
	clip.width = w * clipScale;
	clip.height = h * clipScale;
	const stripScale = 3, gap = 4;
	strip.width = frames * (w * stripScale + gap) - gap;
	strip.height = h * stripScale;
	const cctx = clip.getContext("2d"), tctx = strip.getContext("2d");
	cctx.imageSmoothingEnabled = false;
	tctx.imageSmoothingEnabled = false;
	tctx.fillStyle = "#8c959f";
	tctx.fillRect(0, 0, strip.width, strip.height);
	for (let f = 0; f < frames; f++) {
		sctx.putImageData(frame(f), 0, 0);
		tctx.drawImage(small, f * (w * stripScale + gap), 0, w * stripScale, h * stripScale);
	}
	let f = 0;
	const draw = () => {
		sctx.putImageData(frame(f), 0, 0);
		cctx.drawImage(small, 0, 0, clip.width, clip.height);
		f = (f + 1) % frames;
	};
	clearInterval(player);
	draw();
	player = setInterval(draw, 125);
}

// showTuning shows which tile table is in use and what it changed.
function showTuning(rep, ms) {
	globalThis.webfuserTuning = rep;
	const p = $("tuning");
	if (rep.applied) {
		const n = (rep.changed || []).length;
		p.textContent = `tuned on this GPU (${rep.date}${ms ? ", in " + (ms / 1000).toFixed(0) + " s" : ""}): ` +
			`${n} of ${rep.classes} classes take another tile than the default` + (rep.why ? "; " + rep.why : "");
		p.className = "ok";
	} else {
		p.textContent = "the defaults, chosen on an H200" + (rep.why ? " (a stored table was left out: " + rep.why + ")" : "");
		p.className = "";
	}
	const rows = rep.applied ? rep.changed || [] : [];
	$("tuned").hidden = rows.length === 0;
	$("tuned").tBodies[0].innerHTML = rows.map((c) =>
		`<tr><td>${esc(c.class)}</td><td>${esc(c.default)}</td><td>${esc(c.tile)}</td><td class="num">${c.speedup.toFixed(2)}×</td></tr>`).join("");
}

function startTune() {
	if (typeof globalThis.webfuserTune !== "function") return;
	$("tune").disabled = true;
	$("tune-stop").hidden = false;
	$("tune-progress").hidden = false;
	$("tune-progress").value = 0;
	globalThis.webfuserTune();
}

globalThis.webfuserUI = {
	tuneProgress(json) {
		const p = JSON.parse(json);
		$("tune-progress").max = p.total;
		$("tune-progress").value = p.done;
		$("tuning").textContent = `tuning: ${p.done} of ${p.total} timings, ${p.class}` + (p.ms ? ` (${(p.ms / 1000).toFixed(0)} s)` : "");
		$("tuning").className = "pending";
	},
	tuned(json) {
		const t = JSON.parse(json);
		showTuning(t.report, t.ms);
		$("tune").disabled = false;
		$("tune-stop").hidden = true;
		$("tune-progress").hidden = true;
	},
	tuneError(json) {
		const e = JSON.parse(json);
		showTuning(e.report || {});
		globalThis.webfuserTuning = { ...(e.report || {}), error: e.error };
		$("tuning").textContent = (e.error.startsWith("stopped") ? "tuning " : "tuning failed: ") + e.error;
		$("tuning").className = e.error.startsWith("stopped") ? "" : "bad";
		$("tune").disabled = false;
		$("tune-stop").hidden = true;
		$("tune-progress").hidden = true;
	},
	classes(json) {
		const c = JSON.parse(json);
		fillSelect($("gen-shape"), c.shapes);
		fillSelect($("gen-color"), c.colors);
		fillSelect($("gen-direction"), c.directions);
		const q = new URLSearchParams(location.search);
		for (const k of ["shape", "color", "direction", "seed", "steps", "cfg"]) {
			if (q.has(k)) $("gen-" + k).value = q.get(k);
		}
		$("generate").disabled = false;
		setGenStatus("choose a class and press Generate", "");
	},
	genStatus(json) {
		setGenStatus(JSON.parse(json), "pending");
	},
	genProgress(json) {
		const p = JSON.parse(json);
		(globalThis.webfuserProgress = globalThis.webfuserProgress || []).push(p);
		$("gen-progress").max = p.steps;
		$("gen-progress").value = p.step;
		setGenStatus(`step ${p.step} of ${p.steps}: ${p.ms} ms (${(p.totalMs / 1000).toFixed(1)} s so far)`, "pending");
	},
	clip(json, rgba) {
		const meta = JSON.parse(json);
		showClip(meta, rgba);
		setGenStatus(`${meta.name}, seed ${meta.seed}: ${meta.steps} steps, guidance ${meta.cfg}, ${meta.linear} linears, sampled in ` +
			`${(meta.ms / 1000).toFixed(1)} s (${(meta.ms / meta.steps).toFixed(0)} ms a step)`, "ok");
		$("generate").disabled = false;
		globalThis.webfuserClip = meta;
	},
	genError(json) {
		const e = JSON.parse(json);
		setGenStatus("generation failed: " + e.error, "bad");
		$("generate").disabled = false;
		globalThis.webfuserClip = { error: e.error };
	},

	status(json) {
		setStatus(JSON.parse(json));
	},
	device(json) {
		const d = JSON.parse(json);
		$("device-box").hidden = false;
		const rows = [["adapter", d.name], ["vendor", d.vendor], ["driver", d.driver], ["type", d.type],
			["max binding", (d.limits.MaxBindingSize / 2 ** 20).toFixed(0) + " MiB"],
			["max invocations", d.limits.MaxInvocations], ["workgroup memory", (d.limits.MaxWorkgroupMemory / 1024) + " KiB"],
			["linear layers", `${d.linear} (${d.linearWhy})`]];
		globalThis.webfuserLinear = d.linear;
		showTuning(d.tuning || {});
		$("tune").disabled = false;
		$("device").innerHTML = rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v || "(not reported)")}</dd>`).join("");
		$("features").innerHTML = Object.entries(d.features).map(([f, have]) =>
			`<li class="${have ? "yes" : "no"}">${have ? "✓" : "✗"} ${esc(f)}</li>`).join("");
		setStatus("running the operators on " + d.name + "…");
	},
	plan(json) {
		const plan = JSON.parse(json);
		results.length = 0;
		$("results-box").hidden = false;
		$("rerun").disabled = true;
		$("results").tBodies[0].innerHTML = plan.map((p) =>
			`<tr id="${rowId(p.name)}"><td>${esc(p.name)}</td><td class="shape">${esc(p.shape)}</td>` +
			`<td class="pending">${p.missing ? "will skip: needs " + esc(p.missing.join(", ")) : "waiting"}</td>` +
			`<td class="num"></td><td class="num"></td><td class="num"></td><td class="num"></td></tr>`).join("");
		drawChart();
	},
	result(json) {
		const r = JSON.parse(json);
		results.push(r);
		const tr = $(rowId(r.name));
		if (!tr) return;
		const label = { pass: "pass", fail: "FAIL", skip: "skipped" }[r.status] || r.status;
		const speed = r.gpuMs > 0 && r.cpuMs > 0 ? (r.cpuMs / r.gpuMs).toFixed(2) + "×" : "–";
		tr.cells[2].className = r.status;
		tr.cells[2].innerHTML = esc(label) + (r.detail ? `<span class="detail">${esc(r.detail)}</span>` : "");
		tr.cells[3].textContent = r.status === "pass" || r.maxErr ? r.maxErr.toExponential(2) : "–";
		tr.cells[4].textContent = fmtMs(r.gpuMs);
		tr.cells[5].textContent = fmtMs(r.cpuMs);
		tr.cells[6].textContent = speed;
		if (r.gpuTime) $("timing-note").textContent = `GPU times: median of timed submissions, from ${r.gpuTime}. CPU times: the Go reference (float64) in this WebAssembly module, median wall clock.`;
		drawChart();
	},
	file(json) {
		const r = JSON.parse(json);
		showFile(r.summary + (r.detail ? " — " + r.detail : ""), r.kind === "refused" ? "bad" : r.ok ? "ok" : "bad");
		globalThis.webfuserFile = r;
	},
	done(json) {
		const s = JSON.parse(json);
		$("rerun").disabled = false;
		if (s.error) {
			setStatus(s.error, s.unavailable ? "unavailable" : "bad");
		} else if (s.failed > 0) {
			setStatus(`${s.failed} of ${s.passed + s.failed + s.skipped} operators FAILED`, "bad");
		} else {
			setStatus(`all ${s.passed} operators passed` + (s.skipped ? `, ${s.skipped} skipped for missing features` : ""), "ok");
		}
		globalThis.webfuserDone = s;
	},
};

// drawChart draws grouped horizontal bars, GPU and CPU per operator, as SVG.
function drawChart() {
	const rows = results.filter((r) => r.status === "pass");
	$("chart-box").hidden = rows.length === 0;
	if (rows.length === 0) return;
	const labelW = 170, barMax = 480, rowH = 36, top = 24;
	const max = Math.max(...rows.flatMap((r) => [r.gpuMs, r.cpuMs]));
	const w = (v) => Math.max(1, (v / max) * barMax);
	let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + barMax + 90}" height="${top + rows.length * rowH + 8}" role="img" aria-label="GPU and CPU time per operator">`;
	svg += `<rect x="${labelW}" y="4" width="12" height="10" fill="#2f81f7"/><text x="${labelW + 16}" y="13">GPU (WebGPU)</text>`;
	svg += `<rect x="${labelW + 130}" y="4" width="12" height="10" fill="#bf8700"/><text x="${labelW + 146}" y="13">CPU reference (Go, wasm)</text>`;
	rows.forEach((r, i) => {
		const y = top + i * rowH;
		svg += `<text x="${labelW - 8}" y="${y + 19}" text-anchor="end">${esc(r.name)}</text>`;
		svg += `<rect x="${labelW}" y="${y + 2}" width="${w(r.gpuMs)}" height="13" fill="#2f81f7"><title>GPU ${fmtMs(r.gpuMs)} ms</title></rect>`;
		svg += `<text x="${labelW + w(r.gpuMs) + 4}" y="${y + 13}">${fmtMs(r.gpuMs)} ms</text>`;
		svg += `<rect x="${labelW}" y="${y + 17}" width="${w(r.cpuMs)}" height="13" fill="#bf8700"><title>CPU ${fmtMs(r.cpuMs)} ms</title></rect>`;
		svg += `<text x="${labelW + w(r.cpuMs) + 4}" y="${y + 28}">${fmtMs(r.cpuMs)} ms</text>`;
	});
	$("chart").innerHTML = svg + "</svg>";
}

// The largest file the page reads (demo.MaxFileBytes); ?maxfile=N lowers it.
const maxFileBytes = 64 * 2 ** 20;

function showFile(text, cls) {
	const p = $("file-status");
	p.textContent = text;
	p.className = cls || "";
}

// checkFile refuses a file over the limit without reading it, reads the
// rest and hands the bytes to the module; any failure is a message.
async function checkFile(file) {
	globalThis.webfuserFile = undefined;
	const limit = Math.min(maxFileBytes, Number(new URLSearchParams(location.search).get("maxfile")) || maxFileBytes);
	const refuse = (msg) => {
		showFile(msg, "bad");
		globalThis.webfuserFile = { name: file.name, kind: "refused", ok: false, summary: msg };
	};
	if (file.size > limit) {
		return refuse(`${file.name} is ${file.size} bytes, over the page's limit of ${limit} bytes: refused without reading it.`);
	}
	if (typeof globalThis.webfuserCheckFile !== "function") {
		return refuse("The WebAssembly module is not running, so the file cannot be checked.");
	}
	showFile(`reading ${file.name} (${file.size} bytes)…`, "pending");
	let bytes;
	try {
		bytes = new Uint8Array(await file.arrayBuffer());
	} catch (e) {
		return refuse(`${file.name} could not be read: ${e.message}`);
	}
	showFile(`checking ${file.name}…`, "pending");
	globalThis.webfuserCheckFile(file.name, bytes);
}

function fatal(msg) {
	setStatus(msg, "bad");
	setGenStatus(msg, "bad");
	globalThis.webfuserDone = { passed: 0, failed: 0, skipped: 0, error: msg };
}

async function start() {
	const q = new URLSearchParams(location.search);
	globalThis.webfuserOptions = {
		trials: Number(q.get("trials")) || 0,
		reps: Number(q.get("reps")) || 0,
		filter: q.get("filter") || "",
	};
	$("gen-form").addEventListener("submit", startGenerate);
	$("rerun").addEventListener("click", () => globalThis.webfuserRerun && globalThis.webfuserRerun());
	$("tune").addEventListener("click", startTune);
	$("tune-stop").addEventListener("click", () => globalThis.webfuserTuneStop && globalThis.webfuserTuneStop());
	$("file-limit").textContent = (maxFileBytes / 2 ** 20) + " MB";
	$("file").addEventListener("change", (e) => {
		const f = e.target.files && e.target.files[0];
		if (f) checkFile(f).catch((err) => showFile("the file could not be checked: " + err.message, "bad"));
	});
	if (typeof WebAssembly !== "object") return fatal("This browser cannot run WebAssembly.");
	if (typeof Go !== "function") return fatal("wasm_exec.js did not load: the server was built without the wasm build (run `make wasm`).");
	const go = new Go();
	let result;
	try {
		const resp = await fetch("webfuser.wasm");
		if (!resp.ok) throw new Error(`webfuser.wasm: HTTP ${resp.status} ${(await resp.text()).trim()}`);
		result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
	} catch (e) {
		return fatal("Could not load the WebAssembly module: " + e.message);
	}
	// The WebGPU binding reads Go's memory through this global.
	globalThis.wasm = result;
	setStatus("starting…");
	go.run(result.instance).then(() => {
		if (!globalThis.webfuserDone) fatal("the WebAssembly module exited before finishing");
	});
}

start();
