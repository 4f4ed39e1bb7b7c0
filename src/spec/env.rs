//! The payload's environment: an allowlist of the caller's, the identity inside, then what the
//! options add or remove. Secrets (tokens, agent sockets, LD_PRELOAD) pass only when named.

use crate::error::quote;
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

pub type Env = Vec<(OsString, OsString)>;

pub struct EnvOptions<'a> {
    pub keep_env: bool,
    pub set: &'a [OsString],
    pub unset: &'a [OsString],
    pub files: &'a [PathBuf],
    /// An image's own variables: over the defaults, under what the caller asks for.
    pub image: &'a [(OsString, OsString)],
}

/// Who the payload is inside, for HOME, USER, LOGNAME.
pub struct Identity {
    pub home: OsString,
    pub user: OsString,
}

fn passes_by_default(name: &[u8]) -> bool {
    const NAMES: &[&[u8]] = &[
        b"PATH",
        b"TERM",
        b"LANG",
        b"LANGUAGE",
        b"TZ",
        b"COLORTERM",
        b"NO_COLOR",
    ];
    NAMES.contains(&name) || name.starts_with(b"LC_")
}

fn set(env: &mut Env, name: OsString, value: OsString) {
    match env.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    }
}

fn check_name(option: &str, raw: &OsStr, name: &[u8]) -> Result<()> {
    if name.is_empty() || name.contains(&b'=') {
        bail!(
            "invalid {option} {}: expected NAME or NAME=VALUE",
            quote(raw)
        );
    }
    // The kernel takes any bytes, but a shell can neither set nor read such a name.
    if name
        .iter()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        bail!(
            "invalid {option} {}: a variable name must not contain spaces or control characters",
            quote(raw)
        );
    }
    Ok(())
}

/// A complete environment as given (a bundle's): `NAME=VALUE` split at the first `=`, a bare
/// `NAME` empty; each name checked as the command line's are. `option` names the list.
pub fn exactly(option: &str, list: &[OsString]) -> Result<Env> {
    list.iter()
        .map(|raw| {
            let bytes = raw.as_bytes();
            let (name, value) = match bytes.iter().position(|&b| b == b'=') {
                Some(i) => (&bytes[..i], &bytes[i + 1..]),
                None => (bytes, &b""[..]),
            };
            check_name(option, raw, name)?;
            Ok((
                OsStr::from_bytes(name).into(),
                OsStr::from_bytes(value).into(),
            ))
        })
        .collect()
}

pub fn build(
    host: &[(OsString, OsString)],
    opts: &EnvOptions,
    who: &Identity,
    hostname: &[u8],
) -> Result<Env> {
    let mut env: Env = host
        .iter()
        .filter(|(k, _)| opts.keep_env || passes_by_default(k.as_bytes()))
        .cloned()
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), super::DEFAULT_PATH.into()));
    }
    set(&mut env, "HOME".into(), who.home.clone());
    set(&mut env, "USER".into(), who.user.clone());
    set(&mut env, "LOGNAME".into(), who.user.clone());
    set(&mut env, "SHELL".into(), "/bin/sh".into());
    set(
        &mut env,
        "HOSTNAME".into(),
        OsStr::from_bytes(hostname).into(),
    );
    set(&mut env, "container".into(), "ns-rootless".into());
    for (name, value) in opts.image {
        set(&mut env, name.clone(), value.clone());
    }
    for file in opts.files {
        for (name, value) in read_env_file(file)? {
            set(&mut env, name, value);
        }
    }
    apply_set(&mut env, host, opts.set)?;
    for name in opts.unset {
        check_name("--unset-env", name, name.as_bytes())?;
        env.retain(|(k, _)| k != name);
    }
    Ok(env)
}

/// `-e NAME=VALUE` sets NAME; `-e NAME` copies the caller's value (a name the caller doesn't
/// have is skipped).
pub fn apply_set(
    env: &mut Env,
    host: &[(OsString, OsString)],
    set_args: &[OsString],
) -> Result<()> {
    for raw in set_args {
        let bytes = raw.as_bytes();
        match bytes.iter().position(|&b| b == b'=') {
            Some(i) => {
                check_name("--env", raw, &bytes[..i])?;
                set(
                    env,
                    OsStr::from_bytes(&bytes[..i]).into(),
                    OsStr::from_bytes(&bytes[i + 1..]).into(),
                );
            }
            None => {
                check_name("--env", raw, bytes)?;
                // `-e NAME` copies the caller's value; a name the caller doesn't have is skipped.
                if let Some((_, v)) = host.iter().find(|(k, _)| k == raw) {
                    set(env, raw.clone(), v.clone());
                }
            }
        }
    }
    Ok(())
}

fn read_env_file(path: &PathBuf) -> Result<Env> {
    let text =
        std::fs::read(path).with_context(|| format!("invalid --env-file {}", quote(path)))?;
    let mut out = Env::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        if line.contains(&0) {
            bail!(
                "invalid --env-file {}: line {}: a NUL byte",
                quote(path),
                n + 1
            );
        }
        let i = line.iter().position(|&b| b == b'=').ok_or_else(|| {
            anyhow!(
                "invalid --env-file {}: line {}: expected NAME=VALUE",
                quote(path),
                n + 1
            )
        })?;
        if i == 0 {
            bail!(
                "invalid --env-file {}: line {}: empty name",
                quote(path),
                n + 1
            );
        }
        out.push((
            OsStr::from_bytes(&line[..i]).into(),
            OsStr::from_bytes(&line[i + 1..]).into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Env {
        [
            ("PATH", "/bin"),
            ("GITHUB_TOKEN", "secret"),
            ("SSH_AUTH_SOCK", "/run/agent"),
            ("LD_PRELOAD", "/x.so"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("LC_ALL", "C"),
            ("HOME", "/home/me"),
        ]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
    }

    fn who() -> Identity {
        Identity {
            home: "/root".into(),
            user: "root".into(),
        }
    }

    fn build_with(keep_env: bool, set: &[&str], unset: &[&str]) -> Result<Env> {
        let set: Vec<OsString> = set.iter().map(OsString::from).collect();
        let unset: Vec<OsString> = unset.iter().map(OsString::from).collect();
        let opts = EnvOptions {
            keep_env,
            set: &set,
            unset: &unset,
            files: &[],
            image: &[],
        };
        build(&host(), &opts, &who(), b"box")
    }

    fn get<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn secrets_stay_out_by_default() {
        let env = build_with(false, &[], &[]).unwrap();
        for secret in [
            "GITHUB_TOKEN",
            "SSH_AUTH_SOCK",
            "LD_PRELOAD",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert_eq!(get(&env, secret), None, "{secret}");
        }
        assert_eq!(get(&env, "PATH"), Some("/bin"));
        assert_eq!(get(&env, "LC_ALL"), Some("C"));
        assert_eq!(get(&env, "HOME"), Some("/root"));
        assert_eq!(get(&env, "HOSTNAME"), Some("box"));
        assert_eq!(get(&env, "container"), Some("ns-rootless"));
    }

    #[test]
    fn named_variables_pass_and_values_can_be_set() {
        let env = build_with(
            false,
            &["GITHUB_TOKEN", "MODE=ci", "EMPTY=", "NOT_ON_HOST"],
            &[],
        )
        .unwrap();
        assert_eq!(get(&env, "GITHUB_TOKEN"), Some("secret"));
        assert_eq!(get(&env, "MODE"), Some("ci"));
        assert_eq!(get(&env, "EMPTY"), Some(""));
        assert_eq!(get(&env, "NOT_ON_HOST"), None);
    }

    #[test]
    fn keep_env_keeps_everything_but_the_identity_is_ours() {
        let env = build_with(true, &[], &[]).unwrap();
        assert_eq!(get(&env, "GITHUB_TOKEN"), Some("secret"));
        assert_eq!(get(&env, "HOME"), Some("/root"));
    }

    #[test]
    fn unset_removes_last() {
        let env = build_with(true, &["X=1"], &["X", "GITHUB_TOKEN"]).unwrap();
        assert_eq!(get(&env, "X"), None);
        assert_eq!(get(&env, "GITHUB_TOKEN"), None);
    }

    #[test]
    fn bad_names_are_refused() {
        let err = build_with(false, &["=x"], &[]).unwrap_err().to_string();
        assert_eq!(err, "invalid --env \"=x\": expected NAME or NAME=VALUE");
        assert!(build_with(false, &[], &["A=B"]).is_err());
    }

    #[test]
    fn env_files_are_name_value_lines() {
        let path = std::env::temp_dir().join(format!("nsr-envfile-{}", std::process::id()));
        std::fs::write(&path, "# comment\n\nA=1\n  B=two words  \nC==x\n").unwrap();
        let read = read_env_file(&path);
        std::fs::write(&path, "A=1\nnot a pair\n").unwrap();
        let bad = read_env_file(&path);
        std::fs::remove_file(&path).unwrap();
        let env = read.unwrap();
        assert_eq!(get(&env, "A"), Some("1"));
        assert_eq!(get(&env, "B"), Some("two words"));
        assert_eq!(get(&env, "C"), Some("=x"));
        assert!(bad.unwrap_err().to_string().contains("line 2"));
    }
}
