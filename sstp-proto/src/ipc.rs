//! Messages between the pppd plugin (inside pppd) and `sstp-helper`, over a Unix stream socket.
//!
//! Framing: `u32` big-endian length of the body, then the body: one type byte and the payload.
//! Strings and byte strings are `u16` big-endian length + bytes. IPv4 addresses are 4 bytes.
//! The decoder is total: any input gives a message, `Incomplete`, or an error; never a panic.
//!
//! Conversation (the plugin always speaks first, the helper always answers the requests):
//! ```text
//! plugin -> helper  PasswordRequest            helper -> plugin  Password{user,password} | Error
//! plugin -> helper  AuthUp{send_key,recv_key}  helper -> plugin  AuthAck (after Call Connected is written) | Error
//! plugin -> helper  IpUp{..}                   (no answer)
//! plugin -> helper  Ip6Up{..}                  (no answer)
//! ```
//!
//! The helper also writes these frames to its `--status-fd` for a supervisor (the
//! NetworkManager service): `Server` once TCP is connected, then `IpUp` / `Ip6Up` as relayed
//! from the plugin.

use crate::secret::Secret;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Largest body accepted; anything longer is an error (a plugin message is a few hundred bytes).
pub const MAX_BODY: usize = 4096;

/// One IPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Plugin asks for the credentials pppd must present (PAP / CHAP / MS-CHAP password hooks).
    PasswordRequest,
    /// Helper's answer to `PasswordRequest`.
    Password {
        /// User name (may be empty: pppd then keeps its `user` option).
        user: String,
        /// The password.
        password: Secret,
    },
    /// Authentication finished. Empty keys mean the method derives none (PAP, CHAP-MD5).
    AuthUp {
        /// MPPE send key as pppd holds it (16 bytes on 2.4.9; 20 or 32 on 2.5).
        send_key: Secret,
        /// MPPE receive key.
        recv_key: Secret,
    },
    /// Helper: the crypto binding (Call Connected) is on the wire; pppd may go on.
    AuthAck,
    /// IPCP is up.
    IpUp {
        /// Interface name, e.g. `ppp0`.
        ifname: String,
        /// Our address.
        local: Ipv4Addr,
        /// Peer address.
        remote: Ipv4Addr,
        /// DNS servers the peer gave (0, 1 or 2).
        dns: Vec<Ipv4Addr>,
        /// WINS servers the peer gave.
        wins: Vec<Ipv4Addr>,
        /// Interface MTU.
        mtu: u32,
    },
    /// IPv6CP is up.
    Ip6Up {
        /// Interface name.
        ifname: String,
        /// Our interface identifier.
        local_id: [u8; 8],
        /// Peer interface identifier.
        remote_id: [u8; 8],
    },
    /// Either side: the request failed; the text says why.
    Error(String),
    /// Helper to its supervisor: the SSTP server's address (the VPN's external gateway).
    Server(IpAddr),
}

/// Decoding failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcError {
    /// Not enough bytes yet for a whole message.
    Incomplete,
    /// Body length over [`MAX_BODY`] or zero.
    BadLength(usize),
    /// Unknown type byte.
    UnknownType(u8),
    /// The body is shorter than its fields say, or has bytes left over.
    Malformed(&'static str),
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpcError::Incomplete => write!(f, "incomplete plugin message"),
            IpcError::BadLength(n) => write!(f, "plugin message length {n} out of range"),
            IpcError::UnknownType(t) => write!(f, "unknown plugin message type {t}"),
            IpcError::Malformed(w) => write!(f, "malformed plugin message: {w}"),
        }
    }
}
impl std::error::Error for IpcError {}

const T_PASSWORD_REQUEST: u8 = 1;
const T_PASSWORD: u8 = 2;
const T_AUTH_UP: u8 = 3;
const T_AUTH_ACK: u8 = 4;
const T_IP_UP: u8 = 5;
const T_IP6_UP: u8 = 6;
const T_ERROR: u8 = 7;
const T_SERVER: u8 = 8;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

fn put_addrs(out: &mut Vec<u8>, a: &[Ipv4Addr]) {
    let n = a.len().min(255);
    out.push(n as u8);
    for x in &a[..n] {
        out.extend_from_slice(&x.octets());
    }
}

impl Msg {
    /// Encode with the length prefix, ready to write to the socket.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        match self {
            Msg::PasswordRequest => b.push(T_PASSWORD_REQUEST),
            Msg::Password { user, password } => {
                b.push(T_PASSWORD);
                put_bytes(&mut b, user.as_bytes());
                put_bytes(&mut b, password.expose());
            }
            Msg::AuthUp { send_key, recv_key } => {
                b.push(T_AUTH_UP);
                put_bytes(&mut b, send_key.expose());
                put_bytes(&mut b, recv_key.expose());
            }
            Msg::AuthAck => b.push(T_AUTH_ACK),
            Msg::IpUp {
                ifname,
                local,
                remote,
                dns,
                wins,
                mtu,
            } => {
                b.push(T_IP_UP);
                put_bytes(&mut b, ifname.as_bytes());
                b.extend_from_slice(&local.octets());
                b.extend_from_slice(&remote.octets());
                put_addrs(&mut b, dns);
                put_addrs(&mut b, wins);
                b.extend_from_slice(&mtu.to_be_bytes());
            }
            Msg::Ip6Up {
                ifname,
                local_id,
                remote_id,
            } => {
                b.push(T_IP6_UP);
                put_bytes(&mut b, ifname.as_bytes());
                b.extend_from_slice(local_id);
                b.extend_from_slice(remote_id);
            }
            Msg::Error(s) => {
                b.push(T_ERROR);
                put_bytes(&mut b, s.as_bytes());
            }
            Msg::Server(IpAddr::V4(a)) => {
                b.extend_from_slice(&[T_SERVER, 4]);
                b.extend_from_slice(&a.octets());
            }
            Msg::Server(IpAddr::V6(a)) => {
                b.extend_from_slice(&[T_SERVER, 6]);
                b.extend_from_slice(&a.octets());
            }
        }
        let mut out = Vec::with_capacity(b.len() + 4);
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&b);
        // The body copy in `b` may hold a secret: wipe it.
        zeroize::Zeroize::zeroize(&mut b);
        out
    }

    /// Decode one message from the front of `buf`; returns it and the bytes consumed.
    pub fn decode(buf: &[u8]) -> Result<(Msg, usize), IpcError> {
        let Some(len) = buf.get(..4) else {
            return Err(IpcError::Incomplete);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len == 0 || len > MAX_BODY {
            return Err(IpcError::BadLength(len));
        }
        let Some(body) = buf.get(4..4 + len) else {
            return Err(IpcError::Incomplete);
        };
        let mut r = Reader(body);
        let t = r.u8()?;
        let msg = match t {
            T_PASSWORD_REQUEST => Msg::PasswordRequest,
            T_PASSWORD => Msg::Password {
                user: r.string()?,
                password: Secret::from(r.bytes()?),
            },
            T_AUTH_UP => Msg::AuthUp {
                send_key: Secret::from(r.bytes()?),
                recv_key: Secret::from(r.bytes()?),
            },
            T_AUTH_ACK => Msg::AuthAck,
            T_IP_UP => Msg::IpUp {
                ifname: r.string()?,
                local: r.addr()?,
                remote: r.addr()?,
                dns: r.addrs()?,
                wins: r.addrs()?,
                mtu: r.u32()?,
            },
            T_IP6_UP => Msg::Ip6Up {
                ifname: r.string()?,
                local_id: r.array8()?,
                remote_id: r.array8()?,
            },
            T_ERROR => Msg::Error(r.string()?),
            T_SERVER => match r.u8()? {
                4 => Msg::Server(IpAddr::V4(r.addr()?)),
                6 => {
                    let b = r.take(16)?;
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    Msg::Server(IpAddr::V6(Ipv6Addr::from(a)))
                }
                _ => return Err(IpcError::Malformed("address family")),
            },
            other => return Err(IpcError::UnknownType(other)),
        };
        if !r.0.is_empty() {
            return Err(IpcError::Malformed("trailing bytes"));
        }
        Ok((msg, 4 + len))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IpcError> {
        if self.0.len() < n {
            return Err(IpcError::Malformed("field runs past the end"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, IpcError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, IpcError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self) -> Result<&'a [u8], IpcError> {
        let b = self.take(2)?;
        let n = u16::from_be_bytes([b[0], b[1]]) as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, IpcError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| IpcError::Malformed("not UTF-8"))
    }
    fn addr(&mut self) -> Result<Ipv4Addr, IpcError> {
        let b = self.take(4)?;
        Ok(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
    fn addrs(&mut self) -> Result<Vec<Ipv4Addr>, IpcError> {
        let n = self.u8()? as usize;
        (0..n).map(|_| self.addr()).collect()
    }
    fn array8(&mut self) -> Result<[u8; 8], IpcError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Msg> {
        vec![
            Msg::PasswordRequest,
            Msg::Password {
                user: "alice".into(),
                password: Secret::from("pässword".to_string()),
            },
            Msg::AuthUp {
                send_key: Secret::from(&[1u8; 16][..]),
                recv_key: Secret::from(&[2u8; 16][..]),
            },
            Msg::AuthUp {
                send_key: Secret::default(),
                recv_key: Secret::default(),
            },
            Msg::AuthAck,
            Msg::IpUp {
                ifname: "ppp0".into(),
                local: Ipv4Addr::new(10, 77, 0, 2),
                remote: Ipv4Addr::new(10, 77, 0, 1),
                dns: vec![Ipv4Addr::new(10, 77, 0, 53)],
                wins: vec![],
                mtu: 1400,
            },
            Msg::Ip6Up {
                ifname: "ppp0".into(),
                local_id: [1, 2, 3, 4, 5, 6, 7, 8],
                remote_id: [8, 7, 6, 5, 4, 3, 2, 1],
            },
            Msg::Error("no".into()),
            Msg::Server("192.0.2.1".parse().unwrap()),
            Msg::Server("2001:db8::1".parse().unwrap()),
        ]
    }

    #[test]
    fn round_trip_every_message() {
        for m in all() {
            let enc = m.encode();
            let (dec, used) = Msg::decode(&enc).unwrap();
            assert_eq!(dec, m);
            assert_eq!(used, enc.len());
        }
    }

    #[test]
    fn byte_vector_auth_ack() {
        assert_eq!(Msg::AuthAck.encode(), vec![0, 0, 0, 1, 4]);
        assert_eq!(
            Msg::decode(&[0, 0, 0, 1, 4, 99]).unwrap(),
            (Msg::AuthAck, 5)
        );
    }

    #[test]
    fn every_prefix_is_incomplete_or_error_never_panic() {
        for m in all() {
            let enc = m.encode();
            for i in 0..enc.len() {
                assert!(Msg::decode(&enc[..i]).is_err());
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Msg::decode(&[0, 0, 0, 0]), Err(IpcError::BadLength(0)));
        assert_eq!(
            Msg::decode(&[0, 0, 0x10, 1]),
            Err(IpcError::BadLength(0x1001))
        );
        assert_eq!(
            Msg::decode(&[0, 0, 0, 1, 99]),
            Err(IpcError::UnknownType(99))
        );
        assert_eq!(
            Msg::decode(&[0, 0, 0, 2, 4, 0]),
            Err(IpcError::Malformed("trailing bytes"))
        );
    }

    #[test]
    fn password_not_in_debug() {
        let m = Msg::Password {
            user: "alice".into(),
            password: Secret::from("s3cr3t-pw".to_string()),
        };
        assert!(!format!("{m:?}").contains("s3cr3t-pw"));
    }
}
