//! What an OCI container's process needs beyond the native payload: its ids and capability
//! sets from config.json, waiting for `start`, fds kept open, a mount clone that may be
//! non-recursive, and the few host-side calls of the runtime (hooks, console socket).

use super::{check, check_fd, last_errno, SysResult};
use nix::libc::{self, c_int, c_uint, c_void};
use std::ffi::CStr;
use std::os::fd::{OwnedFd, RawFd};

/// Empties the bounding set except `keep` (needs CAP_SETPCAP, which init's own user namespace
/// gives us).
pub fn limit_bounding_set(keep: u64) -> SysResult<()> {
    for cap in 0..64u32 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: plain prctl; EINVAL past the kernel's last capability ends the loop.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } < 0 {
            match last_errno() {
                libc::EINVAL => break,
                e => return Err(e),
            }
        }
    }
    Ok(())
}

/// Becomes `uid`/`gid` with supplementary `groups` (set only when `set_groups`: a namespace
/// whose setgroups is "deny" refuses even an empty list), keeping the permitted capabilities
/// across the uid change (PR_SET_KEEPCAPS) so `set_capabilities` can choose them after.
pub fn become_ids(uid: u32, gid: u32, groups: &[libc::gid_t], set_groups: bool) -> SysResult<()> {
    // SAFETY: plain syscalls with valid pointers.
    unsafe {
        check(libc::prctl(libc::PR_SET_KEEPCAPS, 1 as libc::c_ulong, 0, 0, 0) as libc::c_long)?;
        if set_groups {
            check(libc::syscall(
                libc::SYS_setgroups,
                groups.len(),
                groups.as_ptr(),
            ))?;
        }
        check(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        check(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
        check(libc::prctl(libc::PR_SET_KEEPCAPS, 0 as libc::c_ulong, 0, 0, 0) as libc::c_long)?;
    }
    Ok(())
}

/// Sets the effective, permitted and inheritable sets, then raises each `ambient` capability.
pub fn set_capabilities(
    effective: u64,
    permitted: u64,
    inheritable: u64,
    ambient: u64,
) -> SysResult<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let half = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
    let data = [false, true].map(|hi| Data {
        effective: half(effective, hi),
        permitted: half(permitted, hi),
        inheritable: half(inheritable, hi),
    });
    // SAFETY: version-3 header with two data structs, as capset(2) expects.
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) })?;
    for cap in 0..64u32 {
        if ambient & (1 << cap) != 0 {
            // SAFETY: plain prctl.
            check(unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            } as libc::c_long)?;
        }
    }
    Ok(())
}

/// Blocks `sig` in this process (and the children it creates from now on).
pub fn block_signal(sig: c_int) {
    // SAFETY: sigset operations on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for `start` (or one of `stop`, the signals that end a created container instead);
/// returns which came. All of them must be blocked since before the process was created: the
/// kernel discards a signal sent to a PID namespace's init from outside while it has no handler
/// and doesn't block it. No fd is held while waiting: `start` reaches us through a pidfd.
pub fn wait_for_signal(start: c_int, stop: &[c_int]) -> c_int {
    // SAFETY: sigset operations on a local set; sigwaitinfo with no info buffer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, start);
        for &s in stop {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let sig = libc::sigwaitinfo(&set, std::ptr::null_mut());
            if sig > 0 {
                return sig;
            }
        }
    }
}

/// The signal `start` sends to a created container's init.
pub fn start_signal() -> c_int {
    libc::SIGRTMIN() + 3
}

/// execvp's verdict on `candidates` without running any: Ok when one is a regular file with an
/// execute bit; else ENOENT, or EACCES when one exists but can't be run. Lets `create` fail with
/// runc's words instead of a container that dies at `start`.
pub fn find_executable(candidates: &[std::ffi::CString]) -> SysResult<()> {
    let mut denied = false;
    for path in candidates {
        // SAFETY: stat into a zeroed buffer on our stack.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::stat(path.as_ptr(), &mut st) } < 0 {
            denied |= last_errno() == libc::EACCES;
            continue;
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0 {
            return Ok(());
        }
        denied = true;
    }
    Err(if denied { libc::EACCES } else { libc::ENOENT })
}

/// A detached copy of the mount at `path` (absolute, no symlink in it), with its submounts
/// only when `recursive` (OCI `rbind` against `bind`).
pub fn clone_path(path: &CStr, recursive: bool) -> SysResult<OwnedFd> {
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    const OPEN_TREE_CLONE: c_uint = 1;
    let how = super::paths::OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: `how` is a valid open_how of the size we pass.
    let fd = check_fd(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const super::paths::OpenHow,
            std::mem::size_of::<super::paths::OpenHow>(),
        )
    })?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as c_uint | libc::AT_EMPTY_PATH as c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as c_uint;
    }
    // SAFETY: valid fd and empty C string.
    check_fd(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            c"".as_ptr(),
            flags,
        )
    })
}

/// Whether the fd is a directory.
pub fn is_dir(fd: RawFd) -> SysResult<bool> {
    // SAFETY: fstat into a zeroed stat buffer on the stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd, &mut st) } as libc::c_long)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Writes `data` to the file at `path` (a sysctl, oom_score_adj), no allocation.
pub fn write_path(path: &CStr, data: &[u8]) -> SysResult<()> {
    // SAFETY: valid C string; returns a new fd we own.
    let fd = check_fd(
        unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) } as libc::c_long,
    )?;
    super::write_all(std::os::fd::AsRawFd::as_raw_fd(&fd), data)
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

/// Lets a hook (a std::process::Command) start with an empty signal mask, not our blocked one.
pub fn clear_sigmask_at_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only sigprocmask, async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// setrlimit(2) with distinct soft and hard values (`resource` a RLIMIT_* number).
pub fn set_rlimit(resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: valid rlimit pointer.
    check(unsafe { libc::setrlimit(resource as _, &lim) } as libc::c_long).map(drop)
}
