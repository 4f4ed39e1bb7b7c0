//! Landlock (landlock(7)): the ABI the kernel offers, a ruleset, and entering it.

use super::{check, check_fd, SysResult};
use nix::libc::{self, c_uint};
use std::os::fd::{OwnedFd, RawFd};

const LANDLOCK_CREATE_RULESET_VERSION: c_uint = 1;
/// ABI 6: no connect to an abstract unix socket made outside the domain.
pub const LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// The highest Landlock ABI the kernel offers: ENOSYS when it has no Landlock, EOPNOTSUPP when
/// Landlock was left out at boot.
pub fn landlock_abi() -> SysResult<i32> {
    // SAFETY: the version query takes no attribute (NULL, size 0).
    check(unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    })
    .map(|abi| abi as i32)
}

/// A ruleset that restricts nothing on the filesystem or network, only the `scoped` IPC
/// (ABI 6 and later). The fd is close-on-exec.
pub fn landlock_scoped_ruleset(scoped: u64) -> SysResult<OwnedFd> {
    let attr = RulesetAttr {
        handled_access_fs: 0,
        handled_access_net: 0,
        scoped,
    };
    // SAFETY: `attr` is a valid ruleset attribute of the size we pass.
    check_fd(unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0 as c_uint,
        )
    })
}

/// Enters the domain of `ruleset` for good (needs no_new_privs): this process and everything
/// it starts from now on.
pub fn landlock_restrict_self(ruleset: RawFd) -> SysResult<()> {
    // SAFETY: plain syscall on an fd; flags 0.
    check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0 as c_uint) })
        .map(drop)
}
