//! Where the password comes from: a file, an inherited descriptor or a terminal prompt.
//! Never the command line, never the environment.

use crate::error::Error;
use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
use sstp_proto::secret::Secret;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::Path;

fn first_line(mut r: impl Read) -> std::io::Result<Secret> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf)?;
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let mut line = buf[..end].to_vec();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    zeroize_vec(&mut buf);
    Ok(Secret::new(line))
}

fn zeroize_vec(v: &mut [u8]) {
    for b in v.iter_mut() {
        *b = 0;
    }
    std::hint::black_box(v);
}

/// From the first line of a file. Warns when the file is readable by others.
pub fn from_file(path: &Path) -> Result<Secret, Error> {
    from_file_named(path, "password file")
}

/// [`from_file`], naming the file `what` in messages (e.g. "proxy password file").
pub fn from_file_named(path: &Path, what: &str) -> Result<Secret, Error> {
    let f = std::fs::File::open(path)
        .map_err(|e| Error::Usage(format!("cannot read {what} {}: {e}", path.display())))?;
    if let Ok(m) = f.metadata() {
        use std::os::unix::fs::PermissionsExt;
        if m.permissions().mode() & 0o044 != 0 {
            log::warn!(
                "{what} {} is readable by other users; chmod 600 it",
                path.display()
            );
        }
    }
    first_line(f).map_err(|e| Error::Usage(format!("cannot read {what} {}: {e}", path.display())))
}

/// Take ownership of an inherited file descriptor named on the command line by `option`.
pub fn adopt_fd(fd: i32, option: &str) -> Result<std::fs::File, Error> {
    if fd < 3 || nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        return Err(Error::Usage(format!(
            "{option} {fd}: not an open descriptor above 2"
        )));
    }
    // SAFETY: the descriptor is open (checked above), is not stdin/stdout/stderr, and the
    // caller handed it to us for this one purpose, so nothing else in this process owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(std::fs::File::from(owned))
}

/// From an inherited file descriptor (consumed and closed).
pub fn from_fd(fd: i32) -> Result<Secret, Error> {
    from_fd_named(fd, "--password-fd")
}

/// [`from_fd`] for the option `option` (named in messages).
pub fn from_fd_named(fd: i32, option: &str) -> Result<Secret, Error> {
    first_line(adopt_fd(fd, option)?)
        .map_err(|e| Error::Usage(format!("cannot read the password from fd {fd}: {e}")))
}

/// Ask on the terminal with echo off, when standard input is a terminal.
pub fn prompt(user: &str) -> Result<Option<Secret>, Error> {
    let stdin = std::io::stdin();
    if !nix::unistd::isatty(std::os::fd::AsRawFd::as_raw_fd(&stdin)).unwrap_or(false) {
        return Ok(None);
    }
    let old = tcgetattr(stdin.as_fd()).map_err(|e| Error::Internal(e.to_string()))?;
    let mut t = old.clone();
    t.local_flags.remove(LocalFlags::ECHO);
    t.local_flags.insert(LocalFlags::ECHONL);
    eprint!("Password for {user}: ");
    let _ = std::io::stderr().flush();
    tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &t).map_err(|e| Error::Internal(e.to_string()))?;
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &old);
    r.map_err(|e| Error::Usage(format!("cannot read the password: {e}")))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    zeroize_vec(&mut std::mem::take(&mut line).into_bytes());
    Ok(Some(Secret::from(pw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_only() {
        let s = first_line(&b"p\xc3\xa4ss word\r\nsecond\n"[..]).unwrap();
        assert_eq!(s.expose(), "päss word".as_bytes());
        assert_eq!(
            first_line(&b"nonewline"[..]).unwrap().expose(),
            b"nonewline"
        );
        assert_eq!(first_line(&b""[..]).unwrap().expose(), b"");
    }

    #[test]
    fn file_and_fd() {
        let dir = std::env::temp_dir().join(format!("sstp-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pw");
        std::fs::write(&p, "hunter2\n").unwrap();
        assert_eq!(from_file(&p).unwrap().expose(), b"hunter2");
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"fdpass\n").unwrap();
        drop(w);
        use std::os::fd::IntoRawFd;
        assert_eq!(from_fd(r.into_raw_fd()).unwrap().expose(), b"fdpass");
        assert!(from_fd(9999).is_err());
        let e = from_file(&dir.join("missing")).unwrap_err();
        assert!(e.to_string().contains("cannot read password file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
