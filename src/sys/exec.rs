//! Other programs: execvp's verdict without running one, and the hooks an OCI runtime runs as
//! its children and waits for.

use super::{check, last_errno, SysResult};
use nix::libc::{self, c_int};
use std::ffi::CStr;

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
