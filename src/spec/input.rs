//! What a front end asks for (spec::Input): plain data in the words of no front end. The
//! command line fills it (cli.rs), an OCI config too (oci/convert.rs); `validate` checks it.

use super::{IdRange, Limit, MountArg, MountSpec, Namespaces, OciLockdown};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

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
    pub env: &'static str,
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
    env: "--env",
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
    env: "process.env",
};
