//! Reading files that a sandbox, a rootfs's author or another process controls (a rootfs's
//! /etc/passwd, a `--seccomp-fd`, a state file): regular files only, never blocking on a FIFO,
//! never more than a bound, so the host side can't be hung or made to fill memory.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

/// The flags to open such a file with: a FIFO opens at once (and is refused below) instead of
/// waiting for a writer; a terminal doesn't become our controlling one.
pub const OPEN_FLAGS: i32 = nix::libc::O_RDONLY | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY;

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// The whole of the regular file `fd` (opened with `OPEN_FLAGS`), refused when it is larger
/// than `max` bytes or, with `owner`, when another uid owns it.
pub fn read_regular(fd: OwnedFd, max: u64, owner: Option<u32>) -> io::Result<Vec<u8>> {
    let file = std::fs::File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    if let Some(uid) = owner.filter(|&uid| uid != meta.uid()) {
        return Err(invalid(format!(
            "it belongs to uid {}, not to uid {uid}",
            meta.uid()
        )));
    }
    read_bounded(file, max)
}

/// At most `max` bytes from `from`; more is an error, not a truncation. The buffer starts at a
/// page: a file of /proc says its size is 0, and growing from nothing takes several reads.
pub fn read_bounded(from: impl Read, max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(max.saturating_add(1).min(4096) as usize);
    from.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(invalid(format!("longer than {max} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_refuse_what_is_longer() {
        assert_eq!(read_bounded(&b"abc"[..], 3).unwrap(), b"abc");
        let err = read_bounded(std::io::repeat(0), 10).unwrap_err();
        assert_eq!(err.to_string(), "longer than 10 bytes");
    }

    #[test]
    fn only_regular_files() {
        let dir: OwnedFd = std::fs::File::open("/").unwrap().into();
        let err = read_regular(dir, 10, None).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");
    }
}
