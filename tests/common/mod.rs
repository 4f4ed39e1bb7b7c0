//! Harness for the integration tests.
//!
//! * Runs the `ns-rootless` binary as an unprivileged caller: when the test runner is root,
//!   through `setpriv` with a uid that has no passwd entry ([`unprivileged_id`]); a test that
//!   passes only because it runs as real root proves nothing.
//! * Runs a copy of the binary from a world-readable temp dir, with a clean environment, `/` as
//!   the working directory, stdin from `/dev/null` and a timeout, so a hung sandbox can't hang
//!   the suite.
//! * Builds a rootfs from Debian's static busybox.
//! * Reads the host's process table to check that a sandbox is really gone.

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{OnceLock, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

/// `in_both_modes!(check)` turns `fn check(mode: Mode)` into the tests `check::host` and
/// `check::rootfs` (host mode and `--rootfs` with the busybox rootfs).
#[allow(unused_macros)]
macro_rules! in_both_modes {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                #[test]
                fn host() {
                    super::$check(super::Mode::Host);
                }

                #[test]
                fn rootfs() {
                    super::$check(super::Mode::Rootfs);
                }
            }
        )*
    };
}

/// The first uid (and gid) tried for running the binary when the test runner is root; the first
/// one from here on with neither a passwd nor a group entry is used (see [`unprivileged_id`]).
const FIRST_UNPRIVILEGED_ID: u32 = 61234;

/// The only environment variable the binary gets.
pub const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long one run of the binary may take before it is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Prefix of every temp dir this harness creates, followed by `<pid>.<counter>.<label>`.
const TEMP_PREFIX: &str = "ns-rootless-test.";

/// Where Debian's busybox-static installs its binary.
const HOST_BUSYBOX: &str = "/bin/busybox";

// ---------------------------------------------------------------------------------------------
// Who runs the binary
// ---------------------------------------------------------------------------------------------

/// True when the test runner itself is root (then the binary is run through `setpriv`).
pub fn runner_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails the test, naming why, when what it needs isn't there: a test that can't run here
/// fails rather than passing without having checked anything.
pub fn require(condition: bool, why: &str) {
    assert!(condition, "this test cannot run here: {why}");
}

/// The host uid the binary runs as.
pub fn caller_uid() -> u32 {
    if runner_is_root() {
        unprivileged_id()
    } else {
        nix::unistd::geteuid().as_raw()
    }
}

/// The host gid the binary runs as.
pub fn caller_gid() -> u32 {
    if runner_is_root() {
        unprivileged_id()
    } else {
        nix::unistd::getegid().as_raw()
    }
}

/// The absolute path of `name` in [`CLEAN_PATH`]; panics with an install hint when missing.
pub fn host_tool(name: &str) -> PathBuf {
    CLEAN_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found in {CLEAN_PATH}: run scripts/test.sh"))
}

/// A command for `program` with a clean environment, `/` as cwd and stdin from `/dev/null`,
/// run as the test runner itself (root included).
pub fn runner_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", CLEAN_PATH)
        .current_dir("/")
        .stdin(Stdio::null());
    cmd
}

/// Like [`runner_command`], but run as the unprivileged caller ([`caller_uid`]).
pub fn caller_command(program: impl AsRef<OsStr>) -> Command {
    if !runner_is_root() {
        return runner_command(program);
    }
    let id = unprivileged_id();
    let mut cmd = runner_command(host_tool("setpriv"));
    cmd.arg(format!("--reuid={id}"))
        .arg(format!("--regid={id}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(program);
    cmd
}

/// The uid (and gid) the binary runs as when the test runner is root: one with no passwd and
/// no group entry, so nothing about it (home directory, groups) can be looked up.
pub fn unprivileged_id() -> u32 {
    static ID: OnceLock<u32> = OnceLock::new();
    *ID.get_or_init(|| {
        (FIRST_UNPRIVILEGED_ID..FIRST_UNPRIVILEGED_ID + 1000)
            .find(|&id| !has_passwd_or_group_entry(id))
            .expect("a free uid near 61234 with no passwd or group entry")
    })
}

fn has_passwd_or_group_entry(id: u32) -> bool {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id))
        .expect("look up a uid in the passwd database");
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(id))
        .expect("look up a gid in the group database");
    user.is_some() || group.is_some()
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

/// A copy of the binary under test in a world-readable temp dir (the build dir may not be
/// traversable by the caller). The file name stays `ns-rootless`. The binary is cargo's build of
/// this test run, or the one `NS_ROOTLESS_TEST_BIN` names (scripts/test.sh runs the integration
/// tests a second time on the release binary that scripts/build.sh makes).
pub fn binary() -> &'static Path {
    static COPY: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    let (_dir, path) = COPY.get_or_init(|| {
        let dir = TempDir::new("bin");
        let path = dir.path().join("ns-rootless");
        let built = std::env::var_os("NS_ROOTLESS_TEST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ns-rootless")));
        copy_executable(&built, &path);
        (dir, path)
    });
    path
}

/// A copy of the probe (tests/probe/probe.rs) in a world-readable temp dir, built first when
/// run under cargo: `cargo test --test NAME` doesn't build examples (a no-op when it is up to
/// date; cargo doesn't hold its lock while tests run).
#[allow(dead_code)] // used by tests/hardening.rs, escapes.rs, tty.rs and oci.rs only
pub fn probe() -> &'static Path {
    static COPY: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    let (_dir, path) = COPY.get_or_init(|| {
        let bin = Path::new(env!("CARGO_BIN_EXE_ns-rootless"));
        let profile_dir = bin.parent().expect("the binary is in a profile dir");
        if let Some(cargo) = std::env::var_os("CARGO") {
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "--quiet", "--example", "probe", "--manifest-path"])
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let out = output_of(cmd);
            assert!(
                out.status.success(),
                "cargo build --example probe:\n{}",
                describe(&out)
            );
        }
        let built = profile_dir.join("examples/probe");
        assert!(
            built.is_file(),
            "{} is missing: run `cargo build --example probe`",
            built.display()
        );
        let dir = TempDir::new("probe");
        let path = dir.path().join("probe");
        copy_executable(&built, &path);
        (dir, path)
    });
    path
}

/// `ns-rootless ARGS...` as the unprivileged caller (not yet started).
pub fn ns_rootless<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = caller_command(binary());
    cmd.args(args);
    cmd
}

/// A uid (and gid) other than the caller's with no passwd or group entry: the first free one
/// from `from` on. Each test that needs another user takes its own range.
#[allow(dead_code)] // used by tests/named.rs and tests/escapes.rs only
pub fn spare_id(from: u32) -> u32 {
    use nix::unistd::{Gid, Group, Uid, User};
    (from..from + 1000)
        .find(|&id| {
            id != caller_uid()
                && matches!(User::from_uid(Uid::from_raw(id)), Ok(None))
                && matches!(Group::from_gid(Gid::from_raw(id)), Ok(None))
        })
        .expect("a free uid with no passwd or group entry")
}

/// `ns-rootless ARGS...` as uid and gid `id` (the runner must be root).
#[allow(dead_code)] // used by tests/named.rs and tests/escapes.rs only
pub fn ns_rootless_as(id: u32, args: &[&str]) -> Command {
    let mut cmd = runner_command(host_tool("setpriv"));
    cmd.arg(format!("--reuid={id}"))
        .arg(format!("--regid={id}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(binary())
        .args(args);
    cmd
}

/// Runs `ns-rootless ARGS...` as the unprivileged caller and returns what it did.
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    output_of(ns_rootless(args))
}

/// Where the sandbox's root comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The host's `/`, read-only (no `--rootfs`).
    Host,
    /// The shared busybox rootfs (`--rootfs`).
    Rootfs,
}

impl Mode {
    /// `[--rootfs DIR] OPTIONS... -- COMMAND...`
    pub fn args(self, options: &[&str], command: &[&str]) -> Vec<String> {
        let mut args = Vec::new();
        if self == Mode::Rootfs {
            args.push("--rootfs".to_owned());
            args.push(path_str(busybox_rootfs()).to_owned());
        }
        args.extend(options.iter().map(|s| s.to_string()));
        args.push("--".to_owned());
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }

    /// `ns-rootless [--rootfs DIR] OPTIONS... -- COMMAND...` as the caller (not yet started).
    pub fn command(self, options: &[&str], command: &[&str]) -> Command {
        ns_rootless(self.args(options, command))
    }

    /// Runs `ns-rootless [--rootfs DIR] OPTIONS... -- COMMAND...` as the caller.
    pub fn run(self, options: &[&str], command: &[&str]) -> Output {
        output_of(self.command(options, command))
    }

    /// Runs `sh -c SCRIPT` in a sandbox with no extra options.
    pub fn sh(self, script: &str) -> Output {
        self.run(&[], &["sh", "-c", script])
    }

    /// A file inside the sandbox that exists and is not executable.
    pub fn not_executable(self) -> &'static str {
        match self {
            Mode::Host => "/etc/passwd",
            Mode::Rootfs => ROOTFS_NOT_EXECUTABLE,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running with a timeout
// ---------------------------------------------------------------------------------------------

/// Runs `cmd` (stdin as set, stdout and stderr captured) and kills it after [`RUN_TIMEOUT`].
pub fn output_of(cmd: Command) -> Output {
    run_with_input(cmd, None)
}

/// Runs `cmd` with `input` on its stdin, stdout and stderr captured, with [`RUN_TIMEOUT`].
pub fn output_with_input(cmd: Command, input: &[u8]) -> Output {
    run_with_input(cmd, Some(input))
}

fn run_with_input(mut cmd: Command, input: Option<&[u8]>) -> Output {
    let deadline = Instant::now() + RUN_TIMEOUT;
    let what = format!("{cmd:?}");
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(&mut cmd, &what);
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin was piped");
        let input = input.to_vec();
        // A payload that never reads would block this write: do it off the test thread.
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = read_all_in_background(child.stdout.take().expect("stdout was piped"));
    let stderr = read_all_in_background(child.stderr.take().expect("stderr was piped"));
    let status = wait_until(&mut child, deadline, &what);
    Output {
        status,
        stdout: receive_until(&stdout, deadline, &what, "stdout"),
        stderr: receive_until(&stderr, deadline, &what, "stderr"),
    }
}

/// Held for reading while a child is spawned, for writing while an executable is written.
///
/// A child forked by one test thread while another thread holds a file open for writing
/// inherits that fd until its exec; exec'ing that file meanwhile fails with ETXTBSY ("Text file
/// busy"). `Command::spawn` returns only once the child has exec'd, so no child can hold such
/// an fd while this lock is held for writing.
static SPAWN_LOCK: RwLock<()> = RwLock::new(());

fn spawn(cmd: &mut Command, what: &str) -> Child {
    let _no_executable_being_written = SPAWN_LOCK.read().unwrap_or_else(PoisonError::into_inner);
    cmd.spawn()
        .unwrap_or_else(|err| panic!("spawn {what}: {err}"))
}

/// Copies `from` to `to` with mode 0755. The copy is written by cp(1), not by this process: a
/// write fd of ours would be inherited, until their execve, by children that other test threads
/// fork without [`SPAWN_LOCK`] (a harness's plain `Command::status`), and an execve of the copy
/// meanwhile fails with ETXTBSY.
pub fn copy_executable(from: &Path, to: &Path) {
    let _no_child_being_spawned = SPAWN_LOCK.write().unwrap_or_else(PoisonError::into_inner);
    let status = Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .status()
        .unwrap_or_else(|err| panic!("cp {} {}: {err}", from.display(), to.display()));
    assert!(
        status.success(),
        "cp {} {}: {status}",
        from.display(),
        to.display()
    );
    set_mode(to, 0o755);
}

fn read_all_in_background(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(bytes);
    });
    receiver
}

fn receive_until(pipe: &Receiver<Vec<u8>>, deadline: Instant, what: &str, name: &str) -> Vec<u8> {
    let left = deadline.saturating_duration_since(Instant::now());
    pipe.recv_timeout(left).unwrap_or_else(|_| {
        panic!(
            "{name} of {what} still open after the process exited: a sandbox process outlived it"
        )
    })
}

/// Waits for `child`; kills it and panics once `deadline` has passed.
fn wait_until(child: &mut Child, deadline: Instant, what: &str) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("poll a child process") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {RUN_TIMEOUT:?}; killed it");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running `ns-rootless` whose stdout is read line by line (for the signal tests). Killed on
/// drop if still running, so a failing test leaves no sandbox behind.
pub struct Running {
    child: Child,
    what: String,
    deadline: Instant,
    lines: Receiver<String>,
    stdout_seen: String,
    stderr: Receiver<Vec<u8>>,
}

impl Running {
    /// Starts `cmd` with stdout and stderr piped.
    pub fn start(mut cmd: Command) -> Running {
        let what = format!("{cmd:?}");
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = spawn(&mut cmd, &what);
        let stdout = child.stdout.take().expect("stdout was piped");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = read_all_in_background(child.stderr.take().expect("stderr was piped"));
        Running {
            child,
            what,
            deadline: Instant::now() + RUN_TIMEOUT,
            lines,
            stdout_seen: String::new(),
            stderr,
        }
    }

    /// The host pid of the spawned process (`setpriv` execs, so this is ns-rootless itself).
    pub fn pid(&self) -> nix::unistd::Pid {
        let pid = i32::try_from(self.child.id()).expect("pid fits in i32");
        nix::unistd::Pid::from_raw(pid)
    }

    /// Reads stdout until a line equal to `expected`; panics on EOF or timeout.
    pub fn wait_for_line(&mut self, expected: &str) {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout_seen.push_str(&line);
                    self.stdout_seen.push('\n');
                    if line == expected {
                        return;
                    }
                }
                Err(err) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let stderr = self.stderr.recv_timeout(Duration::from_secs(1));
                    panic!(
                        "no line {expected:?} from {} ({err:?}); stdout so far: {:?}; stderr: {:?}",
                        self.what,
                        self.stdout_seen,
                        stderr.map(|bytes| text(&bytes)).unwrap_or_default()
                    );
                }
            }
        }
    }

    /// Sends `signal` to the spawned process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), signal)
            .unwrap_or_else(|err| panic!("send {signal} to {}: {err}", self.what));
    }

    /// Waits for the process (with the overall timeout) and returns all of its output.
    pub fn finish(&mut self) -> Output {
        let status = wait_until(&mut self.child, self.deadline, &self.what);
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout_seen.push_str(&line);
                    self.stdout_seen.push('\n');
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "stdout of {} still open after it exited: a sandbox process outlived it",
                    self.what
                ),
            }
        }
        Output {
            status,
            stdout: std::mem::take(&mut self.stdout_seen).into_bytes(),
            stderr: receive_until(&self.stderr, self.deadline, &self.what, "stderr"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output checks
// ---------------------------------------------------------------------------------------------

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs of whitespace collapsed to one space, ends trimmed.
pub fn normalize_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout: {:?}\nstderr: {:?}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Exit code 0 and stdout exactly `expected`.
#[track_caller]
pub fn assert_stdout(out: &Output, expected: &str) {
    assert!(
        out.status.success() && text(&out.stdout) == expected,
        "expected exit 0 and stdout {expected:?}, got\n{}",
        describe(out)
    );
}

/// Exit code `code`.
#[track_caller]
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}, got\n{}",
        describe(out)
    );
}

/// An ns-rootless failure: exit `code`, and stderr exactly one line starting `ns-rootless: `
/// that contains every one of `needles`.
#[track_caller]
pub fn assert_failure_line(out: &Output, code: i32, needles: &[&str]) {
    assert_code(out, code);
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("ns-rootless: ")
            && stderr.ends_with('\n')
            && stderr.matches('\n').count() == 1,
        "expected exactly one stderr line starting \"ns-rootless: \", got\n{}",
        describe(out)
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "expected stderr to contain {needle:?}, got\n{}",
            describe(out)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Temp dirs
// ---------------------------------------------------------------------------------------------

/// A fresh directory under `/tmp`, mode 0755, removed (recursively) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `/tmp/ns-rootless-test.<pid>.<n>.<label>`.
    pub fn new(label: &str) -> TempDir {
        static SWEPT: OnceLock<()> = OnceLock::new();
        SWEPT.get_or_init(remove_stale_temp_dirs);
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = PathBuf::from(format!(
                "/tmp/{TEMP_PREFIX}{}.{n}.{label}",
                std::process::id()
            ));
            match fs::create_dir(&path) {
                Ok(()) => {
                    set_mode(&path, 0o755);
                    return TempDir { path };
                }
                // Left by a process of another pid namespace sharing /tmp: take the next name.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => panic!("create {}: {err}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Removes `path` and everything below it, at any depth: `rm -rf` walks iteratively, where std's
/// `remove_dir_all` recurses and overflows a test thread's stack on a tree a sandbox nested
/// tens of thousands of levels deep (tests/session.rs makes one; a run killed midway leaves it).
pub fn remove_tree(path: &Path) {
    let _ = Command::new("rm").arg("-rf").arg("--").arg(path).status();
}

/// Temp dirs kept for a whole test binary live in statics, which are never dropped: remove
/// those left by earlier runs whose process is gone.
fn remove_stale_temp_dirs() {
    let Ok(entries) = fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // EPERM means the process exists (as another user): only ESRCH means it is gone.
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone {
            remove_tree(&entry.path());
        }
    }
}

/// Sets the permission bits of `path` (whatever the umask).
pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("chmod {mode:o} {}: {err}", path.display()));
}

/// `path` as UTF-8 (every path this harness makes is).
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("harness paths are UTF-8")
}

// ---------------------------------------------------------------------------------------------
// The busybox rootfs
// ---------------------------------------------------------------------------------------------

/// The directories of the busybox rootfs, parents first.
pub const ROOTFS_DIRS: &[&str] = &[
    "bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "dev", "tmp", "sys", "etc", "root",
];

/// A file in the rootfs (path inside the sandbox) with known contents, to tell it is `/`.
pub const ROOTFS_MARKER: &str = "/etc/ns-rootless-marker";
pub const ROOTFS_MARKER_TEXT: &str = "this is the busybox rootfs\n";

/// A file in the rootfs that exists but is not executable (mode 0644).
pub const ROOTFS_NOT_EXECUTABLE: &str = "/bin/not-executable";

/// A file left in the rootfs's own `tmp` dir: the sandbox's fresh `/tmp` must not show it.
pub const ROOTFS_STALE_TMP_FILE: &str = "tmp/left-on-the-host";

/// The busybox rootfs shared by all tests of this binary (built once; never written to).
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<TempDir> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let dir = TempDir::new("rootfs");
            build_busybox_rootfs(dir.path());
            dir
        })
        .path()
}

/// A throwaway busybox rootfs, changed by `customize` (e.g. to make `proc` a symlink).
pub fn busybox_rootfs_variant(label: &str, customize: impl FnOnce(&Path)) -> TempDir {
    let dir = TempDir::new(label);
    build_busybox_rootfs(dir.path());
    customize(dir.path());
    dir
}

/// Fills `root` with a minimal busybox system: the dirs in [`ROOTFS_DIRS`], `/bin/busybox`
/// with a relative symlink in `/bin` for every applet, `/etc/passwd`, the marker, a
/// non-executable file and a stale file in `tmp`.
pub fn build_busybox_rootfs(root: &Path) {
    for dir in ROOTFS_DIRS {
        let path = root.join(dir);
        fs::create_dir_all(&path).unwrap_or_else(|err| panic!("mkdir {}: {err}", path.display()));
        set_mode(&path, 0o755);
    }
    copy_executable(static_busybox(), &root.join("bin/busybox"));
    for applet in busybox_applets() {
        if applet == "busybox" {
            continue;
        }
        let link = root.join("bin").join(&applet);
        symlink("busybox", &link).unwrap_or_else(|err| panic!("symlink {}: {err}", link.display()));
    }
    write_file(
        &root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    );
    write_file(&root.join("etc/group"), "root:x:0:\n", 0o644);
    write_file(&rootfs_path(root, ROOTFS_MARKER), ROOTFS_MARKER_TEXT, 0o644);
    write_file(
        &rootfs_path(root, ROOTFS_NOT_EXECUTABLE),
        "#!/bin/sh\necho this should never run\n",
        0o644,
    );
    write_file(&root.join(ROOTFS_STALE_TMP_FILE), "stale\n", 0o644);
}

/// The host path of `inside` (an absolute path in the sandbox) in the rootfs at `root`.
pub fn rootfs_path(root: &Path, inside: &str) -> PathBuf {
    root.join(inside.trim_start_matches('/'))
}

fn write_file(path: &Path, contents: &str, mode: u32) {
    fs::write(path, contents).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
    set_mode(path, mode);
}

/// The host's busybox, checked to be statically linked (it must run inside a rootfs with no
/// libc); panics with an install hint otherwise.
pub fn static_busybox() -> &'static Path {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let path = Path::new(HOST_BUSYBOX);
        let hint = "install Debian's busybox-static (scripts/test.sh does it when run as root)";
        let bytes =
            fs::read(path).unwrap_or_else(|err| panic!("read {HOST_BUSYBOX}: {err}; {hint}"));
        match elf_is_static(&bytes) {
            Some(true) => {}
            Some(false) => panic!("{HOST_BUSYBOX} is dynamically linked; {hint}"),
            None => panic!("{HOST_BUSYBOX} is not a 64-bit little-endian ELF file; {hint}"),
        }
    });
    Path::new(HOST_BUSYBOX)
}

/// Whether a 64-bit little-endian ELF image has no `PT_INTERP` program header (no dynamic
/// loader); `None` if it isn't such an image.
pub fn elf_is_static(image: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if image.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(image.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(image.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(image.get(at..at + 8)?.try_into().ok()?));
    let table = usize::try_from(u64_at(0x20)?).ok()?;
    let entry_size = usize::from(u16_at(0x36)?);
    let entries = usize::from(u16_at(0x38)?);
    for index in 0..entries {
        if u32_at(table + index * entry_size)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

/// The applet names `busybox --list` prints.
pub fn busybox_applets() -> Vec<String> {
    let mut cmd = runner_command(static_busybox());
    cmd.arg("--list");
    let out = output_of(cmd);
    assert!(
        out.status.success(),
        "busybox --list failed:\n{}",
        describe(&out)
    );
    let applets: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert!(
        applets.len() > 50,
        "busybox --list printed only {} applets",
        applets.len()
    );
    applets
}

// ---------------------------------------------------------------------------------------------
// The host's process table
// ---------------------------------------------------------------------------------------------

/// A process seen in the host's `/proc`; the start time tells a reused pid apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    start_time: u64,
}

/// The fields of `/proc/PID/stat` this harness needs.
struct ProcessStat {
    comm: String,
    state: char,
    parent: i32,
    start_time: u64,
}

fn read_stat(pid: i32) -> Option<ProcessStat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID ..." where COMM may itself contain spaces and parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5); starttime is field 22.
    Some(ProcessStat {
        comm,
        state: fields.first()?.chars().next()?,
        parent: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Every process below `root` in the host's process tree (found through the parent pids in
/// `/proc/*/stat`, which works without `CONFIG_PROC_CHILDREN`).
pub fn descendants(root: i32) -> Vec<ProcessId> {
    let mut all = Vec::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(stat) = read_stat(pid) {
            all.push((pid, stat));
        }
    }
    let mut found: Vec<ProcessId> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, stat) in &all {
            if stat.parent == parent {
                found.push(ProcessId {
                    pid: *pid,
                    start_time: stat.start_time,
                });
                frontier.push(*pid);
            }
        }
    }
    found
}

/// `Some((comm, state))` while the process exists (a zombie included); `None` once it is gone.
pub fn process_state(process: &ProcessId) -> Option<(String, char)> {
    let stat = read_stat(process.pid)?;
    (stat.start_time == process.start_time).then_some((stat.comm, stat.state))
}

/// The processes below `root`, once at least `count` of them are named `comm` (fork may not
/// have reached exec when the payload says it is ready).
pub fn wait_for_process_tree(root: i32, comm: &str, count: usize) -> Vec<ProcessId> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tree = descendants(root);
        let named = tree
            .iter()
            .filter(|process| process_state(process).is_some_and(|(name, _)| name == comm))
            .count();
        if named >= count {
            return tree;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} `{comm}` processes below pid {root}, found {named} in {tree:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until every process of `tree` has ended (gone, or a zombie), for at most `limit`;
/// panics naming the survivors.
pub fn assert_tree_ends_within(tree: &[ProcessId], limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<String> = tree
            .iter()
            .filter_map(|p| {
                let (comm, state) = process_state(p)?;
                (state != 'Z').then(|| format!("pid {} ({comm}) state {state}", p.pid))
            })
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still alive: {alive:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The OCI runtime
// ---------------------------------------------------------------------------------------------

/// The binary under test as `ns-rootless-oci` (a hard link next to [`binary`], as
/// scripts/build.sh makes one): the name is what makes it the OCI runtime.
#[allow(dead_code)] // used by tests/oci.rs only
pub fn oci_binary() -> &'static Path {
    static LINK: OnceLock<PathBuf> = OnceLock::new();
    LINK.get_or_init(|| {
        let link = binary().with_file_name("ns-rootless-oci");
        if !link.exists() {
            fs::hard_link(binary(), &link)
                .unwrap_or_else(|err| panic!("link {}: {err}", link.display()));
        }
        link
    })
}

/// Gives `path` to the unprivileged caller (when the runner is root), so it may write there.
#[allow(dead_code)] // used by tests/oci.rs only
pub fn give_to_caller(path: &Path) {
    if runner_is_root() {
        std::os::unix::fs::chown(path, Some(caller_uid()), Some(caller_gid()))
            .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
    }
}
