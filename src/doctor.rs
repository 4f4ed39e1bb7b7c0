//! `ns-rootless doctor`: every precondition of every feature, one line each, `ok` or `missing`
//! with the fix. Exit 0 when the core (a sandbox running a command) works, 1 when it doesn't.
//! The probes are host.rs's, the same that word the hints of ordinary errors.

use crate::error::quote;
use crate::host;
use anyhow::{Context, Result};
use nix::libc;
use std::io::Write;
use std::path::Path;

struct Check {
    what: &'static str,
    /// Ok(detail) or Err(why and fix).
    result: std::result::Result<String, String>,
}

fn check(what: &'static str, result: std::result::Result<String, String>) -> Check {
    Check { what, result }
}

fn kernel() -> Check {
    let result = match host::kernel_version() {
        Some((a, b)) if (a, b) >= (5, 12) => Ok(format!("Linux {a}.{b}")),
        Some((a, b)) => Err(format!(
            "Linux {a}.{b}; ns-rootless needs 5.12 or newer (mount_setattr, pidfds): upgrade the kernel"
        )),
        None => Err("the kernel release is unreadable (/proc/sys/kernel/osrelease)".into()),
    };
    check("kernel", result)
}

fn user_namespaces() -> Check {
    let result = match crate::sys::try_unshare(libc::CLONE_NEWUSER) {
        Ok(()) => Ok(format!(
            "unprivileged user namespaces work (user.max_user_namespaces = {})",
            host::sysctl("user.max_user_namespaces").unwrap_or_else(|| "?".into())
        )),
        Err(errno) => Err(crate::error::describe(
            "creating a user namespace",
            errno,
            host::userns_hint(errno),
        )),
    };
    check("user namespaces", result)
}

fn other_namespaces() -> Check {
    let missing: Vec<&str> = ["mnt", "pid", "uts", "ipc", "net", "cgroup"]
        .into_iter()
        .filter(|ns| !host::has_namespace(ns))
        .collect();
    let result = if missing.is_empty() {
        Ok("mount, pid, uts, ipc, net, cgroup".into())
    } else {
        Err(format!(
            "the kernel lacks {} namespaces: use a kernel built with them",
            missing.join(", ")
        ))
    };
    check("namespaces", result)
}

fn container() -> Check {
    let seccomp = host::seccomp_mode() == Some(2);
    let result = match (host::container(), seccomp) {
        (None, false) => Ok("not inside a container, no seccomp filter on this process".into()),
        (Some(c), false) => Ok(format!(
            "inside {c}, with no seccomp filter on this process"
        )),
        (c, true) => {
            let probe = crate::sys::try_unshare(libc::CLONE_NEWUSER);
            let place = c.map_or("a seccomp filter".to_string(), |c| {
                format!("inside {c}, under a seccomp filter")
            });
            match probe {
                Ok(()) => Ok(format!("{place} that lets user namespaces through")),
                Err(_) => Err(format!("{place}: {}", host::seccomp_block_fix())),
            }
        }
    };
    check("container", result)
}

fn mount_api() -> Check {
    let result = match (crate::sys::has_mount_api(), crate::sys::has_openat2()) {
        (true, true) => Ok("fsopen, open_tree, move_mount, mount_setattr, openat2".into()),
        _ => Err("the kernel lacks the new mount API or openat2: needs Linux 5.12 or newer".into()),
    };
    check("mount API", result)
}

/// The core, end to end: this binary running `true` in a sandbox, stdin from /dev/null.
fn sandbox_runs() -> Check {
    let mut cmd = std::process::Command::new("/proc/self/exe");
    if host::facts(false).real_root {
        cmd.arg("--allow-root");
    }
    let out = cmd
        .args(["-T", "--seccomp", "default", "--", "true"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output();
    let result = match out {
        Ok(o) if o.status.success() => {
            Ok("`ns-rootless true` ran: fresh /proc, pivoted root".into())
        }
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr);
            let line = text.lines().next().unwrap_or("no message");
            Err(line.trim_start_matches("ns-rootless: ").to_string())
        }
        Err(e) => Err(format!("starting /proc/self/exe: {e}")),
    };
    check("sandbox", result)
}

fn overlayfs() -> Check {
    let version = host::kernel_version().unwrap_or((0, 0));
    let known = host::has_filesystem("overlay")
        || Path::new("/sys/module/overlay").exists()
        || host::sysctl("kernel.osrelease").is_some_and(|r| {
            Path::new("/lib/modules")
                .join(r)
                .join("kernel/fs/overlayfs")
                .exists()
        });
    let result = match (version >= (5, 11), known) {
        (true, true) => Ok("overlayfs mounts in a user namespace (Linux 5.11+)".into()),
        (false, _) => Err("unprivileged overlayfs needs Linux 5.11 or newer".into()),
        (true, false) => Err(
            "the kernel has no overlay filesystem: ask the administrator to \
                              load it (modprobe overlay)"
                .into(),
        ),
    };
    check("overlayfs", result)
}

fn tun() -> Check {
    let result = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        Ok(_) => Ok("/dev/net/tun opens read-write".into()),
        Err(e) => Err(format!(
            "opening /dev/net/tun: {}; ask the administrator: modprobe tun, and mode 0666 on \
             /dev/net/tun (as distributions ship it)",
            crate::error::strerror(e.raw_os_error().unwrap_or(0))
        )),
    };
    check("tun device", result)
}

fn network_helpers() -> Check {
    let found: Vec<String> = ["pasta", "slirp4netns"]
        .into_iter()
        .filter_map(|p| which::which(p).ok().map(quote))
        .collect();
    let result = if found.is_empty() {
        Err(
            "neither pasta nor slirp4netns is in PATH (a network for the sandbox needs one): \
             install passt (Debian, Fedora: passt) or slirp4netns"
                .into(),
        )
    } else {
        Ok(found.join(", "))
    };
    check("network helper", result)
}

fn cgroups() -> Check {
    let result = match host::own_cgroup() {
        // A hybrid host has a v2 hierarchy at /sys/fs/cgroup/unified, but the controllers that
        // limit memory, cpu and pids stay on the v1 side: nothing to delegate to a sandbox.
        None if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() => Err(
            "cgroups in hybrid mode (the v1 hierarchies hold the controllers, v2 is only at /sys/fs/cgroup/unified): \
             boot with the unified hierarchy (systemd.unified_cgroup_hierarchy=1)"
                .into(),
        ),
        None => Err(
            "no cgroup v2 hierarchy at /sys/fs/cgroup: boot with the unified \
                     hierarchy (systemd.unified_cgroup_hierarchy=1)"
                .into(),
        ),
        Some(dir) => {
            let writable = nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok();
            let controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))
                .unwrap_or_default()
                .trim()
                .to_string();
            if writable {
                Ok(format!(
                    "{} is delegated to you (controllers: {controllers})",
                    quote(&dir)
                ))
            } else {
                Err(format!(
                    "{} is not delegated to you: start ns-rootless in a delegated cgroup, e.g. \
                     systemd-run --user --scope -p Delegate=yes ns-rootless ...",
                    quote(&dir)
                ))
            }
        }
    };
    check("cgroup v2", result)
}

fn landlock() -> Check {
    let result = match crate::sys::landlock_abi().ok() {
        Some(v) => Ok(format!("ABI version {v}")),
        None => Err(
            "Landlock is not available: needs Linux 5.13+ with landlock in the lsm= \
                     boot parameter"
                .into(),
        ),
    };
    check("Landlock", result)
}

fn time_namespace() -> Check {
    let result = if host::has_namespace("time") {
        Ok("available".into())
    } else {
        Err("the kernel has no time namespaces (Linux 5.6+, CONFIG_TIME_NS)".into())
    };
    check("time namespace", result)
}

/// The state directory is checked where it exists; doctor doesn't create it (it leaves
/// nothing behind), it checks that its parent would let a run create it.
fn state_dir(uid: u32) -> Check {
    let dir = crate::state::location(uid);
    let result = if dir.symlink_metadata().is_ok() {
        match crate::state::state_dir(uid) {
            Ok(dir) => Ok(format!("{} (for --name)", quote(dir.path()))),
            Err(e) => Err(crate::error::one_line(&e)),
        }
    } else {
        let parent = dir.parent().unwrap_or(Path::new("/"));
        match nix::unistd::access(parent, nix::unistd::AccessFlags::W_OK) {
            Ok(()) => Ok(format!("{} (made by the first --name run)", quote(&dir))),
            Err(e) => Err(format!(
                "{} can't be created: {}: {}; set XDG_RUNTIME_DIR to a directory of yours",
                quote(&dir),
                quote(parent),
                e.desc()
            )),
        }
    };
    check("state directory", result)
}

pub fn run(uid: u32) -> Result<u8> {
    let core = [
        kernel(),
        user_namespaces(),
        other_namespaces(),
        container(),
        mount_api(),
        sandbox_runs(),
    ];
    let extra = [
        overlayfs(),
        tun(),
        network_helpers(),
        cgroups(),
        landlock(),
        time_namespace(),
        state_dir(uid),
    ];
    let mut text = String::new();
    for c in core.iter().chain(&extra) {
        let line = match &c.result {
            Ok(detail) => format!("ok       {}: {detail}\n", c.what),
            Err(fix) => format!("missing  {}: {fix}\n", c.what),
        };
        text.push_str(&line);
    }
    let core_works = core.iter().all(|c| c.result.is_ok());
    text.push_str(if core_works {
        "The core works: ns-rootless can run commands here.\n"
    } else {
        "The core does not work here: see the lines marked missing above.\n"
    });
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("writing the report")?;
    Ok(if core_works { 0 } else { 1 })
}
