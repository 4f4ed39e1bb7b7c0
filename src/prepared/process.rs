//! The process half of `prepare`, shared with `exec`: what a process needs to start in a
//! sandbox it is inside of.

use super::{cpath, cstring, CStrArray};
use crate::spec::{Cwd, Seccomp};
use anyhow::Result;
use nix::libc;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;

/// What a process needs to start in a sandbox it is inside of (payload.rs): the payload init
/// starts, or a command `exec` (native or OCI) adds to a running sandbox.
pub struct Process {
    /// The nested user namespace the payload starts in, and its maps (not when `exec` has
    /// joined the payload's already, nor for an OCI process).
    pub nest: Option<Nest>,
    /// Whether the process drops every capability. With `--allow nested` it keeps them: they
    /// only reach its own nested user namespace, and mapping root in a namespace of its own
    /// needs CAP_SETFCAP (user_namespaces(7), since Linux 5.12).
    pub drop_caps: bool,
    /// The signals we ignore (inherited from the caller, plus Rust's SIGPIPE): the process
    /// resets them to their defaults.
    pub ignored_signals: u64,
    pub cwd: PreparedCwd,
    pub limits: Vec<crate::spec::Limit>,
    /// The pty to open for the process, when it gets one.
    pub pty: Option<crate::tty::PtySetup>,
    /// The Landlock ruleset the process enters before its seccomp filter, if any (landlock.rs).
    pub landlock: Option<std::os::fd::OwnedFd>,
    /// The seccomp program to install last, if any.
    pub seccomp: Option<crate::seccomp::Program>,
    /// Paths to try with execve, in PATH order (execvp's search, done without allocating).
    pub candidates: Vec<CString>,
    pub argv: CStrArray,
    pub envp: CStrArray,
    /// What an OCI process adds: its config's ids, capabilities, no_new_privs, rlimits and
    /// seccomp profile, its preserved fds.
    pub oci: Option<crate::spec::OciLockdown>,
}

/// The payload's nested user namespace (payload.rs).
pub struct Nest {
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// The payload is in a time namespace of its own, with a copy of init's memory.
    pub own_time: bool,
}

pub enum PreparedCwd {
    /// Try this path, fall back to `/`.
    Try(CString),
    /// This path or fail.
    Exact(CString),
    Root,
}

/// The execve candidates for `command` given the sandbox's PATH, like execvp(3): a name with a
/// slash is used as is; an empty PATH entry means the current directory.
pub fn exec_candidates(command: &OsStr, path: &OsStr) -> Vec<Vec<u8>> {
    let cmd = command.as_bytes();
    if cmd.contains(&b'/') {
        return vec![cmd.to_vec()];
    }
    if cmd.is_empty() {
        return vec![];
    }
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
            let mut full = dir.to_vec();
            if !full.ends_with(b"/") {
                full.push(b'/');
            }
            full.extend_from_slice(cmd);
            full
        })
        .collect()
}

/// The process half of `prepare`, shared with `exec`: `p` run in a sandbox whose network is
/// the host's (`host_net`: then it enters a Landlock domain, landlock.rs), in the nested user
/// namespace `nest` when it makes one.
pub fn process(p: &crate::spec::Process, host_net: bool, nest: Option<Nest>) -> Result<Process> {
    let (candidates, argv, envp) = prepare_command(&p.command, &p.env)?;
    crate::stamps::stamp("r-cmd");
    let landlock = crate::landlock::payload_ruleset(host_net)?;
    crate::stamps::stamp("r-landlock");
    let seccomp = match &p.seccomp {
        Seccomp::Default(allow) => Some(crate::seccomp::default_program(allow)?),
        Seccomp::None => None,
        Seccomp::Program(bytes) => Some(
            crate::seccomp::program_from_bytes(bytes)
                .map_err(|why| anyhow::anyhow!("invalid seccomp program: {why}"))?,
        ),
    };
    crate::stamps::stamp("r-seccomp");
    let (drop_caps, oci) = match &p.lockdown {
        crate::spec::Lockdown::Native { keep_caps } => (!keep_caps, None),
        crate::spec::Lockdown::Oci(o) => (true, Some(o.clone())),
    };
    let pty = match &oci {
        _ if !p.tty => None,
        None => Some(crate::tty::PtySetup::from_stdin()),
        Some(o) => Some(crate::tty::PtySetup {
            termios: None,
            winsize: libc::winsize {
                ws_row: o.console_size.0,
                ws_col: o.console_size.1,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        }),
    };
    Ok(Process {
        nest,
        drop_caps,
        ignored_signals: p.ignored_signals,
        cwd: match &p.cwd {
            Cwd::Caller(p) => PreparedCwd::Try(cpath(p)?),
            Cwd::Exact(p) => PreparedCwd::Exact(cpath(p)?),
            Cwd::Root => PreparedCwd::Root,
        },
        limits: p.limits.clone(),
        pty,
        landlock,
        seccomp,
        candidates,
        argv,
        envp,
        oci,
    })
}

/// The execve candidates, argv and envp of `command` run with `env` (its PATH searched).
pub fn prepare_command(
    command: &[std::ffi::OsString],
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Result<(Vec<CString>, CStrArray, CStrArray)> {
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str())
        .unwrap_or(OsStr::new(crate::spec::DEFAULT_PATH));
    let candidates = match command.first() {
        Some(cmd) => exec_candidates(cmd, path)
            .into_iter()
            .map(|c| cstring(&c))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let argv = command
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<_>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstring(&kv)
        })
        .collect::<Result<_>>()?;
    Ok((candidates, CStrArray::new(argv), CStrArray::new(envp)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn candidates_follow_path_order() {
        assert_eq!(
            strs(exec_candidates("ls".as_ref(), "/usr/bin:/bin/".as_ref())),
            ["/usr/bin/ls", "/bin/ls"]
        );
    }

    #[test]
    fn a_name_with_a_slash_is_not_searched() {
        assert_eq!(
            strs(exec_candidates("./run.sh".as_ref(), "/bin".as_ref())),
            ["./run.sh"]
        );
    }

    #[test]
    fn an_empty_path_entry_means_the_current_directory() {
        assert_eq!(
            strs(exec_candidates("x".as_ref(), "/bin::".as_ref())),
            ["/bin/x", "./x", "./x"]
        );
    }

    #[test]
    fn an_empty_command_has_no_candidates() {
        assert!(exec_candidates("".as_ref(), "/bin".as_ref()).is_empty());
    }
}
