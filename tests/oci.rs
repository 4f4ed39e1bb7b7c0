//! `ns-rootless-oci`, the OCI runtime, driven the way conmon and the runtime test suites drive
//! runc: as an unprivileged caller, on a bundle made from the busybox rootfs with our own
//! `spec --rootless`. Each test has its own state root (`--root`) and bundle.

#[allow(dead_code)]
mod common;

use common::{
    busybox_rootfs, caller_command, caller_uid, describe, give_to_caller, oci_binary, output_of,
    text, TempDir,
};
use serde_json::Value;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A bundle (config.json from `spec --rootless`, rootfs bound from the shared busybox one) and
/// a state root, both the caller's.
struct Bundle {
    dir: TempDir,
    root: PathBuf,
}

impl Bundle {
    fn new(label: &str) -> Bundle {
        let dir = TempDir::new(label);
        give_to_caller(dir.path());
        let root = dir.path().join("state");
        let b = Bundle { dir, root };
        let out = output_of(b.oci(&["spec", "--rootless", "--bundle", b.path_str()]));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            describe(&out)
        );
        // The rootfs: a symlink to the shared busybox tree (the runtime canonicalizes it).
        std::os::unix::fs::symlink(busybox_rootfs(), b.path().join("rootfs")).unwrap();
        b.edit(|c| c["process"]["terminal"] = false.into());
        b
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn path_str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let path = self.path().join("config.json");
        let mut c: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        f(&mut c);
        fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    }

    fn args(&self, args: &[&str]) {
        let args: Vec<Value> = args.iter().map(|a| Value::from(*a)).collect();
        self.edit(|c| c["process"]["args"] = Value::Array(args));
    }

    /// `ns-rootless-oci --root STATE ARGS...` as the caller, in the bundle directory.
    fn oci(&self, args: &[&str]) -> Command {
        let mut cmd = caller_command(oci_binary());
        cmd.arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(self.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        output_of(self.oci(args))
    }

    /// `create ID` with stdout and stderr to files (the container keeps them open after create
    /// exits, as it would conmon's pipes): (status, stdout file, stderr file).
    fn create(&self, id: &str, extra: &[&str]) -> (ExitStatus, PathBuf, PathBuf) {
        self.create_with_stdin(id, extra, Stdio::null())
    }

    fn create_with_stdin(
        &self,
        id: &str,
        extra: &[&str],
        stdin: Stdio,
    ) -> (ExitStatus, PathBuf, PathBuf) {
        let out = self.path().join(format!("{id}.out"));
        let err = self.path().join(format!("{id}.err"));
        let mut cmd = self.oci(&["create"]);
        cmd.args(extra)
            .arg(id)
            .stdin(stdin)
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let status = wait_for(cmd.spawn().unwrap(), "create");
        (status, out, err)
    }

    fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            describe(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.state(id)["status"] != status {
            assert!(Instant::now() < deadline, "{id} never became {status}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Whatever a failed test left running.
        if let Ok(ids) = fs::read_dir(&self.root) {
            for id in ids.flatten() {
                let id = id.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
        // A test that failed with a state file it had spoiled leaves a container `delete`
        // can't find: its init still has `create`'s argv, naming this state root. Killing
        // init ends its pid namespace.
        let root = self.root.as_os_str().as_encoded_bytes();
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if cmdline.split(|&b| b == 0).any(|arg| arg == root) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn wait_for(mut child: std::process::Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not exit: create must not wait for the container");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `exec --process FILE ID`, FILE holding `process` (given to the caller).
fn exec_process(b: &Bundle, id: &str, process: &serde_json::Value) -> Output {
    let path = b.path().join("process.json");
    fs::write(&path, serde_json::to_vec(process).unwrap()).unwrap();
    give_to_caller(&path);
    b.run(&["exec", "--process", path.to_str().unwrap(), id])
}

fn assert_quiet_success(out: &Output) {
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        describe(out)
    );
}

fn assert_error(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(out));
    assert!(
        err.contains(needle),
        "stderr lacks {needle:?}: {}",
        describe(out)
    );
    assert_eq!(err.lines().count(), 1, "{}", describe(out));
}

#[test]
fn spec_writes_a_rootless_config_once() {
    let b = Bundle::new("oci-spec");
    let c: Value =
        serde_json::from_slice(&fs::read(b.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(c["linux"]["uidMappings"][0]["hostID"], caller_uid());
    assert_eq!(c["root"]["path"], "rootfs");
    let again = b.run(&["spec", "--rootless"]);
    assert_error(&again, "config.json");
}

#[test]
fn lifecycle_create_start_state_delete() {
    let b = Bundle::new("oci-life");
    b.args(&["sh", "-c", "echo out; echo err >&2; read x; echo done"]);
    let pid_file = b.path().join("pid");
    // The container's stdin is create's: a pipe this test holds, so `read` waits for us.
    let (stdin_read, stdin_write) = nix::unistd::pipe().unwrap();
    let (status, out, err) = b.create_with_stdin(
        "c1",
        &["--pid-file", pid_file.to_str().unwrap()],
        Stdio::from(stdin_read),
    );
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    assert_eq!(fs::read_to_string(&err).unwrap(), "");
    // create has exited; its init lives on, blocked before the command.
    let st = b.state("c1");
    let keys: Vec<&String> = st.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "annotations",
            "bundle",
            "created",
            "id",
            "ociVersion",
            "owner",
            "pid",
            "rootfs",
            "status"
        ]
    );
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "c1");
    assert_eq!(st["bundle"], b.path_str());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "",
        "nothing runs before start"
    );
    // Before start, a second create of the id and a delete without force of a running one fail.
    assert_error(&b.run(&["create", "c1"]), "container with id exists: c1");

    let started = b.run(&["start", "c1"]);
    assert_quiet_success(&started);
    assert_eq!(b.state("c1")["status"], "running");
    assert_error(
        &b.run(&["start", "c1"]),
        "cannot start an already running container",
    );
    assert_error(&b.run(&["delete", "c1"]), "is not stopped");
    assert_eq!(b.state("c1")["status"], "running");
    drop(fs::File::from(stdin_write));
    b.wait_status("c1", "stopped");
    assert_eq!(fs::read_to_string(&out).unwrap(), "out\ndone\n");
    assert_eq!(fs::read_to_string(&err).unwrap(), "err\n");
    assert_eq!(b.state("c1")["pid"], 0);
    assert_error(
        &b.run(&["start", "c1"]),
        "cannot start a container that has stopped",
    );
    assert_error(&b.run(&["kill", "c1"]), "container not running");
    assert_quiet_success(&b.run(&["delete", "c1"]));
    assert_error(&b.run(&["state", "c1"]), "container does not exist: c1");
    assert_error(&b.run(&["delete", "c1"]), "container does not exist");
    assert_quiet_success(&b.run(&["delete", "--force", "c1"]));
}

#[test]
fn kill_and_delete_force() {
    let b = Bundle::new("oci-kill");
    b.args(&["sleep", "100"]);
    assert!(b.create("k1", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "k1"]));
    let pid = b.state("k1")["pid"].as_i64().unwrap();
    assert_error(&b.run(&["kill", "k1", "NOPE"]), "invalid signal");
    // Global options after the id, and the signal by name.
    let root = b.root.to_str().unwrap().to_string();
    let killed = output_of({
        let mut c = caller_command(oci_binary());
        c.args(["kill", "k1", "SIGTERM", "--root", &root]);
        c
    });
    assert_quiet_success(&killed);
    b.wait_status("k1", "stopped");
    assert!(!Path::new(&format!("/proc/{pid}/exe")).exists() || b.state("k1")["pid"] == 0);
    assert_quiet_success(&b.run(&["delete", "k1"]));

    // delete --force of a running container kills it first.
    assert!(b.create("k2", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "k2"]));
    assert_quiet_success(&b.run(&["delete", "--force", "k2"]));
    assert_error(&b.run(&["state", "k2"]), "does not exist");
    // A created (never started) container is not stopped: see
    // a_created_container_is_not_deleted_without_force.
    assert!(b.create("k3", &[]).0.success());
    let pid = b.state("k3")["pid"].as_i64().unwrap();
    assert_quiet_success(&b.run(&["delete", "--force", "k3"]));
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .filter(|s| !s.contains(") Z")),
        None
    );
}

/// runtime-tools validation/delete: runtime.md "Attempting to delete a container that is not
/// stopped MUST generate an error" and "MUST have no effect on the container", for a created
/// container as for a running one (runc deletes a created one; we follow the spec). Then, as
/// that case and containerd's WithProcessKill do: `kill ID KILL`, wait for stopped, `delete`.
#[test]
fn a_created_container_is_not_deleted_without_force() {
    let b = Bundle::new("oci-delcreated");
    b.args(&["true"]);
    assert!(b.create("d1", &[]).0.success());
    let before = b.state("d1");
    assert_error(
        &b.run(&["delete", "d1"]),
        "cannot delete container d1 that is not stopped: created (kill it first, or use --force)",
    );
    let after = b.state("d1");
    assert_eq!(before, after, "no effect on the container");
    let pid = after["pid"].as_i64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}/stat")).exists());
    assert_quiet_success(&b.run(&["kill", "d1", "KILL"]));
    b.wait_status("d1", "stopped");
    assert_quiet_success(&b.run(&["delete", "d1"]));
    assert_error(&b.run(&["state", "d1"]), "container does not exist: d1");
}

#[test]
fn kill_all_reaches_every_process_and_signals_go_by_number() {
    let b = Bundle::new("oci-killall");
    // The shell ignores TERM; its background sleep, started before the trap, doesn't.
    b.args(&["sh", "-c", "sleep 1000 & trap '' TERM; wait; exit 7"]);
    assert!(b.create("a1", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "a1"]));
    std::thread::sleep(Duration::from_millis(200));
    // Without --all only the container's process gets it: the shell, which ignores it.
    assert_quiet_success(&b.run(&["kill", "a1", "15"]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.state("a1")["status"], "running");
    // With it the sleep dies too, the shell's wait returns and the container stops.
    assert_quiet_success(&b.run(&["kill", "--all", "a1", "TERM"]));
    b.wait_status("a1", "stopped");
    assert_quiet_success(&b.run(&["delete", "a1"]));

    // SIGKILL by number, to all.
    b.args(&["sh", "-c", "sleep 1000 & sleep 1000"]);
    assert!(b.create("a2", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "a2"]));
    assert_quiet_success(&b.run(&["kill", "--all", "a2", "9"]));
    b.wait_status("a2", "stopped");
    assert_error(
        &b.run(&["kill", "--all", "a2", "9"]),
        "container not running",
    );
}

#[test]
fn run_passes_the_exit_status_and_runcs_words_for_a_missing_command() {
    let b = Bundle::new("oci-run");
    b.args(&["sh", "-c", "exit 42"]);
    let out = b.run(&["run", "r1"]);
    assert_eq!(out.status.code(), Some(42), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_error(&b.run(&["state", "r1"]), "does not exist");

    b.args(&["no-such-command"]);
    let out = b.run(&["run", "r2"]);
    assert_error(
        &out,
        "exec: \"no-such-command\": executable file not found in $PATH",
    );
    assert_error(&b.run(&["state", "r2"]), "does not exist");
    b.args(&["/bin/not-executable"]);
    assert_error(&b.run(&["run", "r3"]), "permission denied");
}

#[test]
fn the_process_gets_what_its_config_says() {
    let b = Bundle::new("oci-proc");
    b.args(&[
        "sh",
        "-c",
        "id -u; id -g; pwd; hostname; echo $FOO; umask; grep -E '^Cap(Eff|Bnd)|^NoNewPrivs' /proc/self/status; \
         ulimit -n; cat /proc/self/uid_map; (echo x > /f) 2>/dev/null || echo ro; \
         cat /proc/keys | wc -c; ls /proc/acpi | wc -l",
    ]);
    b.edit(|c| {
        c["process"]["cwd"] = "/tmp".into();
        c["process"]["env"] = serde_json::json!(["PATH=/bin", "FOO=bar"]);
        c["hostname"] = "box".into();
        c["process"]["user"]["umask"] = 0o027.into();
        c["process"]["capabilities"] = serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL"]});
    });
    let out = b.run(&["run", "p1"]);
    assert_quiet_success(&out);
    assert_eq!(
        text(&out.stdout),
        format!(
            "0\n0\n/tmp\nbox\nbar\n0027\nCapEff:\t0000000000000020\nCapBnd:\t0000000000000021\n\
             NoNewPrivs:\t1\n1024\n         0      {:>5}          1\nro\n0\n0\n",
            caller_uid()
        )
    );
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let b = Bundle::new("oci-hooks");
    let log = b.path().join("hooks.log");
    let hook = |name: &str| {
        serde_json::json!({"path": "/bin/sh",
            "args": ["sh", "-c", format!("echo {name} $(cat) >> {}", log.display())]})
    };
    b.args(&["true"]);
    // `state` asked from a createRuntime hook says "creating" too.
    let asked = b.path().join("asked.log");
    let ask = serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!(
        "{} --root {} state h1 | grep '\"status\"' > {}",
        oci_binary().display(), b.root.display(), asked.display())]});
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [hook("createRuntime"), ask],
            "createContainer": [hook("createContainer")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")]});
        c["annotations"] = serde_json::json!({"a": "b"});
    });
    let out = b.run(&["run", "h1"]);
    assert_quiet_success(&out);
    let lines: Vec<(String, Value)> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, json) = l.split_once(' ').unwrap();
            (name.to_string(), serde_json::from_str(json).unwrap())
        })
        .collect();
    let names: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["createRuntime", "createContainer", "poststart", "poststop"]
    );
    let statuses: Vec<&Value> = lines.iter().map(|(_, s)| &s["status"]).collect();
    // runtime.md: the container is "creating" until its createContainer hooks have run.
    assert_eq!(statuses, ["creating", "creating", "running", "stopped"]);
    assert_eq!(
        fs::read_to_string(&asked).unwrap().trim(),
        "\"status\": \"creating\""
    );
    assert!(lines
        .iter()
        .all(|(_, s)| s["id"] == "h1" && s["annotations"]["a"] == "b"));

    // A failing create hook fails the create and leaves nothing behind.
    b.edit(|c| c["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]}));
    let out = b.run(&["run", "h2"]);
    assert_error(&out, "hooks.createRuntime[0] \"/bin/false\"");
    assert_error(&b.run(&["state", "h2"]), "does not exist");
}

/// `cmd` with `file` as its fd 3.
fn with_fd_3(mut cmd: Command, file: &fs::File) -> Command {
    let raw = file.as_raw_fd();
    // SAFETY: dup2 and fcntl in the forked child before exec, onto fd 3 (dup2 onto itself
    // would keep FD_CLOEXEC: it is cleared either way).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if nix::libc::dup2(raw, 3) < 0 || nix::libc::fcntl(3, nix::libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn preserve_fds_passes_exactly_those() {
    let b = Bundle::new("oci-fds");
    b.args(&["sh", "-c", "cat <&3; ls /proc/self/fd"]);
    let file = b.path().join("three");
    fs::write(&file, "from fd 3\n").unwrap();
    let f = fs::File::open(&file).unwrap();
    let out = output_of(with_fd_3(b.oci(&["run", "--preserve-fds", "1", "f1"]), &f));
    assert_quiet_success(&out);
    // 4 is ls's own fd of the directory it lists.
    assert_eq!(text(&out.stdout), "from fd 3\n0\n1\n2\n3\n4\n");
    // Without --preserve-fds, fd 3 doesn't reach the process.
    let out = output_of(with_fd_3(b.oci(&["run", "f2"]), &f));
    assert_eq!(text(&out.stdout), "0\n1\n2\n3\n", "{}", describe(&out));
}

#[test]
fn the_console_socket_gets_the_terminal() {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let b = Bundle::new("oci-console");
    b.args(&["sh", "-c", "tty; stty size; echo tty-ok"]);
    b.edit(|c| {
        c["process"]["terminal"] = true.into();
        c["process"]["consoleSize"] = serde_json::json!({"height": 30, "width": 100});
    });
    let sock = b.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    give_to_caller(&sock);
    let (status, _, err) = b.create("t1", &["--console-socket", sock.to_str().unwrap()]);
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    assert!(msg.bytes > 0, "the message carries a payload");
    let fds: Vec<i32> = msg
        .cmsgs()
        .unwrap()
        .flat_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds,
            _ => vec![],
        })
        .collect();
    assert_eq!(fds.len(), 1, "exactly one fd");
    // SAFETY: the fd was just received and is ours.
    let master = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    assert_quiet_success(&b.run(&["start", "t1"]));
    let mut got = Vec::new();
    let mut file = fs::File::from(master);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&got).contains("tty-ok") && Instant::now() < deadline {
        let mut chunk = [0u8; 256];
        match std::io::Read::read(&mut file, &mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    let shown = text(&got).replace('\r', "");
    assert_eq!(shown, "/dev/pts/0\n30 100\ntty-ok\n");
    b.wait_status("t1", "stopped");
    assert_quiet_success(&b.run(&["delete", "t1"]));
    // A console socket that is no socket (a file, a FIFO): one line, nothing left, nothing
    // written to it.
    let fifo = b.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    let file = b.path().join("config.json");
    let before = fs::read(&file).unwrap();
    for not_socket in [&fifo, &file] {
        let out = b.run(&[
            "create",
            "--console-socket",
            not_socket.to_str().unwrap(),
            "t2",
        ]);
        assert_error(&out, "connecting to the console socket");
        assert_error(&b.run(&["state", "t2"]), "does not exist");
    }
    assert_eq!(fs::read(&file).unwrap(), before);
}

#[test]
fn errors_are_one_line_and_leave_nothing() {
    let b = Bundle::new("oci-errors");
    assert_error(&b.run(&["state", "a/b"]), "invalid container id");
    assert_error(&b.run(&["start", "nope"]), "container does not exist: nope");
    assert_error(&b.run(&["kill", "nope"]), "container does not exist");
    // terminal without a console socket, for create.
    b.edit(|c| c["process"]["terminal"] = true.into());
    assert_error(&b.run(&["create", "e1"]), "--console-socket");
    b.edit(|c| c["process"]["terminal"] = false.into());
    // Mapping someone else's uid would need newuidmap.
    b.edit(|c| c["linux"]["uidMappings"][0]["hostID"] = 0.into());
    assert_error(&b.run(&["create", "e2"]), "only one id can be mapped");
    b.edit(|c| c["linux"]["uidMappings"][0]["hostID"] = caller_uid().into());
    b.edit(|c| c["linux"]["sysctl"] = serde_json::json!({"kernel.core_pattern": "|/x"}));
    assert_error(
        &b.run(&["create", "e3"]),
        "invalid linux.sysctl \"kernel.core_pattern\"",
    );
    b.edit(|c| c["linux"]["sysctl"] = serde_json::json!({}));
    b.edit(|c| c["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_NOPE"]));
    assert_error(&b.run(&["create", "e4"]), "unknown capability");
    b.edit(|c| c["process"]["capabilities"]["bounding"] = serde_json::json!([]));
    b.edit(|c| c["mounts"][0]["destination"] = "/a/../../x".into());
    assert_error(&b.run(&["create", "e5"]), "must not contain '..'");
    for cmd in ["pause", "resume", "checkpoint"] {
        assert_error(&b.run(&[cmd, "x"]), "");
    }
    let list = b.run(&["list", "-q"]);
    assert_quiet_success(&list);
    assert_eq!(text(&list.stdout), "");
}

#[test]
fn features_and_version() {
    let b = Bundle::new("oci-features");
    let out = b.run(&["features"]);
    assert_quiet_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ociVersionMax"], "1.2.0");
    let out = b.run(&["--version"]);
    assert_quiet_success(&out);
    assert!(
        text(&out.stdout).contains("spec: 1.2.0"),
        "{}",
        describe(&out)
    );
}

#[test]
fn list_shows_containers_with_their_status() {
    let b = Bundle::new("oci-list");
    b.args(&["sleep", "100"]);
    assert!(b.create("l1", &[]).0.success());
    let out = b.run(&["list", "--format", "json"]);
    assert_quiet_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["id"], "l1");
    assert_eq!(v[0]["status"], "created");
    let out = b.run(&["list"]);
    assert!(text(&out.stdout).starts_with("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\nl1\t"));
    assert_quiet_success(&b.run(&["delete", "--force", "l1"]));
}

#[test]
fn seccomp_profiles_are_enforced() {
    let b = Bundle::new("oci-seccomp");
    b.args(&["sh", "-c", "mkdir /tmp/x && echo made; hostname"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
    });
    let out = b.run(&["run", "s1"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!text(&out.stdout).contains("made"), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{}",
        describe(&out)
    );
}

#[test]
fn native_ps_lists_oci_containers() {
    let b = Bundle::new("oci-ps");
    b.args(&["sleep", "100"]);
    // Both commands with their default state places, under an XDG_RUNTIME_DIR of the test's.
    let runtime_dir = b.path().join("xdg");
    fs::create_dir(&runtime_dir).unwrap();
    common::set_mode(&runtime_dir, 0o700);
    give_to_caller(&runtime_dir);
    let with_xdg = |mut cmd: Command| {
        cmd.env("XDG_RUNTIME_DIR", &runtime_dir);
        cmd
    };
    let mut create = caller_command(oci_binary());
    create
        .args(["create", "--bundle", b.path_str(), "p1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = wait_for(with_xdg(create).spawn().unwrap(), "create");
    assert!(status.success());
    let ps = output_of(with_xdg(common::ns_rootless(["ps", "--json"])));
    assert_quiet_success(&ps);
    let rows: Value = serde_json::from_slice(&ps.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "p1")
        .unwrap_or_else(|| panic!("p1 not listed: {}", describe(&ps)));
    assert_eq!(row["kind"], "oci");
    assert_eq!(row["status"], "created");
    let mut delete = caller_command(oci_binary());
    delete.args(["delete", "--force", "p1"]);
    assert_quiet_success(&output_of(with_xdg(delete)));

    // Another state root (podman's, conmon's): by --root.
    assert!(b.create("p2", &[]).0.success());
    let root = b.root.to_str().unwrap();
    let ps = output_of(common::ns_rootless(["ps", "--json", "--root", root]));
    assert_quiet_success(&ps);
    let rows: Value = serde_json::from_slice(&ps.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "p2" && r["kind"] == "oci"),
        "{}",
        describe(&ps)
    );
    let missing = output_of(common::ns_rootless(["ps", "--root", "/nonexistent"]));
    assert_eq!(missing.status.code(), Some(125), "{}", describe(&missing));
    assert!(
        text(&missing.stderr).contains("/nonexistent"),
        "{}",
        describe(&missing)
    );
}

#[test]
fn start_container_hooks_run_inside_before_the_process() {
    let b = Bundle::new("oci-starthook");
    b.args(&["cat", "/dev/shm/hooked"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", "cat > /dev/shm/hooked"]}]});
    });
    let out = b.run(&["run", "sc1"]);
    assert_quiet_success(&out);
    let state: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["id"], "sc1");
    assert_eq!(state["bundle"], b.path_str());
    // As runc: the container is "created" until its process runs.
    assert_eq!(state["status"], "created");

    // A failing one stops the container before its process runs.
    b.args(&["echo", "never"]);
    b.edit(|c| c["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/false"}]}));
    let out = b.run(&["run", "sc2"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).contains("startContainer hook failed"),
        "{}",
        describe(&out)
    );
    // runtime.md lifecycle step 9: `start` generates an error and the container is stopped.
    let (status, out_file, err_file) = b.create("sc3", &[]);
    assert!(
        status.success(),
        "{}",
        fs::read_to_string(&err_file).unwrap()
    );
    assert_error(&b.run(&["start", "sc3"]), "startContainer hook");
    assert_eq!(b.state("sc3")["status"], "stopped");
    assert_eq!(fs::read_to_string(&out_file).unwrap(), "");
    assert_quiet_success(&b.run(&["delete", "sc3"]));
}

#[test]
fn create_container_hooks_run_in_the_container_namespaces_before_the_pivot() {
    let b = Bundle::new("oci-cchook");
    let ns = |file: &str| {
        let out = b.path().join(file);
        serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c",
            format!("readlink /proc/self/ns/user /proc/self/ns/mnt > {}", out.display())]}])
    };
    b.args(&["readlink", "/proc/self/ns/user"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({"createRuntime": ns("rt"), "createContainer": ns("cc")})
    });
    let out = b.run(&["run", "cc1"]);
    assert_quiet_success(&out);
    let read = |f: &str| fs::read_to_string(b.path().join(f)).unwrap();
    let (rt, cc) = (read("rt"), read("cc"));
    let host_user = fs::read_link("/proc/self/ns/user").unwrap();
    let host_mnt = fs::read_link("/proc/self/ns/mnt").unwrap();
    // createRuntime: the runtime's namespaces; createContainer: the container's user namespace
    // (the process's) and its mount namespace, with the host's paths still there (its output
    // file is in the bundle).
    assert_eq!(
        rt,
        format!("{}\n{}\n", host_user.display(), host_mnt.display())
    );
    let mut lines = cc.lines();
    assert_eq!(lines.next().unwrap(), text(&out.stdout).trim_end(), "{cc}");
    assert_ne!(lines.next().unwrap(), host_mnt.to_str().unwrap(), "{cc}");

    // Its failure fails the create, in words naming it, and leaves nothing.
    b.edit(|c| c["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/false"}]}));
    let out = b.run(&["run", "cc2"]);
    assert_error(
        &out,
        "running hooks.createContainer[0] \"/bin/false\": it exited with status 1",
    );
    assert_error(&b.run(&["state", "cc2"]), "does not exist");
}

#[test]
fn poststart_hooks_run_once_the_process_has_executed() {
    let b = Bundle::new("oci-poststart");
    let out = b.path().join("seen");
    // The startContainer hook delays the process; poststart must still find it exec'd: the
    // only child of the container's init (state's pid), named after its program.
    let look = format!(
        "pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); pgrep -l -P $pid > {}",
        out.display()
    );
    b.args(&["tail", "-f", "/dev/null"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 0.5"]}],
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", look],
                "env": ["PATH=/usr/bin:/bin"]}]})
    });
    assert!(b.create("ps1", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "ps1"]));
    let seen = fs::read_to_string(&out).unwrap();
    assert!(seen.ends_with(" tail\n"), "{seen:?}");
    assert_quiet_success(&b.run(&["delete", "--force", "ps1"]));
}

#[test]
fn every_hook_kind_honours_its_timeout() {
    let b = Bundle::new("oci-hooktimeout");
    b.args(&["echo", "never"]);
    let slow =
        serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", "sleep 1000"], "timeout": 1}]);
    for kind in ["createRuntime", "createContainer", "startContainer"] {
        b.edit(|c| c["hooks"] = serde_json::json!({ kind: slow }));
        // An unenforced timeout would run the hook's sleep 1000 into run's hang guard.
        let out = b.run(&["run", "t1"]);
        assert!(!out.status.success(), "{kind}: {}", describe(&out));
        assert_eq!(text(&out.stdout), "", "{kind}");
        assert_error(&b.run(&["state", "t1"]), "does not exist");
    }
    // A timeout that isn't above zero is an invalid config (config.md).
    b.edit(|c| {
        c["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/true", "timeout": 0}]})
    });
    assert_error(&b.run(&["run", "t2"]), "greater than zero");
}

/// Drops the namespace of `kind` from the config's list.
fn without_namespace(c: &mut Value, kind: &str) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != kind);
}

#[test]
fn a_pid_namespace_only_when_asked_and_the_process_dies_with_init() {
    let b = Bundle::new("oci-nopidns");
    b.args(&["sh", "-c", "readlink /proc/self/ns/pid; exec sleep 1000"]);
    b.edit(|c| {
        without_namespace(c, "pid");
        // The runtime's /proc (a new proc would need a PID namespace of the container's own).
        c["mounts"][0] = serde_json::json!({"destination": "/proc", "type": "bind",
            "source": "/proc", "options": ["rbind"]});
    });
    let (status, out, _err) = b.create("np1", &[]);
    assert!(status.success());
    assert_quiet_success(&b.run(&["start", "np1"]));
    let ours = fs::read_link("/proc/self/ns/pid").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(&out).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the process said nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        format!("{}\n", ours.display())
    );
    // The sleep is init's child in our PID namespace; the kernel won't end it with init, its
    // parent-death signal does.
    let init = b.state("np1")["pid"].as_i64().unwrap();
    let pgrep = Command::new("pgrep")
        .args(["-P", &init.to_string()])
        .output()
        .unwrap();
    let sleep: i64 = text(&pgrep.stdout).trim().parse().expect("init's child");
    assert_error(
        &b.run(&["kill", "--all", "np1", "KILL"]),
        "no PID namespace of its own",
    );
    assert_quiet_success(&b.run(&["delete", "--force", "np1"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(format!("/proc/{sleep}/stat")).is_ok_and(|s| !s.contains(") Z")) {
        assert!(
            Instant::now() < deadline,
            "the container's process outlived delete"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn namespaces_by_path_join_or_say_why_not() {
    let b = Bundle::new("oci-nspath");
    b.args(&["true"]);
    // A time namespace of another user namespace of the caller's: the kernel refuses.
    let mut other = caller_command("unshare");
    other
        .args(["--user", "--time", "--fork", "--kill-child", "sleep", "100"])
        .stdin(Stdio::null());
    let mut other = other.spawn().unwrap();
    let path = format!("/proc/{}/ns/time_for_children", other.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_link(&path).ok() == fs::read_link("/proc/self/ns/time").ok() {
        assert!(Instant::now() < deadline, "unshare made no time namespace");
        std::thread::sleep(Duration::from_millis(10));
    }
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "time", "path": path}));
    });
    let out = b.run(&["run", "j1"]);
    let _ = other.kill();
    let _ = other.wait();
    assert_error(&out, &format!("joining the time namespace \"{path}\": Operation not permitted; it belongs to a user namespace"));
    assert_error(&b.run(&["state", "j1"]), "does not exist");

    // A mount namespace by path: an error that says why.
    b.edit(|c| {
        without_namespace(c, "time");
        without_namespace(c, "mount");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "mount", "path": "/proc/self/ns/x"}));
    });
    assert_error(
        &b.run(&["run", "j2"]),
        "joining a mount namespace by path (\"/proc/self/ns/x\") is not supported: ",
    );
    // No mount namespace: refused, not the runtime's.
    b.edit(|c| without_namespace(c, "mount"));
    assert_error(&b.run(&["run", "j3"]), "a mount namespace is required");
}

/// A cgroup v2 subtree delegated to the caller the way systemd delegates user@UID.service
/// (the directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads are the
/// caller's), with a leaf `runtime` of it for the runtime to run in. Removed on drop.
struct DelegatedCgroup {
    dir: PathBuf,
}

impl DelegatedCgroup {
    fn new(label: &str) -> DelegatedCgroup {
        common::require(
            common::runner_is_root(),
            "making a delegated cgroup needs the test runner to be root",
        );
        let dir = PathBuf::from(format!(
            "/sys/fs/cgroup/unified/ns-rootless-test.{}.{label}",
            std::process::id()
        ));
        fs::create_dir(&dir).unwrap();
        let runtime = dir.join("runtime");
        fs::create_dir(&runtime).unwrap();
        for d in [&dir, &runtime] {
            for f in [
                "",
                "cgroup.procs",
                "cgroup.subtree_control",
                "cgroup.threads",
            ] {
                give_to_caller(&d.join(f));
            }
        }
        DelegatedCgroup { dir }
    }

    /// `cmd`, started as root in the `runtime` leaf, then as the caller (setpriv, as in cmd).
    fn inside(&self, cmd: &Command) -> Command {
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(self.dir.join("runtime/cgroup.procs"))
            .arg(cmd.get_program())
            .args(cmd.get_args());
        sh.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                sh.env(k, v);
            }
        }
        if let Some(d) = cmd.get_current_dir() {
            sh.current_dir(d);
        }
        sh
    }
}

impl Drop for DelegatedCgroup {
    fn drop(&mut self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten().filter(|e| e.path().is_dir()) {
                let _ = fs::remove_dir(e.path());
            }
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

#[test]
fn resources_go_to_a_cgroup_of_the_container_where_one_is_delegated() {
    // (Dropped after the bundle, which deletes what a failure left running in it.)
    let cg = DelegatedCgroup::new("oci-cgroup");
    let b = Bundle::new("oci-cgroup");
    b.args(&["sh", "-c", "cat /proc/self/cgroup; exec sleep 1000"]);
    // A core file of the cgroup's own, writable in a delegated one; and pids.max, whose
    // controller this hybrid host keeps on cgroup v1 (the unified hierarchy offers hugetlb
    // only): skipped, said with --debug.
    b.edit(|c| {
        c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10},
            "unified": {"cgroup.max.descendants": "3"}})
    });
    let mut create = cg.inside(&b.oci(&["--debug", "create", "g1"]));
    let err = b.path().join("g1.err");
    let out = b.path().join("g1.out");
    create
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    assert!(
        wait_for(create.spawn().unwrap(), "create").success(),
        "{}",
        fs::read_to_string(&err).unwrap()
    );
    let said = fs::read_to_string(&err).unwrap();
    assert!(
        said.contains("pids.max not applied: the pids controller is not available"),
        "{said}"
    );
    let mine = cg.dir.join("ns-rootless-oci-g1");
    assert_eq!(
        fs::read_to_string(mine.join("cgroup.max.descendants")).unwrap(),
        "3\n"
    );
    // Init is in it before it runs anything; the process too.
    let init = b.state("g1")["pid"].as_i64().unwrap();
    assert_eq!(
        fs::read_to_string(mine.join("cgroup.procs")).unwrap(),
        format!("{init}\n")
    );
    assert_quiet_success(&b.run(&["start", "g1"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&out).unwrap().contains("0::") {
        assert!(Instant::now() < deadline, "the process said nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
    // (Its cgroup namespace shows its own cgroup as the root.)
    assert!(fs::read_to_string(&out).unwrap().contains("0::/\n"));
    assert_eq!(
        fs::read_to_string(mine.join("cgroup.procs"))
            .unwrap()
            .lines()
            .count(),
        2
    );
    // What exec starts is in it too (its limits hold for exec's processes as well), even when
    // exec itself is run from elsewhere.
    let out = output_of(cg.inside(&b.oci(&["exec", "g1", "grep", "^0::", "/proc/self/cgroup"])));
    assert_eq!(text(&out.stdout), "0::/\n", "{}", describe(&out));
    assert_quiet_success(&b.run(&["delete", "--force", "g1"]));
    assert!(!mine.exists(), "delete left the cgroup");
}

/// The optional fields (shared:N, master:N, unbindable) of the mount at `point` in a mountinfo.
fn propagation_of(mountinfo: &str, point: &str) -> String {
    let line = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point}: {mountinfo}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let end = fields.iter().position(|f| *f == "-").unwrap();
    fields[6..end].join(" ")
}

#[test]
fn mount_propagation_options_and_rootfs_propagation() {
    let b = Bundle::new("oci-propagation");
    let src = b.path().join("src");
    fs::create_dir(&src).unwrap();
    give_to_caller(&src);
    b.args(&["cat", "/proc/self/mountinfo"]);
    // (Over directories the rootfs has: it is read-only, and not ours to add to.)
    let bind = |dst: &str, prop: &str| {
        serde_json::json!({"destination": dst, "type": "bind", "source": src,
            "options": ["rbind", prop]})
    };
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(bind("/root", "rshared"));
        mounts.push(bind("/tmp", "runbindable"));
        mounts.push(bind("/usr/sbin", "rprivate"));
        // Non-bind mounts take their propagation option too.
        mounts.push(serde_json::json!({"destination": "/sbin", "type": "tmpfs",
            "source": "tmpfs", "options": ["size=1m", "rshared"]}));
        mounts.push(
            serde_json::json!({"destination": "/usr/bin", "type": "tmpfs",
            "source": "tmpfs", "options": ["size=1m", "unbindable"]}),
        );
        c["linux"]["rootfsPropagation"] = "shared".into();
    });
    let out = b.run(&["run", "mp1"]);
    assert_quiet_success(&out);
    let info = text(&out.stdout);
    assert!(
        propagation_of(&info, "/root").starts_with("shared:"),
        "{info}"
    );
    assert_eq!(propagation_of(&info, "/tmp"), "unbindable", "{info}");
    assert_eq!(propagation_of(&info, "/usr/sbin"), "", "{info}");
    assert!(
        propagation_of(&info, "/sbin").starts_with("shared:"),
        "{info}"
    );
    assert_eq!(propagation_of(&info, "/usr/bin"), "unbindable", "{info}");
    assert!(propagation_of(&info, "/").starts_with("shared:"), "{info}");

    b.edit(|c| c["linux"]["rootfsPropagation"] = "sideways".into());
    assert_error(
        &b.run(&["run", "mp2"]),
        "invalid linux.rootfsPropagation \"sideways\"",
    );
}

#[test]
fn time_namespace_offsets() {
    let b = Bundle::new("oci-time");
    b.args(&["sh", "-c", "cut -d. -f1 /proc/uptime"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "time"}));
        c["linux"]["timeOffsets"] = serde_json::json!({"boottime": {"secs": 864000}});
    });
    let out = b.run(&["run", "tm1"]);
    assert_quiet_success(&out);
    let inside: u64 = text(&out.stdout).trim().parse().unwrap();
    let host: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside as f64 >= host + 864000.0 - 5.0,
        "uptime {inside} vs host {host}"
    );
    // exec joins it too.
    b.args(&["sleep", "100"]);
    assert!(b.create("tm3", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "tm3"]));
    let out = b.run(&["exec", "tm3", "cut", "-d.", "-f1", "/proc/uptime"]);
    assert_quiet_success(&out);
    let exec_inside: u64 = text(&out.stdout).trim().parse().unwrap();
    assert!(exec_inside >= 864000, "{}", describe(&out));
    assert_quiet_success(&b.run(&["delete", "--force", "tm3"]));
    // Offsets without a time namespace are refused.
    b.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().pop();
    });
    assert_error(&b.run(&["run", "tm2"]), "needs a time namespace");
}

#[test]
fn errors_go_to_the_log_file_as_json_lines() {
    let b = Bundle::new("oci-log");
    b.args(&["no-such-command"]);
    let log = b.path().join("oci-log");
    let out = b.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "l1",
    ]);
    assert_error(&out, "executable file not found in $PATH");
    let logged = fs::read_to_string(&log).unwrap();
    let line: Value = serde_json::from_str(logged.lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .unwrap()
            .contains("executable file not found"),
        "{logged}"
    );
    // --debug says what is skipped, only when asked.
    b.args(&["true"]);
    b.edit(|c| c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10}}));
    let quiet = b.run(&["run", "l2"]);
    assert_quiet_success(&quiet);
    let debug = b.run(&["--debug", "run", "l3"]);
    assert!(
        text(&debug.stderr).contains("linux.resources not applied"),
        "{}",
        describe(&debug)
    );
}

/// A container in the host's network namespace (no `network` in linux.namespaces) is in the
/// host's abstract unix socket namespace, where X11, D-Bus buses and agents listen unchecked:
/// its process, and what `exec` starts in it, get the Landlock abstract-socket scope that
/// `ns-rootless --share-net` gives (our hardening; runtime-spec has no field for it). Even
/// without no_new_privs and with no capabilities left, where the process could not enter a
/// Landlock domain itself.
#[test]
fn a_container_sharing_the_hosts_network_cannot_reach_its_abstract_sockets() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ns-rootless-oci-abstract-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind_addr(&addr).expect("listen");
    let b = Bundle::new("oci-abstract");
    // The probe (tests/probe: `probe syscall connect-abstract NAME` prints `ok` or the
    // errno), with the host's /usr for its libraries, in a rootfs of our own.
    let rootfs = common::busybox_rootfs_variant("oci-abstract-rootfs", |root| {
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
        common::copy_executable(common::probe(), &root.join("probe"));
    });
    fs::remove_file(b.path().join("rootfs")).unwrap();
    std::os::unix::fs::symlink(rootfs.path(), b.path().join("rootfs")).unwrap();
    let connect = ["/probe", "syscall", "connect-abstract", &name];
    b.args(&connect);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}));
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|ns| ns["type"] != "network");
    });
    // Control: the caller reaches it from outside.
    let mut cmd = caller_command(common::probe());
    cmd.args(&connect[1..]);
    assert_eq!(text(&output_of(cmd).stdout), "ok\n");
    let out = b.run(&["run", "la1"]);
    assert_eq!(text(&out.stdout), "errno 1 EPERM\n", "{}", describe(&out));
    // No no_new_privs and no capabilities: the domain is entered before the config's own.
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = false.into();
        c["process"]["capabilities"] = serde_json::json!({});
    });
    let out = b.run(&["run", "la2"]);
    assert_eq!(text(&out.stdout), "errno 1 EPERM\n", "{}", describe(&out));
    // What exec starts in it.
    b.args(&["sleep", "100"]);
    assert!(b.create("la3", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "la3"]));
    let mut exec = vec!["exec", "la3"];
    exec.extend(connect);
    let out = b.run(&exec);
    assert_eq!(
        text(&out.stdout),
        "errno 1 EPERM\n",
        "exec: {}",
        describe(&out)
    );
    assert_quiet_success(&b.run(&["delete", "--force", "la3"]));
}

/// A running container whose process sleeps, for `exec` tests.
fn running(b: &Bundle, id: &str) {
    b.args(&["sleep", "1000"]);
    let (status, _, err) = b.create(id, &[]);
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    assert_quiet_success(&b.run(&["start", id]));
}

/// `exec` is no weaker than the container: its process gets the container's rlimits (and an
/// `--process` file's own), as runc's exec starts from the container's process.
#[test]
fn exec_gets_the_containers_rlimits() {
    let b = Bundle::new("oci-exec-rlimits");
    b.edit(|c| {
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 100, "soft": 90}])
    });
    running(&b, "r1");
    // config.md: the container's process gets them (rlim_cur and rlim_max as configured).
    let init = b.state("r1")["pid"].as_i64().unwrap();
    let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let child: i64 = children.trim().parse().expect(&children);
    let limits = fs::read_to_string(format!("/proc/{child}/limits")).unwrap();
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        nofile.split_whitespace().collect::<Vec<_>>(),
        ["Max", "open", "files", "90", "100", "files"]
    );
    let out = b.run(&["exec", "r1", "sh", "-c", "ulimit -n; ulimit -H -n"]);
    assert_eq!(text(&out.stdout), "90\n100\n", "{}", describe(&out));
    let out = exec_process(
        &b,
        "r1",
        &serde_json::json!({
            "args": ["sh", "-c", "ulimit -n"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 50, "soft": 50}]}),
    );
    assert_eq!(text(&out.stdout), "50\n", "{}", describe(&out));
}

/// `exec` takes the container's seccomp profile and process from the config it was created
/// with: a bundle edited (or gone) since `create` must not hand exec a weaker one.
#[test]
fn exec_keeps_the_config_the_container_was_created_with() {
    let b = Bundle::new("oci-exec-config");
    b.edit(|c| {
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
    });
    running(&b, "k1");
    b.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("seccomp");
    });
    let out = b.run(&["exec", "k1", "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(text(&out.stdout), "Seccomp:\t2\n", "{}", describe(&out));
    fs::remove_file(b.path().join("config.json")).unwrap();
    let out = b.run(&["exec", "k1", "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(text(&out.stdout), "Seccomp:\t2\n", "{}", describe(&out));
}

/// While `exec` is in the container's namespaces it holds fds from outside (the pid file's
/// directory, the console socket) and our memory: it is not dumpable before it joins, so the
/// container's root (same host uid, or owner of a user namespace it made and we joined) can't
/// ptrace it or open its /proc/PID/fd (runc's CVE-2016-9962). A process that isn't dumpable
/// has its /proc/PID files owned by root.
#[test]
fn exec_is_not_dumpable_while_in_the_container() {
    use std::os::unix::fs::MetadataExt;
    let b = Bundle::new("oci-exec-dumpable");
    running(&b, "d1");
    let mut cmd = b.oci(&["exec", "d1", "sleep", "1000"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    // Until it has joined (its user namespace link changes), then look at its owner.
    let ours = fs::read_link("/proc/self/ns/user").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_link(format!("{proc_dir}/ns/user")).ok() == Some(ours.clone()) {
        assert!(Instant::now() < deadline, "exec never joined the container");
        std::thread::sleep(Duration::from_millis(5));
    }
    let owner = fs::metadata(format!("{proc_dir}/fd")).unwrap().uid();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(owner, 0, "exec's /proc/PID is the caller's: it is dumpable");
}

/// Hooks are host programs given the state on stdin and nothing else of ours: not the fds
/// `--preserve-fds` passes to the container, nor any other the caller left open.
#[test]
fn hooks_get_only_stdio() {
    let b = Bundle::new("oci-hook-fds");
    let log = b.path().join("hooks.log");
    let hook = |name: &str| {
        serde_json::json!({"path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "echo {name} $(ls -l /proc/self/fd | grep -c three) >> {}", log.display())]})
    };
    b.args(&["true"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [hook("createRuntime")],
            "prestart": [hook("prestart")],
            "createContainer": [hook("createContainer")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")]});
    });
    let file = b.path().join("three");
    fs::write(&file, "x").unwrap();
    let f = fs::File::open(&file).unwrap();
    let out = output_of(with_fd_3(b.oci(&["run", "--preserve-fds", "1", "hf1"]), &f));
    assert_quiet_success(&out);
    // No hook holds the caller's fd 3 (the file "three").
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "prestart 0\ncreateRuntime 0\ncreateContainer 0\npoststart 0\npoststop 0\n"
    );
}

/// A hostile rootfs (CVE-2021-30465, CVE-2019-16884/19921 class): mount destinations through
/// symlinks that point out of it, relative or absolute, and /proc itself a symlink. Every mount
/// lands inside the rootfs (resolved beneath it), the masks follow /proc where its mount went,
/// and a masked path that is itself a symlink is refused rather than followed or skipped.
#[test]
fn mounts_and_masks_through_symlinks_stay_in_the_rootfs() {
    let outside = TempDir::new("oci-outside");
    give_to_caller(outside.path());
    let target = outside.path().to_path_buf();
    let rootfs = common::busybox_rootfs_variant("oci-hostile-rootfs", |root| {
        let up = "../../../../../../../..".to_string();
        std::os::unix::fs::symlink(up + target.to_str().unwrap(), root.join("rel")).unwrap();
        std::os::unix::fs::symlink(&target, root.join("abs")).unwrap();
        // The same path inside the rootfs, where the links resolve beneath it.
        let inside = root.join(target.strip_prefix("/").unwrap());
        fs::create_dir_all(&inside).unwrap();
        give_to_caller(&inside);
        fs::remove_dir_all(root.join("proc")).unwrap();
        fs::create_dir(root.join("fakeproc")).unwrap();
        std::os::unix::fs::symlink("/fakeproc", root.join("proc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("masklink")).unwrap();
    });
    let b = Bundle::new("oci-hostile");
    fs::remove_file(b.path().join("rootfs")).unwrap();
    std::os::unix::fs::symlink(rootfs.path(), b.path().join("rootfs")).unwrap();
    b.args(&[
        "sh",
        "-c",
        "ls /rel /abs; [ -c /fakeproc/keys ] && echo masked; \
         echo 1 2>&1 > /fakeproc/sys/kernel/hostname | grep -c Read-only",
    ]);
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!(
            {"destination": "/rel/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        mounts.push(serde_json::json!(
            {"destination": "/abs/b", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}));
        c["linux"]["maskedPaths"] = serde_json::json!(["/proc/keys"]);
        c["linux"]["readonlyPaths"] = serde_json::json!(["/proc/sys"]);
    });
    let out = b.run(&["run", "hs1"]);
    assert_quiet_success(&out);
    // Both mount points were made inside the rootfs (the links lead to the same directory
    // there), /proc's mount went to /fakeproc, /proc/keys is masked there and /proc/sys
    // read-only.
    assert_eq!(
        text(&out.stdout),
        "/abs:\nb\nt\n\n/rel:\nb\nt\nmasked\n1\n",
        "{}",
        describe(&out)
    );
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "written outside"
    );
    // A masked path that is a symlink: refused.
    b.edit(|c| c["linux"]["maskedPaths"] = serde_json::json!(["/masklink"]));
    let out = b.run(&["run", "hs2"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", describe(&out));
    assert!(fs::read_to_string("/etc/passwd").unwrap().contains("root:"));
}

/// `exec --cwd` (and process.cwd) through /proc/self/fd/N or a symlink out of the root
/// (CVE-2024-21626 class): resolved beneath the container's root with no magic links, while
/// exec's child holds no fd from outside, so it is refused or lands inside.
#[test]
fn exec_cwd_never_leaves_the_container() {
    let b = Bundle::new("oci-exec-cwd");
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    });
    running(&b, "cw1");
    for n in 3..=9 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = b.run(&["exec", "--cwd", &cwd, "cw1", "pwd"]);
        assert_eq!(out.status.code(), Some(1), "{cwd}: {}", describe(&out));
        assert_eq!(text(&out.stderr).lines().count(), 1, "{}", describe(&out));
    }
    // A relative link climbing out: `..` stops at the container's root.
    let out = b.run(&[
        "exec",
        "cw1",
        "ln",
        "-s",
        "../../../../../../../tmp",
        "/tmp/up",
    ]);
    assert_quiet_success(&out);
    let out = b.run(&[
        "exec",
        "--cwd",
        "/tmp/up",
        "cw1",
        "sh",
        "-c",
        "pwd -P; ls /tmp",
    ]);
    assert_quiet_success(&out);
    assert_eq!(text(&out.stdout), "/tmp\nup\n", "{}", describe(&out));
}

/// `--preserve-fds N` beyond any fd the process could have (the open-file limit) is an error of
/// one line that leaves nothing, for `create` and `exec`: not an overflow panic, nor a list of
/// a billion fds to keep.
#[test]
fn preserve_fds_beyond_the_fd_limit_is_refused() {
    let b = Bundle::new("oci-fds-huge");
    for n in ["2147483645", "4294967295", "1000000000"] {
        let out = b.run(&["create", "--preserve-fds", n, "pf1"]);
        assert_error(&out, "--preserve-fds");
        assert_error(&b.run(&["state", "pf1"]), "does not exist");
    }
    running(&b, "pf2");
    let out = b.run(&["exec", "--preserve-fds", "2147483645", "pf2", "true"]);
    assert_error(&out, "--preserve-fds");
}

/// A hostile bundle's config.json (or an exec --process file) that never ends (/dev/zero) or
/// never opens (a FIFO): one line and a non-zero exit, not all the memory there is or a hang.
#[test]
fn endless_or_special_config_files_are_refused() {
    let b = Bundle::new("oci-config-zero");
    let config = b.path().join("config.json");
    let limited = |args: &[&str]| {
        let mut cmd = b.oci(args);
        // SAFETY: setrlimit in the forked child before exec. 1 GiB of address space: the old
        // code read /dev/zero until an allocation failed (the whole machine's memory without
        // this limit), now it reads 16 MiB.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                let lim = nix::libc::rlimit {
                    rlim_cur: 1 << 30,
                    rlim_max: 1 << 30,
                };
                if nix::libc::setrlimit(nix::libc::RLIMIT_AS, &lim) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        output_of(cmd)
    };
    let saved = fs::read(&config).unwrap();
    fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    assert_error(&limited(&["create", "z1"]), "config.json");
    fs::remove_file(&config).unwrap();
    nix::unistd::mkfifo(&config, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    assert_error(&limited(&["create", "z2"]), "config.json");
    fs::remove_file(&config).unwrap();
    fs::write(&config, saved).unwrap();
    running(&b, "z3");
    let process = b.path().join("process.json");
    std::os::unix::fs::symlink("/dev/zero", &process).unwrap();
    assert_error(
        &limited(&["exec", "--process", process.to_str().unwrap(), "z3"]),
        "process.json",
    );
}

/// A process of the caller's holding new namespaces (`unshare ARGS... sleep`), and the path of
/// its `kind` namespace once it has them.
struct Holder {
    child: std::process::Child,
}

impl Holder {
    fn new(args: &[&str]) -> Holder {
        let mut cmd = caller_command("unshare");
        cmd.args(args)
            .args(["--fork", "--kill-child", "sleep", "1000"])
            .stdin(Stdio::null());
        Holder {
            child: cmd.spawn().unwrap(),
        }
    }

    /// /proc/PID/ns/KIND of the holder's sleep (unshare's child), once it differs from ours.
    fn ns(&self, kind: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let children =
                fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.child.id()))
                    .unwrap_or_default();
            if let Some(pid) = children.split_whitespace().next() {
                let path = format!("/proc/{pid}/ns/{kind}");
                if fs::read_link(&path).ok() != fs::read_link(format!("/proc/self/ns/{kind}")).ok()
                {
                    return path;
                }
            }
            assert!(
                Instant::now() < deadline,
                "unshare made no {kind} namespace"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// linux.namespaces with a user namespace `path`: joined first, the container's other new
/// namespaces are made inside it, and its ids are that namespace's (no mappings of ours).
#[test]
fn a_user_namespace_by_path_is_joined_first() {
    let b = Bundle::new("oci-userns-path");
    let holder = Holder::new(&["--user", "--map-root-user"]);
    let userns = holder.ns("user");
    b.args(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u; hostname",
    ]);
    b.edit(|c| {
        without_namespace(c, "user");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user", "path": userns}));
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
        c["hostname"] = "joined".into();
    });
    let out = b.run(&["run", "u1"]);
    assert_quiet_success(&out);
    let link = fs::read_link(&userns).unwrap();
    let map = fs::read_to_string(userns.replace("ns/user", "uid_map")).unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("{}\n{map}0\njoined\n", link.display()),
        "{}",
        describe(&out)
    );
    // Mappings beside a joined namespace: refused. A user namespace that isn't the caller's
    // (its owner is root): the kernel refuses, and the error says which may be joined.
    b.edit(|c| {
        c["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": caller_uid(), "size": 1}]);
    });
    assert_error(&b.run(&["run", "u2"]), "has its own mappings");
    let mut roots = Command::new("unshare");
    roots
        .args(["--user", "--fork", "--kill-child", "sleep", "1000"])
        .stdin(Stdio::null());
    let roots = Holder {
        child: roots.spawn().unwrap(),
    };
    // (Root's /proc/PID/ns isn't the caller's to open: it gets the namespace as its fd 3.)
    let root_userns = fs::File::open(roots.ns("user")).unwrap();
    b.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("uidMappings");
        without_namespace(c, "user");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user", "path": "/proc/self/fd/3"}));
    });
    assert_error(
        &output_of(with_fd_3(b.oci(&["run", "u3"]), &root_userns)),
        "Operation not permitted; joining one needs CAP_SYS_ADMIN in it",
    );
    assert_error(&b.run(&["state", "u3"]), "does not exist");
}

/// A pid namespace by path, with the user namespace that owns it: init and the process are
/// processes of it (not its PID 1), and the container's /proc is its. Without that user
/// namespace, the kernel refuses a plain user, and the error says what to do.
#[test]
fn a_pid_namespace_by_path_is_joined_with_its_user_namespace() {
    let b = Bundle::new("oci-pidns-path");
    let holder = Holder::new(&["--user", "--map-root-user", "--pid", "--mount-proc"]);
    let (userns, pidns) = (holder.ns("user"), holder.ns("pid"));
    b.args(&["sh", "-c", "readlink /proc/self/ns/pid; cat /proc/1/comm"]);
    b.edit(|c| {
        without_namespace(c, "user");
        without_namespace(c, "pid");
        c["linux"]["namespaces"].as_array_mut().unwrap().extend([
            serde_json::json!({"type": "user", "path": userns}),
            serde_json::json!({"type": "pid", "path": pidns}),
        ]);
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
    });
    let out = b.run(&["run", "p1"]);
    assert_quiet_success(&out);
    let link = fs::read_link(&pidns).unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("{}\nsleep\n", link.display()),
        "{}",
        describe(&out)
    );
    // With createRuntime hooks, which create would start in that namespace: refused.
    b.edit(|c| c["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/true"}]}));
    assert_error(&b.run(&["run", "p2"]), "prestart or createRuntime hooks");
    // Without its user namespace: the container gets one of its own, and the kernel refuses.
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hooks");
        without_namespace(c, "user");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        c["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": caller_uid(), "size": 1}]);
        c["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": common::caller_gid(), "size": 1}]);
    });
    assert_error(
        &b.run(&["run", "p3"]),
        "Operation not permitted; joining one needs CAP_SYS_ADMIN",
    );
    assert_error(&b.run(&["state", "p3"]), "does not exist");
}

/// A pid file path that is a symlink (to a file the caller can write): replaced by the new file,
/// never followed, for create and exec alike.
#[test]
fn pid_files_replace_a_symlink_instead_of_following_it() {
    let b = Bundle::new("oci-pidfile-link");
    let victim = b.path().join("victim");
    fs::write(&victim, "keep").unwrap();
    give_to_caller(&victim);
    let link = b.path().join("pid");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    b.args(&["sleep", "1000"]);
    let (status, _, err) = b.create("pl1", &["--pid-file", link.to_str().unwrap()]);
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    let pid = b.state("pl1")["pid"].to_string();
    assert!(!fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(fs::read_to_string(&link).unwrap(), pid);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    assert_quiet_success(&b.run(&["start", "pl1"]));
    let exec_link = b.path().join("exec-pid");
    std::os::unix::fs::symlink(&victim, &exec_link).unwrap();
    let out = b.run(&[
        "exec",
        "-d",
        "--pid-file",
        exec_link.to_str().unwrap(),
        "pl1",
        "true",
    ]);
    assert_quiet_success(&out);
    assert!(!fs::symlink_metadata(&exec_link).unwrap().is_symlink());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
}

/// The signal `start` sends init (signal 38) is the runtime's own: `kill` with it would start a
/// created container behind `start`'s back (its state still "created") and never reach a
/// running one's process. Refused with one line.
#[test]
fn kill_refuses_the_runtimes_own_start_signal() {
    let b = Bundle::new("oci-kill-start");
    b.args(&["sleep", "1000"]);
    let (status, out, err) = b.create("ks1", &[]);
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    // The runtime's fixed start signal (sys::START_SIGNAL), the same in glibc and musl builds.
    let start_signal = "38";
    assert_error(&b.run(&["kill", "ks1", start_signal]), "start");
    // Still waiting for `start`: nothing ran.
    std::thread::sleep(Duration::from_millis(100));
    let init = b.state("ks1")["pid"].as_i64().unwrap();
    let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    assert_eq!(children, "", "the process was started by kill");
    assert_eq!(fs::read_to_string(&out).unwrap(), "");
}

/// The process's own name (comm) is no word of init's: a process naming itself after what
/// init once called itself to tell `start` "running" or "hook failed" changes nothing for
/// `start`, `exec`, `state` or `kill` (they learn from the exec fifo in the state directory).
#[test]
fn a_process_naming_itself_like_init_changes_nothing() {
    let b = Bundle::new("oci-comm");
    let rename = "for n in ns-oci-hookfail ns-oci-running; do \
                  printf %s $n > /proc/self/comm; printf %s $n > /proc/1/comm; done 2>/dev/null; \
                  while :; do sleep 1; done";
    b.args(&["sh", "-c", rename]);
    let seen = b.path().join("poststart");
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "startContainer": [{"path": "/bin/true"}],
            "poststart": [{"path": "/bin/sh",
                "args": ["sh", "-c", format!("echo ran > {}", seen.display())]}]})
    });
    let (status, _, err) = b.create("n1", &[]);
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    assert_quiet_success(&b.run(&["start", "n1"]));
    assert_eq!(fs::read_to_string(&seen).unwrap(), "ran\n");
    // An exec'd process renaming itself too, then another exec: both go through.
    let out = b.run(&[
        "exec",
        "n1",
        "sh",
        "-c",
        &rename.replace("while :; do sleep 1; done", "true"),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = b.run(&["exec", "n1", "cat", "/proc/self/comm"]);
    assert_eq!(text(&out.stdout), "cat\n", "{}", describe(&out));
    assert_eq!(b.state("n1")["status"], "running");
    assert_error(
        &b.run(&["start", "n1"]),
        "cannot start an already running container",
    );
    assert_quiet_success(&b.run(&["kill", "n1", "KILL"]));
    b.wait_status("n1", "stopped");
    assert_quiet_success(&b.run(&["delete", "n1"]));
}

/// A process that execs at once (no shell before it) is never missed: `start` (which waits for
/// the exec when poststart hooks follow) reports success, the process is init's child under
/// its own name, and init holds the exec fifo only until then (the process never does).
#[test]
fn start_sees_an_instant_exec_and_init_lets_go_of_the_fifo() {
    let b = Bundle::new("oci-instant");
    b.args(&["sleep", "1000"]);
    b.edit(|c| c["hooks"] = serde_json::json!({"poststart": [{"path": "/bin/true"}]}));
    let fifo_fds = |pid: i64| -> usize {
        fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter(|e| {
                fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("exec.fifo"))
            })
            .count()
    };
    for i in 0..5 {
        let id = format!("i{i}");
        let (status, _, err) = b.create(&id, &[]);
        assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
        let init = b.state(&id)["pid"].as_i64().unwrap();
        assert_eq!(fifo_fds(init), 1, "init holds the write end while created");
        assert_quiet_success(&b.run(&["start", &id]));
        assert_eq!(b.state(&id)["status"], "running");
        let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
        let child: i64 = children.trim().parse().expect(&children);
        assert_eq!(
            fs::read_to_string(format!("/proc/{child}/comm")).unwrap(),
            "sleep\n"
        );
        assert_eq!(fifo_fds(init), 0, "init let go of the fifo at the exec");
        assert_eq!(fifo_fds(child), 0, "the process never holds the fifo");
        assert_quiet_success(&b.run(&["delete", "--force", &id]));
    }
    // A process that ends at once: `start` still succeeds, and the container is stopped.
    b.args(&["true"]);
    assert!(b.create("i9", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "i9"]));
    b.wait_status("i9", "stopped");
    assert_quiet_success(&b.run(&["delete", "i9"]));
}

/// process.oomScoreAdj holds for the container's process and for what `exec` starts in it:
/// the container's value, or a `--process` file's own.
#[test]
fn oom_score_adj_holds_for_the_process_and_exec() {
    let b = Bundle::new("oci-oom");
    b.edit(|c| c["process"]["oomScoreAdj"] = 500.into());
    running(&b, "o1");
    let init = b.state("o1")["pid"].as_i64().unwrap();
    let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let child: i64 = children.trim().parse().expect(&children);
    let adj = fs::read_to_string(format!("/proc/{child}/oom_score_adj")).unwrap();
    assert_eq!(adj, "500\n");
    let out = b.run(&["exec", "o1", "cat", "/proc/self/oom_score_adj"]);
    assert_eq!(text(&out.stdout), "500\n", "{}", describe(&out));
    let out = exec_process(
        &b,
        "o1",
        &serde_json::json!({
            "args": ["cat", "/proc/self/oom_score_adj"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}, "oomScoreAdj": 700}),
    );
    assert_eq!(text(&out.stdout), "700\n", "{}", describe(&out));
}

/// runtime.md's operations on ids that name no container, or a container in the wrong state:
/// an error, and no effect on the container.
#[test]
fn operations_on_unknown_ids_and_wrong_states_are_errors() {
    let b = Bundle::new("oci-states");
    for op in ["start", "state", "kill", "delete", "exec"] {
        let mut args = vec![op, "nope"];
        if op == "exec" {
            args.push("true");
        }
        assert_error(&b.run(&args), "container does not exist: nope");
    }
    for op in ["create", "start", "state", "kill", "delete"] {
        assert_error(&b.run(&[op]), "required arguments were not provided");
    }
    // Annotations go into the state as they are (an empty value too).
    b.edit(|c| c["annotations"] = serde_json::json!({"com.example.k": "v", "e": ""}));
    b.args(&["sleep", "1000"]);
    assert!(b.create("w1", &[]).0.success());
    assert_eq!(
        b.state("w1")["annotations"],
        serde_json::json!({"com.example.k": "v", "e": ""})
    );
    // kill reaches a created container (its init); then it is stopped.
    assert_quiet_success(&b.run(&["kill", "w1", "KILL"]));
    b.wait_status("w1", "stopped");
    assert_error(&b.run(&["kill", "w1", "KILL"]), "container not running");
    assert_error(&b.run(&["start", "w1"]), "has stopped");
    assert_eq!(b.state("w1")["status"], "stopped");
    assert_quiet_success(&b.run(&["delete", "w1"]));
    // An id in use is refused, and the container holding it is untouched.
    assert!(b.create("w2", &[]).0.success());
    let pid = b.state("w2")["pid"].clone();
    assert_error(&b.run(&["create", "w2"]), "container with id exists: w2");
    let st = b.state("w2");
    assert_eq!((st["status"].as_str(), &st["pid"]), (Some("created"), &pid));
    assert_quiet_success(&b.run(&["delete", "--force", "w2"]));
}

/// What config.md and config-linux.md forbid in the document is an error at create, which
/// leaves no container behind; what they allow (a relative root path, a relative mount
/// destination, unknown properties) works.
#[test]
fn configs_the_spec_forbids_are_refused_and_what_it_allows_runs() {
    let b = Bundle::new("oci-valid");
    b.args(&["sh", "-c", "pwd"]);
    let orig = fs::read(b.path().join("config.json")).unwrap();
    type Edit = fn(&mut Value);
    let refused: [(&str, Edit); 11] = [
        ("process.cwd \"tmp\": must be absolute", |c| {
            c["process"]["cwd"] = "tmp".into()
        }),
        ("invalid process.args: empty", |c| {
            c["process"]["args"] = serde_json::json!([])
        }),
        ("RLIMIT_NOFILE\" is listed twice", |c| {
            c["process"]["rlimits"] = serde_json::json!([
                {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
                {"type": "RLIMIT_NOFILE", "soft": 11, "hard": 11}])
        }),
        ("not SemVer", |c| c["ociVersion"] = "banana".into()),
        ("annotations: a key is empty", |c| {
            c["annotations"] = serde_json::json!({"": "x"})
        }),
        ("hooks.poststop[0] path \"true\": must be absolute", |c| {
            c["hooks"] = serde_json::json!({"poststop": [{"path": "true"}]})
        }),
        ("\"uts\" is listed twice", |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "uts"}))
        }),
        ("linux.maskedPaths \"proc/kcore\": must be absolute", |c| {
            c["linux"]["maskedPaths"] = serde_json::json!(["proc/kcore"])
        }),
        ("linux.readonlyPaths \"proc/sys\": must be absolute", |c| {
            c["linux"]["readonlyPaths"] = serde_json::json!(["proc/sys"])
        }),
        ("invalid root.path", |c| {
            c["root"]["path"] = "nonexistent".into()
        }),
        // A name the command line's --env refuses too (spec::validate, for both).
        (
            "invalid process.env \"=x\": expected NAME or NAME=VALUE",
            |c| c["process"]["env"] = serde_json::json!(["PATH=/bin", "=x"]),
        ),
    ];
    for (words, edit) in refused {
        fs::write(b.path().join("config.json"), &orig).unwrap();
        b.edit(edit);
        let (status, out, err) = b.create("v1", &[]);
        let err = fs::read_to_string(&err).unwrap();
        assert!(!status.success() && err.contains(words), "{words}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(fs::read_to_string(&out).unwrap(), "");
        assert_error(&b.run(&["state", "v1"]), "does not exist");
    }
    // root.path relative to the bundle, a mount destination relative to / (config.md: MAY,
    // deprecated), properties this runtime doesn't know.
    fs::write(b.path().join("config.json"), &orig).unwrap();
    b.args(&["sh", "-c", "grep -c ' /tmp tmpfs ' /proc/mounts"]);
    b.edit(|c| {
        c["root"]["path"] = "rootfs".into();
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"destination": "tmp", "type": "tmpfs", "source": "tmpfs"}));
        c["com.example.unknown"] = 1.into();
        c["process"]["com.example.unknown"] = 1.into();
        c["linux"]["com.example.unknown"] = 1.into();
    });
    let out = b.run(&["run", "v2"]);
    assert_eq!(text(&out.stdout), "1\n", "{}", describe(&out));
    assert_quiet_success(&out);
}

/// runtime.md: a failing poststart or poststop hook is a warning (in the log), and the
/// remaining hooks and the lifecycle continue as if it had succeeded.
#[test]
fn failing_poststart_and_poststop_hooks_are_warnings_and_the_rest_run() {
    let b = Bundle::new("oci-hookwarn");
    let marks = b.path().join("marks");
    let mark = |name: &str| {
        serde_json::json!({"path": "/bin/sh",
            "args": ["sh", "-c", format!("echo {name} >> {}", marks.display())]})
    };
    b.args(&["sleep", "1000"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "poststart": [{"path": "/bin/false"}, mark("poststart")],
            "poststop": [{"path": "/bin/false"}, mark("poststop")]})
    });
    let log = b.path().join("log");
    let log_arg = ["--log", log.to_str().unwrap()];
    assert!(b.create("hw1", &[]).0.success());
    assert_quiet_success(&b.run(&[&log_arg[..], &["start", "hw1"]].concat()));
    assert_eq!(b.state("hw1")["status"], "running");
    assert_quiet_success(&b.run(&[&log_arg[..], &["delete", "--force", "hw1"]].concat()));
    assert_error(&b.run(&["state", "hw1"]), "does not exist");
    assert_eq!(fs::read_to_string(&marks).unwrap(), "poststart\npoststop\n");
    let log = fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> = log.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(
        warnings[0].contains("hooks.poststart[0] \"/bin/false\""),
        "{log}"
    );
    assert!(
        warnings[1].contains("hooks.poststop[0] \"/bin/false\""),
        "{log}"
    );
}

/// config-linux.md "Default devices": the runtime MUST supply /dev/null, zero, full, random,
/// urandom, tty and ptmx, whatever the config's `devices`.
#[test]
fn the_default_devices_are_there() {
    let b = Bundle::new("oci-devices");
    b.args(&[
        "sh",
        "-c",
        "for d in null zero full random urandom tty; do test -c /dev/$d || echo no $d; done; \
         test -e /dev/ptmx || echo no ptmx; head -c 3 /dev/zero | wc -c; echo x > /dev/null",
    ]);
    let out = b.run(&["run", "d1"]);
    assert_eq!(text(&out.stdout), "3\n", "{}", describe(&out));
    assert_quiet_success(&out);
}

/// While its hooks run at create, a container is "creating": neither created nor running, so
/// runtime.md has `kill` and `delete` (without --force) refuse it, with no effect on it.
#[test]
fn kill_and_delete_refuse_a_container_being_created() {
    let b = Bundle::new("oci-creating");
    let seen = b.path().join("seen");
    let oci = format!("{} --root {}", oci_binary().display(), b.root.display());
    let ask = format!(
        "{oci} kill cr1 KILL 2>> {seen}; echo kill $? >> {seen}; \
         {oci} delete cr1 2>> {seen}; echo delete $? >> {seen}",
        seen = seen.display()
    );
    b.args(&["echo", "ran"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/sh",
            "args": ["sh", "-c", ask], "env": ["PATH=/usr/bin:/bin"]}]})
    });
    let out = b.run(&["run", "cr1"]);
    assert_eq!(text(&out.stdout), "ran\n", "{}", describe(&out));
    assert_quiet_success(&out);
    assert_eq!(
        fs::read_to_string(&seen).unwrap(),
        "ns-rootless-oci: cannot kill a container that is still being created\nkill 1\n\
         ns-rootless-oci: cannot delete container cr1 that is not stopped: creating (kill it \
         first, or use --force)\ndelete 1\n"
    );
}

/// Two `start`s at once: exactly one starts the container, the other is an error.
#[test]
fn of_two_starts_at_once_one_fails() {
    let b = Bundle::new("oci-twostarts");
    b.args(&["sleep", "1000"]);
    for i in 0..8 {
        let id = format!("t{i}");
        assert!(b.create(&id, &[]).0.success());
        let spawn = || {
            let mut cmd = b.oci(&["start", &id]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        };
        let (first, second) = (spawn(), spawn());
        let outs = [first, second].map(|c| c.wait_with_output().unwrap());
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(ok, 1, "{}\n{}", describe(&outs[0]), describe(&outs[1]));
        let failed = outs.iter().find(|o| !o.status.success()).unwrap();
        assert_error(failed, "cannot start an already running container");
        assert_eq!(b.state(&id)["status"], "running");
        assert_quiet_success(&b.run(&["delete", "--force", &id]));
    }
}

/// config-linux.md: a namespace `path` that names a namespace of another type is an error.
#[test]
fn a_namespace_path_of_another_type_is_refused() {
    let b = Bundle::new("oci-nstype");
    b.args(&["true"]);
    b.edit(|c| {
        without_namespace(c, "ipc");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "ipc", "path": "/proc/self/ns/uts"}));
    });
    assert_error(
        &b.run(&["run", "nt1"]),
        "linux.namespaces: \"/proc/self/ns/uts\" is not a namespace of type ipc",
    );
    assert_error(&b.run(&["state", "nt1"]), "does not exist");
}

/// Two containers of one pod (the same user and pid namespaces, by path): while the first is
/// created, its init waits for `start` holding a clone of `create`'s memory (the caller's whole
/// environment) and the exec fifo's write end. The other's process must reach neither through
/// /proc, even with CAP_SYS_PTRACE in the pod's user namespace (runc's init is not dumpable for
/// this, CVE-2016-9962): not read the environment, not
/// forge "a startContainer hook failed" into the fifo and so make `start` kill the container.
#[test]
fn a_created_init_is_out_of_reach_of_its_pod() {
    let b = Bundle::new("oci-pod-created");
    let holder = Holder::new(&["--user", "--map-root-user", "--pid", "--mount-proc"]);
    let (userns, pidns) = (holder.ns("user"), holder.ns("pid"));
    let join = |c: &mut Value| {
        without_namespace(c, "user");
        without_namespace(c, "pid");
        c["linux"]["namespaces"].as_array_mut().unwrap().extend([
            serde_json::json!({"type": "user", "path": userns}),
            serde_json::json!({"type": "pid", "path": pidns}),
        ]);
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
    };
    b.edit(|c| {
        join(c);
        c["hooks"] = serde_json::json!({"poststart": [{"path": "/bin/true"}]});
    });
    b.args(&["sleep", "1000"]);
    let mut create = b.oci(&["create", "a"]);
    create
        .env("POD_SECRET_TOKEN", "s3cret")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    assert!(wait_for(create.spawn().unwrap(), "create").success());
    // The pod's other container may trace its own processes (a debugger in it).
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hooks");
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = serde_json::json!(["CAP_SYS_PTRACE"]);
        }
    });
    b.args(&[
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do \
           { tr '\\0' '\\n' < $p/environ | grep POD_SECRET; } 2>/dev/null; \
           for f in $p/fd/*; do case $(readlink $f 2>/dev/null) in \
             *exec.fifo) exec 3<>$f && echo h >&3 && echo forged;; esac; done; \
         done; true",
    ]);
    let out = b.run(&["run", "b"]);
    assert_quiet_success(&out);
    let started = b.run(&["start", "a"]);
    assert_eq!(text(&out.stdout), "", "{}", describe(&out));
    assert_quiet_success(&started);
    assert_eq!(b.state("a")["status"], "running");
}

/// config.md: a hook's timeout is any number of seconds greater than zero; the largest an
/// int64 holds is "never" in practice, not an overflow panic (of `start`, which adds the
/// startContainer hooks' timeouts up, or of the runner that waits for a hook).
#[test]
fn the_largest_hook_timeouts_are_no_panic() {
    let b = Bundle::new("oci-hook-timeout-max");
    let hook = serde_json::json!({"path": "/bin/true", "timeout": i64::MAX});
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [hook], "startContainer": [hook, hook],
            "poststart": [hook], "poststop": [hook],
        })
    });
    b.args(&["true"]);
    assert_quiet_success(&b.run(&["run", "t1"]));
    assert_error(&b.run(&["state", "t1"]), "does not exist");
    // 2^32 + 1 s is not 1 s: a startContainer hook (run by init) of 2 s is not killed.
    let hook = serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 2"],
                                  "timeout": (1i64 << 32) + 1});
    b.edit(|c| c["hooks"] = serde_json::json!({"startContainer": [hook]}));
    assert_quiet_success(&b.run(&["run", "t2"]));
}

/// The state directory is the caller's, but its files are not trusted to be what `create` wrote
/// (SECURITY.md: state is read as untrusted). A state.json replaced by a huge file, or by a
/// FIFO no one writes, is one line of error from `state`, `list`, `kill` and `delete`: not all
/// the memory there is, nor a hang. The container is untouched once the file is back.
#[test]
fn a_state_file_replaced_by_a_huge_one_or_a_fifo_is_refused() {
    let b = Bundle::new("oci-bigstate");
    b.args(&["sleep", "1000"]);
    assert!(b.create("s1", &[]).0.success());
    let state = b.root.join("s1").join("state.json");
    let kept = fs::read(&state).unwrap();
    let huge = fs::File::create(&state).unwrap();
    huge.set_len(1 << 30).unwrap();
    drop(huge);
    for op in ["state", "kill", "delete"] {
        assert_error(&b.run(&[op, "s1"]), "longer than 33554432 bytes");
    }
    assert_error(&b.run(&["list"]), "longer than 33554432 bytes");
    fs::remove_file(&state).unwrap();
    nix::unistd::mkfifo(&state, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    give_to_caller(&state);
    for op in ["state", "kill", "delete"] {
        assert_error(&b.run(&[op, "s1"]), "not a regular file");
    }
    fs::remove_file(&state).unwrap();
    fs::write(&state, &kept).unwrap();
    give_to_caller(&state);
    assert_eq!(b.state("s1")["status"], "created");
    // exec reads the config kept beside it the same way.
    assert_quiet_success(&b.run(&["start", "s1"]));
    let config = b.root.join("s1").join("config.json");
    fs::remove_file(&config).unwrap();
    nix::unistd::mkfifo(&config, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    give_to_caller(&config);
    assert_error(&b.run(&["exec", "s1", "true"]), "not a regular file");
    assert_quiet_success(&b.run(&["delete", "--force", "s1"]));
}

/// features.md and features-linux.md, field by field: only the properties runtime-spec 1.2.0
/// (our ociVersionMax) defines, of the types it gives; and every name listed is one `create`
/// MUST recognize in config.json: both ends of the version range as `ociVersion`, every hook,
/// mount option, namespace, capability, seccomp action, operator and architecture.
#[test]
fn features_lists_only_what_the_spec_defines_and_create_recognizes() {
    let b = Bundle::new("oci-featuresall");
    let out = b.run(&["features"]);
    assert_quiet_success(&out);
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let within = |v: &Value, allowed: &[&str]| {
        for k in keys(v) {
            assert!(
                allowed.contains(&k.as_str()),
                "{k} is not a 1.2.0 property: {v}"
            );
        }
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    within(
        &f,
        &[
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "linux",
            "annotations",
            "potentiallyUnsafeConfigAnnotations",
        ],
    );
    let (min, max) = (
        f["ociVersionMin"].as_str().unwrap(),
        f["ociVersionMax"].as_str().unwrap(),
    );
    let version = |v: &str| -> Vec<u64> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(version(min) <= version(max), "{min} > {max}");
    let l = &f["linux"];
    within(
        l,
        &[
            "namespaces",
            "capabilities",
            "cgroup",
            "seccomp",
            "apparmor",
            "selinux",
            "intelRdt",
            "mountExtensions",
        ],
    );
    within(
        &l["cgroup"],
        &["v1", "v2", "systemd", "systemdUser", "rdma"],
    );
    assert!(l["cgroup"]
        .as_object()
        .unwrap()
        .values()
        .all(Value::is_boolean));
    // linux.resources are applied (where delegated): cgroup v2 is implemented, v1 isn't.
    assert_eq!(
        (&l["cgroup"]["v1"], &l["cgroup"]["v2"]),
        (&false.into(), &true.into())
    );
    let sc = &l["seccomp"];
    within(
        sc,
        &[
            "enabled",
            "actions",
            "operators",
            "archs",
            "knownFlags",
            "supportedFlags",
        ],
    );
    assert_eq!(sc["enabled"], true);
    for flag in strings(&sc["supportedFlags"]) {
        assert!(strings(&sc["knownFlags"]).contains(&flag), "{flag}");
    }
    for (kind, enabled) in [("apparmor", false), ("selinux", false), ("intelRdt", false)] {
        assert_eq!(l[kind], serde_json::json!({"enabled": enabled}), "{kind}");
    }
    assert_eq!(
        l["mountExtensions"],
        serde_json::json!({"idmap": {"enabled": false}})
    );
    for (k, v) in f["annotations"].as_object().unwrap() {
        assert!(!k.is_empty() && v.is_string(), "{k}: {v}");
    }
    let options = strings(&f["mountOptions"]);
    assert!(options.iter().all(|o| !o.contains('=')), "{options:?}");

    // ociVersionMin and ociVersionMax are both accepted as config.json's ociVersion.
    b.args(&["true"]);
    for v in [min, max] {
        b.edit(|c| c["ociVersion"] = v.into());
        assert_quiet_success(&b.run(&["run", "v"]));
    }
    // Every hook kind, every namespace, every capability in every set, every mount option (a
    // bind of its own), every seccomp action (on syscalls busybox's `true` never makes) and
    // operator, every architecture: one container that runs.
    let host_dir = b.path().join("opts");
    fs::create_dir(&host_dir).unwrap();
    give_to_caller(&host_dir);
    let caps = strings(&l["capabilities"]);
    let never = [
        "acct",
        "add_key",
        "kexec_load",
        "reboot",
        "swapon",
        "swapoff",
        "vhangup",
        "syslog",
        "pivot_root",
    ];
    let actions = strings(&sc["actions"]);
    assert!(actions.len() <= never.len());
    let mut rules: Vec<Value> = actions
        .iter()
        .zip(never)
        .map(|(a, n)| serde_json::json!({"names": [n], "action": a}))
        .collect();
    for op in strings(&sc["operators"]) {
        rules.push(
            serde_json::json!({"names": ["delete_module"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 7, "valueTwo": 7, "op": op}]}),
        );
    }
    let hook = serde_json::json!([{"path": "/bin/true"}]);
    b.edit(|c| {
        c["hooks"] = strings(&f["hooks"])
            .iter()
            .map(|h| (h.clone(), hook.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into();
        c["linux"]["namespaces"] = strings(&l["namespaces"])
            .iter()
            .map(|n| serde_json::json!({"type": n}))
            .collect();
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            c["process"]["capabilities"][set] = serde_json::json!(caps);
        }
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "t"}));
        for (i, o) in options.iter().enumerate() {
            mounts.push(
                serde_json::json!({"destination": format!("/tmp/{i}"), "type": "bind",
                "source": host_dir, "options": ["bind", o]}),
            );
        }
        c["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": sc["archs"], "flags": sc["supportedFlags"], "syscalls": rules});
    });
    let out = b.run(&["run", "all"]);
    assert_quiet_success(&out);
    // A flag not listed is refused, not ignored.
    b.edit(|c| c["linux"]["seccomp"]["flags"] = serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"]));
    assert_error(
        &b.run(&["create", "flag"]),
        "unsupported linux.seccomp.flags \"SECCOMP_FILTER_FLAG_LOG\"",
    );
}

/// The pids of the processes whose command line holds `needle` (a container's init is a clone
/// of `create`, whose arguments name the container).
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|c| c.is_ascii_digit()) || name == std::process::id().to_string() {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(name);
        }
    }
    found
}

/// runtime.md: "an error MUST leave the state of the environment as if the operation were
/// never attempted (modulo any possible trivial ancillary changes such as logging)". A create
/// that fails at each stage (the document, a bind source, a mount in init, a prestart hook run
/// by create, a createContainer hook run by init, the pid file written last) leaves no state
/// directory, no process, no mount in the caller's namespace, and the id free.
#[test]
fn a_failed_create_leaves_nothing_at_any_stage() {
    let b = Bundle::new("oci-nothingleft");
    b.args(&["true"]);
    let orig = fs::read(b.path().join("config.json")).unwrap();
    let tag = format!("gone{}", std::process::id());
    type Edit = fn(&mut Value);
    let stages: [(&str, &str, Edit, bool); 6] = [
        (
            "document",
            "not SemVer",
            |c| c["ociVersion"] = "x".into(),
            false,
        ),
        (
            "bind-source",
            "/nonexistent-source",
            |c| {
                c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
                    {"destination": "/tmp", "type": "bind", "source": "/nonexistent-source",
                     "options": ["bind"]}))
            },
            false,
        ),
        (
            "mount-in-init",
            "/tmp",
            |c| {
                c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
                    {"destination": "/tmp", "type": "tmpfs", "source": "t",
                     "options": ["size=banana"]}))
            },
            false,
        ),
        (
            "prestart",
            "prestart",
            |c| c["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/false"}]}),
            false,
        ),
        (
            "create-container",
            "createContainer",
            |c| c["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/false"}]}),
            false,
        ),
        ("pid-file", "pid", |_| {}, true),
    ];
    for (stage, words, edit, bad_pid_file) in stages {
        fs::write(b.path().join("config.json"), &orig).unwrap();
        b.edit(edit);
        let id = format!("{tag}-{stage}");
        let missing = b.path().join("no-such-dir").join("pid");
        let pid_arg = ["--pid-file", missing.to_str().unwrap()];
        let extra: &[&str] = if bad_pid_file { &pid_arg } else { &[] };
        let (status, _, err) = b.create(&id, extra);
        let err = fs::read_to_string(&err).unwrap();
        assert!(!status.success(), "{stage}: create succeeded");
        assert!(err.contains(words), "{stage}: {err}");
        assert_eq!(err.lines().count(), 1, "{stage}: {err}");
        assert_error(&b.run(&["state", &id]), "container does not exist");
        assert!(
            !b.root.join(&id).exists(),
            "{stage}: its state directory is left"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_naming(&id).is_empty() {
            assert!(
                Instant::now() < deadline,
                "{stage}: processes left: {:?}",
                processes_naming(&id)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(b.path_str()), "{stage}: {mounts}");
    }
    // The ids are free: the last stage's id, created again with a good config, runs.
    fs::write(b.path().join("config.json"), &orig).unwrap();
    assert_quiet_success(&b.run(&["run", &format!("{tag}-pid-file")]));
}

/// As above, with linux.resources in a delegated cgroup: a create that fails after the
/// container's cgroup was made (a createContainer hook fails in init, which is in it) removes
/// that cgroup.
#[test]
fn a_failed_create_leaves_no_cgroup() {
    let cg = DelegatedCgroup::new("oci-cgfail");
    let b = Bundle::new("oci-cgfail");
    b.args(&["true"]);
    b.edit(|c| {
        c["linux"]["resources"] = serde_json::json!({"unified": {"cgroup.max.descendants": "3"}});
        c["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/false"}]});
    });
    let out = output_of(cg.inside(&b.oci(&["create", "cf1"])));
    assert_error(&out, "createContainer");
    assert!(
        !cg.dir.join("ns-rootless-oci-cf1").exists(),
        "the cgroup is left"
    );
    assert!(!b.root.join("cf1").exists());
}

/// config.md: oomScoreAdj unset leaves the process's as it is: the caller's (what conmon or
/// containerd set for themselves), inherited through create, init and the process; `exec`'s
/// process likewise keeps that of the exec caller.
#[test]
fn oom_score_adj_unset_leaves_the_callers() {
    let b = Bundle::new("oci-oomunset");
    b.edit(|c| {
        c["process"].as_object_mut().unwrap().remove("oomScoreAdj");
    });
    // (A detached container keeps run's stdio: those go to files then.)
    let with_adj = |adj: i32, args: &[&str]| {
        let mut cmd = caller_command("/bin/sh");
        let detached = args.contains(&"--detach");
        let redirect = if detached { " >u2.out 2>u2.err" } else { "" };
        cmd.arg("-c")
            .arg(format!(
                "echo {adj} > /proc/self/oom_score_adj && exec \"$0\" \"$@\"{redirect}"
            ))
            .arg(oci_binary())
            .arg("--root")
            .arg(&b.root)
            .args(args)
            .current_dir(b.path());
        output_of(cmd)
    };
    b.args(&["cat", "/proc/self/oom_score_adj"]);
    let out = with_adj(321, &["run", "u1"]);
    assert_eq!(text(&out.stdout), "321\n", "{}", describe(&out));
    assert_quiet_success(&out);
    b.args(&["sleep", "1000"]);
    let out = with_adj(123, &["run", "--detach", "u2"]);
    assert_quiet_success(&out);
    assert_eq!(fs::read_to_string(b.path().join("u2.err")).unwrap(), "");
    let out = with_adj(456, &["exec", "u2", "cat", "/proc/self/oom_score_adj"]);
    assert_eq!(text(&out.stdout), "456\n", "{}", describe(&out));
    let init = b.state("u2")["pid"].as_i64().unwrap();
    let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let child: i64 = children.split_whitespace().next().unwrap().parse().unwrap();
    let adj = fs::read_to_string(format!("/proc/{child}/oom_score_adj")).unwrap();
    assert_eq!(adj, "123\n");
    assert_quiet_success(&b.run(&["delete", "--force", "u2"]));
}

/// config.md: "Runtimes MUST ignore consoleSize if terminal is false or unset." The process's
/// stdio are create's, here a terminal of the caller's whose size must stay what it was.
#[test]
fn console_size_is_ignored_without_a_terminal() {
    let b = Bundle::new("oci-consolesize");
    b.args(&["stty", "size"]);
    b.edit(|c| c["process"]["consoleSize"] = serde_json::json!({"height": 30, "width": 100}));
    let size = nix::pty::Winsize {
        ws_row: 10,
        ws_col: 20,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).unwrap();
    let err = b.path().join("cs1.err");
    let mut cmd = b.oci(&["run", "cs1"]);
    cmd.stdin(fs::File::from(pty.slave.try_clone().unwrap()))
        .stdout(fs::File::from(pty.slave))
        .stderr(fs::File::create(&err).unwrap());
    let status = wait_for(cmd.spawn().unwrap(), "run");
    drop(cmd);
    let said = fs::read_to_string(&err).unwrap();
    assert!(status.success() && said.is_empty(), "{status}: {said}");
    let mut got = [0u8; 64];
    let n = nix::unistd::read(&pty.master, &mut got).unwrap();
    assert_eq!(text(&got[..n]).replace('\r', ""), "10 20\n");
    let mut now = size;
    nix::ioctl_read_bad!(get_winsize, nix::libc::TIOCGWINSZ, nix::pty::Winsize);
    // SAFETY: TIOCGWINSZ fills a struct winsize, which `now` is.
    unsafe { get_winsize(pty.master.as_raw_fd(), &mut now) }.unwrap();
    assert_eq!((now.ws_row, now.ws_col), (10, 20));
}

/// runtime-tools validation/start, last case; config.md: `process` is OPTIONAL, "REQUIRED when
/// start is called"; runtime.md: start "MUST generate an error if the process was not set".
/// So create succeeds without one, and start is an error that leaves the container stopped
/// (it has nothing to run; runtime-tools then waits for `stopped` and deletes it).
#[test]
fn start_without_a_process_is_an_error_and_the_container_stops() {
    let b = Bundle::new("oci-noprocess");
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let (status, out, err) = b.create("np1", &[]);
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    assert_eq!(fs::read_to_string(&err).unwrap(), "");
    assert_eq!(b.state("np1")["status"], "created");
    assert_error(&b.run(&["start", "np1"]), "no process");
    b.wait_status("np1", "stopped");
    assert_eq!(fs::read_to_string(&out).unwrap(), "");
    assert_quiet_success(&b.run(&["delete", "np1"]));
    // `run` is create and start: the same error, and nothing is left.
    assert_error(&b.run(&["run", "np2"]), "no process");
    assert_error(&b.run(&["state", "np2"]), "does not exist");
}

/// runtime-tools validation/hooks_stdin: prestart, poststart and poststop hooks (the rootfs's
/// own /bin/sh by its host path, a timeout of 1 s) get the state on stdin: the container's id,
/// its bundle, init's pid (as `state` says after create; poststop aside), the annotations as
/// given, and the status. runtime-tools expects "created" for prestart, written before
/// runtime.md had "creating"; runc and crun say "creating", as we do.
#[test]
fn hook_stdin_holds_the_state_as_runtime_tools_checks() {
    let b = Bundle::new("oci-hookstdin");
    let out_dir = b.path().join("hookout");
    fs::create_dir(&out_dir).unwrap();
    give_to_caller(&out_dir);
    let sh = busybox_rootfs().join("bin/sh");
    let hook = |name: &str| {
        serde_json::json!([{"path": sh, "timeout": 1,
            "args": ["sh", "-c", format!("cat > {}", out_dir.join(name).display())]}])
    };
    b.args(&["true"]);
    b.edit(|c| {
        c["annotations"] =
            serde_json::json!({"org.opencontainers.runtime-tools": "hook stdin test"});
        c["hooks"] = serde_json::json!({"prestart": hook("prestart"),
            "poststart": hook("poststart"), "poststop": hook("poststop")});
    });
    assert!(b.create("hs1", &[]).0.success());
    let pid = b.state("hs1")["pid"].clone();
    assert_quiet_success(&b.run(&["start", "hs1"]));
    b.wait_status("hs1", "stopped");
    assert_quiet_success(&b.run(&["delete", "hs1"]));
    for (name, status) in [
        ("prestart", "creating"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let s: Value = serde_json::from_slice(&fs::read(out_dir.join(name)).unwrap()).unwrap();
        assert_eq!(s["id"], "hs1", "{name}");
        assert_eq!(s["bundle"], b.path_str(), "{name}");
        assert_eq!(
            s["annotations"],
            serde_json::json!({"org.opencontainers.runtime-tools": "hook stdin test"}),
            "{name}"
        );
        assert_eq!(s["status"], status, "{name}");
        if name != "poststop" {
            assert_eq!(s["pid"], pid, "{name}");
        }
    }
}

/// runtime-tools validation/killsig and kill_no_effect: TERM, USR1 and USR2 reach the
/// container's process (a shell trapping each); once it is stopped, `kill` is an error that
/// changes nothing in its state.
#[test]
fn kill_sends_the_named_signal_and_a_stopped_container_is_untouched() {
    let b = Bundle::new("oci-killsig");
    let seen = b.path().join("seen");
    fs::create_dir(&seen).unwrap();
    give_to_caller(&seen);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/tmp", "type": "bind", "source": seen, "options": ["rbind"]}))
    });
    for sig in ["TERM", "USR1", "USR2"] {
        let id = format!("ks-{sig}");
        b.args(&[
            "sh",
            "-c",
            &format!("trap 'touch /tmp/{sig}' {sig}; touch /tmp/ready-{sig}; sleep 100 & wait $!"),
        ]);
        assert!(b.create(&id, &[]).0.success());
        assert_quiet_success(&b.run(&["start", &id]));
        // Once the trap is set (the shell says so), one signal.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.join(format!("ready-{sig}")).exists() {
            assert!(Instant::now() < deadline, "the shell never set its trap");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_quiet_success(&b.run(&["kill", &id, sig]));
        b.wait_status(&id, "stopped");
        let before = b.state(&id);
        assert_error(&b.run(&["kill", &id, "KILL"]), "container not running");
        assert_eq!(b.state(&id), before, "{sig}");
        assert_quiet_success(&b.run(&["delete", &id]));
        assert!(seen.join(sig).exists(), "{sig} never reached the process");
    }
}

/// runtime-tools validation/config_updates_without_affect: config.json replaced after create
/// (here by one with no process at all) changes nothing: start runs what create was given.
#[test]
fn config_updates_after_create_do_not_affect_the_container() {
    let b = Bundle::new("oci-cfgupdate");
    b.args(&["sh", "-c", "echo $((1+1)) $(ulimit -n)"]);
    b.edit(|c| {
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 1000}])
    });
    let (status, out, _) = b.create("cu1", &[]);
    assert!(status.success());
    fs::write(b.path().join("config.json"), br#"{"ociVersion": "1.0.0"}"#).unwrap();
    assert_quiet_success(&b.run(&["start", "cu1"]));
    b.wait_status("cu1", "stopped");
    assert_eq!(fs::read_to_string(&out).unwrap(), "2 1000\n");
    assert_quiet_success(&b.run(&["delete", "cu1"]));
}

/// runtime-tools validation/mounts (a tmpfs with nosuid, strictatime, mode=755, size=1k is
/// there as asked), process_rlimits_fail and process_capabilities_fail (a name the kernel has
/// no interface for is an error at create, which leaves nothing).
#[test]
fn runtime_tools_mounts_and_unknown_rlimit_or_capability() {
    let b = Bundle::new("oci-rtmounts");
    b.args(&["sh", "-c", "grep ' /tmp ' /proc/mounts; stat -c %a /tmp"]);
    let orig = fs::read(b.path().join("config.json")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=1k"]}))
    });
    let out = b.run(&["run", "m1"]);
    assert_quiet_success(&out);
    let said = text(&out.stdout);
    let mut lines = said.lines();
    let mount = lines.next().unwrap();
    let fields: Vec<&str> = mount.split_whitespace().collect();
    assert_eq!(&fields[1..3], ["/tmp", "tmpfs"], "{said}");
    assert!(fields[3].split(',').any(|o| o == "nosuid"), "{said}");
    assert_eq!(lines.next(), Some("755"), "{said}");
    type Edit = fn(&mut Value);
    let refused: [(&str, Edit); 2] = [
        (
            "RLIMIT_TEST",
            |c| {
                c["process"]["rlimits"] =
                    serde_json::json!([{"type": "RLIMIT_TEST", "soft": 1024, "hard": 1024}])
            },
        ),
        ("CAP_TEST", |c| {
            c["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_TEST"])
        }),
    ];
    for (words, edit) in refused {
        fs::write(b.path().join("config.json"), &orig).unwrap();
        b.edit(edit);
        assert_error(&b.run(&["create", "m2"]), words);
        assert_error(&b.run(&["state", "m2"]), "does not exist");
    }
}

/// config.md: a runtime MUST generate an error for mount options it can't honour. A bind
/// mount's option that isn't one of ours (a typo, or `nosymfollow`, which asks the kernel not
/// to follow symlinks there) is silently dropped today: a bind can't take filesystem data, so
/// it must be an error (or, for nosymfollow, MOUNT_ATTR_NOSYMFOLLOW), never ignored.
#[test]
fn a_bind_option_we_do_not_know_is_an_error_not_dropped() {
    let b = Bundle::new("oci-bindopt");
    let dir = b.path().join("shared");
    fs::create_dir(&dir).unwrap();
    give_to_caller(&dir);
    std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
    b.args(&["cat", "/tmp/link"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/tmp", "type": "bind", "source": dir,
             "options": ["rbind", "nosymfollow"]}))
    });
    // Honoured: the symlink is not followed there.
    let out = b.run(&["run", "bo1"]);
    assert!(!out.status.success(), "{}", describe(&out));
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        let last = mounts.len() - 1;
        mounts[last]["options"] = serde_json::json!(["rbind", "r0"]);
    });
    assert_error(&b.run(&["create", "bo2"]), "r0");
    assert_error(&b.run(&["state", "bo2"]), "does not exist");
}

/// runtime-tools' runtimetest, run inside the container by every validation that checks the
/// config from within (RuntimeInsideValidate), first checks that each of config.json's mounts
/// is in /proc/self/mountinfo with its destination, type and *source* (validateMountsExist).
/// A filesystem's source is what the config says ("tmpfs", "proc", "shm"...); today every new
/// filesystem is mounted with the source "none", so all of those validations fail.
#[test]
fn a_filesystems_source_is_the_configs() {
    let b = Bundle::new("oci-mountsource");
    b.args(&[
        "sh",
        "-c",
        "grep -E ' /(tmp|proc|dev/shm) ' /proc/self/mounts | cut -d' ' -f1,2",
    ]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/tmp", "type": "tmpfs", "source": "mytmp"}))
    });
    let out = b.run(&["run", "ms1"]);
    assert_quiet_success(&out);
    let said = text(&out.stdout);
    let mut got: Vec<&str> = said.lines().collect();
    got.sort();
    assert_eq!(got, ["mytmp /tmp", "proc /proc", "shm /dev/shm"]);
}

/// youki's contest (kill_test, and test_outside_container's cleanup) and runtime-tools' Clean
/// run `kill ID 9` and then, at once or nearly, `delete ID` without --force. With delete
/// refusing a container that is not stopped, `kill` with SIGKILL returns once init has ended,
/// so the delete that follows always finds the container stopped.
#[test]
fn delete_right_after_kill_9_succeeds() {
    let b = Bundle::new("oci-killdelete");
    b.args(&["sleep", "1000"]);
    for i in 0..10 {
        let id = format!("kd{i}");
        assert!(b.create(&id, &[]).0.success());
        if i % 2 == 1 {
            assert_quiet_success(&b.run(&["start", &id]));
        }
        assert_quiet_success(&b.run(&["kill", &id, "9"]));
        assert_quiet_success(&b.run(&["delete", &id]));
    }
}

/// config.md 1.2.0 (our ociVersionMax) process fields youki's contest checks (io_priority,
/// scheduler): `ioPriority` and `scheduler` apply to the container's process and to what
/// `exec` starts; `execCPUAffinity` only to the latter (config.md: "not applicable to the
/// container's init process"; CRI-O sets it to keep exec'd processes off the workload's CPUs).
/// They used to be parsed away unseen, where config.md wants them honoured or an error.
#[test]
fn io_priority_scheduler_and_cpu_affinity_apply_to_the_process() {
    let b = Bundle::new("oci-sched");
    let show = "ionice -p $$; grep Cpus_allowed_list /proc/self/status | cut -f2; \
                cut -d' ' -f19,41 /proc/self/stat";
    b.args(&["sh", "-c", show]);
    b.edit(|c| {
        c["process"]["ioPriority"] = serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
        c["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_BATCH", "nice": 5});
        c["process"]["execCPUAffinity"] = serde_json::json!({"final": "0"});
    });
    let ours = fs::read_to_string("/proc/self/status").unwrap();
    let ours = ours
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let out = b.run(&["run", "sc1"]);
    assert_quiet_success(&out);
    assert_eq!(
        text(&out.stdout),
        format!("best-effort: prio 6\n{ours}\n5 3\n")
    );
    b.args(&["sleep", "100"]);
    assert!(b.create("sc2", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "sc2"]));
    let out = b.run(&["exec", "sc2", "sh", "-c", show]);
    assert_quiet_success(&out);
    assert_eq!(text(&out.stdout), "best-effort: prio 6\n0\n5 3\n");
    // One the kernel refuses a rootless container is an error that says why.
    let out = exec_process(
        &b,
        "sc2",
        &serde_json::json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "scheduler": {"policy": "SCHED_FIFO", "priority": 10}}),
    );
    assert_error(&out, "CAP_SYS_NICE");
    assert_quiet_success(&b.run(&["kill", "sc2", "9"]));
    assert_quiet_success(&b.run(&["delete", "sc2"]));
}

/// One container whose state can't be read doesn't hide the others from `list`: they are
/// listed, the bad one is named on stderr, and the exit status says something was amiss.
#[test]
fn list_names_an_unreadable_container_and_lists_the_others() {
    let b = Bundle::new("oci-listbad");
    b.args(&["sleep", "1000"]);
    for id in ["lb1", "lb2"] {
        assert!(b.create(id, &[]).0.success());
    }
    let state = b.root.join("lb1").join("state.json");
    let kept = fs::read(&state).unwrap();
    fs::write(&state, b"{not json").unwrap();
    for format in ["table", "json"] {
        let out = b.run(&["list", "--format", format]);
        assert_error(&out, "container lb1 not listed");
        assert!(text(&out.stdout).contains("lb2"), "{}", describe(&out));
        assert!(!text(&out.stdout).contains("lb1"), "{}", describe(&out));
    }
    fs::write(&state, kept).unwrap();
    for id in ["lb1", "lb2"] {
        assert_quiet_success(&b.run(&["delete", "--force", id]));
    }
}

/// youki's contest create/empty_id: an empty id (given, not missing) is an error for every
/// operation, and creates nothing.
#[test]
fn an_empty_id_is_refused_by_every_operation() {
    let b = Bundle::new("oci-emptyid");
    for op in ["create", "start", "state", "kill", "delete"] {
        assert_error(&b.run(&[op, ""]), "invalid container id \"\"");
    }
    let list = b.run(&["list", "-q"]);
    assert_quiet_success(&list);
    assert_eq!(text(&list.stdout), "");
}

/// config.md `domainname` (youki's domainname case): the container's UTS namespace gets it, as
/// it gets `hostname`. Refused today as unsupported (an error, which config.md allows, but
/// setdomainname(2) in a UTS namespace of the container's own is as easy as sethostname).
#[test]
fn domainname_is_set_in_the_containers_uts_namespace() {
    let b = Bundle::new("oci-domainname");
    b.args(&["cat", "/proc/sys/kernel/domainname"]);
    b.edit(|c| c["domainname"] = "example.org".into());
    let out = b.run(&["run", "dn1"]);
    assert_quiet_success(&out);
    assert_eq!(text(&out.stdout), "example.org\n");
    // As a hostname, it needs a UTS namespace of the container's own.
    b.edit(|c| {
        without_namespace(c, "uts");
        c.as_object_mut().unwrap().remove("hostname");
    });
    assert_error(&b.run(&["create", "dn2"]), "domainname");
    assert_error(&b.run(&["state", "dn2"]), "does not exist");
}

/// youki's contest runs `--root R create ID --bundle B` (options after the id) from another
/// directory; runtime-tools `create --bundle B ID`. Both make the container of that bundle.
#[test]
fn create_takes_the_bundle_before_or_after_the_id() {
    let b = Bundle::new("oci-bundlearg");
    b.args(&["true"]);
    for (id, args) in [
        ("ba1", vec!["create", "ba1", "--bundle", b.path_str()]),
        ("ba2", vec!["create", "--bundle", b.path_str(), "ba2"]),
    ] {
        let mut cmd = b.oci(&args);
        cmd.current_dir("/");
        let err = b.path().join(format!("{id}.err"));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap());
        assert!(wait_for(cmd.spawn().unwrap(), "create").success());
        assert_eq!(fs::read_to_string(&err).unwrap(), "");
        let st = b.state(id);
        assert_eq!(
            (st["status"].as_str(), st["bundle"].as_str()),
            (Some("created"), Some(b.path_str()))
        );
        assert_quiet_success(&b.run(&["delete", "--force", id]));
    }
}

/// runtime-tools' generate.New("linux"), the config every validation case starts from
/// (util.GetDefaultGenerator), seccomp aside: no user namespace (we add one mapping 0 to the
/// caller), a device cgroup rule denying everything, all five capability sets, a writable
/// root. It runs. (Its devpts `gid=5`: devpts_gid_the_user_namespace_does_not_map.)
#[test]
fn runtime_tools_default_config_runs() {
    let b = Bundle::new("oci-rtdefault");
    let caps = serde_json::json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    let config = serde_json::json!({
        "ociVersion": "1.0.2-dev",
        "hostname": "mrsdalloway",
        "root": {"path": "rootfs", "readonly": false},
        "process": {
            "terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "hostname; id -u"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "capabilities": {"bounding": caps, "permitted": caps, "inheritable": caps,
                "effective": caps, "ambient": caps}
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}]
        }
    });
    fs::write(
        b.path().join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let out = b.run(&["run", "rt1"]);
    assert_quiet_success(&out);
    assert_eq!(text(&out.stdout), "mrsdalloway\n0\n");
}

/// runtime-tools' default config mounts devpts with `gid=5` (tty), a group that a rootless
/// container's one-id user namespace doesn't map: the kernel refuses the mount (EINVAL), so
/// every runtime-tools case fails at create. As the option only names the group of new pty
/// slaves, and none but the container's own can be mapped, an unmapped `gid=`/`uid=` of devpts
/// should be dropped (devpts then uses the container's root group), said with --debug.
#[test]
fn devpts_gid_the_user_namespace_does_not_map() {
    let b = Bundle::new("oci-devptsgid");
    b.args(&[
        "sh",
        "-c",
        "grep ' /dev/pts ' /proc/self/mounts | cut -d' ' -f3",
    ]);
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev/pts" {
                m["options"].as_array_mut().unwrap().push("gid=5".into());
            }
        }
    });
    let out = b.run(&["run", "dg1"]);
    assert_quiet_success(&out);
    assert_eq!(text(&out.stdout), "devpts\n");
    // Said under --debug only.
    let out = b.run(&["--debug", "run", "dg2"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("devpts option gid=5 dropped"),
        "{}",
        describe(&out)
    );
}

/// runtime-linux.md "Dev symbolic links": /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr
/// point into /proc/self/fd (runtime-tools' runtimetest checks them, and /dev/ptmx's link to
/// pts/ptmx, in every inside validation).
#[test]
fn the_dev_symlinks_are_there() {
    let b = Bundle::new("oci-devlinks");
    b.args(&[
        "sh",
        "-c",
        "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done",
    ]);
    let out = b.run(&["run", "dl1"]);
    assert_quiet_success(&out);
    assert_eq!(
        text(&out.stdout),
        "fd /proc/self/fd\nstdin /proc/self/fd/0\nstdout /proc/self/fd/1\n\
         stderr /proc/self/fd/2\nptmx pts/ptmx\n"
    );
}

/// runtime.md's rule for errors, for `exec`: one that fails (no such command, a cwd that
/// isn't there) leaves no pid file and no process, and the container as it was.
#[test]
fn a_failed_exec_leaves_nothing() {
    let b = Bundle::new("oci-execfail");
    running(&b, "xf1");
    let before = b.state("xf1");
    let pid_file = b.path().join("exec.pid");
    let pf = pid_file.to_str().unwrap();
    let tag = format!("nothere{}", std::process::id());
    for args in [
        vec!["exec", "--pid-file", pf, "xf1", tag.as_str()],
        vec![
            "exec",
            "--pid-file",
            pf,
            "--cwd",
            "/nonexistent",
            "xf1",
            "true",
        ],
    ] {
        let out = b.run(&args);
        assert!(!out.status.success(), "{}", describe(&out));
        assert_eq!(text(&out.stderr).lines().count(), 1, "{}", describe(&out));
        assert!(!pid_file.exists(), "{args:?}: the pid file is left");
    }
    assert!(processes_naming(&tag).is_empty());
    let init = before["pid"].as_i64().unwrap();
    let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    assert_eq!(children.split_whitespace().count(), 1, "{children}");
    assert_eq!(b.state("xf1"), before);
    assert_quiet_success(&b.run(&["delete", "--force", "xf1"]));
}

/// youki's contest hooks/invoke: two of each prestart, poststart and poststop hook (host
/// /bin/sh appending to one file) run in the order listed, each kind at its step.
#[test]
fn hooks_of_each_kind_run_in_the_order_listed() {
    let b = Bundle::new("oci-hookorder");
    let log = b.path().join("hook.log");
    let hook = |what: &str| {
        serde_json::json!({"path": "/bin/sh",
            "args": ["sh", "-c", format!("echo '{what} called' >> {}", log.display())]})
    };
    b.args(&["true"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "prestart": [hook("pre-start1"), hook("pre-start2")],
            "poststart": [hook("post-start1"), hook("post-start2")],
            "poststop": [hook("post-stop1"), hook("post-stop2")]});
    });
    assert!(b.create("ho1", &[]).0.success());
    assert_quiet_success(&b.run(&["start", "ho1"]));
    b.wait_status("ho1", "stopped");
    assert_quiet_success(&b.run(&["delete", "ho1"]));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "pre-start1 called\npre-start2 called\npost-start1 called\npost-start2 called\n\
         post-stop1 called\npost-stop2 called\n"
    );
}

/// config.md: `hostname` and `domainname` change the container's UTS namespace, which without
/// `uts` in linux.namespaces is the runtime's (the host's): not ours to change, and not to be
/// ignored either, so an error that says why.
#[test]
fn a_hostname_without_a_uts_namespace_is_refused() {
    let b = Bundle::new("oci-hostnouts");
    b.args(&["hostname"]);
    b.edit(|c| without_namespace(c, "uts"));
    assert_error(&b.run(&["create", "hu1"]), "hostname");
    assert_error(&b.run(&["state", "hu1"]), "does not exist");
    // Without a hostname, the runtime's UTS namespace is inherited as config.md says.
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
    });
    let out = b.run(&["run", "hu2"]);
    assert_quiet_success(&out);
    assert_eq!(
        text(&out.stdout).trim(),
        nix::unistd::gethostname().unwrap().to_str().unwrap()
    );
}

/// A namespace `path` is validated once and the namespace validated is the one joined: the
/// runtime decides from what it opened whether the container shares its own network namespace
/// (then the process gets `--share-net`'s Landlock abstract-socket scope), so it must join that
/// same file, not open the path again. Here the path is a symlink a neighbour flips between the
/// runtime's own network namespace (`/proc/self/ns/net`, as the runtime resolves it) and another
/// one; the runtime is uid 0 of a user namespace that owns its network namespace (as under
/// rootless podman), so joining its own is allowed. Whichever namespace the container ends up
/// in, a process in the runtime's one must not reach the runtime's abstract sockets.
#[test]
fn a_namespace_path_is_joined_as_it_was_validated() {
    use std::io::{BufRead, Write};
    use std::os::linux::net::SocketAddrExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    common::require(
        common::runner_is_root(),
        "the listener is put in the caller's network namespace with setns, which needs root",
    );
    let b = Bundle::new("oci-netns-toctou");
    let rootfs = common::busybox_rootfs_variant("oci-netns-toctou-rootfs", |root| {
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
        common::copy_executable(common::probe(), &root.join("probe"));
    });
    fs::remove_file(b.path().join("rootfs")).unwrap();
    std::os::unix::fs::symlink(rootfs.path(), b.path().join("rootfs")).unwrap();
    let name = format!("ns-rootless-oci-toctou-{}", std::process::id());
    let link = b.path().join("netns");
    let script = format!("readlink /proc/self/ns/net; /probe syscall connect-abstract {name}");
    b.args(&["sh", "-c", &script]);
    b.edit(|c| {
        without_namespace(c, "user");
        without_namespace(c, "network");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "network", "path": link}));
        let linux = c["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}));
    });
    // The caller as uid 0 of a user namespace with a network namespace of its own (N0), and a
    // second network namespace (N1) held by a sleep; then 40 containers, one per line.
    let mut cmd = caller_command("unshare");
    cmd.args(["--user", "--map-root-user", "--net", "sh", "-c"])
        .arg(
            "unshare --net sleep 1000 & h=$!; echo \"$$ $h\"; read go; i=0; \
             while [ $i -lt 40 ]; do i=$((i+1)); \"$0\" --root \"$1\" run \"t$i\" 2>&1 \
             | tr '\\n' ' '; echo; done; kill $h",
        )
        .arg(oci_binary())
        .arg(&b.root)
        .current_dir(b.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let (shell, holder) = first.split_once(' ').unwrap();
    let n0_path = format!("/proc/{shell}/ns/net");
    let n1_path = format!("/proc/{holder}/ns/net");
    let n0 = fs::read_link(&n0_path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_link(&n1_path).ok().as_ref() == Some(&n0) {
        assert!(
            Instant::now() < deadline,
            "unshare made no second network namespace"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A listener in N0, the runtime's own network namespace.
    let n0_file = fs::File::open(&n0_path).unwrap();
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = std::thread::spawn(move || {
        nix::sched::setns(&n0_file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        std::os::unix::net::UnixListener::bind_addr(&addr).unwrap()
    })
    .join()
    .unwrap();
    // The neighbour: flips the symlink as fast as it can.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, link) = (stop.clone(), link.clone());
        let tmp = b.path().join("netns.tmp");
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for target in ["/proc/self/ns/net", n1_path.as_str()] {
                    let _ = fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(target, &tmp).unwrap();
                    fs::rename(&tmp, &link).unwrap();
                }
            }
        })
    };
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let runs: Vec<String> = lines.map(|l| l.unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    let _ = child.wait();
    let n0 = n0.to_string_lossy().into_owned();
    assert_eq!(runs.len(), 40, "{runs:?}");
    assert!(
        runs.iter().any(|r| r.starts_with(&format!("{n0} "))),
        "no container was in the runtime's network namespace: {runs:?}"
    );
    let escaped: Vec<&String> = runs
        .iter()
        .filter(|r| r.starts_with(&format!("{n0} ")) && !r.contains("EPERM"))
        .collect();
    assert!(
        escaped.is_empty(),
        "in the runtime's network namespace without the Landlock scope: {escaped:?}"
    );
}
