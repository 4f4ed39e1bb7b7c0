//! Directory-fd operations on trees that hostile content wrote (a layer being unpacked, a
//! session's upper, the directory a session applies to): every lookup stays beneath its root
//! and never follows a symlink (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, O_NOFOLLOW).

use crate::sys;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn cpath(p: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

/// Opens the directory `rel` beneath `root` (`""` or `.`: the root itself).
pub fn open_dir(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    sys::open_beneath(
        root.as_raw_fd(),
        &cpath(rel)?,
        libc_flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY),
        0,
    )
    .map_err(errno)
}

fn libc_flags(f: OFlag) -> i32 {
    f.bits()
}

/// Opens `rel` beneath `root` with `flags` (no symlink anywhere, the last name included).
pub fn open(root: &OwnedFd, rel: &Path, flags: OFlag, mode: u32) -> io::Result<OwnedFd> {
    sys::open_beneath(
        root.as_raw_fd(),
        &cpath(rel)?,
        libc_flags(flags | OFlag::O_NOFOLLOW),
        mode,
    )
    .map_err(errno)
}

/// Opens the directory `rel` beneath `root`, creating it and its missing parents (mode 0755,
/// modes are set later), one name at a time without following any symlink.
pub fn make_dirs(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    match open_dir(root, rel) {
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => {}
        other => return other,
    }
    let mut dir = open_dir(root, Path::new("."))?;
    for name in rel.iter() {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        dir = match nix::fcntl::openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                nix::fcntl::openat(&dir, name, flags, Mode::empty())?
            }
            Err(e) => return Err(e.into()),
        };
    }
    Ok(dir)
}

/// What `name` in `dir` is, without following a symlink; None when nothing is there.
pub fn stat_at(dir: impl AsFd, name: &OsStr) -> io::Result<Option<FileStat>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An overlayfs whiteout: a char 0:0 device (what unpack makes of `.wh.NAME`).
pub fn is_whiteout(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

/// An opaque directory: it hides what the layers below have there (`user.overlay.opaque`).
pub fn is_opaque(dir: &OwnedFd) -> bool {
    let mut buf = [0u8; 4];
    matches!(
        sys::get_xattr(dir.as_raw_fd(), super::unpack::OPAQUE_XATTR, &mut buf),
        Ok(Some(1)) if buf[0] == b'y'
    )
}

pub fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Removes `name` from `dir`, a whole directory tree included, never following a symlink.
///
/// Depth first without recursion: a sandbox can nest directories deeper than any stack (a
/// session's upper, one name at a time), and one fd per level would run out of fds. The way
/// down is kept as names, one directory open at a time; the way up is `..`, checked to be the
/// directory we came down from.
pub fn remove_at(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let Some(st) = stat_at(dir, name)? else {
        return Ok(());
    };
    if kind(&st) != SFlag::S_IFDIR {
        return nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(Into::into);
    }
    let Some(mut cur) = open_to_empty(dir, name)? else {
        return Ok(());
    };
    let mut levels = vec![Level::of(&cur, name)?];
    while let Some(level) = levels.last_mut() {
        if let Some(child) = level.dirs.pop() {
            if let Some(sub) = open_to_empty(&cur, &child)? {
                cur = sub;
                levels.push(Level::of(&cur, &child)?);
            }
            continue;
        }
        let done = levels.pop().ok_or(io::ErrorKind::Other)?;
        let Some(parent) = levels.last() else {
            break;
        };
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let up = nix::fcntl::openat(&cur, "..", flags, Mode::empty())?;
        let st = nix::sys::stat::fstat(&up)?;
        if (st.st_dev, st.st_ino) != parent.id {
            return Err(io::Error::other(
                "a directory was moved while it was being removed",
            ));
        }
        nix::unistd::unlinkat(&up, done.name.as_os_str(), UnlinkatFlags::RemoveDir)?;
        cur = up;
    }
    nix::unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir).map_err(Into::into)
}

/// A directory `remove_at` is emptying: its name in its parent, its identity, and the
/// directories in it still to remove (its other entries are unlinked when it is listed).
struct Level {
    name: std::ffi::OsString,
    id: (u64, u64),
    dirs: Vec<std::ffi::OsString>,
}

impl Level {
    fn of(dir: &OwnedFd, name: &OsStr) -> io::Result<Level> {
        let st = nix::sys::stat::fstat(dir)?;
        let mut dirs = Vec::new();
        for child in list(dir)? {
            match stat_at(dir, &child)? {
                Some(st) if kind(&st) == SFlag::S_IFDIR => dirs.push(child),
                Some(_) => {
                    nix::unistd::unlinkat(dir, child.as_os_str(), UnlinkatFlags::NoRemoveDir)?
                }
                None => {}
            }
        }
        Ok(Level {
            name: name.to_owned(),
            id: (st.st_dev, st.st_ino),
            dirs,
        })
    }
}

/// Opens the directory `name` in `dir` to empty it; None when it is gone already.
fn open_to_empty(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<OwnedFd>> {
    // A directory we may not write or search (an image's 0555 dir): ours, so make it ours again.
    let _ = nix::sys::stat::fchmodat(
        dir,
        name,
        Mode::from_bits_truncate(0o700),
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    );
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match nix::fcntl::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The names in the directory `dir` (not `.` and `..`), sorted.
pub fn list(dir: &OwnedFd) -> io::Result<Vec<std::ffi::OsString>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut d = nix::dir::Dir::openat(dir, ".", flags, Mode::empty())?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The directories that `layers` (top first) merge at `rel`, top first, found the way
/// overlayfs looks a path up (Documentation/filesystems/overlayfs.rst): name by name, a
/// whiteout or a non-directory hides the name in the layers below it, an opaque directory
/// everything below it. Empty when the merged tree has no directory there.
pub fn merged_dirs(layers: &[OwnedFd], rel: &Path) -> io::Result<Vec<OwnedFd>> {
    let mut dirs = layers
        .iter()
        .map(OwnedFd::try_clone)
        .collect::<io::Result<Vec<_>>>()?;
    for name in rel.iter() {
        let mut below = Vec::new();
        for dir in &dirs {
            let Some(st) = stat_at(dir, name)? else {
                continue;
            };
            if kind(&st) != SFlag::S_IFDIR {
                break;
            }
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let sub = nix::fcntl::openat(dir, name, flags, Mode::empty())?;
            let opaque = is_opaque(&sub);
            below.push(sub);
            if opaque {
                break;
            }
        }
        dirs = below;
    }
    Ok(dirs)
}

/// What the merged `layers` (top first) have at `rel` (not the root): the directory that
/// holds it, and what it is. None when no layer has it, or the top one that does has a
/// whiteout there.
pub fn merged_lookup(layers: &[OwnedFd], rel: &Path) -> io::Result<Option<(OwnedFd, FileStat)>> {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(None);
    };
    for dir in merged_dirs(layers, parent)? {
        if let Some(st) = stat_at(&dir, name)? {
            return Ok((!is_whiteout(&st)).then_some((dir, st)));
        }
    }
    Ok(None)
}

/// The names in the directory `rel` of the merged `layers` (top first), sorted.
pub fn merged_list(layers: &[OwnedFd], rel: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut seen = std::collections::BTreeMap::new();
    for dir in merged_dirs(layers, rel)? {
        for name in list(&dir)? {
            if let std::collections::btree_map::Entry::Vacant(slot) = seen.entry(name) {
                let st = stat_at(&dir, slot.key())?;
                slot.insert(st.is_some_and(|st| !is_whiteout(&st)));
            }
        }
    }
    Ok(seen
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect())
}
