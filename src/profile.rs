//! `--profile NAME`: run options kept in a TOML file (or built in), given before the command
//! line's own.
//!
//! A profile's keys are the long options (`hostname = "x"`, `share-net = true`), repeatable ones
//! take arrays (`ro-bind = ["~/.cargo/registry"]`), and `~` expands to the caller's home where a
//! shell expands it in an assignment: at the start of a value and after `=` or `:`. Profiles are
//! read only from the caller's config directory, never from the current directory: a file in a
//! project could grant itself host access.

use crate::cli::{self, Parsed};
use crate::error::quote;
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// The toolchain recipes: what a build needs from a home directory, read-only, with the
/// environment that finds it. Network stays private: hence the offline settings.
pub const BUILT_IN: [(&str, &str); 3] = [
    (
        "rust",
        r#"# rustup's toolchains and cargo's crate cache, read-only; build with --offline
ro-bind-try = ["~/.rustup", "~/.cargo/bin", "~/.cargo/registry", "~/.cargo/git"]
env = ["RUSTUP_HOME=~/.rustup", "CARGO_HOME=~/.cargo", "CARGO_NET_OFFLINE=true", "PATH=~/.cargo/bin:/usr/local/bin:/usr/bin:/bin"]
"#,
    ),
    (
        "node",
        r#"# nvm's node versions and npm's cache, read-only; install with npm ci --offline
ro-bind-try = ["~/.nvm", "~/.npm"]
env = ["NVM_DIR=~/.nvm", "npm_config_cache=~/.npm", "npm_config_offline=true"]
"#,
    ),
    (
        "python",
        r#"# pyenv's interpreters and user-installed packages, read-only
ro-bind-try = ["~/.pyenv", "~/.local"]
env = ["PYENV_ROOT=~/.pyenv", "PYTHONUSERBASE=~/.local", "PYTHONDONTWRITEBYTECODE=1"]
"#,
    ),
];

/// The run's options with the profile's first, parsed again; `parsed` when it names none.
pub fn apply(parsed: Parsed) -> Result<Parsed> {
    let Some(name) = parsed.cli.daily.profile.clone() else {
        return Ok(parsed);
    };
    let (text, origin) = find(&name)?;
    let words = options(&name, &text, &home)?;
    let args = parsed.args[..1]
        .iter()
        .cloned()
        .chain(words)
        .chain(parsed.args[1..].iter().cloned());
    cli::parse(args).map_err(|e| {
        anyhow!(
            "invalid --profile {}: {} (from {origin})",
            quote(&name),
            crate::clap_summary(&e)
        )
    })
}

/// The profile's text and where it came from (its file, or "built in").
fn find(name: &str) -> Result<(String, String)> {
    check_name(name)?;
    if let Some(dir) = user_dir() {
        let path = dir.join(format!("{name}.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok((text, quote(&path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "invalid --profile {}: reading {}",
                        quote(name),
                        quote(&path)
                    )
                })
            }
        }
    }
    match BUILT_IN.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => Ok((text.to_string(), "the built-in profile".into())),
        None => bail!(
            "invalid --profile {}: no such profile; built in: rust, node, python; yours go in {}",
            quote(name),
            user_dir().map_or("$XDG_CONFIG_HOME/ns-rootless/profiles".into(), |d| quote(
                d.join(format!("{name}.toml"))
            ))
        ),
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!(
            "invalid --profile {}: a profile name is letters, digits, '.', '_' and '-'",
            quote(name)
        );
    }
    Ok(())
}

/// `$XDG_CONFIG_HOME/ns-rootless/profiles`, or `~/.config/...` (None: neither is known).
pub fn user_dir() -> Option<PathBuf> {
    let config = crate::xdg::dir(|k| std::env::var_os(k), "XDG_CONFIG_HOME", ".config")
        .or_else(|| home().ok().map(|h| h.join(".config")))?;
    Some(config.join("ns-rootless/profiles"))
}

/// The caller's home: $HOME, else the passwd entry's.
fn home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").map(PathBuf::from) {
        if h.is_absolute() {
            return Ok(h);
        }
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .ok_or_else(|| anyhow!("`~` needs the caller's home directory, and neither $HOME nor a passwd entry gives one"))
}

/// The profile as command-line words: `--key=value`, `--flag`, one per array element.
fn options(name: &str, text: &str, home: &dyn Fn() -> Result<PathBuf>) -> Result<Vec<OsString>> {
    let bad = |why: String| anyhow!("invalid --profile {}: {why}", quote(name));
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        bad(format!("not TOML: {}", e.message().replace('\n', " ")))
    })?;
    let command = <cli::Cli as clap::CommandFactory>::command();
    let mut words = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(&long) && !a.is_hide_set())
            .filter(|_| !["profile", "help", "version"].contains(&long.as_str()))
            .ok_or_else(|| bad(format!("unknown option {}", quote(key))))?;
        let takes_value = arg.get_action().takes_values();
        let repeatable = matches!(arg.get_action(), clap::ArgAction::Append);
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) if repeatable => items.iter().collect(),
            toml::Value::Array(_) => {
                return Err(bad(format!("{} takes one value, not an array", quote(key))))
            }
            v => vec![v],
        };
        for v in values {
            match v {
                toml::Value::Boolean(true) => words.push(format!("--{long}").into()),
                toml::Value::Boolean(false) => {}
                toml::Value::String(s) if takes_value || long == "work" => {
                    let s = expand_home(s, home).map_err(|e| bad(e.to_string()))?;
                    let mut word = OsString::from(format!("--{long}="));
                    word.push(s);
                    words.push(word);
                }
                toml::Value::Integer(n) if takes_value => {
                    words.push(format!("--{long}={n}").into())
                }
                _ => return Err(bad(format!("bad value for {}", quote(key)))),
            }
        }
    }
    Ok(words)
}

/// `~` at the start of the value and after `=` or `:`, followed by `/` or the end of that part.
fn expand_home(value: &str, home: &dyn Fn() -> Result<PathBuf>) -> Result<OsString> {
    let mut out = OsString::new();
    let mut rest = value;
    let mut at_start = true;
    while !rest.is_empty() {
        let tilde = at_start
            && rest.starts_with('~')
            && (rest.len() == 1 || rest[1..].starts_with(['/', ':']));
        if tilde {
            out.push(home()?);
            rest = &rest[1..];
            at_start = false;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        at_start = c == '=' || c == ':';
        let mut buf = [0u8; 4];
        out.push(&*c.encode_utf8(&mut buf));
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// `ns-rootless profiles`: the built-in ones and the user's, with their options.
pub fn list(out: &mut dyn std::io::Write) -> Result<()> {
    let mut text = String::new();
    let dir = user_dir();
    let mut user: Vec<(String, PathBuf)> = Vec::new();
    if let Some(entries) = dir.as_deref().and_then(|d| std::fs::read_dir(d).ok()) {
        for entry in entries.flatten() {
            let path = entry.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
            if let (Some(stem), Some("toml")) = (stem, path.extension().and_then(|e| e.to_str())) {
                if check_name(&stem).is_ok() {
                    user.push((stem, path));
                }
            }
        }
    }
    user.sort();
    for (name, body) in BUILT_IN {
        let shadowed = user.iter().any(|(n, _)| n == name);
        let note = if shadowed { " (replaced by yours)" } else { "" };
        text.push_str(&format!("{name}: built in{note}\n{}\n", indent(body)));
    }
    for (name, path) in &user {
        let body = std::fs::read_to_string(path).unwrap_or_default();
        text.push_str(&format!("{name}: {}\n{}\n", quote(path), indent(&body)));
    }
    match dir {
        Some(d) => text.push_str(&format!(
            "Your profiles go in {}\n",
            quote(d.join("NAME.toml"))
        )),
        None => {
            text.push_str("Your profiles go in $XDG_CONFIG_HOME/ns-rootless/profiles/NAME.toml\n")
        }
    }
    out.write_all(text.as_bytes())
        .context("writing the profiles")
}

fn indent(body: &str) -> String {
    body.lines()
        .map(|l| format!("    {}", crate::error::escape(l.as_bytes())))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Result<PathBuf> {
        Ok(PathBuf::from("/home/u"))
    }

    #[test]
    fn tilde_expands_where_a_shell_would() {
        let e = |s: &str| expand_home(s, &home).unwrap();
        assert_eq!(e("~/.cargo"), "/home/u/.cargo");
        assert_eq!(e("~"), "/home/u");
        assert_eq!(e("~/a:~/b"), "/home/u/a:/home/u/b");
        assert_eq!(e("CARGO_HOME=~/.cargo"), "CARGO_HOME=/home/u/.cargo");
        assert_eq!(e("a~/b"), "a~/b");
        assert_eq!(e("~other/x"), "~other/x");
    }

    #[test]
    fn keys_are_long_options_and_arrays_repeat() {
        let words = options(
            "t",
            "hostname = \"box\"\nshare-net = true\nro_bind = [\"~/a\", \"/b\"]\nwork = true\n",
            &home,
        )
        .unwrap();
        let words: Vec<_> = words.iter().map(|w| w.to_str().unwrap()).collect();
        assert_eq!(
            words,
            [
                "--hostname=box",
                "--ro-bind=/home/u/a",
                "--ro-bind=/b",
                "--share-net",
                "--work"
            ]
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = |t: &str| options("t", t, &home).unwrap_err().to_string();
        assert!(err("nope = 1").contains("unknown option \"nope\""));
        assert!(err("profile = \"x\"").contains("unknown option"));
        assert!(err("hostname = [\"a\"]").contains("not an array"));
        assert!(err("hostname =").contains("not TOML"));
    }

    #[test]
    fn built_in_profiles_parse() {
        for (name, text) in BUILT_IN {
            assert!(!options(name, text, &home).unwrap().is_empty(), "{name}");
        }
    }

    #[test]
    fn names_cannot_leave_the_profile_directory() {
        for bad in ["../x", ".hidden", "a/b", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("rust-1.85").is_ok());
    }
}
