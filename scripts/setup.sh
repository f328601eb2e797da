#!/usr/bin/env bash
# Installs the Debian 12 packages Vigil's build, tests and demo need, where they are missing.
# Idempotent: prints nothing and changes nothing when everything is present.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config git
    librdkafka-dev      # Kafka client (and the mock cluster used as the embedded broker)
    libjansson-dev      # JSON: wire format, alert payloads
    libcurl4-openssl-dev  # webhooks
    libyaml-dev         # configs and rules
    libmicrohttpd-dev   # HTTP API, test receiver
    libcmocka-dev       # tests
    libssl-dev          # HMAC signatures (libcrypto)
    libopenblas-dev     # CPU GEMM for the detectors
    libbpf-dev clang bpftool  # eBPF collectors (CO-RE)
    libclang-rt-14-dev  # libFuzzer for the fuzz targets (only Recommended by clang)
    openssl             # the command line: test_security makes its TLS certificates with it
    valgrind            # leak check of the daemons' start-stop cycle (test_valgrind)
    kcat                # interop tests and `kcat -b ADDR -t vigil.metrics -C` in the demo
    file dpkg-dev       # cpack -G DEB: its shlibdeps (CPACK_DEBIAN_PACKAGE_SHLIBDEPS) runs
                        # file and dpkg-shlibdeps; file is not in minimal or container images
    adduser systemd     # the package test: the .debs depend on adduser; systemctl, systemd-analyze
                        # (both in a standard install, not in a minimal or container image)
)

missing=()
for p in "${PKGS[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "vigil setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "vigil setup: need root (or sudo) to install packages" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "vigil setup: done"
