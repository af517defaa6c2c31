//! The SSTP test server: TLS on loopback, the server side of the HTTP exchange and of SSTP,
//! scripted by a [`Mode`] for fault injection. It records every SSTP message the client sends.

use crate::certs::ServerCert;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVersion};
use sstp_proto::binding::{self, HashProtocol};
use sstp_proto::secret::Secret;
use sstp_proto::wire::{
    self, attr_id, hash_bits, Attribute, ControlMessage, MessageType, Packet, Status,
};
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

/// What the server does. One server; each mode changes one step of the normal exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTP 200, Call Connect Ack (SHA-256|SHA-1, random nonce), answers Echo Request, acks
    /// Call Disconnect, answers Call Abort, and echoes PPP data frames back.
    Normal,
    /// As `Normal`, but data frames are counted and dropped instead of echoed.
    Sink,
    /// Answer the HTTP request with this status (and `Content-Length: 0`), then close.
    HttpStatus(u16),
    /// Answer the HTTP request with bytes that are not HTTP.
    HttpGarbage,
    /// Never answer the HTTP request.
    HttpSilent,
    /// NAK the first `n` Call Connect Requests (then Ack as `Normal`).
    Nak(u32),
    /// Call Connect Ack without its Crypto Binding Request attribute.
    AckWithoutBindingRequest,
    /// Call Connect Ack whose hash bitmask is this value.
    AckBitmask(u8),
    /// Answer Call Connect Request with a packet of version 0x20.
    BadVersion,
    /// Answer Call Connect Request with a packet whose length field is 3.
    LengthBelow4,
    /// Answer Call Connect Request with the first 20 bytes of a 48-byte packet, then close.
    LengthPastData,
    /// Answer Call Connect Request with 2 bytes of an SSTP header, then close.
    TruncatedHeader,
    /// Call Connect Ack whose attribute length runs past the end of the packet.
    AttributeOverrun,
    /// Ack, then a control message of type 0x00AB.
    UnknownMessageType,
    /// Ack, then Call Abort with this status.
    AbortAfterAck(Status),
    /// Ack, then Call Disconnect.
    DisconnectAfterAck,
    /// Ack, then nothing at all (no echo replies either).
    SilentAfterAck,
    /// Send the HTTP 200 response one byte every 300 ms, then continue as `Normal`.
    Slowloris,
    /// Read the start of the TLS handshake, then reset the TCP connection.
    ResetMidTls,
    /// Accept TCP, never answer the TLS ClientHello.
    TlsSilent,
    /// Answer the TLS ClientHello with a fatal alert (internal_error), then close.
    TlsAlert,
    /// Call Connect Ack with two Crypto Binding Request attributes.
    AckDuplicateBindingRequest,
    /// Call Connect Ack whose attribute count says 2 but which carries 1.
    AckMissingAttribute,
    /// Never answer Call Connect Request (otherwise as `Normal`: acks Call Disconnect).
    NoAck,
    /// Ack, then Call Abort with this status at the client's first PPP frame: the call is in
    /// PPP authentication (the crypto binding is not sent yet).
    AbortDuringAuth(Status),
    /// As `Normal` until Call Connected, then Call Disconnect one second later.
    DisconnectAfterConnected,
    /// As `Sink` until Call Connected, then never read from the connection again (the client's
    /// writes back up: back-pressure).
    StopReading,
    /// Send the Call Connect Ack one byte every this many milliseconds (reading meanwhile),
    /// then continue as `Normal`.
    SlowlorisAck(u32),
    /// Benchmark: as `Normal` until Call Connected, then count and check the client's PPP
    /// data frames (each must be [`crate::bench::frame`] of this length) and drop them.
    BenchSink(u32),
    /// Benchmark: as `Normal` until Call Connected, then send [`crate::bench::frame`]s of this
    /// length as fast as the client takes them.
    BenchSource(u32),
    /// Benchmark: as `BenchSink`, and send every good frame back.
    BenchEcho(u32),
}

impl Mode {
    /// Every mode, with representative parameters (for `--help` and tests).
    pub fn examples() -> Vec<Mode> {
        vec![
            Mode::Normal,
            Mode::Sink,
            Mode::HttpStatus(404),
            Mode::HttpGarbage,
            Mode::HttpSilent,
            Mode::Nak(4),
            Mode::AckWithoutBindingRequest,
            Mode::AckBitmask(0),
            Mode::BadVersion,
            Mode::LengthBelow4,
            Mode::LengthPastData,
            Mode::TruncatedHeader,
            Mode::AttributeOverrun,
            Mode::UnknownMessageType,
            Mode::AbortAfterAck(Status::NEGOTIATION_TIMEOUT),
            Mode::DisconnectAfterAck,
            Mode::SilentAfterAck,
            Mode::Slowloris,
            Mode::ResetMidTls,
            Mode::TlsSilent,
            Mode::TlsAlert,
            Mode::AckDuplicateBindingRequest,
            Mode::AckMissingAttribute,
            Mode::NoAck,
            Mode::AbortDuringAuth(Status::NEGOTIATION_TIMEOUT),
            Mode::DisconnectAfterConnected,
            Mode::StopReading,
            Mode::SlowlorisAck(1000),
            Mode::BenchSink(1400),
            Mode::BenchSource(1400),
            Mode::BenchEcho(1400),
        ]
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Normal => f.write_str("normal"),
            Mode::Sink => f.write_str("sink"),
            Mode::HttpStatus(c) => write!(f, "http-status={c}"),
            Mode::HttpGarbage => f.write_str("http-garbage"),
            Mode::HttpSilent => f.write_str("http-silent"),
            Mode::Nak(n) => write!(f, "nak={n}"),
            Mode::AckWithoutBindingRequest => f.write_str("ack-without-binding-request"),
            Mode::AckBitmask(b) => write!(f, "ack-bitmask={b}"),
            Mode::BadVersion => f.write_str("bad-version"),
            Mode::LengthBelow4 => f.write_str("length-below-4"),
            Mode::LengthPastData => f.write_str("length-past-data"),
            Mode::TruncatedHeader => f.write_str("truncated-header"),
            Mode::AttributeOverrun => f.write_str("attribute-overrun"),
            Mode::UnknownMessageType => f.write_str("unknown-message-type"),
            Mode::AbortAfterAck(s) => write!(f, "abort-after-ack={}", s.0),
            Mode::DisconnectAfterAck => f.write_str("disconnect-after-ack"),
            Mode::SilentAfterAck => f.write_str("silent-after-ack"),
            Mode::Slowloris => f.write_str("slowloris"),
            Mode::ResetMidTls => f.write_str("reset-mid-tls"),
            Mode::TlsSilent => f.write_str("tls-silent"),
            Mode::TlsAlert => f.write_str("tls-alert"),
            Mode::AckDuplicateBindingRequest => f.write_str("ack-duplicate-binding-request"),
            Mode::AckMissingAttribute => f.write_str("ack-missing-attribute"),
            Mode::NoAck => f.write_str("no-ack"),
            Mode::AbortDuringAuth(s) => write!(f, "abort-during-auth={}", s.0),
            Mode::DisconnectAfterConnected => f.write_str("disconnect-after-connected"),
            Mode::StopReading => f.write_str("stop-reading"),
            Mode::SlowlorisAck(ms) => write!(f, "slowloris-ack={ms}"),
            Mode::BenchSink(n) => write!(f, "bench-sink={n}"),
            Mode::BenchSource(n) => write!(f, "bench-source={n}"),
            Mode::BenchEcho(n) => write!(f, "bench-echo={n}"),
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let num = |what: &str| -> Result<u32, String> {
            arg.ok_or_else(|| format!("mode {name} needs ={what}"))?
                .parse::<u32>()
                .map_err(|e| format!("mode {name}: {e}"))
        };
        let m = match name {
            "normal" => Mode::Normal,
            "sink" => Mode::Sink,
            "http-status" => Mode::HttpStatus(
                u16::try_from(num("CODE")?).map_err(|e| format!("mode {name}: {e}"))?,
            ),
            "http-garbage" => Mode::HttpGarbage,
            "http-silent" => Mode::HttpSilent,
            "nak" => Mode::Nak(num("COUNT")?),
            "ack-without-binding-request" => Mode::AckWithoutBindingRequest,
            "ack-bitmask" => Mode::AckBitmask(
                u8::try_from(num("BITS")?).map_err(|e| format!("mode {name}: {e}"))?,
            ),
            "bad-version" => Mode::BadVersion,
            "length-below-4" => Mode::LengthBelow4,
            "length-past-data" => Mode::LengthPastData,
            "truncated-header" => Mode::TruncatedHeader,
            "attribute-overrun" => Mode::AttributeOverrun,
            "unknown-message-type" => Mode::UnknownMessageType,
            "abort-after-ack" => Mode::AbortAfterAck(Status(num("STATUS")?)),
            "disconnect-after-ack" => Mode::DisconnectAfterAck,
            "silent-after-ack" => Mode::SilentAfterAck,
            "slowloris" => Mode::Slowloris,
            "reset-mid-tls" => Mode::ResetMidTls,
            "tls-silent" => Mode::TlsSilent,
            "tls-alert" => Mode::TlsAlert,
            "ack-duplicate-binding-request" => Mode::AckDuplicateBindingRequest,
            "ack-missing-attribute" => Mode::AckMissingAttribute,
            "no-ack" => Mode::NoAck,
            "abort-during-auth" => Mode::AbortDuringAuth(Status(num("STATUS")?)),
            "disconnect-after-connected" => Mode::DisconnectAfterConnected,
            "stop-reading" => Mode::StopReading,
            "slowloris-ack" => Mode::SlowlorisAck(num("MS")?),
            "bench-sink" => Mode::BenchSink(num("LEN")?),
            "bench-source" => Mode::BenchSource(num("LEN")?),
            "bench-echo" => Mode::BenchEcho(num("LEN")?),
            _ => return Err(format!("unknown mode {s:?}")),
        };
        Ok(m)
    }
}

/// One SSTP control message the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// Its type.
    pub msg_type: MessageType,
    /// The Status Info attribute (attribute ID, status), if it carried one.
    pub status_info: Option<(u8, Status)>,
    /// The whole packet as received.
    pub raw: Vec<u8>,
}

impl ClientMessage {
    /// The status of its Status Info, if any.
    pub fn status(&self) -> Option<Status> {
        self.status_info.map(|(_, s)| s)
    }
}

#[derive(Debug, Default)]
struct Record {
    messages: Vec<ClientMessage>,
    http_requests: Vec<String>,
    nonces: Vec<[u8; 32]>,
    errors: Vec<String>,
    connections: usize,
    active: usize,
    data_frames: u64,
    data_bytes: u64,
    /// When the first Call Connected arrived.
    call_connected_at: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    rec: Mutex<Record>,
    changed: Condvar,
    /// Bench-mode counters: atomics, not the record's lock, so counting costs no more than
    /// it must at hundreds of thousands of frames a second.
    bench: BenchCounters,
}

#[derive(Default)]
struct BenchCounters {
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    bad_frames: AtomicU64,
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
}

/// What a bench-mode server counted (frame bytes are PPP frame lengths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BenchStats {
    /// Good data frames received.
    pub rx_frames: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Data frames received that were not the expected frame.
    pub bad_frames: u64,
    /// Data frames sent.
    pub tx_frames: u64,
    /// Their bytes.
    pub tx_bytes: u64,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Record)) {
        let mut g = self.rec.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
        self.changed.notify_all();
    }
}

/// The running server. Dropping it stops the server and every connection.
pub struct ServerHandle {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    cert_sha1: [u8; 20],
    cert_sha256: [u8; 32],
}

/// Entry point: see [`TestServer::start`].
pub struct TestServer;

impl TestServer {
    /// Listen on 127.0.0.1 (a free port) with `cert` and serve every connection in `mode`, on a
    /// thread of its own (usable from sync and async tests alike).
    ///
    /// Panics when the loopback listener or the TLS context cannot be set up: this is test
    /// infrastructure and such a failure must be loud.
    pub fn start(mode: Mode, cert: &ServerCert) -> (SocketAddr, ServerHandle) {
        Self::start_on("127.0.0.1:0".parse().expect("loopback address"), mode, cert)
    }

    /// As [`TestServer::start`], on a given address.
    pub fn start_on(bind: SocketAddr, mode: Mode, cert: &ServerCert) -> (SocketAddr, ServerHandle) {
        Self::start_tls(bind, mode, cert, None, None)
    }

    /// As [`TestServer::start_on`], speaking only TLS versions `min..=max` (`None`: the
    /// acceptor's default bound): a TLS 1.2-only or TLS 1.3-only server.
    pub fn start_tls(
        bind: SocketAddr,
        mode: Mode,
        cert: &ServerCert,
        min: Option<SslVersion>,
        max: Option<SslVersion>,
    ) -> (SocketAddr, ServerHandle) {
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            .expect("openssl acceptor");
        if min.is_some() {
            b.set_min_proto_version(min).expect("minimum TLS version");
        }
        if max.is_some() {
            b.set_max_proto_version(max).expect("maximum TLS version");
        }
        b.set_private_key(&cert.key).expect("server key");
        b.set_certificate(&cert.leaf).expect("server certificate");
        b.add_extra_chain_cert(cert.ca.clone())
            .expect("CA in the chain");
        b.check_private_key().expect("key matches certificate");
        let acceptor = Arc::new(b.build());
        let std_listener = std::net::TcpListener::bind(bind).expect("bind the test server");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("local address");
        let shared = Arc::new(Shared::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("sstp-test-server {mode}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(accept_loop(std_listener, mode, acceptor, sh, stop_rx));
            })
            .expect("server thread");
        let handle = ServerHandle {
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
            cert_sha1: cert.leaf_sha1(),
            cert_sha256: cert.leaf_sha256(),
        };
        (addr, handle)
    }
}

impl ServerHandle {
    fn rec<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        let g = self.shared.rec.lock().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }

    /// Every SSTP control message the client sent, in order, over all connections.
    pub fn client_messages(&self) -> Vec<ClientMessage> {
        self.rec(|r| r.messages.clone())
    }

    /// Just the message types of [`ServerHandle::client_messages`].
    pub fn client_message_types(&self) -> Vec<MessageType> {
        self.rec(|r| r.messages.iter().map(|m| m.msg_type).collect())
    }

    /// HTTP request heads received (one per connection that got that far).
    pub fn http_requests(&self) -> Vec<String> {
        self.rec(|r| r.http_requests.clone())
    }

    /// Protocol errors the server saw in what the client sent (malformed packets, bad HTTP).
    pub fn errors(&self) -> Vec<String> {
        self.rec(|r| r.errors.clone())
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.rec(|r| r.connections)
    }

    /// PPP data frames and payload bytes received from the client.
    pub fn data_received(&self) -> (u64, u64) {
        self.rec(|r| (r.data_frames, r.data_bytes))
    }

    /// Bench-mode counters (all zero in other modes).
    pub fn bench_stats(&self) -> BenchStats {
        let b = &self.shared.bench;
        BenchStats {
            rx_frames: b.rx_frames.load(Ordering::Relaxed),
            rx_bytes: b.rx_bytes.load(Ordering::Relaxed),
            bad_frames: b.bad_frames.load(Ordering::Relaxed),
            tx_frames: b.tx_frames.load(Ordering::Relaxed),
            tx_bytes: b.tx_bytes.load(Ordering::Relaxed),
        }
    }

    /// When the first Call Connected arrived.
    pub fn call_connected_at(&self) -> Option<Instant> {
        self.rec(|r| r.call_connected_at)
    }

    /// The nonce sent in the last Call Connect Ack.
    pub fn last_nonce(&self) -> Option<[u8; 32]> {
        self.rec(|r| r.nonces.last().copied())
    }

    /// Wait until `pred` holds for the record or `timeout` passes; returns whether it held.
    fn wait(&self, timeout: Duration, pred: impl Fn(&Record) -> bool) -> bool {
        let end = Instant::now() + timeout;
        let mut g = self.shared.rec.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if pred(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            g = self
                .shared
                .changed
                .wait_timeout(g, end - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wait until at least one connection was accepted and all have ended (the server has read
    /// everything the client sent). Returns false on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.wait(timeout, |r| r.connections > 0 && r.active == 0)
    }

    /// Wait until `n` connections were accepted.
    pub fn wait_connections(&self, n: usize, timeout: Duration) -> bool {
        self.wait(timeout, |r| r.connections >= n)
    }

    /// Wait until the client has sent a message of type `t`.
    pub fn wait_message(&self, t: MessageType, timeout: Duration) -> bool {
        self.wait(timeout, |r| r.messages.iter().any(|m| m.msg_type == t))
    }

    /// Wait until `n` HTTP requests have been read.
    pub fn wait_http_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait(timeout, |r| r.http_requests.len() >= n)
    }

    /// Verify the client's (last) Call Connected against the nonce this server sent, its
    /// certificate and `hlak`. Returns the hash protocol used.
    pub fn verify_call_connected(&self, hlak: &Secret) -> Result<HashProtocol, String> {
        let msg = self
            .client_messages()
            .into_iter()
            .rev()
            .find(|m| m.msg_type == MessageType::CallConnected)
            .ok_or("the client sent no Call Connected")?;
        let nonce = self.last_nonce().ok_or("no Call Connect Ack was sent")?;
        verify_call_connected(&msg.raw, &nonce, &self.cert_sha1, &self.cert_sha256, hlak)
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Check a Call Connected message the way a server does (MS-SSTP §3.2.5.2): the nonce is
/// ours, the certificate hash is our leaf's, and the Compound MAC is the one `hlak` gives.
/// Returns the hash protocol the client chose.
pub fn verify_call_connected(
    msg: &[u8],
    nonce: &[u8; 32],
    cert_sha1: &[u8; 20],
    cert_sha256: &[u8; 32],
    hlak: &Secret,
) -> Result<HashProtocol, String> {
    let m = match Packet::parse(msg) {
        Ok(Packet::Control(m)) => m,
        Ok(Packet::Data(_)) => return Err("a data packet, not Call Connected".into()),
        Err(e) => return Err(format!("malformed Call Connected: {e}")),
    };
    if m.msg_type != MessageType::CallConnected {
        return Err(format!("{} instead of Call Connected", m.msg_type));
    }
    if msg.len() != wire::CALL_CONNECTED_LEN {
        return Err(format!("Call Connected is {} bytes, not 112", msg.len()));
    }
    let Some(Attribute::CryptoBinding {
        hash_protocol,
        nonce: got_nonce,
        cert_hash,
        ..
    }) = m.find(attr_id::CRYPTO_BINDING)
    else {
        return Err("Call Connected without a Crypto Binding".into());
    };
    let (hash, want_hash): (HashProtocol, &[u8]) = match *hash_protocol {
        hash_bits::SHA1 => (HashProtocol::Sha1, cert_sha1),
        hash_bits::SHA256 => (HashProtocol::Sha256, cert_sha256),
        p => return Err(format!("hash protocol {p} is neither SHA-1 nor SHA-256")),
    };
    if got_nonce != nonce {
        return Err("the nonce differs from the one in Call Connect Ack".into());
    }
    let mut padded = [0u8; 32];
    padded[..want_hash.len()].copy_from_slice(want_hash);
    if *cert_hash != padded {
        return Err(format!(
            "the certificate hash is not the {} of the server's certificate",
            hash.name()
        ));
    }
    let expected = binding::call_connected(hash, nonce, want_hash, hlak);
    if expected != msg {
        return Err("the Compound MAC does not match (wrong HLAK or wrong MAC)".into());
    }
    Ok(hash)
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

const HTTP_OK: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: sstp-rs-test-server\r\n\
Content-Length: 18446744073709551615\r\n\r\n";

async fn accept_loop(
    listener: std::net::TcpListener,
    mode: Mode,
    acceptor: Arc<SslAcceptor>,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            shared.update(|r| r.errors.push(format!("listener: {e}")));
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            a = listener.accept() => {
                let Ok((stream, _)) = a else { continue };
                let _ = stream.set_nodelay(true);
                shared.update(|r| { r.connections += 1; r.active += 1; });
                let sh = Arc::clone(&shared);
                let acc = Arc::clone(&acceptor);
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, mode, &acc, &sh).await {
                        sh.update(|r| r.errors.push(e));
                    }
                    sh.update(|r| r.active -= 1);
                });
            }
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    mode: Mode,
    acceptor: &SslAcceptor,
    shared: &Arc<Shared>,
) -> Result<(), String> {
    match mode {
        Mode::ResetMidTls => {
            // Wait for the ClientHello, then RST (SO_LINGER 0 and close).
            let mut b = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut b)).await;
            stream.set_zero_linger().map_err(|e| e.to_string())?;
            drop(stream);
            return Ok(());
        }
        Mode::TlsSilent => {
            let mut b = [0u8; 4096];
            while matches!(stream.read(&mut b).await, Ok(n) if n > 0) {}
            return Ok(());
        }
        Mode::TlsAlert => {
            // The ClientHello, then a TLS 1.2 record: alert, fatal (2), internal_error (80).
            let mut b = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut b)).await;
            stream
                .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50])
                .await
                .map_err(|e| e.to_string())?;
            let _ = stream.shutdown().await;
            while matches!(stream.read(&mut b).await, Ok(n) if n > 0) {}
            return Ok(());
        }
        _ => {}
    }
    let ssl = Ssl::new(acceptor.context()).map_err(|e| e.to_string())?;
    let mut tls = SslStream::new(ssl, stream).map_err(|e| e.to_string())?;
    if let Err(e) = Pin::new(&mut tls).accept().await {
        // Certificate rejections end here (the client sends an alert): not a server error.
        log::debug!("TLS accept: {e}");
        return Ok(());
    }
    let mut conn = Conn {
        tls,
        mode,
        shared: Arc::clone(shared),
        rx: Vec::new(),
        naks: 0,
        acked: false,
        we_aborted: false,
        bench_now: false,
    };
    conn.run().await
}

struct Conn<S> {
    tls: S,
    mode: Mode,
    shared: Arc<Shared>,
    rx: Vec<u8>,
    naks: u32,
    acked: bool,
    we_aborted: bool,
    /// Call Connected arrived in a bench mode: the data phase starts.
    bench_now: bool,
}

enum Flow {
    Continue,
    Stop,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn send(&mut self, b: &[u8]) -> Result<(), String> {
        self.tls.write_all(b).await.map_err(|e| e.to_string())?;
        self.tls.flush().await.map_err(|e| e.to_string())
    }

    /// Read more bytes into `rx`; false at EOF or error.
    async fn fill(&mut self) -> bool {
        let mut b = [0u8; 16384];
        match self.tls.read(&mut b).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.rx.extend_from_slice(&b[..n]);
                true
            }
        }
    }

    async fn drain_until_eof(&mut self) {
        while self.fill().await {
            self.rx.clear();
        }
    }

    async fn run(&mut self) -> Result<(), String> {
        // HTTP request head.
        let end = loop {
            if let Some(p) = self.rx.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if self.rx.len() > sstp_proto::http::MAX_HEAD || !self.fill().await {
                return Err(format!(
                    "no complete HTTP request head (got {} bytes)",
                    self.rx.len()
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.rx[..end]).into_owned();
        self.rx.drain(..end);
        let ok = head.starts_with(&format!(
            "SSTP_DUPLEX_POST {} HTTP/1.1\r\n",
            sstp_proto::http::SSTP_URI
        ));
        self.shared.update(|r| {
            if !ok {
                r.errors.push(format!("unexpected HTTP request: {head:?}"));
            }
            r.http_requests.push(head);
        });
        match self.mode {
            Mode::HttpStatus(code) => {
                let resp = format!(
                    "HTTP/1.1 {code} {}\r\nContent-Length: 0\r\n\r\n",
                    reason_phrase(code)
                );
                self.send(resp.as_bytes()).await?;
                let _ = self.tls.shutdown().await;
                self.drain_until_eof().await;
                return Ok(());
            }
            Mode::HttpGarbage => {
                self.send(b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01garbage\r\n\r\n")
                    .await?;
                self.drain_until_eof().await;
                return Ok(());
            }
            Mode::HttpSilent => {
                self.drain_until_eof().await;
                return Ok(());
            }
            Mode::Slowloris => {
                for b in HTTP_OK {
                    self.send(&[*b]).await?;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            _ => self.send(HTTP_OK).await?,
        }
        // SSTP.
        loop {
            let len = match wire::packet_len(&self.rx) {
                Ok(Some(len)) if len <= self.rx.len() => len,
                Ok(_) => {
                    if !self.fill().await {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => {
                    return Err(format!("client framing: {e}"));
                }
            };
            let pkt: Vec<u8> = self.rx.drain(..len).collect();
            match self.on_packet(&pkt).await? {
                Flow::Continue => {}
                Flow::Stop => {
                    self.drain_until_eof().await;
                    return Ok(());
                }
            }
            if self.bench_now {
                return self.bench().await;
            }
        }
    }

    async fn on_packet(&mut self, pkt: &[u8]) -> Result<Flow, String> {
        let msg = match Packet::parse(pkt) {
            Ok(Packet::Data(frame)) => {
                let n = frame.len() as u64;
                self.shared.update(|r| {
                    r.data_frames += 1;
                    r.data_bytes += n;
                });
                if let Mode::AbortDuringAuth(s) = self.mode {
                    if self.acked && !self.we_aborted {
                        self.we_aborted = true;
                        self.send(
                            &ControlMessage::with_status(MessageType::CallAbort, 0, s).encode(),
                        )
                        .await?;
                    }
                    return Ok(Flow::Continue);
                }
                if let (Mode::BenchSink(_) | Mode::BenchSource(_) | Mode::BenchEcho(_), Some(ack)) =
                    (self.mode, crate::bench::lcp_configure_ack(frame))
                {
                    // As a PPP peer that accepts pppd's options (its ACCM 0 included).
                    let mut out = Vec::new();
                    wire::encode_data(&ack, &mut out);
                    self.send(&out).await?;
                    return Ok(Flow::Continue);
                }
                if matches!(
                    self.mode,
                    Mode::Normal
                        | Mode::Slowloris
                        | Mode::Nak(_)
                        | Mode::DisconnectAfterConnected
                        | Mode::SlowlorisAck(_)
                ) {
                    let mut out = Vec::with_capacity(pkt.len());
                    wire::encode_data(frame, &mut out);
                    self.send(&out).await?;
                }
                return Ok(Flow::Continue);
            }
            Ok(Packet::Control(m)) => m,
            Err(e) => {
                self.shared.update(|r| {
                    r.errors
                        .push(format!("malformed packet from the client: {e}"))
                });
                return Ok(Flow::Continue);
            }
        };
        let rec = ClientMessage {
            msg_type: msg.msg_type,
            status_info: msg.status_info(),
            raw: pkt.to_vec(),
        };
        self.shared.update(|r| r.messages.push(rec));
        if self.mode == Mode::SilentAfterAck && self.acked {
            return Ok(Flow::Continue);
        }
        match msg.msg_type {
            MessageType::CallConnectRequest => self.on_connect_request().await,
            MessageType::CallConnected => {
                let now = Instant::now();
                self.shared
                    .update(|r| _ = r.call_connected_at.get_or_insert(now));
                match self.mode {
                    Mode::BenchSink(_) | Mode::BenchSource(_) | Mode::BenchEcho(_) => {
                        self.bench_now = true;
                    }
                    Mode::DisconnectAfterConnected => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        self.send(
                            &ControlMessage::with_status(
                                MessageType::CallDisconnect,
                                0,
                                Status::NO_ERROR,
                            )
                            .encode(),
                        )
                        .await?;
                    }
                    Mode::StopReading => {
                        // Hold the connection open and never read again; the server's
                        // shutdown (dropping the handle) ends this task.
                        std::future::pending::<()>().await;
                    }
                    _ => {}
                }
                Ok(Flow::Continue)
            }
            MessageType::EchoRequest => {
                self.send(&ControlMessage::bare(MessageType::EchoResponse).encode())
                    .await?;
                Ok(Flow::Continue)
            }
            MessageType::CallDisconnect => {
                self.send(&ControlMessage::bare(MessageType::CallDisconnectAck).encode())
                    .await?;
                Ok(Flow::Stop)
            }
            MessageType::CallAbort => {
                if !self.we_aborted {
                    self.send(
                        &ControlMessage::with_status(
                            MessageType::CallAbort,
                            0,
                            Status::UNACCEPTED_FRAME_RECEIVED,
                        )
                        .encode(),
                    )
                    .await?;
                }
                Ok(Flow::Stop)
            }
            _ => Ok(Flow::Continue),
        }
    }

    /// The data phase of the bench modes, until the client goes away.
    async fn bench(&mut self) -> Result<(), String> {
        let (len, source, echo) = match self.mode {
            Mode::BenchSink(n) => (n, false, false),
            Mode::BenchSource(n) => (n, true, false),
            Mode::BenchEcho(n) => (n, false, true),
            _ => return Ok(()),
        };
        let want = crate::bench::frame(len as usize);
        let c = &self.shared.bench;
        if source {
            // One TLS record's worth of SSTP data packets, written over and over.
            let mut batch = Vec::new();
            let mut n = 0u64;
            while batch.len() + want.len() + wire::HEADER_LEN <= 16 * 1024 || n == 0 {
                wire::encode_data(&want, &mut batch);
                n += 1;
            }
            while self.tls.write_all(&batch).await.is_ok() {
                c.tx_frames.fetch_add(n, Ordering::Relaxed);
                c.tx_bytes
                    .fetch_add(n * want.len() as u64, Ordering::Relaxed);
            }
            return Ok(());
        }
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        let mut off = 0;
        loop {
            // Whole packets at the front of `rx`, by offset (no copy per packet).
            let (mut frames, mut bytes, mut bad) = (0u64, 0u64, 0u64);
            loop {
                let len = match wire::packet_len(&self.rx[off..]) {
                    Ok(Some(l)) if off + l <= self.rx.len() => l,
                    Ok(_) => break,
                    Err(e) => return Err(format!("client framing: {e}")),
                };
                let pkt = &self.rx[off..off + len];
                off += len;
                match Packet::parse(pkt) {
                    Ok(Packet::Data(f)) if crate::bench::frame_ok(f, &want) => {
                        frames += 1;
                        bytes += f.len() as u64;
                        if echo {
                            wire::encode_data(f, &mut out);
                        }
                    }
                    // PPP control frames (LCP and the like, protocol >= 0x8000) are not
                    // bench data: pppd's own may still be in flight.
                    Ok(Packet::Data(f)) if crate::bench::is_ppp_control(f) => {}
                    Ok(Packet::Data(f)) => {
                        bad += 1;
                        let d = format!(
                            "bench: unexpected data frame of {} bytes: {:02x?}",
                            f.len(),
                            &f[..f.len().min(8)]
                        );
                        self.shared.update(|r| {
                            if r.errors.len() < 10 {
                                r.errors.push(d)
                            }
                        });
                    }
                    Ok(Packet::Control(m)) => match m.msg_type {
                        MessageType::EchoRequest => out.extend_from_slice(
                            &ControlMessage::bare(MessageType::EchoResponse).encode(),
                        ),
                        MessageType::CallDisconnect => {
                            let ack = ControlMessage::bare(MessageType::CallDisconnectAck);
                            let _ = self.tls.write_all(&ack.encode()).await;
                            return Ok(());
                        }
                        MessageType::CallAbort => return Ok(()),
                        _ => {}
                    },
                    Err(_) => bad += 1,
                }
            }
            c.rx_frames.fetch_add(frames, Ordering::Relaxed);
            c.rx_bytes.fetch_add(bytes, Ordering::Relaxed);
            c.bad_frames.fetch_add(bad, Ordering::Relaxed);
            if echo && frames > 0 {
                c.tx_frames.fetch_add(frames, Ordering::Relaxed);
                c.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            if !out.is_empty() {
                if self.tls.write_all(&out).await.is_err() {
                    return Ok(());
                }
                out.clear();
            }
            self.rx.drain(..off);
            off = 0;
            match self.tls.read(&mut buf).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Send `bytes` one at a time, `per_byte` apart, reading what the client sends meanwhile
    /// (left in `rx` for the main loop). Stops early when the client goes away.
    async fn dribble(&mut self, bytes: &[u8], per_byte: Duration) {
        for b in bytes {
            if self.send(&[*b]).await.is_err() {
                return;
            }
            let until = tokio::time::Instant::now() + per_byte;
            loop {
                match tokio::time::timeout_at(until, self.fill()).await {
                    Err(_) => break,
                    Ok(true) => continue,
                    Ok(false) => return,
                }
            }
        }
    }

    async fn on_connect_request(&mut self) -> Result<Flow, String> {
        if self.mode == Mode::NoAck {
            return Ok(Flow::Continue);
        }
        if let Mode::Nak(n) = self.mode {
            if self.naks < n {
                self.naks += 1;
                let nak = ControlMessage {
                    msg_type: MessageType::CallConnectNak,
                    attributes: vec![Attribute::StatusInfo {
                        attrib_id: attr_id::ENCAPSULATED_PROTOCOL_ID,
                        status: Status::VALUE_NOT_SUPPORTED,
                        value: vec![0, 1],
                    }],
                };
                self.send(&nak.encode()).await?;
                return Ok(Flow::Continue);
            }
        }
        let mut nonce = [0u8; 32];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| e.to_string())?;
        let ack = |bits: u8| ControlMessage {
            msg_type: MessageType::CallConnectAck,
            attributes: vec![Attribute::CryptoBindingRequest {
                hash_bitmask: bits,
                nonce,
            }],
        };
        let reply: Vec<u8> = match self.mode {
            Mode::BadVersion => vec![0x20, 0x01, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00],
            Mode::LengthBelow4 => vec![0x10, 0x01, 0x00, 0x03],
            Mode::LengthPastData => {
                let full = ack(hash_bits::SHA1 | hash_bits::SHA256).encode();
                self.send(&full[..20]).await?;
                let _ = self.tls.shutdown().await;
                return Ok(Flow::Stop);
            }
            Mode::TruncatedHeader => {
                self.send(&[0x10, 0x01]).await?;
                let _ = self.tls.shutdown().await;
                return Ok(Flow::Stop);
            }
            Mode::AttributeOverrun => {
                let mut b = ack(hash_bits::SHA1 | hash_bits::SHA256).encode();
                // Attribute length 0x0FF0: far past the 48-byte packet.
                b[10] = 0x0F;
                b[11] = 0xF0;
                b
            }
            Mode::AckWithoutBindingRequest => {
                ControlMessage::bare(MessageType::CallConnectAck).encode()
            }
            Mode::AckBitmask(bits) => ack(bits).encode(),
            Mode::AckDuplicateBindingRequest => {
                let mut m = ack(hash_bits::SHA1 | hash_bits::SHA256);
                m.attributes.push(m.attributes[0].clone());
                m.encode()
            }
            Mode::AckMissingAttribute => {
                let mut b = ack(hash_bits::SHA1 | hash_bits::SHA256).encode();
                // NumAttributes (bytes 6-7) says 2; one follows.
                b[7] = 2;
                b
            }
            Mode::SlowlorisAck(ms) => {
                let b = ack(hash_bits::SHA1 | hash_bits::SHA256).encode();
                self.shared.update(|r| r.nonces.push(nonce));
                self.acked = true;
                self.dribble(&b, Duration::from_millis(u64::from(ms))).await;
                return Ok(Flow::Continue);
            }
            _ => ack(hash_bits::SHA1 | hash_bits::SHA256).encode(),
        };
        self.shared.update(|r| r.nonces.push(nonce));
        self.send(&reply).await?;
        self.acked = true;
        let after: Option<ControlMessage> = match self.mode {
            Mode::UnknownMessageType => Some(ControlMessage::bare(MessageType::Unknown(0x00AB))),
            Mode::AbortAfterAck(s) => {
                self.we_aborted = true;
                Some(ControlMessage::with_status(MessageType::CallAbort, 0, s))
            }
            Mode::DisconnectAfterAck => Some(ControlMessage::with_status(
                MessageType::CallDisconnect,
                0,
                Status::NO_ERROR,
            )),
            _ => None,
        };
        if let Some(m) = after {
            self.send(&m.encode()).await?;
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn modes_parse_back_from_their_names() {
        for m in Mode::examples() {
            assert_eq!(m.to_string().parse::<Mode>(), Ok(m), "{m}");
        }
        assert!("nak".parse::<Mode>().is_err());
        assert!("nope".parse::<Mode>().is_err());
    }

    // MS-SSTP §4.7, SHA-256 case.
    #[test]
    fn verifies_the_spec_call_connected_and_rejects_a_changed_one() {
        let msg = hex("10 01 00 70 00 04 00 01 00 03 00 68 00 00 00 02
             41 2B 48 9A EB D7 EC C7 D0 89 66 F2 6B E7 CD 72
             B2 31 A0 E9 21 0D 7C 91 B3 08 86 2B 03 44 C4 35
             79 93 EF 31 4C 49 3D AC E9 F0 2D 60 E7 E6 1C 84
             B6 69 0A AF E9 D7 AE EA 92 CB BE 8A D5 99 42 2D
             52 A6 8E FD 8C FF BF 52 77 0B 8F 0F E8 EC 73 71
             65 83 AF 6D 61 1E B6 D1 79 B3 B2 08 40 98 54 49");
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&msg[16..48]);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&msg[48..80]);
        let hlak = Secret::new(hex("2A 1B B4 0D 55 AB 0F 5E F3 2F 06 F2 B3 CC 73 C4
             8F D3 FA C4 1D 7A 13 15 A1 92 28 D9 02 4C A1 64"));
        assert_eq!(
            verify_call_connected(&msg, &nonce, &[0; 20], &sha256, &hlak),
            Ok(HashProtocol::Sha256)
        );
        let wrong = Secret::new(vec![0; 32]);
        assert!(
            verify_call_connected(&msg, &nonce, &[0; 20], &sha256, &wrong)
                .unwrap_err()
                .contains("Compound MAC")
        );
        let mut bad = msg.clone();
        bad[111] ^= 1;
        assert!(verify_call_connected(&bad, &nonce, &[0; 20], &sha256, &hlak).is_err());
        let other_nonce = [7u8; 32];
        assert!(
            verify_call_connected(&msg, &other_nonce, &[0; 20], &sha256, &hlak)
                .unwrap_err()
                .contains("nonce")
        );
    }
}
