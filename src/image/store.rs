//! The layer store under `$XDG_DATA_HOME/ns-rootless/` (private to its user, 0700):
//!
//! ```text
//! layers/<hex>/root        an unpacked layer, keyed by its diff_id (sha256 of the tar)
//! layers/<hex>/meta.json   its size and entry count
//! layers/.tmp-*            a layer being unpacked (renamed into place when complete)
//! refs/<hex>.json          an image file or directory seen before (keyed by its path's hash)
//! ```
//!
//! Keying layers by the digest of their *uncompressed* tar shares them between the forms of
//! one image (`podman save` writes gzipped blobs to an oci-archive, plain ones to a
//! docker-archive), and both digests are checked when the image names them.

use super::unpack::{self, Limits, Unpacked};
use crate::error::quote;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub struct Store {
    pub dir: PathBuf,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct LayerMeta {
    pub size: u64,
    pub entries: u64,
}

/// `sha256:<64 lowercase hex>` → the hex, the only form used as a file name.
pub fn digest_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_hex64(hex) => Ok(hex),
        _ => bail!(
            "unsupported digest {} (expected sha256:<64 hex digits>)",
            quote(digest)
        ),
    }
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Counts and hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

/// What a layer's bytes are compressed with, from their first bytes (not the media type,
/// which a hand-made archive may get wrong).
fn decompress<'a>(mut input: BufReader<Box<dyn Read + 'a>>) -> Result<Box<dyn Read + 'a>> {
    let head = input.fill_buf().context("reading the layer")?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(input)
                .map_err(|e| anyhow!("reading the zstd stream: {e}"))?,
        )
    } else {
        Box::new(input)
    })
}

impl Store {
    /// The store of the user whose environment is `env`: `$XDG_DATA_HOME/ns-rootless`, else
    /// `$HOME/.local/share/ns-rootless`.
    pub fn locate(env: &[(OsString, OsString)]) -> Result<Store> {
        let base = xdg_dir(env, "XDG_DATA_HOME", ".local/share", "the image store")?;
        Ok(Store {
            dir: base.join("ns-rootless"),
        })
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.dir.join("layers")
    }

    pub fn refs_dir(&self) -> PathBuf {
        self.dir.join("refs")
    }

    /// Creates the store's directories (0700: layers are the user's data).
    pub fn create(&self) -> Result<()> {
        for d in [self.layers_dir(), self.refs_dir()] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .with_context(|| format!("creating the image store {}", quote(&d)))?;
        }
        Ok(())
    }

    /// The directory overlayfs gets as a lower layer.
    pub fn layer_root(&self, hex: &str) -> PathBuf {
        self.layers_dir().join(hex).join("root")
    }

    pub fn has_layer(&self, hex: &str) -> bool {
        self.layer_root(hex).is_dir()
    }

    /// A run's hold on the layer `hex`: its directory, flock'ed shared for as long as the
    /// returned file is open (`images --prune` removes only a layer it can lock exclusively).
    /// None when the store hasn't it, or prune is removing it.
    pub fn hold(&self, hex: &str) -> Option<fs::File> {
        let dir = fs::File::open(self.layers_dir().join(hex)).ok()?;
        if !crate::sys::try_lock_shared(dir.as_raw_fd()).ok()? {
            return None;
        }
        // Pruned between our open and our lock: removed, so no links left.
        (dir.metadata().ok()?.nlink() > 0 && self.has_layer(hex)).then_some(dir)
    }

    pub fn layer_meta(&self, hex: &str) -> Option<LayerMeta> {
        let text = fs::read(self.layers_dir().join(hex).join("meta.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Unpacks `blob` (a layer, compressed or not) into the store and returns its diff_id hex
    /// and a hold on it (`hold`; taken on the temporary directory at once, so prune never
    /// removes a layer being unpacked). `diff_id` and `blob_digest`, when the image names
    /// them, must match what was read.
    pub fn add_layer(
        &self,
        blob: Box<dyn Read + '_>,
        blob_digest: Option<&str>,
        diff_id: Option<&str>,
        limits: Limits,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(String, fs::File)> {
        let tmp = self
            .layers_dir()
            .join(format!(".tmp-{}-{}", std::process::id(), random_hex()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .with_context(|| format!("creating {}", quote(&tmp)))?;
        let held = fs::File::open(&tmp)
            .ok()
            .filter(|d| crate::sys::try_lock_shared(d.as_raw_fd()) == Ok(true))
            .ok_or_else(|| anyhow!("locking {}: removed meanwhile", quote(&tmp)))?;
        let result = self.unpack_into(&tmp, blob, blob_digest, diff_id, limits, progress);
        let outcome = result.and_then(|(hex, done)| {
            let meta = LayerMeta {
                size: done.bytes,
                entries: done.entries,
            };
            fs::write(tmp.join("meta.json"), serde_json::to_vec(&meta)?)?;
            let dst = self.layers_dir().join(&hex);
            match fs::rename(&tmp, &dst) {
                // The lock is the directory's (its open file description's): it moved along.
                Ok(()) => Ok((hex, held)),
                // Another run unpacked the same layer meanwhile: use theirs.
                Err(_) if self.has_layer(&hex) => {
                    let _ = remove_tree(&tmp);
                    let theirs = self.hold(&hex).ok_or_else(|| {
                        anyhow!("layer sha256:{hex} was pruned while it was unpacked; run again")
                    })?;
                    Ok((hex, theirs))
                }
                Err(e) => Err(e).with_context(|| format!("moving the layer to {}", quote(&dst))),
            }
        });
        if outcome.is_err() {
            let _ = remove_tree(&tmp);
        }
        outcome
    }

    fn unpack_into(
        &self,
        tmp: &Path,
        blob: Box<dyn Read + '_>,
        blob_digest: Option<&str>,
        diff_id: Option<&str>,
        limits: Limits,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(String, Unpacked)> {
        let root_path = tmp.join("root");
        fs::DirBuilder::new().mode(0o755).create(&root_path)?;
        let root: std::os::fd::OwnedFd = fs::File::open(&root_path)?.into();
        let mut raw = Hashing::new(blob);
        let (done, got_diff) = {
            let plain = decompress(BufReader::new(Box::new(&mut raw) as Box<dyn Read + '_>))?;
            let mut plain = Hashing::new(plain);
            let done = unpack::unpack(&mut plain, &root, limits, progress)?;
            // The tar's end is two zero blocks, often with padding after them: the digests
            // cover it too. Bounded: an endless tail is as hostile as an endless archive.
            let rest = io::copy(&mut (&mut plain).take(limits.max_bytes), &mut io::sink())
                .context("reading the archive")?;
            if rest >= limits.max_bytes {
                bail!(
                    "more than {} bytes after the archive's end",
                    limits.max_bytes
                );
            }
            (done, hex(&plain.hasher.finalize()))
        };
        let got_blob = hex(&raw.hasher.finalize());
        if let Some(want) = blob_digest {
            if digest_hex(want)? != got_blob {
                bail!("the layer's digest is sha256:{got_blob}, the image says {want}");
            }
        }
        if let Some(want) = diff_id {
            if digest_hex(want)? != got_diff {
                bail!("the layer's diff_id is sha256:{got_diff}, the image says {want}");
            }
        }
        Ok((got_diff, done))
    }
}

/// `$VAR` when it is an absolute path, else `$HOME/fallback` (the XDG base directory rules).
pub fn xdg_dir(
    env: &[(OsString, OsString)],
    var: &str,
    fallback: &str,
    what: &str,
) -> Result<PathBuf> {
    let get = |k: &str| {
        env.iter()
            .find(|(n, v)| n == k && Path::new(v).is_absolute())
            .map(|(_, v)| PathBuf::from(v))
    };
    get(var)
        .or_else(|| get("HOME").map(|h| h.join(fallback)))
        .ok_or_else(|| {
            anyhow!("finding {what}: neither {var} nor HOME is set to an absolute path; set {var}")
        })
}

/// 12 random hex digits for temporary names.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 6];
    let _ = crate::sys::getrandom(&mut bytes);
    hex(&bytes)
}

/// Removes a tree of ours, even with directories an image made read-only; never follows a
/// symlink.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let dir: std::os::fd::OwnedFd = fs::File::open(parent)?.into();
    super::tree::remove_at(&dir, name)
}

/// Writes `data` to `path` through a temporary file renamed into place (readers never see a
/// half-written file), mode 0600.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", random_hex()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(data).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}
