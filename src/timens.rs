//! Time namespaces with offsets (time_namespaces(7)): what `--time-offset` and OCI's
//! `linux.timeOffsets` become (the /proc/PID/timens_offsets lines), and init's step that makes
//! the namespace before its first fork.

use crate::error::quote;
use crate::sys::{self, Errno};
use anyhow::{bail, Context, Result};
use std::ffi::OsStr;

/// The clocks a time namespace offsets.
const CLOCKS: [&str; 2] = ["monotonic", "boottime"];

fn line(clock: &str, secs: i64, nanos: u64) -> String {
    format!("{clock} {secs} {nanos}\n")
}

/// `--time-offset monotonic=SECS,boottime=SECS` (either or both; SECS may be negative).
pub fn from_cli(text: &OsStr) -> Result<Vec<u8>> {
    let invalid = |why: &str| anyhow::anyhow!("invalid --time-offset {}: {why}", quote(text));
    let text = text.to_str().ok_or_else(|| invalid("not UTF-8"))?;
    let mut out = String::new();
    let mut seen = Vec::new();
    for part in text.split(',') {
        let (clock, secs) = part
            .split_once('=')
            .ok_or_else(|| invalid("expected CLOCK=SECS, CLOCK being monotonic or boottime"))?;
        if !CLOCKS.contains(&clock) {
            return Err(invalid("the clocks are monotonic and boottime"));
        }
        if seen.contains(&clock) {
            return Err(invalid("a clock given twice"));
        }
        seen.push(clock);
        let secs: i64 = secs
            .parse()
            .map_err(|_| invalid("SECS must be a whole number of seconds"))?;
        out.push_str(&line(clock, secs, 0));
    }
    Ok(out.into_bytes())
}

/// OCI's `linux.timeOffsets` (monotonic and boottime, each {secs, nanosecs}), when the config
/// asks for a time namespace.
pub fn from_oci(wanted: bool, offsets: Option<&serde_json::Value>) -> Result<Option<Vec<u8>>> {
    if !wanted {
        if offsets.is_some() {
            bail!("invalid linux.timeOffsets: needs a time namespace in linux.namespaces");
        }
        return Ok(None);
    }
    let mut text = String::new();
    if let Some(map) = offsets {
        let map = map
            .as_object()
            .context("invalid linux.timeOffsets: not an object")?;
        for (clock, value) in map {
            if !CLOCKS.contains(&clock.as_str()) {
                bail!("invalid linux.timeOffsets: unknown clock {}", quote(clock));
            }
            let secs = value.get("secs").and_then(|v| v.as_i64()).unwrap_or(0);
            let nanos = value.get("nanosecs").and_then(|v| v.as_u64()).unwrap_or(0);
            if nanos >= 1_000_000_000 {
                bail!("invalid linux.timeOffsets.{clock}.nanosecs {nanos}: at most 999999999");
            }
            text.push_str(&line(clock, secs, nanos));
        }
    }
    Ok(Some(text.into_bytes()))
}

/// Init, before it creates the process: a time namespace for it, its offsets written before
/// init's first fork (time_namespaces(7)). Init then stops being dumpable itself: the process
/// can't share its memory (a child sharing it stays in init's time namespace), so it can't
/// clear that flag for both as it otherwise does.
pub fn enter(offsets: Option<&[u8]>) -> Result<(), Errno> {
    if let Some(offsets) = offsets {
        sys::unshare_time()?;
        sys::write_file(c"/proc/self/timens_offsets", offsets)?;
        sys::set_dumpable(false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_offsets_become_timens_lines() {
        let ok = |t: &str| String::from_utf8(from_cli(OsStr::new(t)).unwrap()).unwrap();
        assert_eq!(ok("monotonic=5"), "monotonic 5 0\n");
        assert_eq!(
            ok("boottime=-3,monotonic=86400"),
            "boottime -3 0\nmonotonic 86400 0\n"
        );
        for bad in [
            "",
            "realtime=1",
            "monotonic",
            "monotonic=1.5",
            "boottime=1,boottime=2",
        ] {
            let err = from_cli(OsStr::new(bad)).unwrap_err().to_string();
            assert!(err.starts_with("invalid --time-offset"), "{err}");
        }
    }

    #[test]
    fn oci_offsets_need_a_time_namespace() {
        let v = serde_json::json!({"boottime": {"secs": 10, "nanosecs": 5}});
        assert_eq!(
            from_oci(true, Some(&v)).unwrap().unwrap(),
            b"boottime 10 5\n".to_vec()
        );
        assert!(from_oci(false, Some(&v)).is_err());
        assert_eq!(from_oci(false, None).unwrap(), None);
    }
}
