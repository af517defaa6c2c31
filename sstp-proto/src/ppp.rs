//! Read-only inspection of PPP frames passing through the helper, for progress and error lines,
//! and for how the frames written to pppd must be escaped ([`RecvAccm`]).
//!
//! Frames may carry `FF 03` or not (ACFC) and a 1- or 2-byte protocol field (PFC).

use crate::hdlc::Escape;

/// LCP.
pub const LCP: u16 = 0xc021;
/// PAP.
pub const PAP: u16 = 0xc023;
/// CHAP (MD5, MS-CHAP, MS-CHAPv2).
pub const CHAP: u16 = 0xc223;
/// EAP.
pub const EAP: u16 = 0xc227;
/// IPCP.
pub const IPCP: u16 = 0x8021;

/// Split a frame into protocol and information field.
pub fn split(frame: &[u8]) -> Option<(u16, &[u8])> {
    let f = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    let first = *f.first()?;
    if first & 1 == 1 {
        Some((first as u16, &f[1..]))
    } else {
        let second = *f.get(1)?;
        Some((u16::from_be_bytes([first, second]), &f[2..]))
    }
}

/// True for PPP control protocols (LCP, authentication, NCPs: protocol values 0x8000 and up),
/// which MS-SSTP lets through before Call Connected.
pub fn is_control(protocol: u16) -> bool {
    protocol >= 0x8000
}

/// The authentication method negotiated in LCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// PAP.
    Pap,
    /// CHAP with MD5.
    ChapMd5,
    /// MS-CHAP (v1).
    MsChap,
    /// MS-CHAPv2.
    MsChapV2,
    /// EAP.
    Eap,
    /// Another protocol.
    Other(u16),
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMethod::Pap => f.write_str("PAP"),
            AuthMethod::ChapMd5 => f.write_str("CHAP-MD5"),
            AuthMethod::MsChap => f.write_str("MS-CHAP"),
            AuthMethod::MsChapV2 => f.write_str("MS-CHAPv2"),
            AuthMethod::Eap => f.write_str("EAP"),
            AuthMethod::Other(p) => write!(f, "protocol 0x{p:04x}"),
        }
    }
}

/// What a frame says, as far as the helper cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// An LCP Configure-Ack carrying an Authentication-Protocol option: the method in force.
    AuthAgreed(AuthMethod),
    /// The authenticator said no: PAP Authenticate-Nak, CHAP Failure or EAP Failure, with its text.
    AuthRejected(String),
    /// The authenticator said yes.
    AuthSucceeded,
    /// LCP Terminate-Request.
    LcpTerminate,
}

/// Inspect one frame. `from_server` selects the direction whose messages matter.
pub fn observe(frame: &[u8], from_server: bool) -> Option<Observation> {
    let (proto, info) = split(frame)?;
    let code = *info.first()?;
    match proto {
        LCP if code == 2 && !from_server => {
            // Configure-Ack from us (pppd) acknowledges the server's auth option.
            let len = u16::from_be_bytes([*info.get(2)?, *info.get(3)?]) as usize;
            let mut opts = info.get(4..len.min(info.len()))?;
            while opts.len() >= 2 {
                let (t, l) = (opts[0], opts[1] as usize);
                if l < 2 || l > opts.len() {
                    break;
                }
                if t == 3 && l >= 4 {
                    let p = u16::from_be_bytes([opts[2], opts[3]]);
                    let m = match (p, opts.get(4)) {
                        (PAP, _) => AuthMethod::Pap,
                        (CHAP, Some(0x05)) => AuthMethod::ChapMd5,
                        (CHAP, Some(0x80)) => AuthMethod::MsChap,
                        (CHAP, Some(0x81)) => AuthMethod::MsChapV2,
                        (EAP, _) => AuthMethod::Eap,
                        (p, _) => AuthMethod::Other(p),
                    };
                    return Some(Observation::AuthAgreed(m));
                }
                opts = &opts[l..];
            }
            None
        }
        LCP if code == 5 => Some(Observation::LcpTerminate),
        PAP if from_server && code == 2 => Some(Observation::AuthSucceeded),
        PAP if from_server && code == 3 => {
            // Authenticate-Nak: code id len msg-len message
            let n = *info.get(4)? as usize;
            let msg = info.get(5..5 + n).unwrap_or_default();
            Some(Observation::AuthRejected(text(msg)))
        }
        CHAP if from_server && code == 3 => Some(Observation::AuthSucceeded),
        CHAP if from_server && code == 4 => {
            let len = u16::from_be_bytes([*info.get(2)?, *info.get(3)?]) as usize;
            let msg = info.get(4..len.min(info.len())).unwrap_or_default();
            Some(Observation::AuthRejected(text(msg)))
        }
        EAP if from_server && code == 3 => Some(Observation::AuthSucceeded),
        EAP if from_server && code == 4 => Some(Observation::AuthRejected(String::new())),
        _ => None,
    }
}

/// The receive ACCM of pppd's tty, as far as it can be known from the LCP frames passing
/// through: whether control bytes written to pppd must be escaped.
///
/// pppd sets its tty's receive ACCM in `lcp_up` (ppp 2.4.9 and 2.5), before authentication and
/// the NCPs start, to the ACCM of its own Configure-Request that the peer acknowledged, or to
/// 0xFFFFFFFF when that request carried none. Until then it is 0xFFFFFFFF, and the kernel's
/// async PPP line discipline drops every unescaped control byte whose bit is set. So control
/// bytes go unescaped only when the server acknowledged a request of pppd's with ACCM 0 and pppd
/// is past LCP, which its handing over the keys after authentication shows
/// ([`RecvAccm::past_lcp`]). An LCP Configure-Request or Terminate in either direction after that
/// brings back full escaping for the rest of the session. Escaping more than the ACCM asks is
/// always accepted, so every doubt resolves to [`Escape::AllControl`].
#[derive(Debug, Default)]
pub struct RecvAccm {
    /// pppd's latest Configure-Request: identifier, options, its ACCM.
    request: Option<(u8, Vec<u8>, u32)>,
    /// The ACCM of that request, once the server acknowledged it unchanged.
    acked: Option<u32>,
    flags_only: bool,
}

/// The LCP packet in `frame`: code, identifier and options (bounded by its length field).
fn lcp(frame: &[u8]) -> Option<(u8, u8, &[u8])> {
    let (proto, info) = split(frame)?;
    if proto != LCP || info.len() < 4 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([info[2], info[3]]));
    let body = info.get(4..len.max(4).min(info.len()))?;
    Some((info[0], info[1], body))
}

/// The ACCM option (type 2) of Configure-Request options; 0xFFFFFFFF without one or when the
/// options do not parse.
fn accm_option(mut opts: &[u8]) -> u32 {
    while opts.len() >= 2 {
        let (t, l) = (opts[0], usize::from(opts[1]));
        if l < 2 || l > opts.len() {
            return u32::MAX;
        }
        if t == 2 {
            return match opts[..l] {
                [_, 6, a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                _ => u32::MAX,
            };
        }
        opts = &opts[l..];
    }
    u32::MAX
}

impl RecvAccm {
    /// A frame pppd wrote.
    pub fn from_pppd(&mut self, frame: &[u8]) {
        match lcp(frame) {
            Some((1, id, opts)) => {
                self.restart();
                self.request = Some((id, opts.to_vec(), accm_option(opts)));
            }
            Some((2..=6, ..)) if self.flags_only => self.restart(),
            Some((5 | 6, ..)) => self.restart(),
            _ => {}
        }
    }

    /// A frame the server sent to pppd.
    pub fn from_server(&mut self, frame: &[u8]) {
        match (lcp(frame), &self.request) {
            (Some((2, id, opts)), Some((req_id, req_opts, accm)))
                if id == *req_id && opts == req_opts.as_slice() =>
            {
                self.acked = Some(*accm);
            }
            (Some((1 | 5 | 6, ..)), _) if self.flags_only => self.restart(),
            (Some((5 | 6, ..)), _) => self.restart(),
            _ => {}
        }
    }

    /// pppd handed over its keys, so it is past LCP (and has set its receive ACCM). True when
    /// control bytes may from now on go unescaped.
    pub fn past_lcp(&mut self) -> bool {
        self.flags_only = self.acked == Some(0);
        self.flags_only
    }

    /// How frames written to pppd now must be escaped.
    pub fn escape(&self) -> Escape {
        if self.flags_only {
            Escape::FlagsOnly
        } else {
            Escape::AllControl
        }
    }

    /// LCP starts over (or ends): back to escaping everything.
    fn restart(&mut self) {
        self.request = None;
        self.acked = None;
        self.flags_only = false;
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_handles_acfc_and_pfc() {
        assert_eq!(split(&[0xff, 0x03, 0xc0, 0x21, 9]), Some((LCP, &[9u8][..])));
        assert_eq!(split(&[0xc0, 0x21, 9]), Some((LCP, &[9u8][..])));
        assert_eq!(split(&[0x21, 0x45]), Some((0x21, &[0x45u8][..])));
        assert_eq!(split(&[0xff, 0x03]), None);
        assert_eq!(split(&[0xc0]), None);
        assert!(is_control(LCP) && !is_control(0x21) && !is_control(0x0021));
    }

    #[test]
    fn sees_mschapv2_agreed() {
        let ack = [
            0xff, 0x03, 0xc0, 0x21, 0x02, 0x01, 0x00, 0x0d, 0x03, 0x05, 0xc2, 0x23, 0x81, 0x05,
            0x06, 0, 0, 0, 1,
        ];
        assert_eq!(
            observe(&ack, false),
            Some(Observation::AuthAgreed(AuthMethod::MsChapV2))
        );
        assert_eq!(observe(&ack, true), None);
        let pap = [0xc0, 0x21, 0x02, 0x01, 0x00, 0x08, 0x03, 0x04, 0xc0, 0x23];
        assert_eq!(
            observe(&pap, false),
            Some(Observation::AuthAgreed(AuthMethod::Pap))
        );
    }

    #[test]
    fn sees_chap_failure_text() {
        let msg = b"E=691 R=0 C=00 V=3 M=Authentication failed";
        let mut f = vec![0xff, 0x03, 0xc2, 0x23, 0x04, 0x01];
        f.extend(((4 + msg.len()) as u16).to_be_bytes());
        f.extend_from_slice(msg);
        assert_eq!(
            observe(&f, true),
            Some(Observation::AuthRejected(
                String::from_utf8(msg.to_vec()).unwrap()
            ))
        );
    }

    #[test]
    fn sees_pap_nak_and_success() {
        let f = [
            0xc0, 0x23, 0x03, 0x01, 0x00, 0x09, 0x04, b'n', b'o', b'p', b'e',
        ];
        assert_eq!(
            observe(&f, true),
            Some(Observation::AuthRejected("nope".into()))
        );
        assert_eq!(
            observe(&[0xc0, 0x23, 0x02, 1, 0, 5, 0], true),
            Some(Observation::AuthSucceeded)
        );
    }

    /// `ff 03 c0 21`, code, id, length, options.
    fn lcp_frame(code: u8, id: u8, opts: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff, 0x03, 0xc0, 0x21, code, id];
        f.extend(((4 + opts.len()) as u16).to_be_bytes());
        f.extend_from_slice(opts);
        f
    }

    /// pppd's usual first request: ACCM 0, magic number.
    const ACCM0: [u8; 12] = [2, 6, 0, 0, 0, 0, 5, 6, 0x12, 0x34, 0x56, 0x78];

    #[test]
    fn accm_0_acked_then_past_lcp_escapes_flags_only() {
        let mut a = RecvAccm::default();
        a.from_server(&lcp_frame(1, 7, &[3, 5, 0xc2, 0x23, 0x81]));
        a.from_pppd(&lcp_frame(1, 1, &ACCM0));
        assert_eq!(a.escape(), Escape::AllControl);
        a.from_server(&lcp_frame(2, 1, &ACCM0));
        a.from_pppd(&lcp_frame(2, 7, &[3, 5, 0xc2, 0x23, 0x81]));
        // Acknowledged, but pppd may not have taken it yet.
        assert_eq!(a.escape(), Escape::AllControl);
        assert!(a.past_lcp());
        assert_eq!(a.escape(), Escape::FlagsOnly);
        // Echoes and the like change nothing; ACFC/PFC-compressed LCP is still seen.
        a.from_server(&lcp_frame(9, 3, &[0, 0, 0, 0]));
        a.from_pppd(&[0x00, 0x21, 0x45]);
        assert_eq!(a.escape(), Escape::FlagsOnly);
        let mut renegotiate = lcp_frame(1, 8, &[]);
        renegotiate.drain(..2);
        a.from_server(&renegotiate);
        assert_eq!(a.escape(), Escape::AllControl);
        // For the rest of the session, even when the new request is acknowledged.
        a.from_pppd(&lcp_frame(1, 2, &ACCM0));
        a.from_server(&lcp_frame(2, 2, &ACCM0));
        assert_eq!(a.escape(), Escape::AllControl);
    }

    #[test]
    fn anything_but_an_exact_ack_of_accm_0_keeps_full_escaping() {
        let cases: [(&[u8], &[u8], u8); 6] = [
            // No ACCM option: pppd's map stays 0xFFFFFFFF.
            (&[5, 6, 1, 2, 3, 4], &[5, 6, 1, 2, 3, 4], 1),
            // A map other than 0.
            (&[2, 6, 0, 0x0a, 0, 0], &[2, 6, 0, 0x0a, 0, 0], 1),
            // An Ack of another identifier, or with other options (pppd ignores both).
            (&ACCM0, &ACCM0, 2),
            (&ACCM0, &[2, 6, 0, 0, 0, 0], 1),
            // Malformed options.
            (
                &[2, 5, 0, 0, 0, 0, 5, 6, 1, 2, 3, 4],
                &[2, 5, 0, 0, 0, 0, 5, 6, 1, 2, 3, 4],
                1,
            ),
            (&[2, 6, 0, 0, 0], &[2, 6, 0, 0, 0], 1),
        ];
        for (req, ack, ack_id) in cases {
            let mut a = RecvAccm::default();
            a.from_pppd(&lcp_frame(1, 1, req));
            a.from_server(&lcp_frame(2, ack_id, ack));
            assert!(!a.past_lcp(), "{req:02x?} {ack:02x?}");
            assert_eq!(a.escape(), Escape::AllControl);
        }
        // Acknowledged, then pppd asked again (a new request or a Terminate): not yet agreed.
        for again in [lcp_frame(1, 2, &ACCM0), lcp_frame(5, 2, &[])] {
            let mut a = RecvAccm::default();
            a.from_pppd(&lcp_frame(1, 1, &ACCM0));
            a.from_server(&lcp_frame(2, 1, &ACCM0));
            a.from_pppd(&again);
            assert!(!a.past_lcp());
        }
        // The server ends LCP after the switch.
        let mut a = RecvAccm::default();
        a.from_pppd(&lcp_frame(1, 1, &ACCM0));
        a.from_server(&lcp_frame(2, 1, &ACCM0));
        assert!(a.past_lcp());
        a.from_server(&lcp_frame(5, 9, &[]));
        assert_eq!(a.escape(), Escape::AllControl);
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..12 {
            for b in 0..=255u8 {
                let mut f = vec![b; len];
                if len > 3 {
                    f[..4].copy_from_slice(&[0xff, 0x03, 0xc0, 0x21]);
                }
                let _ = observe(&f, false);
                let _ = observe(&f, true);
                let mut a = RecvAccm::default();
                a.from_pppd(&f);
                a.from_server(&f);
                a.past_lcp();
            }
        }
    }
}
