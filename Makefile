# WebFuser: two commands do everything on a fresh Debian machine.
#   make demo   find a GPU (or the CPU Vulkan driver), print it, verify the
#               golden cases on it, generate a clip with the trained video
#               DiT (out/demo/clip.gif) and print a short timing table
#   make test   vet, then the four suites: native (lavapipe or a GPU),
#               node + Dawn (SwiftShader), headless Chromium, wasip1 (wazero),
#               in two lanes side by side (two make jobs)
# Missing system packages are installed with apt-get when run as root;
# otherwise the exact command is printed.

GO ?= go
export XDG_RUNTIME_DIR ?= /tmp
GOLDEN := testdata/golden
APT_PKGS := mesa-vulkan-drivers libvulkan1

include mk/web.mk

.PHONY: all build demo test test-lane-js test-lane-rest test-native test-fuzz deps vet bench clean

all: build

# System packages: the Vulkan loader and Mesa's lavapipe CPU driver.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing:$$missing; run: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

build: wasm
	$(GO) build -o bin/webfuser ./cmd/webfuser

demo: deps build
	./bin/webfuser info
	./bin/webfuser verify $(GOLDEN) | tail -n 25
	./bin/webfuser generate --class 16 --seed 1 --steps 10 --out out/demo/clip.gif
	./bin/webfuser bench --shape 2,1024,3072 --trials 3 --reps 5 --matmul 512 --only "copy,rms_norm,layer_norm,modulate [B,C],rms_norm+modulate,rotary,gelu_tanh,swiglu"

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./gpu/... ./ops/... ./models/... ./web/...

# The native suite: every package on the first adapter (lavapipe without a
# GPU), the browser test included, then the golden cases through the CLI.
test-native: deps web-chromium
	@mkdir -p $(WEB_ARTIFACTS)
	WEBFUSER_CHROMIUM="$(WEB_CHROMIUM)" WEBFUSER_ARTIFACTS="$(WEB_ARTIFACTS)" $(GO) test -count=1 -timeout 20m ./...
	$(GO) build -o bin/webfuser ./cmd/webfuser
	./bin/webfuser verify $(GOLDEN) > out/verify-native.txt; rc=$$?; tail -n 1 out/verify-native.txt; grep FAIL out/verify-native.txt | head -20; exit $$rc

# Each fuzz target for a number of executions (-fuzztime Nx) on top of its
# committed seeds (testdata/fuzz/TARGET in its package); go test fuzzes one
# target a run. Counts, not durations: Go 1.26's coordinator can fail a
# duration-bounded run at its deadline with "context deadline exceeded" and
# no crasher (golang/go#75804, fixed in 1.27); it did in CI on 2026-11-29.
# The counts take about 5-15 s each on two cores. FUZZ_SCALE multiplies them.
FUZZ_SCALE ?= 1
FUZZ_TARGETS := ./internal/safetensors/:FuzzParse:500000 ./internal/golden/:FuzzParseCase:150000 \
	./internal/golden/:FuzzCaseAttrs:200000 ./internal/golden/:FuzzOpShapes:3000
test-fuzz: deps
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$$(( $${rest##*:} * $(FUZZ_SCALE) )); \
		echo "fuzz $$fn in $$pkg for $$n executions"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $${n}x $$pkg || exit 1; \
	done

# Two lanes of about equal length, as two make jobs, so that both cores
# stay busy: the js ops package (test-dawn-long) and the golden cases
# through Dawn (test-dawn-verify) each keep one core busy for minutes, one
# pipeline build or case at a time. The installs come first: two apt-gets
# would race. Each target is its own sub-make: one sub-make given -j1, or
# --output-sync, kept make from starting the second lane until the first
# ended. Timed on 2 cores beside other work (2026-11-29): native 295 s,
# js ops 675 s, other js packages 392 s, js verify 297 s, fuzz 48 s.
test: deps vet web-chromium web-node-deps
	$(MAKE) --no-print-directory -j2 test-lane-js test-lane-rest

test-lane-js:
	$(MAKE) --no-print-directory test-dawn-long
	$(MAKE) --no-print-directory test-dawn-verify

test-lane-rest:
	$(MAKE) --no-print-directory test-native
	$(MAKE) --no-print-directory test-dawn-rest
	$(MAKE) --no-print-directory test-wasip1
	$(MAKE) --no-print-directory test-fuzz

clean:
	rm -rf bin out web/static/webfuser.wasm web/static/wasm_exec.js
