//! Our private directories: the state directory (`exec` trusts what is in it), the layer
//! store (a layer is shared by every image that has it) and the sessions (`apply` replays an
//! upper onto the host as the user's reviewed work). No sandbox may read them, plant anything
//! in them or replace them: the plan masks them wherever a bind would show them
//! (plan/private_dirs.rs), and the parent makes them before such a sandbox starts, so that
//! the sandbox can't make them itself.

use crate::error::{quote, strerror};
use crate::state::files::{Dir, Refusal};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The caller's private directories as a bind would show them (canonical, as bind sources
/// are). One inside another is left out: the outer one's mask hides it already, and pinning
/// the directories on its way would uncover what that mask hides.
pub fn dirs(uid: u32, env: &[(OsString, OsString)]) -> Vec<PathBuf> {
    let all: Vec<PathBuf> = placed(uid, env).iter().map(|(d, _)| canonical(d)).collect();
    let mut kept: Vec<PathBuf> = Vec::new();
    for (i, d) in all.iter().enumerate() {
        let inside_another = all
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && d.starts_with(o) && (d != o || j < i));
        if !inside_another {
            kept.push(d.clone());
        }
    }
    kept
}

/// Each private directory with the variable that says where it goes.
fn placed(uid: u32, env: &[(OsString, OsString)]) -> Vec<(PathBuf, &'static str)> {
    let mut all = vec![(crate::state::location(uid), "XDG_RUNTIME_DIR")];
    if let Ok(store) = crate::image::store::Store::locate(env) {
        all.push((store.dir, "XDG_DATA_HOME"));
    }
    if let Some(top) = crate::session::sessions_dir(env)
        .ok()
        .and_then(|s| s.parent().map(Path::to_path_buf))
    {
        all.push((top, "XDG_STATE_HOME"));
    }
    all
}

/// `dir` with every symlink resolved, as far as it exists (the rest as written).
fn canonical(dir: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = dir;
    loop {
        // One stat per missing level, then one realpath: realpath of a missing path fails
        // only after a readlink of each component on its way, and this runs at every start.
        if existing.symlink_metadata().is_ok() {
            if let Ok(real) = crate::sys::realpath(existing) {
                return missing.iter().rev().fold(real, |p, part| p.join(part));
            }
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name);
                existing = parent;
            }
            _ => return dir.to_path_buf(),
        }
    }
}

/// Makes those missing (0700, the caller's): a sandbox that would see one's place must find a
/// directory there, masked, not make its own. (One that exists is masked whoever made it; the
/// state directory's owner is checked where it is used.)
pub fn make(dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(d)
        {
            let why = e
                .raw_os_error()
                .map_or(e.to_string(), |n| strerror(n).into());
            bail!("creating {}: {why}{}", quote(d), way_out(d));
        }
    }
    Ok(())
}

/// What to do when the private directory `dir` can't be made: move it (worked out again from
/// the environment, on this error path only).
fn way_out(dir: &Path) -> String {
    let env: Vec<_> = std::env::vars_os().collect();
    let uid = nix::unistd::getuid().as_raw();
    match placed(uid, &env).iter().find(|(d, _)| canonical(d) == dir) {
        Some((_, var)) => format!(
            "; a bind shows its place, and ns-rootless makes it first so that the sandbox \
             can't: set {var} to a directory you can write"
        ),
        None => String::new(),
    }
}

/// `path`, a private directory of ours as state::files::Dir checks one, made first (0700) when
/// `create`; None when it doesn't exist. `what` names it in the error of making it; `refused`
/// words a refusal.
pub fn open(
    path: &Path,
    create: bool,
    what: &str,
    refused: impl FnOnce(Refusal) -> anyhow::Error,
) -> Result<Option<Dir>> {
    if create {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .with_context(|| format!("creating {what} {}", quote(path)))?;
    }
    match Dir::open(path, nix::unistd::getuid().as_raw()) {
        Ok(d) => Ok(Some(d)),
        Err(Refusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(why) => Err(refused(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdg::env;

    #[test]
    fn nested_and_repeated_dirs_are_kept_once() {
        let uid = u32::MAX - 7;
        let state = canonical(&crate::state::location(uid));
        let d = dirs(uid, &env(&[("HOME", "/nonexistent-nsr/h")]));
        assert_eq!(
            d,
            [
                state.clone(),
                "/nonexistent-nsr/h/.local/share/ns-rootless".into(),
                "/nonexistent-nsr/h/.local/state/ns-rootless".into()
            ]
        );
        // A store inside the state dir: the state dir's mask covers it.
        let inside = state.to_str().unwrap().to_string();
        let d = dirs(
            uid,
            &env(&[("XDG_DATA_HOME", &inside), ("XDG_STATE_HOME", &inside)]),
        );
        assert_eq!(d, [state]);
        // No HOME, no XDG: only the state dir.
        assert_eq!(dirs(uid, &[]).len(), 1);
    }
}
