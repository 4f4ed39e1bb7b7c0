//! Images and stores for tests/image.rs and tests/session.rs: layers, OCI layouts and archives
//! written here with the `tar` crate, and a home of the unprivileged caller's own.

use crate::common::{self, caller_gid, caller_uid, ns_rootless, TempDir};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A directory the unprivileged caller owns, with its XDG data, state and runtime dirs (named
/// sandboxes are kept after they end: each test keeps its own out of the shared default).
pub struct Home {
    pub dir: TempDir,
}

impl Home {
    pub fn new(label: &str) -> Home {
        let dir = TempDir::new(label);
        for sub in ["data", "state", "files", "run"] {
            let p = dir.path().join(sub);
            fs::create_dir(&p).unwrap();
            give(&p);
        }
        fs::set_permissions(dir.path().join("run"), fs::Permissions::from_mode(0o700)).unwrap();
        Home { dir }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A place for files the caller may write (images, projects).
    pub fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    pub fn layers(&self) -> Vec<String> {
        let dir = self.data().join("ns-rootless/layers");
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn cmd<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = ns_rootless(args);
        cmd.env("XDG_DATA_HOME", self.data())
            .env("XDG_STATE_HOME", self.state())
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"));
        cmd
    }

    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> std::process::Output {
        common::output_of(self.cmd(args))
    }

    /// `sh -c SCRIPT` in host mode with `dir` bound read-write (`--work=DIR`).
    pub fn sh_working_in(&self, dir: &Path, script: &str) -> std::process::Output {
        let work = format!("--work={}", dir.to_str().unwrap());
        self.run(&[work.as_str(), "--", "sh", "-c", script])
    }
}

/// What a sandbox says of one of our private directories that a bind covers: it counted
/// nothing there (`ls -A DIR | wc -l`, padded by busybox) and its write was refused.
pub fn assert_hidden(out: &std::process::Output) {
    common::assert_code(out, 0);
    let lines: Vec<String> = common::text(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(lines, ["0", "refused"], "{}", common::describe(out));
}

/// Hands `path` to the unprivileged caller.
pub fn give(path: &Path) {
    chown(path, Some(caller_uid()), Some(caller_gid())).unwrap();
}

/// Gives a whole tree to the caller.
pub fn give_tree(path: &Path) {
    let status = common::runner_command("chown")
        .arg("-Rh")
        .arg(format!("{}:{}", caller_uid(), caller_gid()))
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Raw(Box<tar::Header>, &'a [u8]),
}

/// A layer tar from `entries` (names written as given, `..` included, through raw headers).
pub fn layer(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (mut h, data) = match e {
            Entry::Raw(h, d) => ((**h).clone(), *d),
            Entry::File(n, d) => (raw_header(n, tar::EntryType::Regular, 0o644, None), *d),
            Entry::Dir(n) => (
                raw_header(n, tar::EntryType::Directory, 0o755, None),
                &b""[..],
            ),
            Entry::Symlink(n, t) => (
                raw_header(n, tar::EntryType::Symlink, 0o777, Some(t)),
                &b""[..],
            ),
        };
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn raw_header(name: &str, kind: tar::EntryType, mode: u32, link: Option<&str>) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h
}

/// The busybox rootfs as a layer (symlinks kept as symlinks).
pub fn busybox_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", common::busybox_rootfs()).unwrap();
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let hex = sha256(bytes);
    fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

/// The image config JSON for `layers` (uncompressed) with run settings `config`.
pub fn config_json(layers: &[Vec<u8>], config: serde_json::Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256(l)))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// Writes an OCI image layout at `dir` (blobs gzipped when `gz`).
pub fn oci_layout(dir: &Path, layers: &[Vec<u8>], config: serde_json::Value, gz: bool) {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = config_json(layers, config);
    let config_digest = put_blob(dir, &config);
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let blob = if gz { gzip(l) } else { l.clone() };
            let digest = put_blob(dir, &blob);
            let media = if gz {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            };
            serde_json::json!({"mediaType": media, "digest": digest, "size": blob.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let manifest_digest = put_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len()}],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A tar of the directory `dir`'s contents (an oci-archive of a layout).
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

/// A docker-archive (`docker save` layout) of `layers` with `config`.
pub fn docker_archive(out: &Path, layers: &[Vec<u8>], config: serde_json::Value) {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    let config = config_json(layers, config);
    let config_name = format!("{}.json", sha256(&config));
    add(&config_name, &config);
    let mut names = Vec::new();
    for l in layers {
        let name = format!("{}/layer.tar", sha256(l));
        add(&name, l);
        names.push(name);
    }
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": ["t:1"], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.finish().unwrap();
}

/// Runs `cmd` with stdin /dev/null and stdout and stderr on a pty of its own (a terminal, as
/// isatty sees it); returns its exit status and everything it wrote there. The harness's
/// timeout guards against a hang.
pub fn output_on_a_terminal(mut cmd: Command) -> (std::process::ExitStatus, String) {
    use nix::fcntl::OFlag;
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::OpenOptionsExt;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .expect("posix_openpt");
    nix::pty::grantpt(&master).expect("grantpt");
    nix::pty::unlockpt(&master).expect("unlockpt");
    let name = nix::pty::ptsname_r(&master).expect("ptsname");
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC)
        .open(&name)
        .unwrap();
    // A terminal that draws (TERM unset or dumb: progress is not drawn).
    cmd.env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().expect("spawn");
    drop(cmd); // our copies of the slave: the master reads EIO once the child's are closed
    let mut master = fs::File::from(OwnedFd::from(master));
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name}: the command did not end within 60 s (hang guard)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (status, common::text(&reader.join().unwrap()))
}
