//! The client driven by a simulated server with virtual time.

use super::*;
use crate::wire::hash_bits;

const NONCE: [u8; 32] = [0x5a; 32];

fn cfg() -> Config {
    Config {
        host_header: "vpn.test".into(),
        correlation_id: "{00000000-0000-4000-8000-000000000000}".into(),
        cert_sha1: [0x11; 20],
        cert_sha256: [0x22; 32],
        max_nak_retries: 3,
        timers: Timers::default(),
    }
}

/// A simulated server: parses what the client sent, records control messages.
struct Sim {
    c: Client,
    now: Instant,
    /// Control messages the client sent, in order.
    sent: Vec<ControlMessage>,
    /// Data frames the client sent.
    data: Vec<Vec<u8>>,
    events: Vec<Event>,
    http_seen: bool,
}

impl Sim {
    fn new() -> Sim {
        let now = Instant::now();
        let mut s = Sim {
            c: Client::new(cfg(), now),
            now,
            sent: vec![],
            data: vec![],
            events: vec![],
            http_seen: false,
        };
        s.drain();
        s
    }

    fn drain(&mut self) {
        let mut tx = std::mem::take(self.c.transmit());
        if !self.http_seen {
            let end = tx.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            assert!(tx.starts_with(b"SSTP_DUPLEX_POST /sra_"));
            tx.drain(..end);
            self.http_seen = true;
        }
        let mut off = 0;
        while off < tx.len() {
            let len = wire::packet_len(&tx[off..]).unwrap().unwrap();
            match Packet::parse(&tx[off..off + len]).unwrap() {
                Packet::Control(m) => self.sent.push(m),
                Packet::Data(d) => self.data.push(d.to_vec()),
            }
            off += len;
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.c.handle_tls_bytes(bytes, self.now);
        self.drain();
    }

    fn send(&mut self, m: ControlMessage) {
        self.feed(&m.encode());
    }

    /// Jump virtual time to the next deadline.
    fn step(&mut self) -> Duration {
        let d = self.c.poll_timeout().expect("a timer is armed");
        let waited = d.saturating_duration_since(self.now);
        self.now = d;
        self.c.handle_timeout(self.now);
        self.drain();
        waited
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.c.handle_timeout(self.now);
        self.drain();
    }

    fn last_sent(&self) -> &ControlMessage {
        self.sent.last().expect("client sent a control message")
    }

    fn closed(&self) -> Option<&CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(r) => Some(r),
            _ => None,
        })
    }

    fn http_ok(&mut self) {
        self.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n");
        assert_eq!(self.last_sent(), &ControlMessage::connect_request());
    }

    fn ack(&mut self, bitmask: u8) {
        self.send(ControlMessage {
            msg_type: MessageType::CallConnectAck,
            attributes: vec![Attribute::CryptoBindingRequest {
                hash_bitmask: bitmask,
                nonce: NONCE,
            }],
        });
    }

    fn connected(&mut self) {
        self.http_ok();
        self.ack(hash_bits::SHA1 | hash_bits::SHA256);
        assert!(self.c.handle_auth_keys(
            &Secret::new(vec![1; 16]),
            &Secret::new(vec![2; 16]),
            self.now
        ));
        self.drain();
    }
}

fn lcp() -> Vec<u8> {
    vec![0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04]
}
fn ip() -> Vec<u8> {
    vec![0xff, 0x03, 0x00, 0x21, 0x45, 0x00]
}

#[test]
fn happy_path_binding_is_correct() {
    let mut s = Sim::new();
    s.http_ok();
    assert!(s.events.contains(&Event::HttpAccepted));
    s.ack(hash_bits::SHA1 | hash_bits::SHA256);
    assert!(s.events.contains(&Event::Negotiated {
        hash: HashProtocol::Sha256
    }));
    // PPP control frames pass both ways before Call Connected; data frames do not.
    s.feed(&{
        let mut b = vec![];
        wire::encode_data(&lcp(), &mut b);
        wire::encode_data(&ip(), &mut b);
        b
    });
    let mut got = vec![];
    s.c.poll_ppp(|f| got.push(f.to_vec()));
    assert_eq!(got, vec![lcp()]);
    s.c.handle_ppp_frame(&lcp(), s.now);
    s.c.handle_ppp_frame(&ip(), s.now);
    s.drain();
    assert_eq!(s.data, vec![lcp()]);

    let send = Secret::new(vec![1; 16]);
    let recv = Secret::new(vec![2; 16]);
    assert!(s.c.handle_auth_keys(&send, &recv, s.now));
    s.drain();
    let cc = s.last_sent().clone();
    assert_eq!(cc.msg_type, MessageType::CallConnected);
    let Some(Attribute::CryptoBinding {
        hash_protocol,
        nonce,
        cert_hash,
        compound_mac,
    }) = cc.find(attr_id::CRYPTO_BINDING).cloned()
    else {
        panic!("no binding")
    };
    assert_eq!(hash_protocol, 2);
    assert_eq!(nonce, NONCE);
    assert_eq!(cert_hash, [0x22; 32]);
    // Recompute the MAC independently of the client.
    let (hlak, _) = binding::hlak(&send, &recv);
    let expected = binding::call_connected(HashProtocol::Sha256, &NONCE, &[0x22; 32], &hlak);
    assert_eq!(&expected[80..112], &compound_mac[..]);
    assert!(s.events.iter().any(|e| matches!(
        e,
        Event::BindingSent {
            hash: HashProtocol::Sha256,
            hlak: HlakSource::SendRecv16
        }
    )));
    // Now data flows.
    s.c.handle_ppp_frame(&ip(), s.now);
    s.drain();
    assert_eq!(s.data.last().unwrap(), &ip());
    assert!(
        !s.c.handle_auth_keys(&send, &recv, s.now),
        "binding sent once"
    );
}

#[test]
fn sha1_only_server_gets_sha1_binding() {
    let mut s = Sim::new();
    s.http_ok();
    s.ack(hash_bits::SHA1);
    assert!(s
        .c
        .handle_auth_keys(&Secret::default(), &Secret::default(), s.now));
    s.drain();
    let Some(Attribute::CryptoBinding {
        hash_protocol,
        cert_hash,
        compound_mac,
        ..
    }) = s.last_sent().find(attr_id::CRYPTO_BINDING).cloned()
    else {
        panic!()
    };
    assert_eq!(hash_protocol, 1);
    assert_eq!(&cert_hash[..20], &[0x11; 20]);
    assert_eq!(&cert_hash[20..], &[0; 12]);
    assert_eq!(&compound_mac[20..], &[0; 12]);
}

#[test]
fn split_and_coalesced_packets() {
    let mut s = Sim::new();
    let mut all = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    ControlMessage {
        msg_type: MessageType::CallConnectAck,
        attributes: vec![Attribute::CryptoBindingRequest {
            hash_bitmask: 2,
            nonce: NONCE,
        }],
    }
    .encode_into(&mut all);
    for _ in 0..3 {
        wire::encode_data(&lcp(), &mut all);
    }
    // One byte at a time.
    for b in &all {
        s.feed(std::slice::from_ref(b));
    }
    let mut n = 0;
    s.c.poll_ppp(|_| n += 1);
    assert_eq!(n, 3);
    assert!(s.c.ppp_allowed());
    // And everything in one read.
    let mut s2 = Sim::new();
    s2.feed(&all);
    let mut n2 = 0;
    s2.c.poll_ppp(|_| n2 += 1);
    assert_eq!(n2, 3);
    // Three reads, cut anywhere: whole packets are taken from the read itself, a cut one
    // is completed from the next read(s). The same frames in the same order every time.
    let frames = |s: &mut Sim| {
        let mut v = Vec::new();
        s.c.poll_ppp(|f| v.push(f.to_vec()));
        v
    };
    let want = vec![lcp(); 3];
    for i in 0..all.len() {
        for j in i..all.len() {
            let mut s3 = Sim::new();
            s3.feed(&all[..i]);
            s3.feed(&all[i..j]);
            s3.feed(&all[j..]);
            assert_eq!(frames(&mut s3), want, "cut at {i} and {j}");
            assert!(s3.closed().is_none(), "cut at {i} and {j}");
        }
    }
    // A data packet cut inside its header, with the next packet in the same read as its rest.
    let mut pkts = Vec::new();
    wire::encode_data(&ip(), &mut pkts);
    wire::encode_data(&lcp(), &mut pkts);
    for cut in 1..pkts.len() {
        let mut s4 = Sim::new();
        s4.connected();
        s4.feed(&pkts[..cut]);
        s4.feed(&pkts[cut..]);
        assert_eq!(frames(&mut s4), vec![ip(), lcp()], "cut at {cut}");
    }
}

#[test]
fn nak_retried_three_times_then_abort() {
    let mut s = Sim::new();
    s.http_ok();
    let nak = ControlMessage::with_status(
        MessageType::CallConnectNak,
        attr_id::ENCAPSULATED_PROTOCOL_ID,
        Status::VALUE_NOT_SUPPORTED,
    );
    for i in 1..=3 {
        s.send(nak.clone());
        assert_eq!(
            s.last_sent(),
            &ControlMessage::connect_request(),
            "retry {i}"
        );
    }
    assert_eq!(
        s.sent
            .iter()
            .filter(|m| m.msg_type == MessageType::CallConnectRequest)
            .count(),
        4
    );
    s.send(nak);
    assert_eq!(s.last_sent().msg_type, MessageType::CallAbort);
    assert_eq!(
        s.last_sent().status_info(),
        Some((0, Status::RETRY_COUNT_EXCEEDED))
    );
    assert_eq!(s.closed(), None);
    // No Call Abort back from the server: ABORT_STATE_TIMER_1 (3 s).
    assert_eq!(s.step(), Duration::from_secs(3));
    assert_eq!(
        s.closed(),
        Some(&CloseReason::Nak(Status::VALUE_NOT_SUPPORTED))
    );
}

#[test]
fn negotiation_timer_after_request_and_after_ack() {
    let mut s = Sim::new();
    s.http_ok();
    assert_eq!(s.step(), Duration::from_secs(60));
    assert_eq!(
        s.last_sent().status_info(),
        Some((0, Status::NEGOTIATION_TIMEOUT))
    );
    // Server answers the abort: ABORT_STATE_TIMER_2 (1 s), then closed.
    s.send(ControlMessage::bare(MessageType::CallAbort));
    assert_eq!(s.step(), Duration::from_secs(1));
    assert_eq!(s.closed(), Some(&CloseReason::NegotiationTimeout));

    let mut s = Sim::new();
    s.http_ok();
    s.advance(Duration::from_secs(30));
    s.ack(2);
    // The timer restarts at the ack: 60 s from there.
    assert_eq!(s.step(), Duration::from_secs(60));
    assert_eq!(s.last_sent().msg_type, MessageType::CallAbort);
}

#[test]
fn http_timeout_and_bad_status() {
    let mut s = Sim::new();
    assert_eq!(s.step(), Duration::from_secs(60));
    assert_eq!(s.closed(), Some(&CloseReason::HttpTimeout));
    assert!(s.sent.is_empty());

    let mut s = Sim::new();
    s.feed(b"HTTP/1.1 500 Internal Server Error\r\n\r\n");
    let Some(CloseReason::Http(e)) = s.closed() else {
        panic!("{:?}", s.events)
    };
    assert!(e.to_string().contains("HTTP/1.1 500 Internal Server Error"));
    assert!(s.sent.is_empty());
}

#[test]
fn hello_echo_then_timeout_without_abort() {
    let mut s = Sim::new();
    s.connected();
    let n = s.sent.len();
    // 60 s idle: Echo Request.
    assert_eq!(s.step(), Duration::from_secs(60));
    assert_eq!(s.last_sent().msg_type, MessageType::EchoRequest);
    // Answered: the timer restarts from the answer.
    s.advance(Duration::from_secs(5));
    s.send(ControlMessage::bare(MessageType::EchoResponse));
    assert_eq!(s.step(), Duration::from_secs(60));
    assert_eq!(s.last_sent().msg_type, MessageType::EchoRequest);
    // Not answered: closed after another interval, with no Call Abort sent.
    assert_eq!(s.step(), Duration::from_secs(60));
    assert_eq!(s.closed(), Some(&CloseReason::HelloTimeout));
    assert!(s.sent[n..]
        .iter()
        .all(|m| m.msg_type == MessageType::EchoRequest));
}

#[test]
fn data_from_server_resets_hello() {
    let mut s = Sim::new();
    s.connected();
    s.advance(Duration::from_secs(59));
    let mut b = vec![];
    wire::encode_data(&ip(), &mut b);
    s.feed(&b);
    s.advance(Duration::from_secs(59));
    assert_ne!(s.last_sent().msg_type, MessageType::EchoRequest);
}

#[test]
fn echo_request_answered() {
    let mut s = Sim::new();
    s.connected();
    s.send(ControlMessage::bare(MessageType::EchoRequest));
    assert_eq!(s.last_sent().msg_type, MessageType::EchoResponse);
}

#[test]
fn server_abort_is_answered_then_closed_after_1s() {
    let mut s = Sim::new();
    s.connected();
    s.send(ControlMessage::with_status(
        MessageType::CallAbort,
        0,
        Status::INVALID_FRAME_RECEIVED,
    ));
    assert_eq!(s.last_sent().msg_type, MessageType::CallAbort);
    assert_eq!(s.closed(), None);
    assert_eq!(s.step(), Duration::from_secs(1));
    assert_eq!(
        s.closed(),
        Some(&CloseReason::ServerAbort(Some(
            Status::INVALID_FRAME_RECEIVED
        )))
    );
}

#[test]
fn server_disconnect_is_acked() {
    let mut s = Sim::new();
    s.connected();
    s.send(ControlMessage::with_status(
        MessageType::CallDisconnect,
        0,
        Status::NO_ERROR,
    ));
    assert_eq!(s.last_sent().msg_type, MessageType::CallDisconnectAck);
    // TLS closing ends it early.
    s.c.handle_tls_closed(s.now);
    s.drain();
    assert_eq!(
        s.closed(),
        Some(&CloseReason::ServerDisconnect(Some(Status::NO_ERROR)))
    );
}

#[test]
fn local_disconnect_with_status_then_ack_or_timer() {
    let mut s = Sim::new();
    s.connected();
    s.c.disconnect(s.now);
    s.drain();
    assert_eq!(
        s.last_sent(),
        &ControlMessage::with_status(MessageType::CallDisconnect, 0, Status::NO_ERROR)
    );
    // Data after disconnect is not relayed.
    s.c.handle_ppp_frame(&ip(), s.now);
    s.send(ControlMessage::bare(MessageType::CallDisconnectAck));
    assert_eq!(s.closed(), Some(&CloseReason::Local));

    let mut s = Sim::new();
    s.connected();
    s.c.disconnect(s.now);
    s.drain();
    assert_eq!(s.step(), Duration::from_secs(5));
    assert_eq!(s.closed(), Some(&CloseReason::Local));
}

#[test]
fn local_disconnect_during_negotiation_sends_disconnect() {
    let mut s = Sim::new();
    s.http_ok();
    s.c.disconnect(s.now);
    s.drain();
    assert_eq!(s.last_sent().msg_type, MessageType::CallDisconnect);
}

#[test]
fn bad_connect_acks_are_aborted() {
    // Missing Crypto Binding Request.
    let mut s = Sim::new();
    s.http_ok();
    s.send(ControlMessage::bare(MessageType::CallConnectAck));
    assert_eq!(s.last_sent().msg_type, MessageType::CallAbort);
    s.step();
    assert!(
        matches!(s.closed(), Some(CloseReason::Aborted { why, .. }) if why.contains("without a Crypto Binding Request"))
    );

    // Hash bitmask 0.
    let mut s = Sim::new();
    s.http_ok();
    s.ack(0);
    assert_eq!(
        s.last_sent().status_info(),
        Some((attr_id::CRYPTO_BINDING_REQ, Status::VALUE_NOT_SUPPORTED))
    );

    // Duplicate attribute.
    let mut s = Sim::new();
    s.http_ok();
    let req = Attribute::CryptoBindingRequest {
        hash_bitmask: 2,
        nonce: NONCE,
    };
    s.send(ControlMessage {
        msg_type: MessageType::CallConnectAck,
        attributes: vec![req.clone(), req],
    });
    assert_eq!(s.last_sent().msg_type, MessageType::CallAbort);
}

#[test]
fn unknown_and_unexpected_messages_abort() {
    let mut s = Sim::new();
    s.connected();
    s.send(ControlMessage::bare(MessageType::Unknown(0x42)));
    assert_eq!(
        s.last_sent().status_info(),
        Some((0, Status::UNACCEPTED_FRAME_RECEIVED))
    );
    // In Call_Abort_Pending everything but Call Abort is ignored.
    let n = s.sent.len();
    s.send(ControlMessage::bare(MessageType::EchoRequest));
    assert_eq!(s.sent.len(), n);

    let mut s = Sim::new();
    s.connected();
    s.ack(2);
    assert_eq!(s.last_sent().msg_type, MessageType::CallAbort);
}

#[test]
fn malformed_and_unframeable_input() {
    // A control packet whose attribute overruns: Call Abort.
    let mut s = Sim::new();
    s.http_ok();
    s.feed(&[
        0x10, 0x01, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x04, 0x00, 0x28,
    ]);
    assert_eq!(
        s.last_sent().status_info(),
        Some((0, Status::INVALID_FRAME_RECEIVED))
    );
    // Wrong version: framing lost, closed at once with nothing sent.
    let mut s = Sim::new();
    s.http_ok();
    let n = s.sent.len();
    s.feed(&[0x20, 0x01, 0x00, 0x08, 0, 1, 0, 0]);
    assert!(matches!(
        s.closed(),
        Some(CloseReason::Framing(WireError::BadVersion(0x20)))
    ));
    assert_eq!(s.sent.len(), n);
    // Length below 4.
    let mut s = Sim::new();
    s.http_ok();
    s.feed(&[0x10, 0x01, 0x00, 0x02]);
    assert!(matches!(
        s.closed(),
        Some(CloseReason::Framing(WireError::BadLength(2)))
    ));
}

#[test]
fn tls_closed_without_disconnect() {
    let mut s = Sim::new();
    s.connected();
    s.c.handle_tls_closed(s.now);
    s.drain();
    assert_eq!(s.closed(), Some(&CloseReason::ConnectionClosed));
    assert!(s.c.is_closed());
    assert_eq!(s.c.poll_timeout(), None);
}

#[test]
fn auth_events_are_reported() {
    let mut s = Sim::new();
    s.http_ok();
    s.ack(2);
    // pppd acks the server's MS-CHAPv2 auth option.
    s.c.handle_ppp_frame(
        &[
            0xff, 0x03, 0xc0, 0x21, 0x02, 0x01, 0x00, 0x09, 0x03, 0x05, 0xc2, 0x23, 0x81,
        ],
        s.now,
    );
    // The server sends CHAP Failure.
    let msg = b"E=691 R=0 M=bad password";
    let mut f = vec![0xff, 0x03, 0xc2, 0x23, 0x04, 0x01];
    f.extend(((4 + msg.len()) as u16).to_be_bytes());
    f.extend_from_slice(msg);
    let mut b = vec![];
    wire::encode_data(&f, &mut b);
    s.feed(&b);
    assert!(s.events.contains(&Event::AuthAgreed(AuthMethod::MsChapV2)));
    assert!(s
        .events
        .contains(&Event::AuthRejected("E=691 R=0 M=bad password".into())));
}

#[test]
fn slowloris_ack_is_bounded_by_the_negotiation_timer() {
    // The server dribbles its Call Connect Ack one byte every 2 s: the partial packet does not
    // restart the negotiation timer, so 60 s after Call Connect Request the client aborts.
    let mut s = Sim::new();
    s.http_ok();
    let ack = ControlMessage {
        msg_type: MessageType::CallConnectAck,
        attributes: vec![Attribute::CryptoBindingRequest {
            hash_bitmask: hash_bits::SHA256,
            nonce: NONCE,
        }],
    }
    .encode();
    let start = s.now;
    for b in &ack {
        if s.c
            .poll_timeout()
            .is_some_and(|d| d <= s.now + Duration::from_secs(2))
        {
            break;
        }
        s.advance(Duration::from_secs(2));
        s.feed(&[*b]);
    }
    assert_eq!(s.closed(), None);
    assert_eq!(s.sent.len(), 1, "only Call Connect Request so far");
    let waited = s.step();
    assert_eq!(s.now - start, Duration::from_secs(60), "after {waited:?}");
    assert_eq!(
        s.last_sent().status_info(),
        Some((0, Status::NEGOTIATION_TIMEOUT))
    );
    s.step();
    assert_eq!(s.closed(), Some(&CloseReason::NegotiationTimeout));
    assert!(!s
        .events
        .iter()
        .any(|e| matches!(e, Event::Negotiated { .. })));
}

fn server_frame(f: &[u8]) -> Vec<u8> {
    let mut b = vec![];
    wire::encode_data(f, &mut b);
    b
}

/// An LCP packet: code, id, no options.
fn lcp_pkt(code: u8, id: u8) -> Vec<u8> {
    vec![0xff, 0x03, 0xc0, 0x21, code, id, 0x00, 0x04]
}

/// Negotiated, 40 ms after Call Connect Request.
fn negotiated() -> Sim {
    let mut s = Sim::new();
    s.http_ok();
    s.now += Duration::from_millis(40);
    s.ack(hash_bits::SHA256);
    s
}

/// Negotiated, and pppd's first LCP Configure-Request (identifier `id`) sent before the
/// server's PPP has said anything.
fn pppd_asked_first(id: u8) -> Sim {
    let mut s = negotiated();
    s.c.handle_ppp_frame(&lcp_pkt(1, id), s.now);
    s.drain();
    s
}

/// The PPP frames the client lets pppd have now.
fn to_pppd(s: &mut Sim) -> Vec<Vec<u8>> {
    let mut v = vec![];
    s.c.poll_ppp(|f| v.push(f.to_vec()));
    v
}

#[test]
fn first_lcp_request_lost_by_a_slow_server_pppd_is_sent_again() {
    // pppd's first Configure-Request goes out at once (no waiting for the server) ...
    let mut s = pppd_asked_first(1);
    assert_eq!(s.data, vec![lcp_pkt(1, 1)]);
    // ... but the server's pppd was not reading yet. It starts and sends its own request,
    // without an answer to ours: held back from pppd, nothing sent yet.
    s.advance(Duration::from_millis(150));
    s.feed(&server_frame(&lcp_pkt(1, 7)));
    assert!(to_pppd(&mut s).is_empty(), "held");
    assert_eq!(s.data.len(), 1);
    // No answer within the hold: the copy goes out, and only then does pppd get the
    // server's request, so that its Ack follows the copy on the wire.
    assert_eq!(s.step(), Timers::default().lcp_hold);
    assert_eq!(s.data, vec![lcp_pkt(1, 1), lcp_pkt(1, 1)]);
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(1, 7)]);
    s.c.handle_ppp_frame(&lcp_pkt(2, 7), s.now);
    s.drain();
    assert_eq!(s.data, vec![lcp_pkt(1, 1), lcp_pkt(1, 1), lcp_pkt(2, 7)]);
    assert!(s.closed().is_none());
    assert_eq!(
        s.c.poll_timeout(),
        Some(s.now - Duration::from_millis(200) + Timers::default().negotiation),
        "back to the negotiation timer"
    );
    // The server answers the copy; nothing more is held or sent.
    s.feed(&server_frame(&lcp_pkt(2, 1)));
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(2, 1)]);
    s.advance(Duration::from_secs(2));
    assert_eq!(s.data.len(), 3, "only once");
}

#[test]
fn frames_after_the_held_one_keep_their_order() {
    let mut s = pppd_asked_first(1);
    s.feed(&server_frame(&lcp_pkt(1, 7)));
    s.advance(Duration::from_millis(10));
    s.feed(&server_frame(&lcp_pkt(9, 8)));
    assert!(to_pppd(&mut s).is_empty(), "both held");
    s.step();
    assert_eq!(s.data, vec![lcp_pkt(1, 1), lcp_pkt(1, 1)]);
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(1, 7), lcp_pkt(9, 8)]);
    assert!(to_pppd(&mut s).is_empty(), "each frame once");
}

#[test]
fn answered_first_lcp_request_is_not_sent_again() {
    // The server's request and its Ack of ours arrive together (sstpd, pppd up in time):
    // pppd gets both at once, in order.
    let mut s = pppd_asked_first(1);
    s.feed(&[server_frame(&lcp_pkt(1, 7)), server_frame(&lcp_pkt(2, 1))].concat());
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(1, 7), lcp_pkt(2, 1)]);
    s.advance(Duration::from_secs(2));
    assert_eq!(s.data, vec![lcp_pkt(1, 1)]);
    // The Ack a little later: the request waits for it, then both go to pppd.
    let mut s = pppd_asked_first(1);
    s.feed(&server_frame(&lcp_pkt(1, 7)));
    s.now += Duration::from_millis(20);
    assert!(to_pppd(&mut s).is_empty());
    s.feed(&server_frame(&lcp_pkt(2, 1)));
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(1, 7), lcp_pkt(2, 1)]);
    s.advance(Duration::from_secs(2));
    assert_eq!(s.data, vec![lcp_pkt(1, 1)]);
    // A server that speaks only after the client (SoftEther): its Nak comes first, and
    // nothing is held.
    let mut s = pppd_asked_first(1);
    s.feed(&server_frame(&lcp_pkt(3, 1)));
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(3, 1)]);
    s.feed(&server_frame(&lcp_pkt(1, 9)));
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(1, 9)]);
    s.advance(Duration::from_secs(2));
    assert_eq!(s.data, vec![lcp_pkt(1, 1)]);
    // A server that speaks before pppd (its request arrives first): nothing is held.
    let mut s = negotiated();
    s.feed(&server_frame(&lcp_pkt(1, 9)));
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(1, 9)]);
    s.c.handle_ppp_frame(&lcp_pkt(1, 1), s.now);
    s.advance(Duration::from_secs(2));
    assert_eq!(s.data, vec![lcp_pkt(1, 1)]);
    // An answer to another id does not count.
    let mut s = pppd_asked_first(2);
    s.feed(&[server_frame(&lcp_pkt(1, 7)), server_frame(&lcp_pkt(2, 1))].concat());
    assert!(to_pppd(&mut s).is_empty());
    assert_eq!(s.step(), Timers::default().lcp_hold);
    assert_eq!(s.data, vec![lcp_pkt(1, 2), lcp_pkt(1, 2)]);
    assert_eq!(to_pppd(&mut s), vec![lcp_pkt(1, 7), lcp_pkt(2, 1)]);
}

#[test]
fn a_flood_while_held_ends_the_hold() {
    let mut s = pppd_asked_first(1);
    s.feed(&server_frame(&lcp_pkt(1, 7)));
    // LCP Echo-Requests of 1000 bytes, none an answer to pppd's request.
    let mut echo = lcp_pkt(9, 0);
    echo.resize(1000, 0xab);
    let mut n = 1;
    let mut got = vec![];
    while got.is_empty() {
        assert!(n < 20, "still held after {n} frames");
        s.feed(&server_frame(&echo));
        n += 1;
        got = to_pppd(&mut s);
    }
    // Stopped after at most 16 KiB, without waiting for the timer: the copy went out first,
    // then pppd got every frame, in order.
    assert!(n <= 18, "{n} frames");
    assert_eq!(s.data, vec![lcp_pkt(1, 1), lcp_pkt(1, 1)]);
    assert_eq!(got.len(), n);
    assert_eq!(got[0], lcp_pkt(1, 7));
    assert!(got[1..].iter().all(|f| *f == echo));
    s.feed(&server_frame(&echo));
    assert_eq!(to_pppd(&mut s), vec![echo], "no longer held");
}

/// `ff 03 c0 21`, code, id, the options pppd asks for first (ACCM 0, a magic number).
fn lcp_accm0(code: u8, id: u8) -> Vec<u8> {
    vec![
        0xff, 0x03, 0xc0, 0x21, code, id, 0x00, 0x10, 2, 6, 0, 0, 0, 0, 5, 6, 1, 2, 3, 4,
    ]
}

#[test]
fn control_bytes_go_unescaped_only_after_the_keys_with_accm_0_agreed() {
    let mut s = pppd_asked_first(1);
    s.c.handle_ppp_frame(&lcp_accm0(1, 2), s.now);
    s.feed(&server_frame(&lcp_accm0(2, 2)));
    assert_eq!(to_pppd(&mut s), vec![lcp_accm0(2, 2)]);
    // Agreed, but pppd takes the map only when LCP is up: the keys (after authentication)
    // show that it is.
    assert_eq!(s.c.pty_escape(), Escape::AllControl);
    assert!(s
        .c
        .handle_auth_keys(&Secret::new(vec![1; 16]), &Secret::new(vec![2; 16]), s.now));
    assert_eq!(s.c.pty_escape(), Escape::FlagsOnly);
    // The server restarts LCP: full escaping from that frame on.
    s.feed(&server_frame(&lcp_pkt(1, 9)));
    assert_eq!(s.c.pty_escape(), Escape::AllControl);

    // A server that acknowledged a request without ACCM: full escaping throughout.
    let mut s = pppd_asked_first(1);
    s.feed(&server_frame(&lcp_pkt(2, 1)));
    s.c.handle_auth_keys(&Secret::default(), &Secret::default(), s.now);
    assert_eq!(s.c.pty_escape(), Escape::AllControl);
}
