//! Integration tests of the ns-rootless binary against its v1 contract.
//!
//! Every test runs the binary as an unprivileged caller (see `common`), and checks what can be
//! seen from outside: exit codes, exact output, the host's state afterwards. Tests that apply to
//! both the host-mode root and a `--rootfs` root exist twice, as `NAME::host` and `NAME::rootfs`.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{
    assert_code, assert_failure_line, assert_stdout, assert_tree_ends_within, binary,
    busybox_rootfs, busybox_rootfs_variant, caller_command, caller_gid, caller_uid, describe,
    elf_is_static, host_tool, normalize_whitespace, ns_rootless, output_of, output_with_input,
    path_str, process_state, rootfs_path, run, runner_command, runner_is_root, set_mode,
    static_busybox, text, wait_for_process_tree, Mode, Running, TempDir, ROOTFS_DIRS,
    ROOTFS_MARKER, ROOTFS_MARKER_TEXT, ROOTFS_NOT_EXECUTABLE, ROOTFS_STALE_TMP_FILE,
};
use nix::sys::signal::Signal;

in_both_modes!(
    default_command_is_sh,
    identity_is_root_mapped_to_caller,
    hostname_option_sets_hostname,
    default_hostname_is_12_hex_chars,
    pid_1_is_ns_rootless,
    proc_lists_only_sandbox_processes,
    tmp_is_fresh_and_writable,
    dev_is_minimal,
    sys_is_a_fresh_sysfs,
    network_has_only_loopback_up,
    exit_code_is_payload_code,
    killed_payload_gives_128_plus_signal,
    command_not_found_gives_127,
    not_executable_gives_126,
    sigterm_is_forwarded,
    sigint_is_forwarded,
    sighup_is_forwarded,
    sigkill_kills_whole_sandbox,
    orphans_are_reaped,
    only_std_fds_reach_payload,
);

// ---------------------------------------------------------------------------------------------
// The harness itself (so that no other test passes for the wrong reason)
// ---------------------------------------------------------------------------------------------

#[test]
fn harness_runs_commands_as_unprivileged_caller() {
    assert_ne!(caller_uid(), 0, "the binary must never be tested as root");
    let mut cmd = caller_command("/bin/sh");
    cmd.args([
        "-c",
        "id -u; id -g; echo \"home=$HOME\"; pwd; grep -E '^Cap(Prm|Eff|Amb):' /proc/self/status",
    ]);
    let out = output_of(cmd);
    let no_caps = "0000000000000000";
    let expected = format!(
        "{}\n{}\nhome=\n/\nCapPrm:\t{no_caps}\nCapEff:\t{no_caps}\nCapAmb:\t{no_caps}\n",
        caller_uid(),
        caller_gid()
    );
    assert_stdout(&out, &expected);
}

#[test]
fn harness_rootfs_is_static_busybox_reachable_by_caller() {
    assert_eq!(
        elf_is_static(&fs::read(static_busybox()).expect("read the host's busybox")),
        Some(true)
    );
    // This test's own executable: cargo links test binaries dynamically.
    let this_test = std::env::current_exe().expect("the test's own executable");
    assert_eq!(
        elf_is_static(&fs::read(this_test).expect("read the test's own executable")),
        Some(false),
        "the ELF check must tell a dynamic binary apart"
    );
    let root = busybox_rootfs();
    for dir in ROOTFS_DIRS {
        assert!(root.join(dir).is_dir(), "rootfs lacks {dir}");
    }
    for applet in [
        "sh", "id", "cat", "ls", "touch", "hostname", "stat", "sleep",
    ] {
        let link = root.join("bin").join(applet);
        let target = fs::read_link(&link).unwrap_or_else(|err| panic!("{}: {err}", link.display()));
        assert_eq!(target, Path::new("busybox"), "{}", link.display());
    }
    // The caller (not only the runner) can reach and run the rootfs's busybox.
    let mut cmd = caller_command(root.join("bin/busybox"));
    cmd.args(["cat", path_str(&rootfs_path(root, ROOTFS_MARKER))]);
    assert_stdout(&output_of(cmd), ROOTFS_MARKER_TEXT);
    let not_executable = rootfs_path(root, ROOTFS_NOT_EXECUTABLE);
    let mode = fs::metadata(&not_executable).expect("stat the non-executable file");
    assert_eq!(
        mode.permissions().mode() & 0o777,
        0o644,
        "{}",
        not_executable.display()
    );
}

#[test]
fn harness_passes_fd_7_when_no_sandbox_is_involved() {
    let mut cmd = caller_command("/bin/ls");
    cmd.arg("/proc/self/fd");
    let out = output_with_fd_7(cmd);
    assert!(
        out.status.success() && text(&out.stdout).lines().any(|fd| fd == "7"),
        "fd 7 should be visible without the sandbox:\n{}",
        describe(&out)
    );
}

#[test]
fn harness_rootfs_works_as_a_root_without_ns_rootless() {
    let mut cmd = caller_command(host_tool("unshare"));
    cmd.args(["--user", "--map-root-user"])
        .arg(format!("--root={}", path_str(busybox_rootfs())))
        .args(["/bin/sh", "-c", "id -u; cat \"$0\"", ROOTFS_MARKER]);
    assert_stdout(&output_of(cmd), &format!("0\n{ROOTFS_MARKER_TEXT}"));
}

#[test]
fn harness_finds_and_watches_a_process_tree() {
    let mut cmd = caller_command("/bin/sh");
    cmd.args(["-c", "sleep 1000 & sleep 1000 & echo ready; wait"]);
    let mut shell = Running::start(cmd);
    shell.wait_for_line("ready");
    let tree = wait_for_process_tree(shell.pid().as_raw(), "sleep", 2);
    for process in &tree {
        let pid = nix::unistd::Pid::from_raw(process.pid);
        nix::sys::signal::kill(pid, Signal::SIGKILL).expect("kill a sleep");
    }
    let out = shell.finish();
    assert_eq!(text(&out.stdout), "ready\n", "{}", describe(&out));
    for process in &tree {
        assert_eq!(process_state(process), None, "{process:?} still listed");
    }
}

#[test]
fn harness_temp_dir_is_0755_and_removed_on_drop() {
    let dir = TempDir::new("drop-check");
    let path = dir.path().to_owned();
    fs::write(path.join("file"), "x").expect("write into the temp dir");
    let mode = fs::metadata(&path)
        .expect("stat the temp dir")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o755
    );
    drop(dir);
    assert!(!path.exists(), "{} survived its TempDir", path.display());
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[test]
fn help_mentions_options_and_exit_codes() {
    let out = run(&["--help"]);
    assert_code(&out, 0);
    let help = text(&out.stdout);
    for needle in [
        "125",
        "126",
        "127",
        "--hostname",
        "--rootfs",
        "--share-net",
        "--allow-root",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn help_into_a_pipe_nobody_reads_names_what_failed() {
    // A pipe whose reading end is already closed: the write fails with EPIPE (SIGPIPE is ignored).
    let (read, write) = nix::unistd::pipe().expect("create a pipe");
    drop(read);
    let out = ns_rootless(["--help"])
        .stdout(std::process::Stdio::from(write))
        .output()
        .expect("run ns-rootless --help");
    assert_failure_line(&out, 125, &["writing the help: "]);
}

#[test]
fn version_prints_package_version() {
    let out = run(&["--version"]);
    assert_code(&out, 0);
    let version = text(&out.stdout);
    assert!(
        version.contains("ns-rootless") && version.contains(env!("CARGO_PKG_VERSION")),
        "unexpected --version output:\n{}",
        describe(&out)
    );
}

#[test]
fn unknown_option_fails_with_125_and_one_line() {
    let out = run(&["--no-such-flag", "--", "echo", "should not run"]);
    assert_failure_line(&out, 125, &[]);
    assert_eq!(text(&out.stdout), "", "nothing may run");
}

#[test]
fn words_after_the_command_belong_to_the_command() {
    assert_stdout(&run(&["echo", "--hostname", "x"]), "--hostname x\n");
    // (GNU echo's only argument --version would print its own version: use printf.)
    assert_stdout(&run(&["--", "printf", "%s\n", "--version"]), "--version\n");
    assert_stdout(&run(&["echo", "--", "--help"]), "-- --help\n");
}

fn default_command_is_sh(mode: Mode) {
    let rootfs = path_str(busybox_rootfs());
    let args: &[&str] = match mode {
        Mode::Host => &[],
        Mode::Rootfs => &["--rootfs", rootfs],
    };
    let out = output_with_input(ns_rootless(args), b"echo \"default shell: $((6 * 7))\"\n");
    assert_stdout(&out, "default shell: 42\n");
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

fn identity_is_root_mapped_to_caller(mode: Mode) {
    let out = mode.sh(
        "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; cat /proc/self/setgroups",
    );
    assert_code(&out, 0);
    let lines: Vec<String> = text(&out.stdout)
        .lines()
        .map(normalize_whitespace)
        .collect();
    let expected = [
        "0".to_owned(),
        "0".to_owned(),
        format!("0 {} 1", caller_uid()),
        format!("0 {} 1", caller_gid()),
        "deny".to_owned(),
    ];
    assert_eq!(lines, expected, "{}", describe(&out));
}

#[test]
fn real_root_is_refused_without_allow_root() {
    common::require(
        runner_is_root(),
        "only a root test runner can check the refusal of real root",
    );
    let mut cmd = runner_command(binary());
    cmd.args(["--", "echo", "should not run"]);
    let out = output_of(cmd);
    assert_failure_line(&out, 125, &["--allow-root"]);
    assert_eq!(text(&out.stdout), "", "nothing may run");
}

#[test]
fn allow_root_lets_real_root_run() {
    common::require(
        runner_is_root(),
        "only a root test runner can check --allow-root",
    );
    let mut cmd = runner_command(binary());
    cmd.args(["--allow-root", "--", "id", "-u"]);
    assert_stdout(&output_of(cmd), "0\n");
}

#[test]
fn uid_0_of_an_unprivileged_user_namespace_is_not_refused() {
    let mut cmd = caller_command(host_tool("unshare"));
    cmd.args(["--user", "--map-root-user"]).arg(binary()).args([
        "--hostname",
        "nested",
        "--",
        "hostname",
    ]);
    assert_stdout(&output_of(cmd), "nested\n");
}

#[test]
fn no_user_namespaces_names_the_sysctl() {
    // user.max_user_namespaces is per user namespace: set it to 0 in a throwaway one.
    let mut cmd = caller_command(host_tool("unshare"));
    cmd.args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" echo should not run")
        .arg(binary());
    let out = output_of(cmd);
    assert_failure_line(&out, 125, &["user.max_user_namespaces"]);
    assert_eq!(text(&out.stdout), "", "nothing may run");
}

#[test]
fn a_command_killed_by_a_real_time_signal_gives_128_plus_n() {
    // nix can't name SIGRTMIN+n: its waitpid refuses them after the kernel reaped the child.
    let out = run(&["--", "sh", "-c", "kill -s 40 $$"]);
    assert_code(&out, 168);
}

#[test]
fn a_proc_that_cannot_be_mounted_is_refused_not_replaced() {
    // With /proc/sys over-mounted, /proc is not fully visible and the kernel refuses a fresh
    // proc (as inside containers that mask /proc entries). ns-rootless must fail, naming the
    // cause, rather than bind the host's /proc in its place.
    let mut cmd = caller_command(host_tool("unshare"));
    cmd.args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg("mount -t tmpfs none /proc/sys && exec \"$0\" cat /proc/self/status")
        .arg(binary());
    let out = output_of(cmd);
    assert_failure_line(&out, 125, &["mounting proc on /proc", "fully visible"]);
    assert_eq!(text(&out.stdout), "", "nothing may run");
}

// ---------------------------------------------------------------------------------------------
// Hostname
// ---------------------------------------------------------------------------------------------

fn host_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").expect("read the host's hostname")
}

fn hostname_option_sets_hostname(mode: Mode) {
    let before = host_hostname();
    assert_stdout(
        &mode.run(&["--hostname", "box-1"], &["hostname"]),
        "box-1\n",
    );
    assert_eq!(host_hostname(), before, "the host's hostname changed");
}

fn default_hostname_is_12_hex_chars(mode: Mode) {
    let before = host_hostname();
    let out = mode.run(&[], &["hostname"]);
    assert_code(&out, 0);
    let name = text(&out.stdout);
    let name = name.strip_suffix('\n').unwrap_or(&name);
    assert!(
        name.len() == 12 && name.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "default hostname is not 12 lowercase hex chars:\n{}",
        describe(&out)
    );
    assert_eq!(host_hostname(), before, "the host's hostname changed");
}

#[test]
fn hostname_of_64_chars_is_accepted() {
    let name = "h".repeat(64);
    let out = Mode::Host.run(&["--hostname", &name], &["hostname"]);
    assert_stdout(&out, &format!("{name}\n"));
}

#[test]
fn invalid_hostnames_are_refused() {
    let too_long = "h".repeat(65);
    for name in ["a/b", "", too_long.as_str(), "a\u{1}b", "a\nb"] {
        let out = run(&["--hostname", name, "--", "echo", "should not run"]);
        assert_failure_line(&out, 125, &["invalid --hostname"]);
        assert_eq!(text(&out.stdout), "", "nothing may run for {name:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

fn pid_1_is_ns_rootless(mode: Mode) {
    assert_stdout(&mode.run(&[], &["cat", "/proc/1/comm"]), "ns-rootless\n");
}

fn proc_lists_only_sandbox_processes(mode: Mode) {
    let out = mode.run(&[], &["ls", "/proc"]);
    assert_code(&out, 0);
    let pids: Vec<u32> = text(&out.stdout)
        .split_whitespace()
        .filter_map(|entry| entry.parse().ok())
        .collect();
    assert!(
        pids.contains(&1) && pids.len() < 10 && pids.iter().all(|&pid| pid < 100),
        "expected only a few small pids, 1 among them, in /proc:\n{}",
        describe(&out)
    );
}

fn sigterm_is_forwarded(mode: Mode) {
    assert_signal_reaches_payload(mode, Signal::SIGTERM, "TERM");
}

fn sigint_is_forwarded(mode: Mode) {
    assert_signal_reaches_payload(mode, Signal::SIGINT, "INT");
}

fn sighup_is_forwarded(mode: Mode) {
    assert_signal_reaches_payload(mode, Signal::SIGHUP, "HUP");
}

/// Sends `signal` to ns-rootless; the payload's trap for it must run (and its exit code win).
fn assert_signal_reaches_payload(mode: Mode, signal: Signal, trap_name: &str) {
    let script = format!(
        "trap 'echo got {trap_name}; exit 7' {trap_name}; echo ready; while :; do sleep 0.1; done"
    );
    let mut sandbox = Running::start(mode.command(&[], &["sh", "-c", &script]));
    sandbox.wait_for_line("ready");
    sandbox.signal(signal);
    let out = sandbox.finish();
    assert_code(&out, 7);
    assert_eq!(
        text(&out.stdout),
        format!("ready\ngot {trap_name}\n"),
        "{}",
        describe(&out)
    );
}

fn sigkill_kills_whole_sandbox(mode: Mode) {
    let mut sandbox = Running::start(mode.command(
        &[],
        &["sh", "-c", "sleep 1000 & sleep 1000 & echo ready; wait"],
    ));
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
    drop(sandbox);
}

fn orphans_are_reaped(mode: Mode) {
    // The inner sh exits at once, so its background sleep is orphaned onto PID 1.
    // A zombie may be seen for the moment between its exit and init's wait: look again for up
    // to 10 s before reading the statuses (a load-proof "never stays a zombie").
    let out = mode.sh("sh -c 'sleep 0.1 &'; sleep 0.5; i=0; \
         while grep -q '^State:[[:space:]]Z' /proc/[0-9]*/status && [ $i -lt 100 ]; do \
         sleep 0.1; i=$((i+1)); done; cat /proc/[0-9]*/status");
    let status = text(&out.stdout);
    assert!(
        status.contains("State:"),
        "no process status read:\n{}",
        describe(&out)
    );
    assert!(
        !status.contains("State:\tZ"),
        "a zombie is left in the sandbox:\n{}",
        describe(&out)
    );
}

/// What the command leaves running ends with the sandbox, before ns-rootless exits: a
/// background `sleep`, and one detached into a session of its own, are gone at once.
#[test]
fn background_processes_end_with_the_command() {
    // A duration no other process on the host has: the marker to look for.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .subsec_nanos();
    let duration = format!("1000.{nanos:09}");
    let script = format!("sleep {duration} & setsid sleep {duration} & echo started");
    let out = Mode::Host.run(&[], &["sh", "-c", &script]);
    assert_stdout(&out, "started\n");
    let left: Vec<String> = fs::read_dir("/proc")
        .expect("list /proc")
        .filter_map(|e| fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&duration))
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// Exit status
// ---------------------------------------------------------------------------------------------

fn exit_code_is_payload_code(mode: Mode) {
    let out = mode.sh("exit 42");
    assert_code(&out, 42);
    assert_eq!(text(&out.stderr), "", "ns-rootless must not add to stderr");
    assert_stdout(&mode.run(&[], &["true"]), "");
    assert_code(&mode.run(&[], &["false"]), 1);
}

fn killed_payload_gives_128_plus_signal(mode: Mode) {
    assert_code(&mode.sh("kill -TERM $$"), 143);
    assert_code(&mode.sh("kill -KILL $$"), 137);
}

fn command_not_found_gives_127(mode: Mode) {
    let name = "ns-rootless-no-such-command";
    let out = mode.run(&[], &[name]);
    assert_failure_line(&out, 127, &["cannot run", name, "not found"]);
    let path = "/no/such/dir/command";
    let out = mode.run(&[], &[path]);
    assert_failure_line(&out, 127, &["cannot run", path]);
}

fn not_executable_gives_126(mode: Mode) {
    let path = mode.not_executable();
    let out = mode.run(&[], &[path]);
    assert_failure_line(&out, 126, &["cannot run", path]);
}

// ---------------------------------------------------------------------------------------------
// File systems
// ---------------------------------------------------------------------------------------------

#[test]
fn host_root_is_read_only() {
    for probe in [
        "/ns-rootless-probe",
        "/usr/ns-rootless-probe",
        "/etc/ns-rootless-probe",
    ] {
        let out = Mode::Host.run(&[], &["touch", probe]);
        assert_code(&out, 1);
        assert!(
            text(&out.stderr).contains("Read-only file system"),
            "expected EROFS for {probe}:\n{}",
            describe(&out)
        );
        assert!(
            !Path::new(probe).exists(),
            "{probe} was created on the host"
        );
    }
}

#[test]
fn home_root_and_run_are_hidden_under_empty_tmpfs() {
    let masked: Vec<&str> = ["/home", "/root", "/run", "/var/run"]
        .into_iter()
        .filter(|dir| Path::new(dir).is_dir())
        .collect();
    assert!(!masked.is_empty(), "the host has none of the masked dirs");
    for dir in masked {
        let out = Mode::Host.run(
            &[],
            &[
                "sh",
                "-c",
                "stat -f -c %T \"$1\" && ls -A \"$1\"",
                "sh",
                dir,
            ],
        );
        assert_stdout(&out, "tmpfs\n");
    }
}

fn tmp_is_fresh_and_writable(mode: Mode) {
    // Host mode: the host's /tmp holds at least this suite's temp dirs. Rootfs mode: the
    // rootfs's tmp holds a stale file. Neither may show.
    let out =
        mode.sh("ls -A /tmp && echo data > /tmp/probe && cat /tmp/probe && stat -f -c %T /tmp");
    assert_stdout(&out, "data\ntmpfs\n");
    let stale = busybox_rootfs().join(ROOTFS_STALE_TMP_FILE);
    assert!(stale.exists(), "the rootfs's own tmp was changed");
}

fn dev_is_minimal(mode: Mode) {
    let out = mode.run(&[], &["ls", "-A", "/dev"]);
    assert_code(&out, 0);
    let listing = text(&out.stdout);
    let entries: BTreeSet<&str> = listing.split_whitespace().collect();
    let expected: BTreeSet<&str> = [
        "null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout", "stderr",
        "pts", "ptmx", "shm",
    ]
    .into_iter()
    .collect();
    assert_eq!(entries, expected, "{}", describe(&out));

    let script = "for link in fd stdin stdout stderr; do readlink /dev/$link; done
        stat -f -c %T /dev/pts
        echo discarded > /dev/null && echo null works
        head -c 3 /dev/urandom | wc -c
        head -c 3 /dev/zero | wc -c
        test -e /dev/ptmx && echo ptmx exists
        ls -A /dev/shm && touch /dev/shm/probe && echo shm writable";
    let out = mode.sh(script);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let expected = [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "devpts",
        "null works",
        "3",
        "3",
        "ptmx exists",
        "shm writable",
    ];
    assert_eq!(lines, expected, "{}", describe(&out));
}

#[test]
fn host_dev_shm_is_not_shared() {
    let host_file = Path::new("/dev/shm").join(format!("ns-rootless-test.{}", std::process::id()));
    fs::write(&host_file, "host secret").expect("write a file into the host's /dev/shm");
    let out = Mode::Host.run(&[], &["ls", "-A", "/dev/shm"]);
    let _ = fs::remove_file(&host_file);
    assert_stdout(&out, "");
}

fn sys_is_a_fresh_sysfs(mode: Mode) {
    assert_stdout(
        &mode.run(&[], &["stat", "-f", "-c", "%T", "/sys"]),
        "sysfs\n",
    );
}

#[test]
fn rootfs_becomes_root() {
    let out = Mode::Rootfs.run(&[], &["ls", "/"]);
    assert_code(&out, 0);
    let listing = text(&out.stdout);
    let entries: BTreeSet<&str> = listing.split_whitespace().collect();
    let expected: BTreeSet<&str> = ROOTFS_DIRS
        .iter()
        .filter(|dir| !dir.contains('/'))
        .copied()
        .collect();
    assert_eq!(entries, expected, "{}", describe(&out));
    assert_stdout(
        &Mode::Rootfs.run(&[], &["cat", ROOTFS_MARKER]),
        ROOTFS_MARKER_TEXT,
    );
}

#[test]
fn rootfs_missing_sys_proc_dev_tmp_are_made_inside_not_on_the_host() {
    let rootfs = busybox_rootfs_variant("bare", |root| {
        for dir in ["sys", "proc", "dev", "tmp"] {
            fs::remove_dir_all(root.join(dir)).expect("remove a rootfs mount point");
        }
    });
    let out = run(&[
        "--rootfs",
        path_str(rootfs.path()),
        "--",
        "sh",
        "-c",
        "stat -f -c %T /sys /proc /dev /tmp",
    ]);
    assert_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        "sysfs\nproc\ntmpfs\ntmpfs\n",
        "{}",
        describe(&out)
    );
    for dir in ["sys", "proc", "dev", "tmp"] {
        assert!(
            !rootfs.path().join(dir).exists(),
            "{dir} was created in the rootfs on the host"
        );
    }
}

#[test]
fn missing_rootfs_fails_with_125() {
    let out = run(&["--rootfs", "/no/such/rootfs", "--", "true"]);
    assert_failure_line(&out, 125, &["/no/such/rootfs"]);
}

#[test]
fn rootfs_with_proc_symlink_is_refused() {
    assert_symlinked_entry_is_refused("proc");
}

#[test]
fn rootfs_with_dev_symlink_is_refused() {
    assert_symlinked_entry_is_refused("dev");
}

/// A rootfs whose `entry` is a symlink to a missing path in a dir the caller may write to:
/// ns-rootless must refuse it, and create (or mount) nothing there.
fn assert_symlinked_entry_is_refused(entry: &str) {
    let outside = TempDir::new("symlink-target");
    set_mode(outside.path(), 0o777);
    let target = outside.path().join(entry);
    let rootfs = busybox_rootfs_variant(&format!("symlinked-{entry}"), |root| {
        let link = root.join(entry);
        fs::remove_dir(&link).expect("remove the rootfs's dir");
        symlink(&target, &link).expect("replace it with a symlink");
    });
    let out = run(&[
        "--rootfs",
        path_str(rootfs.path()),
        "--",
        "echo",
        "should not run",
    ]);
    assert_failure_line(&out, 125, &["symlink"]);
    assert_eq!(text(&out.stdout), "", "nothing may run");
    let created: Vec<_> = fs::read_dir(outside.path())
        .expect("list the symlink's target dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(created.is_empty(), "created on the host: {created:?}");
}

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

/// The interface names in a `/proc/net/dev` listing, sorted.
fn interfaces(proc_net_dev: &str) -> Vec<String> {
    let mut names: Vec<String> = proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect();
    names.sort();
    names
}

fn network_has_only_loopback_up(mode: Mode) {
    assert_stdout(&mode.run(&[], &["ls", "/sys/class/net"]), "lo\n");

    let out = mode.run(&[], &["cat", "/sys/class/net/lo/flags"]);
    assert_code(&out, 0);
    let flags = text(&out.stdout);
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16)
        .unwrap_or_else(|err| panic!("lo flags not hex ({err}):\n{}", describe(&out)));
    assert_eq!(flags & 0x1, 0x1, "lo is not UP: flags {flags:#x}");

    let out = mode.run(&[], &["cat", "/proc/net/dev"]);
    assert_code(&out, 0);
    assert_eq!(interfaces(&text(&out.stdout)), ["lo"], "{}", describe(&out));
}

#[test]
fn share_net_sees_host_interfaces() {
    let host = interfaces(&fs::read_to_string("/proc/net/dev").expect("read /proc/net/dev"));
    let out = Mode::Host.run(&["--share-net"], &["cat", "/proc/net/dev"]);
    assert_code(&out, 0);
    assert_eq!(interfaces(&text(&out.stdout)), host, "{}", describe(&out));
}

// ---------------------------------------------------------------------------------------------
// File descriptors
// ---------------------------------------------------------------------------------------------

/// Runs `cmd` with fd 7 open (not close-on-exec) on `/dev/null`.
fn output_with_fd_7(mut cmd: Command) -> Output {
    let file = fs::File::open("/dev/null").expect("open /dev/null");
    let fd = file.as_raw_fd();
    // SAFETY: the closure only makes two async-signal-safe syscalls and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::dup2(fd, 7) == -1 || nix::libc::fcntl(7, nix::libc::F_SETFD, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = output_of(cmd);
    drop(file);
    out
}

fn only_std_fds_reach_payload(mode: Mode) {
    let out = output_with_fd_7(mode.command(&[], &["ls", "/proc/self/fd"]));
    assert_stdout(&out, "0\n1\n2\n3\n");
}

/// A closed stdin is reopened on /dev/null before we open anything, so none of our own files or
/// pipes can land on fd 0 and be handed to the command as its stdin.
#[test]
fn a_closed_stdin_reaches_the_command_as_dev_null() {
    let mut cmd = caller_command("/bin/sh");
    cmd.arg("-c").arg(format!(
        "exec {} -- readlink /proc/self/fd/0 <&-",
        path_str(binary())
    ));
    assert_stdout(&output_of(cmd), "/dev/null\n");
}
