//! What can fail in the children, as data, and how the parent words it.
//!
//! A child can't format text (no allocation after fork), so it reports `(stage, step, errno)`;
//! the parent turns that into one line with the object involved and, where the cause is the
//! host's configuration, what to do about it.

use nix::errno::Errno;
use std::fmt;

/// Declares `Stage` from one list: each variant with what it was doing, so the enum, the
/// numbers `from_u32` accepts and `doing` can't drift apart.
macro_rules! stages {
    (
        $(#[$first_doc:meta])* $first:ident = $n:literal => $first_doing:expr,
        $($(#[$doc:meta])* $name:ident => $doing:expr,)*
    ) => {
        /// Where a child was when it failed. The numbers travel over the pipe.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Stage {
            $(#[$first_doc])* $first = $n,
            $($(#[$doc])* $name,)*
        }

        impl Stage {
            const ALL: &[Stage] = &[Stage::$first, $(Stage::$name,)*];

            /// What was being done, for stages that don't name their object themselves.
            pub fn doing(self) -> &'static str {
                match self {
                    Stage::$first => $first_doing,
                    $(Stage::$name => $doing,)*
                }
            }
        }
    };
}

stages! {
    Handshake = 1 => "setting up the sandbox's init (parent-death signal, id maps)",
    CloseFds => "closing inherited file descriptors",
    Hostname => "setting the hostname",
    Loopback => "bringing up the loopback interface",
    MakePrivate => "making the mount tree private",
    RootTmpfs => "creating the root tmpfs",
    AttachRoot => "attaching the new root",
    /// A step of the plan; `step` says which.
    Step => "setting up a mount",
    /// Creating the mount point of a step.
    MountPoint => "creating a mount point",
    RootReadOnly => "making the new root read-only",
    PivotRoot => "switching to the new root (pivot_root)",
    DetachOldRoot => "detaching the old root",
    ForkPayload => "starting the command",
    Pty => "creating the sandbox's terminal",
    /// A resource limit; `step` says which.
    Limit => "setting a resource limit",
    NestUserns => "creating the inner user namespace",
    NestUidMap => "writing the inner uid_map",
    NestGidMap => "writing the inner gid_map",
    Chdir => "changing to the start directory",
    NewSession => "starting a new session",
    Keyring => "creating a fresh session keyring",
    Capabilities => "dropping capabilities",
    NoNewPrivs => "setting no_new_privs",
    Landlock => "entering the landlock domain",
    Seccomp => "installing the seccomp filter",
    Exec => "running the command",
    /// Mounting the overlay that is the root (an image's layers).
    RootOverlay => "mounting the root overlay (overlayfs with userxattr, Linux 5.11+)",
    /// An OCI container's init is ready and waits for `start` (not a failure).
    Created => "waiting for start",
    /// Joining a namespace given by path; `step` says which.
    JoinNamespace => "joining a namespace",
    /// Writing a sysctl; `step` says which.
    Sysctl => "writing a sysctl",
    OomScoreAdj => "writing oom_score_adj",
    /// Becoming the configured uid, gid and groups.
    Ids => "setting the process's uid, gid and groups",
    /// A time namespace and its offsets.
    TimeNamespace => "creating the time namespace (linux.timeOffsets)",
    /// An OCI init has its mounts and waits for the createRuntime hooks (not a failure).
    RuntimeHooks => "waiting for the createRuntime hooks",
    /// A createContainer hook, run by init; `step` says which, errno is an errno or minus
    /// its exit status.
    CreateContainerHook => "running a createContainer hook",
    /// An OCI config's `domainname`.
    Domainname => "setting the domain name",
    /// An OCI process's `scheduler`.
    Scheduler => "setting process.scheduler (sched_setattr)",
    /// An OCI process's `ioPriority`.
    IoPriority => "setting process.ioPriority (ioprio_set)",
    /// An OCI process's `execCPUAffinity`.
    CpuAffinity => "setting process.execCPUAffinity (sched_setaffinity)",
}

impl Stage {
    pub fn from_u32(v: u32) -> Option<Stage> {
        Stage::ALL.iter().copied().find(|s| *s as u32 == v)
    }
}

/// An error that decides ns-rootless's exit status (125 unless said otherwise).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub const EXIT_SETUP: u8 = 125;
pub const EXIT_CANNOT_RUN: u8 = 126;
pub const EXIT_NOT_FOUND: u8 = 127;

pub fn strerror(errno: i32) -> &'static str {
    Errno::from_raw(errno).desc()
}

/// Escapes control characters (and invalid UTF-8) so user text can't forge or garble messages.
pub fn escape(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `escape` for OS strings and paths, in double quotes.
pub fn quote(text: impl AsRef<std::ffi::OsStr>) -> String {
    use std::os::unix::ffi::OsStrExt;
    format!("\"{}\"", escape(text.as_ref().as_bytes()))
}

/// An error chain as our one line: contexts joined by ": ", no newlines, and without the
/// " (os error N)" std appends to an I/O error's description.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut text = format!("{err:#}").replace('\n', " ");
    while let Some(start) = text.find(" (os error ") {
        match text[start..].find(')') {
            Some(end) => text.replace_range(start..start + end + 1, ""),
            None => break,
        }
    }
    text
}

/// One line: `<what failed>: <why>[; <what to do>]`.
pub fn describe(what: &str, errno: i32, hint: Option<String>) -> String {
    match hint {
        Some(h) => format!("{what}: {}; {h}", strerror(errno)),
        None => format!("{what}: {}", strerror(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::libc;

    #[test]
    fn stages_round_trip_through_their_numbers() {
        // The last variant.
        let last = Stage::CpuAffinity as u32;
        for v in 1..=last {
            let stage =
                Stage::from_u32(v).expect("every number up to the last variant's is a stage");
            assert_eq!(stage as u32, v);
        }
        assert_eq!(Stage::from_u32(0), None);
        assert_eq!(Stage::from_u32(last + 1), None);
    }

    #[test]
    fn escape_neutralises_control_characters_and_bad_utf8() {
        assert_eq!(escape(b"plain/name"), "plain/name");
        assert_eq!(escape(b"a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escape(b"\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape(b"\xffok"), "\\xffok");
        assert_eq!(escape(b"back\\slash"), "back\\\\slash");
    }

    #[test]
    fn one_line_drops_os_error_numbers_and_newlines() {
        let io = std::io::Error::from_raw_os_error(libc::EACCES);
        let err = anyhow::Error::from(io).context("opening \"x\"");
        assert_eq!(one_line(&err), "opening \"x\": Permission denied");
        let err = anyhow::anyhow!("a\nb");
        assert_eq!(one_line(&err), "a b");
    }

    #[test]
    fn describe_appends_the_hint_after_the_cause() {
        assert_eq!(
            describe("mounting proc on /proc", libc::EPERM, Some("do X".into())),
            "mounting proc on /proc: Operation not permitted; do X"
        );
        assert_eq!(
            describe("x", libc::ENOENT, None),
            "x: No such file or directory"
        );
    }
}
