//! slirp4netns: the fallback when pasta isn't installed. The same defaults (no host loopback
//! unless asked), ports published through its API socket.

use super::helper::{self, Running, READY_FD};
use super::publish::Proto;
use super::UserNet;
use crate::error::quote;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// slirp4netns's built-in DNS forwarder (in its default 10.0.2.0/24).
pub const DNS: &str = "10.0.2.3";

/// The fd on which slirp4netns waits for EOF to exit (--exit-fd): one more tie to our life.
const EXIT_FD: i32 = 4;

pub fn args(net: &UserNet, init: i32, api: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--configure".into(),
        "--mtu=65520".into(),
        format!("--ready-fd={READY_FD}"),
        format!("--exit-fd={EXIT_FD}"),
        "--netns-type=path".into(),
        format!("--userns-path=/proc/{init}/ns/user"),
        // It parses what the sandbox sends (libslirp has had guest-triggered memory bugs, e.g.
        // CVE-2021-3592..3595): behind its own seccomp filter, as podman runs it. (Not its
        // --enable-sandbox: that needs it to be root in its user namespace, as under podman;
        // ours is the host's.)
        "--enable-seccomp".into(),
    ];
    if !net.host_loopback {
        // Else 10.0.2.2 leads to the host's 127.0.0.1.
        args.push("--disable-host-loopback".into());
    }
    if let Some(api) = api {
        args.push(format!("--api-socket={}", api.display()));
    }
    args.extend([format!("/proc/{init}/ns/net"), "tap0".into()]);
    args
}

/// What slirp4netns can't do with our defaults, refused before any namespace exists.
pub fn refuse(net: &UserNet) -> Result<()> {
    for p in &net.publish {
        if matches!(p.host_ip, IpAddr::V6(_)) {
            bail!(
                "--publish {}: slirp4netns publishes on IPv4 addresses only; install pasta (the \
                 passt package) for IPv6",
                p.shown()
            );
        }
        // libslirp shows a client on the host itself as 10.0.2.2 and sends the server's replies
        // there through the host's loopback, which --disable-host-loopback forbids (its
        // sotranslate_out fails with EPERM): the datagrams go in, no reply comes out (podman
        // issue #4586).
        if p.proto == Proto::Udp && !net.host_loopback {
            bail!(
                "--publish {}: slirp4netns can't send UDP replies back to the host without \
                 opening the host's loopback to the sandbox; install pasta (the passt package), \
                 or accept that with --net pasta:host-loopback",
                p.shown()
            );
        }
    }
    Ok(())
}

pub fn start(program: &Path, net: &UserNet, init: i32, uid: u32) -> Result<Running> {
    // The API socket lives in our private state directory, and only until the ports are added.
    let api = match net.publish.is_empty() {
        true => None,
        false => Some(api_path(uid, init)?),
    };
    let (exit_read, exit_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let args = args(net, init, api.as_deref());
    let extra = [(exit_read.as_raw_fd(), EXIT_FD)];
    let started = helper::start("slirp4netns", program, &args, &extra, vec![exit_write]);
    drop(exit_read);
    let result = started.and_then(|running| {
        if let Some(api) = &api {
            publish(api, net)?;
        }
        Ok(running)
    });
    if let Some(api) = &api {
        let _ = std::fs::remove_file(api);
    }
    result
}

fn api_path(uid: u32, init: i32) -> Result<PathBuf> {
    let dir = crate::state::state_dir(uid)?;
    // A leading dot: not a sandbox name, so `ps` passes it by and no `--name` can take it.
    let path = dir.path().join(format!(".slirp4netns-{init}.sock"));
    // A socket left by a killed run of a pid now reused.
    let _ = std::fs::remove_file(&path);
    Ok(path)
}

/// One `add_hostfwd` per port (slirp4netns takes no ranges).
fn publish(api: &Path, net: &UserNet) -> Result<()> {
    for p in &net.publish {
        for i in 0..p.count {
            let request = serde_json::json!({
                "execute": "add_hostfwd",
                "arguments": {
                    "proto": p.proto.name(),
                    "host_addr": p.host_ip.to_string(),
                    "host_port": p.host_port + i,
                    "guest_port": p.sandbox_port + i,
                }
            });
            let reply = call(api, &request)
                .with_context(|| format!("publishing {} through {}", p.shown(), quote(api)))?;
            if let Some(err) = reply.get("error") {
                let why = err
                    .get("desc")
                    .and_then(|d| d.as_str())
                    .unwrap_or("refused");
                bail!(
                    "--publish {}: slirp4netns: {}",
                    p.shown(),
                    crate::error::escape(why.as_bytes())
                );
            }
        }
    }
    Ok(())
}

fn call(api: &Path, request: &serde_json::Value) -> Result<serde_json::Value> {
    let mut sock = UnixStream::connect(api)?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    sock.write_all(request.to_string().as_bytes())?;
    sock.shutdown(std::net::Shutdown::Write)?;
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply)?;
    Ok(serde_json::from_slice(&reply)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Helper;

    #[test]
    fn the_hosts_loopback_stays_out_unless_asked() {
        let mut net = UserNet {
            helper: Helper::Slirp4netns("/usr/bin/slirp4netns".into()),
            host_loopback: false,
            publish: vec![],
        };
        let a = args(&net, 7, None);
        assert!(a.contains(&"--disable-host-loopback".to_string()));
        assert_eq!(a[a.len() - 2..], ["/proc/7/ns/net", "tap0"]);
        net.host_loopback = true;
        assert!(!args(&net, 7, None).contains(&"--disable-host-loopback".to_string()));
    }

    #[test]
    fn udp_and_ipv6_publishing_are_refused_where_they_cant_work() {
        let net = |host_loopback: bool, spec: &str| UserNet {
            helper: Helper::Slirp4netns("/usr/bin/slirp4netns".into()),
            host_loopback,
            publish: vec![crate::net::Publish::parse(spec).unwrap()],
        };
        let err = refuse(&net(false, "5353:53/udp")).unwrap_err().to_string();
        assert!(err.contains("can't send UDP replies back"), "{err}");
        assert!(err.contains("--net pasta:host-loopback"), "{err}");
        refuse(&net(true, "5353:53/udp")).unwrap();
        refuse(&net(false, "8080:80")).unwrap();
        let err = refuse(&net(true, "[::1]:8080:80")).unwrap_err().to_string();
        assert!(err.contains("IPv4 addresses only"), "{err}");
    }
}
