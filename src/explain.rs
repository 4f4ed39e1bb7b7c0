//! `ns-rootless explain [RUN OPTIONS] [--] [COMMAND]`: what a run would do, in order, without
//! creating any namespace. The steps are `plan::build`'s and the namespaces and id maps
//! `prepared::prepare`'s: what the launcher executes, not a description kept beside it.

use crate::error::escape;
use crate::plan::{Action, Step};
use crate::prepared::{Prepared, PreparedAction};
use crate::spec::{Cwd, Root, Seccomp, Spec};
use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use anyhow::{Context, Result};
use nix::libc;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The namespaces a clone with `flags` creates, in the order of namespaces(7).
fn namespaces(flags: libc::c_int) -> Vec<&'static str> {
    [
        (libc::CLONE_NEWCGROUP, "cgroup"),
        (libc::CLONE_NEWIPC, "ipc"),
        (libc::CLONE_NEWNET, "net"),
        (libc::CLONE_NEWNS, "mount"),
        (libc::CLONE_NEWPID, "pid"),
        (libc::CLONE_NEWUSER, "user"),
        (libc::CLONE_NEWUTS, "uts"),
    ]
    .into_iter()
    .filter(|(f, _)| flags & f != 0)
    .map(|(_, name)| name)
    .collect()
}

fn text(s: &OsStr) -> String {
    escape(s.as_bytes())
}

fn path(p: &Path) -> String {
    text(p.as_os_str())
}

/// The mount attributes the executor applies, as mount(8) names them.
fn attr_names(action: &PreparedAction) -> Vec<String> {
    let attrs = match action {
        PreparedAction::Scratch { attrs, .. }
        | PreparedAction::Mount { attrs, .. }
        | PreparedAction::Bind { attrs, .. } => *attrs,
        // What mount.rs applies to these (they carry no attributes of their own).
        PreparedAction::ReadOnly => MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        PreparedAction::File { .. } => MOUNT_ATTR_RDONLY,
        PreparedAction::Overlay { .. } => 0,
        PreparedAction::Filesystem { attrs, .. } | PreparedAction::BindTree { attrs, .. } => *attrs,
        PreparedAction::Mask { .. } => MOUNT_ATTR_RDONLY,
        PreparedAction::Dir | PreparedAction::Symlink { .. } => 0,
    };
    [
        (MOUNT_ATTR_RDONLY, "ro"),
        (MOUNT_ATTR_NOSUID, "nosuid"),
        (MOUNT_ATTR_NODEV, "nodev"),
        (MOUNT_ATTR_NOEXEC, "noexec"),
    ]
    .into_iter()
    .filter(|(bit, _)| attrs & bit != 0)
    .map(|(_, name)| name.to_string())
    .collect()
}

/// One step as data: its kind, source, destination and flags.
fn step_json(s: &Step, prepared: &PreparedAction) -> Value {
    let (kind, source) = match &s.action {
        Action::Scratch { readonly, .. } => (if *readonly { "mask" } else { "scratch-dir" }, None),
        Action::Tmpfs { .. } => ("tmpfs", None),
        Action::Proc => ("proc", None),
        Action::Sysfs => ("sysfs", None),
        Action::Devpts => ("devpts", None),
        Action::Bind { src, .. } => ("bind", Some(path(src))),
        Action::Dir => ("dir", None),
        Action::Symlink { target } => ("symlink", Some(path(target))),
        Action::ReadOnly => ("read-only", None),
        Action::File { .. } => ("file", None),
        Action::Overlay { lower, .. } => ("overlay", Some(path(lower))),
        Action::Filesystem { fstype, .. } => ("filesystem", Some(text(OsStr::new(fstype)))),
        Action::BindTree { src, .. } => ("bind", Some(path(src))),
        Action::Mask => ("mask", None),
    };
    let mut flags = attr_names(prepared);
    match &s.action {
        Action::Scratch { mode, .. } => flags.push(format!("mode={mode:o}")),
        Action::Tmpfs { size } => flags.push(format!("size={size}")),
        Action::Bind { dir: false, .. } => flags.push("file".into()),
        Action::Overlay { upper, .. } => flags.push(format!("upper={}", path(upper))),
        _ => {}
    }
    if s.if_exists {
        flags.push("if-exists".into());
    }
    if s.follow {
        flags.push("follow-symlink".into());
    }
    json!({
        "action": kind,
        "source": source,
        "destination": path(&s.dst),
        "flags": flags,
        "describe": s.describe(),
    })
}

fn plan_json(spec: &Spec, steps: &[Step], prepared: &Prepared) -> Value {
    let (sandbox, process) = (&spec.sandbox, &spec.process);
    let ids = sandbox.ids;
    let seccomp = match &process.seccomp {
        Seccomp::Default(a) => {
            let allowed: Vec<&str> = [
                (a.nested, "nested"),
                (a.perf, "perf"),
                (a.io_uring, "io-uring"),
                (a.keyring, "keyring"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n)
            .collect();
            json!({"filter": "default", "allowed_groups": allowed})
        }
        Seccomp::None => json!({"filter": "none", "allowed_groups": []}),
        Seccomp::Program(p) => json!({"filter": "program", "bytes": p.len()}),
    };
    let (net_mode, published) = sandbox.net.shown();
    json!({
        "namespaces": namespaces(prepared.clone_flags),
        "network": {"mode": net_mode, "published": published},
        "id_maps": {
            "sandbox": {
                "uid_map": sandbox.maps.as_ref().map(|m| m.uid_map.trim_end()),
                "gid_map": sandbox.maps.as_ref().map(|m| m.gid_map.trim_end()),
            },
            "command": {
                "uid_map": prepared.process.nest.as_ref().map(|n| String::from_utf8_lossy(&n.uid_map).trim_end().to_string()),
                "gid_map": prepared.process.nest.as_ref().map(|n| String::from_utf8_lossy(&n.gid_map).trim_end().to_string()),
            },
        },
        "uid": ids.inner_uid,
        "gid": ids.inner_gid,
        "hostname": escape(&sandbox.hostname),
        "root": match &sandbox.root {
            Root::Host => "host".to_string(),
            Root::Dir(d) => path(d),
            Root::Bundle(b) => format!("bundle {}", path(&b.rootfs)),
            Root::Image(image) => format!("image {}", path(&image.source)),
        },
        "root_model": match crate::plan::root_model(sandbox) {
            crate::plan::RootModel::Tmpfs => json!({"kind": "tmpfs"}),
            crate::plan::RootModel::Bundle { rootfs, readonly } => json!({
                "kind": "bundle",
                "rootfs": path(&rootfs),
                "readonly": readonly,
            }),
            crate::plan::RootModel::Overlay { lowers, upper } => json!({
                "kind": "overlay",
                "lowers": lowers.iter().map(|l| path(l)).collect::<Vec<_>>(),
                "upper": upper.map(|(u, _)| path(&u)),
            }),
        },
        "mounts": steps
            .iter()
            .zip(&prepared.steps)
            .map(|(s, p)| step_json(s, &p.action))
            .collect::<Vec<_>>(),
        "cwd": match &process.cwd {
            Cwd::Caller(p) => json!({
                "directory": path(p),
                "fallback": "/",
                "visible": visible(steps, p),
            }),
            Cwd::Exact(p) => json!({"directory": path(p), "fallback": null}),
            Cwd::Root => json!({"directory": "/", "fallback": null}),
        },
        "command": process.command.iter().map(|a| text(a)).collect::<Vec<_>>(),
        "env": process.env.iter().map(|(k, v)| format!("{}={}", text(k), text(v))).collect::<Vec<_>>(),
        "seccomp": seccomp,
        "limits": process.limits.iter().map(|l| json!({"name": l.name, "value": l.value})).collect::<Vec<_>>(),
        "timeout_ms": spec.timeout.map(|t| t.as_millis() as u64),
        "tty": process.tty,
        "name": spec.name,
    })
}

fn plan_text(v: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    let list = |v: &Value| {
        v.as_array()
            .map(|a| a.iter().map(s).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let mut out = String::new();
    out.push_str(&format!("namespaces: {}\n", list(&v["namespaces"])));
    let m = &v["id_maps"];
    out.push_str(&format!(
        "id maps: sandbox uid_map \"{}\", gid_map \"{}\"; command uid_map \"{}\", gid_map \"{}\" (runs as {}:{})\n",
        s(&m["sandbox"]["uid_map"]),
        s(&m["sandbox"]["gid_map"]),
        s(&m["command"]["uid_map"]),
        s(&m["command"]["gid_map"]),
        s(&v["uid"]),
        s(&v["gid"]),
    ));
    let net = &v["network"];
    let published = match list(&net["published"]) {
        p if p.is_empty() => String::new(),
        p => format!("; published: {p}"),
    };
    out.push_str(&format!("network: {}{published}\n", s(&net["mode"])));
    out.push_str(&format!("hostname: {}\n", s(&v["hostname"])));
    let model = &v["root_model"];
    let built = match model["kind"].as_str() {
        Some("overlay") => format!(
            "overlayfs over {} layer(s), writes to {}",
            model["lowers"].as_array().map_or(0, Vec::len),
            match &model["upper"] {
                Value::Null => "the scratch tmpfs".to_string(),
                u => s(u),
            }
        ),
        _ => "a tmpfs with the entries below".to_string(),
    };
    out.push_str(&format!("root: {} ({built})\n", s(&v["root"])));
    out.push_str("mounts, in order:\n");
    for (i, m) in v["mounts"].as_array().into_iter().flatten().enumerate() {
        let src = match &m["source"] {
            Value::Null => String::new(),
            src if m["action"] == "symlink" => format!(" -> {}", s(src)),
            src => format!(" from {}", s(src)),
        };
        out.push_str(&format!(
            "  {:3} {:<11} {}{} [{}]\n",
            i + 1,
            s(&m["action"]),
            s(&m["destination"]),
            src,
            list(&m["flags"]).replace(' ', ",")
        ));
    }
    let cwd = &v["cwd"];
    let fallback = match (&cwd["fallback"], &cwd["visible"]) {
        (Value::Null, _) => String::new(),
        (_, _) if cwd["directory"] == "/" => String::new(),
        (f, Value::Bool(false)) => format!(" (hidden in the sandbox: starts in {})", s(f)),
        (_, Value::Bool(true)) => String::new(),
        (f, _) => format!(" (else {})", s(f)),
    };
    out.push_str(&format!(
        "start directory: {}{fallback}\n",
        s(&cwd["directory"])
    ));
    out.push_str(&format!("command: {}\n", list(&v["command"])));
    out.push_str("environment:\n");
    for e in v["env"].as_array().into_iter().flatten() {
        out.push_str(&format!("  {}\n", s(e)));
    }
    let sc = &v["seccomp"];
    out.push_str(&format!(
        "seccomp: {} filter; allowed groups: {}\n",
        s(&sc["filter"]),
        match list(&sc["allowed_groups"]) {
            l if l.is_empty() => "none".into(),
            l => l,
        }
    ));
    let limits: Vec<String> = v["limits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| format!("{}={}", s(&l["name"]), s(&l["value"])))
        .collect();
    out.push_str(&format!(
        "limits: {}; timeout: {}\n",
        if limits.is_empty() {
            "none".into()
        } else {
            limits.join(" ")
        },
        match &v["timeout_ms"] {
            Value::Null => "none".into(),
            t => format!("{} ms", s(t)),
        }
    ));
    out
}

pub fn run(spec: Spec, json: bool) -> Result<u8> {
    let (_entries, plan) = crate::parent::plan_of(&spec)?;
    let prepared = crate::prepared::prepare(&spec, &plan)?;
    let value = plan_json(&spec, &plan.steps, &prepared);
    let out = if json {
        let mut s = serde_json::to_string_pretty(&value).context("writing the plan")?;
        s.push('\n');
        s
    } else {
        plan_text(&value)
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("writing the plan")?;
    Ok(0)
}

/// Whether the host path `dir` (the caller's directory) exists inside once `steps` ran: what
/// the last step at or above it put there decides. None: can't tell (a symlink on the way).
pub fn visible(steps: &[Step], dir: &Path) -> Option<bool> {
    for s in steps.iter().rev() {
        // A step that follows its destination (e.g. the mask of /home -> var/home) acts where
        // the link leads. (sys::realpath: fs::canonicalize has the C library malloc the
        // result, an mmap and munmap per call; this runs before every launch.)
        let followed;
        let dst = if s.follow {
            followed = crate::sys::realpath(&s.dst).unwrap_or_else(|_| s.dst.clone());
            &followed
        } else {
            &s.dst
        };
        let Ok(rest) = dir.strip_prefix(dst) else {
            continue;
        };
        let at_top = rest.as_os_str().is_empty();
        return match &s.action {
            Action::ReadOnly => continue,
            Action::Bind { src, dir: true, .. } => Some(src.join(rest).is_dir()),
            Action::Symlink { .. } => None,
            _ => Some(at_top),
        };
    }
    Some(dir == Path::new("/"))
}

/// The line that says the command starts in `/` because the caller's directory is hidden.
pub fn hidden_cwd_note(cwd: &Cwd, steps: &[Step]) -> Option<String> {
    let Cwd::Caller(dir) = cwd else {
        return None;
    };
    (visible(steps, dir) == Some(false)).then(|| {
        format!(
            "the current directory {} is hidden in the sandbox; starting in / \
             (-w binds it read-write and starts there)",
            crate::error::quote(dir)
        )
    })
}
