//! The payload's seccomp filter (SECURITY.md, "Seccomp default"): allow by default, deny what a
//! sandboxed build never needs and what lets code undo or escape the sandbox. Compiled before
//! fork with seccompiler; installed by the payload as its last step before execve.
//!
//! seccompiler gives one action per filter, so the filter is built from parts: a hand-written
//! prefix for the fail-closed edges, then one program per errno, chained into a single program
//! (`chain`) in which the first part that doesn't allow a call decides. No syscall is denied by
//! two parts, so the order of the parts doesn't change any answer.

use anyhow::{Context, Result};
use nix::libc;
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op,
    SeccompCondition as Cond, SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Groups of denied syscalls that `--allow` can give back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Allow {
    /// Namespaces, mounts, chroot: running a container inside the sandbox.
    pub nested: bool,
    /// perf_event_open, for profilers.
    pub perf: bool,
    /// io_uring.
    pub io_uring: bool,
    /// The kernel keyring (keyctl, add_key, request_key).
    pub keyring: bool,
}

/// Newer syscalls than this one get ENOSYS: nothing we haven't reviewed gets through
/// (e.g. open_tree_attr, another way to make mounts).
const HIGHEST_KNOWN: u32 = libc::SYS_mseal as u32;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
/// x86_64's x32 ABI marks its syscall numbers with this bit.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Kill a foreign architecture (i386 via int 0x80 would see other syscall numbers), ENOSYS for
/// x32 and for numbers above HIGHEST_KNOWN.
fn edges() -> BpfProgram {
    const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const JGT: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    vec![
        stmt(LD_ABS, 4), // seccomp_data.arch
        jump(JEQ, AUDIT_ARCH, 1, 0),
        stmt(RET, RET_KILL_PROCESS),
        stmt(LD_ABS, 0), // seccomp_data.nr
        jump(JSET, X32_SYSCALL_BIT, 2, 0),
        jump(JGT, HIGHEST_KNOWN, 1, 0),
        stmt(RET, RET_ALLOW),
        stmt(RET, RET_ERRNO | libc::ENOSYS as u32),
    ]
}

fn arch() -> TargetArch {
    #[cfg(target_arch = "x86_64")]
    return TargetArch::x86_64;
    #[cfg(target_arch = "aarch64")]
    return TargetArch::aarch64;
}

fn cond(arg: u8, len: Len, op: Op, value: u64) -> Result<Cond> {
    Cond::new(arg, len, op, value).context("building the seccomp filter")
}

fn always() -> Vec<SeccompRule> {
    Vec::new()
}

/// Syscalls denied with EPERM unconditionally (unless their group is allowed).
fn eperm_syscalls(allow: &Allow) -> Vec<libc::c_long> {
    let mut v = vec![
        // The kernel's own configuration.
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_quotactl,
        libc::SYS_quotactl_fd,
        libc::SYS_syslog,
        // Opens files by handle, bypassing paths: the classic container escape (shocker).
        libc::SYS_open_by_handle_at,
        // Kernel attack surface a build never needs.
        libc::SYS_bpf,
        libc::SYS_userfaultfd,
        // NUMA memory policy (CAP_SYS_NICE territory).
        libc::SYS_mbind,
        libc::SYS_set_mempolicy,
        libc::SYS_set_mempolicy_home_node,
        libc::SYS_migrate_pages,
        libc::SYS_move_pages,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([libc::SYS_iopl, libc::SYS_ioperm]);
    if !allow.nested {
        v.extend([
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_chroot,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_fsopen,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fspick,
            libc::SYS_mount_setattr,
        ]);
    }
    if !allow.keyring {
        v.extend([libc::SYS_add_key, libc::SYS_keyctl, libc::SYS_request_key]);
    }
    if !allow.perf {
        v.push(libc::SYS_perf_event_open);
    }
    v
}

fn eperm_filter(allow: &Allow) -> Result<SeccompFilter> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = eperm_syscalls(allow)
        .into_iter()
        .map(|nr| (nr, always()))
        .collect();
    // Faking keystrokes into a terminal (CVE-2017-5226, CVE-2023-28100): the kernel looks only
    // at the low 32 bits of the request, so compare only those (Dword).
    rules.insert(
        libc::SYS_ioctl,
        [libc::TIOCSTI, libc::TIOCLINUX]
            .into_iter()
            .map(|req| {
                SeccompRule::new(vec![cond(1, Len::Dword, Op::Eq, req)?]).map_err(Into::into)
            })
            .collect::<Result<_>>()?,
    );
    if !allow.nested {
        // clone with any CLONE_NEW* flag: one rule per flag, since a rule's conditions AND.
        let flags = [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWCGROUP,
        ];
        rules.insert(
            libc::SYS_clone,
            flags
                .into_iter()
                .map(|f| {
                    let f = f as u64;
                    SeccompRule::new(vec![cond(0, Len::Dword, Op::MaskedEq(f), f)?])
                        .map_err(Into::into)
                })
                .collect::<Result<_>>()?,
        );
    }
    // personality(2): only the values tools use (query, PER_LINUX, ADDR_NO_RANDOMIZE for
    // debuggers, UNAME26); other personas change how the kernel treats the process.
    let harmless: [u64; 5] = [0, 0x0008, 0x0002_0000, 0x0002_0008, 0xffff_ffff];
    rules.insert(
        libc::SYS_personality,
        vec![SeccompRule::new(
            harmless
                .iter()
                .map(|&v| cond(0, Len::Dword, Op::Ne, v))
                .collect::<Result<_>>()?,
        )?],
    );
    Ok(SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch(),
    )?)
}

/// ENOSYS rather than EPERM where callers fall back when a syscall "doesn't exist": glibc
/// retries clone3 as clone (whose flags we can inspect), io_uring users fall back to epoll.
fn enosys_filter(allow: &Allow) -> Result<Option<SeccompFilter>> {
    let mut nrs = Vec::new();
    if !allow.nested {
        nrs.push(libc::SYS_clone3);
    }
    if !allow.io_uring {
        nrs.extend([
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
        ]);
    }
    if nrs.is_empty() {
        return Ok(None);
    }
    Ok(Some(SeccompFilter::new(
        nrs.into_iter().map(|nr| (nr, always())).collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch(),
    )?))
}

/// Sockets only of the families a developer uses: no AF_ALG crypto sockets, no raw packets,
/// no Bluetooth, vsock, ... (EAFNOSUPPORT, as if the kernel lacked them).
fn socket_filter() -> Result<SeccompFilter> {
    let allowed = [
        libc::AF_UNIX,
        libc::AF_INET,
        libc::AF_INET6,
        libc::AF_NETLINK,
    ];
    let rule = SeccompRule::new(
        allowed
            .iter()
            .map(|&f| cond(0, Len::Dword, Op::Ne, f as u64))
            .collect::<Result<_>>()?,
    )?;
    Ok(SeccompFilter::new(
        [(libc::SYS_socket, vec![rule])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EAFNOSUPPORT as u32),
        arch(),
    )?)
}

/// The default filter, as one program.
pub fn default_program(allow: &Allow) -> Result<BpfProgram> {
    let mut programs = vec![edges()];
    let mut filters = vec![eperm_filter(allow)?, socket_filter()?];
    filters.extend(enosys_filter(allow)?);
    for filter in filters {
        programs.push(filter.try_into().context("compiling the seccomp filter")?);
    }
    chain(programs)
}

/// Runs `programs` one after the other as a single program: every "allow" but the last
/// program's becomes a jump to the next program. One instruction replaces one, so every jump
/// inside a program keeps its target. Installing one filter instead of four saves the kernel
/// three copies and JIT compilations per launch, and the payload three filter runs per syscall.
fn chain(programs: Vec<BpfProgram>) -> Result<BpfProgram> {
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const JA: u16 = 0x05; // BPF_JMP | BPF_JA
    let total: usize = programs.iter().map(Vec::len).sum();
    if total > 4096 {
        anyhow::bail!("the seccomp filter is longer than the kernel's 4096 instructions");
    }
    let last = programs.len().saturating_sub(1);
    let mut out = Vec::with_capacity(total);
    for (n, program) in programs.into_iter().enumerate() {
        let end = out.len() + program.len();
        for insn in program {
            if n != last && insn.code == RET_K && insn.k == RET_ALLOW {
                // Jump to the first instruction after this program.
                let here = out.len();
                out.push(stmt(JA, (end - here - 1) as u32));
            } else {
                out.push(insn);
            }
        }
    }
    Ok(out)
}

/// A precompiled filter read from `--seccomp-fd`: raw `struct sock_filter` records.
pub fn program_from_bytes(bytes: &[u8]) -> Result<BpfProgram, &'static str> {
    const BPF_MAXINSNS: usize = 4096;
    if bytes.is_empty() || bytes.len() % 8 != 0 {
        return Err("not a whole number of 8-byte BPF instructions");
    }
    if bytes.len() / 8 > BPF_MAXINSNS {
        return Err("longer than the kernel's 4096 instructions");
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_builds_and_stays_well_under_the_kernel_limit() {
        let program = default_program(&Allow::default()).unwrap();
        assert!(program.len() < 1000, "{} instructions", program.len());
    }

    /// A classic-BPF interpreter for what seccompiler and `edges` emit: enough to check what
    /// the chained program answers for a given syscall.
    fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => nr,
                4 => arch,
                16..=63 => {
                    let i = ((off - 16) / 8) as usize;
                    let v = args[i];
                    if (off - 16) % 8 == 0 {
                        v as u32
                    } else {
                        (v >> 32) as u32
                    }
                }
                _ => panic!("load at {off}"),
            }
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &program[pc];
            pc += 1;
            match i.code {
                0x20 => acc = word(i.k),
                0x54 => acc &= i.k,
                0x05 => pc += i.k as usize,
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let taken = match i.code {
                        0x15 => acc == i.k,
                        0x25 => acc > i.k,
                        0x35 => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                0x06 => return i.k,
                other => panic!("opcode {other:#x} at {}", pc - 1),
            }
        }
    }

    #[test]
    fn the_chained_program_answers_like_its_parts() {
        let p = default_program(&Allow::default()).unwrap();
        let errno = |e: i32| RET_ERRNO | e as u32;
        let call = |nr: i64, args: [u64; 6]| run(&p, AUDIT_ARCH, nr as u32, args);
        let no = [0u64; 6];
        assert_eq!(call(libc::SYS_getpid, no), RET_ALLOW);
        assert_eq!(call(libc::SYS_unshare, no), errno(libc::EPERM));
        assert_eq!(call(libc::SYS_keyctl, no), errno(libc::EPERM));
        assert_eq!(call(libc::SYS_io_uring_setup, no), errno(libc::ENOSYS));
        assert_eq!(call(libc::SYS_clone3, no), errno(libc::ENOSYS));
        let ioctl = |req: u64| call(libc::SYS_ioctl, [0, req, 0, 0, 0, 0]);
        assert_eq!(ioctl(libc::TCGETS), RET_ALLOW);
        assert_eq!(ioctl(libc::TIOCSTI), errno(libc::EPERM));
        assert_eq!(
            ioctl(libc::TIOCSTI | 1 << 32),
            errno(libc::EPERM),
            "high bits ignored"
        );
        let socket = |family: i32| call(libc::SYS_socket, [family as u64, 1, 0, 0, 0, 0]);
        assert_eq!(socket(libc::AF_INET), RET_ALLOW);
        assert_eq!(socket(libc::AF_UNIX), RET_ALLOW);
        assert_eq!(socket(libc::AF_PACKET), errno(libc::EAFNOSUPPORT));
        assert_eq!(socket(libc::AF_ALG), errno(libc::EAFNOSUPPORT));
        let clone = |flags: i32| call(libc::SYS_clone, [flags as u64, 0, 0, 0, 0, 0]);
        assert_eq!(clone(libc::SIGCHLD), RET_ALLOW);
        assert_eq!(
            clone(libc::CLONE_NEWUSER | libc::SIGCHLD),
            errno(libc::EPERM)
        );
        let personality = |v: u64| call(libc::SYS_personality, [v, 0, 0, 0, 0, 0]);
        assert_eq!(personality(0xffff_ffff), RET_ALLOW);
        assert_eq!(personality(0x0040_0000), errno(libc::EPERM));
        assert_eq!(call(1000, no), errno(libc::ENOSYS));
        assert_eq!(
            call(libc::SYS_getpid | X32_SYSCALL_BIT as i64, no),
            errno(libc::ENOSYS)
        );
        assert_eq!(run(&p, 0x4000_0003, 20, no), RET_KILL_PROCESS, "i386");
    }

    #[test]
    fn allowed_groups_pass_through_the_chain() {
        let all = Allow {
            nested: true,
            perf: true,
            io_uring: true,
            keyring: true,
        };
        let p = default_program(&all).unwrap();
        for nr in [
            libc::SYS_unshare,
            libc::SYS_keyctl,
            libc::SYS_io_uring_setup,
            libc::SYS_clone3,
        ] {
            assert_eq!(run(&p, AUDIT_ARCH, nr as u32, [0; 6]), RET_ALLOW, "{nr}");
        }
        assert_eq!(
            run(&p, AUDIT_ARCH, libc::SYS_bpf as u32, [0; 6]),
            RET_ERRNO | libc::EPERM as u32
        );
    }

    #[test]
    fn allowing_groups_removes_their_syscalls() {
        let strict = eperm_syscalls(&Allow::default());
        assert!(strict.contains(&libc::SYS_unshare));
        assert!(strict.contains(&libc::SYS_keyctl));
        assert!(strict.contains(&libc::SYS_perf_event_open));
        let all = Allow {
            nested: true,
            perf: true,
            io_uring: true,
            keyring: true,
        };
        let relaxed = eperm_syscalls(&all);
        for nr in [
            libc::SYS_unshare,
            libc::SYS_mount,
            libc::SYS_keyctl,
            libc::SYS_perf_event_open,
        ] {
            assert!(!relaxed.contains(&nr), "{nr}");
        }
        assert!(relaxed.contains(&libc::SYS_bpf), "bpf has no opt-out");
        assert!(enosys_filter(&all).unwrap().is_none());
    }

    #[test]
    fn the_edges_kill_foreign_arches_and_refuse_unknown_numbers() {
        let p = edges();
        assert_eq!(p[1].k, AUDIT_ARCH);
        assert_eq!(p[2].k, RET_KILL_PROCESS);
        assert_eq!(p[5].k, HIGHEST_KNOWN);
        assert_eq!(p[7].k, RET_ERRNO | libc::ENOSYS as u32);
    }

    #[test]
    fn raw_programs_are_whole_instructions() {
        assert!(program_from_bytes(&[]).is_err());
        assert!(program_from_bytes(&[0; 7]).is_err());
        assert!(program_from_bytes(&vec![0; 8 * 4097]).is_err());
        let p = program_from_bytes(&[0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]).unwrap();
        assert_eq!(p[0].code, 0x06);
        assert_eq!(p[0].k, RET_ALLOW);
    }
}
