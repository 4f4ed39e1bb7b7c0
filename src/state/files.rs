//! Private files under a directory fd. Everything in the state directory is reached relative to
//! an fd of a directory checked to be ours: never through a symlink (O_NOFOLLOW), new files only
//! with O_EXCL (a planted name makes the write fail instead of redirecting it), and what is read
//! must be a regular file of ours of a bounded size. Another user, or a sandbox that could once
//! see the directory, can't make us write elsewhere or trust what it wrote.

use crate::untrusted;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{mkdirat, Mode};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory of ours, open.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    uid: u32,
}

/// Why a directory was refused: each word is the end of a sentence about it.
#[derive(Debug)]
pub enum Refusal {
    NotADirectory,
    NotOurs(u32),
    OpenToOthers(u32),
    Io(io::Error),
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn check_dir(fd: &OwnedFd, uid: u32) -> Result<(), Refusal> {
    let meta = File::from(fd.try_clone().map_err(Refusal::Io)?)
        .metadata()
        .map_err(Refusal::Io)?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_dir() {
        Err(Refusal::NotADirectory)
    } else if meta.uid() != uid {
        Err(Refusal::NotOurs(meta.uid()))
    } else if mode & 0o077 != 0 {
        Err(Refusal::OpenToOthers(mode))
    } else {
        Ok(())
    }
}

/// The checked directory as the base of *at calls.
impl std::os::fd::AsFd for Dir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Dir {
    /// Opens `path` (its last component not followed) and checks that it is a directory of
    /// `uid`'s that no one else may enter.
    pub fn open(path: &Path, uid: u32) -> Result<Dir, Refusal> {
        // O_PATH: a directory we may not even read still opens, and is refused below by its
        // owner instead of by a bare EACCES. The *at calls take it as their directory.
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, Mode::empty()).map_err(|e| match e {
            // O_NOFOLLOW on a symlink; O_DIRECTORY on anything else.
            nix::Error::ELOOP | nix::Error::ENOTDIR => Refusal::NotADirectory,
            e => Refusal::Io(errno(e)),
        })?;
        check_dir(&fd, uid)?;
        Ok(Dir {
            fd,
            path: path.to_owned(),
            uid,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory opened for reading (listing, flock; the *at calls of a tree walk): the
    /// one already checked, reopened through its own fd, so no path is looked up again.
    pub fn reopen(&self) -> io::Result<OwnedFd> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        openat(&self.fd, ".", flags, Mode::empty()).map_err(errno)
    }

    /// Removes the entry `name` in here, a whole tree included, never following a symlink.
    pub fn remove_tree(&self, name: &str) -> io::Result<()> {
        crate::image::tree::remove_at(&self.fd, std::ffi::OsStr::new(name))
    }

    /// The directory `name` in here, checked like `open`.
    pub fn subdir(&self, name: &str) -> Result<Dir, Refusal> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&self.fd, name, flags, Mode::empty()).map_err(|e| match e {
            nix::Error::ELOOP | nix::Error::ENOTDIR => Refusal::NotADirectory,
            e => Refusal::Io(errno(e)),
        })?;
        check_dir(&fd, self.uid)?;
        Ok(Dir {
            fd,
            path: self.path.join(name),
            uid: self.uid,
        })
    }

    /// Creates the directory `name` (mode 0700); fails if anything has that name.
    pub fn mkdir(&self, name: &str) -> io::Result<()> {
        mkdirat(&self.fd, name, Mode::from_bits_truncate(0o700)).map_err(errno)
    }

    /// Creates the file `name` (mode 0600) for writing; fails if anything has that name.
    pub fn create(&self, name: &str) -> io::Result<File> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&self.fd, name, flags, Mode::from_bits_truncate(0o600)).map_err(errno)?;
        Ok(File::from(fd))
    }

    /// Opens the regular file `name` of ours for reading.
    pub fn open_file(&self, name: &str) -> io::Result<File> {
        let flags =
            OFlag::from_bits_truncate(untrusted::OPEN_FLAGS) | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let file = File::from(openat(&self.fd, name, flags, Mode::empty()).map_err(errno)?);
        let meta = file.metadata()?;
        if !meta.is_file() || meta.uid() != self.uid {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file of ours",
            ));
        }
        // Reads of the log then block as usual (it is a regular file: they never do).
        Ok(file)
    }

    /// The regular file `name` of ours, at most `max` bytes.
    pub fn read(&self, name: &str, max: u64) -> io::Result<Vec<u8>> {
        untrusted::read_bounded(self.open_file(name)?, max)
    }

    /// Replaces `name` with `bytes` atomically: a new file of a name nobody can guess ahead
    /// (created with O_EXCL), renamed over it.
    pub fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        static N: AtomicU32 = AtomicU32::new(0);
        let tmp = format!(
            ".{name}.{}.{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let written = self.create(&tmp).and_then(|mut f| f.write_all(bytes));
        // No fsync: the state lives only as long as the sandbox; readers need the rename to be
        // atomic, not the file to survive a crash.
        let renamed = written.and_then(|()| self.rename(&tmp, name));
        if renamed.is_err() {
            let _ = nix::unistd::unlinkat(
                &self.fd,
                tmp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
        renamed
    }

    /// Renames `from` to `to`, both in here.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        renameat(&self.fd, from, &self.fd, to).map_err(errno)
    }
}

/// Private scratch directories for unit tests of what lives in the state directory.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// Removed when dropped.
    pub struct Scratch(pub PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fresh directory of ours, mode 0700, open; `tag` must be unique among the unit tests.
    pub fn scratch(tag: &str) -> (Scratch, Dir) {
        let path = std::env::temp_dir().join(format!("nsr-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        let dir = Dir::open(&path, nix::unistd::getuid().as_raw()).unwrap();
        (Scratch(path), dir)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::scratch;
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_planted_symlink_is_neither_written_through_nor_read() {
        let (s, dir) = scratch("files-symlink");
        let target = s.0.join("target");
        std::fs::write(&target, "host file").unwrap();
        symlink(&target, s.0.join("state.json")).unwrap();
        assert!(dir.read("state.json", 100).is_err());
        assert!(dir.create("state.json").is_err());
        // Replacing renames a fresh file over the link itself.
        dir.replace("state.json", b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host file");
        assert_eq!(dir.read("state.json", 100).unwrap(), b"{}");
        let left: Vec<_> = std::fs::read_dir(&s.0).unwrap().flatten().collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn only_bounded_regular_files_are_read_and_only_private_dirs_opened() {
        let (s, dir) = scratch("files-kinds");
        nix::unistd::mkfifo(&s.0.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(dir.read("fifo", 100).is_err(), "a FIFO was read");
        std::fs::write(s.0.join("big"), vec![b'x'; 101]).unwrap();
        assert!(dir.read("big", 100).is_err());
        std::fs::create_dir(s.0.join("open")).unwrap();
        std::fs::set_permissions(s.0.join("open"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            dir.subdir("open"),
            Err(Refusal::OpenToOthers(0o755))
        ));
        symlink(&s.0, s.0.join("link")).unwrap();
        assert!(matches!(dir.subdir("link"), Err(Refusal::NotADirectory)));
    }
}
