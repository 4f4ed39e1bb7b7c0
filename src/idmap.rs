//! User and group id maps (user_namespaces(7), "User and group ID mappings").
//!
//! The parent writes the sandbox's maps from outside with std::fs; the payload writes its own
//! inner maps (see `payload`). Each map is a single line, so an unprivileged writer may write it
//! for its own id; `setgroups` must say `deny` before `gid_map` is written (CVE-2014-8989).

use anyhow::{Context, Result};
use std::path::Path;

/// One map line: `inside outside 1`.
pub fn line(inside: u32, outside: u32) -> String {
    format!("{inside} {outside} 1\n")
}

/// Writes `/proc/PID/{setgroups,uid_map,gid_map}` in that order, one write each.
/// `proc_root` is `/proc` except in tests.
pub fn write_maps(proc_root: &Path, pid: i32, uid_map: &str, gid_map: &str) -> Result<()> {
    let dir = proc_root.join(pid.to_string());
    let setgroups = dir.join("setgroups");
    match std::fs::write(&setgroups, "deny") {
        // Kernels before 3.19 have no setgroups file and no such rule.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        r => r.with_context(|| format!("writing \"deny\" to {}", setgroups.display()))?,
    }
    write_maps_allowing_setgroups(proc_root, pid, uid_map, gid_map)
}

/// Writes `/proc/PID/{uid_map,gid_map}` and leaves setgroups as it is: for a writer with
/// CAP_SETGID over the parent namespace (uid 0 of rootless podman's), whose maps may allow
/// supplementary groups.
pub fn write_maps_allowing_setgroups(
    proc_root: &Path,
    pid: i32,
    uid_map: &str,
    gid_map: &str,
) -> Result<()> {
    let dir = proc_root.join(pid.to_string());
    for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
        let path = dir.join(file);
        std::fs::write(&path, map)
            .with_context(|| format!("writing \"{}\" to {}", map.trim_end(), path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(std::path::PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nsr-idmap-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("42")).unwrap();
        Scratch(dir)
    }

    #[test]
    fn map_lines_map_one_id() {
        assert_eq!(line(0, 1000), "0 1000 1\n");
        assert_eq!(line(1000, 1000), "1000 1000 1\n");
    }

    #[test]
    fn writes_setgroups_deny_and_both_maps() {
        let s = scratch("all");
        std::fs::write(s.0.join("42/setgroups"), "allow").unwrap();
        write_maps(&s.0, 42, &line(7, 7), &line(8, 8)).unwrap();
        let read = |f: &str| std::fs::read_to_string(s.0.join("42").join(f)).unwrap();
        assert_eq!(read("setgroups"), "deny");
        assert_eq!(read("uid_map"), "7 7 1\n");
        assert_eq!(read("gid_map"), "8 8 1\n");
    }

    #[test]
    fn a_missing_process_is_an_error_naming_the_file() {
        let s = scratch("missing");
        let err = write_maps(&s.0, 43, &line(0, 1), &line(0, 1)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("43/setgroups") || msg.contains("43/uid_map"),
            "{msg}"
        );
    }
}
