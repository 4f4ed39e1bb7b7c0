//! The sandbox's PID 1 ("I" in DESIGN.md). Created by clone with every namespace; waits for the
//! id maps, builds the root, pivots, starts the payload, then stays as a small init: it reaps
//! orphans, forwards signals to the payload and exits with the payload's status, taking every
//! other process of the sandbox with it (the kernel kills a PID namespace whose init exits).
//!
//! Runs after clone: syscalls only, no allocation, never returns.

use crate::error::Stage;
use crate::mount;
use crate::prepared::{Prepared, PreparedRoot};
use crate::sync::{self, MAPPED};
use crate::sys;
use crate::{payload, signals};
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, RawFd};

pub struct Context<'a> {
    pub prepared: &'a Prepared,
    /// The stack the payload's process starts on (it shares our memory until its execve).
    pub payload_stack: &'a sys::Stack,
    pub go_read: RawFd,
    pub report_write: RawFd,
    /// Where to send fds to ns-rootless (a unix socket): the pty master, when the payload gets
    /// a pty; the payload's pidfd, when it asks for it (`Prepared::report_payload`).
    pub sock: Option<RawFd>,
    /// The caller's umask, restored for the payload (setup runs with umask 0 so modes are exact).
    pub umask: u32,
    /// OCI: every fd to keep open (the three above, preserved ones, namespaces to join).
    pub keep: Option<&'a [RawFd]>,
    /// Where we leave the signal that killed the payload (0: it exited): our exit code alone
    /// can't tell `exit 137` from SIGKILL (`--result-json`).
    pub ended: &'a sys::SharedWord,
}

pub fn main(ctx: &Context) -> ! {
    crate::stamps::stamp("init");
    if ctx.prepared.oci.as_ref().is_some_and(|o| o.needs_states()) {
        with_hook_states(ctx)
    }
    setup(ctx, None)
}

/// The OCI hooks' states (32 KiB) live in this frame, not in `setup`'s: there every launch
/// would fault in eight more pages of stack (its probe touches each) for states it never has.
#[inline(never)]
fn with_hook_states(ctx: &Context) -> ! {
    let mut states = crate::oci::launch::HookStates::new();
    setup(ctx, Some(&mut states))
}

fn setup(ctx: &Context, mut states: Option<&mut crate::oci::launch::HookStates>) -> ! {
    let p = ctx.prepared;
    let fail = |stage: Stage, step: u32, errno: sys::Errno| -> ! {
        sync::report(ctx.report_write, stage, step, errno);
        sys::exit_now(125)
    };
    // If ns-rootless dies, so do we, and with us (PID 1) the whole PID namespace. Not an OCI
    // container's init: `create` exits and leaves it to the caller's subreaper (conmon).
    if p.oci.is_none() {
        if let Err(e) = sys::kill_me_with_parent() {
            fail(Stage::Handshake, 0, e);
        }
    }
    let keep = [
        ctx.go_read,
        ctx.report_write,
        ctx.sock.unwrap_or(ctx.go_read),
        p.process
            .landlock
            .as_ref()
            .map_or(ctx.go_read, |r| r.as_raw_fd()),
        // An image's layer store, which the root overlay's lowers are named through.
        p.layers_fd
            .as_ref()
            .map_or(ctx.go_read, |f| f.0.as_raw_fd()),
    ];
    if let Err(e) = sys::close_fds_except(ctx.keep.unwrap_or(&keep)) {
        fail(Stage::CloseFds, 0, e);
    }
    // EOF instead of MAPPED: the parent failed (and says why) or died before the maps existed.
    if sys::read_byte(ctx.go_read) != Ok(Some(MAPPED)) {
        sys::exit_now(125);
    }
    // An OCI container's hooks find their states in it, and init may wait there for the
    // createRuntime hooks.
    if let Some(s) = states.as_deref_mut() {
        if let Err(e) = s.read(ctx.go_read) {
            fail(Stage::Handshake, 0, e);
        }
    }
    if p.oci.as_ref().is_none_or(|o| !o.keeps_go_pipe()) {
        sys::close(ctx.go_read);
    }
    if let Some(oci) = &p.oci {
        crate::oci::launch::prepare_init(p, oci).unwrap_or_else(|(s, i, e)| fail(s, i, e));
    }
    // Leave the caller's process group: terminal signals (Ctrl-C) then reach only ns-rootless,
    // which forwards each of them once. A process group of our own does that; a session of our
    // own would too, but setsid(2) also gives us a scheduler autogroup (on kernels with
    // CONFIG_SCHED_AUTOGROUP, on by default in most distributions), made and freed again on
    // every launch, besides the payload's own (payload.rs). An OCI container's init still
    // leaves the caller's session: `create` exits and leaves it running.
    let _ = match p.oci {
        Some(_) => sys::setsid(),
        None => sys::setpgid_self(),
    };
    sys::umask(0);
    // (An OCI config without a hostname keeps the one it has.)
    if !p.hostname.is_empty() {
        if let Err(e) = sys::sethostname(&p.hostname) {
            fail(Stage::Hostname, 0, e);
        }
    }
    if p.loopback {
        if let Err(e) = sys::loopback_up() {
            fail(Stage::Loopback, 0, e);
        }
    }
    crate::stamps::stamp("init-go");
    let root = mount::build_root(p).unwrap_or_else(|(s, i, e)| fail(s, i, e));
    crate::stamps::stamp("root-built");
    if let Some(oci) = &p.oci {
        oci_create_hooks(oci, ctx, states.as_deref());
    }
    mount::enter_root(&root).unwrap_or_else(|(s, i, e)| fail(s, i, e));
    drop(root);
    crate::stamps::stamp("root-entered");
    // linux.rootfsPropagation, in the container's mount namespace only.
    if let PreparedRoot::Bundle {
        propagation: Some(flags),
        ..
    } = &p.root
    {
        if let Err(e) = sys::set_root_propagation(*flags) {
            fail(Stage::MakePrivate, 0, e);
        }
    }
    // The pty comes from the sandbox's own devpts, now at /dev/pts; ns-rootless gets the master.
    let pty = match (ctx.sock, &p.process.pty) {
        (Some(sock), Some(setup)) => {
            let (master, slave) = sys::open_pty(setup.termios.as_ref(), &setup.winsize)
                .unwrap_or_else(|e| fail(Stage::Pty, 0, e));
            if let Err(e) = sys::send_fd(sock, master.as_raw_fd()) {
                fail(Stage::Pty, 0, e);
            }
            Some(slave)
        }
        _ => None,
    };
    if let Err((i, e)) = payload::limit_nproc(&p.process) {
        fail(Stage::Limit, i as u32, e);
    }
    // An OCI container is created now: say so (or that its command can't be run, in runc's
    // words at `create`), let `create` exit, and wait for `start`, which signals us through a
    // pidfd. Of the host we hold only the exec fifo's write end (a FIFO: no directory to
    // resolve a path from, and closed before the process runs).
    let mut report = ctx.report_write;
    if let Some(oci) = &p.oci {
        // Without a process (config.json has none) there is nothing to find: `start` kills us.
        if !oci.no_process {
            if let Err(e) = sys::find_executable(&p.process.candidates) {
                fail(Stage::Exec, 0, e);
            }
        }
        if let Err(e) = crate::timens::enter(p.time_offsets.as_deref()) {
            fail(Stage::TimeNamespace, 0, e);
        }
        // Not dumpable while created, as runc's init (CVE-2016-9962): we hold a copy of
        // `create`'s memory (the caller's whole environment) and the exec fifo, and a process
        // of another container in our user and PID namespaces with CAP_SYS_PTRACE there (a
        // pod) could otherwise read or write them through /proc/PID (mem, environ, fd). Our
        // process clears it for both of us anyway before its execve (payload.rs).
        let _ = sys::set_dumpable(false);
        sync::report(ctx.report_write, Stage::Created, 0, 0);
        sys::close(ctx.report_write);
        report = -1;
        let stop = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];
        let sig = sys::wait_for_signal(sys::start_signal(), &stop);
        if sig != sys::start_signal() {
            sys::exit_now(128 + sig);
        }
        if let (Some(oci), Some(states)) = (&p.oci, &states) {
            let hooks = &oci.start_hooks;
            if crate::oci::launch::run_hooks(hooks, states.for_start_container()).is_err() {
                // The container's stderr gets the line; `start` learns it from the exec fifo
                // (exec_fifo.rs) and fails.
                let _ = sys::write_all(2, b"ns-rootless-oci: a startContainer hook failed\n");
                if let Some(fifo) = &oci.exec_fifo {
                    let _ = sys::write_all(fifo.as_raw_fd(), &[crate::oci::exec_fifo::HOOK_FAILED]);
                }
                sys::exit_now(125);
            }
        }
    }
    // The payload starts in its nested user namespace (payload.rs) and, like posix_spawn's
    // child, in our memory until its execve (CLONE_VM|CLONE_VFORK; we wait meanwhile): no copy
    // of our page tables, no copy-on-write faults on either side. unshare(CLONE_NEWUSER) would
    // refuse to run in a process sharing memory; clone doesn't.
    //
    // It stays in our mount namespace, which belongs to the sandbox's user namespace, where it
    // holds no capability: it can't mount, unmount or remount anything there (every mount call
    // needs CAP_SYS_ADMIN in the user namespace owning the mount namespace; checked: EPERM even
    // with full capabilities in the nested one). A mount namespace it could create would belong
    // to a user namespace of its own, so the copy of our mounts in it would be locked
    // (mount_namespaces(7)). Only a payload that keeps its capabilities (`--allow nested`) gets
    // a mount namespace of its own, a locked copy, so that it can mount on top of ours there;
    // copying ~40 mounts and tearing them down again is otherwise ~3% of a run.
    //
    // While we wait, signals for the payload stay queued here: a command whose execve hangs
    // (a binary on a stuck network filesystem) can't be interrupted, only killed (--timeout).
    let start = payload::Start {
        process: &p.process,
        report,
        umask: ctx.umask,
        pty: pty.as_ref().map(|s| s.as_raw_fd()),
    };
    let mount_ns = if p.process.drop_caps {
        0
    } else {
        libc::CLONE_NEWNS
    };
    // A named sandbox's supervisor learns where the payload is from a pidfd of it: a pid number
    // would mean nothing in its pid namespace, nor in a /proc of yet another one.
    let pidfd = if p.report_payload {
        libc::CLONE_PIDFD
    } else {
        0
    };
    // An OCI process stays in the container's user namespace, with the ids and capabilities
    // its config gives it there.
    let user_ns = if p.process.nest.is_some() {
        libc::CLONE_NEWUSER
    } else {
        0
    };
    // (A process in a time namespace of its own can't share our memory: see timens::enter.)
    if p.oci.is_none() {
        if let Err(e) = crate::timens::enter(p.time_offsets.as_deref()) {
            fail(Stage::TimeNamespace, 0, e);
        }
    }
    let vm = if p.time_offsets.is_some() {
        0
    } else {
        libc::CLONE_VM
    };
    let flags = vm | libc::CLONE_VFORK | user_ns | mount_ns | pidfd;
    let started = sys::clone_with(flags, ctx.payload_stack, payload::main, &start);
    let payload = match started {
        Ok(cloned) => {
            if let (Some(sock), Some(fd)) = (ctx.sock, &cloned.pidfd) {
                // Without it the supervisor records no payload, and `exec` says so.
                let _ = sys::send_fd(sock, fd.as_raw_fd());
            }
            Pid::from_raw(cloned.pid)
        }
        // Out of processes or memory; anything else is about the namespaces.
        Err(e @ (libc::EAGAIN | libc::ENOMEM)) => fail(Stage::ForkPayload, 0, e),
        Err(e) => fail(Stage::NestUserns, 0, e),
    };
    // The clone returns once the payload has exec'd (CLONE_VFORK): closing the exec fifo tells an
    // OCI `start`, which waits for it before the poststart hooks (runtime.md: after the
    // user-specified process is executed). The payload's copy is gone by then (payload.rs).
    if let Some(fifo) = p.oci.as_ref().and_then(|o| o.exec_fifo.as_ref()) {
        sys::close(fifo.as_raw_fd());
    }
    drop(pty);
    if let Some(sock) = ctx.sock {
        sys::close(sock);
    }
    // Our copy of the report pipe must go, or the parent never sees EOF at the payload's exec.
    // (We are no longer dumpable: the payload cleared it in our shared memory, payload.rs.)
    if report >= 0 {
        sys::close(report);
    }
    reap(payload, ctx.ended)
}

/// An OCI init with its mounts, before pivot_root (runtime.md's order): waits for `create` to
/// run the prestart and createRuntime hooks in the runtime's namespaces, then runs the
/// createContainer hooks in the container's (their paths resolve in the runtime's mount tree,
/// still ours before the pivot).
fn oci_create_hooks(
    oci: &crate::oci::launch::Launch,
    ctx: &Context,
    states: Option<&crate::oci::launch::HookStates>,
) {
    if oci.runtime_hooks {
        sync::report(ctx.report_write, Stage::RuntimeHooks, 0, 0);
        if sys::read_byte(ctx.go_read) != Ok(Some(sync::HOOKS_RAN)) {
            sys::exit_now(125);
        }
    }
    if oci.keeps_go_pipe() {
        sys::close(ctx.go_read);
    }
    if let Some(states) = states {
        if let Err((i, e)) =
            crate::oci::launch::run_hooks(&oci.create_hooks, states.for_create_container())
        {
            sync::report(ctx.report_write, Stage::CreateContainerHook, i as u32, e);
            sys::exit_now(125);
        }
    }
}

/// Waits for signals (blocked since before clone, see `signals`), forwarding all but SIGCHLD.
/// The start signal, queued from outside our PID namespace with `sys::SIGNAL_ALL`, asks for a
/// signal to every process of it (`ns-rootless-oci kill --all`); from inside it means nothing
/// (si_pid is 0 only for a sender in an ancestor namespace, signal(7)).
fn reap(payload: Pid, ended: &sys::SharedWord) -> ! {
    let set = signals::handled();
    let carrier = sys::start_signal();
    loop {
        match sys::wait_signal_info(&set, carrier) {
            Ok((libc::SIGCHLD, ..)) => {
                if let Some(how) = reap_children(payload) {
                    if let Some(sig) = how.signal() {
                        ended.set(sig as u32);
                    }
                    finish(how.code());
                }
            }
            Ok((sig, code, sender, value)) if sig == carrier => {
                if code == libc::SI_QUEUE && sender == 0 && value & !0xff == sys::SIGNAL_ALL {
                    let _ = sys::kill_all(value & 0xff);
                }
            }
            Ok((sig, ..)) => {
                if let Ok(sig) = Signal::try_from(sig) {
                    let _ = kill(payload, sig);
                }
            }
            Err(_) => {}
        }
    }
}

/// Reaps every child that has ended; returns how the payload ended once it is among them.
fn reap_children(payload: Pid) -> Option<sys::Ended> {
    let mut result = None;
    while let Ok(Some((pid, ended))) = sys::wait_child(-1, true) {
        if pid == payload.as_raw() {
            result = Some(ended);
        }
    }
    result
}

fn finish(code: i32) -> ! {
    // Every other process of the namespace dies with us: when a PID namespace's init exits, the
    // kernel sends SIGKILL to all of them and waits until they are reaped before our exit is
    // complete (pid_namespaces(7)), walking only this namespace's pids. A kill(-1) of our own
    // would walk every process on the host, holding the tasklist lock that every fork and
    // exit on the host needs.
    sys::exit_now(code)
}
