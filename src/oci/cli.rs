//! The runc-compatible command line: what conmon, podman, containerd's go-runc and the
//! runtime test suites pass. Global options are also accepted after the subcommand and the id.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ns-rootless-oci",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", "1.2.0"),
    about = "ns-rootless as an OCI runtime (runc's command line)",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Where container state lives (default: $XDG_RUNTIME_DIR/ns-rootless-oci)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also write errors (and --debug messages) to FILE
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Say what is skipped and why (on stderr, or the --log file)
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for compatibility; cgroups are never managed through systemd
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted (true, false, auto): ns-rootless is always rootless. `spec --rootless` is this
    /// option too.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub rootless: Option<String>,
    /// Accepted for compatibility
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container: everything set up, the process waiting for `start`
    Create(Create),
    /// Run the process of a created container
    Start(Id),
    /// Print a container's state as JSON
    State(Id),
    /// Send a signal (default TERM) to a container's init
    Kill(Kill),
    /// Delete a stopped (or, with --force, any) container
    Delete(Delete),
    /// create + start, then wait for the container and delete it
    Run(Run),
    /// Run a new process in a running container
    Exec(Exec),
    /// List containers
    List(List),
    /// Print the runtime's features as JSON
    Features,
    /// Write a starting config.json in the bundle
    Spec(SpecCmd),
    /// Not supported rootless: needs the freezer cgroup
    Pause(Id),
    /// Not supported rootless: needs the freezer cgroup
    Resume(Id),
    /// Not supported rootless: needs a delegated cgroup
    Update(Update),
    /// Not supported: needs CRIU
    Checkpoint(Id),
    /// Not supported: needs CRIU
    Restore(Id),
    /// Processes of a container (not supported)
    Ps(Ps),
}

#[derive(Debug, Args)]
pub struct Id {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateOpts {
    /// The bundle directory (default: the current directory)
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Write the container's init pid to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// AF_UNIX socket that receives the pty master when process.terminal is true
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted; pivot_root is always used
    #[arg(long)]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a new one
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N more fds (3 to 3+N-1) to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Accepted for compatibility
    #[arg(long, hide = true)]
    pub notify_socket: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Create {
    #[command(flatten)]
    pub opts: CreateOpts,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Return once the process runs
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it ends
    #[arg(long)]
    pub keep: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Kill {
    /// Signal every process of the container (its PID namespace dies with init anyway)
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    pub signal: Option<String>,
}

#[derive(Debug, Args)]
pub struct Delete {
    /// Kill the container first if it still runs; an unknown id is not an error
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Exec {
    /// A process.json describing the process
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Give the process a pty (its master goes to --console-socket)
    #[arg(short, long)]
    pub tty: bool,
    /// AF_UNIX socket that receives the pty master with --tty
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process has started instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Working directory inside the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Set an environment variable (repeatable)
    #[arg(short, long, value_name = "K=V")]
    pub env: Vec<String>,
    /// Run as this uid (and gid) of the container
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Add a supplementary group (repeatable)
    #[arg(short = 'g', long, value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Keep this capability, as far as the container's bounding set allows (repeatable)
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process (it always is when the container's is)
    #[arg(long)]
    pub no_new_privs: bool,
    /// Pass N more fds (3 to 3+N-1) to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    #[arg(long, hide = true)]
    pub process_label: Option<String>,
    #[arg(long, hide = true)]
    pub ignore_paused: bool,
    /// The container
    pub id: String,
    /// The command and its arguments (instead of --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct List {
    #[arg(short, long, default_value = "table")]
    pub format: ListFormat,
    /// Ids only
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct SpecCmd {
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Update {
    #[arg(short, long, hide = true)]
    pub resources: Option<PathBuf>,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Ps {
    #[arg(short, long, hide = true)]
    pub format: Option<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn parse(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(a: &[&str]) -> Result<Cli, clap::Error> {
        parse(
            std::iter::once("ns-rootless-oci")
                .chain(a.iter().copied())
                .map(Into::into)
                .collect(),
        )
    }

    #[test]
    fn global_options_go_before_or_after_the_id() {
        let c = parse_strs(&["--root", "/r", "state", "x"]).unwrap();
        assert_eq!(c.global.root.as_deref(), Some(std::path::Path::new("/r")));
        let c = parse_strs(&["state", "x", "--root", "/r", "--log-format", "json"]).unwrap();
        assert_eq!(c.global.root.as_deref(), Some(std::path::Path::new("/r")));
        assert_eq!(c.global.log_format, LogFormat::Json);
        let c = parse_strs(&["--systemd-cgroup", "--rootless", "false", "list"]).unwrap();
        assert!(c.global.systemd_cgroup);
        let c = parse_strs(&["spec", "--rootless", "--bundle", "/b"]).unwrap();
        assert_eq!(c.global.rootless.as_deref(), Some("true"));
    }

    #[test]
    fn create_takes_what_conmon_passes() {
        let c = parse_strs(&[
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "--no-new-keyring",
            "--preserve-fds",
            "2",
            "id1",
        ])
        .unwrap();
        match c.command {
            Command::Create(cr) => {
                assert_eq!(cr.id, "id1");
                assert_eq!(cr.opts.preserve_fds, 2);
                assert!(cr.opts.no_new_keyring);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kill_signal_is_optional_and_exec_keeps_its_command() {
        match parse_strs(&["kill", "--all", "c", "KILL"]).unwrap().command {
            Command::Kill(k) => assert_eq!((k.all, k.signal.as_deref()), (true, Some("KILL"))),
            other => panic!("{other:?}"),
        }
        match parse_strs(&["exec", "-t", "c", "sh", "-c", "echo -x"])
            .unwrap()
            .command
        {
            Command::Exec(e) => assert_eq!(e.command, ["sh", "-c", "echo -x"]),
            other => panic!("{other:?}"),
        }
    }
}
