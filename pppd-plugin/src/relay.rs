//! The plugin's side of the conversation with `sstp-helper` (safe code, no pppd symbols).
//!
//! One blocking Unix stream connection, opened on first need and kept for the life of pppd.
//! Every request is written whole, and its answer read with a deadline. After any failure
//! (including a timeout) the connection is dropped, so a late answer can never be taken for the
//! answer to a later request; the next request connects again.
//!
//! Nothing here logs: errors go back to the caller (the FFI layer logs them through pppd), and
//! no error text ever contains a password or key.

use sstp_proto::ipc::{IpcError, Msg, MAX_BODY};
use sstp_proto::secret::Secret;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long each exchange may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting and writing a request.
    pub write: Duration,
    /// Waiting for `Password` after `PasswordRequest`.
    pub password: Duration,
    /// Waiting for `AuthAck` after `AuthUp`: the helper answers only after it has written the
    /// SSTP Call Connected, which may wait on the server.
    pub auth_ack: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            write: Duration::from_secs(10),
            password: Duration::from_secs(10),
            auth_ack: Duration::from_secs(70),
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum RelayError {
    /// No `sstp-socket` option was given to pppd.
    NotConfigured,
    /// Could not connect to the helper's socket.
    Connect(PathBuf, io::Error),
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// No (complete) answer within the deadline.
    Timeout(Duration),
    /// The helper closed the connection.
    Closed,
    /// The answer could not be decoded.
    Decode(IpcError),
    /// The helper answered with a message that does not fit the request.
    Unexpected(&'static str),
    /// The helper answered `Error(text)`.
    Helper(String),
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::NotConfigured => write!(f, "no sstp-socket option given"),
            RelayError::Connect(p, e) => write!(f, "cannot connect to {}: {e}", p.display()),
            RelayError::Io(e) => write!(f, "helper socket: {e}"),
            RelayError::Timeout(d) => write!(f, "no answer from sstp-helper within {d:?}"),
            RelayError::Closed => write!(f, "sstp-helper closed the connection"),
            RelayError::Decode(e) => write!(f, "bad answer from sstp-helper: {e}"),
            RelayError::Unexpected(what) => {
                write!(f, "unexpected answer from sstp-helper: {what}")
            }
            RelayError::Helper(text) => write!(f, "sstp-helper reported: {text}"),
        }
    }
}

impl std::error::Error for RelayError {}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Credentials from the helper.
#[derive(Debug)]
pub struct Credentials {
    /// User name; empty means "keep pppd's `user` option".
    pub user: String,
    /// The password (redacted in `Debug`, zeroed on drop).
    pub password: Secret,
}

/// IPCP result, as the FFI layer read it from pppd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    /// Interface name, e.g. `ppp0`.
    pub ifname: String,
    /// Our address.
    pub local: Ipv4Addr,
    /// Peer's address.
    pub remote: Ipv4Addr,
    /// DNS servers (zero addresses already left out).
    pub dns: Vec<Ipv4Addr>,
    /// WINS servers (zero addresses already left out).
    pub wins: Vec<Ipv4Addr>,
    /// Interface MTU.
    pub mtu: u32,
}

/// One open connection to the helper.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    timeouts: Timeouts,
}

impl Connection {
    /// Connect to the helper's socket.
    pub fn connect(path: &Path, timeouts: Timeouts) -> Result<Self, RelayError> {
        let stream =
            UnixStream::connect(path).map_err(|e| RelayError::Connect(path.to_path_buf(), e))?;
        stream
            .set_write_timeout(Some(timeouts.write))
            .map_err(RelayError::Io)?;
        Ok(Connection { stream, timeouts })
    }

    fn send(&mut self, msg: &Msg) -> Result<(), RelayError> {
        // The encoded frame of `Password`/`AuthUp` holds secret bytes: wipe it after writing.
        let frame = Secret::new(msg.encode());
        self.stream.write_all(frame.expose()).map_err(|e| {
            if is_timeout(&e) {
                RelayError::Timeout(self.timeouts.write)
            } else {
                RelayError::Io(e)
            }
        })
    }

    /// Fill `buf` completely before `deadline`.
    fn read_full(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        limit: Duration,
    ) -> Result<(), RelayError> {
        let mut got = 0;
        while got < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RelayError::Timeout(limit));
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(RelayError::Io)?;
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => return Err(RelayError::Closed),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(RelayError::Timeout(limit)),
                Err(e) => return Err(RelayError::Io(e)),
            }
        }
        Ok(())
    }

    /// Read one whole message, waiting at most `limit`.
    fn recv(&mut self, limit: Duration) -> Result<Msg, RelayError> {
        let deadline = Instant::now() + limit;
        let mut len = [0u8; 4];
        self.read_full(&mut len, deadline, limit)?;
        let body_len = u32::from_be_bytes(len) as usize;
        if body_len == 0 || body_len > MAX_BODY {
            return Err(RelayError::Decode(IpcError::BadLength(body_len)));
        }
        let mut frame = vec![0u8; 4 + body_len];
        frame[..4].copy_from_slice(&len);
        let result = self.read_full(&mut frame[4..], deadline, limit);
        // The frame may carry the password: from here on it lives in a `Secret`, so it is
        // zeroed when dropped, on the error path too.
        let frame = Secret::new(frame);
        result?;
        let (msg, _) = Msg::decode(frame.expose()).map_err(RelayError::Decode)?;
        Ok(msg)
    }

    fn answer(&mut self, limit: Duration) -> Result<Msg, RelayError> {
        match self.recv(limit)? {
            Msg::Error(text) => Err(RelayError::Helper(text)),
            other => Ok(other),
        }
    }

    /// `PasswordRequest` -> `Password`.
    pub fn password(&mut self) -> Result<Credentials, RelayError> {
        self.send(&Msg::PasswordRequest)?;
        match self.answer(self.timeouts.password)? {
            Msg::Password { user, password } => Ok(Credentials { user, password }),
            _ => Err(RelayError::Unexpected("expected Password")),
        }
    }

    /// `AuthUp` -> block until `AuthAck`.
    pub fn auth_up(&mut self, send_key: Secret, recv_key: Secret) -> Result<(), RelayError> {
        self.send(&Msg::AuthUp { send_key, recv_key })?;
        match self.answer(self.timeouts.auth_ack)? {
            Msg::AuthAck => Ok(()),
            _ => Err(RelayError::Unexpected("expected AuthAck")),
        }
    }

    /// `IpUp`, no answer.
    pub fn ip_up(&mut self, c: IpConfig) -> Result<(), RelayError> {
        self.send(&Msg::IpUp {
            ifname: c.ifname,
            local: c.local,
            remote: c.remote,
            dns: c.dns,
            wins: c.wins,
            mtu: c.mtu,
        })
    }

    /// `Ip6Up`, no answer.
    pub fn ip6_up(
        &mut self,
        ifname: String,
        local_id: [u8; 8],
        remote_id: [u8; 8],
    ) -> Result<(), RelayError> {
        self.send(&Msg::Ip6Up {
            ifname,
            local_id,
            remote_id,
        })
    }
}

/// The plugin's state: the socket path from pppd's options and the lazily opened connection.
#[derive(Debug, Default)]
pub struct Session {
    path: Option<PathBuf>,
    conn: Option<Connection>,
    timeouts: Timeouts,
}

impl Session {
    /// A session talking to the helper at `path` (`None`: no `sstp-socket` option).
    pub fn new(path: Option<PathBuf>, timeouts: Timeouts) -> Self {
        Session {
            path,
            conn: None,
            timeouts,
        }
    }

    /// Whether a socket path is configured.
    pub fn configured(&self) -> bool {
        self.path.is_some()
    }

    /// Set the socket path (pppd parses options after `plugin_init`, so it may arrive late).
    pub fn set_path(&mut self, path: Option<PathBuf>) {
        if self.path != path {
            self.conn = None;
            self.path = path;
        }
    }

    /// Run `f` on the connection, connecting first if needed; drop the connection on failure.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<T, RelayError>,
    ) -> Result<T, RelayError> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let path = self.path.as_deref().ok_or(RelayError::NotConfigured)?;
                self.conn.insert(Connection::connect(path, self.timeouts)?)
            }
        };
        let r = f(conn);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    /// Ask the helper for the credentials.
    pub fn password(&mut self) -> Result<Credentials, RelayError> {
        self.with(|c| c.password())
    }

    /// Hand the MPPE keys over and wait for the helper's ack.
    pub fn auth_up(&mut self, send_key: Secret, recv_key: Secret) -> Result<(), RelayError> {
        self.with(|c| c.auth_up(send_key, recv_key))
    }

    /// Report the IPCP result.
    pub fn ip_up(&mut self, config: IpConfig) -> Result<(), RelayError> {
        self.with(|c| c.ip_up(config))
    }

    /// Report the IPv6CP result.
    pub fn ip6_up(
        &mut self,
        ifname: String,
        local_id: [u8; 8],
        remote_id: [u8; 8],
    ) -> Result<(), RelayError> {
        self.with(|c| c.ip6_up(ifname, local_id, remote_id))
    }
}

/// Copy `src` into the C string buffer `dst`: stops at the first NUL in `src`, truncates to
/// `dst.len() - 1` bytes, always NUL-terminates, and zeroes the rest of `dst` (so no stale
/// secret bytes stay behind the terminator). Returns the number of bytes copied.
pub fn copy_c_string(dst: &mut [u8], src: &[u8]) -> usize {
    let Some(room) = dst.len().checked_sub(1) else {
        return 0;
    };
    let src = match src.iter().position(|&b| b == 0) {
        Some(nul) => &src[..nul],
        None => src,
    };
    let n = src.len().min(room);
    dst[..n].copy_from_slice(&src[..n]);
    dst[n..].fill(0);
    n
}

/// An IPv4 address stored by pppd as a `u32` in network byte order.
pub fn addr_from_network_u32(raw: u32) -> Ipv4Addr {
    Ipv4Addr::from(raw.to_ne_bytes())
}

/// The non-zero addresses among `raw` (pppd's `dnsaddr[2]` / `winsaddr[2]`).
pub fn nonzero_addrs(raw: &[u32]) -> Vec<Ipv4Addr> {
    raw.iter()
        .filter(|&&a| a != 0)
        .map(|&a| addr_from_network_u32(a))
        .collect()
}

/// A C `char[]` buffer up to its first NUL, as text.
pub fn c_buffer_to_string(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::{self, JoinHandle};

    fn socket_path() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sstp-plugin-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("plugin.sock")
    }

    fn read_msg(s: &mut UnixStream) -> Option<Msg> {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).ok()?;
        let mut frame = len.to_vec();
        frame.resize(4 + u32::from_be_bytes(len) as usize, 0);
        s.read_exact(&mut frame[4..]).ok()?;
        Some(Msg::decode(&frame).unwrap().0)
    }

    /// A fake helper: accepts one connection and runs `script` on it; returns what it received.
    fn fake_helper(
        path: &Path,
        script: impl FnOnce(&mut UnixStream) -> Vec<Msg> + Send + 'static,
    ) -> JoinHandle<Vec<Msg>> {
        let listener = UnixListener::bind(path).unwrap();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            script(&mut s)
        })
    }

    fn quick() -> Timeouts {
        Timeouts {
            write: Duration::from_secs(5),
            password: Duration::from_millis(300),
            auth_ack: Duration::from_millis(300),
        }
    }

    #[test]
    fn password_round_trip() {
        let path = socket_path();
        let helper = fake_helper(&path, |s| {
            let got = read_msg(s).unwrap();
            let reply = Msg::Password {
                user: "alice".into(),
                password: Secret::from("pässwörd".to_string()),
            };
            s.write_all(&reply.encode()).unwrap();
            vec![got]
        });
        let mut session = Session::new(Some(path), quick());
        let creds = session.password().unwrap();
        assert_eq!(creds.user, "alice");
        assert_eq!(creds.password.expose(), "pässwörd".as_bytes());
        assert!(!format!("{creds:?}").contains("pässwörd"));
        assert_eq!(helper.join().unwrap(), vec![Msg::PasswordRequest]);
    }

    #[test]
    fn one_connection_serves_every_request() {
        let path = socket_path();
        let helper = fake_helper(&path, |s| {
            let mut got = vec![];
            got.push(read_msg(s).unwrap());
            s.write_all(
                &Msg::Password {
                    user: String::new(),
                    password: Secret::from("pw".to_string()),
                }
                .encode(),
            )
            .unwrap();
            got.push(read_msg(s).unwrap());
            s.write_all(&Msg::AuthAck.encode()).unwrap();
            got.push(read_msg(s).unwrap());
            got.push(read_msg(s).unwrap());
            got
        });
        let mut session = Session::new(Some(path), quick());
        assert_eq!(session.password().unwrap().user, "");
        session
            .auth_up(Secret::from(&[1u8; 16][..]), Secret::from(&[2u8; 16][..]))
            .unwrap();
        let cfg = IpConfig {
            ifname: "ppp0".into(),
            local: Ipv4Addr::new(10, 0, 0, 2),
            remote: Ipv4Addr::new(10, 0, 0, 1),
            dns: vec![Ipv4Addr::new(10, 0, 0, 53)],
            wins: vec![],
            mtu: 1400,
        };
        session.ip_up(cfg.clone()).unwrap();
        session.ip6_up("ppp0".into(), [1; 8], [2; 8]).unwrap();
        let got = helper.join().unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], Msg::PasswordRequest);
        assert_eq!(
            got[1],
            Msg::AuthUp {
                send_key: Secret::from(&[1u8; 16][..]),
                recv_key: Secret::from(&[2u8; 16][..]),
            }
        );
        assert_eq!(
            got[2],
            Msg::IpUp {
                ifname: cfg.ifname,
                local: cfg.local,
                remote: cfg.remote,
                dns: cfg.dns,
                wins: cfg.wins,
                mtu: cfg.mtu,
            }
        );
        assert_eq!(
            got[3],
            Msg::Ip6Up {
                ifname: "ppp0".into(),
                local_id: [1; 8],
                remote_id: [2; 8],
            }
        );
    }

    #[test]
    fn auth_up_blocks_until_the_ack() {
        let path = socket_path();
        let delay = Duration::from_millis(400);
        let helper = fake_helper(&path, move |s| {
            let got = read_msg(s).unwrap();
            thread::sleep(delay);
            // Send the ack in two pieces: the reader must wait for the whole frame.
            let ack = Msg::AuthAck.encode();
            s.write_all(&ack[..2]).unwrap();
            thread::sleep(Duration::from_millis(50));
            s.write_all(&ack[2..]).unwrap();
            vec![got]
        });
        let timeouts = Timeouts {
            auth_ack: Duration::from_secs(5),
            ..quick()
        };
        let mut session = Session::new(Some(path), timeouts);
        let start = Instant::now();
        session
            .auth_up(Secret::default(), Secret::default())
            .unwrap();
        assert!(start.elapsed() >= delay, "returned before the ack");
        assert_eq!(
            helper.join().unwrap(),
            vec![Msg::AuthUp {
                send_key: Secret::default(),
                recv_key: Secret::default(),
            }]
        );
    }

    #[test]
    fn auth_up_times_out_without_ack() {
        let path = socket_path();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let helper = fake_helper(&path, move |s| {
            let got = read_msg(s).unwrap();
            // Hold the connection open, never answer, until the test is done.
            let _ = done_rx.recv_timeout(Duration::from_secs(10));
            vec![got]
        });
        let mut session = Session::new(Some(path), quick());
        let start = Instant::now();
        let err = session
            .auth_up(Secret::default(), Secret::default())
            .unwrap_err();
        assert!(matches!(err, RelayError::Timeout(_)), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // The connection was dropped after the failure.
        assert!(session.conn.is_none());
        done_tx.send(()).unwrap();
        helper.join().unwrap();
    }

    #[test]
    fn helper_error_is_an_error() {
        let path = socket_path();
        let helper = fake_helper(&path, |s| {
            let got = read_msg(s).unwrap();
            s.write_all(&Msg::Error("no password stored".into()).encode())
                .unwrap();
            vec![got]
        });
        let mut session = Session::new(Some(path), quick());
        match session.password() {
            Err(RelayError::Helper(text)) => assert_eq!(text, "no password stored"),
            other => panic!("unexpected {other:?}"),
        }
        helper.join().unwrap();
    }

    #[test]
    fn auth_up_error_and_wrong_answer() {
        let path = socket_path();
        let helper = fake_helper(&path, |s| {
            let got = read_msg(s).unwrap();
            s.write_all(&Msg::Error("binding failed".into()).encode())
                .unwrap();
            vec![got]
        });
        let mut session = Session::new(Some(path.clone()), quick());
        let err = session
            .auth_up(Secret::default(), Secret::default())
            .unwrap_err();
        assert!(matches!(err, RelayError::Helper(ref t) if t == "binding failed"));
        helper.join().unwrap();

        std::fs::remove_file(&path).unwrap();
        let helper = fake_helper(&path, |s| {
            let got = read_msg(s).unwrap();
            s.write_all(&Msg::AuthAck.encode()).unwrap();
            vec![got]
        });
        let err = session.password().unwrap_err();
        assert!(matches!(err, RelayError::Unexpected(_)), "{err:?}");
        helper.join().unwrap();
    }

    #[test]
    fn closed_connection_and_garbage_are_errors() {
        let path = socket_path();
        let helper = fake_helper(&path, |s| {
            let got = read_msg(s).unwrap();
            vec![got] // closes without answering
        });
        let mut session = Session::new(Some(path.clone()), quick());
        assert!(matches!(session.password(), Err(RelayError::Closed)));
        helper.join().unwrap();

        std::fs::remove_file(&path).unwrap();
        let helper = fake_helper(&path, |s| {
            let got = read_msg(s).unwrap();
            s.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
            vec![got]
        });
        assert!(matches!(
            session.password(),
            Err(RelayError::Decode(IpcError::BadLength(_)))
        ));
        helper.join().unwrap();
    }

    #[test]
    fn missing_socket_and_missing_option_are_errors() {
        let path = socket_path();
        let mut session = Session::new(Some(path), quick());
        assert!(matches!(session.password(), Err(RelayError::Connect(_, _))));
        let mut session = Session::new(None, quick());
        assert!(!session.configured());
        assert!(matches!(
            session.auth_up(Secret::default(), Secret::default()),
            Err(RelayError::NotConfigured)
        ));
    }

    #[test]
    fn copy_c_string_truncates_and_terminates() {
        let mut buf = [0xaau8; 8];
        assert_eq!(copy_c_string(&mut buf, b"abc"), 3);
        assert_eq!(&buf, b"abc\0\0\0\0\0");
        assert_eq!(copy_c_string(&mut buf, b"0123456789"), 7);
        assert_eq!(&buf, b"0123456\0");
        assert_eq!(copy_c_string(&mut buf, b"ab\0cd"), 2);
        assert_eq!(&buf, b"ab\0\0\0\0\0\0");
        assert_eq!(copy_c_string(&mut [], b"x"), 0);
        let mut one = [7u8; 1];
        assert_eq!(copy_c_string(&mut one, b"x"), 0);
        assert_eq!(one, [0]);
    }

    #[test]
    fn addresses_from_pppd_layout() {
        // 10.1.2.3 as pppd stores it: bytes 0a 01 02 03 in memory.
        let raw = u32::from_ne_bytes([10, 1, 2, 3]);
        assert_eq!(addr_from_network_u32(raw), Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(nonzero_addrs(&[0, raw]), vec![Ipv4Addr::new(10, 1, 2, 3)]);
        assert_eq!(c_buffer_to_string(b"ppp0\0\0junk"), "ppp0");
        assert_eq!(c_buffer_to_string(b"ppp12"), "ppp12");
    }

    #[test]
    fn error_text_never_holds_the_password() {
        let e = RelayError::Helper("x".into());
        assert_eq!(e.to_string(), "sstp-helper reported: x");
    }
}
