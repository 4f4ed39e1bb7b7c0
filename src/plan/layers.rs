//! Layers: in host mode, a host directory in which a user's destination needs a mount point
//! that doesn't exist becomes a directory of the sandbox's own root tmpfs, whose entries are
//! read-only binds of the host directory's (its symlinks recreated), as the root's top-level
//! entries are. The missing mount point is then made in sandbox-owned tmpfs: nothing is ever
//! created on the host, and the host directory's other entries stay visible, read-only.
//!
//! Only real directories of the host's root are layered, walked from the top without following
//! a symlink: a destination reached through a symlink, or under an earlier user mount (a
//! read-write bind is the user's own directory, where they can create the mount point
//! themselves), is left as before, and refused when its mount point is missing. Nor is one of
//! our private directories or anything inside it (private.rs): a layer of it would list the
//! names in it (named sandboxes, images, sessions) and hold its entries' masks as the only
//! thing between them and the sandbox; a destination there is refused as before.

use super::{step, Action, RootEntry, Step, MASKED, REPLACED};
use crate::spec::{MountSpec, Root, Sandbox};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// Listings of host directories (absolute paths), gathered before fork.
pub type HostDirs = BTreeMap<PathBuf, Vec<RootEntry>>;

/// The user destinations that may need layers, and for each, the host directories to list:
/// its ancestors below `/` (top first). Empty unless in host mode. The caller lists each while
/// it is a real directory (not a symlink), and only for a destination missing on the host.
pub fn candidates(spec: &Sandbox) -> Vec<(&Path, Vec<PathBuf>)> {
    if !matches!(spec.root, Root::Host) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, m) in spec.mounts.iter().enumerate() {
        let dst = m.dst();
        if matches!(m, MountSpec::Hide { .. }) || under_earlier(&spec.mounts[..i], dst) {
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
            if private(spec, &dir) {
                break;
            }
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
fn under_earlier(earlier: &[MountSpec], dst: &Path) -> bool {
    earlier
        .iter()
        .filter(|m| !matches!(m, MountSpec::Hide { .. }))
        .any(|m| dst.starts_with(m.dst()))
}

/// Whether `dir` is one of the caller's private directories or inside one (both canonical
/// where it matters: a layered directory is reached through real directories only).
fn private(spec: &Sandbox, dir: &Path) -> bool {
    spec.private_dirs.iter().any(|p| dir.starts_with(p))
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
pub fn layers(spec: &Sandbox, top: &[RootEntry], dirs: &HostDirs) -> BTreeSet<PathBuf> {
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
                    if private(spec, &dir) {
                        break;
                    }
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

#[cfg(test)]
mod tests {
    use super::super::tests::{entries, plan, spec};
    use super::*;

    fn bind(src: &str, dst: &str, readonly: bool) -> MountSpec {
        MountSpec::Bind {
            src: src.into(),
            dst: dst.into(),
            readonly,
            dir: true,
        }
    }

    fn with_opt() -> Vec<RootEntry> {
        let mut e = entries();
        e.push(RootEntry::Dir("opt".into()));
        e
    }

    fn dirs(listed: &[(&str, Vec<RootEntry>)]) -> HostDirs {
        listed
            .iter()
            .map(|(d, e)| (PathBuf::from(d), e.clone()))
            .collect()
    }

    fn opt_listing() -> Vec<RootEntry> {
        vec![
            RootEntry::Dir("app".into()),
            RootEntry::File("notes".into()),
            RootEntry::Symlink("link".into(), "app/bin".into()),
        ]
    }

    fn plan_with(
        s: &crate::spec::Sandbox,
        top: &[RootEntry],
        dirs: &HostDirs,
    ) -> super::super::Plan {
        super::super::build(s, top, &Default::default(), dirs)
    }

    fn at<'a>(p: &'a super::super::Plan, dst: &str) -> Vec<&'a Action> {
        p.steps
            .iter()
            .filter(|s| s.dst == Path::new(dst))
            .map(|s| &s.action)
            .collect()
    }

    #[test]
    fn a_missing_mount_point_under_a_host_dir_makes_it_a_layer_of_read_only_binds() {
        let mut s = spec(Root::Host, false);
        s.mounts = vec![bind("/home/u/data", "/opt/x/y", false)];
        let p = plan_with(&s, &with_opt(), &dirs(&[("/opt", opt_listing())]));
        // /opt itself is made in the root tmpfs, not bound: nothing is created on the host.
        assert_eq!(at(&p, "/opt"), [&Action::Dir]);
        assert_eq!(
            at(&p, "/opt/app"),
            [&Action::Bind {
                src: "/opt/app".into(),
                readonly: true,
                dir: true,
                device: false
            }]
        );
        assert!(matches!(
            at(&p, "/opt/notes")[..],
            [Action::Bind {
                readonly: true,
                dir: false,
                ..
            }]
        ));
        assert_eq!(
            at(&p, "/opt/link"),
            [&Action::Symlink {
                target: "app/bin".into()
            }]
        );
        // Nothing more: /opt/x is made by the user's step, as a mount point in the layer.
        assert!(at(&p, "/opt/x").is_empty());
        let pos = |d: &str| p.steps.iter().position(|st| st.dst == Path::new(d));
        assert!(pos("/opt") < pos("/opt/app") && pos("/opt/link") < pos("/opt/x/y"));
        assert!(p
            .steps
            .iter()
            .all(|st| !st.follow || !st.dst.starts_with("/opt")));
    }

    #[test]
    fn nested_host_dirs_each_become_a_layer_parents_first() {
        let mut s = spec(Root::Host, false);
        s.mounts = vec![bind("/d", "/usr/share/new/sub", true)];
        let listed = dirs(&[
            (
                "/usr",
                vec![RootEntry::Dir("lib".into()), RootEntry::Dir("share".into())],
            ),
            ("/usr/share", vec![RootEntry::Dir("doc".into())]),
        ]);
        let p = plan_with(&s, &entries(), &listed);
        assert_eq!(at(&p, "/usr"), [&Action::Dir]);
        assert_eq!(at(&p, "/usr/share"), [&Action::Dir]);
        assert!(matches!(at(&p, "/usr/lib")[..], [Action::Bind { .. }]));
        assert!(matches!(
            at(&p, "/usr/share/doc")[..],
            [Action::Bind { .. }]
        ));
        let pos = |d: &str| p.steps.iter().position(|st| st.dst == Path::new(d));
        assert!(pos("/usr") < pos("/usr/lib") && pos("/usr/share") < pos("/usr/share/doc"));
    }

    #[test]
    fn no_layer_where_the_mount_point_exists_or_is_reached_otherwise() {
        let listed = dirs(&[("/opt", opt_listing())]);
        let whole_opt = |p: &super::super::Plan| {
            matches!(at(p, "/opt")[..], [Action::Bind { readonly: true, .. }])
                && !p.steps.iter().any(|st| {
                    st.dst.starts_with("/opt") && matches!(st.action, Action::Symlink { .. })
                })
        };
        let mut s = spec(Root::Host, false);
        for dst in [
            "/opt/app",     // exists: mounted over
            "/opt/link/x",  // through a symlink: never followed
            "/opt/notes/x", // under a file: fails as before
            "/newtop/x",    // missing at the top: the root is ours
            "/tmp/x",       // the sandbox's own /tmp
            "/home/u/x",    // under a mask
        ] {
            s.mounts = vec![bind("/d", dst, true)];
            assert!(whole_opt(&plan_with(&s, &with_opt(), &listed)), "{dst}");
        }
        // A host dir that couldn't be listed: as before.
        s.mounts = vec![bind("/d", "/opt/x", true)];
        assert!(whole_opt(&plan_with(&s, &with_opt(), &HostDirs::new())));
        // Under an earlier mount of the user's (a read-write bind is their own directory).
        s.mounts = vec![bind("/home/u/d", "/opt", false), bind("/d", "/opt/x", true)];
        let p = plan_with(&s, &with_opt(), &listed);
        assert!(at(&p, "/opt/app").is_empty() && !at(&p, "/opt").contains(&&Action::Dir));
        // A --hide before it makes nothing, so doesn't count.
        s.mounts = vec![
            MountSpec::Hide { dst: "/opt".into() },
            bind("/d", "/opt/x", true),
        ];
        assert_eq!(
            at(&plan_with(&s, &with_opt(), &listed), "/opt")[0],
            &Action::Dir
        );
        // Not with a rootfs: its directories are the user's, bound read-write.
        let mut s = spec(Root::Dir("/r".into()), false);
        s.mounts = vec![bind("/d", "/opt/x", true)];
        assert!(candidates(&s).is_empty());
        let p = plan_with(&s, &with_opt(), &listed);
        assert!(matches!(
            at(&p, "/opt")[..],
            [Action::Bind {
                readonly: false,
                ..
            }]
        ));
    }

    #[test]
    fn no_layer_of_a_private_dir_or_inside_one() {
        let mut s = spec(Root::Host, false);
        s.private_dirs = vec!["/opt/state/ns-rootless".into()];
        let listed = dirs(&[
            ("/opt", vec![RootEntry::Dir("state".into())]),
            ("/opt/state", vec![RootEntry::Dir("ns-rootless".into())]),
            (
                "/opt/state/ns-rootless",
                vec![RootEntry::Dir("sandbox".into())],
            ),
            ("/opt/state/ns-rootless/sandbox", vec![]),
        ]);
        for dst in [
            "/opt/state/ns-rootless/x",
            "/opt/state/ns-rootless/sandbox/x",
        ] {
            s.mounts = vec![bind("/d", dst, true)];
            let ancestors = &candidates(&s)[0].1;
            assert_eq!(ancestors, &[PathBuf::from("/opt"), "/opt/state".into()]);
            let p = plan_with(&s, &with_opt(), &listed);
            assert!(matches!(at(&p, "/opt")[0], Action::Bind { .. }), "{dst}");
            assert!(at(&p, "/opt/state/ns-rootless/sandbox").is_empty(), "{dst}");
        }
        // Beside it: a layer, whose entry of it the private masks hide.
        s.mounts = vec![bind("/d", "/opt/state/x", true)];
        let p = plan_with(&s, &with_opt(), &listed);
        assert_eq!(at(&p, "/opt/state"), [&Action::Dir]);
        assert!(matches!(
            at(&p, "/opt/state/ns-rootless")[..],
            [Action::Bind { .. }, Action::Scratch { readonly: true, .. }]
        ));
    }

    #[test]
    fn candidates_name_the_ancestors_to_list_top_first() {
        let mut s = spec(Root::Host, false);
        s.mounts = vec![
            bind("/d", "/opt/a/b/c", true),
            bind("/d", "/opt/a/b/c/d", true),
            bind("/d", "/tmp/x", true),
            bind("/d", "/top", true),
            MountSpec::Hide {
                dst: "/srv/x".into(),
            },
        ];
        let c = candidates(&s);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].0, Path::new("/opt/a/b/c"));
        let want: Vec<PathBuf> = ["/opt", "/opt/a", "/opt/a/b"].map(PathBuf::from).into();
        assert_eq!(c[0].1, want);
        let _ = plan(&s, &entries());
    }
}
