//! The client state machine after a fixed handshake (HTTP 200, Call Connect Ack with a
//! SHA-256|SHA-1 binding request) and pppd's first LCP Configure-Request, fed arbitrary server
//! bytes: first half, then the PPP keys (Call Connected), a PPP frame from pppd, the second
//! half, then every timer. It must not panic, everything it transmits after the HTTP request
//! must be well-formed SSTP packets, and once Call Connected was sent pppd must have had every
//! server frame the client took, each once (none left held back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sstp_proto::client::{Client, Config, Event, Timers};
use sstp_proto::hdlc;
use sstp_proto::secret::Secret;
use sstp_proto::wire::{self, Packet};
use std::time::{Duration, Instant};

const HTTP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n";
const ACK: [u8; 48] = [
    0x10, 0x01, 0x00, 0x30, 0x00, 0x02, 0x00, 0x01, 0x00, 0x04, 0x00, 0x28, 0x00, 0x00, 0x00,
    0x03, 0x41, 0x2B, 0x48, 0x9A, 0xEB, 0xD7, 0xEC, 0xC7, 0xD0, 0x89, 0x66, 0xF2, 0x6B, 0xE7,
    0xCD, 0x72, 0xB2, 0x31, 0xA0, 0xE9, 0x21, 0x0D, 0x7C, 0x91, 0xB3, 0x08, 0x86, 0x2B, 0x03,
    0x44, 0xC4, 0x35,
];

fn drain(c: &mut Client, tx: &mut Vec<u8>, to_pppd: &mut u64) {
    tx.append(c.transmit());
    c.poll_ppp(|f| {
        assert!(!f.is_empty());
        *to_pppd += 1;
    });
    while let Some(e) = c.poll_event() {
        if let Event::Closed(_) = e {
            assert!(c.is_closed());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let cfg = Config {
        host_header: "vpn.example.com".into(),
        correlation_id: "{00000000-0000-4000-8000-000000000000}".into(),
        cert_sha1: [1; 20],
        cert_sha256: [2; 32],
        max_nak_retries: 3,
        timers: Timers::default(),
    };
    let mut c = Client::new(cfg, t0);
    let mut tx = Vec::new();
    let mut to_pppd = 0;
    drain(&mut c, &mut tx, &mut to_pppd);
    let head_len = tx.len();
    c.handle_tls_bytes(HTTP_OK, t0);
    c.handle_tls_bytes(&ACK, t0);
    drain(&mut c, &mut tx, &mut to_pppd);
    assert!(c.ppp_allowed(), "the fixed handshake must reach Connect Ack Received");

    // pppd's first LCP Configure-Request, before the server's PPP has said anything: the
    // server's first frames are held back from pppd until it is answered.
    // It asks for ACCM 0, so that a server's Ack can switch the escaping toward pppd.
    c.handle_ppp_frame(
        &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 10, 2, 6, 0, 0, 0, 0],
        t0,
    );
    assert_eq!(c.pty_escape(), hdlc::Escape::AllControl);
    drain(&mut c, &mut tx, &mut to_pppd);
    let (a, b) = data.split_at(data.len() / 2);
    let mut now = t0 + Duration::from_millis(1);
    c.handle_tls_bytes(a, now);
    drain(&mut c, &mut tx, &mut to_pppd);
    let send = Secret::new(vec![7; 16]);
    let recv = Secret::new(vec![9; 16]);
    let connected = c.handle_auth_keys(&send, &recv, now);
    // Control bytes go unescaped to pppd only once it is past LCP (the keys were taken).
    if c.pty_escape() == hdlc::Escape::FlagsOnly {
        assert!(connected);
    }
    c.handle_ppp_frame(&[0xff, 0x03, 0x00, 0x21, 0x45, 0, 0, 20], now);
    drain(&mut c, &mut tx, &mut to_pppd);
    c.handle_tls_bytes(b, now);
    drain(&mut c, &mut tx, &mut to_pppd);
    // Run every timer out, then a local disconnect and the TLS close.
    for _ in 0..8 {
        match c.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                c.handle_timeout(now);
                drain(&mut c, &mut tx, &mut to_pppd);
            }
            None => break,
        }
    }
    if connected {
        assert_eq!(to_pppd, c.stats().frames_in, "frames pppd got / frames taken");
    }
    c.disconnect(now);
    c.handle_tls_closed(now);
    drain(&mut c, &mut tx, &mut to_pppd);
    assert!(c.is_closed());

    // Everything after the HTTP request is a sequence of valid SSTP packets.
    let mut rest = &tx[head_len..];
    while !rest.is_empty() {
        let len = wire::packet_len(rest)
            .expect("client sent a bad header")
            .expect("client sent a partial header");
        assert!(len <= rest.len(), "client sent a truncated packet");
        Packet::parse(&rest[..len]).expect("client sent a malformed packet");
        rest = &rest[len..];
    }
});
