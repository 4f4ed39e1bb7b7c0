//! Processes addressed through pidfds (pidfd_open(2)), never through a pid number read in
//! another pid namespace. A pid from clone is a number in *our* pid namespace; `/proc` may
//! belong to another one (run inside `unshare -pf` that kept the host's `/proc`, /proc/2 is
//! kthreadd). A pidfd names one process whatever the namespaces, and its fdinfo says which
//! pid `/proc` gives it (`Pid:`) and which each pid namespace below `/proc`'s does (`NSpid:`).

use crate::sys;
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

pub struct Pidfd(OwnedFd);

/// One line's numbers from `/proc/self/fdinfo/N` or `/proc/self/status` (`Pid:`, `NSpid:`).
fn field(text: &str, name: &str) -> Vec<i32> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| {
            v.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// How many pid namespaces `/proc`'s sees us through: the length of our own `NSpid:`, 1 when
/// `/proc` is our own pid namespace's. Neither changes while we run, so it is read once:
/// from what `host::facts` read of /proc/self/status anyway (`note_status`), else here.
static PROC_DEPTH: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Takes our `NSpid:` depth from /proc/self/status's text (or its `NSpid:` line), read by the
/// caller anyway.
pub fn note_status(status: &str) {
    let _ = PROC_DEPTH.set(depth_in(status));
}

fn depth_in(status: &str) -> Option<usize> {
    Some(field(status, "NSpid:").len()).filter(|&n| n > 0)
}

fn proc_depth() -> Option<usize> {
    *PROC_DEPTH.get_or_init(|| depth_in(&crate::host::read_proc("/proc/self/status").ok()?))
}

impl Pidfd {
    pub fn from_fd(fd: OwnedFd) -> Pidfd {
        Pidfd(fd)
    }

    /// The process that is `pid` in our own pid namespace.
    pub fn open(pid: i32) -> sys::SysResult<Pidfd> {
        if pid <= 0 {
            return Err(libc::ESRCH);
        }
        sys::pidfd_open(pid).map(Pidfd)
    }

    fn fdinfo(&self) -> Option<String> {
        crate::host::read_proc(&format!("/proc/self/fdinfo/{}", self.0.as_raw_fd())).ok()
    }

    /// Its pid in `/proc`'s pid namespace; None once it has been reaped (the kernel says -1)
    /// or when `/proc` can't see it.
    pub fn proc_pid(&self) -> Option<i32> {
        field(&self.fdinfo()?, "Pid:")
            .first()
            .copied()
            .filter(|&p| p > 0)
    }

    /// `proc_pid` of our child `pid` (from clone, a number in our pid namespace): when `/proc`
    /// is our own pid namespace's, that same number, without reading fdinfo.
    pub fn proc_pid_of_child(&self, pid: i32) -> Option<i32> {
        match proc_depth() {
            Some(1) if pid > 0 => Some(pid),
            _ => self.proc_pid(),
        }
    }

    /// Its pid in our own pid namespace: `NSpid:` lists it from `/proc`'s namespace down, and
    /// ours is as many levels below `/proc`'s as our own `NSpid:` is long.
    pub fn our_pid(&self) -> Option<i32> {
        let depth = proc_depth()?;
        field(&self.fdinfo()?, "NSpid:")
            .get(depth.checked_sub(1)?)
            .copied()
            .filter(|&p| p > 0)
    }

    /// Whether it is the init (pid 1) of a PID namespace below ours: `NSpid:` goes deeper than
    /// ours and ends in 1.
    pub fn inits_a_pid_namespace_below_ours(&self) -> bool {
        let Some(depth) = proc_depth() else {
            return false;
        };
        let nspid = self
            .fdinfo()
            .map(|f| field(&f, "NSpid:"))
            .unwrap_or_default();
        nspid.len() > depth && nspid.last() == Some(&1)
    }

    pub fn signal(&self, sig: i32) -> sys::SysResult<()> {
        sys::pidfd_send_signal(self.0.as_raw_fd(), sig)
    }

    /// Whether it has ended (a pidfd polls readable then, zombie or not).
    pub fn has_exited(&self) -> bool {
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }

    /// Its `/proc` directory, checked to be its own: opened by the pid `/proc` gives it, then
    /// the process is seen still running (a pid isn't reused while its process lives).
    pub fn proc_dir(&self) -> Option<OwnedFd> {
        let pid = self.proc_pid()?;
        let dir: OwnedFd = fs::File::open(format!("/proc/{pid}")).ok()?.into();
        (!self.has_exited()).then_some(dir)
    }

    /// Its start time (clock ticks after boot; the same in every pid namespace), while it runs.
    pub fn start_time(&self) -> Option<u64> {
        stat_fields(&self.proc_dir()?).map(|(_, start)| start)
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// The state letter (field 3) and start time (field 22) from the `stat` of a process's
/// `/proc` directory.
pub fn stat_fields(proc_dir: &OwnedFd) -> Option<(char, u64)> {
    let file = nix::fcntl::openat(
        proc_dir,
        "stat",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let stat = crate::untrusted::read_bounded(fs::File::from(file), 4096).ok()?;
    // "PID (COMM) STATE ...": COMM is whatever bytes the process named itself (not UTF-8,
    // with parentheses and spaces too); the fields after its last ')' are ASCII.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_through_a_pidfd() {
        let me = std::process::id() as i32;
        let fd = Pidfd::open(me).unwrap();
        assert_eq!(fd.our_pid(), Some(me));
        assert!(fd.proc_pid().is_some());
        assert!(!fd.has_exited());
        assert!(fd.start_time().is_some());
        assert_eq!(field("Pid:\t12\nNSpid:\t12\t3\n", "NSpid:"), [12, 3]);
    }
}
