//! The runtime's commands: create, start, state, kill, delete, run, list, spec, features.
//! `create` is ns-rootless's parent (P) up to the point where init waits for `start`; then it
//! exits, and init belongs to the caller's subreaper.

use crate::error::quote;
use crate::oci::cli::{self, Command};
use crate::oci::convert::Caller;
use crate::oci::create::{create, Mode};
use crate::oci::exec_fifo::{Reader as ExecFifo, Started};
use crate::oci::store::{self, Status, Store, Stored};
use crate::oci::{hooks, Log};
use crate::pidfd::Pidfd;
use crate::sys;
use anyhow::{bail, Context, Result};
use nix::libc;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub fn run(cli: cli::Cli, log: &mut Log) -> Result<u8> {
    let g = &cli.global;
    let caller = caller()?;
    let root = g
        .root
        .clone()
        .unwrap_or_else(|| store::default_root(caller.uid));
    let open = |create| Store::open(&root, caller.uid, create);
    match cli.command {
        Command::Create(c) => {
            create(&open(true)?, &c.id, &c.opts, caller, g, log, Mode::Create).map(|_| 0)
        }
        Command::Run(r) => {
            let mode = if r.detach {
                Mode::RunDetached
            } else {
                Mode::Run
            };
            let store = open(true)?;
            let code = create(&store, &r.id, &r.opts, caller, g, log, mode)?;
            if mode == Mode::Run && !r.keep {
                delete(&store, &r.id, true, log)?;
            }
            Ok(code)
        }
        Command::Start(c) => start(&open(false)?, &c.id, log).map(|_| 0),
        Command::State(c) => {
            let store = open(false)?;
            let s = store.get(&c.id)?;
            let (status, _) = store::status(&s);
            print_json(&store::state_json(&s, status))
        }
        Command::Kill(k) => kill(&open(false)?, &k.id, k.signal.as_deref(), k.all).map(|_| 0),
        Command::Delete(d) => delete(&open(false)?, &d.id, d.force, log).map(|_| 0),
        Command::List(l) => list(&open(false)?, l, log),
        Command::Features => print_text(&crate::oci::features::features()),
        Command::Spec(s) => spec(s.bundle.as_deref(), caller).map(|_| 0),
        Command::Exec(e) => crate::oci::exec::run(&open(false)?, &e),
        Command::Pause(_) | Command::Resume(_) => bail!(
            "pause and resume need the cgroup freezer of a delegated cgroup, which ns-rootless \
             doesn't manage"
        ),
        Command::Update(_) => {
            bail!("update needs a delegated cgroup, which ns-rootless doesn't manage")
        }
        Command::Checkpoint(_) | Command::Restore(_) => {
            bail!("checkpoint and restore need CRIU, which ns-rootless doesn't support")
        }
        Command::Ps(_) => bail!("ps is not supported by ns-rootless-oci"),
    }
}

fn print_text(text: &str) -> Result<u8> {
    let mut out = std::io::stdout();
    writeln!(out, "{text}").context("writing to stdout")?;
    Ok(0)
}

fn print_json(v: &serde_json::Value) -> Result<u8> {
    print_text(&serde_json::to_string_pretty(v).context("encoding JSON")?)
}

fn caller() -> Result<Caller> {
    let (uid, euid, gid, _) = sys::ids();
    // The one decision of "real root", shared with the native command line: a uid_map we
    // can't read counts as the initial namespace's (refuse rather than degrade).
    if crate::host::real_root(euid) {
        bail!("refusing to run as root: ns-rootless-oci is a rootless runtime; run it as a plain user");
    }
    Ok(Caller {
        uid,
        gid,
        userns_root: euid == 0,
    })
}

fn start(store: &Store, id: &str, log: &mut Log) -> Result<()> {
    store.get(id)?;
    // Two `start`s at once: one starts it, the other then finds it running (runtime.md: an
    // error, and no effect). Held until the startContainer and poststart hooks are done.
    let dir = std::fs::File::open(store.dir(id))
        .with_context(|| format!("opening {}", quote(store.dir(id))))?;
    let _lock =
        nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
            anyhow::anyhow!(
                "locking container {id}: {}",
                crate::error::strerror(e as i32)
            )
        })?;
    let mut s = store.get(id)?;
    let (status, pidfd) = store::status(&s);
    match (status, pidfd) {
        (Status::Created, Some(pidfd)) => start_with(store, &mut s, &pidfd, log),
        (Status::Stopped, _) => bail!("cannot start a container that has stopped"),
        (Status::Creating, _) => bail!("cannot start a container that is still being created"),
        _ => bail!("cannot start an already running container"),
    }
}

/// Marks the container started, then lets its init go on (it waits for the start signal). With
/// startContainer hooks, waits for their outcome on the exec fifo: a failed one is `start`'s
/// error and the container is stopped (runtime.md lifecycle step 9). With poststart hooks,
/// runs them once the process has exec'd.
pub fn start_with(store: &Store, s: &mut Stored, init: &Pidfd, log: &mut Log) -> Result<()> {
    // runtime.md: start MUST generate an error if the process was not set; it has nothing to
    // run, so the container is stopped (and can be deleted).
    if s.no_process {
        stop(init);
        bail!(
            "cannot start container {}: its config.json has no process (config.md: required \
             by start); the container is stopped",
            s.id
        );
    }
    let start_hooks = &s.hooks.start_container;
    let waits = !start_hooks.is_empty() || !s.hooks.poststart.is_empty();
    // Open before init goes on: a failed hook's byte lasts only while the fifo is open.
    let fifo = match waits {
        true => Some(ExecFifo::open(&store.dir(&s.id))?),
        false => None,
    };
    s.started = true;
    store.write(s)?;
    init.signal(sys::start_signal())
        .map_err(|e| anyhow::anyhow!("starting the container: {}", crate::error::strerror(e)))?;
    let Some(fifo) = fifo else {
        return Ok(());
    };
    // As long as the startContainer hooks may take (their timeouts; without one, a hook may
    // take any time), and 10 s for the execve.
    let hooks_secs = start_hooks
        .iter()
        .try_fold(0i64, |sum, h| Some(sum.saturating_add(h.timeout?)));
    let deadline = hooks_secs.map(|secs| std::time::Duration::from_secs(10 + secs.max(0) as u64));
    match fifo.wait(init, deadline) {
        Started::HookFailed => {
            stop(init);
            bail!(
                "starting container {}: a startContainer hook failed (its words are on the \
                 container's stderr); the container is stopped",
                s.id
            );
        }
        // Ended: the process may have run and ended already.
        Started::Running | Started::Ended | Started::Waiting => {}
    }
    if s.hooks.poststart.is_empty() {
        return Ok(());
    }
    // poststart failures are warnings (runtime.md): the container runs anyway.
    let state = store::state_json(s, Status::Running);
    hooks::run_warning("poststart", &s.hooks.poststart, &state, log);
    Ok(())
}

/// Until a started container's process has exec'd, its init has ended, or 10 s have passed.
pub fn wait_for_exec(store: &Store, id: &str, init: &Pidfd) {
    if let Ok(fifo) = ExecFifo::open(&store.dir(id)) {
        let _ = fifo.wait(init, Some(std::time::Duration::from_secs(10)));
    }
}

/// A signal as runc takes it: a number, `TERM` or `SIGTERM`.
fn parse_signal(text: &str) -> Result<libc::c_int> {
    if let Ok(n) = text.parse::<libc::c_int>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    match name.parse::<nix::sys::signal::Signal>() {
        Ok(sig) => Ok(sig as libc::c_int),
        Err(_) => bail!("invalid signal {}", quote(text)),
    }
}

/// SIGKILL to a container's init, and a wait (10 s at most: a process stuck in the kernel)
/// until it has ended, when its pidfd turns readable. False: it hasn't.
fn stop(init: &Pidfd) -> bool {
    let _ = init.signal(libc::SIGKILL);
    sys::wait_pidfd(init.as_fd().as_raw_fd(), 10_000).unwrap_or(false)
}

/// A signal for the container's process: our init forwards it there. With `--all`, every
/// process of the container gets it: init is asked to kill(-1) in its PID namespace (a queued
/// start signal, see init::reap; joining its namespaces from here is refused, as init is not
/// dumpable). Init itself, which only relays, gets only a SIGKILL, which ends them all anyway.
fn kill(store: &Store, id: &str, signal: Option<&str>, all: bool) -> Result<()> {
    let sig = parse_signal(signal.unwrap_or("TERM"))?;
    // Init takes it as `start` (or, queued, as kill --all): never relayed to the process.
    if sig == sys::start_signal() {
        bail!("signal {sig} is the one the runtime starts containers with; it can't be sent");
    }
    let s = store.get(id)?;
    // runtime.md: a container neither created nor running (stopped, or still being created:
    // its hooks run) gets no signal, and that is an error.
    let (status, pidfd) = match store::status(&s) {
        (Status::Stopped, _) | (_, None) => bail!("container not running"),
        (Status::Creating, _) => bail!("cannot kill a container that is still being created"),
        (status, Some(pidfd)) => (status, pidfd),
    };
    let failed = |e| {
        anyhow::anyhow!(
            "sending signal {sig} to the container: {}",
            crate::error::strerror(e)
        )
    };
    // A created container's init is its only process (and the carrier would start it).
    if !all || status == Status::Created {
        pidfd.signal(sig).map_err(failed)?;
    } else {
        // kill(-1) in a PID namespace that isn't the container's own would reach others'.
        if !pidfd.inits_a_pid_namespace_below_ours() {
            bail!("kill --all: the container has no PID namespace of its own to signal");
        }
        let fd = pidfd.as_fd().as_raw_fd();
        sys::pidfd_queue_signal(fd, sys::start_signal(), sys::SIGNAL_ALL | sig).map_err(failed)?;
        if sig == libc::SIGKILL {
            pidfd.signal(sig).map_err(failed)?;
        }
    }
    // SIGKILL reaches init (directly, or as the process's death ends it): returns once init
    // has ended, so a `delete` right after (runtime-tools' Clean, youki's tests, containerd's
    // WithProcessKill) finds the container stopped, as delete without --force requires. Its
    // pidfd turns readable then; a process stuck in the kernel gets 10 s.
    if sig == libc::SIGKILL {
        let _ = sys::wait_pidfd(pidfd.as_fd().as_raw_fd(), 10_000);
    }
    Ok(())
}

fn delete(store: &Store, id: &str, force: bool, log: &mut Log) -> Result<()> {
    let s = match store.load(id)? {
        Some(s) => s,
        None if force => return Ok(()),
        None => bail!(
            "container does not exist: {}",
            crate::error::escape(id.as_bytes())
        ),
    };
    let (status, pidfd) = store::status(&s);
    // runtime.md: deleting a container that is not stopped MUST be an error with no effect;
    // a created one is not stopped (runc, crun and youki delete it anyway; runtime-tools'
    // validation/delete checks the spec). Its clients kill first or pass --force: podman
    // always runs `delete --force`, containerd kills a created task (WithProcessKill) before
    // it deletes one, and `kill ID KILL` works on a created container.
    if status != Status::Stopped && !force {
        bail!(
            "cannot delete container {id} that is not stopped: {} (kill it first, or use \
             --force)",
            status.as_str()
        );
    }
    if let Some(pidfd) = pidfd {
        // The whole PID namespace dies with its init.
        if !stop(&pidfd) {
            bail!("deleting container {id}: its init didn't end after SIGKILL");
        }
    }
    store.remove(id)?;
    if let Some(dir) = &s.cgroup {
        crate::oci::cgroup::remove(dir);
    }
    let state = store::state_json(&s, Status::Stopped);
    hooks::run_warning("poststop", &s.hooks.poststop, &state, log);
    Ok(())
}

/// The containers whose state can be read; each other one is an error line naming it, and
/// makes the exit status 1 (as ls(1) does with an entry it can't read).
fn list(store: &Store, l: cli::List, log: &mut Log) -> Result<u8> {
    let mut rows = Vec::new();
    let mut unreadable = false;
    for id in store.ids()? {
        match store.load(&id) {
            Ok(Some(s)) => {
                let (status, _) = store::status(&s);
                rows.push((s, status));
            }
            Ok(None) => {}
            Err(e) => {
                log.error(&format!(
                    "container {id} not listed: {}",
                    crate::error::one_line(&e)
                ));
                unreadable = true;
            }
        }
    }
    let code = u8::from(unreadable);
    if l.quiet {
        let ids: Vec<String> = rows.iter().map(|(s, _)| s.id.clone()).collect();
        return if ids.is_empty() {
            Ok(code)
        } else {
            print_text(&ids.join("\n")).map(|_| code)
        };
    }
    if l.format == cli::ListFormat::Json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(s, st)| store::state_json(s, *st))
            .collect();
        return print_text(&serde_json::to_string(&v).context("encoding JSON")?).map(|_| code);
    }
    let mut text = String::from("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER");
    for (s, st) in &rows {
        let pid = if *st == Status::Stopped { 0 } else { s.pid };
        text.push_str(&format!(
            "\n{}\t{pid}\t{}\t{}\t{}\t{}",
            s.id,
            st.as_str(),
            s.bundle,
            s.created,
            s.owner
        ));
    }
    print_text(&text).map(|_| code)
}

fn spec(bundle: Option<&Path>, caller: Caller) -> Result<()> {
    let dir = bundle.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let path = dir.join("config.json");
    let text = crate::oci::features::rootless_spec(caller.uid, caller.gid);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("writing {}", quote(&path)))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .with_context(|| format!("writing {}", quote(&path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_number_or_name() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), libc::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
