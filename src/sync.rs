//! The handshake between ns-rootless and the sandbox: two O_CLOEXEC pipes.
//!
//! - parent -> init: one byte, MAPPED, once the id maps are written. EOF means the parent died
//!   or gave up: init exits.
//! - init/payload -> parent: fixed-size error records `(stage, step, errno)`. The payload's copy of
//!   the write end closes at a successful execve, so EOF with no record means "running".

use crate::error::Stage;
use crate::sys::{self, Errno};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

pub const MAPPED: u8 = b'M';
/// parent -> OCI init: the prestart and createRuntime hooks have run.
pub const HOOKS_RAN: u8 = b'H';
const RECORD_LEN: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub stage: Stage,
    pub step: u32,
    pub errno: Errno,
}

impl Record {
    fn encode(stage: Stage, step: u32, errno: Errno) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&(stage as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&step.to_ne_bytes());
        b[8..12].copy_from_slice(&errno.to_ne_bytes());
        b
    }

    fn decode(b: &[u8; RECORD_LEN]) -> Option<Record> {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Some(Record {
            stage: Stage::from_u32(u32::from_ne_bytes(word(0)))?,
            step: u32::from_ne_bytes(word(4)),
            errno: i32::from_ne_bytes(word(8)),
        })
    }
}

pub struct Pipes {
    /// parent -> init
    pub go_read: OwnedFd,
    pub go_write: OwnedFd,
    /// init/payload -> parent
    pub report_read: OwnedFd,
    pub report_write: OwnedFd,
}

/// A CLOEXEC pipe for error records: (read end, write end).
pub fn report_pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
}

impl Pipes {
    pub fn new() -> nix::Result<Pipes> {
        let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (report_read, report_write) = report_pipe()?;
        Ok(Pipes {
            go_read,
            go_write,
            report_read,
            report_write,
        })
    }
}

/// Child side: report a failure. A record is smaller than PIPE_BUF, so the write is atomic.
pub fn report(fd: RawFd, stage: Stage, step: u32, errno: Errno) {
    let _ = sys::write_all(fd, &Record::encode(stage, step, errno));
}

/// Parent side: the next record, without waiting for EOF (None at EOF).
pub fn next_record(fd: &OwnedFd) -> Option<Record> {
    let mut buf = [0u8; RECORD_LEN];
    sys::read_exact(fd.as_raw_fd(), &mut buf).ok()?;
    Record::decode(&buf)
}

/// Parent side: reads until EOF (every writer closed or exec'd) and returns the first record.
pub fn first_record(fd: OwnedFd) -> Option<Record> {
    let mut file = std::fs::File::from(fd);
    let mut first = None;
    let mut buf = [0u8; RECORD_LEN];
    while file.read_exact(&mut buf).is_ok() {
        if first.is_none() {
            first = Record::decode(&buf);
        }
    }
    first
}

/// Parent side: receives an fd that init sends over `sock` (SCM_RIGHTS): the pty master, the
/// payload's pidfd. None when init ended without sending it.
pub fn receive_fd(sock: &OwnedFd) -> anyhow::Result<Option<OwnedFd>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // Anything beyond the first fd is not ours to keep.
            let mut fds = fds.into_iter().map(sys::adopt_fd);
            return Ok(fds.next());
        }
    }
    Ok(None)
}

/// Parent side: tell init the maps are in place.
pub fn send_mapped(fd: &OwnedFd) -> Result<(), Errno> {
    sys::write_all(fd.as_raw_fd(), &[MAPPED])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let b = Record::encode(Stage::Step, 7, 13);
        assert_eq!(
            Record::decode(&b),
            Some(Record {
                stage: Stage::Step,
                step: 7,
                errno: 13
            })
        );
    }

    #[test]
    fn the_first_record_wins_and_eof_ends_reading() {
        let pipes = Pipes::new().unwrap();
        report(pipes.report_write.as_raw_fd(), Stage::Exec, 0, 2);
        report(pipes.report_write.as_raw_fd(), Stage::Hostname, 0, 1);
        drop(pipes.report_write);
        let r = first_record(pipes.report_read).unwrap();
        assert_eq!((r.stage, r.errno), (Stage::Exec, 2));
    }

    #[test]
    fn no_record_means_none() {
        let pipes = Pipes::new().unwrap();
        drop(pipes.report_write);
        assert_eq!(first_record(pipes.report_read), None);
    }
}
