//! Image formats, found from content: an OCI image layout directory, an oci-archive or
//! docker-archive (what `podman save` writes), or a plain rootfs tarball (.tar, .tar.gz,
//! .tar.zst). Each gives its layers (bottom first) and, except a plain tarball, a config.

use super::config::{ConfigFile, RunConfig};
use super::store::{digest_hex, sha256_hex};
use super::unpack::clean;
use crate::error::quote;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The most bytes of JSON (index, manifest, config) read from an image.
const JSON_LIMIT: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OciLayout,
    OciArchive,
    DockerArchive,
    Rootfs,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::OciLayout => "oci-layout",
            Format::OciArchive => "oci-archive",
            Format::DockerArchive => "docker-archive",
            Format::Rootfs => "rootfs tarball",
        }
    }
}

/// A layer to fetch: where its bytes are, and what the image says they hash to.
pub struct LayerRef {
    pub blob: String,
    pub blob_digest: Option<String>,
    pub diff_id: Option<String>,
}

pub struct Manifest {
    /// The image's identity: its manifest's digest (a plain tarball has none until unpacked).
    pub digest: Option<String>,
    pub layers: Vec<LayerRef>,
    pub config: RunConfig,
}

/// Where blobs are read from.
pub enum Blobs {
    Dir(PathBuf),
    /// Entries of an uncompressed tar: name → (offset of the data, size).
    Tar(PathBuf, HashMap<PathBuf, (u64, u64)>),
    /// The whole file is the one layer.
    Whole(PathBuf),
}

impl Blobs {
    pub fn open(&self, name: &str) -> Result<Box<dyn Read>> {
        match self {
            Blobs::Dir(dir) => {
                let rel = clean(name.as_bytes())?.unwrap_or_default();
                let path = dir.join(&rel);
                // A layout directory is anyone's: its files are opened beneath it through no
                // symlink, and a FIFO there opens at once (O_NONBLOCK) and is refused instead
                // of hanging us, like a device.
                let root: std::os::fd::OwnedFd = File::open(dir)
                    .with_context(|| format!("opening {}", quote(dir)))?
                    .into();
                let flags = nix::fcntl::OFlag::from_bits_truncate(crate::untrusted::OPEN_FLAGS)
                    | nix::fcntl::OFlag::O_CLOEXEC;
                let f = match super::tree::open(&root, &rel, flags, 0) {
                    Ok(fd) => File::from(fd),
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(nix::libc::ELOOP | nix::libc::EXDEV)
                        ) =>
                    {
                        bail!("{} is a symlink or reached through one, which an image layout may not have", quote(&path))
                    }
                    Err(e) => return Err(e).with_context(|| format!("opening {}", quote(&path))),
                };
                if !f.metadata()?.is_file() {
                    bail!("{} is not a regular file", quote(&path));
                }
                Ok(Box::new(f))
            }
            Blobs::Tar(file, index) => {
                let key = clean(name.as_bytes())?.unwrap_or_default();
                let &(offset, size) = index
                    .get(&key)
                    .ok_or_else(|| anyhow!("the archive has no {}", quote(name)))?;
                let mut f = open_regular(file)?;
                f.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(f.take(size)))
            }
            Blobs::Whole(file) => Ok(Box::new(open_regular(file)?)),
        }
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<(T, Vec<u8>)> {
        let mut bytes = Vec::new();
        self.open(name)?
            .take(JSON_LIMIT + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", quote(name)))?;
        if bytes.len() as u64 > JSON_LIMIT {
            bail!("{} is larger than {} bytes", quote(name), JSON_LIMIT);
        }
        let value =
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", quote(name)))?;
        Ok((value, bytes))
    }

    /// A blob named by digest, checked against it.
    fn json_blob<T: for<'de> Deserialize<'de>>(&self, digest: &str) -> Result<T> {
        let hex = digest_hex(digest)?;
        let (value, bytes) = self.json(&format!("blobs/sha256/{hex}"))?;
        if sha256_hex(&bytes) != hex {
            bail!("blob {} does not match its digest", quote(digest));
        }
        Ok(value)
    }
}

/// Finds the format of `path` from its content and lists its blobs.
pub fn open(path: &Path) -> Result<(Blobs, Format)> {
    let meta = path.metadata()?;
    if meta.is_dir() {
        if !path.join("oci-layout").is_file() || !path.join("index.json").is_file() {
            bail!("not an OCI image layout (no oci-layout and index.json); for a directory to use as the root, use --rootfs");
        }
        return Ok((Blobs::Dir(path.to_path_buf()), Format::OciLayout));
    }
    let mut f = open_regular(path)?;
    let mut head = [0u8; 512];
    let n = read_full(&mut f, &mut head)?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok((Blobs::Whole(path.to_path_buf()), Format::Rootfs));
    }
    if n < 512 || &head[257..262] != b"ustar" {
        bail!(
            "not an image: neither an OCI layout directory nor a tar archive (plain, gzip or zstd)"
        );
    }
    f.seek(SeekFrom::Start(0))?;
    let mut index = HashMap::new();
    // Entries' data is skipped by seeking; what is read is headers, bounded like a layer's.
    let (f, gap) = super::unpack::Gap::new(f);
    let mut archive = tar::Archive::new(f);
    for entry in archive.entries_with_seek().context("reading the archive")? {
        let entry = entry.context("reading the archive")?;
        gap.set(Some(0));
        if index.len() > 1_000_000 {
            bail!("more than 1000000 entries");
        }
        if entry.header().entry_type().is_file() {
            if let Ok(Some(name)) = clean(&entry.path_bytes()) {
                index.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
    }
    let format = if index.contains_key(Path::new("oci-layout"))
        && index.contains_key(Path::new("index.json"))
    {
        Format::OciArchive
    } else if index.contains_key(Path::new("manifest.json")) {
        Format::DockerArchive
    } else {
        return Ok((Blobs::Whole(path.to_path_buf()), Format::Rootfs));
    };
    Ok((Blobs::Tar(path.to_path_buf(), index), format))
}

/// Opens the image file `path`, never waiting on a FIFO (O_NONBLOCK) nor reading a device.
fn open_regular(path: &Path) -> Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(crate::untrusted::OPEN_FLAGS & !nix::libc::O_RDONLY)
        .open(path)
        .with_context(|| format!("opening {}", quote(path)))?;
    if !f.metadata()?.is_file() {
        bail!("not a regular file nor an OCI image layout directory");
    }
    Ok(f)
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    layers: Vec<String>,
}

fn our_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Picks the manifest for this machine from an index's list (or the only one).
fn pick(list: Vec<Descriptor>) -> Result<Descriptor> {
    let mut fallback = None;
    for d in list {
        match &d.platform {
            Some(p) if p.os == "linux" && p.architecture == our_arch() => return Ok(d),
            Some(_) => {}
            None => {
                fallback.get_or_insert(d);
            }
        }
    }
    fallback.ok_or_else(|| anyhow!("the image has no manifest for linux/{}", our_arch()))
}

/// Reads the manifest and config of an image of `format`.
pub fn manifest(blobs: &Blobs, format: Format) -> Result<Manifest> {
    match format {
        Format::Rootfs => Ok(Manifest {
            digest: None,
            layers: vec![LayerRef {
                blob: String::new(),
                blob_digest: None,
                diff_id: None,
            }],
            config: RunConfig::default(),
        }),
        Format::OciLayout | Format::OciArchive => {
            let (index, _) = blobs.json::<Index>("index.json")?;
            let mut desc = pick(index.manifests)?;
            // An index may point at another index (multi-platform images): follow a few.
            for _ in 0..4 {
                let m: OciManifest = blobs.json_blob(&desc.digest)?;
                if let Some(list) = m.manifests {
                    desc = pick(list)?;
                    continue;
                }
                let config_desc = m
                    .config
                    .ok_or_else(|| anyhow!("the manifest has no config"))?;
                let config: ConfigFile = blobs.json_blob(&config_desc.digest)?;
                let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
                if diff_ids.len() != m.layers.len() {
                    bail!(
                        "the config lists {} layers, the manifest {}",
                        diff_ids.len(),
                        m.layers.len()
                    );
                }
                let mut layers = Vec::new();
                for (l, diff) in m.layers.into_iter().zip(diff_ids) {
                    if l.media_type.contains("nondistributable") || l.media_type.contains("foreign")
                    {
                        bail!("a foreign layer ({}) is not in the image", l.media_type);
                    }
                    layers.push(LayerRef {
                        blob: format!("blobs/sha256/{}", digest_hex(&l.digest)?),
                        blob_digest: Some(l.digest),
                        diff_id: Some(diff),
                    });
                }
                return Ok(Manifest {
                    digest: Some(desc.digest),
                    layers,
                    config: config.config.unwrap_or_default(),
                });
            }
            bail!("the image's indexes nest too deep")
        }
        Format::DockerArchive => {
            let (entries, bytes) = blobs.json::<Vec<DockerEntry>>("manifest.json")?;
            let [entry] = <[DockerEntry; 1]>::try_from(entries).map_err(|v| {
                anyhow!(
                    "the archive holds {} images; ns-rootless runs archives of one",
                    v.len()
                )
            })?;
            let (config, config_bytes) = blobs.json::<ConfigFile>(&entry.config)?;
            let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
            if diff_ids.len() != entry.layers.len() {
                bail!(
                    "the config lists {} layers, manifest.json {}",
                    diff_ids.len(),
                    entry.layers.len()
                );
            }
            let _ = bytes;
            Ok(Manifest {
                // Docker's image id: the digest of its config.
                digest: Some(format!("sha256:{}", sha256_hex(&config_bytes))),
                layers: entry
                    .layers
                    .into_iter()
                    .zip(diff_ids)
                    .map(|(blob, diff)| LayerRef {
                        blob,
                        blob_digest: None,
                        diff_id: Some(diff),
                    })
                    .collect(),
                config: config.config.unwrap_or_default(),
            })
        }
    }
}
