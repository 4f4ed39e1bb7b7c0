//! Images (`--image REF`, `ns-rootless images`): formats found from content, layers unpacked
//! once into a store shared between images, stacked with overlayfs at each run.

pub mod command;
pub mod config;
pub mod list;
pub mod source;
pub mod store;
pub mod tree;
pub mod unpack;

use crate::error::quote;
use anyhow::{anyhow, Context, Result};
use config::RunConfig;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use store::Store;

/// An image ready to run: its layers' directories, bottom first, and its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub source: PathBuf,
    pub layers: Vec<PathBuf>,
    pub config: RunConfig,
    pub held: Held,
}

/// The run's holds on its layers (`Store::hold`), from the moment each is found or unpacked
/// until the run ends (main keeps a copy; -d's supervisor inherits it; init closes it).
#[derive(Debug, Clone, Default)]
pub struct Held {
    _files: std::sync::Arc<Vec<std::fs::File>>,
}

/// Which layers an image holds is its `layers`; the holds themselves compare equal.
impl PartialEq for Held {
    fn eq(&self, _: &Held) -> bool {
        true
    }
}
impl Eq for Held {}

/// What the store remembers of an image file or directory it has seen, so a warm start reads
/// one small file instead of the archive.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Ref {
    pub source: PathBuf,
    pub format: String,
    pub digest: String,
    /// (device, inode, size, mtime in ns) of the source when it was read.
    pub stamp: (u64, u64, u64, i128),
    /// diff_id hexes, bottom first.
    pub layers: Vec<String>,
    pub config: RunConfig,
}

pub fn stamp_of(path: &Path) -> Result<(u64, u64, u64, i128)> {
    // A layout directory changes through its index.json.
    let file = if path.is_dir() {
        path.join("index.json")
    } else {
        path.to_path_buf()
    };
    let m = file.metadata()?;
    Ok((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
    ))
}

/// The ref of the image file or directory `source`: keyed by its path's hash.
fn ref_name(source: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    format!("{}.json", store::sha256_hex(source.as_os_str().as_bytes()))
}

/// Opens the image at `reference`, unpacking the layers the store doesn't have yet.
pub fn open(reference: &Path, env: &[(OsString, OsString)]) -> Result<Image> {
    let bad = |e: anyhow::Error| e.context(format!("invalid --image {}", quote(reference)));
    let source = reference.canonicalize().map_err(|e| bad(e.into()))?;
    let store = Store::locate(env)?
        .open(true)?
        .ok_or_else(|| anyhow!("the image store is gone"))?;
    // No stamp (a directory without index.json): not an image, which import says.
    let stamp = stamp_of(&source).unwrap_or_default();
    let ref_file = ref_name(&source);
    if let Some(r) = store.read_ref(&ref_file) {
        let held: Option<Vec<_>> = r.layers.iter().map(|l| store.hold(l)).collect();
        if let (true, true, Some(held)) = (r.source == source, r.stamp == stamp, held) {
            store.touch_ref(&ref_file);
            return Ok(Image {
                layers: stacked(&store, &r.layers),
                source,
                config: r.config,
                held: Held {
                    _files: held.into(),
                },
            });
        }
    }
    let (r, held) = import(&store, &source, stamp, progress_after(env)).map_err(bad)?;
    store.write_ref(&ref_file, &serde_json::to_vec_pretty(&r)?)?;
    Ok(Image {
        layers: stacked(&store, &r.layers),
        source,
        config: r.config,
        held: Held {
            _files: held.into(),
        },
    })
}

/// The directories overlayfs stacks for `layers` (bottom first). A layer that comes again
/// higher up is given only there: overlayfs refuses one lower twice (ELOOP), and the lower
/// copy changes nothing, as the upper one has every path it has, whiteouts included.
fn stacked(store: &store::Opened, layers: &[String]) -> Vec<PathBuf> {
    layers
        .iter()
        .enumerate()
        .filter(|(i, l)| !layers[i + 1..].contains(l))
        .map(|(_, l)| store.layer_root(l))
        .collect()
}

/// The image's ref, and a hold on each of its layers (`Store::hold`) from the moment it is
/// found or unpacked.
fn import(
    store: &store::Opened,
    source: &Path,
    stamp: (u64, u64, u64, i128),
    progress_after: std::time::Duration,
) -> Result<(Ref, Vec<std::fs::File>)> {
    let started = std::time::Instant::now();
    let (blobs, format) = source::open(source)?;
    let manifest = source::manifest(&blobs, format)?;
    let mut layers = Vec::new();
    let mut held = Vec::new();
    let count = manifest.layers.len();
    for (i, layer) in manifest.layers.iter().enumerate() {
        if let Some(diff) = &layer.diff_id {
            let hex = store::digest_hex(diff)?;
            if let Some(h) = store.hold(hex) {
                layers.push(hex.to_string());
                held.push(h);
                continue;
            }
        }
        let blob = blobs.open(&layer.blob)?;
        let bar = progress_bar(i + 1, count);
        let mut tried = false;
        let (hex, h) = store
            .add_layer(
                blob,
                layer.blob_digest.as_deref(),
                layer.diff_id.as_deref(),
                unpack::LIMITS,
                &mut |n| {
                    bar.set_position(n);
                    if !tried && started.elapsed() >= progress_after {
                        tried = true;
                        show(&bar);
                    }
                },
            )
            .with_context(|| format!("unpacking layer {} of {count}", i + 1))?;
        bar.finish_and_clear();
        layers.push(hex);
        held.push(h);
    }
    let digest = manifest
        .digest
        .unwrap_or_else(|| format!("sha256:{}", layers.first().cloned().unwrap_or_default()));
    let r = Ref {
        source: source.to_path_buf(),
        format: format.name().to_string(),
        digest,
        stamp,
        layers,
        config: manifest.config,
    };
    Ok((r, held))
}

/// How long unpacking runs before its progress is shown: a start that unpacks a small image
/// at once should not flash a line. `NS_ROOTLESS_PROGRESS_AFTER_MS` may only lower it (the
/// tests show it on a short unpack).
const PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_millis(700);

fn progress_after(env: &[(OsString, OsString)]) -> std::time::Duration {
    env.iter()
        .find(|(k, _)| k == "NS_ROOTLESS_PROGRESS_AFTER_MS")
        .and_then(|(_, v)| v.to_str()?.parse().ok())
        .map(std::time::Duration::from_millis)
        .map_or(PROGRESS_AFTER, |d| d.min(PROGRESS_AFTER))
}

/// A progress line for unpacking layer `n` of `count`, hidden until `show`: the bytes written
/// so far (a compressed blob's size says nothing of what it unpacks to).
fn progress_bar(n: usize, count: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::hidden();
    let template = "{spinner} unpacking layer {msg}: {bytes} ({elapsed})";
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(format!("{n}/{count}"));
    bar
}

/// Draws the bar on stderr from now on, when stderr is a terminal (indicatif's stderr target
/// is hidden otherwise: nothing is written to a pipe or a file).
fn show(bar: &indicatif::ProgressBar) {
    let target = indicatif::ProgressDrawTarget::stderr_with_hz(4);
    if !target.is_hidden() {
        bar.set_draw_target(target);
        bar.force_draw();
    }
}

/// Reads `rel` (like `etc/passwd`) from the image's layers as the sandbox sees it, looked up
/// the way overlayfs merges them (tree::merged_lookup). The layers are hostile input: only a
/// regular file, never through a symlink, never more than `limit` bytes (more is an error:
/// a file cut at the bound could end in the middle of an entry). None when it has no such file.
pub fn read_file(layers: &[PathBuf], rel: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let flags = nix::fcntl::OFlag::O_RDONLY
        | nix::fcntl::OFlag::O_DIRECTORY
        | nix::fcntl::OFlag::O_NOFOLLOW
        | nix::fcntl::OFlag::O_CLOEXEC;
    let top_first = layers
        .iter()
        .rev()
        .map(|l| nix::fcntl::open(l, flags, nix::sys::stat::Mode::empty()).map_err(Into::into))
        .collect::<std::io::Result<Vec<_>>>()?;
    let Some((dir, _)) = tree::merged_lookup(&top_first, rel)? else {
        return Ok(None);
    };
    let flags = nix::fcntl::OFlag::from_bits_truncate(crate::untrusted::OPEN_FLAGS)
        | nix::fcntl::OFlag::O_NOFOLLOW
        | nix::fcntl::OFlag::O_CLOEXEC;
    let name = rel.file_name().unwrap_or_default();
    let fd =
        nix::fcntl::openat(&dir, name, flags, nix::sys::stat::Mode::empty()).map_err(
            |e| match e {
                nix::Error::ELOOP => std::io::Error::other("a symlink"),
                e => e.into(),
            },
        )?;
    crate::untrusted::read_regular(fd, limit, None).map(Some)
}

#[cfg(test)]
mod unpack_tests;
