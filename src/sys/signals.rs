//! Signal dispositions and masks, waiting for signals, and sending them.

use super::{check, last_errno, SysResult};
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

/// Blocks `sig` in this process (and the children it creates from now on).
pub fn block_signal(sig: c_int) {
    // SAFETY: sigset operations on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for `start` (or one of `stop`, the signals that end a created container instead);
/// returns which came. All of them must be blocked since before the process was created: the
/// kernel discards a signal sent to a PID namespace's init from outside while it has no handler
/// and doesn't block it. No fd is held while waiting: `start` reaches us through a pidfd.
pub fn wait_for_signal(start: c_int, stop: &[c_int]) -> c_int {
    // SAFETY: sigset operations on a local set; sigwaitinfo with no info buffer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, start);
        for &s in stop {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let sig = libc::sigwaitinfo(&set, std::ptr::null_mut());
            if sig > 0 {
                return sig;
            }
        }
    }
}

/// The signal `start` sends to a created container's init. A fixed kernel number, not
/// `SIGRTMIN() + n`: glibc's SIGRTMIN is 34 and musl's 35, and the `create` and the `start` of
/// one container may be different builds (the static release binary, a debug build). 38 is a
/// real-time signal neither libc reserves.
pub const START_SIGNAL: c_int = 38;

pub fn start_signal() -> c_int {
    START_SIGNAL
}

/// A signal taken by sigwaitinfo from `set` and `extra` (all blocked): (number, si_code,
/// si_pid, the value it was queued with). si_pid is 0 when the sender is outside our PID
/// namespace.
pub fn wait_signal_info(
    set: &nix::sys::signal::SigSet,
    extra: c_int,
) -> SysResult<(c_int, c_int, libc::pid_t, c_int)> {
    // SAFETY: a copy of the set, extended; sigwaitinfo fills our local siginfo; its pid and
    // value are read as the union's queued-signal member, which is what the kernel fills for
    // SI_QUEUE (and zero otherwise).
    unsafe {
        let mut raw: libc::sigset_t = *set.as_ref();
        libc::sigaddset(&mut raw, extra);
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let sig = libc::sigwaitinfo(&raw, &mut info);
        if sig < 0 {
            return Err(last_errno());
        }
        Ok((
            sig,
            info.si_code,
            info.si_pid(),
            info.si_value().sival_ptr as usize as c_int,
        ))
    }
}

/// kill(-1, sig): from a PID namespace's init, every other process of that namespace and of
/// those below it (kill(2)).
pub fn kill_all(sig: c_int) -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::kill(-1, sig) } as libc::c_long).map(drop)
}
