//! `ps`, `stop`, `kill`, `logs`: looking after named sandboxes from outside. Signals go through
//! a pidfd of the sandbox's init, opened and then checked against the recorded start time, so a
//! reused pid is never signalled.

use crate::cli::Manage;
use crate::error::quote;
use crate::pidfd::Pidfd;
use crate::state::{self, Dir, State};
use anyhow::{anyhow, bail, Context, Result};
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

pub fn run(action: Manage, uid: u32) -> Result<u8> {
    let root = state::state_dir(uid)?;
    match action {
        Manage::Ps { json } => ps(&root, json),
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
    }
}

/// A pidfd of the sandbox's init, checked to be that init.
fn pin(st: &State) -> Result<Pidfd> {
    st.pin_init()
        .ok_or_else(|| anyhow!("no sandbox named {}", quote(&st.name)))
}

fn age(st: &State) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_sub(st.created)
}

fn ps(root: &Dir, json: bool) -> Result<u8> {
    let all = state::list(root)?;
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<_> = all
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "pid": s.pid,
                    "status": "running",
                    "age_seconds": age(s),
                    "command": s.command,
                    "rootfs": s.rootfs,
                    "hostname": s.hostname,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:<20} {:>8} {:<8} {:>7}  {:<30} ROOTFS",
        "NAME", "PID", "STATUS", "AGE", "COMMAND"
    )?;
    for s in &all {
        let command = crate::error::escape(s.command.join(" ").as_bytes());
        writeln!(
            out,
            "{:<20} {:>8} {:<8} {:>6}s  {:<30} {}",
            s.name,
            s.pid,
            "running",
            age(s),
            command,
            crate::error::escape(s.rootfs.as_deref().unwrap_or("-").as_bytes())
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
    // Its supervisor removes the state as it exits; don't return before that.
    let dir = root.path().join(name);
    let deadline = Instant::now() + Duration::from_secs(2);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = state::load(root, name);
    Ok(0)
}

fn logs(root: &Dir, name: &str, follow: bool) -> Result<u8> {
    let st = state::find(root, name)?;
    let path = root.path().join(name).join("log");
    let opened = root
        .subdir(name)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::PermissionDenied))
        .and_then(|dir| dir.open_file("log"));
    let mut file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{} has no log: it was not started with -d", quote(name))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", quote(&path))),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).context("reading the log")?;
        if n > 0 {
            out.write_all(&buf[..n])?;
            continue;
        }
        if !follow {
            out.flush()?;
            return Ok(0);
        }
        if !st.is_alive() {
            // It may have written more between our last read and its end: take that too.
            std::io::copy(&mut file, &mut out).context("reading the log")?;
            out.flush()?;
            return Ok(0);
        }
        out.flush()?;
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
