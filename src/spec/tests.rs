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

/// A bundle's Input as an OCI config asks for one (uid 1000's own id as root): the same
/// validate, keyed on the root model.
fn bundle_input(dir: &Path) -> Input {
    let mut namespaces = Namespaces::callers();
    namespaces.mount = Ns::New;
    namespaces.user = Ns::New;
    Input {
        name: None,
        detach: false,
        allow_root: true,
        timeout: None,
        result_json: None,
        words: &OCI_CONFIG,
        sandbox: SandboxInput {
            namespaces,
            maps: Some((vec![IdRange::one(0, 1000)], vec![IdRange::one(0, 1000)])),
            hostname: None,
            domainname: None,
            time_offsets: None,
            root: RootInput::Bundle {
                dir: dir.into(),
                path: "rootfs".into(),
                readonly: false,
                propagation: None,
            },
            mounts: MountsInput::Replace(vec![
                MountSpec::Filesystem {
                    dst: "proc".into(),
                    fstype: "proc".into(),
                    source: "proc".into(),
                    options: Vec::new(),
                    attrs: 0,
                    propagation: 0,
                },
                MountSpec::BindTree {
                    src: "rootfs".into(),
                    dst: "/mnt".into(),
                    dir: false,
                    attrs: 0,
                    recursive: true,
                    propagation: 0,
                },
            ]),
            sysctls: Vec::new(),
            net: None,
            cow: false,
        },
        process: ProcessInput {
            command: vec!["sh".into()],
            env: vec!["A=b=c".into(), "NOVALUE".into()],
            keep_env: false,
            unset_env: Vec::new(),
            env_file: Vec::new(),
            cwd: Some("/".into()),
            user: UserInput::Ids {
                uid: 0,
                gid: 0,
                groups: Vec::new(),
            },
            limits: Vec::new(),
            tty: Some(false),
            lockdown: LockdownInput::Oci(OciLockdown {
                preserve_fds: 0,
                uid: 0,
                gid: 0,
                groups: Vec::new(),
                set_groups: false,
                caps: Default::default(),
                no_new_privs: true,
                new_keyring: true,
                rlimits: Vec::new(),
                seccomp: None,
                own_pid_ns: false,
                oom_score_adj: None,
                console_size: (0, 0),
                scheduler: None,
                io_priority: None,
                cpu_affinity: None,
            }),
        },
    }
}

/// A bundle directory with a `rootfs`, removed on drop.
struct BundleDir(PathBuf);

impl BundleDir {
    fn new(label: &str) -> BundleDir {
        let dir = std::env::temp_dir().join(format!("nsr-spec-{label}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        BundleDir(dir)
    }
}

impl Drop for BundleDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bundle(input: Input) -> Result<Spec> {
    validate(input, host(), || {
        unreachable!("a bundle's hostname is the config's")
    })
}

#[test]
fn a_bundle_goes_through_the_same_validate() {
    let b = BundleDir::new("ok");
    let s = bundle(bundle_input(&b.0)).unwrap();
    assert!(s.sandbox.hostname.is_empty());
    assert!(matches!(&s.sandbox.root, Root::Bundle(r) if r.rootfs.ends_with("rootfs")));
    // A bundle's mounts replace the defaults: /proc is its own to mount, relative
    // destinations are under /, bind sources are the bundle's.
    assert_eq!(s.sandbox.mounts[0].dst(), Path::new("/proc"));
    assert!(matches!(&s.sandbox.mounts[1],
        MountSpec::BindTree { src, dir: true, .. } if src.ends_with("rootfs")));
    assert_eq!(s.sandbox.maps.as_ref().unwrap().uid_map, "0 1000 1\n");
    assert!(s.sandbox.maps.as_ref().unwrap().deny_setgroups);
    assert_eq!(
        s.process.env,
        [
            ("A".into(), "b=c".into()),
            ("NOVALUE".into(), OsString::new())
        ]
    );
    assert!(s.process.limits.is_empty());
    match &s.process.lockdown {
        Lockdown::Oci(l) => assert!(!l.set_groups && !l.own_pid_ns),
        other => panic!("{other:?}"),
    }
    // The command line's --tmpfs /proc is refused: the host and dir models mount /proc.
    let err = spec(&["--tmpfs", "/proc"], host()).unwrap_err().to_string();
    assert!(err.contains("reserved"), "{err}");
}

#[test]
fn a_bundles_input_is_refused_in_its_own_words() {
    let b = BundleDir::new("bad");
    let refused = |change: &dyn Fn(&mut Input)| {
        let mut input = bundle_input(&b.0);
        change(&mut input);
        bundle(input).unwrap_err().to_string()
    };
    let err = refused(&|i| i.sandbox.hostname = Some("box".into()));
    assert_eq!(
        err,
        "invalid hostname: setting it needs a new uts namespace in linux.namespaces"
    );
    let err = refused(&|i| {
        i.sandbox.namespaces.uts = Ns::New;
        i.sandbox.hostname = Some("a/b".into());
    });
    assert_eq!(err, "invalid hostname: \"a/b\": must not contain '/'");
    let err = refused(&|i| i.sandbox.namespaces.mount = Ns::Caller);
    assert!(err.contains("a mount namespace is required"), "{err}");
    let err = refused(&|i| i.sandbox.maps = Some((vec![IdRange::one(0, 0)], Vec::new())));
    assert!(
        err.starts_with("invalid linux.uidMappings: as a plain user"),
        "{err}"
    );
    let err = refused(&|i| {
        i.process.user = UserInput::Ids {
            uid: 1,
            gid: 0,
            groups: Vec::new(),
        }
    });
    assert!(
        err.starts_with("invalid process.user.uid 1: not mapped"),
        "{err}"
    );
    let err = refused(&|i| {
        i.process.user = UserInput::Ids {
            uid: 0,
            gid: 0,
            groups: vec![5],
        }
    });
    assert!(err.contains("additionalGids"), "{err}");
    let err = refused(&|i| i.process.cwd = Some("tmp".into()));
    assert_eq!(err, "invalid process.cwd \"tmp\": must be absolute");
    let err = refused(&|i| i.process.env = vec!["=x".into()]);
    assert_eq!(
        err,
        "invalid process.env \"=x\": expected NAME or NAME=VALUE"
    );
    let err = refused(&|i| i.process.env = vec!["A B=1".into()]);
    assert!(err.contains("must not contain spaces"), "{err}");
    let err = refused(&|i| i.process.command.clear());
    assert_eq!(err, "invalid process.args: empty");
    let err = refused(&|i| i.sandbox.sysctls = vec![("net.ipv4.ip_forward".into(), "1".into())]);
    assert!(err.starts_with("invalid linux.sysctl"), "{err}");
    let err = refused(&|i| {
        i.sandbox.root = RootInput::Bundle {
            dir: b.0.clone(),
            path: "missing".into(),
            readonly: false,
            propagation: None,
        }
    });
    assert_eq!(err, "invalid root.path \"missing\"");
    let err = refused(&|i| {
        i.sandbox.mounts = MountsInput::Replace(vec![MountSpec::Hide {
            dst: "/a/../..".into(),
        }])
    });
    assert!(err.contains("must not contain '..'"), "{err}");
}
