//! What a run gets when it isn't told: the shell as the command, the standard PATH in a
//! rootfs; and the one word that looks like a `-w` directory but would run as the command.

use super::{Root, DEFAULT_PATH};
use crate::error::quote;
use anyhow::{bail, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `-w DIR` gives `-w` no value (only `--work=DIR` does), so DIR would run as the command:
/// when that word is an existing directory and not a command, say how to give it.
pub fn refuse_work_dir_as_command(
    mounts: &[crate::cli::MountArg],
    command: &[OsString],
    env: &[(OsString, OsString)],
) -> Result<()> {
    let bare_work = mounts
        .iter()
        .any(|m| matches!(m, crate::cli::MountArg::Work(d) if d == "."));
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
/// sandbox, else `sh`.
pub fn shell(host_env: &[(OsString, OsString)], root: &Root) -> OsString {
    let shell = host_env
        .iter()
        .find(|(k, _)| k == "SHELL")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute());
    let inside = |p: &Path| match root {
        // The host's own directories are all there (read-only), except the masked ones
        // (plan.rs MASKED, and /tmp, which is the sandbox's own).
        Root::Host => {
            !["/home", "/root", "/run", "/tmp"]
                .iter()
                .any(|m| p.starts_with(m))
                && p.is_file()
        }
        // Resolved within the rootfs, so that a link there can't name a host file.
        Root::Dir(dir) => resolve_in(dir, p).is_some_and(|f| f.is_file()),
        // In one of the layers (a whiteout above it is not looked for: then sh runs instead
        // only if the shell is missing everywhere).
        Root::Image(image) => image
            .layers
            .iter()
            .any(|layer| resolve_in(layer, p).is_some_and(|f| f.is_file())),
    };
    match shell {
        Some(p) if inside(&p) => p.into_os_string(),
        _ => "sh".into(),
    }
}

/// `path` (absolute, inside `root`) as a host path, following symlinks as the sandbox would
/// see them: absolute targets are taken relative to `root`, and `..` never leaves it.
fn resolve_in(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut todo: Vec<OsString> = path
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut here = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.to_str() {
            Some("/") | Some(".") => continue,
            Some("..") => {
                here.pop();
                continue;
            }
            _ => {}
        }
        let next = here.join(&part);
        let host = root.join(next.strip_prefix("/").ok()?);
        let meta = host.symlink_metadata().ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            if target.is_absolute() {
                here = PathBuf::from("/");
            }
            todo.extend(target.components().rev().map(|c| c.as_os_str().to_owned()));
        } else {
            here = next;
        }
    }
    Some(root.join(here.strip_prefix("/").ok()?))
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
        let found = resolve_in(&dir, Path::new("/bin/bash"));
        let escape = resolve_in(&dir, Path::new("/bin/escape"));
        let up = resolve_in(&dir, Path::new("/bin/up"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, Some(dir.join("usr/bin/bash")));
        assert_eq!(escape, None, "an absolute link resolves inside the root");
        assert_eq!(up, None, "`..` stops at the root");
    }
}
