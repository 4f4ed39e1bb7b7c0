//! Validated plain data: what a front end asks for (Input, input.rs) checked against the host
//! and its root model (validate.rs) into a Spec. Every bad value fails there, before any
//! namespace exists.

mod defaults;
mod env;
pub mod identity;
mod input;
pub mod limits;
pub mod mount_options;
pub mod mounts;
mod namespaces;
mod process;
mod sysctls;
pub mod userns;
mod validate;

use crate::error::quote;
use anyhow::{bail, Context, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::exactly as env_exactly;
pub use input::{
    Input, LockdownInput, MountsInput, NetInput, ProcessInput, RootInput, SandboxInput, UserInput,
    Words, COMMAND_LINE, OCI_CONFIG,
};
pub use limits::Limit;
pub use mounts::{MountArg, MountSpec};
pub use namespaces::{is_ours, is_ours_file, IdMaps, Namespaces, Ns, Opened};
pub use process::{CapSets, Cwd, Lockdown, OciLockdown, Process, Seccomp};
pub use userns::IdRange;
pub use validate::validate;

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
    /// The namespaces init joins by path (`namespaces`' joined_by_init), opened once when
    /// their types were checked: what is joined is what was checked.
    pub joins: Vec<Opened>,
    /// The pid namespace joined by path (`namespaces.pid`), opened when its type was checked:
    /// whoever starts the sandbox enters it before init is cloned (setns(2) moves only the
    /// children of the caller).
    pub join_pid: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
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
