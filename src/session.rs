//! Copy-on-write sessions (`--cow`, `diff`, `apply`, `discard`). A session lives in
//! `$XDG_STATE_HOME/ns-rootless/sessions/NAME` (0700, the user's own):
//!
//! ```text
//! session.json    what was bound where, and when the session began
//! upper/N work/N  the overlay of the run's Nth mount (a read-write bind)
//! upper/root ...  the root's, with --image or --rootfs
//! ```
//!
//! Starting one costs a mount per directory and no walk, however big the tree.

pub mod apply;
pub mod diff;

use crate::error::quote;
use crate::spec::{MountSpec, Root};
use crate::state::files::{Dir, Refusal};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The name of the root's upper and work directories.
pub const ROOT: &str = "root";
const UPPER: &str = "upper";
const WORK: &str = "work";
const META: &str = "session.json";

/// A session's upper and work directories for the mount named `key`.
pub fn layout(dir: &Path, key: &str) -> (PathBuf, PathBuf) {
    (dir.join(UPPER).join(key), dir.join(WORK).join(key))
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `root` or the mount's index.
    pub key: String,
    /// Where its changes apply on the host (None: an image's root, which has no such place).
    pub target: Option<PathBuf>,
    /// The target's (device, inode) when the session began: diff and apply refuse another
    /// directory (or a symlink) found at that path later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<(u64, u64)>,
    /// Where the sandbox saw it.
    pub dst: PathBuf,
    /// An image root's layers, top first: what its changes are compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_layers: Vec<PathBuf>,
    /// The root's: where setup mounts (`mount_points`), relative to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<PathBuf>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Meta {
    pub name: String,
    /// When the session began (ns since the epoch): a changed path whose host copy changed
    /// after this is a conflict.
    pub started: i128,
    pub layers: Vec<Layer>,
}

pub fn sessions_dir(env: &[(OsString, OsString)]) -> Result<PathBuf> {
    let base = crate::xdg::required(
        env,
        "XDG_STATE_HOME",
        ".local/state",
        "the sessions directory",
    )?;
    Ok(base.join("ns-rootless").join("sessions"))
}

/// Session names are file names: the sandbox-name rules.
pub fn session_dir(env: &[(OsString, OsString)], name: &str) -> Result<PathBuf> {
    crate::state::validate_name(name)
        .map_err(|_| anyhow!("invalid session name {}", quote(name)))?;
    Ok(sessions_dir(env)?.join(name))
}

/// `--cow`: the session's name and place (nothing is created yet: `begin` does).
pub fn plan_cow(
    name: Option<&str>,
    env: &[(OsString, OsString)],
    root: &Root,
    mounts: &[MountSpec],
) -> Result<crate::spec::Cow> {
    let (name, generated) = match name {
        Some(n) => (n.to_string(), false),
        None => (crate::image::store::random_hex(), true),
    };
    let dir = session_dir(env, &name)?;
    // overlayfs refuses an upper inside one of its lowers (and the other way round).
    let lowers = mounts.iter().filter_map(|m| match m {
        MountSpec::Bind {
            src,
            readonly: false,
            dir: true,
            ..
        } => Some(src.as_path()),
        _ => None,
    });
    let root_dir = match root {
        Root::Dir(d) => Some(d.as_path()),
        _ => None,
    };
    for lower in lowers.chain(root_dir) {
        if dir.starts_with(lower) || lower.starts_with(&dir) {
            bail!(
                "--cow: the session directory {} is inside {}, which the run binds; set XDG_STATE_HOME to a place outside it",
                quote(&dir),
                quote(lower)
            );
        }
    }
    for m in mounts {
        if let MountSpec::Bind {
            src,
            readonly: false,
            dir: false,
            ..
        } = m
        {
            bail!(
                "--cow: {} is a file; copy-on-write works on directories (bind its directory, or bind it read-only)",
                quote(src)
            );
        }
    }
    Ok(crate::spec::Cow {
        name,
        dir,
        generated,
    })
}

/// A running sandbox's hold on its session: an exclusive flock on the session directory,
/// taken by `begin` and held by every host-side process of the run (the supervisor and the
/// logger of `-d` inherit it; the sandbox's own processes close it before they run anything).
/// `apply` and `discard` refuse while it is held: a payload still running could otherwise
/// change its writes between the `diff` the user reviewed and the `apply` that replays them.
pub struct InUse {
    _dir: fs::File,
}

/// Takes the session directory's lock for `verb` (apply, discard), or says why not.
pub fn lock(session: &Dir, name: &str, verb: &str) -> Result<InUse> {
    let file = fs::File::from(
        session
            .reopen()
            .with_context(|| format!("opening the session {}", quote(session.path())))?,
    );
    use std::os::fd::AsRawFd;
    match crate::sys::try_lock_exclusive(file.as_raw_fd()) {
        Ok(true) => Ok(InUse { _dir: file }),
        Ok(false) => bail!(
            "refusing to {verb} the session {}: the sandbox writing it is still running; {verb} it once that ends",
            quote(name)
        ),
        Err(e) => bail!(
            "locking the session {}: {}",
            quote(session.path()),
            crate::error::strerror(e)
        ),
    }
}

/// The sessions directory, checked like the state directory (state::files::Dir): a plain
/// directory of ours that no one else may enter, so no one else can plant a session in it or
/// swap one for a symlink. Made (0700) when `create`; None when it doesn't exist.
pub fn open_sessions(env: &[(OsString, OsString)], create: bool) -> Result<Option<Dir>> {
    open_sessions_at(&sessions_dir(env)?, create)
}

fn open_sessions_at(path: &Path, create: bool) -> Result<Option<Dir>> {
    crate::private::open(path, create, "the sessions directory", |why| {
        refused(format!("the sessions directory {}", quote(path)), why)
    })
}

/// `what` (a directory) refused, in one sentence.
fn refused(what: String, why: Refusal) -> anyhow::Error {
    match why {
        Refusal::NotADirectory => anyhow!("{what} is not a plain directory; refusing to use it"),
        Refusal::NotOurs(owner) => {
            anyhow!("{what} belongs to uid {owner}, not to you; refusing to use it")
        }
        Refusal::OpenToOthers(mode) => {
            anyhow!("{what} is open to other users (mode {mode:o}); refusing to use it")
        }
        Refusal::Io(e) => anyhow!("opening {what}: {e}"),
    }
}

/// The session `name` in `sessions`, checked the same way.
fn open_session(sessions: &Dir, name: &str) -> Result<Dir> {
    sessions.subdir(name).map_err(|why| match why {
        Refusal::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow!("no session named {}", quote(name))
        }
        why => refused(
            format!(
                "the session {} at {}",
                quote(name),
                quote(sessions.path().join(name))
            ),
            why,
        ),
    })
}

/// Creates the session's directories before the sandbox starts, and holds it (see InUse).
pub fn begin(spec: &crate::spec::Sandbox, plan: &crate::plan::Plan) -> Result<Option<InUse>> {
    let Some(cow) = &spec.cow else {
        return Ok(None);
    };
    let sessions = open_sessions_at(cow.dir.parent().unwrap_or(Path::new("/")), true)?
        .ok_or_else(|| anyhow!("the sessions directory is gone"))?;
    match sessions.mkdir(&cow.name) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "--cow: a session named {} exists; see `ns-rootless diff {0}`, then apply or discard it",
            quote(&cow.name)
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("creating the session {}", quote(&cow.dir)))
        }
    }
    let mut layers = Vec::new();
    match &spec.root {
        Root::Dir(d) => layers.push(Layer {
            key: ROOT.into(),
            target: Some(d.clone()),
            target_id: None,
            dst: "/".into(),
            image_layers: Vec::new(),
            mount_points: mount_points(plan),
        }),
        Root::Image(image) => layers.push(Layer {
            key: ROOT.into(),
            target: None,
            target_id: None,
            dst: "/".into(),
            image_layers: image.layers.iter().rev().cloned().collect(),
            mount_points: mount_points(plan),
        }),
        Root::Host | Root::Bundle(_) => {}
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        if let MountSpec::Bind {
            src,
            dst,
            readonly: false,
            dir: true,
        } = m
        {
            layers.push(Layer {
                key: i.to_string(),
                target: Some(src.clone()),
                target_id: None,
                dst: dst.clone(),
                image_layers: Vec::new(),
                mount_points: Vec::new(),
            });
        }
    }
    let made = (|| -> Result<InUse> {
        let session = open_session(&sessions, &cow.name)?;
        let in_use = lock(&session, &cow.name, "use")?;
        for l in &mut layers {
            if let Some(target) = &l.target {
                let m = fs::symlink_metadata(target)
                    .with_context(|| format!("reading {}", quote(target)))?;
                l.target_id = Some((m.dev(), m.ino()));
            }
        }
        for top in [UPPER, WORK] {
            session.mkdir(top)?;
            let top = session
                .subdir(top)
                .map_err(|why| refused(top.into(), why))?;
            for l in &layers {
                top.mkdir(&l.key)?;
            }
        }
        let started = nix::sys::stat::fstat(&session.reopen()?)?;
        let meta = Meta {
            name: cow.name.clone(),
            started: started.st_ctime as i128 * 1_000_000_000 + started.st_ctime_nsec as i128,
            layers,
        };
        session.replace(META, &serde_json::to_vec_pretty(&meta)?)?;
        Ok(in_use)
    })();
    match made {
        Ok(in_use) => Ok(Some(in_use)),
        Err(e) => {
            let _ = sessions.remove_tree(&cow.name);
            Err(e.context(format!("creating the session {}", quote(&cow.dir))))
        }
    }
}

/// Where setup mounts in the root, with the directories on the way (relative to the root).
/// Those the root lacks, setup makes in the root's upper before the command runs, and a
/// mount covers each of them while it runs: they are setup's, not the session's changes, so
/// diff leaves them out and apply adds none to a rootfs. (What the command writes beside or
/// below them is listed as ever.)
fn mount_points(plan: &crate::plan::Plan) -> Vec<PathBuf> {
    let mut all = std::collections::BTreeSet::new();
    for s in &plan.steps {
        if s.if_exists {
            continue; // never made
        }
        let rel = s.dst.strip_prefix("/").unwrap_or(&s.dst);
        all.extend(
            rel.ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .map(Path::to_path_buf),
        );
    }
    all.into_iter().collect()
}

/// After the run: tell the user what to do with a session whose name they didn't choose.
pub fn end(cow: Option<&crate::spec::Cow>) {
    use std::io::Write;
    if let Some(cow) = cow.filter(|c| c.generated) {
        let n = &cow.name;
        let _ = writeln!(
            std::io::stderr(),
            "ns-rootless: session {n} kept: ns-rootless diff {n} | ns-rootless apply {n} | ns-rootless discard {n}"
        );
    }
}

/// An open session: its directory (checked) and what session.json says of it.
pub struct Opened {
    pub sessions: Dir,
    pub dir: Dir,
    pub meta: Meta,
}

impl Opened {
    /// The upper directory of the layer `key`, opened beneath the session (no symlink).
    pub fn upper(&self, key: &str) -> Result<std::os::fd::OwnedFd> {
        let rel = Path::new(UPPER).join(key);
        let root = self.dir.reopen()?;
        crate::image::tree::open_dir(&root, &rel).with_context(|| {
            format!(
                "opening the session's {}",
                quote(self.dir.path().join(&rel))
            )
        })
    }

    /// Removes the session.
    pub fn remove(&self) -> Result<()> {
        self.sessions
            .remove_tree(&self.meta.name)
            .with_context(|| format!("removing the session {}", quote(self.dir.path())))
    }
}

/// The largest session.json read: far more than any real one.
const MAX_META: u64 = 1 << 20;

pub fn load(env: &[(OsString, OsString)], name: &str) -> Result<Opened> {
    crate::state::validate_name(name)
        .map_err(|_| anyhow!("invalid session name {}", quote(name)))?;
    let sessions =
        open_sessions(env, false)?.ok_or_else(|| anyhow!("no session named {}", quote(name)))?;
    let dir = open_session(&sessions, name)?;
    let mut meta = read_meta(&dir)?;
    // The name it is kept under is the one removed (a copied session.json may say another).
    meta.name = name.to_string();
    Ok(Opened {
        sessions,
        dir,
        meta,
    })
}

fn read_meta(dir: &Dir) -> Result<Meta> {
    let text = dir
        .read(META, MAX_META)
        .map_err(|e| anyhow!("reading the session {}: {e}", quote(dir.path().join(META))))?;
    serde_json::from_slice(&text)
        .with_context(|| format!("reading the session {}", quote(dir.path().join(META))))
}

/// The image layers (their roots in the store) that the user's sessions compare their
/// roots' changes with: `images --prune` keeps them while the sessions exist. A session
/// whose session.json can't be read has nothing diff could use either.
pub fn image_layers_in_use(env: &[(OsString, OsString)]) -> Result<Vec<PathBuf>> {
    let Some(sessions) = open_sessions(env, false)? else {
        return Ok(Vec::new());
    };
    let names = sessions
        .reopen()
        .and_then(|d| crate::image::tree::list(&d))
        .with_context(|| format!("reading the sessions directory {}", quote(sessions.path())))?;
    let mut layers = Vec::new();
    for name in names {
        let Some(meta) = name
            .to_str()
            .and_then(|n| open_session(&sessions, n).ok())
            .and_then(|dir| read_meta(&dir).ok())
        else {
            continue;
        };
        layers.extend(meta.layers.into_iter().flat_map(|l| l.image_layers));
    }
    Ok(layers)
}

pub fn discard(env: &[(OsString, OsString)], name: &str) -> Result<u8> {
    let session = load(env, name)?;
    let _in_use = lock(&session.dir, name, "discard")?;
    session.remove()?;
    Ok(0)
}
