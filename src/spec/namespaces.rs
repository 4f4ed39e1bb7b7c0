//! The sandbox's namespaces: each made new, kept from the caller, or joined at a path.

use nix::libc;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ns {
    New,
    /// The caller's own (the host's, for a plain user).
    Caller,
    /// The namespace at this path (an OCI config's `path`), joined by setns(2).
    Join(PathBuf),
}

/// The id maps of a new user namespace, written from outside with std::fs (never newuidmap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    /// uid_map and gid_map, as written ("0 1000 1\n").
    pub uid_map: String,
    pub gid_map: String,
    /// Deny setgroups first, as the kernel requires of a writer without CAP_SETGID over the
    /// namespace's parent (a plain user's one-id map).
    pub deny_setgroups: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    pub user: Ns,
    pub mount: Ns,
    pub pid: Ns,
    pub net: Ns,
    pub ipc: Ns,
    pub uts: Ns,
    pub cgroup: Ns,
    /// New: the payload enters a time namespace of its own with the sandbox's offsets before
    /// its first fork (timens.rs), not init at clone.
    pub time: Ns,
}

impl Namespaces {
    /// The native sandbox's: every one new, the network's unless it is shared, a time
    /// namespace with `--time-offset`.
    pub fn native(own_net: bool, time: bool) -> Namespaces {
        Namespaces {
            user: Ns::New,
            mount: Ns::New,
            pid: Ns::New,
            net: if own_net { Ns::New } else { Ns::Caller },
            ipc: Ns::New,
            uts: Ns::New,
            cgroup: Ns::New,
            time: if time { Ns::New } else { Ns::Caller },
        }
    }

    /// None at all: a front end fills in what its input asks for.
    pub fn callers() -> Namespaces {
        Namespaces {
            user: Ns::Caller,
            mount: Ns::Caller,
            pid: Ns::Caller,
            net: Ns::Caller,
            ipc: Ns::Caller,
            uts: Ns::Caller,
            cgroup: Ns::Caller,
            time: Ns::Caller,
        }
    }

    /// The CLONE_NEW* flags that make the new ones when init is cloned (time excepted).
    pub fn clone_flags(&self) -> libc::c_int {
        [
            (&self.user, libc::CLONE_NEWUSER),
            (&self.mount, libc::CLONE_NEWNS),
            (&self.pid, libc::CLONE_NEWPID),
            (&self.net, libc::CLONE_NEWNET),
            (&self.ipc, libc::CLONE_NEWIPC),
            (&self.uts, libc::CLONE_NEWUTS),
            (&self.cgroup, libc::CLONE_NEWCGROUP),
        ]
        .into_iter()
        .filter(|(ns, _)| **ns == Ns::New)
        .fold(0, |flags, (_, flag)| flags | flag)
    }

    /// The namespaces init joins at a path right after its maps, each with its CLONE_NEW* type
    /// and its linux.namespaces name. (Not the user namespace nor the pid one: the runtime
    /// enters those itself before init is cloned; a mount namespace is never joined.)
    pub fn joined_by_init(
        &self,
    ) -> impl Iterator<Item = (&std::path::Path, libc::c_int, &'static str)> {
        [
            (&self.net, libc::CLONE_NEWNET, "network"),
            (&self.ipc, libc::CLONE_NEWIPC, "ipc"),
            (&self.uts, libc::CLONE_NEWUTS, "uts"),
            (&self.cgroup, libc::CLONE_NEWCGROUP, "cgroup"),
            (&self.time, libc::CLONE_NEWTIME, "time"),
        ]
        .into_iter()
        .filter_map(|(ns, flag, name)| match ns {
            Ns::Join(path) => Some((path.as_path(), flag, name)),
            _ => None,
        })
    }

    /// The namespace of a CLONE_NEW* type.
    pub fn of_type(&mut self, flag: libc::c_int) -> Option<&mut Ns> {
        Some(match flag {
            libc::CLONE_NEWUSER => &mut self.user,
            libc::CLONE_NEWNS => &mut self.mount,
            libc::CLONE_NEWPID => &mut self.pid,
            libc::CLONE_NEWNET => &mut self.net,
            libc::CLONE_NEWIPC => &mut self.ipc,
            libc::CLONE_NEWUTS => &mut self.uts,
            libc::CLONE_NEWCGROUP => &mut self.cgroup,
            libc::CLONE_NEWTIME => &mut self.time,
            _ => return None,
        })
    }
}

/// A namespace joined by path, opened once: its type is checked, and whether it is ours
/// decided, on this fd, which is the one joined (the path opened again could name another
/// namespace by then).
#[derive(Debug, Clone)]
pub struct Opened {
    pub fd: std::sync::Arc<std::os::fd::OwnedFd>,
    /// Its CLONE_NEW* type.
    pub nstype: libc::c_int,
    /// "the network namespace \"/run/netns/x\"", for a failure's words.
    pub shown: String,
}

/// What `check` found.
pub struct Checked {
    /// The network namespace is ours: none of its own, or a join of the one we are in.
    pub host_net: bool,
    /// The namespaces init joins right after its maps, in `joined_by_init`'s order.
    pub joins: Vec<Opened>,
    /// The pid namespace joined by path.
    pub pid: Option<std::os::fd::OwnedFd>,
}

/// The namespaces a sandbox may be made in: a mount namespace of its own (the root is built and
/// pivoted there), namespaces joined by path of the type they claim to be, a user namespace
/// joined only by the front end itself (it is the one we are in). `field` names the list in the
/// front end's words.
pub fn check(ns: &Namespaces, field: &str) -> anyhow::Result<Checked> {
    use crate::error::quote;
    use anyhow::{bail, Context};
    if let Ns::Join(path) = &ns.mount {
        bail!(
            "{field}: joining a mount namespace by path ({}) is not supported: the container's \
             root would be built and pivoted in a mount namespace shared with others",
            quote(path)
        );
    }
    if ns.mount != Ns::New {
        bail!(
            "{field}: a mount namespace is required (the container's root is built and pivoted \
             in a mount namespace of its own)"
        );
    }
    if let Ns::Join(path) = &ns.user {
        if !is_ours(path, "user") {
            bail!("{field}: the user namespace {} was not joined", quote(path));
        }
    }
    let mut checked = Checked {
        host_net: ns.net == Ns::Caller,
        joins: Vec::new(),
        pid: None,
    };
    let pid = match &ns.pid {
        Ns::Join(p) => Some((p.as_path(), libc::CLONE_NEWPID, "pid")),
        _ => None,
    };
    for (path, flag, kind) in ns.joined_by_init().chain(pid) {
        let shown = format!("the {kind} namespace {}", quote(path));
        let fd = std::fs::File::open(path).with_context(|| format!("opening {shown}"))?;
        // config-linux.md: a path of another type of namespace is an error (setns would only
        // say EINVAL). nsfs files read back as "TYPE:[INODE]".
        let proc_name = if kind == "network" { "net" } else { kind };
        let target = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .unwrap_or_default();
        if !target
            .to_string_lossy()
            .starts_with(&format!("{proc_name}:["))
        {
            bail!("{field}: {} is not a namespace of type {kind}", quote(path));
        }
        if flag == libc::CLONE_NEWNET {
            checked.host_net = is_ours_file(&fd, "net");
        }
        match flag {
            libc::CLONE_NEWPID => checked.pid = Some(fd.into()),
            nstype => checked.joins.push(Opened {
                fd: std::sync::Arc::new(fd.into()),
                nstype,
                shown,
            }),
        }
    }
    Ok(checked)
}

/// Whether the namespace at `path` is the one we are in (its `kind` in /proc/self/ns).
pub fn is_ours(path: &std::path::Path, kind: &str) -> bool {
    same(std::fs::metadata(path), kind)
}

/// Whether the namespace `file` refers to is the one we are in (its `kind` in /proc/self/ns).
pub fn is_ours_file(file: &std::fs::File, kind: &str) -> bool {
    same(file.metadata(), kind)
}

/// Two nsfs files are the same namespace when their device and inode are (ioctl_ns(2)). A
/// file that can't be read is not ours.
fn same(theirs: std::io::Result<std::fs::Metadata>, kind: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    matches!((theirs, std::fs::metadata(format!("/proc/self/ns/{kind}"))),
        (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_sandbox_clones_every_namespace_but_a_shared_network() {
        let all = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWCGROUP;
        assert_eq!(
            Namespaces::native(true, true).clone_flags(),
            all | libc::CLONE_NEWNET
        );
        assert_eq!(Namespaces::native(false, false).clone_flags(), all);
        let mut joined = Namespaces::callers();
        *joined.of_type(libc::CLONE_NEWNET).unwrap() = Ns::Join("/run/netns/x".into());
        *joined.of_type(libc::CLONE_NEWNS).unwrap() = Ns::New;
        assert_eq!(joined.clone_flags(), libc::CLONE_NEWNS);
    }
}
