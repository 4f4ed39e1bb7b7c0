//! `ps`, `stop`, `kill`, `logs`, `wait`, `rm`: looking after named sandboxes from outside.
//! Signals go through a pidfd of the sandbox's init, opened and then checked against the
//! recorded start time, so a reused pid is never signalled.

use crate::cli::Manage;
use crate::error::quote;
use crate::pidfd::Pidfd;
use crate::state::{self, Dir, State, Status};
use anyhow::{anyhow, bail, Context, Result};
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Write;
use std::time::{Duration, Instant};

pub fn run(action: Manage, uid: u32) -> Result<u8> {
    let root = state::state_dir(uid)?;
    match action {
        Manage::Ps {
            json,
            all,
            oci_root,
        } => ps(&root, json, all, uid, oci_root.as_deref()),
        Manage::Stop { name, time } => stop(&root, &name, Duration::from_secs(time)),
        Manage::Kill { name, signal } => {
            let sig = parse_signal(&signal)?;
            let st = state::find(&root, &name)?;
            let pidfd = pin(&st)?;
            pidfd.signal(sig).map_err(|e| {
                anyhow!("signalling {}: {}", quote(&name), crate::error::strerror(e))
            })?;
            Ok(0)
        }
        Manage::Logs { name, follow } => logs(&root, &name, follow),
        Manage::Wait { name } => wait(&root, &name),
        Manage::Rm { force, names } => {
            // Every name is tried; each failure is one line, the last one ours to return.
            let mut failed = None;
            for name in &names {
                if let Err(e) = rm(&root, name, force) {
                    if let Some(earlier) = failed.replace(e) {
                        let line = crate::error::one_line(&earlier);
                        let _ = writeln!(std::io::stderr(), "ns-rootless: {line}");
                    }
                }
            }
            failed.map_or(Ok(0), Err)
        }
    }
}

/// A pidfd of the sandbox's init, checked to be that init.
fn pin(st: &State) -> Result<Pidfd> {
    st.pin_init()
        .ok_or_else(|| anyhow!("no sandbox named {}", quote(&st.name)))
}

fn age(st: &State) -> u64 {
    state::now().saturating_sub(st.created)
}

fn ps(
    root: &Dir,
    json: bool,
    all: bool,
    uid: u32,
    oci_root: Option<&std::path::Path>,
) -> Result<u8> {
    // OCI containers (ns-rootless-oci's state root, the default one unless given) are listed
    // too, marked as such.
    if let Some(dir) = oci_root.filter(|d| !d.is_dir()) {
        anyhow::bail!("reading the OCI state root {}: not a directory", quote(dir));
    }
    let containers = crate::oci::store::containers(uid, all, oci_root);
    let rows: Vec<(State, Status)> = state::list(root)?
        .into_iter()
        .map(|s| {
            let status = s.status();
            (s, status)
        })
        .filter(|(_, status)| all || *status == Status::Running)
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(s, status)| {
                let (word, code) = match status {
                    Status::Running => ("running", None),
                    Status::Exited(code) => ("exited", Some(*code)),
                    Status::Unknown => ("unknown", None),
                };
                serde_json::json!({
                    "name": s.name,
                    // An ended sandbox's pids may name other processes by now.
                    "pid": (*status == Status::Running).then_some(s.pid),
                    "status": word,
                    "exit_code": code,
                    "created": s.created,
                    "ended": s.ended,
                    "age_seconds": age(s),
                    "command": s.command,
                    "rootfs": s.rootfs,
                    "hostname": s.hostname,
                    "network": s.network,
                    "ports": s.ports,
                })
            })
            .collect();
        let oci = containers.iter().map(|(c, status)| {
            serde_json::json!({
                "name": c.id,
                "kind": "oci",
                "pid": (*status != crate::oci::store::Status::Stopped).then_some(c.pid),
                "status": status.as_str(),
                "created": c.created,
                "bundle": c.bundle,
                "rootfs": c.rootfs,
            })
        });
        let rows: Vec<_> = rows.into_iter().chain(oci).collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:<20} {:>8} {:<10} {:>7}  {:<30} {:<20} PORTS",
        "NAME", "PID", "STATUS", "AGE", "COMMAND", "ROOTFS"
    )?;
    for (s, status) in &rows {
        let command = crate::error::escape(s.command.join(" ").as_bytes());
        let (pid, word) = match status {
            Status::Running => (s.pid.to_string(), "running".to_string()),
            Status::Exited(code) => ("-".to_string(), format!("exited({code})")),
            Status::Unknown => ("-".to_string(), "unknown".to_string()),
        };
        writeln!(
            out,
            "{:<20} {:>8} {:<10} {:>6}s  {:<30} {:<20} {}",
            s.name,
            pid,
            word,
            age(s),
            command,
            crate::error::escape(s.rootfs.as_deref().unwrap_or("-").as_bytes()),
            if s.ports.is_empty() {
                "-".to_string()
            } else {
                s.ports.join(",")
            }
        )?;
    }
    for (c, status) in &containers {
        writeln!(
            out,
            "{:<20} {:>8} {:<10} {:>7}  {:<30} {:<20} -",
            c.id,
            c.pid,
            status.as_str(),
            "-",
            "(OCI container)",
            crate::error::escape(c.rootfs.as_bytes()),
        )?;
    }
    Ok(0)
}

/// Waits until the process behind `pidfd` has exited, up to `limit`.
fn wait_exit(pidfd: &Pidfd, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) if left.is_zero() => return false,
            Ok(_) | Err(_) => {}
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

fn stop(root: &Dir, name: &str, grace: Duration) -> Result<u8> {
    let st = state::find(root, name)?;
    let pidfd = pin(&st)?;
    // init forwards SIGTERM to the command; SIGKILL ends the whole PID namespace.
    let signal = |sig| {
        pidfd
            .signal(sig)
            .map_err(|e| anyhow!("stopping {}: {}", quote(name), crate::error::strerror(e)))
    };
    signal(libc::SIGTERM)?;
    if !wait_exit(&pidfd, grace) {
        signal(libc::SIGKILL)?;
        if !wait_exit(&pidfd, Duration::from_secs(5)) {
            bail!(
                "stopping {}: the sandbox did not end after SIGKILL",
                quote(name)
            );
        }
    }
    // Its supervisor records the end as it exits; don't return before that.
    wait_for_supervisor(&st, Duration::from_secs(5));
    Ok(0)
}

/// Waits, up to `limit`, until the sandbox's supervisor has exited: it has recorded the exit
/// status (or removed the record, with --rm) by then.
fn wait_for_supervisor(st: &State, limit: Duration) -> bool {
    match st.pin_supervisor() {
        Some(supervisor) => wait_exit(&supervisor, limit),
        // A state without the supervisor's start time (an older version's): its init.
        None => st.pin_init().is_none_or(|init| wait_exit(&init, limit)),
    }
}

fn wait(root: &Dir, name: &str) -> Result<u8> {
    let mut seen = false;
    let mut reread = false;
    loop {
        let st = match state::find_any(root, name) {
            Ok(st) => st,
            Err(_) if seen => bail!(
                "waiting for {}: it was removed as it ended (--rm, or `rm -f`), and its exit \
                 status with it",
                quote(name)
            ),
            Err(e) => return Err(e),
        };
        seen = true;
        match st.status() {
            Status::Exited(code) => return Ok(code),
            // Read before its supervisor's last write, judged after its exit: that write is
            // done by now, so read the state once more before calling the status unknown.
            Status::Unknown if !reread => reread = true,
            Status::Unknown => bail!(
                "waiting for {}: it has ended, but its exit status is unknown (its supervisor \
                 was killed)",
                quote(name)
            ),
            Status::Running => {
                wait_for_supervisor(&st, Duration::from_secs(60));
            }
        }
    }
}

fn rm(root: &Dir, name: &str, force: bool) -> Result<()> {
    let st = state::find_any(root, name)?;
    if st.is_alive() {
        if !force {
            bail!(
                "removing {}: it is running; stop it first (`ns-rootless stop {}`), or use rm -f",
                quote(name),
                name
            );
        }
        // SIGKILL ends its whole PID namespace; its supervisor then records the end.
        if let Some(init) = st.pin_init() {
            init.signal(libc::SIGKILL)
                .map_err(|e| anyhow!("killing {}: {}", quote(name), crate::error::strerror(e)))?;
        }
        if !wait_for_supervisor(&st, Duration::from_secs(10)) {
            bail!("removing {}: its supervisor did not end", quote(name));
        }
    }
    match state::remove_record(root, name) {
        Err(_) if force && !root.path().join(name).exists() => Ok(()),
        r => r.with_context(|| format!("removing {}", quote(name))),
    }
}

fn logs(root: &Dir, name: &str, follow: bool) -> Result<u8> {
    let st = state::find_any(root, name)?;
    let path = root.path().join(name).join(crate::log::CURRENT);
    let reading = || format!("reading {}", quote(&path));
    let dir = root
        .subdir(name)
        .map_err(|_| anyhow!("{}: not a private directory of yours", reading()))?;
    let Some(mut log) = crate::log::Reader::open(&dir).with_context(reading)? else {
        bail!("{} has no log: it was not started with -d", quote(name))
    };
    let mut out = std::io::stdout().lock();
    match copy_log(&mut log, &dir, &st, follow, &mut out) {
        // `logs NAME | head`: the reader has seen enough.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        r => r.map(|()| 0).with_context(reading),
    }
}

fn copy_log(
    log: &mut crate::log::Reader,
    dir: &Dir,
    st: &State,
    follow: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    loop {
        // Asked before reading: once it has ended, its log is complete (the supervisor
        // waits for the logger before it records the end), and what we read next is all.
        let alive = follow && st.is_alive();
        log.copy_to(out)?;
        if log.follow_rotation(dir, out)? {
            continue;
        }
        out.flush()?;
        if !alive {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `TERM`, `SIGTERM`, `15`: only the signals init forwards to the command, and KILL.
fn parse_signal(raw: &str) -> Result<i32> {
    let name = raw.trim_start_matches("SIG").to_ascii_uppercase();
    let by_name = [
        ("INT", libc::SIGINT),
        ("TERM", libc::SIGTERM),
        ("HUP", libc::SIGHUP),
        ("QUIT", libc::SIGQUIT),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("WINCH", libc::SIGWINCH),
        ("KILL", libc::SIGKILL),
    ];
    by_name
        .iter()
        .find(|(n, num)| *n == name || raw.parse::<i32>().ok() == Some(*num))
        .map(|&(_, num)| num)
        .ok_or_else(|| {
            anyhow!(
                "invalid signal {}: use INT, TERM, HUP, QUIT, USR1, USR2, WINCH or KILL",
                quote(raw)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("SIGkill").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("15").unwrap(), libc::SIGTERM);
        assert!(parse_signal("STOP").is_err());
        assert!(parse_signal("19").is_err());
    }
}
