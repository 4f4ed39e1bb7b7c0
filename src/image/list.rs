//! `ns-rootless images [--prune] [--json]`: what the store holds, and removing what no image
//! uses any more.

use super::store::{Opened, Store};
use super::{stamp_of, Ref};
use crate::error::escape;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

struct Row {
    name: String,
    r: Ref,
    size: u64,
    last_use: SystemTime,
}

fn rows(store: &Opened) -> Vec<Row> {
    let mut rows: Vec<Row> = store
        .refs()
        .into_iter()
        .filter_map(|(name, last_use)| {
            let r = store.read_ref(&name)?;
            let size = r
                .layers
                .iter()
                .filter_map(|l| store.layer_meta(l))
                .map(|m| m.size)
                .sum();
            Some(Row {
                name,
                r,
                size,
                last_use,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.r.source.cmp(&b.r.source));
    rows
}

pub fn run(env: &[(OsString, OsString)], prune: bool, json: bool) -> Result<u8> {
    let store = Store::locate(env)?.open(false)?;
    if let (true, Some(store)) = (prune, &store) {
        let sessions = crate::session::image_layers_in_use(env)?;
        prune_store(store, &sessions)?;
    }
    let rows = store.as_ref().map(rows).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "source": row.r.source,
                    "format": row.r.format,
                    "digest": row.r.digest,
                    "layers": row.r.layers.iter().map(|l| format!("sha256:{l}")).collect::<Vec<_>>(),
                    "size": row.size,
                    "last_use": row.last_use.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?).context("writing the list")?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:<19} {:<15} {:>9}  {:<9} SOURCE",
        "DIGEST", "FORMAT", "SIZE", "LAST USE"
    )
    .context("writing the list")?;
    for row in rows {
        let digest: String = row.r.digest.chars().take(19).collect();
        writeln!(
            out,
            "{digest:<19} {:<15} {:>9}  {:<9} {}",
            row.r.format,
            human_size(row.size),
            ago(row.last_use),
            escape(row.r.source.as_os_str().as_bytes())
        )
        .context("writing the list")?;
    }
    Ok(0)
}

/// Forgets images whose source is gone or changed, then removes every layer no remaining
/// image names and no session (`sessions`: the layer roots they compare with) needs, and
/// temporary layers no unpacker holds. A layer a run holds (`Store::hold`: a
/// sandbox using it, a start unpacking or finding it) is kept: each is removed under an
/// exclusive flock, which a run's shared one refuses.
fn prune_store(store: &Opened, sessions: &[std::path::PathBuf]) -> Result<()> {
    let layers_dir = store.layers_dir();
    let mut kept: HashSet<String> = sessions
        .iter()
        .filter_map(|root| root.strip_prefix(&layers_dir).ok())
        .filter_map(|rel| rel.iter().next()?.to_str().map(String::from))
        .collect();
    for row in rows(store) {
        let current = stamp_of(&row.r.source).ok();
        if current == Some(row.r.stamp) {
            kept.extend(row.r.layers);
        } else {
            store.remove_ref(&row.name)?;
        }
    }
    let mut removed = 0u64;
    let mut bytes = 0u64;
    for name in store.layer_names() {
        // A temporary layer is its unpacker's for as long as it holds its lock (as a
        // pid in its name could be another process's by now): remove_unheld decides.
        let unused = name.starts_with(".tmp-") || !kept.contains(&name);
        let size = store.layer_meta(&name).map_or(0, |m| m.size);
        if unused && store.remove_unheld(&name)? {
            bytes += size;
            removed += 1;
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "ns-rootless: pruned {removed} layer(s), {}",
        human_size(bytes)
    );
    Ok(())
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn ago(t: SystemTime) -> String {
    let s = SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs());
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}
