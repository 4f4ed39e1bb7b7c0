//! `run -d`: the caller's process (the front) forks the supervisor, which runs the sandbox in a
//! new session with its output in the sandbox's log; the front waits until the command runs,
//! prints the name and returns 0, or prints why it didn't start.

use crate::error::{Failure, EXIT_SETUP};
use crate::parent;
use crate::spec::Spec;
use crate::state::Claim;
use crate::sys;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

pub fn run(spec: Spec, claim: Claim) -> Result<u8> {
    let log = claim.create_log()?;
    let (front_end, supervisor_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let name = spec.name.clone().unwrap_or_default();
    match sys::fork()
        .map_err(|e| anyhow::anyhow!("starting the supervisor: {}", crate::error::strerror(e)))?
    {
        0 => {
            // The supervisor. We are single-threaded, so ordinary Rust is fine after this fork.
            drop(front_end);
            let code = supervise(spec, claim, log, supervisor_end);
            sys::exit_now(code)
        }
        _ => {
            // The front: the claim now belongs to the supervisor, which removes it at the end.
            std::mem::forget(claim);
            drop(supervisor_end);
            wait_for_start(front_end, &name)
        }
    }
}

fn supervise(spec: Spec, claim: Claim, log: std::fs::File, notify: OwnedFd) -> i32 {
    let _ = sys::setsid();
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
    }
    let _ = nix::unistd::dup2_stdout(&log);
    let _ = nix::unistd::dup2_stderr(&log);
    drop(log);
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
