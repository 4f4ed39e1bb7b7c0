//! Path resolution beneath a root (openat2) and creating files and directories there.

use super::{check, check_fd, last_errno, SysResult};
use nix::libc::{self, c_int};
use std::ffi::CStr;
use std::os::fd::{OwnedFd, RawFd};

#[repr(C)]
pub(super) struct OpenHow {
    pub(super) flags: u64,
    pub(super) mode: u64,
    pub(super) resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2(root, path, RESOLVE_IN_ROOT)`: `path` is looked up as if `root` were `/`, so neither
/// `..` nor a symlink (absolute or relative) can lead outside it.
pub fn open_in_root(root: RawFd, path: &CStr, flags: c_int, mode: u32) -> SysResult<OwnedFd> {
    openat2(
        root,
        path,
        flags,
        mode,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

fn openat2(dir: RawFd, path: &CStr, flags: c_int, mode: u32, resolve: u64) -> SysResult<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    // EAGAIN: a rename anywhere on the system raced a `..` in the lookup; the kernel refuses
    // rather than risk resolving outside the root, and asks us to try again (openat2(2)).
    let mut tries = 0;
    loop {
        // SAFETY: `how` is a valid open_how of the size we pass.
        let fd = check_fd(unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
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

/// An O_PATH fd of the directory `path` (resolved the ordinary way: the caller's own root).
pub fn open_dir_path(path: &CStr) -> SysResult<OwnedFd> {
    // SAFETY: valid C string; returns a new fd.
    check_fd(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    } as libc::c_long)
}

/// fchdir(2): change to the directory `fd` refers to (no path lookup at all).
pub fn fchdir(fd: RawFd) -> SysResult<()> {
    // SAFETY: plain syscall on an fd.
    check(unsafe { libc::fchdir(fd) } as libc::c_long).map(drop)
}

/// The file type bits (`S_IFMT`) of what `fd` refers to.
fn file_type(fd: RawFd) -> SysResult<libc::mode_t> {
    // SAFETY: fstat into a zeroed stat buffer on the stack.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd, &mut st) } as libc::c_long)?;
    Ok(st.st_mode & libc::S_IFMT)
}

pub fn is_symlink(fd: RawFd) -> SysResult<bool> {
    file_type(fd).map(|t| t == libc::S_IFLNK)
}

pub fn is_dir(fd: RawFd) -> SysResult<bool> {
    file_type(fd).map(|t| t == libc::S_IFDIR)
}

pub fn mkdirat(dir: RawFd, name: &CStr, mode: u32) -> SysResult<()> {
    // SAFETY: valid fd and C string.
    check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) } as libc::c_long).map(drop)
}

/// Creates an empty file `name` in `dir` (a mount point for a file bind); never follows a link.
pub fn create_file_at(dir: RawFd, name: &CStr) -> SysResult<()> {
    create_file_with(dir, name, &[])
}

/// Creates the file `name` in `dir` holding `data` (mode 0644); never follows a link.
pub fn create_file_with(dir: RawFd, name: &CStr, data: &[u8]) -> SysResult<()> {
    // SAFETY: valid fd and C string; the new fd is closed when dropped.
    let fd = check_fd(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        )
    } as libc::c_long)?;
    super::write_all(std::os::fd::AsRawFd::as_raw_fd(&fd), data)
}

pub fn symlinkat(target: &CStr, dir: RawFd, name: &CStr) -> SysResult<()> {
    // SAFETY: valid fd and C strings.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) } as libc::c_long).map(drop)
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

const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

/// `openat2(dir, path, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`: `path` must stay beneath `dir`
/// and contain no symlink at all, not even one that leads back inside (openat2(2)). What the
/// image unpacker and session apply resolve in a tree that hostile content wrote.
pub fn open_beneath(dir: RawFd, path: &CStr, flags: c_int, mode: u32) -> SysResult<OwnedFd> {
    let resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    openat2(dir, path, flags, mode, resolve)
}

/// Sets the extended attribute `name` of the open file `fd` (fsetxattr(2)).
pub fn set_xattr(fd: RawFd, name: &CStr, value: &[u8]) -> SysResult<()> {
    // SAFETY: valid fd, C string and buffer of the length we pass.
    check(
        unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) }
            as libc::c_long,
    )
    .map(drop)
}

/// The extended attribute `name` of the open file `fd`, at most `buf.len()` bytes; None when
/// the file has none.
pub fn get_xattr(fd: RawFd, name: &CStr, buf: &mut [u8]) -> SysResult<Option<usize>> {
    // SAFETY: valid fd and C string; the kernel writes at most `buf.len()` bytes.
    let r = unsafe { libc::fgetxattr(fd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r >= 0 {
        return Ok(Some(r as usize));
    }
    match last_errno() {
        libc::ENODATA => Ok(None),
        e => Err(e),
    }
}

/// Takes an exclusive flock(2) on the open file `fd` without waiting: false when another open
/// file description holds one. The lock belongs to the open file description, so it lasts
/// while any process holds a copy of the fd (a fork's child included) and is never undone
/// by one of them closing its own copy.
pub fn try_lock_exclusive(fd: RawFd) -> SysResult<bool> {
    try_flock(fd, libc::LOCK_EX)
}

/// Takes a shared flock(2) without waiting: false when an exclusive one is held.
pub fn try_lock_shared(fd: RawFd) -> SysResult<bool> {
    try_flock(fd, libc::LOCK_SH)
}

fn try_flock(fd: RawFd, op: libc::c_int) -> SysResult<bool> {
    // SAFETY: flock takes a plain fd and flags.
    match check(unsafe { libc::flock(fd, op | libc::LOCK_NB) } as libc::c_long) {
        Ok(_) => Ok(true),
        Err(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// realpath(3) into a buffer of ours: `Path::canonicalize` has the C library allocate the
/// result, and musl's malloc maps a fresh page for it and unmaps it again at free (an mmap,
/// a page fault and a munmap for each path resolved at start-up). The buffer is on the stack
/// and only the result is copied out: a PATH_MAX-sized heap buffer would take a fresh page of
/// the arena each time (arena.rs reclaims only the last block), three per launch.
pub fn realpath(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: a C string, and a buffer of PATH_MAX bytes, the size realpath writes at most.
    let ret = unsafe { libc::realpath(c.as_ptr(), buf.as_mut_ptr().cast()) };
    if ret.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(std::ffi::OsString::from_vec(buf[..len].to_vec()).into())
}

/// Calls `f` with each entry of the directory `path` but `.` and `..`, as (name, d_type),
/// read with getdents64(2) into a buffer on the stack. std's read_dir goes through opendir(3),
/// whose buffer comes from the C library's malloc: on its first use at each launch that is two
/// brk, two mmap and a munmap call and fresh pages, for the one listing of `/`. (Not inlined:
/// the buffer would then deepen the caller's frame for all it calls after.)
#[inline(never)]
pub fn for_each_entry(
    path: &std::path::Path,
    mut f: impl FnMut(&std::ffi::OsStr, u8) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    #[repr(C, align(8))]
    struct Buf([u8; 1024]);
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)?;
    let mut buf = Buf([0; 1024]);
    loop {
        // SAFETY: an fd we own, and a buffer of that many bytes for the kernel to fill.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.0.as_mut_ptr(),
                buf.0.len(),
            )
        };
        let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
        if n == 0 {
            return Ok(());
        }
        // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
        let mut records = &buf.0[..n.min(buf.0.len())];
        while let Some(len) = records.get(16..18) {
            let len = usize::from(u16::from_ne_bytes([len[0], len[1]]));
            let (Some(record), true) = (records.get(..len), len > 19) else {
                return Err(std::io::ErrorKind::InvalidData.into());
            };
            let name = &record[19..];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                f(std::ffi::OsStr::from_bytes(name), record[18])?;
            }
            records = &records[len..];
        }
    }
}
