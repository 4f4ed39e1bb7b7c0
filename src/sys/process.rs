//! Creating, ending and waiting for processes.

use super::{check, last_errno, Errno, SysResult};
use nix::libc::{self, c_char, c_int, c_void};
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd};

/// A child stack for `clone`, with a PROT_NONE guard page below it so an overflow faults
/// instead of silently overwriting other memory.
pub struct Stack {
    base: *mut c_void,
    len: usize,
}

impl Stack {
    pub fn new(len: usize) -> std::io::Result<Stack> {
        // SAFETY: anonymous private mapping; we own it until Drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the first page lies inside the mapping we just created.
        if unsafe { libc::mprotect(base, 4096, libc::PROT_NONE) } != 0 {
            let err = std::io::Error::last_os_error();
            // SAFETY: unmapping what we just mapped.
            unsafe { libc::munmap(base, len) };
            return Err(err);
        }
        Ok(Stack { base, len })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mmap gave us.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// What `clone_with` started: its pid in our pid namespace and, when CLONE_PIDFD was asked
/// for, a pidfd of it (pidfd_open(2)): the handle other pid namespaces and /proc instances
/// can't confuse with another process.
pub struct Cloned {
    pub pid: libc::pid_t,
    pub pidfd: Option<OwnedFd>,
}

/// `clone(2)` with namespace flags: the child runs `f(arg)` on `stack`, in a copy of our address
/// space or, with CLONE_VM|CLONE_VFORK, in ours while we wait for its execve or exit; either
/// way `arg` stays valid there. SIGCHLD is delivered when it ends. No allocation: init calls it.
pub fn clone_with<T>(flags: c_int, stack: &Stack, f: fn(&T) -> !, arg: &T) -> SysResult<Cloned> {
    struct Call<T> {
        f: fn(&T) -> !,
        arg: *const T,
    }
    extern "C" fn trampoline<T>(call: *mut c_void) -> c_int {
        // SAFETY: `call` points at the `Call` below, in the parent's stack or the child's copy.
        let call = unsafe { &*(call as *const Call<T>) };
        // SAFETY: `arg` was a live reference at clone, and the parent waits (or was copied).
        (call.f)(unsafe { &*call.arg })
    }
    // A child running concurrently in our memory would race with us on everything.
    if flags & libc::CLONE_VM != 0 && flags & libc::CLONE_VFORK == 0 {
        return Err(libc::EINVAL);
    }
    let call = Call { f, arg };
    // With CLONE_PIDFD the kernel stores the new pidfd here (the parent_tid argument).
    let mut pidfd: c_int = -1;
    // SAFETY: the stack top is the end of our mapping (page-aligned, so 16-byte aligned); the
    // child gets its own copy of memory, or (CLONE_VFORK) ours while this frame waits, so
    // `call`, `arg` and `pidfd` stay valid.
    let pid = unsafe {
        let top = (stack.base as *mut u8).add(stack.len) as *mut c_void;
        libc::clone(
            trampoline::<T>,
            top,
            flags | libc::SIGCHLD,
            &call as *const Call<T> as *mut c_void,
            &mut pidfd as *mut c_int,
        )
    };
    let pid = check(pid as libc::c_long)? as libc::pid_t;
    let pidfd = (flags & libc::CLONE_PIDFD != 0 && pidfd >= 0)
        // SAFETY: the kernel just gave us this fd (CLONE_PIDFD); nobody else owns it.
        .then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    Ok(Cloned { pid, pidfd })
}

/// Plain fork. Only called from single-threaded processes (`exec` and `run -d` forking before
/// any thread could exist).
pub fn fork() -> SysResult<libc::pid_t> {
    // SAFETY: the caller is single-threaded, so the child can't inherit a lock held by another
    // thread; the child only makes syscalls until execve/_exit.
    let pid = unsafe { libc::fork() };
    check(pid as libc::c_long).map(|p| p as libc::pid_t)
}

/// What Rust's runtime does before `main` that we rely on (main.rs says what we skip): a
/// closed standard fd gets /dev/null, so no file we open later is taken for a stdin, stdout or
/// stderr; SIGPIPE is ignored, so writing to a closed pipe is an EPIPE error, not death.
#[cfg_attr(test, allow(dead_code))]
pub fn runtime_start() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: a valid array of three pollfds; a zero timeout.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0;
    for pfd in fds {
        let closed = if polled {
            pfd.revents & libc::POLLNVAL != 0
        } else {
            // SAFETY: F_GETFD on any number is harmless.
            let flags = unsafe { libc::fcntl(pfd.fd, libc::F_GETFD) };
            flags == -1 && last_errno() == libc::EBADF
        };
        // open(2) takes the lowest free number: this one, as the earlier ones are open.
        // SAFETY: a constant C string.
        if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != pfd.fd {
            std::process::abort();
        }
    }
    // SAFETY: setting a disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Exit without running atexit handlers or flushing stdio buffers inherited from the parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call.
    unsafe { libc::_exit(code) }
}

pub fn execve(path: &CStr, argv: *const *const c_char, envp: *const *const c_char) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings that the caller
    // keeps alive (built before fork).
    unsafe { libc::execve(path.as_ptr(), argv, envp) };
    last_errno()
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl Ended {
    /// Our exit-status convention: the code, or 128 + the signal's number.
    pub fn code(self) -> i32 {
        match self {
            Ended::Code(code) => code,
            Ended::Signal(sig) => 128 + sig,
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            Ended::Code(_) => None,
            Ended::Signal(sig) => Some(sig),
        }
    }
}

/// One word of memory shared with a child cloned without CLONE_VM (a MAP_SHARED mapping stays
/// shared in the copy): how init tells ns-rootless what its exit code can't, written right
/// before it exits (a plain store, fine after clone).
pub struct SharedWord {
    word: *mut std::sync::atomic::AtomicU32,
}

impl SharedWord {
    pub fn new() -> std::io::Result<SharedWord> {
        // SAFETY: a fresh anonymous shared mapping of one page; we own it until Drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(SharedWord { word: base.cast() })
    }

    pub fn set(&self, value: u32) {
        // SAFETY: the page is mapped (zeroed, page-aligned) for as long as self lives.
        unsafe { (*self.word).store(value, std::sync::atomic::Ordering::SeqCst) }
    }

    pub fn get(&self) -> u32 {
        // SAFETY: as in `set`.
        unsafe { (*self.word).load(std::sync::atomic::Ordering::SeqCst) }
    }
}

impl Drop for SharedWord {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the page mmap gave us.
        unsafe { libc::munmap(self.word.cast(), 4096) };
    }
}

/// waitpid(2) with the raw status decoded here: nix's decoder refuses real-time signals with
/// EINVAL *after* the kernel has reaped the child, which would lose its death. `pid` -1 means
/// any child. Ok(None): nothing has ended (WNOHANG); Err: no child at all (ECHILD) or EINTR.
pub fn wait_child(pid: libc::pid_t, nohang: bool) -> SysResult<Option<(libc::pid_t, Ended)>> {
    let mut status: c_int = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: waitpid writes the status into our local.
    let got = unsafe { libc::waitpid(pid, &mut status, flags) };
    if got < 0 {
        return Err(last_errno());
    }
    if got == 0 {
        return Ok(None);
    }
    let ended = if libc::WIFEXITED(status) {
        Ended::Code(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Ended::Signal(libc::WTERMSIG(status))
    } else {
        // Stopped or continued: only reported with WUNTRACED/WCONTINUED, which we don't ask.
        return Ok(None);
    };
    Ok(Some((got, ended)))
}

/// Real and effective uid/gid of this process.
pub fn ids() -> (u32, u32, u32, u32) {
    // SAFETY: these calls never fail.
    unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    }
}

/// Makes `cmd` start as a helper that dies with us and gets `fds` (ours, its number) as the
/// numbers it expects. The returned fds must stay open until `cmd` is spawned.
///
/// PR_SET_PDEATHSIG fires when the thread that forked it ends: we are single-threaded, so when
/// ns-rootless ends, even by SIGKILL, the helper gets SIGKILL (old pasta builds never notice
/// that the namespace they serve is gone). A parent already gone before the prctl is caught
/// by comparing getppid() with our pid.
pub fn tie_to_us(
    cmd: &mut std::process::Command,
    fds: &[(std::os::fd::RawFd, std::os::fd::RawFd)],
) -> SysResult<Vec<std::os::fd::OwnedFd>> {
    use std::os::unix::process::CommandExt;
    // Ours moved above every number the helper expects, so no dup2 below overwrites a source.
    let mut moved = Vec::with_capacity(fds.len());
    let mut pairs = Vec::with_capacity(fds.len());
    let targets: Vec<std::os::fd::RawFd> = fds.iter().map(|&(_, theirs)| theirs).collect();
    for &(ours, theirs) in fds {
        // SAFETY: F_DUPFD_CLOEXEC on an fd the caller owns; returns a new fd.
        let fd = super::check_fd(
            unsafe { libc::fcntl(ours, libc::F_DUPFD_CLOEXEC, 64) } as libc::c_long
        )?;
        pairs.push((std::os::fd::AsRawFd::as_raw_fd(&fd), theirs));
        moved.push(fd);
    }
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let tie = move || -> std::io::Result<()> {
        // Between fork and exec: only async-signal-safe syscalls, no allocation.
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        for &(from, to) in &pairs {
            // dup2 leaves the new number without FD_CLOEXEC: the helper keeps it.
            // SAFETY: both are fd numbers; `from` is open until exec.
            if unsafe { libc::dup2(from, to) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        // std closes nothing: an fd we inherited without FD_CLOEXEC (a directory of the
        // caller's shell, say) would reach the helper, which parses what the sandbox sends and
        // confines itself expecting to hold only what it was given.
        super::fds::cloexec_except(&targets).map_err(std::io::Error::from_raw_os_error)
    };
    // SAFETY: the closure makes only async-signal-safe syscalls and allocates nothing.
    unsafe { cmd.pre_exec(tie) };
    Ok(moved)
}

/// CLOCK_MONOTONIC in nanoseconds (the stage stamps, stamps.rs): one clock for every process of
/// a launch, read without allocating.
#[cfg(feature = "stamps")]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the one we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
