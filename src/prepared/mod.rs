//! Everything the children need, rendered before fork: after fork they only make syscalls.

use crate::idmap;
use crate::plan::{Action, Plan, RootModel, SCRATCH_SIZE};
use crate::spec::{Cwd, Seccomp, Spec};
use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use anyhow::{Context, Result};
use nix::libc::{self, c_char};
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

/// What a process needs to start in a sandbox it is inside of (payload.rs): the payload init
/// starts, or a command `exec` (native or OCI) adds to a running sandbox.
pub struct Process {
    /// The nested user namespace the payload starts in, and its maps (not when `exec` has
    /// joined the payload's already, nor for an OCI process).
    pub nest: Option<Nest>,
    /// Whether the process drops every capability. With `--allow nested` it keeps them: they
    /// only reach its own nested user namespace, and mapping root in a namespace of its own
    /// needs CAP_SETFCAP (user_namespaces(7), since Linux 5.12).
    pub drop_caps: bool,
    /// The signals we ignore (inherited from the caller, plus Rust's SIGPIPE): the process
    /// resets them to their defaults.
    pub ignored_signals: u64,
    pub cwd: PreparedCwd,
    pub limits: Vec<crate::spec::Limit>,
    /// The pty to open for the process, when it gets one.
    pub pty: Option<crate::tty::PtySetup>,
    /// The Landlock ruleset the process enters before its seccomp filter, if any (landlock.rs).
    pub landlock: Option<std::os::fd::OwnedFd>,
    /// The seccomp program to install last, if any.
    pub seccomp: Option<crate::seccomp::Program>,
    /// Paths to try with execve, in PATH order (execvp's search, done without allocating).
    pub candidates: Vec<CString>,
    pub argv: CStrArray,
    pub envp: CStrArray,
    /// What an OCI process adds: its config's ids, capabilities, no_new_privs, rlimits and
    /// seccomp profile, its preserved fds.
    pub oci: Option<crate::spec::OciLockdown>,
}

/// A namespace to join: its fd, its CLONE_NEW* type, and what it is, for a failure's words.
pub struct Join {
    pub fd: std::os::fd::OwnedFd,
    pub nstype: libc::c_int,
    /// "the network namespace \"/run/netns/x\"".
    pub shown: String,
}

/// The payload's nested user namespace (payload.rs).
pub struct Nest {
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// The payload is in a time namespace of its own, with a copy of init's memory.
    pub own_time: bool,
}

pub enum PreparedCwd {
    /// Try this path, fall back to `/`.
    Try(CString),
    /// This path or fail.
    Exact(CString),
    Root,
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

/// The execve candidates for `command` given the sandbox's PATH, like execvp(3): a name with a
/// slash is used as is; an empty PATH entry means the current directory.
pub fn exec_candidates(command: &OsStr, path: &OsStr) -> Vec<Vec<u8>> {
    let cmd = command.as_bytes();
    if cmd.contains(&b'/') {
        return vec![cmd.to_vec()];
    }
    if cmd.is_empty() {
        return vec![];
    }
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
            let mut full = dir.to_vec();
            if !full.ends_with(b"/") {
                full.push(b'/');
            }
            full.extend_from_slice(cmd);
            full
        })
        .collect()
}

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

/// The process half of `prepare`, shared with `exec`: `p` run in a sandbox whose network is
/// the host's (`host_net`: then it enters a Landlock domain, landlock.rs), in the nested user
/// namespace `nest` when it makes one.
pub fn process(p: &crate::spec::Process, host_net: bool, nest: Option<Nest>) -> Result<Process> {
    let (candidates, argv, envp) = prepare_command(&p.command, &p.env)?;
    crate::stamps::stamp("r-cmd");
    let landlock = crate::landlock::payload_ruleset(host_net)?;
    crate::stamps::stamp("r-landlock");
    let seccomp = match &p.seccomp {
        Seccomp::Default(allow) => Some(crate::seccomp::default_program(allow)?),
        Seccomp::None => None,
        Seccomp::Program(bytes) => Some(
            crate::seccomp::program_from_bytes(bytes)
                .map_err(|why| anyhow::anyhow!("invalid seccomp program: {why}"))?,
        ),
    };
    crate::stamps::stamp("r-seccomp");
    let (drop_caps, oci) = match &p.lockdown {
        crate::spec::Lockdown::Native { keep_caps } => (!keep_caps, None),
        crate::spec::Lockdown::Oci(o) => (true, Some(o.clone())),
    };
    let pty = match &oci {
        _ if !p.tty => None,
        None => Some(crate::tty::PtySetup::from_stdin()),
        Some(o) => Some(crate::tty::PtySetup {
            termios: None,
            winsize: libc::winsize {
                ws_row: o.console_size.0,
                ws_col: o.console_size.1,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        }),
    };
    Ok(Process {
        nest,
        drop_caps,
        ignored_signals: p.ignored_signals,
        cwd: match &p.cwd {
            Cwd::Caller(p) => PreparedCwd::Try(cpath(p)?),
            Cwd::Exact(p) => PreparedCwd::Exact(cpath(p)?),
            Cwd::Root => PreparedCwd::Root,
        },
        limits: p.limits.clone(),
        pty,
        landlock,
        seccomp,
        candidates,
        argv,
        envp,
        oci,
    })
}

/// The plan's steps, rendered for the executor.
pub fn prepare_steps(plan: &Plan) -> Result<Vec<PreparedStep>> {
    let mut steps = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        // Path::strip_prefix walks the components of both; a leading `/` is one byte.
        let dst = step.dst.as_os_str().as_bytes();
        let rel = match dst.strip_prefix(b"/").and_then(clean_relative) {
            Some(rel) => Path::new(OsStr::from_bytes(rel)),
            None => step.dst.strip_prefix("/").unwrap_or(&step.dst),
        };
        steps.push(PreparedStep {
            rel: cpath(rel)?,
            chain: chain(rel)?,
            if_exists: step.if_exists,
            follow: step.follow,
            action: prepare_action(&step.action, i)?,
        });
    }
    Ok(steps)
}

/// The execve candidates, argv and envp of `command` run with `env` (its PATH searched).
pub fn prepare_command(
    command: &[std::ffi::OsString],
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Result<(Vec<CString>, CStrArray, CStrArray)> {
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str())
        .unwrap_or(OsStr::new(crate::spec::DEFAULT_PATH));
    let candidates = match command.first() {
        Some(cmd) => exec_candidates(cmd, path)
            .into_iter()
            .map(|c| cstring(&c))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let argv = command
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<_>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstring(&kv)
        })
        .collect::<Result<_>>()?;
    Ok((candidates, CStrArray::new(argv), CStrArray::new(envp)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn candidates_follow_path_order() {
        assert_eq!(
            strs(exec_candidates("ls".as_ref(), "/usr/bin:/bin/".as_ref())),
            ["/usr/bin/ls", "/bin/ls"]
        );
    }

    #[test]
    fn a_name_with_a_slash_is_not_searched() {
        assert_eq!(
            strs(exec_candidates("./run.sh".as_ref(), "/bin".as_ref())),
            ["./run.sh"]
        );
    }

    #[test]
    fn an_empty_path_entry_means_the_current_directory() {
        assert_eq!(
            strs(exec_candidates("x".as_ref(), "/bin::".as_ref())),
            ["/bin/x", "./x", "./x"]
        );
    }

    #[test]
    fn an_empty_command_has_no_candidates() {
        assert!(exec_candidates("".as_ref(), "/bin".as_ref()).is_empty());
    }
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
