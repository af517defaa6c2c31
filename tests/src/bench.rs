//! The frames the benchmark sends through a client, shared by the bench-mode server
//! ([`crate::Mode::BenchSink`] and friends) and the pump in the `sstp-bench` binary.
//!
//! A bench frame is an IPv4 PPP frame (`FF 03 00 21`, then pseudo-random bytes, which need
//! HDLC escaping about as often as encrypted traffic does), `len` bytes long in all.

/// The bench frame of `len` bytes (at least the 4-byte PPP header).
pub fn frame(len: usize) -> Vec<u8> {
    let mut f = vec![0xff, 0x03, 0x00, 0x21];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ len as u64;
    while f.len() < len.max(4) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        f.push(x as u8);
    }
    f
}

/// `got` is the bench frame `want`, with or without its `FF 03` address and control bytes
/// (clients may drop them: PPP address-and-control-field compression).
pub fn frame_ok(got: &[u8], want: &[u8]) -> bool {
    got == want || got == &want[2..]
}

/// pppd's usual first frame, an LCP Configure-Request: `ff 03 c021`, code 1, id 1, length 16,
/// ACCM 0 (2, 6, 4 bytes) as pppd asks by default, a magic number (5, 6, 4 bytes). The pppd
/// stand-in sends it for ours and the benchmark for sstpc, and both wait for the bench-mode
/// server's Configure-Ack before the keys are handed over, as pppd reaches LCP Opened before
/// it authenticates.
pub fn lcp_configure_request() -> Vec<u8> {
    vec![
        0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x10, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x05,
        0x06, 0x12, 0x34, 0x56, 0x78,
    ]
}

/// The LCP Configure-Ack of `frame` when it is an LCP Configure-Request (with or without
/// `FF 03`): the same packet with code 2, as a peer that accepts every option answers.
pub fn lcp_configure_ack(frame: &[u8]) -> Option<Vec<u8>> {
    let at = if frame.starts_with(&[0xff, 0x03]) {
        4
    } else {
        2
    };
    if frame.get(at - 2..at) != Some(&[0xc0, 0x21][..]) || frame.get(at) != Some(&1) {
        return None;
    }
    let mut ack = frame.to_vec();
    ack[at] = 2;
    Some(ack)
}

/// A PPP control frame (protocol 0x8000 and up: LCP, IPCP, authentication), with or without
/// `FF 03`.
pub fn is_ppp_control(f: &[u8]) -> bool {
    let p = if f.starts_with(&[0xff, 0x03]) {
        &f[2..]
    } else {
        f
    };
    p.first().is_some_and(|&b| b & 0x80 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_length_and_compressed_form_passes() {
        let f = frame(1400);
        assert_eq!(f.len(), 1400);
        assert!(frame_ok(&f, &f));
        assert!(frame_ok(&f[2..], &f));
        let mut g = f.clone();
        g[700] ^= 1;
        assert!(!frame_ok(&g, &f));
        assert!(!frame_ok(&f[..1399], &f));
        assert!(!is_ppp_control(&f));
        assert!(is_ppp_control(&[0xff, 0x03, 0xc0, 0x21, 1]));
        assert!(is_ppp_control(&[0x80, 0x21, 1]));
        let req = [0xff, 0x03, 0xc0, 0x21, 1, 7, 0, 4];
        assert_eq!(
            lcp_configure_ack(&req),
            Some(vec![0xff, 0x03, 0xc0, 0x21, 2, 7, 0, 4])
        );
        assert_eq!(
            lcp_configure_ack(&req[2..]),
            Some(vec![0xc0, 0x21, 2, 7, 0, 4])
        );
        assert_eq!(
            lcp_configure_ack(&[0xff, 0x03, 0xc0, 0x21, 2, 7, 0, 4]),
            None
        );
        assert_eq!(lcp_configure_ack(&f), None);
        assert_eq!(lcp_configure_ack(&[0xc0]), None);
        // Some bytes need escaping, as in real traffic.
        assert!(f.iter().any(|&b| b < 0x20));
    }
}
