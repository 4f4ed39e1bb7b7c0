//! Integration tests of named sandboxes: `run --name [-d]`, `exec`, `ps [-a]`, `stop`, `kill`,
//! `logs`, `wait`, `rm`, and the state directory behind them.
//!
//! Every test runs the binary as the unprivileged caller (see `common`). Tests run in parallel
//! and share the caller's state directory (`/tmp/ns-rootless-<uid>/`: the harness gives the
//! binary no `XDG_RUNTIME_DIR`), so every sandbox gets a name of its own ([`unique`]) and a
//! guard ([`Sandbox`]) that kills and removes it however the test ends. Tests that need a second user (only
//! possible when the runner is root) each take a uid of their own ([`spare_id`]).

#[allow(dead_code)]
mod common;

use std::fs;
use std::os::unix::fs::{chown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_code, assert_failure_line, assert_stdout, binary, busybox_rootfs, caller_command,
    caller_gid, caller_uid, describe, host_tool, ns_rootless, ns_rootless_as, output_of, path_str,
    run, runner_command, runner_is_root, set_mode, spare_id, text, Running, TempDir, ROOTFS_MARKER,
    ROOTFS_MARKER_TEXT,
};
use nix::sys::signal::Signal;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A sandbox name no other test (or test run) uses: `TAG-<pid of the test binary>`.
fn unique(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

/// The caller's state directory (the harness passes no `XDG_RUNTIME_DIR`).
fn state_root() -> PathBuf {
    PathBuf::from(format!("/tmp/ns-rootless-{}", caller_uid()))
}

/// `args` as owned strings.
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A detached sandbox started by a test; killed and removed (`rm -f NAME`) when dropped, so a
/// failing test leaves nothing running and no record behind.
struct Sandbox {
    name: String,
    /// `XDG_RUNTIME_DIR` for every command about this sandbox (None: the default state dir).
    xdg: Option<PathBuf>,
}

impl Sandbox {
    /// `run -d --name unique(TAG) OPTIONS... -- COMMAND...`, which must print the name and exit 0.
    fn start(tag: &str, options: &[&str], command: &[&str]) -> Sandbox {
        Sandbox::start_with(None, tag, options, command)
    }

    fn start_with(xdg: Option<&Path>, tag: &str, options: &[&str], command: &[&str]) -> Sandbox {
        let sandbox = Sandbox {
            name: unique(tag),
            xdg: xdg.map(Path::to_owned),
        };
        let mut args = strings(&["run", "-d", "--name", &sandbox.name]);
        args.extend(strings(options));
        args.push("--".to_owned());
        args.extend(strings(command));
        let out = output_of(sandbox.command(&args));
        assert_stdout(&out, &format!("{}\n", sandbox.name));
        assert_eq!(text(&out.stderr), "", "{}", describe(&out));
        sandbox
    }

    /// `ns-rootless ARGS...` as the caller, with this sandbox's `XDG_RUNTIME_DIR` if any.
    fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = ns_rootless(args);
        if let Some(xdg) = &self.xdg {
            cmd.env("XDG_RUNTIME_DIR", xdg);
        }
        cmd
    }

    /// `ns-rootless exec NAME -- COMMAND...`.
    fn exec(&self, command: &[&str]) -> Output {
        let mut args = strings(&["exec", &self.name, "--"]);
        args.extend(strings(command));
        output_of(self.command(&args))
    }

    /// `ns-rootless VERB NAME EXTRA...` (stop, kill, logs).
    fn manage(&self, verb: &str, extra: &[&str]) -> Output {
        let mut args = strings(&[verb, &self.name]);
        args.extend(strings(extra));
        output_of(self.command(&args))
    }

    /// What `logs NAME` prints (exit 0 required).
    fn logs(&self) -> String {
        let out = self.manage("logs", &[]);
        assert_code(&out, 0);
        text(&out.stdout)
    }

    /// Polls `logs NAME` until it contains `needle`; returns the whole log.
    fn wait_for_log(&self, needle: &str) -> String {
        let mut log = String::new();
        wait_for(
            &format!("{needle:?} in the log of {}", self.name),
            10.0,
            || {
                log = self.logs();
                log.contains(needle)
            },
        );
        log
    }

    /// The sandbox's directory in its state dir.
    fn dir(&self) -> PathBuf {
        match &self.xdg {
            Some(xdg) => xdg.join("ns-rootless").join(&self.name),
            None => state_root().join(&self.name),
        }
    }

    /// Its `state.json`, read directly (the runner is the caller, or root).
    fn state(&self) -> Value {
        let path = self.dir().join("state.json");
        let bytes = fs::read(&path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|err| panic!("parse {}: {err}: {}", path.display(), text(&bytes)))
    }

    /// Every host process of the sandbox: its supervisor and everything below it.
    fn processes(&self) -> Vec<Proc> {
        let supervisor = int(&self.state()["supervisor"]);
        let tree = process_tree(supervisor);
        assert!(
            tree.len() >= 3,
            "expected supervisor, init and payload below pid {supervisor}, got {tree:?}"
        );
        tree
    }

    /// Whether `ps --json` lists it.
    fn listed(&self) -> bool {
        ps_entry(self.xdg.as_deref(), &self.name).is_some()
    }

    /// Its `ps -a --json` entry (which must exist).
    fn entry(&self) -> Value {
        ps_entry_all(self.xdg.as_deref(), &self.name)
            .unwrap_or_else(|| panic!("`ps -a` lacks {}", self.name))
    }

    /// Waits until `ps` no longer lists it as running; returns its `ps -a --json` entry.
    fn wait_until_ended(&self, limit: f64) -> Value {
        wait_for(&format!("{} to end", self.name), limit, || !self.listed());
        let entry = self.entry();
        assert_ne!(entry["status"], "running", "{entry}");
        entry
    }

    /// `rm NAME` (exit 0 and no output required); afterwards nothing is left of it.
    fn remove(&self) {
        let out = self.manage("rm", &[]);
        assert_stdout(&out, "");
        assert_eq!(text(&out.stderr), "", "{}", describe(&out));
        assert!(ps_entry_all(self.xdg.as_deref(), &self.name).is_none());
        assert!(!self.dir().exists(), "{} left", self.dir().display());
    }

    /// Waits until `ps` no longer lists it and its directory is gone.
    fn wait_until_gone(&self, limit: f64) {
        wait_for(&format!("{} to leave `ps`", self.name), limit, || {
            !self.listed()
        });
        wait_for(
            &format!("{} to be removed", self.dir().display()),
            limit,
            || !self.dir().exists(),
        );
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Not `output_of`: a panic while unwinding would abort the test binary.
        let _ = self
            .command(&["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The entries of `ps --json` (exit 0 and valid JSON required).
fn ps_json(xdg: Option<&Path>) -> Vec<Value> {
    ps_json_with(xdg, &[])
}

/// The entries of `ps --json EXTRA...`.
fn ps_json_with(xdg: Option<&Path>, extra: &[&str]) -> Vec<Value> {
    let mut cmd = ns_rootless([&["ps", "--json"][..], extra].concat());
    if let Some(xdg) = xdg {
        cmd.env("XDG_RUNTIME_DIR", xdg);
    }
    let out = output_of(cmd);
    assert_code(&out, 0);
    match serde_json::from_slice(&out.stdout) {
        Ok(Value::Array(entries)) => entries,
        other => panic!(
            "`ps --json` printed no JSON array ({other:?}):\n{}",
            describe(&out)
        ),
    }
}

/// The `ps --json` entry named `name`, if any.
fn ps_entry(xdg: Option<&Path>, name: &str) -> Option<Value> {
    ps_json(xdg).into_iter().find(|e| e["name"] == name)
}

/// The `ps -a --json` entry named `name`, if any.
fn ps_entry_all(xdg: Option<&Path>, name: &str) -> Option<Value> {
    ps_json_with(xdg, &["-a"])
        .into_iter()
        .find(|e| e["name"] == name)
}

fn int(value: &Value) -> i32 {
    value
        .as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or_else(|| panic!("expected a pid, got {value}"))
}

/// Polls `done` every 20 ms; panics after `limit` seconds.
fn wait_for(what: &str, limit: f64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(limit);
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit} s for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Removes whatever is at `path` (a symlink is removed, not followed).
fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Makes `path` belong to the caller (when the runner is root; else it already does).
fn give_to_caller(path: &Path) {
    if runner_is_root() {
        chown(path, Some(caller_uid()), Some(caller_gid()))
            .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
    }
}

/// Makes sure the caller's state directory exists (`ps` creates it).
fn ensure_state_root() -> PathBuf {
    ps_json(None);
    state_root()
}

// ---------------------------------------------------------------------------------------------
// The host's process table
// ---------------------------------------------------------------------------------------------

/// A host process; its start time tells a reused pid apart.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Proc {
    pid: i32,
    start: u64,
}

/// The fields of `/proc/PID/stat` these tests need.
struct Stat {
    comm: String,
    state: char,
    ppid: i32,
    start: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    Some(Stat {
        comm: stat.get(open + 1..close)?.to_owned(),
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Whether `process` still runs (a zombie counts as gone).
fn running(process: &Proc) -> bool {
    stat(process.pid).is_some_and(|s| s.start == process.start && s.state != 'Z')
}

/// `root` and every process below it, through the parent pids in `/proc/*/stat`
/// (`/proc/PID/task/PID/children` is not available on every kernel).
fn process_tree(root: i32) -> Vec<Proc> {
    let all: Vec<(i32, Stat)> = fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .collect();
    let mut found = Vec::new();
    if let Some((_, s)) = all.iter().find(|(pid, _)| *pid == root) {
        found.push(Proc {
            pid: root,
            start: s.start,
        });
    }
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, s) in &all {
            if s.ppid == parent {
                found.push(Proc {
                    pid: *pid,
                    start: s.start,
                });
                frontier.push(*pid);
            }
        }
    }
    found
}

/// Waits until none of `processes` runs any more.
fn wait_all_gone(processes: &[Proc], limit: f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(limit);
    loop {
        let alive: Vec<String> = processes
            .iter()
            .filter(|p| running(p))
            .map(|p| {
                let s = stat(p.pid);
                format!("{} ({})", p.pid, s.map(|s| s.comm).unwrap_or_default())
            })
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{limit} s on, processes of the sandbox still run: {alive:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// run -d and exec
// ---------------------------------------------------------------------------------------------

#[test]
fn detached_run_prints_the_name_and_exec_joins_the_sandbox() {
    let a = Sandbox::start("join", &[], &["sleep", "1000"]);
    // `run -d` returned once the command runs: its pid is recorded already.
    let state = a.state();
    let payload = int(&state["payload"]);
    assert!(payload > 0, "no payload pid in {state}");
    assert_eq!(stat(payload).map(|s| s.comm).as_deref(), Some("sleep"));

    assert_stdout(&a.exec(&["hostname"]), &format!("{}\n", a.name));

    // PID 1 is the sandbox's init: ns-rootless's own argv.
    let out = a.exec(&["cat", "/proc/1/cmdline"]);
    assert_code(&out, 0);
    let argv: Vec<String> = text(&out.stdout)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        argv.first().is_some_and(|a| a.ends_with("ns-rootless")) && argv.contains(&"run".into()),
        "/proc/1/cmdline in the sandbox: {argv:?}"
    );
    assert!(argv.contains(&a.name), "{argv:?}");

    // The exec'd command sees the sandbox's processes: the payload, and itself.
    let out = a.exec(&[
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do cat $p/comm; done 2>/dev/null",
    ]);
    assert_code(&out, 0);
    let comms = text(&out.stdout);
    assert!(
        comms.lines().any(|c| c == "sleep") && comms.lines().any(|c| c == "ns-rootless"),
        "{}",
        describe(&out)
    );

    // The sandbox's /tmp, shared by every exec, not the host's.
    let file = format!("/tmp/{}-exec-file", a.name);
    assert_stdout(&a.exec(&["sh", "-c", &format!("echo hello > {file}")]), "");
    assert_stdout(&a.exec(&["cat", &file]), "hello\n");
    assert!(
        !Path::new(&file).exists(),
        "{file} written in the sandbox appeared on the host"
    );
}

#[test]
fn exec_returns_the_commands_status() {
    let a = Sandbox::start("status", &[], &["sleep", "1000"]);
    let out = a.exec(&["sh", "-c", "exit 7"]);
    assert_code(&out, 7);
    assert_eq!(text(&out.stderr), "", "{}", describe(&out));
    // Without `--`, too.
    let out = output_of(ns_rootless(["exec", &a.name, "sh", "-c", "exit 3"]));
    assert_code(&out, 3);
    assert_code(&a.exec(&["sh", "-c", "kill -TERM $$"]), 128 + 15);
    assert_failure_line(
        &a.exec(&["nosuchcmd-named"]),
        127,
        &["cannot run", "nosuchcmd-named"],
    );
    // Options of exec.
    let out = output_of(ns_rootless([
        "exec",
        "-e",
        "FOO=bar",
        "--chdir",
        "/proc",
        &a.name,
        "sh",
        "-c",
        "echo $FOO; pwd",
    ]));
    assert_stdout(&out, "bar\n/proc\n");
}

#[test]
fn exec_of_an_unknown_sandbox_fails_with_125() {
    let out = run(&["exec", "nosuch", "true"]);
    assert_failure_line(&out, 125, &["no sandbox named \"nosuch\""]);
    let name = unique("never-started");
    let out = run(&["exec", &name, "true"]);
    assert_failure_line(&out, 125, &[&format!("no sandbox named \"{name}\"")]);
    for verb in ["stop", "kill", "logs"] {
        let out = run(&[verb, &name]);
        assert_failure_line(&out, 125, &[&format!("no sandbox named \"{name}\"")]);
    }
}

#[test]
fn exec_is_locked_down_like_the_payload() {
    const REPORT: &str = "cat /proc/self/uid_map /proc/self/gid_map; \
                          grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status";
    let a = Sandbox::start(
        "locked",
        &[],
        &[
            "sh",
            "-c",
            &format!("{REPORT}; echo end-of-report; exec sleep 1000"),
        ],
    );
    let payload = a.wait_for_log("end-of-report");
    let payload = payload.trim_end_matches("end-of-report\n");

    let out = a.exec(&["sh", "-c", REPORT]);
    assert_code(&out, 0);
    let exec = text(&out.stdout);
    assert_eq!(exec, payload, "exec'd command vs payload");

    let field = |name: &str| {
        exec.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {exec:?}"))
            .to_owned()
    };
    for caps in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(caps), "0000000000000000", "{caps}");
    }
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2");
    let maps: Vec<String> = exec
        .lines()
        .take(2)
        .map(common::normalize_whitespace)
        .collect();
    let uid = caller_uid();
    let gid = caller_gid();
    assert_eq!(maps, [format!("0 {uid} 1"), format!("0 {gid} 1")]);

    // The sandbox's mounts are locked, and no new namespaces either.
    let out = a.exec(&["umount", "/tmp"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "umount /tmp: {}",
        describe(&out)
    );
    let out = a.exec(&["unshare", "--user", "--mount", "true"]);
    assert_ne!(out.status.code(), Some(0), "unshare: {}", describe(&out));
    assert_stdout(
        &a.exec(&["sh", "-c", "grep -c ' /tmp ' /proc/self/mounts"]),
        "1\n",
    );
}

#[test]
fn exec_works_in_a_sandbox_sharing_the_host_network() {
    // The host's network namespace is ours already: exec must not try to join it.
    let sandbox = Sandbox::start("share-net", &["--share-net"], &["sleep", "1000"]);
    assert_stdout(&sandbox.exec(&["hostname"]), &format!("{}\n", sandbox.name));
    let host_net = fs::read_link("/proc/self/ns/net").expect("our net namespace");
    let inside = sandbox.exec(&["readlink", "/proc/self/ns/net"]);
    assert_stdout(&inside, &format!("{}\n", host_net.display()));
}

#[test]
fn exec_works_in_a_rootfs_sandbox() {
    let rootfs = path_str(busybox_rootfs());
    let a = Sandbox::start("rootfs", &["--rootfs", rootfs], &["sleep", "1000"]);
    assert_stdout(&a.exec(&["cat", ROOTFS_MARKER]), ROOTFS_MARKER_TEXT);
    assert_stdout(&a.exec(&["hostname"]), &format!("{}\n", a.name));
    let entry = ps_entry(None, &a.name).expect("ps lists the sandbox");
    assert_eq!(entry["rootfs"], rootfs, "{entry}");
}

#[test]
fn an_exec_ends_when_its_sandbox_is_stopped() {
    let a = Sandbox::start("exec-stop", &[], &["sleep", "1000"]);
    let mut exec = Running::start(ns_rootless([
        "exec",
        &a.name,
        "sh",
        "-c",
        "echo ready; exec sleep 1000",
    ]));
    exec.wait_for_line("ready");
    assert_code(&a.manage("stop", &["--time", "1"]), 0);
    // An exec that outlived its sandbox would run its sleep 1000 into finish's hang guard.
    let out = exec.finish();
    // Its command was killed with the sandbox.
    assert_code(&out, 128 + 9);
}

// ---------------------------------------------------------------------------------------------
// ps
// ---------------------------------------------------------------------------------------------

#[test]
fn ps_lists_the_sandbox_with_its_init_pid() {
    let a = Sandbox::start("ps", &[], &["sleep", "1000"]);
    let entry = ps_entry(None, &a.name).unwrap_or_else(|| panic!("ps --json lacks {}", a.name));
    assert_eq!(entry["status"], "running", "{entry}");
    assert_eq!(entry["hostname"], a.name.as_str(), "{entry}");
    assert_eq!(
        entry["command"],
        serde_json::json!(["sleep", "1000"]),
        "{entry}"
    );
    assert_eq!(entry["rootfs"], Value::Null, "{entry}");
    assert!(
        entry["age_seconds"].as_u64().is_some_and(|age| age < 60),
        "{entry}"
    );

    // Its pid is the sandbox's init: a live ns-rootless whose parent is the supervisor.
    let pid = int(&entry["pid"]);
    let init = stat(pid).unwrap_or_else(|| panic!("pid {pid} from ps is not running"));
    assert_eq!(init.comm, "ns-rootless");
    assert!(init.state != 'Z', "init {pid} is a zombie");
    let state = a.state();
    assert_eq!(int(&state["pid"]), pid, "{state}");
    let supervisor = int(&state["supervisor"]);
    assert_eq!(init.ppid, supervisor, "init's parent is not the supervisor");
    let supervisor = stat(supervisor).expect("the supervisor runs");
    assert_eq!(supervisor.comm, "ns-rootless");
    // The payload runs below init.
    let payload = int(&state["payload"]);
    assert_eq!(
        stat(payload).map(|s| s.ppid),
        Some(pid),
        "payload {payload}"
    );

    // The table: a header, then one line per sandbox.
    let out = run(&["ps"]);
    assert_code(&out, 0);
    let table = text(&out.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "PID", "STATUS", "AGE", "COMMAND", "ROOTFS", "PORTS"],
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&a.name.as_str()))
        .unwrap_or_else(|| panic!("no row for {} in\n{table}", a.name));
    assert_eq!(row[1], pid.to_string(), "{table}");
    assert_eq!(row[2], "running", "{table}");
    assert_eq!(row[4..], ["sleep", "1000", "-", "-"], "{table}");
}

// ---------------------------------------------------------------------------------------------
// stop and kill
// ---------------------------------------------------------------------------------------------

#[test]
fn stop_kills_a_payload_ignoring_term_after_the_grace_period() {
    let a = Sandbox::start(
        "stop-grace",
        &[],
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ],
    );
    a.wait_for_log("ready");
    let processes = a.processes();
    let started = Instant::now();
    let out = a.manage("stop", &["--time", "2"]);
    let took = started.elapsed();
    assert_stdout(&out, "");
    assert_eq!(text(&out.stderr), "", "{}", describe(&out));
    // The grace period is honoured (a lower bound; how late the SIGKILL lands on a loaded
    // machine is not this test's business: exit_code 137 below says it was SIGKILL).
    assert!(
        took >= Duration::from_secs(2),
        "stop --time 2 of a payload ignoring SIGTERM took {took:?}"
    );
    // `stop` returns once the sandbox has ended and its status is recorded: SIGKILL's.
    assert!(!a.listed(), "ps still lists {} after stop", a.name);
    let entry = a.entry();
    assert_eq!(
        (&entry["status"], &entry["exit_code"]),
        (&Value::from("exited"), &Value::from(137)),
        "{entry}"
    );
    wait_all_gone(&processes, 10.0);
}

#[test]
fn stop_ends_a_payload_handling_term_at_once() {
    let a = Sandbox::start(
        "stop-term",
        &[],
        &[
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    a.wait_for_log("ready");
    let processes = a.processes();
    let started = Instant::now();
    assert_stdout(&a.manage("stop", &[]), "");
    let took = started.elapsed();
    // It didn't sit out the default 10 s grace period once the payload had ended.
    assert!(
        took < Duration::from_secs(8),
        "stop of a payload that exits on SIGTERM took {took:?}"
    );
    assert!(!a.listed(), "ps still lists {} after stop", a.name);
    assert_eq!(a.entry()["exit_code"], 0, "the trap's exit 0");
    wait_all_gone(&processes, 10.0);
    // Stopping it again: there is nothing left to stop.
    assert_failure_line(&a.manage("stop", &[]), 125, &["has ended (exit status 0)"]);
}

#[test]
fn kill_term_reaches_the_payloads_trap_and_kill_ends_everything() {
    let a = Sandbox::start(
        "kill",
        &[],
        &[
            "sh",
            "-c",
            "trap 'echo got-term' TERM; echo ready; sleep 1000 & while :; do sleep 0.1; done",
        ],
    );
    a.wait_for_log("ready");
    assert_stdout(&a.manage("kill", &["TERM"]), "");
    assert_eq!(a.wait_for_log("got-term"), "ready\ngot-term\n");
    assert!(
        a.listed(),
        "the payload trapped TERM: the sandbox must still run"
    );

    // Bad signals are refused and change nothing.
    for bad in ["STOP", "19", "NOSUCH", "0", ""] {
        let out = a.manage("kill", &[bad]);
        assert_failure_line(&out, 125, &["invalid signal"]);
    }
    assert_stdout(&a.exec(&["true"]), "");

    // `kill NAME` is KILL: everything goes, the background sleep too.
    let processes = a.processes();
    assert!(processes.len() >= 4, "{processes:?}");
    assert_stdout(&a.manage("kill", &[]), "");
    wait_all_gone(&processes, 10.0);
    assert_eq!(a.wait_until_ended(10.0)["exit_code"], 137);
}

#[test]
fn kill_accepts_signal_names_and_numbers() {
    let a = Sandbox::start(
        "signals",
        &[],
        &[
            "sh",
            "-c",
            "for s in HUP USR1 USR2; do trap \"echo got-$s\" $s; done; echo ready; \
             while :; do sleep 0.1; done",
        ],
    );
    a.wait_for_log("ready");
    for (signal, seen) in [
        ("HUP", "got-HUP"),
        ("SIGUSR1", "got-USR1"),
        ("12", "got-USR2"),
    ] {
        assert_stdout(&a.manage("kill", &[signal]), "");
        a.wait_for_log(seen);
    }
}

// ---------------------------------------------------------------------------------------------
// logs
// ---------------------------------------------------------------------------------------------

#[test]
fn logs_show_what_the_detached_payload_printed() {
    let a = Sandbox::start(
        "logs",
        &[],
        &[
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; exec sleep 1000",
        ],
    );
    assert_eq!(a.wait_for_log("to-stderr"), "to-stdout\nto-stderr\n");
    // The log is in the sandbox's private directory.
    let log = a.dir().join("log");
    assert_eq!(
        fs::read_to_string(&log).expect("read the log"),
        "to-stdout\nto-stderr\n"
    );
}

#[test]
fn logs_follow_until_the_sandbox_ends() {
    let a = Sandbox::start(
        "follow",
        &[],
        &[
            "sh",
            "-c",
            "echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo last; exit 0",
        ],
    );
    a.wait_for_log("first");
    let mut follow = Running::start(a.command(&["logs", "-f", &a.name]));
    follow.wait_for_line("first");
    assert_stdout(&a.exec(&["touch", "/tmp/go"]), "");
    follow.wait_for_line("last");
    // A `logs -f` that didn't end with the payload would run into finish's hang guard.
    let out = follow.finish();
    assert_stdout(&out, "first\nlast\n");
    a.wait_until_ended(10.0);
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

#[test]
fn a_sandbox_that_ends_by_itself_is_kept_with_its_status_and_log_until_rm() {
    let xdg = private_xdg("ends");
    let e = Sandbox::start_with(
        Some(xdg.path()),
        "ends",
        &[],
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
    );
    let entry = e.wait_until_ended(10.0);
    assert_eq!(entry["status"], "exited", "{entry}");
    assert_eq!(entry["exit_code"], 3, "{entry}");
    assert!(
        entry["pid"].is_null(),
        "an ended sandbox's pid is shown: {entry}"
    );
    let ended = entry["ended"].as_u64().expect("`ended` is a number");
    let created = entry["created"].as_u64().expect("`created` is a number");
    assert!(ended >= created && ended <= created + 10, "{entry}");
    // `ps` without -a lists running sandboxes only; the table shows the status.
    assert!(!e.listed());
    let table = text(&output_of(e.command(&["ps", "-a"])).stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("{} ", e.name)))
        .unwrap_or_else(|| panic!("`ps -a` lacks {}:\n{table}", e.name));
    assert!(row.contains(" exited(3) "), "{row}");
    // Its output and status stay.
    assert_eq!(e.logs(), "out\nerr\n");
    assert_code(&e.manage("wait", &[]), 3);
    // What only a running sandbox can do is refused, naming why.
    assert_failure_line(
        &e.exec(&["true"]),
        125,
        &["has ended (exit status 3)", "ps -a"],
    );
    assert_failure_line(&e.manage("kill", &[]), 125, &["has ended"]);
    // The name stays taken until `rm`.
    let out = output_of(e.command(&["run", "-d", "--name", &e.name, "true"]));
    assert_failure_line(
        &out,
        125,
        &[
            "is taken by a sandbox that has ended",
            &format!("ns-rootless rm {}", e.name),
        ],
    );
    e.remove();
    assert_failure_line(&e.manage("wait", &[]), 125, &["no sandbox named"]);
    assert_failure_line(&e.manage("rm", &[]), 125, &["no sandbox named"]);
    // The name is free again.
    let again = Sandbox::start_with(Some(xdg.path()), "ends", &[], &["sleep", "1000"]);
    assert!(again.listed());
}

#[test]
fn a_named_foreground_run_is_visible_while_it_runs_and_kept_after() {
    let xdg = private_xdg("foreground");
    let name = unique("foreground");
    let guard = Sandbox {
        name: name.clone(),
        xdg: Some(xdg.path().to_owned()),
    };
    let mut fg = Running::start(guard.command(&[
        "run",
        "--name",
        &name,
        "sh",
        "-c",
        "echo ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo done; exit 5",
    ]));
    fg.wait_for_line("ready");
    assert!(guard.listed(), "ps lacks the foreground sandbox {name}");
    assert_stdout(&guard.exec(&["hostname"]), &format!("{name}\n"));
    // `wait` from elsewhere sees the status the run itself returns.
    let mut waiter = Running::start(guard.command(&["wait", &name]));
    assert_stdout(&guard.exec(&["touch", "/tmp/go"]), "");
    let out = fg.finish();
    assert_code(&out, 5);
    assert_eq!(text(&out.stdout), "ready\ndone\n");
    assert_code(&waiter.finish(), 5);
    // Ended by the time `run` returns, and kept: its output went to the caller, not to a log.
    assert!(!guard.listed(), "ps lists {name} as running after it ended");
    assert_eq!(guard.entry()["exit_code"], 5);
    assert_failure_line(&guard.manage("logs", &[]), 125, &["has no log", "-d"]);
    guard.remove();
}

#[test]
fn run_with_rm_keeps_nothing() {
    let xdg = private_xdg("rm-option");
    let g = Sandbox {
        name: unique("rm-option"),
        xdg: Some(xdg.path().to_owned()),
    };
    let out = output_of(g.command(&["run", "--rm", "--name", &g.name, "sh", "-c", "exit 4"]));
    assert_code(&out, 4);
    assert!(ps_entry_all(g.xdg.as_deref(), &g.name).is_none());
    assert!(!g.dir().exists(), "{} left", g.dir().display());
    let out = output_of(g.command(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &g.name,
        "sh",
        "-c",
        "sleep 0.5; exit 4",
    ]));
    assert_stdout(&out, &format!("{}\n", g.name));
    // `wait` can't give a status that isn't kept, and says why.
    let out = g.manage("wait", &[]);
    assert_failure_line(&out, 125, &["removed as it ended", "--rm"]);
    g.wait_until_gone(10.0);
    let left: Vec<_> = fs::read_dir(xdg.path().join("ns-rootless"))
        .expect("read the state dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A state dir of the test's own (XDG_RUNTIME_DIR=P, state in P/ns-rootless): the `ps` of
/// tests running in parallel would otherwise clean up a stale state this test plants.
fn private_xdg(tag: &str) -> TempDir {
    let parent = TempDir::new(tag);
    let state = parent.path().join("ns-rootless");
    fs::create_dir(&state).expect("mkdir the state dir");
    set_mode(&state, 0o700);
    give_to_caller(&state);
    parent
}

/// Starts `run --name unique(TAG) sh -c 'echo ready; exec sleep 1000'` in the foreground, with
/// a private state dir, and SIGKILLs it (the supervisor) once the payload runs: the sandbox dies
/// with it and its state.json is left behind. Returns the state dir, the guard and the init.
fn kill_a_foreground_supervisor(tag: &str) -> (TempDir, Sandbox, Proc) {
    let xdg = private_xdg(tag);
    let guard = Sandbox {
        name: unique(tag),
        xdg: Some(xdg.path().to_owned()),
    };
    let mut fg = Running::start(guard.command(&strings(&[
        "run",
        "--name",
        &guard.name,
        "sh",
        "-c",
        "echo ready; exec sleep 1000",
    ])));
    fg.wait_for_line("ready");
    let processes = guard.processes();
    let init = int(&guard.state()["pid"]);
    let init = processes
        .iter()
        .find(|p| p.pid == init)
        .expect("init is below the supervisor")
        .clone();
    fg.signal(Signal::SIGKILL);
    let _ = fg.finish();
    wait_all_gone(&processes, 10.0);
    assert!(
        guard.dir().join("state.json").exists(),
        "state.json was not left behind"
    );
    (xdg, guard, init)
}

#[test]
fn a_killed_supervisor_leaves_an_ended_sandbox_with_no_known_status() {
    let (xdg, guard, init) = kill_a_foreground_supervisor("killed-supervisor");
    // init, orphaned, is reaped by the host's init (or a subreaper): wait for its pid to go.
    wait_for("the dead sandbox's init to be reaped", 10.0, || {
        stat(init.pid).is_none_or(|s| s.start != init.start)
    });
    // Its state.json was left behind without an exit status; nobody may take it for a running
    // sandbox, and it shows as ended with no known status.
    assert!(!guard.listed());
    let entry = guard.entry();
    assert_eq!(entry["status"], "unknown", "{entry}");
    assert!(entry["exit_code"].is_null(), "{entry}");
    assert!(entry["ended"].is_null(), "{entry}");
    assert!(entry["pid"].is_null(), "{entry}");
    assert_failure_line(&guard.exec(&["true"]), 125, &["has ended", "unknown"]);
    assert_failure_line(&guard.manage("wait", &[]), 125, &["exit status is unknown"]);
    let table = text(&output_of(guard.command(&["ps", "-a"])).stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&format!("{} ", guard.name)) && l.contains(" unknown ")),
        "{table}"
    );
    guard.remove();
    let again = Sandbox::start_with(
        Some(xdg.path()),
        "killed-supervisor",
        &[],
        &["sleep", "1000"],
    );
    assert!(again.listed());
}

#[test]
fn a_sandbox_whose_init_is_a_zombie_is_not_running() {
    let (_xdg, guard, init) = kill_a_foreground_supervisor("zombie-init");
    // Whether init is still an unreaped zombie now depends on the host's init; if it is, the
    // sandbox is dead all the same.
    let zombie = stat(init.pid).is_some_and(|s| s.start == init.start && s.state == 'Z');
    let listed = guard.listed();
    let status = guard.entry()["status"].clone();
    assert!(
        !listed && status == "unknown",
        "ps lists {} as {status} though its init {} is dead (zombie: {zombie})",
        guard.name,
        init.pid
    );
    guard.remove();
}

/// Writes `DIR/NAME/state.json` for a sandbox that isn't there: `pid` with a wrong start time.
fn plant_state(root: &Path, name: &str, pid: i32, start_time: u64) -> PathBuf {
    let dir = root.join(name);
    remove_any(&dir);
    fs::create_dir(&dir).unwrap_or_else(|err| panic!("mkdir {}: {err}", dir.display()));
    set_mode(&dir, 0o700);
    give_to_caller(&dir);
    let state = serde_json::json!({
        "name": name,
        "pid": pid,
        "start_time": start_time,
        "supervisor": pid,
        "payload": pid,
        "payload_start_time": start_time,
        "created": 1,
        "command": ["sleep", "1000"],
        "rootfs": null,
        "hostname": name,
        "inner_uid": 0,
        "inner_gid": 0,
        "seccomp": {"disabled": false, "nested": false, "perf": false, "io_uring": false,
                    "keyring": false},
    });
    let file = dir.join("state.json");
    fs::write(&file, state.to_string()).expect("write the planted state.json");
    give_to_caller(&file);
    // Old enough not to pass for a sandbox being set up right now.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    let times = fs::FileTimes::new().set_modified(old);
    fs::File::open(&dir)
        .and_then(|d| d.set_times(times))
        .expect("age the planted dir");
    dir
}

#[test]
fn a_stale_state_is_shown_as_ended_and_its_pid_never_signalled() {
    let xdg = private_xdg("stale");
    let root = xdg.path().join("ns-rootless");
    let name = unique("stale");
    let guard = Sandbox {
        name: name.clone(),
        xdg: Some(xdg.path().to_owned()),
    };
    let x = Some(xdg.path());
    let run = |args: &[&str]| output_of(guard.command(args));
    // An unrelated process of the caller's, which the caller could signal.
    let mut sleep = caller_command(host_tool("sleep"))
        .arg("1000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start an unrelated sleep");
    let pid = i32::try_from(sleep.id()).expect("pid fits");
    let victim = Proc {
        pid,
        start: stat(pid).expect("the sleep runs").start,
    };
    let wrong = victim.start + 1;
    let check = |what: &str| {
        assert!(running(&victim), "{what} signalled the unrelated pid {pid}");
    };

    let dir = plant_state(&root, &name, pid, wrong);
    assert!(
        ps_entry(x, &name).is_none(),
        "ps lists the stale {name} as running"
    );
    let entry = ps_entry_all(x, &name).expect("ps -a lists the stale state");
    assert_eq!(entry["status"], "unknown", "{entry}");
    assert_code(&run(&["ps", "-a"]), 0);
    check("ps");

    for (verb, extra, needle) in [
        ("exec", &["true"][..], "has ended"),
        ("stop", &["--time", "1"][..], "has ended"),
        ("kill", &[][..], "has ended"),
        ("kill", &["TERM"][..], "has ended"),
        ("logs", &[][..], "has no log"),
        ("wait", &[][..], "exit status is unknown"),
    ] {
        let mut args = vec![verb, name.as_str()];
        args.extend(extra);
        let out = run(&args);
        assert_failure_line(&out, 125, &[needle]);
        check(verb);
        assert!(dir.join("state.json").exists(), "{verb} removed the record");
    }
    // A stale name is taken again only after `rm` (-f, too, signals nothing).
    let out = run(&["run", "-d", "--name", &name, "true"]);
    assert_failure_line(&out, 125, &["ns-rootless rm"]);
    assert_stdout(&run(&["rm", "-f", &name]), "");
    check("rm -f");
    assert!(!dir.exists(), "rm -f left {}", dir.display());

    // A dead pid is stale too.
    let dir = plant_state(&root, &name, i32::MAX, 5);
    assert_eq!(ps_entry_all(x, &name).expect("listed")["status"], "unknown");
    assert_stdout(&run(&["rm", &name]), "");
    assert!(!dir.exists());
    let again = Sandbox::start_with(x, "stale", &[], &["sleep", "1000"]);
    assert!(again.listed());
    drop(again);

    assert!(running(&victim), "the unrelated sleep was signalled");
    let _ = sleep.kill();
    let _ = sleep.wait();
}

#[test]
fn an_unreadable_state_file_does_not_break_ps_or_block_the_name() {
    let root = ensure_state_root();
    let name = unique("garbage");
    let dir = plant_state(&root, &name, 1, 1);
    fs::write(dir.join("state.json"), "{not json").expect("spoil state.json");
    assert!(ps_entry(None, &name).is_none());
    let out = run(&["exec", &name, "true"]);
    assert_code(&out, 125);
    let a = Sandbox::start("garbage", &[], &["sleep", "1000"]);
    assert!(a.listed());
}

#[test]
fn concurrent_runs_with_the_same_name_start_exactly_one() {
    for round in 0..3 {
        let tag = format!("same{round}");
        let guard = Sandbox {
            name: unique(&tag),
            xdg: None,
        };
        let args = ["run", "-d", "--name", guard.name.as_str(), "sleep", "100"];
        let (first, second) = thread::scope(|s| {
            let one = s.spawn(|| run(&args));
            let two = s.spawn(|| run(&args));
            (one.join().expect("run"), two.join().expect("run"))
        });
        let (won, lost) = match (first.status.code(), second.status.code()) {
            (Some(0), _) => (first, second),
            _ => (second, first),
        };
        assert_stdout(&won, &format!("{}\n", guard.name));
        assert_failure_line(
            &lost,
            125,
            &[&format!(
                "a sandbox named \"{}\" is already running",
                guard.name
            )],
        );
        let entry = ps_entry(None, &guard.name).expect("the winner runs");
        assert_eq!(int(&entry["pid"]), int(&guard.state()["pid"]));
    }
}

#[test]
fn a_second_run_with_a_running_name_is_refused() {
    let a = Sandbox::start("taken", &[], &["sleep", "1000"]);
    let pid = int(&a.state()["pid"]);
    let out = run(&["run", "-d", "--name", &a.name, "true"]);
    assert_failure_line(&out, 125, &["already running"]);
    let out = run(&["run", "--name", &a.name, "true"]);
    assert_failure_line(&out, 125, &["already running"]);
    // The first one is untouched.
    assert_eq!(int(&a.state()["pid"]), pid);
    assert_stdout(&a.exec(&["true"]), "");
}

// ---------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------

#[test]
fn detach_needs_a_name() {
    for args in [&["run", "-d", "sleep", "1"][..], &["-d", "--", "true"][..]] {
        let out = run(args);
        assert_failure_line(&out, 125, &["invalid arguments"]);
        assert_eq!(text(&out.stdout), "");
    }
}

#[test]
fn detach_without_a_name_names_the_missing_option() {
    let out = run(&["run", "-d", "sleep", "1"]);
    assert_failure_line(&out, 125, &["--name"]);
    let out = run(&["exec", "some-name"]);
    assert_failure_line(&out, 125, &["COMMAND"]);
}

#[test]
fn invalid_names_are_refused() {
    let long = "n".repeat(65);
    for name in ["a/b", "-x", ".hidden", "a b", "", &long, "..", "é"] {
        let flag = format!("--name={name}");
        let out = run(&["run", "-d", &flag, "sleep", "1000"]);
        assert_failure_line(&out, 125, &["invalid sandbox name"]);
        let out = run(&["run", &flag, "true"]);
        assert_failure_line(&out, 125, &["invalid sandbox name"]);
        for verb in ["stop", "kill", "logs"] {
            let out = run(&[verb, "--", name]);
            assert_code(&out, 125);
        }
        let out = run(&["exec", "--", name, "true"]);
        assert_code(&out, 125);
    }
    // `--name -x` (no `=`): clap's own refusal.
    let out = run(&["run", "-d", "--name", "-x", "sleep", "1000"]);
    assert_failure_line(&out, 125, &[]);
    // "../x" must not reach outside the state dir.
    let out = run(&["exec", "../x", "true"]);
    assert_failure_line(&out, 125, &["invalid sandbox name"]);
}

#[test]
fn a_64_character_name_is_fine() {
    // unique(TAG) is TAG-<pid>: pad TAG to make it 64 characters.
    let suffix = unique("").len();
    let tag = format!("long{}", "n".repeat(64 - 4 - suffix));
    let a = Sandbox::start(&tag, &[], &["sleep", "1000"]);
    assert_eq!(a.name.len(), 64);
    assert_stdout(&a.exec(&["hostname"]), &format!("{}\n", a.name));
}

#[test]
fn a_detached_command_that_does_not_exist_gives_127_and_no_state() {
    let name = unique("notfound");
    let guard = Sandbox {
        name: name.clone(),
        xdg: None,
    };
    let out = run(&["run", "-d", "--name", &name, "nosuchcmd-named"]);
    assert_failure_line(&out, 127, &["cannot run", "nosuchcmd-named"]);
    assert_eq!(text(&out.stdout), "", "no name printed on failure");
    guard.wait_until_gone(10.0);
    // Not executable: 126.
    let out = run(&["run", "-d", "--name", &name, "/etc/passwd"]);
    assert_failure_line(&out, 126, &["cannot run"]);
    guard.wait_until_gone(10.0);
}

// ---------------------------------------------------------------------------------------------
// Other users
// ---------------------------------------------------------------------------------------------

#[test]
fn the_state_dir_is_private_to_the_caller() {
    let a = Sandbox::start("private", &[], &["sleep", "1000"]);
    for dir in [state_root(), a.dir()] {
        let meta = fs::symlink_metadata(&dir).expect("stat the state dir");
        assert!(meta.is_dir(), "{} is not a directory", dir.display());
        assert_eq!(meta.uid(), caller_uid(), "{}", dir.display());
        assert_eq!(meta.permissions().mode() & 0o077, 0, "{}", dir.display());
    }
    assert_eq!(
        fs::metadata(state_root())
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
}

#[test]
fn another_uid_cannot_see_or_enter_the_sandbox() {
    common::require(
        runner_is_root(),
        "only a root test runner can run as a second user",
    );
    let a = Sandbox::start("other-uid", &[], &["sleep", "1000"]);
    let processes = a.processes();
    let other = spare_id(62000);
    let other_root = PathBuf::from(format!("/tmp/ns-rootless-{other}"));
    remove_any(&other_root);

    let out = output_of(ns_rootless_as(other, &["ps", "--json"]));
    assert_stdout(&out, "[]\n");
    let out = output_of(ns_rootless_as(other, &["ps"]));
    assert_code(&out, 0);
    assert!(!text(&out.stdout).contains(&a.name), "{}", describe(&out));
    for args in [
        &["exec", &a.name, "true"][..],
        &["kill", &a.name][..],
        &["kill", &a.name, "TERM"][..],
        &["stop", &a.name, "--time", "0"][..],
        &["logs", &a.name][..],
        &["wait", &a.name][..],
        &["rm", &a.name][..],
        &["rm", "-f", &a.name][..],
    ] {
        let out = output_of(ns_rootless_as(other, args));
        assert_failure_line(&out, 125, &["no sandbox named"]);
    }
    assert!(a.listed(), "another uid's rm -f ended the sandbox");
    // It has a state dir of its own; the caller's is closed to it.
    let meta = fs::symlink_metadata(&other_root).expect("the other uid's state dir");
    assert_eq!(meta.uid(), other);
    let mut cat = runner_command(host_tool("setpriv"));
    cat.arg(format!("--reuid={other}"))
        .arg(format!("--regid={other}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(host_tool("cat"))
        .arg(a.dir().join("state.json"));
    let out = output_of(cat);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));

    assert!(
        processes.iter().all(running),
        "a sandbox process was signalled"
    );
    assert_stdout(&a.exec(&["true"]), "");
    remove_any(&other_root);
}

#[test]
fn another_uid_pointed_at_the_callers_state_dir_is_refused() {
    common::require(
        runner_is_root(),
        "only a root test runner can run as a second user",
    );
    // XDG_RUNTIME_DIR=P for both: the caller's state dir is P/ns-rootless.
    let parent = TempDir::new("named-xdg");
    let state = parent.path().join("ns-rootless");
    fs::create_dir(&state).expect("mkdir the state dir");
    set_mode(&state, 0o700);
    give_to_caller(&state);
    let a = Sandbox::start_with(Some(parent.path()), "xdg", &[], &["sleep", "1000"]);
    assert!(state.join(&a.name).join("state.json").exists());
    assert!(ps_entry(Some(parent.path()), &a.name).is_some());
    let processes = a.processes();

    let other = spare_id(62100);
    let xdg = path_str(parent.path());
    let refusal = format!("belongs to uid {}", caller_uid());
    for args in [
        &["ps"][..],
        &["exec", &a.name, "true"][..],
        &["kill", &a.name][..],
        &["stop", &a.name, "--time", "0"][..],
        &["logs", &a.name][..],
        &["run", "-d", "--name", &a.name, "true"][..],
    ] {
        let mut cmd = ns_rootless_as(other, args);
        cmd.env("XDG_RUNTIME_DIR", xdg);
        let out = output_of(cmd);
        assert_failure_line(&out, 125, &["not to you", &refusal]);
    }
    assert!(
        processes.iter().all(running),
        "a sandbox process was signalled"
    );
    assert_stdout(&a.exec(&["true"]), "");
}

/// A state dir of the other uid's own, holding a copy of the caller's sandbox's state.
fn forge_state_of(a: &Sandbox, other: u32) -> PathBuf {
    let other_root = PathBuf::from(format!("/tmp/ns-rootless-{other}"));
    remove_any(&other_root);
    let out = output_of(ns_rootless_as(other, &["ps"]));
    assert_code(&out, 0);
    let dir = other_root.join(&a.name);
    fs::create_dir(&dir).expect("mkdir the forged state");
    fs::copy(a.dir().join("state.json"), dir.join("state.json")).expect("copy state.json");
    for path in [dir.clone(), dir.join("state.json")] {
        chown(&path, Some(other), Some(other)).expect("chown the forged state");
    }
    set_mode(&dir, 0o700);
    other_root
}

#[test]
fn a_forged_state_of_another_users_sandbox_cannot_be_used() {
    common::require(
        runner_is_root(),
        "only a root test runner can run as a second user",
    );
    let a = Sandbox::start("forged", &[], &["sh", "-c", "echo ready; exec sleep 1000"]);
    a.wait_for_log("ready");
    let processes = a.processes();
    let other = spare_id(62200);
    let other_root = forge_state_of(&a, other);
    for (args, needle) in [
        (&["exec", &a.name, "true"][..], "Permission denied"),
        (&["kill", &a.name][..], "not permitted"),
        (&["kill", &a.name, "TERM"][..], "not permitted"),
        (&["logs", &a.name][..], "no log"),
    ] {
        let out = output_of(ns_rootless_as(other, args));
        assert_failure_line(&out, 125, &[needle]);
    }
    assert!(
        processes.iter().all(running),
        "a sandbox process was signalled"
    );
    assert_eq!(a.logs(), "ready\n");
    assert_stdout(&a.exec(&["true"]), "");
    remove_any(&other_root);
}

#[test]
fn stop_says_when_it_may_not_signal_the_sandbox() {
    common::require(
        runner_is_root(),
        "only a root test runner can run as a second user",
    );
    let a = Sandbox::start("forged-stop", &[], &["sleep", "1000"]);
    let processes = a.processes();
    let other = spare_id(62300);
    let other_root = forge_state_of(&a, other);
    let out = output_of(ns_rootless_as(other, &["stop", &a.name, "--time", "0"]));
    assert!(
        processes.iter().all(running),
        "a sandbox process was signalled"
    );
    remove_any(&other_root);
    assert_failure_line(&out, 125, &["not permitted"]);
}

#[test]
fn a_state_dir_that_is_a_symlink_is_refused() {
    common::require(
        runner_is_root(),
        "only a root test runner can plant another uid's state dir",
    );
    let id = spare_id(62400);
    let planted = PathBuf::from(format!("/tmp/ns-rootless-{id}"));
    let targets = TempDir::new("named-symlink");
    // To a directory that would pass every other check, and dangling.
    let good = targets.path().join("good");
    fs::create_dir(&good).expect("mkdir");
    set_mode(&good, 0o700);
    chown(&good, Some(id), Some(id)).expect("chown");
    let dangling = targets.path().join("dangling");
    for target in [&good, &dangling] {
        remove_any(&planted);
        symlink(target, &planted).expect("plant the symlink");
        for args in [
            &["ps"][..],
            &["run", "-d", "--name", "x", "sleep", "1000"][..],
        ] {
            let out = output_of(ns_rootless_as(id, args));
            assert_failure_line(&out, 125, &["not a plain directory", path_str(&planted)]);
        }
        assert!(!dangling.exists(), "the dangling symlink was followed");
        assert_eq!(fs::read_dir(&good).expect("read").count(), 0);
    }
    remove_any(&planted);
}

#[test]
fn an_xdg_state_dir_that_is_a_symlink_a_file_or_open_to_others_is_refused() {
    let parent = TempDir::new("named-xdg-bad");
    give_to_caller(parent.path());
    let state = parent.path().join("ns-rootless");
    let real = parent.path().join("real");
    fs::create_dir(&real).expect("mkdir");
    set_mode(&real, 0o700);
    give_to_caller(&real);
    let ps = || {
        let mut cmd = ns_rootless(["ps"]);
        cmd.env("XDG_RUNTIME_DIR", parent.path());
        output_of(cmd)
    };

    symlink(&real, &state).expect("symlink");
    assert_failure_line(&ps(), 125, &["not a plain directory"]);
    fs::remove_file(&state).expect("rm");

    fs::write(&state, "").expect("a file");
    give_to_caller(&state);
    assert_failure_line(&ps(), 125, &["not a plain directory"]);
    fs::remove_file(&state).expect("rm");

    fs::create_dir(&state).expect("mkdir");
    give_to_caller(&state);
    set_mode(&state, 0o755);
    assert_failure_line(&ps(), 125, &["open to other users", "755"]);

    // Made private, it is used; a missing one is created 0700.
    set_mode(&state, 0o700);
    let out = ps();
    assert_code(&out, 0);
    assert!(text(&out.stdout).starts_with("NAME "), "{}", describe(&out));
    fs::remove_dir(&state).expect("rmdir");
    assert_code(&ps(), 0);
    let meta = fs::symlink_metadata(&state).expect("created");
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), caller_uid());
}

// ---------------------------------------------------------------------------------------------
// After the end: wait, rm, the capped log
// ---------------------------------------------------------------------------------------------

/// `wait` racing the supervisor's last write: a state read just before that write, judged just
/// after the supervisor's exit, must not read as "status unknown". A race, so many at once (on
/// the code before the fix, 1 or 2 of these 180 waits said "unknown" in each of 4 runs).
#[test]
fn wait_right_as_the_sandbox_ends_gives_its_status() {
    let xdg = private_xdg("wait-race");
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let xdg = xdg.path().to_owned();
            thread::spawn(move || {
                let mut wrong = Vec::new();
                for i in 0..30 {
                    let tag = format!("wait-race-{w}-{i}");
                    let a = Sandbox::start_with(Some(&xdg), &tag, &[], &["sh", "-c", "exit 9"]);
                    let out = a.manage("wait", &[]);
                    if out.status.code() != Some(9) {
                        wrong.push(describe(&out));
                    }
                }
                wrong
            })
        })
        .collect();
    let wrong: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a waiting thread panicked"))
        .collect();
    assert!(wrong.is_empty(), "{} of 180 waits: {wrong:#?}", wrong.len());
}

#[test]
fn wait_exits_with_the_commands_code_or_128_plus_its_signal() {
    let xdg = private_xdg("wait-code");
    let code = Sandbox::start_with(Some(xdg.path()), "wait-code", &[], &["sh", "-c", "exit 7"]);
    let signal = Sandbox::start_with(
        Some(xdg.path()),
        "wait-signal",
        &[],
        &["sh", "-c", "kill -USR1 $$"],
    );
    let timeout = Sandbox::start_with(
        Some(xdg.path()),
        "wait-timeout",
        &["--timeout", "0.2"],
        &["sleep", "1000"],
    );
    assert_code(&code.manage("wait", &[]), 7);
    assert_code(&signal.manage("wait", &[]), 128 + 10);
    assert_code(&timeout.manage("wait", &[]), 124);
    assert_eq!(signal.entry()["exit_code"], 138);
    // Waiting on a running one blocks until it ends, then gives its status.
    let running = Sandbox::start_with(
        Some(xdg.path()),
        "wait-running",
        &[],
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; while :; do sleep 0.05; done",
        ],
    );
    let mut waiter = Running::start(running.command(&["wait", &running.name]));
    thread::sleep(Duration::from_millis(300));
    let waiting = stat(waiter.pid().as_raw()).is_some_and(|s| s.state != 'Z');
    assert!(waiting, "wait returned while the sandbox runs");
    assert_stdout(&running.manage("kill", &["TERM"]), "");
    let out = waiter.finish();
    assert_code(&out, 42);
    assert_eq!(text(&out.stdout), "", "{}", describe(&out));
    assert_eq!(text(&out.stderr), "", "{}", describe(&out));
}

#[test]
fn rm_refuses_a_running_sandbox_and_rm_f_leaves_no_process_and_no_state() {
    let xdg = private_xdg("rm-f");
    let a = Sandbox::start_with(
        Some(xdg.path()),
        "rm-f",
        &[],
        &["sh", "-c", "echo ready; sleep 1000 & wait"],
    );
    a.wait_for_log("ready");
    let processes = a.processes();
    assert_failure_line(&a.manage("rm", &[]), 125, &["is running", "rm -f"]);
    assert!(a.listed(), "rm without -f ended the sandbox");
    assert!(a.dir().join("state.json").exists());
    let out = a.manage("rm", &["-f"]);
    assert_stdout(&out, "");
    assert_eq!(text(&out.stderr), "", "{}", describe(&out));
    // Gone by the time rm -f returns: every process (supervisor, logger, init, payload, the
    // background sleep) and the record.
    let left: Vec<_> = processes.iter().filter(|p| running(p)).collect();
    assert!(left.is_empty(), "rm -f returned while {left:?} run");
    assert!(!a.dir().exists(), "{} left", a.dir().display());
    assert!(ps_entry_all(Some(xdg.path()), &a.name).is_none());
    let again = Sandbox::start_with(Some(xdg.path()), "rm-f", &[], &["true"]);
    again.wait_until_ended(10.0);
}

#[test]
fn rm_takes_several_names() {
    let xdg = private_xdg("rm-many-a");
    let a = Sandbox::start_with(Some(xdg.path()), "rm-many-a", &[], &["true"]);
    let b = Sandbox::start_with(Some(xdg.path()), "rm-many-b", &[], &["true"]);
    a.wait_until_ended(10.0);
    b.wait_until_ended(10.0);
    assert_stdout(&output_of(a.command(&["rm", &a.name, &b.name])), "");
    assert!(!a.dir().exists() && !b.dir().exists());
    // A name that fails is one line; the others are removed all the same.
    let c = Sandbox::start_with(Some(xdg.path()), "rm-many-c", &[], &["true"]);
    c.wait_until_ended(10.0);
    let out = output_of(c.command(&["rm", "nosuch-rm", &c.name]));
    assert_failure_line(&out, 125, &["no sandbox named \"nosuch-rm\""]);
    assert!(!c.dir().exists());
}

#[test]
fn the_log_is_capped_and_keeps_the_newest_output() {
    let xdg = private_xdg("log-cap");
    // 20000 numbered lines of 11-16 bytes, about 290 KiB, into a 64 KiB log.
    let a = Sandbox::start_with(
        Some(xdg.path()),
        "log-cap",
        &["--log-size", "64k"],
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 20000 ]; do echo \"line $i\"; i=$((i+1)); done; echo end >&2",
        ],
    );
    assert_code(&a.manage("wait", &[]), 0);
    let log = a.logs();
    assert!(
        log.len() <= 64 * 1024 && log.len() >= 32 * 1024,
        "{} bytes kept of a 64 KiB log",
        log.len()
    );
    assert!(
        log.ends_with("line 19999\nend\n"),
        "{}",
        &log[log.len() - 40..]
    );
    // What is kept is the newest output, unbroken: consecutive lines up to the last.
    let lines: Vec<&str> = log.lines().skip(1).filter(|l| *l != "end").collect();
    let first: u32 = lines[0]
        .strip_prefix("line ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", lines[0]));
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("line {}", first + i as u32));
    }
    // On disk: private files in the sandbox's state directory, within the cap together.
    let mut total = 0;
    for name in ["log", "log.old"] {
        let meta = fs::symlink_metadata(a.dir().join(name)).expect("the log files");
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        assert_eq!(meta.uid(), caller_uid());
        total += meta.len();
    }
    assert_eq!(total, log.len() as u64);
}

#[test]
fn log_size_is_checked() {
    let xdg = private_xdg("log-size");
    for (size, needle) in [
        ("1k", "at least 4k"),
        ("ten", "--log-size \"ten\""),
        ("0", "positive"),
    ] {
        let name = unique("log-size");
        let mut cmd = ns_rootless(["run", "-d", "--name", &name, "--log-size", size, "true"]);
        cmd.env("XDG_RUNTIME_DIR", xdg.path());
        assert_failure_line(&output_of(cmd), 125, &[needle]);
        assert!(!xdg.path().join("ns-rootless").join(&name).exists());
    }
    let out = run(&[
        "run",
        "--log-size",
        "1m",
        "--name",
        &unique("log-size"),
        "true",
    ]);
    assert_failure_line(&out, 125, &["--detach"]);
}

#[test]
fn a_sandbox_cannot_write_its_own_exit_status_or_log() {
    let xdg = private_xdg("forge-own");
    let name = unique("forge-own");
    let own = xdg.path().join("ns-rootless").join(&name);
    let script = format!(
        "for f in state.json log log.old; do echo '{{\"exit_code\":0}}' > {own}/$f 2>/dev/null \
         && echo wrote-$f; done; ls {root} 2>/dev/null | grep -q . && echo saw-state; exit 9",
        own = own.display(),
        root = xdg.path().join("ns-rootless").display()
    );
    let a = Sandbox::start_with(
        Some(xdg.path()),
        "forge-own",
        &["--bind", path_str(xdg.path())],
        &["sh", "-c", &script],
    );
    assert_eq!(a.name, name);
    assert_code(&a.manage("wait", &[]), 9);
    assert_eq!(a.entry()["exit_code"], 9);
    let log = a.logs();
    assert!(
        !log.contains("wrote-") && !log.contains("saw-state"),
        "{log}"
    );
}

#[test]
fn the_default_log_cap_is_10_mib_and_a_closed_reader_is_no_error() {
    let xdg = private_xdg("log-default");
    // 12 MiB of output.
    let a = Sandbox::start_with(
        Some(xdg.path()),
        "log-default",
        &[],
        &[
            "sh",
            "-c",
            "dd if=/dev/zero bs=1048576 count=12 2>/dev/null; echo last",
        ],
    );
    assert_code(&a.manage("wait", &[]), 0);
    let log = a.manage("logs", &[]);
    assert_code(&log, 0);
    let kept = log.stdout.len();
    assert!(
        (5 << 20..=10 << 20).contains(&kept),
        "{kept} bytes kept by the default cap"
    );
    assert!(log.stdout.ends_with(b"\0\0last\n"));
    // `logs NAME | head -c 5`: the reader going away is no failure.
    let mut cmd = caller_command("sh");
    cmd.env("XDG_RUNTIME_DIR", xdg.path())
        .arg("-c")
        .arg(format!(
            "'{}' logs {} | head -c 5 | wc -c",
            binary().display(),
            a.name
        ));
    let out = output_of(cmd);
    assert_stdout(&out, "5\n");
    assert_eq!(text(&out.stderr), "", "{}", describe(&out));
}

/// `--time-offset`: the sandbox's boot time is 10 days later (the same code as OCI's
/// linux.timeOffsets), for its command and for what `exec` runs in it.
#[test]
fn time_offsets_reach_the_command_and_exec() {
    let host_uptime = || -> u64 {
        let t = fs::read_to_string("/proc/uptime").unwrap();
        t.split('.').next().unwrap().parse().unwrap()
    };
    let uptime = |out: &Output| -> u64 {
        assert_code(out, 0);
        text(&out.stdout).trim().parse().expect("an uptime")
    };
    let out = run(&[
        "--time-offset",
        "boottime=864000",
        "--",
        "cut",
        "-d.",
        "-f1",
        "/proc/uptime",
    ]);
    assert!(
        uptime(&out) >= host_uptime() + 864000 - 5,
        "{}",
        describe(&out)
    );
    let sb = Sandbox::start(
        "timens",
        &["--time-offset", "boottime=864000"],
        &["sleep", "100"],
    );
    let out = sb.exec(&["cut", "-d.", "-f1", "/proc/uptime"]);
    assert!(
        uptime(&out) >= host_uptime() + 864000 - 5,
        "{}",
        describe(&out)
    );
    let bad = run(&["--time-offset", "realtime=1", "true"]);
    assert_failure_line(&bad, 125, &["invalid --time-offset \"realtime=1\""]);
}
