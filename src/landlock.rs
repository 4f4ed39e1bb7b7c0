//! Landlock as a second layer under the network namespace: a process of a sandbox that shares
//! the host's network (`--share-net`) is in the host's abstract unix socket namespace, where
//! X11, some D-Bus buses and agents listen with no file permission to check. Its command runs in
//! a Landlock domain scoped for abstract unix sockets (ABI 6, Linux 6.12): it can connect only
//! to those made inside the domain, i.e. by the sandbox's own processes.
//!
//! With a private network namespace there is nothing outside the sandbox to reach that way, so
//! no domain is made. `LANDLOCK_SCOPE_SIGNAL` is left out: the PID namespace already keeps
//! signals inside the sandbox, and the scope would also stop the command from signalling the
//! sandbox's init and the commands `exec` starts. Pathname sockets are hidden by the mount plan
//! instead (an empty /run, `--hide`); a Landlock ABI that scopes pathname-socket connects would
//! be the next layer.

use crate::error::strerror;
use crate::sys;
use anyhow::{anyhow, Result};
use nix::libc;
use std::os::fd::OwnedFd;

/// The first ABI with `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`.
pub const SCOPE_ABI: i32 = 6;

/// The ruleset the command enters (see payload.rs), or None when it enters none: a private
/// network, or a kernel without the scope. Made before clone; after it, only syscalls.
pub fn payload_ruleset(share_net: bool) -> Result<Option<OwnedFd>> {
    if !share_net || !matches!(sys::landlock_abi(), Ok(abi) if abi >= SCOPE_ABI) {
        return Ok(None);
    }
    sys::landlock_scoped_ruleset(sys::LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET)
        .map(Some)
        .map_err(|e| anyhow!("creating the landlock ruleset: {}", strerror(e)))
}

/// The line `--version` prints about Landlock: the ABI in effect and what it gives.
pub fn version_line() -> String {
    describe(sys::landlock_abi())
}

fn describe(abi: sys::SysResult<i32>) -> String {
    let reachable = "with --share-net the host's abstract unix sockets are reachable";
    match abi {
        Ok(abi) if abi >= SCOPE_ABI => format!(
            "landlock: ABI {abi}, the host's abstract unix sockets are out of reach with --share-net"
        ),
        Ok(abi) => format!(
            "landlock: ABI {abi}, too old to scope abstract unix sockets (ABI {SCOPE_ABI}, \
             Linux 6.12): {reachable}"
        ),
        Err(libc::EOPNOTSUPP) => format!(
            "landlock: disabled at boot (add it to the lsm= kernel parameter): {reachable}"
        ),
        Err(libc::ENOSYS) => format!("landlock: not in this kernel: {reachable}"),
        Err(e) => format!("landlock: unavailable ({}): {reachable}", strerror(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_says_what_the_abi_gives() {
        assert_eq!(
            describe(Ok(7)),
            "landlock: ABI 7, the host's abstract unix sockets are out of reach with --share-net"
        );
        assert!(describe(Ok(5)).starts_with("landlock: ABI 5, too old"));
        assert!(describe(Err(libc::EOPNOTSUPP)).contains("lsm="));
        assert!(describe(Err(libc::ENOSYS)).contains("reachable"));
    }
}
