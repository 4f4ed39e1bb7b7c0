//! What the new root is built from and what gets mounted on it, in order: pure data.
//!
//! Every destination is an absolute path *inside the sandbox*; the executor (`mount`) resolves
//! it beneath the new root with RESOLVE_IN_ROOT, so no destination can lead outside it.

use crate::spec::{Root, Spec};
use std::path::PathBuf;

pub const MIB: u64 = 1024 * 1024;
/// Size caps: a payload can't fill memory through a tmpfs we mounted.
pub const TMP_SIZE: u64 = 1024 * MIB;
pub const MASK_SIZE: u64 = 64 * MIB;
pub const DEV_SIZE: u64 = MIB;
pub const SHM_SIZE: u64 = 64 * MIB;

/// Host devices bind-mounted into the sandbox's /dev (mknod is refused in a user namespace).
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Tmpfs {
        size: u64,
        mode: u32,
    },
    Proc,
    /// Read-only sysfs of the sandbox's own network namespace.
    Sysfs,
    /// A private devpts instance (`newinstance`), so ptys can't reach the host's.
    Devpts,
    /// Bind a host device node onto a new empty file at the destination.
    Device {
        host: PathBuf,
    },
    Mkdir {
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub dst: PathBuf,
    pub action: Action,
    /// Skip the step when the destination doesn't exist (e.g. `/run/user` on hosts without it).
    pub if_exists: bool,
    /// Whether the destination itself may be a symlink (resolved inside the root). Places a
    /// rootfs controls, like its `/proc` and `/dev`, must not be.
    pub follow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The tree that becomes `/`: the host's `/` or a `--rootfs` directory, with all submounts.
    pub root: PathBuf,
    pub root_readonly: bool,
    pub steps: Vec<Step>,
}

fn step(dst: &str, action: Action) -> Step {
    Step {
        dst: dst.into(),
        action,
        if_exists: false,
        follow: false,
    }
}

fn optional(mut s: Step) -> Step {
    s.if_exists = true;
    s
}

fn following(mut s: Step) -> Step {
    s.follow = true;
    s
}

pub fn plan(spec: &Spec) -> Plan {
    let mut steps = Vec::new();
    let (root, root_readonly) = match &spec.root {
        Root::Host => {
            steps.push(following(step("/tmp", tmpfs(TMP_SIZE, 0o1777))));
            // The caller's files and other users' runtime dirs (agent sockets, D-Bus) stay out.
            for mask in ["/home", "/root", "/run/user"] {
                steps.push(optional(following(step(mask, tmpfs(MASK_SIZE, 0o755)))));
            }
            (PathBuf::from("/"), true)
        }
        Root::Dir(dir) => {
            steps.push(optional(following(step("/tmp", tmpfs(TMP_SIZE, 0o1777)))));
            (dir.clone(), false)
        }
    };
    dev_steps(&mut steps);
    // /proc must be mounted while the old root is still attached: the kernel only allows a new
    // proc where a fully visible one already exists (mount_too_revealing).
    steps.push(step("/proc", Action::Proc));
    if !spec.share_net {
        // sysfs can only be mounted by the owner of the network namespace it shows.
        steps.push(optional(following(step("/sys", Action::Sysfs))));
    }
    Plan {
        root,
        root_readonly,
        steps,
    }
}

fn tmpfs(size: u64, mode: u32) -> Action {
    Action::Tmpfs { size, mode }
}

fn dev_steps(steps: &mut Vec<Step>) {
    steps.push(step("/dev", tmpfs(DEV_SIZE, 0o755)));
    for dev in DEVICES {
        steps.push(step(
            &format!("/dev/{dev}"),
            Action::Device {
                host: format!("/dev/{dev}").into(),
            },
        ));
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        steps.push(step(
            &format!("/dev/{name}"),
            Action::Symlink {
                target: target.into(),
            },
        ));
    }
    steps.push(step("/dev/pts", Action::Mkdir { mode: 0o755 }));
    steps.push(step("/dev/pts", Action::Devpts));
    steps.push(step("/dev/shm", Action::Mkdir { mode: 0o1777 }));
    steps.push(step("/dev/shm", tmpfs(SHM_SIZE, 0o1777)));
}

impl Step {
    /// What this step does, for error messages: "mounting tmpfs on /tmp".
    pub fn describe(&self) -> String {
        let dst = self.dst.display();
        match &self.action {
            Action::Tmpfs { .. } => format!("mounting tmpfs on {dst}"),
            Action::Proc => format!("mounting proc on {dst}"),
            Action::Sysfs => format!("mounting sysfs on {dst}"),
            Action::Devpts => format!("mounting devpts on {dst}"),
            Action::Device { host } => format!("binding {} to {dst}", host.display()),
            Action::Mkdir { .. } => format!("creating directory {dst}"),
            Action::Symlink { target } => {
                format!("creating symlink {dst} -> {}", target.display())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Ids, Spec};
    use std::path::Path;

    fn spec(root: Root, share_net: bool) -> Spec {
        Spec {
            hostname: b"h".to_vec(),
            root,
            share_net,
            ids: Ids {
                outer_uid: 1000,
                outer_gid: 1000,
                inner_uid: 0,
                inner_gid: 0,
            },
            command: vec!["sh".into()],
            env: vec![],
            cwd: None,
        }
    }

    fn position(plan: &Plan, dst: &str, pred: impl Fn(&Action) -> bool) -> usize {
        plan.steps
            .iter()
            .position(|s| s.dst == Path::new(dst) && pred(&s.action))
            .unwrap_or_else(|| panic!("no step for {dst}"))
    }

    #[test]
    fn host_mode_is_the_read_only_host_root_with_masks() {
        let p = plan(&spec(Root::Host, false));
        assert_eq!(p.root, PathBuf::from("/"));
        assert!(p.root_readonly);
        for mask in ["/home", "/root", "/run/user"] {
            let s = &p.steps[position(&p, mask, |a| matches!(a, Action::Tmpfs { .. }))];
            assert!(s.if_exists, "{mask} is optional");
        }
        let tmp = &p.steps[position(&p, "/tmp", |_| true)];
        assert_eq!(tmp.action, tmpfs(TMP_SIZE, 0o1777));
    }

    #[test]
    fn rootfs_mode_has_no_masks_and_a_writable_root() {
        let p = plan(&spec(Root::Dir("/srv/rootfs".into()), false));
        assert_eq!(p.root, PathBuf::from("/srv/rootfs"));
        assert!(!p.root_readonly);
        assert!(!p.steps.iter().any(|s| s.dst == Path::new("/home")));
    }

    #[test]
    fn proc_and_dev_of_a_rootfs_are_never_followed_if_symlinks() {
        let p = plan(&spec(Root::Dir("/r".into()), false));
        for dst in ["/proc", "/dev"] {
            let s = &p.steps[position(&p, dst, |_| true)];
            assert!(!s.follow && !s.if_exists, "{dst}");
        }
    }

    #[test]
    fn parents_come_before_children() {
        for root in [Root::Host, Root::Dir("/r".into())] {
            let p = plan(&spec(root, false));
            for (i, s) in p.steps.iter().enumerate() {
                for later in &p.steps[i + 1..] {
                    assert!(
                        !s.dst.starts_with(&later.dst) || s.dst == later.dst,
                        "{} is set up before its parent {}",
                        s.dst.display(),
                        later.dst.display()
                    );
                }
            }
        }
    }

    #[test]
    fn mount_points_are_created_before_they_are_mounted_on() {
        let p = plan(&spec(Root::Host, false));
        let mkdir = position(&p, "/dev/pts", |a| matches!(a, Action::Mkdir { .. }));
        let mount = position(&p, "/dev/pts", |a| *a == Action::Devpts);
        assert!(mkdir < mount);
    }

    #[test]
    fn sysfs_only_with_a_private_network() {
        let private = plan(&spec(Root::Host, false));
        assert!(private.steps.iter().any(|s| s.action == Action::Sysfs));
        let shared = plan(&spec(Root::Host, true));
        assert!(!shared.steps.iter().any(|s| s.action == Action::Sysfs));
    }

    #[test]
    fn every_tmpfs_has_a_size_cap() {
        let p = plan(&spec(Root::Host, false));
        for s in &p.steps {
            if let Action::Tmpfs { size, .. } = s.action {
                assert!(size > 0 && size <= TMP_SIZE, "{}", s.dst.display());
            }
        }
    }

    #[test]
    fn steps_describe_themselves() {
        let p = plan(&spec(Root::Host, false));
        assert_eq!(p.steps[0].describe(), "mounting tmpfs on /tmp");
        let null = &p.steps[position(&p, "/dev/null", |_| true)];
        assert_eq!(null.describe(), "binding /dev/null to /dev/null");
    }
}
