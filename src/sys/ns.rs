//! Namespaces, pidfds, hostname, sessions and the loopback interface.

use super::{check, check_fd, SysResult};
use nix::libc::{self, c_char, c_int, c_uint, c_void};
use std::os::fd::{OwnedFd, RawFd};

/// Joins the namespace `fd` refers to (setns(2)).
pub fn setns(fd: RawFd, nstype: c_int) -> SysResult<()> {
    // SAFETY: plain syscall on an fd we own.
    check(unsafe { libc::setns(fd, nstype) } as libc::c_long).map(drop)
}

/// The parent of the user namespace `fd` (ioctl_ns(2), NS_GET_PARENT).
pub fn parent_namespace(fd: RawFd) -> SysResult<OwnedFd> {
    const NS_GET_PARENT: libc::c_ulong = 0xb702;
    // SAFETY: ioctl on a namespace fd; returns a new fd.
    check_fd(unsafe { libc::ioctl(fd, NS_GET_PARENT as _) } as libc::c_long)
}

/// A pidfd for `pid`: a handle that can't be confused with a later process reusing the pid.
pub fn pidfd_open(pid: libc::pid_t) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall; returns a new fd.
    check_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as c_uint) })
}

pub fn pidfd_send_signal(pidfd: RawFd, sig: c_int) -> SysResult<()> {
    // SAFETY: plain syscall; no siginfo.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0 as c_uint,
        )
    })
    .map(drop)
}

pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: pointer and length of a valid slice.
    check(unsafe { libc::sethostname(name.as_ptr() as *const c_char, name.len()) } as libc::c_long)
        .map(drop)
}

pub fn setdomainname(name: &[u8]) -> SysResult<()> {
    // SAFETY: pointer and length of a valid slice.
    check(
        unsafe { libc::setdomainname(name.as_ptr() as *const c_char, name.len()) } as libc::c_long,
    )
    .map(drop)
}

/// The current umask (reading it means setting it: set it straight back).
pub fn current_umask() -> u32 {
    let mask = umask(0);
    umask(mask);
    mask
}

pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask never fails.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

pub fn setsid() -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setsid() } as libc::c_long).map(drop)
}

/// setpgid(0, 0): a process group of our own, in the session we are in.
pub fn setpgid_self() -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setpgid(0, 0) } as libc::c_long).map(drop)
}

/// Ask the kernel to SIGKILL us when the thread that created us dies.
pub fn kill_me_with_parent() -> SysResult<()> {
    // SAFETY: plain prctl.
    check(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) }
            as libc::c_long,
    )
    .map(drop)
}

/// Brings `lo` up in the current network namespace (SIOCGIFFLAGS/SIOCSIFFLAGS, netdevice(7)).
pub fn loopback_up() -> SysResult<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: socket() returns a new fd or -1.
    let sock =
        check_fd(
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }
                as libc::c_long,
        )?;
    // SAFETY: ifreq is plain old data; the name fits with its NUL.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as c_char;
    }
    // SAFETY: ioctls on our socket with a valid ifreq.
    unsafe {
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) as libc::c_long)?;
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &ifr) as libc::c_long)?;
    }
    Ok(())
}

pub fn getrandom(buf: &mut [u8]) -> SysResult<()> {
    // SAFETY: writing into a valid slice.
    let n = check(
        unsafe { libc::getrandom(buf.as_mut_ptr() as *mut c_void, buf.len(), 0) } as libc::c_long,
    )?;
    if n as usize == buf.len() {
        Ok(())
    } else {
        Err(libc::EIO)
    }
}

/// The value a queued signal carries to an OCI init to mean "send signal N to every process of
/// your PID namespace" (`kill --all`): N in the low byte.
pub const SIGNAL_ALL: c_int = 0x616c_6c00;

/// Queues `sig` to the process of `pidfd` with `value` (SI_QUEUE, as sigqueue(3) does).
pub fn pidfd_queue_signal(pidfd: RawFd, sig: c_int, value: c_int) -> SysResult<()> {
    // siginfo_t's layout for SI_QUEUE (signo, errno, code, then the union: pid, uid, sigval),
    // padded to its 128 bytes; libc's type keeps those fields private.
    #[repr(C)]
    struct Queued {
        signo: c_int,
        errno: c_int,
        code: c_int,
        pad: c_int,
        pid: libc::pid_t,
        uid: libc::uid_t,
        value: usize,
        rest: [u8; 96],
    }
    let mut info = Queued {
        signo: sig,
        errno: 0,
        code: libc::SI_QUEUE,
        pad: 0,
        pid: 0,
        uid: 0,
        value: value as usize,
        rest: [0; 96],
    };
    // SAFETY: plain syscalls; `info` is a 128-byte siginfo the kernel only reads.
    unsafe {
        info.pid = libc::getpid();
        info.uid = libc::getuid();
        check(libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            &info as *const Queued,
            0 as c_uint,
        ))
    }
    .map(drop)
}

/// A new time namespace for the processes this one creates from now on (unshare(2)
/// CLONE_NEWTIME); its offsets go to /proc/self/timens_offsets before the first of them.
pub fn unshare_time() -> SysResult<()> {
    const CLONE_NEWTIME: c_int = 0x80;
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(CLONE_NEWTIME) } as libc::c_long).map(drop)
}

/// A new cgroup namespace, rooted at the cgroup this process is in now (cgroup_namespaces(7)).
pub fn unshare_cgroup() -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } as libc::c_long).map(drop)
}

/// Waits up to `timeout_ms` for the process behind `pidfd` to end (its pidfd turns readable).
pub fn wait_pidfd(pidfd: RawFd, timeout_ms: c_int) -> SysResult<bool> {
    let mut pfd = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = check(unsafe { libc::poll(&mut pfd, 1, timeout_ms) } as libc::c_long)?;
    Ok(n > 0)
}
