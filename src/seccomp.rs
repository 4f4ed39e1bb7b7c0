//! The payload's seccomp filter (SECURITY.md, "Seccomp default"): allow by default, deny what a
//! sandboxed build never needs and what lets code undo or escape the sandbox. Built before fork
//! as one classic-BPF program; installed by the payload as its last step before execve.
//!
//! The program is shaped for the cost of *installing* it. When a filter is attached, the kernel
//! emulates it for every syscall number of the native arch to find the numbers it may allow
//! without running the filter (seccomp_cache_prepare, kernel/seccomp.c); each emulation walks
//! the program until a RET or a load of an argument. Our first program was a linear chain of
//! `jeq nr` tests (~342 instructions), so every number walked 100+ of them: ~3.4 µs per
//! instruction of chain, ~340 µs per launch on a 2-CPU VM. So here the syscall number is found
//! by a balanced binary search over the few numbers that need a decision (`jge` splits, a few
//! `jeq`s at each leaf): every number reaches its answer or its argument check within a dozen
//! steps, and the program is ~90 instructions instead of ~340, which also shortens its JIT.
//!
//! Layout: the edges (arch, unknown numbers), the search tree, the argument checks (ioctl,
//! clone, socket, personality), then one RET per distinct answer, shared by every jump to it.

use anyhow::{bail, Result};
use nix::libc::{self, sock_filter};

/// A classic-BPF program, as `seccomp(SECCOMP_SET_MODE_FILTER)` takes it.
pub type Program = Vec<sock_filter>;

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
/// x86_64's x32 ABI marks its syscall numbers with this bit, which puts every one of them above
/// HIGHEST_KNOWN: the one `jgt` gives x32 its ENOSYS too.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const _: () = assert!(X32_SYSCALL_BIT > HIGHEST_KNOWN);

const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

// The classic-BPF instructions we use (linux/bpf_common.h).
const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K

// Offsets in struct seccomp_data.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// The low 32 bits of argument `i` (args are u64s from offset 16). The kernel reads the
/// arguments we check as 32-bit values (ioctl's `unsigned int cmd`, socket's `int family`,
/// personality's `unsigned int`, clone's flags via lower_32_bits), so the high half never
/// matters and is never compared.
const fn arg_low(i: u32) -> u32 {
    16 + 8 * i
}
// Both supported arches (x86_64, aarch64) are little-endian: the low half comes first.
const _: () = assert!(cfg!(target_endian = "little"));

/// At most this many `jeq`s at a leaf of the search tree.
const LEAF: usize = 4;

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

/// ENOSYS rather than EPERM where callers fall back when a syscall "doesn't exist": glibc
/// retries clone3 as clone (whose flags we can inspect), io_uring users fall back to epoll.
fn enosys_syscalls(allow: &Allow) -> Vec<libc::c_long> {
    let mut v = Vec::new();
    if !allow.nested {
        v.push(libc::SYS_clone3);
    }
    if !allow.io_uring {
        v.extend([
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
        ]);
    }
    v
}

/// Faking keystrokes into a terminal (CVE-2017-5226, CVE-2023-28100).
const TERMINAL_INJECTION: [u32; 2] = [libc::TIOCSTI as u32, libc::TIOCLINUX as u32];

/// clone with any of these makes a namespace.
const CLONE_NEW: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32;

/// Sockets only of the families a developer uses: no AF_ALG crypto sockets, no raw packets,
/// no Bluetooth, vsock, ... (the others get EAFNOSUPPORT, as if the kernel lacked them).
const SOCKET_FAMILIES: [u32; 4] = [
    libc::AF_UNIX as u32,
    libc::AF_INET as u32,
    libc::AF_INET6 as u32,
    libc::AF_NETLINK as u32,
];

/// personality(2): only the query (0xffffffff, first: the common call), PER_LINUX,
/// PER_LINUX32, UNAME26 and UNAME26 | PER_LINUX32; other personas change how the kernel treats
/// the process.
const HARMLESS_PERSONAS: [u32; 5] = [0xffff_ffff, 0, 0x0008, 0x0002_0000, 0x0002_0008];

/// The default filter, as one program.
pub fn default_program(allow: &Allow) -> Result<Program> {
    let (eperm, enosys) = (To::Ret(errno(libc::EPERM)), To::Ret(errno(libc::ENOSYS)));
    let allowed = To::Ret(RET_ALLOW);
    let mut e = Emitter::default();
    // Kill a foreign arch (i386 via int 0x80 would see other syscall numbers); ENOSYS for x32
    // and for numbers above HIGHEST_KNOWN.
    e.load(ARCH);
    e.jump(JEQ, AUDIT_ARCH, To::Next, To::Ret(RET_KILL_PROCESS));
    e.load(NR);
    e.jump(JGT, HIGHEST_KNOWN, enosys, To::Next);

    let [ioctl, socket, personality] = [e.label(), e.label(), e.label()];
    let clone = (!allow.nested).then(|| e.label());
    let mut cases: Vec<(u32, To)> = eperm_syscalls(allow)
        .into_iter()
        .map(|nr| (nr, eperm))
        .chain(enosys_syscalls(allow).into_iter().map(|nr| (nr, enosys)))
        .chain([
            (libc::SYS_ioctl, To::Label(ioctl)),
            (libc::SYS_socket, To::Label(socket)),
            (libc::SYS_personality, To::Label(personality)),
        ])
        .chain(clone.map(|l| (libc::SYS_clone, To::Label(l))))
        .map(|(nr, to)| (nr as u32, to))
        .collect();
    cases.sort_by_key(|&(nr, _)| nr);
    if let Some(w) = cases.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("the seccomp filter lists syscall {} twice", w[0].0);
    }
    e.search(&cases, allowed);

    e.place(ioctl);
    e.load(arg_low(1));
    e.one_of(&TERMINAL_INJECTION, eperm, allowed);
    if let Some(clone) = clone {
        e.place(clone);
        e.load(arg_low(0));
        e.jump(JSET, CLONE_NEW, eperm, allowed);
    }
    e.place(socket);
    e.load(arg_low(0));
    e.one_of(
        &SOCKET_FAMILIES,
        allowed,
        To::Ret(errno(libc::EAFNOSUPPORT)),
    );
    e.place(personality);
    e.load(arg_low(0));
    e.one_of(&HARMLESS_PERSONAS, allowed, eperm);
    e.finish()
}

/// Where a jump lands.
#[derive(Debug, Clone, Copy)]
enum To {
    Next,
    Label(usize),
    /// The shared RET of this value.
    Ret(u32),
}

/// Builds a program whose jumps name labels, resolved to offsets by `finish`.
#[derive(Default)]
struct Emitter {
    code: Program,
    /// Where each label is, once placed.
    labels: Vec<Option<usize>>,
    /// The shared RETs, appended by `finish`: value and label.
    rets: Vec<(u32, usize)>,
    /// Jumps to patch: the instruction, its jt (JA: k) and its jf label (None: the next one).
    jumps: Vec<(usize, Option<usize>, Option<usize>)>,
}

impl Emitter {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn place(&mut self, label: usize) {
        self.labels[label] = Some(self.code.len());
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.code.push(sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }

    fn load(&mut self, offset: u32) {
        self.stmt(LD_ABS, offset);
    }

    fn target(&mut self, to: To) -> Option<usize> {
        match to {
            To::Next => None,
            To::Label(label) => Some(label),
            To::Ret(value) => match self.rets.iter().find(|r| r.0 == value) {
                Some(&(_, label)) => Some(label),
                None => {
                    let label = self.label();
                    self.rets.push((value, label));
                    Some(label)
                }
            },
        }
    }

    /// A conditional jump (`code` with `k`), or with JA an unconditional one to `jt`.
    fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        let (jt, jf) = (self.target(jt), self.target(jf));
        self.jumps.push((self.code.len(), jt, jf));
        self.stmt(code, k);
    }

    /// Goes to the target of the syscall number in the accumulator among `cases` (sorted, no
    /// repeats), or to `otherwise`: a balanced binary search with `jge`, then `jeq`s.
    fn search(&mut self, cases: &[(u32, To)], otherwise: To) {
        if cases.len() <= LEAF {
            return self.cases(cases, otherwise);
        }
        let (low, high) = cases.split_at(cases.len() / 2);
        let high_half = self.label();
        self.jump(JGE, high[0].0, To::Label(high_half), To::Next);
        self.search(low, otherwise);
        self.place(high_half);
        self.search(high, otherwise);
    }

    /// A `jeq` per case, in order; the last one's "no" goes to `otherwise`.
    fn cases(&mut self, cases: &[(u32, To)], otherwise: To) {
        let Some((&(last, to), rest)) = cases.split_last() else {
            return self.jump(JA, 0, otherwise, To::Next);
        };
        for &(k, to) in rest {
            self.jump(JEQ, k, to, To::Next);
        }
        self.jump(JEQ, last, to, otherwise);
    }

    fn one_of(&mut self, values: &[u32], yes: To, no: To) {
        let cases: Vec<_> = values.iter().map(|&v| (v, yes)).collect();
        self.cases(&cases, no);
    }

    /// Appends the shared RETs and turns labels into offsets. Classic BPF jumps only forward,
    /// conditional ones at most 255 instructions: a program that needs more is an error, never
    /// a wrong jump.
    fn finish(mut self) -> Result<Program> {
        for (value, label) in std::mem::take(&mut self.rets) {
            self.place(label);
            self.stmt(RET, value);
        }
        let labels = &self.labels;
        let offset = |at: usize, label: Option<usize>| -> Result<usize> {
            let Some(label) = label else { return Ok(0) };
            let Some(to) = labels[label] else {
                bail!("the seccomp filter jumps to a label it never placed");
            };
            match to.checked_sub(at + 1) {
                Some(offset) => Ok(offset),
                None => bail!("the seccomp filter jumps backwards, at instruction {at}"),
            }
        };
        for &(at, jt, jf) in &self.jumps {
            let (jt, jf) = (offset(at, jt)?, offset(at, jf)?);
            let insn = &mut self.code[at];
            if insn.code == JA {
                insn.k = jt as u32;
            } else {
                match (u8::try_from(jt), u8::try_from(jf)) {
                    (Ok(jt), Ok(jf)) => (insn.jt, insn.jf) = (jt, jf),
                    _ => bail!(
                        "the seccomp filter needs a jump of {} instructions at instruction \
                         {at}; classic BPF allows 255",
                        jt.max(jf)
                    ),
                }
            }
        }
        Ok(self.code)
    }
}

/// A precompiled filter read from `--seccomp-fd`: raw `struct sock_filter` records.
pub fn program_from_bytes(bytes: &[u8]) -> Result<Program, &'static str> {
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

    const ALL: Allow = Allow {
        nested: true,
        perf: true,
        io_uring: true,
        keyring: true,
    };

    /// A classic-BPF interpreter for the instructions we emit. Returns the answer and how many
    /// instructions ran before the first RET or argument load: the walk the kernel's emulation
    /// does for every syscall number when the filter is installed.
    fn trace(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
        let mut walked = None;
        let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0usize);
        loop {
            let i = &program[pc];
            pc += 1;
            match i.code {
                LD_ABS => {
                    acc = match i.k {
                        NR => nr,
                        ARCH => arch,
                        16..=63 => {
                            walked.get_or_insert(steps);
                            let v = args[(i.k as usize - 16) / 8];
                            if i.k % 8 == 0 {
                                v as u32
                            } else {
                                (v >> 32) as u32
                            }
                        }
                        off => panic!("load at {off}"),
                    }
                }
                JA => pc += i.k as usize,
                JEQ | JGT | JGE | JSET => {
                    let taken = match i.code {
                        JEQ => acc == i.k,
                        JGT => acc > i.k,
                        JGE => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                RET => return (i.k, walked.unwrap_or(steps)),
                other => panic!("opcode {other:#x} at {}", pc - 1),
            }
            steps += 1;
        }
    }

    fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        trace(program, arch, nr, args).0
    }

    /// What the filter should answer, written plainly from SECURITY.md.
    fn reference(allow: &Allow, nr: u32, args: [u64; 6]) -> u32 {
        let (a0, a1) = (args[0] as u32 as i64, args[1] as u32 as u64);
        if nr > HIGHEST_KNOWN {
            return errno(libc::ENOSYS);
        }
        let nr = nr as libc::c_long;
        if eperm_syscalls(allow).contains(&nr) {
            return errno(libc::EPERM);
        }
        if enosys_syscalls(allow).contains(&nr) {
            return errno(libc::ENOSYS);
        }
        let namespaces = [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWCGROUP,
        ];
        let families = [
            libc::AF_UNIX,
            libc::AF_INET,
            libc::AF_INET6,
            libc::AF_NETLINK,
        ];
        let denied = match nr {
            libc::SYS_ioctl => a1 == libc::TIOCSTI || a1 == libc::TIOCLINUX,
            libc::SYS_clone => !allow.nested && namespaces.iter().any(|&f| a0 & f as i64 != 0),
            libc::SYS_socket => {
                return match families.iter().any(|&f| a0 == f as i64) {
                    true => RET_ALLOW,
                    false => errno(libc::EAFNOSUPPORT),
                };
            }
            libc::SYS_personality => {
                ![0, 0x0008, 0x0002_0000, 0x0002_0008, 0xffff_ffff].contains(&a0)
            }
            _ => false,
        };
        if denied {
            errno(libc::EPERM)
        } else {
            RET_ALLOW
        }
    }

    /// Values for args[0] and args[1] that hit each side of every argument check.
    fn argument_samples() -> Vec<[u64; 6]> {
        let first = [
            0,
            libc::SIGCHLD as u64,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64,
            libc::CLONE_NEWNET as u64,
            (libc::CLONE_NEWCGROUP as u64) << 32,
            libc::AF_UNIX as u64,
            libc::AF_INET as u64,
            libc::AF_INET6 as u64 | 1 << 32,
            libc::AF_NETLINK as u64,
            libc::AF_PACKET as u64,
            libc::AF_ALG as u64,
            0x0008,
            0x0002_0008,
            0xffff_ffff,
            0x0040_0000,
            u64::MAX,
        ];
        let second = [
            0,
            libc::TCGETS,
            libc::TIOCSTI,
            libc::TIOCLINUX,
            libc::TIOCSTI | 1 << 32,
        ];
        first
            .iter()
            .flat_map(|&a0| second.iter().map(move |&a1| [a0, a1, 0, 0, 0, 0]))
            .collect()
    }

    #[test]
    fn every_syscall_number_gets_the_reference_answer() {
        for allow in [Allow::default(), ALL] {
            let p = default_program(&allow).unwrap();
            for nr in (0..=HIGHEST_KNOWN + 20).chain([u32::MAX, X32_SYSCALL_BIT]) {
                for args in argument_samples() {
                    assert_eq!(
                        run(&p, AUDIT_ARCH, nr, args),
                        reference(&allow, nr, args),
                        "{allow:?} nr {nr} args {args:x?}"
                    );
                    let x32 = nr | X32_SYSCALL_BIT;
                    assert_eq!(run(&p, AUDIT_ARCH, x32, args), errno(libc::ENOSYS), "{x32}");
                }
            }
        }
    }

    #[test]
    fn every_number_is_decided_in_a_few_steps_by_a_short_program() {
        // The kernel emulates the filter for every syscall number at install time; the walk
        // to a RET or an argument load is what that costs (see the module comment).
        let p = default_program(&Allow::default()).unwrap();
        let most = (0..=HIGHEST_KNOWN + 1)
            .map(|nr| trace(&p, AUDIT_ARCH, nr, [0; 6]).1)
            .max()
            .unwrap();
        assert!(most <= 16, "{most} steps");
        assert!(p.len() < 160, "{} instructions", p.len());
        assert!(default_program(&ALL).unwrap().len() < p.len());
    }

    #[test]
    fn the_program_answers_as_security_md_says() {
        let p = default_program(&Allow::default()).unwrap();
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
    }

    #[test]
    fn foreign_arches_are_killed_and_x32_and_unknown_numbers_get_enosys() {
        let p = default_program(&Allow::default()).unwrap();
        let no = [0; 6];
        for arch in [0x4000_0003, 0x4000_0028, 0] {
            // i386, 32-bit arm, garbage.
            assert_eq!(run(&p, arch, 20, no), RET_KILL_PROCESS, "{arch:#x}");
        }
        let getpid = libc::SYS_getpid as u32;
        assert_eq!(
            run(&p, AUDIT_ARCH, getpid | X32_SYSCALL_BIT, no),
            errno(libc::ENOSYS)
        );
        assert_eq!(run(&p, AUDIT_ARCH, 1000, no), errno(libc::ENOSYS));
        assert_eq!(
            run(&p, AUDIT_ARCH, HIGHEST_KNOWN + 1, no),
            errno(libc::ENOSYS)
        );
    }

    #[test]
    fn allowed_groups_are_allowed() {
        let p = default_program(&ALL).unwrap();
        for nr in [
            libc::SYS_unshare,
            libc::SYS_keyctl,
            libc::SYS_io_uring_setup,
            libc::SYS_clone3,
        ] {
            assert_eq!(run(&p, AUDIT_ARCH, nr as u32, [0; 6]), RET_ALLOW, "{nr}");
        }
        let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
        let clone = libc::SYS_clone as u32;
        assert_eq!(
            run(&p, AUDIT_ARCH, clone, [newuser, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            run(&p, AUDIT_ARCH, libc::SYS_bpf as u32, [0; 6]),
            errno(libc::EPERM)
        );
    }

    #[test]
    fn allowing_groups_removes_their_syscalls() {
        let strict = eperm_syscalls(&Allow::default());
        assert!(strict.contains(&libc::SYS_unshare));
        assert!(strict.contains(&libc::SYS_keyctl));
        assert!(strict.contains(&libc::SYS_perf_event_open));
        let relaxed = eperm_syscalls(&ALL);
        for nr in [
            libc::SYS_unshare,
            libc::SYS_mount,
            libc::SYS_keyctl,
            libc::SYS_perf_event_open,
        ] {
            assert!(!relaxed.contains(&nr), "{nr}");
        }
        assert!(relaxed.contains(&libc::SYS_bpf), "bpf has no opt-out");
        assert!(enosys_syscalls(&ALL).is_empty());
    }

    #[test]
    fn a_jump_too_far_for_classic_bpf_is_an_error() {
        let skipping = |n: usize| {
            let mut e = Emitter::default();
            e.jump(JEQ, 1, To::Ret(RET_ALLOW), To::Next);
            for _ in 0..n {
                e.load(NR);
            }
            e.finish()
        };
        assert_eq!(skipping(255).unwrap()[0].jt, 255);
        let err = skipping(256).unwrap_err().to_string();
        assert!(err.contains("jump of 256"), "{err}");
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
