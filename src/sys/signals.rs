//! Signal dispositions and masks.

use nix::libc::{self, c_int};

/// Resets the signals in `signals` (bit N-1 for signal N, as in /proc/PID/status SigIgn) to
/// their default action. Ignored signals survive execve (signal(7)), so a caller's `nohup` or
/// our own SIGPIPE=ignore must not reach the payload; handled ones are reset by execve.
pub fn reset_signals(signals: u64) {
    for sig in 1..=64 {
        if signals & (1 << (sig - 1)) != 0 {
            // SAFETY: installing SIG_DFL; errors (KILL, STOP, reserved signals) are harmless.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

/// The ignored signals in a /proc/PID/status text (SigIgn); all of them if it can't be read.
pub fn ignored_signals_in(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
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
