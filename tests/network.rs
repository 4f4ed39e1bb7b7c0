//! Integration tests of the sandbox's network: `--net private|host|none|pasta`, `-p/--publish`,
//! the slirp4netns fallback, DNS, the helper's life, and the refusals.
//!
//! Traffic goes only to loopback and to namespaces these tests make: the check that the host's
//! loopback stays out of reach (which connects to the gateway's address) runs in a network
//! namespace of its own whose default route leads to an ifb (else dummy) device, which drops
//! everything.

#[allow(dead_code)]
#[macro_use]
mod common;

use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::symlink;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_failure_line, binary, busybox_rootfs_variant, caller_uid, descendants, describe,
    host_tool, ns_rootless, output_of, path_str, process_state, runner_command, runner_is_root,
    text, Mode, Running, TempDir, CLEAN_PATH,
};
use nix::sys::signal::Signal;

/// Which user-mode helper ns-rootless finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Helper {
    Pasta,
    /// pasta hidden from PATH: the fallback.
    Slirp4netns,
}

impl Helper {
    /// A PATH for ns-rootless under which it finds this helper (and only it), plus the temp
    /// dir that holds it.
    fn path(self) -> (Option<TempDir>, String) {
        match self {
            Helper::Pasta => {
                host_tool("pasta");
                (None, CLEAN_PATH.to_owned())
            }
            Helper::Slirp4netns => {
                let dir = TempDir::new("slirp-only");
                symlink(host_tool("slirp4netns"), dir.path().join("slirp4netns"))
                    .expect("symlink slirp4netns");
                let path = path_str(dir.path()).to_owned();
                (Some(dir), path)
            }
        }
    }

    /// `ns-rootless OPTIONS... -- COMMAND...` with this helper, the sandbox's PATH the usual one.
    fn command(
        self,
        options: &[&str],
        command: &[&str],
    ) -> (Option<TempDir>, std::process::Command) {
        let (dir, path) = self.path();
        let mut args = vec!["-e", SANDBOX_PATH];
        args.extend_from_slice(options);
        args.push("--");
        args.extend_from_slice(command);
        let mut cmd = ns_rootless(&args);
        cmd.env("PATH", path);
        (dir, cmd)
    }
}

/// The sandbox's own PATH, whatever PATH ns-rootless was given to find its helper.
const SANDBOX_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A host port nobody listens on right now (the kernel's pick, let go).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().expect("local address").port();
    let u = UdpSocket::bind(("127.0.0.1", port));
    drop(l);
    match u {
        Ok(_) => port,
        Err(_) => free_port(),
    }
}

/// Retries `attempt` for up to 10 s.
fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match attempt() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => panic!("{what}: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Published ports
// ---------------------------------------------------------------------------------------------

/// A dev server inside (busybox httpd) reached from the host through `-p` with curl.
fn publish_tcp(helper: Helper) {
    let port = free_port();
    let publish = format!("{port}:8080");
    let (_dir, cmd) = helper.command(
        &["-p", &publish],
        &[
            "sh",
            "-c",
            "mkdir /tmp/www && echo hello from inside > /tmp/www/index.html && \
             echo serving && exec busybox httpd -f -p 8080 -h /tmp/www",
        ],
    );
    let mut sandbox = Running::start(cmd);
    sandbox.wait_for_line("serving");
    let url = format!("http://127.0.0.1:{port}/");
    let body = eventually("curl through the published port", || {
        let mut curl = runner_command(host_tool("curl"));
        curl.args(["-sS", "--max-time", "2", &url]);
        let out = output_of(curl);
        match out.status.success() {
            true => Ok(text(&out.stdout)),
            false => Err(describe(&out)),
        }
    });
    assert_eq!(body, "hello from inside\n");
    sandbox.signal(Signal::SIGTERM);
    sandbox.finish();
}

/// A UDP echo server inside (perl, Essential in Debian, from the host's /usr), listening on
/// `sandbox_port`, answers a client on the host's loopback through `-p` with `options`.
fn udp_echo_through(helper: Helper, options: &[&str], host_port: u16, sandbox_port: u16) {
    let publish = format!("127.0.0.1:{host_port}:{sandbox_port}/udp");
    let server = format!(
        "use IO::Socket::INET; $| = 1; \
         my $s = IO::Socket::INET->new(LocalPort => {sandbox_port}, Proto => 'udp') or die $!; \
         print \"serving\\n\"; \
         while (1) {{ my $from = $s->recv(my $m, 100); $s->send(\"echo:$m\", 0, $from); }}"
    );
    let mut all = options.to_vec();
    all.extend(["-p", &publish]);
    let (_dir, cmd) = helper.command(&all, &["perl", "-e", &server]);
    let mut sandbox = Running::start(cmd);
    sandbox.wait_for_line("serving");
    // Connected: only a datagram from the published address and port counts as the reply.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    sock.connect(("127.0.0.1", host_port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("set a timeout");
    // Until the server answers (a datagram sent before the helper forwards is lost).
    let reply = eventually("a UDP reply through the published port", || {
        sock.send(b"ping").map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).map_err(|e| e.to_string())?;
        Ok(buf[..n].to_vec())
    });
    sandbox.signal(Signal::SIGTERM);
    sandbox.finish();
    assert_eq!(reply, b"echo:ping");
}

/// A UDP server inside answers a client on the host through `-p 127.0.0.1:PORT:PORT/udp`.
/// With slirp4netns only where the sandbox may reach the host's loopback: libslirp shows a
/// client on the host as 10.0.2.2 and replies through the host's loopback, which
/// --disable-host-loopback forbids, so `-p .../udp` is refused without
/// `--net pasta:host-loopback`.
fn publish_udp(helper: Helper) {
    let port = free_port();
    match helper {
        Helper::Pasta => udp_echo_through(helper, &[], port, port),
        Helper::Slirp4netns => {
            let publish = format!("{port}:{port}/udp");
            let (_dir, cmd) = helper.command(&["-p", &publish], &["true"]);
            refused(
                cmd,
                &[
                    "slirp4netns can't send UDP replies back",
                    "pasta:host-loopback",
                ],
            );
            udp_echo_through(helper, &["--net", "pasta:host-loopback"], port, port);
        }
    }
}

/// Debian 12's pasta (2023_03_09.7c7625d) loses the replies when the sandbox port is below the
/// host port (its udp_invert_portmap() indexes the reverse map with `(in_port_t)i + delta`,
/// which C computes as an int, past the array); a host port below the sandbox's works there.
#[test]
fn pasta_udp_to_a_higher_sandbox_port() {
    let port = free_port();
    udp_echo_through(Helper::Pasta, &[], port, port.saturating_add(1));
}

/// `with_each_helper!(check)` turns `fn check(helper: Helper)` into the tests `pasta::check`
/// and `slirp4netns::check`.
macro_rules! with_each_helper {
    ($($check:ident),* $(,)?) => {
        mod pasta {
            $(
                #[test]
                fn $check() {
                    super::$check(super::Helper::Pasta);
                }
            )*
        }

        mod slirp4netns {
            $(
                #[test]
                fn $check() {
                    super::$check(super::Helper::Slirp4netns);
                }
            )*
        }
    };
}

with_each_helper!(
    publish_tcp,
    publish_udp,
    hosts_loopback_out_of_reach,
    default_route_and_dns,
    dns_resolves_through_the_forwarder,
    helper_holds_only_its_own_fds,
    no_helper_survives_the_sandbox,
    no_helper_survives_sigkill_of_ns_rootless,
);

// ---------------------------------------------------------------------------------------------
// A host of the tests' own
// ---------------------------------------------------------------------------------------------

/// Runs `script` (sh) as root in a network and a mount namespace made for it, whose "host"
/// has lo up and default routes (IPv4, IPv6) into an ifb (else dummy) device, which drops
/// everything: what a sandbox started there sends to a gateway goes nowhere.
fn in_test_namespace(script: &str) -> Output {
    assert!(
        runner_is_root(),
        "this test makes network and mount namespaces for the sandbox's host side: run it as \
         root (scripts/test.sh does)"
    );
    let script = format!(
        "set -e
        ip link set lo up
        ip link add nsr0 type ifb || ip link add nsr0 type dummy
        ip addr add 10.99.0.2/24 dev nsr0
        ip addr add fd99::2/64 dev nsr0 nodad
        ip link set nsr0 up
        ip route add default via 10.99.0.1
        ip -6 route add default via fd99::1
        {script}"
    );
    let mut cmd = runner_command(host_tool("unshare"));
    cmd.args([
        "--net",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    output_of(cmd)
}

/// `ns-rootless -e PATH=...` as the caller, finding `helper`, for a script of
/// [`in_test_namespace`], and the temp dir its PATH needs until the script is done.
fn sandbox_in_script(helper: Helper) -> (Option<TempDir>, String) {
    let (dir, path) = helper.path();
    let line = format!(
        "{setpriv} --reuid={uid} --regid={uid} --clear-groups -- env -i PATH={path} {bin} -e {SANDBOX_PATH}",
        setpriv = path_str(&host_tool("setpriv")),
        uid = caller_uid(),
        bin = path_str(binary()),
    );
    (dir, line)
}

/// DNS inside goes through the helper's forwarder to the host's resolver, here one on the
/// host's loopback (as with systemd-resolved), which the sandbox itself can't reach: a small
/// responder that answers every A query with 10.1.2.3.
fn dns_resolves_through_the_forwarder(helper: Helper) {
    let dir = TempDir::new("dns");
    let responder = dir.path().join("dns.pl");
    std::fs::write(&responder, DNS_RESPONDER).expect("write the responder");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").expect("write resolv.conf");
    let (_helper_dir, sandbox) = sandbox_in_script(helper);
    let script = format!(
        "mount --bind {resolv} /etc/resolv.conf
        perl {responder} &
        trap \"kill $!\" EXIT
        until busybox nslookup probe.test 127.0.0.1 >/dev/null 2>&1; do sleep 0.1; done
        {sandbox} --net pasta -- sh -c 'timeout 10 busybox nslookup example.test'",
        resolv = path_str(&resolv),
        responder = path_str(&responder),
    );
    let out = in_test_namespace(&script);
    assert!(
        out.status.success() && text(&out.stdout).contains("Address: 10.1.2.3"),
        "{}",
        describe(&out)
    );
}

/// A DNS server on 127.0.0.1:53 (UDP) that answers A queries with 10.1.2.3, others with no
/// answer.
const DNS_RESPONDER: &str = r#"
use IO::Socket::IP;
my $s = IO::Socket::IP->new(LocalHost => "127.0.0.1", LocalPort => 53, Proto => "udp") or die $!;
while (1) {
    my $from = $s->recv(my $q, 512);
    my ($id) = unpack("n", $q);
    my $rest = substr($q, 12);
    my $end = index($rest, "\0") + 1;
    my ($qtype) = unpack("n", substr($rest, $end, 2));
    my $an = $qtype == 1 ? 1 : 0;
    my $r = pack("nnnnnn", $id, 0x8180, 1, $an, 0, 0) . substr($rest, 0, $end + 4);
    $r .= pack("nnnNnC4", 0xc00c, 1, 1, 60, 4, 10, 1, 2, 3) if $an;
    $s->send($r, 0, $from);
}
"#;

// ---------------------------------------------------------------------------------------------
// The host's loopback
// ---------------------------------------------------------------------------------------------

/// A server on the host's 127.0.0.1 is reached neither directly nor through the gateway from
/// `--net pasta`; `--net pasta:host-loopback` (the control) reaches it through the gateway.
///
/// Runs in [`in_test_namespace`], whose "host" has a server on 127.0.0.1 and ::1, so a
/// connection that pasta would send to a real gateway goes nowhere.
fn hosts_loopback_out_of_reach(helper: Helper) {
    let (_helper_dir, sandbox) = sandbox_in_script(helper);
    // `timeout`: nc's -w bounds only the connect. The control (which must connect) tries each
    // address up to TRIES times: on a loaded machine the helper's first forwarded connection
    // now and then stalls.
    let probe = "try() { for i in $(seq $TRIES); do r=$(timeout 3 busybox nc -w 1 $1 7777 2>&1); \
                     case $r in *secret*) break;; esac; done; echo $r; }; \
                 gw=$(ip route | awk \"/^default/ {print \\$3}\"); \
                 gw6=$(ip -6 route | awk \"/^default/ {print \\$3}\"); \
                 echo direct: $(try 127.0.0.1); echo gateway: $(try $gw); \
                 echo direct6: $(try ::1); echo gateway6: $(try ${gw6:-none})";
    let script = format!(
        "for host in 127.0.0.1 ::1; do
            perl -MIO::Socket::IP -e '$s = IO::Socket::IP->new(LocalHost => $ARGV[0],
                LocalPort => 7777, Listen => 5, ReuseAddr => 1) or die $!;
                while ($c = $s->accept) {{ print $c \"host-secret\\n\"; close $c }}' $host &
            servers=\"$servers $!\"
        done
        trap 'kill $servers' EXIT
        until busybox nc -w 1 127.0.0.1 7777 >/dev/null 2>&1; do sleep 0.1; done
        until busybox nc -w 1 ::1 7777 >/dev/null 2>&1; do sleep 0.1; done
        for mode in pasta pasta:host-loopback; do
            echo \"== $mode\"
            case $mode in pasta) tries=1;; *) tries=5;; esac
            {sandbox} -e TRIES=$tries --net $mode -- sh -c '{probe}'
        done",
    );
    let out = in_test_namespace(&script);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let (own, opted_in) = stdout
        .split_once("== pasta:host-loopback\n")
        .unwrap_or_else(|| panic!("{}", describe(&out)));
    let line = |block: &str, key: &str| -> String {
        block
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line in {}", describe(&out)))
            .to_owned()
    };
    assert!(!own.contains("host-secret"), "{}", describe(&out));
    // IPv6 where the helper gives the sandbox IPv6 (slirp4netns only with --enable-ipv6, which
    // ns-rootless doesn't pass).
    let families: &[&str] = match helper {
        Helper::Pasta => &["", "6"],
        Helper::Slirp4netns => &[""],
    };
    for v in families {
        let direct = format!("direct{v}:");
        assert!(line(own, &direct).contains("refused"), "{}", describe(&out));
        // The control: the same check can see the server. (Old pasta builds now and then
        // replay a forwarded connection's data, so the line may hold the secret more than once.)
        let gateway = format!("gateway{v}:");
        let seen = line(opted_in, &gateway);
        assert!(
            seen.strip_prefix(&gateway).is_some_and(
                |r| !r.trim().is_empty() && r.split_whitespace().all(|w| w == "host-secret")
            ),
            "{}",
            describe(&out)
        );
        assert!(!line(opted_in, &direct).contains("host-secret"));
    }
}

// ---------------------------------------------------------------------------------------------
// Routes and DNS
// ---------------------------------------------------------------------------------------------

/// A default route, and an /etc/resolv.conf naming the helper's forwarder, in host mode and
/// in --rootfs mode; the rootfs's own file is not written.
fn default_route_and_dns(helper: Helper) {
    let forwarder = match helper {
        Helper::Pasta => "169.254.1.1",
        Helper::Slirp4netns => "10.0.2.3",
    };
    const ROOTFS_RESOLV: &str = "nameserver 192.0.2.53\n";
    let rootfs = busybox_rootfs_variant("resolv", |root| {
        std::fs::write(root.join("etc/resolv.conf"), ROOTFS_RESOLV).expect("write resolv.conf");
    });
    for root in [None, Some(rootfs.path())] {
        let mut options = vec!["--net", "pasta"];
        if let Some(dir) = root {
            options.extend(["--rootfs", path_str(dir)]);
        }
        let (_dir, cmd) = helper.command(
            &options,
            &[
                "sh",
                "-c",
                "ip route; cat /etc/resolv.conf; echo x >> /etc/resolv.conf",
            ],
        );
        let out = output_of(cmd);
        let stdout = text(&out.stdout);
        assert!(
            stdout.lines().any(|l| l.starts_with("default via ")),
            "no default route ({root:?}):\n{}",
            describe(&out)
        );
        assert!(
            stdout.contains(&format!("\nnameserver {forwarder}\n")),
            "resolv.conf doesn't name {forwarder} ({root:?}):\n{}",
            describe(&out)
        );
        // Read-only inside, and the rootfs's file untouched.
        assert!(
            text(&out.stderr).contains("resolv.conf"),
            "{}",
            describe(&out)
        );
    }
    assert_eq!(
        std::fs::read_to_string(rootfs.path().join("etc/resolv.conf")).expect("read it back"),
        ROOTFS_RESOLV
    );
}

// ---------------------------------------------------------------------------------------------
// The helper's life
// ---------------------------------------------------------------------------------------------

/// Starts `sleep` under `--net pasta` with `helper` and returns the sandbox, the helper's
/// process and the temp dir its PATH needs.
fn sandbox_with_helper(helper: Helper) -> (Running, common::ProcessId, Option<TempDir>) {
    let (dir, cmd) = helper.command(&["--net", "pasta"], &["sh", "-c", "echo up; sleep 30"]);
    let mut sandbox = Running::start(cmd);
    sandbox.wait_for_line("up");
    let tree = descendants(sandbox.pid().as_raw());
    let helper = tree
        .iter()
        .find(|p| {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            text(&cmdline).contains("--netns")
        })
        .unwrap_or_else(|| panic!("no helper among the sandbox's processes {tree:?}"))
        .clone();
    (sandbox, helper, dir)
}

/// The helper holds only what it was given: not an fd ns-rootless inherited from its caller
/// (here a directory of the host's, as a shell's `exec 7</` leaves one), and slirp4netns
/// (which has no sandbox of its own here) is behind its seccomp filter, as pasta is.
fn helper_holds_only_its_own_fds(helper: Helper) {
    let (dir, path) = helper.path();
    let mut cmd = common::caller_command(host_tool("sh"));
    cmd.args(["-c", "exec 7</ 8</etc/hostname; exec \"$0\" \"$@\""])
        .arg(binary())
        .args(["-e", SANDBOX_PATH, "--net", "pasta", "--"])
        .args(["sh", "-c", "echo up; sleep 30"])
        .env("PATH", path);
    let mut sandbox = Running::start(cmd);
    sandbox.wait_for_line("up");
    let tree = descendants(sandbox.pid().as_raw());
    let found = tree.iter().find(|p| {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
        text(&cmdline).contains("/ns/net")
    });
    let found = found.unwrap_or_else(|| panic!("no helper among {tree:?}"));
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", found.pid))
        .expect("list the helper's fds (the runner is root, or the caller)")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect();
    let status = std::fs::read_to_string(format!("/proc/{}/status", found.pid)).unwrap_or_default();
    sandbox.signal(Signal::SIGKILL);
    sandbox.finish();
    drop(dir);
    let leaked: Vec<&String> = fds
        .iter()
        .filter(|l| l.ends_with(" -> /") || l.ends_with(" -> /etc/hostname"))
        .collect();
    assert!(
        leaked.is_empty(),
        "{helper:?} inherited {leaked:?} (all: {fds:?})"
    );
    assert!(
        status.lines().any(|l| l == "Seccomp:\t2"),
        "{helper:?} runs without a seccomp filter:\n{status}"
    );
}

/// Waits until `p` has ended (gone, or a zombie waiting for its reaper).
fn assert_gone(p: &common::ProcessId, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some((comm, state)) = process_state(p) {
        if state == 'Z' {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the helper (pid {}, {comm}) is still there",
            p.pid
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn no_helper_survives_the_sandbox(helper: Helper) {
    let (mut sandbox, helper, _dir) = sandbox_with_helper(helper);
    sandbox.signal(Signal::SIGTERM);
    let out = sandbox.finish();
    assert_eq!(out.status.code(), Some(143), "{}", describe(&out));
    assert_gone(&helper, "after the sandbox ended");
}

fn no_helper_survives_sigkill_of_ns_rootless(helper: Helper) {
    let (mut sandbox, helper, _dir) = sandbox_with_helper(helper);
    sandbox.signal(Signal::SIGKILL);
    sandbox.finish();
    assert_gone(&helper, "after SIGKILL of ns-rootless");
}

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

/// `--net none`: the kernel makes `lo` in every network namespace and won't delete it
/// (RTM_DELLINK on a loopback device: EOPNOTSUPP, also for the namespace's owner), so the
/// strongest true version is `lo` alone, down, with no address and no route, and a command
/// without CAP_NET_ADMIN that can't bring it up.
fn net_none_has_only_lo_down_and_unusable(mode: Mode) {
    let out = mode.run(
        &["--net", "none"],
        &[
            "sh",
            "-c",
            "echo links:; ip -o link; echo sys:; ls /sys/class/net; echo addrs:; ip -o addr; \
             echo routes:; ip route; ip -6 route; echo up:; ip link set lo up 2>&1; \
             ip link del lo 2>&1; echo connect:; busybox nc -w 1 127.0.0.1 1 2>&1",
        ],
    );
    let stdout = text(&out.stdout);
    let section = |name: &str| -> Vec<String> {
        stdout
            .split(&format!("{name}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in {}", describe(&out)))
            .lines()
            .take_while(|l| !l.ends_with(':'))
            .map(str::to_owned)
            .collect()
    };
    let links = section("links");
    assert!(
        links.len() == 1 && links[0].starts_with("1: lo: <LOOPBACK> "),
        "{}",
        describe(&out)
    );
    assert_eq!(section("sys"), ["lo"], "{}", describe(&out));
    assert_eq!(section("addrs"), Vec::<String>::new(), "{}", describe(&out));
    assert_eq!(
        section("routes"),
        Vec::<String>::new(),
        "{}",
        describe(&out)
    );
    let up = section("up").join("\n");
    assert!(
        up.matches("Operation not permitted").count() == 2,
        "{}",
        describe(&out)
    );
    assert!(
        section("connect")
            .join("\n")
            .contains("Network is unreachable"),
        "{}",
        describe(&out)
    );
    // The control: the default private network has lo up.
    let out = mode.run(&[], &["ip", "-o", "addr"]);
    assert!(
        text(&out.stdout).contains("127.0.0.1"),
        "{}",
        describe(&out)
    );
}

in_both_modes!(net_none_has_only_lo_down_and_unusable);

#[test]
fn net_none_help_says_why_lo_is_there() {
    let out = output_of(ns_rootless(["--help"]));
    let help = common::normalize_whitespace(&text(&out.stdout));
    assert!(
        help.contains("none (lo down, no address, no route: the kernel won't delete lo)"),
        "{help}"
    );
}

#[test]
fn share_net_is_net_host_and_its_help_warns() {
    let out = output_of(ns_rootless(["--help"]));
    let help = common::normalize_whitespace(&text(&out.stdout));
    assert!(help.contains("abstract unix sockets"), "{help}");
    assert!(
        help.contains("--share-net Same as --net host; leaks"),
        "{help}"
    );
    assert!(help.contains("use --net pasta"), "{help}");
    let inside = |options: &[&str]| {
        let out = Mode::Host.run(options, &["readlink", "/proc/self/ns/net"]);
        assert!(out.status.success(), "{}", describe(&out));
        text(&out.stdout)
    };
    let host = std::fs::read_link("/proc/self/ns/net").expect("readlink our net ns");
    assert_eq!(inside(&["--share-net"]).trim(), path_str(&host));
    assert_eq!(inside(&["--net", "host"]).trim(), path_str(&host));
    assert_ne!(inside(&[]).trim(), path_str(&host));
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

fn refused(cmd: std::process::Command, needles: &[&str]) -> Output {
    let out = output_of(cmd);
    assert_failure_line(&out, 125, needles);
    out
}

#[test]
fn refuses_without_any_helper_naming_the_package() {
    let mut cmd = ns_rootless(["--net", "pasta", "--", "/bin/true"]);
    cmd.env("PATH", "/nonexistent");
    refused(
        cmd,
        &["neither pasta nor slirp4netns is installed", "passt"],
    );
}

#[test]
fn refuses_a_port_already_taken() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let publish = format!("{port}:80");
    let (_dir, cmd) = Helper::Pasta.command(&["-p", &publish], &["true"]);
    refused(
        cmd,
        &[&format!("port {port}/tcp on 127.0.0.1 is already in use")],
    );
}

/// A neighbour who binds one port of a published range after ns-rootless has checked it free
/// (here while a slow pasta starts) must not be left holding it while the sandbox runs as if
/// the whole range were its own: pasta alone skips a port of a range it can't bind.
#[test]
fn a_neighbour_taking_a_port_of_a_range_first_makes_the_run_fail() {
    let dir = TempDir::new("slow-pasta");
    let slow = dir.path().join("pasta");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\nsleep 1\nexec {} \"$@\"\n",
            path_str(&host_tool("pasta"))
        ),
    )
    .expect("write the slow pasta");
    common::set_mode(&slow, 0o755);
    common::set_mode(dir.path(), 0o755);
    let port = loop {
        let p = free_port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let publish = format!("{port}-{}:8080-8081", port + 1);
    let mut cmd = ns_rootless(["-p", &publish, "--", "/bin/echo", "ran"]);
    cmd.env("PATH", format!("{}:{CLEAN_PATH}", path_str(dir.path())));
    let mut sandbox = Running::start(cmd);
    // The neighbour (another uid: the test runner) takes the first port once it was checked.
    thread::sleep(Duration::from_millis(400));
    let neighbour = TcpListener::bind(("127.0.0.1", port));
    let out = sandbox.finish();
    assert!(neighbour.is_ok(), "the port was not free after the check");
    assert_failure_line(&out, 125, &[&port.to_string()]);
    assert!(!text(&out.stdout).contains("ran"), "{}", describe(&out));
}

#[test]
fn refuses_a_privileged_host_port() {
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .expect("read ip_unprivileged_port_start")
        .trim()
        .parse()
        .expect("a port number");
    assert!(
        start > 1,
        "every port is unprivileged on this host: nothing to refuse"
    );
    let (_dir, cmd) = Helper::Pasta.command(&["-p", "1:80"], &["true"]);
    refused(
        cmd,
        &[
            "host port 1 is privileged",
            "net.ipv4.ip_unprivileged_port_start",
        ],
    );
}

#[test]
fn refuses_an_unusable_dev_net_tun() {
    // A root-owned 0600 file over /dev/net/tun, in the mount namespace of in_test_namespace.
    let dir = TempDir::new("tun");
    let fake = dir.path().join("tun");
    std::fs::write(&fake, "").expect("write the stand-in");
    common::set_mode(&fake, 0o600);
    let (_helper_dir, sandbox) = sandbox_in_script(Helper::Pasta);
    let out = in_test_namespace(&format!(
        "mount --bind {fake} /dev/net/tun
        exec {sandbox} --net pasta -- /bin/true",
        fake = path_str(&fake),
    ));
    assert_failure_line(
        &out,
        125,
        &["/dev/net/tun is not usable", "chmod 0666 /dev/net/tun"],
    );
}

#[test]
fn refuses_publish_with_another_mode() {
    let out = output_of(ns_rootless(["--net", "host", "-p", "8080:80", "true"]));
    assert_failure_line(&out, 125, &["publishing ports needs --net pasta"]);
    let out = output_of(ns_rootless(["-p", "8080", "true"]));
    assert_failure_line(&out, 125, &["invalid --publish \"8080\""]);
}

// ---------------------------------------------------------------------------------------------
// Named sandboxes
// ---------------------------------------------------------------------------------------------

#[test]
fn ps_shows_published_ports_and_exec_joins_the_network() {
    let name = format!("net-ps-{}", std::process::id());
    let port = free_port();
    let publish = format!("{port}:8080");
    let out = output_of(ns_rootless([
        "run", "-d", "--name", &name, "-p", &publish, "--", "sleep", "30",
    ]));
    assert!(out.status.success(), "{}", describe(&out));
    let shown = format!("127.0.0.1:{port}->8080/tcp");
    let ps = output_of(ns_rootless(["ps"]));
    let row = text(&ps.stdout)
        .lines()
        .find(|l| l.starts_with(&name))
        .map(str::to_owned);
    let json = output_of(ns_rootless(["ps", "--json"]));
    let exec = output_of(ns_rootless(["exec", &name, "--", "ip", "route"]));
    let _ = output_of(ns_rootless(["rm", "-f", &name]));
    assert!(
        row.as_deref().is_some_and(|r| r.ends_with(&shown)),
        "ps: {}",
        describe(&ps)
    );
    let entries: serde_json::Value = serde_json::from_slice(&json.stdout).expect("ps --json");
    let entry = entries
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == name.as_str()))
        .unwrap_or_else(|| panic!("{}", describe(&json)));
    assert_eq!(entry["ports"], serde_json::json!([shown]));
    assert_eq!(entry["network"], "pasta");
    assert!(
        text(&exec.stdout).contains("default via "),
        "exec: {}",
        describe(&exec)
    );
}

/// A directory holding a stand-in `pasta`: a shell script of `lines` (its PATH is only that
/// directory: it names programs by their paths).
fn fake_pasta(lines: &[&str]) -> TempDir {
    let dir = TempDir::new("fake-pasta");
    let fake = dir.path().join("pasta");
    // Written by another process: no fd open for writing here that a child forked by
    // another test thread could hold while this file is exec'd (ETXTBSY).
    let mut write = runner_command("/bin/sh");
    write
        .args(["-c", "printf '%s\\n' \"$@\" > \"$0\" && chmod 755 \"$0\""])
        .arg(path_str(&fake))
        .arg("#!/bin/sh")
        .args(lines);
    let out = output_of(write);
    assert!(out.status.success(), "{}", describe(&out));
    dir
}

/// A helper that fails before the network is up: its own last words in our one line (its
/// syslog noise skipped), exit 125.
#[test]
fn a_failing_helper_becomes_one_line() {
    let dir = fake_pasta(&[
        "echo 'Failed to send 48 bytes to syslog' >&2",
        "echo \"Couldn't open network namespace /proc/1/ns/net\" >&2",
        "exit 1",
    ]);
    let mut cmd = ns_rootless(["--net", "pasta", "--", "/bin/true"]);
    cmd.env("PATH", path_str(dir.path()));
    refused(
        cmd,
        &["ns-rootless: starting pasta: Couldn't open network namespace /proc/1/ns/net\n"],
    );
}

/// Nothing the sandbox listens on is published unless asked: pasta's own default (`-t auto`)
/// forwards the ports bound inside on all of the host's interfaces. (Debian 12's pasta looks
/// for them only when it starts, before the command runs, so this guards newer builds, which
/// look again every second: without `-t none` it passes here too.)
#[test]
fn unpublished_ports_stay_inside() {
    let port = free_port();
    let serve = format!(
        "mkdir /tmp/www && echo inside > /tmp/www/index.html && \
         busybox httpd -p {port} -h /tmp/www && echo serving && sleep 30"
    );
    let (_dir, cmd) = Helper::Pasta.command(&["--net", "pasta"], &["sh", "-c", &serve]);
    let mut sandbox = Running::start(cmd);
    sandbox.wait_for_line("serving");
    // pasta scans the namespace's bound ports once a second.
    thread::sleep(Duration::from_millis(2500));
    let mut curl = runner_command(host_tool("curl"));
    curl.args([
        "-sS",
        "--max-time",
        "2",
        &format!("http://127.0.0.1:{port}/"),
    ]);
    let out = output_of(curl);
    sandbox.signal(Signal::SIGTERM);
    sandbox.finish();
    assert!(
        !out.status.success() && !text(&out.stdout).contains("inside"),
        "a port the sandbox listens on was reachable from the host without -p:\n{}",
        describe(&out)
    );
}

/// A `pasta` that is a wrapper forking a child of its own (here `tail`, standing for the real
/// pasta) and saying the network is up: when the sandbox ends, the wrapper's child goes too
/// (the helper leads a process group, and the group is killed).
#[test]
fn a_helper_that_forks_leaves_nothing_behind() {
    let dir = fake_pasta(&["/usr/bin/tail -f /dev/null &", "printf up >&3", "wait"]);
    let mut cmd = ns_rootless([
        "-e",
        SANDBOX_PATH,
        "--net",
        "pasta",
        "--",
        "sh",
        "-c",
        "echo up; sleep 30",
    ]);
    cmd.env("PATH", path_str(dir.path()));
    let mut sandbox = Running::start(cmd);
    sandbox.wait_for_line("up");
    let tree = descendants(sandbox.pid().as_raw());
    let child = tree
        .iter()
        .find(|p| process_state(p).is_some_and(|(comm, _)| comm == "tail"))
        .unwrap_or_else(|| panic!("no child of the helper among {tree:?}"))
        .clone();
    sandbox.signal(Signal::SIGTERM);
    let out = sandbox.finish();
    assert_eq!(out.status.code(), Some(143), "{}", describe(&out));
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        match process_state(&child) {
            Some((_, state)) if state != 'Z' && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20))
            }
            Some((_, state)) if state != 'Z' => break true,
            _ => break false,
        }
    };
    if left {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.pid), Signal::SIGKILL);
    }
    assert!(
        !left,
        "the helper's child (pid {}) outlived the sandbox",
        child.pid
    );
}

/// A helper that ends while the sandbox runs (it failed: not the exit 0 of a pasta that saw
/// the namespace go) is news: one line of ours with its last words once the run ends; the
/// command's own exit status stays.
#[test]
fn a_helper_ending_during_the_run_is_said() {
    let shared = TempDir::new("helper-gone");
    common::set_mode(shared.path(), 0o777);
    let gone = shared.path().join("gone");
    let dir = fake_pasta(&[
        "printf up >&3",
        "echo 'pasta: lost the tap device' >&2",
        &format!("/usr/bin/touch {}", path_str(&gone)),
        "exit 3",
    ]);
    // The command waits until the helper is about to end, then a while more.
    let wait = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; sleep 1",
        path_str(&gone)
    );
    let mut cmd = ns_rootless([
        "-e",
        SANDBOX_PATH,
        "--bind",
        path_str(shared.path()),
        "--net",
        "pasta",
        "--",
        "sh",
        "-c",
        &wait,
    ]);
    cmd.env("PATH", path_str(dir.path()));
    let out = output_of(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        text(&out.stderr),
        "ns-rootless: pasta ended while the sandbox ran (pasta: lost the tap device): its \
         network was gone from then on\n",
        "{}",
        describe(&out)
    );
}
