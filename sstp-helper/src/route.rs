//! `--save-server-route`: a host route to the SSTP server through the gateway that reaches
//! it now, added over rtnetlink when TCP is up and removed when the helper ends, so that a
//! default route into the tunnel (pppd `defaultroute`, NetworkManager) cannot send the
//! tunnel's own packets into the tunnel.
//!
//! The messages are built and parsed by plain functions over byte slices (tested with byte
//! vectors below); [`Netlink`] only sends and receives them on a `NETLINK_ROUTE` socket.

use log::{debug, info, warn};
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// How the kernel reaches an address now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Route type (`RTN_*`): only unicast routes are worth pinning.
    pub kind: u8,
    /// The next hop, when the destination is not on-link.
    pub gateway: Option<IpAddr>,
    /// Outgoing interface index.
    pub oif: Option<u32>,
}

/// A netlink failure, with what was being done.
#[derive(Debug)]
pub struct RouteError(pub String);

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn addr_bytes(a: &IpAddr) -> (u8, u8, Vec<u8>) {
    match a {
        IpAddr::V4(v) => (AF_INET, 32, v.octets().to_vec()),
        IpAddr::V6(v) => (AF_INET6, 128, v.octets().to_vec()),
    }
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// nlmsghdr + rtmsg + attributes; the length is filled in at the end.
#[allow(clippy::too_many_arguments)]
fn route_msg(
    kind: u16,
    flags: u16,
    seq: u32,
    dst: &IpAddr,
    table: u8,
    protocol: u8,
    scope: u8,
    rtype: u8,
    attrs: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let (family, dst_len, dst_bytes) = addr_bytes(dst);
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&0u32.to_ne_bytes()); // length, below
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    m.extend_from_slice(&[family, dst_len, 0, 0, table, protocol, scope, rtype]);
    m.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
    push_attr(&mut m, RTA_DST, &dst_bytes);
    for (k, d) in attrs {
        push_attr(&mut m, *k, d);
    }
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    m
}

/// RTM_GETROUTE for `dst` (what `ip route get DST` asks).
pub fn encode_get(seq: u32, dst: &IpAddr) -> Vec<u8> {
    route_msg(RTM_GETROUTE, NLM_F_REQUEST, seq, dst, 0, 0, 0, 0, &[])
}

fn next_hop_attrs(path: &Path) -> Vec<(u16, Vec<u8>)> {
    let mut a = Vec::new();
    if let Some(gw) = &path.gateway {
        a.push((RTA_GATEWAY, addr_bytes(gw).2));
    }
    if let Some(oif) = path.oif {
        a.push((RTA_OIF, oif.to_ne_bytes().to_vec()));
    }
    a
}

fn scope_of(path: &Path) -> u8 {
    if path.gateway.is_some() {
        RT_SCOPE_UNIVERSE
    } else {
        RT_SCOPE_LINK
    }
}

/// RTM_NEWROUTE or RTM_DELROUTE of the host route `dst` via `path` in the main table.
fn host_route(kind: u16, flags: u16, seq: u32, dst: &IpAddr, path: &Path) -> Vec<u8> {
    route_msg(
        kind,
        flags,
        seq,
        dst,
        RT_TABLE_MAIN,
        RTPROT_STATIC,
        scope_of(path),
        RTN_UNICAST,
        &next_hop_attrs(path),
    )
}

/// RTM_NEWROUTE: `dst`/32 (or /128) via `path`, failing if it exists (then it is not ours).
pub fn encode_add(seq: u32, dst: &IpAddr, path: &Path) -> Vec<u8> {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    host_route(RTM_NEWROUTE, flags, seq, dst, path)
}

/// RTM_DELROUTE of exactly the route [`encode_add`] made.
pub fn encode_del(seq: u32, dst: &IpAddr, path: &Path) -> Vec<u8> {
    host_route(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq, dst, path)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// One reply: `Ok(Some(path))` for RTM_NEWROUTE, `Ok(None)` for an ACK (error 0),
/// `Err(errno)` for NLMSG_ERROR with an error. Malformed input is `Err(-1)`-free: it is
/// reported as `Err(EPROTO)`.
pub fn parse_reply(b: &[u8]) -> Result<Option<Path>, i32> {
    const EPROTO: i32 = 71;
    let len = u32_at(b, 0).ok_or(EPROTO)? as usize;
    let kind = u16_at(b, 4).ok_or(EPROTO)?;
    if len < 16 || len > b.len() {
        return Err(EPROTO);
    }
    let b = &b[..len];
    match kind {
        NLMSG_ERROR => {
            let e = u32_at(b, 16).ok_or(EPROTO)? as i32;
            if e == 0 {
                Ok(None)
            } else {
                Err(-e)
            }
        }
        RTM_NEWROUTE => {
            let rt = b.get(16..28).ok_or(EPROTO)?;
            let family = rt[0];
            let mut path = Path {
                kind: rt[7],
                gateway: None,
                oif: None,
            };
            let mut at = 28;
            while at + 4 <= b.len() {
                let alen = u16_at(b, at).ok_or(EPROTO)? as usize;
                let akind = u16_at(b, at + 2).ok_or(EPROTO)?;
                if alen < 4 || at + alen > b.len() {
                    return Err(EPROTO);
                }
                let data = &b[at + 4..at + alen];
                match akind {
                    RTA_GATEWAY => {
                        path.gateway = match (family, data.len()) {
                            (AF_INET, 4) => {
                                Some(IpAddr::from(<[u8; 4]>::try_from(data).unwrap_or_default()))
                            }
                            (AF_INET6, 16) => {
                                Some(IpAddr::from(<[u8; 16]>::try_from(data).unwrap_or_default()))
                            }
                            _ => return Err(EPROTO),
                        }
                    }
                    RTA_OIF => path.oif = u32_at(data, 0),
                    RTA_TABLE => {}
                    _ => {}
                }
                at += (alen + 3) & !3;
            }
            Ok(Some(path))
        }
        _ => Err(EPROTO),
    }
}

/// A `NETLINK_ROUTE` socket for one request at a time.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// Open and bind the socket.
    pub fn open() -> Result<Netlink, RouteError> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| RouteError(format!("netlink socket: {e}")))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
            .map_err(|e| RouteError(format!("netlink bind: {e}")))?;
        Ok(Netlink { fd, seq: 1 })
    }

    fn request(&mut self, msg: impl FnOnce(u32) -> Vec<u8>) -> Result<Option<Path>, i32> {
        self.seq = self.seq.wrapping_add(1);
        let m = msg(self.seq);
        send(self.fd.as_raw_fd(), &m, MsgFlags::empty()).map_err(|e| e as i32)?;
        let mut buf = vec![0u8; 8192];
        let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| e as i32)?;
        parse_reply(&buf[..n])
    }

    /// How the kernel reaches `dst` now.
    pub fn get(&mut self, dst: &IpAddr) -> Result<Path, RouteError> {
        match self.request(|s| encode_get(s, dst)) {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(RouteError(format!("no route to {dst} in the reply"))),
            Err(e) => Err(RouteError(format!(
                "route lookup for {dst}: {}",
                nix::errno::Errno::from_raw(e).desc()
            ))),
        }
    }
}

/// The pinned route; removed when dropped.
pub struct ServerRoute {
    dst: IpAddr,
    path: Path,
}

impl ServerRoute {
    /// Pin the current path to `dst`. `Ok(None)` when there is nothing to pin (a local
    /// address) or the route exists already (then it is not ours to remove).
    pub fn add(dst: IpAddr) -> Result<Option<ServerRoute>, RouteError> {
        let mut nl = Netlink::open()?;
        let path = nl.get(&dst)?;
        if path.kind != RTN_UNICAST {
            info!(
                "server route: {dst} is local (route type {}), nothing to pin",
                path.kind
            );
            return Ok(None);
        }
        let via = match &path.gateway {
            Some(g) => format!("via {g}"),
            None => "on-link".to_string(),
        };
        let dev = path.oif.map(ifname).unwrap_or_else(|| "?".into());
        match nl.request(|s| encode_add(s, &dst, &path)) {
            Ok(_) => {
                info!("server route: added {dst} {via} dev {dev} (removed on exit)");
                Ok(Some(ServerRoute { dst, path }))
            }
            Err(17) => {
                info!("server route: a route for {dst} exists already; leaving it alone");
                Ok(None)
            }
            Err(e) => Err(RouteError(format!(
                "adding a route to {dst} {via} dev {dev}: {}",
                nix::errno::Errno::from_raw(e).desc()
            ))),
        }
    }
}

impl Drop for ServerRoute {
    fn drop(&mut self) {
        let r = Netlink::open().map_err(|e| e.0).and_then(|mut nl| {
            nl.request(|s| encode_del(s, &self.dst, &self.path))
                .map_err(|e| nix::errno::Errno::from_raw(e).desc().to_string())
        });
        match r {
            Ok(_) => info!("server route: removed {}", self.dst),
            // ESRCH: somebody (an interface going down) removed it already
            Err(e) => warn!("server route: removing {}: {e}", self.dst),
        }
    }
}

/// The interface name for an index (only for the log line).
fn ifname(index: u32) -> String {
    match nix::net::if_::if_indextoname(index) {
        Ok(n) => n.to_string_lossy().into_owned(),
        Err(e) => {
            debug!("if_indextoname({index}): {e}");
            format!("#{index}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ne16(v: u16) -> [u8; 2] {
        v.to_ne_bytes()
    }
    fn ne32(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    #[test]
    fn get_request_bytes() {
        let m = encode_get(7, &IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)));
        let mut want = Vec::new();
        want.extend_from_slice(&ne32(36));
        want.extend_from_slice(&ne16(RTM_GETROUTE));
        want.extend_from_slice(&ne16(NLM_F_REQUEST));
        want.extend_from_slice(&ne32(7));
        want.extend_from_slice(&ne32(0));
        want.extend_from_slice(&[2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&ne16(8));
        want.extend_from_slice(&ne16(RTA_DST));
        want.extend_from_slice(&[203, 0, 113, 1]);
        assert_eq!(m, want);
    }

    #[test]
    fn add_and_del_carry_gateway_and_interface() {
        let dst = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        let path = Path {
            kind: RTN_UNICAST,
            gateway: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            oif: Some(3),
        };
        let add = encode_add(9, &dst, &path);
        assert_eq!(add.len(), 16 + 12 + 8 + 8 + 8);
        assert_eq!(&add[4..6], &ne16(RTM_NEWROUTE));
        assert_eq!(
            &add[6..8],
            &ne16(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        );
        assert_eq!(&add[16..24], &[2, 32, 0, 0, 254, 4, 0, 1]);
        assert_eq!(
            &add[36..44],
            &[&ne16(8)[..], &ne16(RTA_GATEWAY), &[192, 0, 2, 1]].concat()[..]
        );
        assert_eq!(
            &add[44..52],
            &[&ne16(8)[..], &ne16(RTA_OIF), &ne32(3)].concat()[..]
        );
        let del = encode_del(10, &dst, &path);
        assert_eq!(&del[4..6], &ne16(RTM_DELROUTE));
        assert_eq!(&del[16..], &add[16..]);
    }

    #[test]
    fn on_link_route_has_link_scope_and_v6_lengths() {
        let dst = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let path = Path {
            kind: RTN_UNICAST,
            gateway: None,
            oif: Some(2),
        };
        let add = encode_add(1, &dst, &path);
        assert_eq!(&add[16..24], &[10, 128, 0, 0, 254, 4, RT_SCOPE_LINK, 1]);
        assert_eq!(add.len(), 16 + 12 + 20 + 8);
    }

    fn reply_newroute(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = vec![0u8; 16];
        m[4..6].copy_from_slice(&ne16(RTM_NEWROUTE));
        m.extend_from_slice(&[2, 32, 0, 0, 254, 2, 0, 1, 0, 0, 0, 0]);
        for (k, d) in attrs {
            push_attr(&mut m, *k, d);
        }
        let len = m.len() as u32;
        m[..4].copy_from_slice(&ne32(len));
        m
    }

    #[test]
    fn parses_a_route_reply() {
        let r = reply_newroute(&[
            (RTA_TABLE, &ne32(254)),
            (RTA_DST, &[203, 0, 113, 1]),
            (RTA_OIF, &ne32(5)),
            (RTA_GATEWAY, &[192, 0, 2, 1]),
        ]);
        assert_eq!(
            parse_reply(&r),
            Ok(Some(Path {
                kind: RTN_UNICAST,
                gateway: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
                oif: Some(5),
            }))
        );
    }

    #[test]
    fn parses_ack_and_errors() {
        let mut ack = vec![0u8; 36];
        ack[..4].copy_from_slice(&ne32(36));
        ack[4..6].copy_from_slice(&ne16(NLMSG_ERROR));
        assert_eq!(parse_reply(&ack), Ok(None));
        ack[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(parse_reply(&ack), Err(17));
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert_eq!(parse_reply(&[]), Err(71));
        let good = reply_newroute(&[(RTA_GATEWAY, &[192, 0, 2, 1])]);
        for cut in 0..good.len() {
            let mut b = good[..cut].to_vec();
            if b.len() >= 4 {
                b[..4].copy_from_slice(&ne32(cut as u32));
            }
            let _ = parse_reply(&b);
        }
        // an attribute claiming more than the message holds
        let mut bad = good.clone();
        bad[28..30].copy_from_slice(&ne16(200));
        assert_eq!(parse_reply(&bad), Err(71));
        // a 3-byte gateway
        let odd = reply_newroute(&[(RTA_GATEWAY, &[192, 0, 2])]);
        assert_eq!(parse_reply(&odd), Err(71));
    }
}
