//! config.json `mounts`, devices, `maskedPaths` and `readonlyPaths` as plan steps: pure data.

use crate::error::quote;
use crate::oci::config::Mount;
use crate::plan::{step, Action, Step};
use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use anyhow::{bail, Result};
use std::path::{Component, Path, PathBuf};

/// What a mount's options say: mount attributes, bind or not, and the filesystem's own options.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub attrs: u64,
    pub bind: bool,
    pub recursive: bool,
    /// MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE: the last one given.
    pub propagation: Option<u64>,
    pub data: Vec<(String, Option<String>)>,
}

/// A propagation option as mount(2)'s flag (the r- forms are the same here: a bind's
/// propagation is set on every mount it brings when it is recursive).
pub fn propagation(opt: &str) -> Option<u64> {
    match opt {
        "private" | "rprivate" => Some(nix::libc::MS_PRIVATE),
        "shared" | "rshared" => Some(nix::libc::MS_SHARED),
        "slave" | "rslave" => Some(nix::libc::MS_SLAVE),
        "unbindable" | "runbindable" => Some(nix::libc::MS_UNBINDABLE),
        _ => None,
    }
}

pub fn parse_options(options: &[String]) -> Options {
    let mut o = Options::default();
    for opt in options {
        if let Some(p) = propagation(opt) {
            o.propagation = Some(p);
            continue;
        }
        let (set, clear) = match opt.as_str() {
            "ro" | "rro" => (MOUNT_ATTR_RDONLY, 0),
            "rw" | "rrw" => (0, MOUNT_ATTR_RDONLY),
            "nosuid" | "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
            "suid" | "rsuid" => (0, MOUNT_ATTR_NOSUID),
            "nodev" | "rnodev" => (MOUNT_ATTR_NODEV, 0),
            "dev" | "rdev" => (0, MOUNT_ATTR_NODEV),
            "noexec" | "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
            "exec" | "rexec" => (0, MOUNT_ATTR_NOEXEC),
            "bind" => {
                o.bind = true;
                (0, 0)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (0, 0)
            }
            // Access times and sync change nothing about what the container can reach;
            // "defaults" is no option at all.
            "defaults" | "async" | "sync" | "atime" | "noatime" | "relatime" | "norelatime"
            | "strictatime" | "nostrictatime" | "diratime" | "nodiratime" | "lazytime"
            | "nolazytime" | "silent" | "loud" | "mand" | "nomand" | "iversion" | "noiversion" => {
                (0, 0)
            }
            // runc and crun extensions podman passes: copying the image's directory into a
            // tmpfs (--read-only's /tmp, /run) is a convenience we don't do; the tmpfs starts
            // empty.
            "tmpcopyup" | "notmpcopyup" | "copy-symlink" => (0, 0),
            other => {
                o.data.push(match other.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (other.to_string(), None),
                });
                (0, 0)
            }
        };
        o.attrs = (o.attrs | set) & !clear;
    }
    o
}

/// A destination inside the container, absolute, without `..`.
fn destination(d: &str) -> Result<PathBuf> {
    let p = Path::new("/").join(d);
    if p.components().any(|c| c == Component::ParentDir) {
        bail!(
            "invalid mount destination {}: must not contain '..'",
            quote(d)
        );
    }
    if p == Path::new("/") {
        bail!("invalid mount destination {}: the root itself", quote(d));
    }
    Ok(p)
}

/// What the sandbox's namespaces allow: sysfs only where we own the network namespace,
/// cgroup2 only in a cgroup namespace of our own.
#[derive(Debug, Clone, Copy)]
pub struct Owns {
    pub net: bool,
    pub cgroup: bool,
}

/// The steps for `mounts`. `source_of` turns a bind source into a canonical host path (and says
/// whether it is a directory): host state, kept out of this pure function.
pub fn steps(
    mounts: &[Mount],
    owns: Owns,
    source_of: &mut dyn FnMut(&str) -> Result<(PathBuf, bool)>,
) -> Result<Vec<Step>> {
    let mut out = Vec::new();
    for m in mounts {
        let dst = destination(&m.destination)?;
        if m.uid_mappings.is_some() || m.gid_mappings.is_some() {
            bail!(
                "mount {}: idmapped mounts are not supported",
                quote(&m.destination)
            );
        }
        let o = parse_options(&m.options);
        let kind = m.kind.as_deref().unwrap_or("");
        let action = if o.bind || kind == "bind" {
            let src = m.source.as_deref().unwrap_or("");
            let (src, dir) = source_of(src)?;
            Action::BindTree {
                src,
                dir,
                attrs: o.attrs,
                recursive: o.recursive,
                propagation: o.propagation.unwrap_or(nix::libc::MS_PRIVATE),
            }
        } else {
            match kind {
                "sysfs" if !owns.net => bind_host_ro("/sys"),
                "cgroup" | "cgroup2" if !owns.cgroup => bind_host_ro("/sys/fs/cgroup"),
                "cgroup" | "cgroup2" => Action::Filesystem {
                    fstype: "cgroup2".into(),
                    options: vec![],
                    attrs: o.attrs,
                    propagation: o.propagation.unwrap_or(nix::libc::MS_PRIVATE),
                },
                "" | "none" => bail!("mount {}: no type and not a bind", quote(&m.destination)),
                fstype => Action::Filesystem {
                    fstype: fstype.into(),
                    options: o.data,
                    attrs: o.attrs,
                    propagation: o.propagation.unwrap_or(nix::libc::MS_PRIVATE),
                },
            }
        };
        let mut s = step(dst, action);
        // Resolved inside the new root (RESOLVE_IN_ROOT), so a symlink can't lead out of it;
        // images have links like /var/run -> ../run that mounts go through.
        s.follow = true;
        out.push(s);
    }
    Ok(out)
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
pub fn default_devices(fresh_dev: bool) -> Vec<Step> {
    let mut out = Vec::new();
    for dev in crate::plan::DEVICES {
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
        for (name, target) in crate::plan::DEV_LINKS {
            out.push(step(
                format!("/dev/{name}"),
                Action::Symlink {
                    target: target.into(),
                },
            ));
        }
    }
    out
}

/// `maskedPaths` then `readonlyPaths`: skipped where nothing exists, never through a symlink.
pub fn masks(masked: &[String], readonly: &[String]) -> Result<Vec<Step>> {
    let mut out = Vec::new();
    for (paths, action) in [(masked, Action::Mask), (readonly, Action::ReadOnly)] {
        for p in paths {
            let mut s = step(destination(p)?, action.clone());
            s.if_exists = true;
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(dst: &str, kind: &str, src: &str, opts: &[&str]) -> Mount {
        Mount {
            destination: dst.into(),
            kind: Some(kind.into()),
            source: Some(src.into()),
            options: opts.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn options_become_attributes_and_filesystem_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "strictatime".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "ro".into(),
            "newinstance".into(),
        ]);
        assert_eq!(o.attrs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_RDONLY);
        assert_eq!(
            o.data,
            [
                ("mode".into(), Some("755".into())),
                ("size".into(), Some("65536k".into())),
                ("newinstance".into(), None)
            ]
        );
        let o = parse_options(&["rbind".into(), "ro".into(), "rw".into()]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.attrs, 0);
        assert_eq!(o.propagation, None);
        let o = parse_options(&["rshared".into(), "private".into()]);
        assert_eq!(
            (o.propagation, o.data.len()),
            (Some(nix::libc::MS_PRIVATE), 0)
        );
    }

    #[test]
    fn binds_sysfs_and_cgroups_follow_what_we_own() {
        let mounts = [
            m("/data", "bind", "vol", &["rbind", "ro", "nodev", "rshared"]),
            m("/sys", "sysfs", "sysfs", &["ro"]),
            m("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"]),
            m("/etc/hosts", "none", "/h", &["bind"]),
        ];
        let mut sources = |s: &str| Ok((PathBuf::from("/bundle").join(s), s == "vol"));
        let steps = steps(
            &mounts,
            Owns {
                net: false,
                cgroup: true,
            },
            &mut sources,
        )
        .unwrap();
        assert_eq!(
            steps[0].action,
            Action::BindTree {
                src: "/bundle/vol".into(),
                dir: true,
                attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV,
                recursive: true,
                propagation: nix::libc::MS_SHARED,
            }
        );
        assert!(
            matches!(&steps[1].action, Action::BindTree { src, .. } if src == Path::new("/sys"))
        );
        assert!(
            matches!(&steps[2].action, Action::Filesystem { fstype, .. } if fstype == "cgroup2")
        );
        assert!(matches!(
            &steps[3].action,
            Action::BindTree {
                recursive: false,
                dir: false,
                ..
            }
        ));
        assert!(steps.iter().all(|s| s.follow));
    }

    #[test]
    fn destinations_with_dotdot_are_refused() {
        let err = steps(
            &[m("/a/../../etc", "tmpfs", "tmpfs", &[])],
            Owns {
                net: true,
                cgroup: true,
            },
            &mut |_| unreachable!(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("must not contain '..'"), "{err}");
    }

    #[test]
    fn masks_never_follow_and_skip_what_is_missing() {
        let s = masks(&["/proc/kcore".into()], &["/proc/sys".into()]).unwrap();
        assert_eq!(s[0].action, Action::Mask);
        assert_eq!(s[1].action, Action::ReadOnly);
        assert!(s.iter().all(|s| s.if_exists && !s.follow));
    }

    /// `features` lists the options as understood: each one is ours, not the filesystem's.
    #[test]
    fn the_options_features_lists_are_understood() {
        for opt in crate::oci::features::MOUNT_OPTIONS {
            assert!(parse_options(&[opt.into()]).data.is_empty(), "{opt}");
        }
    }
}
