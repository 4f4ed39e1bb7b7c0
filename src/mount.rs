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
    if let PreparedRoot::Bundle {
        rootfs, readonly, ..
    } = &p.root
    {
        return bundle_root(p, rootfs, *readonly);
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
        // (A bundle's root returned above.)
        PreparedRoot::Tmpfs | PreparedRoot::Bundle { .. } => {
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
    let mut last = None;
    for (i, step) in p.steps.iter().enumerate() {
        run_step(
            root.as_raw_fd(),
            Some(&scratch),
            step,
            &mut owned,
            &mut last,
        )
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
fn bundle_root(p: &Prepared, rootfs: &CStr, readonly: bool) -> Result<OwnedFd, Fail> {
    let root = sys::clone_path(rootfs, true).map_err(|e| (Stage::RootTmpfs, 0, e))?;
    sys::attach_at(root.as_raw_fd(), STAGING).map_err(|e| (Stage::AttachRoot, 0, e))?;
    let mut owned = Owned {
        devs: [0; 64],
        len: 0,
    };
    owned.add(root.as_raw_fd());
    let mut last = None;
    for (i, step) in p.steps.iter().enumerate() {
        run_step(root.as_raw_fd(), None, step, &mut owned, &mut last)
            .map_err(|(stage, e)| (stage, i as u32, e))?;
    }
    if readonly {
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
        scratch_mount(sys::clone_dir(self.0.as_raw_fd(), name), attrs)
    }
}

/// A clone of a directory of the scratch tmpfs with the mount flags `attrs`. A clone has the
/// flags of what it copies and, copied from a private mount, is private itself: only a mask
/// (read-only, noexec) needs a mount_setattr of its own.
fn scratch_mount(clone: SysResult<OwnedFd>, attrs: u64) -> SysResult<OwnedFd> {
    let mnt = clone?;
    if attrs != SCRATCH_ATTRS {
        sys::set_mount_attrs(mnt.as_raw_fd(), attrs, false)?;
    }
    Ok(mnt)
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

/// The mode of a mount point `ensure` makes.
const DIR: Option<u32> = Some(0o755);

fn run_step<'p>(
    root: RawFd,
    scratch: Option<&Scratch>,
    step: &'p PreparedStep,
    owned: &mut Owned,
    last: &mut Option<Parent<'p>>,
) -> Result<(), (Stage, Errno)> {
    let at_step = |e| (Stage::Step, e);
    let at_mount_point = |e| (Stage::MountPoint, e);
    // The previous step's directory is kept only for a step that goes in the same one.
    if last
        .as_ref()
        .is_some_and(|l| Some(l.path) != parent_of(step))
    {
        *last = None;
    }
    match &step.action {
        PreparedAction::Scratch { name, mode, attrs } => {
            let Some(dst) = ensure(root, step, Some(*mode), owned, last).map_err(at_mount_point)?
            else {
                return Ok(());
            };
            // What we have just made is an empty directory of our own already: bound onto
            // itself, it is one (a mkdir fewer than one made under HIDDEN).
            let mnt = match &dst {
                Dest::Made(dir, name) => scratch_mount(sys::clone_dir(*dir, name), *attrs),
                Dest::Opened(_) => {
                    let scratch = scratch.ok_or((Stage::Step, libc::EINVAL))?;
                    scratch.dir(name, *mode, *attrs)
                }
            }
            .map_err(at_step)?;
            dst.attach(mnt.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Mount {
            fstype,
            options,
            attrs,
        } => {
            let Some(dst) = ensure(root, step, DIR, owned, last).map_err(at_mount_point)? else {
                return Ok(());
            };
            mount_fresh(dst, owned, fstype, options, *attrs, libc::MS_PRIVATE)
        }
        PreparedAction::Bind {
            src,
            attrs,
            dir,
            root_owned,
        } => {
            // The destination first: a clone dropped unattached (an optional destination that
            // doesn't exist) would cost an umount of its own.
            let Some(dst) =
                ensure(root, step, dir.then_some(0o755), owned, last).map_err(at_mount_point)?
            else {
                return Ok(());
            };
            // The source is a host path, resolved before pivot_root (see STAGING). It was made
            // canonical before fork: a symlink in it now means it was swapped since, so refuse
            // (unless only the host's root could have put it there).
            let tree = match root_owned {
                true => sys::clone_root_owned(src),
                false => sys::clone_tree_no_symlinks(src),
            }
            .map_err(at_step)?;
            // Recursive: every submount of a read-only bind is read-only too.
            sys::set_mount_attrs(tree.as_raw_fd(), *attrs, true).map_err(at_step)?;
            dst.attach(tree.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Filesystem {
            fstype,
            options,
            attrs,
            propagation,
        } => {
            let Some(dst) = ensure(root, step, DIR, owned, last).map_err(at_mount_point)? else {
                return Ok(());
            };
            mount_fresh(dst, owned, fstype, options, *attrs, *propagation)
        }
        PreparedAction::BindTree {
            src,
            attrs,
            dir,
            recursive,
            propagation,
        } => {
            let Some(dst) =
                ensure(root, step, dir.then_some(0o755), owned, last).map_err(at_mount_point)?
            else {
                return Ok(());
            };
            let tree = sys::clone_path(src, *recursive).map_err(at_step)?;
            sys::set_mount_attrs_with(tree.as_raw_fd(), *attrs, *recursive, *propagation)
                .map_err(at_step)?;
            dst.attach(tree.as_raw_fd()).map_err(at_step)
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
        PreparedAction::Dir => ensure(root, step, DIR, owned, last)
            .map(drop)
            .map_err(at_mount_point),
        PreparedAction::ReadOnly => {
            let Some(dst) = ensure(root, step, DIR, owned, last).map_err(at_mount_point)? else {
                return Ok(());
            };
            let dst = dst.opened(root, step).map_err(at_step)?;
            let tree = sys::clone_tree_at(dst.as_raw_fd()).map_err(at_step)?;
            let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            // Private explicitly: an OCI config's readonlyPaths may lie under a mount it made
            // shared, and the read-only copy must not join that peer group.
            sys::set_mount_attrs_with(tree.as_raw_fd(), attrs, true, libc::MS_PRIVATE)
                .map_err(at_step)?;
            sys::attach(tree.as_raw_fd(), dst.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Overlay { options } => {
            let Some(dst) = ensure(root, step, DIR, owned, last).map_err(at_mount_point)? else {
                return Ok(());
            };
            let mnt = new_overlay(options).map_err(at_step)?;
            dst.attach(mnt.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::File { name, contents } => {
            let Some(dst) = ensure(root, step, None, owned, last).map_err(at_mount_point)? else {
                return Ok(());
            };
            let scratch = scratch.ok_or((Stage::Step, libc::EINVAL))?;
            let mnt = scratch.file(name, contents).map_err(at_step)?;
            dst.attach(mnt.as_raw_fd()).map_err(at_step)
        }
        PreparedAction::Symlink { target } => {
            let Some(((parent, name), parents)) = step.chain.split_last() else {
                return Err((Stage::Step, libc::EINVAL));
            };
            // A top-level link goes right in the root: ours, and its fd is at hand.
            if parents.is_empty() {
                return sys::symlinkat(target, root, name).map_err(at_step);
            }
            let dir = parent_dir(root, step, parent, parents, owned, last)?;
            if !dir.ours {
                return Err((Stage::MountPoint, NOT_OURS));
            }
            sys::symlinkat(target, dir.fd.as_raw_fd(), name).map_err(at_step)
        }
    }
}

/// A new filesystem on the step's destination; a tmpfs is the sandbox's own, where mount
/// points may be created.
fn mount_fresh(
    dst: Dest,
    owned: &mut Owned,
    fstype: &CStr,
    options: &[(CString, Option<CString>)],
    attrs: u64,
    propagation: u64,
) -> Result<(), (Stage, Errno)> {
    let mnt = sys::new_mount(fstype, options, attrs).map_err(|e| (Stage::Step, e))?;
    // A new mount is private; anything else is the config's propagation option.
    if propagation != libc::MS_PRIVATE {
        sys::set_mount_attrs_with(mnt.as_raw_fd(), 0, false, propagation)
            .map_err(|e| (Stage::Step, e))?;
    }
    dst.attach(mnt.as_raw_fd()).map_err(|e| (Stage::Step, e))?;
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

/// The directory the previous step's destination went in, kept open for the next step when
/// that one goes in the same directory (/dev/null, /dev/zero, ... in /dev): a mount on one
/// entry can't cover the directory holding it, so the fd still names what a new lookup of the
/// same path would find. `run_step` drops it for a step that goes anywhere else.
struct Parent<'p> {
    /// Empty: not to be kept for the next step (`parent_of` has none for this one).
    path: &'p CStr,
    fd: OwnedFd,
    /// On one of the sandbox's own filesystems (Owned): where mount points may be created.
    ours: bool,
}

/// The directory a step's destination goes in ("dev" for dev/null, "." for a top-level one),
/// None when the destination could be elsewhere: a last name `.` or `..`, or a followed link.
fn parent_of(step: &PreparedStep) -> Option<&CStr> {
    let (parent, name) = step.chain.last()?;
    let plain = name.as_bytes() != b"." && name.as_bytes() != b"..";
    (plain && !step.follow).then_some(parent.as_c_str())
}

/// The step's parent directory (see `Parent`): the one kept from the previous step, else opened
/// (and made, see `open_parent`) and kept.
fn parent_dir<'l, 'p>(
    root: RawFd,
    step: &'p PreparedStep,
    parent: &'p CStr,
    parents: &[(CString, CString)],
    owned: &Owned,
    last: &'l mut Option<Parent<'p>>,
) -> Result<&'l Parent<'p>, (Stage, Errno)> {
    if last.is_none() {
        let fd = open_parent(root, parent, parents, owned)?;
        let ours = owned.check(fd.as_raw_fd()).is_ok();
        let path = parent_of(step).unwrap_or(c"");
        *last = Some(Parent { path, fd, ours });
    }
    last.as_ref().ok_or((Stage::Step, libc::EINVAL))
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
        make_in(dir.as_raw_fd(), name, DIR, owned)?;
    }
    Ok(())
}

/// Creates `name` in `dir` (a directory with `mode`, or an empty file to bind a file on) unless
/// it exists.
fn make_in(dir: RawFd, name: &CStr, mode: Option<u32>, owned: &Owned) -> SysResult<()> {
    // Exists already: nothing to create, wherever it is.
    let exists = sys::exists_at(dir, name)?;
    if exists {
        return Ok(());
    }
    owned.check(dir)?;
    match create(dir, name, mode) {
        Ok(()) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Where a step mounts: its destination, opened, or a name that `ensure` has just created in a
/// directory of the sandbox's own tmpfs (None: the root). Only init runs in the sandbox while
/// it is built and nothing else can reach that tmpfs, so what a lookup of that one name finds
/// is what we made: it is mounted on by name, without opening it (and checking it) first.
///
/// `Made`'s directory is the root or the step's `Parent`, which stays open until a later step
/// goes elsewhere.
enum Dest<'a> {
    Opened(OwnedFd),
    Made(RawFd, &'a CStr),
}

impl Dest<'_> {
    fn attach(&self, mnt: RawFd) -> SysResult<()> {
        match self {
            Dest::Opened(fd) => sys::attach(mnt, fd.as_raw_fd()),
            Dest::Made(dir, name) => sys::attach_to(mnt, *dir, name),
        }
    }

    /// The destination as an fd (a read-only remount clones what is there).
    fn opened(self, root: RawFd, step: &PreparedStep) -> SysResult<OwnedFd> {
        match self {
            Dest::Opened(fd) => Ok(fd),
            Dest::Made(..) => open_destination(root, step, true),
        }
    }
}

/// Creates `name` in `dir`: a directory with `mode`, or (None) an empty file to bind a file on.
fn create(dir: RawFd, name: &CStr, mode: Option<u32>) -> SysResult<()> {
    match mode {
        Some(mode) => sys::mkdirat(dir, name, mode),
        None => sys::create_file_at(dir, name),
    }
}

/// Opens the destination, creating it and its parents when missing: a directory with `mode`
/// (DIR, or a scratch directory's own), or (None) an empty file to bind a file on. `None`
/// returned: missing, and the step applies only to what exists.
fn ensure<'s>(
    root: RawFd,
    step: &'s PreparedStep,
    mode: Option<u32>,
    owned: &Owned,
    last: &mut Option<Parent<'s>>,
) -> SysResult<Option<Dest<'s>>> {
    let dir = mode.is_some();
    // A top-level entry (most steps): created right in the root, ours and whose fd we hold; a
    // single name can't lead anywhere else. One that exists already is opened, and a symlink
    // refused, just below.
    if !step.if_exists && step.chain.len() == 1 {
        let name = &step.chain[0].1;
        return match create(root, name, mode) {
            Ok(()) => Ok(Some(Dest::Made(root, name))),
            Err(libc::EEXIST) => open_destination(root, step, dir).map(|fd| Some(Dest::Opened(fd))),
            Err(e) => Err(e),
        };
    }
    let Some(((parent, name), parents)) = step.chain.split_last() else {
        return Err(libc::EINVAL);
    };
    // A sibling of the previous step's destination in a directory of our own (/dev/zero after
    // /dev/null): made right there, in the directory already open.
    if let Some(l) = last.as_ref().filter(|l| l.ours && !step.if_exists) {
        match create(l.fd.as_raw_fd(), name, mode) {
            Ok(()) => return Ok(Some(Dest::Made(l.fd.as_raw_fd(), name))),
            Err(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    match open_destination(root, step, dir) {
        Ok(fd) => return Ok(Some(Dest::Opened(fd))),
        Err(libc::ENOENT) if step.if_exists => return Ok(None),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let parent = parent_dir(root, step, parent, parents, owned, last).map_err(|(_, e)| e)?;
    // Missing in a directory of our own (/dev/null in our /dev): made there, and used by name.
    if parent.ours {
        match create(parent.fd.as_raw_fd(), name, mode) {
            Ok(()) => return Ok(Some(Dest::Made(parent.fd.as_raw_fd(), name))),
            Err(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    make_in(parent.fd.as_raw_fd(), name, dir.then_some(0o755), owned)?;
    open_destination(root, step, dir).map(|fd| Some(Dest::Opened(fd)))
}
