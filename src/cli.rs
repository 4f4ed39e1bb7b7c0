//! The command line, as clap sees it. Validation beyond syntax lives in `spec`.

use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  ns-rootless                          a shell in a fresh sandbox over the host's read-only /
  ns-rootless --hostname box -- make   run make with hostname 'box'
  ns-rootless --rootfs ./alpine sh     use ./alpine as the root filesystem

Exit status:
  the command's own exit status, or 128+N when it was killed by signal N
  125  ns-rootless itself failed (bad option, setup error)
  126  the command was found but could not be run (not executable)
  127  the command was not found inside the sandbox";

/// Run a command in a fresh rootless container: new user, mount, PID, UTS, IPC and network
/// namespaces, its own hostname, a fresh /proc and a pivoted root. No root, no setuid helper.
#[derive(Parser, Debug)]
#[command(
    name = "ns-rootless",
    version,
    after_help = AFTER_HELP,
    override_usage = "ns-rootless [OPTIONS] [--] [COMMAND [ARG...]]"
)]
pub struct Cli {
    /// Hostname inside the sandbox [default: a random 12-digit hex id]
    #[arg(long, value_name = "NAME", help_heading = "Namespaces")]
    pub hostname: Option<OsString>,

    /// Keep the host's network instead of a private namespace with only loopback
    #[arg(long, help_heading = "Namespaces")]
    pub share_net: bool,

    /// Use DIR as the root filesystem [default: the host's / read-only, with /home, /root and
    /// /run/user hidden]
    #[arg(long, value_name = "DIR", help_heading = "Filesystem")]
    pub rootfs: Option<PathBuf>,

    /// Allow running as real root (euid 0 outside any user namespace)
    #[arg(long, help_heading = "Identity")]
    pub allow_root: bool,

    /// The command and its arguments [default: sh]; everything from here on is passed as is
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}
