//! `ns-rootless-oci`: ns-rootless behind runc's command line and the OCI runtime spec, so
//! podman (through conmon), containerd and the runtime test suites can drive it. The same
//! binary as `ns-rootless`, chosen by the name it is run under (no second start-up to pay).

pub mod caps;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod convert;
pub mod create;
mod exec;
pub mod exec_fifo;
pub mod features;
pub mod hooks;
pub mod launch;
pub mod lifecycle;
pub mod process;
pub mod sched;
pub mod seccomp;
pub mod store;
pub mod validate;

use clap::error::ErrorKind;
use std::io::Write;

/// Where messages go: stderr, and the `--log` file (as runc's JSON lines with
/// `--log-format json`, which conmon reads to tell podman why a create failed).
pub struct Log {
    file: Option<std::fs::File>,
    json: bool,
    debug: bool,
}

impl Log {
    fn open(g: &cli::Global) -> Log {
        let file = g.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Log {
            file,
            json: g.log_format == cli::LogFormat::Json,
            debug: g.debug,
        }
    }

    fn write(&mut self, level: &str, msg: &str) {
        if let Some(f) = &mut self.file {
            let line = if self.json {
                let v =
                    serde_json::json!({"level": level, "msg": msg, "time": store::now_rfc3339()});
                format!("{v}\n")
            } else {
                format!("{level}: {msg}\n")
            };
            let _ = f.write_all(line.as_bytes());
        }
    }

    pub fn error(&mut self, msg: &str) {
        self.write("error", msg);
        let _ = writeln!(std::io::stderr(), "ns-rootless-oci: {msg}");
    }

    /// Only with --debug: what we skip and why (never on stderr otherwise: test suites treat
    /// any stderr output as a failure).
    pub fn debug(&mut self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
            if self.file.is_none() {
                let _ = writeln!(std::io::stderr(), "ns-rootless-oci: debug: {msg}");
            }
        }
    }

    pub fn warn(&mut self, msg: &str) {
        self.write("warning", msg);
    }
}

/// runc exits 1 on its own failures; `run` exits with the container's status.
const EXIT_FAILURE: u8 = 1;

pub fn main(args: Vec<std::ffi::OsString>) -> u8 {
    let parsed = match cli::parse(args) {
        Ok(p) => p,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let msg = crate::clap_summary(&e);
            let _ = writeln!(
                std::io::stderr(),
                "ns-rootless-oci: invalid arguments: {msg} (see --help)"
            );
            return EXIT_FAILURE;
        }
    };
    let mut log = Log::open(&parsed.global);
    let code = match lifecycle::run(parsed, &mut log) {
        Ok(code) => code,
        Err(err) => {
            log.error(&crate::error::one_line(&err));
            EXIT_FAILURE
        }
    };
    let _ = std::io::stdout().flush();
    code
}

/// Whether the binary was started as the OCI runtime.
pub fn invoked_as_oci(args: &[std::ffi::OsString]) -> bool {
    args.first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "ns-rootless-oci")
}
