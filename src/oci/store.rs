//! OCI container state: one directory per container under the state root, private to the user
//! (SECURITY.md 7: others can't list, signal or delete it). `state.json` is written whole and
//! renamed into place, so a reader never sees half of it. The init's pid is checked against its
//! start time (a reused pid is never taken for ours) and used through a pidfd.

use crate::error::quote;
use crate::oci::config::Hooks;
use crate::pidfd::Pidfd;
use anyhow::{bail, Context, Result};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What we keep about a container.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Stored {
    pub id: String,
    pub pid: i32,
    /// Of `pid` (field 22 of /proc/PID/stat): tells our init from a later process with its pid.
    pub start_time: u64,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub owner: String,
    pub annotations: BTreeMap<String, String>,
    /// `create` is still at work (its prestart/createRuntime hooks run): status "creating".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// `start` has been run.
    pub started: bool,
    /// config.json had no `process`: `start` is an error that stops the container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_process: bool,
    /// The hooks `start` and `delete` run (poststart, poststop).
    pub hooks: Hooks,
    /// The container's cgroup (linux.resources applied), which `delete` removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// While `create` runs the prestart, createRuntime and createContainer hooks (runtime.md).
    Creating,
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's rule for ids: letters, digits, `_ + - .`, not `.` or `..`; 1024 bytes at most.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if !ok {
        bail!(
            "invalid container id {}: use letters, digits, '_', '+', '-' and '.'",
            quote(id)
        );
    }
    Ok(())
}

/// The state root: `--root`, else `$XDG_RUNTIME_DIR/ns-rootless-oci`, else
/// `/tmp/ns-rootless-oci-UID`. Never `/run`: even as uid 0 we are inside someone else's user
/// namespace (rootless podman), where /run is not ours.
pub fn default_root(uid: u32) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Path::new(&dir).join("ns-rootless-oci"),
        None => PathBuf::from(format!("/tmp/ns-rootless-oci-{uid}")),
    }
}

pub struct Store {
    pub root: PathBuf,
}

impl Store {
    /// Opens (creating, mode 0700) the state root; refuses one that is a symlink, isn't ours, or
    /// others may write.
    pub fn open(root: &Path, uid: u32, create: bool) -> Result<Store> {
        if create {
            match fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
            {
                Ok(()) => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating the state root {}", quote(root)))
                }
            }
        }
        let meta = match fs::symlink_metadata(root) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {
                return Ok(Store { root: root.into() })
            }
            Err(e) => {
                return Err(e).with_context(|| format!("opening the state root {}", quote(root)))
            }
        };
        if !meta.is_dir() {
            bail!(
                "invalid state root {}: not a directory (or a symlink)",
                quote(root)
            );
        }
        if meta.uid() != uid {
            bail!(
                "invalid state root {}: owned by uid {}, not by us ({uid})",
                quote(root),
                meta.uid()
            );
        }
        if meta.mode() & 0o022 != 0 {
            bail!(
                "invalid state root {}: others may write it (mode {:o})",
                quote(root),
                meta.mode() & 0o7777
            );
        }
        Ok(Store { root: root.into() })
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Claims `id`: its directory is made with mkdir, so of two creates one wins.
    pub fn claim(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        let dir = self.dir(id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container with id exists: {id}")
            }
            Err(e) => {
                Err(e).with_context(|| format!("creating the state directory {}", quote(&dir)))
            }
        }
    }

    /// The copy of config.json `create` keeps: what `exec` reads.
    pub fn config_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("config.json")
    }

    pub fn write(&self, s: &Stored) -> Result<()> {
        let dir = self.dir(&s.id);
        let json = serde_json::to_vec(s).context("encoding the container state")?;
        write_atomic(&dir.join("state.json"), &json, 0o600)
    }

    /// The stored state of `id`; Ok(None) when there is no such container.
    pub fn load(&self, id: &str) -> Result<Option<Stored>> {
        validate_id(id)?;
        let path = self.dir(id).join("state.json");
        let text = match read_nofollow(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", quote(&path))),
        };
        let s: Stored =
            serde_json::from_slice(&text).with_context(|| format!("reading {}", quote(&path)))?;
        Ok(Some(s))
    }

    /// Like `load`, but a missing container is runc's error.
    pub fn get(&self, id: &str) -> Result<Stored> {
        self.load(id)?.ok_or_else(|| {
            anyhow::anyhow!(
                "container does not exist: {}",
                crate::error::escape(id.as_bytes())
            )
        })
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", quote(&dir)))
            }
            _ => Ok(()),
        }
    }

    /// Every container's id, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).with_context(|| format!("listing {}", quote(&self.root))),
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str() {
                if validate_id(name).is_ok() && entry.path().join("state.json").exists() {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// The largest state file read: `config.json`'s copy is at most 16 MiB (config::parse's bound)
/// and `state.json` holds no more of it than its annotations and hooks.
pub const STATE_FILE_MAX: u64 = 32 << 20;

/// A file of the container's state directory. The directory is the caller's, but what is in it
/// is not trusted to be ours: never through a symlink, a regular file only (a FIFO would hang
/// `state`), at most STATE_FILE_MAX bytes (a huge one would take all our memory).
pub fn read_nofollow(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(crate::untrusted::OPEN_FLAGS | nix::libc::O_NOFOLLOW)
        .open(path)?;
    crate::untrusted::read_regular(f.into(), STATE_FILE_MAX, None)
}

/// Writes `data` to a new file next to `path` and renames it over `path`: readers see the old
/// content or the new, never a part (the pid file podman and containerd read, the state).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use nix::fcntl::OFlag;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let written = nix::fcntl::open(parent.unwrap_or(Path::new(".")), flags, Mode::empty())
        .map_err(std::io::Error::from)
        .and_then(|dir| write_at(&dir, path.file_name().unwrap_or_default(), data, mode));
    written.with_context(|| format!("writing {}", quote(path)))
}

/// `write_atomic` in the directory `dir`: a new file (O_EXCL, never through a symlink) renamed
/// over `name`, removed if that fails.
fn write_at(dir: &impl AsFd, name: &OsStr, data: &[u8], mode: u32) -> std::io::Result<()> {
    use nix::fcntl::{openat, renameat, OFlag};
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(dir, tmp.as_os_str(), flags, Mode::from_bits_truncate(mode))?;
        fs::File::from(fd).write_all(data)?;
        Ok(renameat(dir, tmp.as_os_str(), dir, name)?)
    })();
    if written.is_err() {
        let _ = nix::unistd::unlinkat(
            dir,
            tmp.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    }
    written
}

/// A file to be written atomically after this process leaves the host's mount namespace (an
/// `exec` pid file): its directory is opened now, the file made through it later.
pub struct PendingFile {
    dir: fs::File,
    name: std::ffi::OsString,
    shown: PathBuf,
}

impl PendingFile {
    pub fn open(path: &Path) -> Result<PendingFile> {
        let shown = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .context("finding the current directory")?
                .join(path)
        };
        let parent = shown.parent().unwrap_or(Path::new("/"));
        let dir = fs::File::open(parent).with_context(|| format!("opening {}", quote(parent)))?;
        let name = shown
            .file_name()
            .with_context(|| format!("invalid file name {}", quote(&shown)))?
            .to_os_string();
        Ok(PendingFile { dir, name, shown })
    }

    pub fn write(&self, data: &[u8]) -> Result<()> {
        write_at(&self.dir, &self.name, data, 0o644)
            .with_context(|| format!("writing {}", quote(&self.shown)))
    }
}

/// The container's status now, with a pidfd of its init while that lives. The pidfd is taken
/// first, then its start time compared: a pid reused since is never taken for our init.
pub fn status(s: &Stored) -> (Status, Option<Pidfd>) {
    let Ok(pidfd) = Pidfd::open(s.pid) else {
        return (Status::Stopped, None);
    };
    // start_time() is None once it has ended (zombie included).
    if pidfd.start_time() != Some(s.start_time) {
        return (Status::Stopped, None);
    }
    let status = if s.started {
        Status::Running
    } else if s.creating {
        Status::Creating
    } else {
        Status::Created
    };
    (status, Some(pidfd))
}

/// The OCI containers of the default state root (`ns-rootless ps` lists them beside named
/// sandboxes), with their status; stopped ones only with `all`.
pub fn containers(uid: u32, all: bool, root: Option<&Path>) -> Vec<(Stored, Status)> {
    let root = root.map_or_else(|| default_root(uid), Path::to_path_buf);
    let Ok(store) = Store::open(&root, uid, false) else {
        return Vec::new();
    };
    store
        .ids()
        .unwrap_or_default()
        .iter()
        .filter_map(|id| store.load(id).ok().flatten())
        .map(|s| {
            let (status, _) = status(&s);
            (s, status)
        })
        .filter(|(_, status)| all || *status != Status::Stopped)
        .collect()
}

/// The runtime-spec state document.
pub fn state_json(s: &Stored, status: Status) -> serde_json::Value {
    let pid = if status == Status::Stopped { 0 } else { s.pid };
    serde_json::json!({
        "ociVersion": crate::oci::features::OCI_VERSION,
        "id": s.id,
        "status": status.as_str(),
        "pid": pid,
        "bundle": s.bundle,
        "rootfs": s.rootfs,
        "created": s.created,
        "owner": s.owner,
        "annotations": s.annotations,
    })
}

/// Now, as RFC 3339 in UTC with nanoseconds (what runc prints).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The user's name from /etc/passwd, or "" without an entry (as runc).
pub fn owner_name(uid: u32) -> String {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runcs_rule() {
        for ok in ["a", "abc-1.2_x+y", &"x".repeat(1024)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "\n", &"x".repeat(1025)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0, 5), "1970-01-01T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20.000000000Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn state_round_trips_and_a_missing_container_is_none() {
        let root = std::env::temp_dir().join(format!("nsr-oci-store-{}", std::process::id()));
        let store = Store::open(&root, nix::unistd::getuid().as_raw(), true).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
        let dir = store.claim("c1").unwrap();
        assert!(dir.is_dir());
        assert!(store
            .claim("c1")
            .unwrap_err()
            .to_string()
            .contains("exists"));
        let s = Stored {
            id: "c1".into(),
            pid: 0,
            ..Default::default()
        };
        store.write(&s).unwrap();
        assert_eq!(store.load("c1").unwrap().unwrap().id, "c1");
        assert_eq!(status(&s).0, Status::Stopped);
        assert_eq!(store.ids().unwrap(), ["c1"]);
        assert!(store.load("nope").unwrap().is_none());
        store.remove("c1").unwrap();
        fs::remove_dir_all(&root).unwrap();
    }
}
