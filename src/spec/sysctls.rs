//! Namespaced sysctls: only those of a namespace the sandbox has of its own, as a /proc/sys
//! file and what to write to it.

use super::{Namespaces, Ns};
use crate::error::quote;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// `userns_root`: uid 0 of someone else's user namespace owns the network namespace it is in.
pub fn check(
    asked: &[(String, String)],
    namespaces: &Namespaces,
    userns_root: bool,
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for (key, value) in asked {
        let ok_chars = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !key.contains("..");
        let ours = if key.starts_with("net.") {
            namespaces.net == Ns::New || userns_root
        } else if key.starts_with("fs.mqueue.")
            || key.starts_with("kernel.msg")
            || key.starts_with("kernel.shm")
            || key == "kernel.sem"
        {
            namespaces.ipc == Ns::New
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            namespaces.uts == Ns::New
        } else {
            false
        };
        if !(ok_chars && ours) {
            bail!(
                "invalid linux.sysctl {}: not a sysctl of the container's own namespaces",
                quote(key)
            );
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        out.push((path.into(), value.as_bytes().to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_must_belong_to_our_namespaces() {
        let asked = [("net.ipv4.ip_forward".to_string(), "1".to_string())];
        let mut ns = Namespaces::callers();
        ns.net = Ns::New;
        let s = check(&asked, &ns, false).unwrap();
        assert_eq!(s[0].0.to_str().unwrap(), "/proc/sys/net/ipv4/ip_forward");
        assert!(check(&asked, &Namespaces::callers(), false).is_err());
        let asked = [("kernel.core_pattern".to_string(), "|/x".to_string())];
        let mut ns = Namespaces::callers();
        ns.ipc = Ns::New;
        ns.uts = Ns::New;
        assert!(check(&asked, &ns, false).is_err());
    }
}
