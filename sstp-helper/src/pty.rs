//! The pty between the helper (master side) and pppd (slave side).

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, PtyMaster};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use tokio::io::unix::AsyncFd;

/// The master side, non-blocking, registered with tokio.
pub struct Pty {
    master: AsyncFd<PtyMaster>,
    /// Held open so the master never sees EIO before pppd opens the slave.
    _slave: File,
    /// `/dev/pts/N`, handed to pppd as its device.
    pub slave_path: PathBuf,
}

impl Pty {
    /// Open a new pty pair in raw mode.
    pub fn open() -> io::Result<Pty> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let slave_path = PathBuf::from(ptsname_r(&master)?);
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags_noctty()
            .open(&slave_path)?;
        let mut t = tcgetattr(&slave)?;
        cfmakeraw(&mut t);
        tcsetattr(&slave, SetArg::TCSANOW, &t)?;
        let fl = OFlag::from_bits_truncate(fcntl(master.as_raw_fd(), FcntlArg::F_GETFL)?);
        fcntl(
            master.as_raw_fd(),
            FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK),
        )?;
        // SAFETY: `master` owns its descriptor (PtyMaster wraps an OwnedFd) and moves into the
        // AsyncFd, so the descriptor stays open exactly as long as it is registered.
        let master = unsafe { AsyncFd::register(master) }.map_err(|e| e.into_parts().1)?;
        Ok(Pty {
            master,
            _slave: slave,
            slave_path,
        })
    }

    /// Read what pppd wrote (HDLC bytes). Takes everything that is there, up to `buf`'s
    /// size: the pty hands over at most 4 KiB per read(2), so one wake-up reads several times
    /// until the pty is empty.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut g = self.master.readable().await?;
            let mut total = 0;
            let r = g.try_io(|m| {
                let fd = m.get_ref().as_raw_fd();
                loop {
                    match nix::unistd::read(fd, &mut buf[total..]) {
                        Ok(0) => return Ok(()),
                        Ok(n) => {
                            total += n;
                            if buf.len() - total < 4096 {
                                return Ok(());
                            }
                        }
                        // Empty now: readiness is cleared (try_io sees WouldBlock) and what
                        // was read is returned below.
                        Err(nix::errno::Errno::EAGAIN) => {
                            return Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(_) if total > 0 => return Ok(()),
                        Err(e) => return Err(io::Error::from(e)),
                    }
                }
            });
            match r {
                Ok(Ok(())) => return Ok(total),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) if total > 0 => return Ok(total),
                Err(_would_block) => continue,
            }
        }
    }

    /// Write some of `data` to pppd (at least one byte), waiting until the pty takes any.
    /// Cancel-safe: nothing is written unless it returns `Ok`.
    pub async fn write_some(&self, data: &[u8]) -> io::Result<usize> {
        loop {
            let mut g = self.master.writable().await?;
            match g.try_io(|m| nix::unistd::write(m.get_ref(), data).map_err(io::Error::from)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Write all of `data` to pppd.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut g = self.master.writable().await?;
            match g.try_io(|m| nix::unistd::write(m.get_ref(), data).map_err(io::Error::from)) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOCTTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[tokio::test]
    async fn bytes_cross_the_pty_both_ways() {
        let pty = Pty::open().unwrap();
        assert!(pty.slave_path.starts_with("/dev/pts"));
        let mut slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&pty.slave_path)
            .unwrap();
        // Raw mode: every byte value passes unchanged.
        let all: Vec<u8> = (0..=255u8).collect();
        pty.write_all(&all).await.unwrap();
        let mut got = vec![0u8; 256];
        slave.read_exact(&mut got).unwrap();
        assert_eq!(got, all);
        slave.write_all(&all).unwrap();
        let mut n = 0;
        let mut back = vec![0u8; 256];
        while n < 256 {
            n += pty.read(&mut back[n..]).await.unwrap();
        }
        assert_eq!(back, all);
    }
}
