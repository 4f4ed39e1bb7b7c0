//! The host's `/run`, read before fork for the plan: host mode hides it (daemons' and the
//! user's sockets live there: D-Bus, docker, screen, tmux, agents), so the plan needs to know
//! what name resolution reads from it, and whether `/var/run` is a directory of its own.

use crate::net::Net;
use crate::spec::{Root, Sandbox};
use std::path::{Path, PathBuf};

/// The files glibc's and musl's resolvers read: where one of them leads into /run (Ubuntu and
/// Fedora: /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf; resolvconf,
/// NetworkManager and netconfig do the same), that file is kept.
const RESOLVER_FILES: [&str; 5] = [
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRun {
    /// `/var/run` is a directory of its own, not the usual symlink to `/run`: hidden too.
    pub var_run_dir: bool,
    /// Regular files under `/run` (or such a `/var/run`) that name resolution reads, by their
    /// canonical paths: bound read-only when the network is shared.
    pub resolver_files: Vec<PathBuf>,
}

/// What the host's `/run` holds that the plan for `spec` needs (nothing unless in host mode;
/// the resolver's files only when the network reaches out).
pub fn read(spec: &Sandbox) -> HostRun {
    if spec.root != Root::Host {
        return HostRun::default();
    }
    read_under(Path::new("/"), resolves_names(&spec.net))
}

/// Whether the sandbox's network reaches out, so that name resolution inside needs the files
/// the host keeps under /run: the host's own network, or a helper's (whose resolv.conf then
/// covers the host's, plan.rs).
pub fn resolves_names(net: &Net) -> bool {
    matches!(net, Net::Host | Net::User(_))
}

/// `read` for the tree at `root` (the host's `/`, or a test's directory).
fn read_under(root: &Path, reaches_out: bool) -> HostRun {
    let var_run_dir = root
        .join("var/run")
        .symlink_metadata()
        .is_ok_and(|m| m.is_dir());
    let mut resolver_files = Vec::new();
    for file in RESOLVER_FILES.iter().filter(|_| reaches_out) {
        let path = root.join(file.trim_start_matches('/'));
        // A file of /etc itself is visible as it is: only a link can lead into /run.
        if !path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            continue;
        }
        let Ok(target) = path.canonicalize() else {
            continue;
        };
        let Ok(inside) = target.strip_prefix(root).map(|t| Path::new("/").join(t)) else {
            continue;
        };
        let regular = target.metadata().is_ok_and(|m| m.is_file());
        if regular && hidden(&inside, var_run_dir) && !resolver_files.contains(&inside) {
            resolver_files.push(inside);
        }
    }
    HostRun {
        var_run_dir,
        resolver_files,
    }
}

/// Whether host mode hides `path` (canonical).
fn hidden(path: &Path, var_run_dir: bool) -> bool {
    path.starts_with("/run") || (var_run_dir && path.starts_with("/var/run"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree like a host's: `links` are (path, relative target), `files` and `dirs` made.
    fn tree(label: &str, links: &[(&str, &str)], files: &[&str], dirs: &[&str]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("nsr-hostrun-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in dirs.iter().chain(&["etc", "run", "var"]) {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in files {
            std::fs::write(root.join(file), "nameserver 127.0.0.53\n").unwrap();
        }
        for (link, target) in links {
            std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        }
        root
    }

    #[test]
    fn resolver_files_are_found_through_the_hosts_own_links() {
        // Ubuntu and Fedora: systemd-resolved's stub; the hosts file a plain file; a link to a
        // directory (never kept: it could hold sockets).
        let root = tree(
            "ubuntu",
            &[
                ("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf"),
                ("etc/nsswitch.conf", "../run/somedir"),
                ("var/run", "../run"),
            ],
            &["run/systemd/resolve/stub-resolv.conf", "etc/hosts"],
            &["run/systemd/resolve", "run/somedir"],
        );
        let found = read_under(&root, true);
        let private = read_under(&root, false);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            found,
            HostRun {
                var_run_dir: false,
                resolver_files: vec!["/run/systemd/resolve/stub-resolv.conf".into()],
            }
        );
        assert!(private.resolver_files.is_empty());
        // An old layout: /var/run a directory of its own, resolvconf's file in it.
        let root = tree(
            "old",
            &[("etc/resolv.conf", "../var/run/resolvconf/resolv.conf")],
            &["var/run/resolvconf/resolv.conf"],
            &["var/run/resolvconf"],
        );
        let found = read_under(&root, true);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            found,
            HostRun {
                var_run_dir: true,
                resolver_files: vec!["/var/run/resolvconf/resolv.conf".into()],
            }
        );
    }

    #[test]
    fn only_what_lies_under_the_hidden_directories_is_kept() {
        assert!(hidden(
            Path::new("/run/systemd/resolve/stub-resolv.conf"),
            false
        ));
        assert!(!hidden(Path::new("/etc/resolv.conf"), false));
        assert!(!hidden(Path::new("/runner/resolv.conf"), false));
        assert!(!hidden(Path::new("/var/run/resolv.conf"), false));
        assert!(hidden(Path::new("/var/run/resolv.conf"), true));
    }
}
