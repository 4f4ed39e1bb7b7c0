//! The supervising process over a long run: its memory stays flat. (The global allocator is
//! a bump arena that keeps blocks freed out of order until exit, src/arena.rs; the relay's
//! loop must not grow it.)

#[allow(dead_code)]
#[macro_use]
mod common;

use std::io::Read;
use std::process::Stdio;

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in status")
}

/// Reads `out` until `marker` has gone by (it is ASCII among NUL bytes).
fn read_past(out: &mut impl Read, marker: &[u8], seen: &mut u64) {
    let mut buf = vec![0u8; 1 << 16];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = out.read(&mut buf).expect("read the relay's output");
        assert!(n > 0, "the output ended before {marker:?}");
        *seen += n as u64;
        tail.extend_from_slice(&buf[..n]);
        if tail.windows(marker.len()).any(|w| w == marker) {
            return;
        }
        let keep = tail.len().saturating_sub(marker.len());
        tail.drain(..keep);
    }
}

#[test]
fn a_pty_relay_of_hundreds_of_mib_leaves_the_supervisors_rss_flat() {
    let mut child = common::ns_rootless([
        "-t",
        "--",
        "sh",
        "-c",
        "head -c 16777216 /dev/zero; echo FIRST-MARK; head -c 268435456 /dev/zero; \
         echo SECOND-MARK; sleep 30",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start ns-rootless");
    // setpriv execs the binary: the child is the supervisor.
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = 0;
    read_past(&mut out, b"FIRST-MARK", &mut seen);
    let before = vm_rss_kib(pid);
    read_past(&mut out, b"SECOND-MARK", &mut seen);
    let after = vm_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen > 256 << 20, "only {seen} bytes came through the relay");
    // Flat, not to the page: code paths first taken during the relay fault in a few pages
    // (68 KiB seen with the debug build). A per-read leak would show in MiB (4096 reads of 64
    // KiB): even 128 bytes a read is 512 KiB.
    assert!(
        after <= before + 512,
        "the supervisor grew from {before} KiB to {after} KiB over 256 MiB of relayed output"
    );
}
