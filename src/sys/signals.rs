//! Signal dispositions and masks.

use nix::libc::{self, c_int};

/// Resets the signals in `ignored` (bit N-1 for signal N, as in /proc/PID/status SigIgn) to
/// their default action. Ignored signals survive execve (signal(7)), so a caller's `nohup` or
/// Rust's own SIGPIPE=ignore must not reach the payload; handled ones are reset by execve.
pub fn reset_ignored_signals(ignored: u64) {
    for sig in 1..=64 {
        if ignored & (1 << (sig - 1)) != 0 {
            // SAFETY: installing SIG_DFL; errors (KILL, STOP, reserved signals) are harmless.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

/// The signals this process ignores (SigIgn in /proc/self/status); all of them if unreadable.
pub fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(u64::MAX)
}

pub fn set_signal_default(sig: c_int) {
    // SAFETY: installing SIG_DFL.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// Sets the blocked signal mask. Only used while single-threaded.
pub fn set_sigmask(set: &nix::sys::signal::SigSet) {
    // SAFETY: valid sigset pointer; single-threaded so sigprocmask is well defined.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, set.as_ref(), std::ptr::null_mut());
    }
}
