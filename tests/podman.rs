//! podman as a real client of `ns-rootless-oci`: `podman --runtime <our binary>` as the
//! unprivileged caller, on an image imported from the busybox rootfs, with `--network none`.
//! Each test has its own podman storage and runtime directories (HOME and XDG dirs in a temp
//! dir), and stops podman's pause process when done.

#[allow(dead_code)]
mod common;

use common::{
    busybox_rootfs, caller_command, caller_uid, describe, give_to_caller, host_tool, oci_binary,
    output_of, text,
};
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

const IMAGE: &str = "localhost/nsr-busybox";

/// A short directory for podman's HOME and XDG dirs. Not a common::TempDir: with a path as long
/// as theirs, podman waits 20 s for every container to exit (conmon's paths under it pass a
/// limit; runc behaves the same here), so the tests would only measure that.
struct ShortDir(PathBuf);

impl ShortDir {
    fn new() -> ShortDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = PathBuf::from(format!("/tmp/nsrpm.{}.{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap();
        common::set_mode(&path, 0o755);
        ShortDir(path)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ShortDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The named user with subordinate ids that scripts/test.sh makes (as root).
const SUBID_USER: &str = "nsr-subids";

/// (uid, gid) of [`SUBID_USER`]; a test that needs it fails without it.
fn subid_user() -> (u32, u32) {
    let user = nix::unistd::User::from_name(SUBID_USER)
        .expect("look up a user by name")
        .unwrap_or_else(|| {
            panic!(
                "no user {SUBID_USER}: run scripts/test.sh as root, which makes it with \
                 /etc/subuid and /etc/subgid ranges"
            )
        });
    (user.uid.as_raw(), user.gid.as_raw())
}

struct Podman {
    dir: ShortDir,
    /// Who runs podman: the harness's caller, or this (uid, gid).
    user: Option<(u32, u32)>,
}

impl Podman {
    fn new(label: &str) -> Podman {
        Podman::as_user(label, None)
    }

    fn as_user(_label: &str, user: Option<(u32, u32)>) -> Podman {
        let dir = ShortDir::new();
        for sub in ["home", "run", "config", "data", "vol"] {
            let path = dir.path().join(sub);
            fs::create_dir(&path).unwrap();
            match user {
                Some((uid, gid)) => std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap(),
                None => give_to_caller(&path),
            }
        }
        common::set_mode(&dir.path().join("run"), 0o700);
        let p = Podman { dir, user };
        // The image: the busybox rootfs, every file owned by root (the only id a user without
        // subordinate ids has in podman's user namespace).
        let tar = p.dir.path().join("busybox.tar");
        let out = output_of({
            let mut c = common::runner_command(host_tool("tar"));
            c.args(["--owner=0", "--group=0", "-C"])
                .arg(busybox_rootfs())
                .arg("-cf")
                .arg(&tar)
                .arg(".");
            c
        });
        assert!(out.status.success(), "{}", describe(&out));
        let out = p.run(&["import", tar.to_str().unwrap(), IMAGE]);
        assert!(out.status.success(), "{}", describe(&out));
        p
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// `podman --runtime ns-rootless-oci ARGS...` as the caller, with its own dirs.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match self.user {
            None => caller_command(host_tool("env")),
            Some((uid, gid)) => {
                let mut cmd = common::runner_command(host_tool("setpriv"));
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(host_tool("env"));
                cmd
            }
        };
        cmd.arg(format!("HOME={}", self.path("home").display()))
            .arg(format!("XDG_RUNTIME_DIR={}", self.path("run").display()))
            .arg(format!("XDG_CONFIG_HOME={}", self.path("config").display()))
            .arg(format!("XDG_DATA_HOME={}", self.path("data").display()))
            .arg(host_tool("podman"))
            .arg("--runtime")
            .arg(oci_binary())
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        output_of(self.command(args))
    }

    /// `podman run --rm --network none [OPTIONS] IMAGE COMMAND...`
    fn container(&self, options: &[&str], command: &[&str]) -> Output {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(options);
        args.push(IMAGE);
        args.extend_from_slice(command);
        self.run(&args)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-a", "-f", "-t", "0"]);
        // podman's pause process (it keeps podman's user namespace) would outlive the test.
        let pid_file = self.path("run").join("libpod/tmp/pause.pid");
        if let Some(pid) = fs::read_to_string(pid_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

fn assert_out(out: &Output, code: i32, stdout: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    assert_eq!(text(&out.stdout), stdout, "{}", describe(out));
}

#[test]
fn exit_codes_are_the_commands() {
    let p = Podman::new("podman-codes");
    assert_out(&p.container(&[], &["true"]), 0, "");
    assert_out(&p.container(&[], &["sh", "-c", "exit 42"]), 42, "");
    let out = p.container(&[], &["no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("executable file not found in $PATH"),
        "{}",
        describe(&out)
    );
    let out = p.container(&[], &[common::ROOTFS_NOT_EXECUTABLE]);
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        describe(&out)
    );
}

#[test]
fn hostname_env_workdir_and_volumes() {
    let p = Podman::new("podman-basics");
    let out = p.container(
        &["--hostname", "hh", "-e", "FOO=bar", "-w", "/etc"],
        &["sh", "-c", "hostname; echo $FOO; pwd"],
    );
    assert_out(&out, 0, "hh\nbar\n/etc\n");
    let vol = format!("{}:/vol", p.path("vol").display());
    let out = p.container(&["-v", &vol], &["sh", "-c", "echo x > /vol/f; id -u"]);
    assert_out(&out, 0, "0\n");
    let meta = fs::metadata(p.path("vol").join("f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        meta.uid(),
        caller_uid(),
        "files written to a volume are the user's"
    );
}

#[test]
fn read_only_user_and_capabilities() {
    let p = Podman::new("podman-security");
    let out = p.container(
        &["--read-only"],
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null || echo ro; touch /tmp/y && echo tmp-rw",
        ],
    );
    assert_out(&out, 0, "ro\ntmp-rw\n");
    assert_out(&p.container(&["--user", "0:0"], &["id", "-u"]), 0, "0\n");
    // Without subordinate ids podman's namespace has one id: another one is a clear error.
    let out = p.container(&["--user", "1000:1000"], &["id"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("not mapped"),
        "{}",
        describe(&out)
    );
    let caps = |options: &[&str]| {
        let out = p.container(options, &["grep", "^CapEff", "/proc/self/status"]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        text(&out.stdout)
    };
    // podman's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP
    // SETGID SETPCAP SETUID SYS_CHROOT.
    assert_eq!(caps(&[]), "CapEff:\t00000000800405fb\n");
    assert_eq!(caps(&["--cap-drop", "all"]), "CapEff:\t0000000000000000\n");
}

#[test]
fn seccomp_default_profile_versus_unconfined() {
    let p = Podman::new("podman-seccomp");
    let mode = |options: &[&str]| {
        let out = p.container(options, &["grep", "^Seccomp:", "/proc/self/status"]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        text(&out.stdout)
    };
    assert_eq!(mode(&[]), "Seccomp:\t2\n");
    assert_eq!(
        mode(&["--security-opt", "seccomp=unconfined"]),
        "Seccomp:\t0\n"
    );
}

#[test]
fn proc_is_masked() {
    let p = Podman::new("podman-masks");
    // /proc/kcore is masked where the kernel has it (this one may not: CONFIG_PROC_KCORE).
    let out = p.container(
        &[],
        &["sh", "-c", "cat /proc/kcore 2>/dev/null | wc -c; cat /proc/keys | wc -c; ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/domainname 2>/dev/null || echo ro"],
    );
    assert_out(&out, 0, "0\n0\n0\nro\n");
}

#[test]
fn interactive_through_a_pty() {
    let p = Podman::new("podman-tty");
    // script(1) gives podman a terminal, as a user's shell would.
    let podman_line = {
        let cmd = p.command(&[
            "run",
            "--rm",
            "-it",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            // The pause: podman 4.3 (with runc as much as with us: 3 in 25 runs each, measured)
            // now and then loses the output of an -it container that exits at once.
            "tty; echo in-tty; sleep 0.5",
        ]);
        let prog = format!("{:?}", cmd.get_program());
        let args: Vec<String> = cmd.get_args().map(|a| format!("{a:?}")).collect();
        format!("{prog} {}", args.join(" "))
    };
    let mut cmd = common::runner_command(host_tool("script"));
    cmd.args(["-qec", &podman_line, "/dev/null"]);
    let out = output_of(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // podman types a NUL into the terminal now and then (with runc too), which the terminal
    // may echo as "^@".
    let shown = text(&out.stdout)
        .replace(['\r', '\0'], "")
        .replace("^@", "");
    assert!(shown.contains("/dev/pts/0\nin-tty"), "{}", describe(&out));
}

#[test]
fn detached_exec_logs_stop_and_rm() {
    let p = Podman::new("podman-detached");
    let out = p.run(&[
        "run",
        "-d",
        "--name",
        "d1",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo started; sleep 100",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let state = || {
        let out = p.run(&["inspect", "d1", "--format", "{{.State.Status}}"]);
        text(&out.stdout).trim().to_string()
    };
    assert_eq!(state(), "running");
    let ps = p.run(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(text(&ps.stdout), "d1\n", "{}", describe(&ps));
    assert_out(
        &p.run(&["exec", "d1", "sh", "-c", "echo from-exec; exit 5"]),
        5,
        "from-exec\n",
    );
    let out = p.run(&["exec", "d1", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text(&p.run(&["logs", "d1"]).stdout).contains("started") {
        assert!(std::time::Instant::now() < deadline, "no logs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_out(&p.run(&["stop", "-t", "5", "d1"]), 0, "d1\n");
    assert_eq!(state(), "exited");
    let code = p.run(&["inspect", "d1", "--format", "{{.State.ExitCode}}"]);
    assert_eq!(
        text(&code.stdout),
        "143\n",
        "SIGTERM ended sh: {}",
        describe(&code)
    );
    assert_out(&p.run(&["rm", "d1"]), 0, "d1\n");
    assert_out(&p.run(&["ps", "-a", "--format", "{{.Names}}"]), 0, "");
}

/// --userns=keep-id needs subordinate ids, which podman looks up by user name: run as the named
/// user scripts/test.sh makes (the harness's own uid deliberately has no passwd entry). podman
/// then hands us a user namespace of many ids, with the user's own uid mapped to itself.
#[test]
fn keep_id() {
    let (uid, gid) = subid_user();
    let p = Podman::as_user("podman-keepid", Some((uid, gid)));
    let out = p.container(&["--userns=keep-id"], &["sh", "-c", "id -u; id -g"]);
    assert_out(&out, 0, &format!("{uid}\n{gid}\n"));
    // And files it writes to a volume are the user's.
    let vol = format!("{}:/vol", p.path("vol").display());
    let out = p.container(&["--userns=keep-id", "-v", &vol], &["touch", "/vol/f"]);
    assert_out(&out, 0, "");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(p.path("vol").join("f")).unwrap().uid(), uid);
}
