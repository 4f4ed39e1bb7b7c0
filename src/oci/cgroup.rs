//! `linux.resources` on cgroup v2, where the caller's part of the tree is delegated to it (its
//! cgroup's parent writable, as systemd delegates user@UID.service): a cgroup of the
//! container's own next to the caller's, the controllers it needs enabled in their parent,
//! the limits written there, init moved in before it is released, the cgroup removed at
//! `delete`. Anywhere else the resources are skipped (as crun does rootless), said only with
//! `--debug`: a plain rootless run must not fail because cgroups aren't delegated.

use crate::error::quote;
use crate::oci::Log;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A cgroup v2 file to write, and the controller it belongs to.
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    pub file: String,
    pub value: String,
    pub controller: &'static str,
}

fn setting(controller: &'static str, file: &str, value: String) -> Setting {
    Setting {
        file: file.to_string(),
        value,
        controller,
    }
}

/// A limit where -1 means none (config.md), as cgroup v2 writes it.
fn limit(v: &Value) -> Option<String> {
    match v.as_i64()? {
        -1 => Some("max".to_string()),
        n if n >= 0 => Some(n.to_string()),
        _ => None,
    }
}

/// What `resources` asks, as cgroup v2 files (the conversions runc and crun make from the
/// v1-shaped fields; `unified` is written as given).
pub fn settings(resources: &Value) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    let mem = &resources["memory"];
    if let Some(v) = limit(&mem["limit"]) {
        out.push(setting("memory", "memory.max", v));
    }
    if let Some(v) = limit(&mem["reservation"]) {
        out.push(setting("memory", "memory.low", v));
    }
    // v1's swap is memory+swap; v2's swap.max is swap alone.
    if let (Some(swap), Some(lim)) = (mem["swap"].as_i64(), mem["limit"].as_i64()) {
        let v = match swap {
            -1 => "max".to_string(),
            s if s >= lim && lim >= 0 => (s - lim).to_string(),
            _ => bail!("invalid linux.resources.memory.swap {swap}: below memory.limit {lim}"),
        };
        out.push(setting("memory", "memory.swap.max", v));
    }
    if let Some(v) = limit(&resources["pids"]["limit"]) {
        out.push(setting("pids", "pids.max", v));
    }
    let cpu = &resources["cpu"];
    if let Some(shares) = cpu["shares"].as_u64().filter(|&s| s > 0) {
        // runc's mapping of shares [2, 262144] onto weight [1, 10000].
        let shares = shares.clamp(2, 262_144);
        let weight = 1 + ((shares - 2) * 9999) / 262_142;
        out.push(setting("cpu", "cpu.weight", weight.to_string()));
    }
    let quota = cpu["quota"].as_i64();
    let period = cpu["period"].as_u64();
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        out.push(setting(
            "cpu",
            "cpu.max",
            format!("{q} {}", period.unwrap_or(100_000)),
        ));
    }
    if let Some(cpus) = cpu["cpus"].as_str().filter(|s| !s.is_empty()) {
        out.push(setting("cpuset", "cpuset.cpus", cpus.to_string()));
    }
    if let Some(mems) = cpu["mems"].as_str().filter(|s| !s.is_empty()) {
        out.push(setting("cpuset", "cpuset.mems", mems.to_string()));
    }
    if let Some(w) = resources["blockIO"]["weight"].as_u64().filter(|&w| w > 0) {
        // v1's blkio weight [10, 1000] onto io.weight [1, 10000].
        let w = 1 + (w.clamp(10, 1000) - 10) * 9999 / 990;
        out.push(setting("io", "io.weight", format!("default {w}")));
    }
    for h in resources["hugepageLimits"].as_array().into_iter().flatten() {
        let (Some(size), Some(lim)) = (h["pageSize"].as_str(), h["limit"].as_u64()) else {
            bail!("invalid linux.resources.hugepageLimits entry: {h}");
        };
        if !size.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!(
                "invalid linux.resources.hugepageLimits pageSize {}",
                quote(size)
            );
        }
        out.push(setting(
            "hugetlb",
            &format!("hugetlb.{size}.max"),
            lim.to_string(),
        ));
    }
    for (file, value) in resources["unified"].as_object().into_iter().flatten() {
        // A file name of the cgroup's own, nothing that walks elsewhere.
        let controller = file.split('.').next().unwrap_or_default();
        if file.contains('/') || file.starts_with('.') || !file.contains('.') {
            bail!("invalid linux.resources.unified key {}", quote(file));
        }
        let known = [
            "memory", "pids", "cpu", "cpuset", "io", "hugetlb", "rdma", "misc",
        ];
        let controller = known.into_iter().find(|&c| c == controller).unwrap_or("");
        let Some(value) = value.as_str() else {
            bail!(
                "invalid linux.resources.unified {}: not a string",
                quote(file)
            );
        };
        out.push(setting(controller, file, value.to_string()));
    }
    Ok(out)
}

/// The parent of our own cgroup2 directory (host::own_cgroup); None at the hierarchy's root.
fn our_parent_cgroup() -> Option<PathBuf> {
    let own = crate::host::own_cgroup()?;
    if own.dir == own.mount {
        return None;
    }
    own.dir.parent().map(Path::to_path_buf)
}

fn writable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Makes the container's cgroup with `resources` applied, or says in --debug why not (None).
pub fn make(id: &str, resources: &Value, log: &mut Log) -> Result<Option<PathBuf>> {
    let wanted = settings(resources)?;
    if wanted.is_empty() {
        return Ok(None);
    }
    let Some(parent) = our_parent_cgroup() else {
        log.debug("linux.resources not applied: no cgroup v2 hierarchy of ours was found");
        return Ok(None);
    };
    if !writable(&parent) || !writable(&parent.join("cgroup.procs")) {
        log.debug(&format!(
            "linux.resources not applied: the cgroup {} is not delegated to us (not writable)",
            parent.display()
        ));
        return Ok(None);
    }
    let available = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let enabled =
        std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    let mut usable: Vec<&str> = enabled.split_whitespace().collect();
    for s in &wanted {
        let c = s.controller;
        if c.is_empty() || usable.contains(&c) {
            continue;
        }
        if !available.split_whitespace().any(|a| a == c) {
            continue;
        }
        if std::fs::write(parent.join("cgroup.subtree_control"), format!("+{c}")).is_ok() {
            usable.push(c);
        }
    }
    let dir = parent.join(format!("ns-rootless-oci-{id}"));
    std::fs::create_dir(&dir)
        .with_context(|| format!("creating the container's cgroup {}", quote(&dir)))?;
    for s in &wanted {
        if !s.controller.is_empty() && !usable.contains(&s.controller) {
            log.debug(&format!(
                "linux.resources: {} not applied: the {} controller is not available in {}",
                s.file,
                s.controller,
                parent.display()
            ));
            continue;
        }
        if let Err(e) = std::fs::write(dir.join(&s.file), &s.value) {
            let _ = std::fs::remove_dir(&dir);
            bail!(
                "applying linux.resources: writing {} to {}: {}",
                quote(&s.value),
                quote(dir.join(&s.file)),
                e.raw_os_error().map_or_else(
                    || e.to_string(),
                    |n| crate::error::strerror(n).to_lowercase()
                )
            );
        }
    }
    Ok(Some(dir))
}

/// Moves the container's init (its pid in our namespace) into its cgroup.
pub fn enter(dir: &Path, pid: i32) -> Result<()> {
    use std::io::Write;
    // An existing cgroup.procs only (no O_CREAT): the directory comes from the state too.
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
        .with_context(|| format!("moving the container into its cgroup {}", quote(dir)))
}

/// Removes the container's cgroup once its processes are gone (they leave it as they exit).
pub fn remove(dir: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_become_cgroup_v2_files() {
        let r = serde_json::json!({
            "memory": {"limit": 1048576, "swap": 2097152},
            "pids": {"limit": 10},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            "unified": {"memory.high": "max"}});
        let files: Vec<(String, String)> = settings(&r)
            .unwrap()
            .into_iter()
            .map(|s| (s.file, s.value))
            .collect();
        let want = [
            ("memory.max", "1048576"),
            ("memory.swap.max", "1048576"),
            ("pids.max", "10"),
            ("cpu.weight", "39"),
            ("cpu.max", "50000 100000"),
            ("hugetlb.2MB.max", "0"),
            ("memory.high", "max"),
        ];
        assert_eq!(
            files,
            want.map(|(f, v)| (f.to_string(), v.to_string())).to_vec()
        );
        assert!(settings(&serde_json::json!({"unified": {"../x": "1"}})).is_err());
        assert!(settings(&serde_json::json!({"pids": {"limit": -1}})).unwrap()[0].value == "max");
    }
}
