//! Layers: in host mode, a host directory in which a user's destination needs a mount point
//! that doesn't exist becomes a directory of the sandbox's own root tmpfs, whose entries are
//! read-only binds of the host directory's (its symlinks recreated), as the root's top-level
//! entries are. The missing mount point is then made in sandbox-owned tmpfs: nothing is ever
//! created on the host, and the host directory's other entries stay visible, read-only.
//!
//! Only real directories of the host's root are layered, walked from the top without following
//! a symlink: a destination reached through a symlink, or under an earlier user mount (a
//! read-write bind is the user's own directory, where they can create the mount point
//! themselves), is left as before, and refused when its mount point is missing.

use super::{step, Action, RootEntry, Step, MASKED, REPLACED};
use crate::spec::{Root, Spec, UserMount};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// Listings of host directories (absolute paths), gathered before fork.
pub type HostDirs = BTreeMap<PathBuf, Vec<RootEntry>>;

/// The user destinations that may need layers, and for each, the host directories to list:
/// its ancestors below `/` (top first). Empty unless in host mode. The caller lists each while
/// it is a real directory (not a symlink), and only for a destination missing on the host.
pub fn candidates(spec: &Spec) -> Vec<(&Path, Vec<PathBuf>)> {
    if !matches!(spec.root, Root::Host) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, m) in spec.mounts.iter().enumerate() {
        let dst = m.dst();
        if matches!(m, UserMount::Hide { .. }) || under_earlier(&spec.mounts[..i], dst) {
            continue;
        }
        let names = names(dst);
        let Some(top) = names.first() else { continue };
        if REPLACED.iter().chain(MASKED.iter()).any(|r| top == r) {
            continue;
        }
        let mut dir = PathBuf::from("/");
        let mut ancestors = Vec::new();
        for name in &names[..names.len() - 1] {
            dir.push(name);
            ancestors.push(dir.clone());
        }
        if !ancestors.is_empty() {
            out.push((dst, ancestors));
        }
    }
    out
}

/// Whether `dst` is at or under the destination of one of `earlier` (a --hide covers what is
/// there and makes nothing).
fn under_earlier(earlier: &[UserMount], dst: &Path) -> bool {
    earlier
        .iter()
        .filter(|m| !matches!(m, UserMount::Hide { .. }))
        .any(|m| dst.starts_with(m.dst()))
}

fn names(path: &Path) -> Vec<&std::ffi::OsStr> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn find<'a>(entries: &'a [RootEntry], name: &std::ffi::OsStr) -> Option<&'a RootEntry> {
    entries.iter().find(|e| super::entry_name(e) == name)
}

/// The host directories that become layers: for each candidate destination missing on the
/// host, every directory from the top down to the deepest one that exists.
pub fn layers(spec: &Spec, top: &[RootEntry], dirs: &HostDirs) -> BTreeSet<PathBuf> {
    let mut layers = BTreeSet::new();
    for (dst, _) in candidates(spec) {
        let names = names(dst);
        let mut chain = Vec::new();
        let mut dir = PathBuf::from("/");
        let mut entries = top;
        for (i, name) in names.iter().enumerate() {
            match find(entries, name) {
                // Missing here: the mount point (or a directory on the way to it) must be made,
                // in layers of every directory above it. At the top, the root is ours already.
                None => {
                    layers.extend(chain.drain(..));
                    break;
                }
                Some(RootEntry::Dir(_)) if i + 1 < names.len() => {
                    dir.push(name);
                    match dirs.get(&dir) {
                        Some(listed) => {
                            chain.push(dir.clone());
                            entries = listed;
                        }
                        // Not listed (unreadable, or changed since): as before.
                        None => break,
                    }
                }
                // The destination exists, or a file or a symlink is on the way: as before.
                Some(_) => break,
            }
        }
    }
    layers
}

/// The steps of the layer `dir` (made, then each host entry bound read-only or its symlink
/// recreated), and of the layers inside it, parents first.
pub fn steps(dir: &Path, layers: &BTreeSet<PathBuf>, dirs: &HostDirs, steps: &mut Vec<Step>) {
    steps.push(step(dir, Action::Dir));
    for entry in dirs.get(dir).map(Vec::as_slice).unwrap_or_default() {
        let dst = dir.join(super::entry_name(entry));
        match entry {
            RootEntry::Symlink(_, target) => steps.push(step(
                &dst,
                Action::Symlink {
                    target: target.clone(),
                },
            )),
            RootEntry::Dir(_) if layers.contains(&dst) => self::steps(&dst, layers, dirs, steps),
            RootEntry::Dir(_) | RootEntry::File(_) => steps.push(step(
                &dst,
                Action::Bind {
                    src: dst.clone(),
                    readonly: true,
                    dir: matches!(entry, RootEntry::Dir(_)),
                    device: false,
                },
            )),
        }
    }
}
