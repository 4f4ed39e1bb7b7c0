#!/usr/bin/env bash
# Benchmark ns-rootless against bubblewrap, unshare(1) and crun, as an unprivileged user.
#
#   scripts/bench.sh [--quick] [--no-build] [--bin PATH] [--keep] [--only GROUPS]
#
# Builds the release binary (scripts/build.sh), then measures side by side, in one run:
#   startup of `-- true` in host mode and with --rootfs (busybox rootfs built in a temp dir),
#   peak RSS (GNU time %M), N concurrent sandboxes, 0/10/100/1000 read-only bind mounts,
#   RSS of the supervising processes while the payload sleeps, piped / pty throughput,
#   start-up with --net pasta and -p and TCP through a published port (against podman), a warm
#   and a cold --image start, and --cow on a big tree.
# Timings come from hyperfine (all commands of one row in one hyperfine invocation, medians from
# --export-json). Everything measured runs as an unprivileged user: when this script runs as root,
# commands run via `setpriv --reuid=61234 --regid=61234 --clear-groups` (needs no passwd entry)
# and the binary is copied into a world-readable temp dir first.
# Prints one table on stdout (progress goes to stderr). Rows whose command does not work (a feature
# not implemented yet, crun without rootless support on this host, ...) print n/a with the reason.
set -euo pipefail

BENCH_UID=61234
QUICK=0
BUILD=1
BIN=""
KEEP=0
ONLY=""

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "$0"
    cat <<'EOF'
Options:
  --quick     fewer runs and smaller sizes (no 1000-bind / 500-concurrent rows); under a minute
  --no-build  skip scripts/build.sh and use the existing target/release binary
  --bin PATH  benchmark this ns-rootless binary instead (implies --no-build)
  --keep      keep the temp dir (hyperfine log, JSON exports) for inspection
  --only GROUPS  run only these groups of rows (comma-separated): startup, rss, concurrent,
              binds, supervisor, throughput, net, images, oci
  -h, --help  this text
EOF
}

while (($#)); do
    case $1 in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        --bin)
            [[ $# -ge 2 ]] || { echo "bench: --bin needs a path" >&2; exit 2; }
            BIN=$2; BUILD=0; shift ;;
        --keep) KEEP=1 ;;
        --only)
            [[ $# -ge 2 ]] || { echo "bench: --only needs a list of groups" >&2; exit 2; }
            ONLY=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf 'bench: %s\n' "$*" >&2; }
GROUPS_ALL="startup rss concurrent binds supervisor throughput net images oci"
for g in ${ONLY//,/ }; do
    [[ " $GROUPS_ALL " == *" $g "* ]] || { echo "bench: unknown group in --only: $g ($GROUPS_ALL)" >&2; exit 2; }
done
want() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }   # want GROUP -- is this group of rows run?
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------------------------------------
# Tools: install what is missing when root (Debian/apt), otherwise explain.
# ---------------------------------------------------------------------------------------------
declare -A PKG_OF=([hyperfine]=hyperfine [bwrap]=bubblewrap [crun]=crun [/bin/busybox]=busybox-static
                   [/usr/bin/time]=time [python3]=python3 [setpriv]=util-linux [unshare]=util-linux
                   [script]=bsdutils)
have() { if [[ $1 == /* ]]; then [[ -x $1 ]]; else command -v "$1" >/dev/null 2>&1; fi; }
missing_pkgs=()
for tool in "${!PKG_OF[@]}"; do
    have "$tool" || missing_pkgs+=("${PKG_OF[$tool]}")
done
if ((${#missing_pkgs[@]})); then
    mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
    if ((IS_ROOT)) && have apt-get; then
        log "installing missing packages: ${missing_pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >&2 \
            || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >&2; } \
            || log "warning: apt-get install failed; the rows needing ${missing_pkgs[*]} will say n/a"
    else
        log "warning: missing packages: ${missing_pkgs[*]} (install them, e.g. apt-get install ${missing_pkgs[*]})"
    fi
fi
have hyperfine || die "hyperfine not found: install it (Debian: apt-get install hyperfine)"
have python3 || die "python3 not found: it parses hyperfine's JSON and prints the table"
if ((IS_ROOT)) && ! have setpriv; then
    die "running as root but setpriv (util-linux) is missing: cannot drop to uid $BENCH_UID"
fi

# ---------------------------------------------------------------------------------------------
# Sizes.
# ---------------------------------------------------------------------------------------------
if ((QUICK)); then
    RUNS=20; WARMUP=3; ROUNDS=2  # startup rows
    BIND_COUNTS=(0 10 100); BIND_RUNS=10
    CONC_NS=(100); CONC_REPS=1
    RSS_REPS=3; SUP_REPS=1
    PIPE_BYTES=$((256 << 20)); PIPE_RUNS=3
    PTY_BYTES=$((16 << 20)); PTY_RUNS=2
else
    RUNS=60; WARMUP=3; ROUNDS=6
    BIND_COUNTS=(0 10 100 1000); BIND_RUNS=10
    CONC_NS=(100 500); CONC_REPS=3
    RSS_REPS=9; SUP_REPS=3
    PIPE_BYTES=$((1 << 30)); PIPE_RUNS=12
    PTY_BYTES=$((256 << 20)); PTY_RUNS=3
fi

# ---------------------------------------------------------------------------------------------
# Temp dir (world-readable: the unprivileged user needs the binary and the rootfs), cleanup.
# ---------------------------------------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/ns-rootless-bench.XXXXXX")
chmod 755 "$T"
BG_PIDS=()
CLEANUP_CMDS=()         # command lines run at exit (a podman store's containers and pause process)
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local p c
    for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for c in "${CLEANUP_CMDS[@]}"; do sh -c "$c" >/dev/null 2>&1 || true; done
    if ((KEEP)); then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

OUT=$T/out              # written by the unprivileged user (hyperfine JSON, time -o)
mkdir -p "$OUT" "$T/bin"
LOG=$T/hyperfine.log
RESULTS=$T/results.tsv
: >"$LOG"; : >"$RESULTS"

AS=()                   # prefix that runs a command as the measuring user
if ((IS_ROOT)); then
    chown "$BENCH_UID:$BENCH_UID" "$OUT"
    AS=(setpriv --reuid="$BENCH_UID" --regid="$BENCH_UID" --clear-groups --
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        HOME="$T" LANG=C.UTF-8 TERM="${TERM:-dumb}")
    RUN_AS="uid $BENCH_UID via setpriv from root ($(getent passwd "$BENCH_UID" | cut -d: -f1 | grep . || echo 'no passwd entry'))"
else
    RUN_AS="uid $(id -u) ($(id -un 2>/dev/null || echo 'no passwd entry'))"
fi
cd "$T"                 # a cwd the measuring user can reach

# ---------------------------------------------------------------------------------------------
# Python helpers: hyperfine JSON, medians, process-tree RSS, the table.
# ---------------------------------------------------------------------------------------------
PY=$T/bench_helper.py
cat >"$PY" <<'PYEOF'
import json, os, signal, statistics, sys, time

def hf(*paths):
    """The median of each command's runs over every round's JSON export."""
    times = {}
    for path in paths:
        for r in json.load(open(path))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
    for name, ts in times.items():
        print(name, repr(statistics.median(ts)))

def linkage(path):
    """How the binary is linked: 'dynamic' if the ELF asks for a program interpreter (PT_INTERP);
    else static, with glibc if it parses GLIBC_TUNABLES at start-up, or musl (scripts/build.sh
    makes no other kind)."""
    import struct
    with open(path, "rb") as f:
        elf = f.read()
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    types = [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
    if 3 in types:
        print("dynamic")
    else:
        print("static, " + ("glibc" if b"GLIBC_TUNABLES" in elf else "musl"))

def settle(timeout="20"):
    """Waits until the CPUs are idle (>= 90% over 200 ms) or `timeout` seconds have passed: a batch
    of sandboxes leaves its network namespaces to be torn down by a kernel worker afterwards,
    and the next batch must not pay for them."""
    def idle():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    end = time.monotonic() + float(timeout)
    while time.monotonic() < end:
        i0, t0 = idle()
        time.sleep(0.2)
        i1, t1 = idle()
        if t1 > t0 and (i1 - i0) / (t1 - t0) >= 0.9:
            return

def median(*vals):
    print(repr(statistics.median(float(v) for v in vals)))

def procs():
    """pid -> (ppid, comm) for every process visible in /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        out[int(d)] = (ppid, comm)
    return out

def subtree(ps, root):
    kids = {}
    for pid, (ppid, _) in ps.items():
        kids.setdefault(ppid, []).append(pid)
    seen, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in ps and p not in seen:
            seen.append(p)
            todo.extend(kids.get(p, []))
    return seen

def vmrss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def tree_rss(root, payload_comm):
    """Wait for the payload (comm == payload_comm) under root, then print the summed VmRSS (KiB)
    of root and its descendants outside the payload's subtree, and the process count; kill the tree."""
    root = int(root)
    deadline = time.time() + 15
    result = None
    while time.time() < deadline:
        ps = procs()
        if root not in ps:
            break
        tree = subtree(ps, root)
        payload = [p for p in tree if ps[p][1] == payload_comm and p != root]
        if payload:
            time.sleep(0.3)          # let the supervisors settle after the exec
            ps = procs()
            tree = subtree(ps, root)
            inside = set()
            for p in payload:
                inside.update(subtree(ps, p))
            sup = [p for p in tree if p not in inside]
            result = (sum(vmrss(p) for p in sup), len(sup), ",".join(ps[p][1] for p in sup))
            break
        time.sleep(0.02)
    for p in reversed(subtree(procs(), root)):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    if result is None:
        print("n/a:payload never started (or the sandbox exited early)")
    else:
        print(f"{result[0]} {result[1]} {result[2]}")

COLS = [("ns", "ns-rootless"), ("bwrap", "bwrap"), ("ratio", "ns/bwrap"),
        ("unshare", "unshare"), ("crun", "crun"), ("runc", "runc"), ("podman", "podman"),
        ("bare", "no sandbox")]

def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"

def fmt(kind, v):
    """-> (text, number used for the ratio or None)"""
    if kind == "time":
        return fmt_time(float(v)), float(v)
    if kind == "kib":
        k = float(v)
        return (f"{k / 1024:.1f} MiB" if k >= 1024 else f"{k:.0f} KiB"), k
    if kind == "conc":
        wall, ok, n = v.split(",")
        return f"{fmt_time(float(wall))} {ok}/{n} ok", float(wall)
    if kind == "thr":
        sec, nbytes = v.split(",")
        sec = float(sec)
        rate = int(nbytes) / sec
        rate = f"{rate / 2**30:.2f} GiB/s" if rate >= 2**30 else f"{rate / 2**20:.0f} MiB/s"
        return f"{fmt_time(sec)} {rate}", sec
    if kind == "sup":
        kib, n = v.split(",")
        return f"{int(kib) / 1024:.1f} MiB/{n}p", float(kib)
    if kind == "x":
        return f"x{float(v):.1f}", float(v)
    return v, None

def table(path, header_path):
    rows, order, notes = {}, [], []
    for line in open(path):
        row, kind, tool, val = line.rstrip("\n").split("\t", 3)
        if row not in rows:
            rows[row] = {"_kind": kind}
            order.append(row)
        rows[row][tool] = val
    out = []
    for row in order:
        cells = rows[row]
        kind = cells["_kind"]
        line, nums = [row], {}
        for key, _ in COLS:
            if key == "ratio":
                line.append(None)
                continue
            v = cells.get(key)
            if v is None:
                line.append("-")
            elif v.startswith("n/a"):
                reason = v[4:] if v.startswith("n/a:") else ""
                if reason:
                    if reason not in notes:
                        notes.append(reason)
                    line.append(f"n/a[{notes.index(reason) + 1}]")
                else:
                    line.append("n/a")
            else:
                text, num = fmt(kind, v)
                nums[key] = num
                line.append(text)
        i = [k for k, _ in COLS].index("ratio") + 1
        if "ns" in nums and "bwrap" in nums and nums["bwrap"]:
            line[i] = f"{nums['ns'] / nums['bwrap']:.2f}"
        else:
            line[i] = "-"
        out.append(line)
    head = ["row"] + [h for _, h in COLS]
    widths = [max(len(str(r[c])) for r in out + [head]) for c in range(len(head))]
    sys.stdout.write(open(header_path).read())
    def emit(r):
        print("  ".join(str(x).ljust(w) if c == 0 else str(x).rjust(w)
                        for c, (x, w) in enumerate(zip(r, widths))).rstrip())
    emit(head)
    print("  ".join("-" * w for w in widths))
    for r in out:
        emit(r)
    if notes:
        print()
        for n, reason in enumerate(notes, 1):
            print(f"[{n}] {reason}")

if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
PYEOF

# rec ROW KIND TOOL VALUE -- one cell of the final table (VALUE "n/a:reason" for a missing cell)
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4//$'\n'/ }" >>"$RESULTS"; }

# last_line FILE -- the last non-blank line of FILE, shortened (for n/a reasons)
last_line() { { grep -v '^[[:space:]]*$' "$1" 2>/dev/null || true; } | tail -n 1 | cut -c1-140; }

# human_bytes N -- N bytes as "1 GiB" or "256 MiB"
human_bytes() { python3 -c "n=$1; print(f'{n >> 30} GiB' if n >= 1 << 30 else f'{n >> 20} MiB')"; }

ratio_of() {  # ratio_of ROW TOOL_A TOOL_B -- A's median / B's, from the recorded cells
    awk -F'\t' -v r="$1" -v a="$2" -v b="$3" '$1 == r && $3 == a {x = $4} $1 == r && $3 == b {y = $4}
        END { if (x ~ /^[0-9.e-]+$/ && y ~ /^[0-9.e-]+$/ && y > 0) print x / y; else print "n/a" }' "$RESULTS"
}

# probe CMD -- run CMD (a shell command line) once as the measuring user; on failure PROBE_ERR says why
PROBE_ERR=""
probe() {
    local rc=0
    timeout 120 "${AS[@]}" sh -c "$1" </dev/null >/dev/null 2>"$T/probe.err" || rc=$?
    if ((rc == 0)); then return 0; fi
    local msg
    msg=$(last_line "$T/probe.err")
    if ((rc == 124)); then PROBE_ERR="timed out after 120 s: ${1%% *}"
    else PROBE_ERR="exit $rc${msg:+: $msg}"; fi
    return 1
}

# hf ROW KIND MODE RUNS WARMUP [TOOL CMD]... -- time the commands of one row with hyperfine
# (MODE n: no shell, -N; s: through sh, for pipelines). hyperfine runs all of one command's runs
# before the next command's, so on a machine whose speed drifts the first command would be timed
# in other conditions than the last: the runs are split into up to ROUNDS hyperfine invocations
# (at least 2 runs each) with the command order reversed every other round, and the median is
# taken over every run of every round. Commands that fail their probe are left out and recorded
# as n/a. KIND thr: value is "median,bytes" with bytes in HF_BYTES.
HF_BYTES=0
hf() {
    local row=$1 kind=$2 mode=$3 runs=$4 warmup=$5; shift 5
    local names=() cmds=() tool cmd
    while (($#)); do
        tool=$1 cmd=$2; shift 2
        if probe "$cmd"; then names+=("$tool"); cmds+=("$cmd")
        else rec "$row" "$kind" "$tool" "n/a:$tool: $PROBE_ERR"; fi
    done
    ((${#cmds[@]})) || return 0
    log "$row: ${names[*]}"
    local rounds=$ROUNDS per
    ((rounds > runs / 2)) && rounds=$((runs / 2))
    ((rounds >= 1)) || rounds=1
    per=$(((runs + rounds - 1) / rounds))
    local exports=() round i order ok=1
    echo "=== $row" >>"$LOG"
    for ((round = 0; round < rounds; round++)); do
        local args=(--style basic --export-json "$OUT/hf.$round.json" --warmup "$warmup"
                    --runs "$per")
        [[ $mode == n ]] && args+=(-N)
        order=("${!cmds[@]}")
        ((round % 2)) && mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
        for i in "${order[@]}"; do args+=(--command-name "${names[i]}" "${cmds[i]}"); done
        rm -f "$OUT/hf.$round.json"
        if "${AS[@]}" hyperfine "${args[@]}" >>"$LOG" 2>&1; then
            exports+=("$OUT/hf.$round.json")
        else
            ok=0
            break
        fi
    done
    if ((ok)); then
        local name med
        while read -r name med; do
            if [[ $kind == thr ]]; then rec "$row" "$kind" "$name" "$med,$HF_BYTES"
            else rec "$row" "$kind" "$name" "$med"; fi
        done < <(python3 "$PY" hf "${exports[@]}")
    else
        log "hyperfine failed for '$row' (a run exited non-zero?); last lines of its log:"
        tail -n 5 "$LOG" >&2
        for tool in "${names[@]}"; do rec "$row" "$kind" "$tool" "n/a:hyperfine failed for this row (a run exited non-zero)"; done
    fi
}

# ---------------------------------------------------------------------------------------------
# The ns-rootless binary.
# ---------------------------------------------------------------------------------------------
NSR=$T/bin/ns-rootless
NSR_NA=""               # reason when there is no binary at all
if ((BUILD)); then
    have cargo || die "cargo not found (or use --bin PATH / --no-build)"
    log "scripts/build.sh"
    if ! "$REPO/scripts/build.sh" >&2; then
        NSR_NA="scripts/build.sh failed"
        log "warning: $NSR_NA; the ns-rootless column will say n/a"
    fi
fi
[[ -n $BIN ]] || BIN=$REPO/target/release/ns-rootless
if [[ -z $NSR_NA ]]; then
    if [[ -x $BIN ]]; then
        install -m 755 "$BIN" "$NSR"
    else
        NSR_NA="no binary at $BIN"
        log "warning: $NSR_NA"
    fi
fi
if [[ -z $NSR_NA ]]; then
    # an exit status of 0 is not enough (a stub main() exits 0 too): the command must really run
    marker="ns-rootless-bench-ok"
    nsr_out=$(cd "$T" && timeout 60 "${AS[@]}" "$NSR" -- echo "$marker" </dev/null 2>"$T/nsr.err") || true
    if [[ $nsr_out != *"$marker"* ]]; then
        NSR_NA="\`ns-rootless -- echo $marker\` did not print it: $(last_line "$T/nsr.err")"
        NSR_NA=${NSR_NA%: }
        log "warning: $NSR_NA; the ns-rootless column will say n/a"
    fi
fi
if [[ -n $NSR_NA ]]; then
    # keep the rows: a stub that explains itself, so every ns-rootless cell says n/a with the reason
    printf '%s\n' "$NSR_NA" >"$T/nsr.reason"
    printf '#!/bin/sh\ncat %q >&2\nexit 1\n' "$T/nsr.reason" >"$NSR"
    chmod 755 "$NSR"
fi

# ---------------------------------------------------------------------------------------------
# Busybox rootfs (bin proc dev tmp sys etc + applet symlinks; /mnt/bN mount points for the binds).
# ---------------------------------------------------------------------------------------------
ROOTFS=$T/rootfs
BIND_SRC=$T/bindsrc
mkdir -p "$ROOTFS"/{bin,proc,dev,tmp,sys,etc,mnt} "$BIND_SRC"
chmod 1777 "$ROOTFS/tmp"
ROOTFS_OK=1
if [[ -x /bin/busybox ]] && /bin/busybox --list >/dev/null 2>&1; then
    cp /bin/busybox "$ROOTFS/bin/busybox"
    while read -r applet; do
        [[ $applet == busybox ]] || ln -s busybox "$ROOTFS/bin/$applet"
    done < <(/bin/busybox --list)
    echo "root:x:0:0:root:/:/bin/sh" >"$ROOTFS/etc/passwd"
    echo "root:x:0:" >"$ROOTFS/etc/group"
else
    ROOTFS_OK=0
    log "warning: /bin/busybox (busybox-static) missing: the --rootfs rows will say n/a"
fi
max_binds=0
for n in "${BIND_COUNTS[@]}"; do ((n > max_binds)) && max_binds=$n; done
for ((i = 1; i <= max_binds; i++)); do mkdir "$ROOTFS/mnt/b$i"; done
echo hello >"$BIND_SRC/file"

# ---------------------------------------------------------------------------------------------
# The comparison commands.
# ---------------------------------------------------------------------------------------------
BW_HOST="bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev --hostname box"
BW_ROOT="bwrap --unshare-all --bind $ROOTFS / --proc /proc --dev /dev --hostname box"
US_HOST="unshare -Urmpiun --fork --mount-proc"
US_ROOT="unshare -Urmpiun --fork --root=$ROOTFS --mount-proc"
NS_HOST="$NSR --"
NS_ROOT="$NSR --rootfs $ROOTFS --"
na_cmd() { printf 'echo %q >&2; false' "$1"; }   # a command line whose probe fails with reason $1
have bwrap || { BW_HOST=$(na_cmd "bwrap not installed (apt-get install bubblewrap)"); BW_ROOT=$BW_HOST; }
if ((!ROOTFS_OK)); then
    BW_ROOT=$(na_cmd "no busybox rootfs (apt-get install busybox-static)"); US_ROOT=$BW_ROOT; NS_ROOT=$BW_ROOT
fi

# crun: probe once with a minimal rootless OCI bundle on the busybox rootfs.
CRUN_NA=""
CRUN_CMD="false crun-unavailable"
BUNDLE=$T/bundle
CRUN_STATE=$OUT/crun-state
if ! have crun; then
    CRUN_NA="crun not installed"
elif ((!ROOTFS_OK)); then
    CRUN_NA="no busybox rootfs"
else
    mkdir -p "$BUNDLE" "$CRUN_STATE"
    ((IS_ROOT)) && chown "$BENCH_UID:$BENCH_UID" "$BUNDLE" "$CRUN_STATE"
    crun_args() {  # rewrite config.json: our rootfs (read-only), no terminal, the given argv
        python3 - "$BUNDLE/config.json" "$ROOTFS" "$@" <<'EOF'
import json, sys
path, rootfs, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = argv
c["root"] = {"path": rootfs, "readonly": True}
json.dump(c, open(path, "w"), indent=1)
EOF
    }
    # the spec must be generated as the measuring user: `--rootless` maps the caller's uid
    if (cd "$BUNDLE" && "${AS[@]}" crun spec --rootless) 2>"$T/crun.err" && crun_args id; then
        if crun_out=$(cd "$T" && timeout 60 "${AS[@]}" crun --root="$CRUN_STATE" run -b "$BUNDLE" bench-probe 2>"$T/crun.err" </dev/null); then
            log "crun works rootless here: $crun_out"
            crun_args /bin/true
            CRUN_CMD="crun --root=$CRUN_STATE run -b $BUNDLE bench"
        else
            CRUN_NA="crun run (rootless) failed: $(last_line "$T/crun.err")"
        fi
    else
        CRUN_NA="crun spec --rootless failed: $(last_line "$T/crun.err")"
    fi
    [[ -z $CRUN_NA ]] || log "crun: n/a: $CRUN_NA"
fi
crun_cell() {  # crun_cell ROW KIND -- record the crun n/a reason when crun does not work here
    [[ -z $CRUN_NA ]] || rec "$1" "$2" crun "n/a:crun: $CRUN_NA"
}

# ---------------------------------------------------------------------------------------------
# Machine description.
# ---------------------------------------------------------------------------------------------
HEADER=$T/header.txt
{
    model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
    mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
    commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "(no commit yet)")
    dirty=""
    [[ -n $(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] \
        && dirty=" with uncommitted changes"
    echo "ns-rootless benchmark ($( ((QUICK)) && echo quick || echo full ) run, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo "machine : $(nproc) CPUs, ${model:-unknown CPU}, $mem RAM, kernel $(uname -r)"
    echo "measured: as $RUN_AS; ns-rootless $commit$dirty ($BIN, $(python3 "$PY" linkage "$BIN" 2>/dev/null || echo '?'))"
    printf 'tools   : %s; %s; %s; %s\n' "$(hyperfine --version 2>/dev/null)" \
        "$(bwrap --version 2>/dev/null || echo 'bwrap missing')" \
        "$(unshare --version 2>/dev/null | head -n1)" \
        "$(crun --version 2>/dev/null | head -n1 || echo 'crun missing')"
    echo "timings : hyperfine medians over all runs (startup: $RUNS runs in $ROUNDS rounds of alternating order, $WARMUP warmups each, -N); ratio = ns-rootless / bwrap, lower is better"
    echo
} >"$HEADER"

if want startup; then
# ---------------------------------------------------------------------------------------------
# 1. Startup: `true` in host mode and in --rootfs mode.
# ---------------------------------------------------------------------------------------------
row="startup, host mode: true"
hf "$row" time n "$RUNS" "$WARMUP" \
    ns "$NS_HOST true" bwrap "$BW_HOST true" unshare "$US_HOST true" bare "true"

row="startup, --rootfs busybox: /bin/true"
crun_cell "$row" time
if [[ -z $CRUN_NA ]]; then
    hf "$row" time n "$RUNS" "$WARMUP" \
        ns "$NS_ROOT /bin/true" bwrap "$BW_ROOT /bin/true" unshare "$US_ROOT /bin/true" crun "$CRUN_CMD"
else
    hf "$row" time n "$RUNS" "$WARMUP" \
        ns "$NS_ROOT /bin/true" bwrap "$BW_ROOT /bin/true" unshare "$US_ROOT /bin/true"
fi

fi # want startup

if want rss; then
# ---------------------------------------------------------------------------------------------
# 2. Peak RSS (GNU time %M), interleaved runs, median.
# ---------------------------------------------------------------------------------------------
peak_rss() {  # peak_rss ROW [TOOL CMD]...  (CMD: plain words, no quoting)
    local row=$1; shift
    local tools=() cmds=() tool cmd r i
    if [[ ! -x /usr/bin/time ]]; then
        while (($#)); do rec "$row" kib "$1" "n/a:/usr/bin/time (GNU time) missing"; shift 2; done
        return 0
    fi
    while (($#)); do
        tool=$1 cmd=$2; shift 2
        if probe "$cmd"; then tools+=("$tool"); cmds+=("$cmd"); : >"$T/rss.$tool"
        else rec "$row" kib "$tool" "n/a:$tool: $PROBE_ERR"; fi
    done
    ((${#tools[@]})) || return 0
    log "$row: ${tools[*]} x$RSS_REPS"
    local -a argv
    for ((r = 0; r < RSS_REPS; r++)); do
        for i in "${!tools[@]}"; do
            read -ra argv <<<"${cmds[i]}"
            rm -f "$OUT/time.txt"
            if "${AS[@]}" /usr/bin/time -f %M -o "$OUT/time.txt" "${argv[@]}" </dev/null >/dev/null 2>&1; then
                tail -n 1 "$OUT/time.txt" >>"$T/rss.${tools[i]}"
            fi
        done
    done
    for tool in "${tools[@]}"; do
        if [[ -s $T/rss.$tool ]]; then
            # shellcheck disable=SC2046
            rec "$row" kib "$tool" "$(python3 "$PY" median $(cat "$T/rss.$tool"))"
        else
            rec "$row" kib "$tool" "n/a:$tool: every run under /usr/bin/time failed"
        fi
    done
}
row="peak RSS, host mode: true [a]"
peak_rss "$row" ns "$NS_HOST true" bwrap "$BW_HOST true" unshare "$US_HOST true" bare "true"
row="peak RSS, --rootfs: /bin/true [a]"
crun_cell "$row" kib
if [[ -z $CRUN_NA ]]; then
    peak_rss "$row" ns "$NS_ROOT /bin/true" bwrap "$BW_ROOT /bin/true" crun "$CRUN_CMD"
else
    peak_rss "$row" ns "$NS_ROOT /bin/true" bwrap "$BW_ROOT /bin/true"
fi

fi # want rss

if want concurrent; then
# ---------------------------------------------------------------------------------------------
# 3. N concurrent sandboxes (xargs -P N, each `true`): wall time and how many succeeded.
# ---------------------------------------------------------------------------------------------
CONC=$T/concurrent.sh
cat >"$CONC" <<'EOF'
#!/bin/sh
# concurrent.sh N CMD... -- start N copies of CMD at once; print "succeeded wall_ns"
n=$1; shift
start=$(date +%s%N)
ok=$(seq 1 "$n" | xargs -P "$n" -I{} sh -c '"$@" </dev/null >/dev/null 2>&1 && echo ok' sh "$@" | grep -c ok)
end=$(date +%s%N)
echo "$ok $((end - start))"
EOF
chmod 755 "$CONC"
concurrent() {  # concurrent N [TOOL CMD]...
    local n=$1; shift
    local row="$n concurrent: true (wall, ok)" tools=() cmds=() tool cmd r i ok ns
    while (($#)); do
        tool=$1 cmd=$2; shift 2
        if probe "$cmd"; then tools+=("$tool"); cmds+=("$cmd"); : >"$T/conc.$tool"
        else rec "$row" conc "$tool" "n/a:$tool: $PROBE_ERR"; fi
    done
    ((${#tools[@]})) || return 0
    log "$row: ${tools[*]} x$CONC_REPS"
    local -a argv
    for ((r = 0; r < CONC_REPS; r++)); do
        for i in "${!tools[@]}"; do
            read -ra argv <<<"${cmds[i]}"
            read -r ok ns < <("${AS[@]}" "$CONC" "$n" "${argv[@]}" 2>/dev/null || echo "0 0")
            echo "$ok $ns" >>"$T/conc.${tools[i]}"
            python3 "$PY" settle   # the batch's namespaces are torn down after it ends
        done
    done
    local walls minok
    for tool in "${tools[@]}"; do
        # shellcheck disable=SC2046
        walls=$(python3 "$PY" median $(awk '{print $2 / 1e9}' "$T/conc.$tool"))
        minok=$(sort -n "$T/conc.$tool" | head -n1 | cut -d' ' -f1)
        rec "$row" conc "$tool" "$walls,$minok,$n"
    done
}
for n in "${CONC_NS[@]}"; do
    concurrent "$n" ns "$NS_HOST true" bwrap "$BW_HOST true" unshare "$US_HOST true" bare "true"
done

fi # want concurrent

if want binds; then
# ---------------------------------------------------------------------------------------------
# 4. Bind mounts: N read-only directory binds onto /mnt/bN of the busybox rootfs.
# ---------------------------------------------------------------------------------------------
declare -A BIND_MED=()
for n in "${BIND_COUNTS[@]}"; do
    ns_args="" bw_args=""
    for ((i = 1; i <= n; i++)); do
        ns_args+=" --ro-bind $BIND_SRC:/mnt/b$i"
        bw_args+=" --ro-bind $BIND_SRC /mnt/b$i"
    done
    row="$n binds, --rootfs: /bin/true"
    runs=$RUNS warm=$WARMUP
    ((n >= 100)) && { runs=$BIND_RUNS; warm=1; }
    ((n >= 1000)) && warm=0
    nsr_root=${NS_ROOT% --}
    hf "$row" time n "$runs" "$warm" ns "$nsr_root$ns_args -- /bin/true" bwrap "${BW_ROOT}$bw_args /bin/true"
    for tool in ns bwrap; do
        BIND_MED[$n.$tool]=$(awk -F'\t' -v r="$row" -v t="$tool" '$1 == r && $3 == t {print $4}' "$RESULTS")
    done
done
lo=10 hi=${BIND_COUNTS[-1]}
row="binds $hi / binds $lo (time ratio)"
for tool in ns bwrap; do
    a=${BIND_MED[$hi.$tool]:-} b=${BIND_MED[$lo.$tool]:-}
    if [[ $a =~ ^[0-9.e-]+$ && $b =~ ^[0-9.e-]+$ ]]; then
        rec "$row" x "$tool" "$(python3 -c "print(repr($a / $b))")"
    else
        rec "$row" x "$tool" "n/a"
    fi
done

fi # want binds

if want supervisor; then
# ---------------------------------------------------------------------------------------------
# 5. RSS of the supervising processes while the payload sleeps.
# ---------------------------------------------------------------------------------------------
supervisor_rss() {  # supervisor_rss ROW [TOOL CMD]...  (CMD runs `sleep 60` as the payload)
    local row=$1; shift
    local tools=() cmds=() tool cmd r i pid res
    while (($#)); do
        tool=$1 cmd=$2; shift 2
        if probe "${cmd/sleep 60/true}"; then tools+=("$tool"); cmds+=("$cmd"); : >"$T/sup.$tool"
        else rec "$row" sup "$tool" "n/a:$tool: $PROBE_ERR"; fi
    done
    ((${#tools[@]})) || return 0
    log "$row: ${tools[*]} x$SUP_REPS"
    local -a argv
    for ((r = 0; r < SUP_REPS; r++)); do
        for i in "${!tools[@]}"; do
            read -ra argv <<<"${cmds[i]}"
            "${AS[@]}" "${argv[@]}" </dev/null >/dev/null 2>&1 &
            pid=$!
            BG_PIDS+=("$pid")
            res=$(python3 "$PY" tree-rss "$pid" sleep)
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            BG_PIDS=()
            if [[ $res == n/a* ]]; then
                echo "$res" >"$T/sup.${tools[i]}.err"
            else
                echo "$res" >>"$T/sup.${tools[i]}"
                log "  ${tools[i]}: $res"
            fi
        done
    done
    local kib np
    for tool in "${tools[@]}"; do
        if [[ -s $T/sup.$tool ]]; then
            # shellcheck disable=SC2046
            kib=$(python3 "$PY" median $(cut -d' ' -f1 "$T/sup.$tool"))
            np=$(head -n1 "$T/sup.$tool" | cut -d' ' -f2)
            rec "$row" sup "$tool" "${kib%.*},$np"
        else
            rec "$row" sup "$tool" "n/a:$tool: $(cat "$T/sup.$tool.err" 2>/dev/null || echo 'no sample')"
        fi
    done
}
supervisor_rss "supervisors' RSS during sleep [b]" \
    ns "$NS_HOST sleep 60" bwrap "$BW_HOST sleep 60" unshare "$US_HOST sleep 60"

fi # want supervisor

if want throughput; then
# ---------------------------------------------------------------------------------------------
# 6. Throughput: bytes piped through `cat` in the sandbox; pty output with -t.
# ---------------------------------------------------------------------------------------------
HF_BYTES=$PIPE_BYTES
src="head -c $PIPE_BYTES /dev/zero |"
hf "pipe $(human_bytes "$PIPE_BYTES") through cat" thr s "$PIPE_RUNS" 1 \
    ns "$src $NS_HOST cat >/dev/null" bwrap "$src $BW_HOST cat >/dev/null" \
    unshare "$src $US_HOST cat >/dev/null" bare "$src cat >/dev/null"

# -t is meant for a user at a terminal: give the command a pty as stdin (a python wrapper that keeps
# the master open), stdout stays /dev/null. Same wrapper for script(1), the no-sandbox pty relay.
cat >"$T/withtty.py" <<'EOF'
import os, sys
master, slave = os.openpty()
os.dup2(slave, 0)
os.close(slave)
os.set_inheritable(master, True)   # never a hangup on the slave while the command runs
os.execvp(sys.argv[1], sys.argv[1:])
EOF
TTYWRAP=""
probe "python3 $T/withtty.py test -t 0" && TTYWRAP="python3 $T/withtty.py "
HF_BYTES=$PTY_BYTES
row="pty out $(human_bytes "$PTY_BYTES") (-t) [c]"
rec "$row" thr bwrap "n/a:bwrap: no pty relay (bwrap has no -t)"
hf "$row" thr n "$PTY_RUNS" 0 \
    ns "${TTYWRAP}$NSR -t -- head -c $PTY_BYTES /dev/zero" \
    bare "${TTYWRAP}script -qec 'head -c $PTY_BYTES /dev/zero' /dev/null"

fi # want throughput

if want net; then
# ---------------------------------------------------------------------------------------------
# 7. Network: start-up with user-mode networking and with -p, TCP through a published port.
# ---------------------------------------------------------------------------------------------
# Against rootless podman on the same busybox rootfs, imported as an image, with its default
# network (slirp4netns here: podman 4.3 has no pasta; crun refuses this host's hybrid cgroups, so
# `--runtime runc`). ns-rootless runs the same rootfs with --rootfs. Short store paths: under a
# long one podman waits 20 s for every container's exit.
NET_RUNS=20; ((QUICK)) && NET_RUNS=6
PMN=$(mktemp -d /tmp/nsn.XXXXXX)
chmod 755 "$PMN"
mkdir -p "$PMN"/{home,run,config,data}
chmod 700 "$PMN/run"
((IS_ROOT)) && chown -R "$BENCH_UID:$BENCH_UID" "$PMN"
# at the end, and at exit if interrupted: no container left, nor podman's pause process (it keeps
# its user namespace), nor the store
PMN_END="${AS[*]:+$(printf '%q ' "${AS[@]}")}env HOME=$PMN/home XDG_RUNTIME_DIR=$PMN/run XDG_CONFIG_HOME=$PMN/config XDG_DATA_HOME=$PMN/data podman --runtime runc rm -f -t 0 -a >/dev/null 2>&1;"
PMN_END+=" p=\$(cat $PMN/run/libpod/tmp/pause.pid 2>/dev/null) && kill -KILL \$p; rm -rf $PMN"
CLEANUP_CMDS+=("$PMN_END")
PMNC="env HOME=$PMN/home XDG_RUNTIME_DIR=$PMN/run XDG_CONFIG_HOME=$PMN/config XDG_DATA_HOME=$PMN/data podman --runtime runc"
PMN_RUN=$(na_cmd "podman not installed (apt-get install podman)")
if ! ((ROOTFS_OK)); then
    PMN_RUN=$(na_cmd "no busybox rootfs (apt-get install busybox-static)")
elif have podman && tar --owner=0 --group=0 -C "$ROOTFS" -cf "$PMN/img.tar" . && chmod 644 "$PMN/img.tar" \
    && "${AS[@]}" $PMNC import -q "$PMN/img.tar" localhost/nsnet >/dev/null 2>"$T/pmn.err"; then
    PMN_RUN="$PMNC run --rm"
elif have podman; then
    PMN_RUN=$(na_cmd "podman import failed: $(last_line "$T/pmn.err")")
fi
# ns-rootless with slirp4netns, its fallback: a PATH where pasta isn't.
SLIRP_PATH=$T/slirp-only
mkdir -p "$SLIRP_PATH"
if have slirp4netns; then ln -sf "$(command -v slirp4netns)" "$SLIRP_PATH/slirp4netns"; fi
NS_NET="$NSR --rootfs $ROOTFS"
NS_SLIRP="env PATH=$SLIRP_PATH $NSR --rootfs $ROOTFS"
hf "startup, --net pasta: /bin/true (podman: its default network)" time n "$NET_RUNS" 2 \
    ns "$NS_NET --net pasta -- /bin/true" podman "$PMN_RUN localhost/nsnet /bin/true"
hf "startup, -p 18080:80: /bin/true" time n "$NET_RUNS" 2 \
    ns "$NS_NET -p 18080:80 -- /bin/true" podman "$PMN_RUN -p 18080:80 localhost/nsnet /bin/true"
hf "startup, --net pasta via slirp4netns: /bin/true" time n "$NET_RUNS" 2 \
    ns "$NS_SLIRP --net pasta -- /bin/true" \
    podman "$PMN_RUN --network slirp4netns localhost/nsnet /bin/true"

# A sink on port 5000 inside (busybox nc, a persistent server that runs dd for each connection),
# published on 127.0.0.1:PORT; the client writes N bytes with bash's /dev/tcp. "no sandbox": the
# same sink on the host.
NET_BYTES=$PIPE_BYTES
sink() { echo "echo up; exec ${2:-}nc -ll -p $1 -e ${2:-}dd bs=1M of=/dev/null"; }  # sink PORT [BUSYBOX]
SINK=$(sink 5000)
# sink_start ROW TOOL PORT STOP CMD...: CMD runs the sink, published on PORT; STOP (a command line,
# run as the measuring user) ends it where a SIGTERM to CMD doesn't (podman's container: nc is its
# pid 1, which ignores SIGTERM). The sinks of a row all run at once, so that its clients are timed
# in the same hyperfine rounds of alternating order.
SINK_ARGS=() SINK_STOPS=() SINK_PIDS=()
sink_start() {
    local row=$1 tool=$2 port=$3 stop=$4; shift 4
    local pid
    "${AS[@]}" "$@" </dev/null >"$T/sink.$tool" 2>&1 &
    pid=$!
    BG_PIDS+=("$pid"); SINK_PIDS+=("$pid"); SINK_STOPS+=("$stop")
    for _ in $(seq 300); do
        grep -q '^up' "$T/sink.$tool" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '^up' "$T/sink.$tool"; then
        SINK_ARGS+=("$tool" "bash -c 'head -c $NET_BYTES /dev/zero >/dev/tcp/127.0.0.1/$port'")
    else
        rec "$row" thr "$tool" "n/a:$tool: $(last_line "$T/sink.$tool")"
    fi
}
sinks_measure() {  # sinks_measure ROW -- time every client of the sinks started, then stop them
    local row=$1 c p
    HF_BYTES=$NET_BYTES
    ((${#SINK_ARGS[@]})) && hf "$row" thr s "$PIPE_RUNS" 1 "${SINK_ARGS[@]}"
    for c in "${SINK_STOPS[@]}"; do "${AS[@]}" sh -c "$c" >/dev/null 2>&1 || true; done
    for p in "${SINK_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    SINK_ARGS=() SINK_STOPS=() SINK_PIDS=() BG_PIDS=()
}
read -ra pmn <<<"$PMN_RUN"
read -ra ns_slirp <<<"$NS_SLIRP"
row="TCP $(human_bytes "$NET_BYTES") through -p 127.0.0.1 (podman: default port handler)"
sink_start "$row" ns 18081 : "$NSR" --rootfs "$ROOTFS" -p 18081:5000 -- /bin/sh -c "$SINK"
if [[ $PMN_RUN == env* ]]; then
    sink_start "$row" podman 18082 "$PMNC rm -f -t 0 nsb-sink1" "${pmn[@]}" --name nsb-sink1 \
        -p 18082:5000 localhost/nsnet /bin/sh -c "$SINK"
else
    probe "$PMN_RUN" || rec "$row" thr podman "n/a:podman: $PROBE_ERR"
fi
sink_start "$row" bare 18083 : "$ROOTFS/bin/busybox" sh -c "$(sink 18083 "$ROOTFS/bin/busybox ")"
sinks_measure "$row"
row="TCP $(human_bytes "$NET_BYTES") through -p 127.0.0.1, slirp4netns (both)"
sink_start "$row" ns 18084 : "${ns_slirp[@]}" -p 18084:5000 -- /bin/sh -c "$SINK"
if [[ $PMN_RUN == env* ]]; then
    sink_start "$row" podman 18085 "$PMNC rm -f -t 0 nsb-sink2" "${pmn[@]}" --name nsb-sink2 \
        --network slirp4netns:port_handler=slirp4netns -p 18085:5000 localhost/nsnet /bin/sh -c "$SINK"
fi
sinks_measure "$row"
sh -c "$PMN_END"
CLEANUP_CMDS=()
fi # want net

if want images; then
# ---------------------------------------------------------------------------------------------
# 8. Images and sessions: a warm --image start against --rootfs of the same tree, a cold one
#    (unpack into an empty store) against podman load + run of the same podman-save archive,
#    and --cow on a big tree against a plain --bind of it.
# ---------------------------------------------------------------------------------------------
cell_of() {  # cell_of ROW TOOL -- the recorded cell (a median, or n/a:reason)
    awk -F'\t' -v r="$1" -v t="$2" '$1 == r && $3 == t {x = $4} END { print (x == "" ? "n/a" : x) }' "$RESULTS"
}
if ((ROOTFS_OK)); then
    IMG=$T/rootfs.tar
    tar -C "$ROOTFS" -cf "$IMG" .
    chmod 644 "$IMG"
    NS_IMG="env XDG_DATA_HOME=$OUT/data XDG_STATE_HOME=$OUT/state $NSR"
    probe "$NS_IMG --image $IMG -- /bin/true" || true   # unpacks once: the row is the warm start
    row="startup, --image busybox tarball (warm): /bin/true"
    # both through env(1), whose own start is not what is compared
    hf "$row" time n "$RUNS" "$WARMUP" \
        ns "$NS_IMG --image $IMG -- /bin/true" rootfs "$NS_IMG --rootfs $ROOTFS -- /bin/true"
    # the table has no column for the --rootfs cell: it gets a row of its own
    rec "startup, --rootfs of the same tree (same rounds): /bin/true" time ns "$(cell_of "$row" rootfs)"
    rec "--image warm / --rootfs same tree (time ratio)" x ns "$(ratio_of "$row" ns rootfs)"

    # A cold start: the same tree as the archive `podman save` writes (docker-archive), from an
    # empty store at each run: ns-rootless unpacks it, rootless podman loads it (`podman load`)
    # and runs it (`--runtime runc`: crun refuses this host's hybrid cgroups; `--network none`,
    # which is ns-rootless's default). Short podman paths: under a long one podman waits 20 s
    # for every container's exit.
    PMI=$(mktemp -d /tmp/nsi.XXXXXX)
    chmod 755 "$PMI"
    mkdir -p "$PMI"/{home,run,config,data}
    chmod 700 "$PMI/run"
    ((IS_ROOT)) && chown -R "$BENCH_UID:$BENCH_UID" "$PMI"
    PMIC="env HOME=$PMI/home XDG_RUNTIME_DIR=$PMI/run XDG_CONFIG_HOME=$PMI/config XDG_DATA_HOME=$PMI/data podman --runtime runc"
    SAVED=$PMI/saved.tar
    row="cold --image, podman-save archive of the busybox tree ($(du -sh "$ROOTFS" | cut -f1)): /bin/true [d]"
    NS_COLD="rm -rf $OUT/cold && env XDG_DATA_HOME=$OUT/cold $NSR --image $SAVED -- /bin/true"
    if have podman && tar --owner=0 --group=0 -C "$ROOTFS" -cf "$PMI/img.tar" . && chmod 644 "$PMI/img.tar" \
        && "${AS[@]}" $PMIC import -q "$PMI/img.tar" localhost/nsimg:1 >/dev/null 2>"$T/pmi.err" \
        && "${AS[@]}" $PMIC save -q -o "$SAVED" localhost/nsimg:1 2>"$T/pmi.err" \
        && "${AS[@]}" $PMIC rmi -af >/dev/null 2>"$T/pmi.err"; then
        hf "$row" time s "$BIND_RUNS" 1 ns "$NS_COLD" \
            podman "$PMIC rmi -af >/dev/null 2>&1; $PMIC load -q -i $SAVED >/dev/null && $PMIC run --rm --network none localhost/nsimg:1 /bin/true"
        rec "cold start, ns-rootless / podman load + run (time ratio)" x ns "$(ratio_of "$row" ns podman)"
    else
        rec "$row" time podman "n/a:podman import + save (rootless): $(last_line "$T/pmi.err")"
        hf "$row" time s "$BIND_RUNS" 1 ns "${NS_COLD/$SAVED/$IMG}"
    fi
    # podman's pause process keeps its user namespace: it must not outlive the run.
    if [[ -s $PMI/run/libpod/tmp/pause.pid ]]; then kill -KILL "$(cat "$PMI/run/libpod/tmp/pause.pid")" 2>/dev/null || true; fi
    rm -rf "$PMI"
fi
BIG=$T/bigtree
BIG_FILES=100000
((QUICK)) && BIG_FILES=10000
python3 -c '
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(n // 1000):
    os.makedirs(f"{root}/d{d}")
    for f in range(1000):
        open(f"{root}/d{d}/f{f}", "w").close()
' "$BIG" "$BIG_FILES"
((IS_ROOT)) && chown -R "$BENCH_UID:$BENCH_UID" "$BIG"
row="--cow vs plain --bind of a $BIG_FILES-file tree: true"
NS_COW="env XDG_STATE_HOME=$OUT/state $NSR"
# --cow of an empty directory in the same rounds: the big tree costs the same (nothing walked)
EMPTY=$T/emptytree
mkdir -p "$EMPTY"
((IS_ROOT)) && chown "$BENCH_UID:$BENCH_UID" "$EMPTY"
hf "$row" time s "$RUNS" "$WARMUP" \
    ns "$NS_COW --rm --cow --name bench-cow --bind $BIG -- true; $NS_COW discard bench-cow" \
    empty "$NS_COW --rm --cow --name bench-cow --bind $EMPTY -- true; $NS_COW discard bench-cow" \
    plain "$NS_COW --bind $BIG -- true"
rec "--cow (+ discard) of an empty directory (same rounds): true" time ns "$(cell_of "$row" empty)"
rec "plain --bind of the big tree (same rounds): true" time ns "$(cell_of "$row" plain)"
rec "--cow (+ discard), $BIG_FILES files / empty directory (time ratio)" x ns "$(ratio_of "$row" ns empty)"
rec "--cow (+ discard) / plain --bind, $BIG_FILES files (time ratio)" x ns "$(ratio_of "$row" ns plain)"

fi # want images

if want oci; then
# ---------------------------------------------------------------------------------------------
# OCI runtime: ns-rootless-oci against runc (and crun where it runs) on the same bundle, and
# podman run with each as its runtime.
# ---------------------------------------------------------------------------------------------
NSO=$(dirname "$NSR")/ns-rootless-oci
ln -f "$NSR" "$NSO"
OB=$T/ocibundle
mkdir -p "$OB"   # (the state roots are made by the runtimes, as the measuring user)
((IS_ROOT)) && chown "$BENCH_UID:$BENCH_UID" "$OB"
if (cd "$OB" && "${AS[@]}" "$NSO" spec --rootless) 2>"$T/oci.err"; then
    python3 - "$OB/config.json" "$ROOTFS" <<'PYEOF'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"] = {"path": rootfs, "readonly": True}
json.dump(c, open(path, "w"), indent=1)
PYEOF
fi
# create, start, wait until `state` says stopped, delete: what a container engine does.
oci_cycle() {  # oci_cycle RUNTIME STATE_DIR
    printf '%s --root %s create -b %s c >/dev/null </dev/null && %s --root %s start c && ' "$1" "$2" "$OB" "$1" "$2"
    printf 'until %s --root %s state c | grep -q stopped; do :; done; %s --root %s delete c' "$1" "$2" "$1" "$2"
}
RUNC_CYCLE=$(oci_cycle runc "$OUT/oci-runc")
have runc || RUNC_CYCLE=$(na_cmd "runc not installed (apt-get install runc)")
row="OCI cycle (create, start, wait, delete): /bin/true"
crun_cell "$row" time
hf "$row" time s "$RUNS" "$WARMUP" ns "$(oci_cycle "$NSO" "$OUT/oci-ns")" runc "$RUNC_CYCLE"
rec "OCI cycle, ns-rootless-oci / runc (time ratio)" x ns "$(ratio_of "$row" ns runc)"

# podman run --rm with each runtime, from one store (short paths: under a long one, podman
# waits 20 s for every container's exit, runc or ours).
PMO=$(mktemp -d /tmp/nsb.XXXXXX)
chmod 755 "$PMO"
mkdir -p "$PMO"/{home,run,config,data}
chmod 700 "$PMO/run"
((IS_ROOT)) && chown -R "$BENCH_UID:$BENCH_UID" "$PMO"
PMOC="env HOME=$PMO/home XDG_RUNTIME_DIR=$PMO/run XDG_CONFIG_HOME=$PMO/config XDG_DATA_HOME=$PMO/data podman"
row="podman run --rm --network none IMAGE true"
if have podman && tar --owner=0 --group=0 -C "$ROOTFS" -cf "$PMO/img.tar" . \
    && chmod 644 "$PMO/img.tar" && "${AS[@]}" $PMOC import -q "$PMO/img.tar" localhost/nsbench >/dev/null 2>"$T/oci.err"; then
    hf "$row" time n "$BIND_RUNS" 2 \
        ns "$PMOC --runtime $NSO run --rm --network none localhost/nsbench /bin/true" \
        runc "$PMOC --runtime /usr/sbin/runc run --rm --network none localhost/nsbench /bin/true"
    rec "podman run, with ns-rootless-oci / with runc (time ratio)" x ns "$(ratio_of "$row" ns runc)"
else
    rec "$row" time ns "n/a:podman import failed: $(last_line "$T/oci.err")"
fi
# podman's pause process keeps its user namespace: it must not outlive the run.
if [[ -s $PMO/run/libpod/tmp/pause.pid ]]; then kill -KILL "$(cat "$PMO/run/libpod/tmp/pause.pid")" 2>/dev/null || true; fi
rm -rf "$PMO"

fi # want oci

# ---------------------------------------------------------------------------------------------
# The table.
# ---------------------------------------------------------------------------------------------
python3 "$PY" table "$RESULTS" "$HEADER"
cat <<'EOF'

[a] GNU time %M: the largest single process in the waited-for tree (the top process, or a reaped
    descendant if bigger), not a sum over the sandbox's processes; median of several runs.
[b] Sum of VmRSS (shared pages counted in each process) of the tool's own processes while the payload
    (`sleep`) runs, payload excluded; "/Np" = number of supervising processes.
[c] Output of `head -c N /dev/zero` relayed through the sandbox's pty to /dev/null, stdin a pty (as at a
    terminal); "no sandbox" = the same through script(1)'s pty relay.
[d] The archive `podman save` wrote of the busybox tree, from an empty store at each run:
    ns-rootless --image unpacks it; podman (rootless, --runtime runc, --network none) loads it with
    `podman load` and runs it.
EOF
exit 0
