//! `exec`: a new process in a running container. We join every namespace of the container's
//! init at once through its pidfd (setns(2) with a pidfd, Linux 5.8), fork (a PID namespace
//! only takes children), and the child goes the container process's way (payload.rs with the
//! config's ids, capabilities, no_new_privs, seccomp profile and rlimits), then execve.

use crate::error::{quote, strerror};
use crate::oci::cli::Exec;
use crate::oci::config::{Config, Process};
use crate::oci::store::{self, Status, Store};
use crate::prepared;
use crate::sync::Record;
use crate::{payload, signals, supervise, sync, sys};
use anyhow::{anyhow, bail, Context, Result};
use nix::libc;
use std::os::fd::AsRawFd;

pub fn run(store: &Store, e: &Exec) -> Result<u8> {
    let s = store.get(&e.id)?;
    let (status, pidfd) = store::status(&s);
    let pidfd = match (status, pidfd) {
        (Status::Running | Status::Created, Some(fd)) => fd,
        (Status::Creating, _) => bail!("cannot exec in a container that is still being created"),
        _ => bail!("cannot exec in a stopped container"),
    };
    // The config the container was created with, kept in its state directory: the bundle's
    // may have changed since (or be gone), and exec must not be weaker than the container.
    let config_path = store.config_path(&e.id);
    let config: Config = crate::oci::config::parse(
        &store::read_nofollow(&config_path)
            .with_context(|| format!("reading {}", quote(&config_path)))?,
    )
    .map_err(|err| anyhow!("invalid {}: {err}", quote(&config_path)))?;
    let process = process_of(e, &config)?;
    crate::oci::process::check_preserve_fds(e.preserve_fds)?;
    if process.terminal && e.console_socket.is_none() && e.detach {
        bail!("a terminal for a detached exec needs --console-socket");
    }
    let console = match &e.console_socket {
        Some(path) => Some(
            std::os::unix::net::UnixStream::connect(path)
                .with_context(|| format!("connecting to the console socket {}", quote(path)))?,
        ),
        None => None,
    };
    // setgroups(2) works only where the container's user namespace allows it.
    let set_groups = pidfd
        .proc_dir()
        .and_then(|dir| {
            let fd = nix::fcntl::openat(
                &dir,
                "setgroups",
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok()?;
            let mut buf = [0u8; 16];
            let n = nix::unistd::read(&fd, &mut buf).ok()?;
            Some(!buf[..n].starts_with(b"deny"))
        })
        .unwrap_or(false);
    let mut prepared = prepare(&process, &config, e.preserve_fds, set_groups)?;
    let pid_file = e
        .pid_file
        .as_deref()
        .map(store::PendingFile::open)
        .transpose()?;

    // A process that has just been started may not have exec'd yet: until it has, it is not
    // dumpable and setns(2) through its pidfd is refused.
    if status == Status::Running {
        crate::oci::lifecycle::wait_for_exec(store, &e.id, &pidfd);
    }
    // Through the container's process, not its init: init is not dumpable (so that the
    // process can't reach it), which keeps us out of it too. The process is init's only child;
    // the pidfd is taken before checking that it still is.
    let (process_pid, process_fd) =
        container_process(s.pid).with_context(|| format!("joining container {}", e.id))?;
    drop(pidfd);
    // Every namespace of the container's that isn't ours already, in one call: joining one we
    // are in can still be refused (the host's cgroup namespace needs CAP_SYS_ADMIN over the
    // initial user namespace), and rootless podman's containers share podman's user and cgroup
    // namespaces.
    let mut flags = 0;
    for (name, flag) in [
        ("user", libc::CLONE_NEWUSER),
        ("mnt", libc::CLONE_NEWNS),
        ("pid", libc::CLONE_NEWPID),
        ("uts", libc::CLONE_NEWUTS),
        ("ipc", libc::CLONE_NEWIPC),
        ("net", libc::CLONE_NEWNET),
        ("cgroup", libc::CLONE_NEWCGROUP),
        ("time", libc::CLONE_NEWTIME),
    ] {
        let theirs = format!("/proc/{process_pid}/ns/{name}");
        if !crate::spec::is_ours(std::path::Path::new(&theirs), name) {
            flags |= flag;
        }
    }
    // In the host's network namespace (ours), the container's process entered a Landlock
    // domain (its network decided by spec::validate): so does this one.
    prepared.landlock = crate::landlock::payload_ruleset(flags & libc::CLONE_NEWNET == 0)?;
    // execCPUAffinity.initial: where we run until the process is in the container's cgroup
    // (the process sets `final` before its execve).
    if let Some(list) = process
        .exec_cpu_affinity
        .as_ref()
        .and_then(|a| a.initial.as_deref())
    {
        let mask = crate::oci::sched::cpu_list("initial", list)?;
        sys::set_cpu_affinity(&mask).map_err(|err| {
            anyhow!(
                "setting process.execCPUAffinity.initial {}: {}",
                quote(list),
                strerror(err)
            )
        })?;
    }
    // Into the container's cgroup (linux.resources), before we fork: the limits hold for what
    // exec starts as for the container's own processes.
    if let Some(dir) = &s.cgroup {
        crate::oci::cgroup::enter(dir, std::process::id() as i32)?;
    }
    // Not dumpable before we join (the fork below inherits it; the command's execve makes it
    // dumpable again, locked down by then): in the container's namespaces we hold fds from
    // outside (the pid file's directory, the console socket) and the container's root shares
    // our host uid, or owns a user namespace its process made and we join. Dumpable, it could
    // ptrace us or open /proc/PID/fd/N (runc's CVE-2016-9962).
    // process.oomScoreAdj, as create's init writes it: here, before we join (the process is
    // forked from us and inherits it; in the container's /proc we have no /proc/self).
    if let Some(adj) = prepared.oci.as_ref().and_then(|o| o.oom_score_adj.as_ref()) {
        std::fs::write("/proc/self/oom_score_adj", adj)
            .with_context(|| format!("writing oom_score_adj {}", String::from_utf8_lossy(adj)))?;
    }
    sys::set_dumpable(false).map_err(|err| anyhow!("locking exec's process: {}", strerror(err)))?;
    sys::setns(process_fd.as_raw_fd(), flags).map_err(|err| {
        anyhow!(
            "joining the namespaces of container {}: {}",
            e.id,
            strerror(err)
        )
    })?;
    drop(process_fd);
    // Now in the container's mount namespace: /dev/ptmx is its devpts.
    let pty = match &prepared.pty {
        Some(setup) => Some(
            sys::open_pty(setup.termios.as_ref(), &setup.winsize)
                .map_err(|err| anyhow!("creating a terminal: {}", strerror(err)))?,
        ),
        None => None,
    };
    signals::take_over();
    let umask = process.user.umask.unwrap_or(0o022);
    let (report_read, report_write) = sync::report_pipe().context("creating the handshake pipe")?;
    let child =
        match sys::fork().map_err(|err| anyhow!("starting the process: {}", strerror(err)))? {
            0 => payload::main(&payload::Start {
                process: &prepared,
                report: report_write.as_raw_fd(),
                umask,
                pty: pty.as_ref().map(|(_, slave)| slave.as_raw_fd()),
            }),
            pid => pid,
        };
    drop(report_write);
    let master = pty.map(|(master, _slave)| master);
    let (relay, _raw) =
        crate::oci::create::hand_terminal(master, console.as_ref(), prepared.pty.as_ref())?;
    drop(console);
    // EOF: the process runs (its copy of the pipe closed at execve); a record: it failed.
    if let Some(r) = sync::first_record(report_read) {
        let _ = sys::wait_child(child, false);
        bail!(word(r, &prepared));
    }
    if let Some(file) = &pid_file {
        file.write(child.to_string().as_bytes())?;
    }
    if e.detach {
        return Ok(0);
    }
    let pidfd = crate::pidfd::Pidfd::open(child)
        .map_err(|err| anyhow!("watching the process: {}", strerror(err)))?;
    let outcome = supervise::supervise(nix::unistd::Pid::from_raw(child), &pidfd, None, relay)?;
    Ok(outcome.status)
}

/// A pidfd of the container's process: init's child, listed by the kernel in
/// /proc/INIT/task/INIT/children (our PID namespace's numbers), checked after the pidfd is
/// open to still be init's child.
fn container_process(init: i32) -> Result<(i32, std::os::fd::OwnedFd)> {
    let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
        .context("listing the processes of its init")?;
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let Ok(fd) = sys::pidfd_open(pid) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split(' ').nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(init) {
            return Ok((pid, fd));
        }
    }
    bail!("its process is not running (not started yet, or ending)")
}

/// The process's failure before its execve, in runc's words (as create's), worded from the
/// rendered process alone.
fn word(r: Record, process: &prepared::Process) -> String {
    use std::os::unix::ffi::OsStrExt;
    let arg0 = process.argv.first().unwrap_or_default();
    let shown = quote(std::ffi::OsStr::from_bytes(arg0.to_bytes()));
    match (r.stage, r.errno) {
        (crate::error::Stage::Exec, libc::ENOENT) if !arg0.to_bytes().contains(&b'/') => {
            format!("exec: {shown}: executable file not found in $PATH")
        }
        (crate::error::Stage::Exec, errno) => {
            format!("exec: {shown}: {}", strerror(errno).to_lowercase())
        }
        (stage, errno) => {
            crate::error::describe(stage.doing(), errno, crate::oci::sched::hint(stage, errno))
        }
    }
}

/// The process: `--process FILE`, else the container's own with the command line's changes.
fn process_of(e: &Exec, config: &Config) -> Result<Process> {
    if let Some(path) = &e.process {
        let text = crate::oci::config::read_file(path)?;
        return serde_json::from_slice(&text)
            .map_err(|err| anyhow!("invalid {}: {err}", quote(path)));
    }
    let base = config
        .process
        .as_ref()
        .context("invalid config.json: no process")?;
    if e.command.is_empty() {
        bail!("exec needs a command (or --process)");
    }
    let mut p = Process {
        terminal: e.tty,
        args: e.command.clone(),
        env: base.env.clone(),
        cwd: e.cwd.clone().unwrap_or_else(|| base.cwd.clone()),
        no_new_privileges: base.no_new_privileges || e.no_new_privs,
        oom_score_adj: base.oom_score_adj,
        ..Default::default()
    };
    p.env.extend(e.env.iter().cloned());
    p.user.uid = base.user.uid;
    p.user.gid = base.user.gid;
    p.user.umask = base.user.umask;
    if let Some(u) = &e.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        p.user.uid = uid
            .parse()
            .map_err(|_| anyhow!("invalid --user {}", quote(u)))?;
        p.user.gid = gid
            .parse()
            .map_err(|_| anyhow!("invalid --user {}", quote(u)))?;
    }
    p.user.additional_gids = e.additional_gids.clone();
    let mut caps = crate::oci::config::Capabilities::default();
    if let Some(c) = &base.capabilities {
        caps = c.clone();
    }
    for cap in &e.cap {
        for set in [
            &mut caps.bounding,
            &mut caps.effective,
            &mut caps.permitted,
            &mut caps.ambient,
        ] {
            set.push(cap.clone());
        }
    }
    p.capabilities = Some(caps);
    // The container's rlimits and scheduling (runc's exec starts from the container's process
    // too).
    p.rlimits = base.rlimits.clone();
    p.scheduler = base.scheduler.clone();
    p.io_priority = base.io_priority.clone();
    p.exec_cpu_affinity = base.exec_cpu_affinity.clone();
    Ok(p)
}

/// The process half of the launcher's input (prepared::Process), as `create` makes it for the
/// container's own process.
fn prepare(
    process: &Process,
    config: &Config,
    preserve_fds: u32,
    set_groups: bool,
) -> Result<prepared::Process> {
    let lockdown = crate::spec::OciLockdown {
        preserve_fds,
        uid: process.user.uid,
        gid: process.user.gid,
        groups: process.user.additional_gids.clone(),
        set_groups,
        caps: crate::oci::caps::sets(process.capabilities.as_ref())?,
        no_new_privs: process.no_new_privileges,
        new_keyring: true,
        rlimits: crate::oci::process::rlimits(process)?,
        seccomp: match config.linux.as_ref().and_then(|l| l.seccomp.as_ref()) {
            Some(profile) => Some(crate::oci::seccomp::compile(profile)?),
            None => None,
        },
        own_pid_ns: true,
        oom_score_adj: None,
        console_size: (0, 0),
        scheduler: None,
        io_priority: None,
        cpu_affinity: match process
            .exec_cpu_affinity
            .as_ref()
            .and_then(|a| a.last.as_deref())
        {
            Some(list) => Some(Box::new(crate::oci::sched::cpu_list("final", list)?)),
            None => None,
        },
    };
    let process = crate::oci::process::to_spec(process, lockdown, 24)?;
    // Its Landlock domain is set once the namespaces to join are known.
    prepared::process(&process, false, None)
}
