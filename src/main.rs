//! ns-rootless: run a command in a fresh rootless container.
// Our own C `main` instead of std's runtime start (see `main` below).
#![cfg_attr(not(test), no_main)]

mod arena;
mod cli;
mod detach;
mod enter;
mod error;
mod idmap;
mod image;
mod init;
mod log;
mod manage;
mod mount;
mod net;
mod oci;
mod parent;
mod payload;
mod pidfd;
mod plan;
mod prepared;
mod private;
mod seccomp;
mod session;
mod signals;
mod spec;
mod stamps;
mod state;
mod supervise;
mod sync;
mod sys;
mod tty;
mod untrusted;

use anyhow::{bail, Context, Result};
use clap::error::ErrorKind;
use error::{escape, Failure, EXIT_SETUP};
use std::io::Write;

// The unwinder from libgcc_eh.a, linked in, instead of loading libgcc_s.so.1 at every start:
// that library's constructor (__cpu_indicator_init) runs a few dozen cpuid instructions, and
// under a hypervisor each one traps. std needs the _Unwind_* symbols only to print backtraces
// (we abort on panic). Rust's own static builds link the unwinder the same way.
#[cfg(all(not(test), target_env = "gnu"))]
#[link(name = "gcc_eh", kind = "static")]
extern "C" {}

#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

/// Called by the C library in place of std's runtime start, which would also install a
/// stack-overflow handler: finding the main thread's stack guard (glibc parses /proc/self/maps,
/// musl probes with mremap), an alternate signal stack and four sigactions on every launch, for
/// a message before an abort. (That no handler exists also keeps the payload's start simple,
/// signals.rs.) What we rely on from it is done by `sys::runtime_start`. The arguments are
/// taken from here: without that start, only glibc fills in std's `env::args`.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    use std::os::unix::ffi::OsStrExt;
    stamps::stamp("main");
    sys::runtime_start();
    let args = (0..usize::try_from(argc).unwrap_or(0))
        // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`.
        .map(|i| unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) })
        .map(|arg| std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned())
        .collect();
    exit_code(args).into()
}

#[cfg_attr(test, allow(dead_code))]
fn exit_code(args: Vec<std::ffi::OsString>) -> u8 {
    if oci::invoked_as_oci(&args) {
        return oci::main(args);
    }
    let code = match run(args) {
        Ok(code) => code,
        Err(err) => {
            let code = err.downcast_ref::<Failure>().map_or(EXIT_SETUP, |f| f.code);
            // eprintln! would panic on a closed stderr.
            let _ = writeln!(std::io::stderr(), "ns-rootless: {}", error::one_line(&err));
            code
        }
    };
    // std's runtime would flush stdout at exit; the C library's exit doesn't know of it.
    let _ = std::io::stdout().flush();
    stamps::stamp("exit");
    code
}

fn run(args: Vec<std::ffi::OsString>) -> Result<u8> {
    let invocation = match cli::parse_invocation(args) {
        Ok(invocation) => invocation,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let what = match e.kind() {
                ErrorKind::DisplayHelp => "writing the help",
                _ => "writing the version",
            };
            e.print().context(what)?;
            return Ok(0);
        }
        Err(e) => bail!("invalid arguments: {} (see --help)", clap_summary(&e)),
    };
    stamps::stamp("parsed");
    let host = host_facts();
    stamps::stamp("host-facts");
    // clone/unshare(CLONE_NEWUSER) and setns fail with EINVAL in a multi-threaded process.
    if !matches!(
        invocation,
        cli::Invocation::Manage(_) | cli::Invocation::Store(_)
    ) {
        if let Some(n) = host.threads.filter(|&n| n != 1) {
            bail!("creating namespaces: this process has {n} threads, and that needs one");
        }
    }
    let code = match invocation {
        cli::Invocation::Run(parsed) => {
            let uid = host.uid;
            let keep = !parsed.cli.rm;
            let log_size = log_size(parsed.cli.log_size.as_deref())?;
            let spec = spec::build(*parsed, host, random_hostname)?;
            stamps::stamp("spec");
            let claim = match &spec.name {
                Some(name) => {
                    let mut claim = state::Claim::take(&state::state_dir(uid)?, name)?;
                    claim.keep = keep;
                    Some(claim)
                }
                None => None,
            };
            // Held until the run ends (see session::InUse, image::Held); -d's supervisor
            // inherits them.
            let _in_use = session::begin(&spec)?;
            let _layers = match &spec.root {
                spec::Root::Image(image) => Some(image.held.clone()),
                _ => None,
            };
            let ending = spec.cow.clone();
            let code = match (spec.detach, claim) {
                (true, Some(claim)) => return detach::run(spec, claim, log_size),
                (_, claim) => parent::run(spec, claim, &mut None),
            };
            session::end(ending.as_ref());
            code?
        }
        cli::Invocation::Exec(exec) => enter::run(exec, host)?,
        cli::Invocation::Manage(action) => manage::run(action, host.uid)?,
        cli::Invocation::Store(action) => image::command::run(action, &host.env)?,
    };
    Ok(code)
}

/// `--log-size`: at least `log::MIN_CAP`.
fn log_size(raw: Option<&std::ffi::OsStr>) -> Result<u64> {
    let Some(raw) = raw else {
        return Ok(log::DEFAULT_CAP);
    };
    let shown = error::quote(raw);
    match spec::mounts::parse_size(raw) {
        Ok(n) if n >= log::MIN_CAP => Ok(n),
        Ok(_) => bail!("invalid --log-size {shown}: it must be at least 4k"),
        Err(e) => bail!("invalid --log-size {shown}: {e}"),
    }
}

/// clap's first paragraph on one line (the message and, e.g., which arguments are missing),
/// without its "error: " prefix, with user text escaped.
fn clap_summary(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let text = paragraph.join(" ");
    let text = text.trim_start_matches("error: ").trim_end_matches(':');
    escape(if text.is_empty() { "bad usage" } else { text }.as_bytes())
}

fn host_facts() -> spec::Host {
    let (uid, euid, gid, egid) = sys::ids();
    // uid 0 is real root only in the initial user namespace (its uid_map is the identity over
    // the whole range); uid 0 inside someone else's namespace (rootless podman) is fine.
    let real_root = euid == 0
        && read_proc("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
            .unwrap_or(true);
    let status = read_proc("/proc/self/status").unwrap_or_default();
    // Capabilities we hold without being root can only come from file capabilities.
    let file_caps = euid != 0
        && status
            .lines()
            .filter_map(|l| l.strip_prefix("CapPrm:"))
            .any(|v| !v.trim().trim_start_matches('0').is_empty());
    let env: Vec<_> = std::env::vars_os().collect();
    spec::Host {
        uid,
        euid,
        gid,
        egid,
        real_root,
        file_caps,
        ignored_signals: sys::ignored_signals_in(&status),
        threads: status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok()),
        stdin_is_terminal: sys::is_terminal(0),
        cwd: std::env::current_dir().ok(),
        private_dirs: private::dirs(uid, &env),
        env,
    }
}

/// A /proc file's text. fs::read_to_string sizes its buffer by the file's size, which /proc
/// gives as 0, then grows it from 32 bytes: eight reads for /proc/self/status instead of two.
fn read_proc(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(4096);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// A short random id like container runtimes use: 12 hex digits.
fn random_hostname() -> Vec<u8> {
    let mut bytes = [0u8; 6];
    if sys::getrandom(&mut bytes).is_err() {
        // Unique enough for a hostname when the kernel has no randomness to give.
        bytes[..4].copy_from_slice(&std::process::id().to_ne_bytes());
    }
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes()
}
