//! What an OCI container's init and process need beyond the native ones: the configured ids,
//! waiting for `start`, rlimits with distinct soft and hard values, and the few host-side calls
//! of the runtime (hooks, waiting for an init to end).

use super::{check, last_errno, SysResult};
use nix::libc::{self, c_int};
use std::ffi::CStr;
use std::os::fd::RawFd;

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

/// The signal `start` sends to a created container's init. A fixed kernel number, not
/// `SIGRTMIN() + n`: glibc's SIGRTMIN is 34 and musl's 35, and the `create` and the `start` of
/// one container may be different builds (the static release binary, a debug build). 38 is a
/// real-time signal neither libc reserves.
pub const START_SIGNAL: c_int = 38;

pub fn start_signal() -> c_int {
    START_SIGNAL
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

/// Lets a hook (a std::process::Command) start with an empty signal mask, not our blocked one,
/// and only fds 0-2: not the ones `--preserve-fds` keeps open for the container, nor any other
/// the caller left without close-on-exec (runc's hooks get only stdio too).
pub fn clean_at_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only sigprocmask and close_range, async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            // Close-on-exec rather than closed: std reports a failed exec through a pipe.
            super::cloexec_from(3).map_err(std::io::Error::from_raw_os_error)
        });
    }
}

/// Runs `path` with `argv`/`envp` as a child, `input` on its stdin, and waits for it: a
/// startContainer hook, run by an OCI container's init after `start`. Syscalls only (init may
/// not allocate). Ok(exit code, or 128+signal).
pub fn run_hook(
    path: &CStr,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    input: &[u8],
    timeout_s: u32,
) -> SysResult<i32> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2 fills our two-int array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)?;
    let (read, write) = (fds[0], fds[1]);
    let pid = match super::fork() {
        Ok(0) => {
            // SAFETY: in the child between fork and execve: dup2, sigprocmask, execve, _exit.
            unsafe {
                libc::dup2(read, 0);
                let empty: libc::sigset_t = std::mem::zeroed();
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            }
            // Only stdio: init keeps the --preserve-fds ones open for the process.
            let _ = super::cloexec_from(3);
            super::execve(path, argv, envp);
            super::exit_now(127)
        }
        Ok(pid) => pid,
        Err(e) => {
            super::close(read);
            super::close(write);
            return Err(e);
        }
    };
    super::close(read);
    // A hook that doesn't read its stdin is fine (SIGPIPE is ignored here: EPIPE).
    let _ = super::write_all(write, input);
    super::close(write);
    // Its timeout (config.md: "the number of seconds before aborting the hook"): polled every
    // 1 ms, then SIGKILL, and the hook has failed (ETIMEDOUT).
    let mut left_ms = u64::from(timeout_s) * 1000;
    loop {
        match super::wait_child(pid, timeout_s > 0) {
            Ok(Some((_, ended))) => return Ok(ended.code()),
            Ok(None) if timeout_s > 0 && left_ms == 0 => {
                // SAFETY: plain syscalls on our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = super::wait_child(pid, false);
                return Err(libc::ETIMEDOUT);
            }
            Ok(None) if timeout_s > 0 => {
                sleep_ms(1);
                left_ms -= 1;
            }
            Ok(None) | Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps `ms` milliseconds (syscalls only; a signal cuts it short).
pub fn sleep_ms(ms: u64) {
    let t = libc::timespec {
        tv_sec: (ms / 1000) as _, // time_t, whose name musl builds deprecate (libc #1848)
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    // SAFETY: nanosleep reads our local timespec.
    unsafe { libc::nanosleep(&t, std::ptr::null_mut()) };
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

/// A new time namespace for the processes this one creates from now on (unshare(2)
/// CLONE_NEWTIME); its offsets go to /proc/self/timens_offsets before the first of them.
pub fn unshare_time() -> SysResult<()> {
    const CLONE_NEWTIME: c_int = 0x80;
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(CLONE_NEWTIME) } as libc::c_long).map(drop)
}

/// A signal taken by sigwaitinfo from `set` and `extra` (all blocked): (number, si_code,
/// si_pid, the value it was queued with). si_pid is 0 when the sender is outside our PID
/// namespace.
pub fn wait_signal_info(
    set: &nix::sys::signal::SigSet,
    extra: c_int,
) -> SysResult<(c_int, c_int, libc::pid_t, c_int)> {
    // SAFETY: a copy of the set, extended; sigwaitinfo fills our local siginfo; its pid and
    // value are read as the union's queued-signal member, which is what the kernel fills for
    // SI_QUEUE (and zero otherwise).
    unsafe {
        let mut raw: libc::sigset_t = *set.as_ref();
        libc::sigaddset(&mut raw, extra);
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let sig = libc::sigwaitinfo(&raw, &mut info);
        if sig < 0 {
            return Err(last_errno());
        }
        Ok((
            sig,
            info.si_code,
            info.si_pid(),
            info.si_value().sival_ptr as usize as c_int,
        ))
    }
}

/// kill(-1, sig): from a PID namespace's init, every other process of that namespace and of
/// those below it (kill(2)).
pub fn kill_all(sig: c_int) -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::kill(-1, sig) } as libc::c_long).map(drop)
}

/// A new cgroup namespace, rooted at the cgroup this process is in now (cgroup_namespaces(7)).
pub fn unshare_cgroup() -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } as libc::c_long).map(drop)
}
