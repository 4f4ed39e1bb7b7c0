#!/usr/bin/env bash
# Stage stamps of a launch: builds ns-rootless with `--features stamps` (musl, static, as
# scripts/build.sh does, into target/stamps), runs `ns-rootless ARGS...` N times as an
# unprivileged user, and prints for each stage the median time since the previous stage and
# since `main`, in microseconds. With `--vs OTHER` (another stamps build, e.g. of the code
# before a change), both binaries run in R rounds of N/R runs each, in alternating order (on a
# shared machine the load drifts; alternating spreads it over both), and the step medians are
# printed side by side. Last, the CPU time (user + sys) each binary's launches used, per
# launch: getrusage's children total, which holds every process a launch reaped (its init and
# command too), steadier on a shared machine than any wall time; and the minor page faults of
# the same processes per launch (each page touched before clone is also shared with init).
#
#   scripts/stamps.sh [-n N] [--no-build] [--bin PATH] [--vs OTHER [--rounds R]] -- ARGS...
#   (default ARGS: -- true; R: 10)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=200 BUILD=1 BIN="" VS="" ROUNDS=10
while (($#)); do
    case $1 in
        -n) N=$2; shift ;;
        --no-build) BUILD=0 ;;
        --bin) BIN=$2; BUILD=0; shift ;;
        --vs) VS=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
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
BINS=("$T/ns-rootless")
if [[ -n $VS ]]; then
    install -m 755 "$VS" "$T/other"
    BINS+=("$T/other")
else
    ROUNDS=1
fi
AS=()
if [[ $(id -u) -eq 0 ]]; then
    chown 61234:61234 "$T"
    AS=(setpriv --reuid=61234 --regid=61234 --clear-groups -- env -i PATH=/usr/bin:/bin HOME="$T")
fi
cd "$T"
PER=$(((N + ROUNDS - 1) / ROUNDS))
# The CPU our children used between two snapshots of bash's `times` (second line), in
# microseconds. `times` runs in this shell: in a subshell it would count that one's children.
cpu_between() {
    python3 -c '
import re, sys
def us(path):
    line = open(path).read().splitlines()[1]
    return sum(int(m) * 60e6 + float(s) * 1e6 for m, s in re.findall(r"(\d+)m([\d.]+)s", line))
print(round(us(sys.argv[2]) - us(sys.argv[1])))
' "$1" "$2"
}
# The minor page faults of the children this shell has reaped: /proc/PID/stat's cminflt
# (proc(5), field 11), which every reaped process adds its own and its children's to. Read with
# the builtin `read` into REAPED_FAULTS: a $(...) would fork a subshell that counts too.
reaped_faults() {
    local st
    read -r -a st <"/proc/$$/stat"
    REAPED_FAULTS=${st[10]}
}
declare -A CPU=() FAULTS=()
for ((r = 0; r < ROUNDS; r++)); do
    order=("${BINS[@]}")
    ((r % 2)) && order=("${BINS[@]:1}" "${BINS[0]}")
    for b in "${order[@]}"; do
        times >"$T/times.0"
        reaped_faults
        f0=$REAPED_FAULTS
        for ((i = 0; i < PER; i++)); do
            "${AS[@]}" "$b" "$@" </dev/null >/dev/null 2>>"$b.err" || true
            echo "--" >>"$b.err"
        done
        reaped_faults
        f1=$REAPED_FAULTS
        times >"$T/times.1"
        FAULTS[$b]=$((${FAULTS[$b]:-0} + f1 - f0))
        CPU[$b]=$((${CPU[$b]:-0} + $(cpu_between "$T/times.0" "$T/times.1")))
    done
done
python3 - "${BINS[@]/%/.err}" <<'PY'
import statistics, sys
def runs_of(path):
    runs, cur = [], []
    for line in open(path):
        if line.startswith("--"):
            runs.append(cur); cur = []
        elif line.startswith("ns-rootless-stamp "):
            _, pid, stage, ns = line.split()
            cur.append((stage, int(ns)))
    return [sorted(r, key=lambda s: s[1]) for r in runs if r]
order, cols = [], []
for path in sys.argv[1:]:
    steps, total = {}, {}
    runs = runs_of(path)
    for run in runs:
        t0 = run[0][1]
        for (stage, ns), (_, prev) in zip(run, [run[0]] + run[:-1]):
            if stage not in order:
                order.append(stage)
            steps.setdefault(stage, []).append((ns - prev) / 1e3)
            total.setdefault(stage, []).append((ns - t0) / 1e3)
    cols.append((steps, total, len(runs)))
med = lambda v: f"{statistics.median(v):.0f}" if v else "-"
if len(cols) == 1:
    steps, total, n = cols[0]
    print(f"{'stage':14} {'step us':>8} {'since main':>10}   ({n} runs, medians)")
    for stage in order:
        print(f"{stage:14} {med(steps[stage]):>8} {med(total[stage]):>10}")
else:
    (sa, ta, na), (sb, tb, nb) = cols
    print(f"{'stage':14} {'step us':>8} {'--vs':>8} {'since main':>10} {'--vs':>8}   ({na} and {nb} runs, medians)")
    for stage in order:
        print(f"{stage:14} {med(sa.get(stage, [])):>8} {med(sb.get(stage, [])):>8} "
              f"{med(ta.get(stage, [])):>10} {med(tb.get(stage, [])):>8}")
PY
for b in "${BINS[@]}"; do
    name=$([[ $b == "${BINS[0]}" ]] && echo "$BIN" || echo "$VS")
    echo "cpu per launch (user+sys, all it reaped): $((${CPU[$b]} / (PER * ROUNDS))) us  $name"
    echo "page faults per launch (minor, all it reaped, setpriv's too): $((${FAULTS[$b]} / (PER * ROUNDS)))  $name"
done
