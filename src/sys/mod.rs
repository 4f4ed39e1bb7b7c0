//! The only module with `unsafe`: thin syscall wrappers.
//!
//! Everything here that runs after fork/clone is async-signal-safe: no allocation, no locks, no stdio.
//! Errors are raw errno values so a child can ship them to the parent as `(stage, errno)`.

use nix::libc;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub type Errno = i32;
pub type SysResult<T> = Result<T, Errno>;

fn last_errno() -> Errno {
    nix::errno::Errno::last_raw()
}

/// Turns a `-1`-on-error return value into `Err(errno)`.
fn check(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

fn check_fd(ret: libc::c_long) -> SysResult<OwnedFd> {
    let fd = check(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

mod creds;
mod exec;
mod fds;
mod landlock;
mod mounts;
mod ns;
mod paths;
mod privileges;
mod probes;
mod process;
mod sched;
mod signals;
mod terminal;

pub use creds::*;
pub use exec::*;
pub use fds::*;
pub use landlock::*;
pub use mounts::*;
pub use ns::*;
pub use paths::*;
pub use privileges::*;
pub use probes::*;
pub use process::*;
pub use sched::*;
pub use signals::*;
pub use terminal::*;
