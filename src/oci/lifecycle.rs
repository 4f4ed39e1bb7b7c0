//! The runtime's commands: create, start, state, kill, delete, run, list, spec, features.
//! `create` is ns-rootless's parent (P) up to the point where init waits for `start`; then it
//! exits, and init belongs to the caller's subreaper.

use crate::error::{quote, Stage};
use crate::oci::cli::{self, Command, CreateOpts, Global};
use crate::oci::config::{Config, Hooks};
use crate::oci::convert::{self, Caller, Container};
use crate::oci::store::{self, Status, Store, Stored};
use crate::oci::{hooks, Log};
use crate::pidfd::Pidfd;
use crate::plan::Plan;
use crate::sync::Record;
use crate::{parent, signals, sync, sys};
use anyhow::{bail, Context, Result};
use nix::libc;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
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
        Command::Kill(k) => kill(&open(false)?, &k.id, k.signal.as_deref()).map(|_| 0),
        Command::Delete(d) => delete(&open(false)?, &d.id, d.force, log).map(|_| 0),
        Command::List(l) => list(&open(false)?, l),
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
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let initial = map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"];
    if euid == 0 && initial {
        bail!("refusing to run as root: ns-rootless-oci is a rootless runtime; run it as a plain user");
    }
    Ok(Caller {
        uid,
        gid,
        userns_root: euid == 0,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Run,
    RunDetached,
}

/// `create` (and the first half of `run`). Returns the container's exit status for `run`.
fn create(
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
    let keep = prepared
        .oci
        .as_ref()
        .map(|o| o.kept_fds())
        .unwrap_or_default();
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
            crate::error::userns_hint(r.errno).filter(|_| r.stage == Stage::Handshake),
        ),
    }
}

fn start(store: &Store, id: &str, log: &mut Log) -> Result<()> {
    let mut s = store.get(id)?;
    let (status, pidfd) = store::status(&s);
    match (status, pidfd) {
        (Status::Created, Some(pidfd)) => start_with(store, &mut s, &pidfd, log),
        (Status::Stopped, _) => bail!("cannot start a container that has stopped"),
        _ => bail!("cannot start an already running container"),
    }
}

/// Marks the container started, then lets its init go on (it waits for the start signal).
fn start_with(store: &Store, s: &mut Stored, init: &Pidfd, log: &mut Log) -> Result<()> {
    s.started = true;
    store.write(s)?;
    init.signal(sys::start_signal())
        .map_err(|e| anyhow::anyhow!("starting the container: {}", crate::error::strerror(e)))?;
    // poststart failures are warnings (runtime.md): the container runs anyway.
    let state = store::state_json(s, Status::Running);
    if let Err(e) = hooks::run("poststart", &s.hooks.poststart, &state) {
        log.warn(&crate::error::one_line(&e));
    }
    Ok(())
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

fn kill(store: &Store, id: &str, signal: Option<&str>) -> Result<()> {
    let sig = parse_signal(signal.unwrap_or("TERM"))?;
    let s = store.get(id)?;
    match store::status(&s) {
        (Status::Stopped, _) | (_, None) => bail!("container not running"),
        (_, Some(pidfd)) => pidfd.signal(sig).map_err(|e| {
            anyhow::anyhow!(
                "sending signal {sig} to the container: {}",
                crate::error::strerror(e)
            )
        }),
    }
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
    if status == Status::Running && !force {
        bail!("cannot delete container {id} that is not stopped: running");
    }
    // A created container is deleted without --force, as runc does (its process never ran).
    if let Some(pidfd) = pidfd {
        let _ = pidfd.signal(libc::SIGKILL);
        // Its pidfd turns readable when it has exited; the whole PID namespace dies with it.
        if !sys::wait_pidfd(pidfd.as_fd().as_raw_fd(), 10_000).unwrap_or(false) {
            bail!("deleting container {id}: its init didn't end after SIGKILL");
        }
    }
    store.remove(id)?;
    let state = store::state_json(&s, Status::Stopped);
    if let Err(e) = hooks::run("poststop", &s.hooks.poststop, &state) {
        log.warn(&crate::error::one_line(&e));
    }
    Ok(())
}

fn list(store: &Store, l: cli::List) -> Result<u8> {
    let mut rows = Vec::new();
    for id in store.ids()? {
        if let Some(s) = store.load(&id)? {
            let (status, _) = store::status(&s);
            rows.push((s, status));
        }
    }
    if l.quiet {
        let ids: Vec<String> = rows.iter().map(|(s, _)| s.id.clone()).collect();
        return if ids.is_empty() {
            Ok(0)
        } else {
            print_text(&ids.join("\n"))
        };
    }
    if l.format == cli::ListFormat::Json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(s, st)| store::state_json(s, *st))
            .collect();
        return print_text(&serde_json::to_string(&v).context("encoding JSON")?);
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
    print_text(&text)
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
