//! `run -d`: the caller's process (the front) forks the supervisor, which runs the sandbox in a
//! new session with its output going through a pipe to a logger process that keeps the
//! sandbox's capped log (log.rs); the front waits until the command runs, prints the name and
//! returns 0, or prints why it didn't start.

use crate::error::{Failure, EXIT_SETUP};
use crate::parent;
use crate::spec::Spec;
use crate::state::Claim;
use crate::sys;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

pub fn run(spec: Spec, claim: Claim, log_size: u64) -> Result<u8> {
    let log = claim.create_log()?;
    let output = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let (front_end, supervisor_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let name = spec.name.clone().unwrap_or_default();
    match sys::fork()
        .map_err(|e| anyhow::anyhow!("starting the supervisor: {}", crate::error::strerror(e)))?
    {
        0 => {
            // The supervisor. We are single-threaded, so ordinary Rust is fine after this fork.
            drop(front_end);
            let code = supervise(spec, claim, (log, log_size), output, supervisor_end);
            sys::exit_now(code)
        }
        _ => {
            // The front: the claim now belongs to the supervisor, which removes it at the end.
            std::mem::forget(claim);
            drop((supervisor_end, output));
            wait_for_start(front_end, &name)
        }
    }
}

fn supervise(
    spec: Spec,
    mut claim: Claim,
    (log, log_size): (std::fs::File, u64),
    (output_read, output_write): (OwnedFd, OwnedFd),
    notify: OwnedFd,
) -> i32 {
    let _ = sys::setsid();
    let null = std::fs::File::open("/dev/null");
    if let Ok(null) = &null {
        let _ = nix::unistd::dup2_stdin(null);
    }
    match sys::fork() {
        Ok(0) => {
            // The logger: it must hold no copy of the pipe's write end (it reads until every
            // writer is gone), nor the caller's stdout (a `run -d | cat` would never end), nor
            // the front's pipe (which would never see the end of the message).
            drop((output_write, notify));
            if let Ok(null) = &null {
                let _ = nix::unistd::dup2_stdout(null);
                let _ = nix::unistd::dup2_stderr(null);
            }
            let code = crate::log::keep(output_read, log, &claim.dir, log_size);
            sys::exit_now(code)
        }
        Ok(logger) => {
            claim.before_end = Some(Box::new(move || {
                // The sandbox's processes have all exited with its init; our own copies of
                // the pipe are the last ones.
                if let Ok(null) = std::fs::File::open("/dev/null") {
                    let _ = nix::unistd::dup2_stdout(&null);
                    let _ = nix::unistd::dup2_stderr(&null);
                }
                crate::log::wait_for_logger(logger);
            }));
        }
        // No logger: the output goes to the log uncapped rather than nowhere.
        Err(_) => {
            let _ = nix::unistd::dup2_stdout(&log);
            let _ = nix::unistd::dup2_stderr(&log);
        }
    }
    drop((output_read, log));
    if claim.before_end.is_some() {
        let _ = nix::unistd::dup2_stdout(&output_write);
        let _ = nix::unistd::dup2_stderr(&output_write);
    }
    drop(output_write);
    let mut notify = Some(std::fs::File::from(notify));
    match parent::run(spec, Some(claim), &mut notify) {
        Ok(code) => code as i32,
        Err(err) => {
            let code = err.downcast_ref::<Failure>().map_or(EXIT_SETUP, |f| f.code);
            let text = crate::error::one_line(&err);
            let _ = writeln!(std::io::stderr(), "ns-rootless: {text}");
            // Failed before the command started: the front is still waiting for word.
            if let Some(mut out) = notify.take() {
                use std::io::Write;
                let _ = out.write_all(&[&[code][..], text.as_bytes()].concat());
            }
            code as i32
        }
    }
}

fn wait_for_start(from_supervisor: OwnedFd, name: &str) -> Result<u8> {
    let mut msg = Vec::new();
    let mut f = std::fs::File::from(from_supervisor);
    let _ = f.read_to_end(&mut msg);
    match msg.split_first() {
        Some((0, _)) => {
            // A closed stdout (`run -d ... | true`) is no reason to fail: the sandbox runs.
            let _ = writeln!(std::io::stdout(), "{name}");
            Ok(0)
        }
        Some((&code, text)) => Err(Failure {
            code,
            message: String::from_utf8_lossy(text).into_owned(),
        }
        .into()),
        None => Err(Failure {
            code: EXIT_SETUP,
            message: format!(
                "the sandbox {name:?} ended before its command started; see `ns-rootless logs {name}`"
            ),
        }
        .into()),
    }
}
