//! Mount options as mount(8) and OCI configs spell them ("ro", "nosuid", "rbind", "rshared",
//! "size=64k"): mount attributes, bind or not, propagation, and the filesystem's own options.

use crate::sys::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW,
    MOUNT_ATTR_RDONLY,
};

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
            // Symlinks aren't followed on the mount (mount_setattr(2), Linux 5.10).
            "nosymfollow" | "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
            "symfollow" | "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// `features` lists the options as understood: each one is ours, not the filesystem's.
    #[test]
    fn the_options_features_lists_are_understood() {
        for opt in crate::oci::features::MOUNT_OPTIONS {
            assert!(parse_options(&[opt.into()]).data.is_empty(), "{opt}");
        }
    }
}
