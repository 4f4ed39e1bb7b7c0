//! Runs config.json hooks: each a host program, given the container's state JSON on stdin,
//! with its own argv and environment (nothing of ours), killed at its timeout.

use crate::error::quote;
use crate::oci::config::Hook;
use crate::oci::Log;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order; the first that fails (or times out) is the error.
pub fn run(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    let input = serde_json::to_vec(state).context("encoding the state for hooks")?;
    for (i, hook) in hooks.iter().enumerate() {
        run_named(kind, i, hook, &input)?;
    }
    Ok(())
}

/// poststart and poststop hooks: each that fails is a warning and the rest still run
/// (runtime.md: "the remaining hooks and lifecycle continue as if the hook had succeeded").
pub fn run_warning(kind: &str, hooks: &[Hook], state: &serde_json::Value, log: &mut Log) {
    let input = match serde_json::to_vec(state).context("encoding the state for hooks") {
        Ok(input) => input,
        Err(e) => return log.warn(&crate::error::one_line(&e)),
    };
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_named(kind, i, hook, &input) {
            log.warn(&crate::error::one_line(&e));
        }
    }
}

fn run_named(kind: &str, i: usize, hook: &Hook, input: &[u8]) -> Result<()> {
    run_one(hook, input).with_context(|| format!("running hooks.{kind}[{i}] {}", quote(&hook.path)))
}

fn run_one(hook: &Hook, input: &[u8]) -> Result<()> {
    if !hook.path.starts_with('/') {
        bail!("the path must be absolute");
    }
    // config.md: "If set, timeout MUST be greater than zero."
    if hook.timeout.is_some_and(|t| t <= 0) {
        bail!("its timeout must be greater than zero");
    }
    let mut cmd = Command::new(&hook.path);
    match hook.args.split_first() {
        Some((arg0, rest)) => {
            cmd.arg0(arg0).args(rest);
        }
        None => {
            cmd.arg0(&hook.path);
        }
    }
    cmd.env_clear();
    for kv in &hook.env {
        match kv.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => cmd.env(kv, ""),
        };
    }
    // A hook's output is not the container's: keep our stdout clean (state, list print there).
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // Our blocked signals and fds without close-on-exec would be inherited: the hook gets an
    // empty mask and only stdio.
    crate::sys::clean_at_exec(&mut cmd);
    // A process group of its own, so that its timeout ends what it started too.
    cmd.process_group(0);
    let mut child = cmd.spawn().context("starting it")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that doesn't read its stdin is fine: EPIPE is not its failure.
        let _ = stdin.write_all(input);
    }
    let deadline = hook
        .timeout
        .filter(|&t| t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let mut pause = Duration::from_micros(200);
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for it")? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // Its whole process group: what it started would outlive it holding our stderr.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            bail!("timed out after {} s", hook.timeout.unwrap_or(0));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => bail!("it exited with status {code}"),
        (_, Some(sig)) => bail!("it was killed by signal {sig}"),
        _ => bail!("it failed"),
    }
}
