//! OCI seccomp profiles (config.json `linux.seccomp`) compiled to one classic BPF program:
//! the architecture check, then each rule in order (its syscall numbers, then its argument
//! conditions, all of which must hold), then the default action. Arguments are compared as
//! 64-bit values, as libseccomp does, in two 32-bit halves.

use crate::oci::config::{Seccomp, SeccompOp, SyscallArg};
use anyhow::{bail, Result};
use nix::libc::{self, sock_filter};

#[cfg(target_arch = "x86_64")]
#[path = "syscalls_x86_64.rs"]
mod table;
#[cfg(not(target_arch = "x86_64"))]
mod table {
    pub const SYSCALLS: &[(&str, u32)] = &[];
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

const LD_ABS: u16 = 0x20;
const JEQ: u16 = 0x15;
const JGT: u16 = 0x25;
const JGE: u16 = 0x35;
const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET: u16 = 0x06;
const NR: u32 = 0;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const ARCH: u32 = 4;
const fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
const fn arg_hi(i: u32) -> u32 {
    20 + 8 * i
}

pub fn syscall_number(name: &str) -> Option<u32> {
    table::SYSCALLS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| table::SYSCALLS[i].1)
}

fn action(name: &str, errno: Option<u32>, default_errno: Option<u32>) -> Result<u32> {
    let errno = errno.or(default_errno).unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match name {
        "SCMP_ACT_ALLOW" => libc::SECCOMP_RET_ALLOW,
        "SCMP_ACT_ERRNO" => libc::SECCOMP_RET_ERRNO | errno,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => libc::SECCOMP_RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => libc::SECCOMP_RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => libc::SECCOMP_RET_TRAP,
        "SCMP_ACT_TRACE" => libc::SECCOMP_RET_TRACE | errno,
        "SCMP_ACT_LOG" => libc::SECCOMP_RET_LOG,
        other => bail!(
            "unsupported linux.seccomp action {}",
            crate::error::quote(other)
        ),
    })
}

/// Where a conditional jump goes.
#[derive(Clone, Copy)]
enum To {
    Next,
    /// The end of the current rule's block (the rule doesn't apply).
    Fail,
    /// This condition holds: on to the next one, or the rule's action after the last.
    Pass,
}

struct Block {
    code: Vec<(u16, To, To, u32)>,
}

impl Block {
    fn load(&mut self, off: u32) {
        self.code.push((LD_ABS, To::Next, To::Next, off));
    }
    fn jump(&mut self, op: u16, k: u32, jt: To, jf: To) {
        self.code.push((op, jt, jf, k));
    }
    fn and(&mut self, k: u32) {
        self.code.push((AND, To::Next, To::Next, k));
    }

    /// Jumps to Pass when the condition holds, Fail when it doesn't.
    fn condition(&mut self, a: &SyscallArg) {
        let (hi, lo) = ((a.value >> 32) as u32, a.value as u32);
        let i = a.index;
        match a.op {
            SeccompOp::Eq | SeccompOp::Ne | SeccompOp::MaskedEq => {
                let (pass, fail) = if a.op == SeccompOp::Ne {
                    (To::Fail, To::Pass)
                } else {
                    (To::Pass, To::Fail)
                };
                let (mhi, mlo, vhi, vlo) = if a.op == SeccompOp::MaskedEq {
                    let (m, v) = (a.value, a.value_two);
                    ((m >> 32) as u32, m as u32, (v >> 32) as u32, v as u32)
                } else {
                    (u32::MAX, u32::MAX, hi, lo)
                };
                self.load(arg_hi(i));
                if mhi != u32::MAX {
                    self.and(mhi);
                }
                self.jump(JEQ, vhi, To::Next, fail);
                self.load(arg_lo(i));
                if mlo != u32::MAX {
                    self.and(mlo);
                }
                self.jump(JEQ, vlo, pass, fail);
            }
            SeccompOp::Gt | SeccompOp::Ge => {
                self.load(arg_hi(i));
                self.jump(JGT, hi, To::Pass, To::Next);
                self.jump(JEQ, hi, To::Next, To::Fail);
                self.load(arg_lo(i));
                let op = if a.op == SeccompOp::Gt { JGT } else { JGE };
                self.jump(op, lo, To::Pass, To::Fail);
            }
            SeccompOp::Lt | SeccompOp::Le => {
                self.load(arg_hi(i));
                self.jump(JGT, hi, To::Fail, To::Next);
                self.jump(JEQ, hi, To::Next, To::Pass);
                self.load(arg_lo(i));
                let op = if a.op == SeccompOp::Lt { JGE } else { JGT };
                self.jump(op, lo, To::Fail, To::Pass);
            }
        }
    }
}

/// The linux.seccomp.flags honoured (features.md `knownFlags` and `supportedFlags`).
pub const KNOWN_FLAGS: [&str; 1] = ["SECCOMP_FILTER_FLAG_TSYNC"];

/// Compiles `profile` for the native architecture.
pub fn compile(profile: &Seccomp) -> Result<crate::seccomp::Program> {
    // SECCOMP_FILTER_FLAG_TSYNC puts the filter on every thread of the process: the one that
    // installs it (init, exec's child) has only one, so that holds without the flag. The
    // others change what the kernel does (LOG, SPEC_ALLOW, ...) and are refused.
    if let Some(flag) = profile
        .flags
        .iter()
        .find(|f| !KNOWN_FLAGS.contains(&f.as_str()))
    {
        bail!(
            "unsupported linux.seccomp.flags {}",
            crate::error::quote(flag)
        );
    }
    if profile
        .listener_path
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        bail!("unsupported linux.seccomp.listenerPath: no seccomp notification support");
    }
    let default = action(&profile.default_action, None, profile.default_errno_ret)?;
    let mut out: Vec<sock_filter> = Vec::new();
    let ins = |code: u16, jt: u8, jf: u8, k: u32| sock_filter { code, jt, jf, k };
    // A foreign architecture would see other syscall numbers: killed.
    out.push(ins(LD_ABS, 0, 0, ARCH));
    out.push(ins(JEQ, 1, 0, AUDIT_ARCH));
    out.push(ins(RET, 0, 0, libc::SECCOMP_RET_KILL_PROCESS));
    // The x32 ABI shares x86_64's audit arch, with its numbers ORed with 0x40000000: no rule
    // below would match them, so a denylist would let them all by (libseccomp treats them as a
    // foreign arch). ENOSYS, as the native filter does.
    if cfg!(target_arch = "x86_64") {
        out.push(ins(LD_ABS, 0, 0, NR));
        out.push(ins(JGE, 0, 1, X32_SYSCALL_BIT));
        out.push(ins(
            RET,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ));
    }
    for (r, rule) in profile.syscalls.iter().enumerate() {
        let act = action(&rule.action, rule.errno_ret, profile.default_errno_ret)?;
        if rule.action == "SCMP_ACT_NOTIFY" {
            bail!("unsupported linux.seccomp.syscalls[{r}].action SCMP_ACT_NOTIFY");
        }
        for a in &rule.args {
            if a.index > 5 {
                bail!(
                    "invalid linux.seccomp.syscalls[{r}]: argument index {} above 5",
                    a.index
                );
            }
        }
        // Names the kernel headers don't know are skipped, as runc and crun do: profiles
        // list syscalls of newer kernels and other architectures.
        for nr in rule.names.iter().filter_map(|n| syscall_number(n)) {
            // Each condition is a block of its own; passing it falls through to the next.
            let mut blocks = Vec::new();
            for a in &rule.args {
                let mut b = Block { code: Vec::new() };
                b.condition(a);
                blocks.push(b.code);
            }
            // [load nr] [jeq nr, next, end] conditions... [ret act] ; end:
            let body: usize = blocks.iter().map(Vec::len).sum();
            if body + 1 > 255 {
                bail!("linux.seccomp.syscalls[{r}]: too many argument conditions");
            }
            out.push(ins(LD_ABS, 0, 0, NR));
            out.push(ins(JEQ, 0, (body + 1) as u8, nr));
            let end = out.len() + body + 1;
            for code in blocks {
                let start = out.len();
                let pass = start + code.len();
                for (i, (op, jt, jf, k)) in code.into_iter().enumerate() {
                    let at = start + i;
                    let off = |to: To| -> u8 {
                        match to {
                            To::Next => 0,
                            To::Pass => (pass - at - 1) as u8,
                            To::Fail => (end - at - 1) as u8,
                        }
                    };
                    out.push(ins(op, off(jt), off(jf), k));
                }
            }
            out.push(ins(RET, 0, 0, act));
        }
    }
    out.push(ins(RET, 0, 0, default));
    if out.len() > 4096 {
        bail!(
            "linux.seccomp: the profile compiles to {} instructions, above the kernel's 4096",
            out.len()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::config::SyscallRule;

    /// A tiny classic-BPF interpreter for the instructions we emit.
    fn run(p: &[sock_filter], nr: u32, args: [u64; 6]) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0;
        loop {
            let i = p[pc];
            pc += 1;
            match i.code {
                LD_ABS => {
                    acc = match i.k {
                        0 => nr,
                        4 => AUDIT_ARCH,
                        k => {
                            let a = args[((k - 16) / 8) as usize];
                            if (k - 16) % 8 == 0 {
                                a as u32
                            } else {
                                (a >> 32) as u32
                            }
                        }
                    }
                }
                AND => acc &= i.k,
                RET => return i.k,
                op => {
                    let t = match op {
                        JEQ => acc == i.k,
                        JGT => acc > i.k,
                        JGE => acc >= i.k,
                        _ => panic!("unknown op"),
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
            }
        }
    }

    fn arg(index: u32, value: u64, value_two: u64, op: SeccompOp) -> SyscallArg {
        SyscallArg {
            index,
            value,
            value_two,
            op,
        }
    }

    #[test]
    fn rules_decide_in_order_and_args_compare_as_64_bit() {
        let profile = Seccomp {
            default_action: "SCMP_ACT_ERRNO".into(),
            default_errno_ret: Some(38),
            syscalls: vec![
                SyscallRule {
                    names: vec!["read".into(), "no_such_call".into()],
                    action: "SCMP_ACT_ALLOW".into(),
                    ..Default::default()
                },
                SyscallRule {
                    names: vec!["personality".into()],
                    action: "SCMP_ACT_ALLOW".into(),
                    args: vec![arg(0, 0xff, 8, SeccompOp::MaskedEq)],
                    ..Default::default()
                },
                SyscallRule {
                    names: vec!["write".into()],
                    action: "SCMP_ACT_ERRNO".into(),
                    errno_ret: Some(1),
                    args: vec![
                        arg(0, 2, 0, SeccompOp::Gt),
                        arg(2, 1 << 32, 0, SeccompOp::Lt),
                    ],
                },
            ],
            ..Default::default()
        };
        let p = compile(&profile).unwrap();
        let allow = libc::SECCOMP_RET_ALLOW;
        let enosys = libc::SECCOMP_RET_ERRNO | 38;
        let eperm = libc::SECCOMP_RET_ERRNO | 1;
        assert_eq!(run(&p, 0, [0; 6]), allow);
        assert_eq!(run(&p, 135, [0x108, 0, 0, 0, 0, 0]), allow);
        assert_eq!(run(&p, 135, [0x109, 0, 0, 0, 0, 0]), enosys);
        assert_eq!(run(&p, 1, [3, 0, 5, 0, 0, 0]), eperm);
        assert_eq!(run(&p, 1, [2, 0, 5, 0, 0, 0]), enosys);
        assert_eq!(run(&p, 1, [3, 0, 1 << 32, 0, 0, 0]), enosys);
        assert_eq!(run(&p, 1, [1 << 33, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(run(&p, 2, [0; 6]), enosys);
    }

    /// x32 syscalls come with the x86_64 audit arch and their number ORed with 0x40000000: a
    /// rule for `mkdir` (83) doesn't match 0x40000053, so a denylist profile let them all by
    /// on kernels built with CONFIG_X86_X32_ABI (libseccomp refuses them as a bad arch).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_syscalls_never_pass_a_denylist() {
        let profile = Seccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            syscalls: vec![SyscallRule {
                names: vec!["mkdir".into()],
                action: "SCMP_ACT_ERRNO".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let p = compile(&profile).unwrap();
        assert_eq!(run(&p, 83, [0; 6]), libc::SECCOMP_RET_ERRNO | 1);
        assert_eq!(
            run(&p, 0x4000_0000 | 83, [0; 6]),
            libc::SECCOMP_RET_ERRNO | 38
        );
        assert_eq!(run(&p, 0x4000_0000, [0; 6]), libc::SECCOMP_RET_ERRNO | 38);
        assert_eq!(run(&p, 1, [0; 6]), libc::SECCOMP_RET_ALLOW);
    }

    /// A denylist naming a syscall newer than our table denied nothing (names we don't know
    /// are skipped, as runc does for other kernels' names): the table goes up to Linux 6.17's.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_table_knows_the_newest_syscalls() {
        for (name, nr) in [
            ("cachestat", 451),
            ("fchmodat2", 452),
            ("futex_wait", 455),
            ("listmount", 458),
            ("mseal", 462),
            ("open_tree_attr", 467),
            ("file_setattr", 469),
        ] {
            assert_eq!(syscall_number(name), Some(nr), "{name}");
        }
    }

    #[test]
    fn the_table_knows_common_names() {
        assert_eq!(syscall_number("read"), Some(libc::SYS_read as u32));
        assert_eq!(syscall_number("clone3"), Some(libc::SYS_clone3 as u32));
        assert_eq!(syscall_number("nope"), None);
    }
}
