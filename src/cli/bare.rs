//! The most common command lines read without clap: `ns-rootless [OPTION...] [--] COMMAND
//! [ARG...]` where each option is one of a few run options of daily use (`--rootfs`,
//! `--hostname`, `--net`, `-w`/`--work`, `--bind`, `--ro-bind`, `-e`/`--env`, `--chdir`), each
//! given once in its plain form. Building clap's parser for ~40 options and running it is
//! ~140k instructions and the largest user-space stage of a start (scripts/stamps.sh:
//! `parsed` ~120 us with an option, ~25 us without). What it gives is what clap gives for the
//! same words (the tests below compare every field on a table of command lines); anything
//! else (another option, a repeated one, a value that is empty, starts with `-` or, for a
//! String option, is not UTF-8, `-eVALUE`, a lone `-`) goes to clap, and so do its errors.

use super::{Cli, MountArg, Parsed};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// `Ok` when every option in `args` (argv[0] first) is one this reads; the command is what
/// follows the options (or a `--` after them), as clap's trailing_var_arg takes it. `Err`
/// gives `args` back, for clap.
pub fn parse(args: Vec<OsString>) -> Result<Parsed, Vec<OsString>> {
    match read(&args) {
        Some((cli, mounts)) => Ok(Parsed { cli, mounts, args }),
        None => Err(args),
    }
}

/// The options read here (at most 8: `seen` is a u8).
const NAMES: [&str; 8] = [
    "--rootfs",
    "--hostname",
    "--net",
    "--chdir",
    "--bind",
    "--ro-bind",
    "--env",
    "--work",
];

fn read(args: &[OsString]) -> Option<(Cli, Vec<MountArg>)> {
    let mut cli = Cli::default();
    let mut mounts = Vec::new();
    // The options met so far, one bit each (their place in NAMES).
    let mut seen = 0u8;
    let mut rest = args.get(1..)?;
    while let Some((word, after)) = rest.split_first() {
        let bytes = word.as_encoded_bytes();
        if bytes == b"--" {
            rest = after;
            break;
        }
        if !bytes.starts_with(b"-") {
            break;
        }
        // `--name=value` or `--name value`; short options only as `-x value`.
        let (name, inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) if bytes.starts_with(b"--") => (&bytes[..i], Some(&bytes[i + 1..])),
            _ => (bytes, None),
        };
        let name = match name {
            b"-e" => b"--env".as_slice(),
            b"-w" => b"--work",
            name => name,
        };
        let at = NAMES.iter().position(|n| n.as_bytes() == name)?;
        let id = &NAMES[at][2..];
        // Given twice, clap's override rules decide: leave it to clap.
        if seen & 1 << at != 0 {
            return None;
        }
        seen |= 1 << at;
        if id == "work" {
            // num_args 0..=1 with require_equals: `-w` and `--work` alone mean ".".
            let dir = match inline {
                None => OsString::from("."),
                Some(v) if !v.is_empty() => os(v),
                Some(_) => return None,
            };
            cli.work = Some(dir.clone());
            mounts.push(MountArg::Work(dir));
            rest = after;
            continue;
        }
        let (value, after) = match inline {
            Some(v) => (v, after),
            None => {
                let (v, after) = after.split_first()?;
                (v.as_encoded_bytes(), after)
            }
        };
        if value.is_empty() || value.starts_with(b"-") {
            return None;
        }
        let text = || std::str::from_utf8(value).ok().map(str::to_owned);
        match id {
            "rootfs" => cli.rootfs = Some(PathBuf::from(os(value))),
            "hostname" => cli.hostname = Some(os(value)),
            "net" => cli.net = Some(text()?),
            "chdir" => cli.chdir = Some(PathBuf::from(os(value))),
            "env" => cli.env.push(os(value)),
            "bind" | "ro-bind" => {
                let readonly = id == "ro-bind";
                let list = if readonly {
                    &mut cli.ro_bind
                } else {
                    &mut cli.bind
                };
                let arg = os(value);
                list.push(arg.clone());
                mounts.push(MountArg::Bind {
                    arg,
                    readonly,
                    optional: false,
                });
            }
            _ => return None,
        }
        rest = after;
    }
    cli.command = rest.to_vec();
    Some((cli, mounts))
}

fn os(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("ns-rootless")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Both parsers on `args`: the same Cli, mounts and words when this one reads it.
    fn same_as_clap(args: Vec<OsString>) -> bool {
        let Ok(bare) = parse(args.clone()) else {
            return false;
        };
        let clap = super::super::clap_parse(args.clone())
            .unwrap_or_else(|e| panic!("{args:?}: read here, refused by clap: {e}"));
        assert_eq!(
            format!("{:?}", bare.cli),
            format!("{:?}", clap.cli),
            "{args:?}"
        );
        assert_eq!(bare.mounts, clap.mounts, "{args:?}");
        assert_eq!(bare.args, clap.args, "{args:?}");
        true
    }

    #[test]
    fn what_it_reads_reads_as_clap_reads_it() {
        for words in [
            &[][..],
            &["--"],
            &["true"],
            &["--", "true"],
            &["sh", "-c", "echo hi", "--", "-x"],
            &["--", "--help"],
            &["--", "--", "x"],
            &["ls", "--rootfs", "/x"],
            &["--rootfs", "/x", "sh"],
            &["--rootfs=/x", "sh"],
            &["--rootfs=/x=y", "sh"],
            &["--rootfs", "/x", "--", "sh", "--rootfs", "/y"],
            &["--rootfs", "/x"],
            &["--rootfs", "/x", "--"],
            &["--hostname", "box", "--", "hostname"],
            &["--net", "pasta", "-w", "--", "pip", "install"],
            &["--net=host", "true"],
            &["-w", "cargo", "test"],
            &["--work", "make"],
            &["--work=/src", "make"],
            &["-w", "--", "make"],
            &["--bind", "/a", "--ro-bind", "/b:/c", "-w", "true"],
            &["--ro-bind", "/b", "--bind=/a:/d", "true"],
            &["-e", "A=1", "--", "env"],
            &["--env", "A", "--chdir", "/tmp", "pwd"],
            &["--env=A=1", "env"],
            &[
                "--chdir=/",
                "--rootfs",
                "r",
                "--hostname=h",
                "--net",
                "none",
                "x",
                "-e",
                "B",
            ],
        ] {
            assert!(same_as_clap(argv(words)), "{words:?} went to clap");
        }
        let mut odd = argv(&["--hostname"]);
        odd.push(OsString::from_vec(b"h\xff".to_vec()));
        odd.push("true".into());
        assert!(same_as_clap(odd));
    }

    #[test]
    fn anything_else_goes_to_clap() {
        for words in [
            &["-t", "sh"][..],
            &["-"],
            &["--help"],
            &["--version"],
            &["--image", "a.tar", "sh"],
            &["--rootfs"],
            &["--rootfs="],
            &["--rootfs", "--", "sh"],
            &["--rootfs", "-x", "sh"],
            &["--rootfs", "/a", "--rootfs", "/b", "sh"],
            &["--bind", "/a", "--bind", "/b", "sh"],
            &["-e", "A", "-e", "B", "sh"],
            &["-eA=1", "sh"],
            &["-w=/src", "sh"],
            &["-w/src", "sh"],
            &["--work=", "sh"],
            &["-wt", "sh"],
            &["--rootfs", "/x", "--image", "y", "sh"],
            &["--rootfs", "/x", "--bogus", "sh"],
            &["--root", "/x", "sh"],
            &["--net"],
            &["--hostname", "-h", "sh"],
            &["--rootfs", "/x", "-"],
        ] {
            assert!(parse(argv(words)).is_err(), "{words:?}");
        }
        let mut odd = argv(&["--net"]);
        odd.push(OsString::from_vec(b"p\xff".to_vec()));
        assert!(parse(odd).is_err());
    }

    /// Where this parser steps aside, clap's own answer stands, errors included (what a bare
    /// parser would have to copy word for word, and doesn't).
    #[test]
    fn bad_values_reach_clap_s_error() {
        for words in [
            &["--rootfs"][..],
            &["--rootfs="],
            &["--rootfs", "--", "sh"],
            &["--rootfs", "/x", "--image", "y", "sh"],
            &["--root", "/x"],
            &["-w/src", "sh"],
        ] {
            let args = argv(words);
            assert!(parse(args.clone()).is_err(), "{words:?}");
            assert!(super::super::parse(args).is_err(), "{words:?}");
        }
    }
}
