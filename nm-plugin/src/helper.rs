//! Running sstp-helper: the password pipe, the status pipe, its stderr, its exit.
//!
//! Everything the helper reports comes back as a [`machine::Input`](crate::machine::Input) on
//! a channel. [`Launcher`] is a trait so that tests can drive the service without processes.

use crate::machine::{HelperCommand, Input};
use crate::settings::{PASSWORD_FD, PROXY_PASSWORD_FD, STATUS_FD};
use sstp_proto::ipc::{IpcError, Msg};
use sstp_proto::secret::Secret;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Starts helpers.
pub trait Launcher: Send {
    /// Start one; its status, log and exit arrive on `events`.
    fn spawn(
        &mut self,
        cmd: HelperCommand,
        events: UnboundedSender<Input>,
    ) -> std::io::Result<Box<dyn Running>>;
}

/// A started helper.
pub trait Running: Send {
    /// Send a signal (SIGTERM, SIGKILL) unless it is already gone.
    fn signal(&mut self, sig: i32);
}

/// Where sstp-helper is: `$NM_SSTP_HELPER`, next to us, the libexec dirs, `/usr/sbin` (where
/// the packages put it), then `$PATH`.
pub fn find_helper(env_override: Option<&str>, me: Option<&Path>) -> PathBuf {
    if let Some(p) = env_override.filter(|s| !s.is_empty()) {
        return PathBuf::from(p);
    }
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(dir) = me.and_then(|m| m.parent()) {
        cands.push(dir.join("sstp-helper"));
    }
    cands.push("/usr/libexec/sstp-helper".into());
    cands.push("/usr/lib/NetworkManager/sstp-helper".into());
    cands.push("/usr/sbin/sstp-helper".into());
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            cands.push(d.join("sstp-helper"));
        }
    }
    cands
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| "/usr/libexec/sstp-helper".into())
}

/// One stderr line of the helper: `<timestamp> <LEVEL> <message>`. Returns level and message.
pub fn parse_log_line(line: &str) -> (Option<log::Level>, &str) {
    let mut it = line.splitn(3, ' ');
    let (Some(_ts), Some(lvl)) = (it.next(), it.next()) else {
        return (None, line);
    };
    let level = match lvl {
        "ERROR" => log::Level::Error,
        "WARN" => log::Level::Warn,
        "INFO" => log::Level::Info,
        "DEBUG" => log::Level::Debug,
        "TRACE" => log::Level::Trace,
        _ => return (None, line),
    };
    (Some(level), it.next().unwrap_or("").trim_start())
}

/// The real thing: fork/exec with the two pipes on fds 3 and 4.
#[derive(Debug, Default)]
pub struct ProcessLauncher;

struct Proc {
    pid: i32,
    gone: Arc<Mutex<bool>>,
}

impl Running for Proc {
    fn signal(&mut self, sig: i32) {
        let gone = self.gone.lock().unwrap_or_else(|e| e.into_inner());
        if !*gone {
            // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our child, not yet
            // reaped (checked under the lock the reaper takes), so it cannot name another process.
            unsafe {
                libc::kill(self.pid, sig);
            }
        }
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Launcher for ProcessLauncher {
    fn spawn(
        &mut self,
        cmd: HelperCommand,
        events: UnboundedSender<Input>,
    ) -> std::io::Result<Box<dyn Running>> {
        let (pw_r, pw_w) = pipe()?;
        let (st_r, st_w) = pipe()?;
        // The passwords fit the pipe buffer: write them before the child exists.
        let fill = |w: OwnedFd, secret: &Secret| -> std::io::Result<()> {
            let mut w = std::fs::File::from(w);
            let mut buf = secret.expose().to_vec();
            buf.push(b'\n');
            let r = w.write_all(&buf);
            buf.iter_mut().for_each(|b| *b = 0);
            r
        };
        fill(pw_w, &cmd.password)?;
        let proxy_r = match &cmd.proxy_password {
            Some(p) => {
                let (r, w) = pipe()?;
                fill(w, p)?;
                Some(r)
            }
            None => None,
        };
        let proxy_fd = proxy_r.as_ref().map(|r| r.as_raw_fd()).unwrap_or(-1);
        let (pw_fd, st_fd) = (pw_r.as_raw_fd(), st_w.as_raw_fd());
        let mut c = Command::new(&cmd.program);
        c.args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG");
        // SAFETY: the closure runs in the child between fork and exec and only calls
        // async-signal-safe functions (fcntl, dup2, prctl, getppid) on plain integers.
        unsafe {
            c.pre_exec(move || {
                // move both out of the way first, so that dup2 onto 3/4 cannot clobber either
                let a = libc::fcntl(pw_fd, libc::F_DUPFD_CLOEXEC, 10);
                let b = libc::fcntl(st_fd, libc::F_DUPFD_CLOEXEC, 10);
                if a < 0 || b < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let c = if proxy_fd >= 0 {
                    libc::fcntl(proxy_fd, libc::F_DUPFD_CLOEXEC, 10)
                } else {
                    -1
                };
                if proxy_fd >= 0 && c < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::dup2(a, PASSWORD_FD) < 0 || libc::dup2(b, STATUS_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if c >= 0 && libc::dup2(c, PROXY_PASSWORD_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // the helper (and so pppd) must not outlive us
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                if libc::getppid() == 1 {
                    return Err(std::io::Error::other("parent died"));
                }
                Ok(())
            });
        }
        let mut child = c.spawn()?;
        drop(pw_r);
        drop(st_w);
        drop(proxy_r);
        let pid = child.id() as i32;
        log::debug!("sstp-helper started with pid {pid}");
        let gone = Arc::new(Mutex::new(false));
        let last_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));

        // status frames
        let tx = events.clone();
        let status = std::thread::spawn(move || {
            let mut f = std::fs::File::from(st_r);
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                match f.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                loop {
                    match Msg::decode(&buf) {
                        Ok((m, used)) => {
                            buf.drain(..used);
                            let _ = tx.send(Input::Helper(m));
                        }
                        Err(IpcError::Incomplete) => break,
                        Err(e) => {
                            log::warn!("sstp-helper status pipe: {e}; ignoring the rest");
                            return;
                        }
                    }
                }
            }
        });

        // stderr: forward to our log, keep the last ERROR line
        let stderr = child.stderr.take();
        let le = last_error.clone();
        let errs = std::thread::spawn(move || {
            let Some(s) = stderr else { return };
            for line in BufReader::new(s).lines() {
                let Ok(line) = line else { break };
                let (lvl, msg) = parse_log_line(&line);
                match lvl {
                    Some(log::Level::Error) => {
                        log::error!("sstp-helper: {msg}");
                        *le.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg.to_string());
                    }
                    Some(l) => log::log!(l, "sstp-helper: {msg}"),
                    None => log::info!("sstp-helper: {line}"),
                }
            }
        });

        // reaper
        let g = gone.clone();
        std::thread::spawn(move || {
            let st = child.wait();
            *g.lock().unwrap_or_else(|e| e.into_inner()) = true;
            // give the readers a moment to drain (pppd may hold a copy of a pipe)
            for t in [status, errs] {
                let deadline = std::time::Instant::now() + Duration::from_millis(1500);
                while !t.is_finished() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if t.is_finished() {
                    let _ = t.join();
                }
            }
            let code = st.ok().and_then(|s| s.code());
            let reason = last_error.lock().unwrap_or_else(|e| e.into_inner()).take();
            let _ = events.send(Input::HelperExited { code, reason });
        });
        Ok(Box::new(Proc { pid, gone }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sstp_proto::secret::Secret;

    #[test]
    fn log_lines() {
        assert_eq!(
            parse_log_line("2026-11-22T04:11:02.144Z ERROR TLS: certificate is for a, not b"),
            (Some(log::Level::Error), "TLS: certificate is for a, not b")
        );
        assert_eq!(
            parse_log_line("2026-11-22T04:11:02.144Z INFO  TCP connected"),
            (Some(log::Level::Info), "TCP connected")
        );
        assert_eq!(parse_log_line("garbage"), (None, "garbage"));
    }

    #[test]
    fn helper_lookup_prefers_the_override() {
        assert_eq!(
            find_helper(Some("/x/sstp-helper"), None),
            PathBuf::from("/x/sstp-helper")
        );
        let p = find_helper(None, Some(Path::new("/nonexistent/nm-sstp-service")));
        assert!(p.is_absolute());
    }

    /// A shell script stands in for sstp-helper: it reads the password from fd 3, writes one
    /// status frame to fd 4, logs an ERROR line and exits 9.
    #[test]
    fn real_process_pipes_and_exit() {
        let frame = Msg::Server("192.0.2.1".parse().unwrap()).encode();
        let esc: String = frame.iter().map(|b| format!("\\{b:03o}")).collect();
        let dir = std::env::temp_dir().join(format!("nm-sstp-helper-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("pw");
        let script = format!(
            "read -r pw <&3; read -r ppw <&5; printf '%s|%s' \"$pw\" \"$ppw\" > {out}; \
             printf '{esc}' >&4; \
             echo '2026-01-01T00:00:00.000Z INFO  hello' >&2; \
             echo '2026-01-01T00:00:00.000Z ERROR authentication failed: E=691' >&2; exit 9",
            out = out.display()
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cmd = HelperCommand {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script],
            password: Secret::new(b"p@ss word".to_vec()),
            proxy_password: Some(Secret::new(b"proxy pw".to_vec())),
        };
        let _h = ProcessLauncher.spawn(cmd, tx).unwrap();
        let mut got = Vec::new();
        while let Some(i) = rx.blocking_recv() {
            let end = matches!(i, Input::HelperExited { .. });
            got.push(format!("{i:?}"));
            if end {
                break;
            }
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "p@ss word|proxy pw");
        assert!(got[0].contains("Server(192.0.2.1)"), "{got:?}");
        assert!(
            got.last().unwrap().contains("code: Some(9)")
                && got.last().unwrap().contains("authentication failed: E=691"),
            "{got:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
