//! The exec fifo: how `start` (and `exec`) learn what the container's init did with the start
//! signal, through a channel the container can neither reach nor forge (runc's exec.fifo, used
//! the other way round). `create` makes a FIFO in the container's state directory (0700, the
//! caller's) and gives init its only write end, close-on-exec. Init closes it once the
//! process has exec'd (readers see EOF), or writes one byte when a startContainer hook failed
//! and exits. Init ending any other way closes it too: EOF with init gone. A name the process
//! gives itself (comm) means nothing here.

use crate::error::{quote, strerror};
use crate::pidfd::Pidfd;
use anyhow::{anyhow, Result};
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NAME: &str = "exec.fifo";

/// What init writes when a startContainer hook failed.
pub const HOOK_FAILED: u8 = b'h';

/// How waiting for the container's process went.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    /// Its process has exec'd.
    Running,
    /// A startContainer hook failed: init has ended, or is ending.
    HookFailed,
    /// Init has ended without saying anything (the process may have run and ended already).
    Ended,
    /// Still not exec'd at the deadline (an execve stuck on a hung filesystem).
    Waiting,
}

/// `create`: makes the fifo in `dir` and returns init's write end, numbered `lowest` or above
/// (below are the fds passed on to the process by number).
pub fn make(dir: &Path, lowest: RawFd) -> Result<OwnedFd> {
    let path = dir.join(NAME);
    let failed = |e: nix::Error| anyhow!("creating {}: {}", quote(&path), strerror(e as i32));
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).map_err(failed)?;
    // A writer can only open without blocking while a reader exists: ours, for a moment.
    let flags = OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let read = open(&path, OFlag::O_RDONLY | flags, Mode::empty()).map_err(failed)?;
    let write = open(&path, OFlag::O_WRONLY | flags, Mode::empty()).map_err(failed)?;
    drop(read);
    crate::sys::dup_at_least(write.as_raw_fd(), lowest)
        .map_err(|e| anyhow!("creating {}: {}", quote(&path), strerror(e)))
}

/// A read end, opened before init is signalled (the byte of a failed hook lives only as long
/// as someone holds the fifo open).
pub struct Reader {
    fd: OwnedFd,
    path: PathBuf,
}

impl Reader {
    pub fn open(dir: &Path) -> Result<Reader> {
        let path = dir.join(NAME);
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = open(&path, flags, Mode::empty())
            .map_err(|e| anyhow!("opening {}: {}", quote(&path), strerror(e as i32)))?;
        let is_fifo = nix::sys::stat::fstat(&fd)
            .is_ok_and(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFIFO);
        if !is_fifo {
            anyhow::bail!("opening {}: not a fifo", quote(&path));
        }
        Ok(Reader { fd, path })
    }

    /// Until init has let the process exec (EOF), said a hook failed (a byte), or ended;
    /// `limit` is a hang guard. The byte is put back for any other reader (`start` and `exec`
    /// may wait at once).
    pub fn wait(&self, init: &Pidfd, limit: Option<Duration>) -> Started {
        let deadline = limit.map(|l| Instant::now() + l);
        loop {
            let mut byte = [0u8; 1];
            match nix::unistd::read(&self.fd, &mut byte) {
                Ok(0) if init.has_exited() => return Started::Ended,
                Ok(0) => return Started::Running,
                Ok(_) => {
                    self.put_back(byte[0]);
                    return Started::HookFailed;
                }
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
                Err(_) => return Started::Ended,
            }
            // A writer was there at the read: from now on its going away wakes poll (POLLHUP).
            let left = match deadline {
                None => PollTimeout::NONE,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                        .unwrap_or(PollTimeout::MAX),
                    None => return Started::Waiting,
                },
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, left);
        }
    }

    fn put_back(&self, byte: u8) {
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        if let Ok(w) = open(&self.path, flags, Mode::empty()) {
            let _ = nix::unistd::write(&w, &[byte]);
        }
    }
}
