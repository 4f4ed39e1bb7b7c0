//! The plan's tests: pure data in, steps out.

use super::*;
use crate::spec::Ids;

pub(super) fn spec(root: Root, share_net: bool) -> Sandbox {
    Sandbox {
        namespaces: crate::spec::Namespaces::native(!share_net, false),
        maps: None,
        hostname: b"h".to_vec(),
        root,
        net: if share_net {
            crate::net::Net::Host
        } else {
            crate::net::Net::Private
        },
        ids: Ids {
            outer_uid: 1000,
            outer_gid: 1000,
            inner_uid: 0,
            inner_gid: 0,
        },
        mounts: vec![],
        nested: false,
        private_dirs: vec!["/run/user/1000/ns-rootless".into()],
        time_offsets: None,
        cow: None,
        sysctls: vec![],
    }
}

/// The plan for a host whose /run holds nothing the plan keeps.
pub(super) fn plan(spec: &Sandbox, entries: &[RootEntry]) -> Plan {
    super::build(spec, entries, &HostRun::default(), &HostDirs::new())
}

pub(super) fn entries() -> Vec<RootEntry> {
    vec![
        RootEntry::Symlink("bin".into(), "usr/bin".into()),
        RootEntry::Dir("dev".into()),
        RootEntry::Dir("etc".into()),
        RootEntry::Dir("home".into()),
        RootEntry::Dir("proc".into()),
        RootEntry::Dir("root".into()),
        RootEntry::Dir("run".into()),
        RootEntry::Dir("tmp".into()),
        RootEntry::Dir("usr".into()),
        RootEntry::Dir("var".into()),
        RootEntry::File(".dockerenv".into()),
    ]
}

fn find<'a>(plan: &'a Plan, dst: &str) -> Vec<&'a Step> {
    plan.steps
        .iter()
        .filter(|s| s.dst == Path::new(dst))
        .collect()
}

fn position(plan: &Plan, dst: &str) -> usize {
    plan.steps
        .iter()
        .position(|s| s.dst == Path::new(dst))
        .unwrap_or_else(|| panic!("no step for {dst}"))
}

#[test]
fn host_mode_binds_top_level_entries_read_only_and_masks_home_and_root() {
    let p = plan(&spec(Root::Host, false), &entries());
    assert_eq!(
        find(&p, "/usr")[0].action,
        Action::Bind {
            src: "/usr".into(),
            readonly: true,
            dir: true,
            device: false
        }
    );
    assert_eq!(
        find(&p, "/bin")[0].action,
        Action::Symlink {
            target: "usr/bin".into()
        }
    );
    assert!(matches!(
        find(&p, "/.dockerenv")[0].action,
        Action::Bind { dir: false, .. }
    ));
    for mask in ["/home", "/root", "/run"] {
        let steps = find(&p, mask);
        assert_eq!(steps.len(), 1, "{mask}");
        assert_eq!(steps[0].action, scratch(0o755), "{mask}");
    }
    // /run/user went with /run; /var/run, a symlink to /run, leads to the mask.
    assert!(find(&p, "/run/user").is_empty());
    assert!(find(&p, "/var/run").is_empty());
}

#[test]
fn a_var_run_of_its_own_is_hidden_after_var_is_bound() {
    let run = HostRun {
        var_run_dir: true,
        resolver_files: vec![],
    };
    let p = super::build(&spec(Root::Host, false), &entries(), &run, &HostDirs::new());
    let s = find(&p, "/var/run")[0];
    assert_eq!(s.action, scratch(0o755));
    assert!(s.if_exists && s.follow);
    assert!(position(&p, "/var") < position(&p, "/var/run"));
    let p = super::build(
        &spec(Root::Dir("/srv/r".into()), false),
        &entries(),
        &run,
        &HostDirs::new(),
    );
    assert!(find(&p, "/var/run").is_empty() && find(&p, "/run").len() == 1);
}

#[test]
fn with_the_hosts_network_the_resolver_files_under_run_are_kept_read_only() {
    let stub = "/run/systemd/resolve/stub-resolv.conf";
    let run = HostRun {
        var_run_dir: false,
        resolver_files: vec![stub.into()],
    };
    let p = super::build(&spec(Root::Host, true), &entries(), &run, &HostDirs::new());
    assert_eq!(
        find(&p, stub)[0].action,
        Action::Bind {
            src: stub.into(),
            readonly: true,
            dir: false,
            device: false
        }
    );
    assert!(position(&p, "/run") < position(&p, stub));
    // Not with a private network (no DNS to reach), nor with a rootfs (nothing hidden).
    let p = super::build(&spec(Root::Host, false), &entries(), &run, &HostDirs::new());
    assert!(find(&p, stub).is_empty());
    let p = super::build(
        &spec(Root::Dir("/srv/r".into()), true),
        &entries(),
        &run,
        &HostDirs::new(),
    );
    assert!(find(&p, stub).is_empty());
}

#[test]
fn hide_is_an_optional_user_step() {
    let mut s = spec(Root::Host, false);
    s.mounts = vec![MountSpec::Hide {
        dst: "/srv/tmux.sock".into(),
    }];
    let p = plan(&s, &entries());
    let last = p.steps.last().unwrap();
    assert_eq!(last.dst, Path::new("/srv/tmux.sock"));
    assert_eq!(last.action, Action::Mask);
    assert!(last.if_exists && !last.follow);
    assert_eq!(last.describe(), "masking /srv/tmux.sock");
}

#[test]
fn the_sandbox_replaces_proc_sys_dev_and_tmp() {
    let p = plan(&spec(Root::Host, false), &entries());
    assert_eq!(find(&p, "/proc").len(), 1);
    assert_eq!(find(&p, "/proc")[0].action, Action::Proc);
    assert_eq!(find(&p, "/tmp")[0].action, scratch(0o1777));
    assert_eq!(find(&p, "/dev")[0].action, scratch(0o755));
    assert_eq!(find(&p, "/dev/shm")[0].action, scratch(0o1777));
    assert_eq!(find(&p, "/sys")[0].action, Action::Sysfs);
}

#[test]
fn a_symlinked_home_is_masked_where_it_leads_once_that_exists() {
    // Silverblue: /home -> var/home, and "home" sorts before "var".
    let p = plan(
        &spec(Root::Host, false),
        &[
            RootEntry::Symlink("home".into(), "var/home".into()),
            RootEntry::Dir("var".into()),
        ],
    );
    let steps = find(&p, "/home");
    assert!(matches!(steps[0].action, Action::Symlink { .. }));
    assert!(steps[1].follow && steps[1].action == scratch(0o755));
    let mask = p
        .steps
        .iter()
        .position(|s| s.dst == Path::new("/home") && s.follow)
        .unwrap();
    assert!(
        position(&p, "/var") < mask,
        "the mask comes after /var is bound"
    );
}

#[test]
fn rootfs_mode_binds_writable_and_masks_nothing() {
    let p = plan(&spec(Root::Dir("/srv/r".into()), false), &entries());
    assert_eq!(
        find(&p, "/home")[0].action,
        Action::Bind {
            src: "/srv/r/home".into(),
            readonly: false,
            dir: true,
            device: false
        }
    );
    assert!(find(&p, "/run/user").is_empty());
}

/// The scratch directories are made in the root's proc directory (prepared::HIDDEN), hidden
/// by the proc mounted on it: every plan must mount proc there, and exactly once.
#[test]
fn proc_always_covers_where_the_scratch_directories_are_made() {
    let hidden = Path::new("/").join(crate::prepared::HIDDEN.to_str().unwrap());
    for root in [Root::Host, Root::Dir("/srv/r".into())] {
        for (share_net, nested) in [(false, false), (true, true)] {
            let mut s = spec(root.clone(), share_net);
            s.nested = nested;
            let p = plan(&s, &entries());
            let at_hidden: Vec<_> = find(&p, hidden.to_str().unwrap());
            assert_eq!(at_hidden.len(), 1, "{at_hidden:?}");
            assert_eq!(at_hidden[0].action, Action::Proc);
        }
    }
}

#[test]
fn proc_comes_after_dev_and_tmp() {
    let p = plan(&spec(Root::Host, false), &entries());
    assert!(position(&p, "/dev/shm") < position(&p, "/proc"));
    assert!(position(&p, "/tmp") < position(&p, "/proc"));
}

#[test]
fn user_mounts_come_last_in_the_order_given() {
    let mut s = spec(Root::Host, false);
    s.mounts = vec![
        MountSpec::Tmpfs {
            dst: "/scratch".into(),
            size: 4096,
        },
        MountSpec::Dir {
            dst: "/scratch/a".into(),
        },
    ];
    let p = plan(&s, &entries());
    let n = p.steps.len();
    assert_eq!(p.steps[n - 2].dst, Path::new("/scratch"));
    assert_eq!(p.steps[n - 1].action, Action::Dir);
    assert!(
        !p.steps[n - 1].follow,
        "user destinations never follow symlinks"
    );
}

#[test]
fn sysfs_only_with_a_private_network() {
    let private = plan(&spec(Root::Host, false), &[]);
    assert_eq!(find(&private, "/sys")[0].action, Action::Sysfs);
    let shared = plan(&spec(Root::Host, true), &[]);
    assert!(matches!(
        find(&shared, "/sys")[0].action,
        Action::Bind { readonly: true, .. }
    ));
}

#[test]
fn our_directories_share_the_scratch_tmpfs_and_devices_keep_working() {
    let p = plan(&spec(Root::Host, false), &entries());
    for s in &p.steps {
        match &s.action {
            Action::Tmpfs { .. } => panic!("a tmpfs of its own at {}", s.dst.display()),
            Action::Bind { device, src, .. } => {
                assert_eq!(*device, src.starts_with("/dev/"), "{}", src.display())
            }
            _ => {}
        }
    }
}

#[test]
fn proc_and_sys_are_masked_unless_nesting() {
    let p = plan(&spec(Root::Host, false), &entries());
    assert_eq!(find(&p, "/proc/sys")[0].action, Action::ReadOnly);
    assert!(matches!(
        find(&p, "/proc/kcore")[0].action,
        Action::Bind { device: true, .. }
    ));
    assert_eq!(find(&p, "/sys/fs/cgroup")[0].action, mask());
    assert!(position(&p, "/proc") < position(&p, "/proc/sys"));
    let mut nested = spec(Root::Host, false);
    nested.nested = true;
    let p = plan(&nested, &entries());
    assert!(find(&p, "/proc/sys").is_empty());
    assert!(find(&p, "/proc/kcore").is_empty());
    assert!(find(&p, "/sys/firmware").is_empty());
}

#[test]
fn steps_describe_themselves() {
    let p = plan(&spec(Root::Host, false), &entries());
    assert_eq!(find(&p, "/tmp")[0].describe(), "mounting tmpfs on /tmp");
    assert_eq!(
        find(&p, "/dev/null")[0].describe(),
        "binding /dev/null to /dev/null"
    );
}

/// A failure is worded from the rendered step (prepared.rs), explain prints the plan's:
/// both say the same for every kind of step.
#[test]
fn rendered_steps_describe_themselves_as_the_plan_does() {
    let mut s = spec(Root::Host, false);
    s.cow = Some(cow());
    s.mounts = vec![
        MountSpec::Bind {
            src: "/srv/rw".into(),
            dst: "/srv/rw".into(),
            readonly: false,
            dir: true,
        },
        MountSpec::Bind {
            src: "/etc/a b\n".into(),
            dst: "/x/f".into(),
            readonly: true,
            dir: false,
        },
        MountSpec::Tmpfs {
            dst: "/scratch".into(),
            size: 4096,
        },
        MountSpec::Dir { dst: "/d".into() },
        MountSpec::Symlink {
            target: "t".into(),
            dst: "/l".into(),
        },
        MountSpec::Hide {
            dst: "/srv/tmux.sock".into(),
        },
    ];
    let mut p = plan(&s, &entries());
    p.steps.extend([
        step(
            "/m",
            Action::Filesystem {
                fstype: "mqueue".into(),
                source: "mqueue".into(),
                options: vec![],
                attrs: 0,
                propagation: 0,
            },
        ),
        step(
            "/b",
            Action::BindTree {
                src: "/srv".into(),
                dir: true,
                attrs: 0,
                recursive: true,
                propagation: 0,
            },
        ),
        step("/k", Action::Mask),
        step("/etc/resolv.conf", Action::File { contents: vec![] }),
        step("/ro", Action::ReadOnly),
    ]);
    let rendered = crate::prepared::prepare_steps(&p).unwrap();
    assert_eq!(rendered.len(), p.steps.len());
    for (step, r) in p.steps.iter().zip(&rendered) {
        assert_eq!(r.describe(), step.describe());
    }
}

fn image() -> crate::image::Image {
    crate::image::Image {
        source: "/img.tar".into(),
        layers: vec!["/store/a/root".into(), "/store/b/root".into()],
        config: Default::default(),
        held: Default::default(),
    }
}

fn cow() -> crate::spec::Cow {
    crate::spec::Cow {
        name: "s".into(),
        dir: "/state/sessions/s".into(),
        generated: false,
    }
}

#[test]
fn an_image_root_is_an_overlay_of_its_layers_top_first() {
    let s = spec(Root::Image(image()), false);
    assert_eq!(
        root_model(&s),
        RootModel::Overlay {
            lowers: vec!["/store/b/root".into(), "/store/a/root".into()],
            upper: None,
        }
    );
    // The overlay has its own entries: none are bound, and the sandbox's own still come.
    let p = plan(&s, &entries());
    assert!(find(&p, "/usr").is_empty() && find(&p, "/etc").is_empty());
    assert_eq!(find(&p, "/proc")[0].action, Action::Proc);
    assert_eq!(find(&p, "/tmp")[0].action, scratch(0o1777));
    assert_eq!(root_model(&spec(Root::Host, false)), RootModel::Tmpfs);
    assert_eq!(
        root_model(&spec(Root::Dir("/r".into()), false)),
        RootModel::Tmpfs
    );
}

#[test]
fn cow_keeps_the_roots_writes_and_overlays_read_write_binds() {
    let mut s = spec(Root::Dir("/r".into()), false);
    s.cow = Some(cow());
    assert_eq!(
        root_model(&s),
        RootModel::Overlay {
            lowers: vec!["/r".into()],
            upper: Some((
                "/state/sessions/s/upper/root".into(),
                "/state/sessions/s/work/root".into()
            )),
        }
    );
    let bind = |src: &str, readonly: bool, dir: bool| MountSpec::Bind {
        src: src.into(),
        dst: src.into(),
        readonly,
        dir,
    };
    s.mounts = vec![bind("/ro", true, true), bind("/rw", false, true)];
    let p = plan(&s, &entries());
    assert!(matches!(
        find(&p, "/ro")[0].action,
        Action::Bind { readonly: true, .. }
    ));
    assert_eq!(
        find(&p, "/rw")[0].action,
        Action::Overlay {
            lower: "/rw".into(),
            upper: "/state/sessions/s/upper/1".into(),
            work: "/state/sessions/s/work/1".into(),
        }
    );
    s.cow = None;
    let p = plan(&s, &entries());
    assert!(matches!(
        find(&p, "/rw")[0].action,
        Action::Bind {
            readonly: false,
            ..
        }
    ));
}

#[test]
fn the_state_dir_stays_masked_under_cow() {
    let mut s = spec(Root::Dir("/r".into()), false);
    s.cow = Some(cow());
    s.private_dirs = vec!["/r/run/ns".into()];
    s.mounts = vec![MountSpec::Bind {
        src: "/tmp".into(),
        dst: "/tmp".into(),
        readonly: false,
        dir: true,
    }];
    let p = plan(&s, &entries());
    assert_eq!(find(&p, "/run/ns")[0].action, mask());
    assert!(p.shows_private);
    s.private_dirs = vec!["/tmp/ns-rootless-1000".into()];
    let p = plan(&s, &entries());
    assert_eq!(find(&p, "/tmp/ns-rootless-1000")[0].action, mask());
    assert!(p.shows_private);
}

/// User-mode networking covers the root's resolv.conf (where it leads, if a symlink, and
/// only if there is one) before the user's mounts, which may replace it.
#[test]
fn user_mode_networking_covers_resolv_conf() {
    assert!(find(
        &plan(&spec(Root::Host, false), &entries()),
        "/etc/resolv.conf"
    )
    .is_empty());
    let mut s = spec(Root::Dir("/srv/r".into()), false);
    s.net = crate::net::Net::User(crate::net::UserNet {
        helper: crate::net::Helper::Pasta("/usr/bin/pasta".into()),
        host_loopback: false,
        publish: vec![],
    });
    s.mounts = vec![MountSpec::Tmpfs {
        dst: "/etc".into(),
        size: 1,
    }];
    let p = plan(&s, &entries());
    let steps = find(&p, "/etc/resolv.conf");
    assert_eq!(steps.len(), 1);
    assert!(steps[0].follow && steps[0].if_exists);
    assert!(matches!(&steps[0].action, Action::File { contents }
        if contents.ends_with(b"nameserver 169.254.1.1\n")));
    let at = |dst: &str| p.steps.iter().rposition(|st| st.dst == Path::new(dst));
    assert!(at("/etc/resolv.conf") < at("/etc"), "{:?}", p.steps);
}
