#!/usr/bin/env bash
# Builds ns-rootless and runs its whole test suite.
# As root, installs what the tests need (Debian packages) and sets the host up the way
# distributions ship it; otherwise says what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# What the tests use, as Debian packages:
# - busybox-static: the rootfs the tests build; util-linux: setpriv/unshare to run as a plain uid;
# - podman, skopeo, uidmap: real clients of the OCI runtime and of image archives;
# - passt (pasta), slirp4netns: user-mode networking helpers; curl: a real client of published ports;
#   iproute2: `ip` inside host-mode sandboxes and for the namespace the network tests make;
# - git: real `git archive` output (a pax global header) as an image layer;
# - libcap2-bin: setcap, to check that an install with file capabilities is refused.
# (What runs inside the sandboxes to probe them is tests/probe, built by cargo: no python.)
packages=(busybox-static util-linux podman skopeo uidmap passt slirp4netns curl iproute2 zstd git libcap2-bin)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done

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

# Distributions ship /dev/net/tun world-usable (mode 0666: opening it creates nothing, and a
# tun device can only be attached in a network namespace one owns). Some minimal images ship
# 0600; set what users have, never anything weaker.
if ((EUID == 0)) && [ -c /dev/net/tun ]; then
    chmod 0666 /dev/net/tun
fi

# A named unprivileged user with subordinate ids (as distributions' useradd gives every user),
# for the podman test that needs them: --userns=keep-id maps ranges podman looks up in
# /etc/subuid and /etc/subgid by user name, and the harness's own uid deliberately has no name.
# Idempotent; Debian's useradd gives it 100000-165535 itself, clear of the harness's uids
# (61234 and up, tests/common).
subid_user=nsr-subids
if ((EUID == 0)); then
    if ! id -u "$subid_user" >/dev/null 2>&1; then
        useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            --user-group "$subid_user"
    fi
    grep -q "^$subid_user:" /etc/subuid 2>/dev/null ||
        usermod --add-subuids 200000-265535 "$subid_user"
    grep -q "^$subid_user:" /etc/subgid 2>/dev/null ||
        usermod --add-subgids 200000-265535 "$subid_user"
fi

cargo build --locked
# Unit and integration tests; examples (the probe the security tests run) are built, not run.
cargo test --locked
# The integration tests again, on the binary the README's first command builds (release; static
# where the toolchain allows it).
scripts/build.sh
NS_ROOTLESS_TEST_BIN="$PWD/target/release/ns-rootless" cargo test --locked --test '*'
# The harness keeps a few temp dirs for a whole test binary in statics, which are never dropped;
# each binary sweeps those of ended runs when it starts, and this sweeps the last one's.
for dir in /tmp/ns-rootless-test.*; do
    [ -d "$dir" ] || continue
    pid=${dir#/tmp/ns-rootless-test.}
    pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ] || rm -rf -- "$dir"
done
