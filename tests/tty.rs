//! Integration tests of the interactive terminal: the payload's own pty, the relay, raw mode and
//! its restoration, and the no-terminal paths.
//!
//! Each test drives a real pty of its own: the binary (or an outer shell that runs it) gets the
//! slave as stdin, stdout, stderr and controlling terminal; the test types into the master and
//! reads everything written to it. As everywhere in this suite, the binary runs as an
//! unprivileged caller (see `common`).

#[allow(dead_code)]
#[macro_use]
mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    busybox_rootfs, caller_command, descendants, host_tool, path_str, process_state,
    runner_command, text, Mode, TempDir,
};
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a step inside a sandbox (a command typed, a process appearing) may take.
const STEP: Duration = Duration::from_secs(10);

/// The size of every test's terminal, until a test resizes it.
const ROWS: u16 = 33;
const COLS: u16 = 111;

in_both_modes!(
    interactive_payload_gets_dev_pts_0_with_callers_size_and_settings,
    resizing_the_callers_terminal_resizes_the_payloads,
    ctrl_c_interrupts_the_foreground_job_and_the_shell_survives,
    ctrl_z_stops_the_foreground_job_and_jobs_lists_it,
);

// ---------------------------------------------------------------------------------------------
// A terminal driven by the test
// ---------------------------------------------------------------------------------------------

/// A pty pair: the test holds the master (typing into it, reading all output in a thread) and
/// keeps a slave fd to look at the terminal's settings at any time.
struct Term {
    master: File,
    slave: File,
    output: Arc<Output>,
}

/// Everything read from the master so far.
struct Output {
    bytes: Mutex<Vec<u8>>,
    grew: Condvar,
}

impl Term {
    /// A new pty of the host's devpts, `ROWS`x`COLS`, in the settings of [`distinctive`].
    fn new() -> Term {
        use nix::fcntl::OFlag;
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let master = nix::pty::posix_openpt(flags).expect("posix_openpt");
        nix::pty::grantpt(&master).expect("grantpt");
        nix::pty::unlockpt(&master).expect("unlockpt");
        let name = nix::pty::ptsname_r(&master).expect("ptsname");
        // O_NOCTTY: the test process must not take it as its own controlling terminal.
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(&name)
            .unwrap_or_else(|err| panic!("open {name}: {err}"));
        let master = File::from(OwnedFd::from(master));
        let term = Term {
            master,
            slave,
            output: Arc::new(Output {
                bytes: Mutex::new(Vec::new()),
                grew: Condvar::new(),
            }),
        };
        term.resize(ROWS, COLS);
        let mut settings = term.termios();
        distinctive(&mut settings);
        set_termios(term.slave.as_raw_fd(), &settings);
        let mut reader = term.master.try_clone().expect("dup the pty master");
        let output = Arc::clone(&term.output);
        thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                match reader.read(&mut buf) {
                    // EIO: every slave fd is closed.
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut bytes = output.bytes.lock().unwrap();
                        bytes.extend_from_slice(&buf[..n]);
                        output.grew.notify_all();
                    }
                }
            }
        });
        term
    }

    /// Starts `cmd` with the slave as stdin, stdout, stderr and controlling terminal (in a new
    /// session, so it is also the terminal's foreground process group).
    fn spawn(&self, cmd: Command) -> Spawned {
        self.spawn_with_stdin(cmd, true)
    }

    /// Like `spawn`; without `on_stdin`, stdin is /dev/null and only stdout and stderr are the
    /// terminal.
    fn spawn_with_stdin(&self, mut cmd: Command, on_stdin: bool) -> Spawned {
        prepare();
        let slave = || Stdio::from(self.slave.try_clone().expect("dup the slave"));
        cmd.stdin(if on_stdin { slave() } else { Stdio::null() });
        cmd.stdout(slave()).stderr(slave());
        let terminal_fd = if on_stdin { 0 } else { 1 };
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(terminal_fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let what = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {what}: {err}"));
        Spawned { child, what }
    }

    /// Types `bytes` into the terminal.
    fn type_in(&self, bytes: &str) {
        (&self.master)
            .write_all(bytes.as_bytes())
            .expect("write to the pty master");
    }

    /// How many bytes have been read from the master so far.
    fn len(&self) -> usize {
        self.output.bytes.lock().unwrap().len()
    }

    /// All the output so far, as text.
    fn transcript(&self) -> String {
        text(&self.output.bytes.lock().unwrap())
    }

    /// The output from byte `from` on, as text.
    fn since(&self, from: usize) -> String {
        text(&self.output.bytes.lock().unwrap()[from..])
    }

    /// Waits until `needle` appears in the output after byte `from`; returns the offset just past
    /// it. Panics with the transcript after [`STEP`].
    #[track_caller]
    fn wait_for(&self, needle: &str, from: usize) -> usize {
        self.try_wait_for(needle, from, STEP).unwrap_or_else(|| {
            panic!(
                "no {needle:?} on the terminal within {STEP:?}; transcript: {:?}",
                self.transcript()
            )
        })
    }

    fn try_wait_for(&self, needle: &str, from: usize, limit: Duration) -> Option<usize> {
        let deadline = Instant::now() + limit;
        let mut bytes = self.output.bytes.lock().unwrap();
        loop {
            if let Some(at) = find(&bytes[from.min(bytes.len())..], needle.as_bytes()) {
                return Some(from + at + needle.len());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            bytes = self.output.grew.wait_timeout(bytes, left).unwrap().0;
        }
    }

    /// Types `line` (a shell command line) followed by a marker command, waits until the marker
    /// has run and returns what the terminal showed in between (the line's echo included).
    #[track_caller]
    fn shell(&self, line: &str) -> String {
        let n = next_marker();
        let from = self.len();
        // Typed as an arithmetic expansion, so the echo of the typed text never matches.
        self.type_in(&format!("{line}; echo mark-$(({n}+1))-done\n"));
        let end = self.wait_for(&format!("mark-{}-done", n + 1), from);
        let all = self.output.bytes.lock().unwrap();
        text(&all[from..end])
    }

    fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ from a valid winsize on our master.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// The terminal's current settings (as the program on it sees them).
    fn termios(&self) -> libc::termios {
        get_termios(self.slave.as_raw_fd())
    }

    /// Waits until the terminal is in (or out of) raw mode; panics after [`STEP`].
    #[track_caller]
    fn wait_for_raw(&self, raw: bool) {
        let deadline = Instant::now() + STEP;
        while is_raw(&self.termios()) != raw {
            assert!(
                Instant::now() < deadline,
                "the terminal did not go {} within {STEP:?}; settings {:?}; transcript: {:?}",
                if raw { "raw" } else { "back to cooked" },
                self.termios(),
                self.transcript()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn next_marker() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(100);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn get_termios(fd: i32) -> libc::termios {
    // SAFETY: tcgetattr into a zeroed termios.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::tcgetattr(fd, &mut t) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    t
}

fn set_termios(fd: i32, t: &libc::termios) {
    // SAFETY: tcsetattr from a valid termios.
    let rc = unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) };
    assert_eq!(rc, 0, "tcsetattr: {}", std::io::Error::last_os_error());
}

/// Settings no program would pick by chance, so that a restore to "some default" is told apart
/// from a restore of the caller's own: erase is ^H, control characters are not echoed as ^X,
/// IXOFF and IUTF8 are on, the speed is 9600 baud.
fn distinctive(t: &mut libc::termios) {
    t.c_cc[libc::VERASE] = 0x08;
    t.c_lflag &= !libc::ECHOCTL;
    t.c_iflag |= libc::IXOFF | libc::IUTF8;
    // SAFETY: valid termios and speed constant.
    unsafe {
        libc::cfsetispeed(t, libc::B9600);
        libc::cfsetospeed(t, libc::B9600);
    }
}

fn is_raw(t: &libc::termios) -> bool {
    t.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG) == 0
}

/// The binary's copy and the busybox rootfs exist before any child is spawned here: the harness
/// writes those executables under a lock that only its own spawns take, and a child forked by
/// this file while one was being written would keep it busy (ETXTBSY) for another test.
fn prepare() {
    common::binary();
    busybox_rootfs();
}

/// A process started on a [`Term`]; on drop it and everything below it are SIGKILLed.
struct Spawned {
    child: Child,
    what: String,
}

impl Spawned {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits in i32")
    }

    /// Waits for the process to end; panics (with the terminal's transcript) after `limit`.
    #[track_caller]
    fn wait(&mut self, term: &Term, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll a child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not end within {limit:?}; transcript: {:?}",
                self.what,
                term.transcript()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a process named `comm` below this one; returns its host pid.
    #[track_caller]
    fn wait_for_descendant(&self, comm: &str, term: &Term) -> i32 {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(p) = descendants(self.pid())
                .into_iter()
                .find(|p| process_state(p).is_some_and(|(c, _)| c == comm))
            {
                return p.pid;
            }
            assert!(
                Instant::now() < deadline,
                "no {comm:?} below {} within {STEP:?}; transcript: {:?}",
                self.what,
                term.transcript()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process's CPU time so far (utime + stime), in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("read stat");
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 1..]
            .split_whitespace()
            .collect();
        // fields[0] is field 3 (state) of proc(5); utime and stime are fields 14 and 15.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            for p in descendants(self.pid()) {
                let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// State letter of a process (None once gone).
fn state_of(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether a line of terminal output is `text`. The shell's prompt (`# `, `$ `) for the previous
/// command may arrive after the echo of the next typed one, and so start an output line.
fn has_line(out: &str, text: &str) -> bool {
    out.lines().any(|l| {
        let l = l.trim_end_matches('\r');
        l == text || l.strip_prefix("# ") == Some(text) || l.strip_prefix("$ ") == Some(text)
    })
}

/// An interactive shell in a sandbox on `term`, answering commands.
fn interactive_shell(term: &Term, mode: Mode) -> Spawned {
    let shell = term.spawn(mode.command(&[], &["sh", "-i"]));
    let out = term.shell("echo ready-$((1+1))");
    assert!(out.contains("ready-2"), "{out:?}");
    // The relay runs only once ns-rootless has put the caller's terminal in raw mode.
    assert!(is_raw(&term.termios()), "{:?}", term.termios());
    shell
}

// ---------------------------------------------------------------------------------------------
// The payload's terminal
// ---------------------------------------------------------------------------------------------

fn interactive_payload_gets_dev_pts_0_with_callers_size_and_settings(mode: Mode) {
    let term = Term::new();
    let mut shell = interactive_shell(&term, mode);
    let out = term.shell("tty; stty size; stty -a");
    assert!(
        has_line(&out, "/dev/pts/0"),
        "`tty` should print /dev/pts/0 (the sandbox's own devpts): {out:?}"
    );
    assert!(
        has_line(&out, &format!("{ROWS} {COLS}")),
        "`stty size` should print the caller's size {ROWS} {COLS}: {out:?}"
    );
    // The caller's settings (see `distinctive`), not the pty defaults (erase ^?).
    assert!(
        out.contains("erase = ^H") && out.contains("9600"),
        "the payload's terminal should start with the caller's settings: {out:?}"
    );
    // Inside, /dev/tty is that pty: the payload's controlling terminal.
    let out = term.shell("stty size </dev/tty");
    assert!(has_line(&out, &format!("{ROWS} {COLS}")), "{out:?}");
    term.type_in("exit 7\n");
    assert_eq!(shell.wait(&term, STEP).code(), Some(7));
}

fn resizing_the_callers_terminal_resizes_the_payloads(mode: Mode) {
    let term = Term::new();
    let _shell = interactive_shell(&term, mode);
    for (rows, cols) in [(44, 122), (12, 40)] {
        // The kernel sends SIGWINCH to the terminal's foreground process group: ns-rootless.
        term.resize(rows, cols);
        let expected = format!("\n{rows} {cols}\r\n");
        let deadline = Instant::now() + STEP;
        loop {
            let out = term.shell("stty size");
            if out.contains(&expected) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the payload's terminal did not follow the resize to {rows}x{cols}: {out:?}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
    // The payload's foreground process group is told (SIGWINCH from its own pty) and sees the
    // new size.
    let term = Term::new();
    let script = "trap 'echo winch-$(stty size)-seen' WINCH; echo armed; \
                  while :; do sleep 0.05; done";
    let _sandbox = term.spawn(mode.command(&[], &["sh", "-c", script]));
    let from = term.wait_for("armed", 0);
    term.resize(50, 150);
    term.wait_for("winch-50 150-seen", from);
}

fn ctrl_c_interrupts_the_foreground_job_and_the_shell_survives(mode: Mode) {
    let term = Term::new();
    let shell = interactive_shell(&term, mode);
    term.type_in("sleep 100\n");
    let sleep = shell.wait_for_descendant("sleep", &term);
    term.type_in("\x03");
    let out = term.shell("echo alive-$((6*7))");
    assert!(
        out.contains("alive-42"),
        "the shell should run the next command after ^C: {out:?}"
    );
    assert_eq!(
        state_of(sleep),
        None,
        "^C should have ended sleep; transcript {:?}",
        term.transcript()
    );
}

fn ctrl_z_stops_the_foreground_job_and_jobs_lists_it(mode: Mode) {
    let term = Term::new();
    let shell = interactive_shell(&term, mode);
    let from = term.len();
    term.type_in("sleep 100\n");
    let sleep = shell.wait_for_descendant("sleep", &term);
    term.type_in("\x1a");
    // The shell reports the stop before it reads the next command.
    term.wait_for("Stopped", from);
    assert_eq!(state_of(sleep), Some('T'), "sleep should be stopped");
    let out = term.shell("jobs");
    assert!(
        out.contains("Stopped") && out.contains("sleep 100"),
        "`jobs` should list sleep as Stopped: {out:?}"
    );
    // The job goes on when asked.
    let out = term.shell("kill %1");
    assert!(!out.contains("No such"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// Injection (TIOCSTI)
// ---------------------------------------------------------------------------------------------

/// A dir for the injection tests: where an injected `touch` would create files (writable by
/// the caller). The payload is the probe (tests/probe): `probe syscall inject TEXT` pushes
/// TEXT plus a newline into the input of fd 0 and of a reopened /dev/tty, with TIOCSTI and with
/// the request's high bits set (the kernel reads only the low 32 bits), one line per attempt
/// (`fd0`, `fd0-high`, `tty`, `tty-high`, or `tty open`, each `ok` or `errno N NAME`).
fn injection_dir() -> TempDir {
    let dir = TempDir::new("tiocsti");
    common::set_mode(dir.path(), 0o777);
    dir
}

/// The probe, as a sandbox sees it: bound at /probe.
fn probe_in_sandbox(options: &str) -> String {
    format!(
        "{} {options} --ro-bind {}:/probe -- /probe",
        path_str(common::binary()),
        path_str(common::probe())
    )
}

/// Runs an outer interactive shell (as the caller) on a fresh terminal, has it run `command`
/// (which starts the injecting script) and then one more command of its own. Returns the
/// script's report and whether `touch DIR/pwned` was injected into, and run by, the outer shell.
fn inject_through(dir: &Path, command: &str) -> (String, bool) {
    let term = Term::new();
    let mut sh = caller_command("/bin/sh");
    sh.arg("-i");
    let shell = term.spawn(sh);
    let out = term.shell("echo outer-ready-$((2+2))");
    assert!(out.contains("outer-ready-4"), "{out:?}");
    let pwned = dir.join("pwned");
    let from = term.len();
    // The end marker is the outer shell's, once the command is done (as typed, it reads
    // differently: the terminal echoes the line).
    term.type_in(&format!(
        "{command} syscall inject 'touch {}'; echo inject-$((1+1))-end\n",
        path_str(&pwned)
    ));
    let end = term.wait_for("inject-2-end", from);
    let report = term.since(from)[..end - from].to_owned();
    // Whatever runs the script must be done with the terminal before the next line is typed
    // (ns-rootless reads the terminal until it has restored it).
    term.wait_for_raw(false);
    while descendants(shell.pid())
        .iter()
        .any(|p| process_state(p).is_some_and(|(c, _)| c != "sh"))
    {
        thread::sleep(Duration::from_millis(10));
    }
    // Anything injected is in the outer terminal's input before this line.
    let out = term.shell("echo outer-$((6*7))");
    assert!(out.contains("outer-42"), "{out:?}");
    (report, pwned.exists())
}

/// The control for the two tests below: without a sandbox, the script does inject into the
/// outer shell (so their "nothing injected" can fail).
#[test]
fn harness_detects_tiocsti_injection_without_a_sandbox() {
    let dir = injection_dir();
    let legacy = fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").unwrap_or("1".into());
    common::require(
        legacy.trim() == "1",
        "the kernel refuses TIOCSTI to everyone (dev.tty.legacy_tiocsti=0)",
    );
    let (report, pwned) = inject_through(dir.path(), path_str(common::probe()));
    assert!(
        report.contains("fd0 ok") && pwned,
        "the harness should see an injection done outside any sandbox: {report:?}"
    );
}

#[test]
fn tiocsti_from_a_pty_sandbox_injects_nothing() {
    let dir = injection_dir();
    let (report, pwned) = inject_through(dir.path(), &probe_in_sandbox(""));
    for line in [
        "fd0 errno 1 EPERM",
        "fd0-high errno 1 EPERM",
        "tty errno 1 EPERM",
        "tty-high errno 1 EPERM",
    ] {
        assert!(report.contains(line), "expected {line:?} in {report:?}");
    }
    assert!(
        !pwned,
        "text injected from the sandbox ran in the caller's shell"
    );
}

#[test]
fn tiocsti_with_no_pty_injects_nothing() {
    let dir = injection_dir();
    let (report, pwned) = inject_through(dir.path(), &probe_in_sandbox("-T"));
    // With -T the payload holds the caller's terminal itself, but in a session of its own, and
    // /dev/tty leads nowhere.
    for line in [
        "fd0 errno 1 EPERM",
        "fd0-high errno 1 EPERM",
        "tty open errno 6 ENXIO",
    ] {
        assert!(report.contains(line), "expected {line:?} in {report:?}");
    }
    assert!(
        !pwned,
        "text injected from the sandbox ran in the caller's shell"
    );
}

// ---------------------------------------------------------------------------------------------
// The caller's terminal settings come back
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Ending {
    Normal,
    PayloadKilled,
    Signal(Signal),
    /// `--timeout` expires (TERM to the payload).
    Timeout,
    /// The command does not exist inside (ns-rootless reports it after the relay started).
    NotFound,
}

fn assert_termios_restored(ending: Ending) {
    let term = Term::new();
    let before = term.termios();
    let (options, command): (&[&str], &[&str]) = match ending {
        Ending::Normal => (&[], &["sh", "-c", "read line; echo got-$line"]),
        Ending::Timeout => (&["--timeout", "1"], &["sleep", "100"]),
        Ending::NotFound => (&[], &["no-such-command-here"]),
        _ => (&[], &["sleep", "100"]),
    };
    let mut sandbox = term.spawn(Mode::Host.command(options, command));
    // Only a terminal that was raw can fail to come back (the failed exec may be too quick to
    // see it).
    if !matches!(ending, Ending::NotFound) {
        term.wait_for_raw(true);
    }
    let expected = match ending {
        Ending::Normal => {
            term.type_in("hi\n");
            term.wait_for("got-hi", 0);
            0
        }
        Ending::PayloadKilled => {
            let sleep = sandbox.wait_for_descendant("sleep", &term);
            kill(Pid::from_raw(sleep), Signal::SIGKILL).expect("kill the payload");
            128 + libc::SIGKILL
        }
        Ending::Signal(signal) => {
            sandbox.wait_for_descendant("sleep", &term);
            kill(Pid::from_raw(sandbox.pid()), signal).expect("signal ns-rootless");
            128 + signal as i32
        }
        Ending::Timeout => 124,
        Ending::NotFound => 127,
    };
    let status = sandbox.wait(&term, STEP);
    assert_eq!(
        status.code(),
        Some(expected),
        "{ending:?}: {status:?}; transcript {:?}",
        term.transcript()
    );
    assert_eq!(
        term.termios(),
        before,
        "{ending:?}: the caller's terminal settings were not restored"
    );
}

#[test]
fn termios_restored_after_a_normal_exit() {
    assert_termios_restored(Ending::Normal);
}

#[test]
fn termios_restored_when_the_payload_is_sigkilled() {
    assert_termios_restored(Ending::PayloadKilled);
}

#[test]
fn termios_restored_after_sigterm() {
    assert_termios_restored(Ending::Signal(Signal::SIGTERM));
}

#[test]
fn termios_restored_after_sighup() {
    assert_termios_restored(Ending::Signal(Signal::SIGHUP));
}

#[test]
fn termios_restored_after_timeout() {
    assert_termios_restored(Ending::Timeout);
}

#[test]
fn termios_restored_when_the_command_is_not_found() {
    assert_termios_restored(Ending::NotFound);
}

/// Without a pty the payload holds the caller's terminal itself (stdin with `-T`, or only
/// stdout and stderr when stdin is not a terminal) and can change its settings: they come back
/// when the sandbox ends.
#[test]
fn termios_restored_after_the_payload_changes_them_without_a_pty() {
    let messy = "stty -echo -icanon raw erase ^X 2>&1; stty -a >/dev/null; echo changed";
    // -T: stdin is the terminal.
    let term = Term::new();
    let before = term.termios();
    let mut sandbox = term.spawn(Mode::Host.command(&["-T"], &["sh", "-c", messy]));
    assert!(
        sandbox.wait(&term, STEP).success(),
        "{:?}",
        term.transcript()
    );
    term.wait_for("changed", 0);
    assert_eq!(term.termios(), before, "-T: the settings were not restored");
    // stdin not a terminal (no pty then), stdout and stderr the terminal.
    let term = Term::new();
    let before = term.termios();
    let cmd = Mode::Host.command(&[], &["sh", "-c", &format!("exec <&1; {messy}")]);
    let mut sandbox = term.spawn_with_stdin(cmd, false);
    assert!(
        sandbox.wait(&term, STEP).success(),
        "{:?}",
        term.transcript()
    );
    term.wait_for("changed", 0);
    assert_eq!(
        term.termios(),
        before,
        "stdout a terminal: the settings were not restored"
    );
}

/// The same for `exec -T`: the command it starts in a named sandbox holds the caller's terminal
/// and can change its settings; they come back when it ends, as after `run`.
#[test]
fn termios_restored_after_an_exec_without_a_pty_changes_them() {
    let xdg = TempDir::new("tty-exec-xdg");
    common::set_mode(xdg.path(), 0o700);
    common::give_to_caller(xdg.path());
    let name = format!("tty-exec-{}", std::process::id());
    let named = |args: &[&str]| {
        let mut cmd = common::ns_rootless(args);
        cmd.env("XDG_RUNTIME_DIR", xdg.path());
        cmd
    };
    let started = common::output_of(named(&[
        "run", "-d", "--name", &name, "--", "sleep", "1000",
    ]));
    assert!(started.status.success(), "{}", common::describe(&started));
    let messy = "stty -echo -icanon raw erase ^X 2>&1; stty -a >/dev/null; echo changed";
    let term = Term::new();
    let before = term.termios();
    let mut exec = term.spawn(named(&["exec", "-T", &name, "--", "sh", "-c", messy]));
    let ended = exec.wait(&term, STEP);
    let after = term.termios();
    let _ = named(&["rm", "-f", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(ended.success(), "{:?}", term.transcript());
    term.wait_for("changed", 0);
    assert_eq!(after, before, "exec -T: the settings were not restored");
}

// ---------------------------------------------------------------------------------------------
// Without a terminal, and the -t / -T overrides
// ---------------------------------------------------------------------------------------------

/// Deterministic bytes covering every value (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn piped_100_mib_round_trip_byte_exact_through_cat() {
    const LEN: usize = 100 << 20;
    prepare();
    let data = Arc::new(noise(LEN));
    let mut cmd = Mode::Host.command(&[], &["cat"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ns-rootless cat");
    let mut stdin = child.stdin.take().unwrap();
    let input = Arc::clone(&data);
    let writer = thread::spawn(move || stdin.write_all(&input));
    let mut stdout = child.stdout.take().unwrap();
    let expected = Arc::clone(&data);
    // Compares as it reads: the first differing offset, or the length read.
    let reader = thread::spawn(move || -> Result<usize, String> {
        let mut buf = vec![0u8; 1 << 16];
        let mut at = 0;
        loop {
            let n = stdout.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(at);
            }
            let want = expected.get(at..at + n).unwrap_or(&expected[at..]);
            if let Some(i) = (0..n).find(|&i| want.get(i) != Some(&buf[i])) {
                return Err(format!("differs at byte {}", at + i));
            }
            at += n;
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("100 MiB through cat took over 30 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    writer
        .join()
        .unwrap()
        .expect("write 100 MiB to the sandbox");
    let read = reader.join().unwrap();
    assert!(status.success(), "{status:?}, stderr {err:?}");
    assert_eq!(read, Ok(LEN), "stderr {err:?}");
}

#[test]
fn yes_piped_into_head_returns_promptly() {
    prepare();
    let mut yes = runner_command(host_tool("yes"));
    let mut yes = yes.stdout(Stdio::piped()).spawn().expect("spawn yes");
    let mut cmd = Mode::Host.command(&[], &["head", "-1"]);
    cmd.stdin(Stdio::from(yes.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn ns-rootless head");
    drop(cmd);
    let mut status = None;
    // Without the fix it never ends; 20 s is a hang guard with room for a loaded machine.
    while start.elapsed() < Duration::from_secs(20) {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = yes.kill();
    let _ = yes.wait();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`yes | ns-rootless -- head -1` did not end within 20 s");
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success() && out == "y\n", "{status:?} {out:?}");
}

#[test]
fn without_a_terminal_fds_pass_straight_through_and_there_is_no_controlling_terminal() {
    prepare();
    let script = "readlink /proc/self/fd/1; tty; echo tty=$?; \
                  if (: </dev/tty) 2>/dev/null; then echo ctty; else echo no-ctty; fi";
    let mut cmd = Mode::Host.command(&[], &["sh", "-c", script]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let st = nix::sys::stat::fstat(stdout.as_fd()).expect("fstat the pipe");
    let mut out = String::new();
    File::from(OwnedFd::from(stdout))
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} {out:?}");
    assert_eq!(
        out,
        format!("pipe:[{}]\nnot a tty\ntty=1\nno-ctty\n", st.st_ino),
        "stdout should be the caller's pipe itself, and no terminal inside"
    );
}

#[test]
fn no_tty_option_on_a_terminal_gives_no_pty() {
    let term = Term::new();
    let before = term.termios();
    let mut sandbox = term.spawn(Mode::Host.command(&["-T"], &["tty"]));
    let status = sandbox.wait(&term, STEP);
    assert_eq!(status.code(), Some(1), "{:?}", term.transcript());
    term.wait_for("not a tty", 0);
    // The caller's terminal itself, untouched; but not the payload's controlling terminal.
    let script = "stty size; if (: </dev/tty) 2>/dev/null; then echo ctty; else echo no-ctty; fi";
    let mut sandbox = term.spawn(Mode::Host.command(&["-T"], &["sh", "-c", script]));
    assert!(
        sandbox.wait(&term, STEP).success(),
        "{:?}",
        term.transcript()
    );
    let end = term.wait_for("no-ctty", 0);
    assert!(
        term.transcript()[..end].contains(&format!("{ROWS} {COLS}")),
        "{:?}",
        term.transcript()
    );
    assert_eq!(term.termios(), before);
}

/// `ns-rootless OPTIONS -- COMMAND` with `input` on a pipe as stdin, stdout a pipe.
fn piped(options: &[&str], command: &[&str], input: &[u8]) -> std::process::Output {
    prepare();
    common::output_with_input(Mode::Host.command(options, command), input)
}

#[test]
fn forced_tty_with_piped_stdin_gives_dev_pts_0() {
    let out = piped(&["-t"], &["tty"], b"");
    assert!(
        out.status.success() && text(&out.stdout) == "/dev/pts/0\r\n",
        "{}",
        common::describe(&out)
    );
}

#[test]
fn forced_tty_piped_input_ending_ends_cat() {
    let ended = piped_within(&["-t"], &["cat"], b"line one\nline two\n", STEP);
    let Some((status, out)) = ended else {
        panic!("`printf 'line one\\nline two\\n' | ns-rootless -t -- cat` did not end");
    };
    assert!(status.success(), "{status:?} {out:?}");
    // The pty echoes each line, and cat prints it again (the echoes may come first).
    let mut lines: Vec<&str> = out.split_terminator("\r\n").collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["line one", "line one", "line two", "line two"],
        "{out:?}"
    );
}

/// `ns-rootless OPTIONS -- COMMAND` with `input` on a pipe that then closes; its exit status
/// and stdout, or None if it did not end within `limit` (then it is killed).
fn piped_within(
    options: &[&str],
    command: &[&str],
    input: &[u8],
    limit: Duration,
) -> Option<(ExitStatus, String)> {
    prepare();
    let mut cmd = Mode::Host.command(options, command);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let what = format!("{cmd:?}");
    let mut sandbox = Spawned {
        child: cmd.spawn().expect("spawn"),
        what,
    };
    let mut stdin = sandbox.child.stdin.take().unwrap();
    let input = input.to_vec();
    thread::spawn(move || stdin.write_all(&input));
    let mut stdout = sandbox.child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        text(&out)
    });
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = sandbox.child.try_wait().unwrap() {
            return Some((status, reader.join().unwrap()));
        }
        if Instant::now() >= deadline {
            // Drop kills the sandbox.
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// VEOF after a partial line only hands that line over; the input ends at a second one.
#[test]
fn forced_tty_piped_input_ending_without_a_newline_ends_cat() {
    let ended = piped_within(&["-t"], &["cat"], b"no newline", Duration::from_secs(20));
    let Some((status, out)) = ended else {
        panic!("`printf 'no newline' | ns-rootless -t -- cat` did not end within 20 s");
    };
    assert!(status.success(), "{status:?} {out:?}");
    // Echoed by the pty, then printed by cat.
    assert_eq!(out, "no newlineno newline");
}

#[test]
fn forced_tty_passes_on_all_output_written_before_exit() {
    let out = piped(&["-t"], &["seq", "1", "30000"], b"");
    let expected: String = (1..=30000).map(|i| format!("{i}\r\n")).collect();
    assert!(out.status.success(), "{}", common::describe(&out));
    assert!(
        text(&out.stdout) == expected,
        "output cut or changed: {} bytes, expected {}",
        out.stdout.len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------------
// The relay doesn't spin
// ---------------------------------------------------------------------------------------------

/// CPU ticks ns-rootless may use in a second of doing nothing.
const IDLE_TICKS: u64 = 5;

fn assert_idle(sandbox: &Spawned, what: &str) {
    let before = sandbox.cpu_ticks();
    thread::sleep(Duration::from_secs(1));
    let used = sandbox.cpu_ticks() - before;
    assert!(
        used < IDLE_TICKS,
        "ns-rootless used {used} clock ticks of CPU in 1 s {what}"
    );
}

#[test]
fn relay_does_not_spin_while_an_interactive_sandbox_is_idle() {
    let term = Term::new();
    let shell = interactive_shell(&term, Mode::Host);
    thread::sleep(Duration::from_millis(100));
    assert_idle(&shell, "with an idle shell on the terminal");
}

/// Like [`Term::spawn`] for `ns-rootless -t -- sleep 3` with pipes, for the idle checks below.
fn forced_tty_sleeping(stdin: Stdio, stdout: Stdio) -> Spawned {
    prepare();
    let mut cmd = Mode::Host.command(&["-t"], &["sleep", "3"]);
    cmd.stdin(stdin).stdout(stdout).stderr(Stdio::null());
    let what = format!("{cmd:?}");
    Spawned {
        child: cmd.spawn().expect("spawn"),
        what,
    }
}

#[test]
fn relay_does_not_spin_after_piped_stdin_ends() {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    drop(write);
    let sandbox = forced_tty_sleeping(Stdio::from(read), Stdio::null());
    let term = Term::new();
    sandbox.wait_for_descendant("sleep", &term);
    assert_idle(&sandbox, "with stdin at EOF and the payload asleep");
}

#[test]
fn relay_does_not_spin_after_stdout_reader_goes_away() {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let sandbox = forced_tty_sleeping(Stdio::null(), Stdio::from(write));
    drop(read);
    let term = Term::new();
    sandbox.wait_for_descendant("sleep", &term);
    assert_idle(&sandbox, "with stdout's reader gone and the payload asleep");
}
