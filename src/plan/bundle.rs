//! The bundle root model (an OCI container's): the rootfs bound onto itself is `/`, and the
//! steps are the config's mounts in order, the default devices, then its masks. Nothing of the
//! host is bound unless a mount asks for it.

use super::{step, Action, Step, DEVICES, DEV_LINKS};
use crate::spec::{Bundle, MountSpec};
use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use std::path::Path;

/// The steps for a bundle root with `mounts` (the config's, then its masks).
pub fn steps(bundle: &Bundle, mounts: &[MountSpec]) -> Vec<Step> {
    let is_mask = |m: &&MountSpec| matches!(m, MountSpec::Hide { .. } | MountSpec::ReadOnly { .. });
    let mut out: Vec<Step> = mounts
        .iter()
        .filter(|m| !is_mask(m))
        .map(|m| {
            let mut s = step(m.dst(), action(bundle, m));
            // Resolved inside the new root (RESOLVE_IN_ROOT), so a symlink can't lead out of
            // it; images have links like /var/run -> ../run that mounts go through.
            s.follow = true;
            s
        })
        .collect();
    let fresh_dev = mounts.iter().any(|m| {
        matches!(m, MountSpec::Filesystem { dst, fstype, .. }
            if dst == Path::new("/dev") && fstype == "tmpfs")
    });
    default_devices(fresh_dev, &mut out);
    // maskedPaths then readonlyPaths: skipped where nothing exists, never through a symlink.
    // user_step makes a mask's step optional already.
    out.extend(
        mounts
            .iter()
            .filter(is_mask)
            .map(|m| super::user_step(m, None)),
    );
    out
}

/// A config mount: sysfs only where the sandbox owns the network namespace, cgroup2 only in a
/// cgroup namespace of its own; else the host's, read-only.
fn action(bundle: &Bundle, m: &MountSpec) -> Action {
    match m {
        MountSpec::Filesystem { fstype, .. } if fstype == "sysfs" && !bundle.owns_net => {
            bind_host_ro("/sys")
        }
        MountSpec::Filesystem { fstype, .. }
            if (fstype == "cgroup" || fstype == "cgroup2") && !bundle.owns_cgroup =>
        {
            bind_host_ro("/sys/fs/cgroup")
        }
        MountSpec::Filesystem {
            fstype,
            source,
            attrs,
            propagation,
            ..
        } if fstype == "cgroup" || fstype == "cgroup2" => Action::Filesystem {
            fstype: "cgroup2".into(),
            source: source.clone(),
            options: vec![],
            attrs: *attrs,
            propagation: *propagation,
        },
        other => super::user_step(other, None).action,
    }
}

fn bind_host_ro(path: &str) -> Action {
    Action::BindTree {
        src: path.into(),
        dir: true,
        attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        recursive: true,
        propagation: nix::libc::MS_PRIVATE,
    }
}

/// The devices every container has (runtime-spec "Default Devices"), bound from the host
/// (mknod is refused in a user namespace), and /dev's links when /dev is a fresh tmpfs.
fn default_devices(fresh_dev: bool, out: &mut Vec<Step>) {
    for dev in DEVICES {
        let path = format!("/dev/{dev}");
        out.push(step(
            &path,
            Action::BindTree {
                src: path.clone().into(),
                dir: false,
                attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                recursive: false,
                propagation: nix::libc::MS_PRIVATE,
            },
        ));
    }
    if fresh_dev {
        for (name, target) in DEV_LINKS {
            out.push(step(
                format!("/dev/{name}"),
                Action::Symlink {
                    target: target.into(),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn bundle(owns_net: bool, owns_cgroup: bool) -> Bundle {
        Bundle {
            rootfs: "/b/rootfs".into(),
            readonly: false,
            propagation: None,
            owns_net,
            owns_cgroup,
        }
    }

    fn fs(dst: &str, fstype: &str) -> MountSpec {
        MountSpec::Filesystem {
            dst: dst.into(),
            fstype: fstype.into(),
            source: fstype.into(),
            options: vec![],
            attrs: MOUNT_ATTR_RDONLY,
            propagation: nix::libc::MS_PRIVATE,
        }
    }

    #[test]
    fn binds_sysfs_and_cgroups_follow_what_we_own() {
        let mounts = [
            MountSpec::BindTree {
                src: "/bundle/vol".into(),
                dst: "/data".into(),
                dir: true,
                attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV,
                recursive: true,
                propagation: nix::libc::MS_SHARED,
            },
            fs("/sys", "sysfs"),
            fs("/sys/fs/cgroup", "cgroup"),
        ];
        let shared = steps(&bundle(false, true), &mounts);
        assert_eq!(
            shared[0].action,
            Action::BindTree {
                src: "/bundle/vol".into(),
                dir: true,
                attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV,
                recursive: true,
                propagation: nix::libc::MS_SHARED,
            }
        );
        assert!(
            matches!(&shared[1].action, Action::BindTree { src, .. } if src == Path::new("/sys"))
        );
        assert!(
            matches!(&shared[2].action, Action::Filesystem { fstype, .. } if fstype == "cgroup2")
        );
        assert!(shared[..3].iter().all(|s| s.follow));
        let owned = steps(&bundle(true, false), &mounts);
        assert!(matches!(&owned[1].action, Action::Filesystem { fstype, .. } if fstype == "sysfs"));
        assert!(
            matches!(&owned[2].action, Action::BindTree { src, .. } if src == Path::new("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn devices_come_after_the_mounts_and_masks_last() {
        let mounts = [
            fs("/dev", "tmpfs"),
            MountSpec::Hide {
                dst: "/proc/kcore".into(),
            },
            MountSpec::ReadOnly {
                dst: "/proc/sys".into(),
            },
        ];
        let s = steps(&bundle(true, true), &mounts);
        let dsts: Vec<PathBuf> = s.iter().map(|s| s.dst.clone()).collect();
        assert_eq!(dsts[0], Path::new("/dev"));
        assert_eq!(dsts[1], Path::new("/dev/null"));
        assert!(
            dsts.contains(&PathBuf::from("/dev/ptmx")),
            "a fresh /dev gets its links"
        );
        let n = s.len();
        assert_eq!(s[n - 2].action, Action::Mask);
        assert_eq!(s[n - 1].action, Action::ReadOnly);
        assert!(s[n - 2..].iter().all(|s| s.if_exists && !s.follow));
        let kept = steps(&bundle(true, true), &[]);
        assert!(!kept.iter().any(|s| s.dst == Path::new("/dev/ptmx")));
    }
}
