//! `--image` and `ns-rootless images`: images the tests write themselves (an OCI layout, an
//! oci-archive, a docker-archive, rootfs tarballs), `podman save` outputs and layouts that
//! `skopeo copy` wrote, run as the unprivileged caller with a store of its own.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod imagekit;

use common::{
    assert_code, assert_failure_line, assert_stdout, describe, text, ROOTFS_MARKER,
    ROOTFS_MARKER_TEXT,
};
use imagekit::{busybox_layer, docker_archive, layer, oci_layout, tar_dir, Entry, Home};
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `sh -c SCRIPT` in `image`.
fn in_image(home: &Home, image: &Path, script: &str) -> std::process::Output {
    home.run(&["--image", path(image), "--", "sh", "-c", script])
}

/// The test image: busybox, then a layer that deletes /etc/group, makes /opt opaque (hiding
/// the base's /opt/old) and adds a user and a file.
fn layers() -> Vec<Vec<u8>> {
    let base = {
        let mut b = busybox_layer();
        // A file under /opt that the second layer's opaque directory hides.
        let extra = layer(&[Entry::Dir("opt/"), Entry::File("opt/old", b"old\n")]);
        // Concatenated tars: drop the first one's end-of-archive blocks.
        let end = b.len() - 1024;
        b.truncate(end);
        let mut b2 = b;
        b2.extend_from_slice(&extra);
        b2
    };
    let top = layer(&[
        Entry::Dir("etc/"),
        Entry::File("etc/.wh.group", b""),
        Entry::File(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nbuilder:x:1500:1600::/home/builder:/bin/sh\n",
        ),
        Entry::Dir("opt/"),
        Entry::File("opt/.wh..wh..opq", b""),
        Entry::File("opt/new", b"new\n"),
        Entry::Dir("srv/"),
    ]);
    vec![base, top]
}

fn config() -> serde_json::Value {
    json!({
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo \"$GREETING\"; pwd; id -u; id -g; echo $HOME"],
        "Env": ["GREETING=hello from the image", "PATH=/bin"],
        "WorkingDir": "/srv",
        "User": "builder",
    })
}

/// A home with the test image as an OCI layout (plain blobs) with `config`.
fn home_with_image(label: &str, config: serde_json::Value) -> (Home, PathBuf) {
    let home = Home::new(label);
    let image = home.files().join("layout");
    oci_layout(&image, &layers(), config, false);
    (home, image)
}

const CONFIG_OUTPUT: &str = "hello from the image\n/srv\n1500\n1600\n/home/builder\n";

#[test]
fn an_oci_layout_runs_with_its_config() {
    let home = Home::new("img-layout");
    let image = home.files().join("layout");
    oci_layout(&image, &layers(), config(), true);
    let out = home.run(&["--image", path(&image)]);
    assert_stdout(&out, CONFIG_OUTPUT);
    // The whiteout and the opaque directory hide what the base layer had.
    let script =
        "test -e /etc/group || echo no group; ls /opt; cat /opt/new /etc/ns-rootless-marker";
    let out = home.run(&[
        "--image",
        path(&image),
        "--uid",
        "0",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_stdout(&out, &format!("no group\nnew\nnew\n{ROOTFS_MARKER_TEXT}"));
}

#[test]
fn the_callers_options_win_over_the_config() {
    let home = Home::new("img-override");
    let image = home.files().join("layout");
    oci_layout(&image, &layers(), config(), false);
    let out = home.run(&[
        "--image",
        path(&image),
        "--uid",
        "7",
        "--chdir",
        "/opt",
        "-e",
        "GREETING=mine",
        "--",
        "sh",
        "-c",
        "echo $GREETING; pwd; id -u; echo $PATH",
    ]);
    assert_stdout(&out, "mine\n/opt\n7\n/bin\n");
}

#[test]
fn writes_are_thrown_away_and_nothing_is_copied_per_run() {
    let home = Home::new("img-writes");
    let image = home.files().join("layout");
    oci_layout(&image, &layers(), json!({}), true);
    let out = in_image(
        &home,
        &image,
        "echo x > /etc/written; rm /bin/ls; cat /etc/written",
    );
    assert_stdout(&out, "x\n");
    let out = in_image(
        &home,
        &image,
        "test ! -e /etc/written && test -e /bin/ls && echo clean",
    );
    assert_stdout(&out, "clean\n");
    // The store holds the two layers once; the layers themselves were not written.
    assert_eq!(home.layers().len(), 2, "{:?}", home.layers());
    let store = home.data().join("ns-rootless/layers");
    let written = fs::read_dir(&store)
        .unwrap()
        .any(|l| l.unwrap().path().join("root/etc/written").exists());
    assert!(!written);
}

#[test]
fn archives_are_found_from_their_content_and_share_layers() {
    let home = Home::new("img-archives");
    let layout = home.files().join("layout");
    oci_layout(&layout, &layers(), config(), true);
    // Names that say nothing: the format comes from the bytes.
    let oci = home.files().join("image-a");
    tar_dir(&layout, &oci);
    let docker = home.files().join("image-b");
    docker_archive(&docker, &layers(), config());
    for image in [&oci, &docker] {
        let out = home.run(&["--image", path(image)]);
        assert_stdout(&out, CONFIG_OUTPUT);
    }
    // Gzipped in one, plain in the other: keyed by the uncompressed digest, stored once.
    assert_eq!(home.layers().len(), 2, "{:?}", home.layers());
}

#[test]
fn rootfs_tarballs_plain_gzip_and_zstd() {
    let home = Home::new("img-tarballs");
    let plain = busybox_layer();
    let tar = home.files().join("rootfs.tar");
    fs::write(&tar, &plain).unwrap();
    let gz = home.files().join("rootfs.tar.gz");
    fs::write(&gz, imagekit::gzip(&plain)).unwrap();
    let zst = home.files().join("rootfs.tar.zst");
    let status = common::runner_command(common::host_tool("zstd"))
        .args(["-q", "-o", path(&zst), path(&tar)])
        .status()
        .unwrap();
    assert!(status.success(), "zstd failed");
    for image in [&tar, &gz, &zst] {
        let out = home.run(&["--image", path(image), "--", "cat", ROOTFS_MARKER]);
        assert_stdout(&out, ROOTFS_MARKER_TEXT);
    }
    assert_eq!(home.layers().len(), 1, "{:?}", home.layers());
}

/// An OCI layout whose second layer is `entries`.
fn hostile(home: &Home, name: &str, entries: &[Entry]) -> PathBuf {
    let image = home.files().join(name);
    oci_layout(&image, &[busybox_layer(), layer(entries)], json!({}), false);
    image
}

fn assert_store_has_no_partial_layer(home: &Home) {
    let layers = home.layers();
    assert!(layers.iter().all(|l| !l.starts_with(".tmp")), "{layers:?}");
    assert!(
        layers.len() <= 1,
        "only the good base layer may be kept: {layers:?}"
    );
}

#[test]
fn hostile_archives_are_contained() {
    let home = Home::new("img-hostile");
    let outside = home.files().join("outside");
    fs::create_dir(&outside).unwrap();
    imagekit::give(&outside);
    let out_str = path(&outside).to_string();
    let victim = home.files().join("victim");
    fs::write(&victim, b"host file\n").unwrap();
    imagekit::give(&victim);
    let hard_out = imagekit::raw_header(
        "stolen",
        tar::EntryType::Link,
        0o644,
        Some("../../files/victim"),
    );
    let hard_abs = imagekit::raw_header("stolen", tar::EntryType::Link, 0o644, Some(path(&victim)));
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            "dotdot",
            vec![Entry::File("../../files/outside/dotdot", b"x")],
            "'..' in the name",
        ),
        (
            "symparent",
            vec![
                Entry::Symlink("esc", &out_str),
                Entry::File("esc/planted", b"x"),
            ],
            "entry esc/planted",
        ),
        (
            "relparent",
            vec![
                Entry::Symlink("up", "../../../files/outside"),
                Entry::File("up/planted2", b"x"),
            ],
            "entry up/planted2",
        ),
        (
            "hardout",
            vec![Entry::Raw(Box::new(hard_out), b"")],
            "entry stolen",
        ),
        (
            "hardabs",
            vec![Entry::Raw(Box::new(hard_abs), b"")],
            "entry stolen",
        ),
    ];
    for (name, entries, needle) in cases {
        let image = hostile(&home, name, &entries);
        let out = home.run(&["--image", path(&image), "--", "true"]);
        assert_failure_line(
            &out,
            125,
            &["invalid --image", "unpacking layer 2 of 2", needle],
        );
        assert_store_has_no_partial_layer(&home);
    }
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "something was written outside"
    );
    assert_eq!(fs::read(&victim).unwrap(), b"host file\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(&victim).unwrap().nlink(),
        1,
        "a hard link to a host file was made"
    );
    // An absolute name is made relative: it lands inside the layer, not at that path.
    let abs = format!("{}/absolute", path(&outside));
    let entries = [
        Entry::File(&abs, b"x\n"),
        Entry::File("/opt/absolute", b"inside\n"),
    ];
    let image = hostile(&home, "absolute", &entries);
    let out = home.run(&["--image", path(&image), "--", "cat", "/opt/absolute"]);
    assert_stdout(&out, "inside\n");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused() {
    let home = Home::new("img-digest");
    let image = home.files().join("layout");
    let ls = layers();
    oci_layout(&image, &ls, json!({}), false);
    // Swap the top layer's bytes for others of the same name.
    let top = image.join("blobs/sha256").join(imagekit::sha256(&ls[1]));
    fs::write(&top, layer(&[Entry::File("evil", b"x")])).unwrap();
    let out = home.run(&["--image", path(&image), "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --image", "digest"]);
    assert_store_has_no_partial_layer(&home);
}

#[test]
fn not_an_image_is_one_line() {
    let home = Home::new("img-notimage");
    let file = home.files().join("notes.txt");
    fs::write(&file, "hello\n").unwrap();
    let out = home.run(&["--image", path(&file), "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --image", "not an image"]);
    let out = home.run(&["--image", path(&home.files()), "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --image", "--rootfs"]);
    let out = home.run(&["--image", "/nonexistent-nsr-image", "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --image", "No such file"]);
}

#[test]
fn images_lists_and_prunes_the_store() {
    let home = Home::new("img-list");
    let a = home.files().join("a");
    oci_layout(&a, &layers(), json!({}), true);
    let b = home.files().join("b.tar");
    fs::write(&b, &layers()[0]).unwrap();
    for image in [&a, &b] {
        assert_code(&home.run(&["--image", path(image), "--", "true"]), 0);
    }
    let out = home.run(&["images"]);
    assert_code(&out, 0);
    let listing = text(&out.stdout);
    assert!(
        listing.contains(path(&a)) && listing.contains(path(&b)),
        "{listing}"
    );
    assert!(
        listing.contains("oci-layout") && listing.contains("sha256:"),
        "{listing}"
    );
    // Each image's size and last use: in the table and in the JSON.
    assert!(
        listing.starts_with("DIGEST") && listing.contains("SIZE") && listing.contains("LAST USE"),
        "{listing}"
    );
    assert!(
        listing.contains(" KiB") || listing.contains(" MiB"),
        "{listing}"
    );
    assert!(listing.contains("s ago"), "{listing}");
    let out = home.run(&["images", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for row in rows.as_array().unwrap() {
        assert!(row["size"].as_u64().unwrap() > 0, "{row}");
        let used = row["last_use"].as_u64().unwrap();
        assert!(used > 0 && used <= now, "{row}");
    }
    // The plain tarball is the base layer of the layout too: 2 layers in all.
    assert_eq!(home.layers().len(), 2);
    fs::remove_dir_all(&a).unwrap();
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert_eq!(
        home.layers().len(),
        1,
        "the layout's own layer is pruned, the shared one kept"
    );
    let out = home.run(&["images", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    fs::remove_file(&b).unwrap();
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert!(home.layers().is_empty(), "{:?}", home.layers());
}

/// Kills rootless podman's pause process (it keeps podman's user namespace alive, and would
/// outlive the test) when the test ends, however it ends.
struct PauseProcess(PathBuf);

impl Drop for PauseProcess {
    fn drop(&mut self) {
        if let Some(pid) = fs::read_to_string(&self.0)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

/// Runs podman as the unprivileged caller with a home of its own.
fn podman(home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = common::caller_command(common::host_tool("podman"));
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_RUNTIME_DIR", home.join("run"));
    let out = common::output_of(cmd);
    assert!(out.status.success(), "podman {args:?}\n{}", describe(&out));
    out
}

/// `podman save` of an image built with a deleting layer. The container is never started, so
/// no OCI runtime or cgroup is needed (podman's default runtime here, crun 1.8.1, refuses this
/// host's hybrid cgroup layout, which has hugetlb on the cgroup2 side: "drop all controllers
/// from cgroupv2"; `--runtime runc` works). Its changes are made through `podman mount` in
/// `podman unshare`, then committed.
#[test]
fn podman_save_outputs_run() {
    let home = Home::new("img-podman");
    let ph = home.files().join("podman-home");
    fs::create_dir(&ph).unwrap();
    fs::create_dir(ph.join("run")).unwrap();
    imagekit::give_tree(&ph);
    let _pause = PauseProcess(ph.join("run/libpod/tmp/pause.pid"));
    let tarball = home.files().join("rootfs.tar");
    fs::write(&tarball, busybox_layer()).unwrap();
    podman(
        &ph,
        &["import", "-q", path(&tarball), "localhost/nsr-test:base"],
    );
    podman(
        &ph,
        &["create", "--name", "c", "localhost/nsr-test:base", "true"],
    );
    podman(
        &ph,
        &[
            "unshare",
            "sh",
            "-c",
            "m=$(podman mount c) && rm \"$m/etc/group\" && echo added > \"$m/etc/added\"",
        ],
    );
    podman(
        &ph,
        &[
            "commit",
            "-q",
            "-c",
            "ENV GREETING=from-podman",
            "-c",
            "WORKDIR /etc",
            "-c",
            r#"CMD ["/bin/sh", "-c", "echo $GREETING; pwd"]"#,
            "c",
            "localhost/nsr-test:top",
        ],
    );
    let oci = ph.join("saved-oci.tar");
    let docker = ph.join("saved-docker.tar");
    podman(
        &ph,
        &[
            "save",
            "-q",
            "--format",
            "oci-archive",
            "-o",
            path(&oci),
            "localhost/nsr-test:top",
        ],
    );
    podman(
        &ph,
        &[
            "save",
            "-q",
            "--format",
            "docker-archive",
            "-o",
            path(&docker),
            "localhost/nsr-test:top",
        ],
    );
    for image in [&oci, &docker] {
        let out = home.run(&["--image", path(image)]);
        assert_stdout(&out, "from-podman\n/etc\n");
        let out = in_image(
            &home,
            image,
            "cat /etc/added; test ! -e /etc/group && echo deleted",
        );
        assert_stdout(&out, "added\ndeleted\n");
    }
    assert_eq!(home.layers().len(), 2, "{:?}", home.layers());
}

/// Runs skopeo as the unprivileged caller with a home of its own and no trust policy to read
/// (`--insecure-policy`: nothing here comes from a registry).
fn skopeo(home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = common::caller_command(common::host_tool("skopeo"));
    cmd.arg("--insecure-policy")
        .args(args)
        .env("HOME", home)
        .env("TMPDIR", home.join("tmp"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_RUNTIME_DIR", home.join("run"));
    let out = common::output_of(cmd);
    assert!(out.status.success(), "skopeo {args:?}\n{}", describe(&out));
    out
}

/// An OCI layout that a real client wrote: `skopeo copy` of a docker-archive (the tests' own)
/// into `oci:DIR:TAG`, once with its layers kept as they come (plain tar) and once gzipped
/// (skopeo's default for an OCI destination).
#[test]
fn a_layout_skopeo_wrote_runs_with_its_config() {
    let home = Home::new("img-skopeo");
    let sh = home.files().join("skopeo-home");
    for sub in ["", "tmp", "config", "run"] {
        fs::create_dir(sh.join(sub)).unwrap();
    }
    imagekit::give_tree(&sh);
    let archive = sh.join("image.tar");
    docker_archive(&archive, &layers(), config());
    imagekit::give_tree(&archive);
    let plain = sh.join("layout-plain");
    let gzipped = sh.join("layout-gzip");
    let from = format!("docker-archive:{}", path(&archive));
    skopeo(
        &sh,
        &[
            "copy",
            "-q",
            "--dest-oci-accept-uncompressed-layers",
            &from,
            &format!("oci:{}:t1", path(&plain)),
        ],
    );
    skopeo(
        &sh,
        &[
            "copy",
            "-q",
            "--dest-compress-format",
            "gzip",
            &from,
            &format!("oci:{}:t1", path(&gzipped)),
        ],
    );
    let gzip_blobs = |layout: &Path| {
        fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .filter(|b| {
                fs::read(b.as_ref().unwrap().path())
                    .unwrap()
                    .starts_with(&[0x1f, 0x8b])
            })
            .count()
    };
    assert_eq!((gzip_blobs(&plain), gzip_blobs(&gzipped)), (0, 2));
    for image in [&plain, &gzipped] {
        let out = home.run(&["--image", path(image)]);
        assert_stdout(&out, CONFIG_OUTPUT);
        let out = in_image(&home, image, "test -e /etc/group || echo no group; ls /opt");
        assert_stdout(&out, "no group\nnew\n");
    }
    // Keyed by the uncompressed digest: both layouts share the same two layers.
    assert_eq!(home.layers().len(), 2, "{:?}", home.layers());
}

#[test]
fn a_user_given_by_number_needs_no_passwd_entry() {
    let home = Home::new("img-uid");
    let image = home.files().join("layout");
    oci_layout(
        &image,
        &layers(),
        json!({"User": "1234:5678", "Cmd": ["sh", "-c", "id -u; id -g"]}),
        true,
    );
    let out = home.run(&["--image", path(&image)]);
    assert_stdout(&out, "1234\n5678\n");
}

/// An OCI layout is a directory anyone may have made: a blob that is a FIFO (or a device)
/// must fail at once, not wait for a writer that never comes.
#[test]
fn a_layout_whose_blob_is_a_fifo_fails_at_once() {
    let home = Home::new("img-fifo");
    let image = home.files().join("layout");
    let ls = layers();
    oci_layout(&image, &ls, json!({}), false);
    let top = image.join("blobs/sha256").join(imagekit::sha256(&ls[1]));
    fs::remove_file(&top).unwrap();
    nix::unistd::mkfifo(&top, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    imagekit::give(&top);
    // A blocking open would wait for a writer forever: run's hang guard fails the test then.
    let out = home.run(&["--image", path(&image), "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --image", "not a regular file"]);
    assert_store_has_no_partial_layer(&home);
}

/// The same layer twice in one image (identical layers happen: two steps that change the
/// same thing the same way): overlayfs refuses a lower given twice (ELOOP), and the image
/// must run as its layers stack, the upper copy winning.
#[test]
fn an_image_with_a_repeated_layer_runs() {
    let home = Home::new("img-repeat");
    let image = home.files().join("layout");
    let middle = layer(&[
        Entry::Dir("etc/"),
        Entry::File("etc/.wh.ns-rootless-marker", b""),
        Entry::Dir("opt/"),
        Entry::File("opt/x", b"x\n"),
    ]);
    oci_layout(
        &image,
        &[busybox_layer(), middle, busybox_layer()],
        json!({}),
        false,
    );
    let out = home.run(&[
        "--image",
        path(&image),
        "--",
        "cat",
        "/opt/x",
        common::ROOTFS_MARKER,
    ]);
    assert_stdout(&out, &format!("x\n{ROOTFS_MARKER_TEXT}"));
}

/// A sandbox whose read-write bind covers the layer store (`-w $HOME`) must not see or write
/// it: layers are shared by every image that has them, so one planted file would show in
/// all of them, and a layer made there would be taken as unpacked and checked.
#[test]
fn a_bind_over_the_layer_store_can_neither_read_nor_poison_it() {
    let (home, image) = home_with_image("img-storebind", json!({}));
    assert_code(&home.run(&["--image", path(&image), "--", "true"]), 0);
    let store = home.data().join("ns-rootless");
    let script = format!(
        "ls -A {0} | wc -l; for r in {0}/layers/*/root; do echo pwned > $r/pwned; done; \
         mkdir -p {0}/layers/{1}/root && echo planted > {0}/layers/{1}/root/x || echo refused",
        path(&store),
        "0".repeat(64)
    );
    imagekit::assert_hidden(&home.sh_working_in(&home.data(), &script));
    for hex in home.layers() {
        assert!(
            !store.join("layers").join(&hex).join("root/pwned").exists(),
            "{hex}"
        );
    }
    assert!(!store.join("layers").join("0".repeat(64)).exists());
    let out = in_image(&home, &image, "cat /pwned 2>/dev/null || echo clean");
    assert_stdout(&out, "clean\n");
    // An image run (its root stacked from the store) that binds the store's place too.
    let out = home.run(&[
        "--image",
        path(&image),
        &format!("--work={}", path(&home.data())),
        "--",
        "sh",
        "-c",
        &format!("ls -A {} | wc -l; cat /opt/new", path(&store)),
    ]);
    assert_stdout(&out, "0\nnew\n");
}

/// `images --prune` while a sandbox runs an image whose source is gone: its layers are in
/// use (overlayfs lowers), so prune keeps them until the run ends.
#[test]
fn prune_keeps_the_layers_of_a_running_sandbox() {
    let (home, image) = home_with_image("img-prunebusy", json!({}));
    let mut running = common::Running::start(home.cmd(&[
        "--image",
        path(&image),
        "--",
        "sh",
        "-c",
        "echo up; sleep 60",
    ]));
    running.wait_for_line("up");
    fs::remove_dir_all(&image).unwrap();
    // The payload holds none of them (only 0, 1, 2).
    let fds = fs::read_dir(format!("/proc/{}/fd", running.pid()))
        .unwrap()
        .count();
    assert!(fds > 3, "ns-rootless itself holds the layers: {fds} fds");
    let before = home.layers();
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert_eq!(
        home.layers(),
        before,
        "a running sandbox's layers were pruned"
    );
    drop(running);
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert!(home.layers().is_empty(), "{:?}", home.layers());
}

/// A layer being unpacked is a `.tmp-*` directory its unpacker holds a shared flock on:
/// prune removes an abandoned one whatever its name says (here a pid that runs: pid 1, as
/// a crashed unpacker's pid reused), and never one that is held.
#[test]
fn prune_removes_abandoned_temporary_layers_and_never_a_held_one() {
    let (home, image) = home_with_image("img-prunetmp", json!({}));
    assert_code(&in_image(&home, &image, "true"), 0);
    let store = home.data().join("ns-rootless/layers");
    let abandoned = store.join(".tmp-1-0123456789ab");
    let live = store.join(".tmp-1-ba9876543210");
    for dir in [&abandoned, &live] {
        fs::create_dir_all(dir.join("root/usr")).unwrap();
        fs::write(dir.join("root/usr/f"), "f").unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        imagekit::give_tree(dir);
    }
    let held = nix::fcntl::Flock::lock(
        fs::File::open(&live).unwrap(),
        nix::fcntl::FlockArg::LockSharedNonblock,
    )
    .unwrap();
    let before = home.layers().len();
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert!(
        !abandoned.exists(),
        "an abandoned temporary layer survived prune"
    );
    assert!(
        live.join("root/usr/f").exists(),
        "a held temporary layer was pruned"
    );
    assert_eq!(home.layers().len(), before - 1, "{:?}", home.layers());
    drop(held);
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert!(!live.exists());
}

#[test]
fn an_image_payload_holds_no_layer_fd() {
    let (home, image) = home_with_image("img-fds", json!({}));
    let out = in_image(&home, &image, "ls /proc/self/fd");
    assert_stdout(&out, "0\n1\n2\n3\n");
}

/// The image's User is not something the caller typed: a name its /etc/passwd lacks is
/// worded as the image's, not as an --uid the caller never gave.
#[test]
fn an_unknown_image_user_names_the_image_config() {
    let (home, image) = home_with_image("img-baduser", json!({"User": "ghost"}));
    let out = home.run(&["--image", path(&image), "--", "true"]);
    assert_failure_line(
        &out,
        125,
        &["invalid image config User \"ghost\"", "/etc/passwd"],
    );
    assert!(!text(&out.stderr).contains("--uid"), "{}", describe(&out));
}

/// The image's User is looked up in /etc/passwd as the sandbox sees it: a higher layer that
/// makes /etc opaque, or deletes /etc/passwd, hides the lower layer's entry.
#[test]
fn the_image_user_is_looked_up_through_opaque_dirs_and_whiteouts() {
    let home = Home::new("img-userwh");
    let tops = [
        layer(&[
            Entry::Dir("etc/"),
            Entry::File("etc/.wh..wh..opq", b""),
            Entry::File("etc/hostname", b"x\n"),
        ]),
        layer(&[Entry::Dir("etc/"), Entry::File("etc/.wh.passwd", b"")]),
    ];
    // A plain /etc above merges with the one below, which has the user.
    let merged = layer(&[Entry::Dir("etc/"), Entry::File("etc/hostname", b"x\n")]);
    let hidden = tops.into_iter().map(|t| (t, false));
    for (i, (top, found)) in hidden.chain([(merged, true)]).enumerate() {
        let image = home.files().join(format!("layout{i}"));
        let ls = layers();
        oci_layout(
            &image,
            &[ls[0].clone(), ls[1].clone(), top],
            json!({"User": "builder"}),
            false,
        );
        let out = home.run(&["--image", path(&image), "--", "id", "-u"]);
        if found {
            assert_stdout(&out, "1500\n");
        } else {
            assert_failure_line(&out, 125, &["\"builder\"", "no such user"]);
        }
    }
}

/// `git archive` writes a pax global header first (type 'g', the commit id): metadata for
/// the whole archive, no file. A layer made with it unpacks as its files.
#[test]
fn a_git_archive_layer_unpacks() {
    let home = Home::new("img-gitarchive");
    let repo = home.files().join("repo");
    fs::create_dir_all(repo.join("opt")).unwrap();
    fs::write(repo.join("opt/hello"), "from git\n").unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new(common::host_tool("git"))
            .arg("-C")
            .arg(&repo)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "safe.directory=*",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", describe(&out));
        out.stdout
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "x"]);
    let tar = git(&["archive", "--format=tar", "HEAD"]);
    assert_eq!(&tar[156..157], b"g", "git wrote no pax global header");
    let image = home.files().join("layout");
    oci_layout(&image, &[busybox_layer(), tar], json!({}), false);
    let out = home.run(&["--image", path(&image), "--", "cat", "/opt/hello"]);
    assert_stdout(&out, "from git\n");
}

/// An image's /etc/passwd is hostile input: one longer than the bound is refused with one
/// line, never cut at the bound (a cut in the middle of `builder:x:1500:...` made the user
/// uid 15).
#[test]
fn an_image_passwd_over_the_bound_is_refused_not_cut() {
    let home = Home::new("img-bigpasswd");
    const BOUND: usize = 4 << 20;
    let entry = b"builder:x:1500:1600::/home/builder:/bin/sh\n";
    let mut passwd = Vec::with_capacity(BOUND + entry.len());
    // Comment lines up to 12 bytes before the bound: the cut falls after `builder:x:15`.
    while passwd.len() < BOUND - 12 {
        let room = BOUND - 12 - passwd.len();
        let n = room.min(1000);
        passwd.push(b'#');
        passwd.extend(std::iter::repeat_n(b'x', n.saturating_sub(2)));
        if n >= 2 {
            passwd.push(b'\n');
        }
    }
    passwd.extend_from_slice(entry);
    assert_eq!(&passwd[BOUND - 12..BOUND], b"builder:x:15");
    let top = layer(&[Entry::Dir("etc/"), Entry::File("etc/passwd", &passwd)]);
    let image = home.files().join("layout");
    oci_layout(
        &image,
        &[busybox_layer(), top],
        json!({"User": "builder"}),
        false,
    );
    let out = home.run(&["--image", path(&image), "--", "id", "-u"]);
    assert_failure_line(&out, 125, &["/etc/passwd", "longer than 4194304 bytes"]);
}

/// The layer store is reached like the state directory: a store open to other users (who
/// could plant layers every image shares) is refused with one line, and what is in it is
/// read bounded, as regular files only, through no symlink: a ref that is a FIFO is not
/// waited on, and a ref naming a layer outside the store is not used.
#[test]
fn the_store_is_private_and_read_as_hostile() {
    let (home, image) = home_with_image("img-store", json!({}));
    let out = in_image(&home, &image, "cat /opt/new");
    assert_stdout(&out, "new\n");
    let store = home.data().join("ns-rootless");
    let refs = store.join("refs");
    let ref_file = fs::read_dir(&refs).unwrap().next().unwrap().unwrap().path();
    // A ref naming a directory outside the store as its layer.
    let outside = home.files().join("outside");
    fs::create_dir_all(outside.join("root/opt")).unwrap();
    fs::write(outside.join("root/opt/new"), "planted\n").unwrap();
    imagekit::give_tree(&outside);
    let mut r: serde_json::Value = serde_json::from_slice(&fs::read(&ref_file).unwrap()).unwrap();
    let escape = "../../../files/outside";
    r["layers"] = json!([escape, escape]);
    fs::write(&ref_file, r.to_string()).unwrap();
    let out = in_image(&home, &image, "cat /opt/new");
    assert_stdout(&out, "new\n");
    // A ref that is a FIFO: read as no ref (the harness's timeout catches a hang).
    fs::remove_file(&ref_file).unwrap();
    nix::unistd::mkfifo(&ref_file, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    imagekit::give(&ref_file);
    let out = in_image(&home, &image, "cat /opt/new");
    assert_stdout(&out, "new\n");
    common::set_mode(&store, 0o777);
    let out = in_image(&home, &image, "true");
    assert_failure_line(&out, 125, &["image store", "open to other users"]);
}

/// An OCI layout is anyone's directory: a blob that is a symlink (to a file of the user's
/// elsewhere, whose digest the layout's author knows) is not followed.
#[test]
fn a_layout_blob_that_is_a_symlink_is_refused() {
    let home = Home::new("img-bloblink");
    let image = home.files().join("layout");
    let ls = layers();
    oci_layout(&image, &ls, json!({}), false);
    let top = image.join("blobs/sha256").join(imagekit::sha256(&ls[1]));
    let elsewhere = home.files().join("elsewhere");
    fs::rename(&top, &elsewhere).unwrap();
    imagekit::give(&elsewhere);
    std::os::unix::fs::symlink(&elsewhere, &top).unwrap();
    let out = home.run(&["--image", path(&image), "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --image", "symlink"]);
    assert_store_has_no_partial_layer(&home);
}

/// A long unpack shows its progress on a terminal, layer by layer, and clears it; without a
/// terminal nothing is written. (`NS_ROOTLESS_PROGRESS_AFTER_MS=0` lowers the time an unpack
/// runs before its progress is shown, so a small image counts as a long unpack.)
#[test]
fn a_long_unpack_shows_progress_on_a_terminal_only() {
    let (home, image) = home_with_image("img-progress", json!({}));
    let mut cmd = home.cmd(&["--image", path(&image), "--", "echo", "ran"]);
    cmd.env("NS_ROOTLESS_PROGRESS_AFTER_MS", "0");
    let (status, shown) = imagekit::output_on_a_terminal(cmd);
    assert!(status.success(), "{status:?}: {shown:?}");
    for layer in ["unpacking layer 1/2: ", "unpacking layer 2/2: "] {
        assert!(
            shown.contains(layer),
            "no {layer:?} on the terminal: {shown:?}"
        );
    }
    assert!(shown.ends_with("ran\r\n"), "{shown:?}");
    // Nothing left to unpack: nothing shown.
    let mut cmd = home.cmd(&["--image", path(&image), "--", "echo", "ran"]);
    cmd.env("NS_ROOTLESS_PROGRESS_AFTER_MS", "0");
    let (status, shown) = imagekit::output_on_a_terminal(cmd);
    assert!(
        status.success() && shown == "ran\r\n",
        "{status:?}: {shown:?}"
    );
    // Not a terminal: the same unpack into an empty store writes nothing on stderr.
    let (home, image) = home_with_image("img-noprogress", json!({}));
    let mut cmd = home.cmd(&["--image", path(&image), "--", "echo", "ran"]);
    cmd.env("NS_ROOTLESS_PROGRESS_AFTER_MS", "0");
    let out = common::output_of(cmd);
    assert_stdout(&out, "ran\n");
    assert_eq!(text(&out.stderr), "", "{}", describe(&out));
}

/// An image path that is a FIFO (or a device) fails at once in one line, instead of waiting
/// for a writer.
#[test]
fn an_image_that_is_a_fifo_fails_at_once() {
    let home = Home::new("img-fifoimage");
    let fifo = home.files().join("image.tar");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    imagekit::give(&fifo);
    // A blocking open would wait for a writer forever: run's hang guard fails the test then.
    let out = home.run(&["--image", path(&fifo), "--", "true"]);
    assert_failure_line(&out, 125, &["invalid --image", "not a regular file"]);
    assert_store_has_no_partial_layer(&home);
}
