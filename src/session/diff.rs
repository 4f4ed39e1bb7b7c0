//! `ns-rootless diff NAME`.
use anyhow::Result;
use std::ffi::OsString;

pub fn run(_env: &[(OsString, OsString)], _name: &str, _json: bool) -> Result<u8> {
    Ok(0)
}
