//! spec::validate, driven through the native command line (the easiest way to build an
//! Input).

use super::*;

fn host() -> Host {
    Host {
        uid: 1000,
        euid: 1000,
        gid: 1000,
        egid: 1000,
        real_root: false,
        file_caps: false,
        ignored_signals: 0,
        threads: Some(1),
        stdin_is_terminal: false,
        env: vec![("PATH".into(), "/bin".into())],
        cwd: Some("/usr".into()),
        private_dirs: vec!["/run/user/1000/ns-rootless".into()],
        userns_root: false,
    }
}

fn spec(args: &[&str], host: Host) -> Result<Spec> {
    let parsed = crate::cli::parse(
        std::iter::once("ns-rootless")
            .chain(args.iter().copied())
            .map(OsString::from),
    )
    .expect("arguments parse");
    validate(parsed.into_input()?, host, || b"0123456789ab".to_vec())
}

#[test]
fn defaults_to_sh_a_random_hostname_and_host_mode() {
    let s = spec(&[], host()).unwrap();
    assert_eq!(s.process.command, vec![OsString::from("sh")]);
    assert_eq!(s.sandbox.hostname, b"0123456789ab");
    assert_eq!(s.sandbox.root, Root::Host);
    assert_eq!(s.sandbox.net, crate::net::Net::Private);
    assert_eq!(
        (s.sandbox.ids.inner_uid, s.sandbox.ids.outer_uid),
        (0, 1000)
    );
    assert_eq!(s.process.cwd, Cwd::Caller("/usr".into()));
    assert!(s.sandbox.mounts.is_empty() && s.timeout.is_none());
    assert_eq!(s.process.limits, [limits::default_nproc_here()]);
}

#[test]
fn everything_after_the_command_belongs_to_it() {
    let s = spec(
        &["--hostname", "box", "sh", "-c", "echo --hostname"],
        host(),
    )
    .unwrap();
    assert_eq!(s.sandbox.hostname, b"box");
    assert_eq!(s.process.command, vec!["sh", "-c", "echo --hostname"]);
    let s = spec(&["--", "--weird-name"], host()).unwrap();
    assert_eq!(s.process.command, vec!["--weird-name"]);
}

#[test]
fn work_and_chdir_choose_the_start_directory() {
    let s = spec(&["-w", "make"], host()).unwrap();
    assert_eq!(s.process.cwd, Cwd::Exact("/usr".into()));
    let s = spec(&["-w", "--chdir", "/etc", "make"], host()).unwrap();
    assert_eq!(s.process.cwd, Cwd::Exact("/etc".into()));
    let err = spec(&["--chdir", "etc"], host()).unwrap_err().to_string();
    assert_eq!(err, "invalid --chdir \"etc\": must be absolute");
}

#[test]
fn bad_hostnames_are_refused_with_the_value_escaped() {
    for (name, why) in [
        ("a/b", "must not contain '/'"),
        ("", "must not be empty"),
        ("a\nb", "must not contain control characters"),
    ] {
        let err = spec(&["--hostname", name], host()).unwrap_err().to_string();
        assert!(err.starts_with("invalid --hostname"), "{err}");
        assert!(err.ends_with(why), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
    let long = "x".repeat(65);
    assert!(spec(&["--hostname", &long], host()).is_err());
    assert!(spec(&["--hostname", &"x".repeat(64)], host()).is_ok());
}

#[test]
fn real_root_is_refused_unless_allowed() {
    let mut h = host();
    h.real_root = true;
    let err = spec(&[], h).unwrap_err().to_string();
    assert!(err.contains("--allow-root"), "{err}");
    let mut h = host();
    h.real_root = true;
    assert!(spec(&["--allow-root"], h).is_ok());
}

#[test]
fn a_pty_when_stdin_is_a_terminal_unless_refused() {
    assert!(!spec(&[], host()).unwrap().process.tty);
    assert!(spec(&["-t"], host()).unwrap().process.tty);
    let mut h = host();
    h.stdin_is_terminal = true;
    assert!(spec(&[], h).unwrap().process.tty);
    let mut h = host();
    h.stdin_is_terminal = true;
    assert!(!spec(&["-T"], h).unwrap().process.tty);
}

#[test]
fn a_name_is_the_default_hostname() {
    let s = spec(&["--name", "web-1"], host()).unwrap();
    assert_eq!(s.sandbox.hostname, b"web-1");
    assert_eq!(s.name.as_deref(), Some("web-1"));
    let s = spec(&["--name", "web-1", "--hostname", "h"], host()).unwrap();
    assert_eq!(s.sandbox.hostname, b"h");
    let err = spec(&["--name", "a/b"], host()).unwrap_err().to_string();
    assert!(err.starts_with("invalid sandbox name \"a/b\""), "{err}");
}

#[test]
fn file_capabilities_are_refused() {
    let mut h = host();
    h.file_caps = true;
    let err = spec(&[], h).unwrap_err().to_string();
    assert!(err.contains("file capabilities"), "{err}");
}

#[test]
fn seccomp_choices() {
    let s = spec(&[], host()).unwrap();
    assert_eq!(s.process.seccomp, Seccomp::Default(Default::default()));
    let s = spec(&["--allow", "nested", "--allow", "io-uring"], host()).unwrap();
    match s.process.seccomp {
        Seccomp::Default(a) => assert!(a.nested && a.io_uring && !a.perf && !a.keyring),
        other => panic!("{other:?}"),
    }
    assert!(s.sandbox.nested);
    let s = spec(&["--seccomp", "none"], host()).unwrap();
    assert_eq!(s.process.seccomp, Seccomp::None);
}

#[test]
fn setuid_installs_are_refused() {
    let mut h = host();
    h.euid = 0;
    let err = spec(&[], h).unwrap_err().to_string();
    assert!(err.contains("setuid"), "{err}");
}

#[test]
fn rootfs_with_a_symlinked_proc_is_refused() {
    let dir = std::env::temp_dir().join(format!("nsr-spec-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dev")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", dir.join("proc")).unwrap();
    let err = spec(&["--rootfs", dir.to_str().unwrap()], host())
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(err.contains("is a symlink"), "{err}");
}

#[test]
fn the_default_command_is_the_callers_shell_when_it_is_inside() {
    let mut h = host();
    h.env.push(("SHELL".into(), "/bin/sh".into()));
    let s = spec(&[], h).unwrap();
    assert_eq!(s.process.command, ["/bin/sh"]);
    let mut h = host();
    h.env.push(("SHELL".into(), "/home/u/bin/fish".into()));
    assert_eq!(spec(&[], h).unwrap().process.command, ["sh"]);
    let mut h = host();
    h.env.push(("SHELL".into(), "/nonexistent".into()));
    assert_eq!(spec(&[], h).unwrap().process.command, ["sh"]);
}

#[test]
fn limits_and_timeout_are_parsed() {
    let s = spec(&["--limit", "nofile=16", "--timeout", "2s"], host()).unwrap();
    assert_eq!(s.process.limits[0].value, 16);
    assert_eq!(s.process.limits[1], limits::default_nproc_here());
    assert_eq!(s.timeout, Some(Duration::from_secs(2)));
    let s = spec(&["--limit", "nproc=100"], host()).unwrap();
    assert_eq!(
        s.process.limits,
        [limits::parse_limit("nproc=100".as_ref()).unwrap()]
    );
}
