//! Facts about the host and probes of the kernel features ns-rootless uses: one place, read
//! by a run (`facts`), by the hints of error messages (`userns_hint`) and by `doctor`.
//!
//! The probes are cheap reads of /proc and /sys and a few syscalls that create nothing; only
//! `facts` is on the launch path, the rest runs on an error path or in `doctor`.

use crate::spec;
use crate::sys;
use nix::libc;
use std::path::{Path, PathBuf};

/// The caller's ids, threads, terminal, environment and directory (what `spec::validate` needs),
/// and, when `private` (a run or its explanation: only a plan masks them), the private
/// directories, resolved through the file system (~15 syscalls for three paths); empty else.
pub fn facts(private: bool) -> spec::Host {
    let (uid, euid, gid, egid) = sys::ids();
    let root = real_root(euid);
    let status = read_proc("/proc/self/status").unwrap_or_default();
    // The lines we use, found in one pass over the ~60 (each helper would walk them all).
    let [mut cap_prm, mut threads, mut sig_ign, mut nspid] = [""; 4];
    for line in status.lines() {
        match line.split_once(':').map_or("", |(key, _)| key) {
            "CapPrm" => cap_prm = line,
            "Threads" => threads = line,
            "SigIgn" => sig_ign = line,
            "NSpid" => nspid = line,
            _ => {}
        }
    }
    crate::pidfd::note_status(nspid);
    // Capabilities we hold without being root can only come from file capabilities.
    let file_caps = euid != 0
        && cap_prm
            .strip_prefix("CapPrm:")
            .is_some_and(|v| !v.trim().trim_start_matches('0').is_empty());
    let env: Vec<_> = std::env::vars_os().collect();
    spec::Host {
        uid,
        euid,
        gid,
        egid,
        real_root: root,
        file_caps,
        ignored_signals: sys::ignored_signals_in(sig_ign),
        threads: threads
            .strip_prefix("Threads:")
            .and_then(|n| n.trim().parse().ok()),
        stdin_is_terminal: sys::is_terminal(0),
        cwd: std::env::current_dir().ok(),
        private_dirs: match private {
            true => crate::private::dirs(uid, &env),
            false => Vec::new(),
        },
        userns_root: euid == 0 && !root,
        env,
    }
}

/// Whether `euid` (ours) is real root: uid 0 in the initial user namespace, whose uid_map is
/// the identity over the whole range. uid 0 inside someone else's namespace (rootless podman)
/// is not. A map we can't read counts as real root: refuse rather than degrade (SECURITY.md 6).
pub fn real_root(euid: u32) -> bool {
    euid == 0
        && read_proc("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
            .unwrap_or(true)
}

/// The most of a /proc file we read: a mountinfo of thousands of mounts fits.
const PROC_MAX: u64 = 1 << 20;

/// A /proc file's text, at most `PROC_MAX` bytes (more is an error). fs::read_to_string sizes
/// its buffer by the file's size, which /proc gives as 0, then grows it from 32 bytes: eight
/// reads for /proc/self/status instead of the two of read_bounded's first page (and File's
/// own read_to_end asks for that size first, fstat and lseek; through read_bounded's `take`
/// there is only `read`: openat, two reads, close, checked with strace). Bytes that
/// aren't UTF-8 become U+FFFD: a process names itself (status's `Name:`, from the name we
/// were started under), and that mustn't make the rest of the file unreadable.
pub fn read_proc(path: &str) -> std::io::Result<String> {
    let bytes = crate::untrusted::read_bounded(std::fs::File::open(path)?, PROC_MAX)?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// A sysctl's value, trimmed (None: the kernel doesn't have it).
pub fn sysctl(name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    read_proc(&path).ok().map(|s| s.trim().to_string())
}

/// True inside an ns-rootless sandbox: it sets `container=ns-rootless` for its command.
pub fn inside_ns_rootless() -> bool {
    std::env::var_os("container").is_some_and(|v| v == "ns-rootless")
}

/// Which container runtime we seem to run under (its own marker files, or `container=`).
pub fn container() -> Option<String> {
    if inside_ns_rootless() {
        return Some("ns-rootless".into());
    }
    if std::path::Path::new("/.dockerenv").exists() {
        return Some("docker".into());
    }
    if std::path::Path::new("/run/.containerenv").exists() {
        return Some("podman".into());
    }
    std::env::var("container").ok().filter(|v| !v.is_empty())
}

/// A sysctl that turns unprivileged user namespaces off, and how to turn them on.
pub fn userns_sysctl_block() -> Option<String> {
    if sysctl("user.max_user_namespaces").as_deref() == Some("0") {
        return Some(
            "user namespaces are disabled on this host (user.max_user_namespaces = 0); \
             ask the administrator to run: sysctl -w user.max_user_namespaces=10000"
                .into(),
        );
    }
    if sysctl("kernel.unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); \
             ask the administrator to run: sysctl -w kernel.unprivileged_userns_clone=1"
                .into(),
        );
    }
    None
}

/// Ubuntu (23.10 on) lets AppArmor refuse unprivileged user namespaces to unconfined programs.
pub fn apparmor_restricts_userns() -> bool {
    sysctl("kernel.apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
}

pub const APPARMOR_FIX: &str = "AppArmor restricts unprivileged user namespaces \
     (kernel.apparmor_restrict_unprivileged_userns = 1); install an AppArmor profile granting \
     'userns' to ns-rootless, or set that sysctl to 0";

/// The fix for a user namespace refused with EPERM by a seccomp filter of the container we
/// run in.
pub fn seccomp_block_fix() -> &'static str {
    if inside_ns_rootless() {
        "user namespaces are blocked by the seccomp filter of the ns-rootless sandbox this runs \
         in: start that sandbox with --allow nested"
    } else {
        "user namespaces are blocked, probably by a seccomp filter: inside a container, run it \
         with user namespaces allowed (Docker: --security-opt seccomp=unconfined)"
    }
}

/// Why creating (or using) an unprivileged user namespace failed, from the host's sysctls.
/// Checked only on the error path, so it costs nothing when things work.
pub fn userns_hint(errno: i32) -> Option<String> {
    if let Some(block) = userns_sysctl_block() {
        return Some(block);
    }
    if apparmor_restricts_userns() && errno == libc::EPERM {
        return Some(APPARMOR_FIX.into());
    }
    match errno {
        libc::ENOSPC | libc::EUSERS => Some(
            "the user namespace limit is reached, or namespaces are nested more than 32 deep \
             (see user.max_user_namespaces)"
                .into(),
        ),
        libc::EPERM => Some(seccomp_block_fix().into()),
        libc::EINVAL => Some("the kernel lacks one of the namespaces ns-rootless needs".into()),
        _ => None,
    }
}

/// The kernel's version as (major, minor).
pub fn kernel_version() -> Option<(u32, u32)> {
    let release = sysctl("kernel.osrelease")?;
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether /proc/self/ns has `name` (the kernel was built with that namespace).
pub fn has_namespace(name: &str) -> bool {
    std::path::Path::new("/proc/self/ns").join(name).exists()
}

/// Whether the kernel knows the filesystem type `name` (/proc/filesystems).
pub fn has_filesystem(name: &str) -> bool {
    read_proc("/proc/filesystems")
        .map(|t| t.lines().any(|l| l.split_whitespace().last() == Some(name)))
        .unwrap_or(false)
}

/// This process's seccomp mode from /proc/self/status (2: a filter is installed).
pub fn seccomp_mode() -> Option<u32> {
    read_proc("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Where this process sits in the cgroup v2 hierarchy.
pub struct Cgroup {
    /// Where cgroup2 is mounted: /sys/fs/cgroup, or `unified` below it on a hybrid host.
    pub mount: PathBuf,
    /// Our own cgroup's directory, `mount` itself at the hierarchy's root.
    pub dir: PathBuf,
}

/// Our cgroup v2 directory: /proc/self/cgroup's `0::` line below where /proc/self/mountinfo
/// says cgroup2 is mounted. None without a cgroup2 mount, or when our cgroup is outside what
/// that mount shows.
pub fn own_cgroup() -> Option<Cgroup> {
    cgroup_in(
        &read_proc("/proc/self/cgroup").ok()?,
        &read_proc("/proc/self/mountinfo").ok()?,
    )
}

fn cgroup_in(cgroups: &str, mountinfo: &str) -> Option<Cgroup> {
    let ours = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let (root, mount) = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut f = left.split_whitespace();
        Some((f.nth(3)?, f.next()?))
    })?;
    // By components: a mount of /a doesn't show /ab.
    let rel = Path::new(ours).strip_prefix(root).ok()?;
    Some(Cgroup {
        mount: PathBuf::from(mount),
        dir: Path::new(mount).join(rel),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_below_the_cgroup2_mount() {
        let v2 = "24 1 0:21 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let c = cgroup_in("0::/user.slice/a.scope\n", v2).unwrap();
        assert_eq!(c.mount, Path::new("/sys/fs/cgroup"));
        assert_eq!(c.dir, Path::new("/sys/fs/cgroup/user.slice/a.scope"));
        let root = cgroup_in("0::/\n", v2).unwrap();
        assert_eq!(root.dir, root.mount);
        let hybrid = "30 1 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let c = cgroup_in("1:cpu:/\n0::/x\n", hybrid).unwrap();
        assert_eq!(c.dir, Path::new("/sys/fs/cgroup/unified/x"));
        // A mount showing only /a: our /ab is not below it, nor is a v1-only host's.
        let part = "24 1 0:21 /a /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert!(cgroup_in("0::/ab/c\n", part).is_none());
        assert_eq!(
            cgroup_in("0::/a/c\n", part).unwrap().dir,
            Path::new("/sys/fs/cgroup/c")
        );
        assert!(cgroup_in("0::/x\n", "22 1 0:5 / /proc rw - proc proc rw\n").is_none());
    }
}
