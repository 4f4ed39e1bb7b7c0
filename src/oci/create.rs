//! `create` (and `run`'s first half): ns-rootless's parent up to the point where the
//! container's init waits for `start`, then it exits, leaving init to the caller's subreaper.

use crate::error::{quote, Stage};
use crate::oci::cli::{CreateOpts, Global};
use crate::oci::config::{Config, Hooks};
use crate::oci::convert::{self, Caller, Container};
use crate::oci::lifecycle::start_with;
use crate::oci::store::{self, Status, Store, Stored};
use crate::oci::{hooks, Log};
use crate::plan::Plan;
use crate::sync::Record;
use crate::{parent, signals, sync, sys};
use anyhow::{bail, Context, Result};
use nix::libc;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Run,
    RunDetached,
}

/// `create` (and the first half of `run`). Returns the container's exit status for `run`.
pub fn create(
    store: &Store,
    id: &str,
    opts: &CreateOpts,
    caller: Caller,
    g: &Global,
    log: &mut Log,
    mode: Mode,
) -> Result<u8> {
    store::validate_id(id)?;
    if store.load(id)?.is_some() {
        bail!("container with id exists: {id}");
    }
    let bundle = match &opts.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().context("finding the current directory")?,
    };
    let bundle = bundle
        .canonicalize()
        .with_context(|| format!("invalid bundle {}", quote(&bundle)))?;
    let config_path = bundle.join("config.json");
    let text =
        std::fs::read(&config_path).with_context(|| format!("reading {}", quote(&config_path)))?;
    let config = crate::oci::config::parse(&text)
        .map_err(|e| anyhow::anyhow!("invalid {}: {e}", quote(&config_path)))?;
    let terminal = config.process.as_ref().is_some_and(|p| p.terminal);
    if terminal && opts.console_socket.is_none() && mode != Mode::Run {
        bail!("process.terminal is true: a --console-socket is needed to receive the terminal");
    }
    if !terminal && opts.console_socket.is_some() {
        bail!("--console-socket given, but process.terminal is false");
    }
    if g.systemd_cgroup {
        log.debug("--systemd-cgroup: cgroups are not managed through systemd; ignored");
    }
    if config.linux.as_ref().is_some_and(|l| l.resources.is_some()) {
        log.debug(
            "linux.resources not applied: ns-rootless doesn't manage cgroups (not delegated to it)",
        );
    }
    let container = convert::convert(
        &config,
        &bundle,
        caller,
        &convert::Options {
            preserve_fds: opts.preserve_fds,
            new_keyring: !opts.no_new_keyring,
        },
    )?;
    let console = match &opts.console_socket {
        Some(path) => Some(
            std::os::unix::net::UnixStream::connect(path)
                .with_context(|| format!("connecting to the console socket {}", quote(path)))?,
        ),
        None => None,
    };
    store.claim(id)?;
    let launched = launch(
        store, id, &bundle, &config, container, console, opts, mode, log,
    );
    if launched.is_err() {
        let _ = store.remove(id);
    }
    launched
}

#[allow(clippy::too_many_arguments)]
fn launch(
    store: &Store,
    id: &str,
    bundle: &Path,
    config: &Config,
    container: Container,
    console: Option<std::os::unix::net::UnixStream>,
    opts: &CreateOpts,
    mode: Mode,
    log: &mut Log,
) -> Result<u8> {
    let Container {
        prepared,
        maps,
        rootfs,
        plan,
        ..
    } = container;
    signals::take_over();
    // Blocked before clone, so that init can't miss it (see sys::wait_for_signal).
    sys::block_signal(sys::start_signal());
    let umask = config
        .process
        .as_ref()
        .and_then(|p| p.user.umask)
        .unwrap_or(0o022);
    let mut keep = prepared
        .oci
        .as_ref()
        .map(|o| o.kept_fds())
        .unwrap_or_default();
    // The process's Landlock ruleset (convert.rs), an anonymous inode.
    keep.extend(prepared.landlock.as_ref().map(|r| r.as_raw_fd()));
    let spawned = parent::spawn_init(&prepared, umask, &keep)?;
    let (child, init) = (spawned.pid, spawned.init);
    let kill_init = || {
        let _ = init.signal(libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(child, None);
    };
    // The maps are written at the pid /proc gives init (see pidfd.rs); the state and the pid
    // file get its pid in our own namespace, which is the caller's.
    let released = match (init.proc_pid(), init.our_pid()) {
        (Some(proc_pid), Some(_)) => write_maps(proc_pid, maps.as_ref()),
        _ => Err(anyhow::anyhow!(
            "finding the container's init in /proc: its pidfd names no pid there"
        )),
    };
    let pid = init.our_pid().unwrap_or(0);
    let owner_uid = sys::ids().0;
    let mut stored = Stored {
        id: id.to_string(),
        pid,
        start_time: init.start_time().unwrap_or(0),
        bundle: bundle.to_string_lossy().into_owned(),
        rootfs: rootfs.to_string_lossy().into_owned(),
        created: store::now_rfc3339(),
        owner: store::owner_name(owner_uid),
        annotations: config.annotations.clone(),
        started: false,
        hooks: config.hooks.clone().unwrap_or_default(),
    };
    let released = released.and_then(|()| {
        sync::send_mapped(&spawned.go_write).map_err(|e| {
            anyhow::anyhow!(
                "starting the container's init: {}",
                crate::error::strerror(e)
            )
        })
    });
    // startContainer hooks get the state from init, which reads it from the handshake pipe
    // after `start` (it waits there: the pipe holds 64 KiB).
    let released = released.and_then(|()| match prepared.oci.as_ref() {
        Some(o) if !o.start_hooks.is_empty() => {
            let state = serde_json::to_vec(&store::state_json(&stored, Status::Running))?;
            if state.len() > crate::oci::launch::STATE_MAX {
                bail!("the container's state is too large for its startContainer hooks");
            }
            let mut msg = (state.len() as u32).to_ne_bytes().to_vec();
            msg.extend_from_slice(&state);
            sys::write_all(spawned.go_write.as_raw_fd(), &msg).map_err(|e| {
                anyhow::anyhow!("passing the state to init: {}", crate::error::strerror(e))
            })
        }
        _ => Ok(()),
    });
    if let Err(e) = released {
        kill_init();
        return Err(e);
    }
    drop(spawned.go_write);
    let mut master = None;
    if let (Some(sock), Some(_)) = (&spawned.sock, &prepared.pty) {
        match sync::receive_fd(sock).context("receiving the container's terminal") {
            Ok(m) => master = m,
            Err(e) => {
                kill_init();
                return Err(e);
            }
        }
    }
    let record = sync::first_record(spawned.report_read);
    if let Some(r) = record.filter(|r| r.stage != Stage::Created) {
        kill_init();
        bail!(word_failure(r, &plan, config));
    }
    if record.is_none() {
        kill_init();
        bail!("the container's init ended before it was created");
    }
    // The terminal goes to the console socket (conmon), or is relayed by `run` itself.
    let (relay, _raw) = match hand_terminal(master, console.as_ref(), prepared.pty.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            kill_init();
            return Err(e);
        }
    };
    drop(console);
    let created = store.write(&stored).and_then(|()| match &opts.pid_file {
        Some(path) => store::write_atomic(&absolute(path)?, format!("{pid}").as_bytes(), 0o644),
        None => Ok(()),
    });
    let created = created.and_then(|()| {
        let state = store::state_json(&stored, Status::Created);
        let h: Hooks = stored.hooks.clone();
        hooks::run("prestart", &h.prestart, &state)?;
        hooks::run("createRuntime", &h.create_runtime, &state)?;
        hooks::run("createContainer", &h.create_container, &state)
    });
    if let Err(e) = created {
        kill_init();
        let _ = store.remove(id);
        return Err(e);
    }
    drop(prepared);
    if mode == Mode::Create {
        return Ok(0);
    }
    // `run`: start it ourselves, then (unless detached) wait for it as its parent.
    start_with(store, &mut stored, &init, log)?;
    if mode == Mode::RunDetached {
        return Ok(0);
    }
    let outcome = crate::supervise::supervise(child, &init, None, relay)?;
    Ok(outcome.status)
}

/// The pty master of a container's (or an exec'd) process: sent over the console socket with a
/// non-empty message (conmon, containerd), else relayed to our terminal (`run`, `exec -t`).
pub fn hand_terminal(
    master: Option<OwnedFd>,
    console: Option<&std::os::unix::net::UnixStream>,
    setup: Option<&crate::tty::PtySetup>,
) -> Result<(Option<crate::tty::Relay>, Option<crate::tty::RawMode>)> {
    match (master, console, setup) {
        (Some(master), Some(sock), _) => {
            sys::send_fd_with(sock.as_raw_fd(), master.as_raw_fd(), b"/dev/ptmx").map_err(|e| {
                anyhow::anyhow!(
                    "sending the terminal to the console socket: {}",
                    crate::error::strerror(e)
                )
            })?;
            Ok((None, None))
        }
        (Some(master), None, Some(setup)) => {
            let (relay, raw) = crate::tty::attach(master, setup)?;
            Ok((Some(relay), raw))
        }
        _ => Ok((None, None)),
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.into())
    } else {
        Ok(std::env::current_dir()
            .context("finding the current directory")?
            .join(p))
    }
}

/// The maps of a new user namespace, written from outside with std::fs (never newuidmap);
/// setgroups is denied first where the kernel requires it (a plain user's one-id map).
fn write_maps(pid: i32, maps: Option<&(String, String, bool)>) -> Result<()> {
    let Some((uid_map, gid_map, deny)) = maps else {
        return Ok(());
    };
    if *deny {
        return crate::idmap::write_maps(Path::new("/proc"), pid, uid_map, gid_map);
    }
    let dir = PathBuf::from(format!("/proc/{pid}"));
    for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
        let path = dir.join(file);
        std::fs::write(&path, map)
            .with_context(|| format!("writing {} to {}", quote(map.trim_end()), path.display()))?;
    }
    Ok(())
}

/// A failure in init or before the process's execve, in runc's words where podman reads them
/// ("executable file not found in $PATH" → 127, "permission denied" → 126).
fn word_failure(r: Record, plan: &Plan, config: &Config) -> String {
    let arg0 = config
        .process
        .as_ref()
        .and_then(|p| p.args.first().cloned())
        .unwrap_or_default();
    let errno_text = || crate::error::strerror(r.errno).to_lowercase();
    match r.stage {
        Stage::Exec if r.errno == libc::ENOENT && !arg0.contains('/') => {
            format!("exec: {}: executable file not found in $PATH", quote(&arg0))
        }
        Stage::Exec => format!("exec: {}: {}", quote(&arg0), errno_text()),
        Stage::Step | Stage::MountPoint => match plan.steps.get(r.step as usize) {
            Some(s) => crate::error::describe(&s.describe(), r.errno, None),
            None => crate::error::describe(r.stage.doing(), r.errno, None),
        },
        Stage::JoinNamespace => {
            crate::error::describe("joining a namespace of linux.namespaces", r.errno, None)
        }
        Stage::Sysctl => crate::error::describe("writing a linux.sysctl", r.errno, None),
        _ => crate::error::describe(
            r.stage.doing(),
            r.errno,
            crate::host::userns_hint(r.errno).filter(|_| r.stage == Stage::Handshake),
        ),
    }
}
