//! `--cow` sessions: `diff`, `apply`, `discard`, as the unprivileged caller with state of its
//! own: adds, modifications, deletions, directories, symlinks, a conflict and a symlink
//! planted to escape.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod imagekit;

use common::{assert_code, assert_failure_line, assert_stdout, describe, text};
use imagekit::{give_tree, Home};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A project: keep, mod, del, gone/x, sub/f, old-dir/y.
fn project(home: &Home) -> PathBuf {
    let p = home.files().join("project");
    fs::create_dir_all(p.join("gone")).unwrap();
    fs::create_dir_all(p.join("sub")).unwrap();
    for (f, c) in [
        ("keep", "keep\n"),
        ("mod", "mod\n"),
        ("del", "del\n"),
        ("gone/x", "x\n"),
        ("sub/f", "f\n"),
    ] {
        fs::write(p.join(f), c).unwrap();
    }
    give_tree(&p);
    p
}

const CHANGES: &str = "echo added > added; echo more >> mod; rm del; rm -r gone; \
    mkdir -p newdir/deep; echo n > newdir/deep/file; ln -s ../keep link; echo f2 > sub/f; cat keep";

/// A home with a project, and a --cow session `name` of it in which `script` ran.
fn session_of(label: &str, name: &str, script: &str) -> (Home, PathBuf) {
    let home = Home::new(label);
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    assert_code(
        &home.run(&["--cow", "--name", name, &work, "--", "sh", "-c", script]),
        0,
    );
    (home, p)
}

fn sessions(home: &Home) -> PathBuf {
    home.state().join("ns-rootless/sessions")
}

#[test]
fn diff_then_apply_replays_every_kind_of_change() {
    let home = Home::new("cow-apply");
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    let out = home.run(&["--cow", "--name", "s1", &work, "--", "sh", "-c", CHANGES]);
    assert_stdout(&out, "keep\n");
    // The directory itself is untouched until apply.
    assert_eq!(fs::read_to_string(p.join("mod")).unwrap(), "mod\n");
    assert!(p.join("del").exists() && p.join("gone/x").exists() && !p.join("added").exists());
    let out = home.run(&["diff", "s1"]);
    assert_stdout(
        &out,
        "A added\nD del\nD gone\nA link\nM mod\nA newdir\nA newdir/deep\nA newdir/deep/file\nM sub/f\n",
    );
    let out = home.run(&["diff", "--json", "s1"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["change"], "A");
    assert_eq!(rows[0]["path"], "added");
    assert_eq!(rows.as_array().unwrap().len(), 9);
    let out = home.run(&["apply", "s1"]);
    assert_code(&out, 0);
    assert_eq!(fs::read_to_string(p.join("added")).unwrap(), "added\n");
    assert_eq!(fs::read_to_string(p.join("mod")).unwrap(), "mod\nmore\n");
    assert_eq!(fs::read_to_string(p.join("sub/f")).unwrap(), "f2\n");
    assert_eq!(
        fs::read_to_string(p.join("newdir/deep/file")).unwrap(),
        "n\n"
    );
    assert_eq!(fs::read_link(p.join("link")).unwrap(), Path::new("../keep"));
    assert!(!p.join("del").exists() && !p.join("gone").exists());
    assert!(
        !sessions(&home).join("s1").exists(),
        "apply removes the session"
    );
    let out = home.run(&["diff", "s1"]);
    assert_failure_line(&out, 125, &["no session named \"s1\""]);
}

#[test]
fn discard_drops_the_changes() {
    let home = Home::new("cow-discard");
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    assert_code(
        &home.run(&["--cow", "--name", "s2", &work, "--", "sh", "-c", CHANGES]),
        0,
    );
    assert_code(&home.run(&["discard", "s2"]), 0);
    assert!(!sessions(&home).join("s2").exists());
    assert_eq!(fs::read_to_string(p.join("mod")).unwrap(), "mod\n");
    assert!(!p.join("added").exists());
}

#[test]
fn a_generated_name_is_printed_with_the_commands_and_sessions_are_private() {
    let home = Home::new("cow-generated");
    let p = project(&home);
    let bind = path(&p).to_string();
    let out = home.run(&[
        "--cow",
        "--bind",
        &bind,
        "--",
        "sh",
        "-c",
        &format!("echo x > {bind}/new"),
    ]);
    assert_code(&out, 0);
    let stderr = text(&out.stderr);
    let name = stderr
        .strip_prefix("ns-rootless: session ")
        .and_then(|s| s.split(' ').next())
        .unwrap_or_else(|| panic!("no session line: {}", describe(&out)));
    for cmd in ["diff", "apply", "discard"] {
        assert!(
            stderr.contains(&format!("ns-rootless {cmd} {name}")),
            "{stderr}"
        );
    }
    let dir = sessions(&home).join(name);
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), common::caller_uid());
    assert_stdout(&home.run(&["diff", name]), "A new\n");
    // A second run under the same name is refused rather than mixed in.
    let out = home.run(&["--cow", "--name", name, "--bind", &bind, "--", "true"]);
    assert_failure_line(&out, 125, &["a session named", "exists"]);
}

#[test]
fn a_conflict_refuses_the_whole_apply() {
    let home = Home::new("cow-conflict");
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    assert_code(
        &home.run(&["--cow", "--name", "s3", &work, "--", "sh", "-c", CHANGES]),
        0,
    );
    // The directory changes under a path the session changed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(p.join("mod"), "edited on the host\n").unwrap();
    let out = home.run(&["apply", "s3"]);
    assert_failure_line(
        &out,
        125,
        &["refusing to apply the session \"s3\"", "/mod", "changed"],
    );
    // Nothing at all was applied, and the session is still there.
    assert!(!p.join("added").exists());
    assert_eq!(
        fs::read_to_string(p.join("mod")).unwrap(),
        "edited on the host\n"
    );
    assert!(sessions(&home).join("s3").exists());
    assert_code(&home.run(&["discard", "s3"]), 0);
}

#[test]
fn a_planted_symlink_does_not_lead_apply_outside() {
    let home = Home::new("cow-symlink");
    let p = project(&home);
    let outside = home.files().join("outside");
    fs::create_dir(&outside).unwrap();
    give_tree(&outside);
    let work = format!("--work={}", path(&p));
    assert_code(
        &home.run(&[
            "--cow",
            "--name",
            "s4",
            &work,
            "--",
            "sh",
            "-c",
            "echo planted > sub/f; echo n > sub/new",
        ]),
        0,
    );
    // Between the run and apply, sub becomes a symlink out of the project (made with the
    // directory's old times, so only the symlink check can catch it).
    fs::remove_dir_all(p.join("sub")).unwrap();
    symlink(&outside, p.join("sub")).unwrap();
    std::os::unix::fs::lchown(
        p.join("sub"),
        Some(common::caller_uid()),
        Some(common::caller_gid()),
    )
    .unwrap();
    let out = home.run(&["apply", "s4"]);
    assert_failure_line(
        &out,
        125,
        &["refusing to apply the session \"s4\"", "project/sub"],
    );
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "apply wrote through the symlink"
    );
}

#[test]
fn with_an_image_the_roots_writes_are_kept_too() {
    let home = Home::new("cow-image");
    let image = home.files().join("rootfs.tar");
    fs::write(&image, imagekit::busybox_layer()).unwrap();
    let p = project(&home);
    let bind = path(&p).to_string();
    let script = format!("echo r > /etc/root-file; echo b > {bind}/bound");
    let out = home.run(&[
        "--cow",
        "--name",
        "s5",
        "--image",
        path(&image),
        "--bind",
        &bind,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_code(&out, 0);
    let out = home.run(&["diff", "s5"]);
    assert_stdout(&out, &format!("A /etc/root-file\nA {bind}/bound\n"));
    let out = home.run(&["apply", "s5"]);
    assert_code(&out, 0);
    assert!(
        text(&out.stderr).contains("1 change(s) to the image's root were not applied"),
        "{}",
        describe(&out)
    );
    assert_eq!(fs::read_to_string(p.join("bound")).unwrap(), "b\n");
}

#[test]
fn a_session_inside_the_bound_directory_is_refused() {
    let home = Home::new("cow-overlap");
    let bind = path(&home.state()).to_string();
    let out = home.run(&["--cow", "--bind", &bind, "--", "true"]);
    assert_failure_line(&out, 125, &["--cow", "XDG_STATE_HOME"]);
}

/// The caller's state directory (`exec` trusts what is in it) stays hidden when a --cow bind
/// shows where it is, like under a plain bind.
#[test]
fn a_cow_bind_does_not_show_the_state_directory() {
    let home = Home::new("cow-statedir");
    let files = home.files();
    let run = files.join("run");
    fs::create_dir(&run).unwrap();
    give_tree(&run);
    let state = run.join("ns-rootless");
    let script = format!(
        "ls -A {0} | wc -l; echo planted > {0}/x || echo refused",
        path(&state)
    );
    let mut cmd = home.cmd(&[
        "--cow",
        "--name",
        "s6",
        "--bind",
        path(&files),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    cmd.env("XDG_RUNTIME_DIR", &run);
    imagekit::assert_hidden(&common::output_of(cmd));
    assert!(!state.join("x").exists());
    assert_code(&home.run(&["discard", "s6"]), 0);
}

/// A directory the session deleted, or replaced with a file, whose contents the user changed
/// on the host after the session began (deep inside: the directory's own times don't move).
#[test]
fn a_removed_directory_with_newer_work_inside_is_a_conflict() {
    for (name, script) in [("s7", "rm -r sub"), ("s8", "rm -r sub; echo file > sub")] {
        let home = Home::new("cow-deep");
        let p = project(&home);
        fs::create_dir_all(p.join("sub/deep")).unwrap();
        fs::write(p.join("sub/deep/old"), "old\n").unwrap();
        give_tree(&p);
        let work = format!("--work={}", path(&p));
        assert_code(
            &home.run(&["--cow", "--name", name, &work, "--", "sh", "-c", script]),
            0,
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(p.join("sub/deep/mywork"), "written on the host\n").unwrap();
        let out = home.run(&["apply", name]);
        assert_failure_line(
            &out,
            125,
            &[
                &format!("refusing to apply the session \"{name}\""),
                "project/sub",
                "changed",
            ],
        );
        assert_eq!(
            fs::read_to_string(p.join("sub/deep/mywork")).unwrap(),
            "written on the host\n",
            "apply removed work done on the host after the session began"
        );
        assert!(sessions(&home).join(name).exists());
    }
}

/// While the sandbox that writes a session runs, what `diff` showed is not what `apply` would
/// replay: the payload can change its writes after the review. apply and discard wait for it.
#[test]
fn apply_and_discard_refuse_a_session_whose_sandbox_runs() {
    let home = Home::new("cow-live");
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    let script = "echo reviewed > mod; echo ready; exec sleep 1000";
    let cmd = home.cmd(&["--cow", "--name", "s9", &work, "--", "sh", "-c", script]);
    let mut running = common::Running::start(cmd);
    running.wait_for_line("ready");
    assert_stdout(&home.run(&["diff", "s9"]), "M mod\n");
    for verb in ["apply", "discard"] {
        let out = home.run(&[verb, "s9"]);
        assert_failure_line(&out, 125, &["session \"s9\"", "running"]);
    }
    assert_eq!(fs::read_to_string(p.join("mod")).unwrap(), "mod\n");
    assert!(sessions(&home).join("s9/upper").exists());
    running.signal(nix::sys::signal::Signal::SIGTERM);
    running.finish();
    assert_code(&home.run(&["apply", "s9"]), 0);
    assert_eq!(fs::read_to_string(p.join("mod")).unwrap(), "reviewed\n");
}

/// The directory itself swapped for a symlink after the run (by anyone who can write its
/// parent): apply must not replay into wherever the symlink leads.
#[test]
fn a_target_swapped_for_a_symlink_is_refused() {
    let home = Home::new("cow-swap");
    let p = project(&home);
    let elsewhere = home.files().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    give_tree(&elsewhere);
    let work = format!("--work={}", path(&p));
    assert_code(
        &home.run(&[
            "--cow",
            "--name",
            "s10",
            &work,
            "--",
            "sh",
            "-c",
            "echo n > added",
        ]),
        0,
    );
    fs::rename(&p, home.files().join("project.moved")).unwrap();
    symlink(&elsewhere, &p).unwrap();
    let out = home.run(&["apply", "s10"]);
    assert_failure_line(
        &out,
        125,
        &["project", "not the directory the session began"],
    );
    assert_eq!(
        fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "apply wrote through a symlinked directory"
    );
}

/// Read-only directories (Go's module cache makes them 0555) and changes inside them.
#[test]
fn apply_writes_into_directories_it_makes_read_only() {
    let home = Home::new("cow-readonly");
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    let script = "mkdir -p ro/sub && echo x > ro/sub/f && chmod 555 ro/sub ro; \
        rm sub/f; echo g > sub/g; chmod 555 sub";
    assert_code(
        &home.run(&["--cow", "--name", "s11", &work, "--", "sh", "-c", script]),
        0,
    );
    let out = home.run(&["apply", "s11"]);
    assert_code(&out, 0);
    assert_eq!(fs::read_to_string(p.join("ro/sub/f")).unwrap(), "x\n");
    assert_eq!(fs::read_to_string(p.join("sub/g")).unwrap(), "g\n");
    assert!(!p.join("sub/f").exists());
    for d in ["ro", "ro/sub", "sub"] {
        let mode = fs::metadata(p.join(d)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o555, "{d}");
    }
}

/// A directory the session changed something in, deleted on the host after the run: diff
/// can only call it an addition now, but apply must not bring it back.
#[test]
fn a_directory_deleted_on_the_host_under_a_change_is_a_conflict() {
    let home = Home::new("cow-resurrect");
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    assert_code(
        &home.run(&[
            "--cow",
            "--name",
            "s12",
            &work,
            "--",
            "sh",
            "-c",
            "echo more >> gone/x",
        ]),
        0,
    );
    fs::remove_dir_all(p.join("gone")).unwrap();
    let out = home.run(&["apply", "s12"]);
    assert_failure_line(
        &out,
        125,
        &[
            "refusing to apply the session \"s12\"",
            "project/gone",
            "deleted",
        ],
    );
    assert!(
        !p.join("gone").exists(),
        "apply brought back a deleted directory"
    );
}

/// A file the sandbox made unreadable (chmod 000) is still the user's to apply: apply must
/// not stop at it halfway (the changes before it applied) nor leave a temporary file behind.
#[test]
fn a_file_the_sandbox_made_unreadable_is_applied_whole() {
    let script = "echo a > aaa; echo z > zzz; chmod 000 zzz";
    let (home, p) = session_of("cow-unreadable", "s13", script);
    let out = home.run(&["apply", "s13"]);
    assert_code(&out, 0);
    assert_eq!(fs::read_to_string(p.join("zzz")).unwrap(), "z\n");
    assert_eq!(
        fs::metadata(p.join("zzz")).unwrap().permissions().mode() & 0o777,
        0
    );
    assert_eq!(fs::read_to_string(p.join("aaa")).unwrap(), "a\n");
    let left: Vec<_> = fs::read_dir(&p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ns-rootless"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A sandbox whose read-write bind covers the sessions directory (`-w $HOME`) must not see
/// or write another session: `apply` replays its upper onto the host as the user's reviewed
/// work, so one planted file there is a write anywhere the session targets.
#[test]
fn a_bind_over_the_sessions_directory_can_neither_read_nor_change_them() {
    let (home, _) = session_of("cow-sessbind", "s9", "echo a > added");
    let top = home.state().join("ns-rootless");
    let script = format!(
        "ls -A {0} | wc -l; echo planted > {0}/sessions/s9/upper/0/planted || echo refused",
        path(&top)
    );
    imagekit::assert_hidden(&home.sh_working_in(&home.state(), &script));
    assert_stdout(&home.run(&["diff", "s9"]), "A added\n");
    assert_code(&home.run(&["discard", "s9"]), 0);
}

/// A directory the sandbox made unsearchable (chmod 000) in the upper: diff says which one.
#[test]
fn diff_names_a_directory_the_sandbox_locked() {
    let script = "mkdir -p locked/in; echo x > locked/in/f; chmod 000 locked";
    let (home, _) = session_of("cow-lockeddir", "s14", script);
    let out = home.run(&["diff", "s14"]);
    assert_failure_line(&out, 125, &["\"locked\"", "chmod"]);
    assert_code(&home.run(&["discard", "s14"]), 0);
}

/// A --rootfs kept copy-on-write: the mount points setup makes in the root (a /sys the rootfs
/// lacks, a bind's place) are not the session's changes, and apply adds none of them.
#[test]
fn setup_mount_points_are_not_changes_of_a_rootfs() {
    let home = Home::new("cow-rootfs-mp");
    let root = home.files().join("rootfs");
    common::build_busybox_rootfs(&root);
    fs::remove_dir(root.join("sys")).unwrap();
    fs::remove_dir(root.join("dev")).unwrap();
    give_tree(&root);
    let p = project(&home);
    let bind = path(&p).to_string();
    let out = home.run(&[
        "--cow",
        "--name",
        "s15",
        "--rootfs",
        path(&root),
        "--bind",
        &bind,
        "--",
        "sh",
        "-c",
        "echo r > /etc/root-file",
    ]);
    assert_code(&out, 0);
    assert_stdout(&home.run(&["diff", "s15"]), "A /etc/root-file\n");
    assert_code(&home.run(&["apply", "s15"]), 0);
    assert!(!root.join("sys").exists() && !root.join("dev").exists());
    assert_eq!(
        fs::read_to_string(root.join("etc/root-file")).unwrap(),
        "r\n"
    );
}

/// A directory deleted and made again in the sandbox hides everything the bound directory
/// had beneath it, at every depth (overlayfs marks only the re-made directory opaque, not
/// the ones made inside it): what the sandbox no longer saw is deleted, deep inside too.
#[test]
fn a_directory_made_again_deletes_what_it_had_at_every_depth() {
    let home = Home::new("cow-opaque");
    let p = project(&home);
    fs::create_dir_all(p.join("sub/deep")).unwrap();
    fs::write(p.join("sub/deep/old"), "old\n").unwrap();
    fs::write(p.join("sub/deep/same"), "same\n").unwrap();
    give_tree(&p);
    let script = "rm -r sub; mkdir -p sub/deep; echo same > sub/deep/same; ls -A sub/deep";
    let work = format!("--work={}", path(&p));
    let out = home.run(&["--cow", "--name", "s12", &work, "--", "sh", "-c", script]);
    assert_stdout(&out, "same\n");
    let out = home.run(&["diff", "s12"]);
    // The re-made directory replaced the old one (M); all beneath it is new (A) or gone (D).
    assert_stdout(
        &out,
        "M sub\nA sub/deep\nD sub/deep/old\nA sub/deep/same\nD sub/f\n",
    );
    assert_code(&home.run(&["apply", "s12"]), 0);
    let mut left: Vec<_> = fs::read_dir(p.join("sub/deep"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["same"], "apply kept what the sandbox deleted");
    assert!(!p.join("sub/f").exists());
}

/// An image root's changes are compared with the image as overlayfs merges its layers: a
/// file of a lower layer that a higher layer hides (an opaque directory, or a whiteout of a
/// directory on its way) was not in the image, so the sandbox writing it adds it.
#[test]
fn an_image_roots_changes_are_compared_with_the_merged_layers() {
    let home = Home::new("cow-merged");
    let base = imagekit::busybox_layer();
    let lower = imagekit::layer(&[
        imagekit::Entry::Dir("opt/"),
        imagekit::Entry::File("opt/old", b"old\n"),
        imagekit::Entry::Dir("srv/"),
        imagekit::Entry::Dir("srv/d/"),
        imagekit::Entry::File("srv/d/f", b"f\n"),
    ]);
    let top = imagekit::layer(&[
        imagekit::Entry::Dir("opt/"),
        imagekit::Entry::File("opt/.wh..wh..opq", b""),
        imagekit::Entry::Dir("srv/"),
        imagekit::Entry::File("srv/.wh.d", b""),
    ]);
    let image = home.files().join("layout");
    imagekit::oci_layout(&image, &[base, lower, top], serde_json::json!({}), false);
    let script = "ls -A /opt /srv; echo old > /opt/old; mkdir /srv/d; echo f > /srv/d/f";
    let out = home.run(&[
        "--cow",
        "--name",
        "s13",
        "--image",
        path(&image),
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_stdout(&out, "/opt:\n\n/srv:\n");
    let out = home.run(&["diff", "s13"]);
    assert_stdout(&out, "A opt/old\nA srv/d\nA srv/d/f\n");
}

/// A session entry that is a symlink (planted by whoever could write the sessions
/// directory) leads nowhere: diff, apply and discard refuse it instead of replaying a
/// session.json and an upper that someone else wrote. A sessions directory open to others
/// is refused before a session is made in it.
#[test]
fn a_planted_session_is_refused() {
    let home = Home::new("cow-planted");
    let p = project(&home);
    let planted = home.files().join("planted");
    fs::create_dir_all(planted.join("upper/0")).unwrap();
    fs::create_dir_all(planted.join("work/0")).unwrap();
    fs::write(planted.join("upper/0/evil"), "planted\n").unwrap();
    let meta = serde_json::json!({
        "name": "evil",
        "started": 0,
        "layers": [{"key": "0", "target": p, "dst": "/p"}],
    });
    fs::write(planted.join("session.json"), meta.to_string()).unwrap();
    give_tree(&planted);
    common::set_mode(&planted, 0o700);
    let dir = sessions(&home);
    fs::create_dir_all(&dir).unwrap();
    give_tree(&home.state());
    common::set_mode(&dir, 0o700);
    symlink(&planted, dir.join("evil")).unwrap();
    std::os::unix::fs::lchown(
        dir.join("evil"),
        Some(common::caller_uid()),
        Some(common::caller_gid()),
    )
    .unwrap();
    for verb in ["apply", "diff", "discard"] {
        let out = home.run(&[verb, "evil"]);
        assert!(
            !p.join("evil").exists(),
            "{verb} replayed a planted session"
        );
        assert_failure_line(&out, 125, &["session \"evil\"", "not a plain directory"]);
    }
    assert!(!p.join("evil").exists(), "apply replayed a planted session");
    assert!(planted.join("upper/0/evil").exists());
    common::set_mode(&dir, 0o777);
    let work = format!("--work={}", path(&p));
    let out = home.run(&["--cow", "--name", "s14", &work, "--", "true"]);
    assert_failure_line(&out, 125, &["sessions directory", "open to other users"]);
}

/// With --image, the root's writes are diff-only: apply can't write into an image. A session
/// with no other change is refused in one line (and kept), not removed with them.
#[test]
fn apply_refuses_a_session_of_an_image_root_only() {
    let home = Home::new("cow-imageonly");
    let image = home.files().join("rootfs.tar");
    fs::write(&image, imagekit::busybox_layer()).unwrap();
    let out = home.run(&[
        "--cow",
        "--name",
        "s15",
        "--image",
        path(&image),
        "--",
        "sh",
        "-c",
        "echo r > /etc/r",
    ]);
    assert_code(&out, 0);
    assert_stdout(&home.run(&["diff", "s15"]), "A etc/r\n");
    let out = home.run(&["apply", "s15"]);
    assert_failure_line(
        &out,
        125,
        &[
            "refusing to apply the session \"s15\"",
            "image's root",
            "discard s15",
        ],
    );
    assert!(sessions(&home).join("s15/upper/root/etc/r").exists());
    assert_code(&home.run(&["discard", "s15"]), 0);
}

/// A session of an `--image` run compares its root's changes with the image's layers: prune
/// keeps them while the session exists, even once the image itself is gone, and removes them
/// after the session is discarded.
#[test]
fn prune_keeps_the_layers_a_session_needs() {
    let home = Home::new("cow-prune");
    let image = home.files().join("rootfs.tar");
    fs::write(&image, imagekit::busybox_layer()).unwrap();
    let out = home.run(&[
        "--cow",
        "--name",
        "s20",
        "--image",
        path(&image),
        "--",
        "sh",
        "-c",
        "echo r > /etc/root-file; rm /etc/group",
    ]);
    assert_code(&out, 0);
    fs::remove_file(&image).unwrap();
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert_eq!(home.layers().len(), 1, "{:?}", home.layers());
    let out = home.run(&["diff", "s20"]);
    assert_stdout(&out, "D etc/group\nA etc/root-file\n");
    assert_code(&home.run(&["discard", "s20"]), 0);
    assert_code(&home.run(&["images", "--prune"]), 0);
    assert!(home.layers().is_empty(), "{:?}", home.layers());
}

/// A socket the sandbox left (a server's, say) can't be replayed: apply applies the rest and
/// names it on one line instead of refusing the whole session. Made here in the session's
/// upper directly, as a sandbox's server would have: the test host has no tool for it.
#[test]
fn apply_skips_a_socket_and_names_it() {
    let (home, p) = session_of("cow-socket", "s21", "mkdir run; echo a > added");
    let uppers = sessions(&home).join("s21/upper");
    let upper = fs::read_dir(&uppers)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let socket = std::os::unix::net::UnixListener::bind(upper.join("run/app.sock")).unwrap();
    give_tree(&upper);
    let out = home.run(&["diff", "s21"]);
    assert_stdout(&out, "A added\nA run\nA run/app.sock\n");
    let out = home.run(&["apply", "s21"]);
    assert_code(&out, 0);
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{}", describe(&out));
    assert!(
        err.starts_with("ns-rootless: ") && err.contains("run/app.sock") && err.contains("socket"),
        "{}",
        describe(&out)
    );
    assert_eq!(fs::read_to_string(p.join("added")).unwrap(), "a\n");
    assert!(p.join("run").is_dir() && !p.join("run/app.sock").exists());
    assert!(!sessions(&home).join("s21").exists());
    drop(socket);
}

/// A sandbox can nest directories deeper than any stack (one name at a time, no path limit):
/// `discard` removes such a session whole, one line or success, never a crash that leaves it
/// half removed (its session.json gone first, so that nothing could name it again).
#[test]
fn discard_removes_a_session_nested_deeper_than_any_stack() {
    let home = Home::new("cow-deep");
    let p = project(&home);
    let work = format!("--work={}", path(&p));
    let script = format!(
        "chdir '{}' or die; for (1..40000) {{ mkdir 'd' or die; chdir 'd' or die }}",
        path(&p)
    );
    assert_code(
        &home.run(&["--cow", "--name", "s12", &work, "--", "perl", "-e", &script]),
        0,
    );
    let out = home.run(&["discard", "s12"]);
    let left = sessions(&home).join("s12");
    let was_left = left.exists();
    common::remove_tree(&left);
    assert_code(&out, 0);
    assert!(!was_left);
    assert!(!p.join("d").exists());
}
