//! Which signals ns-rootless and the sandbox's init handle. Both block them (before clone, so
//! none is lost during setup) and take them with sigwait: no handlers, no async-signal races.
//! No handler exists anywhere in the process (main.rs skips std's runtime start, which would
//! install SIGSEGV and SIGBUS ones on an alternate stack): the payload relies on it, as it
//! runs in init's memory until execve, where a handler would run on init's stacks.

use crate::sys;
use nix::libc;
use nix::sys::signal::{SigSet, Signal};

/// Forwarded from ns-rootless to init, and from init to the payload.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The forwarded signals plus SIGCHLD.
pub fn handled() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Before creating children: block the handled signals, so none is lost until the supervising
/// loop takes them from a signalfd, and make sure SIGCHLD isn't ignored (a caller that ignores
/// it would make our children vanish unreaped).
pub fn take_over() {
    sys::set_signal_default(libc::SIGCHLD);
    sys::set_sigmask(&handled());
}
