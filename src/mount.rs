//! Executes the plan inside the sandbox's mount namespace (runs in init, after clone: syscalls
//! only). Every destination is opened beneath the new root with RESOLVE_IN_ROOT and mounted on
//! through its fd, so a symlink or `..` in a rootfs can't send a mount to the host.

use crate::error::Stage;
use crate::prepared::{Prepared, PreparedAction, PreparedStep, STAGING};
use crate::sys::{self, Errno, SysResult};
use nix::libc;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A failed setup stage: `(stage, step index, errno)`.
pub type Fail = (Stage, u32, Errno);

/// Builds the new root, attached at STAGING, and returns an fd of it.
pub fn build_root(p: &Prepared) -> Result<OwnedFd, Fail> {
    sys::make_root_private().map_err(|e| (Stage::MakePrivate, 0, e))?;
    let tree =
        sys::clone_tree(libc::AT_FDCWD, &p.root, true).map_err(|e| (Stage::CloneRoot, 0, e))?;
    // One syscall makes the whole tree read-only, however many submounts it has.
    sys::set_tree_attrs(tree.as_raw_fd(), p.root_attrs).map_err(|e| (Stage::RootAttrs, 0, e))?;
    sys::attach_at(tree.as_raw_fd(), STAGING).map_err(|e| (Stage::AttachRoot, 0, e))?;
    for (i, step) in p.steps.iter().enumerate() {
        run_step(tree.as_raw_fd(), step).map_err(|e| (Stage::Step, i as u32, e))?;
    }
    Ok(tree)
}

/// pivot_root into `root` and detach the host's tree.
pub fn enter_root(root: &OwnedFd) -> Result<(), Fail> {
    sys::pivot_to(root.as_raw_fd()).map_err(|(detaching, e)| {
        let stage = if detaching {
            Stage::DetachOldRoot
        } else {
            Stage::PivotRoot
        };
        (stage, 0, e)
    })
}

/// Opens a step's destination; refuses a symlink unless the step may follow one.
fn open_destination(root: RawFd, step: &PreparedStep) -> SysResult<OwnedFd> {
    let nofollow = if step.follow { 0 } else { libc::O_NOFOLLOW };
    let fd = sys::open_in_root(root, &step.rel, libc::O_PATH | nofollow, 0)?;
    if !step.follow && sys::is_symlink(fd.as_raw_fd())? {
        return Err(libc::ELOOP);
    }
    Ok(fd)
}

fn open_parent(root: RawFd, step: &PreparedStep) -> SysResult<OwnedFd> {
    sys::open_in_root(root, &step.parent, libc::O_PATH | libc::O_DIRECTORY, 0)
}

fn run_step(root: RawFd, step: &PreparedStep) -> SysResult<()> {
    match &step.action {
        PreparedAction::Mount {
            fstype,
            options,
            attrs,
        } => {
            let dst = match open_destination(root, step) {
                Err(libc::ENOENT) if step.if_exists => return Ok(()),
                r => r?,
            };
            let mnt = sys::new_mount(fstype, options, *attrs)?;
            sys::attach(mnt.as_raw_fd(), dst.as_raw_fd())
        }
        PreparedAction::Device { host } => {
            // The source is the host's device node, looked up before pivot_root.
            let src = sys::clone_tree(libc::AT_FDCWD, host, false)?;
            let dst = sys::open_in_root(
                root,
                &step.rel,
                libc::O_CREAT | libc::O_EXCL | libc::O_RDONLY | libc::O_NOFOLLOW,
                0o666,
            )?;
            sys::attach(src.as_raw_fd(), dst.as_raw_fd())
        }
        PreparedAction::Mkdir { mode } => {
            let parent = open_parent(root, step)?;
            match sys::mkdirat(parent.as_raw_fd(), &step.name, *mode) {
                Err(libc::EEXIST) => Ok(()),
                r => r,
            }
        }
        PreparedAction::Symlink { target } => {
            let parent = open_parent(root, step)?;
            sys::symlinkat(target, parent.as_raw_fd(), &step.name)
        }
    }
}
