# Make fragment for the browser/WebAssembly side of WebFuser; the top
# Makefile includes it:   include mk/web.mk
#
#   make wasm          build web/static/webfuser.wasm (+ wasm_exec.js) for `webfuser serve`
#   make test-dawn     GOOS=js tests and `webfuser verify` in node on Dawn (SwiftShader):
#                      test-dawn-long (the ops package), test-dawn-rest (the other
#                      packages), test-dawn-verify (the golden cases)
#   make test-browser  the demo page in headless Chromium (chromedp), screenshot in $(WEB_ARTIFACTS)
#   make test-wasip1   ops/ref, internal/dtype, wgsl as GOOS=wasip1 under wazero (bit-identical check)
#
# Each target installs what it lacks: Chromium through apt-get when run as
# root (its SwiftShader is the Vulkan driver Dawn runs on), the webgpu npm
# package through `npm ci`, wazero v1.12.0 into bin/ through `go install`.

GO ?= go
NPM ?= npm
WEB_CHROMIUM ?= /usr/lib/chromium/chromium
WEB_ICD ?= /usr/lib/chromium/vk_swiftshader_icd.json
WEB_ARTIFACTS ?= $(CURDIR)/out/artifacts
WEB_EXEC_JS := $(CURDIR)/web/testrunner/go_js_wasm_exec
WEB_WAZERO := $(CURDIR)/bin/wazero
WEB_WAZERO_VERSION := v1.12.0
# Packages tested as GOOS=js in node, and the golden cases `webfuser verify` runs there.
WEB_DAWN_PKGS ?= ./gpu/ ./ops/... ./models/... ./web/demo/
# The longest of them (8 to 11 minutes: it builds well over a thousand
# pipelines, each a Tint and SwiftShader compile on one core), which
# `make test` runs beside the native suite.
WEB_DAWN_LONG ?= ./ops/
# The others, as import paths (go list; evaluated only where used).
WEB_DAWN_REST = $(filter-out $(shell $(GO) list $(WEB_DAWN_LONG)),$(shell GOOS=js GOARCH=wasm $(GO) list $(WEB_DAWN_PKGS)))
WEB_DAWN_FLAGS ?= -short -timeout 25m
WEB_GOLDEN ?= testdata/golden
WEB_WASIP1_PKGS ?= ./ops/ref/ ./internal/dtype/ ./wgsl/

.PHONY: wasm test-dawn test-dawn-long test-dawn-rest test-dawn-verify test-browser test-wasip1 web-chromium web-node-deps

# The wasm module and its loader, embedded by `webfuser serve`. Build this
# before the webfuser binary (go:embed picks up what is there).
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o web/static/webfuser.wasm ./web/wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" web/static/wasm_exec.js
	@echo "web/static/webfuser.wasm: $$(wc -c < web/static/webfuser.wasm) bytes, $$(gzip -9 -c web/static/webfuser.wasm | wc -c) gzipped"

# Chromium brings SwiftShader, the only Vulkan driver Dawn accepts on a
# machine without a GPU (it rejects Mesa's lavapipe).
web-chromium:
	@if [ ! -x "$(WEB_CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "!!! $(WEB_CHROMIUM) is missing and cannot be installed here (needs root and apt-get)"; \
		fi; \
	fi

# npm ci when node_modules is missing or older than the lock file.
web-node-deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

test-dawn: test-dawn-long test-dawn-rest test-dawn-verify

test-dawn-long: web-chromium web-node-deps
	GOOS=js GOARCH=wasm $(GO) test $(WEB_DAWN_FLAGS) -exec "$(WEB_EXEC_JS)" $(WEB_DAWN_LONG)

test-dawn-rest: web-chromium web-node-deps
	GOOS=js GOARCH=wasm $(GO) test $(WEB_DAWN_FLAGS) -exec "$(WEB_EXEC_JS)" $(WEB_DAWN_REST)

test-dawn-verify: web-chromium web-node-deps
	@mkdir -p out
	GOOS=js GOARCH=wasm $(GO) build -o out/webfuser-js.wasm ./cmd/webfuser
	"$(WEB_EXEC_JS)" out/webfuser-js.wasm verify $(WEB_GOLDEN)

test-browser: web-chromium
	@mkdir -p "$(WEB_ARTIFACTS)"
	WEBFUSER_CHROMIUM="$(WEB_CHROMIUM)" WEBFUSER_ARTIFACTS="$(WEB_ARTIFACTS)" \
		$(GO) test -count=1 -run Browser -v ./web/

$(WEB_WAZERO):
	GOBIN=$(CURDIR)/bin GOOS= GOARCH= $(GO) install github.com/tetratelabs/wazero/cmd/wazero@$(WEB_WAZERO_VERSION)

# -mount /:/ lets tests read testdata; the cache keeps wazero's compiled code.
test-wasip1: $(WEB_WAZERO)
	GOOS=wasip1 GOARCH=wasm $(GO) test \
		-exec "$(WEB_WAZERO) run -mount /:/ -env-inherit -cachedir $(CURDIR)/out/wazero-cache" $(WEB_WASIP1_PKGS)
