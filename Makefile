# wasmgate - user-facing entry point. The real build is CMake.

NPROC ?= $(shell nproc)
CMAKE ?= cmake
CTEST ?= ctest

BUILD_DIR := build
ASAN_DIR  := build-asan

export NPROC
MAKEFLAGS += --no-print-directory

.PHONY: all build build-asan deps plugins examples test spec fuzz bench-wasm bench-abi bench-proxy run clean

all: build

deps:
	@scripts/deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

$(ASAN_DIR)/CMakeCache.txt:
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DWASMGATE_SANITIZE=ON \
		-DCMAKE_C_FLAGS_DEBUG="-O1 -g"

build: $(BUILD_DIR)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_DIR) -j$(NPROC)

build-asan: $(ASAN_DIR)/CMakeCache.txt
	$(CMAKE) --build $(ASAN_DIR) -j$(NPROC)

# Test plugins: C (clang, wasm32-wasi) and AssemblyScript (npm, pinned). Both
# build configurations use these, from build/.
plugins: build
	bash scripts/build-plugins.sh $(BUILD_DIR)/plugins
	bash scripts/build-as-plugins.sh $(BUILD_DIR)/plugins-as

test: deps
	$(MAKE) build
	$(MAKE) build-asan
	$(MAKE) plugins
	cd $(BUILD_DIR) && $(CTEST) --output-on-failure -j$(NPROC)
	cd $(ASAN_DIR) && $(CTEST) --output-on-failure -j$(NPROC) -L "unit|proxy"
	$(MAKE) spec

# Scripts owned by other parts of the project; fail clearly until they exist.
define run-script
	@if [ ! -f scripts/$(1) ]; then \
		echo "error: scripts/$(1) does not exist (yet)" >&2; exit 1; \
	fi
	bash scripts/$(1)
endef

spec: deps
	$(MAKE) build
	$(call run-script,spec.sh)

fuzz: deps
	$(MAKE) build
	$(call run-script,fuzz.sh)

bench-wasm: deps
	$(MAKE) build
	$(call run-script,bench-wasm.sh)

bench-abi: deps
	$(MAKE) build
	$(call run-script,bench-abi.sh)

bench-proxy: deps
	$(MAKE) plugins
	$(call run-script,bench-proxy.sh)

# The example plugins (examples/plugins/*.c), which examples/wasmplugins load.
examples: build
	bash scripts/build-examples.sh $(BUILD_DIR)/examples

# The demo: the proxy with examples/wasmgate.yaml (listener 127.0.0.1:8080,
# admin 127.0.0.1:9901) and the hello plugin. Ctrl-C stops it.
run: deps
	$(MAKE) build
	$(MAKE) examples
	./$(BUILD_DIR)/wasmgate run -c examples/wasmgate.yaml

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) build-fuzz
