//! Port publishing: `-p, --publish [HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|/udp]`, parsed into
//! plain data, checked against the host before any namespace exists, and rendered for each
//! helper and for `ps`.

use anyhow::{bail, Result};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `--publish`: `count` consecutive host ports from `host_port`, each forwarded to the
/// sandbox port at the same offset from `sandbox_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub sandbox_port: u16,
    pub count: u16,
    pub proto: Proto,
}

/// A shared machine's other users reach every interface but loopback: publishing there must
/// be asked for (`0.0.0.0:8080:80`).
const DEFAULT_HOST_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl Publish {
    pub fn parse(arg: &str) -> Result<Publish> {
        let bad = |why: &str| -> Result<Publish> {
            bail!(
                "invalid --publish {}: {why} (expected [HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|/udp])",
                crate::error::quote(arg)
            )
        };
        let (spec, proto) = match arg.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, Proto::Tcp),
            Some((spec, "udp")) => (spec, Proto::Udp),
            Some(_) => return bad("the protocol must be tcp or udp"),
            None => (arg, Proto::Tcp),
        };
        // An IPv6 address goes in brackets: [::1]:8080:80.
        let (ip, ports) = if let Some(rest) = spec.strip_prefix('[') {
            let Some((ip, ports)) = rest.split_once("]:") else {
                return bad("an IPv6 address must be followed by ]:");
            };
            (Some(ip), ports)
        } else {
            match spec.split(':').count() {
                2 => (None, spec),
                3 => spec
                    .split_once(':')
                    .map_or((None, spec), |(ip, p)| (Some(ip), p)),
                _ => return bad("wrong number of ':'"),
            }
        };
        let host_ip = match ip {
            None => DEFAULT_HOST_IP,
            Some(ip) => match ip.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => return bad("HOST_IP is not an IP address"),
            },
        };
        let Some((host, sandbox)) = ports.split_once(':') else {
            return bad("missing SANDBOX_PORT");
        };
        let (Some(host), Some(sandbox)) = (port_range(host), port_range(sandbox)) else {
            return bad("ports are numbers from 1 to 65535, or ranges like 8000-8010");
        };
        let count = host.1 - host.0 + 1;
        if sandbox.1 - sandbox.0 + 1 != count && sandbox.0 != sandbox.1 {
            return bad("the host and sandbox port ranges differ in length");
        }
        if sandbox.0 != sandbox.1 || count == 1 {
            Ok(Publish {
                host_ip,
                host_port: host.0,
                sandbox_port: sandbox.0,
                count,
                proto,
            })
        } else {
            bad("a host port range needs a sandbox port range of the same length")
        }
    }

    pub fn last_host_port(&self) -> u16 {
        self.host_port + (self.count - 1)
    }

    fn ports(first: u16, count: u16) -> String {
        if count == 1 {
            first.to_string()
        } else {
            format!("{first}-{}", first + (count - 1))
        }
    }

    fn shown_ip(&self) -> String {
        match self.host_ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        }
    }

    /// As `ps` shows it, like podman: `127.0.0.1:8080->80/tcp`.
    pub fn shown(&self) -> String {
        format!(
            "{}:{}->{}/{}",
            self.shown_ip(),
            Publish::ports(self.host_port, self.count),
            Publish::ports(self.sandbox_port, self.count),
            self.proto.name()
        )
    }

    /// pasta's `-t`/`-u` specs, one per port: `127.0.0.1/8080:80`, `::1/8001:9001`. Not a
    /// range: pasta skips a port of a range it can't bind (it fails only when it binds none),
    /// and a port taken by someone else after `check_host` would then answer in the sandbox's
    /// stead; a single port it can't bind makes it fail.
    pub fn pasta_specs(&self) -> Vec<String> {
        (0..self.count)
            .map(|i| {
                format!(
                    "{}/{}:{}",
                    self.host_ip,
                    self.host_port + i,
                    self.sandbox_port + i
                )
            })
            .collect()
    }

    /// Refuses a port a plain user can't bind (naming the sysctl) or one already taken,
    /// before any namespace exists. The check binds each port once and lets it go: the helper
    /// binds it again right after.
    pub fn check_host(&self, unprivileged_start: Option<u16>) -> Result<()> {
        let what = format!("--publish {}", self.shown());
        if let Some(start) = unprivileged_start.filter(|&s| self.host_port < s) {
            bail!(
                "{what}: host port {} is privileged (below net.ipv4.ip_unprivileged_port_start \
                 = {start}); choose a host port from {start} up, e.g. 8080:{}",
                self.host_port,
                self.sandbox_port
            );
        }
        for port in self.host_port..=self.last_host_port() {
            let addr = SocketAddr::new(self.host_ip, port);
            let bound = match self.proto {
                Proto::Tcp => TcpListener::bind(addr).map(drop),
                Proto::Udp => UdpSocket::bind(addr).map(drop),
            };
            let proto = self.proto.name();
            match bound {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
                    "{what}: port {port}/{proto} on {} is already in use on the host; \
                     choose another host port",
                    self.host_ip
                ),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
                    "{what}: binding port {port}/{proto} on {}: permission denied (a privileged \
                     port? see net.ipv4.ip_unprivileged_port_start)",
                    self.host_ip
                ),
                Err(e) => bail!(
                    "{what}: binding port {port}/{proto} on {}: {}",
                    self.host_ip,
                    super::io_reason(&e)
                ),
            }
        }
        Ok(())
    }
}

/// `8080` or `8000-8010`, each port 1-65535.
fn port_range(text: &str) -> Option<(u16, u16)> {
    let port = |t: &str| t.parse::<u16>().ok().filter(|&p| p != 0);
    match text.split_once('-') {
        None => port(text).map(|p| (p, p)),
        Some((a, b)) => match (port(a), port(b)) {
            (Some(a), Some(b)) if a <= b => Some((a, b)),
            _ => None,
        },
    }
}

/// `net.ipv4.ip_unprivileged_port_start` of our network namespace (None: unreadable).
pub fn unprivileged_port_start() -> Option<u16> {
    crate::host::sysctl("net.ipv4.ip_unprivileged_port_start")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(arg: &str) -> Publish {
        Publish::parse(arg).unwrap_or_else(|e| panic!("{arg}: {e}"))
    }

    #[test]
    fn the_host_side_defaults_to_loopback_and_tcp() {
        let x = p("8080:80");
        assert_eq!(x.host_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((x.host_port, x.sandbox_port, x.count), (8080, 80, 1));
        assert_eq!(x.proto, Proto::Tcp);
        assert_eq!(x.shown(), "127.0.0.1:8080->80/tcp");
        assert_eq!(x.pasta_specs(), ["127.0.0.1/8080:80"]);
    }

    #[test]
    fn addresses_protocols_and_ranges() {
        let x = p("0.0.0.0:5353:53/udp");
        assert_eq!(x.shown(), "0.0.0.0:5353->53/udp");
        let x = p("[::1]:8080:80");
        assert_eq!(x.shown(), "[::1]:8080->80/tcp");
        assert_eq!(x.pasta_specs(), ["::1/8080:80"]);
        let x = p("8000-8002:9000-9002/tcp");
        assert_eq!((x.host_port, x.sandbox_port, x.count), (8000, 9000, 3));
        assert_eq!(
            x.pasta_specs(),
            [
                "127.0.0.1/8000:9000",
                "127.0.0.1/8001:9001",
                "127.0.0.1/8002:9002"
            ]
        );
        assert_eq!(x.last_host_port(), 8002);
    }

    #[test]
    fn bad_values_are_refused_with_the_value_named() {
        for bad in [
            "80",
            "a:80",
            "0:80",
            "8080:70000",
            "8080:80/sctp",
            "1.2.3:8080:80",
            "8000-8002:90-91",
            "8000-8002:90",
            "9-8:9-8",
            "[::1:8080:80",
            "1:2:3:4",
        ] {
            let err = Publish::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid --publish"), "{bad}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn a_privileged_host_port_names_the_sysctl() {
        let err = p("80:80").check_host(Some(1024)).unwrap_err().to_string();
        assert!(
            err.contains("net.ipv4.ip_unprivileged_port_start = 1024"),
            "{err}"
        );
    }
}
