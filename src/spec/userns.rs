//! The user namespace's rules: which id maps the caller may write, which ids a process may
//! take in it, and whether setgroups(2) is allowed there. Front-end neutral: the maps are
//! asked for as ranges, whichever front end asked.

use crate::error::escape;
use anyhow::{bail, Result};

use super::MountSpec;

/// One line of an id map: `size` ids from `inner` on are `outer` on outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inner: u32,
    pub outer: u32,
    pub size: u32,
}

impl IdRange {
    /// The caller's own id as `inner`, alone.
    pub fn one(inner: u32, outer: u32) -> IdRange {
        IdRange {
            inner,
            outer,
            size: 1,
        }
    }
}

/// Whether `id` is mapped by `space`.
pub fn mapped(space: &[IdRange], id: u32) -> bool {
    space.iter().any(|m| id >= m.inner && id - m.inner < m.size)
}

/// As written to uid_map/gid_map.
pub fn text(space: &[IdRange]) -> String {
    space
        .iter()
        .map(|m| format!("{} {} {}\n", m.inner, m.outer, m.size))
        .collect()
}

/// Without CAP_SETUID over our namespace, the kernel takes one line mapping our own id; more
/// would need newuidmap, which ns-rootless never uses. `what` names the field.
pub fn check_maps(what: &str, maps: &[IdRange], own: u32, privileged: bool) -> Result<()> {
    if maps.is_empty() {
        bail!("invalid {what}: a user namespace needs a mapping");
    }
    if !privileged && (maps.len() != 1 || maps[0].outer != own || maps[0].size != 1) {
        bail!(
            "invalid {what}: as a plain user, only one id can be mapped, your own ({own}) \
             with size 1; more would need newuidmap, which ns-rootless doesn't use"
        );
    }
    Ok(())
}

/// The ids of the user namespace we are in (when the sandbox doesn't get one of its own).
pub fn ours(file: &str) -> Vec<IdRange> {
    crate::host::read_proc(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some(IdRange {
                inner: f.next()??,
                outer: f.next()??,
                size: f.next()??,
            })
        })
        .collect()
}

/// devpts's `uid=`/`gid=` (the owner of new pty slaves) must be an id of the mounting user
/// namespace, else the mount is EINVAL (devpts_parse_param). runtime-tools' and Docker's
/// default configs ask for `gid=5` (tty), which a rootless container's one-id namespace doesn't
/// map: such an option is dropped (new slaves then get the mounter's ids), one that is mapped
/// kept. Returns what was dropped, for --debug.
pub fn drop_unmapped_devpts_ids(
    mounts: &mut [MountSpec],
    uid_space: &[IdRange],
    gid_space: &[IdRange],
) -> Vec<String> {
    let mut notes = Vec::new();
    for m in mounts {
        let MountSpec::Filesystem {
            dst,
            fstype,
            options,
            ..
        } = m
        else {
            continue;
        };
        if fstype != "devpts" {
            continue;
        }
        options.retain(|(key, value)| {
            let space = match key.as_str() {
                "uid" => uid_space,
                "gid" => gid_space,
                _ => return true,
            };
            // Not a number: left for the kernel to refuse.
            let Some(id) = value.as_deref().and_then(|v| v.parse::<u32>().ok()) else {
                return true;
            };
            if mapped(space, id) {
                return true;
            }
            notes.push(format!(
                "mount {}: devpts option {key}={id} dropped: {key} {id} is not mapped in the \
                 container's user namespace",
                escape(dst.as_os_str().as_encoded_bytes())
            ));
            false
        });
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::libc;

    #[test]
    fn plain_users_map_only_themselves() {
        let what = "linux.uidMappings";
        assert!(check_maps(what, &[IdRange::one(0, 1000)], 1000, false).is_ok());
        let err = check_maps(what, &[IdRange::one(0, 1001)], 1000, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only one id can be mapped"), "{err}");
        let wide = IdRange {
            inner: 0,
            outer: 0,
            size: 65536,
        };
        assert!(check_maps(what, &[wide], 1000, true).is_ok());
        assert_eq!(text(&[wide]), "0 0 65536\n");
    }

    #[test]
    fn devpts_ids_are_kept_only_when_mapped() {
        let devpts = |opts: &[(&str, &str)]| MountSpec::Filesystem {
            dst: "/dev/pts".into(),
            fstype: "devpts".into(),
            source: "devpts".into(),
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
            attrs: 0,
            propagation: libc::MS_PRIVATE,
        };
        let wide = IdRange {
            inner: 0,
            outer: 100000,
            size: 65536,
        };
        let one = [IdRange::one(0, 1000)];
        let mut mounts = [devpts(&[("gid", "5"), ("uid", "0"), ("mode", "0620")])];
        let notes = drop_unmapped_devpts_ids(&mut mounts, &one, &one);
        assert_eq!(mounts[0], devpts(&[("uid", "0"), ("mode", "0620")]));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("gid=5"), "{}", notes[0]);
        let mut mounts = [devpts(&[("gid", "5")])];
        assert!(drop_unmapped_devpts_ids(&mut mounts, &[wide], &[wide]).is_empty());
        assert_eq!(mounts[0], devpts(&[("gid", "5")]));
    }
}
