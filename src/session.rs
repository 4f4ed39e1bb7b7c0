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
use crate::spec::{Root, UserMount};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The name of the root's upper and work directories.
pub const ROOT: &str = "root";

/// A session's upper and work directories for the mount named `key`.
pub fn layout(dir: &Path, key: &str) -> (PathBuf, PathBuf) {
    (dir.join("upper").join(key), dir.join("work").join(key))
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
    let base = crate::image::store::xdg_dir(
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
    mounts: &[UserMount],
) -> Result<crate::spec::Cow> {
    let (name, generated) = match name {
        Some(n) => (n.to_string(), false),
        None => (crate::image::store::random_hex(), true),
    };
    let dir = session_dir(env, &name)?;
    // overlayfs refuses an upper inside one of its lowers (and the other way round).
    let lowers = mounts.iter().filter_map(|m| match m {
        UserMount::Bind {
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
        if let UserMount::Bind {
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
pub fn lock(dir: &Path, name: &str, verb: &str) -> Result<InUse> {
    let file =
        fs::File::open(dir).with_context(|| format!("opening the session {}", quote(dir)))?;
    use std::os::fd::AsRawFd;
    match crate::sys::try_lock_exclusive(file.as_raw_fd()) {
        Ok(true) => Ok(InUse { _dir: file }),
        Ok(false) => bail!(
            "refusing to {verb} the session {}: the sandbox writing it is still running; {verb} it once that ends",
            quote(name)
        ),
        Err(e) => bail!(
            "locking the session {}: {}",
            quote(dir),
            crate::error::strerror(e)
        ),
    }
}

/// Creates the session's directories before the sandbox starts, and holds it (see InUse).
pub fn begin(spec: &crate::spec::Spec) -> Result<Option<InUse>> {
    let Some(cow) = &spec.cow else {
        return Ok(None);
    };
    let parent = cow.dir.parent().unwrap_or(Path::new("/"));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .with_context(|| format!("creating the sessions directory {}", quote(parent)))?;
    match fs::DirBuilder::new().mode(0o700).create(&cow.dir) {
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
            mount_points: mount_points(spec),
        }),
        Root::Image(image) => layers.push(Layer {
            key: ROOT.into(),
            target: None,
            target_id: None,
            dst: "/".into(),
            image_layers: image.layers.iter().rev().cloned().collect(),
            mount_points: mount_points(spec),
        }),
        Root::Host => {}
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        if let UserMount::Bind {
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
        let in_use = lock(&cow.dir, &cow.name, "use")?;
        for l in &mut layers {
            if let Some(target) = &l.target {
                let m = fs::symlink_metadata(target)
                    .with_context(|| format!("reading {}", quote(target)))?;
                l.target_id = Some((m.dev(), m.ino()));
            }
        }
        for l in &layers {
            let (upper, work) = layout(&cow.dir, &l.key);
            for d in [upper, work] {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&d)?;
            }
        }
        let started = fs::metadata(&cow.dir)?;
        let meta = Meta {
            name: cow.name.clone(),
            started: started.ctime() as i128 * 1_000_000_000 + started.ctime_nsec() as i128,
            layers,
        };
        crate::image::store::write_atomic(
            &cow.dir.join("session.json"),
            &serde_json::to_vec_pretty(&meta)?,
        )?;
        Ok(in_use)
    })();
    match made {
        Ok(in_use) => Ok(Some(in_use)),
        Err(e) => {
            let _ = crate::image::store::remove_tree(&cow.dir);
            Err(e.context(format!("creating the session {}", quote(&cow.dir))))
        }
    }
}

/// Where setup mounts in the root, with the directories on the way (relative to the root).
/// Those the root lacks, setup makes in the root's upper before the command runs, and a
/// mount covers each of them while it runs: they are setup's, not the session's changes, so
/// diff leaves them out and apply adds none to a rootfs. (What the command writes beside or
/// below them is listed as ever.)
fn mount_points(spec: &crate::spec::Spec) -> Vec<PathBuf> {
    let mut all = std::collections::BTreeSet::new();
    // An overlay root's plan has no entry binds: the entries aren't needed.
    for s in crate::plan::plan(spec, &[], &crate::hostrun::read(spec)).steps {
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

pub fn load(env: &[(OsString, OsString)], name: &str) -> Result<(PathBuf, Meta)> {
    let dir = session_dir(env, name)?;
    let text = fs::read(dir.join("session.json")).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("no session named {}", quote(name)),
        _ => anyhow!("reading the session {}: {e}", quote(&dir)),
    })?;
    let meta: Meta = serde_json::from_slice(&text)
        .with_context(|| format!("reading the session {}", quote(&dir)))?;
    Ok((dir, meta))
}

pub fn discard(env: &[(OsString, OsString)], name: &str) -> Result<u8> {
    let (dir, _) = load(env, name)?;
    let _in_use = lock(&dir, name, "discard")?;
    crate::image::store::remove_tree(&dir)
        .with_context(|| format!("removing the session {}", quote(&dir)))?;
    Ok(0)
}
