//! The XDG base directories (XDG Base Directory Specification): `$XDG_..._HOME` when it is an
//! absolute path (a relative one is ignored, as the specification says), else a directory of
//! `$HOME`. One lookup for the image store, the sessions and the profiles.

use anyhow::{anyhow, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// `$var` when absolute, else `$HOME/fallback` when HOME is; `get` reads a variable.
pub fn dir(get: impl Fn(&str) -> Option<OsString>, var: &str, fallback: &str) -> Option<PathBuf> {
    let absolute = |k: &str| get(k).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(var).or_else(|| Some(absolute("HOME")?.join(fallback)))
}

/// Reads variables of `env` (the caller's environment as the host saw it).
pub fn of(env: &[(OsString, OsString)]) -> impl Fn(&str) -> Option<OsString> + '_ {
    move |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// `$var` of `env` as `dir` finds it, or says which variable to set.
pub fn required(
    env: &[(OsString, OsString)],
    var: &str,
    fallback: &str,
    what: &str,
) -> Result<PathBuf> {
    dir(of(env), var, fallback).ok_or_else(|| {
        anyhow!("finding {what}: neither {var} nor HOME is set to an absolute path; set {var}")
    })
}

/// An environment of `pairs`, for tests.
#[cfg(test)]
pub fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_variable_else_home() {
        let d = |e: &[(OsString, OsString)]| dir(of(e), "XDG_DATA_HOME", ".local/share");
        let set = env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(d(&set), Some("/x".into()));
        let relative = env(&[("XDG_DATA_HOME", "x"), ("HOME", "/h")]);
        assert_eq!(d(&relative), Some("/h/.local/share".into()));
        assert_eq!(d(&env(&[("HOME", "h")])), None);
        assert_eq!(d(&[]), None);
    }
}
