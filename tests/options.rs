//! Integration tests of the sandbox options: binds, tmpfs, dirs, symlinks, `-w`, `--chdir`, the
//! environment, `--uid`/`--gid`, `--limit` and `--timeout`, and the refusal of bad input.
//!
//! Like `core.rs`, every test runs the binary as the unprivileged caller (see `common`) and checks
//! what can be seen from outside: exit codes, exact output, the host's state afterwards. Tests
//! that apply to both the host-mode root and a `--rootfs` root exist twice, as `NAME::host` and
//! `NAME::rootfs`.

#[allow(dead_code)]
#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{lchown, symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_code, assert_failure_line, assert_stdout, binary, build_busybox_rootfs, busybox_rootfs,
    busybox_rootfs_variant, caller_command, caller_gid, caller_uid, describe, host_tool,
    normalize_whitespace, ns_rootless, output_of, path_str, run, runner_command, runner_is_root,
    set_mode, text, Mode, TempDir, CLEAN_PATH,
};

in_both_modes!(
    rw_bind_writes_through_as_the_caller,
    ro_bind_is_read_only,
    ro_bind_makes_host_submounts_read_only,
    ro_bind_makes_a_prepared_submount_read_only,
    bind_try_skips_a_missing_source,
    payload_cannot_remount_a_ro_bind_read_write,
    payload_cannot_unmount_a_tmpfs_mask,
    tmpfs_is_empty_writable_and_capped,
    dir_creates_directories_inside,
    symlink_option_creates_a_link,
    work_binds_the_current_dir_and_starts_there,
    work_with_a_dir_binds_it_and_starts_there,
    chdir_sets_the_start_directory,
    chdir_to_a_missing_dir_fails_with_125,
    default_cwd_is_the_callers_when_visible_else_root,
    hostile_symlinks_in_a_bind_source_stay_inside,
    destination_that_is_a_symlink_is_refused,
    secrets_stay_out_unless_named,
    keep_env_passes_everything,
    env_set_unset_and_env_file,
    uid_and_gid_map_to_the_caller,
    limit_nofile_is_applied,
    timeout_ends_the_command_with_124,
    nproc_limit_stops_a_fork_bomb,
    nproc_of_one_still_starts_the_command,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Gives `path` (not following a symlink) to the caller, so the sandbox could write there if it
/// escaped. A no-op when the runner is the caller itself.
fn give_to_caller(path: &Path) {
    if runner_is_root() {
        lchown(path, Some(caller_uid()), Some(caller_gid()))
            .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
    }
}

/// `give_to_caller` for `path` and everything below it.
fn give_tree_to_caller(path: &Path) {
    give_to_caller(path);
    let meta = fs::symlink_metadata(path).expect("stat a path to give away");
    if meta.is_dir() {
        for entry in fs::read_dir(path)
            .expect("list a dir to give away")
            .flatten()
        {
            give_tree_to_caller(&entry.path());
        }
    }
}

/// A fresh temp dir owned (and writable) by the caller.
fn caller_dir(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    give_to_caller(dir.path());
    dir
}

/// `mkdir -p` owned by the caller, mode 0755.
fn caller_subdir(parent: &Path, rel: &str) -> PathBuf {
    let path = parent.join(rel);
    fs::create_dir_all(&path).unwrap_or_else(|err| panic!("mkdir {}: {err}", path.display()));
    let mut p = path.as_path();
    while p != parent {
        set_mode(p, 0o755);
        give_to_caller(p);
        p = p.parent().expect("a subdir has a parent");
    }
    path
}

fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
    set_mode(path, 0o644);
}

/// Names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("list {}: {err}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Exit code 0 or 125; with 0, stdout exactly `expected`; with 125, one `ns-rootless:` line.
#[track_caller]
fn assert_inside_or_refused(out: &Output, expected: &str, what: &str) {
    match out.status.code() {
        Some(0) => assert_eq!(
            text(&out.stdout),
            expected,
            "{what}: ran, but not as expected:\n{}",
            describe(out)
        ),
        Some(125) => assert_failure_line(out, 125, &[]),
        _ => panic!("{what}: expected exit 0 or 125, got\n{}", describe(out)),
    }
}

/// `[--rootfs DIR] OPTIONS... -- COMMAND...` run as the caller with `env` added to its
/// environment.
fn run_with_env(mode: Mode, env: &[(&str, &str)], options: &[&str], command: &[&str]) -> Output {
    let mut cmd = mode.command(options, command);
    cmd.envs(env.iter().copied());
    output_of(cmd)
}

/// `[--rootfs DIR] OPTIONS... -- COMMAND...` run as the caller from the directory `cwd`.
fn run_in(mode: Mode, cwd: &Path, options: &[&str], command: &[&str]) -> Output {
    let mut cmd = mode.command(options, command);
    cmd.current_dir(cwd);
    output_of(cmd)
}

/// The sorted `NAME=VALUE` lines `env` prints.
fn env_lines(out: &Output) -> BTreeSet<String> {
    assert_code(out, 0);
    text(&out.stdout).lines().map(str::to_owned).collect()
}

/// The value of `name` among `env` output lines.
fn env_value<'a>(lines: &'a BTreeSet<String>, name: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
}

/// A temp dir outside `/tmp` for hostile symlinks to point at: under `/home` when the runner is
/// root (a place the host-mode sandbox masks), else a plain temp dir. Owned by the caller;
/// removed on drop.
struct OutsideDir {
    path: PathBuf,
    _temp: Option<TempDir>,
}

impl OutsideDir {
    fn new(label: &str) -> OutsideDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        if runner_is_root() && Path::new("/home").is_dir() {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = PathBuf::from(format!(
                "/home/ns-rootless-test.{}.{n}.{label}",
                std::process::id()
            ));
            fs::create_dir(&path).unwrap_or_else(|err| panic!("mkdir {}: {err}", path.display()));
            set_mode(&path, 0o755);
            give_to_caller(&path);
            OutsideDir { path, _temp: None }
        } else {
            let temp = caller_dir(label);
            OutsideDir {
                path: temp.path().to_owned(),
                _temp: Some(temp),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutsideDir {
    fn drop(&mut self) {
        if self._temp.is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Every path below `dirs` (themselves included) with its type, owner and mtime, not following
/// symlinks: two snapshots differ when anything was created, removed or changed there.
fn snapshot(dirs: &[&Path]) -> BTreeSet<String> {
    fn walk(path: &Path, out: &mut BTreeSet<String>) {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        out.insert(format!(
            "{} {:o} {} {}.{}",
            path.display(),
            meta.mode(),
            meta.uid(),
            meta.mtime(),
            meta.mtime_nsec()
        ));
        if meta.is_dir() {
            for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for dir in dirs {
        walk(dir, &mut out);
    }
    out
}

/// Watches host dirs across sandbox runs: a stamp file before, then `find DIRS -newer STAMP`
/// must list nothing, and a full snapshot must be unchanged.
struct HostWatch {
    dirs: Vec<PathBuf>,
    before: BTreeSet<String>,
    stamp_dir: TempDir,
}

impl HostWatch {
    fn start(dirs: &[&Path]) -> HostWatch {
        let stamp_dir = TempDir::new("stamp");
        write_file(&stamp_dir.path().join("stamp"), "");
        // Coarse file timestamps (a jiffy): let the clock move past the stamp's.
        thread::sleep(Duration::from_millis(30));
        HostWatch {
            dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            before: snapshot(dirs),
            stamp_dir,
        }
    }

    #[track_caller]
    fn assert_unchanged(&self) {
        let mut find = runner_command(host_tool("find"));
        find.args(&self.dirs)
            .arg("-newer")
            .arg(self.stamp_dir.path().join("stamp"));
        let out = output_of(find);
        assert_stdout(&out, "");
        let dirs: Vec<&Path> = self.dirs.iter().map(PathBuf::as_path).collect();
        let after = snapshot(&dirs);
        let added: Vec<_> = after.difference(&self.before).collect();
        let removed: Vec<_> = self.before.difference(&after).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "the host changed: added {added:?}, removed {removed:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Binds
// ---------------------------------------------------------------------------------------------

fn rw_bind_writes_through_as_the_caller(mode: Mode) {
    let dir = caller_dir("rw-bind");
    write_file(&dir.path().join("from-host"), "host data\n");
    let spec = format!("{}:/data", path_str(dir.path()));
    let out = mode.run(
        &["--bind", &spec],
        &[
            "sh",
            "-c",
            "cat /data/from-host && echo inside > /data/from-sandbox",
        ],
    );
    assert_stdout(&out, "host data\n");
    let made = dir.path().join("from-sandbox");
    assert_eq!(
        fs::read_to_string(&made).expect("read the file written in the sandbox"),
        "inside\n"
    );
    let meta = fs::metadata(&made).expect("stat the file written in the sandbox");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (caller_uid(), caller_gid()),
        "the file written through a rw bind must belong to the caller"
    );

    // Without DST: the same path inside.
    let out = mode.run(
        &["--bind", path_str(dir.path())],
        &["sh", "-c", "touch \"$0/same-path\"", path_str(dir.path())],
    );
    assert_stdout(&out, "");
    let meta = fs::metadata(dir.path().join("same-path")).expect("stat the same-path file");
    assert_eq!(meta.uid(), caller_uid());
}

fn ro_bind_is_read_only(mode: Mode) {
    let dir = caller_dir("ro-bind");
    write_file(&dir.path().join("from-host"), "host data\n");
    // The caller may write the file itself: only the bind can make it EROFS.
    give_to_caller(&dir.path().join("from-host"));
    let spec = format!("{}:/data", path_str(dir.path()));
    let out = mode.run(
        &["--ro-bind", &spec],
        &["sh", "-c", "cat /data/from-host; touch /data/new"],
    );
    assert_code(&out, 1);
    assert_eq!(text(&out.stdout), "host data\n", "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "expected EROFS:\n{}",
        describe(&out)
    );
    assert_eq!(entries(dir.path()), ["from-host"]);

    // A file source binds as a file.
    let file = format!("{}:/etc-copy", path_str(&dir.path().join("from-host")));
    let out = mode.run(
        &["--ro-bind", &file],
        &["sh", "-c", "cat /etc-copy; echo x >> /etc-copy || exit 1"],
    );
    assert_code(&out, 1);
    assert_eq!(text(&out.stdout), "host data\n", "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        describe(&out)
    );
}

/// Whether `path` is a mount point in the runner's mount namespace.
fn is_mount_point(path: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("read mountinfo")
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(path))
}

fn ro_bind_makes_host_submounts_read_only(mode: Mode) {
    common::require(
        is_mount_point("/dev/shm"),
        "the host's /dev/shm is not a separate mount",
    );
    // The caller may write the host's /dev/shm (mode 1777): only the bind can make it EROFS.
    let out = mode.run(
        &["--ro-bind", "/dev:/hostdev"],
        &[
            "sh",
            "-c",
            "stat -f -c %T /hostdev/shm; touch /hostdev/shm/ns-rootless-probe",
        ],
    );
    assert_code(&out, 1);
    assert_eq!(text(&out.stdout), "tmpfs\n", "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "expected EROFS on the /dev/shm submount:\n{}",
        describe(&out)
    );
    assert!(!Path::new("/dev/shm/ns-rootless-probe").exists());
}

/// A tmpfs mounted (by the root runner) on a dir of the host, unmounted on drop.
struct HostMount {
    path: PathBuf,
}

impl HostMount {
    fn tmpfs(path: &Path) -> Option<HostMount> {
        let mut cmd = runner_command(host_tool("mount"));
        cmd.args(["-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs"])
            .arg(path);
        let out = output_of(cmd);
        if !out.status.success() {
            eprintln!("cannot mount a tmpfs: {}", describe(&out));
            return None;
        }
        Some(HostMount {
            path: path.to_owned(),
        })
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let mut cmd = runner_command(host_tool("umount"));
        cmd.arg("-l").arg(&self.path);
        let _ = output_of(cmd);
    }
}

fn ro_bind_makes_a_prepared_submount_read_only(mode: Mode) {
    common::require(
        runner_is_root(),
        "only a root runner can prepare a submount",
    );
    let dir = caller_dir("submount");
    let sub = caller_subdir(dir.path(), "src/sub");
    let Some(_mount) = HostMount::tmpfs(&sub) else {
        panic!(
            "this test cannot run here: mounting a tmpfs at {} failed",
            sub.display()
        );
    };
    let src = dir.path().join("src");
    // Control: through a rw bind the submount is there and writable by the caller.
    let rw = format!("{}:/data", path_str(&src));
    let out = mode.run(
        &["--bind", &rw],
        &[
            "sh",
            "-c",
            "stat -f -c %T /data/sub && touch /data/sub/rw-probe",
        ],
    );
    assert_stdout(&out, "tmpfs\n");
    assert!(
        sub.join("rw-probe").exists(),
        "the control write is missing"
    );

    let ro = format!("{}:/data", path_str(&src));
    let out = mode.run(
        &["--ro-bind", &ro],
        &[
            "sh",
            "-c",
            "stat -f -c %T /data/sub; touch /data/sub/ro-probe",
        ],
    );
    assert_code(&out, 1);
    assert_eq!(text(&out.stdout), "tmpfs\n", "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "expected EROFS on the submount:\n{}",
        describe(&out)
    );
    assert!(!sub.join("ro-probe").exists(), "written through a ro bind");
}

fn bind_try_skips_a_missing_source(mode: Mode) {
    let dir = caller_dir("bind-try");
    write_file(&dir.path().join("file"), "present\n");
    let missing = dir.path().join("missing");
    let present_rw = format!("{}:/present-rw", path_str(dir.path()));
    let present_ro = format!("{}:/present-ro", path_str(dir.path()));
    let missing_rw = format!("{}:/missing-rw", path_str(&missing));
    let missing_ro = format!("{}:/missing-ro", path_str(&missing));
    let out = mode.run(
        &[
            "--bind-try",
            &missing_rw,
            "--ro-bind-try",
            &missing_ro,
            "--bind-try",
            &present_rw,
            "--ro-bind-try",
            &present_ro,
        ],
        &[
            "sh",
            "-c",
            "cat /present-rw/file /present-ro/file
             touch /present-rw/written && echo rw ok
             touch /present-ro/x 2>/dev/null || echo ro refused
             test -e /missing-rw || test -e /missing-ro || echo missing skipped",
        ],
    );
    assert_stdout(
        &out,
        "present\npresent\nrw ok\nro refused\nmissing skipped\n",
    );
    assert!(!missing.exists(), "the missing source was created");
    assert_eq!(entries(dir.path()), ["file", "written"]);
}

fn payload_cannot_remount_a_ro_bind_read_write(mode: Mode) {
    let dir = caller_dir("remount");
    let spec = format!("{}:/data", path_str(dir.path()));
    let script = "
        mount -o remount,rw,bind /data 2>/dev/null && echo remounted bind rw
        mount -o remount,rw /data 2>/dev/null && echo remounted rw
        touch /data/probe 2>&1 | grep -q 'Read-only file system' && echo still read-only
        id -u";
    let out = mode.run(&["--ro-bind", &spec], &["sh", "-c", script]);
    assert_stdout(&out, "still read-only\n0\n");
    assert!(entries(dir.path()).is_empty(), "written through a ro bind");
}

fn payload_cannot_unmount_a_tmpfs_mask(mode: Mode) {
    let mut targets = vec!["/tmp", "/scratch"];
    if mode == Mode::Host {
        targets.push("/home");
    }
    // A mount is still there when the sandbox's mount table lists its mount point. (Not by its
    // device: our own directories share one tmpfs with the root.)
    let script = r#"
        for t in "$@"; do
            umount "$t" 2>/dev/null && echo "unmounted $t"
            umount -l "$t" 2>/dev/null && echo "detached $t"
            awk -v t="$t" '$5 == t { found = 1 } END { exit !found }' /proc/self/mountinfo \
                && echo "$t still mounted"
            ls -A "$t"
        done"#;
    let mut command = vec!["sh", "-c", script, "sh"];
    command.extend(&targets);
    let out = mode.run(&["--tmpfs", "/scratch"], &command);
    let expected: String = targets
        .iter()
        .map(|t| format!("{t} still mounted\n"))
        .collect();
    assert_stdout(&out, &expected);
}

// ---------------------------------------------------------------------------------------------
// tmpfs, dirs, symlinks
// ---------------------------------------------------------------------------------------------

fn tmpfs_is_empty_writable_and_capped(mode: Mode) {
    let out = mode.run(
        &[
            "--tmpfs",
            "/s-k:64k",
            "--tmpfs",
            "/s-m:3m",
            "--tmpfs",
            "/s-g:2g",
            "--tmpfs",
            "/s-default",
            "--dir",
            "/d/e",
            "--tmpfs",
            "/d/e/nested-tmpfs:8M",
        ],
        &[
            "sh",
            "-c",
            r#"for t in /s-k /s-m /s-g /s-default /d/e/nested-tmpfs; do
                   echo "$(stat -f -c %T "$t") $(stat -f -c '%b %S' "$t") $(ls -A "$t" | wc -l)"
                   touch "$t/file" || echo "$t not writable"
               done"#,
        ],
    );
    assert_code(&out, 0);
    let lines: Vec<(String, u64, u64)> = text(&out.stdout)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 4, "{}", describe(&out));
            let bytes = f[1].parse::<u64>().expect("blocks") * f[2].parse::<u64>().expect("bsize");
            (f[0].to_owned(), bytes, f[3].parse().expect("entry count"))
        })
        .collect();
    let expected: Vec<(String, u64, u64)> = [64 << 10, 3 << 20, 2 << 30, 1 << 30, 8 << 20]
        .into_iter()
        .map(|bytes| ("tmpfs".to_owned(), bytes, 0))
        .collect();
    assert_eq!(lines, expected, "{}", describe(&out));
    assert!(!Path::new("/s-k").exists() && !Path::new("/d/e").exists());
}

fn dir_creates_directories_inside(mode: Mode) {
    let top = format!("/ns-rootless-dir-{}", std::process::id());
    let nested = format!("{top}/a/b");
    let out = mode.run(
        &[
            "--dir",
            &nested,
            "--tmpfs",
            "/scratch",
            "--dir",
            "/scratch/sub/deeper",
        ],
        &[
            "sh",
            "-c",
            "test -d \"$0\" && test -d /scratch/sub/deeper && touch /scratch/sub/deeper/f && echo ok",
            &nested,
        ],
    );
    assert_stdout(&out, "ok\n");
    assert!(!Path::new(&top).exists(), "{top} was created on the host");
}

fn symlink_option_creates_a_link(mode: Mode) {
    let out = mode.run(
        &[
            "--symlink",
            "/etc/ns-rootless-target:/ns-rootless-link",
            "--tmpfs",
            "/scratch",
            "--symlink",
            "../relative:/scratch/sub/link",
        ],
        &[
            "sh",
            "-c",
            "readlink /ns-rootless-link; readlink /scratch/sub/link",
        ],
    );
    assert_stdout(&out, "/etc/ns-rootless-target\n../relative\n");
    assert!(fs::symlink_metadata("/ns-rootless-link").is_err());
}

/// The names in a host directory, as the runner sees them.
fn names_in(dir: &str) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {dir}: {e}"))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Binds anywhere: a mount point missing under a host directory (/mnt, /opt, /srv, and two
/// existing levels under /usr/share) is made in a layer of the sandbox's own: the bind works,
/// the host directory's other entries are still there, read-only, and nothing is created on
/// the host.
#[test]
fn binds_under_host_directories_make_layers_and_create_nothing_on_the_host() {
    let src = caller_dir("binds-anywhere");
    fs::write(src.path().join("marker"), "from the bind\n").expect("write marker");
    let src = path_str(src.path()).to_string();
    let id = std::process::id();
    // (destination, the host directory it lands in)
    let cases = [
        (format!("/mnt/nsr-{id}"), "/mnt"),
        (format!("/opt/nsr-{id}/y"), "/opt"),
        (format!("/srv/nsr-{id}"), "/srv"),
        (format!("/usr/share/nsr-{id}/a/b"), "/usr/share"),
    ];
    let before: Vec<_> = cases.iter().map(|(_, dir)| names_in(dir)).collect();
    let mut options = Vec::new();
    let mut script = String::new();
    for (dst, dir) in &cases {
        options.push("--ro-bind".to_string());
        options.push(format!("{src}:{dst}"));
        script += &format!("echo '== {dir}'; ls -A {dir}; echo --; cat {dst}/marker; ");
        script += &format!("touch {dir}/nsr-new-{id} 2>/dev/null && echo wrote {dir}; ");
    }
    // A --tmpfs and a --dir too, in a layer of /usr/share/doc.
    let tmpfs = format!("/usr/share/doc/nsr-tmpfs-{id}");
    let dir = format!("/usr/share/doc/nsr-dir-{id}");
    options.extend(["--tmpfs".into(), tmpfs.clone(), "--dir".into(), dir.clone()]);
    script += &format!("stat -f -c %T {tmpfs}; test -d {dir} && echo dir; ");
    script += "echo '== mountinfo'; cat /proc/self/mountinfo";
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let out = Mode::Host.run(&options, &["sh", "-c", &script]);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    let (listings, mountinfo) = stdout.split_once("== mountinfo\n").expect("mountinfo");
    let mut sections = listings.split("== ").skip(1);
    for ((dst, dir), host) in cases.iter().zip(&before) {
        let section = sections.next().unwrap_or_else(|| panic!("{stdout}"));
        let mut lines = section.lines();
        assert_eq!(lines.next(), Some(*dir), "{stdout}");
        let mut inside: BTreeSet<String> = lines
            .by_ref()
            .take_while(|l| *l != "--")
            .map(str::to_string)
            .collect();
        // The new mount point's top directory, and every one of the host's entries.
        let first = Path::new(dst)
            .strip_prefix(dir)
            .expect("under dir")
            .iter()
            .next()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        assert!(inside.remove(&first), "{first} missing in {dir}: {stdout}");
        assert_eq!(&inside, host, "the entries of {dir} inside: {stdout}");
        assert!(
            !section.contains("wrote"),
            "{dir} is writable inside: {stdout}"
        );
        // Each host entry is a read-only mount of its own.
        for name in host {
            let at = format!("{dir}/{name}");
            // (Not a symlink, recreated; nor /usr/share/doc, a layer itself.)
            if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink())
                || Path::new(&tmpfs).starts_with(&at)
            {
                continue;
            }
            let line = mountinfo
                .lines()
                .find(|l| l.split(' ').nth(4) == Some(at.as_str()));
            if let Some(line) = line {
                let opts = line.split(' ').nth(5).unwrap_or("");
                assert!(opts.split(',').any(|o| o == "ro"), "{line}");
            } else {
                panic!("{at} is not a mount point inside: {mountinfo}");
            }
        }
    }
    assert_eq!(
        stdout.matches("from the bind\n").count(),
        cases.len(),
        "{stdout}"
    );
    assert!(stdout.contains("tmpfs\ndir\n"), "{stdout}");
    // Nothing was created on the host.
    for ((dst, dir), host) in cases.iter().zip(&before) {
        assert_eq!(&names_in(dir), host, "{dir} changed on the host");
        assert!(!Path::new(dst).exists(), "{dst} was created on the host");
    }
    assert!(!Path::new(&tmpfs).exists() && !Path::new(&dir).exists());
}

/// `explain` prints the layer's steps: the directory made, then each host entry bound
/// read-only, before the user's bind.
#[test]
fn explain_shows_a_layers_steps() {
    let dst = format!("/opt/nsr-{}/y", std::process::id());
    let out = run(&["explain", "--ro-bind", &format!("/etc:{dst}"), "--", "true"]);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    let line_of = |needle: &str| {
        stdout
            .lines()
            .position(|l| normalize_whitespace(l).contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {stdout}"))
    };
    let layer = line_of(" dir /opt [");
    for name in names_in("/opt") {
        let at = format!("/opt/{name}");
        if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            continue;
        }
        let bind = line_of(&format!(" bind {at} from {at} [ro"));
        assert!(layer < bind && bind < line_of(&format!(" {dst} from /etc")));
    }
    assert!(!Path::new(&dst).parent().unwrap().exists());
}

/// A destination reached through a symlink of the host is not layered (nothing is followed
/// out of the root): its missing mount point is refused as before, naming it.
#[test]
fn a_missing_mount_point_through_a_host_symlink_is_still_refused() {
    // /lib is a symlink to usr/lib on merged-/usr systems, a directory elsewhere.
    let via = if fs::symlink_metadata("/lib").is_ok_and(|m| m.file_type().is_symlink()) {
        "/lib"
    } else {
        "/usr/lib"
    };
    let dst = format!("{via}/nsr-new-{}/x", std::process::id());
    let out = Mode::Host.run(&["--dir", &dst], &["echo", "ran"]);
    if via == "/lib" {
        assert_failure_line(&out, 125, &[&dst, "directory of the host"]);
    } else {
        assert_stdout(&out, "ran\n");
    }
    assert!(
        !Path::new(&dst).parent().unwrap().exists(),
        "created on the host"
    );
}

// ---------------------------------------------------------------------------------------------
// -w / --work, --chdir, the default start directory
// ---------------------------------------------------------------------------------------------

fn work_binds_the_current_dir_and_starts_there(mode: Mode) {
    let project = caller_dir("work");
    let path = path_str(project.path());
    let out = run_in(
        mode,
        project.path(),
        &["-w"],
        &["sh", "-c", "pwd; touch made-inside"],
    );
    assert_stdout(&out, &format!("{path}\n"));
    let meta = fs::metadata(project.path().join("made-inside")).expect("made-inside on the host");
    assert_eq!(meta.uid(), caller_uid());

    // `-w pwd`: -w takes no separate value, `pwd` is the command.
    let mut args = Vec::new();
    if mode == Mode::Rootfs {
        args.extend(["--rootfs", path_str(busybox_rootfs())]);
    }
    args.extend(["-w", "pwd"]);
    let mut cmd = ns_rootless(&args);
    cmd.current_dir(project.path());
    assert_stdout(&output_of(cmd), &format!("{path}\n"));
}

#[test]
fn mount_points_are_never_created_in_a_host_directory() {
    // Under a read-write bind (here -w), a missing mount point would be a new directory on the
    // host: refused with 125, naming it (the directory is the user's: they can make it; a layer
    // would hide the bind's writes to its top level); an existing one is fine.
    let project = caller_dir("work-mount-point");
    let missing = format!("{}/newdir/sub", path_str(project.path()));
    let out = run_in(
        Mode::Host,
        project.path(),
        &["-w", "--tmpfs", &missing],
        &["true"],
    );
    assert_failure_line(&out, 125, &[missing.as_str(), "directory of the host"]);
    assert!(
        !project.path().join("newdir").exists(),
        "a mount point was created on the host"
    );
    fs::create_dir(project.path().join("sub")).expect("mkdir sub");
    let existing = format!("{}/sub", path_str(project.path()));
    let out = run_in(
        Mode::Host,
        project.path(),
        &["-w", "--tmpfs", &existing],
        &["stat", "-f", "-c", "%T", &existing],
    );
    assert_stdout(&out, "tmpfs\n");
}

/// A missing mount point under /proc or /sys is no host directory: the refusal says what it is.
#[test]
fn a_missing_mount_point_in_proc_or_sys_is_named_as_such() {
    for dst in ["/proc/nsr-missing", "/sys/nsr-missing"] {
        let out = Mode::Host.run(&["--tmpfs", dst], &["true"]);
        assert_failure_line(&out, 125, &[dst, "the kernel's own /proc or /sys"]);
    }
}

fn work_with_a_dir_binds_it_and_starts_there(mode: Mode) {
    let project = caller_dir("work-dir");
    let path = path_str(project.path());
    let work = format!("--work={path}");
    let out = mode.run(&[&work], &["sh", "-c", "pwd; touch made-inside"]);
    assert_stdout(&out, &format!("{path}\n"));
    let meta = fs::metadata(project.path().join("made-inside")).expect("made-inside on the host");
    assert_eq!(meta.uid(), caller_uid());
}

fn chdir_sets_the_start_directory(mode: Mode) {
    assert_stdout(&mode.run(&["--chdir", "/etc"], &["pwd"]), "/etc\n");
    // --chdir wins over -w's start directory.
    let project = caller_dir("chdir-work");
    let work = format!("--work={}", path_str(project.path()));
    assert_stdout(&mode.run(&[&work, "--chdir", "/etc"], &["pwd"]), "/etc\n");
}

fn chdir_to_a_missing_dir_fails_with_125(mode: Mode) {
    let out = mode.run(&["--chdir", "/nonexistent"], &["echo", "should not run"]);
    assert_failure_line(&out, 125, &[]);
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn chdir_failure_names_the_directory() {
    for mode in [Mode::Host, Mode::Rootfs] {
        let out = mode.run(&["--chdir", "/nonexistent"], &["echo", "should not run"]);
        assert_failure_line(&out, 125, &["/nonexistent"]);
    }
}

fn default_cwd_is_the_callers_when_visible_else_root(mode: Mode) {
    assert_stdout(&run_in(mode, Path::new("/etc"), &[], &["pwd"]), "/etc\n");
    // The caller's temp dir is on the host's /tmp, which the sandbox replaces.
    let hidden = caller_dir("cwd-hidden");
    assert_stdout(&run_in(mode, hidden.path(), &[], &["pwd"]), "/\n");
}

// ---------------------------------------------------------------------------------------------
// Hostile symlinks
// ---------------------------------------------------------------------------------------------

/// A caller-owned bind source full of links out, and the host dirs they point at.
struct HostileSource {
    /// Everything on the host under /tmp: the source, the `abs` target, where `x` leads.
    temp: TempDir,
    /// Where `mnt` leads.
    outside: OutsideDir,
    src: PathBuf,
    abs_target: PathBuf,
}

/// `temp/w/a/b/src` with `mnt -> OUTSIDE`, `x -> ../../..` (`temp/w` on the host) and
/// `abs -> temp/target`; everything owned by the caller.
fn hostile_source() -> HostileSource {
    let temp = caller_dir("hostile");
    let outside = OutsideDir::new("hostile-outside");
    let src = caller_subdir(temp.path(), "w/a/b/src");
    let abs_target = caller_subdir(temp.path(), "target");
    symlink(outside.path(), src.join("mnt")).expect("symlink mnt");
    symlink("../../..", src.join("x")).expect("symlink x");
    symlink(&abs_target, src.join("abs")).expect("symlink abs");
    give_tree_to_caller(temp.path());
    HostileSource {
        temp,
        outside,
        src,
        abs_target,
    }
}

fn hostile_symlinks_in_a_bind_source_stay_inside(mode: Mode) {
    let h = hostile_source();
    let data = caller_dir("hostile-data");
    write_file(&data.path().join("marker"), "data\n");
    let watch = HostWatch::start(&[h.temp.path(), h.outside.path()]);
    let outside = path_str(h.outside.path());
    let bind = format!("{}:/s", path_str(&h.src));
    let data_at_mnt = format!("{}:/s/mnt/sub", path_str(data.path()));
    let outside_newdir = format!("{outside}/newdir");
    let outside_sub = format!("{outside}/sub/marker");
    // (options, script, $0 of the script, its stdout when the run lands inside).
    let cases: Vec<(Vec<&str>, &str, &str, &str)> = vec![
        // mnt -> OUTSIDE, which exists inside (made by --dir): the new dir lands there.
        (
            vec!["--dir", outside, "--dir", "/s/mnt/newdir"],
            "test -d \"$0\" && echo inside",
            &outside_newdir,
            "inside\n",
        ),
        (
            vec!["--dir", "/s/mnt/newdir"],
            "test -d \"$0\" && echo inside",
            &outside_newdir,
            "inside\n",
        ),
        (
            vec!["--bind", &data_at_mnt],
            "cat \"$0\" && echo inside",
            &outside_sub,
            "data\ninside\n",
        ),
        // x -> ../../.. climbs to the sandbox's own root, never above it.
        (
            vec!["--tmpfs", "/s/x/y"],
            "stat -f -c %T /y && echo inside",
            "",
            "tmpfs\ninside\n",
        ),
        (
            vec!["--dir", "/s/x/escaped"],
            "test -d /escaped && echo inside",
            "",
            "inside\n",
        ),
        (
            vec!["--symlink", "/etc:/s/x/evil-link"],
            "readlink /evil-link && echo inside",
            "",
            "/etc\ninside\n",
        ),
        // abs -> the host's temp/target, resolved in the sandbox (where /tmp is fresh).
        (
            vec!["--dir", "/s/abs/newdir"],
            "test -d \"$0/newdir\" && echo inside",
            path_str(&h.abs_target),
            "inside\n",
        ),
        (
            vec!["--tmpfs", "/s/abs/sub"],
            "stat -f -c %T \"$0/sub\" && echo inside",
            path_str(&h.abs_target),
            "tmpfs\ninside\n",
        ),
    ];
    for (extra, script, arg, expected) in &cases {
        let mut options = vec!["--bind", bind.as_str()];
        options.extend(extra);
        let out = mode.run(&options, &["sh", "-c", script, arg]);
        assert_inside_or_refused(&out, expected, &format!("{extra:?}"));
    }
    watch.assert_unchanged();
    assert!(entries(h.outside.path()).is_empty(), "mnt's target changed");
    assert!(entries(&h.abs_target).is_empty(), "abs's target changed");
}

#[test]
fn hostile_symlinks_in_a_rootfs_stay_inside() {
    // temp/a/b/rootfs with top-level links `mnt -> OUTSIDE`, `x -> ../../..` (temp on the
    // host), `abs -> temp/target`, and a caller-writable `srv` with `up -> ../../../..`.
    let temp = caller_dir("hostile-rootfs");
    let outside = OutsideDir::new("hostile-rootfs-outside");
    let abs_target = caller_subdir(temp.path(), "target");
    caller_subdir(temp.path(), "a/b");
    let rootfs = temp.path().join("a/b/rootfs");
    fs::create_dir(&rootfs).expect("mkdir rootfs");
    set_mode(&rootfs, 0o755);
    build_busybox_rootfs(&rootfs);
    symlink(outside.path(), rootfs.join("mnt")).expect("symlink mnt");
    symlink("../../..", rootfs.join("x")).expect("symlink x");
    symlink(&abs_target, rootfs.join("abs")).expect("symlink abs");
    let srv = caller_subdir(&rootfs, "srv");
    symlink("../../../..", srv.join("up")).expect("symlink up");
    give_to_caller(&srv.join("up"));
    let data = caller_dir("hostile-rootfs-data");
    write_file(&data.path().join("marker"), "data\n");

    let watch = HostWatch::start(&[temp.path(), outside.path()]);
    let outside_str = path_str(outside.path());
    let outside_newdir = format!("{outside_str}/newdir");
    let data_at_mnt = format!("{}:/mnt/sub", path_str(data.path()));
    let cases: Vec<(Vec<&str>, &str, &str, &str)> = vec![
        (
            vec!["--dir", outside_str, "--dir", "/mnt/newdir"],
            "test -d \"$0\" && echo inside",
            &outside_newdir,
            "inside\n",
        ),
        (
            vec!["--dir", "/mnt/newdir"],
            "test -d \"$0\" && echo inside",
            &outside_newdir,
            "inside\n",
        ),
        (
            vec!["--bind", &data_at_mnt],
            "cat /mnt/sub/marker && echo inside",
            "",
            "data\ninside\n",
        ),
        (
            vec!["--tmpfs", "/x/y"],
            "stat -f -c %T /y && echo inside",
            "",
            "tmpfs\ninside\n",
        ),
        (
            vec!["--dir", "/srv/up/escaped"],
            "test -d /escaped && echo inside",
            "",
            "inside\n",
        ),
        (
            vec!["--symlink", "/etc:/srv/up/evil-link"],
            "readlink /evil-link && echo inside",
            "",
            "/etc\ninside\n",
        ),
        (
            vec!["--dir", "/abs/newdir"],
            "test -d /abs/newdir && echo inside",
            "",
            "inside\n",
        ),
        (vec!["--tmpfs", "/mnt"], "echo mounted", "", "never\n"),
    ];
    for (options, script, arg, expected) in &cases {
        let mut args = vec!["--rootfs", path_str(&rootfs)];
        args.extend(options);
        args.extend(["--", "sh", "-c", script, arg]);
        let out = run(&args);
        assert_inside_or_refused(&out, expected, &format!("{options:?}"));
    }
    watch.assert_unchanged();
    assert!(entries(outside.path()).is_empty(), "mnt's target changed");
    assert!(entries(&abs_target).is_empty(), "abs's target changed");
}

fn destination_that_is_a_symlink_is_refused(mode: Mode) {
    let h = hostile_source();
    let data = caller_dir("symlink-dst-data");
    let watch = HostWatch::start(&[h.temp.path(), h.outside.path()]);
    let bind = format!("{}:/s", path_str(&h.src));
    let data_at_abs = format!("{}:/s/abs", path_str(data.path()));
    let data_at_mnt = format!("{}:/s/mnt", path_str(data.path()));
    let cases: [[&str; 2]; 6] = [
        ["--tmpfs", "/s/abs"],
        ["--tmpfs", "/s/mnt"],
        ["--bind", &data_at_abs],
        ["--ro-bind", &data_at_mnt],
        ["--dir", "/s/x"],
        ["--symlink", "/etc:/s/abs"],
    ];
    for extra in cases {
        let mut options = vec!["--bind", bind.as_str()];
        options.extend(extra);
        let out = mode.run(&options, &["echo", "should not run"]);
        assert_failure_line(&out, 125, &[]);
        assert_eq!(text(&out.stdout), "", "{extra:?} ran");
    }
    watch.assert_unchanged();
    assert!(entries(h.outside.path()).is_empty());
    assert!(entries(&h.abs_target).is_empty());
}

#[test]
fn destination_that_is_a_symlink_is_named_in_the_refusal() {
    let h = hostile_source();
    let bind = format!("{}:/s", path_str(&h.src));
    let data_at_abs = format!("{}:/s/abs", path_str(h.temp.path()));
    for extra in [["--tmpfs", "/s/abs"], ["--bind", data_at_abs.as_str()]] {
        let mut options = vec!["--bind", bind.as_str()];
        options.extend(extra);
        let out = Mode::Host.run(&options, &["echo", "should not run"]);
        assert_failure_line(&out, 125, &["/s/abs", "symlink"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

const SECRETS: [(&str, &str); 4] = [
    ("GITHUB_TOKEN", "ghp_not_a_real_token"),
    ("SSH_AUTH_SOCK", "/run/ssh-agent.sock"),
    // A library every dynamic program already loads: harmless to setpriv and the host's env.
    ("LD_PRELOAD", "libc.so.6"),
    ("AWS_SECRET_ACCESS_KEY", "not-a-real-key"),
];

fn secrets_stay_out_unless_named(mode: Mode) {
    let mut env = SECRETS.to_vec();
    env.push(("NSR_OTHER", "other"));
    let lines = env_lines(&run_with_env(mode, &env, &[], &["env"]));
    assert_eq!(env_value(&lines, "PATH"), Some(CLEAN_PATH), "{lines:?}");
    for (name, _) in &env {
        assert_eq!(env_value(&lines, name), None, "{name} leaked: {lines:?}");
    }

    let mut options = Vec::new();
    for (name, _) in SECRETS {
        options.extend(["-e", name]);
    }
    let lines = env_lines(&run_with_env(mode, &env, &options, &["env"]));
    for (name, value) in SECRETS {
        assert_eq!(env_value(&lines, name), Some(value), "{lines:?}");
    }
    assert_eq!(env_value(&lines, "NSR_OTHER"), None, "{lines:?}");
}

fn keep_env_passes_everything(mode: Mode) {
    let mut env = SECRETS.to_vec();
    env.push(("NSR_OTHER", "other value"));
    let lines = env_lines(&run_with_env(mode, &env, &["--keep-env"], &["env"]));
    for (name, value) in &env {
        assert_eq!(env_value(&lines, name), Some(*value), "{lines:?}");
    }
    assert_eq!(env_value(&lines, "container"), Some("ns-rootless"));
}

fn env_set_unset_and_env_file(mode: Mode) {
    let dir = TempDir::new("env-file");
    let file = dir.path().join("vars");
    write_file(
        &file,
        "# a comment\n\nC=3\n  D=four words  \nC_UNSET=gone\nE==x\n# F=commented out\nA=from file\n",
    );
    let out = run_with_env(
        mode,
        &[("TERM", "xterm"), ("LANG", "C.UTF-8")],
        &[
            "--env-file",
            path_str(&file),
            "-e",
            "A=1",
            "-e",
            "B=x y",
            "-e",
            "EMPTY=",
            "--unset-env",
            "TERM",
            "--unset-env",
            "C_UNSET",
        ],
        &["env"],
    );
    let lines = env_lines(&out);
    for (name, value) in [
        ("A", Some("1")),
        ("B", Some("x y")),
        ("C", Some("3")),
        ("D", Some("four words")),
        ("E", Some("=x")),
        ("EMPTY", Some("")),
        ("LANG", Some("C.UTF-8")),
        ("C_UNSET", None),
        ("TERM", None),
        ("F", None),
    ] {
        assert_eq!(env_value(&lines, name), value, "{name}: {lines:?}");
    }
    assert!(
        !lines.iter().any(|l| l.starts_with('#') || l.is_empty()),
        "{lines:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

fn uid_and_gid_map_to_the_caller(mode: Mode) {
    let dir = caller_dir("uid");
    let spec = format!("{}:/data", path_str(dir.path()));
    let out = mode.run(
        &["--uid", "1000", "--gid", "1001", "--bind", &spec],
        &[
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; touch /data/by-1000; \
             stat -c '%u %g' /data/by-1000",
        ],
    );
    assert_code(&out, 0);
    let lines: Vec<String> = text(&out.stdout)
        .lines()
        .map(normalize_whitespace)
        .collect();
    let expected = [
        "1000".to_owned(),
        "1001".to_owned(),
        format!("1000 {} 1", caller_uid()),
        format!("1001 {} 1", caller_gid()),
        "1000 1001".to_owned(),
    ];
    assert_eq!(lines, expected, "{}", describe(&out));
    let meta = fs::metadata(dir.path().join("by-1000")).expect("the file made as uid 1000");
    assert_eq!((meta.uid(), meta.gid()), (caller_uid(), caller_gid()));
}

#[test]
fn uid_and_gid_names_come_from_the_rootfs() {
    let rootfs = busybox_rootfs_variant("passwd", |root| {
        write_file(
            &root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnsr-builder:x:1500:1600::/home/nsr-builder:/bin/sh\n",
        );
        write_file(
            &root.join("etc/group"),
            "root:x:0:\nnsr-builders:x:1600:\nnsr-wheel:x:10:\n",
        );
    });
    let root = path_str(rootfs.path());
    let script = "id -u; id -g; echo \"$HOME $USER $LOGNAME\"; cat /proc/self/uid_map";
    let out = run(&[
        "--rootfs",
        root,
        "--uid",
        "nsr-builder",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_code(&out, 0);
    let lines: Vec<String> = text(&out.stdout)
        .lines()
        .map(normalize_whitespace)
        .collect();
    let expected = [
        "1500".to_owned(),
        "1600".to_owned(),
        "/home/nsr-builder nsr-builder nsr-builder".to_owned(),
        format!("1500 {} 1", caller_uid()),
    ];
    assert_eq!(lines, expected, "{}", describe(&out));

    let out = run(&[
        "--rootfs",
        root,
        "--uid",
        "nsr-builder",
        "--gid",
        "nsr-wheel",
        "--",
        "id",
        "-g",
    ]);
    assert_stdout(&out, "10\n");

    // The host's (or the shared rootfs's) /etc/passwd has no such user.
    for args in [
        vec!["--uid", "nsr-builder", "--", "true"],
        vec![
            "--rootfs",
            path_str(busybox_rootfs()),
            "--uid",
            "nsr-builder",
            "--",
            "true",
        ],
    ] {
        let out = run(&args);
        assert_failure_line(&out, 125, &["invalid --uid", "nsr-builder"]);
    }
    let out = run(&["--rootfs", root, "--gid", "nsr-no-such-group", "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --gid", "nsr-no-such-group"]);
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

fn limit_nofile_is_applied(mode: Mode) {
    let out = mode.run(
        &["--limit", "nofile=16", "--limit", "core=0"],
        &["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"],
    );
    assert_stdout(&out, "16\n16\n0\n");
    // Without the option the limit is the caller's (more than 16).
    let out = mode.run(&[], &["sh", "-c", "ulimit -n"]);
    assert_code(&out, 0);
    let n: u64 = text(&out.stdout)
        .trim()
        .parse()
        .expect("ulimit -n is a number");
    assert!(n > 16, "default nofile is {n}");
}

fn timeout_ends_the_command_with_124(mode: Mode) {
    let start = Instant::now();
    let out = mode.run(&["--timeout", "1"], &["sleep", "1000"]);
    let took = start.elapsed();
    assert_code(&out, 124);
    // Not before its time (when after it is the scheduler's business: 124 says it fired).
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    // A command that ends in time keeps its own status.
    assert_code(&mode.run(&["--timeout", "10s"], &["sh", "-c", "exit 3"]), 3);
}

#[test]
fn timeout_kills_a_command_ignoring_sigterm_5s_later() {
    let start = Instant::now();
    let out = Mode::Host.run(
        &["--timeout", "500ms"],
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    let took = start.elapsed();
    assert_code(&out, 124);
    assert_eq!(text(&out.stdout), "ready\n", "{}", describe(&out));
    // SIGKILL came after the 5 s grace, not instead of it nor never (run's hang guard is 30 s;
    // 20 s leaves a loaded machine room).
    assert!(
        took >= Duration::from_millis(5300) && took < Duration::from_secs(20),
        "took {took:?}"
    );
}

fn nproc_of_one_still_starts_the_command(mode: Mode) {
    // The sandbox's init and the command are two processes already: the limit can't be applied
    // before the command exists, yet the command must get it and be unable to fork.
    let out = mode.run(
        &["--limit", "nproc=1"],
        &["grep", "Max processes", "/proc/self/limits"],
    );
    assert_code(&out, 0);
    assert_eq!(
        normalize_whitespace(&text(&out.stdout)),
        "Max processes 1 1 processes",
        "{}",
        describe(&out)
    );
    // The shell gives up at its first fork.
    let out = mode.run(
        &["--limit", "nproc=1"],
        &["sh", "-c", "/bin/true; echo forked"],
    );
    assert_code(&out, 2);
    assert_eq!(text(&out.stdout), "", "{}", describe(&out));
    assert!(text(&out.stderr).contains("fork"), "{}", describe(&out));
}

fn nproc_limit_stops_a_fork_bomb(mode: Mode) {
    let script = "i=0; while [ $i -lt 100 ]; do sleep 5 & echo started; i=$((i+1)); done; wait";
    let out = mode.run(&["--limit", "nproc=20"], &["sh", "-c", script]);
    let started = text(&out.stdout).lines().count();
    assert!(
        (1..=20).contains(&started),
        "{started} processes started under nproc=20:\n{}",
        describe(&out)
    );
    assert!(
        text(&out.stderr).to_lowercase().contains("fork"),
        "no fork failure reported:\n{}",
        describe(&out)
    );
    // The caller can still fork outside.
    let mut cmd = caller_command("/bin/sh");
    cmd.args([
        "-c",
        "for i in 1 2 3 4 5; do /bin/true & done; wait; echo forked",
    ]);
    assert_stdout(&output_of(cmd), "forked\n");
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

/// Each bad option (with the value its message must quote), refused before anything is set up.
fn bad_inputs(existing_dir: &str) -> Vec<(Vec<String>, &'static str, String)> {
    let pid = std::process::id();
    let missing = format!("/nonexistent-nsr-{pid}");
    let s = |v: &str| v.to_owned();
    let case =
        |option: &'static str, value: String| (vec![s(option), value.clone()], option, value);
    vec![
        case("--bind", missing.clone()),
        case("--ro-bind", format!("{missing}:/x")),
        case("--bind", format!("{existing_dir}:relative")),
        case("--bind", format!("{existing_dir}:/a/../b")),
        case("--bind", format!("{existing_dir}:/")),
        case("--ro-bind", format!("{existing_dir}:/proc")),
        case("--bind", format!("{existing_dir}:/dev")),
        case("--tmpfs", s("/proc")),
        case("--dir", s("/dev")),
        case("--tmpfs", s("relative")),
        case("--tmpfs", s("/x:lots")),
        case("--tmpfs", s("/x:0")),
        case("--symlink", s("/only-one-part")),
        case("--limit", s("files=3")),
        case("--limit", s("nofile=lots")),
        case("--timeout", s("5x")),
        case("--hostname", s("a/b")),
        case("--env", s("=x")),
        case("--unset-env", s("A=B")),
        case("--env-file", missing.clone()),
        case("--uid", s("nsr-no-such-user")),
        case("--gid", s("nsr-no-such-group")),
        case("--chdir", s("relative")),
        (vec![format!("--work={missing}")], "--work", missing.clone()),
        case("--bind", s("/nonexistent\x1b[31m")),
        case("--hostname", s("red\x1b[31m")),
    ]
}

/// No raw control character but the final newline.
fn has_raw_control_chars(bytes: &[u8]) -> bool {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.iter().any(|&b| b < 0x20 || b == 0x7f)
}

#[test]
fn bad_input_fails_with_one_escaped_line_and_sets_nothing_up() {
    let dir = caller_dir("bad-input");
    let existing = path_str(dir.path());
    // A valid rw bind with a --dir below it would create `created` in dir on the host: the bad
    // option must stop everything before that.
    let good_bind = format!("{existing}:/b");
    for (bad, option, value) in bad_inputs(existing) {
        let mut args: Vec<String> = ["--bind", good_bind.as_str(), "--dir", "/b/created"]
            .map(str::to_owned)
            .to_vec();
        args.extend(bad.iter().cloned());
        args.extend(["--", "echo", "should not run"].map(str::to_owned));
        let out = run(&args);
        let prefix = format!("ns-rootless: invalid {option} ");
        assert!(
            text(&out.stderr).starts_with(&prefix),
            "{bad:?}: expected stderr to start {prefix:?}:\n{}",
            describe(&out)
        );
        assert_failure_line(&out, 125, &[]);
        assert_eq!(text(&out.stdout), "", "{bad:?}: the command ran");
        assert!(
            !has_raw_control_chars(&out.stderr),
            "{bad:?}: raw control characters in {:?}",
            text(&out.stderr)
        );
        // The value is named: verbatim, or with its control characters escaped.
        let printable: String = value.chars().filter(|c| !c.is_control()).collect();
        let stderr = text(&out.stderr);
        let named = if printable == value {
            stderr.contains(&value)
        } else {
            value
                .split(|c: char| c.is_control())
                .all(|part| stderr.contains(part))
        };
        assert!(
            named,
            "{bad:?}: the value is not named:\n{}",
            describe(&out)
        );
        assert!(
            entries(dir.path()).is_empty(),
            "{bad:?}: something was set up: {:?}",
            entries(dir.path())
        );
    }
    assert!(!Path::new(&format!("/nonexistent-nsr-{}", std::process::id())).exists());
}

#[test]
fn bad_input_is_refused_before_any_namespace_exists() {
    // In a user namespace whose user.max_user_namespaces is 0, ns-rootless can't create its
    // namespaces: a valid command line fails saying so, a bad one must fail on the bad option.
    let dir = caller_dir("bad-input-no-ns");
    let existing = path_str(dir.path());
    let no_userns = |args: &[String]| -> Output {
        let mut cmd = caller_command(host_tool("unshare"));
        cmd.args(["--user", "--map-root-user", "/bin/sh", "-c"])
            .arg("echo 0 > /proc/sys/user/max_user_namespaces || exit 99; exec \"$@\"")
            .arg("sh")
            .arg(binary())
            .args(args);
        output_of(cmd)
    };
    let control = no_userns(&["--".to_owned(), "true".to_owned()]);
    common::require(
        control.status.code() != Some(99),
        "cannot set user.max_user_namespaces in a user namespace",
    );
    assert_failure_line(&control, 125, &["creating the sandbox's namespaces"]);
    for (bad, option, _) in bad_inputs(existing) {
        let mut args = bad.clone();
        args.extend(["--", "true"].map(str::to_owned));
        let out = no_userns(&args);
        assert_failure_line(&out, 125, &[&format!("invalid {option} ")]);
    }
}

#[test]
fn bind_try_with_an_invalid_destination_is_refused() {
    let missing = format!("/nonexistent-nsr-{}", std::process::id());
    for option in ["--bind-try", "--ro-bind-try"] {
        for dst in ["relative", "/a/../b", "/", "/proc", "/dev"] {
            let value = format!("{missing}:{dst}");
            let out = run(&[option, &value, "--", "echo", "should not run"]);
            assert_failure_line(&out, 125, &[&format!("invalid {option} ")]);
            assert_eq!(text(&out.stdout), "", "{option} {value} ran");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --help, --version
// ---------------------------------------------------------------------------------------------

#[test]
fn help_lists_the_option_groups_with_their_options() {
    let out = run(&["--help"]);
    assert_code(&out, 0);
    let help = text(&out.stdout);
    let groups: [(&str, &[&str]); 5] = [
        ("Namespaces:", &["--hostname", "--share-net"]),
        (
            "Filesystem:",
            &[
                "--rootfs",
                "--bind ",
                "--ro-bind ",
                "--bind-try",
                "--ro-bind-try",
                "--tmpfs",
                "--dir",
                "--symlink",
                "--work",
                "--chdir",
            ],
        ),
        (
            "Environment:",
            &["--env", "--keep-env", "--unset-env", "--env-file"],
        ),
        ("Identity:", &["--uid", "--gid", "--allow-root"]),
        ("Limits:", &["--limit", "--timeout"]),
    ];
    // Each group is a heading line, in this order, and lists its options before the next one.
    let mut from = 0;
    for (i, (heading, options)) in groups.iter().enumerate() {
        let at = help[from..]
            .find(&format!("\n{heading}\n"))
            .map(|n| from + n + 1)
            .unwrap_or_else(|| panic!("--help lacks the heading {heading:?} (in order):\n{help}"));
        let end = groups
            .get(i + 1)
            .and_then(|(next, _)| help[at..].find(&format!("\n{next}\n")).map(|n| at + n))
            .unwrap_or(help.len());
        let section = &help[at..end];
        for option in *options {
            assert!(
                section.contains(option),
                "{option} is not listed under {heading}:\n{section}"
            );
        }
        from = at;
    }
    for needle in ["124", "125", "nofile", "unlimited"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn version_works() {
    for flag in ["--version", "-V"] {
        let out = run(&[flag]);
        assert_code(&out, 0);
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        // The version, then the Landlock ABI in effect (tests/hardening.rs checks that line).
        assert_eq!(lines.len(), 2, "{stdout:?}");
        assert_eq!(
            lines[0],
            format!("ns-rootless {}", env!("CARGO_PKG_VERSION"))
        );
        assert!(lines[1].starts_with("landlock: "), "{stdout:?}");
    }
}
