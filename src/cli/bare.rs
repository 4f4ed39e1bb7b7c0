//! The most common command line, `ns-rootless [--] COMMAND [ARG...]` with no option, read
//! without clap: building clap's parser for ~35 options and running it is ~140k instructions
//! and the largest user-space stage of a start (scripts/stamps.sh: `parsed` ~90 us, ~25 us
//! with this). What it gives is what clap gives for the same words (the test below compares
//! every field); anything else, down to a lone `-`, goes to clap.

use super::{Cli, DailyOptions, Parsed, SeccompMode};
use std::ffi::OsString;

/// `Some` when `args` (argv[0] first) holds no option: everything after argv[0], or after a
/// leading `--`, is the command, as clap's trailing_var_arg takes it.
pub fn parse(args: &[OsString]) -> Option<Parsed> {
    let rest = args.get(1..)?;
    let command = match rest.first() {
        Some(first) if first == "--" => &rest[1..],
        Some(first) if first.as_encoded_bytes().starts_with(b"-") => return None,
        _ => rest,
    };
    Some(Parsed {
        cli: Cli {
            name: None,
            detach: false,
            rm: false,
            log_size: None,
            hostname: None,
            tty: false,
            no_tty: false,
            share_net: false,
            net: None,
            time_offset: None,
            publish: vec![],
            rootfs: None,
            image: None,
            cow: false,
            bind: vec![],
            ro_bind: vec![],
            bind_try: vec![],
            ro_bind_try: vec![],
            tmpfs: vec![],
            dir: vec![],
            symlink: vec![],
            hide: vec![],
            work: None,
            chdir: None,
            env: vec![],
            keep_env: false,
            unset_env: vec![],
            env_file: vec![],
            uid: None,
            gid: None,
            allow_root: false,
            limit: vec![],
            timeout: None,
            allow: vec![],
            seccomp: SeccompMode::Default,
            seccomp_fd: None,
            daily: DailyOptions {
                profile: None,
                result_json: None,
                json: false,
            },
            command: command.to_vec(),
        },
        mounts: vec![],
        args: args.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_bare_command_reads_as_clap_reads_it() {
        for words in [
            &["ns-rootless"][..],
            &["ns-rootless", "--"],
            &["ns-rootless", "true"],
            &["ns-rootless", "--", "true"],
            &["ns-rootless", "sh", "-c", "echo hi", "--", "-x"],
            &["ns-rootless", "--", "--help"],
            &["ns-rootless", "--", "--", "x"],
            &["ns-rootless", "ls", "--rootfs", "/x"],
        ] {
            let args = argv(words);
            let bare = parse(&args).expect("a bare command line");
            let clap = super::super::clap_parse(args.clone()).unwrap();
            assert_eq!(
                format!("{:?}", bare.cli),
                format!("{:?}", clap.cli),
                "{words:?}"
            );
            assert_eq!(bare.mounts, clap.mounts, "{words:?}");
            assert_eq!(bare.args, clap.args, "{words:?}");
        }
    }

    #[test]
    fn any_option_goes_to_clap() {
        for words in [
            &["ns-rootless", "-t", "sh"][..],
            &["ns-rootless", "--rootfs", "/x", "sh"],
            &["ns-rootless", "-"],
            &["ns-rootless", "--help"],
        ] {
            assert!(parse(&argv(words)).is_none(), "{words:?}");
        }
    }
}
