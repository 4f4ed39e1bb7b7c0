//! The only module with `unsafe`: thin syscall wrappers.
//!
//! Everything here that runs after fork/clone is async-signal-safe: no allocation, no locks, no stdio.
//! Errors are raw errno values so a child can ship them to the parent as `(stage, errno)`.

use nix::libc::{self, c_char, c_int, c_uint, c_void};
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub type Errno = i32;
pub type SysResult<T> = Result<T, Errno>;

fn last_errno() -> Errno {
    nix::errno::Errno::last_raw()
}

/// Turns a `-1`-on-error return value into `Err(errno)`.
fn check(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

fn check_fd(ret: libc::c_long) -> SysResult<OwnedFd> {
    let fd = check(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---- process creation and exit -------------------------------------------------------------

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

/// `clone(2)` with namespace flags: the child runs `f(arg)` on `stack` in a copy of our address
/// space (no CLONE_VM), so `arg` stays valid there. SIGCHLD is delivered when it ends.
pub fn clone_with<T>(
    flags: c_int,
    stack: &Stack,
    f: fn(&T) -> !,
    arg: &T,
) -> SysResult<libc::pid_t> {
    struct Call<T> {
        f: fn(&T) -> !,
        arg: *const T,
    }
    extern "C" fn trampoline<T>(call: *mut c_void) -> c_int {
        // SAFETY: `call` points at the `Call` below, in the child's copy of the parent's stack.
        let call = unsafe { &*(call as *const Call<T>) };
        // SAFETY: `arg` was a live reference when clone copied the address space.
        (call.f)(unsafe { &*call.arg })
    }
    let call = Call { f, arg };
    // SAFETY: the stack top is the end of our mapping (page-aligned, so 16-byte aligned); the
    // child gets its own copy of memory, in which `call` and `arg` stay valid.
    let pid = unsafe {
        let top = (stack.base as *mut u8).add(stack.len) as *mut c_void;
        libc::clone(
            trampoline::<T>,
            top,
            flags | libc::SIGCHLD,
            &call as *const Call<T> as *mut c_void,
        )
    };
    check(pid as libc::c_long).map(|p| p as libc::pid_t)
}

/// Plain fork. Only called from single-threaded processes (init forking the payload, `exec`
/// and `run -d` forking before any thread could exist).
pub fn fork() -> SysResult<libc::pid_t> {
    // SAFETY: the caller is single-threaded, so the child can't inherit a lock held by another
    // thread; the child only makes syscalls until execve/_exit.
    let pid = unsafe { libc::fork() };
    check(pid as libc::c_long).map(|p| p as libc::pid_t)
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

// ---- file descriptors ------------------------------------------------------------------------

pub fn close(fd: RawFd) {
    // SAFETY: closing an fd we own; errors are irrelevant here.
    unsafe { libc::close(fd) };
}

fn close_range(first: c_uint, last: c_uint, flags: c_uint) -> SysResult<()> {
    // SAFETY: close_range only affects this process's fd table.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// Closes every fd >= 3 except `keep` (at most a handful, any order). No allocation.
pub fn close_fds_except(keep: &[RawFd]) -> SysResult<()> {
    let mut next: c_uint = 3;
    loop {
        // The smallest kept fd at or above `next`, if any.
        let mut stop: Option<c_uint> = None;
        for &fd in keep {
            let fd = fd as c_uint;
            if fd >= next && stop.is_none_or(|s| fd < s) {
                stop = Some(fd);
            }
        }
        match stop {
            Some(s) => {
                if s > next {
                    close_range(next, s - 1, 0)?;
                }
                next = s + 1;
            }
            None => return close_range(next, c_uint::MAX, 0),
        }
    }
}

/// Marks every fd >= 3 close-on-exec: what the payload inherits is 0, 1, 2 only
/// (CVE-2024-21626 was a leaked directory fd).
pub fn cloexec_from_3() -> SysResult<()> {
    close_range(3, c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as c_uint)
}

/// Takes ownership of an fd the kernel just gave us outside std (SCM_RIGHTS).
pub fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: a freshly received fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Fd 0, 1 or 2: open for the life of the process.
pub fn stdio(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    debug_assert!((0..3).contains(&fd));
    // SAFETY: the standard fds stay open for the life of the process.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Borrows an fd that the caller keeps open for the borrow's duration (the relay's fds).
pub fn borrow<'a>(fd: RawFd) -> std::os::fd::BorrowedFd<'a> {
    // SAFETY: callers pass fds 0-1 or an OwnedFd they hold across the call.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

pub fn read_byte(fd: RawFd) -> SysResult<Option<u8>> {
    let mut b = 0u8;
    loop {
        // SAFETY: reading one byte into a stack variable.
        let n = unsafe { libc::read(fd, &mut b as *mut u8 as *mut c_void, 1) };
        match n {
            1 => return Ok(Some(b)),
            0 => return Ok(None),
            _ if last_errno() == libc::EINTR => continue,
            _ => return Err(last_errno()),
        }
    }
}

pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const c_void, buf.len()) };
        if n < 0 {
            if last_errno() == libc::EINTR {
                continue;
            }
            return Err(last_errno());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// open + one write + close: how /proc files like uid_map want to be written.
pub fn write_file(path: &CStr, data: &[u8]) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    let fd = check_fd(
        unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) } as libc::c_long,
    )?;
    use std::os::fd::AsRawFd;
    write_all(fd.as_raw_fd(), data)
}

// ---- path resolution -------------------------------------------------------------------------

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2(root, path, RESOLVE_IN_ROOT)`: `path` is looked up as if `root` were `/`, so neither
/// `..` nor a symlink (absolute or relative) can lead outside it.
pub fn open_in_root(root: RawFd, path: &CStr, flags: c_int, mode: u32) -> SysResult<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // EAGAIN: a rename anywhere on the system raced a `..` in the lookup; the kernel refuses
    // rather than risk resolving outside the root, and asks us to try again (openat2(2)).
    let mut tries = 0;
    loop {
        // SAFETY: `how` is a valid open_how of the size we pass.
        let fd = check_fd(unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        });
        match fd {
            Err(libc::EAGAIN) if tries < 1000 => tries += 1,
            r => return r,
        }
    }
}

pub fn is_symlink(fd: RawFd) -> SysResult<bool> {
    // SAFETY: fstat into a zeroed stat buffer on the stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd, &mut st) } as libc::c_long)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

pub fn mkdirat(dir: RawFd, name: &CStr, mode: u32) -> SysResult<()> {
    // SAFETY: valid fd and C string.
    check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) } as libc::c_long).map(drop)
}

/// Creates an empty file `name` in `dir` (a mount point for a file bind); never follows a link.
pub fn create_file_at(dir: RawFd, name: &CStr) -> SysResult<()> {
    // SAFETY: valid fd and C string; the new fd is closed right away.
    let fd = check_fd(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        )
    } as libc::c_long)?;
    drop(fd);
    Ok(())
}

pub fn setrlimit(resource: nix::sys::resource::Resource, value: u64) -> SysResult<()> {
    nix::sys::resource::setrlimit(resource, value, value).map_err(|e| e as Errno)
}

pub fn symlinkat(target: &CStr, dir: RawFd, name: &CStr) -> SysResult<()> {
    // SAFETY: valid fd and C strings.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) } as libc::c_long).map(drop)
}

// ---- mounts (the new mount API: every target is an fd, never a path that could be swapped) ----

const FSCONFIG_SET_FLAG: c_uint = 0;
const FSCONFIG_SET_STRING: c_uint = 1;
const FSCONFIG_CMD_CREATE: c_uint = 6;
const FSOPEN_CLOEXEC: c_uint = 1;
const FSMOUNT_CLOEXEC: c_uint = 1;
const OPEN_TREE_CLONE: c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: c_uint = 0x40;

pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;

/// Creates a new, detached mount of `fstype` with `options` (a flag like `newinstance` when the
/// value is None, else key=value) and mount attributes `attrs`.
pub fn new_mount(
    fstype: &CStr,
    options: &[(std::ffi::CString, Option<std::ffi::CString>)],
    attrs: u64,
) -> SysResult<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: valid C string; returns a new fd.
    let fs = check_fd(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    for (key, value) in options {
        let (cmd, value) = match value {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: valid fd and C strings.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                cmd,
                key.as_ptr(),
                value,
                0,
            )
        })?;
    }
    // SAFETY: valid fd.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<c_char>(),
            std::ptr::null::<c_char>(),
            0,
        )
    })?;
    // SAFETY: valid fd; attrs are MOUNT_ATTR_* bits.
    check_fd(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

/// A detached copy of the mount tree at the file `fd` (with every submount).
pub fn clone_tree_at(fd: RawFd) -> SysResult<OwnedFd> {
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as c_uint
        | libc::AT_RECURSIVE as c_uint
        | libc::AT_EMPTY_PATH as c_uint;
    // SAFETY: valid fd and empty C string.
    check_fd(unsafe { libc::syscall(libc::SYS_open_tree, fd, c"".as_ptr(), flags) })
}

/// A detached copy of the mount tree at `path`, an absolute path that must contain no symlink
/// (RESOLVE_NO_SYMLINKS): what the parent checked is what gets bound.
pub fn clone_tree_no_symlinks(path: &CStr) -> SysResult<OwnedFd> {
    use std::os::fd::AsRawFd;
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: `how` is a valid open_how of the size we pass.
    let fd = check_fd(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })?;
    clone_tree_at(fd.as_raw_fd())
}

/// The device of the filesystem holding `fd`.
pub fn device_of(fd: RawFd) -> SysResult<u64> {
    // SAFETY: fstat into a zeroed stat buffer on the stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd, &mut st) } as libc::c_long)?;
    Ok(st.st_dev)
}

/// Whether `name` exists in `dir` (a symlink counts, and is not followed).
pub fn exists_at(dir: RawFd, name: &CStr) -> SysResult<bool> {
    // SAFETY: fstatat into a zeroed stat buffer on the stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r == 0 {
        return Ok(true);
    }
    match last_errno() {
        libc::ENOENT => Ok(false),
        e => Err(e),
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets `attrs` on the mount `mnt` (and with `recursive`, every mount below it), and makes them
/// private: one syscall however many submounts there are.
pub fn set_mount_attrs(mnt: RawFd, attrs: u64, recursive: bool) -> SysResult<()> {
    let mut flags = libc::AT_EMPTY_PATH as c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as c_uint;
    }
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr of the size we pass.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Attaches the detached mount `mnt` on top of the file or directory `target` (an fd).
pub fn attach(mnt: RawFd, target: RawFd) -> SysResult<()> {
    // SAFETY: valid fds and empty paths.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt,
            c"".as_ptr(),
            target,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Attaches the detached mount `mnt` at the absolute path `target` of the current root.
pub fn attach_at(mnt: RawFd, target: &CStr) -> SysResult<()> {
    // SAFETY: valid fd and C strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// `mount --make-rprivate /`: nothing we mount may propagate anywhere.
pub fn make_root_private() -> SysResult<()> {
    // SAFETY: constant C strings; no data argument.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    } as libc::c_long)
    .map(drop)
}

/// Makes the root of `newroot` (an fd of a mount point) the process's `/`, and detaches the old
/// root entirely: `pivot_root(".", ".")` then `umount2(".", MNT_DETACH)` (pivot_root(2), NOTES).
pub fn pivot_to(newroot: RawFd) -> Result<(), (bool, Errno)> {
    // SAFETY: plain syscalls on a valid fd and constant strings.
    unsafe {
        if libc::fchdir(newroot) < 0 {
            return Err((false, last_errno()));
        }
        if libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) < 0 {
            return Err((false, last_errno()));
        }
        if libc::umount2(c".".as_ptr(), libc::MNT_DETACH) < 0 {
            return Err((true, last_errno()));
        }
        if libc::chdir(c"/".as_ptr()) < 0 {
            return Err((true, last_errno()));
        }
    }
    Ok(())
}

// ---- namespaces, identity, misc --------------------------------------------------------------

/// Joins the namespace `fd` refers to (setns(2)).
pub fn setns(fd: RawFd, nstype: c_int) -> SysResult<()> {
    // SAFETY: plain syscall on an fd we own.
    check(unsafe { libc::setns(fd, nstype) } as libc::c_long).map(drop)
}

/// The parent of the user namespace `fd` (ioctl_ns(2), NS_GET_PARENT).
pub fn parent_namespace(fd: RawFd) -> SysResult<OwnedFd> {
    const NS_GET_PARENT: libc::c_ulong = 0xb702;
    // SAFETY: ioctl on a namespace fd; returns a new fd.
    check_fd(unsafe { libc::ioctl(fd, NS_GET_PARENT) } as libc::c_long)
}

/// A pidfd for `pid`: a handle that can't be confused with a later process reusing the pid.
pub fn pidfd_open(pid: libc::pid_t) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall; returns a new fd.
    check_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as c_uint) })
}

pub fn pidfd_send_signal(pidfd: RawFd, sig: c_int) -> SysResult<()> {
    // SAFETY: plain syscall; no siginfo.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0 as c_uint,
        )
    })
    .map(drop)
}

pub fn unshare(flags: c_int) -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(flags) } as libc::c_long).map(drop)
}

pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: pointer and length of a valid slice.
    check(unsafe { libc::sethostname(name.as_ptr() as *const c_char, name.len()) } as libc::c_long)
        .map(drop)
}

pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask never fails.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: valid C string.
    check(unsafe { libc::chdir(path.as_ptr()) } as libc::c_long).map(drop)
}

pub fn setsid() -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setsid() } as libc::c_long).map(drop)
}

/// Ask the kernel to SIGKILL us when the thread that created us dies.
pub fn kill_me_with_parent() -> SysResult<()> {
    // SAFETY: plain prctl.
    check(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) }
            as libc::c_long,
    )
    .map(drop)
}

/// Nobody may ptrace us or open our /proc/PID files (fd, mem, exe) without CAP_SYS_PTRACE.
pub fn set_not_dumpable() -> SysResult<()> {
    // SAFETY: plain prctl.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong) } as libc::c_long)
        .map(drop)
}

/// Brings `lo` up in the current network namespace (SIOCGIFFLAGS/SIOCSIFFLAGS, netdevice(7)).
pub fn loopback_up() -> SysResult<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: socket() returns a new fd or -1.
    let sock =
        check_fd(
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }
                as libc::c_long,
        )?;
    // SAFETY: ifreq is plain old data; the name fits with its NUL.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as c_char;
    }
    // SAFETY: ioctls on our socket with a valid ifreq.
    unsafe {
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) as libc::c_long)?;
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) as libc::c_long)?;
    }
    Ok(())
}

pub fn getrandom(buf: &mut [u8]) -> SysResult<()> {
    // SAFETY: writing into a valid slice.
    let n = check(
        unsafe { libc::getrandom(buf.as_mut_ptr() as *mut c_void, buf.len(), 0) } as libc::c_long,
    )?;
    if n as usize == buf.len() {
        Ok(())
    } else {
        Err(libc::EIO)
    }
}

// ---- terminals ------------------------------------------------------------------------------

/// Opens a new pty in the devpts mounted at /dev/pts (ours, after pivot_root), with the
/// caller's terminal settings and window size. Returns (master, slave), neither a controlling
/// terminal of ours.
pub fn open_pty(
    termios: Option<&libc::termios>,
    winsize: &libc::winsize,
) -> SysResult<(OwnedFd, OwnedFd)> {
    use std::os::fd::AsRawFd;
    // SAFETY: constant path; returns a new fd.
    let master = check_fd(unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    } as libc::c_long)?;
    let unlock: c_int = 0;
    // SAFETY: ioctls on our pty master with valid argument pointers.
    unsafe {
        check(libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) as libc::c_long)?;
        let slave = check_fd(libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ) as libc::c_long)?;
        if let Some(t) = termios {
            check(libc::ioctl(slave.as_raw_fd(), libc::TCSETS, t) as libc::c_long)?;
        }
        check(libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, winsize) as libc::c_long)?;
        Ok((master, slave))
    }
}

/// Makes `slave` our controlling terminal and our stdin, stdout and stderr (we must be a
/// session leader without one: call after setsid).
pub fn take_terminal(slave: RawFd) -> SysResult<()> {
    // SAFETY: ioctl and dup2 on fds we own.
    unsafe {
        check(libc::ioctl(slave, libc::TIOCSCTTY, 0) as libc::c_long)?;
        for fd in 0..3 {
            check(libc::dup2(slave, fd) as libc::c_long)?;
        }
    }
    Ok(())
}

/// Sends `fd` over the unix socket `sock` (SCM_RIGHTS), with a stack buffer: no allocation.
pub fn send_fd(sock: RawFd, fd: RawFd) -> SysResult<()> {
    #[repr(C, align(8))]
    struct ControlBuf([u8; 64]);
    let mut control = ControlBuf([0; 64]);
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr() as *mut c_void,
        iov_len: 1,
    };
    // SAFETY: msghdr/cmsghdr built in place over stack buffers that outlive sendmsg; CMSG_SPACE
    // of one int fits in 64 bytes.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut c_int, fd);
        check(libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) as libc::c_long).map(drop)
    }
}

/// The window size of the terminal at `fd`.
pub fn window_size(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: TIOCGWINSZ into a zeroed winsize.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some(ws)
}

pub fn set_window_size(fd: RawFd, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ from a valid winsize; failure (a closed pty) is harmless.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, ws) };
}

pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}

pub fn set_nonblocking(fd: RawFd) -> SysResult<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL) as libc::c_long)? as c_int;
        check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) as libc::c_long).map(drop)
    }
}

// ---- privileges ------------------------------------------------------------------------------

/// Empties every capability set: bounding, ambient, then inheritable, permitted and effective.
/// With the bounding set empty and no_new_privs, even uid 0 gets nothing back at execve
/// (capabilities(7), "Transformation of capabilities during execve()").
pub fn drop_capabilities() -> SysResult<()> {
    for cap in 0..64 {
        // SAFETY: plain prctl; EINVAL past the kernel's last capability ends the loop.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } < 0 {
            match last_errno() {
                libc::EINVAL => break,
                e => return Err(e),
            }
        }
    }
    // SAFETY: plain prctl.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    } as libc::c_long)?;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: version-3 header with two data structs, as capset(2) expects.
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) })
        .map(drop)
}

pub fn set_no_new_privs() -> SysResult<()> {
    // SAFETY: plain prctl.
    check(
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) }
            as libc::c_long,
    )
    .map(drop)
}

/// Installs one seccomp filter program (no_new_privs must be set).
pub fn install_seccomp(program: &[seccompiler::sock_filter]) -> SysResult<()> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const seccompiler::sock_filter,
    }
    let prog = SockFprog {
        len: program.len() as u16,
        filter: program.as_ptr(),
    };
    // SAFETY: `prog` points at a valid BPF program that outlives the call (the kernel copies it).
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as c_uint,
            &prog as *const SockFprog,
        )
    })
    .map(drop)
}

/// Gives the process a new anonymous session keyring: the caller's keys (kerberos tickets,
/// cached credentials) are out of reach (keyrings(7)).
pub fn join_new_session_keyring() -> SysResult<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: plain keyctl with a NULL name (anonymous keyring).
    check(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<c_char>(),
        )
    })
    .map(drop)
}

/// Reads everything from an fd the caller handed us (`--seccomp-fd`), then closes it.
pub fn read_fd_to_end(fd: RawFd) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // SAFETY: the fd number comes from the user; fcntl checks it is open before we own it.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: checked open above; we take ownership and close it after reading.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(out)
}

// ---- signals ---------------------------------------------------------------------------------

/// Resets the signals in `ignored` (bit N-1 for signal N, as in /proc/PID/status SigIgn) to
/// their default action. Ignored signals survive execve (signal(7)), so a caller's `nohup` or
/// Rust's own SIGPIPE=ignore must not reach the payload; handled ones are reset by execve.
pub fn reset_ignored_signals(ignored: u64) {
    for sig in 1..=64 {
        if ignored & (1 << (sig - 1)) != 0 {
            // SAFETY: installing SIG_DFL; errors (KILL, STOP, reserved signals) are harmless.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

/// The signals this process ignores (SigIgn in /proc/self/status); all of them if unreadable.
pub fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(u64::MAX)
}

pub fn set_signal_default(sig: c_int) {
    // SAFETY: installing SIG_DFL.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// Sets the blocked signal mask. Only used while single-threaded.
pub fn set_sigmask(set: &nix::sys::signal::SigSet) {
    // SAFETY: valid sigset pointer; single-threaded so sigprocmask is well defined.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, set.as_ref(), std::ptr::null_mut());
    }
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Exit code, or 128 + signal number: our exit-status convention.
    Code(i32),
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
        Ended::Code(128 + libc::WTERMSIG(status))
    } else {
        // Stopped or continued: only reported with WUNTRACED/WCONTINUED, which we don't ask.
        return Ok(None);
    };
    Ok(Some((got, ended)))
}

/// Reads the number of threads of this process from /proc/self/stat (field 20).
pub fn thread_count() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing paren.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(17)?.parse().ok()
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
