//! The command line, as clap sees it. Validation beyond syntax lives in `spec`.

mod bare;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  Namespaces:   ns-rootless --hostname box -- hostname
  Network:      ns-rootless -p 8000:8000 -w -- python3 -m http.server   (http://127.0.0.1:8000)
                ns-rootless --net pasta -w -- pip install -r requirements.txt
  Terminal:     ns-rootless -T -- vi notes.txt         (no pty: the terminal passed as is)
  Filesystem:   ns-rootless -w -- cargo test          (the current project, read-write)
                ns-rootless --rootfs ./alpine sh
  Images:       ns-rootless --image ./alpine.oci.tar -- cat /etc/os-release
  Sessions:     ns-rootless --cow --name try -w -- npm install; ns-rootless diff try
  Environment:  ns-rootless -e GITHUB_TOKEN -e MODE=ci -- ./deploy.sh
  Identity:     ns-rootless --uid 1000 --gid 1000 -- id
  Limits:       ns-rootless --limit nofile=256 --timeout 10m -- make test
  Security:     ns-rootless --allow nested -- ns-rootless true

Exit status:
  the command's own exit status, or 128+N when it was killed by signal N
  124  --timeout expired
  125  ns-rootless itself failed (bad option, setup error)
  126  the command was found but could not be run (not executable)
  127  the command was not found inside the sandbox
";

/// Run a command in a fresh rootless container: new user, mount, PID, UTS, IPC, network and
/// cgroup namespaces, its own hostname, a fresh /proc and a pivoted root. No root, no setuid helper.
// (`Default` is what clap gives for no option at all: bare.rs starts from it, its tests compare.)
#[derive(Parser, Debug, Default)]
#[command(
    name = "ns-rootless",
    version,
    after_help = AFTER_HELP,
    override_usage = "ns-rootless [OPTIONS] [--] [COMMAND [ARG...]]\n       \
                      ns-rootless run [OPTIONS] [--] COMMAND...\n       \
                      ns-rootless exec [-t|-T] [-e NAME=VALUE] [--chdir DIR] NAME [--] COMMAND...\n       \
                      ns-rootless ps [-a] [--json] | stop NAME [--time SECS] | kill NAME [SIGNAL] | logs NAME [-f]\n       \
                      ns-rootless wait NAME | rm [-f] NAME...\n       \
                      ns-rootless images [--prune] | diff NAME [--json] | apply NAME | discard NAME\n       \
                      ns-rootless explain [--json] [OPTIONS] [--] [COMMAND...]\n       \
                      ns-rootless doctor | profiles | completions SHELL | man",
    // A profile's options come first: the command line's, given again, win.
    args_override_self = true
)]
pub struct Cli {
    /// Name the sandbox, so that `exec`, `ps`, `stop`, `kill`, `logs` and `wait` can find it;
    /// it is kept after its command ends, with its exit status (and log), until `rm NAME`; the
    /// hostname defaults to NAME
    #[arg(long, value_name = "NAME", help_heading = "Named sandboxes")]
    pub name: Option<String>,

    /// With --name: start in the background, print the name and return once the command runs;
    /// its output goes to `ns-rootless logs NAME`
    #[arg(short = 'd', long, requires = "name", help_heading = "Named sandboxes")]
    pub detach: bool,

    /// With --name: remove the sandbox when its command ends instead of keeping it for
    /// `ps -a`, `logs` and `wait` (an unnamed sandbox is never kept)
    #[arg(long, help_heading = "Named sandboxes")]
    pub rm: bool,

    /// With -d: keep at most SIZE bytes of the log, the newest output (suffixes k, m, g; at
    /// least 4k) [default: 10m]
    #[arg(
        long,
        value_name = "SIZE",
        requires = "detach",
        help_heading = "Named sandboxes"
    )]
    pub log_size: Option<OsString>,

    /// Hostname inside the sandbox [default: the --name, else a random 12-digit hex id]
    #[arg(long, value_name = "NAME", help_heading = "Namespaces")]
    pub hostname: Option<OsString>,

    /// A time namespace whose monotonic and boottime clocks are offset by SECS
    #[arg(
        long,
        value_name = "monotonic=SECS,boottime=SECS",
        help_heading = "Namespaces"
    )]
    pub time_offset: Option<OsString>,

    /// Give the command a terminal of its own (a pty) even when stdin is not a terminal
    #[arg(
        short = 't',
        long,
        conflicts_with = "no_tty",
        help_heading = "Terminal"
    )]
    pub tty: bool,

    /// Never give the command a pty, even when stdin is a terminal
    #[arg(short = 'T', long, help_heading = "Terminal")]
    pub no_tty: bool,

    /// Same as --net host; leaks the host's localhost ports (and, without Landlock ABI 6, its
    /// abstract unix sockets: X11, D-Bus, bubblewrap #330) into the sandbox: use --net pasta
    #[arg(long, conflicts_with = "net", help_heading = "Network")]
    pub share_net: bool,

    /// private (only lo), pasta (the internet, not the host's loopback), pasta:host-loopback,
    /// host, none (lo down, no address, no route: the kernel won't delete lo) [default:
    /// private; pasta with -p]
    #[arg(long, value_name = "MODE", help_heading = "Network")]
    pub net: Option<String>,

    /// Publish a port, SPEC [HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|/udp] (HOST_IP default
    /// 127.0.0.1); implies --net pasta
    #[arg(short = 'p', long, value_name = "SPEC", help_heading = "Network")]
    pub publish: Vec<String>,

    /// Use DIR as the root filesystem [default: the host's / read-only, with /home, /root and
    /// /run hidden]
    #[arg(long, value_name = "DIR", help_heading = "Filesystem")]
    pub rootfs: Option<PathBuf>,

    /// Run an image: an OCI layout directory, an oci-archive or docker-archive (`podman
    /// save`), or a rootfs tarball (.tar, .tar.gz, .tar.zst); its layers are unpacked once into
    /// the store, its writes thrown away at exit
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "rootfs",
        help_heading = "Filesystem"
    )]
    pub image: Option<PathBuf>,

    /// Make read-write binds (and an --image or --rootfs root) copy-on-write: the writes are
    /// kept in a session (--name, else a generated id) to review with `diff`, keep with
    /// `apply` or drop with `discard`
    #[arg(long, help_heading = "Sessions")]
    pub cow: bool,

    /// Bind SRC read-write at DST (default: the same path)
    #[arg(long, value_name = "SRC[:DST]", help_heading = "Filesystem")]
    pub bind: Vec<OsString>,

    /// Bind SRC read-only (with every submount) at DST
    #[arg(long, value_name = "SRC[:DST]", help_heading = "Filesystem")]
    pub ro_bind: Vec<OsString>,

    /// Like --bind, but skip it when SRC doesn't exist
    #[arg(long, value_name = "SRC[:DST]", help_heading = "Filesystem")]
    pub bind_try: Vec<OsString>,

    /// Like --ro-bind, but skip it when SRC doesn't exist
    #[arg(long, value_name = "SRC[:DST]", help_heading = "Filesystem")]
    pub ro_bind_try: Vec<OsString>,

    /// Mount an empty tmpfs at DST, capped at SIZE bytes (suffixes k, m, g) [default: 1g]
    #[arg(long, value_name = "DST[:SIZE]", help_heading = "Filesystem")]
    pub tmpfs: Vec<OsString>,

    /// Create the directory DST (and its parents) inside the sandbox
    #[arg(long, value_name = "DST", help_heading = "Filesystem")]
    pub dir: Vec<OsString>,

    /// Create a symlink at DST pointing to TARGET
    #[arg(long, value_name = "TARGET:DST", help_heading = "Filesystem")]
    pub symlink: Vec<OsString>,

    /// Hide PATH inside the sandbox under an empty read-only directory (or /dev/null, when PATH
    /// is not a directory): e.g. a socket in a bound directory. Nothing to do if missing
    #[arg(long, value_name = "PATH", help_heading = "Filesystem")]
    pub hide: Vec<OsString>,

    /// Bind DIR (default: the current directory) read-write at the same path and start there;
    /// give DIR as --work=DIR
    #[arg(
        short = 'w',
        long,
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ".",
        help_heading = "Filesystem"
    )]
    pub work: Option<OsString>,

    /// Start the command in DIR, an absolute path inside the sandbox [default: the current
    /// directory when it exists inside, else /]
    #[arg(long, value_name = "DIR", help_heading = "Filesystem")]
    pub chdir: Option<PathBuf>,

    /// Set NAME to VALUE, or pass the caller's NAME through
    #[arg(
        short = 'e',
        long = "env",
        value_name = "NAME[=VALUE]",
        help_heading = "Environment"
    )]
    pub env: Vec<OsString>,

    /// Pass the caller's whole environment through
    #[arg(long, help_heading = "Environment")]
    pub keep_env: bool,

    /// Remove NAME from the environment
    #[arg(long, value_name = "NAME", help_heading = "Environment")]
    pub unset_env: Vec<OsString>,

    /// Read NAME=VALUE lines from FILE (blank lines and # comments are skipped)
    #[arg(long, value_name = "FILE", help_heading = "Environment")]
    pub env_file: Vec<PathBuf>,

    /// The command's uid inside, a number or a name from the sandbox's /etc/passwd [default: 0]
    #[arg(long, value_name = "UID", help_heading = "Identity")]
    pub uid: Option<OsString>,

    /// The command's gid inside, a number or a name from the sandbox's /etc/group [default: 0,
    /// or the primary group of a --uid given by name]
    #[arg(long, value_name = "GID", help_heading = "Identity")]
    pub gid: Option<OsString>,

    /// Allow running as real root (euid 0 outside any user namespace)
    #[arg(long, help_heading = "Identity")]
    pub allow_root: bool,

    /// Set a resource limit (soft and hard): nofile, nproc, as, cpu, fsize, core or stack;
    /// VALUE is a number or "unlimited"
    #[arg(long, value_name = "NAME=VALUE", help_heading = "Limits")]
    pub limit: Vec<OsString>,

    /// Send SIGTERM after DURATION (e.g. 30, 1.5s, 500ms, 10m, 1h), SIGKILL 5 s later; exit 124
    // Hyphen values too, so that `--timeout -5` is refused as a duration, not as an option.
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        help_heading = "Limits"
    )]
    pub timeout: Option<OsString>,

    /// Give back a group of syscalls the default seccomp filter denies: nested (namespaces,
    /// mounts: containers inside the sandbox), perf, io-uring, keyring
    #[arg(long, value_name = "GROUP", value_enum, help_heading = "Security")]
    pub allow: Vec<AllowGroup>,

    /// The seccomp filter: the default one, or none at all
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        default_value = "default",
        help_heading = "Security"
    )]
    pub seccomp: SeccompMode,

    /// Install the precompiled BPF program read from file descriptor FD instead of the default
    #[arg(
        long,
        value_name = "FD",
        conflicts_with = "seccomp",
        help_heading = "Security"
    )]
    pub seccomp_fd: Option<i32>,

    /// Daily use: profiles, a result record, `explain --json`.
    #[command(flatten)]
    pub daily: DailyOptions,

    /// The command and its arguments [default: $SHELL when it exists inside, else sh];
    /// everything from here on is passed as is
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The run options of daily use (profiles, the result record), kept apart so the option list
/// above stays easy to merge.
#[derive(clap::Args, Debug, Default)]
pub struct DailyOptions {
    /// Start from the options of profile NAME: built in (see `ns-rootless profiles`) or
    /// $XDG_CONFIG_HOME/ns-rootless/profiles/NAME.toml; options given here come after it
    #[arg(long, value_name = "NAME", help_heading = "Profiles")]
    pub profile: Option<String>,

    /// After the run, write one JSON object to FILE: exit_code, signal, timed_out, wall_ms,
    /// user_ms, sys_ms, peak_rss_kib, hostname, name and the namespace ids
    #[arg(long, value_name = "FILE", help_heading = "Limits")]
    pub result_json: Option<PathBuf>,

    /// (explain) print the plan as JSON
    #[arg(long, hide = true)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowGroup {
    Nested,
    Perf,
    IoUring,
    Keyring,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeccompMode {
    #[default]
    Default,
    None,
}

pub use crate::spec::MountArg;

pub struct Parsed {
    pub cli: Cli,
    pub mounts: Vec<MountArg>,
    /// The words parsed (program name first), for a profile's options to go before.
    pub args: Vec<OsString>,
}

impl Parsed {
    /// What the command line asks for, as every front end says it (spec::Input): its strings
    /// parsed (limits, timeout, time offsets); what depends on the host is `spec::validate`'s.
    pub fn into_input(self) -> anyhow::Result<crate::spec::Input> {
        use crate::spec::{self, limits, Namespaces};
        let Parsed { cli, mounts, .. } = self;
        let allow = |g: AllowGroup| cli.allow.contains(&g);
        let time_offsets = cli
            .time_offset
            .as_deref()
            .map(crate::timens::from_cli)
            .transpose()?;
        // The network's as `--net` says (spec::validate).
        let namespaces = Namespaces::native(true, time_offsets.is_some());
        Ok(spec::Input {
            name: cli.name,
            detach: cli.detach,
            allow_root: cli.allow_root,
            timeout: cli
                .timeout
                .as_deref()
                .map(limits::parse_duration)
                .transpose()?,
            result_json: cli.daily.result_json,
            words: &spec::COMMAND_LINE,
            sandbox: spec::SandboxInput {
                namespaces,
                maps: None,
                hostname: cli.hostname,
                domainname: None,
                time_offsets,
                root: match (cli.rootfs, cli.image) {
                    (Some(dir), _) => spec::RootInput::Dir(dir),
                    (None, Some(image)) => spec::RootInput::Image(image),
                    (None, None) => spec::RootInput::Host,
                },
                mounts: spec::MountsInput::Add(mounts),
                sysctls: Vec::new(),
                net: Some(spec::NetInput {
                    mode: cli.net,
                    share: cli.share_net,
                    publish: cli.publish,
                }),
                cow: cli.cow,
            },
            process: spec::ProcessInput {
                command: cli.command,
                env: cli.env,
                keep_env: cli.keep_env,
                unset_env: cli.unset_env,
                env_file: cli.env_file,
                cwd: cli.chdir,
                user: spec::UserInput::Names {
                    uid: cli.uid,
                    gid: cli.gid,
                },
                limits: cli
                    .limit
                    .iter()
                    .map(|l| limits::parse_limit(l))
                    .collect::<anyhow::Result<_>>()?,
                tty: match (cli.tty, cli.no_tty) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                lockdown: spec::LockdownInput::Native {
                    allow: crate::seccomp::Allow {
                        nested: allow(AllowGroup::Nested),
                        perf: allow(AllowGroup::Perf),
                        io_uring: allow(AllowGroup::IoUring),
                        keyring: allow(AllowGroup::Keyring),
                    },
                    no_seccomp: cli.seccomp == SeccompMode::None,
                    seccomp_fd: cli.seccomp_fd,
                },
            },
        })
    }
}

/// Parses argv; the filesystem options keep their command-line order across option names.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, clap::Error> {
    let args: Vec<OsString> = args.into_iter().collect();
    bare::parse(args).or_else(clap_parse)
}

fn clap_parse(args: Vec<OsString>) -> Result<Parsed, clap::Error> {
    let matches = Cli::command().try_get_matches_from(&args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let mounts = mounts_in_order(&matches);
    Ok(Parsed { cli, mounts, args })
}

/// `ns-rootless exec`: run a command in a running named sandbox.
#[derive(Parser, Debug)]
#[command(name = "ns-rootless exec", bin_name = "ns-rootless exec", version)]
pub struct ExecCli {
    /// Give the command a pty even when stdin is not a terminal
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never give the command a pty
    #[arg(short = 'T', long)]
    pub no_tty: bool,
    /// Set NAME to VALUE, or pass the caller's NAME through, on top of the sandbox command's
    /// environment
    #[arg(short = 'e', long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<OsString>,
    /// Start in DIR, an absolute path inside the sandbox [default: where the sandbox's command
    /// started]
    #[arg(long, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// The sandbox's name
    pub name: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `ns-rootless ps | stop | kill | logs | wait | rm`.
#[derive(Parser, Debug)]
#[command(name = "ns-rootless", version)]
pub struct ManageCli {
    #[command(subcommand)]
    pub action: Manage,
}

#[derive(clap::Subcommand, Debug)]
pub enum Manage {
    /// List the running named sandboxes (with -a, the ended ones too)
    Ps {
        /// Also the sandboxes that have ended and are kept until `rm`
        #[arg(short = 'a', long)]
        all: bool,
        /// One JSON array of objects instead of a table
        #[arg(long)]
        json: bool,
        /// The OCI containers of this ns-rootless-oci state root (its `--root`), instead of
        /// the default one ($XDG_RUNTIME_DIR/ns-rootless-oci)
        #[arg(long = "root", value_name = "DIR")]
        oci_root: Option<std::path::PathBuf>,
    },
    /// Stop a sandbox: SIGTERM to its command, SIGKILL to everything after the grace period
    Stop {
        name: String,
        /// Grace period in seconds
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        time: u64,
    },
    /// Send a signal to a sandbox's command (KILL ends the whole sandbox at once)
    Kill {
        name: String,
        /// INT, TERM, HUP, QUIT, USR1, USR2, WINCH or KILL, with or without SIG, or a number
        #[arg(default_value = "KILL")]
        signal: String,
    },
    /// Show what a detached sandbox wrote, while it runs or after it ended
    Logs {
        name: String,
        /// Keep following the log until the sandbox ends
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Wait until a sandbox has ended and exit with its exit status
    Wait { name: String },
    /// Remove ended sandboxes, freeing their names
    Rm {
        /// Kill a running sandbox (SIGKILL) first
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

/// `ns-rootless doctor | profiles | completions | man`: tools that start no sandbox.
#[derive(Parser, Debug)]
#[command(name = "ns-rootless", version)]
pub struct ToolCli {
    #[command(subcommand)]
    pub tool: Tool,
}

#[derive(clap::Subcommand, Debug)]
pub enum Tool {
    /// Check every precondition of every feature: one line each, and the fix for what is missing
    Doctor,
    /// List the built-in profiles and the user's, with their options
    Profiles,
    /// Print a shell completion script (e.g. `ns-rootless completions bash > ns-rootless.bash`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    Man,
}

/// Every form of the command line as one clap command, for completions and the man page.
pub fn whole_command() -> clap::Command {
    let run = Cli::command();
    let mut whole = run
        .clone()
        .subcommand(
            run.clone()
                .name("run")
                .about("Run a command in a fresh sandbox (the default form)"),
        )
        .subcommand(
            run.clone()
                .name("explain")
                .about("Print what a run would do, in order, without creating any namespace")
                .mut_arg("json", |a| a.hide(false).help("Print the plan as JSON")),
        )
        .subcommand(
            ExecCli::command()
                .name("exec")
                .about("Run a command in a running named sandbox"),
        );
    whole = <Manage as clap::Subcommand>::augment_subcommands(whole);
    <Tool as clap::Subcommand>::augment_subcommands(whole)
}

/// `ns-rootless images | diff | apply | discard`: the image store and copy-on-write sessions.
#[derive(Parser, Debug)]
#[command(name = "ns-rootless", version)]
pub struct StoreCli {
    #[command(subcommand)]
    pub action: StoreAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum StoreAction {
    /// List the images in the store (source, digest, size, last use)
    Images {
        /// Forget images whose file is gone or changed, and remove the layers no image uses
        #[arg(long)]
        prune: bool,
        /// One JSON array of objects instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show what a --cow session changed: A (added), M (modified), D (deleted) per path
    Diff {
        name: String,
        /// One JSON array of objects instead of lines
        #[arg(long)]
        json: bool,
    },
    /// Write a session's changes to the directories, then remove the session
    Apply { name: String },
    /// Remove a session without applying it
    Discard { name: String },
}

pub enum Invocation {
    Run(Box<Parsed>),
    /// `explain`: the run's plan, printed.
    Explain(Box<Parsed>),
    Store(StoreAction),
    Exec(ExecCli),
    Manage(Manage),
    Tool(Tool),
}

/// The first word picks the subcommand; anything else is the default form, a run. (A command
/// that is named like a subcommand runs with `ns-rootless -- ps`.)
pub fn parse_invocation(args: Vec<OsString>) -> Result<Invocation, clap::Error> {
    let first = args.get(1).and_then(|a| a.to_str()).unwrap_or("");
    let without_first = || args.iter().take(1).chain(args.iter().skip(2)).cloned();
    match first {
        "run" => parse(without_first()).map(|p| Invocation::Run(Box::new(p))),
        "explain" => parse(without_first()).map(|p| Invocation::Explain(Box::new(p))),
        "doctor" | "profiles" | "completions" | "man" => {
            ToolCli::try_parse_from(args).map(|t| Invocation::Tool(t.tool))
        }
        "exec" => ExecCli::try_parse_from(args.iter().skip(1)).map(Invocation::Exec),
        "images" | "diff" | "apply" | "discard" => {
            StoreCli::try_parse_from(args).map(|m| Invocation::Store(m.action))
        }
        "ps" | "stop" | "kill" | "logs" | "wait" | "rm" => {
            ManageCli::try_parse_from(args).map(|m| Invocation::Manage(m.action))
        }
        _ => parse(args).map(|p| Invocation::Run(Box::new(p))),
    }
}

fn mounts_in_order(m: &ArgMatches) -> Vec<MountArg> {
    let mut found: Vec<(usize, MountArg)> = Vec::new();
    let mut collect = |id: &str, make: &dyn Fn(OsString) -> MountArg| {
        if let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<OsString>(id)) {
            found.extend(idx.zip(vals).map(|(i, v)| (i, make(v.clone()))));
        }
    };
    for (id, readonly, optional) in [
        ("bind", false, false),
        ("ro_bind", true, false),
        ("bind_try", false, true),
        ("ro_bind_try", true, true),
    ] {
        collect(id, &|arg| MountArg::Bind {
            arg,
            readonly,
            optional,
        });
    }
    collect("tmpfs", &MountArg::Tmpfs);
    collect("dir", &MountArg::Dir);
    collect("symlink", &MountArg::Symlink);
    collect("work", &MountArg::Work);
    collect("hide", &MountArg::Hide);
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, a)| a).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Parsed {
        parse(
            std::iter::once("ns-rootless")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
        .expect("arguments parse")
    }

    #[test]
    fn filesystem_options_keep_command_line_order() {
        let p = parse_args(&[
            "--tmpfs",
            "/a",
            "--ro-bind",
            "/b",
            "--dir",
            "/c",
            "--bind",
            "/d",
            "--hide",
            "/d/s",
        ]);
        let opts: Vec<_> = p.mounts.iter().map(|m| m.option()).collect();
        assert_eq!(opts, ["--tmpfs", "--ro-bind", "--dir", "--bind", "--hide"]);
    }

    #[test]
    fn work_takes_its_directory_only_with_equals() {
        let p = parse_args(&["-w", "cargo", "test"]);
        assert_eq!(p.mounts, [MountArg::Work(".".into())]);
        assert_eq!(p.cli.command, ["cargo", "test"]);
        let p = parse_args(&["--work=/src", "make"]);
        assert_eq!(p.mounts, [MountArg::Work("/src".into())]);
    }

    fn invocation(args: &[&str]) -> Invocation {
        let args = std::iter::once("ns-rootless")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        parse_invocation(args).expect("arguments parse")
    }

    #[test]
    fn the_first_word_picks_the_subcommand() {
        assert!(matches!(
            invocation(&["ps"]),
            Invocation::Manage(Manage::Ps {
                json: false,
                all: false,
                oci_root: None
            })
        ));
        assert!(matches!(invocation(&["--", "ps"]), Invocation::Run(p) if p.cli.command == ["ps"]));
        match invocation(&["run", "--name", "a", "-d", "sleep", "1"]) {
            Invocation::Run(p) => {
                assert_eq!(p.cli.name.as_deref(), Some("a"));
                assert!(p.cli.detach);
                assert_eq!(p.cli.command, ["sleep", "1"]);
            }
            _ => panic!("not a run"),
        }
        match invocation(&["exec", "-e", "A=1", "dev", "sh", "-c", "exit 7"]) {
            Invocation::Exec(e) => {
                assert_eq!(e.name, "dev");
                assert_eq!(e.command, ["sh", "-c", "exit 7"]);
                assert_eq!(e.env, ["A=1"]);
            }
            _ => panic!("not an exec"),
        }
        assert!(matches!(
            invocation(&["kill", "dev"]),
            Invocation::Manage(Manage::Kill { signal, .. }) if signal == "KILL"
        ));
    }

    #[test]
    fn store_and_session_subcommands() {
        assert!(matches!(
            invocation(&["images", "--prune"]),
            Invocation::Store(StoreAction::Images {
                prune: true,
                json: false
            })
        ));
        assert!(matches!(
            invocation(&["diff", "--json", "s"]),
            Invocation::Store(StoreAction::Diff { name, json: true }) if name == "s"
        ));
        assert!(
            matches!(invocation(&["--", "images"]), Invocation::Run(p) if p.cli.command == ["images"])
        );
        match invocation(&["--cow", "--image", "a.tar", "make"]) {
            Invocation::Run(p) => {
                assert!(p.cli.cow);
                assert_eq!(p.cli.image.as_deref(), Some(std::path::Path::new("a.tar")));
            }
            _ => panic!("not a run"),
        }
        assert!(parse_invocation(
            ["ns-rootless", "--image", "a", "--rootfs", "b"]
                .map(OsString::from)
                .to_vec()
        )
        .is_err());
    }

    #[test]
    fn options_after_the_command_belong_to_it() {
        let p = parse_args(&["sh", "-c", "echo", "--bind", "/x"]);
        assert!(p.mounts.is_empty());
        assert_eq!(p.cli.command, ["sh", "-c", "echo", "--bind", "/x"]);
    }
}
