//! `--limit NAME=VALUE` (setrlimit(2)) and `--timeout DURATION`.

use crate::error::quote;
use anyhow::{bail, Result};
use nix::sys::resource::{getrlimit, Resource};
use std::ffi::OsStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub resource: Resource,
    /// Both soft and hard: the payload can't raise it again.
    pub value: u64,
}

pub const NPROC: Resource = Resource::RLIMIT_NPROC;

const NAMES: [(&str, Resource); 7] = [
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", NPROC),
    ("as", Resource::RLIMIT_AS),
    ("cpu", Resource::RLIMIT_CPU),
    ("fsize", Resource::RLIMIT_FSIZE),
    ("core", Resource::RLIMIT_CORE),
    ("stack", Resource::RLIMIT_STACK),
];

/// A limit recorded by name (a named sandbox's state), for `exec`.
pub fn by_name(name: &str, value: u64) -> Option<Limit> {
    let &(name, resource) = NAMES.iter().find(|(n, _)| *n == name)?;
    Some(Limit {
        name,
        resource,
        value,
    })
}

/// The limits counted in bytes, which take size suffixes.
const BYTES: [&str; 4] = ["as", "fsize", "core", "stack"];

pub fn parse_limit(raw: &OsStr) -> Result<Limit> {
    let text = raw.to_str().unwrap_or("");
    let Some((name, value)) = text.split_once('=') else {
        bail!("invalid --limit {}: expected NAME=VALUE", quote(raw));
    };
    let Some(&(name, resource)) = NAMES.iter().find(|(n, _)| *n == name) else {
        bail!(
            "invalid --limit {}: unknown limit {}; known: nofile, nproc, as, cpu, fsize, core, stack",
            quote(raw),
            quote(name)
        );
    };
    let in_bytes = BYTES.contains(&name);
    let value = match value {
        "unlimited" | "infinity" => nix::libc::RLIM_INFINITY,
        v => match v.parse::<u64>() {
            Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => n,
            _ if in_bytes && v.ends_with(|c: char| "kKmMgG".contains(c)) => {
                super::mounts::parse_size(OsStr::new(v))
                    .map_err(|why| anyhow::anyhow!("invalid --limit {}: {why}", quote(raw)))?
            }
            _ if in_bytes => bail!(
                "invalid --limit {}: the value must be a number of bytes (suffixes k, m, g) or \"unlimited\"",
                quote(raw)
            ),
            _ => bail!(
                "invalid --limit {}: the value must be a number or \"unlimited\"",
                quote(raw)
            ),
        },
    };
    // Raising a hard limit needs CAP_SYS_RESOURCE on the host: say so now, not after setup.
    if let Ok((_, hard)) = getrlimit(resource) {
        if value > hard {
            let shown = if hard == nix::libc::RLIM_INFINITY {
                "unlimited".to_string()
            } else {
                hard.to_string()
            };
            bail!(
                "invalid --limit {}: above the current hard limit ({shown}), which only root can raise",
                quote(raw)
            );
        }
    }
    Ok(Limit {
        name,
        resource,
        value,
    })
}

/// The most processes (threads included) a sandbox gets without `--limit nproc`: a fork bomb
/// stops here. A parallel build stays far below it: `make -j64` or `cargo build` on 64 cores
/// runs a few hundred processes, and even linkers and JVMs with a thread per core stay within
/// a few thousand tasks. (systemd-nspawn's default TasksMax is the same 16384; podman's 2048
/// is known to break parallel builds.)
pub const DEFAULT_NPROC: u64 = 16384;

/// The default `nproc` for a caller whose own RLIMIT_NPROC (soft) is `own`: `DEFAULT_NPROC`,
/// or half the caller's own limit when that is lower, so that a fork bomb inside stops while
/// the caller still has half of its processes to spare (the sandbox's count against it too).
/// Distributions give users half of `kernel.threads-max` (the kernel's default), so the cap
/// also stays below logind's per-user TasksMax (a third of it).
pub fn default_nproc(own: u64) -> Limit {
    Limit {
        name: "nproc",
        resource: NPROC,
        value: DEFAULT_NPROC.min(own / 2),
    }
}

/// `default_nproc` for this process's own limit.
pub fn default_nproc_here() -> Limit {
    let own = getrlimit(NPROC).map_or(nix::libc::RLIM_INFINITY, |(soft, _)| soft);
    default_nproc(own)
}

/// For a command killed by `signal` (as init reaped it: one that exits 128+N itself was not
/// killed, and gets no hint), the limit it likely hit:
/// SIGXCPU and SIGXFSZ are sent only for RLIMIT_CPU and RLIMIT_FSIZE (setrlimit(2)); SIGKILL
/// follows SIGXCPU at a hard CPU limit, and a memory or stack limit shows as SIGSEGV (a failed
/// stack growth) or, from a runtime that aborts on a failed allocation, as SIGKILL/SIGABRT.
pub fn likely_hit(signal: Option<u8>, limits: &[Limit]) -> Option<String> {
    let signal = i32::from(signal?);
    let given = |names: &[&str]| -> Vec<String> {
        limits
            .iter()
            .filter(|l| names.contains(&l.name))
            .map(|l| format!("--limit {}={}", l.name, l.value))
            .collect()
    };
    let (sig, names, inherited): (&str, &[&str], &str) = match signal {
        nix::libc::SIGXCPU => ("SIGXCPU", &["cpu"], "the CPU time limit (RLIMIT_CPU)"),
        nix::libc::SIGXFSZ => ("SIGXFSZ", &["fsize"], "the file size limit (RLIMIT_FSIZE)"),
        nix::libc::SIGSEGV => ("SIGSEGV", &["as", "stack"], ""),
        nix::libc::SIGKILL => ("SIGKILL", &["cpu", "as"], ""),
        _ => return None,
    };
    let hit = given(names);
    if !hit.is_empty() {
        return Some(format!(
            "the command was killed by {sig}: it likely hit {}",
            hit.join(" or ")
        ));
    }
    (!inherited.is_empty())
        .then(|| format!("the command was killed by {sig}: it likely hit {inherited} it inherited"))
}

/// `30` (seconds), `1.5s`, `500ms`, `10m`, `1h`, `1d`.
pub fn parse_duration(raw: &OsStr) -> Result<Duration> {
    let text = raw.to_str().unwrap_or("");
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => f64::NAN,
    };
    let seconds = number.parse::<f64>().map(|n| n * scale);
    match seconds {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 && !number.starts_with(['+', '-']) => {
            Ok(Duration::from_secs_f64(s))
        }
        _ => bail!(
            "invalid --timeout {}: expected a positive duration like 30, 1.5s, 500ms, 10m or 1h",
            quote(raw)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_by_name() {
        let l = parse_limit(OsStr::new("nofile=16")).unwrap();
        assert_eq!(
            (l.name, l.resource, l.value),
            ("nofile", Resource::RLIMIT_NOFILE, 16)
        );
        let l = parse_limit(OsStr::new("core=0")).unwrap();
        assert_eq!(l.value, 0);
    }

    #[test]
    fn bad_limits_name_the_value() {
        let err = parse_limit(OsStr::new("files=3")).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid --limit \"files=3\": unknown limit \"files\""),
            "{err}"
        );
        assert!(parse_limit(OsStr::new("nofile")).is_err());
        assert!(parse_limit(OsStr::new("nofile=-1")).is_err());
        assert!(parse_limit(OsStr::new("nofile=lots")).is_err());
    }

    #[test]
    fn limits_above_the_hard_limit_are_refused_early() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        if hard != nix::libc::RLIM_INFINITY {
            let arg = format!("nofile={}", hard + 1);
            let err = parse_limit(OsStr::new(&arg)).unwrap_err().to_string();
            assert!(err.contains("hard limit"), "{err}");
        }
    }

    #[test]
    fn the_default_nproc_leaves_the_caller_half_of_its_own() {
        assert_eq!(default_nproc(nix::libc::RLIM_INFINITY).value, DEFAULT_NPROC);
        assert_eq!(default_nproc(96367).value, DEFAULT_NPROC);
        assert_eq!(default_nproc(2000).value, 1000);
        assert_eq!(default_nproc(2000).resource, Resource::RLIMIT_NPROC);
    }

    #[test]
    fn byte_limits_take_size_suffixes() {
        assert_eq!(parse_limit(OsStr::new("as=1g")).unwrap().value, 1 << 30);
        assert_eq!(
            parse_limit(OsStr::new("fsize=64k")).unwrap().value,
            64 << 10
        );
        let err = parse_limit(OsStr::new("nofile=1k"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a number"), "{err}");
    }

    #[test]
    fn the_limit_a_signal_points_to() {
        let cpu = parse_limit(OsStr::new("cpu=1")).unwrap();
        let hint = likely_hit(Some(24), &[cpu]).unwrap();
        assert_eq!(
            hint,
            "the command was killed by SIGXCPU: it likely hit --limit cpu=1"
        );
        assert!(likely_hit(Some(25), &[]).unwrap().contains("RLIMIT_FSIZE"));
        assert_eq!(likely_hit(Some(11), &[]), None);
        assert_eq!(likely_hit(Some(9), &[]), None);
        assert_eq!(likely_hit(None, &[cpu]), None);
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(OsStr::new(s)).unwrap();
        assert_eq!(d("30"), Duration::from_secs(30));
        assert_eq!(d("1.5s"), Duration::from_millis(1500));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("10m"), Duration::from_secs(600));
        assert_eq!(d("1h"), Duration::from_secs(3600));
        for bad in ["", "0", "-1", "5x", "s", "1e400", "nan"] {
            assert!(parse_duration(OsStr::new(bad)).is_err(), "{bad}");
        }
    }
}
