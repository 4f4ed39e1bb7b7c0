//! The network helper's process: our child, tied to our life, ready before the sandbox is
//! released, killed and reaped when the sandbox ends. Its failures become one line of ours.

use crate::error::{escape, strerror};
use crate::sys;
use anyhow::{anyhow, bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a helper may take to connect the namespace (pasta takes ~10 ms here).
const READY_LIMIT: Duration = Duration::from_secs(10);

/// The fd number on which a helper reports that the network is up (pasta's pid file, or
/// slirp4netns's --ready-fd).
pub const READY_FD: RawFd = 3;

/// A running helper; dropping it kills and reaps it.
pub struct Running {
    name: &'static str,
    child: Child,
    pidfd: OwnedFd,
    /// What it wrote on stderr: a memfd, read only to word a failure.
    stderr: File,
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
    let stderr = nix::sys::memfd::memfd_create(
        c"ns-rootless-helper-stderr",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )
    .context("creating a memfd")?;
    let mut cmd = Command::new(program);
    cmd.args(args)
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
    let pidfd = match sys::pidfd_open(child.id() as i32) {
        Ok(fd) => fd,
        Err(e) => {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            bail!("watching {name}: {}", strerror(e));
        }
    };
    let mut running = Running {
        name,
        child,
        pidfd,
        stderr: File::from(stderr),
        _keep: keep,
    };
    running.wait_ready(ready_read)?;
    Ok(running)
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
        let status = self.child.wait();
        let mut text = vec![0u8; 64 * 1024];
        let n = self.stderr.read_at(&mut text, 0).unwrap_or(0);
        text.truncate(n);
        let text = String::from_utf8_lossy(&text);
        // This pasta reports a missing syslog on stderr before each message.
        let said = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("Failed to send"));
        match (said, status) {
            (Some(line), _) => anyhow!("starting {}: {}", self.name, escape(line.as_bytes())),
            (None, Ok(st)) => anyhow!("starting {}: it ended ({st})", self.name),
            (None, Err(e)) => anyhow!("starting {}: {e}", self.name),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Through the pidfd: the pid can't have been reused, we haven't reaped it yet.
        let _ = sys::pidfd_send_signal(self.pidfd.as_raw_fd(), nix::libc::SIGKILL);
        let _ = self.child.wait();
    }
}
