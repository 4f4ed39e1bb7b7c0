//! pasta (from passt): connects the sandbox's network namespace to the host's through
//! ordinary sockets of ours, so the sandbox reaches what we can reach, with none of the
//! host's loopback unless asked.

use super::helper::{self, Running, READY_FD};
use super::publish::Proto;
use super::UserNet;
use anyhow::Result;
use std::path::Path;

/// The address pasta answers DNS queries on inside the sandbox, forwarding them to the host's
/// resolver (`--dns-forward`); the address podman uses for the same.
pub const DNS: &str = "169.254.1.1";

/// pasta's arguments for the sandbox whose init is `init` (host pid, still dumpable: its
/// namespaces are opened by path before the payload starts).
pub fn args(net: &UserNet, init: i32) -> Vec<String> {
    let mut args: Vec<String> = [
        // Our child until we kill it (not a daemon), errors only, on stderr.
        "--foreground",
        "--quiet",
        // Addresses, routes and lo inside, copied from the host's default interface.
        "--config-net",
        // No port of the host's loopback appears on the sandbox's (pasta's default: every
        // port bound on the host at start-up).
        "--tcp-ns",
        "none",
        "--udp-ns",
        "none",
        "--dns-forward",
        DNS,
    ]
    .map(String::from)
    .to_vec();
    if !net.host_loopback {
        // Else the gateway's address leads to the host's 127.0.0.1.
        args.push("--no-map-gw".into());
    }
    for proto in [Proto::Tcp, Proto::Udp] {
        let flag = match proto {
            Proto::Tcp => "--tcp-ports",
            Proto::Udp => "--udp-ports",
        };
        let specs: Vec<String> = net
            .publish
            .iter()
            .filter(|p| p.proto == proto)
            .flat_map(|p| p.pasta_specs())
            .collect();
        // pasta's default is `auto`: every port the sandbox listens on, on all of the host's
        // interfaces.
        if specs.is_empty() {
            args.extend([flag.to_string(), "none".into()]);
        }
        for spec in specs {
            args.extend([flag.to_string(), spec]);
        }
    }
    args.extend([
        // Written once the namespace is configured: our ready signal.
        "--pid".into(),
        format!("/proc/self/fd/{READY_FD}"),
        "--netns".into(),
        format!("/proc/{init}/ns/net"),
        "--userns".into(),
        format!("/proc/{init}/ns/user"),
    ]);
    args
}

pub fn start(program: &Path, net: &UserNet, init: i32) -> Result<Running> {
    helper::start("pasta", program, &args(net, init), &[], Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Helper, Publish};

    fn net(host_loopback: bool, publish: &[&str]) -> UserNet {
        UserNet {
            helper: Helper::Pasta("/usr/bin/pasta".into()),
            host_loopback,
            publish: publish.iter().map(|p| Publish::parse(p).unwrap()).collect(),
        }
    }

    fn has(args: &[String], pair: [&str; 2]) -> bool {
        args.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1])
    }

    #[test]
    fn the_hosts_loopback_stays_out_by_default() {
        let a = args(&net(false, &[]), 42);
        assert!(has(&a, ["--tcp-ns", "none"]) && has(&a, ["--udp-ns", "none"]));
        assert!(a.contains(&"--no-map-gw".to_string()));
        // Nothing the sandbox listens on is published unless asked.
        assert!(has(&a, ["--tcp-ports", "none"]) && has(&a, ["--udp-ports", "none"]));
        assert!(has(&a, ["--netns", "/proc/42/ns/net"]));
        assert!(has(&a, ["--userns", "/proc/42/ns/user"]));
        let a = args(&net(true, &[]), 42);
        assert!(!a.contains(&"--no-map-gw".to_string()));
        assert!(has(&a, ["--tcp-ns", "none"]));
    }

    #[test]
    fn published_ports_become_forwarding_specs() {
        let a = args(&net(false, &["8080:80", "0.0.0.0:5353:53/udp"]), 1);
        assert!(has(&a, ["--tcp-ports", "127.0.0.1/8080:80"]));
        assert!(has(&a, ["--udp-ports", "0.0.0.0/5353:53"]));
        assert!(!has(&a, ["--tcp-ports", "none"]));
    }
}
