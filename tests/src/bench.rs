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
        // Some bytes need escaping, as in real traffic.
        assert!(f.iter().any(|&b| b < 0x20));
    }
}
