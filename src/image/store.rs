//! The layer store under `$XDG_DATA_HOME/ns-rootless/` (private to its user, 0700):
//!
//! ```text
//! layers/<hex>/root        an unpacked layer, keyed by its diff_id (sha256 of the tar)
//! layers/<hex>/meta.json   its size and entry count
//! layers/.tmp-*            a layer being unpacked (renamed into place when complete); its
//!                          unpacker holds a shared flock on it
//! refs/<hex>.json          an image file or directory seen before (keyed by its path's hash)
//! ```
//!
//! Keying layers by the digest of their *uncompressed* tar shares them between the forms of
//! one image (`podman save` writes gzipped blobs to an oci-archive, plain ones to a
//! docker-archive), and both digests are checked when the image names them.

use super::unpack::{self, Limits, Unpacked};
use crate::error::quote;
use crate::state::files::{Dir, Refusal};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
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

/// What a store file (a ref, a layer's meta.json) may be at most: far more than any real one.
const MAX_JSON: u64 = 4 << 20;

/// The store, its directories opened and checked like the state directory (state::files::
/// Dir): plain directories of ours no one else may enter, so no one else can plant a layer
/// that every image shares, or a ref; every file in them is reached through their fds.
pub struct Opened {
    pub dir: PathBuf,
    layers: Dir,
    refs: Dir,
}

impl Store {
    /// The store of the user whose environment is `env`: `$XDG_DATA_HOME/ns-rootless`, else
    /// `$HOME/.local/share/ns-rootless`.
    pub fn locate(env: &[(OsString, OsString)]) -> Result<Store> {
        let base = crate::xdg::required(env, "XDG_DATA_HOME", ".local/share", "the image store")?;
        Ok(Store {
            dir: base.join("ns-rootless"),
        })
    }

    /// Opens the store, made first (0700: layers are the user's data) when `create`; None when
    /// it doesn't exist.
    pub fn open(&self, create: bool) -> Result<Option<Opened>> {
        let open = |path: &Path| {
            crate::private::open(path, create, "the image store", |why| refused(path, why))
        };
        // The store itself first: a directory open to others makes what it holds theirs too.
        if open(&self.dir)?.is_none() {
            return Ok(None);
        }
        let (Some(layers), Some(refs)) = (
            open(&self.dir.join("layers"))?,
            open(&self.dir.join("refs"))?,
        ) else {
            return Ok(None);
        };
        Ok(Some(Opened {
            dir: self.dir.clone(),
            layers,
            refs,
        }))
    }
}

/// A store directory refused, in one sentence.
fn refused(path: &Path, why: Refusal) -> anyhow::Error {
    let what = format!("the image store {}", quote(path));
    match why {
        Refusal::NotADirectory => anyhow!("{what} is not a plain directory; refusing to use it"),
        Refusal::NotOurs(owner) => anyhow!(
            "{what} belongs to uid {owner}, not to you; refusing to use it (set XDG_DATA_HOME)"
        ),
        Refusal::OpenToOthers(mode) => anyhow!(
            "{what} is open to other users (mode {mode:o}); refusing to use it (chmod 700 it)"
        ),
        Refusal::Io(e) => anyhow!("opening {what}: {e}"),
    }
}

impl Opened {
    pub fn layers_dir(&self) -> PathBuf {
        self.dir.join("layers")
    }

    /// The directory overlayfs gets as a lower layer (`hex` checked by the caller: is_hex64).
    pub fn layer_root(&self, hex: &str) -> PathBuf {
        self.layers_dir().join(hex).join("root")
    }

    /// The layer `hex`'s directory, when the store has it whole (a `root` in it).
    fn layer(&self, hex: &str) -> Option<Dir> {
        let dir = self.layers.subdir(hex).ok().filter(|_| is_hex64(hex))?;
        let root = super::tree::stat_at(&dir, std::ffi::OsStr::new("root")).ok()??;
        (super::tree::kind(&root) == nix::sys::stat::SFlag::S_IFDIR).then_some(dir)
    }

    /// A run's hold on the layer `hex`: its directory, flock'ed shared for as long as the
    /// returned file is open (`images --prune` removes only a layer it can lock exclusively).
    /// None when the store hasn't it, or prune is removing it.
    pub fn hold(&self, hex: &str) -> Option<fs::File> {
        let dir = fs::File::from(self.layer(hex)?.reopen().ok()?);
        if !crate::sys::try_lock_shared(dir.as_raw_fd()).ok()? {
            return None;
        }
        // Pruned between our open and our lock: removed, so no links left.
        (dir.metadata().ok()?.nlink() > 0 && self.layer(hex).is_some()).then_some(dir)
    }

    pub fn layer_meta(&self, hex: &str) -> Option<LayerMeta> {
        let text = self
            .layers
            .subdir(hex)
            .ok()?
            .read("meta.json", MAX_JSON)
            .ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The ref `name` (refs/NAME), when it is a readable one whose layers are layer names.
    pub fn read_ref(&self, name: &str) -> Option<super::Ref> {
        let r: super::Ref = serde_json::from_slice(&self.refs.read(name, MAX_JSON).ok()?).ok()?;
        r.layers.iter().all(|l| is_hex64(l)).then_some(r)
    }

    /// The names in refs/, and when each was last used.
    pub fn refs(&self) -> Vec<(String, std::time::SystemTime)> {
        let Ok(names) = self.refs.reopen().and_then(|d| super::tree::list(&d)) else {
            return Vec::new();
        };
        names
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .filter_map(|n| {
                let used = self
                    .refs
                    .open_file(&n)
                    .ok()?
                    .metadata()
                    .ok()?
                    .modified()
                    .ok()?;
                Some((n, used))
            })
            .collect()
    }

    pub fn write_ref(&self, name: &str, data: &[u8]) -> Result<()> {
        self.refs
            .replace(name, data)
            .with_context(|| format!("writing {}", quote(self.dir.join("refs").join(name))))
    }

    pub fn remove_ref(&self, name: &str) -> Result<()> {
        nix::unistd::unlinkat(&self.refs, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
            .with_context(|| format!("removing {}", quote(self.dir.join("refs").join(name))))
    }

    /// Marks a ref as used now (what `images` shows as last use).
    pub fn touch_ref(&self, name: &str) {
        if let Ok(f) = self.refs.open_file(name) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// The names in layers/.
    pub fn layer_names(&self) -> Vec<String> {
        let Ok(names) = self.layers.reopen().and_then(|d| super::tree::list(&d)) else {
            return Vec::new();
        };
        names
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .collect()
    }

    /// Removes the layer (or temporary layer) `name` if no run holds it; whether it did.
    pub fn remove_unheld(&self, name: &str) -> Result<bool> {
        let Some(lock) = self.layers.subdir(name).ok().and_then(|d| d.reopen().ok()) else {
            return Ok(false);
        };
        if crate::sys::try_lock_exclusive(lock.as_raw_fd()) != Ok(true) {
            return Ok(false); // in use
        }
        self.layers
            .remove_tree(name)
            .with_context(|| format!("removing {}", quote(self.layers_dir().join(name))))?;
        Ok(true)
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
        let (name, made, held) = self.make_temp()?;
        let result = unpack_into(&made, blob, blob_digest, diff_id, limits, progress);
        let outcome = result.and_then(|(hex, done)| {
            let meta = LayerMeta {
                size: done.bytes,
                entries: done.entries,
            };
            std::io::Write::write_all(&mut made.create("meta.json")?, &serde_json::to_vec(&meta)?)?;
            match self.layers.rename(&name, &hex) {
                // The lock is the directory's (its open file description's): it moved along.
                Ok(()) => Ok((hex, held)),
                // Another run unpacked the same layer meanwhile: use theirs.
                Err(_) if self.layer(&hex).is_some() => {
                    let _ = self.layers.remove_tree(&name);
                    let theirs = self.hold(&hex).ok_or_else(|| {
                        anyhow!("layer sha256:{hex} was pruned while it was unpacked; run again")
                    })?;
                    Ok((hex, theirs))
                }
                Err(e) => Err(e).with_context(|| {
                    format!(
                        "moving the layer to {}",
                        quote(self.layers_dir().join(&hex))
                    )
                }),
            }
        });
        if outcome.is_err() {
            let _ = self.layers.remove_tree(&name);
        }
        outcome
    }

    /// A new temporary layer directory `.tmp-<random>`, held (a shared flock) from before
    /// anything is unpacked into it until the layer is renamed into place, or dropped. Prune
    /// removes a temporary layer only under an exclusive flock: one whose unpacker is gone,
    /// or one just made and not yet locked, which is then made again (lock, then check it is
    /// still linked: a removed directory has no links left).
    fn make_temp(&self) -> Result<(String, Dir, fs::File)> {
        for _ in 0..3 {
            let name = format!(".tmp-{}", random_hex());
            self.layers
                .mkdir(&name)
                .with_context(|| format!("creating {}", quote(self.layers_dir().join(&name))))?;
            // Until it is locked, prune may remove it: then another is made.
            let Some((made, held)) = self.layers.subdir(&name).ok().and_then(|made| {
                let held = fs::File::from(made.reopen().ok()?);
                Some((made, held))
            }) else {
                continue;
            };
            if crate::sys::try_lock_shared(held.as_raw_fd()) == Ok(true)
                && held.metadata().is_ok_and(|m| m.nlink() > 0)
            {
                return Ok((name, made, held));
            }
        }
        bail!(
            "creating a temporary layer in {}: removed as it was made (is `images --prune` running in a loop?)",
            quote(self.layers_dir())
        )
    }
}

fn unpack_into(
    tmp: &Dir,
    blob: Box<dyn Read + '_>,
    blob_digest: Option<&str>,
    diff_id: Option<&str>,
    limits: Limits,
    progress: &mut dyn FnMut(u64),
) -> Result<(String, Unpacked)> {
    nix::sys::stat::mkdirat(tmp, "root", nix::sys::stat::Mode::from_bits_truncate(0o755))?;
    let flags = nix::fcntl::OFlag::O_RDONLY
        | nix::fcntl::OFlag::O_DIRECTORY
        | nix::fcntl::OFlag::O_NOFOLLOW
        | nix::fcntl::OFlag::O_CLOEXEC;
    let root = nix::fcntl::openat(tmp, "root", flags, nix::sys::stat::Mode::empty())?;
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

/// 12 random hex digits for temporary names.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 6];
    let _ = crate::sys::getrandom(&mut bytes);
    hex(&bytes)
}
