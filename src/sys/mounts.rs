//! Mounts with the new mount API: every target is an fd, never a path that could be swapped.

use super::paths::OpenHow;
use super::{check, check_fd, last_errno, Errno, SysResult};
use nix::libc::{self, c_char, c_int, c_uint};
use std::ffi::CStr;
use std::os::fd::{OwnedFd, RawFd};

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
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

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

/// open_tree(2) with OPEN_TREE_CLONE: a detached, close-on-exec copy of the mount at `path`
/// in `dir`, with `flags` (AT_RECURSIVE, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW).
fn clone_tree(dir: RawFd, path: &CStr, flags: c_int) -> SysResult<OwnedFd> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as c_uint | flags as c_uint;
    // SAFETY: valid fd and C string.
    check_fd(unsafe { libc::syscall(libc::SYS_open_tree, dir, path.as_ptr(), flags) })
}

/// A detached copy of the mount tree at the file `fd` (with every submount).
pub fn clone_tree_at(fd: RawFd) -> SysResult<OwnedFd> {
    clone_tree(fd, c"", libc::AT_RECURSIVE | libc::AT_EMPTY_PATH)
}

/// A detached mount of the directory (or file) `name` in `dir` alone (no submounts).
pub fn clone_dir(dir: RawFd, name: &CStr) -> SysResult<OwnedFd> {
    clone_tree(dir, name, 0)
}

/// A detached copy of the mount tree at `path`, a path only the host's root can change (`/etc`,
/// `/dev/null`): one syscall where `clone_path` makes two. A final symlink is not followed: its
/// copy can't be attached on a directory (EINVAL), and on a file it stays a link, resolved in
/// the sandbox.
pub fn clone_root_owned(path: &CStr) -> SysResult<OwnedFd> {
    clone_tree(
        libc::AT_FDCWD,
        path,
        libc::AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW,
    )
}

/// A detached copy of the mount tree at `path`, an absolute path that must contain no symlink
/// (RESOLVE_NO_SYMLINKS): what the parent checked is what gets bound.
pub fn clone_tree_no_symlinks(path: &CStr) -> SysResult<OwnedFd> {
    clone_path(path, true)
}

/// A detached copy of the mount at `path` (absolute, no symlink in it), with its submounts
/// only when `recursive` (OCI `rbind` against `bind`).
pub fn clone_path(path: &CStr, recursive: bool) -> SysResult<OwnedFd> {
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
    let recursive = if recursive { libc::AT_RECURSIVE } else { 0 };
    clone_tree(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        c"",
        libc::AT_EMPTY_PATH | recursive,
    )
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets `attrs` on the mount `mnt` (and with `recursive`, every mount below it), leaving their
/// propagation as it is: one syscall however many submounts there are. For a clone of one of
/// our own mounts, which are all private (`make_root_private` runs first, and a new mount is
/// private): a clone of a private mount is private. Asking for MS_PRIVATE again would take the
/// kernel's global namespace_sem for writing and walk the tree (do_mount_setattr, which skips
/// both when the propagation is 0) on every bind of every launch.
pub fn set_mount_attrs(mnt: RawFd, attrs: u64, recursive: bool) -> SysResult<()> {
    set_mount_attrs_with(mnt, attrs, recursive, 0)
}

/// `set_mount_attrs` that also sets the propagation type (MS_PRIVATE, MS_SHARED, MS_SLAVE,
/// MS_UNBINDABLE; 0 leaves it): in our mount namespace only, which the kernel never lets
/// propagate into a more privileged one.
pub fn set_mount_attrs_with(
    mnt: RawFd,
    attrs: u64,
    recursive: bool,
    propagation: u64,
) -> SysResult<()> {
    let mut flags = libc::AT_EMPTY_PATH as c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as c_uint;
    }
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation,
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

/// Attaches the detached mount `mnt` on `name` (one name, a final symlink not followed) in the
/// directory `dir`: for what we have just created in a directory of our own, where a lookup
/// can find nothing else.
pub fn attach_to(mnt: RawFd, dir: RawFd, name: &CStr) -> SysResult<()> {
    // SAFETY: valid fds and C strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt,
            c"".as_ptr(),
            dir,
            name.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
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

/// Changes the propagation type of the root we have pivoted to (mount(2) with MS_SHARED,
/// MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE, and MS_REC for its submounts too).
pub fn set_root_propagation(flags: libc::c_ulong) -> SysResult<()> {
    // SAFETY: a constant path; no source, type or data.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    } as libc::c_long)
    .map(drop)
}
