//! Named sandboxes on disk: one directory per sandbox under the caller's private state dir,
//! `$XDG_RUNTIME_DIR/ns-rootless/` (else the session's `/run/user/UID/ns-rootless/`, else
//! `/tmp/ns-rootless-UID/`), holding `state.json` and the detached sandbox's `log`.
//!
//! The state is what `exec` trusts to lock its commands down like the payload (seccomp
//! program, limits, environment, directory, ids), so no sandbox may ever write it: the state
//! dir is masked in every sandbox that a bind would show it to (plan.rs), and every file in it
//! is reached through a directory fd with O_NOFOLLOW, created with O_EXCL and checked for owner
//! and type when read (files.rs).
//!
//! Claiming a name is `mkdir` (atomic: of two `run --name same`, exactly one wins). A record
//! stays after its command ends, with the exit status its supervisor wrote last, until `rm`
//! (or `--rm`) removes it: only then is the name free again. A record whose init and
//! supervisor are both gone without that last write (the supervisor was SIGKILLed) has ended
//! with no known status; its pids, possibly reused by now, are never signalled. Pids are numbers
//! in the pid namespace of whoever wrote the state, and are only ever used through a pidfd
//! checked against the recorded start time.

pub mod files;

use crate::error::quote;
use crate::pidfd::{self, Pidfd};
use crate::spec::{Cwd, Seccomp};
use anyhow::{anyhow, bail, Context, Result};
#[cfg(test)]
pub use files::testing;
pub use files::Dir;
use files::Refusal;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A state.json is a few KiB; a seccomp program makes it at most a few hundred.
const MAX_STATE: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    /// The sandbox's init, in the writer's pid namespace.
    pub pid: i32,
    /// Its start time (clock ticks after boot, /proc/PID/stat field 22): tells a reused pid apart.
    pub start_time: u64,
    /// The ns-rootless process that supervises it, and its start time (0: unknown).
    pub supervisor: i32,
    #[serde(default)]
    pub supervisor_start_time: u64,
    /// The command's first process (0 until it runs) and its start time. `exec` joins *its*
    /// namespaces: the locked nested ones, where init's are off limits (init is not dumpable).
    #[serde(default)]
    pub payload: i32,
    #[serde(default)]
    pub payload_start_time: u64,
    /// The pid namespace the pids above are numbers in (its inode; 0: unknown): from any
    /// other one they would name other processes, so the state is left alone there.
    #[serde(default)]
    pub pid_ns: u64,
    /// Seconds since the epoch.
    pub created: u64,
    pub command: Vec<String>,
    pub rootfs: Option<String>,
    pub hostname: String,
    pub inner_uid: u32,
    pub inner_gid: u32,
    /// When the command ended (seconds since the epoch) and its exit status, in our exit-status
    /// convention (the code, 128+N for signal N, 124 for --timeout): the supervisor's last write.
    #[serde(default)]
    pub ended: Option<u64>,
    #[serde(default)]
    pub exit_code: Option<u8>,
    /// The `--net` mode (`pasta` or `slirp4netns` for user-mode networking) and the published
    /// ports as `ps` shows them (`127.0.0.1:8080->80/tcp`).
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub ports: Vec<String>,
    /// What every `exec`'d command gets: the payload's own process settings. (None only in a
    /// state from an older version, which `exec` refuses.)
    #[serde(default)]
    pub process: Option<Process>,
}

/// The payload's lockdown and starting point, as `exec` reproduces them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Cwd,
    /// `--limit`s by name and value.
    pub limits: Vec<(String, u64)>,
    pub seccomp: Seccomp,
    /// `--allow nested`: capabilities kept in its own user namespace.
    pub nested: bool,
    /// It shares the host's network (`--share-net`): in the host's abstract unix socket
    /// namespace, where an exec'd command enters the same Landlock scope (landlock.rs).
    #[serde(default)]
    pub share_net: bool,
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

/// Where the caller's state directory is (not created, not checked): in `$XDG_RUNTIME_DIR`,
/// else in the session's runtime directory `/run/user/UID` when it exists and is the caller's
/// (only root makes those: no other user can claim it first), else `/tmp/ns-rootless-UID`.
pub fn location(uid: u32) -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_absolute()) {
        return Path::new(&d).join("ns-rootless");
    }
    let session = PathBuf::from(format!("/run/user/{uid}"));
    match fs::symlink_metadata(&session) {
        Ok(m) if m.is_dir() && m.uid() == uid => session.join("ns-rootless"),
        _ => PathBuf::from(format!("/tmp/ns-rootless-{uid}")),
    }
}

/// The caller's state directory, created 0700 when missing; refused when it is a symlink, not a
/// directory, not ours, or open to others (another user could plant or read state there).
pub fn state_dir(uid: u32) -> Result<Dir> {
    let dir = location(uid);
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("creating the state directory {}", quote(&dir)))
        }
    }
    // Refused directories name the way out: one of the caller's own, by XDG_RUNTIME_DIR.
    let way_out = "point XDG_RUNTIME_DIR at a directory only you can write";
    Dir::open(&dir, uid).map_err(|why| match why {
        Refusal::NotADirectory => anyhow!(
            "the state directory {} is not a plain directory; refusing to use it ({way_out})",
            quote(&dir)
        ),
        Refusal::NotOurs(owner) => anyhow!(
            "the state directory {} belongs to uid {owner}, not to you; refusing to use it \
             ({way_out})",
            quote(&dir)
        ),
        Refusal::OpenToOthers(mode) => anyhow!(
            "the state directory {} is open to other users (mode {mode:o}); refusing to use it",
            quote(&dir)
        ),
        Refusal::Io(e) => anyhow!("opening the state directory {}: {e}", quote(&dir)),
    })
}

impl State {
    /// A pidfd of the sandbox's init, if this state still describes a running sandbox: the
    /// same process (start time), and not a zombie left after its supervisor was killed.
    pub fn pin_init(&self) -> Option<Pidfd> {
        pin(self.pid, self.start_time).map(|(fd, _)| fd)
    }

    /// A pidfd of the payload and its /proc directory, if it still runs.
    pub fn pin_payload(&self) -> Option<(Pidfd, std::os::fd::OwnedFd)> {
        pin(self.payload, self.payload_start_time)
    }

    /// A pidfd of the supervisor, if it still runs.
    pub fn pin_supervisor(&self) -> Option<Pidfd> {
        match self.supervisor_start_time {
            0 => None,
            start => pin(self.supervisor, start).map(|(fd, _)| fd),
        }
    }

    /// Running while its init is; and, after that, while its supervisor is still to write
    /// the exit status.
    pub fn status(&self) -> Status {
        match (self.ended, self.exit_code) {
            (Some(_), Some(code)) => Status::Exited(code),
            (Some(_), None) => Status::Unknown,
            (None, _) if self.pin_init().is_some() || self.pin_supervisor().is_some() => {
                Status::Running
            }
            (None, _) => Status::Unknown,
        }
    }

    pub fn is_alive(&self) -> bool {
        self.status() == Status::Running
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Ended with this exit status.
    Exited(u8),
    /// Ended, but its supervisor died before it could say how (SIGKILL, a crash).
    Unknown,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A pidfd of `pid` and its /proc directory, if that is still the process that started at
/// `start_time` and has not ended.
fn pin(pid: i32, start_time: u64) -> Option<(Pidfd, std::os::fd::OwnedFd)> {
    let fd = Pidfd::open(pid).ok()?;
    let dir = fd.proc_dir()?;
    match pidfd::stat_fields(&dir) {
        Some((state, start)) if start == start_time && state != 'Z' && state != 'X' => {
            Some((fd, dir))
        }
        _ => None,
    }
}

/// A claimed name: the sandbox's directory. Removed when dropped (the sandbox never ran);
/// `end` records how it ended and keeps it, unless `keep` is off (`--rm`).
pub struct Claim {
    pub dir: Dir,
    pub keep: bool,
    /// Runs before the exit status is written: a detached sandbox's log is complete by then.
    pub before_end: Option<Box<dyn FnOnce()>>,
}

impl Claim {
    /// Claims `name` in `root`; a stale claim of the same name is cleaned up first.
    pub fn take(root: &Dir, name: &str) -> Result<Claim> {
        validate_name(name)?;
        for attempt in 0..2 {
            match root.mkdir(name) {
                Ok(()) => {
                    let dir = root
                        .subdir(name)
                        .map_err(|_| anyhow!("opening {}", quote(root.path().join(name))))?;
                    return Ok(Claim {
                        dir,
                        keep: true,
                        before_end: None,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt == 0 => {
                    let dir = root.path().join(name);
                    match load(root, name) {
                        Ok(Some(st)) if st.is_alive() => break,
                        Ok(Some(_)) => bail!(
                            "the name {} is taken by a sandbox that has ended and is kept for \
                             `ps -a`, `logs` and `wait`; remove it with `ns-rootless rm {}` (or \
                             run with --rm to not keep it)",
                            quote(name),
                            name
                        ),
                        // Its pids mean nothing here: we can't tell whether it runs.
                        Err(e) if e.is::<ForeignPidNamespace>() => break,
                        // Left by a run that died setting up, or being set up right now (no
                        // state yet), or unreadable: only the first and the last may go.
                        Ok(None) if recently_created(&dir) => break,
                        _ => remove(&dir),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => break,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating {}", quote(root.path().join(name))));
                }
            }
        }
        bail!("a sandbox named {} is already running", quote(name))
    }

    /// Creates the detached sandbox's log.
    pub fn create_log(&self) -> Result<fs::File> {
        self.dir
            .create("log")
            .with_context(|| format!("creating {}", quote(self.dir.path().join("log"))))
    }

    /// Writes state.json atomically.
    pub fn write(&self, state: &State) -> Result<()> {
        let json = serde_json::to_vec_pretty(state).context("encoding the sandbox state")?;
        self.dir
            .replace("state.json", &json)
            .with_context(|| format!("writing the state of {}", quote(self.dir.path())))
    }

    /// The sandbox has ended with `code` (None: its command never ran): records that and keeps
    /// the directory, or removes it (`--rm`, or nothing ran).
    pub fn end(mut self, mut state: State, code: Option<u8>) {
        if let Some(hook) = self.before_end.take() {
            hook();
        }
        let Some(code) = code.filter(|_| self.keep) else {
            return;
        };
        state.ended = Some(now());
        state.exit_code = Some(code);
        // Unwritten (the disk is full), the record reads as ended with no known status.
        let _ = self.write(&state);
        std::mem::forget(self);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        remove(self.dir.path());
    }
}

/// A directory being set up has no state.json for a moment; give it a few seconds.
fn recently_created(dir: &Path) -> bool {
    fs::symlink_metadata(dir)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() < 10))
}

/// Removes the ended `name` whose state.json read `seen`. Between our read and the removal,
/// another `rm` may have removed it and a `run --name` claimed the name afresh: so move the
/// directory aside first (atomic), check it still is what we judged, and only then delete it.
/// Whether it was removed.
fn remove_seen(root: &Dir, name: &str, seen: &[u8]) -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let aside = format!(".removed-{name}-{}-{n}", std::process::id());
    if root.rename(name, &aside).is_err() {
        return false;
    }
    let same = root
        .subdir(&aside)
        .ok()
        .and_then(|d| d.read("state.json", MAX_STATE).ok())
        .is_some_and(|bytes| bytes == seen);
    if same {
        remove(&root.path().join(&aside));
    } else {
        // Someone else's fresh claim: give it back. (If the name was taken yet again meanwhile,
        // leave it aside: never delete what we didn't judge.)
        let _ = root.rename(&aside, name);
    }
    same
}

/// Removes a sandbox's directory: std's remove_dir_all never follows a symlink inside it.
fn remove(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
}

/// Our pid namespace's inode (0 when /proc can't say).
pub fn our_pid_namespace() -> u64 {
    fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

/// A state written in another pid namespace (ns-rootless run inside `unshare -p`, looked at
/// from outside or the other way round).
#[derive(Debug)]
pub struct ForeignPidNamespace(String);

impl std::fmt::Display for ForeignPidNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "the sandbox {} was started in another pid namespace; manage it from there",
            quote(&self.0)
        )
    }
}

impl std::error::Error for ForeignPidNamespace {}

/// The state of `name`, running or ended: None when there is no such sandbox.
pub fn load(root: &Dir, name: &str) -> Result<Option<State>> {
    Ok(read(root, name)?.map(|(state, _)| state))
}

/// The state of `name` and the bytes it was read from.
fn read(root: &Dir, name: &str) -> Result<Option<(State, Vec<u8>)>> {
    let shown = root.path().join(name).join("state.json");
    let dir = match root.subdir(name) {
        Ok(d) => d,
        Err(Refusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => bail!(
            "reading {}: not a private directory of yours",
            quote(&shown)
        ),
    };
    let bytes = match dir.read("state.json", MAX_STATE) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", quote(&shown))),
    };
    let state: State =
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("reading {}: {e}", quote(&shown)))?;
    if state.pid_ns != 0 && state.pid_ns != our_pid_namespace() {
        return Err(ForeignPidNamespace(name.to_owned()).into());
    }
    Ok(Some((state, bytes)))
}

/// Every sandbox, running or ended, by name; directories left without a state by a run that
/// died while setting up are cleaned up on the way.
pub fn list(root: &Dir) -> Result<Vec<State>> {
    let mut out = Vec::new();
    let entries =
        fs::read_dir(root.path()).with_context(|| format!("reading {}", quote(root.path())))?;
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

/// Looks up a sandbox, running or ended, or says there is none.
pub fn find_any(root: &Dir, name: &str) -> Result<State> {
    validate_name(name)?;
    load(root, name)?.ok_or_else(|| anyhow!("no sandbox named {}", quote(name)))
}

/// Looks up a running sandbox, or says there is none or that it has ended.
pub fn find(root: &Dir, name: &str) -> Result<State> {
    let state = find_any(root, name)?;
    match state.status() {
        Status::Running => Ok(state),
        Status::Exited(code) => bail!(
            "the sandbox {} has ended (exit status {code}); see `ns-rootless ps -a`",
            quote(name)
        ),
        Status::Unknown => bail!(
            "the sandbox {} has ended (its exit status is unknown: its supervisor was killed); \
             see `ns-rootless ps -a`",
            quote(name)
        ),
    }
}

/// Removes the record of `name`, which must have ended: a running sandbox's directory is
/// its supervisor's to remove. Garbage (no readable state) goes too.
pub fn remove_record(root: &Dir, name: &str) -> Result<()> {
    validate_name(name)?;
    match read(root, name) {
        Ok(Some((state, _))) if state.is_alive() => {
            bail!("the sandbox {} is running", quote(name))
        }
        Ok(Some((_, bytes))) => {
            if !remove_seen(root, name, &bytes) {
                bail!(
                    "removing {}: it changed meanwhile",
                    quote(root.path().join(name))
                );
            }
            Ok(())
        }
        Ok(None) if root.subdir(name).is_err() => bail!("no sandbox named {}", quote(name)),
        Ok(None) if recently_created(&root.path().join(name)) => {
            bail!("the sandbox {} is being set up", quote(name))
        }
        Err(e) if e.is::<ForeignPidNamespace>() => Err(e),
        Ok(None) | Err(_) => {
            remove(&root.path().join(name));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> (testing::Scratch, Dir) {
        testing::scratch(&format!("state-{tag}"))
    }

    fn start_time(pid: i32) -> Option<u64> {
        Pidfd::open(pid).ok()?.start_time()
    }

    fn state(name: &str, pid: i32, start_time: u64) -> State {
        State {
            name: name.into(),
            pid,
            start_time,
            supervisor: pid,
            supervisor_start_time: 0,
            ended: None,
            exit_code: None,
            payload: 0,
            payload_start_time: 0,
            pid_ns: our_pid_namespace(),
            created: 0,
            command: vec!["sleep".into(), "1000".into()],
            rootfs: None,
            hostname: name.into(),
            inner_uid: 0,
            inner_gid: 0,
            network: "private".into(),
            ports: vec![],
            process: None,
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
        let (s, root) = scratch("claim");
        let me = std::process::id() as i32;
        let claim = Claim::take(&root, "dev").unwrap();
        claim
            .write(&state("dev", me, start_time(me).unwrap()))
            .unwrap();
        let err = Claim::take(&root, "dev").err().unwrap().to_string();
        assert_eq!(err, "a sandbox named \"dev\" is already running");
        assert_eq!(find(&root, "dev").unwrap().pid, me);
        drop(claim);
        assert!(
            !s.0.join("dev").exists(),
            "the claim is removed when dropped"
        );
    }

    #[test]
    fn a_state_with_a_reused_pid_has_ended_with_no_known_status() {
        let (s, root) = scratch("stale");
        let claim = Claim::take(&root, "old").unwrap();
        // Our own pid, but another start time: a reused pid.
        let me = std::process::id() as i32;
        claim.write(&state("old", me, 1)).unwrap();
        std::mem::forget(claim);
        assert_eq!(
            load(&root, "old").unwrap().unwrap().status(),
            Status::Unknown
        );
        let err = find(&root, "old").unwrap_err().to_string();
        assert!(
            err.contains("has ended (its exit status is unknown"),
            "{err}"
        );
        let err = Claim::take(&root, "old").err().unwrap().to_string();
        assert!(err.contains("ns-rootless rm old"), "{err}");
        remove_record(&root, "old").unwrap();
        assert!(!s.0.join("old").exists());
        assert!(Claim::take(&root, "old").is_ok());
    }

    #[test]
    fn an_ended_claim_keeps_its_status_unless_told_not_to() {
        let (s, root) = scratch("end");
        let me = std::process::id() as i32;
        let claim = Claim::take(&root, "kept").unwrap();
        let st = state("kept", me, 1);
        claim.write(&st).unwrap();
        claim.end(st, Some(143));
        let kept = find_any(&root, "kept").unwrap();
        assert_eq!(kept.status(), Status::Exited(143));
        assert!(kept.ended.is_some());
        let mut gone = Claim::take(&root, "gone").unwrap();
        gone.keep = false;
        gone.end(state("gone", me, 1), Some(0));
        assert!(!s.0.join("gone").exists());
        let never = Claim::take(&root, "never").unwrap();
        never.end(state("never", me, 1), None);
        assert!(!s.0.join("never").exists());
    }

    #[test]
    fn a_running_record_is_not_removed() {
        let (s, root) = scratch("rm-live");
        let me = std::process::id() as i32;
        let live = Claim::take(&root, "live").unwrap();
        live.write(&state("live", me, start_time(me).unwrap()))
            .unwrap();
        let err = remove_record(&root, "live").unwrap_err().to_string();
        assert_eq!(err, "the sandbox \"live\" is running");
        assert!(s.0.join("live/state.json").exists());
        let err = remove_record(&root, "none").unwrap_err().to_string();
        assert_eq!(err, "no sandbox named \"none\"");
    }

    #[test]
    fn removal_never_deletes_a_fresh_claim_of_the_same_name() {
        let (s, root) = scratch("race");
        // We judged "a" ended from these bytes...
        let seen = serde_json::to_vec_pretty(&state("a", i32::MAX, 5)).unwrap();
        // ...but meanwhile another rm removed it and a run claimed the name afresh.
        let fresh = Claim::take(&root, "a").unwrap();
        assert!(!remove_seen(&root, "a", &seen));
        assert!(fresh.dir.path().exists(), "the fresh claim was deleted");
        // While what we judged goes.
        fresh.write(&state("a", i32::MAX, 5)).unwrap();
        assert!(remove_seen(&root, "a", &seen));
        assert!(!fresh.dir.path().exists());
        let leftovers: Vec<_> = fs::read_dir(&s.0).unwrap().flatten().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::mem::forget(fresh);
    }

    #[test]
    fn list_shows_the_running_and_the_ended() {
        let (_s, root) = scratch("list");
        let me = std::process::id() as i32;
        let live = Claim::take(&root, "live").unwrap();
        live.write(&state("live", me, start_time(me).unwrap()))
            .unwrap();
        let dead = Claim::take(&root, "dead").unwrap();
        dead.write(&state("dead", i32::MAX, 5)).unwrap();
        std::mem::forget(dead);
        let all: Vec<_> = list(&root)
            .unwrap()
            .into_iter()
            .map(|s| (s.name.clone(), s.status()))
            .collect();
        assert_eq!(
            all,
            [
                ("dead".to_string(), Status::Unknown),
                ("live".to_string(), Status::Running)
            ]
        );
    }

    #[test]
    fn a_state_from_another_pid_namespace_is_neither_trusted_nor_removed() {
        let (s, root) = scratch("foreign");
        let me = std::process::id() as i32;
        let claim = Claim::take(&root, "far").unwrap();
        let mut st = state("far", me, start_time(me).unwrap());
        st.pid_ns = our_pid_namespace() + 1;
        claim.write(&st).unwrap();
        std::mem::forget(claim);
        let err = find(&root, "far").unwrap_err().to_string();
        assert!(err.contains("another pid namespace"), "{err}");
        assert!(list(&root).unwrap().is_empty());
        assert!(Claim::take(&root, "far").is_err());
        assert!(
            s.0.join("far/state.json").exists(),
            "a foreign state was removed"
        );
    }
}
