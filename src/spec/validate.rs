//! spec::validate: an Input checked against the host and its root model, once for every
//! front end.

use super::*;

/// Checks `input` against the host and its root model: every bad value fails here, before any
/// namespace exists, whichever front end asked.
pub fn validate(
    input: Input,
    host: Host,
    random_hostname: impl FnOnce() -> Vec<u8>,
) -> Result<Spec> {
    if host.uid != host.euid || host.gid != host.egid {
        bail!(
            "refusing to run with real and effective ids that differ (uid {} euid {}, gid {} egid {}): \
             ns-rootless must not be installed setuid or setgid",
            host.uid,
            host.euid,
            host.gid,
            host.egid
        );
    }
    if host.file_caps && !host.real_root {
        bail!(
            "refusing to run with capabilities: ns-rootless must not be installed with file \
             capabilities (check with getcap)"
        );
    }
    if host.real_root && !input.allow_root {
        bail!(
            "refusing to run as root: ns-rootless is meant for plain users; \
             run it as your own user, or pass --allow-root"
        );
    }
    if let Some(name) = &input.name {
        crate::state::validate_name(name)?;
    }
    let words = input.words;
    let SandboxInput {
        mut namespaces,
        maps,
        hostname,
        domainname,
        time_offsets,
        root,
        mounts: asked_mounts,
        sysctls,
        net,
        cow,
    } = input.sandbox;
    let p = input.process;
    // A bundle's config says everything: no hostname is the namespace's as it is.
    let bundle = matches!(root, RootInput::Bundle { .. });
    let uts_own = namespaces.uts == Ns::New;
    let hostname = match (&hostname, &input.name) {
        (Some(h), _) => uts_name(h, words.hostname, uts_own, words)?,
        (None, _) if bundle => Vec::new(),
        (None, Some(name)) => name.as_bytes().to_vec(),
        (None, None) => random_hostname(),
    };
    let domainname = match &domainname {
        Some(d) => uts_name(d, words.domainname, uts_own, words)?,
        None => Vec::new(),
    };
    let joined = namespaces::check(&namespaces, words.namespaces)?;
    // A plain user needs a user namespace to do anything (crun's rule: without one asked for,
    // container root is the caller).
    if namespaces.user == Ns::Caller && !host.userns_root {
        namespaces.user = Ns::New;
    }
    let (maps, spaces) = match (&namespaces.user, maps) {
        (Ns::Join(path), Some(_)) => bail!(
            "invalid {}: a user namespace joined by path ({}) has its own mappings",
            words.uid_maps,
            quote(path)
        ),
        (Ns::New, Some((uids, gids))) => {
            userns::check_maps(words.uid_maps, &uids, host.uid, host.userns_root)?;
            userns::check_maps(words.gid_maps, &gids, host.gid, host.userns_root)?;
            let maps = IdMaps {
                uid_map: userns::text(&uids),
                gid_map: userns::text(&gids),
                deny_setgroups: !host.userns_root,
            };
            (Some(maps), Some(Some((uids, gids))))
        }
        // The command line's: the caller's ids map to themselves in the sandbox's namespace;
        // the payload maps them to the inner ids in its nested one (see payload.rs).
        (Ns::New, None) => {
            let maps = IdMaps {
                uid_map: crate::idmap::line(host.uid, host.uid),
                gid_map: crate::idmap::line(host.gid, host.gid),
                deny_setgroups: true,
            };
            (Some(maps), Some(None))
        }
        (_, _) => (None, None),
    };
    // The ids of the user namespace the sandbox is in: its own (as asked, or the caller's
    // alone), else ours. Made when needed: the command line's never are.
    let spaces = || match &spaces {
        Some(Some(asked)) => asked.clone(),
        Some(None) => (
            vec![IdRange::one(host.uid, host.uid)],
            vec![IdRange::one(host.gid, host.gid)],
        ),
        None => (
            userns::ours("/proc/self/uid_map"),
            userns::ours("/proc/self/gid_map"),
        ),
    };
    let net = match net {
        Some(n) => {
            let net = crate::net::Net::parse(n.mode.as_deref(), n.share, &n.publish, |name| {
                which::which(name).ok()
            })?;
            namespaces.net = if net.own_namespace() {
                Ns::New
            } else {
                Ns::Caller
            };
            net
        }
        // The host's network (ours): then the process gets `--share-net`'s Landlock scope.
        None if joined.host_net => crate::net::Net::Host,
        None => crate::net::Net::Private,
    };
    // Where a bundle's relative bind sources are.
    let base = match &root {
        RootInput::Bundle { dir, .. } => dir.clone(),
        _ => PathBuf::new(),
    };
    let root = match root {
        RootInput::Host => Root::Host,
        RootInput::Dir(dir) => Root::Dir(validate_rootfs(&dir)?),
        RootInput::Image(image) => Root::Image(crate::image::open(&image, &host.env)?),
        RootInput::Bundle {
            dir,
            path,
            readonly,
            propagation,
        } => Root::Bundle(Bundle {
            rootfs: root_dir(&dir.join(&path), &path, words.root)?,
            readonly,
            propagation,
            owns_net: namespaces.net == Ns::New || host.userns_root,
            owns_cgroup: namespaces.cgroup == Ns::New,
        }),
    };
    let sysctls = sysctls::check(&sysctls, &namespaces, host.userns_root)?;
    let (mounts, work_dir, mount_args, notes) = match asked_mounts {
        MountsInput::Add(args) => {
            let parsed = mounts::parse(&args, host.cwd.as_deref())?;
            (parsed.mounts, parsed.work_dir, args, Vec::new())
        }
        MountsInput::Replace(mut list) => {
            mounts::resolve_in_bundle(&mut list, &base)?;
            let (uids, gids) = spaces();
            let notes = userns::drop_unmapped_devpts_ids(&mut list, &uids, &gids);
            (list, None, Vec::new(), notes)
        }
    };
    let image_config = match &root {
        Root::Image(image) => Some(&image.config),
        _ => None,
    };
    let image_cwd = image_config
        .and_then(|c| c.working_dir.as_deref())
        .filter(|d| d.starts_with('/'));
    let cwd = match (&p.cwd, work_dir) {
        (Some(dir), _) if dir.is_absolute() => Cwd::Exact(dir.clone()),
        (Some(dir), _) => bail!("invalid {} {}: must be absolute", words.cwd, quote(dir)),
        (None, Some(work)) => Cwd::Exact(work),
        (None, None) => match (image_config, image_cwd) {
            (Some(_), Some(dir)) => Cwd::Exact(dir.into()),
            (Some(_), None) => Cwd::Root,
            (None, _) => host.cwd.clone().map_or(Cwd::Root, Cwd::Caller),
        },
    };
    if bundle && p.command.is_empty() {
        bail!("invalid {}: empty", words.command);
    }
    // Who the process is: ids its user namespace must map, or names looked up in the root.
    let (inner_uid, inner_gid, groups, who) = match p.user {
        UserInput::Ids { uid, gid, groups } => {
            let (uids, gids) = spaces();
            for (what, id, space) in [("uid", uid, &uids), ("gid", gid, &gids)] {
                if !userns::mapped(space, id) {
                    bail!(
                        "invalid process.user.{what} {id}: not mapped in the container's user \
                         namespace (rootless podman maps more ids only with subordinate ids \
                         in /etc/subuid and /etc/subgid)"
                    );
                }
            }
            (uid, gid, groups, None)
        }
        UserInput::Names { uid, gid } => {
            let inner = resolve_user(uid, gid, &root, image_config)?;
            let who = env::Identity {
                home: inner.home,
                user: inner.user,
            };
            (inner.uid, inner.gid, Vec::new(), Some(who))
        }
    };
    // Its environment: a bundle's config lists it whole (`KEY` alone is empty); the other
    // roots start from the caller's (filtered), the image's and the identity's, then what was
    // asked.
    let mut env = match bundle {
        true => env::exactly(words.env, &p.env)?,
        false => {
            let image_env = image_config
                .and_then(|c| c.env.as_ref())
                .map(|vars| image_env(vars))
                .unwrap_or_default();
            env::build(
                &host.env,
                &env::EnvOptions {
                    keep_env: p.keep_env,
                    set: &p.env,
                    unset: &p.unset_env,
                    files: &p.env_file,
                    image: &image_env,
                },
                &who.unwrap_or_else(|| env::Identity {
                    home: "/".into(),
                    user: OsString::new(),
                }),
                &hostname,
            )?
        }
    };
    let mut limits = p.limits;
    let mut command = p.command;
    let (seccomp, lockdown, nested) = match p.lockdown {
        LockdownInput::Native {
            allow,
            no_seccomp,
            seccomp_fd,
        } => {
            // Every sandbox has a cap on its processes (a fork bomb hits it first) unless one
            // is given.
            if !limits.iter().any(|l| l.resource == limits::NPROC) {
                limits.push(limits::default_nproc_here());
            }
            let seccomp = native_seccomp(allow, no_seccomp, seccomp_fd)?;
            (
                seccomp,
                Lockdown::Native {
                    keep_caps: allow.nested,
                },
                allow.nested,
            )
        }
        LockdownInput::Oci(mut l) => {
            // setgroups(2) works where the namespace allows it: not in one we map as a plain
            // user, nor in one whose maker denied it (rootless podman without subordinate
            // ids).
            l.set_groups = match &maps {
                Some(m) => !m.deny_setgroups,
                None => crate::host::read_proc("/proc/self/setgroups")
                    .map_or(true, |s| s.trim() != "deny"),
            };
            if !l.set_groups && groups.iter().any(|&g| g != inner_gid) {
                bail!(
                    "invalid process.user.additionalGids: supplementary groups need setgroups, \
                     which this user namespace denies (a plain user's own, or rootless \
                     podman's without subordinate ids)"
                );
            }
            (l.uid, l.gid, l.groups) = (inner_uid, inner_gid, groups);
            l.own_pid_ns = namespaces.pid == Ns::New;
            // The config's profile is the lockdown's, installed in runc's order.
            (Seccomp::None, Lockdown::Oci(l), false)
        }
    };
    if !bundle {
        defaults::refuse_work_dir_as_command(&mount_args, &command, &env)?;
        if let (true, Some(config)) = (command.is_empty(), image_config) {
            // Entrypoint + Cmd when no command is given (OCI image-spec config.md).
            let entry = config.entrypoint.iter().flatten();
            command = entry
                .chain(config.cmd.iter().flatten())
                .map(OsString::from)
                .collect();
        }
        if command.is_empty() {
            let shell = defaults::shell(&host.env, &root, &mounts);
            // The shell that runs is the one programs started from it should use.
            if shell != "sh" {
                if let Some(slot) = env.iter_mut().find(|(k, _)| k == "SHELL") {
                    slot.1 = shell.clone();
                }
            }
            command.push(shell);
        }
    }
    if matches!(root, Root::Dir(_) | Root::Image(_)) {
        defaults::rootfs_path(&mut env, &host.env, &p.env, p.keep_env);
    }
    // A bundle's mounts are in the config's order, which is the order to mount them in.
    let mounts = match bundle {
        true => mounts,
        false => mounts::parents_first(mounts),
    };
    let cow = match cow {
        false => None,
        true => Some(crate::session::plan_cow(
            input.name.as_deref(),
            &host.env,
            &root,
            &mounts,
        )?),
    };
    Ok(Spec {
        sandbox: Sandbox {
            namespaces,
            maps,
            hostname,
            root,
            net,
            ids: Ids {
                outer_uid: host.uid,
                outer_gid: host.gid,
                inner_uid,
                inner_gid,
            },
            mounts,
            nested,
            cow,
            private_dirs: host.private_dirs,
            time_offsets,
            sysctls,
        },
        process: Process {
            command,
            env,
            cwd,
            limits,
            seccomp,
            // A detached sandbox has no terminal to relay to.
            tty: !input.detach && p.tty.unwrap_or(host.stdin_is_terminal),
            ignored_signals: host.ignored_signals,
            lockdown,
        },
        timeout: input.timeout,
        name: input.name,
        detach: input.detach,
        result_json: input.result_json,
        domainname,
        notes,
        joins: joined.joins,
        join_pid: joined.pid.map(std::sync::Arc::new),
    })
}

/// A hostname or domain name, which needs a UTS namespace of the sandbox's own.
fn uts_name(name: &OsStr, label: &str, uts_own: bool, words: &Words) -> Result<Vec<u8>> {
    if !uts_own {
        bail!(
            "invalid {}: setting it needs a new uts namespace in {}",
            label.trim_end_matches(':'),
            words.namespaces
        );
    }
    validate_hostname(name, label)
}

/// The user and group of a host, dir or image root: the image's User, unless --uid says
/// otherwise ("uid", "uid:gid", "name", "name:group"), looked up in the root's passwd.
fn resolve_user(
    uid: Option<OsString>,
    gid: Option<OsString>,
    root: &Root,
    image_config: Option<&crate::image::config::RunConfig>,
) -> Result<identity::Inner> {
    let image_user = image_config
        .and_then(|c| c.user.as_deref())
        .filter(|u| !u.is_empty() && uid.is_none());
    let (uid_arg, gid_arg, given) = match image_user {
        Some(user) => {
            let (u, g) = user
                .split_once(':')
                .map_or((user, None), |(u, g)| (u, Some(g)));
            let given = identity::Given {
                uid: "image config User",
                gid: match gid {
                    Some(_) => "--gid",
                    None => "image config User group",
                },
            };
            let gid = gid.or(g.map(OsString::from));
            (Some(OsString::from(u)), gid, given)
        }
        None => (uid, gid, identity::OPTIONS),
    };
    identity::resolve(uid_arg.as_deref(), gid_arg.as_deref(), root, &given)
}

fn native_seccomp(
    allow: crate::seccomp::Allow,
    no_seccomp: bool,
    seccomp_fd: Option<i32>,
) -> Result<Seccomp> {
    Ok(match (no_seccomp, seccomp_fd) {
        (_, Some(fd)) if fd < 3 => bail!("invalid --seccomp-fd {fd}: must be 3 or above"),
        (_, Some(fd)) => {
            // Bounded: the kernel takes at most 4096 instructions, and an endless stream
            // (`3</dev/zero`) must not fill our memory.
            let bytes = crate::sys::adopt_user_fd(fd)
                .and_then(|f| {
                    crate::untrusted::read_bounded(std::fs::File::from(f), MAX_SECCOMP_PROGRAM)
                })
                .map_err(|e| anyhow::anyhow!("invalid --seccomp-fd {fd}: {e}"))?;
            crate::seccomp::program_from_bytes(&bytes)
                .map_err(|why| anyhow::anyhow!("invalid --seccomp-fd {fd}: {why}"))?;
            Seccomp::Program(bytes)
        }
        (true, None) => Seccomp::None,
        (false, None) => Seccomp::Default(allow),
    })
}
