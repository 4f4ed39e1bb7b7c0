//! Probe run inside the sandbox by tests/hardening.rs.
//!
//! * `probe report`: one JSON object describing what the process started with (capability
//!   sets, no_new_privs, seccomp, signal mask and ignored set, ids, open fds, cwd, session
//!   keyring, session and process group, mount count).
//! * `probe syscall NAME [ARG]`: tries one dangerous (or harmless) operation and prints `ok`
//!   (sometimes `ok DETAIL`) or `errno N NAME`, then exits 0.
//! * `probe syscall fork-hold N`: forks up to N children and holds them until killed.
//! * `probe syscalls NAME[=ARG]...`: the same for several operations, one `NAME: RESULT` line
//!   each.
//!
//! Exit 2 on bad usage. Raw syscalls throughout, so that what reaches the kernel (and the
//! seccomp filter) is exactly what the name says.

// Cargo also discovers this file as an integration test (tests/*/main.rs); built that way,
// `main` is never called and everything here would be dead code.
#![cfg_attr(test, allow(dead_code))]

use nix::libc;
use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};

/// The signal mask and ignored set as execve left them, read before Rust's runtime starts (it
/// ignores SIGPIPE itself): bit N-1 for signal N, like the kernel's SigBlk/SigIgn.
static INHERITED_SIGBLK: AtomicU64 = AtomicU64::new(0);
static INHERITED_SIGIGN: AtomicU64 = AtomicU64::new(0);

extern "C" fn record_inherited_signals() {
    let (mut blocked, mut ignored) = (0u64, 0u64);
    // SAFETY: querying (never changing) the mask and dispositions into local structs.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        for sig in 1..=64 {
            if libc::sigismember(&set, sig) == 1 {
                blocked |= 1 << (sig - 1);
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                ignored |= 1 << (sig - 1);
            }
        }
    }
    INHERITED_SIGBLK.store(blocked, Ordering::Relaxed);
    INHERITED_SIGIGN.store(ignored, Ordering::Relaxed);
}

/// Run by the dynamic loader before `main` (and before std's runtime setup).
#[used]
#[link_section = ".init_array"]
static RECORD_INHERITED_SIGNALS: extern "C" fn() = record_inherited_signals;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["report"] => println!("{}", report()),
        ["syscall", name] => match try_op(name, None) {
            Some(result) => println!("{result}"),
            None => usage(&format!("unknown operation {name:?}")),
        },
        ["syscall", name, arg] => match try_op(name, Some(arg)) {
            Some(result) => println!("{result}"),
            None => usage(&format!("unknown operation {name:?}")),
        },
        ["syscalls", names @ ..] if !names.is_empty() => {
            for name in names {
                // NAME=ARG gives an operation its argument.
                let (op, arg) = match name.split_once('=') {
                    Some((op, arg)) => (op, Some(arg)),
                    None => (*name, None),
                };
                match try_op(op, arg) {
                    Some(result) => println!("{name}: {result}"),
                    None => usage(&format!("unknown operation {name:?}")),
                }
            }
        }
        _ => usage("expected `report`, `syscall NAME [ARG]` or `syscalls NAME...`"),
    }
}

fn usage(why: &str) -> ! {
    eprintln!("probe: {why}");
    std::process::exit(2)
}

// ---------------------------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------------------------

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::ENOKEY => "ENOKEY",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EDQUOT => "EDQUOT",
        _ => "E?",
    }
}

fn errno_result(e: i32) -> String {
    format!("errno {e} {}", errno_name(e))
}

/// `ok` when `ret >= 0`, else the errno.
fn result(ret: libc::c_long) -> String {
    if ret >= 0 {
        "ok".to_owned()
    } else {
        errno_result(errno())
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in probe paths")
}

const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEYCTL_DESCRIBE: libc::c_long = 6;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;

/// `(id, description)` of the session keyring, or the errno of the first failing keyctl.
fn session_keyring() -> Result<(i64, String), i32> {
    // SAFETY: keyctl with integer arguments only.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0 as libc::c_long,
        )
    };
    if id < 0 {
        return Err(errno());
    }
    let mut buf = vec![0u8; 512];
    // SAFETY: keyctl writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            id,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(errno());
    }
    let len = (n as usize).min(buf.len());
    let desc = CStr::from_bytes_until_nul(&buf[..len])
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&buf[..len]).into_owned());
    Ok((id, desc))
}

/// Open fds (number, readlink target), without the directory fd used for the walk.
fn open_fds() -> Vec<(i32, String)> {
    let mut fds = Vec::new();
    // SAFETY: opendir/readdir/closedir on a DIR* we own; entries are read before the next call.
    unsafe {
        let dir = libc::opendir(c"/proc/self/fd".as_ptr());
        if dir.is_null() {
            return fds;
        }
        let own = libc::dirfd(dir);
        loop {
            let entry = libc::readdir(dir);
            if entry.is_null() {
                break;
            }
            let name = CStr::from_ptr((*entry).d_name.as_ptr()).to_string_lossy();
            let Ok(fd) = name.parse::<i32>() else {
                continue;
            };
            if fd == own {
                continue;
            }
            let target = fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_else(|e| format!("?{e}"));
            fds.push((fd, target));
        }
        libc::closedir(dir);
    }
    fds.sort();
    fds
}

fn report() -> String {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = String::from("{");
    for field in [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
    ] {
        let _ = write!(
            out,
            "{}: {}, ",
            json_string(field),
            json_string(&status_field(&status, field))
        );
    }
    // What the kernel shows now (Rust's runtime ignores SIGPIPE), and what execve left.
    let _ = write!(
        out,
        "\"SigBlk\": \"{:016x}\", \"SigIgn\": \"{:016x}\", \"SigIgnNow\": {}, ",
        INHERITED_SIGBLK.load(Ordering::Relaxed),
        INHERITED_SIGIGN.load(Ordering::Relaxed),
        json_string(&status_field(&status, "SigIgn"))
    );
    // SAFETY: these id and session calls cannot fail for the calling process.
    let (uid, euid, gid, egid, sid, pgid, ppid, pid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
            libc::getsid(0),
            libc::getpgrp(),
            libc::getppid(),
            libc::getpid(),
        )
    };
    let _ = write!(
        out,
        "\"uid\": {uid}, \"euid\": {euid}, \"gid\": {gid}, \"egid\": {egid}, \"pid\": {pid}, \
         \"sid\": {sid}, \"pgid\": {pgid}, \"ppid\": {ppid}, "
    );
    let groups = status_field(&status, "Groups");
    let _ = write!(out, "\"groups\": {}, ", json_string(&groups));
    out.push_str("\"fds\": {");
    let fds = open_fds();
    for (i, (fd, target)) in fds.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"{fd}\": {}", json_string(target));
    }
    out.push_str("}, ");
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("?{e}"));
    let _ = write!(out, "\"cwd\": {}, ", json_string(&cwd));
    match session_keyring() {
        Ok((id, desc)) => {
            let _ = write!(
                out,
                "\"keyring_id\": {id}, \"keyring\": {}, ",
                json_string(&desc)
            );
        }
        Err(e) => {
            let _ = write!(
                out,
                "\"keyring_id\": null, \"keyring\": {}, ",
                json_string(&errno_result(e))
            );
        }
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().count())
        .unwrap_or(0);
    let _ = write!(out, "\"mounts\": {mounts}");
    out.push('}');
    out
}

// ---------------------------------------------------------------------------------------------
// syscall
// ---------------------------------------------------------------------------------------------

fn socket(family: libc::c_int, kind: libc::c_int) -> String {
    // SAFETY: plain socket(2); the fd is closed on success.
    let fd = unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return errno_result(errno());
    }
    // SAFETY: closing the fd we just got.
    unsafe { libc::close(fd) };
    "ok".to_owned()
}

/// fork-like raw syscall: the child `_exit`s at once, the parent reaps it.
fn reap_child(ret: libc::c_long) -> String {
    if ret == 0 {
        // SAFETY: in the child: leave without running anything of the parent's.
        unsafe { libc::_exit(0) };
    }
    if ret < 0 {
        return errno_result(errno());
    }
    let mut status = 0;
    // SAFETY: waiting for our own child (__WALL: it may have no exit signal).
    unsafe { libc::waitpid(ret as libc::pid_t, &mut status, libc::__WALL) };
    "ok".to_owned()
}

/// open(2) `path` with `flags`; `ok` (and the fd closed) or the errno.
fn open(path: &str, flags: libc::c_int) -> String {
    let p = cstr(path);
    // SAFETY: valid NUL-terminated path.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return errno_result(errno());
    }
    // SAFETY: closing our fd.
    unsafe { libc::close(fd) };
    "ok".to_owned()
}

/// Reads all of `path`: `ok BYTES` or the errno.
fn read_file(path: &str) -> String {
    match fs::read(path) {
        Ok(bytes) => format!("ok {}", bytes.len()),
        Err(e) => errno_result(e.raw_os_error().unwrap_or(0)),
    }
}

/// Opens `path` for writing (no truncation) and overwrites its first bytes: `ok` means the
/// file was changed.
fn overwrite(path: &str) -> String {
    let p = cstr(path);
    // SAFETY: valid path; the fd is closed below.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return errno_result(errno());
    }
    let junk = b"PWNED!";
    // SAFETY: writing from a valid buffer into our fd.
    let n = unsafe { libc::pwrite(fd, junk.as_ptr().cast(), junk.len(), 0) };
    let e = errno();
    // SAFETY: closing our fd.
    unsafe { libc::close(fd) };
    if n < 0 {
        format!("opened, then write {}", errno_result(e))
    } else {
        "ok".to_owned()
    }
}

/// Forks up to `want` children that wait to be killed: their pids, and ` ERRNO` if a fork
/// failed first.
fn fork_paused(want: usize) -> (Vec<libc::pid_t>, String) {
    let mut children = Vec::new();
    while children.len() < want {
        // SAFETY: the child only pauses and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: async-signal-safe calls in the forked child.
            unsafe {
                libc::pause();
                libc::_exit(0);
            }
        }
        if pid < 0 {
            return (children, format!(" {}", errno_result(errno())));
        }
        children.push(pid);
    }
    (children, String::new())
}

/// A unix socket address: the path `name`, or `@name` in the abstract namespace.
fn unix_address(name: &[u8], abstract_ns: bool) -> Option<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data, for which all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let start = usize::from(abstract_ns);
    let room = &mut addr.sun_path[start..];
    if name.len() >= room.len() {
        return None;
    }
    for (dst, src) in room.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    // A path ends with its NUL; an abstract name is exactly its bytes.
    let len = std::mem::size_of::<libc::sa_family_t>() + start + name.len() + 1 - start;
    Some((addr, len as libc::socklen_t))
}

/// connect(2) from a new stream socket to `address`: `ok` or the errno.
fn connect_unix((addr, len): (libc::sockaddr_un, libc::socklen_t)) -> String {
    // SAFETY: a new socket of ours, connected to a valid address of `len` bytes, then closed.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let r = result(libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) as _);
        libc::close(fd);
        r
    }
}

fn tiocsti_on(fd: libc::c_int, request: u64) -> libc::c_long {
    let c: u8 = b'x';
    // SAFETY: TIOCSTI reads one byte from the pointer.
    unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            fd as libc::c_long,
            request,
            &c as *const u8,
        )
    }
}

/// Writes `text` into the terminal on `fd` with TIOCSTI, one byte at a time.
fn inject(fd: libc::c_int, text: &[u8], request: u64) -> String {
    for c in text {
        // SAFETY: TIOCSTI reads one byte from the pointer.
        let r =
            unsafe { libc::syscall(libc::SYS_ioctl, fd as libc::c_long, request, c as *const u8) };
        if r < 0 {
            return errno_result(errno());
        }
    }
    "ok".to_owned()
}

#[allow(clippy::unnecessary_cast)] // c_ulong on glibc, c_int on musl
const TIOCSTI: u64 = libc::TIOCSTI as u64;
const HIGH_BIT: u64 = 1 << 32;

fn try_op(name: &str, arg: Option<&str>) -> Option<String> {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY (for every unsafe block below): raw syscalls with valid pointers to local
    // buffers or NULL; none of them can corrupt this process's memory.
    let r = unsafe {
        match name {
            "unshare-user" => result(libc::unshare(libc::CLONE_NEWUSER) as _),
            "unshare-ns" => result(libc::unshare(libc::CLONE_NEWNS) as _),
            "unshare-net" => result(libc::unshare(libc::CLONE_NEWNET) as _),
            "setns" => {
                let fd = libc::open(c"/proc/self/ns/mnt".as_ptr(), libc::O_RDONLY);
                result(libc::setns(fd, 0) as _)
            }
            "clone-newns" => reap_child(libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWNS | libc::SIGCHLD) as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            )),
            "clone-newuser" => reap_child(libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            )),
            "clone-plain" => reap_child(libc::syscall(
                libc::SYS_clone,
                libc::SIGCHLD as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            )),
            "clone3" => {
                let args = [0u64; 11]; // struct clone_args (CLONE_ARGS_SIZE_VER2, 88 bytes)
                reap_child(libc::syscall(
                    libc::SYS_clone3,
                    args.as_ptr(),
                    std::mem::size_of_val(&args),
                ))
            }
            "fork" => reap_child(libc::fork() as _),
            "mount-tmpfs" => result(libc::mount(
                c"none".as_ptr(),
                c"/mnt".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) as _),
            "umount-tmp" => result(libc::umount2(c"/tmp".as_ptr(), libc::MNT_DETACH) as _),
            "umount-home" => result(libc::umount2(c"/home".as_ptr(), libc::MNT_DETACH) as _),
            "remount-rw" => result(libc::mount(
                null,
                c"/usr".as_ptr(),
                null,
                libc::MS_REMOUNT | libc::MS_BIND,
                std::ptr::null(),
            ) as _),
            "pivot-root" => result(libc::syscall(
                libc::SYS_pivot_root,
                c".".as_ptr(),
                c".".as_ptr(),
            )),
            "chroot" => result(libc::chroot(c"/tmp".as_ptr()) as _),
            "fsopen" => result(libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0)),
            "open-tree" => result(libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                c"/usr".as_ptr(),
                1 as libc::c_long, // OPEN_TREE_CLONE
            )),
            "keyctl" => result(libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_GET_KEYRING_ID,
                KEY_SPEC_SESSION_KEYRING,
                0 as libc::c_long,
            )),
            "add-key" => result(libc::syscall(
                libc::SYS_add_key,
                c"user".as_ptr(),
                c"ns-rootless-probe".as_ptr(),
                b"x".as_ptr(),
                1usize,
                KEY_SPEC_SESSION_KEYRING,
            )),
            "request-key" => result(libc::syscall(
                libc::SYS_request_key,
                c"user".as_ptr(),
                c"ns-rootless-probe".as_ptr(),
                null,
                0 as libc::c_long,
            )),
            "bpf" => {
                let garbage = [0xa5u8; 128];
                result(libc::syscall(
                    libc::SYS_bpf,
                    5 as libc::c_long, // BPF_PROG_LOAD
                    garbage.as_ptr(),
                    garbage.len(),
                ))
            }
            "perf" => {
                let attr = [0u8; 128];
                let fd = libc::syscall(
                    libc::SYS_perf_event_open,
                    attr.as_ptr(),
                    0 as libc::c_long,
                    -1 as libc::c_long,
                    -1 as libc::c_long,
                    0 as libc::c_long,
                );
                result(fd)
            }
            "io-uring" => {
                let params = [0u8; 120]; // struct io_uring_params
                result(libc::syscall(libc::SYS_io_uring_setup, 1, params.as_ptr()))
            }
            "userfaultfd" => {
                // UFFD_USER_MODE_ONLY: allowed to unprivileged users without the filter.
                result(libc::syscall(
                    libc::SYS_userfaultfd,
                    (libc::O_CLOEXEC | 1) as libc::c_long,
                ))
            }
            "tiocsti" => result(tiocsti_on(0, TIOCSTI)),
            "tiocsti-high" => result(tiocsti_on(0, TIOCSTI | HIGH_BIT)),
            "tiocsti-tty" | "tiocsti-tty-high" => {
                let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
                if fd < 0 {
                    format!("open {}", errno_result(errno()))
                } else {
                    let high = if name.ends_with("high") { HIGH_BIT } else { 0 };
                    let r = result(tiocsti_on(fd, TIOCSTI | high));
                    libc::close(fd);
                    r
                }
            }
            "tioclinux" => {
                let sub = [6u8, 0]; // TIOCL_GETSHIFTSTATE
                result(libc::syscall(
                    libc::SYS_ioctl,
                    0 as libc::c_long,
                    libc::TIOCLINUX as libc::c_long,
                    sub.as_ptr(),
                ))
            }
            // Types TEXT (from ARG) into the terminal: on fd 0, then on a reopened /dev/tty,
            // with both the plain and the high-bits request. One line per attempt.
            "inject" => {
                let mut text = arg.unwrap_or("").as_bytes().to_vec();
                text.push(b'\n');
                let mut lines = Vec::new();
                for (what, request) in [("fd0", TIOCSTI), ("fd0-high", TIOCSTI | HIGH_BIT)] {
                    lines.push(format!("{what} {}", inject(0, &text, request)));
                }
                let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
                if fd < 0 {
                    lines.push(format!("tty open {}", errno_result(errno())));
                } else {
                    for (what, request) in [("tty", TIOCSTI), ("tty-high", TIOCSTI | HIGH_BIT)] {
                        lines.push(format!("{what} {}", inject(fd, &text, request)));
                    }
                    libc::close(fd);
                }
                lines.join("\n")
            }
            "af-alg" => socket(libc::AF_ALG, libc::SOCK_SEQPACKET),
            "af-packet" => socket(libc::AF_PACKET, libc::SOCK_RAW),
            "af-vsock" => socket(libc::AF_VSOCK, libc::SOCK_STREAM),
            "af-bluetooth" => socket(libc::AF_BLUETOOTH, libc::SOCK_RAW),
            "af-unix" => socket(libc::AF_UNIX, libc::SOCK_STREAM),
            "af-inet" => socket(libc::AF_INET, libc::SOCK_STREAM),
            "af-inet6" => socket(libc::AF_INET6, libc::SOCK_DGRAM),
            "af-netlink" => socket(libc::AF_NETLINK, libc::SOCK_RAW),
            "personality-bad" => result(libc::syscall(
                libc::SYS_personality,
                0x0400000 as libc::c_long, // READ_IMPLIES_EXEC
            )),
            "personality-ok" => result(libc::syscall(
                libc::SYS_personality,
                0xffff_ffff as libc::c_long,
            )),
            "open-by-handle" => {
                // struct file_handle { u32 handle_bytes; int handle_type; u8 f_handle[8]; }
                let mut handle = [0u32; 4];
                handle[0] = 8;
                result(libc::syscall(
                    libc::SYS_open_by_handle_at,
                    libc::AT_FDCWD as libc::c_long,
                    handle.as_mut_ptr(),
                    libc::O_RDONLY as libc::c_long,
                ))
            }
            "kexec" => result(libc::syscall(
                libc::SYS_kexec_load,
                0 as libc::c_long,
                0 as libc::c_long,
                null,
                0 as libc::c_long,
            )),
            "init-module" => result(libc::syscall(
                libc::SYS_init_module,
                null,
                0 as libc::c_long,
                c"".as_ptr(),
            )),
            "syslog" => result(libc::syscall(
                libc::SYS_syslog,
                10 as libc::c_long, // SYSLOG_ACTION_SIZE_BUFFER
                null,
                0 as libc::c_long,
            )),
            "x32" => result(libc::syscall(39 | 0x4000_0000)),
            "unknown" => result(libc::syscall(1000)),
            // removexattrat (466), newer than the filter's highest known syscall (mseal, 462):
            // EBADF from the kernel, ENOSYS from the filter.
            "post-mseal" => result(libc::syscall(
                466,
                -1 as libc::c_long,
                c"x".as_ptr(),
                0 as libc::c_long,
                c"user.x".as_ptr(),
            )),
            "write-proc-sys" => open("/proc/sys/kernel/hostname", libc::O_WRONLY),
            "write-sysrq" => open("/proc/sysrq-trigger", libc::O_WRONLY),
            "write-sys" => open("/sys/kernel/uevent_helper", libc::O_WRONLY),
            "read-kcore" => read_file("/proc/kcore"),
            "read-keys" => read_file("/proc/keys"),
            "read-timer-list" => read_file("/proc/timer_list"),
            "read-sched-debug" => read_file("/proc/sched_debug"),
            "read" => read_file(arg?),
            "open-write" => open(arg?, libc::O_WRONLY),
            "write-exe" => overwrite("/proc/1/exe"),
            "write-self-exe" => overwrite("/proc/self/exe"),
            "overwrite" => overwrite(arg?),
            "ptrace-init" => result(libc::ptrace(
                libc::PTRACE_ATTACH,
                1 as libc::pid_t,
                null,
                null,
            )),
            // i386 getpid through int 0x80: a foreign architecture for the filter.
            #[cfg(target_arch = "x86_64")]
            "int80" => {
                let mut ret: i64 = 20; // __NR_getpid on i386
                std::arch::asm!("int 0x80", inlateout("rax") ret);
                if ret < 0 {
                    errno_result(-ret as i32)
                } else {
                    "ok".to_owned()
                }
            }
            // Connects to a Unix socket in the abstract namespace (`@NAME`) or a TCP port on
            // 127.0.0.1, where the host may be listening.
            "connect-abstract" => connect_unix(unix_address(arg?.as_bytes(), true)?),
            // Connects to the Unix socket at the path ARG.
            "connect-unix" => connect_unix(unix_address(arg?.as_bytes(), false)?),
            // Listens on the abstract socket `@ARG` and connects to it from this same process:
            // sockets made inside the sandbox stay usable inside it.
            "abstract-loop" => {
                let (addr, len) = unix_address(arg?.as_bytes(), true)?;
                let addr = (&addr as *const libc::sockaddr_un).cast();
                let server = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                let client = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                let r = if libc::bind(server, addr, len) < 0 || libc::listen(server, 1) < 0 {
                    format!("listen {}", errno_result(errno()))
                } else {
                    result(libc::connect(client, addr, len) as _)
                };
                libc::close(client);
                libc::close(server);
                r
            }
            "connect-tcp" => {
                let port: u16 = arg?.parse().ok()?;
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_port = port.to_be();
                addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                let r = result(libc::connect(
                    fd,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                ) as _);
                libc::close(fd);
                r
            }
            "list" => match fs::read_dir(arg?) {
                Ok(entries) => {
                    let mut names: Vec<String> = entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    format!("ok [{}]", names.join(" "))
                }
                Err(e) => errno_result(e.raw_os_error().unwrap_or(0)),
            },
            // Forks up to ARG children that wait to be killed: `ok FORKED [ERRNO]`.
            "fork-count" => {
                let (children, failure) = fork_paused(arg?.parse().ok()?);
                for &pid in &children {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
                format!("ok {}{failure}", children.len())
            }
            // Forks up to ARG children that wait to be killed and keeps them: prints
            // `held FORKED [ERRNO]` and a line `holding`, then waits to be killed itself.
            "fork-hold" => {
                use std::io::Write;
                let (children, failure) = fork_paused(arg?.parse().ok()?);
                let mut out = std::io::stdout();
                let _ = writeln!(out, "held {}{failure}\nholding", children.len());
                let _ = out.flush();
                loop {
                    libc::pause();
                }
            }
            "setgroups" => {
                let groups = [0 as libc::gid_t];
                result(libc::setgroups(1, groups.as_ptr()) as _)
            }
            _ => return None,
        }
    };
    Some(r)
}
