//! `--result-json FILE`: one JSON object about the run, written when it ends, for CI jobs.
//!
//! The times and the peak RSS are getrusage(RUSAGE_CHILDREN)'s: init is our only child, and it
//! reaps the command and every orphan, so their usage is folded into init's when we reap it.
//! `ru_maxrss` is the largest of those processes, not their sum (getrusage(2)).

use crate::error::quote;
use anyhow::{Context, Result};
use nix::sys::resource::{getrusage, UsageWho};
use serde_json::json;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub struct Recorder {
    file: File,
    path: PathBuf,
    started: Instant,
    hostname: String,
    name: Option<String>,
    namespaces: Vec<(String, u64)>,
}

impl Recorder {
    /// Opens FILE before the run, so that a path that can't be written fails before the
    /// command runs rather than after.
    pub fn open(path: &PathBuf, hostname: &[u8], name: Option<&str>) -> Result<Recorder> {
        let file =
            File::create(path).with_context(|| format!("invalid --result-json {}", quote(path)))?;
        Ok(Recorder {
            file,
            path: path.clone(),
            started: Instant::now(),
            hostname: String::from_utf8_lossy(hostname).into_owned(),
            name: name.map(str::to_owned),
            namespaces: Vec::new(),
        })
    }

    /// The namespace ids of the sandbox's init: the inode numbers of /proc/PID/ns/* (what their
    /// links' `type:[N]` text shows), as stat gives them.
    pub fn namespaces_of(&mut self, pid: i32) {
        use std::os::unix::fs::MetadataExt;
        for ns in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"] {
            if let Ok(m) = std::fs::metadata(format!("/proc/{pid}/ns/{ns}")) {
                self.namespaces.push((ns.to_string(), m.ino()));
            }
        }
    }

    /// Writes the record: `code` is our exit status, `signal` the one that killed the command
    /// (as init reaped it: a command that exits with 128+N itself was not killed).
    pub fn finish(mut self, code: u8, signal: Option<u8>, timed_out: bool) -> Result<()> {
        let wall = self.started.elapsed();
        let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok();
        let ms =
            |tv: nix::sys::time::TimeVal| tv.tv_sec() as u64 * 1000 + tv.tv_usec() as u64 / 1000;
        let namespaces: serde_json::Map<String, serde_json::Value> = self
            .namespaces
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let record = json!({
            "exit_code": code,
            "signal": signal,
            "timed_out": timed_out,
            "wall_ms": wall.as_millis() as u64,
            "user_ms": usage.map(|u| ms(u.user_time())),
            "sys_ms": usage.map(|u| ms(u.system_time())),
            "peak_rss_kib": usage.map(|u| u.max_rss()),
            "hostname": self.hostname,
            "name": self.name,
            "namespaces": namespaces,
        });
        let mut text = record.to_string();
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .with_context(|| format!("writing --result-json {}", quote(&self.path)))
    }
}
