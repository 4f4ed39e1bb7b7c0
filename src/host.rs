//! Facts about the host and probes of the kernel features ns-rootless uses: one place, read
//! by a run (`facts`), by the hints of error messages (`userns_hint`) and by `doctor`.
//!
//! The probes are cheap reads of /proc and /sys and a few syscalls that create nothing; only
//! `facts` is on the launch path, the rest runs on an error path or in `doctor`.

use crate::spec;
use crate::sys;
use nix::libc;

/// The caller's ids, threads, terminal, environment and directory (what `spec::validate` needs),
/// and, when `private` (a run or its explanation: only a plan masks them), the private
/// directories, resolved through the file system (~15 syscalls for three paths); empty else.
pub fn facts(private: bool) -> spec::Host {
    let (uid, euid, gid, egid) = sys::ids();
    // uid 0 is real root only in the initial user namespace (its uid_map is the identity over
    // the whole range); uid 0 inside someone else's namespace (rootless podman) is fine.
    let real_root = euid == 0
        && read_proc("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
            .unwrap_or(true);
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
        real_root,
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
        userns_root: euid == 0 && !real_root,
        env,
    }
}

/// A /proc file's text. fs::read_to_string sizes its buffer by the file's size, which /proc
/// gives as 0, then grows it from 32 bytes: eight reads for /proc/self/status instead of two.
/// File's own read_to_string asks for that size first (fstat and lseek); `Plain` has only
/// `read`, so std's generic loop reads into the capacity given.
pub fn read_proc(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    struct Plain(std::fs::File);
    impl Read for Plain {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    let mut text = String::with_capacity(4096);
    Plain(std::fs::File::open(path)?).read_to_string(&mut text)?;
    Ok(text)
}

/// A sysctl's value, trimmed (None: the kernel doesn't have it).
pub fn sysctl(name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
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

/// Our cgroup v2 directory, when the unified hierarchy is mounted at /sys/fs/cgroup.
pub fn own_cgroup() -> Option<std::path::PathBuf> {
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return None;
    }
    let line = read_proc("/proc/self/cgroup").ok()?;
    let rel = line.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(std::path::Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/')))
}
