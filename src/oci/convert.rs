//! config.json → a spec::Spec { sandbox, process }, planned (plan::build) and prepared
//! (prepared::prepare) as the command line's is, plus what only an OCI init does (Launch) and
//! what `create` keeps. Every field we can't honour where ignoring it would weaken isolation
//! is an error naming it.

use crate::error::quote;
use crate::oci::config::{Config, IdMapping, Process};
use crate::oci::launch::{Launch, StartHook};
use crate::oci::process::{rlimits, sysctls};
use crate::prepared::{self, Prepared};
use crate::spec::{self, mount_options, MountSpec, Root, Sandbox};
use anyhow::{bail, Context, Result};
use nix::libc;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Who runs the runtime.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// uid 0 inside someone else's user namespace (rootless podman): may write any map of ids
    /// that namespace has, and needs no namespace of its own to mount.
    pub userns_root: bool,
}

pub struct Container {
    pub prepared: Prepared,
    /// A PID namespace joined by path: `create` enters it just before init is cloned, which
    /// then is a process of it (setns(2) moves only the children of the caller).
    pub join_pid: Option<(OwnedFd, String)>,
    /// The maps of the container's new user namespace (its sandbox's), written by `create`.
    pub maps: Option<spec::IdMaps>,
    pub rootfs: PathBuf,
    /// What was changed from the config and why, for --debug.
    pub notes: Vec<String>,
}

pub struct Options {
    pub preserve_fds: u32,
    pub new_keyring: bool,
}

pub fn convert(
    config: &Config,
    bundle: &Path,
    caller: Caller,
    opts: &Options,
) -> Result<Container> {
    // config.md: `process` is optional until `start`, which then fails (runtime.md). Without
    // one, init is made for a placeholder it never looks up nor runs (Launch::no_process).
    let placeholder;
    let process = match &config.process {
        Some(p) => p,
        None => {
            placeholder = Process {
                args: vec!["true".into()],
                cwd: "/".into(),
                ..Default::default()
            };
            &placeholder
        }
    };
    let linux = config.linux.as_ref();
    crate::oci::validate::config(config)?;
    refuse_unsupported(config, process)?;
    crate::oci::process::check_preserve_fds(opts.preserve_fds)?;
    let root = config
        .root
        .as_ref()
        .context("invalid config.json: no root")?;
    let rootfs = bundle.join(&root.path);
    let rootfs = rootfs
        .canonicalize()
        .with_context(|| format!("invalid root.path {}", quote(&root.path)))?;
    if !rootfs.is_dir() {
        bail!("invalid root.path {}: not a directory", quote(&root.path));
    }

    // Namespaces: new ones, and ones to join by path (config.md: a type not listed is the
    // runtime's). The mount namespace is the exception: the root is built and pivoted in one
    // of the container's own, as runc requires.
    let mut flags = libc::CLONE_NEWNS;
    // Checked here (opened, of the right type); prepare opens them again for init.
    let mut joins: Vec<(OwnedFd, libc::c_int)> = Vec::new();
    let mut join_pid = None;
    let mut want_user = false;
    // Joined by `create` already (join_user_namespace): we are in it now.
    let joined_user = user_namespace_path(config).is_some();
    let mut want_time = false;
    let mut want_mount = false;
    for ns in linux.map(|l| l.namespaces.as_slice()).unwrap_or_default() {
        let flag = match namespace_flag(&ns.kind) {
            Some(libc::CLONE_NEWTIME) if ns.path.as_deref().is_none_or(str::is_empty) => {
                want_time = true;
                continue;
            }
            Some(flag) => flag,
            None => bail!(
                "linux.namespaces: unknown namespace type {}",
                quote(&ns.kind)
            ),
        };
        match ns.path.as_deref().filter(|p| !p.is_empty()) {
            None if flag == libc::CLONE_NEWUSER => want_user = true,
            Some(path) if flag == libc::CLONE_NEWUSER => {
                if !is_ours(path, "user") {
                    bail!(
                        "linux.namespaces: the user namespace {} was not joined",
                        quote(path)
                    );
                }
                if linux.is_some_and(|l| !l.uid_mappings.is_empty() || !l.gid_mappings.is_empty()) {
                    bail!(
                        "invalid linux.uidMappings: a user namespace joined by path ({}) has \
                         its own mappings",
                        quote(path)
                    );
                }
            }
            None => {
                want_mount |= flag == libc::CLONE_NEWNS;
                flags |= flag;
            }
            Some(path) => {
                if let Some(why) = unjoinable(flag) {
                    bail!(
                        "linux.namespaces: joining a {} namespace by path ({}) is not supported: \
                         {why}",
                        ns.kind,
                        quote(path)
                    );
                }
                let fd = std::fs::File::open(path).with_context(|| {
                    format!("opening the {} namespace {}", ns.kind, quote(path))
                })?;
                // config-linux.md: a path of another type of namespace is an error (setns
                // would only say EINVAL). nsfs files read back as "TYPE:[INODE]".
                let proc_name = match ns.kind.as_str() {
                    "network" => "net",
                    "mount" => "mnt",
                    other => other,
                };
                let target = std::fs::read_link(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&fd)
                ))
                .unwrap_or_default();
                if !target
                    .to_string_lossy()
                    .starts_with(&format!("{proc_name}:["))
                {
                    bail!(
                        "linux.namespaces: {} is not a namespace of type {}",
                        quote(path),
                        ns.kind
                    );
                }
                if flag == libc::CLONE_NEWPID {
                    join_pid = Some((fd.into(), path.to_string()));
                } else {
                    joins.push((fd.into(), flag));
                }
            }
        }
    }
    if !want_mount {
        bail!(
            "linux.namespaces: a mount namespace is required (the container's root is built and \
             pivoted in a mount namespace of its own)"
        );
    }
    // Our hardening, beyond runtime-spec: a process in the host's network namespace (none of
    // its own, or a join of ours) gets `--share-net`'s abstract-socket scope (landlock.rs).
    let host_net = flags & libc::CLONE_NEWNET == 0
        && joins
            .iter()
            .all(|(fd, flag)| *flag != libc::CLONE_NEWNET || is_our_net(fd));
    // A plain user needs a user namespace to do anything; crun's rule: without one in the
    // config, container root is the caller.
    let new_user = want_user || (!caller.userns_root && !joined_user);
    let (uid_maps, gid_maps) = match linux {
        Some(l) if want_user && !l.uid_mappings.is_empty() => {
            (l.uid_mappings.clone(), l.gid_mappings.clone())
        }
        _ => (vec![one(caller.uid)], vec![one(caller.gid)]),
    };
    let maps = if new_user {
        flags |= libc::CLONE_NEWUSER;
        check_maps("uidMappings", &uid_maps, caller.uid, caller.userns_root)?;
        check_maps("gidMappings", &gid_maps, caller.gid, caller.userns_root)?;
        let text = |m: &[IdMapping]| {
            m.iter()
                .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
                .collect::<String>()
        };
        Some(spec::IdMaps {
            uid_map: text(&uid_maps),
            gid_map: text(&gid_maps),
            deny_setgroups: !caller.userns_root,
        })
    } else {
        None
    };
    let user = &process.user;
    // The ids of our own user namespace, when the container doesn't get a new one.
    let ours = |file: &str| -> Vec<IdMapping> {
        crate::host::read_proc(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace().map(|n| n.parse::<u32>().ok());
                Some(IdMapping {
                    container_id: f.next()??,
                    host_id: f.next()??,
                    size: f.next()??,
                })
            })
            .collect()
    };
    let (uid_space, gid_space) = if new_user {
        (uid_maps, gid_maps)
    } else {
        (ours("/proc/self/uid_map"), ours("/proc/self/gid_map"))
    };
    for (what, id, m) in [("uid", user.uid, &uid_space), ("gid", user.gid, &gid_space)] {
        if !m
            .iter()
            .any(|m| id >= m.container_id && id - m.container_id < m.size)
        {
            bail!(
                "invalid process.user.{what} {id}: not mapped in the container's user namespace \
                 (rootless podman maps more ids only with subordinate ids in /etc/subuid and \
                 /etc/subgid)"
            );
        }
    }
    // setgroups(2) works where the namespace allows it: not in one we map as a plain user,
    // nor in one whose maker denied it (rootless podman without subordinate ids).
    let set_groups = if new_user {
        caller.userns_root
    } else {
        crate::host::read_proc("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny")
    };
    if !set_groups && user.additional_gids.iter().any(|&g| g != user.gid) {
        bail!(
            "invalid process.user.additionalGids: supplementary groups need setgroups, which \
             this user namespace denies (a plain user's own, or rootless podman's without \
             subordinate ids)"
        );
    }

    // The hostname needs a UTS namespace of our own.
    let hostname = config.hostname.clone().unwrap_or_default();
    if !hostname.is_empty() && flags & libc::CLONE_NEWUTS == 0 {
        bail!("invalid hostname: setting it needs a new uts namespace in linux.namespaces");
    }
    if !hostname.is_empty() {
        crate::spec::validate_hostname(hostname.as_ref()).map_err(|e| {
            anyhow::anyhow!(
                "invalid hostname: {}",
                e.to_string().replace("invalid --hostname ", "")
            )
        })?;
    }

    // So does the domain name (setdomainname(2), beside it; the same rules).
    let domainname = config.domainname.clone().unwrap_or_default();
    if !domainname.is_empty() && flags & libc::CLONE_NEWUTS == 0 {
        bail!("invalid domainname: setting it needs a new uts namespace in linux.namespaces");
    }
    if !domainname.is_empty() {
        crate::spec::validate_hostname(domainname.as_ref()).map_err(|e| {
            anyhow::anyhow!(
                "invalid domainname: {}",
                e.to_string().replace("invalid --hostname ", "")
            )
        })?;
    }
    let domainname = domainname.into_bytes();

    // The sandbox: the bundle's rootfs as the root, the config's mounts, default devices, then
    // masks (plan/bundle.rs), planned as every sandbox is.
    let mut source_of = |src: &str| -> Result<(PathBuf, bool)> {
        let path = bundle.join(src);
        let canonical = path
            .canonicalize()
            .with_context(|| format!("invalid mount source {}", quote(src)))?;
        let dir = canonical.is_dir();
        Ok((canonical, dir))
    };
    let mut mounts = config_mounts(&config.mounts, &mut source_of)?;
    let notes = drop_unmapped_devpts_ids(&mut mounts, &uid_space, &gid_space);
    for d in linux.map(|l| l.devices.as_slice()).unwrap_or_default() {
        if !crate::plan::DEVICES
            .iter()
            .any(|n| Path::new("/dev").join(n) == Path::new(&d.path))
        {
            bail!(
                "linux.devices {}: device nodes can't be created in a user namespace; bind the \
                 host's node with a mount instead",
                quote(&d.path)
            );
        }
    }
    if let Some(l) = linux {
        mounts.extend(masks(&l.masked_paths, &l.readonly_paths)?);
    }
    // Each namespace as the config lists it: new (the clone flags), joined at a path, else
    // the caller's.
    let mut namespaces = spec::Namespaces::callers();
    for ns in linux.map(|l| l.namespaces.as_slice()).unwrap_or_default() {
        let kind = namespace_flag(&ns.kind);
        if let (Some(path), Some(slot)) = (
            ns.path.as_deref().filter(|p| !p.is_empty()),
            kind.and_then(|k| namespaces.of_type(k)),
        ) {
            *slot = spec::Ns::Join(path.into());
        }
    }
    for flag in NAMESPACE_FLAGS {
        if let Some(slot) = namespaces.of_type(flag).filter(|_| flags & flag != 0) {
            *slot = spec::Ns::New;
        }
    }
    if want_time {
        namespaces.time = spec::Ns::New;
    }
    let sysctls = sysctls(linux.map(|l| &l.sysctl), flags, caller.userns_root)?;
    // linux.rootfsPropagation, for `/` once pivoted.
    let propagation = match linux.and_then(|l| l.rootfs_propagation.as_deref()) {
        None | Some("") => None,
        Some(p) => Some(
            mount_options::propagation(p)
                .ok_or_else(|| anyhow::anyhow!("invalid linux.rootfsPropagation {}", quote(p)))?
                | if p.starts_with('r') { libc::MS_REC } else { 0 },
        ),
    };
    let sandbox = Sandbox {
        namespaces,
        maps,
        hostname: hostname.into_bytes(),
        root: Root::Bundle(spec::Bundle {
            rootfs: rootfs.clone(),
            readonly: root.readonly,
            propagation,
            owns_net: flags & libc::CLONE_NEWNET != 0 || caller.userns_root,
            owns_cgroup: flags & libc::CLONE_NEWCGROUP != 0,
        }),
        // The host's network (ours): then the process gets `--share-net`'s Landlock scope.
        net: match host_net {
            true => crate::net::Net::Host,
            false => crate::net::Net::Private,
        },
        ids: spec::Ids {
            outer_uid: caller.uid,
            outer_gid: caller.gid,
            inner_uid: user.uid,
            inner_gid: user.gid,
        },
        mounts,
        nested: false,
        cow: None,
        private_dirs: Vec::new(),
        sysctls,
        time_offsets: crate::timens::from_oci(
            want_time,
            linux.and_then(|l| l.time_offsets.as_ref()),
        )?,
    };
    let plan = crate::plan::build(
        &sandbox,
        &[],
        &crate::hostrun::HostRun::default(),
        &crate::plan::HostDirs::new(),
    );

    let rlimits = rlimits(process)?;
    let seccomp = match linux.and_then(|l| l.seccomp.as_ref()) {
        Some(profile) => Some(crate::oci::seccomp::compile(profile)?),
        None => None,
    };
    // prestart and createRuntime hooks, which `create` runs while init waits.
    let runtime_hooks = config
        .hooks
        .as_ref()
        .is_some_and(|h| !h.prestart.is_empty() || !h.create_runtime.is_empty());
    let launch = Launch {
        no_process: config.process.is_none(),
        exec_fifo: None,
        domainname,
        late_cgroup_ns: false,
        start_hooks: render_hooks(config, "startContainer", |h| &h.start_container)?,
        create_hooks: render_hooks(config, "createContainer", |h| &h.create_container)?,
        runtime_hooks,
    };
    let lockdown = spec::OciLockdown {
        preserve_fds: opts.preserve_fds,
        uid: user.uid,
        gid: user.gid,
        groups: user.additional_gids.clone(),
        set_groups,
        caps: crate::oci::caps::sets(process.capabilities.as_ref())?,
        no_new_privs: process.no_new_privileges,
        new_keyring: opts.new_keyring,
        rlimits,
        seccomp,
        own_pid_ns: flags & libc::CLONE_NEWPID != 0,
        oom_score_adj: None,
        console_size: (0, 0),
        scheduler: None,
        io_priority: None,
        // config.md: execCPUAffinity "is not applicable to the container's init process"
        // (CRI-O sets it to keep `exec`'d processes off the workload's CPUs).
        cpu_affinity: None,
    };
    let mut spec = spec::Spec {
        sandbox,
        process: crate::oci::process::to_spec(process, lockdown, 0)?,
        name: None,
        detach: false,
        timeout: None,
        result_json: None,
    };
    // Rendered as every sandbox is, plus what only an OCI init does.
    let mut prepared = prepared::prepare(&spec, &plan)?;
    prepared.oci = Some(launch);
    if join_pid.is_some() && runtime_hooks {
        bail!(
            "linux.namespaces: a pid namespace joined by path with prestart or createRuntime \
             hooks is not supported: create enters it to clone init there, and can't leave it \
             again, so the hooks it starts would run in the container's pid namespace"
        );
    }
    Ok(Container {
        prepared,
        join_pid,
        maps: spec.sandbox.maps.take(),
        rootfs,
        notes,
    })
}

/// A destination inside the container, absolute, without `..`.
fn destination(d: &str) -> Result<PathBuf> {
    let p = Path::new("/").join(d);
    if p.components().any(|c| c == std::path::Component::ParentDir) {
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

/// config.json `mounts` as the sandbox's mounts. `source_of` turns a bind source into a
/// canonical host path (and says whether it is a directory).
fn config_mounts(
    mounts: &[crate::oci::config::Mount],
    source_of: &mut dyn FnMut(&str) -> Result<(PathBuf, bool)>,
) -> Result<Vec<MountSpec>> {
    let mut out = Vec::new();
    for m in mounts {
        let dst = destination(&m.destination)?;
        if m.uid_mappings.is_some() || m.gid_mappings.is_some() {
            bail!(
                "mount {}: idmapped mounts are not supported",
                quote(&m.destination)
            );
        }
        let o = mount_options::parse_options(&m.options);
        let propagation = o.propagation.unwrap_or(libc::MS_PRIVATE);
        let kind = m.kind.as_deref().unwrap_or("");
        out.push(if o.bind || kind == "bind" {
            // A bind takes no filesystem data: an option we don't know would be dropped, and
            // config.md wants an error for one that can't be honoured.
            if let Some((key, value)) = o.data.first() {
                let opt = match value {
                    Some(v) => format!("{key}={v}"),
                    None => key.clone(),
                };
                bail!(
                    "mount {}: unknown bind mount option {}",
                    quote(&m.destination),
                    quote(&opt)
                );
            }
            let (src, dir) = source_of(m.source.as_deref().unwrap_or(""))?;
            MountSpec::BindTree {
                src,
                dst,
                dir,
                attrs: o.attrs,
                recursive: o.recursive,
                propagation,
            }
        } else {
            match kind {
                "" | "none" => bail!("mount {}: no type and not a bind", quote(&m.destination)),
                fstype => MountSpec::Filesystem {
                    dst,
                    fstype: fstype.into(),
                    // runtime-tools' runtimetest finds each mount by its source in mountinfo.
                    source: match m.source.as_deref() {
                        None | Some("") => fstype.into(),
                        Some(s) => s.into(),
                    },
                    options: o.data,
                    attrs: o.attrs,
                    propagation,
                },
            }
        });
    }
    Ok(out)
}

/// devpts's `uid=`/`gid=` (the owner of new pty slaves) must be an id of the mounting user
/// namespace, else the mount is EINVAL (devpts_parse_param). runtime-tools' and Docker's
/// default configs ask for `gid=5` (tty), which a rootless container's one-id namespace doesn't
/// map: such an option is dropped (new slaves then get the mounter's ids), one that is mapped
/// kept. Returns what was dropped, for --debug.
fn drop_unmapped_devpts_ids(
    mounts: &mut [MountSpec],
    uid_space: &[IdMapping],
    gid_space: &[IdMapping],
) -> Vec<String> {
    let mapped = |space: &[IdMapping], id: u32| {
        space
            .iter()
            .any(|m| id >= m.container_id && id - m.container_id < m.size)
    };
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
                crate::error::escape(dst.as_os_str().as_encoded_bytes())
            ));
            false
        });
    }
    notes
}

/// `maskedPaths` then `readonlyPaths`.
fn masks(masked: &[String], readonly: &[String]) -> Result<Vec<MountSpec>> {
    let mut out = Vec::new();
    for p in masked {
        out.push(MountSpec::Hide {
            dst: destination(p)?,
        });
    }
    for p in readonly {
        out.push(MountSpec::ReadOnly {
            dst: destination(p)?,
        });
    }
    Ok(out)
}

/// The namespaces init can be cloned into (time is entered later, timens.rs).
const NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWCGROUP,
];

/// A linux.namespaces type as its CLONE_NEW* flag.
fn namespace_flag(kind: &str) -> Option<libc::c_int> {
    Some(match kind {
        "pid" => libc::CLONE_NEWPID,
        "network" => libc::CLONE_NEWNET,
        "ipc" => libc::CLONE_NEWIPC,
        "uts" => libc::CLONE_NEWUTS,
        "mount" => libc::CLONE_NEWNS,
        "user" => libc::CLONE_NEWUSER,
        "cgroup" => libc::CLONE_NEWCGROUP,
        "time" => libc::CLONE_NEWTIME,
        _ => return None,
    })
}

/// The path of the user namespace the config joins, if it joins one.
pub fn user_namespace_path(config: &Config) -> Option<&str> {
    config
        .linux
        .as_ref()?
        .namespaces
        .iter()
        .find(|ns| ns.kind == "user")
        .and_then(|ns| ns.path.as_deref())
        .filter(|p| !p.is_empty())
}

/// Enters the user namespace at `path`, before anything of the container exists (setns(2):
/// single-threaded, and CAP_SYS_ADMIN in it, which its owner's uid has: a plain user can join
/// only a user namespace its own uid made, or one below it).
pub fn join_user_namespace(path: &str) -> Result<()> {
    if is_ours(path, "user") {
        return Ok(());
    }
    let fd = std::fs::File::open(path)
        .with_context(|| format!("opening the user namespace {}", quote(path)))?;
    crate::sys::setns(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::CLONE_NEWUSER).map_err(|e| {
        let why = if e == libc::EPERM {
            "; joining one needs CAP_SYS_ADMIN in it: only a user namespace made by your own uid \
             (or below one) can be joined"
        } else {
            ""
        };
        anyhow::anyhow!(
            "joining the user namespace {}: {}{why}",
            quote(path),
            crate::error::strerror(e)
        )
    })
}

/// Whether the namespace at `path` is the one we are in (its `kind` in /proc/self/ns).
fn is_ours(path: &str, kind: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata(format!("/proc/self/ns/{kind}"));
    let theirs = std::fs::metadata(path);
    matches!((ours, theirs), (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev())
}

/// Whether `fd` is our own network namespace (the host's, for the runtime).
fn is_our_net(fd: &OwnedFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    let theirs = fd.try_clone().map(|fd| std::fs::File::from(fd).metadata());
    let ours = std::fs::metadata("/proc/self/ns/net");
    matches!((ours, theirs), (Ok(a), Ok(Ok(b))) if a.ino() == b.ino() && a.dev() == b.dev())
}

fn one(id: u32) -> IdMapping {
    IdMapping {
        container_id: 0,
        host_id: id,
        size: 1,
    }
}

/// Without CAP_SETUID over our namespace, the kernel takes one line mapping our own id; more
/// would need newuidmap, which ns-rootless never uses.
fn check_maps(what: &str, maps: &[IdMapping], own: u32, privileged: bool) -> Result<()> {
    if maps.is_empty() {
        bail!("invalid linux.{what}: a user namespace needs a mapping");
    }
    if !privileged && (maps.len() != 1 || maps[0].host_id != own || maps[0].size != 1) {
        bail!(
            "invalid linux.{what}: as a plain user, only one id can be mapped, your own ({own}) \
             with size 1; more would need newuidmap, which ns-rootless doesn't use"
        );
    }
    Ok(())
}

fn refuse_unsupported(config: &Config, process: &Process) -> Result<()> {
    let refuse = |field: &str, why: &str| -> Result<()> { bail!("unsupported {field}: {why}") };
    if process
        .apparmor_profile
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        refuse(
            "process.apparmorProfile",
            "AppArmor is not enabled on this host",
        )?;
    }
    if process
        .selinux_label
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        refuse(
            "process.selinuxLabel",
            "SELinux labels are not applied by ns-rootless",
        )?;
    }
    if let Some(l) = &config.linux {
        if l.personality.is_some() {
            refuse("linux.personality", "not supported")?;
        }
        if l.intel_rdt.is_some() {
            refuse("linux.intelRdt", "not supported")?;
        }
        if l.mount_label.as_deref().is_some_and(|p| !p.is_empty()) {
            refuse(
                "linux.mountLabel",
                "SELinux labels are not applied by ns-rootless",
            )?;
        }
    }
    Ok(())
}

/// Hooks init runs, rendered before clone.
fn render_hooks(
    config: &Config,
    kind: &str,
    which: fn(&crate::oci::config::Hooks) -> &Vec<crate::oci::config::Hook>,
) -> Result<Vec<StartHook>> {
    match &config.hooks {
        Some(h) => which(h)
            .iter()
            .map(|hook| StartHook::prepare(kind, hook))
            .collect(),
        None => Ok(Vec::new()),
    }
}

/// Why a namespace of this type can't be joined by path (setns(2) in the container's init,
/// after its user namespace exists), or None.
fn unjoinable(flag: libc::c_int) -> Option<&'static str> {
    match flag {
        libc::CLONE_NEWNS => Some(
            "the container's root would be built and pivoted in a mount namespace shared with \
             others",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_users_map_only_themselves() {
        assert!(check_maps("uidMappings", &[one(1000)], 1000, false).is_ok());
        let err = check_maps("uidMappings", &[one(1001)], 1000, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only one id can be mapped"), "{err}");
        let wide = IdMapping {
            container_id: 0,
            host_id: 0,
            size: 65536,
        };
        assert!(check_maps("uidMappings", &[wide], 1000, true).is_ok());
    }

    #[test]
    fn destinations_with_dotdot_are_refused() {
        let m = crate::oci::config::Mount {
            destination: "/a/../../etc".into(),
            kind: Some("tmpfs".into()),
            source: Some("tmpfs".into()),
            ..Default::default()
        };
        let err = config_mounts(&[m], &mut |_| unreachable!())
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not contain '..'"), "{err}");
    }

    #[test]
    fn bind_options_become_the_mounts_attributes() {
        let m = |dst: &str, kind: &str, src: &str, opts: &[&str]| crate::oci::config::Mount {
            destination: dst.into(),
            kind: Some(kind.into()),
            source: Some(src.into()),
            options: opts.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mounts = [
            m("/data", "bind", "vol", &["rbind", "ro", "nodev", "rshared"]),
            m("/etc/hosts", "none", "/h", &["bind"]),
        ];
        let mut sources = |s: &str| Ok((PathBuf::from("/bundle").join(s), s == "vol"));
        let out = config_mounts(&mounts, &mut sources).unwrap();
        assert_eq!(
            out[0],
            MountSpec::BindTree {
                src: "/bundle/vol".into(),
                dst: "/data".into(),
                dir: true,
                attrs: crate::sys::MOUNT_ATTR_RDONLY | crate::sys::MOUNT_ATTR_NODEV,
                recursive: true,
                propagation: libc::MS_SHARED,
            }
        );
        assert!(matches!(
            &out[1],
            MountSpec::BindTree {
                recursive: false,
                dir: false,
                ..
            }
        ));
        let mounts = [m("/d", "bind", "vol", &["rbind", "nosymfollow"])];
        let out = config_mounts(&mounts, &mut sources).unwrap();
        assert!(matches!(&out[0], MountSpec::BindTree { attrs, .. }
            if *attrs == crate::sys::MOUNT_ATTR_NOSYMFOLLOW));
        let mounts = [m("/d", "bind", "vol", &["rbind", "size=1k"])];
        let err = config_mounts(&mounts, &mut sources)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "mount \"/d\": unknown bind mount option \"size=1k\"");
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
        let wide = IdMapping {
            container_id: 0,
            host_id: 100000,
            size: 65536,
        };
        let mut mounts = [devpts(&[("gid", "5"), ("uid", "0"), ("mode", "0620")])];
        let notes = drop_unmapped_devpts_ids(&mut mounts, &[one(1000)], &[one(1000)]);
        assert_eq!(mounts[0], devpts(&[("uid", "0"), ("mode", "0620")]));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("gid=5"), "{}", notes[0]);
        let mut mounts = [devpts(&[("gid", "5")])];
        assert!(drop_unmapped_devpts_ids(&mut mounts, &[wide], &[wide]).is_empty());
        assert_eq!(mounts[0], devpts(&[("gid", "5")]));
    }

    #[test]
    fn sysctls_must_belong_to_our_namespaces() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("net.ipv4.ip_forward".to_string(), "1".to_string());
        let s = sysctls(Some(&m), libc::CLONE_NEWNET, false).unwrap();
        assert_eq!(s[0].0.to_str().unwrap(), "/proc/sys/net/ipv4/ip_forward");
        assert!(sysctls(Some(&m), 0, false).is_err());
        let mut m = std::collections::BTreeMap::new();
        m.insert("kernel.core_pattern".to_string(), "|/x".to_string());
        assert!(sysctls(Some(&m), libc::CLONE_NEWIPC | libc::CLONE_NEWUTS, false).is_err());
    }
}
