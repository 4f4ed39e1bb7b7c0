//! Our private directories (private.rs) in the plan: masked wherever a bind would show
//! them to the sandbox.

use super::{mask, mask_file, optional, root_model, step, Action, RootModel, Step};
use crate::spec::{Root, Sandbox};
use std::path::{Path, PathBuf};

/// Masks each of the caller's private directories wherever a bind shows it (`-w` run from
/// /tmp or $HOME, a bind of $XDG_RUNTIME_DIR, a rootfs holding it): `exec` trusts the state
/// directory, every image its layers, `apply` the sessions' uppers, so no sandbox may read
/// them, plant anything in them or replace them. After every bind, so none can uncover them
/// again. Returns whether any bind shows one.
pub(super) fn masks(steps: &mut Vec<Step>, spec: &Sandbox) -> bool {
    let mut masks = Vec::new();
    for dir in &spec.private_dirs {
        // A --rootfs kept copy-on-write is an overlay root: no entry binds for the masks to find.
        if let (Root::Dir(root), RootModel::Overlay { .. }) = (&spec.root, root_model(spec)) {
            if let Ok(rel) = dir.strip_prefix(root) {
                masks.push(optional(step(Path::new("/").join(rel), mask())));
            }
        }
        masks_of(steps, dir, &mut masks);
    }
    let shown = !masks.is_empty();
    steps.append(&mut masks);
    shown
}

/// Adds to `masks` what hides `private` from each of `steps`.
fn masks_of(steps: &[Step], private: &Path, masks: &mut Vec<Step>) {
    for (i, s) in steps.iter().enumerate() {
        // A --cow overlay shows its lower like a bind (its intermediate directories need no
        // bind onto themselves: renaming a lower directory in an overlay gives EXDEV).
        let (src, dir, readonly, cow) = match &s.action {
            Action::Bind {
                src, dir, readonly, ..
            } => (src, dir, readonly, false),
            Action::Overlay { lower, .. } => (lower, &true, &false, true),
            _ => continue,
        };
        if let Ok(rel) = private.strip_prefix(src) {
            let place = s.dst.join(rel);
            // Something mounted later on its place or above (host mode's empty /run)
            // hides it from this bind: then masks here would only uncover what that hides.
            if steps[i + 1..]
                .iter()
                .any(|later| place.starts_with(&later.dst))
            {
                continue;
            }
            // Each directory between the bind and the private one is bound onto itself: a mount
            // point can't be renamed or removed (EBUSY), so the sandbox can't move ours away
            // and make its own where ns-rootless looks for it. (Once: the private directories
            // share ancestors, e.g. $HOME/.local.)
            let mut below = PathBuf::new();
            let parts: Vec<_> = rel.iter().collect();
            let between = if cow {
                0
            } else {
                parts.len().saturating_sub(1)
            };
            for part in parts.iter().take(between) {
                below.push(part);
                let pin = s.dst.join(&below);
                if masks.iter().any(|m| m.dst == pin) {
                    continue;
                }
                masks.push(optional(step(
                    pin,
                    Action::Bind {
                        src: src.join(&below),
                        readonly: *readonly,
                        dir: true,
                        device: false,
                    },
                )));
            }
            masks.push(optional(step(place, mask())));
        } else if src.starts_with(private) {
            // A bind of something inside it: hidden whole.
            let action = if *dir { mask() } else { mask_file() };
            masks.push(step(&s.dst, action));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan, spec};
    use super::super::RootEntry;
    use super::*;
    use crate::spec::{MountSpec, Root};

    /// The destinations of the last `n` steps.
    fn last_dsts(steps: &[Step], n: usize) -> Vec<PathBuf> {
        steps[steps.len() - n..]
            .iter()
            .map(|st| st.dst.clone())
            .collect()
    }

    #[test]
    fn the_state_dir_is_masked_wherever_a_bind_shows_it() {
        let mut s = spec(Root::Host, false);
        s.private_dirs = vec!["/tmp/ns-rootless-1000".into()];
        let bind = |src: &str, dst: &str, readonly| MountSpec::Bind {
            src: src.into(),
            dst: dst.into(),
            readonly,
            dir: true,
        };
        s.mounts = vec![
            bind("/tmp", "/work", false),
            bind("/tmp/ns-rootless-1000/box", "/box", true),
            bind("/srv", "/srv", false),
        ];
        let p = plan(&s, &[]);
        assert!(p.shows_private);
        let steps = p.steps;
        let tail: Vec<_> = steps[steps.len() - 2..]
            .iter()
            .map(|st| (st.dst.clone(), st.action.clone(), st.if_exists))
            .collect();
        assert_eq!(
            tail,
            [
                ("/work/ns-rootless-1000".into(), mask(), true),
                ("/box".into(), mask(), false)
            ]
        );
        // Read-only binds show it too (masked), but only a writable one lets a sandbox make it.
        // Deeper: the directories in between are pinned (mount points can't be renamed).
        s.mounts = vec![bind("/home", "/h", false)];
        s.private_dirs = vec!["/home/u/run/ns-rootless".into()];
        let steps = plan(&s, &[]).steps;
        assert_eq!(
            last_dsts(&steps, 3),
            [
                PathBuf::from("/h/u"),
                "/h/u/run".into(),
                "/h/u/run/ns-rootless".into()
            ]
        );
        assert_eq!(
            steps[steps.len() - 2].action,
            Action::Bind {
                src: "/home/u/run".into(),
                readonly: false,
                dir: true,
                device: false
            }
        );
        s.private_dirs = vec!["/tmp/ns-rootless-1000".into()];
        s.mounts = vec![bind("/tmp", "/tmp", true)];
        let p = plan(&s, &[]);
        assert!(p.shows_private);
        assert_eq!(
            p.steps.last().unwrap().dst,
            Path::new("/tmp/ns-rootless-1000")
        );
        s.mounts.clear();
        s.root = Root::Dir("/tmp".into());
        let entries = [RootEntry::Dir("ns-rootless-1000".into())];
        assert!(plan(&s, &entries).shows_private);
        // Host mode hides /run whole: no bind of its shows a private directory.
        s.root = Root::Host;
        s.private_dirs = vec!["/run/user/1000/ns-rootless".into()];
        let p = plan(&s, &[RootEntry::Dir("run".into())]);
        assert!(!p.shows_private);
        assert!(
            !p.steps
                .iter()
                .any(|st| st.dst.starts_with("/run/user/1000")),
            "a pin or mask under the /run/user mask would uncover what it hides: {:?}",
            p.steps
        );
        // Nor over a user's later mount on the way.
        s.private_dirs = vec!["/tmp/ns-rootless-1000".into()];
        s.mounts = vec![
            bind("/tmp", "/tmp", false),
            MountSpec::Tmpfs {
                dst: "/tmp".into(),
                size: 1,
            },
        ];
        assert!(!plan(&s, &[]).shows_private);
    }

    #[test]
    fn private_dirs_under_home_share_their_pins() {
        let mut s = spec(Root::Host, false);
        s.private_dirs = vec![
            "/run/user/1000/ns-rootless".into(),
            "/home/u/.local/share/ns-rootless".into(),
            "/home/u/.local/state/ns-rootless".into(),
        ];
        s.mounts = vec![MountSpec::Bind {
            src: "/home/u".into(),
            dst: "/home/u".into(),
            readonly: false,
            dir: true,
        }];
        let p = plan(&s, &[]);
        assert!(p.shows_private);
        assert_eq!(
            last_dsts(&p.steps, 5),
            [
                PathBuf::from("/home/u/.local"),
                "/home/u/.local/share".into(),
                "/home/u/.local/share/ns-rootless".into(),
                "/home/u/.local/state".into(),
                "/home/u/.local/state/ns-rootless".into(),
            ]
        );
        assert_eq!(p.steps.last().unwrap().action, mask());
    }
}
