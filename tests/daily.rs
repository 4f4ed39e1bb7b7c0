//! Integration tests of daily use (issue 18): `doctor`, `explain`, `--result-json`, profiles,
//! completions and the man page, and the frictions a new user hits (a hidden current directory,
//! `-w DIR`, the default shell, limits that kill, input checks, nested use).
//!
//! Like the other suites, every test runs the binary as the unprivileged caller (see `common`).

#[allow(dead_code)]
#[macro_use]
mod common;
#[allow(dead_code)]
mod imagekit;

use std::fs;
use std::os::unix::fs::chown;
use std::path::Path;

use common::{
    assert_code, assert_failure_line, binary, busybox_rootfs, caller_uid, describe, ns_rootless,
    output_of, output_with_input, path_str, run, text, Mode, TempDir,
};

/// A temp dir the caller owns (the harness makes them as the test runner).
fn caller_dir(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    chown(dir.path(), Some(caller_uid()), Some(caller_uid())).expect("chown the temp dir");
    dir
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(bytes)))
}

// ---------------------------------------------------------------------------------------------
// doctor
// ---------------------------------------------------------------------------------------------

#[test]
fn doctor_reports_every_precondition_and_exits_0_when_the_core_works() {
    let runtime = caller_dir("doctor-runtime");
    let mut cmd = ns_rootless(["doctor"]);
    cmd.env("XDG_RUNTIME_DIR", runtime.path());
    let out = output_of(cmd);
    assert_code(&out, 0);
    let left: Vec<_> = fs::read_dir(runtime.path()).unwrap().collect();
    assert!(left.is_empty(), "doctor left {left:?} behind");
    let stdout = text(&out.stdout);
    for what in [
        "user namespaces",
        "mount API",
        "sandbox",
        "overlayfs",
        "tun device",
        "network helper",
        "cgroup v2",
        "Landlock",
        "time namespace",
        "state directory",
    ] {
        let line = stdout
            .lines()
            .find(|l| {
                l.split_once(':')
                    .is_some_and(|(head, _)| head.ends_with(what))
            })
            .unwrap_or_else(|| panic!("no line for {what}:\n{stdout}"));
        assert!(
            line.starts_with("ok ") || line.starts_with("missing "),
            "{line}"
        );
    }
    for core in ["user namespaces", "sandbox"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok ") && l.contains(core)),
            "{core} should be ok here:\n{stdout}"
        );
    }
    // Every missing line says what to do.
    for line in stdout.lines().filter(|l| l.starts_with("missing ")) {
        assert!(line.len() > 40, "a missing line without a fix: {line}");
    }
}

/// Inside a sandbox without --allow nested, user namespaces are filtered: doctor says so, with
/// ns-rootless's own fix, and exits 1.
#[test]
fn doctor_inside_a_sandbox_names_allow_nested() {
    let bind = format!("{}:/nsr", path_str(binary()));
    let out = run(&["--ro-bind", &bind, "--", "/nsr", "doctor"]);
    assert_code(&out, 1);
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("user namespaces:"))
        .unwrap_or_else(|| panic!("{}", describe(&out)));
    assert!(line.starts_with("missing "), "{line}");
    assert!(line.contains("--allow nested"), "{line}");
    assert!(!stdout.contains("Docker"), "{stdout}");
}

#[test]
fn nested_use_without_allow_nested_suggests_it() {
    let bind = format!("{}:/nsr", path_str(binary()));
    let out = run(&["--ro-bind", &bind, "--", "/nsr", "true"]);
    assert_failure_line(&out, 125, &["--allow nested"]);
    assert!(!text(&out.stderr).contains("Docker"), "{}", describe(&out));
}

// ---------------------------------------------------------------------------------------------
// explain
// ---------------------------------------------------------------------------------------------

#[test]
fn explain_prints_the_plan_in_order() {
    let out = run(&[
        "explain",
        "--hostname",
        "box",
        "--ro-bind",
        "/etc:/tmp/etc",
        "-e",
        "MODE=ci",
        "--limit",
        "nofile=64",
        "--allow",
        "perf",
        "--",
        "make",
        "test",
    ]);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    for needle in [
        "namespaces: cgroup ipc net mount pid user uts",
        "hostname: box",
        "bind        /tmp/etc from /etc [ro,nosuid,nodev]",
        "proc        /proc",
        "MODE=ci",
        "command: make test",
        "allowed groups: perf",
        "limits: nofile=64",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in\n{stdout}");
    }
    let proc_at = stdout.find("proc        /proc").unwrap();
    let bind_at = stdout.find("/tmp/etc from").unwrap();
    assert!(
        proc_at < bind_at,
        "the user's binds come after /proc:\n{stdout}"
    );
    assert_eq!(text(&out.stderr), "");
}

/// explain creates no namespace: it works where none can be created (inside a sandbox without
/// --allow nested, whose seccomp filter refuses them).
#[test]
fn explain_creates_no_namespace() {
    let bind = format!("{}:/nsr", path_str(binary()));
    let out = run(&[
        "--ro-bind",
        &bind,
        "--",
        "/nsr",
        "explain",
        "--json",
        "true",
    ]);
    assert_code(&out, 0);
    let plan = json(&out.stdout);
    assert_eq!(plan["command"], serde_json::json!(["true"]));
}

/// Every mount step of the JSON plan is a mount point of the run with the same options.
#[test]
fn explain_json_is_the_plan_the_run_executes() {
    let options = [
        "--tmpfs",
        "/scratch:1m",
        "--ro-bind",
        "/etc:/tmp/etc",
        "--hostname",
        "h1",
    ];
    let mut args = vec!["explain", "--json"];
    args.extend(options);
    args.extend(["--", "true"]);
    let out = run(&args);
    assert_code(&out, 0);
    let plan = json(&out.stdout);
    assert_eq!(plan["hostname"], "h1");
    assert_eq!(plan["uid"], 0);
    assert!(plan["namespaces"]
        .as_array()
        .unwrap()
        .contains(&"user".into()));
    let mut args: Vec<&str> = options.to_vec();
    args.extend(["--", "cat", "/proc/self/mountinfo"]);
    let out = run(&args);
    assert_code(&out, 0);
    let mountinfo = text(&out.stdout);
    let mount_points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .collect();
    let mut checked = 0;
    for step in plan["mounts"].as_array().unwrap() {
        let action = step["action"].as_str().unwrap();
        let dst = step["destination"].as_str().unwrap();
        let flags: Vec<&str> = step["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        if ["symlink", "dir"].contains(&action) || flags.contains(&"if-exists") {
            continue;
        }
        assert!(
            mount_points.contains(&dst),
            "{dst} ({action}) is not mounted:\n{mountinfo}"
        );
        checked += 1;
    }
    assert!(checked > 10, "only {checked} mounts checked");
    let line = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/tmp/etc"))
        .unwrap();
    assert!(line.split(' ').nth(5).unwrap().starts_with("ro"), "{line}");
}

#[test]
fn json_is_only_for_explain() {
    assert_failure_line(&run(&["--json", "true"]), 125, &["--json", "explain"]);
}

// ---------------------------------------------------------------------------------------------
// --result-json
// ---------------------------------------------------------------------------------------------

#[test]
fn result_json_records_the_run() {
    let dir = caller_dir("result");
    let file = dir.path().join("r.json");
    let out = run(&[
        "--result-json",
        path_str(&file),
        // --rm: a named sandbox is kept after it ends, and nothing of this test may stay behind.
        "--rm",
        "--name",
        &format!("daily-result-{}", std::process::id()),
        "--",
        "sh",
        "-c",
        "sleep 0.2; kill -TERM $$",
    ]);
    assert_code(&out, 143);
    let r = json(&fs::read(&file).expect("the result file"));
    assert_eq!(r["exit_code"], 143);
    assert_eq!(r["signal"], 15);
    assert_eq!(r["timed_out"], false);
    assert!(r["wall_ms"].as_u64().unwrap() >= 200, "{r}");
    assert!(r["peak_rss_kib"].as_u64().unwrap() > 0, "{r}");
    assert!(r["user_ms"].is_u64() && r["sys_ms"].is_u64(), "{r}");
    assert_eq!(r["name"], r["hostname"]);
    let host_user_ns = fs::read_link("/proc/self/ns/user").unwrap();
    let host_id = text(host_user_ns.as_os_str().as_encoded_bytes());
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"] {
        let id = r["namespaces"][ns]
            .as_u64()
            .unwrap_or_else(|| panic!("no {ns} id: {r}"));
        if ns == "user" {
            assert!(!host_id.contains(&id.to_string()), "{host_id} {id}");
        }
    }
}

#[test]
fn result_json_of_a_plain_exit_has_no_signal() {
    let dir = caller_dir("result-exit");
    let file = dir.path().join("r.json");
    let out = run(&["--result-json", path_str(&file), "--", "sh", "-c", "exit 3"]);
    assert_code(&out, 3);
    let r = json(&fs::read(&file).unwrap());
    assert_eq!(r["exit_code"], 3);
    assert!(r["signal"].is_null(), "{r}");
    assert!(r["name"].is_null(), "{r}");
}

/// `signal` is how the command ended, not a guess from its code: `exit 137` is an exit with
/// code 137 (signal null), a SIGKILL is signal 9, both with exit status 137.
#[test]
fn result_json_tells_an_exit_137_from_a_sigkill() {
    let dir = caller_dir("result-137");
    let file = dir.path().join("r.json");
    for (script, signal) in [("exit 137", None), ("kill -KILL $$", Some(9))] {
        let out = run(&["--result-json", path_str(&file), "--", "sh", "-c", script]);
        assert_code(&out, 137);
        let r = json(&fs::read(&file).unwrap());
        assert_eq!(r["exit_code"], 137, "{script}: {r}");
        match signal {
            None => assert!(r["signal"].is_null(), "{script}: {r}"),
            Some(n) => assert_eq!(r["signal"], n, "{script}: {r}"),
        }
    }
}

#[test]
fn result_json_to_an_unwritable_path_fails_before_the_run() {
    let out = run(&["--result-json", "/proc/nope/r.json", "--", "echo", "ran"]);
    assert_failure_line(&out, 125, &["--result-json", "/proc/nope/r.json"]);
    assert_eq!(text(&out.stdout), "");
}

// ---------------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------------

fn profile_home(body: &str) -> TempDir {
    let dir = TempDir::new("profiles");
    let profiles = dir.path().join("config/ns-rootless/profiles");
    fs::create_dir_all(&profiles).unwrap();
    fs::write(profiles.join("t.toml"), body).unwrap();
    dir
}

#[test]
fn a_profile_gives_options_that_the_command_line_overrides() {
    let home = profile_home("hostname = \"fromprofile\"\nenv = [\"A=~/x\", \"B=2\"]\n");
    let config = home.path().join("config");
    let script = "hostname; echo $A $B";
    let mut cmd = ns_rootless(["--profile", "t", "--", "sh", "-c", script]);
    cmd.env("XDG_CONFIG_HOME", &config).env("HOME", "/h");
    let out = output_of(cmd);
    common::assert_stdout(&out, "fromprofile\n/h/x 2\n");
    let mut cmd = ns_rootless([
        "--profile",
        "t",
        "--hostname",
        "cli",
        "-e",
        "B=3",
        "--",
        "sh",
        "-c",
        script,
    ]);
    cmd.env("XDG_CONFIG_HOME", &config).env("HOME", "/h");
    common::assert_stdout(&output_of(cmd), "cli\n/h/x 3\n");
}

#[test]
fn a_profile_with_an_unknown_key_is_refused() {
    let home = profile_home("bindd = [\"/x\"]\n");
    let mut cmd = ns_rootless(["--profile", "t", "--", "echo", "ran"]);
    cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
    let out = output_of(cmd);
    assert_failure_line(&out, 125, &["--profile \"t\"", "unknown option \"bindd\""]);
    assert_eq!(text(&out.stdout), "");
}

/// A project can't grant itself host access: profiles in the current directory are not read.
#[test]
fn a_profile_in_the_current_directory_is_never_read() {
    let project = profile_home("share-net = true\n");
    fs::write(project.path().join("t.toml"), "share-net = true\n").unwrap();
    let mut cmd = ns_rootless(["--profile", "t", "--", "echo", "ran"]);
    cmd.current_dir(project.path().join("config/ns-rootless/profiles"));
    let out = output_of(cmd);
    assert_failure_line(&out, 125, &["--profile \"t\"", "no such profile"]);
}

#[test]
fn built_in_profiles_are_listed_and_usable() {
    let out = run(&["profiles"]);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    for name in ["rust: built in", "node: built in", "python: built in"] {
        assert!(stdout.contains(name), "{stdout}");
    }
    let mut cmd = ns_rootless(["explain", "--profile", "rust", "--", "cargo", "test"]);
    cmd.env("HOME", "/h");
    let out = output_of(cmd);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("RUSTUP_HOME=/h/.rustup"), "{stdout}");
    assert!(stdout.contains("CARGO_HOME=/h/.cargo"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// Completions and the man page
// ---------------------------------------------------------------------------------------------

/// The built-in toolchain profiles bind the caller's toolchains and caches read-only, at the
/// paths the environment they set names.
#[test]
fn built_in_profiles_bind_the_toolchain_dirs_read_only() {
    let home = caller_dir("profile-home");
    for (profile, var, dir) in [
        ("rust", "CARGO_HOME", ".cargo/registry"),
        ("rust", "RUSTUP_HOME", ".rustup"),
        ("node", "npm_config_cache", ".npm"),
        ("python", "PYTHONUSERBASE", ".local"),
    ] {
        let at = home.path().join(dir);
        fs::create_dir_all(&at).unwrap();
        fs::write(at.join("marker"), format!("{profile} {dir}\n")).unwrap();
        common::give_to_caller(&at);
        let var_dir = dir.split('/').next().unwrap();
        let script = format!(
            "test \"${var}\" = {1}/{var_dir} && cat {0}/marker; \
             touch {0}/new 2>/dev/null || echo read-only",
            path_str(&at),
            path_str(home.path())
        );
        let mut cmd = ns_rootless(["--profile", profile, "--", "sh", "-c", &script]);
        cmd.env("HOME", home.path());
        let out = output_of(cmd);
        common::assert_stdout(&out, &format!("{profile} {dir}\nread-only\n"));
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert_code(&out, 0);
        let script = text(&out.stdout);
        for needle in [
            "ns-rootless",
            "hostname",
            "ro-bind",
            "result-json",
            "doctor",
            "explain",
        ] {
            assert!(script.contains(needle), "{shell}: no {needle}");
        }
    }
    let dir = TempDir::new("completion");
    let file = dir.path().join("ns-rootless.bash");
    fs::write(&file, run(&["completions", "bash"]).stdout).unwrap();
    let check = std::process::Command::new(common::host_tool("bash"))
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", describe(&check));
}

#[test]
fn man_page_is_roff_from_the_options() {
    let out = run(&["man"]);
    assert_code(&out, 0);
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH ns-rootless"),
        "{page}"
    );
    for needle in ["\\-\\-hostname", "\\-\\-result\\-json", "\\-\\-profile"] {
        assert!(page.contains(needle), "no {needle}");
    }
}

// ---------------------------------------------------------------------------------------------
// Frictions
// ---------------------------------------------------------------------------------------------

/// The caller's directory under /tmp is hidden (the sandbox's /tmp is its own): one line says
/// so and names -w, and the command starts in /.
#[test]
fn a_hidden_current_directory_is_named_with_a_hint() {
    let dir = TempDir::new("hidden-cwd");
    let mut cmd = ns_rootless(["--", "pwd"]);
    cmd.current_dir(dir.path());
    let out = output_of(cmd);
    assert_code(&out, 0);
    assert_eq!(text(&out.stdout), "/\n");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("ns-rootless: "), "{stderr}");
    assert!(
        stderr.contains(path_str(dir.path())) && stderr.contains("-w"),
        "{stderr}"
    );
    // A visible one says nothing.
    let mut cmd = ns_rootless(["--", "pwd"]);
    cmd.current_dir("/usr");
    let out = output_of(cmd);
    common::assert_stdout(&out, "/usr\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn w_followed_by_a_directory_is_refused_with_the_work_form() {
    let dir = TempDir::new("w-dir");
    fs::create_dir(dir.path().join("proj")).unwrap();
    let mut cmd = ns_rootless(["-w", "proj"]);
    cmd.current_dir(dir.path());
    let out = output_of(cmd);
    assert_failure_line(&out, 125, &["-w \"proj\"", "--work=proj"]);
    // A command named like a directory still runs: `-w sh` with a directory sh beside.
    fs::create_dir(dir.path().join("true")).unwrap();
    let mut cmd = ns_rootless(["-w", "true"]);
    cmd.current_dir(dir.path());
    assert_code(&output_of(cmd), 0);
}

#[test]
fn the_default_command_is_the_callers_shell_when_it_exists_inside() {
    let bash = common::host_tool("bash");
    let mut cmd = ns_rootless(Vec::<&str>::new());
    cmd.env("SHELL", &bash);
    let out = output_with_input(cmd, b"echo ${BASH_VERSION:+bash} $SHELL\n");
    common::assert_stdout(&out, &format!("bash {}\n", path_str(&bash)));
    let mut cmd = ns_rootless(Vec::<&str>::new());
    cmd.env("SHELL", "/nonexistent/zsh");
    let out = output_with_input(cmd, b"echo ${BASH_VERSION:-sh}\n");
    common::assert_stdout(&out, "sh\n");
    // Hidden by the user's own --hide: absent inside, so sh.
    let mut cmd = ns_rootless(["--hide", path_str(&bash)]);
    cmd.env("SHELL", &bash);
    let out = output_with_input(cmd, b"echo ${BASH_VERSION:-sh}\n");
    common::assert_stdout(&out, "sh\n");
}

/// With --image, $SHELL is looked up as the overlay shows it: one hidden by an upper layer's
/// whiteout, or under a directory an upper layer made opaque, is absent, and sh runs instead.
#[test]
fn the_default_shell_hidden_by_an_image_layer_falls_back_to_sh() {
    use imagekit::{busybox_layer, layer, oci_layout, Entry, Home};
    let home = Home::new("shell-image");
    let image = home.files().join("layout");
    let extra = layer(&[
        Entry::Dir("opt/"),
        Entry::Dir("opt/shells/"),
        Entry::Symlink("opt/shells/ash", "/bin/busybox"),
    ]);
    let top = layer(&[
        Entry::Dir("bin/"),
        Entry::File("bin/.wh.ash", b""),
        Entry::Dir("opt/"),
        Entry::Dir("opt/shells/"),
        Entry::File("opt/shells/.wh..wh..opq", b""),
    ]);
    oci_layout(
        &image,
        &[busybox_layer(), extra, top],
        serde_json::json!({"Env": ["PATH=/bin"]}),
        false,
    );
    for shell in ["/bin/ash", "/opt/shells/ash"] {
        let mut cmd = home.cmd(&["--image", path_str(&image)]);
        cmd.env("SHELL", shell);
        let out = output_with_input(cmd, b"echo ran\n");
        common::assert_stdout(&out, "ran\n");
    }
    // Present in a lower layer and not hidden: that shell runs.
    let mut cmd = home.cmd(&["--image", path_str(&image)]);
    cmd.env("SHELL", "/bin/sh");
    let out = output_with_input(cmd, b"echo $SHELL\n");
    common::assert_stdout(&out, "/bin/sh\n");
}

/// `exec` starts where the run did: its working directory, its `-e` and `--env-file`
/// environment and its limits, with exec's own `-e` and `--chdir` on top.
#[test]
fn exec_inherits_the_runs_directory_environment_and_limits() {
    let runtime = caller_dir("exec-inherit");
    common::set_mode(runtime.path(), 0o700);
    let env_file = runtime.path().join("env");
    fs::write(&env_file, "FROM_FILE=file\nBOTH=file\n").unwrap();
    chown(&env_file, Some(caller_uid()), Some(caller_uid())).unwrap();
    let name = format!("daily-exec-{}", std::process::id());
    let cmd = |args: &[&str]| {
        let mut cmd = ns_rootless(args);
        cmd.env("XDG_RUNTIME_DIR", runtime.path());
        output_of(cmd)
    };
    let out = cmd(&[
        "run",
        "-d",
        "--name",
        &name,
        "--env-file",
        path_str(&env_file),
        "-e",
        "FROM_RUN=run",
        "--chdir",
        "/usr",
        "--limit",
        "nofile=123",
        "--",
        "sleep",
        "1000",
    ]);
    assert_code(&out, 0);
    let script = "echo $FROM_FILE $FROM_RUN $BOTH; pwd; ulimit -n";
    let inherited = cmd(&["exec", &name, "--", "sh", "-c", script]);
    let own = cmd(&[
        "exec",
        "-e",
        "BOTH=exec",
        "--chdir",
        "/etc",
        &name,
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_code(&cmd(&["rm", "-f", &name]), 0);
    common::assert_stdout(&inherited, "file run file\n/usr\n123\n");
    common::assert_stdout(&own, "file run exec\n/etc\n123\n");
}

/// With --image (an image whose config names no PATH), PATH is the standard one, sbin
/// directories included, not the caller's.
#[test]
fn image_path_includes_the_sbin_directories() {
    use imagekit::{busybox_layer, oci_layout, Home};
    let home = Home::new("image-path");
    let image = home.files().join("layout");
    oci_layout(&image, &[busybox_layer()], serde_json::json!({}), false);
    let mut cmd = home.cmd(&["--image", path_str(&image), "--", "sh", "-c", "echo $PATH"]);
    cmd.env("PATH", "/usr/bin:/bin");
    let out = output_of(cmd);
    assert_code(&out, 0);
    let path = text(&out.stdout);
    let dirs: Vec<&str> = path.trim().split(':').collect();
    for sbin in ["/usr/sbin", "/sbin"] {
        assert!(dirs.contains(&sbin), "{path}");
    }
}

#[test]
fn rootfs_path_includes_the_sbin_directories() {
    let mut cmd = Mode::Rootfs.command(&[], &["sh", "-c", "echo $PATH"]);
    cmd.env("PATH", "/usr/bin:/bin");
    let out = output_of(cmd);
    assert_code(&out, 0);
    let path = text(&out.stdout);
    let dirs: Vec<&str> = path.trim().split(':').collect();
    for sbin in ["/usr/sbin", "/sbin"] {
        assert!(dirs.contains(&sbin), "{path}");
    }
    assert!(busybox_rootfs().is_dir());
}

#[test]
fn sizes_take_suffixes_in_limits() {
    let out = run(&["--limit", "as=1g", "--", "sh", "-c", "ulimit -v"]);
    common::assert_stdout(&out, "1048576\n");
}

#[test]
fn a_run_killed_by_a_limit_names_it() {
    let out = run(&["--limit", "cpu=1", "--", "sh", "-c", "while :; do :; done"]);
    assert!(
        matches!(out.status.code(), Some(137 | 152)),
        "{}",
        describe(&out)
    );
    assert_failure_line(&out, out.status.code().unwrap(), &["--limit cpu=1"]);
    let out = run(&[
        "--limit",
        "fsize=1k",
        "--",
        "sh",
        "-c",
        "exec head -c 5000 /dev/zero > /tmp/x",
    ]);
    assert_failure_line(&out, 153, &["SIGXFSZ", "--limit fsize=1024"]);
    // A stack limit shows as SIGSEGV (dash recurses on the C stack).
    let out = run(&["--limit", "stack=64k", "--", "sh", "-c", "f() { f; }; f"]);
    assert_failure_line(&out, 139, &["SIGSEGV", "--limit stack=65536"]);
    // A command that exits 137 or 139 itself was not killed: no hint.
    for code in ["137", "139"] {
        let out = run(&[
            "--limit",
            "as=1g",
            "--",
            "sh",
            "-c",
            &format!("exit {code}"),
        ]);
        assert_code(&out, code.parse().unwrap());
        assert_eq!(text(&out.stderr), "", "exit {code}: {}", describe(&out));
    }
}

#[test]
fn bad_input_is_refused() {
    for (args, needle) in [
        (&["-e", "BAD NAME=x"][..], "invalid --env \"BAD NAME=x\""),
        (
            &["--hostname", "has space"],
            "invalid --hostname \"has space\"",
        ),
        (&["--timeout", "-5"], "positive duration"),
    ] {
        let mut all = args.to_vec();
        all.extend(["--", "echo", "ran"]);
        let out = run(&all);
        assert_failure_line(&out, 125, &[needle]);
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
}

#[test]
fn a_missing_profile_dir_is_no_error_without_a_profile() {
    // No HOME, no XDG_CONFIG_HOME (the harness's clean environment): runs as usual.
    common::assert_stdout(&run(&["--", "echo", "ok"]), "ok\n");
    assert!(!Path::new("/nonexistent").exists());
}

// ---------------------------------------------------------------------------------------------
// Build and install scripts
// ---------------------------------------------------------------------------------------------

fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// rustc, cargo and rustup stand-ins in `bin` that append how they were called to `log`;
/// `rustc --print sysroot` (any rustc call) answers `sysroot`.
fn write_stand_in_toolchain(bin: &Path, log: &Path, sysroot: &Path) {
    let record = |tool: &str| format!("echo \"{tool} $*\" >> {}", path_str(log));
    for (tool, body) in [
        (
            "rustc",
            format!("{}; echo {}", record("rustc"), path_str(sysroot)),
        ),
        ("cargo", record("cargo")),
        ("rustup", record("rustup")),
    ] {
        let path = bin.join(tool);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        common::set_mode(&path, 0o755);
    }
}

/// build.sh never adds a rustup target (a ~200 MB download): without the musl target it builds
/// with glibc and says in one line how to get the faster build. rustc, cargo and rustup are
/// stand-ins that record how they were called.
#[test]
fn build_script_never_adds_a_rustup_target() {
    let dir = caller_dir("build-sh");
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let log = dir.path().join("calls");
    let sysroot = dir.path().join("sysroot");
    fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
    write_stand_in_toolchain(&bin, &log, &sysroot);
    // A checkout of its own (build.sh works from its parent directory), with a release binary
    // in place for the stand-in build to leave there.
    let repo = dir.path().join("repo");
    fs::create_dir_all(repo.join("scripts")).unwrap();
    fs::create_dir_all(repo.join("target/release")).unwrap();
    fs::copy(script("build.sh"), repo.join("scripts/build.sh")).unwrap();
    fs::write(repo.join("target/release/ns-rootless"), "").unwrap();
    for path in [
        repo.clone(),
        repo.join("scripts"),
        repo.join("target"),
        repo.join("target/release"),
        repo.join("target/release/ns-rootless"),
    ] {
        chown(&path, Some(caller_uid()), Some(caller_uid())).unwrap();
    }
    let mut cmd = common::caller_command(common::host_tool("bash"));
    cmd.arg(repo.join("scripts/build.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", path_str(&bin)));
    let out = output_of(cmd);
    assert_code(&out, 0);
    let calls = fs::read_to_string(&log).unwrap_or_default();
    assert!(!calls.contains("rustup"), "rustup was called:\n{calls}");
    assert!(
        calls.contains("cargo rustc"),
        "no static glibc build:\n{calls}"
    );
    assert!(
        !calls.contains("--target"),
        "a musl build without the target:\n{calls}"
    );
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("rustup target add"), "{stderr}");
}

/// build.sh's choice, without a build (`--print-target`): musl when rustc's sysroot has the
/// musl target's library, else static glibc and one line on how to get musl. The stand-in
/// rustc reports a sysroot with the target or without; cargo and rustup must not be called.
#[test]
fn build_script_picks_musl_only_when_installed() {
    let dir = TempDir::new("build-target");
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let log = dir.path().join("calls");
    let mut uname = common::runner_command("uname");
    uname.arg("-m");
    let arch = text(&output_of(uname).stdout);
    let musl = format!("{}-unknown-linux-musl", arch.trim());
    for (installed, stdout, hint) in [
        (true, format!("musl {musl}\n"), false),
        (false, "glibc-static\n".into(), true),
    ] {
        let sysroot = dir.path().join(format!("sysroot-{installed}"));
        let lib = sysroot.join("lib/rustlib").join(if installed {
            &musl
        } else {
            "x86_64-unknown-linux-gnu"
        });
        fs::create_dir_all(lib.join("lib")).unwrap();
        write_stand_in_toolchain(&bin, &log, &sysroot);
        let mut cmd = common::runner_command(common::host_tool("bash"));
        cmd.arg(script("build.sh"))
            .arg("--print-target")
            .env("PATH", format!("{}:/usr/bin:/bin", path_str(&bin)));
        let out = output_of(cmd);
        assert_code(&out, 0);
        assert_eq!(text(&out.stdout), stdout, "{}", describe(&out));
        let stderr = text(&out.stderr);
        if hint {
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains(&format!("rustup target add {musl}")),
                "{stderr}"
            );
        } else {
            assert_eq!(stderr, "", "{}", describe(&out));
        }
        let calls = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            calls.lines().all(|l| l == "rustc --print sysroot"),
            "only rustc's sysroot may be asked:\n{calls}"
        );
    }
    // Anything else is refused.
    let mut cmd = common::runner_command(common::host_tool("bash"));
    cmd.arg(script("build.sh")).arg("--release");
    assert_code(&output_of(cmd), 2);
}

/// CI gates on formatting and lints before the tests.
#[test]
fn ci_runs_fmt_check_and_clippy_before_the_tests() {
    let ci = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    let at = |needle: &str| {
        ci.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in .ci/run:\n{ci}"))
    };
    assert!(at("cargo fmt --check") < at("scripts/test.sh"));
    assert!(at("--all-targets -- -D warnings") < at("scripts/test.sh"));
}

#[test]
fn install_script_installs_the_binary_man_page_and_completions() {
    let dir = caller_dir("install-sh");
    let prefix = dir.path().join("prefix");
    let mut cmd = common::caller_command(common::host_tool("bash"));
    cmd.arg(script("install.sh"))
        .args(["--no-build", "--prefix", path_str(&prefix)])
        .env("NS_ROOTLESS_BIN", binary());
    let out = output_of(cmd);
    assert_code(&out, 0);
    for (file, needle) in [
        ("bin/ns-rootless", "ELF"),
        ("share/man/man1/ns-rootless.1", ".TH ns-rootless"),
        ("share/bash-completion/completions/ns-rootless", "complete"),
        (
            "share/zsh/site-functions/_ns-rootless",
            "#compdef ns-rootless",
        ),
        (
            "share/fish/vendor_completions.d/ns-rootless.fish",
            "complete -c ns-rootless",
        ),
    ] {
        let content = fs::read(prefix.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text(&content).contains(needle), "{file} lacks {needle}");
    }
}

// ---------------------------------------------------------------------------------------------
// Binds anywhere, attacked (src/plan/layers.rs): a host directory where a mount point is missing
// becomes a layer of the sandbox's own. Each test below plays someone trying to make a layer
// show, or create, what the plain read-only bind of that directory would not.
// ---------------------------------------------------------------------------------------------

/// A fresh host directory under /var/tmp (visible, read-only, in a host-mode sandbox, and not a
/// place the other suites list), made by the runner, removed on drop.
struct HostDir(std::path::PathBuf);

impl HostDir {
    fn new(label: &str) -> HostDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::path::PathBuf::from(format!(
            "/var/tmp/ns-rootless-daily.{}.{n}.{label}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        common::set_mode(&path, 0o755);
        HostDir(path)
    }

    fn at(&self, rel: &str) -> String {
        format!("{}/{rel}", path_str(&self.0))
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Every path under `dir`, as the runner sees it (not following symlinks).
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("listing {}: {e}", d.display())) {
            let p = e.expect("entry").path();
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                todo.push(p.clone());
            }
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

fn give(path: &Path) {
    chown(path, Some(caller_uid()), Some(caller_uid())).expect("chown");
}

/// Our private directories (the state directory, $XDG_DATA_HOME/ns-rootless,
/// $XDG_STATE_HOME/ns-rootless) under a host directory that a layer would otherwise be made of:
/// a destination inside one is refused as before, so no layer shows the names inside it.
#[test]
fn a_private_dir_under_a_layered_parent_stays_hidden() {
    let host = HostDir::new("private");
    let bind_src = caller_dir("private-src");
    for (var, private) in [
        ("XDG_RUNTIME_DIR", "rt/ns-rootless"),
        ("XDG_DATA_HOME", "data/ns-rootless"),
        ("XDG_STATE_HOME", "state/ns-rootless"),
    ] {
        let base = host.0.join(private).parent().unwrap().to_path_buf();
        let private = host.0.join(private);
        fs::create_dir_all(private.join("inner")).unwrap();
        fs::write(private.join("secret-name"), "").unwrap();
        for p in [&base, &private, &private.join("inner")] {
            give(p);
        }
        common::set_mode(&base, 0o700);
        common::set_mode(&private, 0o700);
        let before = tree(&host.0);
        for dst in [
            format!("{}/new", path_str(&private)),
            format!("{}/inner/new", path_str(&private)),
        ] {
            let mut cmd = ns_rootless([
                "--ro-bind",
                &format!("{}:{dst}", path_str(bind_src.path())),
                "--",
                "ls",
                "-A",
                path_str(&private),
            ]);
            cmd.env(var, &base);
            let out = output_of(cmd);
            assert!(
                !text(&out.stdout).contains("secret-name"),
                "{var}: a layer shows {}: {}",
                path_str(&private),
                describe(&out)
            );
            assert_failure_line(&out, 125, &[&dst]);
            assert_eq!(tree(&host.0), before, "{var}: the host changed");
        }
    }
}

/// A host directory's entries are bound with no symlink followed on the host: a symlink entry
/// is made again as a symlink (resolved inside the sandbox, where /tmp is the sandbox's own),
/// and a directory entry swapped for a symlink between the listing and the mount (a neighbour
/// racing the setup in a shared directory) makes the run fail, never binds where it leads.
#[test]
fn a_layer_entry_that_is_or_becomes_a_symlink_never_leads_outside() {
    let host = HostDir::new("symlinks");
    // The secret: in the host's /tmp, readable by the caller, hidden in the sandbox.
    let secret = caller_dir("layer-hush");
    fs::write(secret.path().join("secret-file"), "hush\n").unwrap();
    common::set_mode(&secret.path().join("secret-file"), 0o644);
    let link = host.0.join("link");
    std::os::unix::fs::symlink(secret.path(), &link).unwrap();
    let flip = host.0.join("flip");
    fs::create_dir(&flip).unwrap();
    fs::write(flip.join("plain-file"), "plain\n").unwrap();
    let src = caller_dir("layer-src");
    let bind = format!("{}:{}", path_str(src.path()), host.at("new/x"));
    let script = format!(
        "readlink {0}; ls -A {0}/ {1}/ 2>&1; cat {0}/* {1}/* 2>&1; true",
        host.at("link"),
        host.at("flip")
    );
    let out = run(&["--ro-bind", &bind, "--", "sh", "-c", &script]);
    assert_code(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("{}\n", path_str(secret.path()))));
    assert!(stdout.contains("plain"), "{stdout}");
    assert!(
        !stdout.contains("secret-file"),
        "through the link: {stdout}"
    );

    // The race: flip the entry between a directory and a symlink to the secret while runs
    // list and bind it. Each run either shows the plain directory or fails: never the secret.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, flip, secret) = (stop.clone(), flip.clone(), secret.path().to_path_buf());
        let aside = host.0.join("aside");
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::rename(&flip, &aside);
                let _ = std::os::unix::fs::symlink(&secret, &flip);
                let _ = fs::remove_file(&flip);
                let _ = fs::rename(&aside, &flip);
                n += 1;
            }
            n
        })
    };
    let (mut ran, mut refused) = (0, 0);
    for _ in 0..40 {
        let out = run(&["--ro-bind", &bind, "--", "sh", "-c", &script]);
        let stdout = text(&out.stdout);
        assert!(!stdout.contains("secret-file"), "{}", describe(&out));
        match out.status.code() {
            Some(0) => ran += 1,
            Some(125) => refused += 1,
            _ => panic!("{}", describe(&out)),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 0 && ran + refused == 40, "{flips} {ran} {refused}");
    assert!(!host.0.join("new").exists(), "created on the host");
}

/// What --hide hides under a layered directory stays hidden, whichever comes first; so do the
/// host's hidden places a layer's symlink entry points at (/home, /root, /run, /tmp).
#[test]
fn hidden_places_under_a_layer_stay_hidden() {
    let host = HostDir::new("hide");
    let hidden = host.0.join("hidden");
    fs::create_dir(&hidden).unwrap();
    fs::write(hidden.join("hidden-file"), "").unwrap();
    for (name, to) in [("to-run", "/run"), ("to-root", "/root"), ("to-tmp", "/tmp")] {
        std::os::unix::fs::symlink(to, host.0.join(name)).unwrap();
    }
    let before = tree(&host.0);
    let src = caller_dir("hide-src");
    let bind = format!("{}:{}", path_str(src.path()), host.at("new/x"));
    let hide = host.at("hidden");
    let script = format!(
        "ls -A {0}/ {1}/to-run/ {1}/to-root/ {1}/to-tmp/; test -d {1}/new/x && echo bound",
        hide,
        path_str(&host.0)
    );
    for options in [
        ["--hide", &hide, "--ro-bind", &bind],
        ["--ro-bind", &bind, "--hide", &hide],
    ] {
        let mut args = options.to_vec();
        args.extend(["--", "sh", "-c", &script]);
        let out = run(&args);
        assert_code(&out, 0);
        // Every listing is empty: only the four headers, and the bind's line.
        let stdout = text(&out.stdout);
        let shown: Vec<_> = stdout
            .lines()
            .filter(|l| !l.is_empty() && !l.ends_with("/:") && *l != "bound")
            .collect();
        assert!(shown.is_empty(), "{options:?}: {}", describe(&out));
        assert!(stdout.ends_with("bound\n"), "{options:?}: {stdout}");
        assert_eq!(tree(&host.0), before, "{options:?}: the host changed");
    }
    // A destination inside what --hide hides: the hidden entries are not shown there either.
    let inside = format!("{}:{}", path_str(src.path()), host.at("hidden/x"));
    for options in [
        ["--hide", &hide, "--ro-bind", &inside],
        ["--ro-bind", &inside, "--hide", &hide],
    ] {
        let mut args = options.to_vec();
        args.extend(["--", "ls", "-A", &hide]);
        let out = run(&args);
        assert!(
            !text(&out.stdout).contains("hidden-file"),
            "{options:?}: {}",
            describe(&out)
        );
        assert_eq!(tree(&host.0), before, "{options:?}: the host changed");
    }
}

/// Entries the caller can't read stay unreadable in a layer; a directory the caller can't list
/// is not layered (its mount point is refused as before, naming it), nor is one it can list but
/// not search through. Nothing is created on the host either way.
#[test]
fn unreadable_host_directories_and_entries_under_a_layer() {
    let host = HostDir::new("unreadable");
    let locked = host.0.join("locked");
    fs::create_dir(&locked).unwrap();
    fs::write(locked.join("root-only"), "x").unwrap();
    common::set_mode(&locked, 0o700);
    let src = caller_dir("unreadable-src");
    let bind = |dst: &str| format!("{}:{dst}", path_str(src.path()));
    let before = tree(&host.0);
    let out = run(&[
        "--ro-bind",
        &bind(&host.at("new")),
        "--",
        "ls",
        "-A",
        &host.at("locked"),
    ]);
    assert_code(&out, 2);
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        describe(&out)
    );
    assert!(!text(&out.stdout).contains("root-only"));
    // Search only (0711), list only (0744): no layer of either.
    for mode in [0o711, 0o744] {
        common::set_mode(&locked, mode);
        let dst = host.at("locked/new");
        let out = run(&["--ro-bind", &bind(&dst), "--", "true"]);
        assert_failure_line(&out, 125, &[&dst]);
        assert_eq!(tree(&host.0), before, "{mode:o}: the host changed");
    }
}

/// A layer costs one mount per entry of each layered directory, once, however many
/// destinations share it: the mount count grows linearly.
#[test]
fn a_layers_mount_count_is_one_per_host_entry() {
    let host = HostDir::new("count");
    let sub = host.0.join("sub");
    fs::create_dir(&sub).unwrap();
    for i in 0..200 {
        fs::write(host.0.join(format!("f{i}")), "").unwrap();
        fs::create_dir(sub.join(format!("d{i}"))).unwrap();
    }
    let count = |options: &[&str]| {
        let mut args = options.to_vec();
        args.extend(["--", "wc", "-l", "/proc/self/mountinfo"]);
        let out = run(&args);
        assert_code(&out, 0);
        text(&out.stdout)
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{}", describe(&out)))
    };
    let base = count(&[]);
    let (a, b, c) = (host.at("a"), host.at("b"), host.at("sub/c"));
    let layered = count(&["--dir", &a, "--dir", &b, "--tmpfs", &c]);
    // /var/tmp's and /var's own entries, the 201 of the host dir, the 200 of sub, the --tmpfs.
    let var = fs::read_dir("/var").unwrap().count() + fs::read_dir("/var/tmp").unwrap().count();
    assert!(
        layered <= base + var + 201 + 200 + 1,
        "{base} mounts without a layer, {layered} with"
    );
    assert!(!host.0.join("a").exists() && !sub.join("c").exists());
}

/// Destinations that try to leave the root or reach the host through /proc: `..` is refused
/// when parsed; a path through /proc is never layered (/proc is the sandbox's own) and is
/// resolved inside the root with no magic link followed, so nothing is made on the host.
#[test]
fn destinations_with_dotdot_or_through_proc_make_no_layer() {
    let host = HostDir::new("escape");
    let before = tree(&host.0);
    let src = caller_dir("escape-src");
    for dst in [
        host.at("new/../../x"),
        format!("/proc/self/root{}", host.at("new")),
        format!("/proc/1/root{}", host.at("new")),
        format!("/proc/self/cwd{}", host.at("new")),
    ] {
        let out = run(&[
            "--ro-bind",
            &format!("{}:{dst}", path_str(src.path())),
            "--",
            "true",
        ]);
        assert_code(&out, 125);
        assert_eq!(tree(&host.0), before, "{dst}: the host changed");
    }
}

/// A bind that shows where a private directory of ours goes (here `$HOME`, which holds the
/// image store's place) under a `$HOME` the caller can't write: ns-rootless must make the
/// directory before the sandbox starts and can't, so the run fails with one line naming the
/// directory, the reason and the variable that moves it; nothing is made.
#[test]
fn an_unwritable_home_shown_by_a_bind_names_the_variable_to_set() {
    let home = caller_dir("ro-home");
    common::set_mode(home.path(), 0o555);
    let mut cmd = ns_rootless(["--bind", path_str(home.path()), "--", "true"]);
    cmd.env("HOME", home.path());
    let out = output_of(cmd);
    let store = home.path().join(".local/share/ns-rootless");
    assert_failure_line(
        &out,
        125,
        &[
            &format!("creating \"{}\": Permission denied", path_str(&store)),
            "set XDG_DATA_HOME to a directory you can write",
        ],
    );
    assert_eq!(fs::read_dir(home.path()).unwrap().count(), 0);
}

/// A command that renames itself to bytes that aren't UTF-8 (its `comm`, which
/// /proc/PID/stat shows as is) is still the sandbox's command: `exec` joins it. (ns-rootless
/// reads the payload's start time from that stat to tell it from a reused pid.)
#[test]
fn exec_joins_a_command_whose_name_is_not_utf8() {
    let runtime = caller_dir("exec-comm");
    common::set_mode(runtime.path(), 0o700);
    let shared = caller_dir("exec-comm-shared");
    let renamed = shared.path().join("renamed");
    let name = format!("daily-comm-{}", std::process::id());
    let cmd = |args: &[&str]| {
        let mut cmd = ns_rootless(args);
        cmd.env("XDG_RUNTIME_DIR", runtime.path());
        output_of(cmd)
    };
    let script = format!(
        "printf '\\377x' > /proc/$$/comm && touch {}; sleep 1000",
        path_str(&renamed)
    );
    let bind = path_str(shared.path());
    let out = cmd(&[
        "run", "-d", "--name", &name, "--bind", bind, "--", "sh", "-c", &script,
    ]);
    assert_code(&out, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !renamed.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let joined = cmd(&["exec", &name, "--", "cat", "/proc/1/comm"]);
    assert_code(&cmd(&["rm", "-f", &name]), 0);
    assert!(renamed.exists(), "the command never renamed itself");
    assert_code(&joined, 0);
}

/// ns-rootless started under a name that isn't UTF-8 (a symlink to it; the kernel makes its
/// `comm`, which /proc/self/status shows, from that name): it still reads its own status, so
/// a named sandbox records where its command is and `exec` joins it.
#[test]
fn started_under_a_name_that_is_not_utf8_exec_still_joins() {
    use std::os::unix::ffi::OsStrExt;
    let runtime = caller_dir("odd-name");
    common::set_mode(runtime.path(), 0o700);
    let links = TempDir::new("odd-name-link");
    let link = links
        .path()
        .join(std::ffi::OsStr::from_bytes(b"ns-rootless-\xff"));
    std::os::unix::fs::symlink(common::binary(), &link).unwrap();
    let name = format!("daily-odd-{}", std::process::id());
    let mut start = common::caller_command(&link);
    start
        .args(["run", "-d", "--name", &name, "--", "sleep", "1000"])
        .env("XDG_RUNTIME_DIR", runtime.path());
    assert_code(&output_of(start), 0);
    let cmd = |args: &[&str]| {
        let mut cmd = ns_rootless(args);
        cmd.env("XDG_RUNTIME_DIR", runtime.path());
        output_of(cmd)
    };
    let joined = cmd(&["exec", &name, "--", "true"]);
    assert_code(&cmd(&["rm", "-f", &name]), 0);
    assert_code(&joined, 0);
}
