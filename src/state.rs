//! Named sandboxes on disk: one directory per sandbox under the caller's private state dir,
//! `$XDG_RUNTIME_DIR/ns-rootless/` (else `/tmp/ns-rootless-<uid>/`), holding `state.json` and
//! the detached sandbox's `log`.
//!
//! Claiming a name is `mkdir` (atomic: of two `run --name same`, exactly one wins). A state whose
//! init is gone, or whose pid now belongs to another process (start time differs), is stale: it
//! is removed, never signalled.

use crate::error::quote;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    /// The sandbox's init, as the host sees it.
    pub pid: i32,
    /// Its start time (clock ticks after boot, /proc/PID/stat field 22): tells a reused pid apart.
    pub start_time: u64,
    /// The ns-rootless process that supervises it.
    pub supervisor: i32,
    /// The command's first process (host view; 0 until it runs) and its start time. `exec`
    /// joins *its* namespaces: the locked nested ones, where init's are off limits (init is
    /// not dumpable).
    #[serde(default)]
    pub payload: i32,
    #[serde(default)]
    pub payload_start_time: u64,
    /// Seconds since the epoch.
    pub created: u64,
    pub command: Vec<String>,
    pub rootfs: Option<String>,
    pub hostname: String,
    pub inner_uid: u32,
    pub inner_gid: u32,
    /// How the payload was locked down, so that `exec` locks its commands down the same way.
    /// None: it ran with `--seccomp none`.
    pub seccomp: Option<crate::seccomp::Allow>,
    /// The `--net` mode (`pasta` or `slirp4netns` for user-mode networking) and the published
    /// ports as `ps` shows them (`127.0.0.1:8080->80/tcp`).
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub ports: Vec<String>,
}

/// Names double as hostnames and directory names.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        bail!(
            "invalid sandbox name {}: use 1-64 letters, digits, '_', '.' or '-', starting with a \
             letter or digit",
            quote(name)
        );
    }
    Ok(())
}

/// The caller's state directory, created 0700 when missing; refused when it is a symlink, not a
/// directory, not ours, or open to others (another user could plant or read state there).
pub fn state_dir(uid: u32) -> Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => Path::new(&d).join("ns-rootless"),
        _ => PathBuf::from(format!("/tmp/ns-rootless-{uid}")),
    };
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("creating the state directory {}", quote(&dir)))
        }
    }
    let meta = fs::symlink_metadata(&dir)
        .with_context(|| format!("checking the state directory {}", quote(&dir)))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        bail!(
            "the state directory {} is not a plain directory; refusing to use it",
            quote(&dir)
        );
    }
    if meta.uid() != uid {
        bail!(
            "the state directory {} belongs to uid {}, not to you; refusing to use it",
            quote(&dir),
            meta.uid()
        );
    }
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "the state directory {} is open to other users (mode {:o}); refusing to use it",
            quote(&dir),
            meta.permissions().mode() & 0o777
        );
    }
    Ok(dir)
}

/// The host pid of a child of `parent` (its only one for the sandbox's init right after the
/// payload starts), found by its parent pid in /proc/PID/stat.
pub fn child_of(parent: i32) -> Option<i32> {
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let ppid = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

/// The start time of `pid` (field 22 of /proc/PID/stat), if it exists.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid).map(|(_, start)| start)
}

/// The state letter (field 3) and start time (field 22) of `pid`.
fn stat_fields(pid: i32) -> Option<(char, u64)> {
    stat_fields_at(Path::new(&format!("/proc/{pid}")))
}

/// The state letter (field 3) and start time (field 22) from `PROC_DIR/stat`, where
/// PROC_DIR is a process's /proc directory (possibly reached through an fd of it).
pub fn stat_fields_at(proc_dir: &Path) -> Option<(char, u64)> {
    let stat = fs::read_to_string(proc_dir.join("stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

impl State {
    /// Whether the sandbox this state describes is still the one running: the same process
    /// (start time), and not a zombie waiting to be reaped after its supervisor was killed.
    pub fn is_alive(&self) -> bool {
        self.pid > 0
            && matches!(stat_fields(self.pid), Some((s, t)) if t == self.start_time && s != 'Z' && s != 'X')
    }
}

/// A claimed name: the sandbox's directory, removed when the sandbox ends.
pub struct Claim {
    pub dir: PathBuf,
}

impl Claim {
    /// Claims `name` in `root`; a stale claim of the same name is cleaned up first.
    pub fn take(root: &Path, name: &str) -> Result<Claim> {
        validate_name(name)?;
        let dir = root.join(name);
        for attempt in 0..2 {
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Claim { dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt == 0 => {
                    match load(root, name) {
                        Ok(Some(state)) if state.is_alive() => break,
                        // Stale, or being set up right now (no state yet): only the former may go.
                        Ok(None) if recently_created(&dir) => break,
                        _ => remove(&dir),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => break,
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", quote(&dir)));
                }
            }
        }
        bail!("a sandbox named {} is already running", quote(name))
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// Writes state.json atomically (a temp file renamed over it).
    pub fn write(&self, state: &State) -> Result<()> {
        let tmp = self.dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(state).context("encoding the sandbox state")?;
        let mut f = fs::File::create(&tmp).with_context(|| format!("writing {}", quote(&tmp)))?;
        // No fsync: the state lives only as long as the sandbox; readers need the rename to be
        // atomic, not the file to survive a crash.
        f.write_all(&json)
            .with_context(|| format!("writing {}", quote(&tmp)))?;
        fs::rename(&tmp, self.dir.join("state.json"))
            .with_context(|| format!("writing the state of {}", quote(&self.dir)))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        remove(&self.dir);
    }
}

/// A directory being set up has no state.json for a moment; give it a few seconds.
fn recently_created(dir: &Path) -> bool {
    fs::metadata(dir)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() < 10))
}

/// Removes the stale `name` whose state.json read `seen`. Between our read and the removal, a
/// `run --name` may have cleaned it up and claimed the name afresh: so move the directory aside
/// first (atomic), check it still is what we judged stale, and only then delete it.
fn remove_stale(root: &Path, name: &str, seen: &[u8]) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = root.join(name);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let aside = root.join(format!(".stale-{name}-{}-{n}", std::process::id()));
    if fs::rename(&dir, &aside).is_err() {
        return;
    }
    match fs::read(aside.join("state.json")) {
        Ok(bytes) if bytes == seen => remove(&aside),
        // Someone else's fresh claim: give it back. (If the name was taken yet again meanwhile,
        // leave it aside: never delete what we didn't judge.)
        _ => {
            let _ = fs::rename(&aside, &dir);
        }
    }
}

fn remove(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
}

/// The state of `name`: None when there is no such sandbox; a stale state is removed.
pub fn load(root: &Path, name: &str) -> Result<Option<State>> {
    let path = root.join(name).join("state.json");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", quote(&path))),
    };
    let state: State =
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("reading {}: {e}", quote(&path)))?;
    if !state.is_alive() {
        remove_stale(root, name, &bytes);
        return Ok(None);
    }
    Ok(Some(state))
}

/// Every live sandbox, by name; stale entries are cleaned up on the way.
pub fn list(root: &Path) -> Result<Vec<State>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(root).with_context(|| format!("reading {}", quote(root)))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if validate_name(name).is_err() {
            continue;
        }
        match load(root, name) {
            Ok(Some(s)) => out.push(s),
            Ok(None) if !recently_created(&entry.path()) => remove(&entry.path()),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Looks up a running sandbox or says there is none.
pub fn find(root: &Path, name: &str) -> Result<State> {
    validate_name(name)?;
    load(root, name)?.ok_or_else(|| anyhow!("no sandbox named {}", quote(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn scratch(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nsr-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        Scratch(dir)
    }

    fn state(name: &str, pid: i32, start_time: u64) -> State {
        State {
            name: name.into(),
            pid,
            start_time,
            supervisor: pid,
            payload: 0,
            payload_start_time: 0,
            created: 0,
            command: vec!["sleep".into(), "1000".into()],
            rootfs: None,
            hostname: name.into(),
            inner_uid: 0,
            inner_gid: 0,
            seccomp: Some(Default::default()),
            network: "private".into(),
            ports: vec![],
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "dev", "web-1", "x.y_z", &"n".repeat(64)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a/b", "a b", "é", &"n".repeat(65), "a\n"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_live_claim_wins_and_a_second_one_fails() {
        let s = scratch("claim");
        let me = std::process::id() as i32;
        let claim = Claim::take(&s.0, "dev").unwrap();
        claim
            .write(&state("dev", me, start_time(me).unwrap()))
            .unwrap();
        let err = Claim::take(&s.0, "dev").err().unwrap().to_string();
        assert_eq!(err, "a sandbox named \"dev\" is already running");
        assert_eq!(find(&s.0, "dev").unwrap().pid, me);
        drop(claim);
        assert!(
            !s.0.join("dev").exists(),
            "the claim is removed when dropped"
        );
    }

    #[test]
    fn a_stale_state_with_a_reused_pid_is_removed_not_trusted() {
        let s = scratch("stale");
        let claim = Claim::take(&s.0, "old").unwrap();
        // Our own pid, but another start time: a reused pid.
        let me = std::process::id() as i32;
        claim.write(&state("old", me, 1)).unwrap();
        std::mem::forget(claim);
        assert!(load(&s.0, "old").unwrap().is_none());
        assert!(!s.0.join("old").exists());
        let err = find(&s.0, "old").unwrap_err().to_string();
        assert_eq!(err, "no sandbox named \"old\"");
    }

    #[test]
    fn stale_cleanup_never_deletes_a_fresh_claim_of_the_same_name() {
        let s = scratch("race");
        // We judged "a" stale from these bytes...
        let stale = serde_json::to_vec_pretty(&state("a", i32::MAX, 5)).unwrap();
        // ...but meanwhile another run cleaned it and claimed the name afresh.
        let fresh = Claim::take(&s.0, "a").unwrap();
        remove_stale(&s.0, "a", &stale);
        assert!(fresh.dir.exists(), "the fresh claim was deleted");
        // While a real stale directory goes.
        fresh.write(&state("a", i32::MAX, 5)).unwrap();
        remove_stale(&s.0, "a", &stale);
        assert!(!fresh.dir.exists());
        let leftovers: Vec<_> = fs::read_dir(&s.0).unwrap().flatten().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::mem::forget(fresh);
    }

    #[test]
    fn list_keeps_the_live_and_drops_the_stale() {
        let s = scratch("list");
        let me = std::process::id() as i32;
        let live = Claim::take(&s.0, "live").unwrap();
        live.write(&state("live", me, start_time(me).unwrap()))
            .unwrap();
        let dead = Claim::take(&s.0, "dead").unwrap();
        dead.write(&state("dead", i32::MAX, 5)).unwrap();
        std::mem::forget(dead);
        let names: Vec<_> = list(&s.0).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["live"]);
        assert!(!s.0.join("dead").exists());
    }
}
