//! The filesystem options (`--bind`, `--tmpfs`, `-w`, ...) turned into validated mounts.

use crate::error::quote;
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Cap of a `--tmpfs` without an explicit size, and of the sandbox's /tmp.
pub const DEFAULT_TMPFS_SIZE: u64 = 1 << 30;

/// One mount of a sandbox, whichever front end asked for it: the command line's filesystem
/// options, or an OCI config's `mounts`, `maskedPaths` and `readonlyPaths`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// `--bind`, `--ro-bind`: the source with all its submounts, nosuid and nodev.
    Bind {
        src: PathBuf,
        dst: PathBuf,
        readonly: bool,
        /// Whether the source is a directory (else a file: the mount point is a file too).
        dir: bool,
    },
    /// An OCI `bind`/`rbind`: the source with exactly the mount attributes its options give.
    BindTree {
        src: PathBuf,
        dst: PathBuf,
        dir: bool,
        /// MOUNT_ATTR_* flags.
        attrs: u64,
        /// With its submounts (`rbind`).
        recursive: bool,
        /// MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE.
        propagation: u64,
    },
    /// A new filesystem of this type with its own options (OCI `tmpfs`, `proc`, `mqueue`,
    /// `sysfs`, `cgroup`, ...).
    Filesystem {
        dst: PathBuf,
        fstype: String,
        /// What /proc/self/mountinfo shows as its source (the config's `source`).
        source: String,
        options: Vec<(String, Option<String>)>,
        attrs: u64,
        propagation: u64,
    },
    Tmpfs {
        dst: PathBuf,
        size: u64,
    },
    Dir {
        dst: PathBuf,
    },
    Symlink {
        target: PathBuf,
        dst: PathBuf,
    },
    /// `--hide`, OCI `maskedPaths`: an empty read-only directory or file over what is there,
    /// skipped where nothing is.
    Hide {
        dst: PathBuf,
    },
    /// OCI `readonlyPaths`: what is there made read-only, skipped where nothing is.
    ReadOnly {
        dst: PathBuf,
    },
}

impl MountSpec {
    pub fn dst(&self) -> &Path {
        match self {
            MountSpec::Bind { dst, .. }
            | MountSpec::BindTree { dst, .. }
            | MountSpec::Filesystem { dst, .. }
            | MountSpec::Tmpfs { dst, .. }
            | MountSpec::Dir { dst }
            | MountSpec::Hide { dst }
            | MountSpec::ReadOnly { dst }
            | MountSpec::Symlink { dst, .. } => dst,
        }
    }
}

/// A filesystem option, as given (a front end lists them in the order given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountArg {
    Bind {
        arg: OsString,
        readonly: bool,
        optional: bool,
    },
    Tmpfs(OsString),
    Dir(OsString),
    Symlink(OsString),
    Work(OsString),
    Hide(OsString),
}

impl MountArg {
    /// The option's name, for messages.
    pub fn option(&self) -> &'static str {
        match self {
            MountArg::Bind {
                readonly: false,
                optional: false,
                ..
            } => "--bind",
            MountArg::Bind {
                readonly: true,
                optional: false,
                ..
            } => "--ro-bind",
            MountArg::Bind {
                readonly: false,
                optional: true,
                ..
            } => "--bind-try",
            MountArg::Bind {
                readonly: true,
                optional: true,
                ..
            } => "--ro-bind-try",
            MountArg::Tmpfs(_) => "--tmpfs",
            MountArg::Dir(_) => "--dir",
            MountArg::Symlink(_) => "--symlink",
            MountArg::Work(_) => "--work",
            MountArg::Hide(_) => "--hide",
        }
    }
}

/// The parsed filesystem options, and the directory `-w` asked to start in.
pub struct Mounts {
    pub mounts: Vec<MountSpec>,
    pub work_dir: Option<PathBuf>,
}

pub fn parse(args: &[MountArg], cwd: Option<&Path>) -> Result<Mounts> {
    let mut mounts = Vec::new();
    let mut work_dir = None;
    for arg in args {
        let option = arg.option();
        let bad = |value: &OsStr, why: &dyn std::fmt::Display| {
            anyhow!("invalid {option} {}: {why}", quote(value))
        };
        match arg {
            MountArg::Bind {
                arg: value,
                readonly,
                optional,
            } => {
                let (src, dst) = split_first(value);
                // Checked before the source, so a bad destination is refused whether or not a
                // `-try` source happens to exist on this host.
                let dst = dst
                    .map(|d| destination(d).map_err(|e| bad(value, &e)))
                    .transpose()?;
                let src = absolute(src, cwd).map_err(|e| bad(value, &e))?;
                let meta = match src.metadata() {
                    Ok(m) => m,
                    Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) if src.as_os_str() == value_src(value) => return Err(bad(value, &e)),
                    Err(e) => return Err(bad(value, &format!("{}: {e}", quote(&src)))),
                };
                let src = src.canonicalize().map_err(|e| bad(value, &e))?;
                let dst = match dst {
                    Some(d) => d,
                    None => destination(src.as_os_str()).map_err(|e| bad(value, &e))?,
                };
                mounts.push(MountSpec::Bind {
                    src,
                    dst,
                    readonly: *readonly,
                    dir: meta.is_dir(),
                });
            }
            MountArg::Tmpfs(value) => {
                let (dst, size) = split_last(value);
                let dst = destination(dst).map_err(|e| bad(value, &e))?;
                let size = match size {
                    Some(s) => parse_size(s).map_err(|e| bad(value, &e))?,
                    None => DEFAULT_TMPFS_SIZE,
                };
                mounts.push(MountSpec::Tmpfs { dst, size });
            }
            MountArg::Dir(value) => {
                let dst = destination(value).map_err(|e| bad(value, &e))?;
                mounts.push(MountSpec::Dir { dst });
            }
            MountArg::Hide(value) => {
                let dst = destination(value).map_err(|e| bad(value, &e))?;
                mounts.push(MountSpec::Hide { dst });
            }
            MountArg::Symlink(value) => {
                let (target, dst) = match split_last(value) {
                    (t, Some(d)) if !t.is_empty() => (t, d),
                    _ => return Err(bad(value, &"expected TARGET:DST")),
                };
                let dst = destination(dst).map_err(|e| bad(value, &e))?;
                mounts.push(MountSpec::Symlink {
                    target: target.into(),
                    dst,
                });
            }
            MountArg::Work(value) => {
                let dir = absolute(value, cwd)
                    .and_then(|d| d.canonicalize().map_err(|e| anyhow!("{e}")))
                    .map_err(|e| bad(value, &e))?;
                if !dir.is_dir() {
                    return Err(bad(value, &"not a directory"));
                }
                let dst = destination(dir.as_os_str()).map_err(|e| bad(value, &e))?;
                mounts.push(MountSpec::Bind {
                    src: dir.clone(),
                    dst,
                    readonly: false,
                    dir: true,
                });
                work_dir = Some(dir);
            }
        }
    }
    Ok(Mounts { mounts, work_dir })
}

/// The SRC part of a `SRC[:DST]` value, as given.
fn value_src(value: &OsStr) -> &OsStr {
    split_first(value).0
}

fn split_first(arg: &OsStr) -> (&OsStr, Option<&OsStr>) {
    let b = arg.as_bytes();
    match b.iter().position(|&c| c == b':') {
        Some(i) => (
            OsStr::from_bytes(&b[..i]),
            Some(OsStr::from_bytes(&b[i + 1..])),
        ),
        None => (arg, None),
    }
}

fn split_last(arg: &OsStr) -> (&OsStr, Option<&OsStr>) {
    let b = arg.as_bytes();
    match b.iter().rposition(|&c| c == b':') {
        Some(i) => (
            OsStr::from_bytes(&b[..i]),
            Some(OsStr::from_bytes(&b[i + 1..])),
        ),
        None => (arg, None),
    }
}

fn absolute(path: &OsStr, cwd: Option<&Path>) -> Result<PathBuf> {
    let path = Path::new(path);
    if path.as_os_str().is_empty() {
        bail!("empty path");
    }
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    match cwd {
        Some(cwd) => Ok(cwd.join(path)),
        None => bail!("a relative path needs a current directory, and it is unreadable"),
    }
}

/// A destination inside the sandbox: absolute, no `..`, normalised; `/`, `/proc` and `/dev`
/// themselves are ns-rootless's own.
pub fn destination(raw: &OsStr) -> Result<PathBuf> {
    let path = Path::new(raw);
    if !path.is_absolute() {
        bail!("the destination must be an absolute path");
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => bail!("the destination must not contain '..'"),
            Component::Prefix(_) => bail!("not a Unix path"),
        }
    }
    match out.to_str() {
        Some("/") => bail!("the destination / is the sandbox's root itself; use --rootfs"),
        Some("/proc") => {
            bail!("the destination /proc is reserved: ns-rootless mounts a fresh /proc")
        }
        Some("/dev") => bail!("the destination /dev is reserved: ns-rootless builds its own /dev"),
        _ => Ok(out),
    }
}

/// A bundle's mounts, as its config lists them: each destination made absolute (relative to
/// the container's `/`, config.md) and refused with `..` or as `/` itself; each bind source
/// made canonical, relative to the bundle directory. Unlike the command line's, /proc and
/// /dev are no reserved destinations: a bundle's config lists every mount, those included.
pub fn resolve_in_bundle(mounts: &mut [MountSpec], bundle: &Path) -> Result<()> {
    for m in mounts {
        let dst = match m {
            MountSpec::Bind { dst, .. }
            | MountSpec::BindTree { dst, .. }
            | MountSpec::Filesystem { dst, .. }
            | MountSpec::Tmpfs { dst, .. }
            | MountSpec::Dir { dst }
            | MountSpec::Hide { dst }
            | MountSpec::ReadOnly { dst }
            | MountSpec::Symlink { dst, .. } => dst,
        };
        *dst = config_destination(dst)?;
        if let MountSpec::BindTree { src, dir, .. } = m {
            let canonical = bundle
                .join(&*src)
                .canonicalize()
                .with_context(|| format!("invalid mount source {}", quote(&*src)))?;
            *dir = canonical.is_dir();
            *src = canonical;
        }
    }
    Ok(())
}

/// A destination inside a bundle's container, absolute, without `..`.
fn config_destination(d: &Path) -> Result<PathBuf> {
    let p = Path::new("/").join(d);
    if p.components().any(|c| c == Component::ParentDir) {
        bail!(
            "invalid mount destination {}: must not contain '..'",
            quote(d)
        );
    }
    if p == Path::new("/") {
        bail!("invalid mount destination {}: the root itself", quote(d));
    }
    Ok(p)
}

/// `64m`, `1g`, `4096`: bytes with an optional k/m/g (binary) suffix.
pub fn parse_size(raw: &OsStr) -> Result<u64> {
    let s = raw.to_str().unwrap_or("");
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 10),
        Some((i, 'm' | 'M')) => (&s[..i], 20),
        Some((i, 'g' | 'G')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = match digits.parse() {
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => bail!("the size must be a positive number of bytes with an optional k, m or g suffix"),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| anyhow!("the size is too large"))
}

/// Orders mounts so that parents come before children, keeping command-line order otherwise.
pub fn parents_first(mut mounts: Vec<MountSpec>) -> Vec<MountSpec> {
    mounts.sort_by_key(|m| m.dst().components().count());
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(arg: MountArg) -> Result<Vec<MountSpec>> {
        parse(&[arg], Some(Path::new("/tmp"))).map(|m| m.mounts)
    }

    fn bind(arg: &str) -> MountArg {
        MountArg::Bind {
            arg: arg.into(),
            readonly: false,
            optional: false,
        }
    }

    #[test]
    fn bind_destination_defaults_to_the_canonical_source() {
        let m = parse_one(bind("/usr/../etc")).unwrap();
        assert_eq!(
            m,
            [MountSpec::Bind {
                src: "/etc".into(),
                dst: "/etc".into(),
                readonly: false,
                dir: true
            }]
        );
    }

    #[test]
    fn bind_with_an_explicit_destination() {
        let m = parse_one(bind("/etc/hostname:/srv//name/")).unwrap();
        assert_eq!(m[0].dst(), Path::new("/srv/name"));
        assert!(matches!(m[0], MountSpec::Bind { dir: false, .. }));
    }

    #[test]
    fn a_bad_destination_is_refused_even_when_an_optional_source_is_missing() {
        let err = parse_one(MountArg::Bind {
            arg: "/nonexistent-nsr:relative".into(),
            readonly: false,
            optional: true,
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("absolute"), "{err}");
    }

    #[test]
    fn a_missing_source_is_an_error_unless_optional() {
        let err = parse_one(bind("/nonexistent-nsr")).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid --bind \"/nonexistent-nsr\": "),
            "{err}"
        );
        let m = parse_one(MountArg::Bind {
            arg: "/nonexistent-nsr".into(),
            readonly: true,
            optional: true,
        })
        .unwrap();
        assert!(m.is_empty());
    }

    #[test]
    fn a_bundles_destinations_are_under_root_without_dotdot() {
        let mut m = [MountSpec::Tmpfs {
            dst: "/a/../../etc".into(),
            size: 1,
        }];
        let err = resolve_in_bundle(&mut m, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not contain '..'"), "{err}");
        let mut m = [MountSpec::Hide { dst: "proc".into() }];
        resolve_in_bundle(&mut m, Path::new("/")).unwrap();
        assert_eq!(m[0].dst(), Path::new("/proc"));
    }

    #[test]
    fn destinations_must_be_absolute_without_dotdot_and_not_reserved() {
        for (dst, why) in [
            ("rel", "absolute"),
            ("/a/../b", "'..'"),
            ("/", "root itself"),
            ("/proc", "reserved"),
            ("/dev/", "reserved"),
        ] {
            let err = destination(OsStr::new(dst)).unwrap_err().to_string();
            assert!(err.contains(why), "{dst}: {err}");
        }
        assert_eq!(
            destination(OsStr::new("/dev/x")).unwrap(),
            Path::new("/dev/x")
        );
    }

    #[test]
    fn tmpfs_sizes() {
        assert_eq!(parse_size(OsStr::new("4096")).unwrap(), 4096);
        assert_eq!(parse_size(OsStr::new("64m")).unwrap(), 64 << 20);
        assert_eq!(parse_size(OsStr::new("2G")).unwrap(), 2 << 30);
        for bad in ["", "0", "x", "-1", "1t", "1.5g", "+5"] {
            assert!(parse_size(OsStr::new(bad)).is_err(), "{bad}");
        }
        let m = parse_one(MountArg::Tmpfs("/scratch".into())).unwrap();
        assert_eq!(
            m,
            [MountSpec::Tmpfs {
                dst: "/scratch".into(),
                size: DEFAULT_TMPFS_SIZE
            }]
        );
        let err = parse_one(MountArg::Tmpfs("/s:lots".into())).unwrap_err();
        assert!(err.to_string().starts_with("invalid --tmpfs \"/s:lots\""));
    }

    #[test]
    fn symlink_needs_target_and_destination() {
        let m = parse_one(MountArg::Symlink("../lib:/opt/lib".into())).unwrap();
        assert_eq!(
            m,
            [MountSpec::Symlink {
                target: "../lib".into(),
                dst: "/opt/lib".into()
            }]
        );
        assert!(parse_one(MountArg::Symlink("/opt/lib".into())).is_err());
    }

    #[test]
    fn work_binds_the_directory_read_write_and_starts_there() {
        let m = parse(&[MountArg::Work(".".into())], Some(Path::new("/usr"))).unwrap();
        assert_eq!(m.work_dir.as_deref(), Some(Path::new("/usr")));
        assert!(
            matches!(&m.mounts[0], MountSpec::Bind { readonly: false, dst, .. } if dst == Path::new("/usr"))
        );
    }

    #[test]
    fn parents_come_first_and_order_is_otherwise_kept() {
        let d = |p: &str| MountSpec::Dir { dst: p.into() };
        let sorted = parents_first(vec![d("/a/b"), d("/z"), d("/a"), d("/y")]);
        let dsts: Vec<_> = sorted.iter().map(|m| m.dst().to_str().unwrap()).collect();
        assert_eq!(dsts, ["/z", "/a", "/y", "/a/b"]);
    }
}
