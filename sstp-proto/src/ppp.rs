//! Read-only inspection of PPP frames passing through the helper, for progress and error lines.
//!
//! Frames may carry `FF 03` or not (ACFC) and a 1- or 2-byte protocol field (PFC).

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
            }
        }
    }
}
