//! Kernel feature probes for `doctor`: syscalls that create nothing that outlives them.

use super::{last_errno, SysResult};
use nix::libc;

/// Whether a process of ours may unshare `flags` (e.g. CLONE_NEWUSER): tried in a forked child,
/// so this process's namespaces never change. Only called single-threaded (`doctor`).
pub fn try_unshare(flags: libc::c_int) -> SysResult<()> {
    let pid = super::fork()?;
    if pid == 0 {
        // SAFETY: the child of a single-threaded fork makes one syscall and _exits.
        let code = match unsafe { libc::unshare(flags) } {
            0 => 0,
            _ => last_errno(),
        };
        super::exit_now(code);
    }
    let mut status = 0;
    // SAFETY: waitpid writes the status into our local.
    if unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        return Err(last_errno());
    }
    match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => Ok(()),
        Some(errno) => Err(errno),
        None => Err(libc::ECHILD),
    }
}

/// Whether the kernel has syscall `nr`: called with arguments it refuses (a bad fd), so the
/// only question is ENOSYS or not.
fn has_syscall(nr: libc::c_long, args: [libc::c_long; 3]) -> bool {
    // SAFETY: every probe passes an invalid fd (-1) or NULL pointers, which the kernel rejects
    // before touching memory.
    let ret = unsafe { libc::syscall(nr, args[0], args[1], args[2], 0, 0) };
    !(ret < 0 && last_errno() == libc::ENOSYS)
}

/// The new mount API: fsopen, fsmount, move_mount, open_tree, mount_setattr.
pub fn has_mount_api() -> bool {
    has_syscall(libc::SYS_fsmount, [-1, 0, 0])
        && has_syscall(libc::SYS_move_mount, [-1, 0, -1])
        && has_syscall(libc::SYS_open_tree, [-1, 0, 0])
        && has_syscall(libc::SYS_mount_setattr, [-1, 0, 0])
}

pub fn has_openat2() -> bool {
    has_syscall(libc::SYS_openat2, [-1, 0, 0])
}
