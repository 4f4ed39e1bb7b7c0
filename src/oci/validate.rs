//! What config.md and config-linux.md require of the document itself, checked before anything
//! is made (runtime.md: an error leaves the environment as if the operation were never
//! attempted). What needs the host (paths, ids, namespaces) is checked where it is used.

use crate::error::quote;
use crate::oci::config::{Config, Hooks};
use anyhow::{bail, Result};

pub fn config(c: &Config) -> Result<()> {
    // config.md: "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format".
    match &c.oci_version {
        None => bail!("invalid config.json: no ociVersion"),
        Some(v) if !is_semver(v) => bail!("invalid ociVersion {}: not SemVer", quote(v)),
        Some(_) => {}
    }
    // "Keys MUST NOT be an empty string."
    if c.annotations.contains_key("") {
        bail!("invalid annotations: a key is empty");
    }
    if let Some(h) = &c.hooks {
        hooks(h)?;
    }
    let Some(l) = &c.linux else {
        return Ok(());
    };
    // config-linux.md: "If a namespaces field contains duplicated namespaces with same type,
    // the runtime MUST generate an error."
    for (i, ns) in l.namespaces.iter().enumerate() {
        if l.namespaces[..i].iter().any(|n| n.kind == ns.kind) {
            bail!(
                "invalid linux.namespaces: {} is listed twice",
                quote(&ns.kind)
            );
        }
        // "This value MUST be an absolute path in the runtime mount namespace."
        if let Some(path) = ns.path.as_deref().filter(|p| !p.is_empty()) {
            if !path.starts_with('/') {
                bail!(
                    "invalid linux.namespaces {} path {}: must be absolute",
                    ns.kind,
                    quote(path)
                );
            }
        }
    }
    // "names MUST contain at least one entry."
    if let Some(i) = l
        .seccomp
        .iter()
        .flat_map(|p| p.syscalls.iter())
        .position(|r| r.names.is_empty())
    {
        bail!("invalid linux.seccomp.syscalls[{i}]: names is empty");
    }
    // "The values MUST be absolute paths in the container namespace."
    for (field, paths) in [
        ("maskedPaths", &l.masked_paths),
        ("readonlyPaths", &l.readonly_paths),
    ] {
        if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
            bail!("invalid linux.{field} {}: must be absolute", quote(p));
        }
    }
    Ok(())
}

/// config.md: a hook's `path` MUST be absolute; a `timeout`, if set, MUST be greater than zero.
fn hooks(h: &Hooks) -> Result<()> {
    let kinds = [
        ("prestart", &h.prestart),
        ("createRuntime", &h.create_runtime),
        ("createContainer", &h.create_container),
        ("startContainer", &h.start_container),
        ("poststart", &h.poststart),
        ("poststop", &h.poststop),
    ];
    for (kind, list) in kinds {
        for (i, hook) in list.iter().enumerate() {
            if !hook.path.starts_with('/') {
                bail!(
                    "invalid hooks.{kind}[{i}] path {}: must be absolute",
                    quote(&hook.path)
                );
            }
            if hook.timeout.is_some_and(|t| t <= 0) {
                bail!("invalid hooks.{kind}[{i}] timeout: must be greater than zero");
            }
        }
    }
    Ok(())
}

/// MAJOR.MINOR.PATCH, each a number without leading zeros, then an optional `-pre` and
/// `+build` of dot-separated [0-9A-Za-z-] identifiers (semver.org 2.0.0).
fn is_semver(v: &str) -> bool {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let number = |n: &str| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    };
    let idents = |s: &str| {
        s.split('.')
            .all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && pre.is_none_or(idents)
        && build.is_none_or(idents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_as_semver_org_says() {
        for ok in [
            "1.0.0",
            "1.2.1",
            "1.0.2-dev",
            "1.1.0-rc.1",
            "0.5.0-dev+abc.1",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "", "1", "1.0", "01.0.0", "1.0.0-", "1.0.x", "banana", "1.0.0+",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    fn parse(text: &str) -> Config {
        crate::oci::config::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn what_the_spec_forbids_is_refused() {
        let ok = parse(r#"{"ociVersion":"1.0.2","annotations":{"a":""}}"#);
        assert!(config(&ok).is_ok());
        for (bad, words) in [
            (r#"{}"#, "no ociVersion"),
            (
                r#"{"ociVersion":"1.0.2","annotations":{"":"x"}}"#,
                "key is empty",
            ),
            (
                r#"{"ociVersion":"1.0.2","hooks":{"poststop":[{"path":"true"}]}}"#,
                "hooks.poststop[0] path \"true\": must be absolute",
            ),
            (
                r#"{"ociVersion":"1.0.2","hooks":{"prestart":[{"path":"/bin/true","timeout":0}]}}"#,
                "greater than zero",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"uts"},{"type":"uts"}]}}"#,
                "\"uts\" is listed twice",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"net","path":"ns/net"}]}}"#,
                "must be absolute",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"maskedPaths":["proc/kcore"]}}"#,
                "linux.maskedPaths \"proc/kcore\": must be absolute",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"readonlyPaths":["proc/sys"]}}"#,
                "linux.readonlyPaths",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
                    "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
                    {"names":[],"action":"SCMP_ACT_ERRNO"}]}}}"#,
                "linux.seccomp.syscalls[1]: names is empty",
            ),
        ] {
            let err = config(&parse(bad)).unwrap_err().to_string();
            assert!(err.contains(words), "{bad}: {err}");
        }
    }
}
