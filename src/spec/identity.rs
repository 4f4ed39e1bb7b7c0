//! `--uid` / `--gid`: numbers, or names looked up in the *sandbox's* /etc/passwd and /etc/group
//! (the host's in host mode, the rootfs's with `--rootfs`, read without leaving the rootfs).

use super::Root;
use crate::error::quote;
use crate::{sys, untrusted};
use anyhow::{anyhow, bail, Result};
use nix::libc;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inner {
    pub uid: u32,
    pub gid: u32,
    pub home: OsString,
    pub user: OsString,
}

/// An /etc/passwd or /etc/group entry: name, id, (passwd only) primary gid and home.
struct Entry<'a> {
    name: &'a [u8],
    id: u32,
    gid: Option<u32>,
    home: Option<&'a [u8]>,
}

fn entries(text: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        let id = std::str::from_utf8(f.get(2)?).ok()?.parse().ok()?;
        Some(Entry {
            name: f[0],
            id,
            gid: f
                .get(3)
                .and_then(|g| std::str::from_utf8(g).ok()?.parse().ok()),
            home: f.get(5).copied(),
        })
    })
}

/// The largest /etc/passwd or /etc/group we read: far more than any real one.
const MAX_DB: u64 = 4 << 20;

/// Reads `etc/<file>` of the sandbox's root; a missing file reads as empty. A rootfs is
/// hostile input: its files are resolved without leaving it, and read only when they are
/// regular files of a sane size (a FIFO there must not hang us, a sparse 1 TiB file not fill
/// memory).
fn read_db(root: &Root, file: &str) -> Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let dir = match root {
        Root::Host => Path::new("/"),
        Root::Dir(dir) => dir.as_path(),
        Root::Bundle(b) => b.rootfs.as_path(),
        // The top layer that has it; regular file only, never through a symlink.
        Root::Image(image) => {
            let path = Path::new("etc").join(file);
            let read = crate::image::read_file(&image.layers, &path, MAX_DB);
            return read.map(Option::unwrap_or_default).map_err(|e| {
                anyhow!(
                    "reading /etc/{file} of the image {}: {e}",
                    quote(&image.source)
                )
            });
        }
    };
    let shown = dir.join("etc").join(file);
    let path = std::ffi::CString::new(format!("etc/{file}"))?;
    let opened = std::fs::File::open(dir)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        .and_then(|d| sys::open_in_root(d.as_raw_fd(), &path, untrusted::OPEN_FLAGS, 0));
    match opened {
        Ok(fd) => untrusted::read_regular(fd, MAX_DB, None)
            .map_err(|e| anyhow!("reading {}: {e}", quote(&shown))),
        Err(libc::ENOENT) => Ok(Vec::new()),
        Err(e) => bail!("reading {}: {}", quote(&shown), crate::error::strerror(e)),
    }
}

fn numeric(raw: &OsStr) -> Option<u32> {
    let s = raw.to_str()?;
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Where the user and the group came from, as messages name them: the options, or an image's
/// config User (which the caller never typed).
pub struct Given {
    pub uid: &'static str,
    pub gid: &'static str,
}

pub const OPTIONS: Given = Given {
    uid: "--uid",
    gid: "--gid",
};

pub fn resolve(
    uid: Option<&OsStr>,
    gid: Option<&OsStr>,
    root: &Root,
    given: &Given,
) -> Result<Inner> {
    let passwd = if uid.is_some() {
        read_db(root, "passwd")?
    } else {
        Vec::new()
    };
    let (uid, primary, home, user) = match uid {
        None => (0, Some(0), None, None),
        Some(raw) => {
            let found = match numeric(raw) {
                Some(n) => entries(&passwd).find(|e| e.id == n),
                None => Some(
                    entries(&passwd)
                        .find(|e| e.name == raw.as_bytes())
                        .ok_or_else(|| {
                            anyhow!(
                                "invalid {} {}: no such user in the sandbox's /etc/passwd",
                                given.uid,
                                quote(raw)
                            )
                        })?,
                ),
            };
            let uid = numeric(raw).or(found.as_ref().map(|e| e.id));
            let uid = uid.ok_or_else(|| anyhow!("invalid {} {}", given.uid, quote(raw)))?;
            (
                uid,
                found.as_ref().and_then(|e| e.gid),
                found.as_ref().and_then(|e| e.home).map(OsStr::from_bytes),
                found.as_ref().map(|e| OsStr::from_bytes(e.name).to_owned()),
            )
        }
    };
    let gid = match gid {
        None => primary.unwrap_or(0),
        Some(raw) => match numeric(raw) {
            Some(n) => n,
            None => entries(&read_db(root, "group")?)
                .find(|e| e.name == raw.as_bytes())
                .map(|e| e.id)
                .ok_or_else(|| {
                    anyhow!(
                        "invalid {} {}: no such group in the sandbox's /etc/group",
                        given.gid,
                        quote(raw)
                    )
                })?,
        },
    };
    if uid == u32::MAX || gid == u32::MAX {
        let what = if uid == u32::MAX {
            given.uid
        } else {
            given.gid
        };
        bail!("invalid {what}: 4294967295 is not a valid id");
    }
    let home = match (uid, home) {
        (0, _) => OsString::from("/root"),
        (_, Some(h)) if !h.is_empty() => h.to_owned(),
        _ => OsString::from("/"),
    };
    let user = match (uid, user) {
        (_, Some(u)) => u,
        (0, None) => "root".into(),
        (n, None) => n.to_string().into(),
    };
    Ok(Inner {
        uid,
        gid,
        home,
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_root() {
        let i = resolve(None, None, &Root::Host, &OPTIONS).unwrap();
        assert_eq!((i.uid, i.gid), (0, 0));
        assert_eq!(i.home, "/root");
        assert_eq!(i.user, "root");
    }

    #[test]
    fn numbers_need_no_entry() {
        let i = resolve(
            Some(OsStr::new("61235")),
            Some(OsStr::new("61236")),
            &Root::Host,
            &OPTIONS,
        )
        .unwrap();
        assert_eq!((i.uid, i.gid), (61235, 61236));
        assert_eq!(i.home, "/");
        assert_eq!(i.user, "61235");
    }

    #[test]
    fn names_come_from_the_sandbox_root() {
        let dir = std::env::temp_dir().join(format!("nsr-ident-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbuilder:x:1500:1600::/home/builder:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.join("etc/group"), "root:x:0:\nwheel:x:10:\n").unwrap();
        let root = Root::Dir(dir.clone());
        let by_name = resolve(Some(OsStr::new("builder")), None, &root, &OPTIONS);
        let group = resolve(
            Some(OsStr::new("builder")),
            Some(OsStr::new("wheel")),
            &root,
            &OPTIONS,
        );
        let missing = resolve(Some(OsStr::new("nobody-here")), None, &root, &OPTIONS);
        std::fs::remove_dir_all(&dir).unwrap();
        let i = by_name.unwrap();
        assert_eq!((i.uid, i.gid), (1500, 1600));
        assert_eq!(i.home, "/home/builder");
        assert_eq!(i.user, "builder");
        assert_eq!(group.unwrap().gid, 10);
        let err = missing.unwrap_err().to_string();
        assert!(
            err.contains("no such user in the sandbox's /etc/passwd"),
            "{err}"
        );
    }
}
