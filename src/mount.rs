//! Executes the plan inside the sandbox's mount namespace (runs in init, after clone: syscalls
//! only). Every destination is opened beneath the new root with RESOLVE_IN_ROOT and mounted on
//! through its fd, so a symlink or `..` planted in a rootfs or a bind source can't send a mount,
//! or a created mount point, to the host (CVE-2021-30465 class).

use crate::error::Stage;
use crate::prepared::{
    OverlayOptions, Prepared, PreparedAction, PreparedRoot, PreparedStep, HIDDEN, MASK_ATTRS,
    SCRATCH_ATTRS, SCRATCH_UPPER, SCRATCH_WORK, STAGING,
};
use crate::sys::{self, Errno, SysResult, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use nix::libc;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A failed setup stage: `(stage, step index, errno)`.
pub type Fail = (Stage, u32, Errno);

/// The errno with which we refuse to create a mount point on a filesystem that isn't the
/// sandbox's own (the parent word it as such).
pub const NOT_OURS: Errno = libc::EXDEV;

/// The filesystems the sandbox mounted itself (tmpfs): the only places where missing mount
/// points may be created. Anywhere else is a directory of the host (a read-write bind, a
/// rootfs), where we create nothing. A fixed array: no allocation after clone.
struct Owned {
    devs: [u64; 64],
    len: usize,
}

impl Owned {
    fn add(&mut self, mnt: RawFd) {
        if let (Ok(dev), true) = (sys::device_of(mnt), self.len < self.devs.len()) {
            self.devs[self.len] = dev;
            self.len += 1;
        }
    }

    fn check(&self, dir: RawFd) -> SysResult<()> {
        let dev = sys::device_of(dir)?;
        if self.devs[..self.len].contains(&dev) {
            Ok(())
        } else {
            Err(NOT_OURS)
        }
    }
}

/// Builds the new root, stacked on the host's `/`, and returns an fd of it.
///
/// The root is the scratch tmpfs itself. Its other directories (/tmp, /dev, the masks) are made
/// in the directory that proc is then mounted on (HIDDEN), and each is mounted where it belongs
/// as a clone of its own: hidden under /proc, they can't be reached from the sandbox (a payload
/// can't unmount our proc, and a copy of it in a namespace of its own is locked). A separate
/// detached scratch mount would cost an unmount and an RCU grace period of its own when dropped.
pub fn build_root(p: &Prepared) -> Result<OwnedFd, Fail> {
    sys::make_root_private().map_err(|e| (Stage::MakePrivate, 0, e))?;
    // An OCI bundle's rootfs is the root itself: its config says what to mount where.
    if let Some(oci) = &p.oci {
        return bundle_root(p, oci);
    }
    let tmpfs = sys::new_mount(c"tmpfs", &p.scratch_options, SCRATCH_ATTRS)
        .map_err(|e| (Stage::RootTmpfs, 0, e))?;
    sys::mkdirat(tmpfs.as_raw_fd(), HIDDEN, 0o755).map_err(|e| (Stage::RootTmpfs, 0, e))?;
    let scratch = open_dir(tmpfs.as_raw_fd(), HIDDEN)
        .map(Scratch)
        .map_err(|e| (Stage::RootTmpfs, 0, e))?;
    let mut owned = Owned {
        devs: [0; 64],
        len: 0,
    };
    owned.add(tmpfs.as_raw_fd());
    let root = match &p.root {
        PreparedRoot::Tmpfs => {
            sys::attach_at(tmpfs.as_raw_fd(), STAGING).map_err(|e| (Stage::AttachRoot, 0, e))?;
            tmpfs
        }
        PreparedRoot::Overlay { options } => {
            // The lowers are named through this fd: opened before clone, it would lead into
            // the parent's mount namespace, whose mounts overlayfs refuses as layers (EINVAL).
            if let Some((fd, path)) = &p.layers_fd {
                sys::open_dir_as(path, fd.as_raw_fd()).map_err(|e| (Stage::RootOverlay, 0, e))?;
            }
            let root = overlay_root(tmpfs, options)?;
            owned.add(root.as_raw_fd());
            root
        }
    };
    for (i, step) in p.steps.iter().enumerate() {
        run_step(root.as_raw_fd(), Some(&scratch), step, &mut owned)
            .map_err(|(stage, e)| (stage, i as u32, e))?;
    }
    // Nothing more is created at the top level: `/` itself is read-only like a real root. (An
    // image's root stays writable, like a container's: its writes go to the scratch tmpfs.)
    if matches!(p.root, PreparedRoot::Tmpfs) {
        sys::set_mount_attrs(root.as_raw_fd(), MOUNT_ATTR_RDONLY, false)
            .map_err(|e| (Stage::RootReadOnly, 0, e))?;
    }
    Ok(root)
}

/// An OCI container's root: the bundle's rootfs bound onto itself (every submount kept), with
/// no scratch directories; read-only only when its config says `root.readonly`. Mount points
/// may be created in it (it is the container's own tree, as runc does).
fn bundle_root(p: &Prepared, oci: &crate::oci::launch::Launch) -> Result<OwnedFd, Fail> {
    let root = sys::clone_path(&oci.rootfs, true).map_err(|e| (Stage::RootTmpfs, 0, e))?;
    sys::attach_at(root.as_raw_fd(), STAGING).map_err(|e| (Stage::AttachRoot, 0, e))?;
    let mut owned = Owned {
        devs: [0; 64],
        len: 0,
    };
    owned.add(root.as_raw_fd());
    for (i, step) in p.steps.iter().enumerate() {
        run_step(root.as_raw_fd(), None, step, &mut owned)
            .map_err(|(stage, e)| (stage, i as u32, e))?;
    }
    if oci.root_readonly {
        sys::set_mount_attrs(root.as_raw_fd(), MOUNT_ATTR_RDONLY, false)
            .map_err(|e| (Stage::RootReadOnly, 0, e))?;
    }
    Ok(root)
}

/// The root as an overlay (an image's layers): its upper and work directories, unless a
/// session gives its own, are on the scratch tmpfs, named relative to our working directory
/// (built before clone, no path to render here). The scratch tmpfs then goes on the root's
/// /proc, where proc hides it like in the tmpfs model.
fn overlay_root(tmpfs: OwnedFd, options: &OverlayOptions) -> Result<OwnedFd, Fail> {
    let fail = |e| (Stage::RootOverlay, 0, e);
    sys::mkdirat(tmpfs.as_raw_fd(), SCRATCH_UPPER, 0o755).map_err(fail)?;
    sys::mkdirat(tmpfs.as_raw_fd(), SCRATCH_WORK, 0o755).map_err(fail)?;
    sys::fchdir(tmpfs.as_raw_fd()).map_err(fail)?;
    let root = new_overlay(options).map_err(fail)?;
    sys::attach_at(root.as_raw_fd(), STAGING).map_err(|e| (Stage::AttachRoot, 0, e))?;
    match sys::mkdirat(root.as_raw_fd(), HIDDEN, 0o755) {
        Ok(()) | Err(libc::EEXIST) => {}
        Err(e) => return Err(fail(e)),
    }
    // A symlinked /proc is refused (O_NOFOLLOW): nothing is mounted through one.
    let proc_dir = sys::open_in_root(
        root.as_raw_fd(),
        HIDDEN,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
    .map_err(fail)?;
    sys::attach(tmpfs.as_raw_fd(), proc_dir.as_raw_fd()).map_err(fail)?;
    Ok(root)
}

/// The directory of the scratch tmpfs under the root's /proc where the other scratch
/// directories are made. Its fd reaches it even once proc covers it.
struct Scratch(OwnedFd);

impl Scratch {
    /// A new read-only file of the scratch tmpfs holding `contents`, as a detached mount.
    fn file(&self, name: &CStr, contents: &[u8]) -> SysResult<OwnedFd> {
        sys::create_file_with(self.0.as_raw_fd(), name, contents)?;
        let mnt = sys::clone_dir(self.0.as_raw_fd(), name)?;
        sys::set_mount_attrs(mnt.as_raw_fd(), MASK_ATTRS, false)?;
        Ok(mnt)
    }

    /// A new empty directory of the scratch tmpfs, as a detached mount of its own.
    fn dir(&self, name: &CStr, mode: u32, attrs: u64) -> SysResult<OwnedFd> {
        sys::mkdirat(self.0.as_raw_fd(), name, mode)?;
        let mnt = sys::clone_dir(self.0.as_raw_fd(), name)?;
        // A clone has the flags of what it copies and, copied from a private mount, is private
        // itself: only a mask (read-only, noexec) needs a mount_setattr of its own.
        if attrs != SCRATCH_ATTRS {
            sys::set_mount_attrs(mnt.as_raw_fd(), attrs, false)?;
        }
        Ok(mnt)
    }
}

/// A detached overlayfs: `lowerdir+` per lower, or on a kernel before 6.8 (EINVAL: an unknown
/// option) the single `lowerdir`.
fn new_overlay(options: &OverlayOptions) -> SysResult<OwnedFd> {
    let attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    match sys::new_mount(c"overlay", &options.each, attrs) {
        Err(libc::EINVAL) => sys::new_mount(c"overlay", &options.joined, attrs),
        made => made,
    }
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

fn run_step(
    root: RawFd,
    scratch: Option<&Scratch>,
    step: &PreparedStep,
    owned: &mut Owned,
) -> Result<(), (Stage, Errno)> {
    let at_step = |e| (Stage::Step, e);
    let at_mount_point = |e| (Stage::MountPoint, e);
    match &step.action {
        PreparedAction::Scratch { name, mode, attrs } => {
            let Some(dst) = ensure(root, step, true, owned).map_err(at_mount_point)? else {
                return Ok(());
            };
            let scratch = scratch.ok_or((Stage::Step, libc::EINVAL))?;
            let mnt = scratch.dir(name, *mode, *attrs).map_err(at_step)?;
            sys::attach(mnt.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Mount {
            fstype,
            options,
            attrs,
        } => mount_fresh(root, step, owned, fstype, options, *attrs, libc::MS_PRIVATE),
        PreparedAction::Bind { src, attrs, dir } => {
            // The destination first: a clone dropped unattached (an optional destination that
            // doesn't exist) would cost an umount of its own.
            let Some(dst) = ensure(root, step, *dir, owned).map_err(at_mount_point)? else {
                return Ok(());
            };
            // The source is a host path, resolved before pivot_root (see STAGING). It was made
            // canonical before fork: a symlink in it now means it was swapped since, so refuse.
            let tree = sys::clone_tree_no_symlinks(src).map_err(at_step)?;
            // Recursive: every submount of a read-only bind is read-only too.
            sys::set_mount_attrs(tree.as_raw_fd(), *attrs, true).map_err(at_step)?;
            sys::attach(tree.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Filesystem {
            fstype,
            options,
            attrs,
            propagation,
        } => mount_fresh(root, step, owned, fstype, options, *attrs, *propagation),
        PreparedAction::BindTree {
            src,
            attrs,
            dir,
            recursive,
            propagation,
        } => {
            let Some(dst) = ensure(root, step, *dir, owned).map_err(at_mount_point)? else {
                return Ok(());
            };
            let tree = sys::clone_path(src, *recursive).map_err(at_step)?;
            sys::set_mount_attrs_with(tree.as_raw_fd(), *attrs, *recursive, *propagation)
                .map_err(at_step)?;
            sys::attach(tree.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Mask { options } => {
            // What is there decides the mask: open it as it is, then hide it.
            let dst = match open_destination(root, step, false) {
                Ok(fd) => fd,
                Err(libc::ENOENT) => return Ok(()),
                Err(e) => return Err((Stage::Step, e)),
            };
            let mnt = if sys::is_dir(dst.as_raw_fd()).map_err(at_step)? {
                sys::new_mount(c"tmpfs", options, MASK_ATTRS).map_err(at_step)?
            } else {
                let null = sys::clone_path(c"/dev/null", false).map_err(at_step)?;
                sys::set_mount_attrs(
                    null.as_raw_fd(),
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
                    false,
                )
                .map_err(at_step)?;
                null
            };
            sys::attach(mnt.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Dir => ensure(root, step, true, owned)
            .map(drop)
            .map_err(at_mount_point),
        PreparedAction::ReadOnly => {
            let Some(dst) = ensure(root, step, true, owned).map_err(at_mount_point)? else {
                return Ok(());
            };
            let tree = sys::clone_tree_at(dst.as_raw_fd()).map_err(at_step)?;
            let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            sys::set_mount_attrs(tree.as_raw_fd(), attrs, true).map_err(at_step)?;
            sys::attach(tree.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Overlay { options } => {
            let Some(dst) = ensure(root, step, true, owned).map_err(at_mount_point)? else {
                return Ok(());
            };
            let mnt = new_overlay(options).map_err(at_step)?;
            sys::attach(mnt.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::File { name, contents } => {
            let Some(dst) = ensure(root, step, false, owned).map_err(at_mount_point)? else {
                return Ok(());
            };
            let scratch = scratch.ok_or((Stage::Step, libc::EINVAL))?;
            let mnt = scratch.file(name, contents).map_err(at_step)?;
            sys::attach(mnt.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Symlink { target } => {
            let Some(((parent, name), parents)) = step.chain.split_last() else {
                return Err((Stage::Step, libc::EINVAL));
            };
            // A top-level link goes right in the root: ours, and its fd is at hand.
            if parents.is_empty() {
                return sys::symlinkat(target, root, name).map_err(at_step);
            }
            let dir = open_parent(root, parent, parents, owned)?;
            owned.check(dir.as_raw_fd()).map_err(at_mount_point)?;
            sys::symlinkat(target, dir.as_raw_fd(), name).map_err(at_step)
        }
    }
}

/// A new filesystem on the step's destination; a tmpfs is the sandbox's own, where mount
/// points may be created.
fn mount_fresh(
    root: RawFd,
    step: &PreparedStep,
    owned: &mut Owned,
    fstype: &CStr,
    options: &[(CString, Option<CString>)],
    attrs: u64,
    propagation: u64,
) -> Result<(), (Stage, Errno)> {
    let Some(dst) = ensure(root, step, true, owned).map_err(|e| (Stage::MountPoint, e))? else {
        return Ok(());
    };
    let mnt = sys::new_mount(fstype, options, attrs).map_err(|e| (Stage::Step, e))?;
    // A new mount is private; anything else is the config's propagation option.
    if propagation != libc::MS_PRIVATE {
        sys::set_mount_attrs_with(mnt.as_raw_fd(), 0, false, propagation)
            .map_err(|e| (Stage::Step, e))?;
    }
    sys::attach(mnt.as_raw_fd(), dst.as_raw_fd()).map_err(|e| (Stage::Step, e))?;
    if fstype == c"tmpfs" {
        owned.add(mnt.as_raw_fd());
    }
    Ok(())
}

fn open_dir(root: RawFd, rel: &CStr) -> SysResult<OwnedFd> {
    sys::open_in_root(root, rel, libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// Opens a step's destination (`dir`: it should be a directory); refuses a symlink unless the
/// step may follow one.
fn open_destination(root: RawFd, step: &PreparedStep, dir: bool) -> SysResult<OwnedFd> {
    let nofollow = if step.follow { 0 } else { libc::O_NOFOLLOW };
    if dir {
        // With O_NOFOLLOW, O_DIRECTORY fails on a symlink (ENOTDIR) instead of opening it, so
        // no fstat is needed to refuse one. On ENOTDIR, the open below says what is there.
        match sys::open_in_root(
            root,
            &step.rel,
            libc::O_PATH | libc::O_DIRECTORY | nofollow,
            0,
        ) {
            Err(libc::ENOTDIR) => {}
            opened => return opened,
        }
    }
    let fd = sys::open_in_root(root, &step.rel, libc::O_PATH | nofollow, 0)?;
    if !step.follow && sys::is_symlink(fd.as_raw_fd())? {
        return Err(libc::ELOOP);
    }
    Ok(fd)
}

/// Opens `parent`, the directory a destination goes in; when it can't be, creates it and its
/// own `parents` first (`mkdir -p`, the failing stage MountPoint) and opens it again (Step).
/// Usually only the destination's last name is missing (/dev/null in our /dev), so the walk is
/// the exception.
fn open_parent(
    root: RawFd,
    parent: &CStr,
    parents: &[(CString, CString)],
    owned: &Owned,
) -> Result<OwnedFd, (Stage, Errno)> {
    if let Ok(dir) = open_dir(root, parent) {
        return Ok(dir);
    }
    make_chain(root, parents, owned).map_err(|e| (Stage::MountPoint, e))?;
    open_dir(root, parent).map_err(|e| (Stage::Step, e))
}

/// `mkdir -p` along `chain`, each directory created beneath the root, and only on the
/// sandbox's own filesystems.
fn make_chain(root: RawFd, chain: &[(CString, CString)], owned: &Owned) -> SysResult<()> {
    for (parent, name) in chain {
        let dir = open_dir(root, parent)?;
        make_in(dir.as_raw_fd(), name, true, owned)?;
    }
    Ok(())
}

/// Creates `name` in `dir` (a directory, or an empty file to bind a file on) unless it exists.
fn make_in(dir: RawFd, name: &CStr, directory: bool, owned: &Owned) -> SysResult<()> {
    // Exists already: nothing to create, wherever it is.
    let exists = sys::exists_at(dir, name)?;
    if exists {
        return Ok(());
    }
    owned.check(dir)?;
    let made = if directory {
        sys::mkdirat(dir, name, 0o755)
    } else {
        sys::create_file_at(dir, name)
    };
    match made {
        Ok(()) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens the destination, creating it (a directory, or an empty file to bind a file on) and its
/// parents when missing. `None`: missing, and the step applies only to what exists.
fn ensure(
    root: RawFd,
    step: &PreparedStep,
    dir: bool,
    owned: &Owned,
) -> SysResult<Option<OwnedFd>> {
    // A top-level entry (most steps): create it right in the root, ours and whose fd we hold; a
    // single name can't lead anywhere else, and an existing symlink is refused just below.
    if !step.if_exists && step.chain.len() == 1 {
        let name = &step.chain[0].1;
        let made = if dir {
            sys::mkdirat(root, name, 0o755)
        } else {
            sys::create_file_at(root, name)
        };
        match made {
            Ok(()) | Err(libc::EEXIST) => return open_destination(root, step, dir).map(Some),
            Err(e) => return Err(e),
        }
    }
    match open_destination(root, step, dir) {
        Ok(fd) => return Ok(Some(fd)),
        Err(libc::ENOENT) if step.if_exists => return Ok(None),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let Some(((parent, name), parents)) = step.chain.split_last() else {
        return Err(libc::EINVAL);
    };
    let parent = open_parent(root, parent, parents, owned).map_err(|(_, e)| e)?;
    make_in(parent.as_raw_fd(), name, dir, owned)?;
    open_destination(root, step, dir).map(Some)
}
