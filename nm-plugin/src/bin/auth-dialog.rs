//! nm-sstp-auth-dialog: see [`nm_sstp_service::auth_dialog`].

use std::io::{BufRead, BufReader, Write};

/// Read a secret from the controlling terminal with echo off (plain mode only).
fn ask_tty(prompt: &str) -> Option<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&tty);
    // SAFETY: a zeroed termios is a valid out-buffer for tcgetattr on an open fd.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the lifetime of `tty`; `t` is a valid termios.
    let have = unsafe { libc::tcgetattr(fd, &mut t) } == 0;
    let old = t;
    if have {
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    let mut w = &tty;
    let _ = write!(w, "{prompt}");
    let _ = w.flush();
    let mut line = String::new();
    let r = BufReader::new(&tty).read_line(&mut line);
    if have {
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    r.ok()?;
    Some(line.trim_end_matches(['\n', '\r']).to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let rc = nm_sstp_service::auth_dialog::run(args, &mut input, &mut out, &mut ask_tty);
    std::process::exit(rc);
}
