//! `ns-rootless apply NAME`: replays a session's changes onto its directories, then removes
//! the session. Every path is opened beneath its directory without following any symlink
//! (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS): a symlink planted in the directory, by the
//! sandbox or anyone, can't send a write outside it. Before anything is written, every changed
//! path is checked: one that the directory changed too since the session began (its ctime is
//! later), or that can't be reached without a symlink, refuses the whole apply.

use super::diff::{changes, open_target, read_link, Change, Kind};
use super::{layout, load};
use crate::error::{escape, quote};
use crate::image::store::{random_hex, remove_tree};
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
    let (dir, meta) = load(env, name)?;
    let all = changes(&dir, &meta)?;
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
    let todo: Vec<&Change> = all
        .iter()
        .filter(|c| meta.layers[c.layer].target.is_some())
        .collect();
    let mut targets: Vec<Option<OwnedFd>> = Vec::new();
    for layer in &meta.layers {
        targets.push(open_target(layer)?);
    }
    for c in &todo {
        let target = targets[c.layer]
            .as_ref()
            .ok_or_else(|| anyhow!("no directory"))?;
        check(target, &c.path, meta.started).map_err(|why| {
            anyhow!(
                "refusing to apply the session {}: {} {why}",
                quote(name),
                shown(c)
            )
        })?;
    }
    for c in &todo {
        let layer = &meta.layers[c.layer];
        let target = targets[c.layer]
            .as_ref()
            .ok_or_else(|| anyhow!("no directory"))?;
        let (upper, _) = layout(&dir, &layer.key);
        let upper: OwnedFd = std::fs::File::open(&upper)?.into();
        replay(&upper, target, c).with_context(|| {
            format!(
                "applying {} {} (the changes before it are applied; the session is kept)",
                c.kind.letter(),
                shown(c)
            )
        })?;
    }
    remove_tree(&dir).with_context(|| format!("removing the session {}", quote(&dir)))?;
    if skipped > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "ns-rootless: {skipped} change(s) to the image's root were not applied (an image's layers are read-only)"
        );
    }
    Ok(0)
}

/// Why `rel` can't be applied: reached through a symlink, or changed in the directory since
/// the session began (ns since the epoch).
fn check(target: &OwnedFd, rel: &Path, started: i128) -> std::result::Result<(), String> {
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
    match tree::stat_at(&dir, name) {
        Ok(Some(st))
            if st.st_ctime as i128 * 1_000_000_000 + st.st_ctime_nsec as i128 > started =>
        {
            Err("changed in the directory since the session began".into())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("can't be checked: {e}")),
    }
}

fn replay(upper: &OwnedFd, target: &OwnedFd, c: &Change) -> Result<()> {
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
            nix::sys::stat::fchmod(&d, mode)?;
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
            let from = tree::open(upper, &c.path, OFlag::O_RDONLY | OFlag::O_NONBLOCK, 0)?;
            let copied = std::io::copy(&mut std::fs::File::from(from), &mut out)
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
        _ => bail!("a device or socket; not applied"),
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
    nix::fcntl::renameat(parent, tmp, parent, name)?;
    Ok(())
}
