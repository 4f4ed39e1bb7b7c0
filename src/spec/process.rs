//! The process run in a sandbox: what it runs, where, and how it is locked down.

use super::Limit;
use std::ffi::OsString;
use std::path::PathBuf;

/// The process run in a sandbox: the payload, or a command `exec` adds to a running one
/// (native or OCI).
#[derive(Debug, Clone)]
pub struct Process {
    pub command: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Cwd,
    pub limits: Vec<Limit>,
    pub seccomp: Seccomp,
    /// Run on a pty of its own (relayed to the caller's terminal, or an OCI console socket's).
    pub tty: bool,
    /// The signals it must reset to their defaults (see `Host::ignored_signals`).
    pub ignored_signals: u64,
    pub lockdown: Lockdown,
}

/// How the process gives up what it may do before its execve (payload.rs).
#[derive(Debug, Clone)]
pub enum Lockdown {
    /// ns-rootless's own: every capability dropped, no_new_privs, Landlock, then `seccomp`.
    /// With `keep_caps` (`--allow nested`) it keeps its capabilities: they only reach its
    /// own nested user namespace, and mapping root in a namespace of its own needs
    /// CAP_SETFCAP (user_namespaces(7), since Linux 5.12).
    Native { keep_caps: bool },
    /// As an OCI config says (applied by the OCI launcher, oci/launch.rs).
    Oci(OciLockdown),
}

/// An OCI process's ids, capabilities, no_new_privs, rlimits and seccomp program, rendered:
/// what the process applies after clone or fork, syscalls only.
#[derive(Debug, Clone)]
pub struct OciLockdown {
    /// fds 3..3+N passed on to the process (`--preserve-fds`).
    pub preserve_fds: u32,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Whether setgroups(2) may be called: not where setgroups is "deny" (our own one-id maps).
    pub set_groups: bool,
    pub caps: CapSets,
    pub no_new_privs: bool,
    pub new_keyring: bool,
    /// (RLIMIT_* number, soft, hard).
    pub rlimits: Vec<(i32, u64, u64)>,
    pub seccomp: Option<crate::seccomp::Program>,
    /// Whether init is PID 1 of a namespace of its own (config lists "pid"). Without one, the
    /// process dies with init by PR_SET_PDEATHSIG, as the kernel won't end it with init.
    pub own_pid_ns: bool,
    /// `process.oomScoreAdj`, when it differs from ours: what to write to
    /// /proc/self/oom_score_adj.
    pub oom_score_adj: Option<Vec<u8>>,
    /// The terminal's size (rows, columns), when it gets one.
    pub console_size: (u16, u16),
    /// `process.scheduler`, `process.ioPriority` (an IOPRIO_PRIO_VALUE) and, for an `exec`'d
    /// process, `process.execCPUAffinity.final`: set just before execve.
    /// (Boxed, as the CPU mask: most processes have neither.)
    pub scheduler: Option<Box<crate::sys::SchedAttr>>,
    pub io_priority: Option<i32>,
    pub cpu_affinity: Option<Box<crate::sys::CpuMask>>,
}

/// Where the payload starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cwd {
    /// The caller's directory if that path exists inside, else `/`.
    Caller(PathBuf),
    /// Asked for (`--chdir`, `-w`): failing to enter it is an error.
    Exact(PathBuf),
    Root,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Seccomp {
    Default(crate::seccomp::Allow),
    None,
    /// A precompiled program from `--seccomp-fd`.
    Program(Vec<u8>),
}

/// The five capability sets a process ends with, as masks of CAP_* bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}
