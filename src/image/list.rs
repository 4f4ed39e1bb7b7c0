//! `ns-rootless images`: what the store holds.
use anyhow::Result;
use std::ffi::OsString;

pub fn run(_env: &[(OsString, OsString)], _prune: bool, _json: bool) -> Result<u8> {
    Ok(0)
}
