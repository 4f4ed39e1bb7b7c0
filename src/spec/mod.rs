//! Validated plain data built from the command line and the caller's environment. Every bad
//! value fails here, before any namespace exists.

mod defaults;
mod env;
pub mod identity;
pub mod limits;
pub mod mount_options;
pub mod mounts;
mod namespaces;
mod process;

use crate::error::quote;
use anyhow::{bail, Context, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use limits::Limit;
pub use mounts::{MountArg, MountSpec};
pub use namespaces::{IdMaps, Namespaces, Ns};
pub use process::{Cwd, Lockdown, OciLockdown, Process, Seccomp};

/// The kernel's BPF_MAXINSNS instructions of 8 bytes.
const MAX_SECCOMP_PROGRAM: u64 = 4096 * 8;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// The host's `/`, read-only, with private places hidden.
    Host,
    /// A directory given with `--rootfs` (canonical, absolute).
    Dir(PathBuf),
    /// `--image`: its layers stacked with overlayfs, the writes on the sandbox's scratch tmpfs
    /// (or in the --cow session).
    Image(crate::image::Image),
    /// An OCI bundle's rootfs, bound onto itself.
    Bundle(Bundle),
}

/// An OCI bundle's root, and what its namespaces let it mount itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Canonical.
    pub rootfs: PathBuf,
    pub readonly: bool,
    /// `linux.rootfsPropagation`: mount(2) flags for `/` once pivoted (MS_REC for the r- forms).
    pub propagation: Option<u64>,
    /// sysfs shows the network namespace of whoever mounts it: only its owner may.
    pub owns_net: bool,
    /// cgroup2 is mounted only in a cgroup namespace of the sandbox's own.
    pub owns_cgroup: bool,
}

/// `--cow`: where a session keeps the writes of the run's read-write binds (and root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cow {
    pub name: String,
    /// `$XDG_STATE_HOME/ns-rootless/sessions/NAME`.
    pub dir: PathBuf,
    /// The name was made up (no --name): printed at exit.
    pub generated: bool,
}

/// The caller's ids outside, and the ids the payload has inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub outer_uid: u32,
    pub outer_gid: u32,
    pub inner_uid: u32,
    pub inner_gid: u32,
}

/// What a front end asks for, before validation: plain data, in the words of no front end.
/// The native command line fills it (cli.rs); `validate` checks it against the host.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// A named sandbox, findable by `exec`, `ps`, `stop`, `kill`, `logs`.
    pub name: Option<String>,
    /// Run in the background (needs a name).
    pub detach: bool,
    pub hostname: Option<OsString>,
    /// `monotonic=SECS,boottime=SECS`: a time namespace with these offsets.
    pub time_offset: Option<OsString>,
    /// A pty even when stdin is no terminal.
    pub tty: bool,
    /// No pty even when stdin is a terminal.
    pub no_tty: bool,
    pub share_net: bool,
    pub net: Option<String>,
    pub publish: Vec<String>,
    pub rootfs: Option<PathBuf>,
    pub image: Option<PathBuf>,
    pub cow: bool,
    /// The filesystem options, in the order given.
    pub mounts: Vec<MountArg>,
    pub chdir: Option<PathBuf>,
    /// `KEY=VALUE` or `KEY` (taken from the caller's environment).
    pub env: Vec<OsString>,
    pub keep_env: bool,
    pub unset_env: Vec<OsString>,
    pub env_file: Vec<PathBuf>,
    pub uid: Option<OsString>,
    pub gid: Option<OsString>,
    pub allow_root: bool,
    /// `NAME=VALUE` resource limits.
    pub limit: Vec<OsString>,
    pub timeout: Option<OsString>,
    /// The syscall groups given back (`--allow`).
    pub allow: crate::seccomp::Allow,
    /// No seccomp filter at all (`--seccomp none`).
    pub no_seccomp: bool,
    /// A precompiled seccomp program to read from this fd.
    pub seccomp_fd: Option<i32>,
    pub result_json: Option<PathBuf>,
    pub command: Vec<OsString>,
}

/// A validated run: the sandbox (what is made once), the process started in it, and how the
/// run is driven (name, background, timeout, record).
#[derive(Debug, Clone)]
pub struct Spec {
    pub sandbox: Sandbox,
    pub process: Process,
    /// `--name`: a named sandbox, findable by `exec`, `ps`, `stop`, `kill`, `logs`.
    pub name: Option<String>,
    /// `-d`: run in the background (needs a name).
    pub detach: bool,
    pub timeout: Option<Duration>,
    /// `--result-json FILE`: where the run's record goes when it ends.
    pub result_json: Option<PathBuf>,
}

/// The namespaces and the root the process runs in: what `plan` is made from.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub namespaces: Namespaces,
    /// The maps of its user namespace, when it has one of its own.
    pub maps: Option<IdMaps>,
    pub hostname: Vec<u8>,
    pub root: Root,
    pub net: crate::net::Net,
    pub ids: Ids,
    /// In command-line order, parents before children.
    pub mounts: Vec<MountSpec>,
    /// `--allow nested`: the payload may build its own sandbox, so /proc stays unmasked
    /// (the kernel only mounts a new /proc where the existing one is fully visible).
    pub nested: bool,
    /// `--cow`: read-write binds (and an image or rootfs root) are copy-on-write.
    pub cow: Option<Cow>,
    /// The caller's private directories (as bind sources are: canonical), which no sandbox
    /// may see (private.rs).
    pub private_dirs: Vec<PathBuf>,
    /// `--time-offset`: a time namespace with these timens_offsets lines.
    pub time_offsets: Option<Vec<u8>>,
    /// Namespaced sysctls (OCI `linux.sysctl`): a /proc/sys file and what to write to it.
    pub sysctls: Vec<(PathBuf, Vec<u8>)>,
}

/// The host-side facts a spec depends on, gathered once so `build` stays testable.
pub struct Host {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// True when we are uid 0 of the initial user namespace, i.e. really root.
    pub real_root: bool,
    /// True when we hold capabilities without being root: installed with file capabilities.
    pub file_caps: bool,
    /// The signals we ignore (inherited from the caller, plus Rust's SIGPIPE).
    pub ignored_signals: u64,
    /// How many threads this process has (None: /proc unreadable).
    pub threads: Option<u64>,
    pub stdin_is_terminal: bool,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    /// Where the caller's private directories are (`private::dirs`).
    pub private_dirs: Vec<PathBuf>,
}

/// Checks `input` against the host: every bad value fails here, before any namespace exists.
pub fn validate(
    input: Input,
    host: Host,
    random_hostname: impl FnOnce() -> Vec<u8>,
) -> Result<Spec> {
    if host.uid != host.euid || host.gid != host.egid {
        bail!(
            "refusing to run with real and effective ids that differ (uid {} euid {}, gid {} egid {}): \
             ns-rootless must not be installed setuid or setgid",
            host.uid,
            host.euid,
            host.gid,
            host.egid
        );
    }
    if host.file_caps && !host.real_root {
        bail!(
            "refusing to run with capabilities: ns-rootless must not be installed with file \
             capabilities (check with getcap)"
        );
    }
    if host.real_root && !input.allow_root {
        bail!(
            "refusing to run as root: ns-rootless is meant for plain users; \
             run it as your own user, or pass --allow-root"
        );
    }
    if let Some(name) = &input.name {
        crate::state::validate_name(name)?;
    }
    let hostname = match (&input.hostname, &input.name) {
        (Some(h), _) => validate_hostname(h)?,
        (None, Some(name)) => name.as_bytes().to_vec(),
        (None, None) => random_hostname(),
    };
    let root = match (&input.rootfs, &input.image) {
        (Some(dir), _) => Root::Dir(validate_rootfs(dir)?),
        (None, Some(image)) => Root::Image(crate::image::open(image, &host.env)?),
        (None, None) => Root::Host,
    };
    let image_config = match &root {
        Root::Image(image) => Some(image.config.clone()),
        _ => None,
    };
    let image_config = image_config.as_ref();
    let net = crate::net::Net::parse(
        input.net.as_deref(),
        input.share_net,
        &input.publish,
        |name| which::which(name).ok(),
    )?;
    let parsed_mounts = mounts::parse(&input.mounts, host.cwd.as_deref())?;
    let image_cwd = image_config
        .and_then(|c| c.working_dir.as_deref())
        .filter(|d| d.starts_with('/'));
    let cwd = match (&input.chdir, parsed_mounts.work_dir) {
        (Some(dir), _) if dir.is_absolute() => Cwd::Exact(dir.clone()),
        (Some(dir), _) => bail!("invalid --chdir {}: must be an absolute path", quote(dir)),
        (None, Some(work)) => Cwd::Exact(work),
        (None, None) => match (image_config, image_cwd) {
            (Some(_), Some(dir)) => Cwd::Exact(dir.into()),
            (Some(_), None) => Cwd::Root,
            (None, _) => host.cwd.clone().map_or(Cwd::Root, Cwd::Caller),
        },
    };
    // The image's User, unless --uid says otherwise: "uid", "uid:gid", "name", "name:group".
    let image_user = image_config
        .and_then(|c| c.user.as_deref())
        .filter(|u| !u.is_empty() && input.uid.is_none());
    let (uid_arg, gid_arg, given) = match image_user {
        Some(user) => {
            let (u, g) = user
                .split_once(':')
                .map_or((user, None), |(u, g)| (u, Some(g)));
            let given = identity::Given {
                uid: "image config User",
                gid: match input.gid {
                    Some(_) => "--gid",
                    None => "image config User group",
                },
            };
            let gid = input.gid.clone().or(g.map(OsString::from));
            (Some(OsString::from(u)), gid, given)
        }
        None => (input.uid.clone(), input.gid.clone(), identity::OPTIONS),
    };
    let inner = identity::resolve(uid_arg.as_deref(), gid_arg.as_deref(), &root, &given)?;
    let image_env = image_config
        .and_then(|c| c.env.as_ref())
        .map(|vars| image_env(vars))
        .unwrap_or_default();
    let env = env::build(
        &host.env,
        &env::EnvOptions {
            keep_env: input.keep_env,
            set: &input.env,
            unset: &input.unset_env,
            files: &input.env_file,
            image: &image_env,
        },
        &env::Identity {
            home: inner.home,
            user: inner.user,
        },
        &hostname,
    )?;
    let mut limits: Vec<Limit> = input
        .limit
        .iter()
        .map(|l| limits::parse_limit(l))
        .collect::<Result<_>>()?;
    // Every sandbox has a cap on its processes (a fork bomb hits it first) unless one is given.
    if !limits.iter().any(|l| l.resource == limits::NPROC) {
        limits.push(limits::default_nproc_here());
    }
    let timeout = input
        .timeout
        .as_deref()
        .map(limits::parse_duration)
        .transpose()?;
    let seccomp = match (input.no_seccomp, input.seccomp_fd) {
        (_, Some(fd)) if fd < 3 => bail!("invalid --seccomp-fd {fd}: must be 3 or above"),
        (_, Some(fd)) => {
            // Bounded: the kernel takes at most 4096 instructions, and an endless stream
            // (`3</dev/zero`) must not fill our memory.
            let bytes = crate::sys::adopt_user_fd(fd)
                .and_then(|f| {
                    crate::untrusted::read_bounded(std::fs::File::from(f), MAX_SECCOMP_PROGRAM)
                })
                .map_err(|e| anyhow::anyhow!("invalid --seccomp-fd {fd}: {e}"))?;
            crate::seccomp::program_from_bytes(&bytes)
                .map_err(|why| anyhow::anyhow!("invalid --seccomp-fd {fd}: {why}"))?;
            Seccomp::Program(bytes)
        }
        (true, None) => Seccomp::None,
        (false, None) => Seccomp::Default(input.allow),
    };
    let mut command = input.command;
    defaults::refuse_work_dir_as_command(&input.mounts, &command, &env)?;
    let mut env = env;
    if let (true, Some(config)) = (command.is_empty(), image_config) {
        // Entrypoint + Cmd when no command is given (OCI image-spec config.md).
        let entry = config.entrypoint.iter().flatten();
        command = entry
            .chain(config.cmd.iter().flatten())
            .map(OsString::from)
            .collect();
    }
    if command.is_empty() {
        let shell = defaults::shell(&host.env, &root, &parsed_mounts.mounts);
        // The shell that runs is the one programs started from it should use.
        if shell != "sh" {
            if let Some(slot) = env.iter_mut().find(|(k, _)| k == "SHELL") {
                slot.1 = shell.clone();
            }
        }
        command.push(shell);
    }
    if matches!(root, Root::Dir(_) | Root::Image(_)) {
        defaults::rootfs_path(&mut env, &host.env, &input.env, input.keep_env);
    }
    let user_mounts = mounts::parents_first(parsed_mounts.mounts);
    let cow = match input.cow {
        false => None,
        true => Some(crate::session::plan_cow(
            input.name.as_deref(),
            &host.env,
            &root,
            &user_mounts,
        )?),
    };
    let nested = input.allow.nested;
    Ok(Spec {
        sandbox: Sandbox {
            namespaces: Namespaces::native(net.own_namespace(), input.time_offset.is_some()),
            // The caller's ids map to themselves in the sandbox's namespace; the payload maps
            // them to the inner ids in its nested one (see payload.rs).
            maps: Some(IdMaps {
                uid_map: crate::idmap::line(host.uid, host.uid),
                gid_map: crate::idmap::line(host.gid, host.gid),
                deny_setgroups: true,
            }),
            hostname,
            root,
            net,
            ids: Ids {
                outer_uid: host.uid,
                outer_gid: host.gid,
                inner_uid: inner.uid,
                inner_gid: inner.gid,
            },
            mounts: user_mounts,
            nested,
            cow,
            private_dirs: host.private_dirs,
            time_offsets: input
                .time_offset
                .as_deref()
                .map(crate::timens::from_cli)
                .transpose()?,
            sysctls: Vec::new(),
        },
        process: Process {
            command,
            env,
            cwd,
            limits,
            seccomp,
            // A detached sandbox has no terminal to relay to.
            tty: !input.detach && (input.tty || (host.stdin_is_terminal && !input.no_tty)),
            ignored_signals: host.ignored_signals,
            lockdown: Lockdown::Native { keep_caps: nested },
        },
        timeout,
        name: input.name,
        detach: input.detach,
        result_json: input.result_json,
    })
}

/// The environment of a command run by `exec`: the payload's (`run`'s), with `exec`'s own
/// `-e` on top.
pub fn exec_env(
    payload: &[(OsString, OsString)],
    host: &[(OsString, OsString)],
    set: &[OsString],
) -> Result<Vec<(OsString, OsString)>> {
    let mut env = payload.to_vec();
    env::apply_set(&mut env, host, set)?;
    Ok(env)
}

/// An image's `Env` ("NAME=VALUE" strings); entries without `=` are ignored.
fn image_env(vars: &[String]) -> Vec<(OsString, OsString)> {
    vars.iter()
        .filter_map(|v| v.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// sethostname(2) takes at most 64 bytes; `/` and control characters are refused because
/// prompts, logs and file names are built from the hostname.
pub fn validate_hostname(name: &OsStr) -> Result<Vec<u8>> {
    let bytes = name.as_bytes();
    let why = if bytes.is_empty() {
        Some("must not be empty")
    } else if bytes.len() > 64 {
        Some("must be at most 64 bytes")
    } else if bytes.contains(&b'/') {
        Some("must not contain '/'")
    } else if bytes.iter().any(|b| b.is_ascii_control()) {
        Some("must not contain control characters")
    } else if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(b))
    {
        // hostname(7): letters, digits and hyphens, in labels separated by dots.
        Some("use letters, digits, '-', '.' and '_' only")
    } else {
        None
    };
    match why {
        Some(why) => bail!("invalid --hostname {}: {why}", quote(name)),
        None => Ok(bytes.to_vec()),
    }
}

/// The rootfs must be a directory. ns-rootless never mounts on the rootfs's own `proc` or `dev`
/// (it builds fresh ones), but a symlink there means the tree was made to redirect mounts
/// (CVE-2019-19921 class): refuse it rather than guess what its author wanted.
fn validate_rootfs(dir: &Path) -> Result<PathBuf> {
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("invalid --rootfs {}", quote(dir)))?;
    if !canonical.is_dir() {
        bail!("invalid --rootfs {}: not a directory", quote(dir));
    }
    for name in ["proc", "dev"] {
        let place = canonical.join(name);
        if let Ok(meta) = place.symlink_metadata() {
            if meta.file_type().is_symlink() {
                bail!(
                    "invalid --rootfs {}: {} is a symlink; refusing to mount through it",
                    quote(dir),
                    quote(&place)
                );
            }
        }
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests;
