#!/usr/bin/env bash
# Builds target/release/ns-rootless, statically linked where the toolchain allows it, and
# target/release/ns-rootless-oci: the same file under the name that makes it the OCI runtime
# (a hard link: one binary, chosen by argv[0], no second start-up path to build or load).
#
# Of a launch, the C library's start-up is the largest part we choose: glibc's probes the CPU and
# its caches with ~90 cpuid instructions, and on a VM each one traps to the hypervisor (~0.75 ms
# per start here); musl's start-up probes nothing. A static binary also maps no libc.so and has
# no dynamic loader to run. So, the first that builds:
#   1. musl, static: Rust's <arch>-unknown-linux-musl target, when it is already installed. It
#      is never added here: that is a ~200 MB download into the user's toolchain, theirs to
#      choose (the script says how);
#   2. glibc, static-pie: needs libc.a (Debian's libc6-dev has it, Fedora's is glibc-static).
#      `cargo rustc` gives +crt-static to the binary alone: in RUSTFLAGS it would also reach
#      clap's derive, a proc macro, which can't be linked statically;
#   3. glibc, dynamic: the same program, slower to start.
#
# `build.sh --print-target` builds nothing: it prints the target the build would try first
# (`musl <triple>` or `glibc-static`), with the same one-line hint on stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=target/release/ns-rootless
musl=$(uname -m)-unknown-linux-musl

link_oci() {
    ln -f "$out" "$out-oci.new"
    mv -f "$out-oci.new" "$out-oci"
}

# The target's standard library is installed where rustc looks for it (rustup or not).
have_musl() {
    local sysroot
    sysroot=$(rustc --print sysroot 2>/dev/null) || return 1
    [ -d "$sysroot/lib/rustlib/$musl/lib" ]
}

case "${1:-}" in
"") ;;
--print-target) print_only=1 ;;
*)
    echo "build.sh: unknown option $1 (only --print-target)" >&2
    exit 2
    ;;
esac

if ! have_musl; then
    echo "build.sh: building with glibc; for a faster-starting static musl build: rustup target add $musl" >&2
    if [ -n "${print_only:-}" ]; then
        echo glibc-static
        exit 0
    fi
elif [ -n "${print_only:-}" ]; then
    echo "musl $musl"
    exit 0
elif cargo build --locked --release --bin ns-rootless --target "$musl"; then
    # Renamed into place, never written through: cargo keeps $out as a hard link to its own copy.
    mkdir -p target/release
    cp "target/$musl/release/ns-rootless" "$out.new"
    mv -f "$out.new" "$out"
    link_oci
    exit 0
else
    echo "build.sh: the musl build failed; trying a static glibc one" >&2
fi
if cargo rustc --locked --release --bin ns-rootless -- -C target-feature=+crt-static; then
    link_oci
    exit 0
fi
echo "build.sh: the static link failed (no libc.a?); building a dynamic binary" >&2
cargo build --locked --release --bin ns-rootless
link_oci
