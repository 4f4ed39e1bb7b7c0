//! The payload's process, started by init after pivot_root (or forked by `exec`): it maps its
//! ids, cleans up what it inherited and execs the command. Syscalls only, never returns.
//! Started by init, it runs in init's memory until execve (CLONE_VM): it writes nothing but
//! its own stack and errno (init's thread-local storage, which init doesn't read after).

use crate::error::Stage;
use crate::prepared::{PreparedCwd, Process};
use crate::sync;
use crate::sys;
use nix::libc;
use nix::sys::resource::Resource;
use nix::sys::signal::SigSet;
use std::os::fd::{AsRawFd, RawFd};

/// What the payload's process starts from: `report` is the write end of the pipe to
/// ns-rootless; `umask` the caller's; `pty` the slave of the payload's terminal, when it has one.
pub struct Start<'a> {
    pub process: &'a Process,
    pub report: RawFd,
    pub umask: u32,
    pub pty: Option<RawFd>,
}

/// RLIMIT_NPROC, set by init just before it creates the payload's nested user namespace: the
/// namespace's creation records it as the cap for the whole namespace, so `--limit nproc=N`
/// bounds every process of the sandbox together. Err: (index of the limit, errno).
pub fn limit_nproc(p: &Process) -> Result<(), (usize, sys::Errno)> {
    for (i, l) in p.limits.iter().enumerate() {
        let (resource, value) = (l.resource, l.value);
        if resource == Resource::RLIMIT_NPROC {
            // Init and the payload are two processes already, and the payload's creation is
            // checked against the cap: with N < 2 it would fail. The payload lowers its own
            // limit to N before execve, so it still can't fork.
            sys::set_rlimit(resource as _, value.max(2), value.max(2)).map_err(|e| (i, e))?;
        }
    }
    Ok(())
}

/// With `p.nest`, the process already is in its own nested user namespace (init's clone flags)
/// and maps its ids there.
pub fn main(start: &Start) -> ! {
    let &Start {
        process: p,
        report,
        umask,
        pty,
    } = start;
    crate::stamps::stamp("payload");
    let fail_at = |stage: Stage, index: usize, errno: sys::Errno| -> ! {
        if report >= 0 {
            sync::report(report, stage, index as u32, errno);
        } else {
            // An OCI container after `start`: nobody of ours is left to word it, so the
            // container's own stderr gets the line (static strings only: no allocation here).
            for part in [
                "ns-rootless-oci: ",
                stage.doing(),
                ": ",
                crate::error::strerror(errno),
                "\n",
            ] {
                let _ = sys::write_all(2, part.as_bytes());
            }
        }
        sys::exit_now(125)
    };
    let fail = |stage: Stage, errno: sys::Errno| -> ! { fail_at(stage, 0, errno) };
    // Default dispositions and an empty mask: ignored signals would survive execve. Until
    // execve we may run in init's memory; no signal handler exists there to run (signals.rs).
    sys::reset_signals(p.ignored_signals);
    sys::set_sigmask(&SigSet::empty());
    // The setup is out of reach (DESIGN.md "Locking the setup"): in a nested user namespace,
    // even uid 0 here can't unmount a mask or remount a read-only bind read-write (init.rs).
    if let Some(nest) = &p.nest {
        // In a time namespace of its own we have a copy of init's memory, not dumpable
        // (timens::enter): dumpable again until the maps are written, as when shared.
        if nest.own_time {
            let _ = sys::set_dumpable(true);
        }
        // setgroups is already "deny" (inherited from the sandbox's user namespace).
        if let Err(e) = sys::write_file(c"/proc/self/uid_map", &nest.uid_map) {
            fail(Stage::NestUidMap, e);
        }
        if let Err(e) = sys::write_file(c"/proc/self/gid_map", &nest.gid_map) {
            fail(Stage::NestGidMap, e);
        }
    }
    crate::stamps::stamp("nested");
    // The command (uid 0 of its own user namespace) must not ptrace init or open /proc/1/fd.
    // Dumpability belongs to the memory, which we share with init until our execve: clearing
    // it here closes init off before the command's first instruction. Not earlier: a process
    // that isn't dumpable can't write its own uid_map (its /proc files then belong to root).
    // execve gives us new memory, dumpable again.
    let _ = sys::set_dumpable(false);
    // Nothing from outside the sandbox may be in reach while we resolve a path in it: an fd of
    // a host directory is a way out through /proc/self/fd/N (CVE-2024-21626, where runc leaked
    // one to `exec`). Only the report pipe, the pty and the Landlock ruleset (an anonymous
    // inode, no path to follow) stay (and 0-2, the caller's own).
    // (An OCI process also keeps its --preserve-fds, 3 to 3+N-1.)
    let ruleset = p.landlock.as_ref().map(|r| r.as_raw_fd());
    let keep = [report, pty.unwrap_or(report), ruleset.unwrap_or(report)];
    let first = 3 + p.oci.as_ref().map_or(0, |o| o.preserve_fds);
    if let Err(e) = sys::close_fds_from_except(first, &keep) {
        fail(Stage::CloseFds, e);
    }
    if let Err(e) = enter_cwd(&p.cwd) {
        fail(Stage::Chdir, e);
    }
    // A new session: the payload can't reopen the caller's terminal through /dev/tty, so no
    // TIOCSTI injection into the caller's shell (CVE-2017-5226).
    if let Err(e) = sys::setsid() {
        fail(Stage::NewSession, e);
    }
    if let Some(slave) = pty {
        if let Err(e) = sys::take_terminal(slave) {
            fail(Stage::Pty, e);
        }
    }
    sys::umask(umask);
    // Kernels or containers without keyrings answer ENOSYS/EPERM: then there is nothing to reach.
    if p.oci.as_ref().is_none_or(|o| o.new_keyring) {
        match sys::join_new_session_keyring() {
            Ok(()) | Err(libc::ENOSYS) | Err(libc::EPERM) => {}
            Err(e) => fail(Stage::Keyring, e),
        }
    }
    if let Err(e) = sys::cloexec_from(first) {
        fail(Stage::CloseFds, e);
    }
    if let Some(o) = &p.oci {
        // The Landlock domain first, while we hold CAP_SYS_ADMIN in our user namespace (which
        // landlock_restrict_self(2) takes instead of no_new_privs): the config may ask for no
        // no_new_privs and no capabilities, and its seccomp profile need not allow Landlock.
        if let Err(e) = enter_landlock(p) {
            fail(Stage::Landlock, e);
        }
        // Its config's ids, capabilities, no_new_privs, seccomp and rlimits, in that order.
        if let Err((stage, e)) = crate::oci::launch::finish_process(o) {
            fail(stage, e);
        }
    } else if p.drop_caps {
        if let Err(e) = sys::drop_capabilities() {
            fail(Stage::Capabilities, e);
        }
    }
    if p.oci.is_none() {
        if let Err(e) = sys::set_no_new_privs() {
            fail(Stage::NoNewPrivs, e);
        }
        if let Err(e) = enter_landlock(p) {
            fail(Stage::Landlock, e);
        }
    }
    // Last, so that nothing above needs a syscall the filter denies.
    crate::stamps::stamp("locked");
    if let Some(program) = &p.seccomp {
        if let Err(e) = sys::install_seccomp(program) {
            fail(Stage::Seccomp, e);
        }
    }
    // The limits wait until just before execve, so that a tiny `nofile` or `fsize` can't break
    // our own last steps. RLIMIT_NPROC is set by init already (`limit_nproc`); again here for
    // an N below 2.
    for (i, l) in p.limits.iter().enumerate() {
        if let Err(e) = sys::set_rlimit(l.resource as _, l.value, l.value) {
            fail_at(Stage::Limit, i, e);
        }
    }
    crate::stamps::stamp("execve");
    let errno = exec_first(p);
    sync::report(report, Stage::Exec, 0, errno);
    sys::exit_now(if errno == libc::ENOENT { 127 } else { 126 })
}

/// The second layer under the network namespace (landlock.rs), when the command shares the
/// host's: needs no_new_privs, or CAP_SYS_ADMIN in our user namespace.
fn enter_landlock(p: &Process) -> Result<(), sys::Errno> {
    match &p.landlock {
        Some(ruleset) => sys::landlock_restrict_self(ruleset.as_raw_fd()),
        None => Ok(()),
    }
}

/// Changes to the start directory, resolved beneath our root (`/`, the sandbox's: after
/// pivot_root, or `exec`'s setns into its mount namespace) with RESOLVE_IN_ROOT: no `..`,
/// absolute symlink or /proc magic link (RESOLVE_NO_MAGICLINKS) leads outside it, so the cwd
/// is inside the root or the start fails. A `Try` directory that can't be entered gives `/`.
fn enter_cwd(cwd: &PreparedCwd) -> Result<(), sys::Errno> {
    let root = sys::open_dir_path(c"/")?;
    let flags = libc::O_PATH | libc::O_DIRECTORY;
    let dir = match cwd {
        PreparedCwd::Exact(dir) => Some(sys::open_in_root(root.as_raw_fd(), dir, flags, 0)?),
        PreparedCwd::Try(dir) => sys::open_in_root(root.as_raw_fd(), dir, flags, 0).ok(),
        PreparedCwd::Root => None,
    };
    sys::fchdir(dir.as_ref().unwrap_or(&root).as_raw_fd())
}

/// execvp's search: try each candidate; remember EACCES but keep looking; stop at other errors.
fn exec_first(p: &Process) -> sys::Errno {
    let mut denied = false;
    for path in &p.candidates {
        match sys::execve(path, p.argv.as_ptr(), p.envp.as_ptr()) {
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            libc::EACCES => denied = true,
            other => return other,
        }
    }
    if denied {
        libc::EACCES
    } else {
        libc::ENOENT
    }
}
