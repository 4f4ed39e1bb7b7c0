//! What only an OCI container's init does, its lifecycle (`Launch`: the namespaces it joins,
//! its hooks, the exec fifo, the wait for `start`), rendered before clone; and an OCI
//! process's last steps (`finish_process`, after clone: syscalls only).

use crate::error::Stage;
use crate::sys::{self, Errno};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// An OCI init's lifecycle, beside the sandbox and process every front end's init gets.
pub struct Launch {
    /// startContainer hooks, run by init after `start`, inside the container.
    pub start_hooks: Vec<StartHook>,
    /// createContainer hooks, run by init in the container's namespaces before pivot_root.
    pub create_hooks: Vec<StartHook>,
    /// Whether `create` runs prestart/createRuntime hooks, which init waits for before it runs
    /// the createContainer ones and pivots (runtime.md's order).
    pub runtime_hooks: bool,
    /// Whether init makes the container's cgroup namespace itself, once `create` has moved it
    /// into the container's cgroup (whose root the namespace then shows as /), as runc does.
    pub late_cgroup_ns: bool,
    /// Init's write end of the exec fifo (exec_fifo.rs), set by `create`.
    pub exec_fifo: Option<OwnedFd>,
    /// config.json has no `process`: init looks up nothing and is killed by `start`.
    pub no_process: bool,
    /// config.json `domainname`, set in the container's UTS namespace (empty: left as it is).
    pub domainname: Vec<u8>,
}

/// A hook rendered for init: its path (resolved where init runs it: the runtime's mount tree
/// for createContainer, the container's for startContainer) and its argv and envp.
pub struct StartHook {
    pub path: CString,
    pub argv: crate::prepared::CStrArray,
    pub envp: crate::prepared::CStrArray,
    /// Seconds before it is killed and has failed; 0: none.
    pub timeout_s: u32,
}

/// The largest state document passed to startContainer hooks (it waits in the handshake pipe,
/// whose capacity is 64 KiB, from `create` until `start`).
pub const STATE_MAX: usize = 16 * 1024;

impl StartHook {
    pub fn prepare(kind: &str, hook: &crate::oci::config::Hook) -> anyhow::Result<StartHook> {
        use crate::prepared::{cstring, CStrArray};
        if !hook.path.starts_with('/') {
            anyhow::bail!(
                "invalid hooks.{kind} path {}: must be absolute",
                crate::error::quote(&hook.path)
            );
        }
        if hook.timeout.is_some_and(|t| t <= 0) {
            anyhow::bail!("invalid hooks.{kind} timeout: must be greater than zero");
        }
        let argv = if hook.args.is_empty() {
            vec![cstring(hook.path.as_bytes())?]
        } else {
            hook.args
                .iter()
                .map(|a| cstring(a.as_bytes()))
                .collect::<anyhow::Result<_>>()?
        };
        let envp = hook
            .env
            .iter()
            .map(|e| cstring(e.as_bytes()))
            .collect::<anyhow::Result<_>>()?;
        Ok(StartHook {
            path: cstring(hook.path.as_bytes())?,
            argv: CStrArray::new(argv),
            envp: CStrArray::new(envp),
            // Beyond u32::MAX s (136 years) is as good as never, not cut to a short one.
            timeout_s: hook
                .timeout
                .filter(|&t| t > 0)
                .map_or(0, |t| t.min(u32::MAX as i64) as u32),
        })
    }
}

/// The states init's hooks get on stdin, written by `create` into the handshake pipe after
/// MAPPED: for the createContainer hooks ("creating") and the startContainer ones ("created").
pub struct HookStates {
    for_create: [u8; STATE_MAX],
    for_create_len: usize,
    for_start: [u8; STATE_MAX],
    for_start_len: usize,
}

impl HookStates {
    pub const fn new() -> HookStates {
        HookStates {
            for_create: [0; STATE_MAX],
            for_create_len: 0,
            for_start: [0; STATE_MAX],
            for_start_len: 0,
        }
    }

    /// Init: reads both (length-prefixed) from the handshake pipe.
    pub fn read(&mut self, go_read: RawFd) -> Result<(), sys::Errno> {
        for (buf, len) in [
            (&mut self.for_create, &mut self.for_create_len),
            (&mut self.for_start, &mut self.for_start_len),
        ] {
            let mut n = [0u8; 4];
            sys::read_exact(go_read, &mut n)?;
            *len = (u32::from_ne_bytes(n) as usize).min(STATE_MAX);
            sys::read_exact(go_read, &mut buf[..*len])?;
        }
        Ok(())
    }

    pub fn for_create_container(&self) -> &[u8] {
        &self.for_create[..self.for_create_len]
    }

    pub fn for_start_container(&self) -> &[u8] {
        &self.for_start[..self.for_start_len]
    }
}

/// Init: runs `hooks` in order, each given `state` on stdin. Err(index of the failing hook,
/// its errno, or minus its exit status).
pub fn run_hooks(hooks: &[StartHook], state: &[u8]) -> Result<(), (usize, i32)> {
    for (i, hook) in hooks.iter().enumerate() {
        match sys::run_hook(
            &hook.path,
            hook.argv.as_ptr(),
            hook.envp.as_ptr(),
            state,
            hook.timeout_s,
        ) {
            Ok(0) => {}
            Ok(code) => return Err((i, -code)),
            Err(e) => return Err((i, e)),
        }
    }
    Ok(())
}

impl Launch {
    /// Whether `create` passes init the states for its hooks.
    pub fn needs_states(&self) -> bool {
        !self.create_hooks.is_empty() || !self.start_hooks.is_empty()
    }

    /// Whether init keeps the handshake pipe open after MAPPED: for the states, or to wait for
    /// the createRuntime hooks.
    pub fn keeps_go_pipe(&self) -> bool {
        self.needs_states() || self.runtime_hooks
    }

    /// Every fd init keeps besides its handshake ends: the `preserve_fds` preserved ones, the
    /// namespaces to join and the exec fifo.
    pub fn kept_fds(&self, preserve_fds: u32, joins: &[crate::prepared::Join]) -> Vec<RawFd> {
        let mut keep: Vec<RawFd> = (3..3 + preserve_fds as RawFd).collect();
        keep.extend(joins.iter().map(|j| j.fd.as_raw_fd()));
        keep.extend(self.exec_fifo.as_ref().map(|fd| fd.as_raw_fd()));
        keep
    }
}

/// Init, right after the maps: joins the configured namespaces, writes the sandbox's sysctls
/// (in the namespaces they belong to, which are ours now) and the process's oom_score_adj
/// (which it inherits).
pub fn prepare_init(p: &crate::prepared::Prepared, o: &Launch) -> Result<(), (Stage, u32, Errno)> {
    for (i, j) in p.joins.iter().enumerate() {
        sys::setns(j.fd.as_raw_fd(), j.nstype).map_err(|e| (Stage::JoinNamespace, i as u32, e))?;
        sys::close(j.fd.as_raw_fd());
    }
    if o.late_cgroup_ns {
        sys::unshare_cgroup().map_err(|e| (Stage::JoinNamespace, p.joins.len() as u32, e))?;
    }
    if !o.domainname.is_empty() {
        sys::setdomainname(&o.domainname).map_err(|e| (Stage::Domainname, 0, e))?;
    }
    for (i, (path, value)) in p.sysctls.iter().enumerate() {
        sys::write_file(path, value).map_err(|e| (Stage::Sysctl, i as u32, e))?;
    }
    if let Some(adj) = p
        .process
        .oci
        .as_ref()
        .and_then(|o| o.oom_score_adj.as_ref())
    {
        sys::write_file(c"/proc/self/oom_score_adj", adj)
            .map_err(|e| (Stage::OomScoreAdj, 0, e))?;
    }
    Ok(())
}

/// The process's last steps before execve, in runc's order: without no_new_privs, installing
/// a seccomp filter needs CAP_SYS_ADMIN, so it comes before the capabilities are dropped;
/// with it, it comes last so that the filter needn't allow our own setup calls.
pub fn finish_process(o: &crate::spec::OciLockdown) -> Result<(), (Stage, Errno)> {
    let seccomp = || match &o.seccomp {
        Some(program) => sys::install_seccomp(program).map_err(|e| (Stage::Seccomp, e)),
        None => Ok(()),
    };
    if !o.own_pid_ns {
        sys::kill_me_with_parent().map_err(|e| (Stage::Handshake, e))?;
    }
    if !o.no_new_privs {
        seccomp()?;
    }
    for &(resource, soft, hard) in &o.rlimits {
        sys::set_rlimit(resource, soft, hard).map_err(|e| (Stage::Limit, e))?;
    }
    // After the rlimits: RLIMIT_NICE and RLIMIT_RTPRIO say what an unprivileged process may
    // ask for (sched(7)).
    if let Some(attr) = &o.scheduler {
        sys::set_scheduler(attr).map_err(|e| (Stage::Scheduler, e))?;
    }
    if let Some(ioprio) = o.io_priority {
        sys::set_io_priority(ioprio).map_err(|e| (Stage::IoPriority, e))?;
    }
    if let Some(mask) = &o.cpu_affinity {
        sys::set_cpu_affinity(mask).map_err(|e| (Stage::CpuAffinity, e))?;
    }
    sys::limit_bounding_set(o.caps.bounding).map_err(|e| (Stage::Capabilities, e))?;
    sys::become_ids(o.uid, o.gid, &o.groups, o.set_groups).map_err(|e| (Stage::Ids, e))?;
    let c = o.caps;
    sys::set_capabilities(c.effective, c.permitted, c.inheritable, c.ambient)
        .map_err(|e| (Stage::Capabilities, e))?;
    if o.no_new_privs {
        sys::set_no_new_privs().map_err(|e| (Stage::NoNewPrivs, e))?;
        seccomp()?;
    }
    Ok(())
}
