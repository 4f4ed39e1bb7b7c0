//! `ns-rootless exec NAME CMD`: run CMD in a running named sandbox. We join the namespaces of
//! its payload (its nested user namespace, and its mount namespace, the sandbox's unless the
//! payload has one of its own; the sandbox's PID, UTS, IPC, network and cgroup ones; the
//! sandbox's user namespace first, setns(2)), fork (a PID namespace only takes children), and
//! the child goes the payload's way: no capabilities, no_new_privs, the same seccomp filter,
//! then execve. (init's namespaces are off limits: it is not dumpable.)

use crate::cli::ExecCli;
use crate::error::{quote, strerror};
use crate::plan::Plan;
use crate::spec::{self, Cwd, Host, Ids, Root, Seccomp, Spec};
use crate::state::{self, State};
use crate::sync;
use crate::{payload, prepared, signals, supervise, sys, tty};
use anyhow::{anyhow, bail, Context, Result};
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The namespaces to join, in order. The payload's user namespace is nested in the sandbox's,
/// which owns the PID, UTS, IPC, network, cgroup and (unless the payload kept its capabilities)
/// mount namespaces: join that outer one first (we own it, so we get its capabilities), then
/// those, the nested user namespace last: inside it we could join none of them. "outer-user"
/// is reached from the payload's user namespace (NS_GET_PARENT).
const NAMESPACES: [(&str, libc::c_int); 8] = [
    ("outer-user", libc::CLONE_NEWUSER),
    ("pid", libc::CLONE_NEWPID),
    ("uts", libc::CLONE_NEWUTS),
    ("ipc", libc::CLONE_NEWIPC),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
    ("user", libc::CLONE_NEWUSER),
];

/// Opens the namespaces to join through `proc_dir` (the payload's /proc directory, reached
/// through an fd of it, so a reused pid can't substitute another process). A namespace we are
/// in already (the host's network, with --share-net) is left out: setns into it would fail.
fn open_namespaces(proc_dir: &Path) -> Result<Vec<(&'static str, libc::c_int, OwnedFd)>> {
    let same_as_ours = |ns: &str, fd: &OwnedFd| {
        let ours = std::fs::metadata(format!("/proc/self/ns/{ns}"));
        let theirs = std::fs::File::from(fd.try_clone().ok()?).metadata();
        Some(matches!((ours, theirs), (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev()))
    };
    let mut out = Vec::new();
    for &(ns, flag) in &NAMESPACES {
        let fd: OwnedFd = if ns == "outer-user" {
            let nested: OwnedFd = std::fs::File::open(proc_dir.join("ns/user"))?.into();
            sys::parent_namespace(nested.as_raw_fd())
                .map_err(|e| anyhow!("finding the sandbox's user namespace: {}", strerror(e)))?
        } else {
            std::fs::File::open(proc_dir.join("ns").join(ns))
                .with_context(|| format!("opening its {ns} namespace"))?
                .into()
        };
        if ns != "outer-user" && same_as_ours(ns, &fd) == Some(true) {
            continue;
        }
        out.push((ns, flag, fd));
    }
    Ok(out)
}

pub fn run(cli: ExecCli, host: Host) -> Result<u8> {
    let root = state::state_dir(host.uid)?;
    let st = state::find(&root, &cli.name)?;
    if st.payload == 0 {
        bail!(
            "the sandbox {} is still starting; try again",
            quote(&cli.name)
        );
    }
    // Hold the payload's /proc directory, then check through it that it still is the payload:
    // if the pid is reused later, lookups through this fd fail instead of reaching the new one.
    let gone = || anyhow!("no sandbox named {}", quote(&cli.name));
    let proc_fd: OwnedFd = std::fs::File::open(format!("/proc/{}", st.payload))
        .map_err(|_| gone())?
        .into();
    let proc_dir = PathBuf::from(format!("/proc/self/fd/{}", proc_fd.as_raw_fd()));
    if state::stat_fields_at(&proc_dir).map(|(_, t)| t) != Some(st.payload_start_time) {
        return Err(gone());
    }
    let namespaces =
        open_namespaces(&proc_dir).with_context(|| format!("joining {}", quote(&cli.name)))?;
    let spec = exec_spec(&cli, &st, &host)?;
    let mut prepared = prepared::prepare(&spec, &Plan { steps: Vec::new() })?;
    // The payload's user namespace is already the locked nested one.
    prepared.nest = false;
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
    let (report_read, report_write) = sync::report_pipe().context("creating the handshake pipe")?;
    let child = match sys::fork().map_err(|e| anyhow!("starting the command: {}", strerror(e)))? {
        0 => {
            // If `exec` dies, its command goes too.
            let _ = sys::kill_me_with_parent();
            payload::main(&payload::Start {
                prepared: &prepared,
                report: report_write.as_raw_fd(),
                umask,
                pty: pty.as_ref().map(|(_, slave)| slave.as_raw_fd()),
            })
        }
        pid => Pid::from_raw(pid),
    };
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
    let outcome = supervise::supervise(child, None, relay);
    drop(proc_fd);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = kill(child, Signal::SIGKILL);
            return Err(e);
        }
    };
    match record {
        Some(r) => Err(crate::parent::word_exec_failure(r, &spec, &prepared).into()),
        None => Ok(outcome.status),
    }
}

fn exec_spec(cli: &ExecCli, st: &State, host: &Host) -> Result<Spec> {
    let cwd = match &cli.chdir {
        Some(d) if d.is_absolute() => Cwd::Exact(d.clone()),
        Some(d) => bail!("invalid --chdir {}: must be an absolute path", quote(d)),
        None => Cwd::Root,
    };
    let hostname = st.hostname.as_bytes().to_vec();
    // The same HOME and USER as the sandbox's command, from the same passwd.
    let root = st
        .rootfs
        .as_ref()
        .map_or(Root::Host, |d| Root::Dir(d.into()));
    let who = spec::identity::resolve(
        Some(std::ffi::OsStr::new(&st.inner_uid.to_string())),
        Some(std::ffi::OsStr::new(&st.inner_gid.to_string())),
        &root,
    )?;
    let env = spec::exec_env(&host.env, &cli.env, &who.home, &who.user, &hostname)?;
    let seccomp = st.seccomp.map_or(Seccomp::None, Seccomp::Default);
    Ok(Spec {
        hostname,
        root: Root::Host,
        share_net: false,
        ids: Ids {
            outer_uid: host.uid,
            outer_gid: host.gid,
            inner_uid: st.inner_uid,
            inner_gid: st.inner_gid,
        },
        command: cli.command.clone(),
        env,
        cwd,
        mounts: Vec::new(),
        limits: Vec::new(),
        timeout: None,
        seccomp,
        tty: cli.tty || (host.stdin_is_terminal && !cli.no_tty),
        nested: st.seccomp.is_some_and(|a| a.nested),
        name: Some(st.name.clone()),
        detach: false,
        ignored_signals: host.ignored_signals,
        cow: None,
    })
}
