//! ns-rootless itself ("P" in DESIGN.md): clones the sandbox's init with every namespace, writes
//! its id maps from outside, then relays signals until it ends and turns the outcome into our
//! exit status and, on failure, one message.

use crate::error::{self, quote, Failure, Stage, EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_SETUP};
use crate::init::{self, Context};
use crate::pidfd::Pidfd;
use crate::plan::{Plan, RootEntry};
use crate::prepared::{Prepared, PreparedAction};
use crate::result::Recorder;
use crate::spec::{Root, Spec};
use crate::state::{self, Claim, State};
use crate::sync::{self, Pipes, Record};
use crate::{hostrun, idmap, plan, prepared, signals, supervise, sys, tty};
use anyhow::{Context as _, Result};
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Like timeout(1).
const EXIT_TIMEOUT: u8 = 124;

/// Big enough for init's and the payload's shallow call chains; untouched pages cost nothing.
const CHILD_STACK: usize = 256 * 1024;

/// Where a detached sandbox's front process learns that the command runs (or why not): one
/// status byte (0: running, else our exit code) followed by the message.
pub type Notify = Option<std::fs::File>;

pub fn run(spec: Spec, claim: Option<Claim>, notify: &mut Notify) -> Result<u8> {
    spec.sandbox.net.check_host()?;
    let (entries, plan) = plan_of(&spec)?;
    crate::stamps::stamp("plan");
    // Held until the run ends (session::InUse); a --cow session records the plan's mount points.
    let _session = crate::session::begin(&spec.sandbox, &plan)?;
    // Where a bind shows a private directory's place, they are made now, ours, to be masked
    // (private.rs): no sandbox may own one, see it, or see what goes there later.
    if plan.shows_private {
        crate::private::make(&spec.sandbox.private_dirs)?;
    }
    let prepared = prepared::prepare(&spec, &plan)?;
    crate::stamps::stamp("prepared");
    let mut result_record = match &spec.result_json {
        Some(path) => Some(Recorder::open(
            path,
            &spec.sandbox.hostname,
            spec.name.as_deref(),
        )?),
        None => None,
    };
    if let Some(note) = crate::explain::hidden_cwd_note(&spec.process.cwd, &plan.steps) {
        note_line(&note);
    }
    // The steps are rendered (and word their own failures): the plan is done with.
    drop((entries, plan));
    signals::take_over();
    let umask = sys::current_umask();
    // Without a pty the command holds the caller's terminal: its settings come back at the end.
    let _terminal = prepared.process.pty.is_none().then(tty::Saved::now);

    let Spawned {
        pid,
        init,
        go_write,
        report_read,
        sock,
        stacks,
        ended,
    } = spawn_init(&prepared, umask, &[])?;
    crate::stamps::stamp("cloned");
    if let Some(r) = &mut result_record {
        r.namespaces_of(pid.as_raw());
    }
    // A named sandbox's state exists before init is released: the command can't run (and an
    // `exec` can't look for it) before its state says where it is.
    let mut st = claim.as_ref().map(|_| state_of(&spec, pid.as_raw(), &init));
    let window = Window {
        what: "sandbox",
        maps: spec.sandbox.maps.as_ref(),
        cgroup: None,
        network: Some((&spec.sandbox.net, spec.sandbox.ids.outer_uid)),
        state: claim.as_ref().zip(st.as_ref()),
    };
    let network = match release(pid, &init, &go_write, window) {
        Ok(network) => network,
        Err(e) => {
            let _ = init.signal(libc::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(e);
        }
    };
    drop(go_write);
    crate::stamps::stamp("mapped");

    // With a pty: take the master, and put the user's terminal in raw mode for the relay
    // (restored when `_raw` drops, on every way out of here).
    let mut relay = None;
    let mut _raw = None;
    if let (Some(sock), Some(setup)) = (&sock, &prepared.process.pty) {
        if let Some(master) = sync::receive_fd(sock).context("receiving the sandbox's terminal")? {
            let (r, raw) = tty::attach(master, setup)?;
            relay = Some(r);
            _raw = raw;
        }
    }
    let record = sync::first_record(report_read);
    crate::stamps::stamp("exec-seen");
    if let (Some(claim), Some(st), Some(sock), None) = (&claim, &mut st, &sock, record) {
        // The command runs: record where it is, which is what `exec` joins. init cloned it with
        // a pidfd and passed that on: no guessing from /proc.
        if let Ok(Some(fd)) = sync::receive_fd(sock) {
            let payload = Pidfd::from_fd(fd);
            st.payload = payload.our_pid().unwrap_or(0);
            st.payload_start_time = payload.start_time().unwrap_or(0);
        }
        claim.write(st)?;
    }
    drop(sock);
    let failure = record.map(|r| word_failure(r, &prepared));
    if let Some(out) = notify.take() {
        tell_front(out, failure.as_ref());
    }
    // What the setup was built from is done with: freed while the command runs, not after it
    // ends, when our caller is waiting for us to exit.
    let timeout = spec.timeout;
    let limits = spec.process.limits.clone();
    drop((spec, prepared, stacks));
    let outcome = supervise::supervise(pid, &init, timeout, relay)?;
    crate::stamps::stamp("reaped");
    // The network helper goes before the end is recorded: nothing of the sandbox is left
    // once `wait` returns.
    drop(network);
    let code = match failure {
        Some(f) => Err(f),
        None if outcome.timed_out => Ok(EXIT_TIMEOUT),
        None => Ok(outcome.status),
    };
    // A named sandbox is kept with its exit status (state.rs); one whose command never ran
    // is not.
    if let (Some(claim), Some(st)) = (claim, st) {
        claim.end(st, code.as_ref().ok().copied());
    }
    // init's own death (--timeout's SIGKILL), else the payload's as init saw it.
    let signal = outcome
        .signal
        .or_else(|| u8::try_from(ended.get()).ok().filter(|&s| s != 0));
    if code.is_ok() && !outcome.timed_out {
        if let Some(hint) = crate::spec::limits::likely_hit(signal, &limits) {
            note_line(&hint);
        }
    }
    if let Some(r) = result_record {
        let exit = match &code {
            Ok(c) => *c,
            Err(f) => f.code,
        };
        r.finish(exit, signal, outcome.timed_out)?;
    }
    code.map_err(Into::into)
}

/// P's window between clone and release: what P does while init waits for MAPPED, in this
/// order (`release`). For an OCI container, `create` then passes init its hooks' states and
/// runs the createRuntime hooks, and init waits for `start` (oci/create.rs).
pub struct Window<'a> {
    /// "sandbox" or "container", for messages.
    pub what: &'static str,
    /// 1. The id maps of init's user namespace, written from outside with std::fs (never
    ///    newuidmap). None: init is in no user namespace of its own.
    pub maps: Option<&'a crate::spec::IdMaps>,
    /// 2. The cgroup init goes into before it does anything (OCI `linux.resources`).
    pub cgroup: Option<&'a Path>,
    /// 3. The network helper, with the caller's uid: it connects the sandbox before anything
    ///    runs in it, while init is still dumpable (the helper opens its namespaces by path, in
    ///    our /proc); it lives until we end.
    pub network: Option<(&'a crate::net::Net, u32)>,
    /// 4. A named sandbox's state, written before init is released: the command can't run
    ///    (and an `exec` can't look for it) before its state says where it is.
    pub state: Option<(&'a Claim, &'a State)>,
}

/// Runs `w`'s steps in order for init (`pid`, our child, and its pidfd), then releases it
/// (5: MAPPED). On an error init is still waiting: the caller kills it. Returns the network
/// helper, which lives as long as the caller keeps it.
pub fn release(
    pid: Pid,
    init: &Pidfd,
    go_write: &std::os::fd::OwnedFd,
    w: Window,
) -> Result<Option<crate::net::Running>> {
    let what = w.what;
    // The pid from clone is a number in our pid namespace; /proc may show another one (run
    // inside `unshare -pf` that kept the host's /proc): the maps are written at the pid init's
    // pidfd has there.
    let proc_pid = init.proc_pid_of_child(pid.as_raw()).ok_or_else(|| {
        anyhow::anyhow!("finding the {what}'s init in /proc: its pidfd names no pid there")
    })?;
    if let Some(m) = w.maps {
        let write = match m.deny_setgroups {
            true => idmap::write_maps,
            false => idmap::write_maps_allowing_setgroups,
        };
        write(Path::new("/proc"), proc_pid, &m.uid_map, &m.gid_map)?;
    }
    if let Some(dir) = w.cgroup {
        // cgroup.procs takes a pid of the writer's own pid namespace.
        let our_pid = init.our_pid().ok_or_else(|| {
            anyhow::anyhow!("finding the {what}'s init: its pidfd names no pid of ours")
        })?;
        crate::oci::cgroup::enter(dir, our_pid)?;
    }
    let network = match w.network {
        Some((net, uid)) => net.start(proc_pid, uid)?,
        None => None,
    };
    if let Some((claim, st)) = w.state {
        claim.write(st)?;
    }
    sync::send_mapped(go_write)
        .map_err(|e| anyhow::anyhow!("starting the {what}: {}", error::strerror(e)))?;
    Ok(network)
}

/// One line on stderr that isn't a failure (a run goes on, or has ended as it should), in one
/// write(2) (writeln! to the unbuffered stderr makes one per piece).
fn note_line(text: &str) {
    use std::io::Write;
    let line = format!("ns-rootless: {text}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Init, cloned and waiting for MAPPED: what its parent holds of it.
pub struct Spawned {
    /// init's pid in our pid namespace (for waitpid: it is our child).
    pub pid: Pid,
    pub init: Pidfd,
    /// Write MAPPED here once the maps are in place (EOF: init gives up).
    pub go_write: std::os::fd::OwnedFd,
    /// Failure records (and an OCI init's Created); EOF once the payload runs.
    pub report_read: std::os::fd::OwnedFd,
    /// Where init sends fds: the pty master, a named sandbox's payload's pidfd.
    pub sock: Option<std::os::fd::OwnedFd>,
    /// Init's and the payload's stacks, kept until the setup is done.
    pub stacks: (sys::Stack, sys::Stack),
    /// The signal that killed the payload, left by init (0: it exited; init.rs `reap`).
    pub ended: sys::SharedWord,
}

/// Clones the sandbox's init with `prepared`'s namespaces (it waits for the maps). With `keep`
/// (an OCI container's preserved fds and namespaces to join), init keeps those fds too.
pub fn spawn_init(prepared: &Prepared, umask: u32, keep: &[std::os::fd::RawFd]) -> Result<Spawned> {
    let pipes = Pipes::new().context("creating the handshake pipes")?;
    // init sends us fds over it: the pty master, and a named sandbox's payload's pidfd.
    let socks = match prepared.process.pty.is_some() || prepared.report_payload {
        true => Some(
            socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .context("creating the sandbox's socket")?,
        ),
        false => None,
    };
    let stack = sys::Stack::new(CHILD_STACK).context("allocating the sandbox's stack")?;
    let payload_stack = sys::Stack::new(CHILD_STACK).context("allocating the command's stack")?;
    let ended = sys::SharedWord::new().context("allocating the sandbox's status word")?;
    let keep_list = (!keep.is_empty() || prepared.oci.is_some()).then(|| {
        let mut all = vec![pipes.go_read.as_raw_fd(), pipes.report_write.as_raw_fd()];
        all.extend(socks.as_ref().map(|(_, child)| child.as_raw_fd()));
        all.extend_from_slice(keep);
        all
    });
    let ctx = Context {
        prepared,
        payload_stack: &payload_stack,
        go_read: pipes.go_read.as_raw_fd(),
        report_write: pipes.report_write.as_raw_fd(),
        sock: socks.as_ref().map(|(_, child)| child.as_raw_fd()),
        umask,
        keep: keep_list.as_deref(),
        ended: &ended,
    };
    let flags = prepared.clone_flags | libc::CLONE_PIDFD;
    let cloned = sys::clone_with(flags, &stack, init::main, &ctx).map_err(|e| {
        anyhow::anyhow!(error::describe(
            "creating the sandbox's namespaces",
            e,
            crate::host::userns_hint(e)
        ))
    })?;
    drop(pipes.go_read);
    drop(pipes.report_write);
    let sock = socks.map(|(ours, _theirs)| ours);
    let pid = Pid::from_raw(cloned.pid);
    let Some(init) = cloned.pidfd.map(Pidfd::from_fd) else {
        // CLONE_PIDFD always gives one; without it, nothing below could address init safely.
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        anyhow::bail!("creating the sandbox: the kernel gave no pidfd for it");
    };
    Ok(Spawned {
        pid,
        init,
        go_write: pipes.go_write,
        report_read: pipes.report_read,
        sock,
        stacks: (stack, payload_stack),
        ended,
    })
}

fn tell_front(mut out: std::fs::File, failure: Option<&Failure>) {
    use std::io::Write;
    let msg = match failure {
        None => vec![0],
        Some(f) => [&[f.code][..], f.message.as_bytes()].concat(),
    };
    let _ = out.write_all(&msg);
}

/// What `exec`, `ps` and friends need to know about a named sandbox whose init is `pid` (in our
/// pid namespace).
fn state_of(spec: &Spec, pid: i32, init: &Pidfd) -> State {
    State {
        name: spec.name.clone().unwrap_or_default(),
        pid,
        start_time: init.start_time().unwrap_or(0),
        supervisor: std::process::id() as i32,
        supervisor_start_time: Pidfd::open(std::process::id() as i32)
            .ok()
            .and_then(|me| me.start_time())
            .unwrap_or(0),
        ended: None,
        exit_code: None,
        payload: 0,
        payload_start_time: 0,
        pid_ns: state::our_pid_namespace(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        command: spec
            .process
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        rootfs: match &spec.sandbox.root {
            Root::Host => None,
            Root::Dir(d) => Some(d.to_string_lossy().into_owned()),
            Root::Bundle(b) => Some(b.rootfs.to_string_lossy().into_owned()),
            Root::Image(_) => None,
        },
        hostname: String::from_utf8_lossy(&spec.sandbox.hostname).into_owned(),
        inner_uid: spec.sandbox.ids.inner_uid,
        inner_gid: spec.sandbox.ids.inner_gid,
        network: spec.sandbox.net.shown().0.to_string(),
        ports: spec.sandbox.net.shown().1,
        process: Some(state::Process {
            env: spec.process.env.clone(),
            cwd: spec.process.cwd.clone(),
            limits: spec
                .process
                .limits
                .iter()
                .map(|l| (l.name.to_string(), l.value))
                .collect(),
            // A --seccomp-fd program too: exec'd commands get exactly the payload's filter.
            seccomp: spec.process.seccomp.clone(),
            nested: matches!(
                spec.process.lockdown,
                crate::spec::Lockdown::Native { keep_caps: true }
            ),
            share_net: !spec.sandbox.net.own_namespace(),
        }),
    }
}

/// The plan for `spec`: the steps `run` executes and `explain` prints.
pub fn plan_of(spec: &Spec) -> Result<(Vec<RootEntry>, Plan)> {
    let entries = root_entries(&spec.sandbox.root)?;
    let plan = plan::build(
        &spec.sandbox,
        &entries,
        &hostrun::read(&spec.sandbox),
        &layer_dirs(&spec.sandbox),
    );
    Ok((entries, plan))
}

/// The top-level entries of the tree that becomes `/`, to be bound one by one.
fn root_entries(root: &Root) -> Result<Vec<RootEntry>> {
    let dir = match root {
        Root::Host => Path::new("/"),
        Root::Dir(d) => d.as_path(),
        // The image's overlay and a bundle's rootfs are the root itself: no entries to bind.
        Root::Image(_) | Root::Bundle(_) => return Ok(Vec::new()),
    };
    list_dir(dir).with_context(|| format!("reading the root directory {}", quote(dir)))
}

/// The entries of `dir`, sorted by name.
fn list_dir(dir: &Path) -> std::io::Result<Vec<RootEntry>> {
    let mut entries = Vec::with_capacity(32);
    sys::for_each_entry(dir, |name, d_type| {
        let path = || dir.join(name);
        // A filesystem that doesn't say the type in its entries (DT_UNKNOWN) is asked.
        let d_type = match d_type {
            libc::DT_UNKNOWN => {
                let kind = std::fs::symlink_metadata(path())?.file_type();
                if kind.is_symlink() {
                    libc::DT_LNK
                } else if kind.is_dir() {
                    libc::DT_DIR
                } else {
                    libc::DT_REG
                }
            }
            t => t,
        };
        let name = name.to_owned();
        entries.push(match d_type {
            libc::DT_LNK => RootEntry::Symlink(name, std::fs::read_link(path())?),
            libc::DT_DIR => RootEntry::Dir(name),
            _ => RootEntry::File(name),
        });
        Ok(())
    })?;
    entries.sort_by(|a, b| plan::entry_name(a).cmp(plan::entry_name(b)));
    Ok(entries)
}

/// The host directories that may become layers (plan::layers), listed: for each user
/// destination missing on the host, its ancestors from the top while each is a real directory
/// (never through a symlink). One that can't be listed is left out: its mount point is then
/// refused as before.
fn layer_dirs(spec: &crate::spec::Sandbox) -> plan::HostDirs {
    let mut dirs = plan::HostDirs::new();
    for (dst, ancestors) in plan::layer_candidates(spec) {
        if std::fs::symlink_metadata(dst).is_ok() {
            continue;
        }
        for dir in ancestors {
            // Listed and searched through (each entry is bound by its path): one the caller
            // can list but not search (0744) would fail binding its entries instead.
            if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
                || nix::unistd::access(&dir, nix::unistd::AccessFlags::X_OK).is_err()
            {
                break;
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = dirs.entry(dir.clone()) {
                match list_dir(&dir) {
                    Ok(entries) => drop(slot.insert(entries)),
                    Err(_) => break,
                }
            }
        }
    }
    dirs
}

/// Turns a child's `(stage, step, errno)` into our exit status and one line of text, worded
/// from what the child was given: no spec or plan is kept for it.
fn word_failure(r: Record, prepared: &Prepared) -> Failure {
    if r.stage == Stage::Exec {
        return word_exec_failure(r, &prepared.process);
    }
    word_setup_failure(r, &prepared.steps, &prepared.process)
}

/// A failure of the process's last steps, shared with `exec`.
pub fn word_exec_failure(r: Record, process: &prepared::Process) -> Failure {
    if r.stage != Stage::Exec {
        return word_setup_failure(r, &[], process);
    }
    let cmd = OsStr::from_bytes(process.argv.first().map_or(&[][..], |c| c.to_bytes()));
    let shown = quote(cmd);
    if r.errno == libc::ENOENT {
        let where_ = if process.candidates.len() == 1 && cmd.as_bytes().contains(&b'/') {
            "not found inside the sandbox"
        } else {
            "command not found in the sandbox's PATH"
        };
        Failure {
            code: EXIT_NOT_FOUND,
            message: format!("cannot run {shown}: {where_}"),
        }
    } else {
        Failure {
            code: EXIT_CANNOT_RUN,
            message: format!("cannot run {shown}: {}", error::strerror(r.errno)),
        }
    }
}

fn word_setup_failure(
    r: Record,
    steps: &[prepared::PreparedStep],
    process: &prepared::Process,
) -> Failure {
    let step = steps
        .get(r.step as usize)
        .filter(|_| matches!(r.stage, Stage::Step | Stage::MountPoint));
    let what = match (r.stage, step) {
        (Stage::MountPoint, Some(s)) => {
            format!("creating the mount point {} ({})", s.dst(), s.describe())
        }
        (_, Some(s)) => s.describe(),
        (Stage::Limit, _) => match process.limits.get(r.step as usize) {
            Some(l) => format!("setting --limit {}={}", l.name, l.value),
            None => r.stage.doing().to_string(),
        },
        (Stage::Chdir, _) => match &process.cwd {
            prepared::PreparedCwd::Exact(dir) if r.errno == libc::ELOOP => {
                return Failure {
                    code: EXIT_SETUP,
                    message: format!(
                        "changing to the start directory {}: it leads through a /proc fd link \
                         (which could reach outside the sandbox) or too many symlinks; refusing",
                        quote(OsStr::from_bytes(dir.to_bytes()))
                    ),
                };
            }
            prepared::PreparedCwd::Exact(dir) => {
                format!(
                    "changing to the start directory {}",
                    quote(OsStr::from_bytes(dir.to_bytes()))
                )
            }
            _ => r.stage.doing().to_string(),
        },
        _ => r.stage.doing().to_string(),
    };
    let message = match step {
        Some(s)
            if r.stage == Stage::MountPoint
                && r.errno == crate::mount::NOT_OURS
                && s.in_proc_or_sys() =>
        {
            format!(
                "{what}: nothing can be created in the kernel's own /proc or /sys; choose a \
                 destination that exists there, or one elsewhere"
            )
        }
        Some(_) if r.stage == Stage::MountPoint && r.errno == crate::mount::NOT_OURS => format!(
            "{what}: it would be created in a directory of the host, and ns-rootless creates \
             nothing there; create it on the host first, or choose a destination in the \
             sandbox's own filesystems (/, /tmp, a --tmpfs)"
        ),
        Some(s) if r.errno == libc::ELOOP && !s.follow => {
            format!("{what}: the destination is a symlink; refusing to mount through it")
        }
        Some(s)
            if matches!(&s.action, PreparedAction::Mount { fstype, .. } if *fstype == c"proc")
                && r.errno == libc::EPERM =>
        {
            error::describe(
                &what,
                r.errno,
                Some(
                    "the kernel allows a new /proc only where the existing one is fully visible; \
                 inside a container with masked /proc entries this fails (ns-rootless never \
                 falls back to the host's /proc)"
                        .into(),
                ),
            )
        }
        _ => {
            let hint = if r.errno == libc::EPERM {
                crate::host::apparmor_restricts_userns().then(|| crate::host::APPARMOR_FIX.into())
            } else {
                None
            };
            error::describe(&what, r.errno, hint)
        }
    };
    Failure {
        code: EXIT_SETUP,
        message,
    }
}
