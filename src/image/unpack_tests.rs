//! The unpacker against hostile archives (SECURITY.md promise 7). Unpacking needs no
//! namespace, so these run in-process on temp dirs.

use super::store::Store;
use super::unpack::{unpack, Limits, Unpacked, LIMITS};
use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

struct Temp(PathBuf);

impl Temp {
    fn new(label: &str) -> Temp {
        let p = std::env::temp_dir().join(format!(
            "nsr-unpack-{}-{label}-{}",
            std::process::id(),
            super::store::random_hex()
        ));
        fs::create_dir_all(&p).unwrap();
        Temp(p)
    }
}

impl Drop for Temp {
    /// Removes the tree even with directories an archive made read-only; never follows a
    /// symlink.
    fn drop(&mut self) {
        let (Some(parent), Some(name)) = (self.0.parent(), self.0.file_name()) else {
            return;
        };
        if let Ok(dir) = fs::File::open(parent) {
            let _ = super::tree::remove_at(&dir.into(), name);
        }
    }
}

/// One raw entry: the name is written into the header as is (tar's own setters refuse `..`).
enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Link(&'a str, &'a str),
    Char(&'a str),
}

fn archive(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let (name, kind, data, mode, link): (&str, tar::EntryType, &[u8], u32, Option<&str>) =
            match *e {
                E::File(n, d, m) => (n, tar::EntryType::Regular, d, m, None),
                E::Dir(n) => (n, tar::EntryType::Directory, b"", 0o755, None),
                E::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", 0o777, Some(t)),
                E::Link(n, t) => (n, tar::EntryType::Link, b"", 0o644, Some(t)),
                E::Char(n) => (n, tar::EntryType::Char, b"", 0o666, None),
            };
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn unpack_into(dir: &Path, bytes: &[u8], limits: Limits) -> anyhow::Result<Unpacked> {
    fs::create_dir_all(dir).unwrap();
    let root: std::os::fd::OwnedFd = fs::File::open(dir).unwrap().into();
    unpack(Cursor::new(bytes), &root, limits, &mut |_| {})
}

fn err(r: anyhow::Result<Unpacked>) -> String {
    format!("{:#}", r.expect_err("the archive is refused"))
}

#[test]
fn a_plain_layer_keeps_files_dirs_symlinks_and_hard_links() {
    let t = Temp::new("plain");
    let layer = t.0.join("layer");
    let bytes = archive(&[
        E::Dir("./"),
        E::Dir("./etc/"),
        E::File("./etc/hostname", b"box\n", 0o644),
        E::Symlink("./etc/alias", "hostname"),
        E::Link("./etc/hard", "etc/hostname"),
        E::File("./bin/tool", b"#!/bin/sh\n", 0o755),
    ]);
    let done = unpack_into(&layer, &bytes, LIMITS).unwrap();
    assert_eq!(done.bytes, 14);
    assert_eq!(fs::read(layer.join("etc/hostname")).unwrap(), b"box\n");
    assert_eq!(
        fs::read_link(layer.join("etc/alias")).unwrap(),
        Path::new("hostname")
    );
    let a = fs::metadata(layer.join("etc/hostname")).unwrap();
    let b = fs::metadata(layer.join("etc/hard")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    let tool = fs::metadata(layer.join("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o755);
    assert_eq!(tool.mtime(), 1_700_000_000);
}

#[test]
fn dotdot_names_are_refused() {
    let t = Temp::new("dotdot");
    let bytes = archive(&[E::File("../escaped", b"x", 0o644)]);
    let e = err(unpack_into(&t.0.join("layer"), &bytes, LIMITS));
    assert!(e.contains("'..' in the name"), "{e}");
    assert!(!t.0.join("escaped").exists());
    let bytes = archive(&[E::Dir("a/"), E::File("a/../../escaped2", b"x", 0o644)]);
    assert!(unpack_into(&t.0.join("layer2"), &bytes, LIMITS).is_err());
    assert!(!t.0.join("escaped2").exists());
}

#[test]
fn absolute_names_stay_inside() {
    let t = Temp::new("abs");
    let target = t.0.join("abs-target");
    let name = format!("{}/x", target.display());
    let bytes = archive(&[E::File(&name, b"inside", 0o644)]);
    unpack_into(&t.0.join("layer"), &bytes, LIMITS).unwrap();
    assert!(!target.exists(), "written at the absolute path");
    let inside = t.0.join("layer").join(name.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"inside");
}

#[test]
fn a_symlinked_parent_is_not_followed() {
    let t = Temp::new("symparent");
    let outside = t.0.join("outside");
    fs::create_dir(&outside).unwrap();
    for (link, target) in [("link", outside.to_str().unwrap()), ("up", "../outside")] {
        let entry = format!("{link}/pwned");
        let bytes = archive(&[E::Symlink(link, target), E::File(&entry, b"x", 0o644)]);
        let e = err(unpack_into(
            &t.0.join(format!("layer-{link}")),
            &bytes,
            LIMITS,
        ));
        assert!(e.starts_with(&format!("entry {link}/pwned")), "{e}");
    }
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn hard_links_out_of_the_layer_are_refused() {
    let t = Temp::new("hardlink");
    let secret = t.0.join("secret");
    fs::write(&secret, b"host file").unwrap();
    let via_link = archive(&[
        E::Symlink("sl", t.0.to_str().unwrap()),
        E::Link("stolen", "sl/secret"),
    ]);
    let up = archive(&[E::Link("stolen", "../secret")]);
    let absolute = format!("{}", secret.display());
    let abs = archive(&[E::Link("stolen", &absolute)]);
    for (i, bytes) in [via_link, up, abs].iter().enumerate() {
        let layer = t.0.join(format!("layer{i}"));
        assert!(unpack_into(&layer, bytes, LIMITS).is_err(), "case {i}");
        assert!(!layer.join("stolen").exists(), "case {i}");
    }
    assert_eq!(fs::metadata(&secret).unwrap().nlink(), 1);
}

#[test]
fn an_entry_replacing_a_symlink_does_not_write_through_it() {
    let t = Temp::new("replace");
    let victim = t.0.join("victim");
    fs::write(&victim, b"unchanged").unwrap();
    let bytes = archive(&[
        E::Symlink("f", victim.to_str().unwrap()),
        E::File("f", b"overwritten", 0o644),
    ]);
    let layer = t.0.join("layer");
    unpack_into(&layer, &bytes, LIMITS).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"unchanged");
    assert_eq!(fs::read(layer.join("f")).unwrap(), b"overwritten");
}

#[test]
fn devices_are_skipped_and_setuid_dropped() {
    let t = Temp::new("dev");
    let bytes = archive(&[
        E::Char("null"),
        E::File("su", b"x", 0o4755),
        E::File("sg", b"x", 0o2755),
    ]);
    let layer = t.0.join("layer");
    unpack_into(&layer, &bytes, LIMITS).unwrap();
    assert!(!layer.join("null").exists());
    for f in ["su", "sg"] {
        let mode = fs::metadata(layer.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o755, "{f}");
    }
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let t = Temp::new("wh");
    let bytes = archive(&[
        E::Dir("etc/"),
        E::File("etc/.wh.motd", b"", 0o644),
        E::Dir("opt/"),
        E::File("opt/.wh..wh..opq", b"", 0o644),
    ]);
    let layer = t.0.join("layer");
    unpack_into(&layer, &bytes, LIMITS).unwrap();
    let wh = fs::symlink_metadata(layer.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!layer.join("etc/.wh.motd").exists());
    let opt = fs::File::open(layer.join("opt")).unwrap();
    let mut buf = [0u8; 8];
    let n = crate::sys::get_xattr(
        std::os::fd::AsRawFd::as_raw_fd(&opt),
        super::unpack::OPAQUE_XATTR,
        &mut buf,
    )
    .unwrap();
    assert_eq!(n.map(|n| &buf[..n]), Some(&b"y"[..]));
}

#[test]
fn unpacking_is_bounded() {
    let t = Temp::new("bounds");
    let many = archive(&[E::Dir("a/"), E::Dir("b/"), E::Dir("c/")]);
    let small = Limits {
        max_bytes: 1 << 20,
        max_entries: 2,
        ..LIMITS
    };
    assert!(err(unpack_into(&t.0.join("l1"), &many, small)).contains("more than 2 entries"));
    let big = archive(&[
        E::File("a", &[7u8; 4096], 0o644),
        E::File("b", &[7u8; 4096], 0o644),
    ]);
    let tight = Limits {
        max_bytes: 5000,
        max_entries: 100,
        ..LIMITS
    };
    assert!(err(unpack_into(&t.0.join("l2"), &big, tight)).contains("more than 5000 bytes"));
}

#[test]
fn skipped_data_counts_too() {
    // A directory entry declaring 1 MiB of data: nothing is written, but it is all read.
    let t = Temp::new("skipped");
    let mut h = tar::Header::new_ustar();
    h.set_path("d").unwrap();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(1 << 20);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, std::io::repeat(0).take(1 << 20)).unwrap();
    let bytes = b.into_inner().unwrap();
    let tight = Limits {
        max_bytes: 10_000,
        max_entries: 10,
        ..LIMITS
    };
    let e = err(unpack_into(&t.0.join("l"), &bytes, tight));
    assert!(e.contains("larger than its entries can explain"), "{e}");
    assert!(unpack_into(&t.0.join("l2"), &bytes, LIMITS).is_ok());
}

#[test]
fn a_bad_layer_leaves_nothing_in_the_store() {
    let t = Temp::new("store");
    let store = Store {
        dir: t.0.join("store"),
    };
    let store = store.open(true).unwrap().unwrap();
    let bad = archive(&[E::File("ok", b"fine", 0o644), E::File("../x", b"", 0o644)]);
    let r = store.add_layer(Box::new(Cursor::new(bad)), None, None, LIMITS, &mut |_| {});
    assert!(r.is_err());
    assert_eq!(fs::read_dir(store.layers_dir()).unwrap().count(), 0);
    let good = archive(&[E::File("ok", b"fine", 0o644)]);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let r = store.add_layer(
        Box::new(Cursor::new(good.clone())),
        None,
        Some(&wrong),
        LIMITS,
        &mut |_| {},
    );
    assert!(format!("{:#}", r.unwrap_err()).contains("diff_id"));
    assert_eq!(fs::read_dir(store.layers_dir()).unwrap().count(), 0);
    let right = format!("sha256:{}", super::store::sha256_hex(&good));
    let hex = store
        .add_layer(
            Box::new(Cursor::new(good)),
            Some(&right),
            Some(&right),
            LIMITS,
            &mut |_| {},
        )
        .unwrap()
        .0;
    assert_eq!(
        fs::read(store.layer_root(&hex).join("ok")).unwrap(),
        b"fine"
    );
}

#[test]
fn compressed_layers_are_found_from_their_bytes() {
    use std::io::Write;
    let t = Temp::new("gz");
    let store = Store {
        dir: t.0.join("store"),
    };
    let store = store.open(true).unwrap().unwrap();
    let plain = archive(&[E::File("hello", b"world", 0o644)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let diff = format!("sha256:{}", super::store::sha256_hex(&plain));
    let blob = format!("sha256:{}", super::store::sha256_hex(&gz));
    let hex = store
        .add_layer(
            Box::new(Cursor::new(gz)),
            Some(&blob),
            Some(&diff),
            LIMITS,
            &mut |_| {},
        )
        .unwrap()
        .0;
    assert_eq!(
        format!("sha256:{hex}"),
        diff,
        "keyed by the uncompressed digest"
    );
}

/// Counts what is read through it.
struct Counted<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// A header of `kind` (a GNU long name or link, a PAX record set, a PAX global header)
/// announcing `size` bytes.
fn extension_header(kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut h = if matches!(
        kind,
        tar::EntryType::XHeader | tar::EntryType::XGlobalHeader
    ) {
        tar::Header::new_ustar()
    } else {
        tar::Header::new_gnu()
    };
    h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h.as_bytes().to_vec()
}

#[test]
fn a_huge_long_name_or_pax_header_is_refused_before_it_is_held_in_memory() {
    // The tar crate keeps a long name, long link or PAX record set in memory whole: a layer
    // announcing gigabytes of one (zeros, which compress to nothing) must fail long before.
    let t = Temp::new("longname");
    let size: u64 = 256 << 20;
    for (i, kind) in [
        tar::EntryType::GNULongName,
        tar::EntryType::GNULongLink,
        tar::EntryType::XHeader,
        tar::EntryType::XGlobalHeader,
    ]
    .into_iter()
    .enumerate()
    {
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let input = Counted {
            inner: Cursor::new(extension_header(kind, size)).chain(std::io::repeat(0).take(size)),
            read: read.clone(),
        };
        let dir = t.0.join(format!("l{i}"));
        fs::create_dir_all(&dir).unwrap();
        let root: std::os::fd::OwnedFd = fs::File::open(&dir).unwrap().into();
        let e = err(unpack(input, &root, LIMITS, &mut |_| {}));
        assert!(
            read.get() <= 32 << 20,
            "{kind:?}: {} bytes read before failing ({e})",
            read.get()
        );
        assert!(e.contains("headers"), "{kind:?}: {e}");
    }
}

/// A layer of `n` directories with 3.7 KiB names (GNU long names), generated as it is read.
struct ManyDirs {
    next: u32,
    n: u32,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl ManyDirs {
    fn entry(i: u32) -> Vec<u8> {
        let prefix = vec!["x".repeat(250); 15].join("/");
        let name = format!("{prefix}/{i:08}");
        let mut out = extension_header(tar::EntryType::GNULongName, name.len() as u64 + 1);
        let mut data = name.into_bytes();
        data.push(0);
        data.resize(data.len().div_ceil(512) * 512, 0);
        out.extend_from_slice(&data);
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..1].copy_from_slice(b"d");
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out
    }
}

impl Read for ManyDirs {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.pos = 0;
            self.buf = if self.next < self.n {
                self.next += 1;
                Self::entry(self.next)
            } else if !self.ended {
                self.ended = true;
                vec![0; 1024]
            } else {
                return Ok(0);
            };
        }
        let k = out.len().min(self.buf.len() - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

#[test]
fn the_directory_names_kept_until_the_end_are_bounded() {
    // Directory modes and times are set after every entry, so their names are kept: 2 million
    // entries (the entry limit) of 4 KiB names would be 8 GiB of memory. The bound is what
    // stops that (unpack.rs checks it is far below the entry limit's worth); here a small one keeps the test cheap (the
    // real one takes 18000 deep directories to reach).
    let tight = Limits {
        max_dir_names: 64 << 10,
        ..LIMITS
    };
    let t = Temp::new("dirnames");
    let many_dirs = |n, name: &str| -> anyhow::Result<Unpacked> {
        let dir = t.0.join(name);
        fs::create_dir_all(&dir).unwrap();
        let root: std::os::fd::OwnedFd = fs::File::open(&dir).unwrap().into();
        let input = ManyDirs {
            next: 0,
            n,
            buf: Vec::new(),
            pos: 0,
            ended: false,
        };
        unpack(input, &root, tight, &mut |_| {})
    };
    // 10 names of 3.7 KiB fit in 64 KiB; 30 don't.
    assert_eq!(many_dirs(10, "fits").unwrap().entries, 10);
    let e = err(many_dirs(30, "past"));
    assert!(
        e.contains("more than 65536 bytes of directory names"),
        "{e}"
    );
}

#[test]
fn a_big_file_reports_progress_while_it_is_written() {
    let t = Temp::new("progress");
    let big = vec![7u8; 20 << 20];
    let bytes = archive(&[E::File("big", &big, 0o644), E::File("small", b"x", 0o644)]);
    fs::create_dir(t.0.join("l")).unwrap();
    let root: std::os::fd::OwnedFd = fs::File::open(t.0.join("l")).unwrap().into();
    let mut seen = Vec::new();
    unpack(Cursor::new(bytes), &root, LIMITS, &mut |n| seen.push(n)).unwrap();
    // Every 8 MiB of the big file, then after each file.
    assert_eq!(seen, [8 << 20, 16 << 20, 20 << 20, (20 << 20) + 1]);
}
