//! The plan's steps, rendered for the executor.

use super::{
    cpath, cstring, fs_option, overlay_options, tmpfs_options, OverlayOptions, MASK_ATTRS,
    SCRATCH_ATTRS,
};
use crate::plan::{Action, Plan};
use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use anyhow::Result;
use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub enum PreparedAction {
    /// A new directory `name` of the scratch tmpfs, mounted with `attrs`.
    Scratch {
        name: CString,
        mode: u32,
        attrs: u64,
    },
    Mount {
        fstype: &'static CStr,
        options: Vec<(CString, Option<CString>)>,
        attrs: u64,
    },
    Bind {
        src: CString,
        attrs: u64,
        dir: bool,
        /// The source is a path only the host's root can change (a top-level entry of `/`, or
        /// one of the plan's own device nodes): no symlink on its way to refuse (see
        /// sys::clone_root_owned).
        root_owned: bool,
    },
    Dir,
    Symlink {
        target: CString,
    },
    ReadOnly,
    /// A new filesystem whose type is not one of ours (OCI mounts).
    Filesystem {
        fstype: CString,
        options: Vec<(CString, Option<CString>)>,
        attrs: u64,
        propagation: u64,
    },
    BindTree {
        src: CString,
        attrs: u64,
        dir: bool,
        recursive: bool,
        propagation: u64,
    },
    /// An empty read-only tmpfs (with these options) on a directory, /dev/null on a file.
    Mask {
        options: Vec<(CString, Option<CString>)>,
    },
    /// An overlayfs with these options (a --cow bind).
    Overlay {
        options: OverlayOptions,
    },
    /// A new file `name` of the scratch tmpfs holding `contents`, bound read-only.
    File {
        name: CString,
        contents: Vec<u8>,
    },
}

pub struct PreparedStep {
    /// Destination relative to the new root ("dev/pts").
    pub rel: CString,
    /// Each component of `rel` as (its parent, its name): what `mkdir -p` walks when creating it.
    pub chain: Vec<(CString, CString)>,
    pub if_exists: bool,
    pub follow: bool,
    pub action: PreparedAction,
}

impl PreparedStep {
    /// What this step does, for a failure's message ("mounting tmpfs on /tmp"): worded from
    /// the step itself, so the parent needs neither the spec nor the plan to say it. Made
    /// only when a step has failed: a launch renders no words it won't show.
    pub fn describe(&self) -> String {
        let shown = |c: &CStr| crate::error::escape(c.to_bytes());
        let dst = self.dst();
        match &self.action {
            PreparedAction::Scratch { attrs, .. } if attrs & MOUNT_ATTR_RDONLY != 0 => {
                format!("masking {dst}")
            }
            PreparedAction::Scratch { .. } => format!("mounting tmpfs on {dst}"),
            PreparedAction::Mount { fstype, .. } => format!("mounting {} on {dst}", shown(fstype)),
            PreparedAction::Filesystem { fstype, .. } => {
                format!("mounting {} on {dst}", shown(fstype))
            }
            PreparedAction::Bind { src, .. } | PreparedAction::BindTree { src, .. } => {
                format!("binding {} to {dst}", shown(src))
            }
            PreparedAction::Dir => format!("creating directory {dst}"),
            PreparedAction::Symlink { target } => {
                format!("creating symlink {dst} -> {}", shown(target))
            }
            PreparedAction::ReadOnly => format!("making {dst} read-only"),
            PreparedAction::Mask { .. } => format!("masking {dst}"),
            PreparedAction::Overlay { options } => {
                let lower = options.each.first().and_then(|(_, v)| v.as_deref());
                format!(
                    "mounting a copy-on-write overlay of {} on {dst}",
                    lower.map(shown).unwrap_or_default()
                )
            }
            PreparedAction::File { .. } => format!("binding a generated file to {dst}"),
        }
    }

    /// The destination as the sandbox sees it ("/dev/pts"), escaped for a message.
    pub fn dst(&self) -> String {
        format!("/{}", crate::error::escape(self.rel.to_bytes()))
    }

    /// Whether the destination is in the kernel's own /proc or /sys.
    pub fn in_proc_or_sys(&self) -> bool {
        let rel = self.rel.to_bytes();
        [&b"proc"[..], b"sys"].iter().any(|top| {
            rel.strip_prefix(*top)
                .is_some_and(|r| r.is_empty() || r[0] == b'/')
        })
    }
}

fn prepare_action(action: &Action, index: usize) -> Result<PreparedAction> {
    Ok(match action {
        Action::Scratch { mode, readonly } => PreparedAction::Scratch {
            name: cstring(index.to_string().as_bytes())?,
            mode: *mode,
            attrs: if *readonly { MASK_ATTRS } else { SCRATCH_ATTRS },
        },
        Action::Tmpfs { size } => PreparedAction::Mount {
            fstype: c"tmpfs",
            options: tmpfs_options(*size, 0o755),
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        },
        Action::Proc => PreparedAction::Mount {
            fstype: c"proc",
            options: vec![],
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        },
        Action::Sysfs => PreparedAction::Mount {
            fstype: c"sysfs",
            options: vec![],
            attrs: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        },
        Action::Devpts => PreparedAction::Mount {
            fstype: c"devpts",
            options: vec![
                fs_option("newinstance", None),
                fs_option("ptmxmode", Some("0666".into())),
                fs_option("mode", Some("0620".into())),
            ],
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        },
        Action::Bind {
            src,
            readonly,
            dir,
            device,
        } => PreparedAction::Bind {
            src: cpath(src)?,
            attrs: MOUNT_ATTR_NOSUID
                | if *device { 0 } else { MOUNT_ATTR_NODEV }
                | if *readonly { MOUNT_ATTR_RDONLY } else { 0 },
            dir: *dir,
            // Device binds name the plan's own /dev nodes (plan::DEVICES, /dev/null), never a
            // user's path.
            root_owned: *device || src.parent() == Some(Path::new("/")),
        },
        Action::Dir => PreparedAction::Dir,
        Action::ReadOnly => PreparedAction::ReadOnly,
        Action::File { contents } => PreparedAction::File {
            name: cstring(index.to_string().as_bytes())?,
            contents: contents.clone(),
        },
        Action::Symlink { target } => PreparedAction::Symlink {
            target: cpath(target)?,
        },
        Action::Filesystem {
            fstype,
            source,
            options,
            attrs,
            propagation,
        } => PreparedAction::Filesystem {
            propagation: *propagation,
            fstype: cstring(fstype.as_bytes())?,
            // The source is the first string the new filesystem is given (fsconfig(2)
            // FSCONFIG_SET_STRING "source"), else mountinfo says "none".
            options: std::iter::once(Ok((c"source".into(), Some(cstring(source.as_bytes())?))))
                .chain(options.iter().map(|(k, v)| {
                    Ok((
                        cstring(k.as_bytes())?,
                        v.as_deref().map(|v| cstring(v.as_bytes())).transpose()?,
                    ))
                }))
                .collect::<Result<_>>()?,
            attrs: *attrs,
        },
        Action::BindTree {
            src,
            dir,
            attrs,
            recursive,
            propagation,
        } => PreparedAction::BindTree {
            src: cpath(src)?,
            attrs: *attrs,
            dir: *dir,
            recursive: *recursive,
            propagation: *propagation,
        },
        Action::Mask => PreparedAction::Mask {
            options: vec![
                fs_option("size", Some("4k".into())),
                fs_option("nr_inodes", Some("1".into())),
                fs_option("mode", Some("0555".into())),
            ],
        },
        Action::Overlay { lower, upper, work } => PreparedAction::Overlay {
            options: overlay_options(
                &[lower.as_os_str().as_bytes().to_vec()],
                upper.as_os_str().as_bytes(),
                work.as_os_str().as_bytes(),
            )?,
        },
    })
}

/// ("." , "a"), ("a", "b"), ("a/b", "c") for "a/b/c".
fn chain(rel: &Path) -> Result<Vec<(CString, CString)>> {
    if let Some(rel) = clean_relative(rel.as_os_str().as_bytes()) {
        return Ok(clean_chain(rel));
    }
    path_chain(rel)
}

/// `rel` when its components are exactly its `/`-separated parts (no empty part, no `.`),
/// so that they can be sliced out of its bytes instead of walked as `Path::components`, which
/// costs more than everything else `prepare_steps` does (~120k instructions for a default
/// plan, callgrind).
fn clean_relative(rel: &[u8]) -> Option<&[u8]> {
    let clean = !rel.is_empty()
        && rel
            .split(|&b| b == b'/')
            .all(|part| !part.is_empty() && part != b".")
        && !rel.contains(&0);
    clean.then_some(rel)
}

/// `chain` of a `clean_relative` path: every parent is a prefix of it.
fn clean_chain(rel: &[u8]) -> Vec<(CString, CString)> {
    let mut out = Vec::with_capacity(rel.iter().filter(|&&b| b == b'/').count() + 1);
    let mut start = 0;
    for part in rel.split(|&b| b == b'/') {
        let parent = if start == 0 {
            &b"."[..]
        } else {
            &rel[..start - 1]
        };
        // No NUL in either: clean_relative checked.
        out.push((
            CString::new(parent).unwrap_or_default(),
            CString::new(part).unwrap_or_default(),
        ));
        start += part.len() + 1;
    }
    out
}

fn path_chain(rel: &Path) -> Result<Vec<(CString, CString)>> {
    let mut out = Vec::new();
    let mut parent = PathBuf::new();
    for name in rel.iter() {
        let shown_parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent.as_path()
        };
        out.push((cpath(shown_parent)?, cpath(Path::new(name))?));
        parent.push(name);
    }
    Ok(out)
}

/// The plan's steps, rendered for the executor.
pub fn prepare_steps(plan: &Plan) -> Result<Vec<PreparedStep>> {
    let mut steps = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        // Path::strip_prefix walks the components of both; a leading `/` is one byte.
        let dst = step.dst.as_os_str().as_bytes();
        // A clean one is checked once here, not again by `chain`.
        let (rel, chain) = match dst.strip_prefix(b"/").and_then(clean_relative) {
            Some(rel) => (Path::new(OsStr::from_bytes(rel)), clean_chain(rel)),
            None => {
                let rel = step.dst.strip_prefix("/").unwrap_or(&step.dst);
                (rel, chain(rel)?)
            }
        };
        steps.push(PreparedStep {
            rel: cpath(rel)?,
            chain,
            if_exists: step.if_exists,
            follow: step.follow,
            action: prepare_action(&step.action, i)?,
        });
    }
    Ok(steps)
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn clean_paths_chain_as_their_components_do() {
        for dst in [
            "/a",
            "/a/b/c",
            "/dev/pts",
            "/a//b",
            "/a/./b",
            "/./a",
            "/a/",
            "/a/.",
            "/a/..",
            "/",
            "//a",
            "a/b",
            "",
            "/.a/..b/...",
            "/a/b/",
        ] {
            let dst = Path::new(dst);
            let old_rel = dst.strip_prefix("/").unwrap_or(dst);
            let new_rel = match dst
                .as_os_str()
                .as_bytes()
                .strip_prefix(b"/")
                .and_then(clean_relative)
            {
                Some(rel) => Path::new(OsStr::from_bytes(rel)),
                None => old_rel,
            };
            assert_eq!(new_rel, old_rel, "{dst:?}");
            assert_eq!(cpath(new_rel).unwrap(), cpath(old_rel).unwrap(), "{dst:?}");
            assert_eq!(
                chain(new_rel).unwrap(),
                path_chain(old_rel).unwrap(),
                "{dst:?}"
            );
        }
    }

    #[test]
    fn chains_walk_each_component() {
        let c = chain(Path::new("a/b/c")).unwrap();
        let shown: Vec<(String, String)> = c
            .iter()
            .map(|(p, n)| (p.to_str().unwrap().into(), n.to_str().unwrap().into()))
            .collect();
        assert_eq!(
            shown,
            [
                (".".to_string(), "a".to_string()),
                ("a".into(), "b".into()),
                ("a/b".into(), "c".into())
            ]
        );
    }
}

#[cfg(test)]
mod scratch_tests {
    use super::*;

    #[test]
    fn each_scratch_step_gets_a_directory_of_its_own() {
        let action = Action::Scratch {
            mode: 0o1777,
            readonly: false,
        };
        let names: Vec<CString> = [3, 12]
            .iter()
            .map(|&i| match prepare_action(&action, i).unwrap() {
                PreparedAction::Scratch { name, mode, attrs } => {
                    assert_eq!(mode, 0o1777);
                    assert_eq!(attrs & MOUNT_ATTR_RDONLY, 0);
                    name
                }
                _ => panic!("not a scratch directory"),
            })
            .collect();
        assert_eq!(names, [c"3", c"12"]);
        let mask = Action::Scratch {
            mode: 0o755,
            readonly: true,
        };
        match prepare_action(&mask, 0).unwrap() {
            PreparedAction::Scratch { attrs, .. } => {
                assert_ne!(attrs & MOUNT_ATTR_RDONLY, 0);
                assert_ne!(attrs & MOUNT_ATTR_NOEXEC, 0);
            }
            _ => panic!("not a scratch directory"),
        }
    }
}
