//! Security tests: one or more per attack class of SECURITY.md.
//!
//! Most checks run `tests/probe` (built as the Cargo example `probe`) inside the sandbox in host
//! mode: the probe reports what the payload started with, or tries one dangerous syscall and
//! prints the errno it got. Where a check could pass for the wrong reason (a kernel that refuses
//! the operation anyway), a control run without the sandbox, or with `--seccomp none`, shows
//! that the check can fail.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_code, assert_failure_line, assert_stdout, assert_tree_ends_within, binary,
    busybox_rootfs_variant, caller_command, caller_gid, caller_uid, describe, host_tool,
    ns_rootless, output_of, path_str, probe, runner_command, runner_is_root, set_mode, text,
    wait_for_process_tree, Mode, Running, TempDir,
};
use nix::libc;
use nix::sys::signal::Signal;

// ---------------------------------------------------------------------------------------------
// The probe
// ---------------------------------------------------------------------------------------------

/// Where the probe is bound inside the sandbox.
const PROBE: &str = "/probe";

/// Copies a file with `cp`: the fd open for writing lives in another process, so no child
/// forked meanwhile by another test thread can hold it and make exec fail with ETXTBSY.
fn copy_with_cp(from: &Path, to: &Path) {
    let mut cmd = runner_command("cp");
    cmd.arg("--").arg(from).arg(to);
    let out = output_of(cmd);
    assert!(out.status.success(), "cp:\n{}", describe(&out));
}

/// `--ro-bind PROBE_COPY:/probe OPTIONS...`
fn with_probe(options: &[&str]) -> Vec<String> {
    let mut all = vec![
        "--ro-bind".to_owned(),
        format!("{}:{PROBE}", path_str(probe())),
    ];
    all.extend(options.iter().map(|s| s.to_string()));
    all
}

/// `ns-rootless --ro-bind PROBE:/probe OPTIONS... -- /probe ARGS...` (host mode, not started).
fn probe_command(options: &[&str], args: &[&str]) -> Command {
    let options = with_probe(options);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let mut command = vec![PROBE];
    command.extend(args);
    Mode::Host.command(&options, &command)
}

fn run_probe(options: &[&str], args: &[&str]) -> Output {
    output_of(probe_command(options, args))
}

/// `probe syscalls NAMES...` in a sandbox with `options`: name → result.
fn syscalls(options: &[&str], names: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["syscalls"];
    args.extend(names);
    let out = run_probe(options, &args);
    assert_code(&out, 0);
    parse_results(&out)
}

fn parse_results(out: &Output) -> BTreeMap<String, String> {
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `probe syscall NAME ARG` in a sandbox with `options`.
fn syscall_with_arg(options: &[&str], name: &str, arg: &str) -> String {
    let out = run_probe(options, &["syscall", name, arg]);
    assert_code(&out, 0);
    text(&out.stdout).trim_end().to_owned()
}

/// `probe report` in a sandbox made by `cmd`.
fn report_of(cmd: Command) -> Json {
    let out = output_of(cmd);
    assert_code(&out, 0);
    Json::parse(text(&out.stdout).trim())
        .unwrap_or_else(|| panic!("probe report is not JSON:\n{}", describe(&out)))
}

// ---------------------------------------------------------------------------------------------
// A minimal JSON reader for the probe's report
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Num(i64),
    Str(String),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn parse(s: &str) -> Option<Json> {
        let mut chars = s.chars().peekable();
        let value = Self::value(&mut chars)?;
        chars.all(char::is_whitespace).then_some(value)
    }

    fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars>) {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    }

    fn value(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<Json> {
        Self::skip_ws(chars);
        match *chars.peek()? {
            '{' => {
                chars.next();
                let mut map = BTreeMap::new();
                loop {
                    Self::skip_ws(chars);
                    if chars.peek() == Some(&'}') {
                        chars.next();
                        return Some(Json::Obj(map));
                    }
                    let Json::Str(key) = Self::value(chars)? else {
                        return None;
                    };
                    Self::skip_ws(chars);
                    (chars.next()? == ':').then_some(())?;
                    let value = Self::value(chars)?;
                    map.insert(key, value);
                    Self::skip_ws(chars);
                    match chars.next()? {
                        ',' => {}
                        '}' => return Some(Json::Obj(map)),
                        _ => return None,
                    }
                }
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '"' => return Some(Json::Str(s)),
                        '\\' => match chars.next()? {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'u' => {
                                let hex: String = chars.by_ref().take(4).collect();
                                s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                            }
                            c => s.push(c),
                        },
                        c => s.push(c),
                    }
                }
            }
            'n' => {
                let word: String = chars.by_ref().take(4).collect();
                (word == "null").then_some(Json::Null)
            }
            _ => {
                let mut num = String::new();
                while chars
                    .peek()
                    .is_some_and(|c| *c == '-' || c.is_ascii_digit())
                {
                    num.push(chars.next()?);
                }
                num.parse().ok().map(Json::Num)
            }
        }
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(map) => map.get(key).unwrap_or(&Json::Null),
            _ => &Json::Null,
        }
    }

    fn str(&self, key: &str) -> String {
        match self.get(key) {
            Json::Str(s) => s.clone(),
            other => panic!("{key} is not a string: {other:?} in {self:?}"),
        }
    }

    fn num(&self, key: &str) -> i64 {
        match self.get(key) {
            Json::Num(n) => *n,
            other => panic!("{key} is not a number: {other:?} in {self:?}"),
        }
    }
}

#[test]
fn json_reader_reads_the_probe_format() {
    let j = Json::parse(r#"{"a": "x\"y\u0001", "n": -3, "o": {"0": "/dev/null"}, "z": null}"#)
        .expect("valid JSON");
    assert_eq!(j.str("a"), "x\"y\u{1}");
    assert_eq!(j.num("n"), -3);
    assert_eq!(j.get("o").str("0"), "/dev/null");
    assert_eq!(j.get("z"), &Json::Null);
    assert_eq!(Json::parse("{\"a\": 1"), None);
}

// ---------------------------------------------------------------------------------------------
// Host-side helpers
// ---------------------------------------------------------------------------------------------

/// A fresh directory under `/var/tmp` (visible, read-only, inside a host-mode sandbox, unlike
/// `/tmp`), removed on drop.
struct VarTmpDir {
    path: PathBuf,
}

impl VarTmpDir {
    fn new(label: &str, mode: u32) -> VarTmpDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(format!(
            "/var/tmp/ns-rootless-hardening.{}.{n}.{label}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        set_mode(&path, mode);
        VarTmpDir { path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for VarTmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A name no other run of this test binary uses.
fn unique(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "nsr-{label}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn chown(path: &Path, uid: u32, gid: u32) {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn host_mount_count() -> usize {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("read the host's mountinfo")
        .lines()
        .count()
}

/// Runs `cmd` with `prepare` run in the child before exec (as the runner, before setpriv).
fn output_with_pre_exec(
    mut cmd: Command,
    prepare: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
) -> Output {
    // SAFETY: every `prepare` in this file makes only async-signal-safe syscalls.
    unsafe {
        cmd.pre_exec(prepare);
    }
    output_of(cmd)
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The payload starts clean: capabilities, no_new_privs, seccomp, signals
// ---------------------------------------------------------------------------------------------

const NO_CAPS: &str = "0000000000000000";

fn assert_locked_down(report: &Json, uid: i64, what: &str) {
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(report.str(set), NO_CAPS, "{set} {what}: {report:?}");
    }
    assert_eq!(report.str("NoNewPrivs"), "1", "{what}: {report:?}");
    assert_eq!(report.str("Seccomp"), "2", "{what}: {report:?}");
    assert_eq!(report.num("uid"), uid, "{what}: {report:?}");
    assert_eq!(report.num("euid"), uid, "{what}: {report:?}");
}

#[test]
fn capabilities_are_empty_with_no_new_privs_and_seccomp() {
    let root = report_of(probe_command(&[], &["report"]));
    assert_locked_down(&root, 0, "as root inside");
    let user = report_of(probe_command(
        &["--uid", "1000", "--gid", "1000"],
        &["report"],
    ));
    assert_locked_down(&user, 1000, "with --uid 1000");
    assert_eq!(user.num("gid"), 1000);
    // Even a caller that is root with every capability (--allow-root) gets nothing inside.
    if runner_is_root() {
        let mut cmd = runner_command(binary());
        cmd.args(with_probe(&["--allow-root"]))
            .args(["--", PROBE, "report"]);
        assert_locked_down(&report_of(cmd), 0, "with --allow-root as real root");
    }
}

#[test]
fn seccomp_none_turns_the_filter_off_but_keeps_the_rest() {
    let report = report_of(probe_command(&["--seccomp", "none"], &["report"]));
    assert_eq!(report.str("Seccomp"), "0", "{report:?}");
    assert_eq!(report.str("NoNewPrivs"), "1", "{report:?}");
    assert_eq!(report.str("CapEff"), NO_CAPS, "{report:?}");
}

#[test]
fn signal_mask_and_ignored_set_are_empty_even_if_the_caller_set_them() {
    const SIGINT_BIT: u64 = 1 << (libc::SIGINT - 1);
    const SIGTERM_BIT: u64 = 1 << (libc::SIGTERM - 1);
    let prepare = || {
        // SAFETY: async-signal-safe calls on a local sigset.
        unsafe {
            if libc::signal(libc::SIGINT, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(io::Error::last_os_error());
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            check(libc::sigprocmask(
                libc::SIG_BLOCK,
                &set,
                std::ptr::null_mut(),
            ))
        }
    };
    let parse = |report: &Json, key: &str| {
        u64::from_str_radix(&report.str(key), 16).unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    // Control: without the sandbox the probe does see what the caller set.
    let mut outside = caller_command(probe());
    outside.arg("report");
    let out = output_with_pre_exec(outside, prepare);
    assert_code(&out, 0);
    let outside = Json::parse(text(&out.stdout).trim()).expect("report is JSON");
    assert_ne!(parse(&outside, "SigIgn") & SIGINT_BIT, 0, "{outside:?}");
    assert_ne!(parse(&outside, "SigBlk") & SIGTERM_BIT, 0, "{outside:?}");

    let out = output_with_pre_exec(probe_command(&[], &["report"]), prepare);
    assert_code(&out, 0);
    let inside = Json::parse(text(&out.stdout).trim()).expect("report is JSON");
    assert_eq!(inside.str("SigIgn"), NO_CAPS, "ignored signals: {inside:?}");
    assert_eq!(inside.str("SigBlk"), NO_CAPS, "blocked signals: {inside:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. Leaked fds and a cwd outside the root (CVE-2024-21626)
// ---------------------------------------------------------------------------------------------

/// `prepare` for a caller holding fd 5 on a host directory and fd 7 on /dev/null, both
/// inheritable.
fn leak_fds(dir: &Path) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    let dir = fs::File::open(dir).expect("open a directory");
    let null = fs::File::open("/dev/null").expect("open /dev/null");
    move || {
        // SAFETY: fcntl and dup2 are async-signal-safe.
        unsafe {
            // Out of the way first: either source may itself be fd 5 or 7.
            let sources = [
                libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100),
                libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100),
            ];
            for (source, target) in sources.into_iter().zip([5, 7]) {
                check(source)?;
                check(libc::dup2(source, target))?; // dup2 leaves the copy inheritable
            }
        }
        Ok(())
    }
}

#[test]
fn only_fds_0_1_2_reach_the_payload() {
    let host_dir = TempDir::new("leaked-dir");
    // Control: the probe outside does see fds 5 and 7.
    let mut outside = caller_command(probe());
    outside.arg("report");
    let out = output_with_pre_exec(outside, leak_fds(host_dir.path()));
    let report = Json::parse(text(&out.stdout).trim()).expect("report is JSON");
    assert_eq!(
        report.get("fds").str("5"),
        path_str(host_dir.path()),
        "{report:?}"
    );
    assert_eq!(report.get("fds").str("7"), "/dev/null", "{report:?}");

    for options in [&[][..], &["--uid", "1000"], &["--seccomp", "none"]] {
        let out = output_with_pre_exec(
            probe_command(options, &["report"]),
            leak_fds(host_dir.path()),
        );
        assert_code(&out, 0);
        let report = Json::parse(text(&out.stdout).trim()).expect("report is JSON");
        let Json::Obj(fds) = report.get("fds") else {
            panic!("no fds in {report:?}");
        };
        let numbers: Vec<&str> = fds.keys().map(String::as_str).collect();
        assert_eq!(numbers, ["0", "1", "2"], "{options:?}: {report:?}");
    }
}

#[test]
fn cwd_is_inside_the_root() {
    // A caller cwd that exists inside: kept, as the same path.
    let mut cmd = probe_command(&[], &["report"]);
    cmd.current_dir("/usr/share");
    assert_eq!(report_of(cmd).str("cwd"), "/usr/share");
    // A caller cwd that is hidden inside (/tmp is fresh): `/`, not the host directory.
    let hidden = TempDir::new("hidden-cwd");
    let mut cmd = probe_command(&[], &["report"]);
    cmd.current_dir(hidden.path());
    let report = report_of(cmd);
    assert_eq!(report.str("cwd"), "/", "{report:?}");
    // Even with a directory fd of the host open in the caller.
    let mut cmd = probe_command(&[], &["report"]);
    cmd.current_dir(hidden.path());
    let out = output_with_pre_exec(cmd, leak_fds(hidden.path()));
    let report = Json::parse(text(&out.stdout).trim()).expect("report is JSON");
    assert_eq!(report.str("cwd"), "/", "{report:?}");
}

#[test]
fn payload_has_its_own_session() {
    let report = report_of(probe_command(&[], &["report"]));
    assert_eq!(report.num("sid"), report.num("pid"), "{report:?}");
    assert_eq!(report.num("pgid"), report.num("pid"), "{report:?}");
    assert_eq!(report.num("ppid"), 1, "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. Seccomp: denied syscalls get their documented errno
// ---------------------------------------------------------------------------------------------

const EPERM: &str = "errno 1 EPERM";
const ENOSYS: &str = "errno 38 ENOSYS";
const EAFNOSUPPORT: &str = "errno 97 EAFNOSUPPORT";

/// Every denied operation with the result the default filter must give.
const DENIED: &[(&str, &str)] = &[
    ("unshare-user", EPERM),
    ("unshare-ns", EPERM),
    ("unshare-net", EPERM),
    ("setns", EPERM),
    ("clone-newns", EPERM),
    ("clone-newuser", EPERM),
    ("clone3", ENOSYS),
    ("mount-tmpfs", EPERM),
    ("umount-tmp", EPERM),
    ("umount-home", EPERM),
    ("remount-rw", EPERM),
    ("pivot-root", EPERM),
    ("chroot", EPERM),
    ("fsopen", EPERM),
    ("open-tree", EPERM),
    ("keyctl", EPERM),
    ("add-key", EPERM),
    ("request-key", EPERM),
    ("bpf", EPERM),
    ("perf", EPERM),
    ("io-uring", ENOSYS),
    ("userfaultfd", EPERM),
    ("tiocsti", EPERM),
    ("tiocsti-high", EPERM),
    ("tioclinux", EPERM),
    ("af-alg", EAFNOSUPPORT),
    ("af-packet", EAFNOSUPPORT),
    ("af-vsock", EAFNOSUPPORT),
    ("af-bluetooth", EAFNOSUPPORT),
    ("personality-bad", EPERM),
    ("open-by-handle", EPERM),
    ("kexec", EPERM),
    ("init-module", EPERM),
    ("syslog", EPERM),
    ("x32", ENOSYS),
    ("unknown", ENOSYS),
    ("post-mseal", ENOSYS),
    ("ptrace-init", EPERM),
    ("setgroups", EPERM),
];

const ALLOWED: &[&str] = &[
    "af-unix",
    "af-inet",
    "af-inet6",
    "af-netlink",
    "personality-ok",
    "fork",
    "clone-plain",
];

#[test]
fn denied_syscalls_get_the_documented_errno() {
    let names: Vec<&str> = DENIED.iter().map(|(n, _)| *n).collect();
    let got = syscalls(&[], &names);
    let wrong: Vec<String> = DENIED
        .iter()
        .filter(|(name, want)| got.get(*name).map(String::as_str) != Some(want))
        .map(|(name, want)| format!("{name}: want {want:?}, got {:?}", got.get(*name)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    // /dev/tty can't even be opened: there is no controlling terminal.
    let tty = syscalls(&[], &["tiocsti-tty", "tiocsti-tty-high"]);
    for (name, result) in &tty {
        assert!(
            result == "open errno 6 ENXIO" || result == EPERM,
            "{name}: {result}"
        );
    }
}

#[test]
fn without_the_filter_the_kernel_answers_differently() {
    // Control for the test above: these results come from the filter, not from the kernel
    // or from the missing capabilities (bpf is left out: this kernel's
    // unprivileged_bpf_disabled gives EPERM anyway).
    let names = [
        "userfaultfd",
        "tiocsti",
        "tiocsti-high",
        "af-packet",
        "personality-bad",
        "post-mseal",
        "clone3",
        "unshare-user",
        "keyctl",
        "io-uring",
    ];
    let filtered = syscalls(&[], &names);
    let unfiltered = syscalls(&["--seccomp", "none"], &names);
    for name in names {
        assert_ne!(
            filtered.get(name),
            unfiltered.get(name),
            "{name}: same result with and without the filter"
        );
    }
}

#[test]
fn harmless_syscalls_stay_allowed() {
    let got = syscalls(&[], ALLOWED);
    for name in ALLOWED {
        assert_eq!(
            got.get(*name).map(String::as_str),
            Some("ok"),
            "{name}: {got:?}"
        );
    }
    // glibc's fork and posix_spawn (clone3 falls back to clone), pipes, subshells.
    assert_stdout(
        &Mode::Host.sh("true | true && (exit 0) && echo $(echo ok)"),
        "ok\n",
    );
    assert_stdout(&Mode::Rootfs.sh("true | true && echo ok"), "ok\n");
}

#[test]
fn a_foreign_architecture_is_killed() {
    // i386 getpid through int 0x80: SIGSYS, 128 + 31.
    let out = run_probe(&[], &["syscall", "int80"]);
    assert_code(&out, 128 + libc::SIGSYS);
    let out = run_probe(&["--seccomp", "none"], &["syscall", "int80"]);
    assert_code(&out, 0);
}

#[test]
fn allow_groups_give_back_only_their_syscalls() {
    // (clone-newuser first: after unshare-user the probe's uid is unmapped.)
    let names = [
        "clone-newuser",
        "unshare-user",
        "clone3",
        "io-uring",
        "keyctl",
        "add-key",
        "perf",
        "bpf",
    ];
    let nested = syscalls(&["--allow", "nested"], &names);
    assert_eq!(nested["unshare-user"], "ok", "{nested:?}");
    assert_eq!(nested["clone-newuser"], "ok", "{nested:?}");
    assert_eq!(nested["clone3"], "ok", "{nested:?}");
    assert_eq!(nested["io-uring"], ENOSYS, "{nested:?}");
    assert_eq!(nested["keyctl"], EPERM, "{nested:?}");

    let io_uring = syscalls(&["--allow", "io-uring"], &names);
    assert_ne!(io_uring["io-uring"], ENOSYS, "{io_uring:?}");
    assert_eq!(io_uring["unshare-user"], EPERM, "{io_uring:?}");
    assert_eq!(io_uring["clone3"], ENOSYS, "{io_uring:?}");

    let keyring = syscalls(&["--allow", "keyring"], &names);
    assert_eq!(keyring["keyctl"], "ok", "{keyring:?}");
    assert_eq!(keyring["add-key"], "ok", "{keyring:?}");
    assert_eq!(keyring["unshare-user"], EPERM, "{keyring:?}");

    // perf_event_open then meets the kernel's own checks (perf_event_paranoid), not EPERM
    // from the filter.
    let perf = syscalls(&["--allow", "perf"], &names);
    assert_ne!(perf["perf"], EPERM, "{perf:?}");
    assert_eq!(perf["keyctl"], EPERM, "{perf:?}");

    let all = syscalls(
        &[
            "--allow", "nested", "--allow", "perf", "--allow", "io-uring", "--allow", "keyring",
        ],
        &names,
    );
    assert_eq!(all["bpf"], EPERM, "bpf has no opt-out: {all:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. A fresh session keyring; setgroups (CVE-2014-8989)
// ---------------------------------------------------------------------------------------------

#[test]
fn the_session_keyring_is_fresh() {
    let mut outside = caller_command(probe());
    outside.arg("report");
    let outside = report_of(outside);
    let inside = report_of(probe_command(&["--allow", "keyring"], &["report"]));
    let desc = inside.str("keyring");
    assert!(
        desc.ends_with(";_ses"),
        "expected a fresh anonymous session keyring, got {inside:?}"
    );
    if let Json::Num(outer_id) = outside.get("keyring_id") {
        assert_ne!(inside.num("keyring_id"), *outer_id, "{inside:?}");
        assert_ne!(desc, outside.str("keyring"));
    }
    // Nobody's keys are listed either.
    assert_eq!(
        syscalls(&[], &["read-keys"])["read-keys"],
        "ok 0",
        "/proc/keys"
    );
}

#[test]
fn supplementary_groups_cannot_be_dropped() {
    common::require(
        runner_is_root(),
        "only a root test runner can give the caller a supplementary group",
    );
    // A file that the group may not read but others may: dropping the group would open it.
    let group = caller_gid() + 1;
    let dir = TempDir::new("negative-group");
    let file = dir.path().join("secret");
    fs::write(&file, "secret\n").expect("write the file");
    chown(&file, 0, group);
    set_mode(&file, 0o604);
    let id = caller_uid();
    let mut cmd = runner_command(host_tool("setpriv"));
    cmd.arg(format!("--reuid={id}"))
        .arg(format!("--regid={}", caller_gid()))
        .arg(format!("--groups={group}"))
        .arg("--")
        .arg(binary())
        .args(with_probe(&["--ro-bind", &format!("{}:/neg", path_str(dir.path()))]))
        .args(["--", "/bin/sh", "-c"])
        .arg("/probe syscall setgroups; /probe syscall read /neg/secret; grep Groups /proc/self/status");
    let out = output_of(cmd);
    assert_code(&out, 0);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines[0], EPERM, "setgroups: {}", describe(&out));
    assert_eq!(lines[1], "errno 13 EACCES", "{}", describe(&out));
}

// ---------------------------------------------------------------------------------------------
// 2. Terminal injection (CVE-2017-5226, CVE-2019-10063, CVE-2023-28100)
// ---------------------------------------------------------------------------------------------

/// An interactive `sh` on a pty whose slave is its controlling terminal, run as the caller.
struct PtyShell {
    master: fs::File,
    output: Arc<Mutex<Vec<u8>>>,
    child: std::process::Child,
}

impl PtyShell {
    fn start() -> PtyShell {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = caller_command("/bin/sh");
        cmd.env("PS1", "$ ")
            .stdin(Stdio::from(slave.try_clone().expect("dup the slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup the slave")))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                check(libc::setsid())?;
                check(libc::ioctl(0, libc::TIOCSCTTY, 0))
            });
        }
        let child = cmd.spawn().expect("spawn sh on a pty");
        drop(cmd); // closes our copies of the slave
        let master = fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup the master");
        let sink = Arc::clone(&output);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every slave fd is closed.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtyShell {
            master,
            output,
            child,
        }
    }

    fn output(&self) -> String {
        text(&self.output.lock().unwrap())
    }

    /// Types `line` and waits for `marker` (which the typed text must not contain) to appear.
    fn run(&mut self, line: &str, marker: &str) {
        assert!(!line.contains(marker));
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .expect("type into the pty");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.output().contains(marker) {
            assert!(
                Instant::now() < deadline,
                "no {marker:?} from the shell; output so far: {:?}",
                self.output()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn exit(mut self) -> String {
        let _ = self.master.write_all(b"exit\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().expect("poll sh").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.wait();
        self.output()
    }
}

/// Whether anything typed by `inject_command` (a shell command line that runs the probe's
/// `inject` of a `touch FILE`) was read and run by the outer shell.
fn injection_runs_in_outer_shell(inject_command: impl Fn(&str) -> String) -> (bool, String) {
    let dir = TempDir::new("tiocsti");
    set_mode(dir.path(), 0o777);
    let pwned = dir.path().join("pwned");
    let mut shell = PtyShell::start();
    shell.run(
        &format!(
            "{}; echo step-$((20+1))",
            inject_command(&format!("touch {}", path_str(&pwned)))
        ),
        "step-21",
    );
    // Anything injected is read before this line.
    shell.run("echo step-$((40+2))", "step-42");
    let output = shell.exit();
    (pwned.exists(), output)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn tiocsti_cannot_type_into_the_callers_terminal() {
    // Control: the same probe outside the sandbox does inject (dev.tty.legacy_tiocsti=1).
    let legacy = fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|v| v.trim() == "1")
        .unwrap_or(true);
    if legacy {
        let (pwned, output) = injection_runs_in_outer_shell(|payload| {
            format!(
                "{} syscall inject {}",
                path_str(probe()),
                shell_quote(payload)
            )
        });
        assert!(
            pwned,
            "control: TIOCSTI outside the sandbox did not inject; output: {output:?}"
        );
    }
    // With a terminal on stdin the payload gets a pty of its own (typing into it is harmless);
    // with -T it gets the caller's terminal as is, in a new session: no controlling terminal.
    for options in [
        &[][..],
        &["--seccomp", "none"],
        &["-T"],
        &["-T", "--seccomp", "none"],
    ] {
        let (pwned, output) = injection_runs_in_outer_shell(|payload| {
            let mut words: Vec<String> = vec![path_str(binary()).to_owned()];
            words.extend(with_probe(options));
            words.extend(["--", PROBE, "syscall", "inject"].map(str::to_owned));
            words.push(payload.to_owned());
            words
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        });
        assert!(
            !pwned,
            "{options:?}: the payload typed a command into the caller's shell; output: {output:?}"
        );
        // The probe did run and try.
        assert!(
            output.contains("fd0 ") && output.contains("fd0-high "),
            "{options:?}: {output:?}"
        );
        if options.contains(&"-T") {
            // The caller's terminal: TIOCSTI refused (by the filter, or by the kernel since it
            // is not our controlling terminal), and /dev/tty can't be opened.
            assert!(
                output.contains("fd0 errno 1 EPERM") && output.contains("fd0-high errno 1 EPERM"),
                "{options:?}: {output:?}"
            );
            assert!(
                output.contains("tty open errno 6 ENXIO"),
                "{options:?}: {output:?}"
            );
        } else if !options.contains(&"none") {
            assert!(
                output.contains("fd0 errno 1 EPERM") && output.contains("tty errno 1 EPERM"),
                "{options:?}: {output:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writable or unmasked /proc and /sys
// ---------------------------------------------------------------------------------------------

/// Mount point → mount options, from `/proc/self/mountinfo` inside (the last mount wins).
fn mount_options(options: &[&str]) -> BTreeMap<String, String> {
    let out = Mode::Host.run(options, &["cat", "/proc/self/mountinfo"]);
    assert_code(&out, 0);
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((f.get(4)?.to_string(), f.get(5)?.to_string()))
        })
        .collect()
}

fn is_read_only(options: &str) -> bool {
    options.split(',').any(|o| o == "ro")
}

#[test]
fn proc_and_sys_are_read_only_and_masked() {
    let mounts = mount_options(&[]);
    for path in ["/proc/sys", "/sys", "/sys/fs/cgroup", "/sys/firmware"] {
        let options = mounts
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not a mount point: {mounts:?}"));
        assert!(is_read_only(options), "{path} is mounted {options}");
    }
    for path in [
        "/proc/sysrq-trigger",
        "/proc/irq",
        "/proc/bus",
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        if let Some(options) = mounts.get(path) {
            assert!(is_read_only(options), "{path} is mounted {options}");
        }
    }
    // Control: with --allow nested the /proc masks are left out (so the check above sees them).
    let nested = mount_options(&["--allow", "nested"]);
    assert!(!nested.contains_key("/proc/sys"), "{nested:?}");

    let got = syscalls(
        &[],
        &[
            "write-proc-sys",
            "write-sysrq",
            "read-kcore",
            "read-keys",
            "read-timer-list",
            "read-sched-debug",
        ],
    );
    assert!(got["write-proc-sys"].starts_with("errno"), "{got:?}");
    assert!(got["write-sysrq"].starts_with("errno"), "{got:?}");
    for read in [
        "read-kcore",
        "read-keys",
        "read-timer-list",
        "read-sched-debug",
    ] {
        assert!(
            got[read] == "ok 0" || got[read] == "errno 2 ENOENT",
            "{read}: must be empty or absent: {got:?}"
        );
    }
    for path in [
        "/proc/sys/kernel/hostname",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/user/max_user_namespaces",
        "/sys/class/net/lo/mtu",
    ] {
        let result = syscall_with_arg(&[], "open-write", path);
        assert!(result.starts_with("errno"), "{path}: {result}");
    }
    let out = Mode::Host.sh(
        "ls -A /sys/fs/cgroup /sys/firmware; touch /sys/x 2>/dev/null && echo created; \
         echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo written; echo end",
    );
    assert_stdout(&out, "/sys/firmware:\n\n/sys/fs/cgroup:\nend\n");
}

// ---------------------------------------------------------------------------------------------
// 3. The payload cannot undo the sandbox
// ---------------------------------------------------------------------------------------------

#[test]
fn masks_and_read_only_binds_hold_for_root_inside() {
    let got = syscalls(&[], &["umount-home", "umount-tmp", "remount-rw"]);
    for (name, result) in &got {
        assert_eq!(result, EPERM, "{name}");
    }
    let out = Mode::Host.sh("umount /root 2>/dev/null && echo UNMOUNTED; ls -A /root; \
         mount -o remount,rw,bind /usr 2>/dev/null && echo REMOUNTED; \
         touch /usr/.ns-rootless-pwned 2>/dev/null && echo WROTE; echo end");
    assert_stdout(&out, "end\n");
}

#[test]
fn a_nested_namespace_cannot_unmask_or_remount() {
    let marker = unique("usr-write");
    let script = format!(
        "echo inner-$(id -u); \
         umount /root 2>/dev/null && echo UNMOUNTED; umount -l /root 2>/dev/null && echo UNMOUNTED; \
         ls -A /root; \
         umount -l /home 2>/dev/null && echo UNMOUNTED-home; ls -A /home; \
         mount -o remount,rw,bind /usr 2>/dev/null && echo REMOUNTED; \
         mount -o remount,rw /usr 2>/dev/null && echo REMOUNTED; \
         touch /usr/{marker} 2>/dev/null && echo WROTE; \
         umount -l /proc/sys 2>/dev/null && echo UNMOUNTED-proc; echo end"
    );
    let unshare = path_str(&host_tool("unshare")).to_owned();
    // As uid 1000 inside: mapping the parent's uid 0 needs CAP_SETFCAP (Linux 5.12+), which the
    // inner root doesn't have (see nested_ns_rootless_runs_as_documented).
    let out = Mode::Host.run(
        &["--allow", "nested", "--uid", "1000"],
        &[&unshare, "-Urm", "sh", "-c", &script],
    );
    assert_stdout(&out, "inner-0\nend\n");
    assert!(!Path::new("/usr").join(&marker).exists());
}

#[test]
fn the_setup_holds_without_the_filter() {
    // With no seccomp filter, only the namespaces and the dropped capabilities hold the setup:
    // root inside can't change the sandbox's mounts, nor undo them in a user + mount namespace
    // of its own (its copy of them is locked; mounting on top there is its own business).
    let marker = unique("usr-write-unfiltered");
    let attempts = format!(
        "umount /root 2>/dev/null && echo UNMOUNTED; umount -l /home 2>/dev/null && echo UNMOUNTED; \
         mount -o remount,rw,bind /usr 2>/dev/null && echo REMOUNTED; \
         mount -o remount,rw /usr 2>/dev/null && echo REMOUNTED; \
         touch /usr/{marker} 2>/dev/null && echo WROTE; ls -A /root /home"
    );
    let listing = "/home:\n\n/root:\n";
    let script = format!("mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED; {attempts}");
    let out = Mode::Host.run(&["--seccomp", "none"], &["sh", "-c", &script]);
    assert_stdout(&out, listing);
    // As uid 1000 inside: the inner root can't map the parent's uid 0 without CAP_SETFCAP.
    let unshare = path_str(&host_tool("unshare")).to_owned();
    let script = format!("{unshare} -Urm sh -c '{attempts}; echo inner-$(id -u)'");
    let out = Mode::Host.run(
        &["--seccomp", "none", "--uid", "1000"],
        &["sh", "-c", &script],
    );
    assert_stdout(&out, &format!("{listing}inner-0\n"));
    assert!(!Path::new("/usr").join(&marker).exists());
}

#[test]
fn what_proc_covers_stays_covered() {
    // The sandbox's own directories (/tmp, /dev, the masks) are made under the root's /proc
    // before proc is mounted there. Root with its capabilities (--allow nested, its own mount
    // namespace with a locked copy of ours) can't unmount that proc to reach them, even lazily.
    let script = "umount /proc 2>/dev/null && echo UNMOUNTED; \
                  umount -l /proc 2>/dev/null && echo UNMOUNTED; \
                  mount --move /proc /mnt 2>/dev/null && echo MOVED; \
                  test -d /proc/1 && echo proc";
    let out = Mode::Host.run(&["--allow", "nested"], &["sh", "-c", script]);
    assert_stdout(&out, "proc\n");
}

#[test]
fn nested_ns_rootless_runs_as_documented() {
    // `ns-rootless --allow nested -- ns-rootless true`, the example of --help, with the copy
    // of the binary visible inside.
    let out = Mode::Host.run(
        &[
            "--allow",
            "nested",
            "--ro-bind",
            &format!("{}:/nsr", path_str(binary())),
        ],
        &["/nsr", "--hostname", "inner", "--", "hostname"],
    );
    assert_stdout(&out, "inner\n");
}

#[test]
fn the_launcher_cannot_be_overwritten() {
    // The caller's own copy (so the caller could write it outside), on a path visible inside.
    let dir = VarTmpDir::new("launcher", 0o755);
    let copy = dir.path().join("ns-rootless");
    copy_with_cp(binary(), &copy);
    chown(&copy, caller_uid(), caller_gid());
    set_mode(&copy, 0o755);
    let before = fs::read(&copy).expect("read the copy");
    let script = format!(
        "{PROBE} syscall write-exe; {PROBE} syscall overwrite {c}; \
         {PROBE} syscall ptrace-init; {PROBE} syscall list /proc/1/fd; \
         {PROBE} syscall read /proc/1/environ; \
         cp /bin/true {c} 2>/dev/null && echo COPIED; echo end",
        c = path_str(&copy)
    );
    let mut cmd = caller_command(&copy);
    cmd.args(with_probe(&[]))
        .args(["--", "/bin/sh", "-c", &script]);
    let out = output_of(cmd);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", describe(&out));
    for (i, what) in [
        "/proc/1/exe",
        "the path",
        "ptrace",
        "/proc/1/fd",
        "/proc/1/environ",
    ]
    .iter()
    .enumerate()
    {
        assert!(lines[i].starts_with("errno"), "{what}: {stdout}");
    }
    assert_eq!(lines[5], "end", "{stdout}");
    assert!(
        fs::read(&copy).expect("read the copy") == before,
        "the launcher changed"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Setup never writes or mounts outside the new root: symlinks and races
// ---------------------------------------------------------------------------------------------

/// Runs `ns-rootless ARGS -- true` and returns its output, which must be 0 or 125.
#[track_caller]
fn setup_attempt(args: &[String]) -> Output {
    let mut cmd = ns_rootless(args);
    cmd.args(["--", "true"]);
    let out = output_of(cmd);
    let code = out.status.code();
    assert!(
        code == Some(0) || code == Some(125),
        "{args:?}: expected exit 0 or 125\n{}",
        describe(&out)
    );
    if code == Some(125) {
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("ns-rootless: ") && stderr.matches('\n').count() == 1,
            "{args:?}: {}",
            describe(&out)
        );
    }
    out
}

#[test]
fn symlinks_in_a_rootfs_never_lead_setup_outside() {
    let target = VarTmpDir::new("symlink-target", 0o777);
    let escape = unique("escape");
    let target_str = path_str(target.path()).to_owned();
    let rootfs = busybox_rootfs_variant("symlinks", |root| {
        symlink(&target_str, root.join("mnt")).expect("symlink mnt");
        symlink("../../..", root.join("x")).expect("symlink x");
        symlink("/var/tmp", root.join("vt")).expect("symlink vt");
        symlink("/var/tmp", root.join("etc/vt")).expect("symlink etc/vt");
    });
    let src = TempDir::new("bind-src");
    let root = path_str(rootfs.path()).to_owned();
    let mounts_before = host_mount_count();
    let tmp_rel = target_str.trim_start_matches('/');
    let cases: Vec<Vec<String>> = vec![
        vec!["--dir".into(), "/mnt/created-a".into()],
        vec!["--tmpfs".into(), "/mnt/created-b".into()],
        vec![
            "--bind".into(),
            format!("{}:/mnt/created-c", path_str(src.path())),
        ],
        vec!["--symlink".into(), "/etc:/mnt/created-d".into()],
        vec!["--dir".into(), format!("/x/{tmp_rel}/created-e")],
        vec!["--dir".into(), format!("/vt/{escape}")],
        vec!["--dir".into(), format!("/etc/vt/{escape}")],
        vec!["--tmpfs".into(), "/mnt".into()],
        vec!["--bind".into(), format!("{}:/x", path_str(src.path()))],
        vec![
            "--ro-bind".into(),
            format!("{}:/etc/vt", path_str(src.path())),
        ],
        vec!["--dir".into(), format!("/x/../../../var/tmp/{escape}")],
        vec!["--symlink".into(), format!("/etc:/x/var/tmp/{escape}")],
    ];
    for case in &cases {
        let mut args = vec!["--rootfs".to_owned(), root.clone()];
        args.extend(case.iter().cloned());
        let out = setup_attempt(&args);
        eprintln!(
            "{case:?}: {:?} {}",
            out.status.code(),
            text(&out.stderr).trim_end()
        );
    }
    // Destinations that are themselves symlinks are refused.
    for case in [&cases[7], &cases[8], &cases[9]] {
        let mut args = vec!["--rootfs".to_owned(), root.clone()];
        args.extend(case.iter().cloned());
        assert_code(&setup_attempt(&args), 125);
    }
    assert_eq!(
        entries(target.path()),
        Vec::<String>::new(),
        "created on the host"
    );
    assert!(
        !Path::new("/var/tmp").join(&escape).exists(),
        "created on the host"
    );
    assert_eq!(entries(src.path()), Vec::<String>::new());
    assert_eq!(
        fs::read_link(rootfs.path().join("mnt")).expect("mnt is still a symlink"),
        target.path()
    );
    assert_eq!(host_mount_count(), mounts_before);
}

#[test]
fn symlinks_in_a_bind_source_never_lead_setup_outside() {
    let target = VarTmpDir::new("bind-symlink-target", 0o777);
    let escape = unique("escape");
    let src = TempDir::new("symlinked-src");
    symlink(target.path(), src.path().join("mnt")).expect("symlink mnt");
    symlink("../../..", src.path().join("x")).expect("symlink x");
    let other = TempDir::new("other-src");
    let s = path_str(src.path());
    let o = path_str(other.path());
    let mounts_before = host_mount_count();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "--bind".into(),
            format!("{s}:/b"),
            "--dir".into(),
            "/b/mnt/created".into(),
        ],
        vec![
            "--bind".into(),
            format!("{s}:/b"),
            "--tmpfs".into(),
            "/b/mnt/created".into(),
        ],
        vec![
            "--bind".into(),
            format!("{s}:/b"),
            "--bind".into(),
            format!("{o}:/b/mnt/created"),
        ],
        vec![
            "--bind".into(),
            format!("{s}:/b"),
            "--bind".into(),
            format!("{o}:/b/mnt"),
        ],
        vec![
            "--bind".into(),
            format!("{s}:/b"),
            "--dir".into(),
            format!("/b/x/var/tmp/{escape}"),
        ],
        vec![
            "--bind".into(),
            format!("{s}:/b"),
            "--symlink".into(),
            format!("/etc:/b/x/var/tmp/{escape}"),
        ],
        vec![
            "--bind".into(),
            format!("{s}:/b"),
            "--tmpfs".into(),
            "/b/x".into(),
        ],
    ];
    for case in &cases {
        let out = setup_attempt(case);
        eprintln!(
            "{case:?}: {:?} {}",
            out.status.code(),
            text(&out.stderr).trim_end()
        );
    }
    for case in [&cases[3], &cases[6]] {
        assert_code(&setup_attempt(case), 125);
    }
    assert_eq!(
        entries(target.path()),
        Vec::<String>::new(),
        "created on the host"
    );
    assert!(
        !Path::new("/var/tmp").join(&escape).exists(),
        "created on the host"
    );
    assert_eq!(entries(other.path()), Vec::<String>::new());
    assert_eq!(host_mount_count(), mounts_before);
}

#[test]
fn swapping_symlinks_during_setup_never_escapes() {
    const LAUNCHES: usize = 250;
    let target = VarTmpDir::new("race-target", 0o777);
    let src = TempDir::new("racy-src");
    let other = TempDir::new("racy-other");
    // `sub` and `x` flip between a directory and a symlink to the host target, atomically
    // (RENAME_EXCHANGE with their `.alt` twins), as fast as the flipper can go.
    for name in ["sub", "x"] {
        fs::create_dir(src.path().join(name)).expect("mkdir");
        set_mode(&src.path().join(name), 0o777);
        symlink(target.path(), src.path().join(format!("{name}.alt"))).expect("symlink");
    }
    let mounts_before = host_mount_count();
    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicU64::new(0));
    let flipper = {
        let stop = Arc::clone(&stop);
        let flips = Arc::clone(&flips);
        let dir = src.path().to_owned();
        thread::spawn(move || {
            let dir = fs::File::open(&dir).expect("open the racy dir");
            while !stop.load(Ordering::Relaxed) {
                for name in ["sub", "x"] {
                    nix::fcntl::renameat2(
                        &dir,
                        name,
                        &dir,
                        format!("{name}.alt").as_str(),
                        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                    )
                    .expect("exchange");
                }
                flips.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let args: Vec<String> = vec![
        "--bind".into(),
        format!("{}:/racy", path_str(src.path())),
        "--dir".into(),
        "/racy/sub/newdir".into(),
        "--bind".into(),
        format!("{}:/racy/x", path_str(other.path())),
        "--tmpfs".into(),
        "/racy/sub/t".into(),
    ];
    let started = Instant::now();
    let mut codes = BTreeMap::new();
    for _ in 0..LAUNCHES {
        let out = setup_attempt(&args);
        *codes.entry(out.status.code()).or_insert(0) += 1;
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("the flipper thread");
    assert!(flips.load(Ordering::Relaxed) > 100, "the race barely ran");
    assert_eq!(
        entries(target.path()),
        Vec::<String>::new(),
        "created on the host ({codes:?})"
    );
    assert_eq!(entries(other.path()), Vec::<String>::new());
    // (`sub`, when a directory, may hold `newdir` and `t`: the bind source is the user's.)
    assert_eq!(host_mount_count(), mounts_before);
    eprintln!(
        "race: exit codes {codes:?}, {} flips",
        flips.load(Ordering::Relaxed)
    );
}

#[test]
fn dot_dot_symlinks_resolve_reliably_under_concurrent_renames() {
    // A legitimate destination: `up -> ..` in a bind source leads to the sandbox's own `/`.
    // openat2 answers EAGAIN to a `..` lookup when any rename or mount happened meanwhile
    // (openat2(2): "the caller may choose to retry"); setup must not fail for it.
    let src = TempDir::new("dotdot-src");
    symlink("..", src.path().join("up")).expect("symlink up");
    let busy = TempDir::new("dotdot-renames");
    fs::create_dir(busy.path().join("a")).expect("mkdir");
    let stop = Arc::new(AtomicBool::new(false));
    let renamer = {
        let stop = Arc::clone(&stop);
        let dir = busy.path().to_owned();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = fs::rename(dir.join("a"), dir.join("b"));
                let _ = fs::rename(dir.join("b"), dir.join("a"));
            }
        })
    };
    let args: Vec<String> = vec![
        "--bind".into(),
        format!("{}:/b", path_str(src.path())),
        "--dir".into(),
        "/b/up/tmp/newdir".into(),
    ];
    let mut failures = Vec::new();
    for _ in 0..100 {
        let out = setup_attempt(&args);
        if !out.status.success() {
            failures.push(text(&out.stderr));
        }
    }
    stop.store(true, Ordering::Relaxed);
    renamer.join().expect("the renamer thread");
    assert!(
        failures.is_empty(),
        "{} of 100 launches failed, e.g. {:?}",
        failures.len(),
        failures[0]
    );
}

// ---------------------------------------------------------------------------------------------
// Resource exhaustion
// ---------------------------------------------------------------------------------------------

#[test]
fn nproc_limit_bounds_the_whole_sandbox() {
    let limited = run_probe(&["--limit", "nproc=30"], &["syscall", "fork-count", "100"]);
    assert_code(&limited, 0);
    let forked: usize = text(&limited.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", describe(&limited)));
    assert!(forked < 30, "{forked} forks under nproc=30");
    // Control: without the limit the same probe forks 60.
    let free = run_probe(&[], &["syscall", "fork-count", "60"]);
    assert_stdout(&free, "ok 60\n");
}

#[test]
fn a_fork_bomb_ends_and_the_caller_can_still_fork() {
    let cmd = Mode::Host.command(
        &["--limit", "nproc=30"],
        &[
            "sh",
            "-c",
            "f() { f | f & }; f 2>/dev/null; sleep 1; exit 3",
        ],
    );
    // A safety net in case the limit doesn't hold: the caller's own RLIMIT_NPROC.
    let out = output_with_pre_exec(cmd, || {
        let limit = libc::rlimit {
            rlim_cur: 2000,
            rlim_max: 2000,
        };
        // SAFETY: setrlimit is async-signal-safe.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &limit) })
    });
    // It ended with the shell's own status (output_of's hang guard fails a sandbox that doesn't
    // end; how fast it ends is the scheduler's business on a loaded machine, not this test's).
    assert_shell_ended(&out);
    let mut sh = caller_command("/bin/sh");
    sh.args(["-c", "true & wait; (true); echo forked"]);
    assert_stdout(&output_of(sh), "forked\n");
}

/// The fork-bomb script ended with its shell's own status: 3, or 2 when dash found no process
/// slot left for `sleep` ("Cannot fork" ends a non-interactive shell with 2).
fn assert_shell_ended(out: &Output) {
    assert!(
        matches!(out.status.code(), Some(2 | 3)),
        "{}",
        describe(out)
    );
}

/// Without any --limit, a fork bomb hits the sandbox's default cap while the caller, under its
/// own RLIMIT_NPROC, can still fork (the sandbox's processes count against that too).
#[test]
fn a_fork_bomb_hits_the_default_cap_before_the_callers_limit() {
    // Small enough that the shell bomb below stays a light load on a shared 2-core CI machine (at
    // 2000 it took over 15 s there), large enough for the other tests running as the same uid.
    const CALLER_LIMIT: libc::rlim_t = 400;
    let limit = || {
        let limit = libc::rlimit {
            rlim_cur: CALLER_LIMIT,
            rlim_max: CALLER_LIMIT,
        };
        // SAFETY: setrlimit is async-signal-safe.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &limit) })
    };
    let mut cmd = probe_command(&[], &["syscall", "fork-hold", "100000"]);
    // SAFETY: `limit` only calls setrlimit.
    unsafe {
        cmd.pre_exec(limit);
    }
    let mut bomb = Running::start(cmd);
    bomb.wait_for_line("holding");
    // While the sandbox holds every process it could make, the caller forks.
    let mut sh = caller_command("/bin/sh");
    sh.args(["-c", "true & wait; (true); echo forked"]);
    // SAFETY: `limit` only calls setrlimit.
    unsafe {
        sh.pre_exec(limit);
    }
    let out = output_of(sh);
    bomb.signal(Signal::SIGKILL);
    let held = bomb.finish();
    assert_stdout(&out, "forked\n");
    // The cap, half the caller's limit, stopped it (EAGAIN), not the caller's own limit.
    let held = text(&held.stdout);
    let forked: u64 = held
        .strip_prefix("held ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{held:?}"));
    assert!(
        forked <= CALLER_LIMIT / 2 && held.contains("EAGAIN"),
        "{held:?}"
    );
    // A shell fork bomb ends too, without any --limit.
    let mut cmd = Mode::Host.command(
        &[],
        &[
            "sh",
            "-c",
            "f() { f | f & }; f 2>/dev/null; sleep 1; exit 3",
        ],
    );
    // SAFETY: `limit` only calls setrlimit.
    unsafe {
        cmd.pre_exec(limit);
    }
    assert_shell_ended(&output_of(cmd));
}

/// The default cap is in force inside, and --limit nproc overrides it.
#[test]
fn the_default_nproc_limit_is_documented_and_overridable() {
    let processes = |options: &[&str]| {
        let out = Mode::Host.run(
            options,
            &["sh", "-c", "grep '^Max processes' /proc/self/limits"],
        );
        assert_code(&out, 0);
        common::normalize_whitespace(&text(&out.stdout))
    };
    // The caller's own limit in this harness is root's default (half of threads-max), far
    // above the cap.
    assert_eq!(processes(&[]), "Max processes 16384 16384 processes");
    assert_eq!(
        processes(&["--limit", "nproc=50000"]),
        "Max processes 50000 50000 processes"
    );
}

/// A user's --tmpfs has its own cap; our own directories (/tmp, /home, /dev/shm, ...) share one
/// tmpfs and its one cap, so together they can't take more memory than /tmp alone.
#[test]
fn tmpfs_mounts_have_size_caps() {
    let out = Mode::Host.run(
        &["--tmpfs", "/scratch:1m"],
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/scratch/f bs=64k count=64 2>/dev/null || echo scratch-full; \
             dd if=/dev/zero of=/dev/shm/f bs=1M count=3 2>/dev/null; \
             df -k /tmp /home /root /dev/shm | awk 'NR > 1 { print $2, $3 }'",
        ],
    );
    assert_stdout(
        &out,
        "scratch-full\n1048576 3072\n1048576 3072\n1048576 3072\n1048576 3072\n",
    );
}

/// Our own directories are clones of one tmpfs: each must still be nosuid and nodev, the masks
/// read-only and noexec, and none may propagate mounts anywhere (no shared peer group).
#[test]
fn our_directories_are_nosuid_nodev_and_private() {
    let out = Mode::Host.run(
        &[],
        &[
            "awk",
            r#"$5 ~ /^\/(tmp|home|root|dev|dev\/shm|sys\/firmware)?$/ {
                 shared = 0
                 for (i = 7; $i != "-"; i++) if ($i ~ /^shared:/) shared = 1
                 print $5, $6, (shared ? "shared" : "private")
               }"#,
            "/proc/self/mountinfo",
        ],
    );
    assert_stdout(
        &out,
        "/ ro,nosuid,nodev,relatime private\n\
         /home rw,nosuid,nodev,relatime private\n\
         /root rw,nosuid,nodev,relatime private\n\
         /tmp rw,nosuid,nodev,relatime private\n\
         /dev rw,nosuid,nodev,relatime private\n\
         /dev/shm rw,nosuid,nodev,relatime private\n\
         /sys/firmware ro,nosuid,nodev,noexec,relatime private\n",
    );
}

// ---------------------------------------------------------------------------------------------
// 4. No orphans: parent death
// ---------------------------------------------------------------------------------------------

#[test]
fn sigkill_kills_a_double_forked_daemon_too() {
    // The daemon: its own session, reparented to the sandbox's init, ignoring the usual
    // signals.
    let script = "(setsid sh -c 'trap \"\" HUP INT TERM; exec sleep 1000' &); \
                  sleep 1000 & echo ready; wait";
    let mut sandbox = Running::start(Mode::Host.command(&[], &["sh", "-c", script]));
    sandbox.wait_for_line("ready");
    let tree = wait_for_process_tree(sandbox.pid().as_raw(), "sleep", 2);
    sandbox.signal(Signal::SIGKILL);
    assert_tree_ends_within(
        &tree,
        // The sleeps would last 1000 s: 10 s tells "killed" from "left behind" with room
        // for a loaded machine.
        Duration::from_secs(10),
        "10 s after SIGKILL to ns-rootless",
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Secrets reachable without a bug: environment, sockets
// ---------------------------------------------------------------------------------------------

const SECRETS: &[(&str, &str)] = &[
    ("GITHUB_TOKEN", "ghp_secret"),
    ("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock"),
    ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
    ("LD_PRELOAD", "/nonexistent/libsnoop.so"),
    ("LD_LIBRARY_PATH", "/nonexistent/lib"),
    ("FOO_PASSWORD", "hunter2"),
];

#[test]
fn secrets_in_the_environment_stay_outside() {
    let mut outside = caller_command("/usr/bin/env");
    let mut inside = Mode::Host.command(&[], &["env"]);
    for (name, value) in SECRETS {
        outside.env(name, value);
        inside.env(name, value);
    }
    // Control: they do reach a child without the sandbox.
    let out = output_of(outside);
    for (name, _) in SECRETS {
        assert!(text(&out.stdout).contains(&format!("{name}=")), "{name}");
    }
    let out = output_of(inside);
    assert_code(&out, 0);
    let env = text(&out.stdout);
    for (name, value) in SECRETS {
        assert!(
            !env.contains(&format!("{name}=")) && !env.contains(value),
            "{name} reached the payload:\n{env}"
        );
    }
}

#[test]
fn host_abstract_sockets_and_localhost_ports_are_out_of_reach() {
    let name = unique("abstract");
    let addr = nix::sys::socket::UnixAddr::new_abstract(name.as_bytes()).expect("address");
    let unix = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    nix::sys::socket::bind(unix.as_raw_fd(), &addr).expect("bind");
    nix::sys::socket::listen(&unix, nix::sys::socket::Backlog::new(8).expect("backlog"))
        .expect("listen");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on localhost");
    let port = tcp.local_addr().expect("local address").port().to_string();
    // Control: reachable from outside, as the caller.
    assert_eq!(outside_probe(&["connect-abstract", &name]), "ok");
    // With --share-net the sandbox is in the host's network namespace, where the host's
    // abstract sockets live: Landlock's scope keeps the command from connecting to them. (The
    // host's localhost ports stay reachable: documented.)
    assert_eq!(
        syscall_with_arg(&["--share-net"], "connect-abstract", &name),
        "errno 1 EPERM"
    );
    assert_eq!(
        syscall_with_arg(&["--share-net"], "connect-tcp", &port),
        "ok"
    );
    // Abstract sockets made inside the sandbox still work there.
    assert_eq!(
        syscall_with_arg(&["--share-net"], "abstract-loop", &unique("inside")),
        "ok"
    );
    assert_eq!(
        syscall_with_arg(&[], "connect-abstract", &name),
        "errno 111 ECONNREFUSED"
    );
    assert_eq!(
        syscall_with_arg(&[], "connect-tcp", &port),
        "errno 111 ECONNREFUSED"
    );
}

/// `probe syscall ARGS...` run outside any sandbox, as the caller: the control of a check.
fn outside_probe(args: &[&str]) -> String {
    let mut cmd = caller_command(probe());
    cmd.arg("syscall").args(args);
    let out = output_of(cmd);
    assert_code(&out, 0);
    text(&out.stdout).trim_end().to_owned()
}

/// A unix socket listening at `path`, owned by the caller (like a tmux or screen socket of the
/// user's own). The file stays until the test removes its directory.
fn listen_unix(path: &Path) -> OwnedFd {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let addr = nix::sys::socket::UnixAddr::new(path).expect("socket address");
    bind(fd.as_raw_fd(), &addr).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
    listen(&fd, Backlog::new(8).expect("backlog")).expect("listen");
    chown(path, caller_uid(), caller_gid());
    fd
}

/// A directory of the caller's under the host's /run (like /run/screen/S-USER), removed on drop.
struct RunDir(PathBuf);

impl RunDir {
    fn new() -> RunDir {
        let path = PathBuf::from("/run").join(unique("test"));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        set_mode(&path, 0o700);
        chown(&path, caller_uid(), caller_gid());
        RunDir(path)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// /run holds the host's daemons' sockets (D-Bus, docker, screen, the user's own tmux or
/// agents): in host mode the sandbox sees an empty /run instead, under /var/run too.
#[test]
fn host_unix_sockets_under_run_are_out_of_reach() {
    let dir = RunDir::new();
    let sock = dir.0.join("sock");
    let _server = listen_unix(&sock);
    let sock = path_str(&sock);
    // Control: the caller reaches it outside the sandbox.
    assert_eq!(outside_probe(&["connect-unix", sock]), "ok");
    let via_var_run = format!("/var{sock}");
    for options in [&[][..], &["--share-net"][..]] {
        let out = run_probe(
            options,
            &[
                "syscalls",
                &format!("connect-unix={sock}"),
                &format!("connect-unix={via_var_run}"),
            ],
        );
        let results = parse_results(&out);
        for path in [sock, via_var_run.as_str()] {
            assert_eq!(
                results
                    .get(&format!("connect-unix={path}"))
                    .map(String::as_str),
                Some("errno 2 ENOENT"),
                "{options:?}: {path}\n{}",
                describe(&out)
            );
        }
    }
    assert_eq!(syscall_with_arg(&[], "list", "/run"), "ok []");
}

/// A host whose /etc/resolv.conf leads into /run (Ubuntu, Fedora: systemd-resolved's stub)
/// keeps name resolution with --share-net: that one file is bound read-only, nothing else of
/// its directory (here a socket beside it). With a network helper, the helper's file is there.
#[test]
fn with_the_hosts_network_a_resolv_conf_under_run_stays_readable() {
    assert!(
        runner_is_root(),
        "this test makes a mount namespace with its own /etc: run it as root"
    );
    let dir = RunDir::new();
    let stub = dir.0.join("stub-resolv.conf");
    fs::write(&stub, "nameserver 127.0.0.53\n").expect("write the stub");
    set_mode(&stub, 0o644);
    let _server = listen_unix(&dir.0.join("io.systemd.Resolve"));
    // This test's own /etc: the host's, with resolv.conf a link into /run.
    let etc = VarTmpDir::new("etc", 0o755);
    for entry in fs::read_dir("/etc").expect("read /etc").flatten() {
        if entry.file_name() != "resolv.conf" {
            symlink(entry.path(), etc.path().join(entry.file_name())).expect("link into /etc");
        }
    }
    symlink(&stub, etc.path().join("resolv.conf")).expect("link resolv.conf");
    let sandbox = |options: &str| {
        let mut cmd = runner_command(host_tool("unshare"));
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"]);
        cmd.arg(format!(
            "mount --bind {etc} /etc && exec {setpriv} --reuid={id} --regid={id} --clear-groups \
             -- {bin} {options} -- sh -c 'cat /etc/resolv.conf; ls -A {dir}'",
            etc = path_str(etc.path()),
            setpriv = path_str(&host_tool("setpriv")),
            id = caller_uid(),
            bin = path_str(binary()),
            dir = path_str(&dir.0),
        ));
        output_of(cmd)
    };
    assert_stdout(
        &sandbox("--share-net"),
        "nameserver 127.0.0.53\nstub-resolv.conf\n",
    );
    // A network helper's resolv.conf covers the host's where the link leads.
    let out = sandbox("--net pasta");
    assert!(
        text(&out.stdout).starts_with("# ns-rootless: DNS through pasta's forwarder\n")
            && text(&out.stdout).ends_with("\nstub-resolv.conf\n"),
        "{}",
        describe(&out)
    );
    // A private network has no use for the host's resolver: nothing of /run is kept.
    let out = sandbox("");
    assert!(
        text(&out.stdout).is_empty() && text(&out.stderr).contains("No such file"),
        "{}",
        describe(&out)
    );
}

/// A socket under a directory the user binds stays reachable (documented) unless hidden with
/// `--hide`, as a file or with its directory.
#[test]
fn sockets_under_a_bound_directory_stay_reachable_unless_hidden() {
    let dir = VarTmpDir::new("sockets", 0o755);
    chown(dir.path(), caller_uid(), caller_gid());
    let sock_path = dir.path().join("tmux-sock");
    let _server = listen_unix(&sock_path);
    let (dir_str, sock) = (path_str(dir.path()), path_str(&sock_path));
    assert_eq!(
        syscall_with_arg(&["--bind", dir_str], "connect-unix", sock),
        "ok"
    );
    let hidden = syscall_with_arg(&["--bind", dir_str, "--hide", sock], "connect-unix", sock);
    assert_eq!(
        hidden, "errno 111 ECONNREFUSED",
        "a hidden socket is /dev/null"
    );
    let out = run_probe(
        &["--bind", dir_str, "--hide", dir_str],
        &[
            "syscalls",
            &format!("connect-unix={sock}"),
            &format!("list={dir_str}"),
        ],
    );
    let results = parse_results(&out);
    assert_eq!(
        results
            .get(&format!("connect-unix={sock}"))
            .map(String::as_str),
        Some("errno 2 ENOENT"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        results.get(&format!("list={dir_str}")).map(String::as_str),
        Some("ok []"),
        "{}",
        describe(&out)
    );
    // Hiding also works on what the host's / shows read-only.
    assert_eq!(
        syscall_with_arg(&["--hide", dir_str], "connect-unix", sock),
        "errno 2 ENOENT"
    );
}

/// The Landlock ABI the kernel offers, as the test sees it (0: none).
fn landlock_abi() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: the version query takes no attribute pointer.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    abi.max(0)
}

/// `--version` says which Landlock ABI the sandbox uses (users paste it into bug reports, the
/// way crun lists its features).
#[test]
fn version_reports_the_landlock_abi_in_effect() {
    let abi = landlock_abi();
    assert!(
        abi >= 6,
        "this kernel's Landlock ABI is {abi}: the abstract-socket scope needs 6 (Linux 6.12)"
    );
    let out = common::run(&["--version"]);
    assert_code(&out, 0);
    let expected = format!(
        "landlock: ABI {abi}, the host's abstract unix sockets are out of reach with --share-net"
    );
    assert!(
        text(&out.stdout).lines().any(|l| l == expected),
        "expected the line {expected:?} in\n{}",
        describe(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Refuse rather than degrade: setuid and file capabilities
// ---------------------------------------------------------------------------------------------

/// A copy of the binary in a fresh world-readable dir, owned by `uid:gid` with `mode`.
fn installed_copy(label: &str, uid: u32, gid: u32, mode: u32) -> (TempDir, PathBuf) {
    let dir = TempDir::new(label);
    let copy = dir.path().join("ns-rootless");
    copy_with_cp(binary(), &copy);
    chown(&copy, uid, gid);
    set_mode(&copy, mode);
    (dir, copy)
}

#[test]
fn setuid_and_setgid_installs_are_refused() {
    common::require(
        runner_is_root(),
        "only a root test runner can install a setuid copy",
    );
    let other = caller_uid() + 1;
    for (label, uid, gid, mode, needle) in [
        ("setuid-other", other, caller_gid(), 0o4755, "setuid"),
        ("setuid-root", 0, caller_gid(), 0o4755, "setuid"),
        ("setgid-other", caller_uid(), other, 0o2755, "setgid"),
    ] {
        let (_dir, copy) = installed_copy(label, uid, gid, mode);
        let mut cmd = caller_command(&copy);
        cmd.args(["--", "echo", "should not run"]);
        let out = output_of(cmd);
        assert_failure_line(&out, 125, &[needle]);
        assert_eq!(text(&out.stdout), "", "{label}: nothing may run");
    }
}

#[test]
fn file_capabilities_are_refused() {
    common::require(
        runner_is_root(),
        "only a root test runner can set file capabilities",
    );
    let Some(setcap) = ["/usr/sbin/setcap", "/sbin/setcap", "/usr/bin/setcap"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
    else {
        panic!("this test cannot run here: setcap (libcap2-bin) is not installed");
    };
    let (_dir, copy) = installed_copy("filecaps", 0, 0, 0o755);
    let mut cmd = runner_command(setcap);
    cmd.arg("cap_net_raw+ep").arg(&copy);
    let out = output_of(cmd);
    assert!(out.status.success(), "setcap:\n{}", describe(&out));
    let mut cmd = caller_command(&copy);
    cmd.args(["--", "echo", "should not run"]);
    let out = output_of(cmd);
    assert_failure_line(&out, 125, &["file capabilities"]);
    assert_eq!(text(&out.stdout), "", "nothing may run");
}

#[test]
fn a_huge_argument_fails_cleanly() {
    // With a small stack limit inside, execve of the command fails with E2BIG.
    let big = "x".repeat(100_000);
    let out = Mode::Host.run(&["--limit", "stack=65536"], &["true", &big]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("ns-rootless: ") && stderr.matches('\n').count() == 1,
        "{}",
        describe(&out)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
