//! Ptys and passing their fds around.

use super::{check, check_fd, SysResult};
use nix::libc::{self, c_int, c_void};
use std::os::fd::{OwnedFd, RawFd};

/// Opens a new pty in the devpts mounted at /dev/pts (ours, after pivot_root), with the
/// caller's terminal settings and window size. Returns (master, slave), neither a controlling
/// terminal of ours.
pub fn open_pty(
    termios: Option<&libc::termios>,
    winsize: &libc::winsize,
) -> SysResult<(OwnedFd, OwnedFd)> {
    use std::os::fd::AsRawFd;
    // The devpts's own ptmx, not the /dev/ptmx symlink to it: `exec` opens it in a running
    // sandbox, whose command may have replaced that symlink (/dev is its to write), but can't
    // move or unmount /dev/pts.
    // SAFETY: constant path; returns a new fd.
    let master = check_fd(unsafe {
        libc::open(
            c"/dev/pts/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    } as libc::c_long)?;
    let unlock: c_int = 0;
    // SAFETY: ioctls on our pty master with valid argument pointers.
    unsafe {
        check(libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) as libc::c_long)?;
        let slave = check_fd(libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ) as libc::c_long)?;
        if let Some(t) = termios {
            check(libc::ioctl(slave.as_raw_fd(), libc::TCSETS, t) as libc::c_long)?;
        }
        check(libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, winsize) as libc::c_long)?;
        Ok((master, slave))
    }
}

/// Makes `slave` our controlling terminal and our stdin, stdout and stderr (we must be a
/// session leader without one: call after setsid).
pub fn take_terminal(slave: RawFd) -> SysResult<()> {
    // SAFETY: ioctl and dup2 on fds we own.
    unsafe {
        check(libc::ioctl(slave, libc::TIOCSCTTY, 0) as libc::c_long)?;
        for fd in 0..3 {
            check(libc::dup2(slave, fd) as libc::c_long)?;
        }
    }
    Ok(())
}

/// Sends `fd` over the unix socket `sock` (SCM_RIGHTS), with a stack buffer: no allocation.
pub fn send_fd(sock: RawFd, fd: RawFd) -> SysResult<()> {
    send_fd_with(sock, fd, &[0])
}

/// Sends `fd` over `sock` with `payload` as the data (a console socket wants exactly one fd
/// and a non-empty message).
pub fn send_fd_with(sock: RawFd, fd: RawFd, payload: &[u8]) -> SysResult<()> {
    #[repr(C, align(8))]
    struct ControlBuf([u8; 64]);
    let mut control = ControlBuf([0; 64]);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr/cmsghdr built in place over buffers that outlive sendmsg; CMSG_SPACE of one
    // int fits in 64 bytes; the kernel only reads the payload.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut c_int, fd);
        check(libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) as libc::c_long).map(drop)
    }
}

/// The window size of the terminal at `fd`.
pub fn window_size(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: TIOCGWINSZ into a zeroed winsize.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some(ws)
}

pub fn set_window_size(fd: RawFd, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ from a valid winsize; failure (a closed pty) is harmless.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, ws) };
}

pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}
