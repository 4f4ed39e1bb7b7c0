//! ns-rootless: run a command in a fresh rootless container.
// Our own C `main` instead of std's runtime start (see `main` below).
#![cfg_attr(not(test), no_main)]

mod arena;
mod cli;
mod detach;
mod doctor;
mod enter;
mod error;
mod explain;
mod host;
mod hostrun;
mod idmap;
mod image;
mod init;
mod landlock;
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
mod profile;
mod result;
mod seccomp;
mod session;
mod signals;
mod spec;
mod stamps;
mod state;
mod supervise;
mod sync;
mod sys;
mod timens;
mod tty;
mod untrusted;
mod xdg;

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
            // Which Landlock ABI a sandbox gets here: a fact of the kernel, asked for in bug
            // reports (crun lists its features the same way).
            if e.kind() == ErrorKind::DisplayVersion {
                writeln!(std::io::stdout(), "{}", landlock::version_line()).context(what)?;
            }
            return Ok(0);
        }
        Err(e) => bail!("invalid arguments: {} (see --help)", clap_summary(&e)),
    };
    stamps::stamp("parsed");
    let host = host::facts(matches!(
        invocation,
        cli::Invocation::Run(_) | cli::Invocation::Explain(_)
    ));
    stamps::stamp("host-facts");
    // clone/unshare(CLONE_NEWUSER) and setns fail with EINVAL in a multi-threaded process.
    if !matches!(
        invocation,
        cli::Invocation::Manage(_) | cli::Invocation::Store(_) | cli::Invocation::Tool(_)
    ) {
        if let Some(n) = host.threads.filter(|&n| n != 1) {
            bail!("creating namespaces: this process has {n} threads, and that needs one");
        }
    }
    let code = match invocation {
        cli::Invocation::Run(parsed) => {
            let parsed = profile::apply(*parsed)?;
            if parsed.cli.daily.json {
                bail!("invalid --json: only `ns-rootless explain` and `ps` take it");
            }
            let uid = host.uid;
            let keep = !parsed.cli.rm;
            let log_size = log_size(parsed.cli.log_size.as_deref())?;
            let spec = spec::validate(parsed.into_input()?, host, random_hostname)?;
            stamps::stamp("spec");
            let claim = match &spec.name {
                Some(name) => {
                    let mut claim = state::Claim::take(&state::state_dir(uid)?, name)?;
                    claim.keep = keep;
                    Some(claim)
                }
                None => None,
            };
            // Held until the run ends (see image::Held); -d's supervisor inherits it.
            let _layers = match &spec.sandbox.root {
                spec::Root::Image(image) => Some(image.held.clone()),
                _ => None,
            };
            let ending = spec.sandbox.cow.clone();
            let code = match (spec.detach, claim) {
                (true, Some(claim)) => return detach::run(spec, claim, log_size),
                (_, claim) => parent::run(spec, claim, &mut None),
            };
            session::end(ending.as_ref());
            code?
        }
        cli::Invocation::Explain(parsed) => {
            let parsed = profile::apply(*parsed)?;
            let json = parsed.cli.daily.json;
            explain::run(
                spec::validate(parsed.into_input()?, host, random_hostname)?,
                json,
            )?
        }
        cli::Invocation::Tool(tool) => tools(tool, host.uid)?,
        cli::Invocation::Exec(exec) => enter::run(exec, host)?,
        cli::Invocation::Manage(action) => manage::run(action, host.uid)?,
        cli::Invocation::Store(action) => image::command::run(action, &host.env)?,
    };
    Ok(code)
}

/// `doctor`, `profiles`, `completions`, `man`: what starts no sandbox.
fn tools(tool: cli::Tool, uid: u32) -> Result<u8> {
    let mut out = std::io::stdout();
    match tool {
        cli::Tool::Doctor => return doctor::run(uid),
        cli::Tool::Profiles => profile::list(&mut out)?,
        cli::Tool::Completions { shell } => {
            let mut cmd = cli::whole_command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "ns-rootless", &mut script);
            out.write_all(&script).context("writing the completions")?;
        }
        cli::Tool::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cli::whole_command())
                .render(&mut page)
                .context("rendering the manual page")?;
            out.write_all(&page).context("writing the manual page")?;
        }
    }
    Ok(0)
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
