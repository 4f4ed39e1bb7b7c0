//! A detached sandbox's log, in its state directory: `log`, and `log.old` once `log` has
//! reached half the cap. Its output comes through a pipe to a logger process (forked by the
//! supervisor), which starts a new `log` at every half, renaming the full one over `log.old`:
//! the two together never exceed the cap and always hold the newest output (at least half the
//! cap of it once the sandbox has written that much). On a tmpfs such as /run/user, the state
//! directory is memory: a sandbox printing without end must not fill it.
//!
//! The sandbox never sees these files (the state directory is masked in it): what it writes
//! reaches them only as bytes through the pipe.

use crate::state::Dir;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

pub const CURRENT: &str = "log";
pub const OLDER: &str = "log.old";

/// `--log-size` when not given: 10 MiB.
pub const DEFAULT_CAP: u64 = 10 << 20;
/// Below this, a line of output could span more than both files.
pub const MIN_CAP: u64 = 4096;

/// The logger's loop: copies `from` into `log` until every writer has closed it. Returns the
/// exit code for the logger process.
pub fn keep(from: OwnedFd, mut log: File, dir: &Dir, cap: u64) -> i32 {
    let half = (cap / 2).max(1);
    let mut from = File::from(from);
    let mut written = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return 1,
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            if written >= half {
                // A new file under a name only we create (O_EXCL): `log` is renamed away first.
                let rotated = dir
                    .rename(CURRENT, OLDER)
                    .and_then(|()| dir.create(CURRENT));
                match rotated {
                    Ok(f) => {
                        log = f;
                        written = 0;
                    }
                    // Keep reading (the sandbox must not block on a full pipe), drop the rest.
                    Err(_) => break,
                }
            }
            let take = data.len().min((half - written) as usize);
            if log.write_all(&data[..take]).is_err() {
                break;
            }
            written += take as u64;
            data = &data[take..];
        }
    }
}

/// Waits up to a few seconds for the logger to have written everything and exited: the
/// sandbox's processes are gone, and the caller has closed its own copies of the pipe.
pub fn wait_for_logger(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match crate::sys::wait_child(pid, true) {
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            _ => return,
        }
    }
}

/// The log of a sandbox as it is now: `log.old` (if any) followed by `log`, opened so that a
/// rotation in between can't make us skip or repeat a file.
pub struct Reader {
    older: Option<File>,
    current: File,
}

impl Reader {
    /// None: the sandbox has no log (it was not detached).
    pub fn open(dir: &Dir) -> io::Result<Option<Reader>> {
        for _ in 0..100 {
            let current = match dir.open_file(CURRENT) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let older = match dir.open_file(OLDER) {
                Ok(f) => Some(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            // Rotated between the two opens: what we took for the current file is `log.old`.
            if let Some(o) = &older {
                if o.metadata()?.ino() == current.metadata()?.ino() {
                    continue;
                }
            }
            return Ok(Some(Reader { older, current }));
        }
        Err(io::Error::other("the log keeps changing"))
    }

    /// Copies everything there is now to `out`.
    pub fn copy_to(&mut self, out: &mut impl Write) -> io::Result<()> {
        if let Some(mut older) = self.older.take() {
            io::copy(&mut older, out)?;
        }
        io::copy(&mut self.current, out)?;
        Ok(())
    }

    /// After `copy_to`: when the logger has moved on to a new `log`, what is left of ours
    /// (nothing more will come to it) and then the new one; whether it moved on.
    pub fn follow_rotation(&mut self, dir: &Dir, out: &mut impl Write) -> io::Result<bool> {
        let ours = self.current.metadata()?.ino();
        let now = match dir.open_file(CURRENT) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if now.metadata()?.ino() == ours {
            return Ok(false);
        }
        io::copy(&mut self.current, out)?;
        // Rotated twice since we looked: `log.old` is a file we haven't read.
        if let Ok(mut older) = dir.open_file(OLDER) {
            if older.metadata()?.ino() != ours {
                io::copy(&mut older, out)?;
            }
        }
        self.current = now;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::testing::scratch;

    fn everything(dir: &Dir) -> Vec<u8> {
        let mut out = Vec::new();
        Reader::open(dir)
            .unwrap()
            .unwrap()
            .copy_to(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn the_log_keeps_the_newest_output_within_the_cap() {
        let (_s, dir) = scratch("log-cap");
        let input: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let (read, write) = nix::unistd::pipe().unwrap();
        let log = dir.create(CURRENT).unwrap();
        // The pipe holds 64 KiB: write from a thread while the logger reads.
        let feed = input.clone();
        let writer = std::thread::spawn(move || File::from(write).write_all(&feed).unwrap());
        assert_eq!(keep(read, log, &dir, 4096), 0);
        writer.join().unwrap();
        let kept = everything(&dir);
        assert!(kept.len() >= 2048 && kept.len() <= 4096, "{}", kept.len());
        assert!(input.ends_with(&kept), "not the newest output");
    }

    #[test]
    fn a_follower_reads_across_a_rotation() {
        let (_s, dir) = scratch("log-follow");
        dir.create(CURRENT).unwrap().write_all(b"one\n").unwrap();
        let mut reader = Reader::open(&dir).unwrap().unwrap();
        let mut out = Vec::new();
        reader.copy_to(&mut out).unwrap();
        assert!(!reader.follow_rotation(&dir, &mut out).unwrap());
        // The logger finishes the file, rotates, and goes on in a new one.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(CURRENT))
            .unwrap()
            .write_all(b"two\n")
            .unwrap();
        dir.rename(CURRENT, OLDER).unwrap();
        dir.create(CURRENT).unwrap().write_all(b"three\n").unwrap();
        assert!(reader.follow_rotation(&dir, &mut out).unwrap());
        reader.copy_to(&mut out).unwrap();
        assert_eq!(out, b"one\ntwo\nthree\n");
    }
}
