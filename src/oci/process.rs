//! An OCI process as the sandbox's process (spec::Process, shared by `create` and `exec`), and
//! the config fields that become values the children write: rlimits, sysctls,
//! oom_score_adj.

use crate::error::quote;
use crate::oci::config::Process;
use crate::spec::{self, OciLockdown};
use anyhow::{bail, Result};
use nix::libc;
use std::ffi::OsString;

/// `process` (a container's, or an `exec`'s) as the sandbox's process: argv, environment,
/// cwd and terminal, locked down by `lockdown` (its ids, capabilities and filters). Rendered
/// for the launcher by prepared::process, as every front end's process is. `rows` is the
/// terminal's height when the config gives no consoleSize.
pub fn to_spec(process: &Process, mut lockdown: OciLockdown, rows: u16) -> Result<spec::Process> {
    if process.args.is_empty() {
        bail!("invalid process.args: empty");
    }
    if !process.cwd.starts_with('/') {
        bail!(
            "invalid process.cwd {}: must be absolute",
            quote(&process.cwd)
        );
    }
    lockdown.oom_score_adj = process
        .oom_score_adj
        .filter(|&v| Some(v) != current_oom_score_adj())
        .map(|v| v.to_string().into_bytes());
    lockdown.scheduler = crate::oci::sched::scheduler(process)?;
    lockdown.io_priority = crate::oci::sched::io_priority(process)?;
    lockdown.console_size = match process.console_size {
        Some(c) => (c.height, c.width),
        None => (rows, if rows > 0 { 80 } else { 0 }),
    };
    Ok(spec::Process {
        command: process.args.iter().map(OsString::from).collect(),
        env: process
            .env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.into(), v.into()),
                None => (kv.into(), OsString::new()),
            })
            .collect(),
        cwd: spec::Cwd::Exact(process.cwd.clone().into()),
        limits: Vec::new(),
        // The config's profile is the lockdown's, installed in runc's order.
        seccomp: spec::Seccomp::None,
        tty: process.terminal,
        ignored_signals: crate::sys::ignored_signals_in(
            &crate::host::read_proc("/proc/self/status").unwrap_or_default(),
        ),
        lockdown: spec::Lockdown::Oci(lockdown),
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
) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>> {
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
        out.push((path.into(), value.as_bytes().to_vec()));
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
