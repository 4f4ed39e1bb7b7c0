#!/usr/bin/env bash
# Builds ns-rootless and runs its whole test suite.
# As root, installs what the tests need (Debian packages); otherwise says what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The tests build a rootfs from Debian's static busybox, and run the binary through
# setpriv/unshare (util-linux).
missing=()
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
    missing+=(busybox-static)
fi
if ! command -v setpriv >/dev/null || ! command -v unshare >/dev/null; then
    missing+=(util-linux)
fi

if ((${#missing[@]} > 0)); then
    if ((EUID != 0)); then
        echo "test.sh: missing packages: ${missing[*]}" >&2
        echo "test.sh: install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # busybox-static conflicts with (and replaces) the dynamic busybox package.
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

cargo build --locked
# Unit and integration tests; examples (the probe the security tests run) are built, not run.
cargo test --locked
# The integration tests again, on the binary the README's first command builds (release; static
# where the toolchain allows it).
scripts/build.sh
NS_ROOTLESS_TEST_BIN="$PWD/target/release/ns-rootless" cargo test --locked --test '*'
