//! Adversarial tests of `exec`, the state directory and the host-side work around named
//! sandboxes (issue 14): each plays the payload (or another user) trying to escape, to tamper
//! with what later `exec`s apply, or to make ns-rootless work for it on the host, and asserts
//! the safe outcome on the host. Each was first seen failing on the code before the fix.
//!
//! Every run is the unprivileged caller (see `common`), with a state directory of the test's own.

#[allow(dead_code)]
mod common;

use std::fs;
use std::os::unix::fs::{chown, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_code, assert_failure_line, binary, busybox_rootfs_variant, caller_command, caller_gid,
    caller_uid, describe, host_tool, ns_rootless, ns_rootless_as, output_of, path_str,
    runner_command, runner_is_root, set_mode, spare_id, text, Running, TempDir,
};

/// A private `XDG_RUNTIME_DIR` (the caller's), and a detached sandbox started with it; the
/// sandbox is killed when dropped.
struct Sandbox {
    name: String,
    xdg: TempDir,
}

fn give_to_caller(path: &Path) {
    if runner_is_root() {
        chown(path, Some(caller_uid()), Some(caller_gid()))
            .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
    }
}

/// A directory of the caller's, mode 0700, for `XDG_RUNTIME_DIR`.
fn private_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    set_mode(dir.path(), 0o700);
    give_to_caller(dir.path());
    dir
}

impl Sandbox {
    /// `run -d --name TAG-PID OPTIONS... -- COMMAND...` (it must start).
    fn start(tag: &str, options: &[&str], command: &[&str]) -> Sandbox {
        Sandbox::start_in(private_dir(tag), tag, options, command)
    }

    fn start_in(xdg: TempDir, tag: &str, options: &[&str], command: &[&str]) -> Sandbox {
        let sandbox = Sandbox {
            name: format!("{tag}-{}", std::process::id()),
            xdg,
        };
        let mut args = vec!["run", "-d", "--name", &sandbox.name];
        args.extend(options);
        args.push("--");
        args.extend(command);
        let out = output_of(sandbox.command(&args));
        assert_code(&out, 0);
        sandbox
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = ns_rootless(args);
        cmd.env("XDG_RUNTIME_DIR", self.xdg.path());
        cmd
    }

    /// `exec [OPTIONS] NAME -- COMMAND...`
    fn exec(&self, options: &[&str], command: &[&str]) -> Output {
        let mut args = vec!["exec"];
        args.extend(options);
        args.push(&self.name);
        args.push("--");
        args.extend(command);
        output_of(self.command(&args))
    }

    fn logs(&self) -> String {
        text(&output_of(self.command(&["logs", &self.name])).stdout)
    }

    /// Waits until the payload has printed `line` to its log.
    fn wait_for_log(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.logs().lines().any(|l| l == line) {
            assert!(
                Instant::now() < deadline,
                "no {line:?} in the log of {}: {:?}",
                self.name,
                self.logs()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self
            .command(&["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `cmd` and gives up after `limit`: None when it was still running (then killed).
fn bounded(mut cmd: Command, limit: Duration) -> Option<Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("poll").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().expect("collect the output"))
}

/// A file of the caller's on the host that no sandbox shows (under the host's /tmp, which
/// every sandbox replaces): what an escape would read or overwrite.
fn host_secret(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(tag);
    let file = dir.path().join("secret");
    fs::write(&file, "host secret\n").expect("write the secret");
    set_mode(&file, 0o600);
    give_to_caller(&file);
    (dir, file)
}

// ---------------------------------------------------------------------------------------------
// 1. `exec --chdir` must not land outside the sandbox's root (CVE-2024-21626's class)
// ---------------------------------------------------------------------------------------------

#[test]
fn exec_chdir_through_an_inherited_fd_never_reaches_the_host() {
    let (_dir, secret) = host_secret("chdir-secret");
    let from_root = path_str(&secret).trim_start_matches('/').to_owned();
    // The payload plants the natural trap: a project directory that is a symlink to an fd.
    let a = Sandbox::start(
        "chdir",
        &[],
        &[
            "sh",
            "-c",
            "ln -s /proc/self/fd/3 /tmp/project; echo ready; exec sleep 1000",
        ],
    );
    a.wait_for_log("ready");
    let read = format!("cat ../../{from_root} ../../../{from_root} 2>/dev/null; pwd");
    let mut places: Vec<String> = (3..8).map(|fd| format!("/proc/self/fd/{fd}")).collect();
    places.push("/tmp/project".into());
    for place in &places {
        let out = a.exec(&["--chdir", place], &["sh", "-c", &read]);
        assert!(
            !text(&out.stdout).contains("host secret"),
            "exec --chdir {place} read a host file:\n{}",
            describe(&out)
        );
        // Through a magic link (fd 3 is open: the report pipe) it is refused as such; a
        // closed fd is simply not found.
        let why = if place.ends_with('3') || place == "/tmp/project" {
            "refusing"
        } else {
            ""
        };
        assert_failure_line(&out, 125, &["start directory", place, why]);
    }
    // run's own start directory goes the same way.
    let out = output_of(ns_rootless(["--chdir", "/proc/self/fd/3", "--", "pwd"]));
    assert_failure_line(&out, 125, &["start directory", "refusing"]);
    assert_eq!(fs::read_to_string(&secret).unwrap(), "host secret\n");
}

#[test]
fn exec_opens_its_pty_in_the_sandboxs_devpts_whatever_dev_ptmx_became() {
    // /dev is the sandbox's to write: its command can swap the /dev/ptmx symlink, which `exec`
    // resolves from inside.
    let a = Sandbox::start(
        "ptmx",
        &[],
        &[
            "sh",
            "-c",
            "rm /dev/ptmx && mkfifo /tmp/f && ln -s /tmp/f /dev/ptmx && echo ready; exec sleep 1000",
        ],
    );
    a.wait_for_log("ready");
    let out = bounded(
        a.command(&[
            "exec",
            "-t",
            &a.name,
            "--",
            "sh",
            "-c",
            "test -t 0 && echo tty",
        ]),
        Duration::from_secs(10),
    )
    .expect("exec -t finished");
    assert_code(&out, 0);
    assert!(text(&out.stdout).contains("tty"), "{}", describe(&out));
}

/// Attaches (PTRACE_SEIZE, x86_64's syscall 101) to each next process of the sandbox's pid
/// namespace and reports one it caught before its lockdown (Seccomp 0): an `exec`'d command
/// between its fork and its seccomp filter, still holding the caller's fds and terminal.
const ATTACH_NEXT_PROCESS: &str = r#"
$| = 1;
print "spinning\n";
while (1) {
    open(my $f, "<", "/proc/sys/kernel/ns_last_pid") or die "ns_last_pid: $!";
    my $last = <$f>; close $f; chomp $last;
    for my $i (1..200) {
        for my $p ($last + 1, $last + 2) {
            next if $p == $$ or syscall(101, 0x4206, $p, 0, 0) != 0;
            syscall(101, 0x4207, $p, 0, 0);
            waitpid($p, 0x40000000);
            open(my $s, "<", "/proc/$p/status"); my ($sc) = grep /^Seccomp:/, <$s>; close $s;
            print "caught $p before its lockdown\n" if $sc =~ /\s0$/;
            syscall(101, 0x11, $p, 0, 0);
        }
    }
}
"#;

#[test]
#[cfg(target_arch = "x86_64")]
fn a_payload_with_allow_nested_cannot_ptrace_an_exec_before_its_lockdown() {
    // With --allow nested the payload keeps CAP_SYS_PTRACE in its own user namespace, which
    // `exec` joins: a dumpable exec'd child is its to attach until the filter is on.
    let a = Sandbox::start(
        "ptrace-exec",
        &["--allow", "nested"],
        &["perl", "-e", ATTACH_NEXT_PROCESS],
    );
    a.wait_for_log("spinning");
    for _ in 0..15 {
        let out = a.exec(&[], &["true"]);
        assert_code(&out, 0);
    }
    let log = a.logs();
    assert!(
        !log.contains("before its lockdown"),
        "the payload attached to exec'd commands before their seccomp filter:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. State files: never visible inside a sandbox, never trusted from there
// ---------------------------------------------------------------------------------------------

#[test]
fn a_sandbox_binding_the_state_dir_can_neither_rewrite_nor_redirect_state() {
    let (_dir, target) = host_secret("state-target");
    let xdg = private_dir("state-bind");
    let state = xdg.path().join("ns-rootless");
    let s = path_str(&state).to_owned();
    let t = path_str(&target).to_owned();
    // The payload sees the state dir through a read-write bind of XDG_RUNTIME_DIR: it turns
    // off seccomp in its own state, and keeps planting a symlink at every state.json.tmp.
    let script = format!(
        "S={s}; D=$S/$NAME\n\
         (while :; do for d in $S/*/; do ln -s {t} \"${{d}}state.json.tmp\" 2>/dev/null; done; done) &\n\
         sleep 0.5; sed 's/\"seccomp\": {{/\"seccomp\": null, \"was\": {{/' $D/state.json > $D/new 2>/dev/null \
           && mv $D/new $D/state.json 2>/dev/null\n\
         ls $S 2>/dev/null | grep -q . && echo saw-state\n\
         echo ready; exec sleep 1000"
    );
    let name = format!("statebind-{}", std::process::id());
    let bind = path_str(xdg.path()).to_owned();
    let env = format!("NAME={name}");
    let a = Sandbox {
        name: name.clone(),
        xdg,
    };
    let out = output_of(a.command(&[
        "run",
        "-d",
        "--name",
        &name,
        "--bind",
        &bind,
        "-e",
        &env,
        "--limit",
        "nofile=123",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert_code(&out, 0);
    a.wait_for_log("ready");
    let out = a.exec(
        &[],
        &["sh", "-c", "grep ^Seccomp: /proc/self/status; ulimit -n"],
    );
    assert_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        "Seccomp:\t2\n123\n",
        "{}",
        describe(&out)
    );
    // Named sandboxes started meanwhile write their state through whatever is planted there.
    for i in 0..5 {
        let other = format!("statevictim{i}-{}", std::process::id());
        let out = output_of(a.command(&["run", "--name", &other, "--", "sleep", "0.2"]));
        assert_code(&out, 0);
    }
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "host secret\n",
        "the supervisor wrote through a planted symlink"
    );
    assert!(
        !a.logs().contains("saw-state"),
        "the state dir is visible inside: {}",
        a.logs()
    );
    assert!(state.join(&name).join("state.json").exists());
}

#[test]
fn a_sandbox_binding_an_ancestor_of_the_state_dir_cannot_move_it_away() {
    // XDG_RUNTIME_DIR two levels below a read-write bind: the payload could rename the level
    // in between and make a state dir of its own where ns-rootless looks for it.
    let top = private_dir("state-ancestor");
    let xdg = top.path().join("a").join("run");
    fs::create_dir_all(&xdg).expect("mkdir");
    for dir in [top.path().join("a"), xdg.clone()] {
        set_mode(&dir, 0o700);
        give_to_caller(&dir);
    }
    let t = path_str(top.path());
    let script = format!(
        "mv {t}/a/run {t}/a/moved 2>/dev/null && echo moved; \
         mv {t}/a {t}/b 2>/dev/null && echo moved; \
         mkdir -p {t}/a/run/ns-rootless/planted 2>/dev/null && echo planted; true"
    );
    let mut cmd = ns_rootless(["--bind", t, "--", "sh", "-c", &script]);
    cmd.env("XDG_RUNTIME_DIR", &xdg);
    let out = output_of(cmd);
    assert_code(&out, 0);
    assert_eq!(text(&out.stdout), "", "{}", describe(&out));
    let state = xdg.join("ns-rootless");
    let meta = fs::symlink_metadata(&state).expect("the state dir was made before the sandbox");
    assert_eq!(meta.uid(), caller_uid());
    assert!(!state.join("planted").exists());
}

// ---------------------------------------------------------------------------------------------
// 3. `exec` gets exactly the payload's restrictions (and its environment and directory)
// ---------------------------------------------------------------------------------------------

/// A seccomp program that fails mkdir and mkdirat with EPERM and allows everything else.
fn deny_mkdir_program() -> Vec<u8> {
    let insn = |code: u16, jt: u8, jf: u8, k: u32| {
        let mut b = code.to_ne_bytes().to_vec();
        b.extend([jt, jf]);
        b.extend(k.to_ne_bytes());
        b
    };
    [
        insn(0x20, 0, 0, 0),           // ld [nr]
        insn(0x15, 2, 0, 83),          // jeq mkdir -> deny
        insn(0x15, 1, 0, 258),         // jeq mkdirat -> deny
        insn(0x06, 0, 0, 0x7fff_0000), // ret ALLOW
        insn(0x06, 0, 0, 0x0005_0001), // ret ERRNO(EPERM)
    ]
    .concat()
}

#[test]
fn exec_reproduces_the_payloads_seccomp_program_limits_env_and_directory() {
    let dir = TempDir::new("seccomp-fd");
    let program = dir.path().join("filter.bpf");
    fs::write(&program, deny_mkdir_program()).expect("write the program");
    let xdg = private_dir("exec-lockdown");
    let name = format!("lockdown-{}", std::process::id());
    let mut cmd = caller_command(host_tool("sh"));
    cmd.env("XDG_RUNTIME_DIR", xdg.path())
        .arg("-c")
        .arg(format!("exec \"$@\" 3<{}", path_str(&program)))
        .arg("sh")
        .arg(binary())
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "--seccomp-fd",
            "3",
            "--limit",
            "nofile=123",
            "--limit",
            "fsize=4096",
            "--limit",
            "cpu=77",
            "-e",
            "FROM_RUN=run",
            "-e",
            "BOTH=run",
            "--chdir",
            "/usr",
            "--",
            "sleep",
            "1000",
        ]);
    assert_code(&output_of(cmd), 0);
    let a = Sandbox { name, xdg };
    let probe = "mkdir /tmp/made 2>/dev/null && echo made; grep ^Seccomp: /proc/self/status; \
                 ulimit -n; ulimit -t; grep 'Max file size' /proc/self/limits | tr -s ' '; \
                 echo $FROM_RUN $BOTH; pwd";
    let out = a.exec(&["-e", "BOTH=exec"], &["sh", "-c", probe]);
    assert_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        "Seccomp:\t2\n123\n77\nMax file size 4096 4096 bytes \nrun exec\n/usr\n",
        "{}",
        describe(&out)
    );
    // Its own --chdir on top.
    let out = a.exec(&["--chdir", "/etc"], &["pwd"]);
    assert_eq!(text(&out.stdout), "/etc\n", "{}", describe(&out));
}

/// A listening abstract unix socket `@NAME` in the host's network namespace (the test
/// runner's), such as X11 or a D-Bus bus would hold.
fn host_abstract_listener(name: &str) -> std::os::unix::net::UnixListener {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .expect("abstract address");
    std::os::unix::net::UnixListener::bind_addr(&addr).expect("listen on the abstract socket")
}

#[test]
fn exec_in_a_sandbox_sharing_the_hosts_network_cannot_reach_its_abstract_sockets() {
    let name = format!("ns-rootless-escapes-abstract-{}", std::process::id());
    let _listener = host_abstract_listener(&name);
    // The probe connects to `@NAME` and prints `ok` or the errno (tests/probe).
    let connect = ["/probe", "syscall", "connect-abstract", &name];
    // Control: the caller reaches it from outside.
    let mut cmd = caller_command(common::probe());
    cmd.args(&connect[1..]);
    assert_eq!(text(&output_of(cmd).stdout), "ok\n");
    let bind = format!("{}:/probe", path_str(common::probe()));
    let a = Sandbox::start(
        "exec-share-net",
        &["--share-net", "--ro-bind", &bind],
        &["sleep", "1000"],
    );
    // The payload's way (landlock.rs): refused by the abstract-socket scope.
    let mut args = vec!["run", "--share-net", "--ro-bind", &bind, "--"];
    args.extend(connect);
    let out = output_of(a.command(&args));
    assert_eq!(
        text(&out.stdout),
        "errno 1 EPERM\n",
        "run: {}",
        describe(&out)
    );
    // An exec'd command gets the same domain...
    let out = a.exec(&[], &connect);
    assert_eq!(
        text(&out.stdout),
        "errno 1 EPERM\n",
        "exec: {}",
        describe(&out)
    );
    // ...and still reaches what the sandbox's own processes listen on.
    let own = format!("{name}-inside");
    let out = a.exec(&[], &["/probe", "syscall", "abstract-loop", &own]);
    assert_eq!(text(&out.stdout), "ok\n", "exec: {}", describe(&out));
}

// ---------------------------------------------------------------------------------------------
// 4. Host-side reads of what a sandbox or a user's fd controls: bounded, never blocking
// ---------------------------------------------------------------------------------------------

/// `sh -c 'ulimit -v KIB; exec ns-rootless ARGS...'` as the caller, with `XDG_RUNTIME_DIR`.
fn ns_rootless_in_kib(xdg: &Path, kib: u64, redirect: &str, args: &[&str]) -> Command {
    let mut cmd = caller_command(host_tool("sh"));
    cmd.env("XDG_RUNTIME_DIR", xdg)
        .arg("-c")
        .arg(format!("ulimit -v {kib}; exec \"$@\" {redirect}"))
        .arg("sh")
        .arg(binary())
        .args(args);
    cmd
}

#[test]
fn exec_is_not_hung_or_bloated_by_the_rootfs_passwd_and_seccomp_fd_is_bounded() {
    let rootfs = busybox_rootfs_variant("passwd-trap", |_| {});
    let passwd = rootfs.path().join("etc/passwd");
    let a = Sandbox::start(
        "passwd",
        &["--rootfs", path_str(rootfs.path())],
        &["sleep", "1000"],
    );
    // What the sandbox (here: its rootfs's owner) made of /etc/passwd: a FIFO nobody writes...
    fs::remove_file(&passwd).expect("rm passwd");
    let made = runner_command(host_tool("mkfifo")).arg(&passwd).status();
    assert!(made.expect("mkfifo").success());
    let out = bounded(
        a.command(&["exec", &a.name, "--", "echo", "in"]),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| panic!("exec hung on a FIFO at the rootfs's /etc/passwd"));
    assert_eq!(text(&out.stdout), "in\n", "{}", describe(&out));
    // ...and a sparse 1 GiB file: exec's peak memory stays small.
    fs::remove_file(&passwd).expect("rm the fifo");
    fs::File::create(&passwd)
        .and_then(|f| f.set_len(1 << 30))
        .expect("a sparse passwd");
    let mut exec =
        Running::start(a.command(&["exec", &a.name, "--", "sh", "-c", "echo in; sleep 1"]));
    exec.wait_for_line("in");
    let status = fs::read_to_string(format!("/proc/{}/status", exec.pid())).expect("status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert_code(&exec.finish(), 0);
    assert!(
        peak_kib < 64 * 1024,
        "exec took {peak_kib} KiB reading a 1 GiB /etc/passwd"
    );

    // --seccomp-fd on an endless stream: refused, quickly and within 256 MiB.
    let out = bounded(
        ns_rootless_in_kib(
            a.xdg.path(),
            256 * 1024,
            "3</dev/zero",
            &["--seccomp-fd", "3", "--", "true"],
        ),
        Duration::from_secs(10),
    )
    .expect("--seccomp-fd 3</dev/zero finished");
    assert_failure_line(&out, 125, &["--seccomp-fd 3", "longer than"]);
}

// ---------------------------------------------------------------------------------------------
// 5. Under an outer /proc of another pid namespace, the right process is addressed
// ---------------------------------------------------------------------------------------------

#[test]
fn under_unshare_with_the_hosts_proc_the_sandbox_and_exec_address_the_right_process() {
    let xdg = private_dir("outer-proc");
    let b = path_str(binary());
    let name = format!("outerproc-{}", std::process::id());
    // A new user and pid namespace that keeps the host's /proc: pids from clone are not the
    // numbers /proc shows.
    let script = format!(
        "{b} --hostname plain -- hostname || exit 1\n\
         {b} run -d --name {name} -- sleep 1000 >/dev/null || exit 2\n\
         {b} exec {name} -- hostname || exit 3\n\
         {b} ps --json | grep -c '\"{name}\"'\n\
         {b} kill {name} KILL || exit 4"
    );
    let mut cmd = caller_command(host_tool("unshare"));
    cmd.env("XDG_RUNTIME_DIR", xdg.path()).args([
        "-Urpf",
        "--",
        path_str(&host_tool("sh")),
        "-c",
        &script,
    ]);
    let out = output_of(cmd);
    assert_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("plain\n{name}\n1\n"),
        "{}",
        describe(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Another user can't block the caller's named sandboxes through the /tmp fallback
// ---------------------------------------------------------------------------------------------

#[test]
fn a_state_dir_pre_created_by_another_user_names_the_way_out() {
    assert!(
        runner_is_root(),
        "needs a root test runner to act as a second user"
    );
    // A victim of its own (not the harness's caller, whose default state dir other tests use
    // meanwhile), and a squatter who made its /tmp fallback first.
    let victim = spare_id(62700);
    let squatter = spare_id(victim + 1);
    let squatted = PathBuf::from(format!("/tmp/ns-rootless-{victim}"));
    let _ = fs::remove_dir_all(&squatted);
    fs::create_dir(&squatted).expect("mkdir");
    set_mode(&squatted, 0o700);
    chown(&squatted, Some(squatter), Some(squatter)).expect("chown");
    let mut cmd = ns_rootless_as(victim, &["run", "--name", "squatted", "--", "true"]);
    cmd.env_clear()
        .env("PATH", common::CLEAN_PATH)
        .current_dir("/");
    let blocked = output_of(cmd);
    let _ = fs::remove_dir(&squatted);
    assert_failure_line(&blocked, 125, &["XDG_RUNTIME_DIR"]);
    // With a private XDG_RUNTIME_DIR the caller's named sandboxes work.
    let xdg = private_dir("xdg-way-out");
    let mut cmd = ns_rootless(["run", "--name", "squatted", "--", "echo", "ok"]);
    cmd.env("XDG_RUNTIME_DIR", xdg.path());
    let out = output_of(cmd);
    assert_eq!(text(&out.stdout), "ok\n", "{}", describe(&out));
}

/// A bind of a host mount that is shared (systemd makes `/` and everything below it shared) is
/// cut off from the host's peer group: a mount the host makes under it later (a USB stick, an
/// sshfs under the home directory) must not show up in the sandbox, where it would be writable
/// under a read-only bind (a propagated mount keeps its own flags). Since e8e6db4 the binds'
/// mount_setattr leaves propagation alone, so this rests on `make_root_private` running before
/// any clone (mount.rs build_root); seen failing with that call removed:
/// `"ready\npropagated\nwritable\n"`.
#[test]
fn a_host_mount_made_later_under_a_read_only_bind_does_not_reach_the_sandbox() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    common::require(
        runner_is_root(),
        "the host's shared mount is made by the test runner, which needs root",
    );
    struct Mounted(PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        }
    }
    let dir = TempDir::new("shared-host-mount");
    let tmpfs = |path: &Path| {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m,mode=1777"),
        )
        .unwrap_or_else(|err| panic!("mount tmpfs on {}: {err}", path.display()));
        Mounted(path.to_path_buf())
    };
    let shared = tmpfs(dir.path());
    mount(
        None::<&str>,
        dir.path(),
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .unwrap();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let d = path_str(dir.path());
    let script = format!(
        "echo ready; while [ ! -e {d}/go ]; do sleep 0.01; done; \
         if [ -e {d}/sub/marker ]; then echo propagated; \
         touch {d}/sub/written 2>/dev/null && echo writable; else echo private; fi"
    );
    let mut sandbox = Running::start(ns_rootless(["--ro-bind", d, "--", "sh", "-c", &script]));
    sandbox.wait_for_line("ready");
    // The host's mount under the shared one; its propagation is done when mount(2) returns,
    // and only then is the sandbox told to look.
    let later = tmpfs(&sub);
    fs::write(sub.join("marker"), "").unwrap();
    fs::write(dir.path().join("go"), "").unwrap();
    let out = sandbox.finish();
    drop(later);
    drop(shared);
    assert_eq!(text(&out.stdout), "ready\nprivate\n", "{}", describe(&out));
}
