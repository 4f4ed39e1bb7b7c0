//! `ns-rootless diff NAME [--json]`: what a session changed, from its upper directories: a
//! whiteout (char 0:0) is a deletion, an opaque directory deletes what the directory had, any
//! other entry is an addition or, when the directory has that path, a modification.

use super::{load, Layer, Meta};
use crate::error::{escape, quote};
use crate::image::tree;
use anyhow::{anyhow, bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, SFlag};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Added,
    Modified,
    Deleted,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Modified => 'M',
            Kind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Index into the session's layers.
    pub layer: usize,
    pub path: PathBuf,
    pub kind: Kind,
    /// What the upper has there (None for a deletion).
    pub what: Option<SFlag>,
}

/// The session's changes, sorted by layer, then path (parents before children).
pub fn changes(session: &super::Opened) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for (i, layer) in session.meta.layers.iter().enumerate() {
        let upper = session.upper(&layer.key)?;
        let mut lowers: Vec<OwnedFd> = open_target(layer)?.into_iter().collect();
        for l in &layer.image_layers {
            let fd = std::fs::File::open(l).with_context(|| format!("opening {}", quote(l)))?;
            lowers.push(fd.into());
        }
        walk(&upper, &lowers, Path::new(""), false, i, &mut out).with_context(|| {
            format!(
                "reading the session's changes to {} (kept in {})",
                quote(&layer.dst),
                quote(super::layout(session.dir.path(), &layer.key).0)
            )
        })?;
        // What setup made to mount on (session::mount_points) is not the session's.
        out.retain(|c| {
            c.layer != i || c.kind != Kind::Added || !layer.mount_points.contains(&c.path)
        });
    }
    out.sort_by(|a, b| (a.layer, &a.path).cmp(&(b.layer, &b.path)));
    Ok(out)
}

/// The directory a layer's changes apply to (None: an image's root, or gone).
pub fn open_target(layer: &Layer) -> Result<Option<OwnedFd>> {
    let Some(target) = &layer.target else {
        return Ok(None);
    };
    // Never through a symlink at the last name, and only the directory the session began
    // with: the path may have been swapped for another since.
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let swapped = || {
        anyhow!(
            "{} is not the directory the session began with (moved, replaced or a symlink now); refusing to use it",
            quote(target)
        )
    };
    let fd = match nix::fcntl::open(target, flags, nix::sys::stat::Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOTDIR) => return Err(swapped()),
        Err(e) => bail!(
            "opening {}: {}",
            quote(target),
            crate::error::strerror(e as i32)
        ),
    };
    let st = nix::sys::stat::fstat(&fd)?;
    match layer.target_id {
        Some(id) if id != (st.st_dev, st.st_ino) => Err(swapped()),
        _ => Ok(Some(fd)),
    }
}

/// Walks the upper beneath `rel` and compares it with the directory as it was: the lowers
/// (top first) as overlayfs merges them (tree::merged_lookup). `hidden`: an upper directory
/// on the way is opaque, so the sandbox saw nothing of the lowers here (overlayfs marks only
/// the directory made again opaque, not those made inside it): everything beneath is new,
/// and what the lowers have that the upper lacks is deleted, at every depth.
fn walk(
    upper: &OwnedFd,
    lowers: &[OwnedFd],
    rel: &Path,
    hidden: bool,
    layer: usize,
    out: &mut Vec<Change>,
) -> Result<()> {
    let dir = tree::open_dir(upper, rel).map_err(|e| unreadable(rel, e))?;
    let hidden = hidden || (!rel.as_os_str().is_empty() && tree::is_opaque(&dir));
    if hidden {
        for name in tree::merged_list(lowers, rel)? {
            if tree::stat_at(&dir, &name)?.is_none() {
                out.push(Change {
                    layer,
                    path: rel.join(&name),
                    kind: Kind::Deleted,
                    what: None,
                });
            }
        }
    }
    for name in tree::list(&dir).map_err(|e| unreadable(rel, e))? {
        let path = rel.join(&name);
        let Some(st) = tree::stat_at(&dir, &name)? else {
            continue;
        };
        let before = match hidden {
            true => None,
            false => tree::merged_lookup(lowers, &path)?,
        };
        if tree::is_whiteout(&st) {
            if before.is_some() {
                out.push(Change {
                    layer,
                    path,
                    kind: Kind::Deleted,
                    what: None,
                });
            }
            continue;
        }
        let what = tree::kind(&st);
        let kind = match &before {
            None => Some(Kind::Added),
            Some((_, b)) if tree::kind(b) != what => Some(Kind::Modified),
            // A directory made again: what it had is gone (listed below it).
            Some(_)
                if what == SFlag::S_IFDIR && tree::is_opaque(&tree::open_dir(upper, &path)?) =>
            {
                Some(Kind::Modified)
            }
            Some((parent, b)) if same(upper, parent, &path, &st, b)? => None,
            Some(_) => Some(Kind::Modified),
        };
        if let Some(kind) = kind {
            out.push(Change {
                layer,
                path: path.clone(),
                kind,
                what: Some(what),
            });
        }
        if what == SFlag::S_IFDIR {
            walk(upper, lowers, &path, hidden, layer, out)?;
        }
    }
    Ok(())
}

/// A directory of the upper that can't be listed, named: the sandbox may have taken its
/// permissions away (chmod 000), which the user can give back where the session is kept.
fn unreadable(rel: &Path, e: std::io::Error) -> anyhow::Error {
    let shown = quote(if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    });
    if e.raw_os_error() == Some(nix::libc::EACCES) {
        anyhow!(
            "the directory {shown} can't be read: the sandbox took its permissions away; \
             give them back (chmod u+rx) there or in a run of the session"
        )
    } else {
        anyhow!("reading the directory {shown}: {e}")
    }
}

/// Whether an upper entry is what the directory has (a copy-up without a change: a directory
/// made for a child, a file opened for writing and left as it was); `lower` is the directory
/// of the lowers that holds it.
fn same(upper: &OwnedFd, lower: &OwnedFd, path: &Path, a: &FileStat, b: &FileStat) -> Result<bool> {
    if a.st_mode != b.st_mode {
        return Ok(false);
    }
    let name = path.file_name().unwrap_or_default();
    match tree::kind(a) {
        SFlag::S_IFDIR => Ok(true),
        SFlag::S_IFLNK => Ok(read_link(upper, path)? == nix::fcntl::readlinkat(lower, name)?),
        SFlag::S_IFREG if a.st_size == b.st_size => {
            let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let ours = tree::open(upper, path, flags, 0)?;
            let theirs = nix::fcntl::openat(lower, name, flags, nix::sys::stat::Mode::empty())?;
            Ok(same_bytes(ours.into(), theirs.into())?)
        }
        _ => Ok(false),
    }
}

pub fn read_link(root: &OwnedFd, path: &Path) -> Result<OsString> {
    let parent = tree::open_dir(root, path.parent().unwrap_or(Path::new("")))?;
    Ok(nix::fcntl::readlinkat(
        &parent,
        path.file_name().unwrap_or_default(),
    )?)
}

fn same_bytes(mut a: std::fs::File, mut b: std::fs::File) -> std::io::Result<bool> {
    let (mut x, mut y) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(b.read(&mut y[..1])? == 0);
        }
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// How a change is shown: relative to its directory when the session has one, else with the
/// directory's place in the sandbox in front.
pub fn shown(meta: &Meta, c: &Change) -> PathBuf {
    if meta.layers.len() == 1 {
        c.path.clone()
    } else {
        meta.layers[c.layer].dst.join(&c.path)
    }
}

pub fn run(env: &[(OsString, OsString)], name: &str, json: bool) -> Result<u8> {
    let session = load(env, name)?;
    let all = changes(&session)?;
    let meta = &session.meta;
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<_> = all
            .iter()
            .map(|c| {
                let l = &meta.layers[c.layer];
                serde_json::json!({
                    "change": c.kind.letter().to_string(),
                    "path": c.path,
                    "directory": l.target,
                    "sandbox_path": l.dst.join(&c.path),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?).context("writing the diff")?;
        return Ok(0);
    }
    for c in &all {
        let p = shown(meta, c);
        writeln!(
            out,
            "{} {}",
            c.kind.letter(),
            escape(p.as_os_str().as_bytes())
        )
        .context("writing the diff")?;
    }
    Ok(0)
}
