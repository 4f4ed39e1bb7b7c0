//! The interactive terminal, parent side. The payload never holds the user's terminal: it gets a
//! pty of the sandbox's own devpts, and ns-rootless relays bytes between that pty's master and
//! the user's terminal (in raw mode). So nothing inside can push keystrokes into the user's shell
//! (TIOCSTI, CVE-2017-5226), while Ctrl-C, Ctrl-Z and job control work inside as usual.

use crate::sys;
use anyhow::{Context, Result};
use nix::libc;
use nix::poll::{PollFd, PollFlags};
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

/// What the pty inside starts with: the user's terminal settings and size.
#[derive(Clone, Copy)]
pub struct PtySetup {
    pub termios: Option<libc::termios>,
    pub winsize: libc::winsize,
}

impl PtySetup {
    pub fn from_stdin() -> PtySetup {
        let stdin = std::io::stdin();
        let termios = termios::tcgetattr(stdin.as_fd())
            .ok()
            .map(libc::termios::from);
        let winsize = sys::window_size(0).unwrap_or(libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        PtySetup { termios, winsize }
    }
}

/// The user's terminal in raw mode; its settings come back on drop, however we leave.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> Result<Option<RawMode>> {
        let stdin = std::io::stdin();
        if !sys::is_terminal(0) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(stdin.as_fd()).context("reading the terminal settings")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
            .context("switching the terminal to raw mode")?;
        Ok(Some(RawMode { saved }))
    }
}

/// Starts relaying the pty `master` and puts the user's terminal in raw mode (restored when the
/// returned guard drops).
pub fn attach(master: OwnedFd, setup: &PtySetup) -> Result<(Relay, Option<RawMode>)> {
    let relay = Relay::new(master, setup)?;
    Ok((relay, RawMode::enter()?))
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// The settings of the caller's terminal, when the command gets it itself (no pty: `-T`, or
/// stdin not a terminal but stdout or stderr one): the command can change them (`stty raw`,
/// a crashed full-screen program) and they come back when the guard drops.
pub struct Saved {
    /// Each of fds 0-2 that is a terminal, with its settings.
    terminals: Vec<(RawFd, Termios)>,
}

impl Saved {
    pub fn now() -> Saved {
        // tcgetattr fails (ENOTTY) on what is not a terminal: no isatty first, which is the
        // same ioctl.
        let terminals = (0..3)
            .filter_map(|fd| Some((fd, termios::tcgetattr(sys::stdio(fd)).ok()?)))
            .collect();
        Saved { terminals }
    }
}

impl Drop for Saved {
    fn drop(&mut self) {
        for (fd, saved) in &self.terminals {
            let fd = sys::stdio(*fd);
            // Only while the terminal is ours: from the background, the shell or the program
            // in the foreground owns its settings now (and tcsetattr would stop us, SIGTTOU).
            let foreground = nix::unistd::tcgetpgrp(fd) == Ok(nix::unistd::getpgrp());
            if foreground && termios::tcgetattr(fd).is_ok_and(|now| now != *saved) {
                let _ = termios::tcsetattr(fd, SetArg::TCSANOW, saved);
            }
        }
    }
}

const CHUNK: usize = 64 * 1024;

/// The three ends of the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Stdin,
    Master,
    Stdout,
}

/// Bytes in flight between the user's terminal (fds 0 and 1) and the pty master.
pub struct Relay {
    master: OwnedFd,
    stdin_open: bool,
    stdout_open: bool,
    master_open: bool,
    to_master: Vec<u8>,
    to_stdout: Vec<u8>,
    /// What to send when stdin ends (the pty's VEOF, ^D), so a forced `-t` with piped input
    /// still ends the payload's input.
    eof_char: u8,
    /// The last byte read from stdin, to know whether its input ended mid-line.
    last_to_master: Option<u8>,
}

impl Relay {
    pub fn new(master: OwnedFd, setup: &PtySetup) -> Result<Relay> {
        sys::set_nonblocking(master.as_raw_fd()).map_err(|e| {
            anyhow::anyhow!(
                "setting up the terminal relay: {}",
                crate::error::strerror(e)
            )
        })?;
        Ok(Relay {
            master,
            stdin_open: true,
            stdout_open: true,
            master_open: true,
            to_master: Vec::with_capacity(CHUNK),
            to_stdout: Vec::with_capacity(CHUNK),
            eof_char: setup.termios.map_or(4, |t| t.c_cc[libc::VEOF]),
            last_to_master: None,
        })
    }

    /// The payload's side is closed and everything it wrote has been passed on.
    pub fn finished(&self) -> bool {
        !self.master_open && (self.to_stdout.is_empty() || !self.stdout_open)
    }

    pub fn resize(&self) {
        if let Some(ws) = sys::window_size(0) {
            sys::set_window_size(self.master.as_raw_fd(), &ws);
        }
    }

    /// The ends to poll now, and what for. An end we don't want right now is left out
    /// altogether: poll reports POLLHUP and POLLERR even for an fd asking for nothing, so a
    /// closed stdin, a dead pty or a closed stdout would make the loop spin.
    pub fn poll_fds(&self) -> Vec<(End, PollFd<'_>)> {
        let (stdin, stdout) = (sys::stdio(0), sys::stdio(1));
        let mut master = PollFlags::empty();
        if self.master_open && self.to_stdout.is_empty() {
            master |= PollFlags::POLLIN;
        }
        if self.master_open && !self.to_master.is_empty() {
            master |= PollFlags::POLLOUT;
        }
        let mut fds = Vec::with_capacity(3);
        if self.stdin_open && self.master_open && self.to_master.is_empty() {
            fds.push((End::Stdin, PollFd::new(stdin, PollFlags::POLLIN)));
        }
        if !master.is_empty() {
            fds.push((End::Master, PollFd::new(self.master.as_fd(), master)));
        }
        if self.stdout_open && !self.to_stdout.is_empty() {
            fds.push((End::Stdout, PollFd::new(stdout, PollFlags::POLLOUT)));
        }
        fds
    }

    /// Moves what poll said can move: `ready` pairs each polled end with its revents.
    pub fn handle(&mut self, ready: &[(End, PollFlags)]) {
        let of = |end: End| {
            ready
                .iter()
                .find(|(e, _)| *e == end)
                .map_or(PollFlags::empty(), |(_, r)| *r)
        };
        let (stdin, master, stdout) = (of(End::Stdin), of(End::Master), of(End::Stdout));
        let gone = PollFlags::POLLHUP | PollFlags::POLLERR;
        if stdin.intersects(PollFlags::POLLIN | gone) {
            match read_into(0, &mut self.to_master) {
                Ok(0) | Err(_) => {
                    self.stdin_open = false;
                    // VEOF ends the input only at the start of a line; after a partial line it
                    // just hands that line over, so it takes a second one.
                    if self.last_to_master.is_some_and(|b| b != b'\n') {
                        self.to_master.push(self.eof_char);
                    }
                    self.to_master.push(self.eof_char);
                }
                Ok(_) => self.last_to_master = self.to_master.last().copied(),
            }
        }
        if master.contains(PollFlags::POLLOUT) {
            match write_from(self.master.as_raw_fd(), &mut self.to_master) {
                Ok(_) | Err(libc::EAGAIN) => {}
                Err(_) => self.to_master.clear(),
            }
        }
        if master.intersects(PollFlags::POLLIN | gone) {
            self.read_master();
        }
        // When nobody reads our output any more, keep draining the pty so the payload isn't
        // blocked, but drop what it writes.
        if stdout.intersects(PollFlags::POLLOUT | gone)
            && write_from(1, &mut self.to_stdout).is_err()
        {
            self.stdout_open = false;
            self.to_stdout.clear();
        }
    }

    fn read_master(&mut self) {
        match read_into(self.master.as_raw_fd(), &mut self.to_stdout) {
            Ok(0) => self.master_open = false,
            Ok(_) | Err(libc::EAGAIN) | Err(libc::EINTR) => {}
            // EIO: every slave fd is closed, the payload is gone.
            Err(_) => self.master_open = false,
        }
        if !self.stdout_open {
            self.to_stdout.clear();
        }
    }
}

/// Appends what one read(2) of `fd` gives (up to CHUNK bytes) to `buf`. Into the Vec's spare
/// capacity: a pty read brings at most a few KiB, and zeroing 64 KiB for each (as a resize
/// would) cost more than the read.
fn read_into(fd: RawFd, buf: &mut Vec<u8>) -> Result<usize, i32> {
    buf.reserve(CHUNK);
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(CHUNK);
    // SAFETY: read(2) writes at most `len` bytes at the start of the spare capacity.
    let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), len) };
    let Ok(n) = usize::try_from(n) else {
        return Err(nix::errno::Errno::last_raw());
    };
    // SAFETY: the first `n` bytes of the spare capacity were just written.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

fn write_from(fd: RawFd, buf: &mut Vec<u8>) -> Result<usize, i32> {
    let fd = sys::borrow(fd);
    let n = nix::unistd::write(fd, buf).map_err(|e| e as i32)?;
    buf.drain(..n);
    Ok(n)
}
