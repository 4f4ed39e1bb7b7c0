//! Everything the children need, rendered before fork: after fork they only make syscalls.

use crate::idmap;
use crate::plan::{Plan, RootModel, SCRATCH_SIZE};
use crate::spec::Spec;
use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use anyhow::{Context, Result};
use nix::libc::{self, c_char};
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

mod process;
mod steps;

pub use process::{process, Nest, PreparedCwd, Process};
pub use steps::{prepare_steps, PreparedAction, PreparedStep};

/// What `/` is (plan::RootModel), rendered.
pub enum PreparedRoot {
    Tmpfs,
    /// overlayfs with these options; relative upper and work directories are made on the
    /// scratch tmpfs, which init makes its working directory first.
    Overlay {
        options: OverlayOptions,
    },
    /// An OCI bundle's rootfs bound onto itself, read-only when `readonly`.
    Bundle {
        rootfs: CString,
        readonly: bool,
        /// Mount propagation for `/` once pivoted (spec::Bundle).
        propagation: Option<libc::c_ulong>,
    },
}

/// The scratch tmpfs's directories for an overlay root's upper and work (relative: see above).
pub const SCRATCH_UPPER: &CStr = c"upper";
pub const SCRATCH_WORK: &CStr = c"work";

/// An overlayfs's options two ways: one `lowerdir+` per lower (Linux 6.8+), and the older
/// single `lowerdir`, tried when the kernel doesn't know `lowerdir+`. fsconfig(2) takes values
/// of at most 256 bytes (strndup_user in fs/fsopen.c), which a list of layers soon exceeds.
pub struct OverlayOptions {
    pub each: Vec<(CString, Option<CString>)>,
    pub joined: Vec<(CString, Option<CString>)>,
}

/// `lowers` top first (`:` and `\\` escaped in the joined form, as overlayfs parses it),
/// `upperdir`, `workdir`, and `userxattr`, without which overlayfs refuses to mount in a user
/// namespace (it would need trusted.* xattrs; Linux 5.11+).
pub fn overlay_options(lowers: &[Vec<u8>], upper: &[u8], work: &[u8]) -> Result<OverlayOptions> {
    let mut joined = Vec::new();
    for (i, l) in lowers.iter().enumerate() {
        if i > 0 {
            joined.push(b':');
        }
        for &b in l {
            if b == b':' || b == b'\\' {
                joined.push(b'\\');
            }
            joined.push(b);
        }
    }
    let rest = [
        (c"upperdir".into(), Some(cstring(upper)?)),
        (c"workdir".into(), Some(cstring(work)?)),
        (c"userxattr".into(), None),
    ];
    let mut each: Vec<(CString, Option<CString>)> = lowers
        .iter()
        .map(|l| Ok((c"lowerdir+".into(), Some(cstring(l)?))))
        .collect::<Result<_>>()?;
    each.extend(rest.iter().cloned());
    let mut all = vec![(c"lowerdir".into(), Some(cstring(&joined)?))];
    all.extend(rest);
    Ok(OverlayOptions { each, joined: all })
}

/// An image's lowers, named through an fd of the layer store that init keeps, so that each
/// name stays short whatever the store's path: `/proc/self/fd/N/<digest>/root`.
type StoreFd = (std::os::fd::OwnedFd, CString);

fn image_lowers(lowers: &[PathBuf]) -> Result<(Option<StoreFd>, Vec<Vec<u8>>)> {
    use std::os::fd::AsRawFd;
    let store = lowers
        .first()
        .and_then(|l| l.parent())
        .and_then(|l| l.parent());
    let under_store = |l: &PathBuf| l.parent().and_then(|p| p.parent()) == store;
    let Some(store) = store.filter(|_| lowers.iter().all(under_store)) else {
        let plain = lowers
            .iter()
            .map(|l| l.as_os_str().as_bytes().to_vec())
            .collect();
        return Ok((None, plain));
    };
    let fd: std::os::fd::OwnedFd = std::fs::File::open(store)
        .with_context(|| format!("opening the layer store {}", crate::error::quote(store)))?
        .into();
    let names = lowers
        .iter()
        .map(|l| {
            let rel = l.strip_prefix(store).unwrap_or(l);
            let mut name = format!("/proc/self/fd/{}/", fd.as_raw_fd()).into_bytes();
            name.extend_from_slice(rel.as_os_str().as_bytes());
            name
        })
        .collect();
    Ok((Some((fd, cpath(store)?)), names))
}

/// A NULL-terminated `char *[]` over owned C strings.
pub struct CStrArray {
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CStrArray {
    pub fn new(strings: Vec<CString>) -> CStrArray {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStrArray {
            _strings: strings,
            ptrs,
        }
    }

    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }

    /// The first string (a command's name, for messages).
    pub fn first(&self) -> Option<&CStr> {
        self._strings.first().map(|s| s.as_c_str())
    }
}

/// What init needs to build the sandbox, and the process it then starts there.
pub struct Prepared {
    pub clone_flags: libc::c_int,
    pub hostname: Vec<u8>,
    pub loopback: bool,
    /// Options of the scratch tmpfs, where `/` and every other directory of ours lives.
    pub scratch_options: Vec<(CString, Option<CString>)>,
    pub root: PreparedRoot,
    /// The layer store an image root's lowers are named through (see `image_lowers`), and
    /// its path, which init opens again at the same fd number in its own mount namespace.
    pub layers_fd: Option<(std::os::fd::OwnedFd, CString)>,
    pub steps: Vec<PreparedStep>,
    /// Whether init passes a pidfd of the payload to ns-rootless (a named sandbox's state
    /// records where the payload is).
    pub report_payload: bool,
    /// What only an OCI container's init does (its hooks, the exec fifo, the wait for
    /// `start`).
    pub oci: Option<crate::oci::launch::Launch>,
    /// A time namespace for the payload, with these /proc/PID/timens_offsets lines (timens.rs).
    pub time_offsets: Option<Vec<u8>>,
    /// Namespaces init joins right after its maps (spec::Spec::joins: the fds spec::validate
    /// checked, duplicated).
    pub joins: Vec<Join>,
    /// /proc/sys files and what init writes to them, in the namespaces they belong to.
    pub sysctls: Vec<(CString, Vec<u8>)>,
    /// The payload.
    pub process: Process,
}

/// A namespace to join: its fd, its CLONE_NEW* type, and what it is, for a failure's words.
pub struct Join {
    pub fd: std::os::fd::OwnedFd,
    pub nstype: libc::c_int,
    /// "the network namespace \"/run/netns/x\"".
    pub shown: String,
}

/// Where the new root is attached before pivot_root: stacked on top of the host's `/`. Lookups of
/// absolute paths start at the process's root *below* it, so every host path (bind sources
/// included) stays reachable until pivot_root, and no host directory is shadowed.
pub const STAGING: &CStr = c"/";

pub fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).context("argument contains a NUL byte")
}

pub fn cpath(p: &Path) -> Result<CString> {
    cstring(p.as_os_str().as_bytes())
}

fn fs_option(key: &str, value: Option<String>) -> (CString, Option<CString>) {
    // Option keys and values are our own constants and numbers: never NUL.
    (
        CString::new(key).unwrap_or_default(),
        value.map(|v| CString::new(v).unwrap_or_default()),
    )
}

pub fn tmpfs_options(size: u64, mode: u32) -> Vec<(CString, Option<CString>)> {
    vec![
        fs_option("size", Some(size.to_string())),
        fs_option("mode", Some(format!("{mode:o}"))),
    ]
}

/// Where the scratch directories are made, each named by its step's index: the root's `proc`,
/// which the plan always mounts proc on, hiding them (see mount::build_root).
pub const HIDDEN: &CStr = c"proc";
/// The scratch tmpfs's own mount flags, which every clone of it starts with.
pub const SCRATCH_ATTRS: u64 = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
/// The flags of a mask (an empty directory or file of the scratch tmpfs, an OCI mask's or a
/// --hide's tmpfs): nobody can write, exec or create devices on it.
pub const MASK_ATTRS: u64 = SCRATCH_ATTRS | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC;

pub fn prepare(spec: &Spec, plan: &Plan) -> Result<Prepared> {
    let clone_flags = spec.sandbox.namespaces.clone_flags();
    let steps = prepare_steps(plan)?;
    crate::stamps::stamp("r-steps");
    let ids = spec.sandbox.ids;
    let (root, layers_fd) = root(&spec.sandbox)?;
    crate::stamps::stamp("r-root");
    // The payload's own nested user namespace, mapping the inner ids (not an OCI process's:
    // it runs with its config's ids in the container's user namespace).
    let nest = match spec.process.lockdown {
        crate::spec::Lockdown::Native { .. } => Some(Nest {
            uid_map: idmap::line(ids.inner_uid, ids.outer_uid).into_bytes(),
            gid_map: idmap::line(ids.inner_gid, ids.outer_gid).into_bytes(),
            own_time: spec.sandbox.time_offsets.is_some(),
        }),
        crate::spec::Lockdown::Oci(_) => None,
    };
    let process = process(&spec.process, !spec.sandbox.net.own_namespace(), nest)?;
    Ok(Prepared {
        clone_flags,
        hostname: spec.sandbox.hostname.clone(),
        // (A helper's network is brought up by the helper; a joined one is left as it is.)
        loopback: spec.sandbox.namespaces.net == crate::spec::Ns::New
            && spec.sandbox.net.loopback(),
        // A bundle's root has no scratch tmpfs.
        scratch_options: match &spec.sandbox.root {
            crate::spec::Root::Bundle(_) => Vec::new(),
            _ => tmpfs_options(SCRATCH_SIZE, 0o755),
        },
        root,
        layers_fd,
        steps,
        report_payload: spec.name.is_some(),
        time_offsets: spec.sandbox.time_offsets.clone(),
        // The fds spec::validate checked, not their paths opened again (a path can name
        // another namespace by now).
        joins: spec
            .joins
            .iter()
            .map(|j| {
                let fd =
                    j.fd.try_clone()
                        .with_context(|| format!("opening {}", j.shown))?;
                Ok(Join {
                    fd,
                    nstype: j.nstype,
                    shown: j.shown.clone(),
                })
            })
            .collect::<Result<_>>()?,
        sysctls: spec
            .sandbox
            .sysctls
            .iter()
            .map(|(path, value)| Ok((cpath(path)?, value.clone())))
            .collect::<Result<_>>()?,
        oci: None,
        process,
    })
}

/// `/` for `sandbox`, rendered (see plan::RootModel), and the layer store an image root's
/// lowers are named through.
pub fn root(sandbox: &crate::spec::Sandbox) -> Result<(PreparedRoot, Option<StoreFd>)> {
    Ok(match crate::plan::root_model(sandbox) {
        RootModel::Tmpfs => (PreparedRoot::Tmpfs, None),
        RootModel::Bundle { rootfs, readonly } => (
            PreparedRoot::Bundle {
                rootfs: cpath(&rootfs)?,
                readonly,
                propagation: match &sandbox.root {
                    crate::spec::Root::Bundle(b) => b.propagation,
                    _ => None,
                },
            },
            None,
        ),
        RootModel::Overlay { lowers, upper } => {
            let (fd, lowers) = match &sandbox.root {
                crate::spec::Root::Image(_) => image_lowers(&lowers)?,
                _ => (
                    None,
                    lowers
                        .iter()
                        .map(|l| l.as_os_str().as_bytes().to_vec())
                        .collect(),
                ),
            };
            let options = match &upper {
                Some((u, w)) => {
                    overlay_options(&lowers, u.as_os_str().as_bytes(), w.as_os_str().as_bytes())?
                }
                None => {
                    overlay_options(&lowers, SCRATCH_UPPER.to_bytes(), SCRATCH_WORK.to_bytes())?
                }
            };
            (PreparedRoot::Overlay { options }, fd)
        }
    })
}

#[cfg(test)]
mod overlay_tests {
    use super::*;

    #[test]
    fn lowers_are_escaped_and_joined_top_first() {
        let o = overlay_options(
            &[b"/s/a:b".to_vec(), b"/s/c\\d".to_vec(), b"/s/e".to_vec()],
            b"upper",
            b"/w/work",
        )
        .unwrap();
        let shown = |opts: &[(CString, Option<CString>)]| -> Vec<String> {
            opts.iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{}={}", k.to_str().unwrap(), v.to_str().unwrap()),
                    None => k.to_str().unwrap().to_string(),
                })
                .collect()
        };
        assert_eq!(
            shown(&o.joined),
            [
                "lowerdir=/s/a\\:b:/s/c\\\\d:/s/e",
                "upperdir=upper",
                "workdir=/w/work",
                "userxattr"
            ]
        );
        assert_eq!(
            shown(&o.each),
            [
                "lowerdir+=/s/a:b",
                "lowerdir+=/s/c\\d",
                "lowerdir+=/s/e",
                "upperdir=upper",
                "workdir=/w/work",
                "userxattr"
            ]
        );
    }

    #[test]
    fn image_lowers_are_named_through_the_store() {
        let dir = std::env::temp_dir().join(format!("nsr-lowers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lowers = [dir.join("bbb/root"), dir.join("aaa/root")];
        let (fd, names) = image_lowers(&lowers).unwrap();
        let n = std::os::fd::AsRawFd::as_raw_fd(&fd.unwrap().0);
        assert_eq!(
            names,
            [
                format!("/proc/self/fd/{n}/bbb/root").into_bytes(),
                format!("/proc/self/fd/{n}/aaa/root").into_bytes()
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
