//! Capability names as config.json spells them, and the five sets as bit masks.

use anyhow::{bail, Result};

/// Index = capability number (linux/capability.h).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The mask of `names`; an unknown name is an error (a typo must not silently grant or drop).
pub fn mask(set: &str, names: &[String]) -> Result<u64> {
    let mut mask = 0u64;
    for name in names {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        match NAMES.iter().position(|n| *n == full) {
            Some(i) => mask |= 1 << i,
            None => bail!(
                "invalid process.capabilities.{set}: unknown capability {}",
                crate::error::quote(name)
            ),
        }
    }
    Ok(mask)
}

/// The five sets the payload ends with (spec's: a lockdown is front-end neutral data).
pub use crate::spec::CapSets as Sets;

pub fn sets(c: Option<&crate::oci::config::Capabilities>) -> Result<Sets> {
    let Some(c) = c else {
        return Ok(Sets::default());
    };
    Ok(Sets {
        bounding: mask("bounding", &c.bounding)?,
        effective: mask("effective", &c.effective)?,
        inheritable: mask("inheritable", &c.inheritable)?,
        permitted: mask("permitted", &c.permitted)?,
        ambient: mask("ambient", &c.ambient)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_their_numbers() {
        let m = mask("bounding", &["CAP_KILL".into(), "sys_admin".into()]).unwrap();
        assert_eq!(m, (1 << 5) | (1 << 21));
        let err = mask("effective", &["CAP_NOPE".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown capability \"CAP_NOPE\""), "{err}");
    }
}
