//! What a run gets when it isn't told: the shell as the command, the standard PATH in a
//! rootfs; and the one word that looks like a `-w` directory but would run as the command.

use super::{MountSpec, Root, DEFAULT_PATH};
use crate::error::quote;
use crate::image::tree;
use anyhow::{bail, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `-w DIR` gives `-w` no value (only `--work=DIR` does), so DIR would run as the command:
/// when that word is an existing directory and not a command, say how to give it.
pub fn refuse_work_dir_as_command(
    mounts: &[super::MountArg],
    command: &[OsString],
    env: &[(OsString, OsString)],
) -> Result<()> {
    let bare_work = mounts
        .iter()
        .any(|m| matches!(m, super::MountArg::Work(d) if d == "."));
    let Some(word) = command.first().filter(|_| bare_work) else {
        return Ok(());
    };
    let path = Path::new(word);
    if !path.is_dir() {
        return Ok(());
    }
    let in_path = !word.as_bytes().contains(&b'/')
        && env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| {
                v.as_bytes()
                    .split(|&b| b == b':')
                    .any(|dir| Path::new(OsStr::from_bytes(dir)).join(word).is_file())
            })
            .unwrap_or(false);
    if in_path {
        return Ok(());
    }
    bail!(
        "invalid -w {}: -w takes no directory (that word would run as the command); \
         to bind a directory and start there, give it as --work={}",
        quote(word),
        crate::error::escape(word.as_bytes())
    );
}

/// The command when none is given: the caller's $SHELL when that path exists inside the
/// sandbox (given its root and the user's `mounts`), else `sh`.
pub fn shell(host_env: &[(OsString, OsString)], root: &Root, mounts: &[MountSpec]) -> OsString {
    let shell = host_env
        .iter()
        .find(|(k, _)| k == "SHELL")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute());
    // The deepest of the user's mounts over it decides: --hide, --tmpfs and --dir leave no
    // file there, a bind shows its source's.
    let covering = |p: &Path| {
        mounts
            .iter()
            .filter(|m| p.starts_with(m.dst()))
            .max_by_key(|m| m.dst().components().count())
    };
    let in_root = |p: &Path| match root {
        // The host's own directories are all there (read-only), except the masked ones
        // (plan.rs MASKED, and /tmp, which is the sandbox's own).
        Root::Host => {
            !["/home", "/root", "/run", "/tmp"]
                .iter()
                .any(|m| p.starts_with(m))
                && p.is_file()
        }
        // Resolved within the rootfs, so that a link there can't name a host file.
        Root::Dir(dir) => file_in(&[dir.as_path()], p),
        Root::Bundle(b) => file_in(&[b.rootfs.as_path()], p),
        // As the overlay shows it: the layers top first, whiteouts and opaque directories
        // hiding what is below them.
        Root::Image(image) => {
            let top_first: Vec<&Path> = image.layers.iter().rev().map(PathBuf::as_path).collect();
            file_in(&top_first, p)
        }
    };
    let inside = |p: &Path| match covering(p) {
        None | Some(MountSpec::Symlink { .. }) => in_root(p),
        Some(MountSpec::Bind { src, dst, .. }) => match p.strip_prefix(dst) {
            Ok(rel) if rel.as_os_str().is_empty() => src.is_file(),
            Ok(rel) => src.join(rel).is_file(),
            Err(_) => false,
        },
        Some(_) => false,
    };
    match shell {
        Some(p) if inside(&p) => p.into_os_string(),
        _ => "sh".into(),
    }
}

/// Whether `path` (absolute, inside the root that the directories `layers` make, top first,
/// as overlayfs merges them: tree::merged_lookup) is a regular file, following symlinks as
/// the sandbox would see them: absolute targets are taken relative to the root, and `..`
/// never leaves it.
fn file_in(layers: &[&Path], path: &Path) -> bool {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(layers) = layers
        .iter()
        .map(|l| nix::fcntl::open(*l, flags, Mode::empty()))
        .collect::<nix::Result<Vec<_>>>()
    else {
        return false;
    };
    resolve_in(&layers, path).is_some_and(|st| tree::kind(&st) == SFlag::S_IFREG)
}

/// What `path` (absolute) is in the merged `layers` once every symlink on the way is
/// followed inside them; None when nothing is there or a link leads nowhere.
fn resolve_in(layers: &[OwnedFd], path: &Path) -> Option<FileStat> {
    let mut todo: Vec<OsString> = path
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut here = PathBuf::new(); // relative to the root
    let mut links = 0;
    let mut found = None;
    while let Some(part) = todo.pop() {
        match part.to_str() {
            Some("/") | Some(".") => continue,
            Some("..") => {
                here.pop();
                found = None;
                continue;
            }
            _ => {}
        }
        let next = here.join(&part);
        let (dir, st) = tree::merged_lookup(layers, &next).ok()??;
        if tree::kind(&st) == SFlag::S_IFLNK {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = PathBuf::from(nix::fcntl::readlinkat(&dir, part.as_os_str()).ok()?);
            if target.is_absolute() {
                here = PathBuf::new();
            }
            todo.extend(target.components().rev().map(|c| c.as_os_str().to_owned()));
            found = None;
        } else {
            here = next;
            found = Some(st);
        }
    }
    found
}

/// With `--rootfs` or `--image`, the caller's PATH names the host's directories: the root gets
/// the standard one, sbin directories included, unless PATH is given (`-e`, `--keep-env`, the
/// image's config).
pub fn rootfs_path(
    env: &mut [(OsString, OsString)],
    host_env: &[(OsString, OsString)],
    set: &[OsString],
    keep_env: bool,
) {
    let named = set
        .iter()
        .any(|s| s == "PATH" || s.as_bytes().starts_with(b"PATH="));
    let host_path = host_env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v);
    if named || keep_env {
        return;
    }
    if let Some(slot) = env.iter_mut().find(|(k, _)| k == "PATH") {
        if Some(&slot.1) == host_path {
            slot.1 = DEFAULT_PATH.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_in_stays_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("nsr-resolve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
        std::fs::write(dir.join("usr/bin/bash"), "").unwrap();
        std::os::unix::fs::symlink("usr/bin", dir.join("bin")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("usr/bin/escape")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", dir.join("usr/bin/up")).unwrap();
        let found = file_in(&[dir.as_path()], Path::new("/bin/bash"));
        let escape = file_in(&[dir.as_path()], Path::new("/bin/escape"));
        let up = file_in(&[dir.as_path()], Path::new("/bin/up"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(found);
        assert!(!escape, "an absolute link resolves inside the root");
        assert!(!up, "`..` stops at the root");
    }
}
