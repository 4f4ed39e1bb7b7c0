//! `ns-rootless images [--prune]`, `diff`, `apply`, `discard`.
use crate::cli::StoreAction;
use anyhow::Result;
use std::ffi::OsString;

pub fn run(action: StoreAction, env: &[(OsString, OsString)]) -> Result<u8> {
    match action {
        StoreAction::Images { prune, json } => super::list::run(env, prune, json),
        StoreAction::Diff { name, json } => crate::session::diff::run(env, &name, json),
        StoreAction::Apply { name } => crate::session::apply::run(env, &name),
        StoreAction::Discard { name } => crate::session::discard(env, &name),
    }
}
