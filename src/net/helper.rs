//! The network helper's process: our child, tied to our life, ready before the sandbox is
//! released, killed and reaped when the sandbox ends. Its failures become one line of ours.
//!
//! It leads a process group of its own, and the group is what we kill: a `pasta` that is a
//! wrapper forking the real one leaves nothing behind when the sandbox ends. (PR_SET_PDEATHSIG
//! reaches only the helper itself: when ns-rootless is SIGKILLed, such a wrapper's children are
//! beyond our reach; the real pasta and slirp4netns don't fork.)

use crate::error::{escape, strerror};
use crate::pidfd::Pidfd;
use crate::sys;
use anyhow::{anyhow, bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a helper may take to connect the namespace (pasta takes ~10 ms here).
const READY_LIMIT: Duration = Duration::from_secs(10);

/// How much of the helper's stderr is kept: its first 64 KiB, the size its memfd is sealed at
/// (F_SEAL_GROW: a write past it fails, so a chatty helper can't fill our memory; pasta and
/// slirp4netns ignore a failed write to stderr).
const STDERR_KEPT: u64 = 64 * 1024;

/// The fd number on which a helper reports that the network is up (pasta's pid file, or
/// slirp4netns's --ready-fd).
pub const READY_FD: RawFd = 3;

/// A running helper; dropping it kills and reaps it.
pub struct Running {
    name: &'static str,
    child: Child,
    pidfd: Pidfd,
    /// What it wrote on stderr: a memfd of `STDERR_KEPT` bytes, read only to word a failure.
    stderr: File,
    /// It said the network is up: its end from now on is news.
    up: bool,
    /// Reaped already (it failed to start): its pid may be another's now.
    reaped: bool,
    /// Kept open for as long as the helper should live (slirp4netns's --exit-fd).
    _keep: Vec<OwnedFd>,
}

/// Starts `program` with `args`; it gets the write end of a pipe as [`READY_FD`] plus `extra`
/// (ours, its number), and must write to the pipe once the namespace is connected.
pub fn start(
    name: &'static str,
    program: &Path,
    args: &[String],
    extra: &[(RawFd, RawFd)],
    keep: Vec<OwnedFd>,
) -> Result<Running> {
    let (ready_read, ready_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let stderr = capped_memfd().context("creating a memfd for the helper's stderr")?;
    let mut cmd = Command::new(program);
    cmd.process_group(0)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            stderr.try_clone().context("duplicating a memfd")?,
        ));
    let mut fds = vec![(ready_write.as_raw_fd(), READY_FD)];
    fds.extend_from_slice(extra);
    let moved =
        sys::tie_to_us(&mut cmd, &fds).map_err(|e| anyhow!("starting {name}: {}", strerror(e)))?;
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {name} ({})", crate::error::quote(program)))?;
    drop((moved, ready_write, cmd));
    let pidfd = match Pidfd::open(child.id() as i32) {
        Ok(fd) => fd,
        Err(e) => {
            let mut child = child;
            kill_group(&child);
            let _ = child.wait();
            bail!("watching {name}: {}", strerror(e));
        }
    };
    let mut running = Running {
        name,
        child,
        pidfd,
        stderr,
        up: false,
        reaped: false,
        _keep: keep,
    };
    running.wait_ready(ready_read)?;
    running.up = true;
    Ok(running)
}

/// A memfd that can't grow past `STDERR_KEPT` bytes.
fn capped_memfd() -> std::io::Result<File> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let file = File::from(memfd_create(
        c"ns-rootless-helper-stderr",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?);
    file.set_len(STDERR_KEPT)?;
    fcntl(&file, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_GROW))?;
    Ok(file)
}

/// SIGKILL to the helper's process group (its pid: it leads one), before it is reaped, while
/// the number can't have been reused.
fn kill_group(child: &Child) {
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
}

impl Running {
    /// Waits until the helper writes on the ready pipe; EOF there means it ended.
    fn wait_ready(&mut self, ready: OwnedFd) -> Result<()> {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "starting {}: the network was not up after {} s",
                    self.name,
                    READY_LIMIT.as_secs()
                );
            }
            let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                .unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, ms) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e).context("waiting for the network helper"),
            }
            let mut byte = [0u8; 64];
            match nix::unistd::read(&ready, &mut byte) {
                Ok(0) => return Err(self.failure()),
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                Err(e) => return Err(e).context("waiting for the network helper"),
            }
        }
    }

    /// The helper ended before the network was up: its own last words, or its status.
    fn failure(&mut self) -> anyhow::Error {
        kill_group(&self.child);
        let status = self.child.wait();
        self.reaped = true;
        anyhow!("starting {}: {}", self.name, self.last_words(status))
    }

    /// Its last line on stderr, else how it ended.
    fn last_words(&self, status: std::io::Result<std::process::ExitStatus>) -> String {
        let mut text = vec![0u8; STDERR_KEPT as usize];
        let n = self.stderr.read_at(&mut text, 0).unwrap_or(0);
        // The memfd is as long as the cap: what was written ends at the first NUL.
        text.truncate(text[..n].iter().position(|&b| b == 0).unwrap_or(n));
        let text = String::from_utf8_lossy(&text);
        // This pasta reports a missing syslog on stderr before each message.
        let said = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("Failed to send"));
        match (said, status) {
            (Some(line), _) => escape(line.as_bytes()),
            (None, Ok(st)) => format!("it ended ({st})"),
            (None, Err(e)) => e.to_string(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // Ended on its own while the sandbox ran: the sandbox lost its network then. (A helper
        // that notices the namespace is gone exits 0: that is no news.) Noticed only now, as
        // the run ends: our supervisor watches init alone.
        let ended = self.up && self.pidfd.has_exited();
        // Before reaping it: the group's number (its pid) can't have been reused.
        kill_group(&self.child);
        let status = self.child.wait();
        if ended && !status.as_ref().is_ok_and(|s| s.success()) {
            let words = self.last_words(status);
            let _ = writeln!(
                std::io::stderr(),
                "ns-rootless: {} ended while the sandbox ran ({words}): its network was gone from then on",
                self.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stderr_memfd_keeps_only_its_first_64_kib() {
        let mut file = capped_memfd().unwrap();
        let chunk = [b'x'; 4096];
        let mut written = 0;
        while let Ok(n) = file.write(&chunk) {
            written += n;
            assert!(written <= STDERR_KEPT as usize);
        }
        assert_eq!(written, STDERR_KEPT as usize);
        assert_eq!(file.metadata().unwrap().len(), STDERR_KEPT);
    }
}
