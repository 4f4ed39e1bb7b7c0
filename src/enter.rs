//! `ns-rootless exec NAME CMD`: run CMD in a running named sandbox. We join the namespaces of
//! its payload (its nested user namespace, and its mount namespace, the sandbox's unless the
//! payload has one of its own; the sandbox's PID, UTS, IPC, network and cgroup ones; the
//! sandbox's user namespace first, setns(2)), fork (a PID namespace only takes children), and
//! the child goes the payload's way (payload.rs) with the payload's own settings, as its
//! supervisor recorded them in the state: the same seccomp program, limits, ids, environment
//! and start directory, rendered by prepared::process as the payload's were. (init's
//! namespaces are off limits: it is not dumpable.)
//!
//! The payload is found through a pidfd of the recorded pid, checked against its start time;
//! its /proc directory is reached through the pid that pidfd names in /proc, and closed
//! before the fork: the child holds nothing of the host's when it resolves its directory.

use crate::cli::ExecCli;
use crate::error::{quote, strerror};
use crate::pidfd::Pidfd;
use crate::spec::{self, Cwd, Host};
use crate::state::{self, State};
use crate::sync;
use crate::{payload, prepared, signals, supervise, sys, tty};
use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::{openat, OFlag};
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};

/// The namespaces to join, in order. The payload's user namespace is nested in the sandbox's,
/// which owns the PID, UTS, IPC, network, cgroup and (unless the payload kept its capabilities)
/// mount namespaces: join that outer one first (we own it, so we get its capabilities), then
/// those, the nested user namespace last: inside it we could join none of them. "outer-user"
/// is reached from the payload's user namespace (NS_GET_PARENT).
const NAMESPACES: [(&str, libc::c_int); 9] = [
    ("outer-user", libc::CLONE_NEWUSER),
    ("pid", libc::CLONE_NEWPID),
    ("uts", libc::CLONE_NEWUTS),
    ("ipc", libc::CLONE_NEWIPC),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
    // (`--time-offset`: setns(2) moves us too, and the command we fork.)
    ("time", libc::CLONE_NEWTIME),
    ("user", libc::CLONE_NEWUSER),
];

/// Opens the namespaces to join through `proc_dir` (the payload's /proc directory, checked
/// against its pidfd, so a reused pid can't substitute another process). A namespace we are
/// in already (the host's network, with --share-net) is left out: setns into it would fail.
fn open_namespaces(proc_dir: &OwnedFd) -> Result<Vec<(&'static str, libc::c_int, OwnedFd)>> {
    let open = |ns: &str| -> Result<OwnedFd> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        openat(proc_dir, format!("ns/{ns}").as_str(), flags, Mode::empty())
            .with_context(|| format!("opening its {ns} namespace"))
    };
    let same_as_ours = |ns: &str, fd: &OwnedFd| {
        fd.try_clone()
            .is_ok_and(|fd| spec::is_ours_file(&std::fs::File::from(fd), ns))
    };
    let mut out = Vec::new();
    for &(ns, flag) in &NAMESPACES {
        let fd: OwnedFd = if ns == "outer-user" {
            sys::parent_namespace(open("user")?.as_raw_fd())
                .map_err(|e| anyhow!("finding the sandbox's user namespace: {}", strerror(e)))?
        } else {
            open(ns)?
        };
        if ns != "outer-user" && same_as_ours(ns, &fd) {
            continue;
        }
        out.push((ns, flag, fd));
    }
    Ok(out)
}

/// How long `exec` waits for a sandbox whose command is starting.
const STARTING_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(cli: ExecCli, host: Host) -> Result<u8> {
    let root = state::state_dir(host.uid)?;
    let mut st = state::find(&root, &cli.name)?;
    // The command's pid reaches the state once its execve has succeeded, which the command may
    // beat by a moment (its first output can come before): wait for it while the sandbox runs.
    let deadline = std::time::Instant::now() + STARTING_WAIT;
    while st.payload == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        st = state::find(&root, &cli.name)?;
    }
    drop(root);
    if st.payload == 0 {
        bail!(
            "the sandbox {} is still starting; try again",
            quote(&cli.name)
        );
    }
    // A pidfd of the payload and its /proc directory, checked to be the payload still.
    let (payload, proc_dir) = st
        .pin_payload()
        .ok_or_else(|| anyhow!("no sandbox named {}", quote(&cli.name)))?;
    let namespaces =
        open_namespaces(&proc_dir).with_context(|| format!("joining {}", quote(&cli.name)))?;
    // Nothing of the host's /proc goes into the sandbox with us.
    drop((proc_dir, payload));
    let process = exec_process(&cli, &st, &host)?;
    // The payload's process half, without a nested user namespace: the payload's is joined
    // already, locked. Only whether the host's network is shared counts (the namespace is
    // joined, not made): then the command enters the payload's Landlock scope (landlock.rs).
    let share_net = st.process.as_ref().is_some_and(|p| p.share_net);
    let prepared = prepared::process(&process, share_net, None)?;
    drop(process);
    // Not dumpable before we join (and the fork below inherits it): with `--allow nested` the
    // payload holds CAP_SYS_PTRACE in the user namespace we join, and could otherwise attach
    // to our child between its fork and its seccomp filter, while it still holds the caller's
    // fds and terminal. A process that isn't dumpable needs CAP_SYS_PTRACE in the namespace
    // its memory was created in, the host's (ptrace(2), "Ptrace access mode checking").
    // execve makes the command dumpable again, once it is locked down.
    sys::set_dumpable(false).map_err(|e| anyhow!("locking exec's process: {}", strerror(e)))?;
    for (ns, flag, fd) in &namespaces {
        sys::setns(fd.as_raw_fd(), *flag).map_err(|e| {
            anyhow!(
                "joining the {ns} namespace of {}: {}",
                quote(&cli.name),
                strerror(e)
            )
        })?;
    }
    drop(namespaces);
    // Now in the sandbox's mount namespace: /dev/ptmx is its own devpts.
    let pty = match &prepared.pty {
        Some(setup) => Some(
            sys::open_pty(setup.termios.as_ref(), &setup.winsize).map_err(|e| {
                anyhow!(
                    "creating a terminal in {}: {}",
                    quote(&cli.name),
                    strerror(e)
                )
            })?,
        ),
        None => None,
    };
    signals::take_over();
    let umask = sys::current_umask();
    // Without a pty the command holds the caller's terminal: its settings come back at the end,
    // as after `run` (parent.rs).
    let _terminal = prepared.pty.is_none().then(tty::Saved::now);
    let (report_read, report_write) = sync::report_pipe().context("creating the handshake pipe")?;
    let child = match sys::fork().map_err(|e| anyhow!("starting the command: {}", strerror(e)))? {
        0 => {
            // If `exec` dies, its command goes too.
            let _ = sys::kill_me_with_parent();
            payload::main(&payload::Start {
                process: &prepared,
                report: report_write.as_raw_fd(),
                umask,
                pty: pty.as_ref().map(|(_, slave)| slave.as_raw_fd()),
            })
        }
        pid => Pid::from_raw(pid),
    };
    // Our child, not yet reaped: its pid can't name another process before we wait for it.
    let pidfd = Pidfd::open(child.as_raw());
    drop(report_write);
    let mut relay = None;
    let mut _raw = None;
    if let (Some((master, slave)), Some(setup)) = (pty, &prepared.pty) {
        drop(slave);
        let (r, raw) = tty::attach(master, setup)?;
        relay = Some(r);
        _raw = raw;
    }
    let record = sync::first_record(report_read);
    let outcome = match pidfd {
        Ok(pidfd) => supervise::supervise(child, &pidfd, None, relay).inspect_err(|_| {
            let _ = pidfd.signal(libc::SIGKILL);
        })?,
        Err(e) => {
            let _ = kill(child, Signal::SIGKILL);
            bail!("watching the command: {}", strerror(e));
        }
    };
    match record {
        Some(r) => Err(crate::parent::word_exec_failure(r, &prepared).into()),
        None => Ok(outcome.status),
    }
}

/// The exec'd command's process: the payload's own settings, recorded by its supervisor in
/// the state (which no sandbox can write), with `exec`'s -e and --chdir on top.
fn exec_process(cli: &ExecCli, st: &State, host: &Host) -> Result<spec::Process> {
    let process = st.process.as_ref().ok_or_else(|| {
        anyhow!(
            "the state of {} does not say how its command was locked down; refusing to exec",
            quote(&st.name)
        )
    })?;
    let cwd = match &cli.chdir {
        Some(d) if d.is_absolute() => Cwd::Exact(d.clone()),
        Some(d) => bail!("invalid --chdir {}: must be an absolute path", quote(d)),
        None => process.cwd.clone(),
    };
    let env = spec::exec_env(&process.env, &host.env, &cli.env)?;
    let limits = process
        .limits
        .iter()
        .map(|(name, value)| {
            spec::limits::by_name(name, *value)
                .ok_or_else(|| anyhow!("the state of {} names an unknown limit", quote(&st.name)))
        })
        .collect::<Result<_>>()?;
    Ok(spec::Process {
        command: cli.command.clone(),
        env,
        cwd,
        limits,
        seccomp: process.seccomp.clone(),
        tty: cli.tty || (host.stdin_is_terminal && !cli.no_tty),
        ignored_signals: host.ignored_signals,
        lockdown: spec::Lockdown::Native {
            keep_caps: process.nested,
        },
    })
}
