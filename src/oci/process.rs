//! An OCI process, rendered for the launcher: argv, environment, cwd, terminal (shared by
//! `create` and `exec`), and the config fields that become values the children write: rlimits,
//! sysctls, oom_score_adj, time namespace offsets.

use crate::error::quote;
use crate::oci::config::Process;
use crate::oci::launch::OciProcess;
use crate::prepared::{self, cstring, PreparedCwd};
use anyhow::{bail, Result};
use nix::libc;
use std::ffi::OsString;

/// What the launcher runs for `process` (a container's, or an `exec`'s): argv, environment,
/// the PATH candidates, cwd and terminal, with `oci`'s ids, capabilities and filters: the
/// process half of what the launcher runs (prepared::Process). `rows` is the terminal's height when the config gives
/// no consoleSize.
pub fn prepare_process(process: &Process, oci: OciProcess, rows: u16) -> Result<prepared::Process> {
    if process.args.is_empty() {
        bail!("invalid process.args: empty");
    }
    if !process.cwd.starts_with('/') {
        bail!(
            "invalid process.cwd {}: must be absolute",
            quote(&process.cwd)
        );
    }
    let command: Vec<OsString> = process.args.iter().map(OsString::from).collect();
    let env: Vec<(OsString, OsString)> = process
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.into(), v.into()),
            None => (kv.into(), OsString::new()),
        })
        .collect();
    let (candidates, argv, envp) = prepared::prepare_command(&command, &env)?;
    let pty = process.terminal.then(|| crate::tty::PtySetup {
        termios: None,
        winsize: libc::winsize {
            ws_row: process.console_size.map_or(rows, |c| c.height),
            ws_col: process
                .console_size
                .map_or(if rows > 0 { 80 } else { 0 }, |c| c.width),
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    });
    Ok(prepared::Process {
        nest: None,
        drop_caps: true,
        ignored_signals: crate::sys::ignored_signals_in(
            &crate::host::read_proc("/proc/self/status").unwrap_or_default(),
        ),
        cwd: PreparedCwd::Exact(cstring(process.cwd.as_bytes())?),
        limits: Vec::new(),
        pty,
        // Set by create and exec, which know the network namespace (landlock.rs).
        landlock: None,
        seccomp: None,
        candidates,
        argv,
        envp,
        oci: Some(oci),
    })
}

pub fn current_oom_score_adj() -> Option<i32> {
    crate::host::read_proc("/proc/self/oom_score_adj")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Namespaced sysctls only, and only those of a namespace the container has of its own.
pub fn sysctls(
    map: Option<&std::collections::BTreeMap<String, String>>,
    flags: libc::c_int,
    userns_root: bool,
) -> Result<Vec<(std::ffi::CString, Vec<u8>)>> {
    let mut out = Vec::new();
    for (key, value) in map.into_iter().flatten() {
        let ok_chars = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !key.contains("..");
        let ns = if key.starts_with("net.") {
            Some(libc::CLONE_NEWNET)
        } else if key.starts_with("fs.mqueue.")
            || key.starts_with("kernel.msg")
            || key.starts_with("kernel.shm")
            || key == "kernel.sem"
        {
            Some(libc::CLONE_NEWIPC)
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            Some(libc::CLONE_NEWUTS)
        } else {
            None
        };
        match ns {
            Some(flag)
                if ok_chars
                    && (flags & flag != 0 || (userns_root && flag == libc::CLONE_NEWNET)) => {}
            _ => bail!(
                "invalid linux.sysctl {}: not a sysctl of the container's own namespaces",
                quote(key)
            ),
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        out.push((cstring(path.as_bytes())?, value.as_bytes().to_vec()));
    }
    Ok(out)
}

/// `--preserve-fds N` passes fds 3 to 3+N-1: all of them below the open-file limit, or some
/// can't exist (and N near 2^31 would overflow the fd numbers).
pub fn check_preserve_fds(n: u32) -> Result<()> {
    use nix::sys::resource::{getrlimit, Resource};
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    if u64::from(n) + 3 > soft {
        bail!("invalid --preserve-fds {n}: fds 3 to {n}+2 can't all be open below the open-file limit ({soft})");
    }
    Ok(())
}

/// `process.rlimits` as (resource, soft, hard), for the container's process and `exec`'s alike.
pub fn rlimits(process: &Process) -> Result<Vec<(libc::c_int, u64, u64)>> {
    // config.md: "If rlimits contains duplicated entries with same type, the runtime MUST
    // generate an error."
    for (i, r) in process.rlimits.iter().enumerate() {
        if process.rlimits[..i].iter().any(|o| o.kind == r.kind) {
            bail!(
                "invalid process.rlimits: {} is listed twice",
                quote(&r.kind)
            );
        }
    }
    process
        .rlimits
        .iter()
        .map(|r| Ok((rlimit_number(&r.kind)?, r.soft, r.hard)))
        .collect()
}

fn rlimit_number(name: &str) -> Result<libc::c_int> {
    Ok(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        other => bail!("invalid process.rlimits: unknown type {}", quote(other)),
    } as libc::c_int)
}
