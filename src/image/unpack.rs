//! Unpacks one layer (a tar stream) into an empty directory, as overlayfs wants a lower layer:
//! whiteouts become char 0:0 devices and opaque directories `user.overlay.opaque=y`.
//!
//! The stream is hostile (SECURITY.md promise 7): a name with `..` is refused, an absolute one
//! made relative; every parent is opened beneath the layer's root without following a symlink
//! (so a symlink the archive planted can't redirect a later entry: CVE-2018-15664 class); a hard
//! link only names an entry of this layer; device nodes are skipped, setuid and setgid bits
//! dropped, extended attributes (file capabilities among them) ignored; the number of entries
//! and the bytes written are bounded. The caller unpacks into a temporary directory and renames
//! it into place only when this returns Ok.

use super::tree::{self, cpath};
use crate::error::escape;
use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most bytes of file content one layer may write.
    pub max_bytes: u64,
    /// The most entries one layer may have.
    pub max_entries: u64,
    /// The most bytes of directory names one layer may have: each is kept until the end, when
    /// the directories get their modes and times.
    pub max_dir_names: u64,
}

/// Generous for real images (the biggest common ones are a few GiB, ~100k files), small enough
/// that an endless stream ends long before the disk fills.
pub const LIMITS: Limits = Limits {
    max_bytes: 32 << 30,
    max_entries: 2_000_000,
    // Real layers have a few MiB (200k directories of 60 bytes are 12 MB); the entry limit
    // alone would allow 8 GiB (2 million 4 KiB names).
    max_dir_names: 64 << 20,
};
const _: () = assert!(LIMITS.max_dir_names < LIMITS.max_entries * 4096 / 100);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub bytes: u64,
    pub entries: u64,
}

/// Writes through to `inner`, telling `progress` the layer's bytes so far (`from` plus what
/// went through) every `REPORT_EVERY` bytes.
struct Reporting<'a, W> {
    inner: W,
    from: u64,
    written: u64,
    progress: &'a mut dyn FnMut(u64),
}

const REPORT_EVERY: u64 = 8 << 20;

impl<W: std::io::Write> std::io::Write for Reporting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let before = self.written;
        self.written += n as u64;
        if before / REPORT_EVERY != self.written / REPORT_EVERY {
            (self.progress)(self.from + self.written);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The overlay whiteout prefix and the opaque marker (OCI image spec, layer.md).
const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
pub const OPAQUE_XATTR: &std::ffi::CStr = c"user.overlay.opaque";

/// Unpacks the tar stream `input` into the directory `root`; `progress` gets the bytes written
/// so far.
pub fn unpack(
    input: impl Read,
    root: &OwnedFd,
    limits: Limits,
    progress: &mut dyn FnMut(u64),
) -> Result<Unpacked> {
    // Everything read counts, not only file contents: the data of an entry we skip (a
    // "directory" declaring a size of terabytes, in a stream that compresses them to nothing)
    // is read through too. Headers and padding take at most a few blocks per entry.
    let cap = limits
        .max_bytes
        .saturating_add(limits.max_entries.saturating_mul(4096));
    let (input, gap) = Gap::new(input);
    let mut archive = tar::Archive::new(Bounded {
        inner: input,
        left: cap,
    });
    let mut done = Unpacked::default();
    // Directory modes and times are set last: a 0555 directory must stay writable while its
    // entries are unpacked, and an entry written into a directory changes its mtime.
    let mut dirs: Vec<(PathBuf, u32, i64)> = Vec::new();
    let mut dir_names = 0u64;
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        // A pax global header (`git archive` writes one, holding the commit id): metadata of
        // the whole archive, no file. Skipped as if between entries: MAX_GAP bounds it,
        // however many come in a row.
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        gap.set(None); // what this entry's own data is counts against max_bytes instead
        done.entries += 1;
        if done.entries > limits.max_entries {
            bail!("more than {} entries", limits.max_entries);
        }
        let raw = entry.path_bytes().into_owned();
        let shown = || escape(&raw);
        let Some(rel) = clean(&raw).with_context(|| format!("entry {}", shown()))? else {
            continue; // the root itself ("./")
        };
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o1777; // no setuid, no setgid
        let mtime = header.mtime().unwrap_or(0).min(i64::MAX as u64) as i64;
        let size = entry.size();
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let name = rel.file_name().unwrap_or_default().to_owned();
        let mut put = || -> Result<()> {
            let parent = tree::make_dirs(root, parent_rel)?;
            let name_bytes = name.as_bytes();
            if name_bytes == OPAQUE {
                return crate::sys::set_xattr(parent.as_raw_fd(), OPAQUE_XATTR, b"y").map_err(
                    |e| {
                        anyhow!(
                            "marking the directory opaque: {}",
                            crate::error::strerror(e)
                        )
                    },
                );
            }
            if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT) {
                if hidden.starts_with(WHITEOUT) {
                    return Ok(()); // other aufs metadata (.wh..wh.plnk, ...): meaningless here
                }
                let hidden = OsStr::from_bytes(hidden);
                if hidden.is_empty() || hidden == "." || hidden == ".." {
                    bail!("a whiteout of nothing");
                }
                replace(&parent, hidden, false)?;
                // char 0:0 is the one device node an unprivileged user may make (vfs_mknod).
                return nix::sys::stat::mknodat(&parent, hidden, SFlag::S_IFCHR, Mode::empty(), 0)
                    .context("making a whiteout");
            }
            match kind {
                tar::EntryType::Directory => {
                    if !replace(&parent, &name, true)? {
                        nix::sys::stat::mkdirat(
                            &parent,
                            name.as_os_str(),
                            Mode::from_bits_truncate(0o755),
                        )?;
                    }
                    dir_names += rel.as_os_str().len() as u64;
                    if dir_names > limits.max_dir_names {
                        bail!(
                            "more than {} bytes of directory names",
                            limits.max_dir_names
                        );
                    }
                    dirs.push((rel.clone(), mode, mtime));
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    done.bytes = done.bytes.saturating_add(size);
                    if done.bytes > limits.max_bytes {
                        bail!("more than {} bytes of content", limits.max_bytes);
                    }
                    replace(&parent, &name, false)?;
                    let flags = OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC;
                    let fd = nix::fcntl::openat(
                        &parent,
                        name.as_os_str(),
                        flags,
                        Mode::from_bits_truncate(0o600),
                    )?;
                    let mut file = std::fs::File::from(fd);
                    // The header's size bounds what the entry yields. A big file reports its
                    // progress as it is written, not only once it is.
                    let mut out = Reporting {
                        inner: &mut file,
                        from: done.bytes - size,
                        written: 0,
                        progress: &mut *progress,
                    };
                    let copied = std::io::copy(&mut (&mut entry).take(size), &mut out)?;
                    if copied != size {
                        bail!("the archive ends inside this file");
                    }
                    nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(mode))?;
                    let t = TimeSpec::new(mtime, 0);
                    nix::sys::stat::futimens(&file, &t, &t)?;
                    progress(done.bytes);
                }
                tar::EntryType::Symlink => {
                    let target = link
                        .clone()
                        .ok_or_else(|| anyhow!("a symlink without a target"))?;
                    replace(&parent, &name, false)?;
                    // The target is data: nothing here ever follows it (see tree.rs).
                    nix::unistd::symlinkat(OsStr::from_bytes(&target), &parent, name.as_os_str())?;
                }
                tar::EntryType::Link => {
                    let target = link
                        .clone()
                        .ok_or_else(|| anyhow!("a hard link without a target"))?;
                    let target =
                        clean(&target)?.ok_or_else(|| anyhow!("a hard link to the root"))?;
                    let from_dir = tree::open_dir(root, target.parent().unwrap_or(Path::new("")))
                        .with_context(|| {
                        format!("hard link to {}", escape(target.as_os_str().as_bytes()))
                    })?;
                    let from = target.file_name().unwrap_or_default();
                    replace(&parent, &name, false)?;
                    // Flags 0: never follow a symlink at the target; it is linked itself.
                    nix::unistd::linkat(
                        &from_dir,
                        from,
                        &parent,
                        name.as_os_str(),
                        nix::fcntl::AtFlags::empty(),
                    )
                    .with_context(|| {
                        format!("hard link to {}", escape(target.as_os_str().as_bytes()))
                    })?;
                }
                tar::EntryType::Fifo => {
                    replace(&parent, &name, false)?;
                    nix::sys::stat::mknodat(
                        &parent,
                        name.as_os_str(),
                        SFlag::S_IFIFO,
                        Mode::from_bits_truncate(mode),
                        0,
                    )?;
                }
                // Device nodes can't be made unprivileged, and a sandbox gets its own /dev.
                tar::EntryType::Char | tar::EntryType::Block => {}
                other => bail!("unsupported entry type {:?}", other.as_byte() as char),
            }
            Ok(())
        };
        put().with_context(|| format!("entry {}", shown()))?;
        gap.set(Some(0));
    }
    dirs.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.components().count()));
    for (rel, mode, mtime) in dirs {
        let shown = escape(rel.as_os_str().as_bytes());
        let set = || -> Result<()> {
            let dir = tree::open_dir(root, &rel)?;
            nix::sys::stat::fchmod(&dir, Mode::from_bits_truncate(mode))?;
            let t = TimeSpec::new(mtime, 0);
            nix::sys::stat::futimens(&dir, &t, &t)?;
            Ok(())
        };
        set().with_context(|| format!("entry {shown}"))?;
    }
    Ok(done)
}

/// The most bytes read between two entries: headers, the extension records that the tar
/// crate holds in memory whole before it yields the entry they describe (GNU long names and
/// links, PAX records), and the data of entries that nothing reads (a "directory" with a
/// size). Real ones take a few KiB; without a bound, gigabytes of zeros announced as one
/// long name (a few MiB gzipped) end in an allocation failure, which aborts the process.
pub const MAX_GAP: u64 = 16 << 20;

/// A reader that fails once more than MAX_GAP bytes are read while its handle says the
/// reading is between two entries (Some: the bytes read since the last one).
pub struct Gap<R> {
    inner: R,
    since: std::rc::Rc<std::cell::Cell<Option<u64>>>,
}

impl<R> Gap<R> {
    /// The reader, and the handle its caller sets: None while an entry's data is read,
    /// Some(0) once an entry is done.
    pub fn new(inner: R) -> (Gap<R>, std::rc::Rc<std::cell::Cell<Option<u64>>>) {
        let since = std::rc::Rc::new(std::cell::Cell::new(Some(0)));
        (
            Gap {
                inner,
                since: since.clone(),
            },
            since,
        )
    }
}

impl<R: Read> Read for Gap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(since) = self.since.get() {
            let since = since.saturating_add(n as u64);
            if since > MAX_GAP {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_GAP} bytes of headers before an entry"
                )));
            }
            self.since.set(Some(since));
        }
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for Gap<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// A reader that fails once more than `left` bytes have been read.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other("the archive is larger than its entries can explain")
        })?;
        Ok(n)
    }
}

/// Makes way for a new entry `name` in `dir`: removes what is there, except a directory when a
/// directory comes (`dir_coming`), which is kept (returns true).
fn replace(dir: &OwnedFd, name: &OsStr, dir_coming: bool) -> Result<bool> {
    match tree::stat_at(dir, name)? {
        None => Ok(false),
        Some(st) if dir_coming && tree::kind(&st) == SFlag::S_IFDIR => Ok(true),
        Some(_) => {
            tree::remove_at(dir, name)?;
            Ok(false)
        }
    }
}

/// An entry's name as a relative path with no `.` or `..`: leading `/` and `./` are dropped
/// (like GNU tar), `..` is refused. None for the root itself.
pub fn clean(raw: &[u8]) -> Result<Option<PathBuf>> {
    if raw.contains(&0) {
        bail!("a NUL in the name");
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => bail!("'..' in the name"),
            Component::Prefix(_) => bail!("not a Unix path"),
        }
    }
    if out.as_os_str().len() > 4096 {
        bail!("the name is longer than 4096 bytes");
    }
    cpath(&out)?;
    Ok((!out.as_os_str().is_empty()).then_some(out))
}
