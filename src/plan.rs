//! What gets mounted in the new root, in order: pure data.
//!
//! The new root is always the sandbox's own scratch tmpfs (made read-only once built). Its
//! top-level entries are binds of the source root's (the host's `/`, read-only, or a
//! `--rootfs` directory), so any mount point that doesn't exist can be created in sandbox-owned
//! tmpfs, never on the host.
//! Every destination is an absolute path *inside the sandbox*; the executor (`mount`) resolves
//! it beneath the new root with RESOLVE_IN_ROOT, so no destination can lead outside it.

mod bundle;
mod layers;
mod private_dirs;

pub use layers::{candidates as layer_candidates, HostDirs};

use crate::hostrun::HostRun;
use crate::spec::{MountSpec, Root, Sandbox};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The cap of the sandbox's scratch tmpfs (see `Action::Scratch`): a payload can't fill memory
/// through the directories we give it, all of them together.
pub const SCRATCH_SIZE: u64 = crate::spec::mounts::DEFAULT_TMPFS_SIZE;

/// Host devices bind-mounted into the sandbox's /dev (mknod is refused in a user namespace).
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The links of /dev, (name, target).
pub const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Top-level entries of the source root that the sandbox replaces with its own.
const REPLACED: [&str; 4] = ["proc", "sys", "dev", "tmp"];
/// In host mode, top-level directories hidden under an empty directory: the users' files, and
/// /run, where the host's daemons and the user's own programs keep their unix sockets (D-Bus,
/// docker, screen, tmux, agents, other users' runtime dirs). A read-only bind doesn't stop
/// connect(2).
const MASKED: [&str; 3] = ["home", "root", "run"];

/// About how many steps `build` adds beside one per entry and per user mount: /tmp, /dev's 14,
/// /proc and its 8 masks, /sys and its 2, /var/run, resolv.conf, and a few for the private
/// directories' masks (a capacity: more only grows the vector).
const FIXED_STEPS: usize = 40;

/// A top-level entry of the source root, as listed before fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootEntry {
    Dir(OsString),
    File(OsString),
    Symlink(OsString, PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A fresh empty directory of the sandbox's one scratch tmpfs (the root's), mounted on its
    /// own (so it keeps its flags when `/` is made read-only): /tmp, /dev, /dev/shm and the
    /// masks. One superblock for all of them and `/` instead of one each: creating and
    /// destroying a tmpfs costs more than a bind, and launches pay it twice.
    Scratch {
        mode: u32,
        readonly: bool,
    },
    /// A tmpfs of its own (a user's --tmpfs, with its own size), mode 0755.
    Tmpfs {
        size: u64,
    },
    Proc,
    /// Read-only sysfs of the sandbox's own network namespace.
    Sysfs,
    /// A private devpts instance (`newinstance`), so ptys can't reach the host's.
    Devpts,
    /// Bind `src` (with all its submounts) at the destination, created as a directory or a file
    /// like `src`. Device nodes keep working only on binds marked `device`.
    Bind {
        src: PathBuf,
        readonly: bool,
        dir: bool,
        device: bool,
    },
    Dir,
    Symlink {
        target: PathBuf,
    },
    /// Make what is at the destination read-only (it is bound onto itself).
    ReadOnly,
    /// A new filesystem with its own options and mount attributes (OCI `mounts`), and this
    /// propagation type (MS_PRIVATE unless the config says otherwise).
    Filesystem {
        fstype: String,
        source: String,
        options: Vec<(String, Option<String>)>,
        attrs: u64,
        propagation: u64,
    },
    /// Bind `src` with exactly `attrs` (OCI `bind`/`rbind`), with its submounts if `recursive`,
    /// and this propagation type (MS_PRIVATE unless the config says otherwise).
    BindTree {
        src: PathBuf,
        dir: bool,
        attrs: u64,
        recursive: bool,
        propagation: u64,
    },
    /// Hide what is at the destination: an empty read-only tmpfs on a directory, /dev/null on
    /// anything else (OCI `maskedPaths`; what it is is only known inside the new root).
    Mask,
    /// `--cow`: overlayfs with the host directory `lower` below and the session's `upper`
    /// (and `work`, on the same filesystem) on top, instead of a read-write bind.
    Overlay {
        lower: PathBuf,
        upper: PathBuf,
        work: PathBuf,
    },
    /// A read-only file of the scratch tmpfs holding `contents`, bound on the destination
    /// (a generated /etc/resolv.conf).
    File {
        contents: Vec<u8>,
    },
}

/// What `/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootModel {
    /// The sandbox's scratch tmpfs; its top-level entries are binds of the source root's (the
    /// host's, or a --rootfs).
    Tmpfs,
    /// overlayfs over `lowers` (top first): an image's layers, or a --rootfs with --cow. The
    /// writes go to `upper` and `work` when given (a --cow session), else to the sandbox's
    /// scratch tmpfs, thrown away at exit: nothing is copied per run.
    Overlay {
        lowers: Vec<PathBuf>,
        upper: Option<(PathBuf, PathBuf)>,
    },
    /// An OCI bundle's rootfs bound onto itself (every submount kept), read-only when its
    /// config says so. Mount points may be created in it: it is the container's own tree.
    Bundle { rootfs: PathBuf, readonly: bool },
}

/// The root model for `spec`.
pub fn root_model(spec: &Sandbox) -> RootModel {
    let session = spec
        .cow
        .as_ref()
        .map(|c| crate::session::layout(&c.dir, crate::session::ROOT));
    match (&spec.root, session) {
        (Root::Host, _) => RootModel::Tmpfs,
        (Root::Dir(_), None) => RootModel::Tmpfs,
        (Root::Dir(dir), Some(upper)) => RootModel::Overlay {
            lowers: vec![dir.clone()],
            upper: Some(upper),
        },
        (Root::Image(image), upper) => RootModel::Overlay {
            lowers: image.layers.iter().rev().cloned().collect(),
            upper,
        },
        (Root::Bundle(b), _) => RootModel::Bundle {
            rootfs: b.rootfs.clone(),
            readonly: b.readonly,
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub dst: PathBuf,
    pub action: Action,
    /// Skip the step when the destination doesn't exist instead of creating it.
    pub if_exists: bool,
    /// Whether the destination itself may be a symlink (resolved inside the root). Users'
    /// destinations may not.
    pub follow: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Whether a bind shows one of the caller's private directories' places (masked by the
    /// last steps): then they must exist, ours, before the sandbox starts. Otherwise a
    /// read-write bind would let the sandbox make one first, and a read-only one would show
    /// what goes there later.
    pub shows_private: bool,
}

pub fn step(dst: impl Into<PathBuf>, action: Action) -> Step {
    Step {
        dst: dst.into(),
        action,
        if_exists: false,
        follow: false,
    }
}

fn scratch(mode: u32) -> Action {
    Action::Scratch {
        mode,
        readonly: false,
    }
}

/// Hides the destination directory under an empty read-only directory.
fn mask() -> Action {
    Action::Scratch {
        mode: 0o755,
        readonly: true,
    }
}

/// Hides the destination file under /dev/null, read-only.
fn mask_file() -> Action {
    Action::Bind {
        src: "/dev/null".into(),
        readonly: true,
        dir: false,
        device: true,
    }
}

/// The name of a directory entry.
pub fn entry_name(e: &RootEntry) -> &std::ffi::OsStr {
    match e {
        RootEntry::Dir(n) | RootEntry::File(n) | RootEntry::Symlink(n, _) => n,
    }
}

/// The steps for the sandbox `spec`, given the top-level entries of its source root and, for
/// host mode, what the host's /run holds and the listings of the host directories that may
/// become layers (see `layers`): pure, every host fact comes in as data.
pub fn build(spec: &Sandbox, entries: &[RootEntry], run: &HostRun, dirs: &HostDirs) -> Plan {
    let (source, readonly, host) = match &spec.root {
        Root::Host => (Path::new("/"), true, true),
        Root::Dir(dir) => (dir.as_path(), false, false),
        Root::Image(_) => (Path::new("/"), false, false),
        Root::Bundle(b) => {
            return Plan {
                steps: bundle::steps(b, &spec.mounts),
                shows_private: false,
            }
        }
    };
    // An overlay root has its entries already.
    let entries = match root_model(spec) {
        RootModel::Tmpfs => entries,
        RootModel::Overlay { .. } | RootModel::Bundle { .. } => &[],
    };
    let layers = layers::layers(spec, entries, dirs);
    // Sized once: grown from empty, a default plan's ~45 steps of ~120 bytes were copied four
    // times into blocks the arena never reuses (~10 KiB, pages touched before clone).
    let mut steps = Vec::with_capacity(entries.len() + FIXED_STEPS + spec.mounts.len());
    // Masks of top-level symlinks (e.g. /home -> var/home): applied after every entry is bound,
    // or the place they lead to wouldn't exist yet.
    let mut link_masks = Vec::new();
    for entry in entries {
        let name = match entry {
            RootEntry::Dir(n) | RootEntry::File(n) | RootEntry::Symlink(n, _) => n,
        };
        if REPLACED.iter().any(|r| name == *r) {
            continue;
        }
        let dst = Path::new("/").join(name);
        let masked = host && MASKED.iter().any(|m| name == *m);
        match entry {
            RootEntry::Symlink(_, target) => {
                steps.push(step(
                    &dst,
                    Action::Symlink {
                        target: target.clone(),
                    },
                ));
                if masked {
                    // e.g. /home -> var/home: hide where it leads, inside the root.
                    let mut s = step(&dst, scratch(0o755));
                    s.follow = true;
                    s.if_exists = true;
                    link_masks.push(s);
                }
            }
            _ if masked => steps.push(step(&dst, scratch(0o755))),
            RootEntry::Dir(_) if layers.contains(&dst) => {
                layers::steps(&dst, &layers, dirs, &mut steps)
            }
            RootEntry::Dir(_) | RootEntry::File(_) => steps.push(step(
                &dst,
                Action::Bind {
                    src: source.join(name),
                    readonly,
                    dir: matches!(entry, RootEntry::Dir(_)),
                    device: false,
                },
            )),
        }
    }
    steps.append(&mut link_masks);
    if host {
        run_steps(spec, run, &mut steps);
    }
    steps.push(step("/tmp", scratch(0o1777)));
    dev_steps(&mut steps);
    // /proc must be mounted while the old root is still attached: the kernel only allows a new
    // proc where a fully visible one already exists (mount_too_revealing).
    steps.push(step("/proc", Action::Proc));
    if !spec.nested {
        proc_masks(&mut steps);
    }
    steps.push(if !spec.net.own_namespace() {
        // sysfs can only be mounted by the owner of the network namespace it shows.
        step(
            "/sys",
            Action::Bind {
                src: "/sys".into(),
                readonly: true,
                dir: true,
                device: false,
            },
        )
    } else {
        step("/sys", Action::Sysfs)
    });
    // Cgroup control files and firmware tables (ACPI, EFI variables) are not a build's business.
    // (Not with --allow nested: like /proc, a nested sandbox needs a fully visible /sys.)
    if !spec.nested {
        for dir in ["/sys/fs/cgroup", "/sys/firmware"] {
            steps.push(optional(step(dir, mask())));
        }
    }
    // DNS through the network helper's forwarder: a file of the sandbox's own on top of the
    // root's /etc/resolv.conf (followed inside the root where it is a symlink), so neither
    // the host's nor a rootfs's is written. Skipped where the root has none to cover.
    if let Some(contents) = spec.net.resolv_conf() {
        let mut s = optional(step("/etc/resolv.conf", Action::File { contents }));
        s.follow = true;
        steps.push(s);
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        steps.push(user_step(m, spec.cow.as_ref().map(|c| (c, i))));
    }
    let shows_private = private_dirs::masks(&mut steps, spec);
    Plan {
        steps,
        shows_private,
    }
}

/// After /run is masked (MASKED): a /var/run of its own hidden too (usually it is a symlink to
/// /run, bound with /var), and when the network reaches out, the files name resolution reads
/// from the host's /run, read-only (a file, never a socket or a directory of them). With a
/// helper, its resolv.conf then covers the host's there (below: /etc/resolv.conf, followed).
fn run_steps(spec: &Sandbox, run: &HostRun, steps: &mut Vec<Step>) {
    if run.var_run_dir {
        let mut s = optional(step("/var/run", scratch(0o755)));
        s.follow = true;
        steps.push(s);
    }
    if crate::hostrun::resolves_names(&spec.net) {
        for file in &run.resolver_files {
            steps.push(step(
                file,
                Action::Bind {
                    src: file.clone(),
                    readonly: true,
                    dir: false,
                    device: false,
                },
            ));
        }
    }
}

fn optional(mut s: Step) -> Step {
    s.if_exists = true;
    s
}

/// /proc entries that reach beyond the sandbox (SECURITY.md: writable or unmasked /proc).
/// The kernel still checks permissions on them, but without our masks a future kernel bug or a
/// too-lax sysctl is one write away.
fn proc_masks(steps: &mut Vec<Step>) {
    for dir in ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"] {
        steps.push(optional(step(dir, Action::ReadOnly)));
    }
    // Kernel memory, other users' keys and kernel timers/scheduler internals: read as empty.
    for file in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        steps.push(optional(step(file, mask_file())));
    }
}

fn user_step(m: &MountSpec, cow: Option<(&crate::spec::Cow, usize)>) -> Step {
    match m {
        MountSpec::Bind {
            src,
            dst,
            readonly: false,
            dir: true,
        } if cow.is_some() => {
            let (upper, work) = cow
                .map(|(c, i)| crate::session::layout(&c.dir, &i.to_string()))
                .unwrap_or_default();
            step(
                dst,
                Action::Overlay {
                    lower: src.clone(),
                    upper,
                    work,
                },
            )
        }
        MountSpec::Bind {
            src,
            dst,
            readonly,
            dir,
        } => step(
            dst,
            Action::Bind {
                src: src.clone(),
                readonly: *readonly,
                dir: *dir,
                device: false,
            },
        ),
        MountSpec::BindTree {
            src,
            dst,
            dir,
            attrs,
            recursive,
            propagation,
        } => step(
            dst,
            Action::BindTree {
                src: src.clone(),
                dir: *dir,
                attrs: *attrs,
                recursive: *recursive,
                propagation: *propagation,
            },
        ),
        MountSpec::Filesystem {
            dst,
            fstype,
            source,
            options,
            attrs,
            propagation,
        } => step(
            dst,
            Action::Filesystem {
                fstype: fstype.clone(),
                source: source.clone(),
                options: options.clone(),
                attrs: *attrs,
                propagation: *propagation,
            },
        ),
        MountSpec::Tmpfs { dst, size } => step(dst, Action::Tmpfs { size: *size }),
        MountSpec::Hide { dst } => optional(step(dst, Action::Mask)),
        MountSpec::ReadOnly { dst } => optional(step(dst, Action::ReadOnly)),
        MountSpec::Dir { dst } => step(dst, Action::Dir),
        MountSpec::Symlink { target, dst } => step(
            dst,
            Action::Symlink {
                target: target.clone(),
            },
        ),
    }
}

fn dev_steps(steps: &mut Vec<Step>) {
    steps.push(step("/dev", scratch(0o755)));
    for dev in DEVICES {
        let path = format!("/dev/{dev}");
        steps.push(step(
            &path,
            Action::Bind {
                src: path.clone().into(),
                readonly: false,
                dir: false,
                device: true,
            },
        ));
    }
    for (name, target) in DEV_LINKS {
        steps.push(step(
            format!("/dev/{name}"),
            Action::Symlink {
                target: target.into(),
            },
        ));
    }
    steps.push(step("/dev/pts", Action::Devpts));
    steps.push(step("/dev/shm", scratch(0o1777)));
}

impl Step {
    /// What this step does, for error messages: "mounting tmpfs on /tmp".
    pub fn describe(&self) -> String {
        let shown = |p: &Path| crate::error::escape(p.as_os_str().as_bytes());
        let dst = shown(&self.dst);
        match &self.action {
            Action::Scratch { readonly: true, .. } => format!("masking {dst}"),
            Action::Scratch { .. } | Action::Tmpfs { .. } => format!("mounting tmpfs on {dst}"),
            Action::Proc => format!("mounting proc on {dst}"),
            Action::Sysfs => format!("mounting sysfs on {dst}"),
            Action::Devpts => format!("mounting devpts on {dst}"),
            Action::Bind { src, .. } => format!("binding {} to {dst}", shown(src)),
            Action::Dir => format!("creating directory {dst}"),
            Action::Symlink { target } => {
                format!("creating symlink {dst} -> {}", shown(target))
            }
            Action::ReadOnly => format!("making {dst} read-only"),
            Action::Filesystem { fstype, .. } => {
                format!(
                    "mounting {} on {dst}",
                    crate::error::escape(fstype.as_bytes())
                )
            }
            Action::BindTree { src, .. } => format!("binding {} to {dst}", shown(src)),
            Action::Mask => format!("masking {dst}"),
            Action::Overlay { lower, .. } => {
                format!(
                    "mounting a copy-on-write overlay of {} on {dst}",
                    shown(lower)
                )
            }
            Action::File { .. } => format!("binding a generated file to {dst}"),
        }
    }
}

#[cfg(test)]
mod tests;
