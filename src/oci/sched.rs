//! An OCI process's CPU and I/O scheduling (config.md `scheduler`, `ioPriority`,
//! `execCPUAffinity`), rendered for sched_setattr(2), ioprio_set(2) and sched_setaffinity(2),
//! which the process calls just before its execve (launch::finish_process).

use crate::error::{quote, Stage};
use crate::oci::config::Process;
use crate::sys::{CpuMask, SchedAttr};
use anyhow::{bail, Result};
use nix::libc;

/// `process.scheduler` as a sched_attr.
pub fn scheduler(process: &Process) -> Result<Option<Box<SchedAttr>>> {
    let Some(s) = &process.scheduler else {
        return Ok(None);
    };
    let mut attr = SchedAttr::new();
    attr.policy = match s.policy.as_str() {
        "SCHED_OTHER" => libc::SCHED_OTHER,
        "SCHED_FIFO" => libc::SCHED_FIFO,
        "SCHED_RR" => libc::SCHED_RR,
        "SCHED_BATCH" => libc::SCHED_BATCH,
        "SCHED_IDLE" => libc::SCHED_IDLE,
        "SCHED_DEADLINE" => 6,
        "SCHED_ISO" => bail!("unsupported process.scheduler.policy SCHED_ISO: Linux has none"),
        other => bail!("invalid process.scheduler.policy {}", quote(other)),
    } as u32;
    if !(-20..=19).contains(&s.nice) {
        bail!(
            "invalid process.scheduler.nice {}: must be -20 to 19",
            s.nice
        );
    }
    let realtime = matches!(s.policy.as_str(), "SCHED_FIFO" | "SCHED_RR");
    match (realtime, s.priority) {
        (true, 1..=99) | (false, 0) => {}
        _ => bail!(
            "invalid process.scheduler.priority {}: SCHED_FIFO and SCHED_RR take 1 to 99, the \
             other policies 0",
            s.priority
        ),
    }
    attr.nice = s.nice;
    attr.priority = s.priority as u32;
    for flag in &s.flags {
        attr.flags |= match flag.as_str() {
            "SCHED_FLAG_RESET_ON_FORK" => 0x01,
            "SCHED_FLAG_RECLAIM" => 0x02,
            "SCHED_FLAG_DL_OVERRUN" => 0x04,
            "SCHED_FLAG_KEEP_POLICY" => 0x08,
            "SCHED_FLAG_KEEP_PARAMS" => 0x10,
            "SCHED_FLAG_UTIL_CLAMP_MIN" | "SCHED_FLAG_UTIL_CLAMP_MAX" => bail!(
                "unsupported process.scheduler.flags {}: the config gives no clamp value",
                quote(flag)
            ),
            other => bail!("invalid process.scheduler.flags {}", quote(other)),
        };
    }
    attr.runtime = s.runtime;
    attr.deadline = s.deadline;
    attr.period = s.period;
    Ok(Some(Box::new(attr)))
}

/// `process.ioPriority` as ioprio_set(2)'s value (IOPRIO_PRIO_VALUE(class, level)).
pub fn io_priority(process: &Process) -> Result<Option<i32>> {
    let Some(p) = &process.io_priority else {
        return Ok(None);
    };
    let class = match p.class.as_str() {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        other => bail!("invalid process.ioPriority.class {}", quote(other)),
    };
    if !(0..=7).contains(&p.priority) {
        bail!(
            "invalid process.ioPriority.priority {}: must be 0 to 7",
            p.priority
        );
    }
    Ok(Some(class << 13 | p.priority))
}

/// A CPU list ("0-3,7") of `process.execCPUAffinity.<what>`.
pub fn cpu_list(what: &str, text: &str) -> Result<CpuMask> {
    let bad = |why: &str| -> Result<CpuMask> {
        bail!(
            "invalid process.execCPUAffinity.{what} {}: {why}",
            quote(text)
        )
    };
    let cpu = |n: &str| n.trim().parse::<usize>().ok();
    let mut mask = CpuMask::default();
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (cpu(a), cpu(b)),
            None => (cpu(part), cpu(part)),
        };
        let (Some(first), Some(last)) = (first, last) else {
            return bad("use CPU numbers and ranges, as in 0-3,7");
        };
        if first > last || last >= CpuMask::CPUS {
            return bad("a range runs from a lower CPU to a higher one, below 1024");
        }
        (first..=last).for_each(|c| mask.set(c));
    }
    Ok(mask)
}

/// What to do about a scheduling call the kernel refused (EPERM).
pub fn hint(stage: Stage, errno: i32) -> Option<String> {
    if errno != libc::EPERM {
        return None;
    }
    match stage {
        Stage::Scheduler => Some(
            "a realtime or deadline policy, or a nice value below the current one, needs \
             CAP_SYS_NICE in the host's initial user namespace (or RLIMIT_RTPRIO/RLIMIT_NICE \
             in process.rlimits allowing it), which a rootless container doesn't have"
                .into(),
        ),
        Stage::IoPriority => Some(
            "IOPRIO_CLASS_RT needs CAP_SYS_ADMIN or CAP_SYS_NICE in the host's initial user \
             namespace, which a rootless container doesn't have"
                .into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::config::{IoPriority, Scheduler};

    #[test]
    fn cpu_lists_become_masks() {
        let m = cpu_list("final", "0-2,7, 64").unwrap();
        assert_eq!(m.0[0], 0b1000_0111);
        assert_eq!(m.0[1], 1);
        for bad in ["", "3-1", "1024", "a", "1-", "0,,1"] {
            let err = cpu_list("final", bad).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid process.execCPUAffinity.final"),
                "{err}"
            );
        }
    }

    #[test]
    fn scheduler_and_io_priority_are_checked() {
        let with = |policy: &str, nice: i32, priority: i32| Process {
            scheduler: Some(Scheduler {
                policy: policy.into(),
                nice,
                priority,
                ..Default::default()
            }),
            ..Default::default()
        };
        let attr = scheduler(&with("SCHED_BATCH", 5, 0)).unwrap().unwrap();
        assert_eq!((attr.policy, attr.nice), (libc::SCHED_BATCH as u32, 5));
        assert_eq!(
            scheduler(&with("SCHED_FIFO", 0, 10))
                .unwrap()
                .unwrap()
                .priority,
            10
        );
        assert!(scheduler(&with("SCHED_FIFO", 0, 0)).is_err());
        assert!(scheduler(&with("SCHED_OTHER", 0, 3)).is_err());
        assert!(scheduler(&with("SCHED_OTHER", 20, 0)).is_err());
        assert!(scheduler(&with("SCHED_ISO", 0, 0)).is_err());
        let io = |class: &str, priority: i32| Process {
            io_priority: Some(IoPriority {
                class: class.into(),
                priority,
            }),
            ..Default::default()
        };
        assert_eq!(
            io_priority(&io("IOPRIO_CLASS_BE", 6)).unwrap(),
            Some(2 << 13 | 6)
        );
        assert!(io_priority(&io("IOPRIO_CLASS_BE", 8)).is_err());
        assert!(io_priority(&io("BE", 1)).is_err());
    }
}
