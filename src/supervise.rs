//! ns-rootless's side while the sandbox runs: one poll loop over a signalfd (the handled
//! signals are blocked since before clone), the terminal relay when there is one, and the
//! `--timeout` deadline. Ends when init has exited and the relay has passed everything on.

use crate::pidfd::Pidfd;
use crate::signals;
use crate::tty::{End, Relay};
use anyhow::{Context, Result};
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// How long `--timeout` waits after SIGTERM before SIGKILL.
const TIMEOUT_GRACE: Duration = Duration::from_secs(5);
/// Once init is gone, how long the relay may take to pass on the pty's last output.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

pub struct Outcome {
    /// init's status as an exit code: the payload's code, or 128+signal.
    pub status: u8,
    /// The signal that killed init itself (not the payload's: init exits).
    pub signal: Option<u8>,
    pub timed_out: bool,
}

/// `init` is our child (reaped by its pid, which is ours to wait for); it is signalled through
/// its pidfd.
pub fn supervise(
    init: Pid,
    pidfd: &Pidfd,
    timeout: Option<Duration>,
    mut relay: Option<Relay>,
) -> Result<Outcome> {
    let signals = SignalFd::with_flags(
        &signals::handled(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .context("watching signals")?;
    let mut deadline = timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    let mut status: Option<crate::sys::Ended> = None;
    loop {
        if let Some(ended) = status {
            if relay.as_ref().is_none_or(Relay::finished) {
                return Ok(Outcome::of(ended, timed_out));
            }
        }
        let wait = match deadline {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let signal_ready;
        let mut relay_ready = Vec::new();
        {
            let (ends, relay_fds): (Vec<End>, Vec<PollFd>) = relay
                .as_ref()
                .map(Relay::poll_fds)
                .unwrap_or_default()
                .into_iter()
                .unzip();
            let mut fds = vec![PollFd::new(
                std::os::fd::AsFd::as_fd(&signals),
                PollFlags::POLLIN,
            )];
            fds.extend(relay_fds);
            match poll(&mut fds, wait) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("waiting for the sandbox"),
            }
            let revents = |fd: &PollFd| fd.revents().unwrap_or(PollFlags::empty());
            signal_ready = revents(&fds[0]);
            for (end, fd) in ends.into_iter().zip(&fds[1..]) {
                relay_ready.push((end, revents(fd)));
            }
        }
        if signal_ready.contains(PollFlags::POLLIN) {
            while let Ok(Some(info)) = signals.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match sig {
                    Signal::SIGCHLD => {
                        if let Some(ended) = reaped(init) {
                            status = Some(ended);
                            // The pty may still hold output; give it a moment, not forever.
                            deadline = Some(Instant::now() + DRAIN_LIMIT);
                        }
                    }
                    // With a pty, the kernel tells the payload about size changes itself.
                    Signal::SIGWINCH if relay.is_some() => {
                        if let Some(r) = &relay {
                            r.resize();
                        }
                    }
                    sig => {
                        let _ = pidfd.signal(sig as i32);
                    }
                }
            }
        }
        if let Some(r) = &mut relay {
            r.handle(&relay_ready);
        }
        if deadline.is_some_and(|at| Instant::now() >= at) {
            if let Some(ended) = status {
                return Ok(Outcome::of(ended, timed_out));
            }
            // --timeout: TERM first (init forwards it), then KILL for everything.
            if timed_out {
                let _ = pidfd.signal(libc::SIGKILL);
                deadline = None;
            } else {
                timed_out = true;
                let _ = pidfd.signal(libc::SIGTERM);
                deadline = Some(Instant::now() + TIMEOUT_GRACE);
            }
        }
    }
}

fn reaped(init: Pid) -> Option<crate::sys::Ended> {
    match crate::sys::wait_child(init.as_raw(), true) {
        Ok(Some((_, ended))) => Some(ended),
        _ => None,
    }
}

impl Outcome {
    fn of(init: crate::sys::Ended, timed_out: bool) -> Outcome {
        Outcome {
            status: init.code() as u8,
            signal: init.signal().map(|s| s as u8),
            timed_out,
        }
    }
}
