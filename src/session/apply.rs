//! `ns-rootless apply NAME`: replays a session's changes onto its directories, then removes
//! the session. Every path is opened beneath its directory without following any symlink
//! (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS): a symlink planted in the directory, by the
//! sandbox or anyone, can't send a write outside it. Before anything is written, every changed
//! path is checked: one that the directory changed too since the session began (its ctime is
//! later), or that can't be reached without a symlink, refuses the whole apply.

use super::diff::{changes, open_target, read_link, Change, Kind};
use super::load;
use crate::error::{escape, quote};
use crate::image::store::random_hex;
use crate::image::tree;
use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn run(env: &[(OsString, OsString)], name: &str) -> Result<u8> {
    let session = load(env, name)?;
    let _in_use = super::lock(&session.dir, name, "apply")?;
    let all = changes(&session)?;
    let meta = &session.meta;
    let shown = |c: &Change| {
        escape(
            meta.layers[c.layer]
                .dst
                .join(&c.path)
                .as_os_str()
                .as_bytes(),
        )
    };
    // An image's root has no directory to apply to.
    let skipped = all
        .iter()
        .filter(|c| meta.layers[c.layer].target.is_none())
        .count();
    let (unmakeable, todo): (Vec<&Change>, Vec<&Change>) = all
        .iter()
        .filter(|c| meta.layers[c.layer].target.is_some())
        .partition(|c| c.what.is_some_and(|w| unmakeable_kind(w).is_some()));
    // An image's root is diff-only: its writes have no directory to go to. A session of
    // nothing else is refused rather than removed with them.
    if todo.is_empty() && unmakeable.is_empty() && skipped > 0 {
        bail!(
            "refusing to apply the session {}: its {skipped} change(s) are to the image's root, \
             which apply can't write (an image's layers are read-only); `ns-rootless diff {name}` \
             lists them (kept in {}), `ns-rootless discard {name}` drops them",
            quote(name),
            quote(super::layout(session.dir.path(), super::ROOT).0)
        );
    }
    let mut targets: Vec<Option<OwnedFd>> = Vec::new();
    for layer in &meta.layers {
        targets.push(open_target(layer)?);
    }
    for c in &todo {
        let target = targets[c.layer]
            .as_ref()
            .ok_or_else(|| anyhow!("no directory"))?;
        let upper = session.upper(&meta.layers[c.layer].key)?;
        check(target, &upper, c, meta.started).map_err(|why| {
            anyhow!(
                "refusing to apply the session {}: {} {why}",
                quote(name),
                shown(c)
            )
        })?;
        preflight(&upper, c).map_err(|why| {
            anyhow!(
                "refusing to apply the session {}: {}: {why:#}",
                quote(name),
                shown(c)
            )
        })?;
    }
    // Directory modes, per layer, set once everything is in place (see DirModes).
    let mut modes: Vec<DirModes> = meta.layers.iter().map(|_| DirModes::new()).collect();
    for c in &todo {
        let layer = &meta.layers[c.layer];
        let target = targets[c.layer]
            .as_ref()
            .ok_or_else(|| anyhow!("no directory"))?;
        let upper = session.upper(&layer.key)?;
        replay(&upper, target, c, &mut modes[c.layer]).with_context(|| {
            format!(
                "applying {} {} (the changes before it are applied; the session is kept)",
                c.kind.letter(),
                shown(c)
            )
        })?;
    }
    for (i, m) in modes.into_iter().enumerate() {
        if let Some(target) = &targets[i] {
            set_modes(target, m).context("setting the modes of the applied directories")?;
        }
    }
    session.remove()?;
    for c in unmakeable {
        let what = c.what.and_then(unmakeable_kind).unwrap_or("special file");
        let _ = writeln!(
            std::io::stderr(),
            "ns-rootless: not applied: {} is a {what}, which apply can't make",
            shown(c)
        );
    }
    if skipped > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "ns-rootless: {skipped} change(s) to the image's root were not applied (an image's layers are read-only; diff listed them)"
        );
    }
    Ok(0)
}

/// Why the change `c` can't be applied: its path is reached through a symlink, or changed in
/// the directory since the session began (ns since the epoch). A directory the change removes
/// (a deletion, or something else in its place) counts as changed when anything in it did:
/// an entry written deep inside moves only its own parent's times.
fn check(
    target: &OwnedFd,
    upper: &OwnedFd,
    c: &Change,
    started: i128,
) -> std::result::Result<(), String> {
    let rel = c.path.as_path();
    if c.kind == Kind::Added && c.what == Some(SFlag::S_IFDIR) && copied_up(upper, rel) {
        // The directory had it when the sandbox first wrote there: gone from it now.
        return Err("was deleted in the directory since the session began".into());
    }
    let parent = rel.parent().unwrap_or(Path::new(""));
    let dir = match tree::open_dir(target, parent) {
        Ok(d) => d,
        // The parent is gone too: an addition recreates it; anything else was changed.
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => return Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(nix::libc::ELOOP | nix::libc::EXDEV | nix::libc::ENOTDIR)
            ) =>
        {
            return Err("is reached through a symlink or a file in the directory now".into())
        }
        Err(e) => return Err(format!("can't be checked: {e}")),
    };
    let name = rel.file_name().unwrap_or_default();
    let changed = Err("changed in the directory since the session began".to_string());
    match tree::stat_at(&dir, name) {
        Ok(Some(st)) if ctime(&st) > started => changed,
        Ok(Some(st)) if tree::kind(&st) == SFlag::S_IFDIR && c.what != Some(SFlag::S_IFDIR) => {
            match changed_inside(&dir, name, started) {
                Ok(false) => Ok(()),
                Ok(true) => changed,
                Err(e) => Err(format!("can't be checked: {e}")),
            }
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("can't be checked: {e}")),
    }
}

/// overlayfs marks what it copies up from the lower with this (Documentation/filesystems/
/// overlayfs.rst, "origin"); the sandbox can't set it (overlayfs refuses its own xattrs to the
/// mount's users). A directory can't be renamed in our overlays (no redirect_dir: EXDEV), so
/// an upper directory with the mark was at the same path in the directory during the session.
const ORIGIN_XATTR: &std::ffi::CStr = c"user.overlay.origin";

fn copied_up(upper: &OwnedFd, rel: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(dir) = tree::open_dir(upper, rel) else {
        return false;
    };
    matches!(
        crate::sys::get_xattr(dir.as_raw_fd(), ORIGIN_XATTR, &mut []),
        Ok(Some(_))
    )
}

fn ctime(st: &nix::sys::stat::FileStat) -> i128 {
    st.st_ctime as i128 * 1_000_000_000 + st.st_ctime_nsec as i128
}

/// Whether anything beneath the directory `name` in `dir` changed after `started` (never
/// following a symlink: a symlink is an entry like any other).
fn changed_inside(dir: &OwnedFd, name: &OsStr, started: i128) -> std::io::Result<bool> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let sub = nix::fcntl::openat(dir, name, flags, Mode::empty())?;
    for child in tree::list(&sub)? {
        let Some(st) = tree::stat_at(&sub, &child)? else {
            continue;
        };
        if ctime(&st) > started
            || (tree::kind(&st) == SFlag::S_IFDIR && changed_inside(&sub, &child, started)?)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The mode each directory of a target ends with, set deepest first after every change is
/// in place: a directory the session made read-only (Go's module cache is 0555), or one that
/// was read-only already, must stay writable to us while its entries are replayed.
type DirModes = std::collections::BTreeMap<std::path::PathBuf, u32>;

fn set_modes(target: &OwnedFd, modes: DirModes) -> Result<()> {
    let mut all: Vec<_> = modes.into_iter().collect();
    all.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (rel, mode) in all {
        let dir = match tree::open_dir(target, &rel) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        nix::sys::stat::fchmod(&dir, Mode::from_bits_truncate(mode))?;
    }
    Ok(())
}

/// Makes the directory `dir` (at `rel`) writable and searchable for us until `set_modes`,
/// which gives it back its mode.
fn writable(dir: &OwnedFd, rel: &Path, modes: &mut DirModes) -> Result<()> {
    let st = nix::sys::stat::fstat(dir)?;
    if st.st_mode & 0o300 != 0o300 {
        modes
            .entry(rel.to_path_buf())
            .or_insert(st.st_mode & 0o1777);
        nix::sys::stat::fchmod(dir, Mode::from_bits_truncate((st.st_mode & 0o1777) | 0o300))?;
    }
    Ok(())
}

fn replay(upper: &OwnedFd, target: &OwnedFd, c: &Change, modes: &mut DirModes) -> Result<()> {
    let parent_rel = c.path.parent().unwrap_or(Path::new(""));
    let name = c.path.file_name().unwrap_or_default();
    let parent = match c.kind {
        Kind::Deleted => match tree::open_dir(target, parent_rel) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        },
        _ => tree::make_dirs(target, parent_rel)?,
    };
    writable(&parent, parent_rel, modes)?;
    if c.kind == Kind::Deleted {
        return Ok(tree::remove_at(&parent, name)?);
    }
    let existing = tree::stat_at(&parent, name)?;
    let src_parent = tree::open_dir(upper, parent_rel)?;
    let src = tree::stat_at(&src_parent, name)?.ok_or_else(|| anyhow!("gone from the session"))?;
    let mode = Mode::from_bits_truncate(src.st_mode & 0o1777);
    match c.what {
        Some(SFlag::S_IFDIR) => {
            match existing {
                Some(st) if tree::kind(&st) == SFlag::S_IFDIR => {}
                Some(_) => {
                    tree::remove_at(&parent, name)?;
                    nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(0o700))?;
                }
                None => nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(0o700))?,
            }
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let d = nix::fcntl::openat(&parent, name, flags, Mode::empty())?;
            // Writable until the end, then the session's mode.
            nix::sys::stat::fchmod(&d, Mode::from_bits_truncate(mode.bits() | 0o700))?;
            modes.insert(c.path.clone(), mode.bits());
        }
        Some(SFlag::S_IFREG) => {
            let tmp = temp_name();
            let flags = OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            let out = nix::fcntl::openat(
                &parent,
                tmp.as_os_str(),
                flags,
                Mode::from_bits_truncate(0o600),
            )?;
            let mut out = std::fs::File::from(out);
            let copied = open_source(upper, &c.path)
                .map_err(|e| std::io::Error::other(format!("{e:#}")))
                .and_then(|mut from| std::io::copy(&mut from, &mut out))
                .and_then(|_| nix::sys::stat::fchmod(&out, mode).map_err(Into::into));
            if let Err(e) = copied {
                let _ = nix::unistd::unlinkat(
                    &parent,
                    tmp.as_os_str(),
                    nix::unistd::UnlinkatFlags::NoRemoveDir,
                );
                return Err(e.into());
            }
            put_in_place(&parent, &tmp, name, existing.as_ref())?;
        }
        Some(SFlag::S_IFLNK) => {
            let link = read_link(upper, &c.path)?;
            let tmp = temp_name();
            nix::unistd::symlinkat(link.as_os_str(), &parent, tmp.as_os_str())?;
            put_in_place(&parent, &tmp, name, existing.as_ref())?;
        }
        Some(SFlag::S_IFIFO) => {
            if existing.is_some() {
                tree::remove_at(&parent, name)?;
            }
            nix::sys::stat::mknodat(&parent, name, SFlag::S_IFIFO, mode, 0)?;
        }
        _ => bail!("a device or socket; not applied"), // left out by run (unmakeable_kind)
    }
    Ok(())
}

fn temp_name() -> OsString {
    OsString::from(format!(".ns-rootless-apply-{}", random_hex()))
}

/// Renames `tmp` over `name` (a directory there is removed first: rename can't replace one).
fn put_in_place(
    parent: &OwnedFd,
    tmp: &OsStr,
    name: &OsStr,
    existing: Option<&nix::sys::stat::FileStat>,
) -> Result<()> {
    if existing.is_some_and(|st| tree::kind(st) == SFlag::S_IFDIR) {
        tree::remove_at(parent, name)?;
    }
    let placed = nix::fcntl::renameat(parent, tmp, parent, name);
    if placed.is_err() {
        let _ = nix::unistd::unlinkat(parent, tmp, nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
    Ok(placed?)
}

/// Opens the regular file `rel` of a session's upper. One the sandbox made unreadable
/// (chmod 000) is still the user's: readable for the open, its mode given back at once.
fn open_source(upper: &OwnedFd, rel: &Path) -> Result<std::fs::File> {
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK;
    match tree::open(upper, rel, flags, 0) {
        Err(e) if e.raw_os_error() == Some(nix::libc::EACCES) => {
            let parent = tree::open_dir(upper, rel.parent().unwrap_or(Path::new("")))?;
            let name = rel.file_name().unwrap_or_default();
            let st =
                tree::stat_at(&parent, name)?.ok_or_else(|| anyhow!("gone from the session"))?;
            if tree::kind(&st) != SFlag::S_IFREG {
                return Err(e.into());
            }
            let chmod = |mode: u32| {
                nix::sys::stat::fchmodat(
                    &parent,
                    name,
                    Mode::from_bits_truncate(mode),
                    nix::sys::stat::FchmodatFlags::NoFollowSymlink,
                )
            };
            chmod((st.st_mode & 0o7777) | 0o400)?;
            let opened = tree::open(upper, rel, flags, 0);
            let _ = chmod(st.st_mode & 0o7777);
            Ok(opened?.into())
        }
        other => Ok(other?.into()),
    }
}

/// Why the change `c` could not be replayed whole, found before anything is written: a file
/// that can't be read from the session.
fn preflight(upper: &OwnedFd, c: &Change) -> Result<()> {
    match c.what {
        Some(SFlag::S_IFREG) => open_source(upper, &c.path).map(drop),
        _ => Ok(()),
    }
}

/// What apply leaves out, named, and applies the rest: a socket is a live endpoint, not
/// data (bind(2) makes it, and only its program's bind means anything), and a device node
/// can't be made unprivileged (mknod(2): CAP_MKNOD). Neither is worth refusing a session.
fn unmakeable_kind(what: SFlag) -> Option<&'static str> {
    match what {
        SFlag::S_IFSOCK => Some("socket"),
        SFlag::S_IFCHR => Some("character device"),
        SFlag::S_IFBLK => Some("block device"),
        _ => None,
    }
}
