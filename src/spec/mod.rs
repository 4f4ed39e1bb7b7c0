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
mod sysctls;
pub mod userns;

use crate::error::quote;
use anyhow::{bail, Context, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use limits::Limit;
pub use mounts::{MountArg, MountSpec};
pub use namespaces::{is_ours, IdMaps, Namespaces, Ns};
pub use process::{Cwd, Lockdown, OciLockdown, Process, Seccomp};
pub use userns::IdRange;

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

/// What a front end asks for, before validation: plain data, in the words of no front end
/// (the command line fills it in cli.rs, an OCI config in oci/convert.rs); `validate` checks
/// it against the host and the root model, once for every front end.
#[derive(Debug, Clone)]
pub struct Input {
    /// A named sandbox, findable by `exec`, `ps`, `stop`, `kill`, `logs`.
    pub name: Option<String>,
    /// Run in the background (needs a name).
    pub detach: bool,
    /// Running as real root was asked for (`--allow-root`).
    pub allow_root: bool,
    pub timeout: Option<Duration>,
    pub result_json: Option<PathBuf>,
    /// How the front end names its fields, for messages.
    pub words: &'static Words,
    pub sandbox: SandboxInput,
    pub process: ProcessInput,
}

/// The sandbox asked for.
#[derive(Debug, Clone)]
pub struct SandboxInput {
    /// Each namespace new, the caller's, or joined at a path.
    pub namespaces: Namespaces,
    /// A new user namespace's maps (uid, gid); None: the root model's own (see `validate`).
    pub maps: Option<(Vec<IdRange>, Vec<IdRange>)>,
    pub hostname: Option<OsString>,
    pub domainname: Option<OsString>,
    /// timens_offsets lines, for a time namespace of its own.
    pub time_offsets: Option<Vec<u8>>,
    pub root: RootInput,
    pub mounts: MountsInput,
    /// Namespaced sysctls, as `KEY` (dotted) and value.
    pub sysctls: Vec<(String, String)>,
    /// The network asked for; None: as `namespaces` says (the caller's network, or one of
    /// its own without a helper).
    pub net: Option<NetInput>,
    /// `--cow`: read-write binds (and an image or rootfs root) are copy-on-write.
    pub cow: bool,
}

/// The root asked for.
#[derive(Debug, Clone)]
pub enum RootInput {
    Host,
    Dir(PathBuf),
    Image(PathBuf),
    /// An OCI bundle: `path` (relative to `dir`, the bundle) is its rootfs.
    Bundle {
        dir: PathBuf,
        path: PathBuf,
        readonly: bool,
        /// mount(2) propagation flags for `/` once pivoted.
        propagation: Option<u64>,
    },
}

/// The mounts asked for, and how they meet the root model's defaults.
#[derive(Debug, Clone)]
pub enum MountsInput {
    /// Added to the default set (host, dir and image roots): the filesystem options, in the
    /// order given. Relative sources are the caller's directory's.
    Add(Vec<MountArg>),
    /// Every mount, replacing the defaults (a bundle's config lists /proc, /dev and the rest
    /// itself). Destinations as given (relative ones are under `/`), bind sources relative to
    /// the bundle.
    Replace(Vec<MountSpec>),
}

#[derive(Debug, Clone)]
pub struct NetInput {
    pub mode: Option<String>,
    pub share: bool,
    pub publish: Vec<String>,
}

/// The process asked for.
#[derive(Debug, Clone)]
pub struct ProcessInput {
    /// Empty: the image's Entrypoint and Cmd, else a shell (a bundle's must say).
    pub command: Vec<OsString>,
    /// `KEY=VALUE` (or, but in a bundle, `KEY`: taken from the caller's environment).
    pub env: Vec<OsString>,
    /// The caller's whole environment passes (not for a bundle, whose list is complete).
    pub keep_env: bool,
    pub unset_env: Vec<OsString>,
    pub env_file: Vec<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub user: UserInput,
    pub limits: Vec<Limit>,
    /// A pty; None: when stdin is a terminal.
    pub tty: Option<bool>,
    pub lockdown: LockdownInput,
}

#[derive(Debug, Clone)]
pub enum UserInput {
    /// Names or numbers, looked up in the root's passwd and group (or an image's User).
    Names {
        uid: Option<OsString>,
        gid: Option<OsString>,
    },
    /// Ids of the sandbox's user namespace, which must map them.
    Ids {
        uid: u32,
        gid: u32,
        groups: Vec<u32>,
    },
}

#[derive(Debug, Clone)]
pub enum LockdownInput {
    /// ns-rootless's own (payload.rs).
    Native {
        /// The syscall groups given back (`--allow`).
        allow: crate::seccomp::Allow,
        /// No seccomp filter at all (`--seccomp none`).
        no_seccomp: bool,
        /// A precompiled seccomp program to read from this fd.
        seccomp_fd: Option<i32>,
    },
    /// As an OCI config says; its ids, groups and namespace facts are filled in by `validate`.
    Oci(OciLockdown),
}

/// The names of the fields a front end's user typed, for messages.
#[derive(Debug)]
pub struct Words {
    /// Before a quoted hostname.
    pub hostname: &'static str,
    pub domainname: &'static str,
    pub namespaces: &'static str,
    pub uid_maps: &'static str,
    pub gid_maps: &'static str,
    pub root: &'static str,
    pub cwd: &'static str,
    pub command: &'static str,
}

pub const COMMAND_LINE: Words = Words {
    hostname: "--hostname",
    domainname: "--domainname",
    namespaces: "namespaces",
    uid_maps: "uid map",
    gid_maps: "gid map",
    root: "--rootfs",
    cwd: "--chdir",
    command: "command",
};

pub const OCI_CONFIG: Words = Words {
    hostname: "hostname:",
    domainname: "domainname:",
    namespaces: "linux.namespaces",
    uid_maps: "linux.uidMappings",
    gid_maps: "linux.gidMappings",
    root: "root.path",
    cwd: "process.cwd",
    command: "process.args",
};

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
    /// The UTS namespace's domain name, set beside the hostname (empty: left as it is).
    pub domainname: Vec<u8>,
    /// What was changed from the input and why, for --debug.
    pub notes: Vec<String>,
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
    /// uid 0 inside someone else's user namespace (rootless podman): may write any map of ids
    /// that namespace has, and needs no namespace of its own to mount.
    pub userns_root: bool,
}

/// Checks `input` against the host and its root model: every bad value fails here, before any
/// namespace exists, whichever front end asked.
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
    let words = input.words;
    let SandboxInput {
        mut namespaces,
        maps,
        hostname,
        domainname,
        time_offsets,
        root,
        mounts: asked_mounts,
        sysctls,
        net,
        cow,
    } = input.sandbox;
    let mut p = input.process;
    // A bundle's config says everything: no hostname is the namespace's as it is.
    let bundle = matches!(root, RootInput::Bundle { .. });
    let uts_own = namespaces.uts == Ns::New;
    let hostname = match (&hostname, &input.name) {
        (Some(h), _) => uts_name(h, words.hostname, uts_own, words)?,
        (None, _) if bundle => Vec::new(),
        (None, Some(name)) => name.as_bytes().to_vec(),
        (None, None) => random_hostname(),
    };
    let domainname = match &domainname {
        Some(d) => uts_name(d, words.domainname, uts_own, words)?,
        None => Vec::new(),
    };
    let net_is_ours = namespaces::check(&namespaces, words.namespaces)?;
    // A plain user needs a user namespace to do anything (crun's rule: without one asked for,
    // container root is the caller).
    if namespaces.user == Ns::Caller && !host.userns_root {
        namespaces.user = Ns::New;
    }
    let (maps, spaces) = match (&namespaces.user, maps) {
        (Ns::Join(path), Some(_)) => bail!(
            "invalid {}: a user namespace joined by path ({}) has its own mappings",
            words.uid_maps,
            quote(path)
        ),
        (Ns::New, Some((uids, gids))) => {
            userns::check_maps(words.uid_maps, &uids, host.uid, host.userns_root)?;
            userns::check_maps(words.gid_maps, &gids, host.gid, host.userns_root)?;
            let maps = IdMaps {
                uid_map: userns::text(&uids),
                gid_map: userns::text(&gids),
                deny_setgroups: !host.userns_root,
            };
            (Some(maps), Some(Some((uids, gids))))
        }
        // The command line's: the caller's ids map to themselves in the sandbox's namespace;
        // the payload maps them to the inner ids in its nested one (see payload.rs).
        (Ns::New, None) => {
            let maps = IdMaps {
                uid_map: crate::idmap::line(host.uid, host.uid),
                gid_map: crate::idmap::line(host.gid, host.gid),
                deny_setgroups: true,
            };
            (Some(maps), Some(None))
        }
        (_, _) => (None, None),
    };
    // The ids of the user namespace the sandbox is in: its own (as asked, or the caller's
    // alone), else ours. Made when needed: the command line's never are.
    let spaces = || match &spaces {
        Some(Some(asked)) => asked.clone(),
        Some(None) => (
            vec![IdRange::one(host.uid, host.uid)],
            vec![IdRange::one(host.gid, host.gid)],
        ),
        None => (
            userns::ours("/proc/self/uid_map"),
            userns::ours("/proc/self/gid_map"),
        ),
    };
    let net = match net {
        Some(n) => {
            let net = crate::net::Net::parse(n.mode.as_deref(), n.share, &n.publish, |name| {
                which::which(name).ok()
            })?;
            namespaces.net = if net.own_namespace() {
                Ns::New
            } else {
                Ns::Caller
            };
            net
        }
        // The host's network (ours): then the process gets `--share-net`'s Landlock scope.
        None if net_is_ours => crate::net::Net::Host,
        None => crate::net::Net::Private,
    };
    // Where a bundle's relative bind sources are.
    let base = match &root {
        RootInput::Bundle { dir, .. } => dir.clone(),
        _ => PathBuf::new(),
    };
    let root = match root {
        RootInput::Host => Root::Host,
        RootInput::Dir(dir) => Root::Dir(validate_rootfs(&dir)?),
        RootInput::Image(image) => Root::Image(crate::image::open(&image, &host.env)?),
        RootInput::Bundle {
            dir,
            path,
            readonly,
            propagation,
        } => Root::Bundle(Bundle {
            rootfs: root_dir(&dir.join(&path), &path, words.root)?,
            readonly,
            propagation,
            owns_net: namespaces.net == Ns::New || host.userns_root,
            owns_cgroup: namespaces.cgroup == Ns::New,
        }),
    };
    let sysctls = sysctls::check(&sysctls, &namespaces, host.userns_root)?;
    let (mounts, work_dir, mount_args, notes) = match asked_mounts {
        MountsInput::Add(args) => {
            let parsed = mounts::parse(&args, host.cwd.as_deref())?;
            (parsed.mounts, parsed.work_dir, args, Vec::new())
        }
        MountsInput::Replace(mut list) => {
            mounts::resolve_in_bundle(&mut list, &base)?;
            let (uids, gids) = spaces();
            let notes = userns::drop_unmapped_devpts_ids(&mut list, &uids, &gids);
            (list, None, Vec::new(), notes)
        }
    };
    let image_config = match &root {
        Root::Image(image) => Some(image.config.clone()),
        _ => None,
    };
    let image_config = image_config.as_ref();
    let image_cwd = image_config
        .and_then(|c| c.working_dir.as_deref())
        .filter(|d| d.starts_with('/'));
    let cwd = match (&p.cwd, work_dir) {
        (Some(dir), _) if dir.is_absolute() => Cwd::Exact(dir.clone()),
        (Some(dir), _) => bail!("invalid {} {}: must be absolute", words.cwd, quote(dir)),
        (None, Some(work)) => Cwd::Exact(work),
        (None, None) => match (image_config, image_cwd) {
            (Some(_), Some(dir)) => Cwd::Exact(dir.into()),
            (Some(_), None) => Cwd::Root,
            (None, _) => host.cwd.clone().map_or(Cwd::Root, Cwd::Caller),
        },
    };
    if bundle && p.command.is_empty() {
        bail!("invalid {}: empty", words.command);
    }
    let user = std::mem::replace(
        &mut p.user,
        UserInput::Names {
            uid: None,
            gid: None,
        },
    );
    let (inner_uid, inner_gid, mut env, groups) = match user {
        // Ids the sandbox's user namespace must map; the environment is the one given.
        UserInput::Ids { uid, gid, groups } => {
            let (uids, gids) = spaces();
            for (what, id, space) in [("uid", uid, &uids), ("gid", gid, &gids)] {
                if !userns::mapped(space, id) {
                    bail!(
                        "invalid process.user.{what} {id}: not mapped in the container's user \
                         namespace (rootless podman maps more ids only with subordinate ids \
                         in /etc/subuid and /etc/subgid)"
                    );
                }
            }
            let env = p
                .env
                .iter()
                .map(|kv| {
                    let kv = kv.as_bytes();
                    match kv.iter().position(|&b| b == b'=') {
                        Some(i) => (
                            OsStr::from_bytes(&kv[..i]).into(),
                            OsStr::from_bytes(&kv[i + 1..]).into(),
                        ),
                        None => (OsStr::from_bytes(kv).into(), OsString::new()),
                    }
                })
                .collect();
            (uid, gid, env, groups)
        }
        UserInput::Names { uid, gid } => {
            let (uid, gid, env) =
                native_user_and_env(uid, gid, &p, &root, image_config, &host, &hostname)?;
            (uid, gid, env, Vec::new())
        }
    };
    let mut limits = p.limits;
    let mut command = p.command;
    let (seccomp, lockdown, nested) = match p.lockdown {
        LockdownInput::Native {
            allow,
            no_seccomp,
            seccomp_fd,
        } => {
            // Every sandbox has a cap on its processes (a fork bomb hits it first) unless one
            // is given.
            if !limits.iter().any(|l| l.resource == limits::NPROC) {
                limits.push(limits::default_nproc_here());
            }
            let seccomp = native_seccomp(allow, no_seccomp, seccomp_fd)?;
            (
                seccomp,
                Lockdown::Native {
                    keep_caps: allow.nested,
                },
                allow.nested,
            )
        }
        LockdownInput::Oci(mut l) => {
            // setgroups(2) works where the namespace allows it: not in one we map as a plain
            // user, nor in one whose maker denied it (rootless podman without subordinate
            // ids).
            l.set_groups = match &maps {
                Some(m) => !m.deny_setgroups,
                None => crate::host::read_proc("/proc/self/setgroups")
                    .map_or(true, |s| s.trim() != "deny"),
            };
            if !l.set_groups && groups.iter().any(|&g| g != inner_gid) {
                bail!(
                    "invalid process.user.additionalGids: supplementary groups need setgroups, \
                     which this user namespace denies (a plain user's own, or rootless \
                     podman's without subordinate ids)"
                );
            }
            (l.uid, l.gid, l.groups) = (inner_uid, inner_gid, groups);
            l.own_pid_ns = namespaces.pid == Ns::New;
            // The config's profile is the lockdown's, installed in runc's order.
            (Seccomp::None, Lockdown::Oci(l), false)
        }
    };
    if !bundle {
        defaults::refuse_work_dir_as_command(&mount_args, &command, &env)?;
        if let (true, Some(config)) = (command.is_empty(), image_config) {
            // Entrypoint + Cmd when no command is given (OCI image-spec config.md).
            let entry = config.entrypoint.iter().flatten();
            command = entry
                .chain(config.cmd.iter().flatten())
                .map(OsString::from)
                .collect();
        }
        if command.is_empty() {
            let shell = defaults::shell(&host.env, &root, &mounts);
            // The shell that runs is the one programs started from it should use.
            if shell != "sh" {
                if let Some(slot) = env.iter_mut().find(|(k, _)| k == "SHELL") {
                    slot.1 = shell.clone();
                }
            }
            command.push(shell);
        }
    }
    if matches!(root, Root::Dir(_) | Root::Image(_)) {
        defaults::rootfs_path(&mut env, &host.env, &p.env, p.keep_env);
    }
    // A bundle's mounts are in the config's order, which is the order to mount them in.
    let mounts = match bundle {
        true => mounts,
        false => mounts::parents_first(mounts),
    };
    let cow = match cow {
        false => None,
        true => Some(crate::session::plan_cow(
            input.name.as_deref(),
            &host.env,
            &root,
            &mounts,
        )?),
    };
    Ok(Spec {
        sandbox: Sandbox {
            namespaces,
            maps,
            hostname,
            root,
            net,
            ids: Ids {
                outer_uid: host.uid,
                outer_gid: host.gid,
                inner_uid,
                inner_gid,
            },
            mounts,
            nested,
            cow,
            private_dirs: host.private_dirs,
            time_offsets,
            sysctls,
        },
        process: Process {
            command,
            env,
            cwd,
            limits,
            seccomp,
            // A detached sandbox has no terminal to relay to.
            tty: !input.detach && p.tty.unwrap_or(host.stdin_is_terminal),
            ignored_signals: host.ignored_signals,
            lockdown,
        },
        timeout: input.timeout,
        name: input.name,
        detach: input.detach,
        result_json: input.result_json,
        domainname,
        notes,
    })
}

/// A hostname or domain name, which needs a UTS namespace of the sandbox's own.
fn uts_name(name: &OsStr, label: &str, uts_own: bool, words: &Words) -> Result<Vec<u8>> {
    if !uts_own {
        bail!(
            "invalid {}: setting it needs a new uts namespace in {}",
            label.trim_end_matches(':'),
            words.namespaces
        );
    }
    validate_hostname(name, label)
}

/// The user and group of a host, dir or image root (the image's User, unless --uid says
/// otherwise: "uid", "uid:gid", "name", "name:group"), and its environment built from the
/// caller's.
fn native_user_and_env(
    uid: Option<OsString>,
    gid: Option<OsString>,
    p: &ProcessInput,
    root: &Root,
    image_config: Option<&crate::image::config::RunConfig>,
    host: &Host,
    hostname: &[u8],
) -> Result<(u32, u32, env::Env)> {
    let image_user = image_config
        .and_then(|c| c.user.as_deref())
        .filter(|u| !u.is_empty() && uid.is_none());
    let (uid_arg, gid_arg, given) = match image_user {
        Some(user) => {
            let (u, g) = user
                .split_once(':')
                .map_or((user, None), |(u, g)| (u, Some(g)));
            let given = identity::Given {
                uid: "image config User",
                gid: match gid {
                    Some(_) => "--gid",
                    None => "image config User group",
                },
            };
            let gid = gid.or(g.map(OsString::from));
            (Some(OsString::from(u)), gid, given)
        }
        None => (uid, gid, identity::OPTIONS),
    };
    let inner = identity::resolve(uid_arg.as_deref(), gid_arg.as_deref(), root, &given)?;
    let image_env = image_config
        .and_then(|c| c.env.as_ref())
        .map(|vars| image_env(vars))
        .unwrap_or_default();
    let env = env::build(
        &host.env,
        &env::EnvOptions {
            keep_env: p.keep_env,
            set: &p.env,
            unset: &p.unset_env,
            files: &p.env_file,
            image: &image_env,
        },
        &env::Identity {
            home: inner.home,
            user: inner.user,
        },
        hostname,
    )?;
    Ok((inner.uid, inner.gid, env))
}

fn native_seccomp(
    allow: crate::seccomp::Allow,
    no_seccomp: bool,
    seccomp_fd: Option<i32>,
) -> Result<Seccomp> {
    Ok(match (no_seccomp, seccomp_fd) {
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
        (false, None) => Seccomp::Default(allow),
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
/// `label` names the field, before the quoted value.
pub fn validate_hostname(name: &OsStr, label: &str) -> Result<Vec<u8>> {
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
        Some(why) => bail!("invalid {label} {}: {why}", quote(name)),
        None => Ok(bytes.to_vec()),
    }
}

/// The rootfs must be a directory. ns-rootless never mounts on the rootfs's own `proc` or `dev`
/// (it builds fresh ones), but a symlink there means the tree was made to redirect mounts
/// (CVE-2019-19921 class): refuse it rather than guess what its author wanted.
fn validate_rootfs(dir: &Path) -> Result<PathBuf> {
    let canonical = root_dir(dir, dir, "--rootfs")?;
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

/// A root directory: canonical, and a directory. `shown` is the path as given.
fn root_dir(dir: &Path, shown: &Path, label: &str) -> Result<PathBuf> {
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("invalid {label} {}", quote(shown)))?;
    if !canonical.is_dir() {
        bail!("invalid {label} {}: not a directory", quote(shown));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests;
