//! `create` (and `run`'s first half): ns-rootless's parent up to the point where the
//! container's init waits for `start`, then it exits, leaving init to the caller's subreaper.

use crate::error::{quote, Stage};
use crate::oci::cli::{CreateOpts, Global};
use crate::oci::config::Config;
use crate::oci::convert::{self, Caller, Container};
use crate::oci::lifecycle::start_with;
use crate::oci::store::{self, Status, Store, Stored};
use crate::oci::{hooks, Log};
use crate::prepared::Prepared;
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
    let text = crate::oci::config::read_file(&config_path)?;
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
        log.debug(
            "--systemd-cgroup: cgroups are not managed through systemd; linux.resources not applied",
        );
    }
    // The owner is the caller, whatever ids a user namespace joined below gives us.
    let owner = store::owner_name(caller.uid);
    // A user namespace joined by path comes first (config.md: the others are then created or
    // joined inside it): we enter it ourselves, so that the container's new namespaces belong to
    // it and the config's ids are its ids.
    if let Some(path) = convert::user_namespace_path(&config) {
        convert::join_user_namespace(path)?;
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
    for note in &container.notes {
        log.debug(note);
    }
    let console = match &opts.console_socket {
        Some(path) => Some(
            std::os::unix::net::UnixStream::connect(path)
                .with_context(|| format!("connecting to the console socket {}", quote(path)))?,
        ),
        None => None,
    };
    store.claim(id)?;
    // `exec` reads the config the container was made with, not the bundle's of the day.
    if let Err(e) = store::write_atomic(&store.config_path(id), &text, 0o600) {
        let _ = store.remove(id);
        return Err(e);
    }
    // With --systemd-cgroup the tree around us is systemd's to write (its single-writer rule):
    // no cgroup of ours goes there.
    let resources = config
        .linux
        .as_ref()
        .and_then(|l| l.resources.as_ref())
        .filter(|_| !g.systemd_cgroup);
    let cgroup = match resources.map(|r| crate::oci::cgroup::make(id, r, log)) {
        Some(Err(e)) => {
            let _ = store.remove(id);
            return Err(e);
        }
        Some(Ok(dir)) => dir,
        None => None,
    };
    let launched = launch(
        store,
        id,
        &bundle,
        &config,
        container,
        console,
        opts,
        mode,
        log,
        cgroup.clone(),
        owner,
    );
    if launched.is_err() {
        let _ = store.remove(id);
        if let Some(dir) = &cgroup {
            crate::oci::cgroup::remove(dir);
        }
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
    cgroup: Option<PathBuf>,
    owner: String,
) -> Result<u8> {
    let Container {
        mut prepared,
        join_pid,
        maps,
        rootfs,
        ..
    } = container;
    // A cgroup namespace is made by init once it is in its cgroup, rooted there.
    if let (Some(_), Some(oci)) = (&cgroup, prepared.oci.as_mut()) {
        if prepared.clone_flags & libc::CLONE_NEWCGROUP != 0 {
            prepared.clone_flags &= !libc::CLONE_NEWCGROUP;
            oci.late_cgroup_ns = true;
        }
    }
    signals::take_over();
    // Blocked before clone, so that init can't miss it (see sys::wait_for_signal).
    sys::block_signal(sys::start_signal());
    let umask = config
        .process
        .as_ref()
        .and_then(|p| p.user.umask)
        .unwrap_or(0o022);
    // How init tells `start` that the process has exec'd or a startContainer hook failed.
    let preserve_fds = prepared.process.oci.as_ref().map_or(0, |o| o.preserve_fds);
    if let Some(oci) = prepared.oci.as_mut() {
        let lowest = 3 + preserve_fds as std::os::fd::RawFd;
        oci.exec_fifo = Some(crate::oci::exec_fifo::make(&store.dir(id), lowest)?);
    }
    let mut keep = prepared
        .oci
        .as_ref()
        .map(|o| o.kept_fds(preserve_fds, &prepared.joins))
        .unwrap_or_default();
    // The process's Landlock ruleset (prepared::prepare), an anonymous inode.
    keep.extend(prepared.process.landlock.as_ref().map(|r| r.as_raw_fd()));
    // A pid namespace joined by path: ours for the children we make from here on, init first.
    if let Some((fd, path)) = &join_pid {
        sys::setns(fd.as_raw_fd(), libc::CLONE_NEWPID).map_err(|e| {
            let why = if e == libc::EPERM {
                "; joining one needs CAP_SYS_ADMIN in the user namespace that owns it and in \
                 ours: join that user namespace by path too (or run inside it, as under rootless \
                 podman)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "joining the pid namespace {}: {}{why}",
                quote(path),
                crate::error::strerror(e)
            )
        })?;
    }
    drop(join_pid);
    let spawned = parent::spawn_init(&prepared, umask, &keep)?;
    let (child, init) = (spawned.pid, spawned.init);
    let kill_init = || {
        let _ = init.signal(libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(child, None);
    };
    let pid = init.our_pid().unwrap_or(0);
    let mut stored = Stored {
        id: id.to_string(),
        pid,
        start_time: init.start_time().unwrap_or(0),
        bundle: bundle.to_string_lossy().into_owned(),
        rootfs: rootfs.to_string_lossy().into_owned(),
        created: store::now_rfc3339(),
        owner,
        annotations: config.annotations.clone(),
        creating: false,
        started: false,
        no_process: config.process.is_none(),
        hooks: config.hooks.clone().unwrap_or_default(),
        cgroup,
    };
    // P's window (parent.rs): the maps, the cgroup, then MAPPED. (The state and the pid file
    // get init's pid in our own namespace, which is the caller's.)
    let window = parent::Window {
        what: "container",
        maps: maps.as_ref(),
        cgroup: stored.cgroup.as_deref(),
        network: None,
        state: None,
    };
    let released = parent::release(child, &init, &spawned.go_write, window).map(drop);
    // createContainer and startContainer hooks get their states from init, which reads them
    // from the handshake pipe right after MAPPED.
    let released = released.and_then(|()| match prepared.oci.as_ref() {
        Some(o) if o.needs_states() => {
            let mut msg = Vec::new();
            // createContainer hooks run while it is "creating", startContainer ones once it
            // is "created" (its process not yet running), as runc says.
            for status in [Status::Creating, Status::Created] {
                let state = serde_json::to_vec(&store::state_json(&stored, status))?;
                if state.len() > crate::oci::launch::STATE_MAX {
                    bail!("the container's state is too large for its hooks");
                }
                msg.extend_from_slice(&(state.len() as u32).to_ne_bytes());
                msg.extend_from_slice(&state);
            }
            sys::write_all(spawned.go_write.as_raw_fd(), &msg).map_err(|e| {
                anyhow::anyhow!("passing the state to init: {}", crate::error::strerror(e))
            })
        }
        _ => Ok(()),
    });
    // prestart and createRuntime hooks: in our namespaces, once init has the container's
    // namespaces and mounts, before it pivots (runtime.md, lifecycle steps 5-6). The state is
    // stored first: a hook may ask for it (`state ID`).
    let runtime_hooks = prepared.oci.as_ref().is_some_and(|o| o.runtime_hooks);
    let released = released.and_then(|()| {
        if !runtime_hooks {
            return Ok(());
        }
        match sync::next_record(&spawned.report_read) {
            Some(r) if r.stage == Stage::RuntimeHooks => {}
            Some(r) => bail!(word_failure(r, &prepared)),
            None => bail!("the container's init ended before it was created"),
        }
        stored.creating = true;
        store.write(&stored)?;
        stored.creating = false;
        let state = store::state_json(&stored, Status::Creating);
        hooks::run("prestart", &stored.hooks.prestart, &state)?;
        hooks::run("createRuntime", &stored.hooks.create_runtime, &state)?;
        sys::write_all(spawned.go_write.as_raw_fd(), &[sync::HOOKS_RAN]).map_err(|e| {
            anyhow::anyhow!(
                "resuming the container's init: {}",
                crate::error::strerror(e)
            )
        })
    });
    if let Err(e) = released {
        kill_init();
        return Err(e);
    }
    drop(spawned.go_write);
    let mut master = None;
    if let (Some(sock), Some(_)) = (&spawned.sock, &prepared.process.pty) {
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
        bail!(word_failure(r, &prepared));
    }
    if record.is_none() {
        kill_init();
        bail!("the container's init ended before it was created");
    }
    // The terminal goes to the console socket (conmon), or is relayed by `run` itself.
    let (relay, _raw) = match hand_terminal(master, console.as_ref(), prepared.process.pty.as_ref())
    {
        Ok(r) => r,
        Err(e) => {
            kill_init();
            return Err(e);
        }
    };
    drop(console);
    let created = store.write(&stored).and_then(|()| match &opts.pid_file {
        Some(path) => store::write_atomic(
            &std::path::absolute(path).context("finding the current directory")?,
            format!("{pid}").as_bytes(),
            0o644,
        ),
        None => Ok(()),
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

/// A failure in init or before the process's execve, in runc's words where podman reads them
/// ("executable file not found in $PATH" → 127, "permission denied" → 126), worded from
/// what init was given: no config is looked up again.
fn word_failure(r: Record, prepared: &Prepared) -> String {
    use std::os::unix::ffi::OsStrExt;
    let shown = |c: &std::ffi::CStr| quote(std::ffi::OsStr::from_bytes(c.to_bytes()));
    let arg0 = prepared.process.argv.first().unwrap_or_default();
    let errno_text = || crate::error::strerror(r.errno).to_lowercase();
    match r.stage {
        Stage::Exec if r.errno == libc::ENOENT && !arg0.to_bytes().contains(&b'/') => {
            format!("exec: {}: executable file not found in $PATH", shown(arg0))
        }
        Stage::Exec => format!("exec: {}: {}", shown(arg0), errno_text()),
        Stage::Step | Stage::MountPoint => match prepared.steps.get(r.step as usize) {
            Some(s) => crate::error::describe(&s.describe(), r.errno, None),
            None => crate::error::describe(r.stage.doing(), r.errno, None),
        },
        Stage::JoinNamespace => {
            let ns = prepared
                .joins
                .get(r.step as usize)
                .map_or("a namespace of linux.namespaces", |j| &j.shown);
            // setns(2) needs CAP_SYS_ADMIN in the user namespace owning the target.
            let hint = (r.errno == libc::EPERM).then_some(
                "it belongs to a user namespace the container's isn't inside, where the kernel \
                 lets no unprivileged process join it (user_namespaces(7))"
                    .to_string(),
            );
            crate::error::describe(&format!("joining {ns}"), r.errno, hint)
        }
        Stage::Sysctl => crate::error::describe("writing a linux.sysctl", r.errno, None),
        Stage::CreateContainerHook => {
            let hook = prepared
                .oci
                .as_ref()
                .and_then(|o| o.create_hooks.get(r.step as usize))
                .map_or(String::new(), |h| format!(" {}", shown(&h.path)));
            let why = match r.errno {
                libc::ETIMEDOUT => "it timed out".to_string(),
                e if e < 0 => format!("it exited with status {}", -e),
                e => crate::error::strerror(e).to_lowercase(),
            };
            format!("running hooks.createContainer[{}]{hook}: {why}", r.step)
        }
        _ => crate::error::describe(
            r.stage.doing(),
            r.errno,
            crate::host::userns_hint(r.errno)
                .filter(|_| r.stage == Stage::Handshake)
                .or_else(|| crate::oci::sched::hint(r.stage, r.errno)),
        ),
    }
}
