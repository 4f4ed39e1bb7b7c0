#!/usr/bin/env bash
# Stage stamps of a launch: builds ns-rootless with `--features stamps` (musl, static, as
# scripts/build.sh does, into target/stamps), runs `ns-rootless ARGS...` N times as an
# unprivileged user, and prints for each stage the median time since the previous stage and
# since `main`, in microseconds.
#
#   scripts/stamps.sh [-n N] [--no-build] [--bin PATH] -- ARGS...    (default ARGS: -- true)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=200 BUILD=1 BIN=""
while (($#)); do
    case $1 in
        -n) N=$2; shift ;;
        --no-build) BUILD=0 ;;
        --bin) BIN=$2; BUILD=0; shift ;;
        --) shift; break ;;
        *) echo "stamps: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
(($#)) || set -- -- true
musl=$(uname -m)-unknown-linux-musl
if ((BUILD)); then
    cargo build --locked --release --features stamps --bin ns-rootless --target "$musl" \
        --target-dir target/stamps >&2
fi
[[ -n $BIN ]] || BIN=target/stamps/$musl/release/ns-rootless
T=$(mktemp -d /tmp/ns-rootless-stamps.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
install -m 755 "$BIN" "$T/ns-rootless"
AS=()
if [[ $(id -u) -eq 0 ]]; then
    chown 61234:61234 "$T"
    AS=(setpriv --reuid=61234 --regid=61234 --clear-groups -- env -i PATH=/usr/bin:/bin HOME="$T")
fi
cd "$T"
for ((i = 0; i < N; i++)); do
    "${AS[@]}" "$T/ns-rootless" "$@" </dev/null >/dev/null 2>>"$T/err" || true
    echo "--" >>"$T/err"
done
python3 - "$T/err" <<'PY'
import statistics, sys
runs, cur = [], []
for line in open(sys.argv[1]):
    if line.startswith("--"):
        runs.append(cur); cur = []
    elif line.startswith("ns-rootless-stamp "):
        _, pid, stage, ns = line.split()
        cur.append((stage, int(ns)))
order, steps, total = [], {}, {}
for run in runs:
    if not run:
        continue
    run.sort(key=lambda s: s[1])
    t0 = run[0][1]
    for (stage, ns), (_, prev) in zip(run, [run[0]] + run[:-1]):
        if stage not in steps:
            order.append(stage)
        steps.setdefault(stage, []).append((ns - prev) / 1e3)
        total.setdefault(stage, []).append((ns - t0) / 1e3)
print(f"{'stage':14} {'step us':>8} {'since main':>10}   ({len(runs)} runs, medians)")
for stage in order:
    print(f"{stage:14} {statistics.median(steps[stage]):8.0f} {statistics.median(total[stage]):10.0f}")
PY
