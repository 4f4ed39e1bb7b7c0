//! Capabilities, no_new_privs, seccomp, keyrings, resource limits.

use super::{check, last_errno, SysResult};
use nix::libc::{self, c_char, c_int, c_uint};

/// Empties every capability set: bounding, ambient, then inheritable, permitted and effective.
/// With the bounding set empty and no_new_privs, even uid 0 gets nothing back at execve
/// (capabilities(7), "Transformation of capabilities during execve()").
pub fn drop_capabilities() -> SysResult<()> {
    limit_bounding_set(0)?;
    // SAFETY: plain prctl.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    } as libc::c_long)?;
    set_capabilities(0, 0, 0, 0)
}

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

/// PR_SET_DUMPABLE: not dumpable, nobody may ptrace us or open our /proc/PID files (fd, mem,
/// exe) without CAP_SYS_PTRACE (they belong to root); dumpable, they are ours again.
pub fn set_dumpable(dumpable: bool) -> SysResult<()> {
    // SAFETY: plain prctl.
    check(
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(dumpable)) }
            as libc::c_long,
    )
    .map(drop)
}

pub fn set_no_new_privs() -> SysResult<()> {
    // SAFETY: plain prctl.
    check(
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) }
            as libc::c_long,
    )
    .map(drop)
}

/// Installs one seccomp filter program (no_new_privs must be set).
pub fn install_seccomp(program: &[libc::sock_filter]) -> SysResult<()> {
    let prog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        // The kernel only reads it (it copies the program).
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at a valid BPF program that outlives the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as c_uint,
            &prog as *const libc::sock_fprog,
        )
    })
    .map(drop)
}

/// Gives the process a new anonymous session keyring: the caller's keys (kerberos tickets,
/// cached credentials) are out of reach (keyrings(7)).
pub fn join_new_session_keyring() -> SysResult<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: plain keyctl with a NULL name (anonymous keyring).
    check(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<c_char>(),
        )
    })
    .map(drop)
}

/// setrlimit(2) (`resource` a RLIMIT_* number; soft and hard may differ, as OCI's do).
pub fn set_rlimit(resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: valid rlimit pointer.
    check(unsafe { libc::setrlimit(resource as _, &lim) } as libc::c_long).map(drop)
}
