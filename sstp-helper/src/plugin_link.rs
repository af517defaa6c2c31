//! The Unix socket the pppd plugin connects to: a private directory (0700), a socket (0600),
//! and only the pppd this helper started may talk (SO_PEERCRED).

use crate::error::Error;
use log::{debug, warn};
use sstp_proto::ipc::{IpcError, Msg};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// Listener plus the one accepted connection.
pub struct PluginLink {
    dir: PathBuf,
    socket: PathBuf,
    listener: UnixListener,
    conn: Option<UnixStream>,
    rbuf: Vec<u8>,
    /// Only this pid may connect (set once pppd is started).
    expected_pid: Option<u32>,
}

fn base_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if d.is_dir() {
            return d;
        }
    }
    let run = Path::new("/run");
    if nix::unistd::access(run, nix::unistd::AccessFlags::W_OK).is_ok() {
        return run.to_path_buf();
    }
    std::env::temp_dir()
}

impl PluginLink {
    /// Create the private directory and listen in it.
    pub fn bind() -> Result<PluginLink, Error> {
        Self::bind_in(&base_dir())
    }

    /// As [`PluginLink::bind`], under `base`.
    pub fn bind_in(base: &Path) -> Result<PluginLink, Error> {
        let dir = nix::unistd::mkdtemp(&base.join("sstp-helper.XXXXXX")).map_err(|e| {
            Error::Internal(format!(
                "cannot create a runtime directory in {}: {e}",
                base.display()
            ))
        })?;
        // mkdtemp makes it 0700 already; say so explicitly in case of an odd umask.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::Internal(format!("chmod {}: {e}", dir.display())))?;
        let socket = dir.join("plugin.sock");
        let listener = UnixListener::bind(&socket)
            .map_err(|e| Error::Internal(format!("cannot listen on {}: {e}", socket.display())))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Internal(format!("chmod {}: {e}", socket.display())))?;
        Ok(PluginLink {
            dir,
            socket,
            listener,
            conn: None,
            rbuf: Vec::new(),
            expected_pid: None,
        })
    }

    /// Socket path to give the plugin.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Only accept connections from this process.
    pub fn expect_pid(&mut self, pid: u32) {
        self.expected_pid = Some(pid);
    }

    /// The next message from the plugin. Cancel-safe: all state lives in `self`.
    pub async fn recv(&mut self) -> io::Result<Msg> {
        loop {
            match Msg::decode(&self.rbuf) {
                Ok((m, used)) => {
                    self.rbuf.drain(..used);
                    return Ok(m);
                }
                Err(IpcError::Incomplete) => {}
                Err(e) => {
                    self.conn = None;
                    self.rbuf.clear();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                let (s, _) = self.listener.accept().await?;
                let cred = s.peer_cred()?;
                let pid = cred.pid().map(|p| p as u32);
                if self.expected_pid.is_none() || pid != self.expected_pid {
                    warn!(
                        "refused a plugin connection from pid {pid:?} (uid {}): not our pppd",
                        cred.uid()
                    );
                    continue;
                }
                debug!("pppd plugin connected (pid {})", pid.unwrap_or(0));
                self.conn = Some(s);
                continue;
            };
            let mut tmp = [0u8; 1024];
            let n = conn.read(&mut tmp).await?;
            if n == 0 {
                self.conn = None;
                self.rbuf.clear();
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the pppd plugin closed its connection",
                ));
            }
            self.rbuf.extend_from_slice(&tmp[..n]);
            tmp.fill(0);
        }
    }

    /// Answer the plugin.
    pub async fn send(&mut self, m: &Msg) -> io::Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no plugin connection",
            ));
        };
        let mut b = m.encode();
        let r = conn.write_all(&b).await;
        b.fill(0);
        r
    }
}

impl Drop for PluginLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn private_dir_socket_mode_and_peer_check() {
        let mut link = PluginLink::bind_in(&std::env::temp_dir()).unwrap();
        let dir = link.socket().parent().unwrap().to_path_buf();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::metadata(link.socket()).unwrap().mode() & 0o777,
            0o600
        );
        // A connection from a process other than the expected pid is refused.
        link.expect_pid(1);
        let path = link.socket().to_path_buf();
        let mut intruder = UnixStream::connect(&path).await.unwrap();
        intruder
            .write_all(&Msg::PasswordRequest.encode())
            .await
            .unwrap();
        let r = tokio::time::timeout(std::time::Duration::from_millis(300), link.recv()).await;
        assert!(r.is_err(), "intruder's message must not be accepted");
        // Our own pid is accepted.
        link.expect_pid(std::process::id());
        let mut ok = UnixStream::connect(&path).await.unwrap();
        ok.write_all(&Msg::PasswordRequest.encode()).await.unwrap();
        let m = tokio::time::timeout(std::time::Duration::from_secs(5), link.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m, Msg::PasswordRequest);
        link.send(&Msg::AuthAck).await.unwrap();
        let mut b = [0u8; 5];
        ok.read_exact(&mut b).await.unwrap();
        assert_eq!(Msg::decode(&b).unwrap().0, Msg::AuthAck);
        drop(link);
        assert!(!dir.exists(), "runtime directory removed");
    }
}
