//! The state directory in the plan: masked wherever a bind would show it to the sandbox.

use super::{mask, optional, step, Action, Step};
use std::path::{Path, PathBuf};

/// Masks the caller's state directory wherever a bind shows it (`-w` run from /tmp, a bind of
/// $XDG_RUNTIME_DIR, a rootfs holding it): `exec` trusts what is in there, so no sandbox may
/// read it, plant anything in it or replace it. After every bind, so none can uncover it again.
/// Returns whether any bind shows it.
pub(super) fn masks(steps: &mut Vec<Step>, state_dir: &Path) -> bool {
    let mut masks = Vec::new();
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
        if let Ok(rel) = state_dir.strip_prefix(src) {
            let place = s.dst.join(rel);
            // Something mounted later on its place or above (host mode's /run/user tmpfs)
            // hides it from this bind: then masks here would only uncover what that hides.
            if steps[i + 1..]
                .iter()
                .any(|later| place.starts_with(&later.dst))
            {
                continue;
            }
            // Each directory between the bind and the state dir is bound onto itself: a mount
            // point can't be renamed or removed (EBUSY), so the sandbox can't move the state
            // dir away and make its own where ns-rootless looks for it.
            let mut below = PathBuf::new();
            let parts: Vec<_> = rel.iter().collect();
            let between = if cow {
                0
            } else {
                parts.len().saturating_sub(1)
            };
            for part in parts.iter().take(between) {
                below.push(part);
                masks.push(optional(step(
                    s.dst.join(&below),
                    Action::Bind {
                        src: src.join(&below),
                        readonly: *readonly,
                        dir: true,
                        device: false,
                    },
                )));
            }
            masks.push(optional(step(place, mask())));
        } else if src.starts_with(state_dir) {
            // A bind of something inside it: hidden whole.
            let action = if *dir {
                mask()
            } else {
                Action::Bind {
                    src: "/dev/null".into(),
                    readonly: true,
                    dir: false,
                    device: true,
                }
            };
            masks.push(step(&s.dst, action));
        }
    }
    let shown = !masks.is_empty();
    steps.append(&mut masks);
    shown
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan, spec};
    use super::super::RootEntry;
    use super::*;
    use crate::spec::{Root, UserMount};

    #[test]
    fn the_state_dir_is_masked_wherever_a_bind_shows_it() {
        let mut s = spec(Root::Host, false);
        s.state_dir = "/tmp/ns-rootless-1000".into();
        let bind = |src: &str, dst: &str, readonly| UserMount::Bind {
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
        assert!(p.shows_state_dir);
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
        s.state_dir = "/home/u/run/ns-rootless".into();
        let steps = plan(&s, &[]).steps;
        let tail: Vec<_> = steps[steps.len() - 3..]
            .iter()
            .map(|st| st.dst.clone())
            .collect();
        assert_eq!(
            tail,
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
        s.state_dir = "/tmp/ns-rootless-1000".into();
        s.mounts = vec![bind("/tmp", "/tmp", true)];
        let p = plan(&s, &[]);
        assert!(p.shows_state_dir);
        assert_eq!(
            p.steps.last().unwrap().dst,
            Path::new("/tmp/ns-rootless-1000")
        );
        s.mounts.clear();
        s.root = Root::Dir("/tmp".into());
        let entries = [RootEntry::Dir("ns-rootless-1000".into())];
        assert!(plan(&s, &entries).shows_state_dir);
        // Host mode hides /run whole: no bind of its shows the state dir.
        s.root = Root::Host;
        s.state_dir = "/run/user/1000/ns-rootless".into();
        let p = plan(&s, &[RootEntry::Dir("run".into())]);
        assert!(!p.shows_state_dir);
        assert!(
            !p.steps
                .iter()
                .any(|st| st.dst.starts_with("/run/user/1000")),
            "a pin or mask under the /run/user mask would uncover what it hides: {:?}",
            p.steps
        );
        // Nor over a user's later mount on the way.
        s.state_dir = "/tmp/ns-rootless-1000".into();
        s.mounts = vec![
            bind("/tmp", "/tmp", false),
            UserMount::Tmpfs {
                dst: "/tmp".into(),
                size: 1,
            },
        ];
        assert!(!plan(&s, &[]).shows_state_dir);
    }
}
