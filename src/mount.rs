//! Executes the plan inside the sandbox's mount namespace (runs in init, after clone: syscalls
//! only). Every destination is opened beneath the new root with RESOLVE_IN_ROOT and mounted on
//! through its fd, so a symlink or `..` planted in a rootfs or a bind source can't send a mount,
//! or a created mount point, to the host (CVE-2021-30465 class).

use crate::error::Stage;
use crate::prepared::{Prepared, PreparedAction, PreparedStep, STAGING};
use crate::sys::{self, Errno, SysResult, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use nix::libc;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A failed setup stage: `(stage, step index, errno)`.
pub type Fail = (Stage, u32, Errno);

/// Builds the new root, stacked on the host's `/`, and returns an fd of it.
pub fn build_root(p: &Prepared) -> Result<OwnedFd, Fail> {
    sys::make_root_private().map_err(|e| (Stage::MakePrivate, 0, e))?;
    let root = sys::new_mount(
        c"tmpfs",
        &p.root_options,
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
    .map_err(|e| (Stage::RootTmpfs, 0, e))?;
    sys::attach_at(root.as_raw_fd(), STAGING).map_err(|e| (Stage::AttachRoot, 0, e))?;
    for (i, step) in p.steps.iter().enumerate() {
        run_step(root.as_raw_fd(), step).map_err(|(stage, e)| (stage, i as u32, e))?;
    }
    // Nothing more is created at the top level: `/` itself is read-only like a real root.
    sys::set_mount_attrs(root.as_raw_fd(), MOUNT_ATTR_RDONLY, false)
        .map_err(|e| (Stage::RootReadOnly, 0, e))?;
    Ok(root)
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

fn run_step(root: RawFd, step: &PreparedStep) -> Result<(), (Stage, Errno)> {
    let at_step = |e| (Stage::Step, e);
    let at_mount_point = |e| (Stage::MountPoint, e);
    match &step.action {
        PreparedAction::Mount {
            fstype,
            options,
            attrs,
        } => {
            let Some(dst) = ensure(root, step, true).map_err(at_mount_point)? else {
                return Ok(());
            };
            let mnt = sys::new_mount(fstype, options, *attrs).map_err(at_step)?;
            sys::attach(mnt.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Bind { src, attrs, dir } => {
            // The source is a host path, resolved before pivot_root (see STAGING).
            let tree = sys::clone_tree(libc::AT_FDCWD, src, true).map_err(at_step)?;
            let Some(dst) = ensure(root, step, *dir).map_err(at_mount_point)? else {
                return Ok(());
            };
            // Recursive: every submount of a read-only bind is read-only too.
            sys::set_mount_attrs(tree.as_raw_fd(), *attrs, true).map_err(at_step)?;
            sys::attach(tree.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Dir => ensure(root, step, true).map(drop).map_err(at_step),
        PreparedAction::ReadOnly => {
            let Some(dst) = ensure(root, step, true).map_err(at_mount_point)? else {
                return Ok(());
            };
            let tree = sys::clone_tree_at(dst.as_raw_fd()).map_err(at_step)?;
            let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            sys::set_mount_attrs(tree.as_raw_fd(), attrs, true).map_err(at_step)?;
            sys::attach(tree.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Symlink { target } => {
            let Some(((parent, name), parents)) = step.chain.split_last() else {
                return Err((Stage::Step, libc::EINVAL));
            };
            make_chain(root, parents).map_err(at_mount_point)?;
            let dir = open_dir(root, parent).map_err(at_step)?;
            sys::symlinkat(target, dir.as_raw_fd(), name).map_err(at_step)
        }
    }
}

fn open_dir(root: RawFd, rel: &std::ffi::CStr) -> SysResult<OwnedFd> {
    sys::open_in_root(root, rel, libc::O_PATH | libc::O_DIRECTORY, 0)
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

/// `mkdir -p` along `chain`, each directory created beneath the root.
fn make_chain(root: RawFd, chain: &[(std::ffi::CString, std::ffi::CString)]) -> SysResult<()> {
    for (parent, name) in chain {
        let dir = open_dir(root, parent)?;
        match sys::mkdirat(dir.as_raw_fd(), name, 0o755) {
            Ok(()) | Err(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens the destination, creating it (a directory, or an empty file to bind a file on) and its
/// parents when missing. `None`: missing, and the step applies only to what exists.
fn ensure(root: RawFd, step: &PreparedStep, dir: bool) -> SysResult<Option<OwnedFd>> {
    // A top-level directory (most steps): create it right in the root, whose fd we hold; a
    // single name can't lead anywhere else, and an existing symlink is refused just below.
    if dir && !step.if_exists && step.chain.len() == 1 {
        match sys::mkdirat(root, &step.chain[0].1, 0o755) {
            Ok(()) | Err(libc::EEXIST) => return open_destination(root, step).map(Some),
            Err(e) => return Err(e),
        }
    }
    match open_destination(root, step) {
        Ok(fd) => return Ok(Some(fd)),
        Err(libc::ENOENT) if step.if_exists => return Ok(None),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let Some(((parent, name), parents)) = step.chain.split_last() else {
        return Err(libc::EINVAL);
    };
    make_chain(root, parents)?;
    let parent = open_dir(root, parent)?;
    let made = if dir {
        sys::mkdirat(parent.as_raw_fd(), name, 0o755)
    } else {
        sys::create_file_at(parent.as_raw_fd(), name)
    };
    match made {
        Ok(()) | Err(libc::EEXIST) => {}
        Err(e) => return Err(e),
    }
    open_destination(root, step).map(Some)
}
