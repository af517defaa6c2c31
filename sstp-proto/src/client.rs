//! The SSTP client state machine (MS-SSTP §3.1, §3.2), sans I/O.
//!
//! Create a [`Client`] once the TLS handshake is done, then feed it with the `handle_*` methods
//! and drain it after every call, in this order:
//! 1. [`Client::transmit`]: bytes to write to TLS (take them all and write them in order);
//! 2. [`Client::poll_ppp`]: PPP frames for pppd;
//! 3. [`Client::poll_event`]: progress and the final [`Event::Closed`];
//! 4. [`Client::poll_timeout`]: when to call [`Client::handle_timeout`].
//!
//! Every method takes `now`; there is no clock, socket or thread inside.

use crate::binding::{self, HashProtocol, HlakSource};
use crate::hdlc::Escape;
use crate::http::{self, HttpError};
use crate::ppp::{self, AuthMethod, Observation};
use crate::secret::Secret;
use crate::wire::{
    self, attr_id, Attribute, ControlMessage, MessageType, Packet, Status, WireError,
};
use log::{debug, info, warn};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Most bytes of the server's PPP frames held back from pppd (see [`Client::handle_ppp_frame`]).
const MAX_HELD: usize = 16 * 1024;

/// Timer values; the defaults are the spec's, but for `lcp_hold`, which is ours.
#[derive(Debug, Clone)]
pub struct Timers {
    /// Wait for the HTTP response (§4.1): 60 s.
    pub http: Duration,
    /// Negotiation timer (§3.2.2.1): 60 s.
    pub negotiation: Duration,
    /// Hello timer (§3.1.2.3): 60 s.
    pub hello: Duration,
    /// ABORT_STATE_TIMER_1: 3 s.
    pub abort1: Duration,
    /// ABORT_STATE_TIMER_2: 1 s.
    pub abort2: Duration,
    /// DISCONNECT_STATE_TIMER_1: 5 s.
    pub disconnect1: Duration,
    /// DISCONNECT_STATE_TIMER_2: 1 s.
    pub disconnect2: Duration,
    /// How long the server's first PPP frames are held back from pppd while the server has
    /// not answered pppd's first LCP Configure-Request; then that request is sent once more
    /// (see [`Client::handle_ppp_frame`]): 50 ms.
    pub lcp_hold: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            http: Duration::from_secs(60),
            negotiation: Duration::from_secs(60),
            hello: Duration::from_secs(60),
            abort1: Duration::from_secs(3),
            abort2: Duration::from_secs(1),
            disconnect1: Duration::from_secs(5),
            disconnect2: Duration::from_secs(1),
            lcp_hold: Duration::from_millis(50),
        }
    }
}

/// What the client needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Value of the HTTP `Host` header.
    pub host_header: String,
    /// `SSTPCORRELATIONID`, a GUID in braces.
    pub correlation_id: String,
    /// SHA-1 of the server's leaf certificate (DER).
    pub cert_sha1: [u8; 20],
    /// SHA-256 of the server's leaf certificate (DER).
    pub cert_sha256: [u8; 32],
    /// Call Connect Request retries after a NAK (the Windows client uses 3).
    pub max_nak_retries: u8,
    /// Timers.
    pub timers: Timers,
}

/// Why the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// We disconnected (local shutdown) and the server acknowledged or the timer ran out.
    Local,
    /// The server sent Call Disconnect.
    ServerDisconnect(Option<Status>),
    /// The server sent Call Abort.
    ServerAbort(Option<Status>),
    /// We aborted because of a protocol error.
    Aborted {
        /// What was wrong.
        why: String,
        /// Status sent in our Call Abort.
        status: Status,
    },
    /// The server refused Call Connect Request every time.
    Nak(Status),
    /// No HTTP response in time.
    HttpTimeout,
    /// Bad HTTP response.
    Http(HttpError),
    /// SSTP negotiation did not finish in time.
    NegotiationTimeout,
    /// The server did not answer an Echo Request.
    HelloTimeout,
    /// The byte stream could not be split into SSTP packets.
    Framing(WireError),
    /// The server closed the TLS connection without Call Disconnect.
    ConnectionClosed,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Local => write!(f, "disconnected"),
            CloseReason::ServerDisconnect(None) => write!(f, "the server disconnected"),
            CloseReason::ServerDisconnect(Some(s)) => {
                write!(f, "the server disconnected (status: {s})")
            }
            CloseReason::ServerAbort(None) => write!(f, "the server aborted the call"),
            CloseReason::ServerAbort(Some(s)) => {
                write!(f, "the server aborted the call (status: {s})")
            }
            CloseReason::Aborted { why, status } => {
                write!(f, "aborted: {why} (sent Call Abort with status: {status})")
            }
            CloseReason::Nak(s) => {
                write!(
                    f,
                    "the server refused the SSTP call (Call Connect Nak: {s})"
                )
            }
            CloseReason::HttpTimeout => write!(f, "no HTTP response from the server within 60 s"),
            CloseReason::Http(e) => write!(f, "HTTP: {e}"),
            CloseReason::NegotiationTimeout => {
                write!(f, "SSTP negotiation did not complete within 60 s")
            }
            CloseReason::HelloTimeout => write!(f, "the server stopped answering (echo timeout)"),
            CloseReason::Framing(e) => write!(f, "lost SSTP framing: {e}"),
            CloseReason::ConnectionClosed => {
                write!(
                    f,
                    "the server closed the connection without Call Disconnect"
                )
            }
        }
    }
}

/// Progress and the end of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// HTTP 200 received.
    HttpAccepted,
    /// Call Connect Ack received: start PPP. The binding will use `hash`.
    Negotiated {
        /// Hash protocol chosen.
        hash: HashProtocol,
    },
    /// LCP agreed on an authentication method.
    AuthAgreed(AuthMethod),
    /// The server accepted our credentials.
    AuthSucceeded,
    /// The server refused our credentials; the text is the server's.
    AuthRejected(String),
    /// Call Connected (the crypto binding) is queued for transmission.
    BindingSent {
        /// Hash used.
        hash: HashProtocol,
        /// Where the HLAK came from.
        hlak: HlakSource,
    },
    /// The connection is over; close TLS once [`Client::transmit`] is flushed.
    Closed(CloseReason),
}

#[derive(Debug)]
enum State {
    Http {
        deadline: Instant,
    },
    ConnectRequestSent {
        deadline: Instant,
        naks: u8,
    },
    ConnectAckReceived {
        deadline: Instant,
        nonce: [u8; 32],
        hash: HashProtocol,
    },
    Connected,
    /// We sent Call Abort; only Call Abort is processed (ABORT_STATE_TIMER_1).
    AbortPending {
        deadline: Instant,
        reason: CloseReason,
    },
    /// Abort exchange done; waiting ABORT_STATE_TIMER_2.
    AbortTimeoutPending {
        deadline: Instant,
        reason: CloseReason,
    },
    /// We sent Call Disconnect; waiting for the Ack (DISCONNECT_STATE_TIMER_1).
    DisconnectPending {
        deadline: Instant,
        reason: CloseReason,
    },
    /// We acknowledged the server's Call Disconnect (DISCONNECT_STATE_TIMER_2).
    DisconnectAckSent {
        deadline: Instant,
        reason: CloseReason,
    },
    Closed,
}

/// The SSTP client.
#[derive(Debug)]
pub struct Client {
    cfg: Config,
    state: State,
    /// Received bytes not yet parsed.
    rx: Vec<u8>,
    /// Bytes to write to TLS.
    tx: Vec<u8>,
    /// PPP frames for pppd, each as u16 length + bytes.
    ppp_out: Vec<u8>,
    /// Frames in `ppp_out` from this offset on are held back from pppd until `lcp_resend_at`
    /// or the server's answer to `early_lcp_req`.
    ppp_held: Option<usize>,
    events: VecDeque<Event>,
    /// The server's PPP has sent a frame.
    peer_ppp_seen: bool,
    /// pppd's latest LCP Configure-Request sent before that, while the server has not
    /// answered it (its identifier, the whole frame); sent once more at `lcp_resend_at`.
    early_lcp_req: Option<(u8, Vec<u8>)>,
    lcp_resend_at: Option<Instant>,
    /// pppd's receive ACCM, from the LCP frames passing through: how frames for it are escaped.
    accm: ppp::RecvAccm,
    /// Hello timer: last time any packet arrived.
    last_rx: Instant,
    /// An Echo Request is outstanding since then.
    echo_sent: Option<Instant>,
    /// Counters.
    stats: Stats,
}

/// Traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// PPP frames sent to the server.
    pub frames_out: u64,
    /// PPP frames received from the server.
    pub frames_in: u64,
    /// PPP payload bytes sent.
    pub bytes_out: u64,
    /// PPP payload bytes received.
    pub bytes_in: u64,
    /// Data frames dropped because the call was not connected.
    pub dropped: u64,
}

impl Client {
    /// Start: queues the HTTP request.
    pub fn new(cfg: Config, now: Instant) -> Client {
        let mut c = Client {
            state: State::Http {
                deadline: now + cfg.timers.http,
            },
            rx: Vec::with_capacity(16384),
            tx: http::request(&cfg.host_header, &cfg.correlation_id),
            ppp_out: Vec::with_capacity(16384),
            ppp_held: None,
            peer_ppp_seen: false,
            early_lcp_req: None,
            lcp_resend_at: None,
            accm: ppp::RecvAccm::default(),
            events: VecDeque::new(),
            last_rx: now,
            echo_sent: None,
            stats: Stats::default(),
            cfg,
        };
        c.tx.reserve(16384);
        c
    }

    /// Bytes to write to TLS. The caller takes them all (`std::mem::take` or drain) and writes
    /// them in order.
    pub fn transmit(&mut self) -> &mut Vec<u8> {
        &mut self.tx
    }

    /// How the frames from [`Client::poll_ppp`] must be HDLC-escaped for pppd now: only 7D and
    /// 7E once pppd is past LCP with a receive ACCM of 0 (see [`ppp::RecvAccm`]), every control
    /// byte before that and whenever LCP starts over.
    pub fn pty_escape(&self) -> Escape {
        self.accm.escape()
    }

    /// Call `f` with each PPP frame for pppd, oldest first.
    pub fn poll_ppp(&mut self, mut f: impl FnMut(&[u8])) {
        let end = self.ppp_held.unwrap_or(self.ppp_out.len());
        let buf = &self.ppp_out[..end];
        let mut i = 0;
        while i + 2 <= buf.len() {
            let n = u16::from_be_bytes([buf[i], buf[i + 1]]) as usize;
            f(&buf[i + 2..i + 2 + n]);
            i += 2 + n;
        }
        if let Some(held) = &mut self.ppp_held {
            self.ppp_out.drain(..*held);
            *held = 0;
        } else {
            self.ppp_out.clear();
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::ConnectAckReceived { deadline, .. } => Some(match self.lcp_resend_at {
                Some(r) => r.min(*deadline),
                None => *deadline,
            }),
            State::Http { deadline }
            | State::ConnectRequestSent { deadline, .. }
            | State::AbortPending { deadline, .. }
            | State::AbortTimeoutPending { deadline, .. }
            | State::DisconnectPending { deadline, .. }
            | State::DisconnectAckSent { deadline, .. } => Some(*deadline),
            State::Connected => Some(match self.echo_sent {
                Some(t) => t + self.cfg.timers.hello,
                None => self.last_rx + self.cfg.timers.hello,
            }),
            State::Closed => None,
        }
    }

    /// True once [`Event::Closed`] has been emitted.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// True between Call Connect Ack and the end: PPP may run.
    pub fn ppp_allowed(&self) -> bool {
        matches!(
            self.state,
            State::ConnectAckReceived { .. } | State::Connected
        )
    }

    /// True after Call Connected was sent.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected)
    }

    /// Traffic counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Bytes read from TLS.
    pub fn handle_tls_bytes(&mut self, data: &[u8], now: Instant) {
        if matches!(self.state, State::Closed) {
            return;
        }
        if let State::Http { .. } = self.state {
            self.rx.extend_from_slice(data);
            match http::parse_response(&self.rx) {
                Ok(None) => return,
                Ok(Some((resp, used))) => {
                    if resp.content_length != Some(u64::MAX) {
                        debug!(
                            "HTTP response Content-Length {:?} (expected 18446744073709551615)",
                            resp.content_length
                        );
                    }
                    self.rx.drain(..used);
                    self.events.push_back(Event::HttpAccepted);
                    ControlMessage::connect_request().encode_into(&mut self.tx);
                    self.state = State::ConnectRequestSent {
                        deadline: now + self.cfg.timers.negotiation,
                        naks: 0,
                    };
                }
                Err(e) => {
                    self.close(CloseReason::Http(e));
                    return;
                }
            }
            // SSTP bytes that came in the same read as the response.
            let rest = std::mem::take(&mut self.rx);
            self.handle_sstp_bytes(&rest, now);
            return;
        }
        self.handle_sstp_bytes(data, now);
    }

    /// SSTP packets: whole ones are handled in place in `data`; only a packet cut by the end of
    /// a read is copied, into `rx`, until the rest arrives.
    fn handle_sstp_bytes(&mut self, mut data: &[u8], now: Instant) {
        if !self.rx.is_empty() {
            // `rx` holds the start of one packet: complete its header, then its body.
            let want = loop {
                let want = match wire::packet_len(&self.rx) {
                    Ok(Some(len)) => len,
                    Ok(None) => wire::HEADER_LEN,
                    Err(e) => {
                        // §3.1.5.1: framing lost, drop without a message.
                        self.rx.clear();
                        self.close(CloseReason::Framing(e));
                        return;
                    }
                };
                if self.rx.len() >= want {
                    break want;
                }
                if data.is_empty() {
                    return;
                }
                let take = (want - self.rx.len()).min(data.len());
                self.rx.extend_from_slice(&data[..take]);
                data = &data[take..];
            };
            let mut pkt = std::mem::take(&mut self.rx);
            self.handle_packet(&pkt[..want], now);
            pkt.clear();
            self.rx = pkt;
        }
        let mut off = 0;
        loop {
            if matches!(self.state, State::Closed) {
                self.rx.clear();
                return;
            }
            let len = match wire::packet_len(&data[off..]) {
                Ok(Some(len)) if off + len <= data.len() => len,
                Ok(_) => break,
                Err(e) => {
                    // §3.1.5.1: framing lost, drop without a message.
                    self.rx.clear();
                    self.close(CloseReason::Framing(e));
                    return;
                }
            };
            self.handle_packet(&data[off..off + len], now);
            off += len;
        }
        self.rx.extend_from_slice(&data[off..]);
    }

    fn handle_packet(&mut self, bytes: &[u8], now: Instant) {
        self.last_rx = now;
        self.echo_sent = None;
        match Packet::parse(bytes) {
            Ok(Packet::Data(frame)) => self.handle_server_frame(frame, now),
            Ok(Packet::Control(msg)) => self.handle_control(msg, now),
            Err(e) => {
                if self.in_teardown() {
                    return;
                }
                self.abort(
                    format!("malformed packet from the server: {e}"),
                    Status::INVALID_FRAME_RECEIVED,
                    0,
                    now,
                )
            }
        }
    }

    fn handle_server_frame(&mut self, frame: &[u8], now: Instant) {
        if !self.ppp_allowed() {
            self.stats.dropped += 1;
            return;
        }
        let Some((proto, info)) = ppp::split(frame) else {
            self.stats.dropped += 1;
            return;
        };
        if !ppp::is_control(proto) && !self.is_connected() {
            self.stats.dropped += 1;
            return;
        }
        if let (Some((req_id, _)), ppp::LCP, &[code, id, ..]) = (&self.early_lcp_req, proto, info) {
            // Configure-Ack, -Nak or -Reject of that request: it got through. pppd gets
            // the frames held before this one, then this one.
            if (2..=4).contains(&code) && id == *req_id {
                self.early_lcp_req = None;
                self.lcp_resend_at = None;
                self.ppp_held = None;
            }
        }
        if !self.peer_ppp_seen {
            self.peer_ppp_seen = true;
            if self.early_lcp_req.is_some() {
                self.ppp_held = Some(self.ppp_out.len());
                self.lcp_resend_at = Some(now + self.cfg.timers.lcp_hold);
            }
        }
        if ppp::is_control(proto) {
            self.accm.from_server(frame);
            match ppp::observe(frame, true) {
                Some(Observation::AuthRejected(t)) => self.events.push_back(Event::AuthRejected(t)),
                Some(Observation::AuthSucceeded) => self.events.push_back(Event::AuthSucceeded),
                _ => {}
            }
        }
        self.stats.frames_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        let n = frame.len().min(u16::MAX as usize);
        self.ppp_out.extend_from_slice(&(n as u16).to_be_bytes());
        self.ppp_out.extend_from_slice(&frame[..n]);
        // Held frames are not drained, so the caller's back-pressure does not see them: a
        // server that sends this much without answering is not waited for any longer.
        if self
            .ppp_held
            .is_some_and(|h| self.ppp_out.len() - h > MAX_HELD)
        {
            self.resend_early_lcp_req();
        }
    }

    fn in_teardown(&self) -> bool {
        matches!(
            self.state,
            State::AbortPending { .. }
                | State::AbortTimeoutPending { .. }
                | State::DisconnectPending { .. }
                | State::DisconnectAckSent { .. }
                | State::Closed
        )
    }

    fn handle_control(&mut self, msg: ControlMessage, now: Instant) {
        let t = msg.msg_type;
        debug!("SSTP <- {t}");
        // Teardown states first: they ignore almost everything.
        match &mut self.state {
            State::AbortPending { reason, .. } => {
                if t == MessageType::CallAbort {
                    let reason = reason.clone();
                    self.state = State::AbortTimeoutPending {
                        deadline: now + self.cfg.timers.abort2,
                        reason,
                    };
                }
                return;
            }
            State::AbortTimeoutPending { .. } | State::DisconnectAckSent { .. } => return,
            State::DisconnectPending { reason, .. } => {
                match t {
                    MessageType::CallDisconnectAck => {
                        let reason = reason.clone();
                        self.close(reason);
                    }
                    MessageType::CallDisconnect => {
                        // Collision: the far end MUST be acknowledged regardless of state.
                        let reason = reason.clone();
                        ControlMessage::bare(MessageType::CallDisconnectAck)
                            .encode_into(&mut self.tx);
                        self.close(reason);
                    }
                    _ => {}
                }
                return;
            }
            State::Closed => return,
            _ => {}
        }
        match t {
            MessageType::EchoRequest => {
                ControlMessage::bare(MessageType::EchoResponse).encode_into(&mut self.tx);
            }
            MessageType::EchoResponse => {}
            MessageType::CallAbort => {
                let status = msg.status_info().map(|(_, s)| s);
                warn!(
                    "server sent Call Abort{}",
                    status.map(|s| format!(" ({s})")).unwrap_or_default()
                );
                ControlMessage::with_status(MessageType::CallAbort, 0, Status::NO_ERROR)
                    .encode_into(&mut self.tx);
                self.state = State::AbortTimeoutPending {
                    deadline: now + self.cfg.timers.abort2,
                    reason: CloseReason::ServerAbort(status),
                };
            }
            MessageType::CallDisconnect => {
                let status = msg.status_info().map(|(_, s)| s);
                info!("server sent Call Disconnect");
                ControlMessage::bare(MessageType::CallDisconnectAck).encode_into(&mut self.tx);
                self.state = State::DisconnectAckSent {
                    deadline: now + self.cfg.timers.disconnect2,
                    reason: CloseReason::ServerDisconnect(status),
                };
            }
            MessageType::CallConnectAck => {
                if let State::ConnectRequestSent { .. } = self.state {
                    self.handle_connect_ack(&msg, now);
                } else {
                    self.unexpected(t, now);
                }
            }
            MessageType::CallConnectNak => {
                if let State::ConnectRequestSent { naks, .. } = self.state {
                    let status = msg
                        .status_info()
                        .map(|(_, s)| s)
                        .unwrap_or(Status::VALUE_NOT_SUPPORTED);
                    if naks >= self.cfg.max_nak_retries {
                        self.abort_with(
                            CloseReason::Nak(status),
                            Status::RETRY_COUNT_EXCEEDED,
                            0,
                            now,
                        );
                    } else {
                        warn!("server refused Call Connect Request ({status}); retrying");
                        ControlMessage::connect_request().encode_into(&mut self.tx);
                        self.state = State::ConnectRequestSent {
                            deadline: now + self.cfg.timers.negotiation,
                            naks: naks + 1,
                        };
                    }
                } else {
                    self.unexpected(t, now);
                }
            }
            _ => self.unexpected(t, now),
        }
    }

    fn unexpected(&mut self, t: MessageType, now: Instant) {
        self.abort(
            format!("unexpected {t} from the server"),
            Status::UNACCEPTED_FRAME_RECEIVED,
            0,
            now,
        );
    }

    fn handle_connect_ack(&mut self, msg: &ControlMessage, now: Instant) {
        let reqs: Vec<_> = msg
            .attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::CryptoBindingRequest {
                    hash_bitmask,
                    nonce,
                } => Some((*hash_bitmask, *nonce)),
                _ => None,
            })
            .collect();
        let (bitmask, nonce) = match reqs.as_slice() {
            [one] => *one,
            [] => {
                return self.abort(
                    "Call Connect Ack without a Crypto Binding Request".into(),
                    Status::INVALID_FRAME_RECEIVED,
                    attr_id::CRYPTO_BINDING_REQ,
                    now,
                )
            }
            _ => {
                return self.abort(
                    "Call Connect Ack with more than one Crypto Binding Request".into(),
                    Status::INVALID_FRAME_RECEIVED,
                    attr_id::CRYPTO_BINDING_REQ,
                    now,
                )
            }
        };
        if msg.attributes.len() != 1 {
            return self.abort(
                "Call Connect Ack carries unexpected attributes".into(),
                Status::ATTRIB_NOT_SUPPORTED_IN_MSG,
                0,
                now,
            );
        }
        let Some(hash) = HashProtocol::choose(bitmask) else {
            return self.abort(
                format!("server offers no supported binding hash (bitmask 0x{bitmask:02x})"),
                Status::VALUE_NOT_SUPPORTED,
                attr_id::CRYPTO_BINDING_REQ,
                now,
            );
        };
        self.state = State::ConnectAckReceived {
            deadline: now + self.cfg.timers.negotiation,
            nonce,
            hash,
        };
        self.events.push_back(Event::Negotiated { hash });
    }

    /// A PPP frame from pppd (HDLC removed). Data frames before Call Connected are dropped.
    ///
    /// pppd's LCP Configure-Request sent before the server's PPP has said anything may be
    /// lost: a server that starts its pppd on Call Connect Request can pass it to that pppd
    /// before it has set up its tty, which discards it (sstpd does, when its pppd is slow to
    /// start), and pppd would resend only after its 3 s restart timer. So when the server's
    /// PPP first speaks without answering that request, its frames are held back from pppd
    /// for up to [`Timers::lcp_hold`] (and at most 16 KiB of them). A server that had the
    /// request answers it right after its own Configure-Request (pppd sends that first, then
    /// reads its input), and the held frames go to pppd at once. If no answer comes, the
    /// request is sent once more, as pppd's retransmission would be, and only then do the
    /// held frames go to pppd. So the copy is on the wire before pppd's Configure-Ack of the
    /// server's request: the server cannot have reached Opened, where a Configure-Request
    /// would restart LCP, and at most it answers twice, which pppd ignores (an answer to a
    /// request already answered). A server that waits for the client (SoftEther) answers at
    /// once: nothing is held or resent.
    pub fn handle_ppp_frame(&mut self, frame: &[u8], _now: Instant) {
        if !self.ppp_allowed() {
            self.stats.dropped += 1;
            return;
        }
        let Some((proto, info)) = ppp::split(frame) else {
            self.stats.dropped += 1;
            return;
        };
        if ppp::is_control(proto) {
            self.accm.from_pppd(frame);
            if let Some(Observation::AuthAgreed(m)) = ppp::observe(frame, false) {
                self.events.push_back(Event::AuthAgreed(m));
            }
            if let (false, ppp::LCP, &[1, id, ..]) = (self.peer_ppp_seen, proto, info) {
                self.early_lcp_req = Some((id, frame.to_vec()));
            }
        } else if !self.is_connected() {
            self.stats.dropped += 1;
            return;
        }
        if frame.len() + wire::HEADER_LEN > wire::MAX_PACKET {
            warn!(
                "dropping a {} byte PPP frame: larger than an SSTP packet can carry (lower the MTU)",
                frame.len()
            );
            self.stats.dropped += 1;
            return;
        }
        self.stats.frames_out += 1;
        self.stats.bytes_out += frame.len() as u64;
        wire::encode_data(frame, &mut self.tx);
    }

    /// Authentication finished and pppd handed over its MPPE keys (empty for PAP / CHAP-MD5):
    /// queue Call Connected with the crypto binding. Returns false when the call is not in a
    /// state to send it (the caller then tells the plugin so).
    pub fn handle_auth_keys(&mut self, send: &Secret, recv: &Secret, _now: Instant) -> bool {
        let State::ConnectAckReceived { nonce, hash, .. } = self.state else {
            return false;
        };
        let (hlak, source) = binding::hlak(send, recv);
        let cert_hash: &[u8] = match hash {
            HashProtocol::Sha1 => &self.cfg.cert_sha1,
            HashProtocol::Sha256 => &self.cfg.cert_sha256,
        };
        let msg = binding::call_connected(hash, &nonce, cert_hash, &hlak);
        self.tx.extend_from_slice(&msg);
        // LCP is long done: nothing of it is ever resent or held.
        if self.accm.past_lcp() {
            debug!("PPP: pppd receives with ACCM 0: only 7D and 7E are escaped toward it");
        }
        self.early_lcp_req = None;
        self.lcp_resend_at = None;
        self.ppp_held = None;
        self.state = State::Connected;
        self.echo_sent = None;
        self.events
            .push_back(Event::BindingSent { hash, hlak: source });
        true
    }

    /// Local shutdown (signal, pppd exited): send Call Disconnect and wait for the Ack.
    pub fn disconnect(&mut self, now: Instant) {
        match self.state {
            State::Closed
            | State::DisconnectPending { .. }
            | State::DisconnectAckSent { .. }
            | State::AbortPending { .. }
            | State::AbortTimeoutPending { .. } => {}
            State::Http { .. } => self.close(CloseReason::Local),
            _ => {
                ControlMessage::with_status(MessageType::CallDisconnect, 0, Status::NO_ERROR)
                    .encode_into(&mut self.tx);
                self.state = State::DisconnectPending {
                    deadline: now + self.cfg.timers.disconnect1,
                    reason: CloseReason::Local,
                };
            }
        }
    }

    /// The TLS connection ended (EOF or error).
    pub fn handle_tls_closed(&mut self, _now: Instant) {
        let reason = match &self.state {
            State::Closed => return,
            State::AbortPending { reason, .. }
            | State::AbortTimeoutPending { reason, .. }
            | State::DisconnectPending { reason, .. }
            | State::DisconnectAckSent { reason, .. } => reason.clone(),
            _ => CloseReason::ConnectionClosed,
        };
        self.close(reason);
    }

    /// No answer to pppd's first LCP Configure-Request while the server's frames were held:
    /// send it once more, then let pppd have the held frames.
    fn resend_early_lcp_req(&mut self) {
        self.lcp_resend_at = None;
        let early = self.early_lcp_req.take();
        if let (Some((_, f)), State::ConnectAckReceived { .. }) = (early, &self.state) {
            debug!("PPP: the server's PPP started without answering pppd's first LCP Configure-Request: sending it again");
            self.stats.frames_out += 1;
            self.stats.bytes_out += f.len() as u64;
            wire::encode_data(&f, &mut self.tx);
        }
        // After the copy, never before it: pppd may now answer the server.
        self.ppp_held = None;
    }

    /// A deadline from [`Client::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        if self.lcp_resend_at.is_some_and(|t| now >= t) {
            self.resend_early_lcp_req();
            // The state's own deadline may still be ahead.
            if self.poll_timeout().is_some_and(|d| now < d) {
                return;
            }
        }
        match &self.state {
            State::Http { .. } => self.close(CloseReason::HttpTimeout),
            State::ConnectRequestSent { .. } | State::ConnectAckReceived { .. } => self.abort_with(
                CloseReason::NegotiationTimeout,
                Status::NEGOTIATION_TIMEOUT,
                0,
                now,
            ),
            State::Connected => {
                if self.echo_sent.is_some() {
                    // §3.1.2.3: no answer within the interval: abort without Call Abort.
                    self.close(CloseReason::HelloTimeout);
                } else {
                    debug!("SSTP -> Echo Request (idle)");
                    ControlMessage::bare(MessageType::EchoRequest).encode_into(&mut self.tx);
                    self.echo_sent = Some(now);
                }
            }
            State::AbortPending { reason, .. }
            | State::AbortTimeoutPending { reason, .. }
            | State::DisconnectPending { reason, .. }
            | State::DisconnectAckSent { reason, .. } => {
                let r = reason.clone();
                self.close(r);
            }
            State::Closed => {}
        }
    }

    fn abort(&mut self, why: String, status: Status, attrib: u8, now: Instant) {
        self.abort_with(CloseReason::Aborted { why, status }, status, attrib, now)
    }

    fn abort_with(&mut self, reason: CloseReason, status: Status, attrib: u8, now: Instant) {
        warn!("SSTP -> Call Abort: {reason}");
        ControlMessage::with_status(MessageType::CallAbort, attrib, status)
            .encode_into(&mut self.tx);
        self.state = State::AbortPending {
            deadline: now + self.cfg.timers.abort1,
            reason,
        };
    }

    fn close(&mut self, reason: CloseReason) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.state = State::Closed;
        self.events.push_back(Event::Closed(reason));
    }
}

#[cfg(test)]
mod tests;
