//! The sandbox's network (`--net`, `--publish`): which namespace it gets and, for user-mode
//! networking, the helper that connects it (pasta, else slirp4netns), started by ns-rootless
//! between writing the id maps and releasing init, so the command never runs before its
//! network exists.

mod helper;
mod pasta;
pub mod publish;
mod slirp4netns;

use crate::error::{quote, strerror};
use anyhow::{bail, Result};
use std::path::PathBuf;

pub use helper::Running;
pub use publish::Publish;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Net {
    /// A network namespace of its own with only `lo`, up (the default).
    Private,
    /// The host's network namespace (`--net host`, `--share-net`).
    Host,
    /// A network namespace of its own with `lo` down: no address, no route. The kernel makes
    /// `lo` in every network namespace and won't delete it (RTM_DELLINK: EOPNOTSUPP), and the
    /// command has no CAP_NET_ADMIN to bring it up.
    None,
    /// A network namespace of its own, connected to the outside by a user-mode helper.
    User(UserNet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNet {
    pub helper: Helper,
    /// `--net pasta:host-loopback`: the gateway's address leads to the host's 127.0.0.1.
    pub host_loopback: bool,
    pub publish: Vec<Publish>,
}

/// The program found for user-mode networking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Helper {
    Pasta(PathBuf),
    Slirp4netns(PathBuf),
}

/// The `--net` values.
pub const MODES: &str = "private, host, none, pasta, pasta:host-loopback";

impl Net {
    /// From `--net`, `--share-net` and `--publish`; `find` looks a program up in PATH.
    pub fn parse(
        mode: Option<&str>,
        share_net: bool,
        publish: &[String],
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<Net> {
        // --publish alone means user-mode networking.
        let mode = match (mode, share_net) {
            (Some(m), _) => m,
            (None, true) => "host",
            (None, false) if !publish.is_empty() => "pasta",
            (None, false) => "private",
        };
        let host_loopback = match mode {
            "private" | "host" | "none" if !publish.is_empty() => bail!(
                "invalid --publish with --net {mode}: publishing ports needs --net pasta \
                 (which --publish alone implies)"
            ),
            "private" => return Ok(Net::Private),
            "host" => return Ok(Net::Host),
            "none" => return Ok(Net::None),
            "pasta" => false,
            "pasta:host-loopback" => true,
            other => bail!("invalid --net {}: use one of {MODES}", quote(other)),
        };
        let publish = publish
            .iter()
            .map(|p| Publish::parse(p))
            .collect::<Result<Vec<_>>>()?;
        let helper = match (find("pasta"), find("slirp4netns")) {
            (Some(p), _) => Helper::Pasta(p),
            (None, Some(s)) => Helper::Slirp4netns(s),
            (None, None) => bail!(
                "--net {mode}: neither pasta nor slirp4netns is installed; install the passt \
                 package (it provides pasta), or slirp4netns"
            ),
        };
        let user = UserNet {
            helper,
            host_loopback,
            publish,
        };
        if let Helper::Slirp4netns(_) = user.helper {
            slirp4netns::refuse(&user)?;
        }
        Ok(Net::User(user))
    }

    /// Whether the sandbox gets a network namespace of its own.
    pub fn own_namespace(&self) -> bool {
        *self != Net::Host
    }

    /// Whether init brings `lo` up (the helpers' own configuration does it too).
    pub fn loopback(&self) -> bool {
        matches!(self, Net::Private | Net::User(_))
    }

    /// The /etc/resolv.conf bound inside: the helper's DNS forwarder (the host's own may be
    /// on its loopback, which the sandbox can't reach).
    pub fn resolv_conf(&self) -> Option<Vec<u8>> {
        let Net::User(user) = self else {
            return None;
        };
        let (name, dns) = match user.helper {
            Helper::Pasta(_) => ("pasta", pasta::DNS),
            Helper::Slirp4netns(_) => ("slirp4netns", slirp4netns::DNS),
        };
        Some(
            format!("# ns-rootless: DNS through {name}'s forwarder\nnameserver {dns}\n")
                .into_bytes(),
        )
    }

    /// What `ps` shows: the mode, and the published ports.
    pub fn shown(&self) -> (&'static str, Vec<String>) {
        match self {
            Net::Private => ("private", vec![]),
            Net::Host => ("host", vec![]),
            Net::None => ("none", vec![]),
            Net::User(u) => (
                match u.helper {
                    Helper::Pasta(_) => "pasta",
                    Helper::Slirp4netns(_) => "slirp4netns",
                },
                u.publish.iter().map(Publish::shown).collect(),
            ),
        }
    }

    /// What must hold on the host before any namespace exists: a usable /dev/net/tun, and
    /// every published port free and allowed to us.
    pub fn check_host(&self) -> Result<()> {
        let Net::User(user) = self else {
            return Ok(());
        };
        // Both helpers create a tap device in the sandbox's namespace through /dev/net/tun.
        if let Some(problem) = tun_problem() {
            bail!("--net pasta: {problem}");
        }
        let start = publish::unprivileged_port_start();
        for p in &user.publish {
            p.check_host(start)?;
        }
        Ok(())
    }

    /// Connects the namespace of `init` (still dumpable, not yet released): the helper runs
    /// until the returned handle drops.
    pub fn start(&self, init: i32, uid: u32) -> Result<Option<Running>> {
        let Net::User(user) = self else {
            return Ok(None);
        };
        match &user.helper {
            Helper::Pasta(program) => pasta::start(program, user, init),
            Helper::Slirp4netns(program) => slirp4netns::start(program, user, init, uid),
        }
        .map(Some)
    }
}

/// Why /dev/net/tun can't be opened read-write, and what the administrator does about it
/// (None: it can). `doctor` says the same.
pub fn tun_problem() -> Option<String> {
    const TUN: &str = "/dev/net/tun";
    let err = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(TUN)
        .err()?;
    let errno = err.raw_os_error().unwrap_or(0);
    Some(match err.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{TUN} does not exist; an administrator loads the tun module (modprobe tun) and \
             creates it (mknod {TUN} c 10 200, mode 0666)"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "{TUN} is not usable by this user ({}); an administrator makes it usable with \
             chmod 0666 {TUN}, as distributions ship it (a tun device can only be attached in \
             a network namespace one owns)",
            strerror(errno)
        ),
        _ => format!("opening {TUN}: {}", io_reason(&err)),
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => strerror(errno).to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(mode: Option<&str>, share: bool, publish: &[&str]) -> Result<Net> {
        let publish: Vec<String> = publish.iter().map(|s| s.to_string()).collect();
        Net::parse(mode, share, &publish, |name| {
            Some(PathBuf::from(format!("/usr/bin/{name}")))
        })
    }

    #[test]
    fn modes_and_their_defaults() {
        assert_eq!(parse(None, false, &[]).unwrap(), Net::Private);
        assert_eq!(parse(None, true, &[]).unwrap(), Net::Host);
        assert_eq!(parse(Some("none"), false, &[]).unwrap(), Net::None);
        assert!(!Net::None.loopback() && Net::None.own_namespace());
        assert!(!Net::Host.own_namespace());
        match parse(None, false, &["8080:80"]).unwrap() {
            Net::User(u) => {
                assert_eq!(u.helper, Helper::Pasta("/usr/bin/pasta".into()));
                assert!(!u.host_loopback);
                assert_eq!(u.publish.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        match parse(Some("pasta:host-loopback"), false, &[]).unwrap() {
            Net::User(u) => assert!(u.host_loopback),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_combinations_are_refused() {
        let err = parse(Some("host"), false, &["8080:80"]).unwrap_err();
        assert!(err.to_string().contains("needs --net pasta"), "{err}");
        let err = parse(Some("bridge"), false, &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid --net \"bridge\""),
            "{err}"
        );
    }

    #[test]
    fn slirp4netns_when_pasta_is_missing_and_the_package_named_when_both_are() {
        let only_slirp = |n: &str| (n == "slirp4netns").then(|| PathBuf::from("/bin/slirp4netns"));
        match Net::parse(Some("pasta"), false, &[], only_slirp).unwrap() {
            Net::User(u) => assert_eq!(u.helper, Helper::Slirp4netns("/bin/slirp4netns".into())),
            other => panic!("{other:?}"),
        }
        let err = Net::parse(Some("pasta"), false, &[], |_| None).unwrap_err();
        assert!(
            err.to_string().contains("install the passt package"),
            "{err}"
        );
    }

    #[test]
    fn resolv_conf_names_the_helpers_forwarder() {
        let conf = parse(Some("pasta"), false, &[])
            .unwrap()
            .resolv_conf()
            .unwrap();
        assert!(String::from_utf8(conf)
            .unwrap()
            .contains("nameserver 169.254.1.1\n"));
        assert_eq!(Net::Private.resolv_conf(), None);
    }
}
