//! An OCI process as the sandbox's process (spec::Process, for `exec`; `create`'s goes
//! through spec::validate), and the config fields that become values the children write:
//! rlimits, oom_score_adj.

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
pub fn to_spec(process: &Process, lockdown: OciLockdown, rows: u16) -> Result<spec::Process> {
    if process.args.is_empty() {
        bail!("invalid process.args: empty");
    }
    if !process.cwd.starts_with('/') {
        bail!(
            "invalid process.cwd {}: must be absolute",
            quote(&process.cwd)
        );
    }
    let lockdown = self::lockdown(process, lockdown, rows)?;
    Ok(spec::Process {
        command: process.args.iter().map(OsString::from).collect(),
        env: spec::env_exactly(
            spec::OCI_CONFIG.env,
            &process.env.iter().map(OsString::from).collect::<Vec<_>>(),
        )?,
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

/// `lockdown` with what else `process` says of how it runs: its oom_score_adj, scheduling and
/// terminal size. `rows` is the terminal's height when the config gives no consoleSize.
pub fn lockdown(process: &Process, mut lockdown: OciLockdown, rows: u16) -> Result<OciLockdown> {
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
    Ok(lockdown)
}

pub fn current_oom_score_adj() -> Option<i32> {
    crate::host::read_proc("/proc/self/oom_score_adj")
        .ok()?
        .trim()
        .parse()
        .ok()
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
