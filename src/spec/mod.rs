//! Validated plain data built from the command line and the caller's environment. No syscalls
//! beyond reading the environment, cwd and (for `--rootfs`) the directory's metadata.

use crate::cli::Cli;
use crate::error::quote;
use anyhow::{bail, Context, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// The host's `/`, read-only, with private places hidden.
    Host,
    /// A directory given with `--rootfs` (canonical, absolute).
    Dir(PathBuf),
}

/// The caller's ids outside, and the ids the payload has inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub outer_uid: u32,
    pub outer_gid: u32,
    pub inner_uid: u32,
    pub inner_gid: u32,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub hostname: Vec<u8>,
    pub root: Root,
    pub share_net: bool,
    pub ids: Ids,
    pub command: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Where the payload starts, if that path exists inside; `/` otherwise.
    pub cwd: Option<PathBuf>,
}

/// The host-side facts a spec depends on, gathered once so `build` stays testable.
pub struct Host {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// True when we are uid 0 of the initial user namespace, i.e. really root.
    pub real_root: bool,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
}

pub fn build(cli: Cli, host: Host, random_hostname: impl FnOnce() -> Vec<u8>) -> Result<Spec> {
    if host.uid != host.euid || host.gid != host.egid {
        bail!(
            "refusing to run with real and effective ids that differ (uid {} euid {}, gid {} egid {}): \
             ns-rootless must not be installed setuid or setgid",
            host.uid,
            host.euid,
            host.gid,
            host.egid
        );
    }
    if host.real_root && !cli.allow_root {
        bail!(
            "refusing to run as root: ns-rootless is meant for plain users; \
             run it as your own user, or pass --allow-root"
        );
    }
    let hostname = match cli.hostname {
        Some(name) => validate_hostname(&name)?,
        None => random_hostname(),
    };
    let root = match cli.rootfs {
        None => Root::Host,
        Some(dir) => Root::Dir(validate_rootfs(&dir)?),
    };
    let mut command = cli.command;
    if command.is_empty() {
        command.push("sh".into());
    }
    let ids = Ids {
        outer_uid: host.uid,
        outer_gid: host.gid,
        inner_uid: 0,
        inner_gid: 0,
    };
    let env = sandbox_env(&host.env, &hostname, ids.inner_uid);
    Ok(Spec {
        hostname,
        root,
        share_net: cli.share_net,
        ids,
        command,
        env,
        cwd: host.cwd,
    })
}

/// sethostname(2) takes at most 64 bytes; `/` and control characters are refused because
/// prompts, logs and file names are built from the hostname.
pub fn validate_hostname(name: &OsStr) -> Result<Vec<u8>> {
    let bytes = name.as_bytes();
    let why = if bytes.is_empty() {
        Some("must not be empty")
    } else if bytes.len() > 64 {
        Some("must be at most 64 bytes")
    } else if bytes.contains(&b'/') {
        Some("must not contain '/'")
    } else if bytes.iter().any(|b| b.is_ascii_control()) {
        Some("must not contain control characters")
    } else {
        None
    };
    match why {
        Some(why) => bail!("invalid --hostname {}: {why}", quote(name)),
        None => Ok(bytes.to_vec()),
    }
}

/// The rootfs must be a directory whose `proc` and `dev` are real directories: a symlink there
/// would make us mount somewhere the rootfs's author chose (CVE-2019-19921 class).
fn validate_rootfs(dir: &Path) -> Result<PathBuf> {
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("invalid --rootfs {}", quote(dir)))?;
    if !canonical.is_dir() {
        bail!("invalid --rootfs {}: not a directory", quote(dir));
    }
    for name in ["proc", "dev"] {
        let place = canonical.join(name);
        match place.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "invalid --rootfs {}: {} is a symlink; refusing to mount through it",
                quote(dir),
                quote(&place)
            ),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => bail!(
                "invalid --rootfs {}: {} is not a directory",
                quote(dir),
                quote(&place)
            ),
            Err(e) => bail!(
                "invalid --rootfs {}: {}: {e}; the rootfs needs empty proc and dev directories",
                quote(dir),
                quote(&place)
            ),
        }
    }
    Ok(canonical)
}

fn is_passed_through(name: &[u8]) -> bool {
    const NAMES: &[&[u8]] = &[
        b"PATH",
        b"TERM",
        b"LANG",
        b"LANGUAGE",
        b"TZ",
        b"COLORTERM",
        b"NO_COLOR",
    ];
    NAMES.contains(&name) || name.starts_with(b"LC_")
}

/// The payload's environment: a short allowlist from the caller, plus the identity inside.
/// Anything else (tokens, agent sockets, LD_PRELOAD) stays outside.
fn sandbox_env(
    host: &[(OsString, OsString)],
    hostname: &[u8],
    uid: u32,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = host
        .iter()
        .filter(|(k, _)| is_passed_through(k.as_bytes()))
        .cloned()
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    let (home, user) = if uid == 0 {
        ("/root".to_string(), "root".to_string())
    } else {
        ("/".to_string(), uid.to_string())
    };
    env.push(("HOME".into(), home.into()));
    env.push(("USER".into(), user.clone().into()));
    env.push(("LOGNAME".into(), user.into()));
    env.push(("SHELL".into(), "/bin/sh".into()));
    env.push(("HOSTNAME".into(), OsStr::from_bytes(hostname).to_owned()));
    env.push(("container".into(), "ns-rootless".into()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn host() -> Host {
        Host {
            uid: 1000,
            euid: 1000,
            gid: 1000,
            egid: 1000,
            real_root: false,
            env: vec![
                ("PATH".into(), "/bin".into()),
                ("GITHUB_TOKEN".into(), "secret".into()),
                ("LD_PRELOAD".into(), "/x.so".into()),
                ("LC_ALL".into(), "C".into()),
                ("HOME".into(), "/home/me".into()),
            ],
            cwd: None,
        }
    }

    fn spec(args: &[&str], host: Host) -> Result<Spec> {
        let cli = Cli::try_parse_from(std::iter::once("ns-rootless").chain(args.iter().copied()))
            .expect("arguments parse");
        build(cli, host, || b"0123456789ab".to_vec())
    }

    #[test]
    fn defaults_to_sh_a_random_hostname_and_host_mode() {
        let s = spec(&[], host()).unwrap();
        assert_eq!(s.command, vec![OsString::from("sh")]);
        assert_eq!(s.hostname, b"0123456789ab");
        assert_eq!(s.root, Root::Host);
        assert!(!s.share_net);
        assert_eq!((s.ids.inner_uid, s.ids.outer_uid), (0, 1000));
    }

    #[test]
    fn everything_after_the_command_belongs_to_it() {
        let s = spec(
            &["--hostname", "box", "sh", "-c", "echo --hostname"],
            host(),
        )
        .unwrap();
        assert_eq!(s.hostname, b"box");
        assert_eq!(s.command, vec!["sh", "-c", "echo --hostname"]);
        let s = spec(&["--", "--weird-name"], host()).unwrap();
        assert_eq!(s.command, vec!["--weird-name"]);
    }

    #[test]
    fn environment_is_an_allowlist_plus_the_inner_identity() {
        let s = spec(&[], host()).unwrap();
        let get = |k: &str| s.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("PATH"), Some("/bin".into()));
        assert_eq!(get("LC_ALL"), Some("C".into()));
        assert_eq!(get("GITHUB_TOKEN"), None);
        assert_eq!(get("LD_PRELOAD"), None);
        assert_eq!(get("HOME"), Some("/root".into()));
        assert_eq!(get("HOSTNAME"), Some("0123456789ab".into()));
        assert_eq!(get("container"), Some("ns-rootless".into()));
    }

    #[test]
    fn missing_path_gets_the_default() {
        let mut h = host();
        h.env.retain(|(k, _)| k != "PATH");
        let s = spec(&[], h).unwrap();
        assert!(s.env.contains(&("PATH".into(), DEFAULT_PATH.into())));
    }

    #[test]
    fn bad_hostnames_are_refused_with_the_value_escaped() {
        for (name, why) in [
            ("a/b", "must not contain '/'"),
            ("", "must not be empty"),
            ("a\nb", "must not contain control characters"),
        ] {
            let err = spec(&["--hostname", name], host()).unwrap_err().to_string();
            assert!(err.starts_with("invalid --hostname"), "{err}");
            assert!(err.ends_with(why), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let long = "x".repeat(65);
        assert!(spec(&["--hostname", &long], host()).is_err());
        assert!(spec(&["--hostname", &"x".repeat(64)], host()).is_ok());
    }

    #[test]
    fn real_root_is_refused_unless_allowed() {
        let mut h = host();
        h.real_root = true;
        let err = spec(&[], h).unwrap_err().to_string();
        assert!(err.contains("--allow-root"), "{err}");
        let mut h = host();
        h.real_root = true;
        assert!(spec(&["--allow-root"], h).is_ok());
    }

    #[test]
    fn setuid_installs_are_refused() {
        let mut h = host();
        h.euid = 0;
        let err = spec(&[], h).unwrap_err().to_string();
        assert!(err.contains("setuid"), "{err}");
    }

    #[test]
    fn rootfs_with_a_symlinked_proc_is_refused() {
        let dir = std::env::temp_dir().join(format!("nsr-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("dev")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.join("proc")).unwrap();
        let err = spec(&["--rootfs", dir.to_str().unwrap()], host())
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("is a symlink"), "{err}");
    }
}
