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
    let mut steps = Vec::new();
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
mod tests {
    use super::*;
    use crate::spec::Ids;

    pub(super) fn spec(root: Root, share_net: bool) -> Sandbox {
        Sandbox {
            namespaces: crate::spec::Namespaces::native(!share_net, false),
            maps: None,
            hostname: b"h".to_vec(),
            root,
            net: if share_net {
                crate::net::Net::Host
            } else {
                crate::net::Net::Private
            },
            ids: Ids {
                outer_uid: 1000,
                outer_gid: 1000,
                inner_uid: 0,
                inner_gid: 0,
            },
            mounts: vec![],
            nested: false,
            private_dirs: vec!["/run/user/1000/ns-rootless".into()],
            time_offsets: None,
            cow: None,
            sysctls: vec![],
        }
    }

    /// The plan for a host whose /run holds nothing the plan keeps.
    pub(super) fn plan(spec: &Sandbox, entries: &[RootEntry]) -> Plan {
        super::build(spec, entries, &HostRun::default(), &HostDirs::new())
    }

    pub(super) fn entries() -> Vec<RootEntry> {
        vec![
            RootEntry::Symlink("bin".into(), "usr/bin".into()),
            RootEntry::Dir("dev".into()),
            RootEntry::Dir("etc".into()),
            RootEntry::Dir("home".into()),
            RootEntry::Dir("proc".into()),
            RootEntry::Dir("root".into()),
            RootEntry::Dir("run".into()),
            RootEntry::Dir("tmp".into()),
            RootEntry::Dir("usr".into()),
            RootEntry::Dir("var".into()),
            RootEntry::File(".dockerenv".into()),
        ]
    }

    fn find<'a>(plan: &'a Plan, dst: &str) -> Vec<&'a Step> {
        plan.steps
            .iter()
            .filter(|s| s.dst == Path::new(dst))
            .collect()
    }

    fn position(plan: &Plan, dst: &str) -> usize {
        plan.steps
            .iter()
            .position(|s| s.dst == Path::new(dst))
            .unwrap_or_else(|| panic!("no step for {dst}"))
    }

    #[test]
    fn host_mode_binds_top_level_entries_read_only_and_masks_home_and_root() {
        let p = plan(&spec(Root::Host, false), &entries());
        assert_eq!(
            find(&p, "/usr")[0].action,
            Action::Bind {
                src: "/usr".into(),
                readonly: true,
                dir: true,
                device: false
            }
        );
        assert_eq!(
            find(&p, "/bin")[0].action,
            Action::Symlink {
                target: "usr/bin".into()
            }
        );
        assert!(matches!(
            find(&p, "/.dockerenv")[0].action,
            Action::Bind { dir: false, .. }
        ));
        for mask in ["/home", "/root", "/run"] {
            let steps = find(&p, mask);
            assert_eq!(steps.len(), 1, "{mask}");
            assert_eq!(steps[0].action, scratch(0o755), "{mask}");
        }
        // /run/user went with /run; /var/run, a symlink to /run, leads to the mask.
        assert!(find(&p, "/run/user").is_empty());
        assert!(find(&p, "/var/run").is_empty());
    }

    #[test]
    fn a_var_run_of_its_own_is_hidden_after_var_is_bound() {
        let run = HostRun {
            var_run_dir: true,
            resolver_files: vec![],
        };
        let p = super::build(&spec(Root::Host, false), &entries(), &run, &HostDirs::new());
        let s = find(&p, "/var/run")[0];
        assert_eq!(s.action, scratch(0o755));
        assert!(s.if_exists && s.follow);
        assert!(position(&p, "/var") < position(&p, "/var/run"));
        let p = super::build(
            &spec(Root::Dir("/srv/r".into()), false),
            &entries(),
            &run,
            &HostDirs::new(),
        );
        assert!(find(&p, "/var/run").is_empty() && find(&p, "/run").len() == 1);
    }

    #[test]
    fn with_the_hosts_network_the_resolver_files_under_run_are_kept_read_only() {
        let stub = "/run/systemd/resolve/stub-resolv.conf";
        let run = HostRun {
            var_run_dir: false,
            resolver_files: vec![stub.into()],
        };
        let p = super::build(&spec(Root::Host, true), &entries(), &run, &HostDirs::new());
        assert_eq!(
            find(&p, stub)[0].action,
            Action::Bind {
                src: stub.into(),
                readonly: true,
                dir: false,
                device: false
            }
        );
        assert!(position(&p, "/run") < position(&p, stub));
        // Not with a private network (no DNS to reach), nor with a rootfs (nothing hidden).
        let p = super::build(&spec(Root::Host, false), &entries(), &run, &HostDirs::new());
        assert!(find(&p, stub).is_empty());
        let p = super::build(
            &spec(Root::Dir("/srv/r".into()), true),
            &entries(),
            &run,
            &HostDirs::new(),
        );
        assert!(find(&p, stub).is_empty());
    }

    #[test]
    fn hide_is_an_optional_user_step() {
        let mut s = spec(Root::Host, false);
        s.mounts = vec![MountSpec::Hide {
            dst: "/srv/tmux.sock".into(),
        }];
        let p = plan(&s, &entries());
        let last = p.steps.last().unwrap();
        assert_eq!(last.dst, Path::new("/srv/tmux.sock"));
        assert_eq!(last.action, Action::Mask);
        assert!(last.if_exists && !last.follow);
        assert_eq!(last.describe(), "masking /srv/tmux.sock");
    }

    #[test]
    fn the_sandbox_replaces_proc_sys_dev_and_tmp() {
        let p = plan(&spec(Root::Host, false), &entries());
        assert_eq!(find(&p, "/proc").len(), 1);
        assert_eq!(find(&p, "/proc")[0].action, Action::Proc);
        assert_eq!(find(&p, "/tmp")[0].action, scratch(0o1777));
        assert_eq!(find(&p, "/dev")[0].action, scratch(0o755));
        assert_eq!(find(&p, "/dev/shm")[0].action, scratch(0o1777));
        assert_eq!(find(&p, "/sys")[0].action, Action::Sysfs);
    }

    #[test]
    fn a_symlinked_home_is_masked_where_it_leads_once_that_exists() {
        // Silverblue: /home -> var/home, and "home" sorts before "var".
        let p = plan(
            &spec(Root::Host, false),
            &[
                RootEntry::Symlink("home".into(), "var/home".into()),
                RootEntry::Dir("var".into()),
            ],
        );
        let steps = find(&p, "/home");
        assert!(matches!(steps[0].action, Action::Symlink { .. }));
        assert!(steps[1].follow && steps[1].action == scratch(0o755));
        let mask = p
            .steps
            .iter()
            .position(|s| s.dst == Path::new("/home") && s.follow)
            .unwrap();
        assert!(
            position(&p, "/var") < mask,
            "the mask comes after /var is bound"
        );
    }

    #[test]
    fn rootfs_mode_binds_writable_and_masks_nothing() {
        let p = plan(&spec(Root::Dir("/srv/r".into()), false), &entries());
        assert_eq!(
            find(&p, "/home")[0].action,
            Action::Bind {
                src: "/srv/r/home".into(),
                readonly: false,
                dir: true,
                device: false
            }
        );
        assert!(find(&p, "/run/user").is_empty());
    }

    /// The scratch directories are made in the root's proc directory (prepared::HIDDEN), hidden
    /// by the proc mounted on it: every plan must mount proc there, and exactly once.
    #[test]
    fn proc_always_covers_where_the_scratch_directories_are_made() {
        let hidden = Path::new("/").join(crate::prepared::HIDDEN.to_str().unwrap());
        for root in [Root::Host, Root::Dir("/srv/r".into())] {
            for (share_net, nested) in [(false, false), (true, true)] {
                let mut s = spec(root.clone(), share_net);
                s.nested = nested;
                let p = plan(&s, &entries());
                let at_hidden: Vec<_> = find(&p, hidden.to_str().unwrap());
                assert_eq!(at_hidden.len(), 1, "{at_hidden:?}");
                assert_eq!(at_hidden[0].action, Action::Proc);
            }
        }
    }

    #[test]
    fn proc_comes_after_dev_and_tmp() {
        let p = plan(&spec(Root::Host, false), &entries());
        assert!(position(&p, "/dev/shm") < position(&p, "/proc"));
        assert!(position(&p, "/tmp") < position(&p, "/proc"));
    }

    #[test]
    fn user_mounts_come_last_in_the_order_given() {
        let mut s = spec(Root::Host, false);
        s.mounts = vec![
            MountSpec::Tmpfs {
                dst: "/scratch".into(),
                size: 4096,
            },
            MountSpec::Dir {
                dst: "/scratch/a".into(),
            },
        ];
        let p = plan(&s, &entries());
        let n = p.steps.len();
        assert_eq!(p.steps[n - 2].dst, Path::new("/scratch"));
        assert_eq!(p.steps[n - 1].action, Action::Dir);
        assert!(
            !p.steps[n - 1].follow,
            "user destinations never follow symlinks"
        );
    }

    #[test]
    fn sysfs_only_with_a_private_network() {
        let private = plan(&spec(Root::Host, false), &[]);
        assert_eq!(find(&private, "/sys")[0].action, Action::Sysfs);
        let shared = plan(&spec(Root::Host, true), &[]);
        assert!(matches!(
            find(&shared, "/sys")[0].action,
            Action::Bind { readonly: true, .. }
        ));
    }

    #[test]
    fn our_directories_share_the_scratch_tmpfs_and_devices_keep_working() {
        let p = plan(&spec(Root::Host, false), &entries());
        for s in &p.steps {
            match &s.action {
                Action::Tmpfs { .. } => panic!("a tmpfs of its own at {}", s.dst.display()),
                Action::Bind { device, src, .. } => {
                    assert_eq!(*device, src.starts_with("/dev/"), "{}", src.display())
                }
                _ => {}
            }
        }
    }

    #[test]
    fn proc_and_sys_are_masked_unless_nesting() {
        let p = plan(&spec(Root::Host, false), &entries());
        assert_eq!(find(&p, "/proc/sys")[0].action, Action::ReadOnly);
        assert!(matches!(
            find(&p, "/proc/kcore")[0].action,
            Action::Bind { device: true, .. }
        ));
        assert_eq!(find(&p, "/sys/fs/cgroup")[0].action, mask());
        assert!(position(&p, "/proc") < position(&p, "/proc/sys"));
        let mut nested = spec(Root::Host, false);
        nested.nested = true;
        let p = plan(&nested, &entries());
        assert!(find(&p, "/proc/sys").is_empty());
        assert!(find(&p, "/proc/kcore").is_empty());
        assert!(find(&p, "/sys/firmware").is_empty());
    }

    #[test]
    fn steps_describe_themselves() {
        let p = plan(&spec(Root::Host, false), &entries());
        assert_eq!(find(&p, "/tmp")[0].describe(), "mounting tmpfs on /tmp");
        assert_eq!(
            find(&p, "/dev/null")[0].describe(),
            "binding /dev/null to /dev/null"
        );
    }

    /// A failure is worded from the rendered step (prepared.rs), explain prints the plan's:
    /// both say the same for every kind of step.
    #[test]
    fn rendered_steps_describe_themselves_as_the_plan_does() {
        let mut s = spec(Root::Host, false);
        s.cow = Some(cow());
        s.mounts = vec![
            MountSpec::Bind {
                src: "/srv/rw".into(),
                dst: "/srv/rw".into(),
                readonly: false,
                dir: true,
            },
            MountSpec::Bind {
                src: "/etc/a b\n".into(),
                dst: "/x/f".into(),
                readonly: true,
                dir: false,
            },
            MountSpec::Tmpfs {
                dst: "/scratch".into(),
                size: 4096,
            },
            MountSpec::Dir { dst: "/d".into() },
            MountSpec::Symlink {
                target: "t".into(),
                dst: "/l".into(),
            },
            MountSpec::Hide {
                dst: "/srv/tmux.sock".into(),
            },
        ];
        let mut p = plan(&s, &entries());
        p.steps.extend([
            step(
                "/m",
                Action::Filesystem {
                    fstype: "mqueue".into(),
                    source: "mqueue".into(),
                    options: vec![],
                    attrs: 0,
                    propagation: 0,
                },
            ),
            step(
                "/b",
                Action::BindTree {
                    src: "/srv".into(),
                    dir: true,
                    attrs: 0,
                    recursive: true,
                    propagation: 0,
                },
            ),
            step("/k", Action::Mask),
            step("/etc/resolv.conf", Action::File { contents: vec![] }),
            step("/ro", Action::ReadOnly),
        ]);
        let rendered = crate::prepared::prepare_steps(&p).unwrap();
        assert_eq!(rendered.len(), p.steps.len());
        for (step, r) in p.steps.iter().zip(&rendered) {
            assert_eq!(r.describe(), step.describe());
        }
    }

    fn image() -> crate::image::Image {
        crate::image::Image {
            source: "/img.tar".into(),
            layers: vec!["/store/a/root".into(), "/store/b/root".into()],
            config: Default::default(),
            held: Default::default(),
        }
    }

    fn cow() -> crate::spec::Cow {
        crate::spec::Cow {
            name: "s".into(),
            dir: "/state/sessions/s".into(),
            generated: false,
        }
    }

    #[test]
    fn an_image_root_is_an_overlay_of_its_layers_top_first() {
        let s = spec(Root::Image(image()), false);
        assert_eq!(
            root_model(&s),
            RootModel::Overlay {
                lowers: vec!["/store/b/root".into(), "/store/a/root".into()],
                upper: None,
            }
        );
        // The overlay has its own entries: none are bound, and the sandbox's own still come.
        let p = plan(&s, &entries());
        assert!(find(&p, "/usr").is_empty() && find(&p, "/etc").is_empty());
        assert_eq!(find(&p, "/proc")[0].action, Action::Proc);
        assert_eq!(find(&p, "/tmp")[0].action, scratch(0o1777));
        assert_eq!(root_model(&spec(Root::Host, false)), RootModel::Tmpfs);
        assert_eq!(
            root_model(&spec(Root::Dir("/r".into()), false)),
            RootModel::Tmpfs
        );
    }

    #[test]
    fn cow_keeps_the_roots_writes_and_overlays_read_write_binds() {
        let mut s = spec(Root::Dir("/r".into()), false);
        s.cow = Some(cow());
        assert_eq!(
            root_model(&s),
            RootModel::Overlay {
                lowers: vec!["/r".into()],
                upper: Some((
                    "/state/sessions/s/upper/root".into(),
                    "/state/sessions/s/work/root".into()
                )),
            }
        );
        let bind = |src: &str, readonly: bool, dir: bool| MountSpec::Bind {
            src: src.into(),
            dst: src.into(),
            readonly,
            dir,
        };
        s.mounts = vec![bind("/ro", true, true), bind("/rw", false, true)];
        let p = plan(&s, &entries());
        assert!(matches!(
            find(&p, "/ro")[0].action,
            Action::Bind { readonly: true, .. }
        ));
        assert_eq!(
            find(&p, "/rw")[0].action,
            Action::Overlay {
                lower: "/rw".into(),
                upper: "/state/sessions/s/upper/1".into(),
                work: "/state/sessions/s/work/1".into(),
            }
        );
        s.cow = None;
        let p = plan(&s, &entries());
        assert!(matches!(
            find(&p, "/rw")[0].action,
            Action::Bind {
                readonly: false,
                ..
            }
        ));
    }

    #[test]
    fn the_state_dir_stays_masked_under_cow() {
        let mut s = spec(Root::Dir("/r".into()), false);
        s.cow = Some(cow());
        s.private_dirs = vec!["/r/run/ns".into()];
        s.mounts = vec![MountSpec::Bind {
            src: "/tmp".into(),
            dst: "/tmp".into(),
            readonly: false,
            dir: true,
        }];
        let p = plan(&s, &entries());
        assert_eq!(find(&p, "/run/ns")[0].action, mask());
        assert!(p.shows_private);
        s.private_dirs = vec!["/tmp/ns-rootless-1000".into()];
        let p = plan(&s, &entries());
        assert_eq!(find(&p, "/tmp/ns-rootless-1000")[0].action, mask());
        assert!(p.shows_private);
    }

    /// User-mode networking covers the root's resolv.conf (where it leads, if a symlink, and
    /// only if there is one) before the user's mounts, which may replace it.
    #[test]
    fn user_mode_networking_covers_resolv_conf() {
        assert!(find(
            &plan(&spec(Root::Host, false), &entries()),
            "/etc/resolv.conf"
        )
        .is_empty());
        let mut s = spec(Root::Dir("/srv/r".into()), false);
        s.net = crate::net::Net::User(crate::net::UserNet {
            helper: crate::net::Helper::Pasta("/usr/bin/pasta".into()),
            host_loopback: false,
            publish: vec![],
        });
        s.mounts = vec![MountSpec::Tmpfs {
            dst: "/etc".into(),
            size: 1,
        }];
        let p = plan(&s, &entries());
        let steps = find(&p, "/etc/resolv.conf");
        assert_eq!(steps.len(), 1);
        assert!(steps[0].follow && steps[0].if_exists);
        assert!(matches!(&steps[0].action, Action::File { contents }
            if contents.ends_with(b"nameserver 169.254.1.1\n")));
        let at = |dst: &str| p.steps.iter().rposition(|st| st.dst == Path::new(dst));
        assert!(at("/etc/resolv.conf") < at("/etc"), "{:?}", p.steps);
    }
}
