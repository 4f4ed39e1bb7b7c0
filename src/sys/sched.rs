//! The CPU and I/O scheduling of the calling process: sched_setattr(2), ioprio_set(2),
//! sched_setaffinity(2) (an OCI process's `scheduler`, `ioPriority`, `execCPUAffinity`).

use super::{check, SysResult};
use nix::libc;

/// struct sched_attr as sched_setattr(2) takes it (SCHED_ATTR_SIZE_VER0: without the
/// utilization clamps, which a config can't give values for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct SchedAttr {
    size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

impl SchedAttr {
    pub fn new() -> SchedAttr {
        SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            ..Default::default()
        }
    }
}

/// A set of CPUs (as glibc's cpu_set_t: CPUs 0 to 1023).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuMask(pub [u64; 16]);

impl CpuMask {
    pub const CPUS: usize = 1024;

    pub fn set(&mut self, cpu: usize) {
        self.0[cpu / 64] |= 1 << (cpu % 64);
    }
}

/// IOPRIO_WHO_PROCESS (linux/ioprio.h).
const IOPRIO_WHO_PROCESS: libc::c_int = 1;

pub fn set_scheduler(attr: &SchedAttr) -> SysResult<()> {
    // SAFETY: a valid sched_attr whose size field is its own size; pid 0 is the caller.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            attr as *const SchedAttr,
            0 as libc::c_uint,
        )
    })
    .map(drop)
}

/// `ioprio`: (class << 13) | level, as IOPRIO_PRIO_VALUE makes it.
pub fn set_io_priority(ioprio: libc::c_int) -> SysResult<()> {
    // SAFETY: integer arguments only; pid 0 is the caller.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio) }).map(drop)
}

pub fn set_cpu_affinity(mask: &CpuMask) -> SysResult<()> {
    // SAFETY: pointer and byte length of a valid mask; pid 0 is the caller.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of::<CpuMask>(),
            mask.0.as_ptr(),
        )
    })
    .map(drop)
}
