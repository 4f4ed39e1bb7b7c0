//! Stage stamps: with `--features stamps`, each stage of a launch writes
//! `ns-rootless-stamp <pid> <stage> <CLOCK_MONOTONIC ns>` to stderr, from whichever process
//! reaches it (the parent, init, the payload just before execve). scripts/stamps.sh runs a
//! launch many times and prints the median time between stages. Without the feature (the
//! default) `stamp` is empty and compiles to nothing.
//!
//! Safe in a cloned child: the line is built in a stack buffer and written with one write(2);
//! nothing is allocated.

#[cfg(feature = "stamps")]
pub fn stamp(stage: &str) {
    let mut buf = [0u8; 128];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        let take = bytes.len().min(buf.len() - n);
        buf[n..n + take].copy_from_slice(&bytes[..take]);
        n += take;
    };
    let now = crate::sys::monotonic_ns();
    put(b"ns-rootless-stamp ");
    put(decimal(&mut [0; 20], u64::from(std::process::id())));
    put(b" ");
    put(stage.as_bytes());
    put(b" ");
    put(decimal(&mut [0; 20], now));
    put(b"\n");
    let _ = crate::sys::write_all(2, &buf[..n]);
}

#[cfg(feature = "stamps")]
fn decimal(digits: &mut [u8; 20], mut v: u64) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &digits[i..];
        }
    }
}

#[cfg(not(feature = "stamps"))]
#[inline(always)]
pub fn stamp(_stage: &str) {}
