#!/usr/bin/env bash
# Install the Debian packages wasmgate needs to build, test and benchmark.
# Fast no-op when everything is already installed.
set -euo pipefail

# Add new packages here.
PACKAGES=(
    build-essential
    cmake
    pkg-config
    clang
    lld
    wabt
    wasi-libc
    libclang-rt-14-dev-wasm32
    libclang-rt-14-dev
    libcmocka-dev
    libjansson-dev
    libuv1-dev
    libhttp-parser-dev
    libcurl4-openssl-dev
    libssl-dev
    zlib1g-dev
    openssl
    libyaml-dev
    python3
    nodejs
    npm
    wrk
    nginx-light
    docker-registry
    skopeo
    apache2-utils
)

is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    # Any node binary (nvm, tarball, distro) is good enough for the benchmarks.
    if [[ "$pkg" == nodejs ]] && command -v node >/dev/null 2>&1; then
        continue
    fi
    # Likewise npm (it builds the AssemblyScript test plugins).
    if [[ "$pkg" == npm ]] && command -v npm >/dev/null 2>&1; then
        continue
    fi
    if ! is_installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps.sh: missing packages (${missing[*]}) and not root, no sudo available" >&2
        exit 1
    fi
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
