//! The subset of the runtime-spec `config.json` that ns-rootless reads, as plain serde types.
//!
//! Chosen over the `oci-spec` crate: that crate's builders and getters pull in derive_builder,
//! getset, strum and regex for types we only deserialize once per `create`; this subset adds
//! nothing to the binary's start-up beyond serde_json, which we already link. Fields we don't
//! model are kept as raw JSON where their presence matters (`convert` refuses what it can't
//! honour), and ignored where the spec says a runtime may ignore them.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub oci_version: Option<String>,
    pub process: Option<Process>,
    pub root: Option<Root>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    pub hooks: Option<Hooks>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub linux: Option<Linux>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    pub console_size: Option<ConsoleSize>,
    pub user: User,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Option<Capabilities>,
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    #[serde(default)]
    pub no_new_privileges: bool,
    pub apparmor_profile: Option<String>,
    pub oom_score_adj: Option<i32>,
    pub selinux_label: Option<String>,
    pub scheduler: Option<Scheduler>,
    pub io_priority: Option<IoPriority>,
    #[serde(rename = "execCPUAffinity")]
    pub exec_cpu_affinity: Option<ExecCpuAffinity>,
}

/// config.md `process.scheduler` (sched_setattr(2)).
#[derive(Debug, Default, Deserialize, Clone)]
pub struct Scheduler {
    pub policy: String,
    #[serde(default)]
    pub nice: i32,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub runtime: u64,
    #[serde(default)]
    pub deadline: u64,
    #[serde(default)]
    pub period: u64,
}

/// config.md `process.ioPriority` (ioprio_set(2)).
#[derive(Debug, Default, Deserialize, Clone)]
pub struct IoPriority {
    pub class: String,
    pub priority: i32,
}

/// config.md `process.execCPUAffinity`: CPU lists ("0-3,7") for a process `exec` starts.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct ExecCpuAffinity {
    pub initial: Option<String>,
    #[serde(rename = "final")]
    pub last: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Default, Deserialize, Clone)]
pub struct Capabilities {
    #[serde(default)]
    pub bounding: Vec<String>,
    #[serde(default)]
    pub effective: Vec<String>,
    #[serde(default)]
    pub inheritable: Vec<String>,
    #[serde(default)]
    pub permitted: Vec<String>,
    #[serde(default)]
    pub ambient: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Default, Deserialize)]
pub struct Root {
    pub path: String,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Default, Deserialize, Clone)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(rename = "uidMappings")]
    pub uid_mappings: Option<serde_json::Value>,
    #[serde(rename = "gidMappings")]
    pub gid_mappings: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, Clone, serde::Serialize)]
pub struct Hook {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default)]
    pub gid_mappings: Vec<IdMapping>,
    pub time_offsets: Option<serde_json::Value>,
    #[serde(default)]
    pub devices: Vec<Device>,
    pub resources: Option<serde_json::Value>,
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    pub seccomp: Option<Seccomp>,
    #[serde(default)]
    pub masked_paths: Vec<String>,
    #[serde(default)]
    pub readonly_paths: Vec<String>,
    pub mount_label: Option<String>,
    pub rootfs_propagation: Option<String>,
    pub personality: Option<serde_json::Value>,
    pub intel_rdt: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

/// Only the path matters: the devices we provide are bound from the host.
#[derive(Debug, Deserialize, Clone)]
pub struct Device {
    pub path: String,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub flags: Vec<String>,
    pub listener_path: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default)]
    pub names: Vec<String>,
    pub action: String,
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<SyscallArg>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub struct SyscallArg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: SeccompOp,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
pub enum SeccompOp {
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    #[default]
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// Parses `config.json`'s text; the error names the field serde stopped at.
/// The largest config.json (or `exec --process` file) we read: podman's, with its seccomp
/// profile, is some 30 KiB.
const FILE_MAX: u64 = 16 << 20;

/// Reads a config file a bundle's maker chose: a regular file (opened without blocking, so a
/// FIFO can't hang us) of at most FILE_MAX bytes (so /dev/zero can't take all our memory).
pub fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = crate::error::quote(path);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("reading {shown}"))?;
    let meta = f.metadata().with_context(|| format!("reading {shown}"))?;
    if !meta.is_file() {
        anyhow::bail!("invalid {shown}: not a regular file");
    }
    let mut text = Vec::new();
    f.take(FILE_MAX + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("reading {shown}"))?;
    if text.len() as u64 > FILE_MAX {
        anyhow::bail!("invalid {shown}: larger than {} MiB", FILE_MAX >> 20);
    }
    Ok(text)
}

pub fn parse(text: &[u8]) -> Result<Config, serde_json::Error> {
    serde_json::from_slice(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_rootless_spec_parses() {
        let text = crate::oci::features::rootless_spec(1000, 1000);
        let c = parse(text.as_bytes()).unwrap();
        let linux = c.linux.unwrap();
        assert_eq!(linux.uid_mappings[0].host_id, 1000);
        assert!(linux.namespaces.iter().any(|n| n.kind == "user"));
        assert_eq!(c.process.unwrap().args, ["sh"]);
    }

    #[test]
    fn seccomp_operators_and_hooks_parse() {
        let c = parse(
            br#"{"ociVersion":"1.0.2","hooks":{"poststop":[{"path":"/bin/true","timeout":3}]},
            "linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],
            "action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_MASKED_EQ","valueTwo":255}]}]}}}"#,
        )
        .unwrap();
        let s = c.linux.unwrap().seccomp.unwrap();
        assert_eq!(s.syscalls[0].args[0].op, SeccompOp::MaskedEq);
        assert_eq!(c.hooks.unwrap().poststop[0].timeout, Some(3));
    }

    #[test]
    fn a_bad_field_is_named() {
        let err = parse(br#"{"ociVersion":"1","process":{"user":{"uid":"x"},"cwd":"/"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");
    }
}
