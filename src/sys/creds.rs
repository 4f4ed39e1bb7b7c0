//! Credentials: the ids and supplementary groups a process runs with.

use super::{check, SysResult};
use nix::libc;

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
