//! File descriptors: closing what the payload must not inherit, raw reads and writes.

use super::{check, check_fd, last_errno, SysResult};
use nix::libc::{self, c_int, c_uint, c_void};
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub fn close(fd: RawFd) {
    // SAFETY: closing an fd we own; errors are irrelevant here.
    unsafe { libc::close(fd) };
}

fn close_range(first: c_uint, last: c_uint, flags: c_uint) -> SysResult<()> {
    // SAFETY: close_range only affects this process's fd table.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// Closes every fd >= 3 except `keep` (at most a handful, any order). No allocation.
pub fn close_fds_except(keep: &[RawFd]) -> SysResult<()> {
    close_range_except(3, keep, 0)
}

/// Closes every fd >= `first` except `keep` (an OCI process keeps 3..first: --preserve-fds).
pub fn close_fds_from_except(first: c_uint, keep: &[RawFd]) -> SysResult<()> {
    close_range_except(first, keep, 0)
}

/// Marks every fd >= 3 except `keep` close-on-exec. No allocation: for a child between fork
/// and exec, whose exec std reports through a close-on-exec pipe that must stay open.
pub fn cloexec_except(keep: &[RawFd]) -> SysResult<()> {
    close_range_except(3, keep, libc::CLOSE_RANGE_CLOEXEC as c_uint)
}

fn close_range_except(first: c_uint, keep: &[RawFd], flags: c_uint) -> SysResult<()> {
    let mut next: c_uint = first;
    loop {
        // The smallest kept fd at or above `next`, if any (a negative one is no fd).
        let mut stop: Option<c_uint> = None;
        for &fd in keep.iter().filter(|&&fd| fd >= 0) {
            let fd = fd as c_uint;
            if fd >= next && stop.is_none_or(|s| fd < s) {
                stop = Some(fd);
            }
        }
        match stop {
            Some(s) => {
                if s > next {
                    close_range(next, s - 1, flags)?;
                }
                next = s + 1;
            }
            None => return close_range(next, c_uint::MAX, flags),
        }
    }
}

/// Marks every fd >= `first` close-on-exec: what the payload inherits is 0, 1, 2 only, plus an
/// OCI container's --preserve-fds (CVE-2024-21626 was a leaked directory fd).
pub fn cloexec_from(first: c_uint) -> SysResult<()> {
    close_range(first, c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as c_uint)
}

/// Takes ownership of an fd the kernel just gave us outside std (SCM_RIGHTS).
pub fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: a freshly received fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Fd 0, 1 or 2: open for the life of the process.
pub fn stdio(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    debug_assert!((0..3).contains(&fd));
    // SAFETY: the standard fds stay open for the life of the process.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Borrows an fd that the caller keeps open for the borrow's duration (the relay's fds).
pub fn borrow<'a>(fd: RawFd) -> std::os::fd::BorrowedFd<'a> {
    // SAFETY: callers pass fds 0-1 or an OwnedFd they hold across the call.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

pub fn read_byte(fd: RawFd) -> SysResult<Option<u8>> {
    let mut b = 0u8;
    loop {
        // SAFETY: reading one byte into a stack variable.
        let n = unsafe { libc::read(fd, &mut b as *mut u8 as *mut c_void, 1) };
        match n {
            1 => return Ok(Some(b)),
            0 => return Ok(None),
            _ if last_errno() == libc::EINTR => continue,
            _ => return Err(last_errno()),
        }
    }
}

pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const c_void, buf.len()) };
        if n < 0 {
            if last_errno() == libc::EINTR {
                continue;
            }
            return Err(last_errno());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// open + one write + close: how /proc files like uid_map want to be written.
pub fn write_file(path: &CStr, data: &[u8]) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    let fd = check_fd(
        unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) } as libc::c_long,
    )?;
    use std::os::fd::AsRawFd;
    write_all(fd.as_raw_fd(), data)
}

/// Takes ownership of an fd number the caller handed us (`--seccomp-fd`), once fcntl says it
/// is open.
pub fn adopt_user_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: the fd number comes from the user; fcntl checks it is open before we own it.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: checked open above; nothing else in this process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_nonblocking(fd: RawFd) -> SysResult<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL) as libc::c_long)? as c_int;
        check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) as libc::c_long).map(drop)
    }
}

/// Opens the directory `path` and puts it at fd `at` (dup3, replacing what was there).
pub fn open_dir_as(path: &CStr, at: RawFd) -> SysResult<()> {
    // SAFETY: valid C string; the fds are ours.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(super::last_errno());
        }
        if fd == at {
            return Ok(());
        }
        let r = libc::dup3(fd, at, libc::O_CLOEXEC);
        let e = super::last_errno();
        libc::close(fd);
        if r < 0 {
            return Err(e);
        }
    }
    Ok(())
}

/// A close-on-exec duplicate of `fd` numbered `lowest` or above (fcntl(2) F_DUPFD_CLOEXEC):
/// kept clear of fds that are passed on by number (an OCI process's --preserve-fds).
pub fn dup_at_least(fd: RawFd, lowest: RawFd) -> SysResult<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd that nothing else owns.
    check_fd(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, lowest) } as libc::c_long)
}

/// Reads exactly `buf.len()` bytes (EOF early: EPIPE).
pub fn read_exact(fd: RawFd, buf: &mut [u8]) -> SysResult<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: reading into the unfilled part of `buf`.
        let n = unsafe {
            libc::read(
                fd,
                buf[done..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - done,
            )
        };
        match n {
            0 => return Err(libc::EPIPE),
            n if n > 0 => done += n as usize,
            _ if last_errno() == libc::EINTR => {}
            _ => return Err(last_errno()),
        }
    }
    Ok(())
}
