//! config.json → a spec::Input (its JSON parsed: what it asks for), made a spec::Spec by
//! spec::validate, planned (plan::build) and prepared (prepared::prepare) as the command
//! line's is, plus what only an OCI init does (Launch) and what `create` keeps. What depends on
//! the host or the root model is validate's; what is config.json's own (its schema, fields we
//! don't support, devices, hooks, capabilities, rlimits, seccomp) is checked here. Every field
//! we can't honour where ignoring it would weaken isolation is an error naming it.

use crate::error::quote;
use crate::oci::config::{Config, IdMapping, Process};
use crate::oci::launch::{Launch, StartHook};
use crate::oci::process::rlimits;
use crate::prepared::{self, Prepared};
use crate::spec::{self, mount_options, MountSpec, Root};
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
    let input = input(config, process, bundle, caller, opts)?;
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
    // The same checks as every front end's input, against the runtime's caller. Real root was
    // refused already (lifecycle::caller); file capabilities can't be told from what we hold
    // after joining a user namespace by path (every capability in it), so none are assumed.
    let status = crate::host::read_proc("/proc/self/status").unwrap_or_default();
    let host = spec::Host {
        uid: caller.uid,
        euid: caller.uid,
        gid: caller.gid,
        egid: caller.gid,
        real_root: false,
        file_caps: false,
        ignored_signals: crate::sys::ignored_signals_in(&status),
        threads: None,
        stdin_is_terminal: false,
        env: Vec::new(),
        cwd: None,
        private_dirs: Vec::new(),
        userns_root: caller.userns_root,
    };
    let mut spec = spec::validate(input, host, Vec::new)?;
    let plan = crate::plan::build(
        &spec.sandbox,
        &[],
        &crate::hostrun::HostRun::default(),
        &crate::plan::HostDirs::new(),
    );
    // prestart and createRuntime hooks, which `create` runs while init waits.
    let runtime_hooks = config
        .hooks
        .as_ref()
        .is_some_and(|h| !h.prestart.is_empty() || !h.create_runtime.is_empty());
    let launch = Launch {
        no_process: config.process.is_none(),
        exec_fifo: None,
        domainname: std::mem::take(&mut spec.domainname),
        late_cgroup_ns: false,
        start_hooks: render_hooks(config, "startContainer", |h| &h.start_container)?,
        create_hooks: render_hooks(config, "createContainer", |h| &h.create_container)?,
        runtime_hooks,
    };
    // Rendered as every sandbox is, plus what only an OCI init does.
    let mut prepared = prepared::prepare(&spec, &plan)?;
    prepared.oci = Some(launch);
    // A PID namespace joined by path (opened and its type checked by validate) is entered by
    // `create` itself, just before init is cloned.
    let join_pid = match (&spec.sandbox.namespaces.pid, spec.join_pid.take()) {
        (spec::Ns::Join(path), Some(fd)) => Some((
            std::sync::Arc::into_inner(fd).context("the pid namespace's fd is shared")?,
            path.to_string_lossy().into_owned(),
        )),
        _ => None,
    };
    if join_pid.is_some() && runtime_hooks {
        bail!(
            "linux.namespaces: a pid namespace joined by path with prestart or createRuntime \
             hooks is not supported: create enters it to clone init there, and can't leave it \
             again, so the hooks it starts would run in the container's pid namespace"
        );
    }
    let rootfs = match &spec.sandbox.root {
        Root::Bundle(b) => b.rootfs.clone(),
        _ => bail!("internal error: a bundle's root is not a bundle"),
    };
    Ok(Container {
        prepared,
        join_pid,
        maps: spec.sandbox.maps.take(),
        rootfs,
        notes: std::mem::take(&mut spec.notes),
    })
}

/// config.json as what it asks for (spec::Input): its JSON parsed, nothing checked against the
/// host (spec::validate does, as for every front end).
fn input(
    config: &Config,
    process: &Process,
    bundle: &Path,
    caller: Caller,
    opts: &Options,
) -> Result<spec::Input> {
    let linux = config.linux.as_ref();
    let root = config
        .root
        .as_ref()
        .context("invalid config.json: no root")?;
    // Namespaces: new ones, and ones to join by path (config.md: a type not listed is the
    // runtime's).
    let mut namespaces = spec::Namespaces::callers();
    for ns in linux.map(|l| l.namespaces.as_slice()).unwrap_or_default() {
        let slot = namespace_flag(&ns.kind)
            .and_then(|flag| namespaces.of_type(flag))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "linux.namespaces: unknown namespace type {}",
                    quote(&ns.kind)
                )
            })?;
        *slot = match ns.path.as_deref().filter(|p| !p.is_empty()) {
            None => spec::Ns::New,
            Some(path) => spec::Ns::Join(path.into()),
        };
    }
    let range = |m: &IdMapping| spec::IdRange {
        inner: m.container_id,
        outer: m.host_id,
        size: m.size,
    };
    let listed = linux.is_some_and(|l| !l.uid_mappings.is_empty() || !l.gid_mappings.is_empty());
    let maps = match (linux, &namespaces.user) {
        (Some(l), spec::Ns::New | spec::Ns::Join(_)) if listed => Some((
            l.uid_mappings.iter().map(range).collect(),
            l.gid_mappings.iter().map(range).collect(),
        )),
        (_, spec::Ns::Join(_)) => None,
        // Without mappings of its own, container root is the caller (crun's rule).
        _ => Some((
            vec![spec::IdRange::one(0, caller.uid)],
            vec![spec::IdRange::one(0, caller.gid)],
        )),
    };
    let name_of = |v: &Option<String>| {
        v.as_deref()
            .filter(|h| !h.is_empty())
            .map(std::ffi::OsString::from)
    };
    // The config's mounts, then masks: they replace the defaults, as a bundle's config lists
    // every mount.
    let mut mounts = config_mounts(&config.mounts)?;
    if let Some(l) = linux {
        mounts.extend(masks(&l.masked_paths, &l.readonly_paths));
    }
    // linux.rootfsPropagation, for `/` once pivoted.
    let propagation = match linux.and_then(|l| l.rootfs_propagation.as_deref()) {
        None | Some("") => None,
        Some(p) => Some(
            mount_options::propagation(p)
                .ok_or_else(|| anyhow::anyhow!("invalid linux.rootfsPropagation {}", quote(p)))?
                | if p.starts_with('r') { libc::MS_REC } else { 0 },
        ),
    };
    let lockdown = spec::OciLockdown {
        preserve_fds: opts.preserve_fds,
        // The user's ids and the namespaces' facts: spec::validate's.
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        set_groups: false,
        caps: crate::oci::caps::sets(process.capabilities.as_ref())?,
        no_new_privs: process.no_new_privileges,
        new_keyring: opts.new_keyring,
        rlimits: rlimits(process)?,
        seccomp: match linux.and_then(|l| l.seccomp.as_ref()) {
            Some(profile) => Some(crate::oci::seccomp::compile(profile)?),
            None => None,
        },
        own_pid_ns: false,
        oom_score_adj: None,
        console_size: (0, 0),
        scheduler: None,
        io_priority: None,
        // config.md: execCPUAffinity "is not applicable to the container's init process"
        // (CRI-O sets it to keep `exec`'d processes off the workload's CPUs).
        cpu_affinity: None,
    };
    let lockdown = crate::oci::process::lockdown(process, lockdown, 0)?;
    let time_offsets = crate::timens::from_oci(
        namespaces.time == spec::Ns::New,
        linux.and_then(|l| l.time_offsets.as_ref()),
    )?;
    Ok(spec::Input {
        name: None,
        detach: false,
        // Whoever runs the runtime (an engine) chose to.
        allow_root: true,
        timeout: None,
        result_json: None,
        words: &spec::OCI_CONFIG,
        sandbox: spec::SandboxInput {
            namespaces,
            maps,
            hostname: name_of(&config.hostname),
            domainname: name_of(&config.domainname),
            time_offsets,
            root: spec::RootInput::Bundle {
                dir: bundle.to_path_buf(),
                path: root.path.clone().into(),
                readonly: root.readonly,
                propagation,
            },
            mounts: spec::MountsInput::Replace(mounts),
            sysctls: linux
                .map(|l| l.sysctl.clone().into_iter().collect())
                .unwrap_or_default(),
            net: None,
            cow: false,
        },
        process: spec::ProcessInput {
            command: process.args.iter().map(Into::into).collect(),
            env: process.env.iter().map(Into::into).collect(),
            keep_env: false,
            unset_env: Vec::new(),
            env_file: Vec::new(),
            cwd: Some(process.cwd.clone().into()),
            user: spec::UserInput::Ids {
                uid: process.user.uid,
                gid: process.user.gid,
                groups: process.user.additional_gids.clone(),
            },
            limits: Vec::new(),
            tty: Some(process.terminal),
            lockdown: spec::LockdownInput::Oci(lockdown),
        },
    })
}

/// config.json `mounts` as the sandbox's mounts: destinations and bind sources as given
/// (spec::validate resolves them, the sources in the bundle).
fn config_mounts(mounts: &[crate::oci::config::Mount]) -> Result<Vec<MountSpec>> {
    let mut out = Vec::new();
    for m in mounts {
        let dst = PathBuf::from(&m.destination);
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
            MountSpec::BindTree {
                src: m.source.as_deref().unwrap_or("").into(),
                dst,
                dir: false,
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

/// `maskedPaths` then `readonlyPaths`.
fn masks<'a>(masked: &'a [String], readonly: &'a [String]) -> impl Iterator<Item = MountSpec> + 'a {
    let hide = masked.iter().map(|p| MountSpec::Hide { dst: p.into() });
    hide.chain(
        readonly
            .iter()
            .map(|p| MountSpec::ReadOnly { dst: p.into() }),
    )
}

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
    if spec::is_ours(Path::new(path), "user") {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = config_mounts(&mounts).unwrap();
        assert_eq!(
            out[0],
            MountSpec::BindTree {
                src: "vol".into(),
                dst: "/data".into(),
                dir: false,
                attrs: crate::sys::MOUNT_ATTR_RDONLY | crate::sys::MOUNT_ATTR_NODEV,
                recursive: true,
                propagation: libc::MS_SHARED,
            }
        );
        assert!(matches!(
            &out[1],
            MountSpec::BindTree {
                recursive: false,
                ..
            }
        ));
        let mounts = [m("/d", "bind", "vol", &["rbind", "nosymfollow"])];
        let out = config_mounts(&mounts).unwrap();
        assert!(matches!(&out[0], MountSpec::BindTree { attrs, .. }
            if *attrs == crate::sys::MOUNT_ATTR_NOSYMFOLLOW));
        let mounts = [m("/d", "bind", "vol", &["rbind", "size=1k"])];
        let err = config_mounts(&mounts).unwrap_err().to_string();
        assert_eq!(err, "mount \"/d\": unknown bind mount option \"size=1k\"");
    }
}
