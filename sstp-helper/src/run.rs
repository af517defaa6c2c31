//! One connection: TCP, TLS, then a single loop that feeds the sans-IO client and drains it.

use crate::cli::{self, Args};
use crate::error::{pppd_exit_meaning, Error};
use crate::password;
use crate::plugin_link::PluginLink;
use crate::pppd;
use crate::proxy::{self, Proxy};
use crate::pty::Pty;
use crate::route;
use crate::tls::{self, TlsOptions};
use log::{debug, info, warn};
use sstp_proto::binding::HlakSource;
use sstp_proto::client::{Client, CloseReason, Config, Event, Timers};
use sstp_proto::hdlc;
use sstp_proto::ipc::Msg;
use sstp_proto::ppp::AuthMethod;
use sstp_proto::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::{sleep_until, timeout, Instant};

/// Happy Eyeballs: start the next address when one has not connected within this.
const CONNECT_STAGGER: Duration = Duration::from_millis(250);

/// How long pppd gets to stop after SIGTERM before SIGKILL.
const PPPD_STOP_GRACE: Duration = Duration::from_secs(3);

/// Unsent TLS bytes above which the loop stops reading pppd: a server that stops reading
/// holds pppd back (its pty fills) instead of growing our memory.
const TLS_OUT_HIGH_WATER: usize = 64 * 1024;

/// The most plaintext handed to one TLS write: one full TLS record.
const TLS_WRITE_MAX: usize = 16 * 1024;

/// Unwritten bytes for pppd above which the loop stops reading the server.
const PTY_OUT_HIGH_WATER: usize = 64 * 1024;

/// The most read from the server, or from pppd, in one pass of the loop.
const TLS_READ_MAX: usize = 64 * 1024;
const PTY_READ_MAX: usize = 64 * 1024;

/// Room left in the TLS read buffer that is worth another read in the same wake-up (a full
/// record).
const TLS_READ_MORE_ROOM: usize = 16 * 1024 + 256;

/// Room the TLS and pty queues have above their high-water marks. A read taken at the room
/// left below the mark can overshoot it a little: SSTP headers going up (plus a frame begun in
/// an earlier read), HDLC escapes going down. With this slack the queues are allocated once
/// and do not double (to 128 KiB, which malloc maps on its own: about 0.15 MiB more peak RSS
/// in the benchmark). Only a flood of bytes that all need escaping could still grow one.
const QUEUE_SLACK: usize = sstp_proto::hdlc::MAX_FRAME + 4096;

/// Everything the connection needs, resolved from the command line.
pub struct Settings {
    /// Host part of SERVER.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Name for SNI, Host and the certificate check.
    pub name: String,
    /// TLS settings.
    pub tls: TlsOptions,
    /// PPP user.
    pub user: String,
    /// PPP password.
    pub password: Secret,
    /// pppd program.
    pub pppd: PathBuf,
    /// Plugin path.
    pub plugin: PathBuf,
    /// Extra pppd options.
    pub pppd_options: Vec<String>,
    /// SSTPCORRELATIONID.
    pub correlation_id: String,
    /// TCP connect timeout per address.
    pub connect_timeout: Duration,
    /// Where status messages go (`--status-fd`).
    pub status: Option<std::fs::File>,
    /// Pin a host route to the server (`--save-server-route`).
    pub save_server_route: bool,
    /// Try again after failures worth retrying (`--reconnect`).
    pub reconnect: Option<Reconnect>,
    /// Reach the server through this HTTP proxy.
    pub proxy: Option<Proxy>,
}

impl Settings {
    /// Check the command line and gather what the connection needs.
    pub fn from_args(args: &Args, password: Secret) -> Result<Settings, Error> {
        let (host, port) = cli::split_server(&args.server).map_err(Error::Usage)?;
        let name = args.host.clone().unwrap_or_else(|| host.clone());
        let user = args
            .user
            .clone()
            .ok_or_else(|| Error::Usage("--user NAME is required".into()))?;
        let pin = args
            .cert_sha256
            .as_deref()
            .map(cli::parse_pin)
            .transpose()
            .map_err(Error::Usage)?;
        if let Some(ca) = &args.ca_cert {
            if let Err(e) = std::fs::metadata(ca) {
                return Err(Error::Usage(format!(
                    "cannot read CA file {}: {e}",
                    ca.display()
                )));
            }
        }
        let proxy = proxy_from_args(&args.proxy_tls, &host, port)?;
        if let Some(px) = &proxy {
            info!(
                "using HTTP proxy {} (from {}){}",
                px.authority(),
                px.source,
                px.creds
                    .as_ref()
                    .map(|c| format!(" as {}", c.user))
                    .unwrap_or_default()
            );
        }
        let plugin = match &args.plugin {
            Some(p) if p.is_file() => p.clone(),
            Some(p) => {
                return Err(Error::Usage(format!(
                    "pppd plugin {} does not exist",
                    p.display()
                )))
            }
            None => pppd::default_plugin(&args.pppd)?,
        };
        let plugin = plugin.canonicalize().unwrap_or(plugin);
        let correlation_id = match &args.uuid {
            Some(u) => u.clone(),
            None => sstp_proto::http::guid_from_random(
                random_16().map_err(|e| Error::Internal(format!("random GUID: getrandom: {e}")))?,
            ),
        };
        Ok(Settings {
            host,
            port,
            name,
            tls: TlsOptions {
                ca_cert: args.ca_cert.clone(),
                pin_sha256: pin,
                insecure: args.insecure,
                sni: !args.no_sni,
                keylog: std::env::var_os("SSLKEYLOGFILE").map(PathBuf::from),
                min_version: args.proxy_tls.tls_min,
                max_version: args.proxy_tls.tls_max,
                ciphers: args.proxy_tls.ciphers.clone(),
            },
            user,
            password,
            pppd: args.pppd.clone(),
            plugin,
            pppd_options: args.pppd_options.clone(),
            correlation_id,
            connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
            status: args
                .status_fd
                .map(|fd| crate::password::adopt_fd(fd, "--status-fd"))
                .transpose()?,
            save_server_route: args.save_server_route,
            reconnect: args.reconnect.then(|| Reconnect {
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(args.reconnect_max_delay.max(1)),
                max_attempts: args.reconnect_attempts,
                stable_after: Duration::from_secs(60),
            }),
            proxy,
        })
    }

    /// Tell the supervisor, if any. A supervisor that stopped reading does not stop the VPN.
    fn report(&self, m: &Msg) {
        if let Some(mut f) = self.status.as_ref() {
            use std::io::Write;
            if let Err(e) = f.write_all(&m.encode()) {
                debug!("status fd: {e}");
            }
        }
    }

    fn host_header(&self) -> String {
        let n = if self.name.contains(':') {
            format!("[{}]", self.name)
        } else {
            self.name.clone()
        };
        if self.port == 443 {
            n
        } else {
            format!("{n}:{}", self.port)
        }
    }
}

/// The proxy from `--proxy*` and the environment; reads the proxy password. Used by a
/// connection (which logs the choice) and by `diagnose` (which reports it as a step).
pub fn proxy_from_args(
    args: &cli::ProxyTlsArgs,
    host: &str,
    port: u16,
) -> Result<Option<Proxy>, Error> {
    let pw = match (&args.proxy_password_file, args.proxy_password_fd) {
        (Some(f), _) => Some(password::from_file_named(f, "proxy password file")?),
        (None, Some(fd)) => Some(password::from_fd_named(fd, "--proxy-password-fd")?),
        (None, None) => None,
    };
    proxy::choose(
        args.proxy.as_deref(),
        &|k| std::env::var(k).ok(),
        host,
        port,
        args.proxy_user.clone(),
        pw,
    )
}

/// TCP to the server, directly or through the proxy's CONNECT tunnel.
pub async fn open_tcp(
    host: &str,
    port: u16,
    proxy: Option<&Proxy>,
    each: Duration,
) -> Result<TcpStream, Error> {
    let Some(px) = proxy else {
        return connect_tcp(host, port, each).await;
    };
    let to_proxy = || async {
        connect_tcp(&px.host, px.port, each)
            .await
            .map_err(|e| match e {
                Error::Connect { target, why } => Error::Connect {
                    target: format!("proxy {target}"),
                    why,
                },
                Error::Resolve { host, why } => Error::Resolve {
                    host: format!("proxy {host}"),
                    why,
                },
                e => e,
            })
    };
    proxy::tunnel(px, host, port, each, to_proxy).await
}

struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn new() -> Result<Signals, Error> {
        let mk = |k| signal(k).map_err(|e| Error::Internal(format!("signal handler: {e}")));
        Ok(Signals {
            term: mk(SignalKind::terminate())?,
            int: mk(SignalKind::interrupt())?,
            hup: mk(SignalKind::hangup())?,
        })
    }
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// TCP to `host:port`, trying every address (Happy Eyeballs).
pub async fn connect_tcp(host: &str, port: u16, each: Duration) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::Resolve {
            host: host.to_string(),
            why: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Resolve {
            host: host.to_string(),
            why: "no addresses".into(),
        });
    }
    let mut last = String::new();
    // Happy Eyeballs (RFC 8305 section 5): addresses in the resolver's order (RFC 6724, IPv6
    // first where it is usable); the next attempt starts when the previous one fails or has
    // not finished within CONNECT_STAGGER, and the first connection to succeed wins. The
    // others are aborted when the set is dropped.
    let mut attempts = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        if next < addrs.len() {
            let a = addrs[next];
            next += 1;
            debug!("TCP connecting to {a}");
            attempts.spawn(async move { (a, timeout(each, TcpStream::connect(a)).await) });
        }
        let done = if next < addrs.len() {
            match timeout(CONNECT_STAGGER, attempts.join_next()).await {
                Ok(d) => d,
                Err(_) => continue, // still trying: start the next address beside it
            }
        } else {
            attempts.join_next().await
        };
        match done {
            None => break,
            Some(Ok((a, Ok(Ok(s))))) => {
                let _ = s.set_nodelay(true);
                info!("TCP connected to {a}");
                return Ok(s);
            }
            Some(Ok((a, Ok(Err(e))))) => {
                warn!("TCP {a}: {e}");
                last = e.to_string();
            }
            Some(Ok((a, Err(_)))) => {
                warn!("TCP {a}: no answer within {} s", each.as_secs());
                last = format!("timed out after {} s", each.as_secs());
            }
            Some(Err(e)) => last = e.to_string(),
        }
    }
    let target = if addrs.len() == 1 {
        addrs[0].to_string()
    } else {
        format!("{host}:{port} ({} addresses)", addrs.len())
    };
    Err(Error::Connect { target, why: last })
}

/// 16 bytes from the kernel's CSPRNG. Not OpenSSL's RAND: that would start OpenSSL (config
/// file, providers, DRBG) before the TCP connect, where it cannot overlap the network.
fn random_16() -> std::io::Result<[u8; 16]> {
    let mut b = [0u8; 16];
    let mut got = 0;
    while got < b.len() {
        let rest = &mut b[got..];
        // SAFETY: the pointer and length describe `rest`, a live, writable slice of `b`;
        // getrandom(2) writes at most that many bytes into it.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        } else {
            got += n as usize;
        }
    }
    Ok(b)
}

/// Run one connection until it ends. `Ok` means it was closed on request.
pub async fn run(s: Settings) -> Result<(), Error> {
    let mut signals = Signals::new()?;
    let Some(policy) = s.reconnect else {
        return run_once(&s, &mut signals).await;
    };
    let mut delay = policy.first_delay;
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let e = match run_once(&s, &mut signals).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if !e.worth_retrying() {
            return Err(e);
        }
        // a connection that was up for a while starts the backoff again
        if matches!(e, Error::Lost(_)) && started.elapsed() >= policy.stable_after {
            delay = policy.first_delay;
            failures = 0;
        }
        failures += 1;
        if policy.max_attempts != 0 && failures >= policy.max_attempts {
            warn!("giving up after {failures} failed attempts in a row (--reconnect-attempts)");
            return Err(e);
        }
        warn!("{e}; reconnecting in {} s", delay.as_secs_f32());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            sig = signals.recv() => {
                info!("{sig} received while waiting to reconnect: stopping");
                return Ok(());
            }
        }
        delay = (delay * 2).min(policy.max_delay);
    }
}

/// `--reconnect`: exponential backoff from `first_delay`, doubling up to `max_delay`.
#[derive(Debug, Clone, Copy)]
pub struct Reconnect {
    /// Wait before the first retry.
    pub first_delay: Duration,
    /// The cap of the doubling wait.
    pub max_delay: Duration,
    /// Give up after this many failures in a row (0: never).
    pub max_attempts: u32,
    /// A connection lost after being up this long resets the backoff.
    pub stable_after: Duration,
}

/// One connection attempt, from TCP to the end of the call.
async fn run_once(s: &Settings, signals: &mut Signals) -> Result<(), Error> {
    let mut link = PluginLink::bind()?;
    info!("connecting to {}:{}", s.host, s.port);
    let connect = async {
        // OpenSSL's start-up and the trust store are CPU work that does not need the
        // connection: do it while the TCP handshake is on the wire. The yield lets the
        // connect attempts (tasks of their own) send their SYNs first.
        let (tcp, ctx) = tokio::join!(
            open_tcp(&s.host, s.port, s.proxy.as_ref(), s.connect_timeout),
            async {
                tokio::task::yield_now().await;
                tls::context(&s.tls)
            }
        );
        let tcp = tcp?;
        let ctx = ctx?;
        let mut route = None;
        if let Ok(a) = tcp.peer_addr() {
            s.report(&Msg::Server(a.ip()));
            if s.save_server_route {
                match route::ServerRoute::add(a.ip()) {
                    Ok(r) => route = r,
                    Err(e) => warn!("--save-server-route: {e}; continuing without it"),
                }
            }
        }
        // A server (or middlebox) that takes the connection but never finishes the handshake
        // must not hold the helper forever: the same bound as the TCP connect.
        let (tls, peer) = timeout(s.connect_timeout, tls::connect(&ctx, tcp, &s.name, &s.tls))
            .await
            .map_err(|_| {
                tls::TlsError::Handshake(format!(
                    "no answer from the server within {} s (--connect-timeout)",
                    s.connect_timeout.as_secs()
                ))
            })??;
        Ok::<_, Error>((tls, peer, route))
    };
    // the server route lives until this function returns (dropped after pppd is gone)
    let (tls, peer, _server_route) = tokio::select! {
        r = connect => r?,
        sig = signals.recv() => {
            info!("{sig} received before the connection was up: stopping");
            return Ok(());
        }
    };
    info!(
        "TLS {}, cipher {}, certificate accepted for {}",
        peer.version, peer.cipher, peer.accepted_for
    );
    let cfg = Config {
        host_header: s.host_header(),
        correlation_id: s.correlation_id.clone(),
        cert_sha1: peer.cert_sha1,
        cert_sha256: peer.cert_sha256,
        max_nak_retries: 3,
        timers: Timers::default(),
    };
    debug!("SSTPCORRELATIONID {}", cfg.correlation_id);
    let mut client = Client::new(cfg, Instant::now().into_std());
    // The client's transmit buffer is the TLS queue itself: the client appends whole SSTP
    // packets, the loop writes from `tls_off` on. One allocation, no copy into a second queue.
    let tx = client.transmit();
    tx.reserve_exact((TLS_OUT_HIGH_WATER + QUEUE_SLACK).saturating_sub(tx.len()));
    let mut session = Session {
        s,
        client,
        tls,
        pty: None,
        child: None,
        deframer: hdlc::Deframer::new(),
        pty_out: Vec::with_capacity(PTY_OUT_HIGH_WATER + QUEUE_SLACK),
        pty_off: 0,
        tls_off: 0,
        tls_written: 0,
        ack_at: None,
        pppd_ready: false,
        ack_pending: false,
        ip_up: false,
        auth_method: None,
        auth_rejected: None,
        key_error: None,
        binding_sent: false,
        pppd_exit: None,
        pppd_signal: None,
        pppd_start_error: None,
        stop_requested: false,
        pppd_kill_at: None,
    };
    let reason = session.pump(signals, &mut link).await;
    session.finish().await;
    session.outcome(reason)
}

struct Session<'a, S> {
    s: &'a Settings,
    client: Client,
    tls: S,
    pty: Option<Pty>,
    child: Option<Child>,
    deframer: hdlc::Deframer,
    /// HDLC bytes for pppd not yet taken by the pty, from `pty_off` on. Written from the
    /// select loop, so TLS keeps being read while pppd catches up.
    pty_out: Vec<u8>,
    pty_off: usize,
    /// Start of the unwritten part of the TLS queue, `client.transmit()` (written bytes are
    /// dropped in bulk, not moved after every write). The queue is written from the select
    /// loop, so a server that stops reading never blocks signals, timers or pppd's exit.
    tls_off: usize,
    /// Bytes ever written from the TLS queue.
    tls_written: u64,
    /// Send AuthAck once `tls_written` reaches this (Call Connected is on the wire).
    ack_at: Option<u64>,
    /// pppd has written its first frame: its line discipline is set up.
    pppd_ready: bool,
    /// Send AuthAck to the plugin now.
    ack_pending: bool,
    ip_up: bool,
    auth_method: Option<AuthMethod>,
    auth_rejected: Option<String>,
    /// The keys pppd handed over cannot give a correct crypto binding (EAP on pppd 2.4.x).
    key_error: Option<String>,
    binding_sent: bool,
    pppd_exit: Option<i32>,
    /// The signal that killed pppd, if one did.
    pppd_signal: Option<i32>,
    pppd_start_error: Option<String>,
    stop_requested: bool,
    pppd_kill_at: Option<Instant>,
}

/// One TLS event: bytes written from the queue, or bytes read.
enum TlsIo {
    Wrote(std::io::Result<usize>),
    Read(std::io::Result<usize>),
}

/// Write from `out` (if anything is queued) and read into `buf`, whichever is ready first
/// (`read_first` alternates so neither direction starves the other). Both directions share
/// one stream, so they are polled together from one select branch. Dropping the future loses
/// nothing: unwritten bytes stay in `out` and are offered again.
fn poll_tls<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    cx: &mut std::task::Context<'_>,
    tls: &mut S,
    buf: &mut [u8],
    out: &[u8],
    read_first: bool,
    can_read: bool,
) -> std::task::Poll<TlsIo> {
    use std::pin::Pin;
    use std::task::Poll;
    let write = |tls: &mut S, cx: &mut std::task::Context<'_>| {
        if out.is_empty() {
            return None;
        }
        match Pin::new(tls).poll_write(cx, out) {
            Poll::Ready(r) => Some(TlsIo::Wrote(r)),
            Poll::Pending => None,
        }
    };
    if !read_first {
        if let Some(w) = write(tls, cx) {
            return Poll::Ready(w);
        }
    }
    if !can_read {
        return match write(tls, cx) {
            Some(w) => Poll::Ready(w),
            None => Poll::Pending,
        };
    }
    let mut rb = tokio::io::ReadBuf::new(buf);
    match Pin::new(&mut *tls).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => {
            // One TLS record per read: take the records already here too (one wake-up,
            // one pass of the loop). EOF or an error shows again on the next read.
            let mut last = rb.filled().len();
            while last > 0 && rb.remaining() >= TLS_READ_MORE_ROOM {
                if !matches!(
                    Pin::new(&mut *tls).poll_read(cx, &mut rb),
                    Poll::Ready(Ok(()))
                ) {
                    break;
                }
                let now = rb.filled().len();
                if now == last {
                    break;
                }
                last = now;
            }
            return Poll::Ready(TlsIo::Read(Ok(rb.filled().len())));
        }
        Poll::Ready(Err(e)) => return Poll::Ready(TlsIo::Read(Err(e))),
        Poll::Pending => {}
    }
    if read_first {
        if let Some(w) = write(tls, cx) {
            return Poll::Ready(w);
        }
    }
    Poll::Pending
}

async fn child_wait(c: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match c {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}

async fn pty_write(p: &Option<Pty>, data: &[u8]) -> std::io::Result<usize> {
    match p {
        Some(p) => p.write_some(data).await,
        None => std::future::pending().await,
    }
}

async fn pty_read(p: &Option<Pty>, buf: &mut [u8]) -> std::io::Result<usize> {
    match p {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// "exited with status 5 (terminated by a signal)" or "was killed by signal 9 (SIGKILL)":
/// a pppd that crashed or was killed has no exit status, and 137 would mislead.
fn describe_exit(code: i32, signal: Option<i32>) -> String {
    match signal {
        Some(sig) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str())
                .unwrap_or("unknown signal");
            format!("was killed by signal {sig} ({name})")
        }
        None => format!("exited with status {code} ({})", pppd_exit_meaning(code)),
    }
}

/// How much the next read may add to a queue (`buf`, written up to `off`): the room below
/// `high_water`, and no more than fits in the queue's allocation. When little fits, the written
/// front is dropped first (moving the unwritten rest), so the queue never reallocates.
fn queue_room(buf: &mut Vec<u8>, off: &mut usize, high_water: usize) -> usize {
    let room = high_water.saturating_sub(buf.len() - *off);
    let mut tail = high_water.saturating_sub(buf.len());
    if tail < room && tail < TLS_WRITE_MAX && *off > 0 {
        buf.drain(..*off);
        *off = 0;
        tail = room;
    }
    room.min(tail)
}

impl<S> Session<'_, S>
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    /// The loop. Returns why the SSTP call ended.
    async fn pump(&mut self, signals: &mut Signals, link: &mut PluginLink) -> CloseReason {
        // Large reads: one pty read takes many frames (the pty holds up to 64 KiB).
        let mut tls_buf = vec![0u8; TLS_READ_MAX];
        let mut pty_buf = vec![0u8; PTY_READ_MAX];
        let mut read_first = false;
        loop {
            read_first = !read_first;
            // 1. Drain the machine in a fixed order.
            if let Some(r) = self.drain(link).await {
                return r;
            }
            let deadline = self.client.poll_timeout().map(Instant::from_std);
            // 2. Wait for one source.
            // Each read takes at most the room left below the high-water mark, so a queue
            // holds at most that much (plus SSTP headers going up, HDLC escapes going down).
            let pppd_room = queue_room(
                self.client.transmit(),
                &mut self.tls_off,
                TLS_OUT_HIGH_WATER,
            );
            let take_from_pppd = pppd_room > 0;
            // pppd not keeping up: stop reading the server (its TCP window closes) instead
            // of growing our memory.
            let server_room = queue_room(&mut self.pty_out, &mut self.pty_off, PTY_OUT_HIGH_WATER);
            let take_from_server = server_room > 0;
            let tls_buf = &mut tls_buf[..server_room.clamp(1, TLS_READ_MAX)];
            let pty_buf = &mut pty_buf[..pppd_room.clamp(1, PTY_READ_MAX)];
            let pty_pending = self.pppd_ready && self.pty_off < self.pty_out.len();
            let tls = &mut self.tls;
            // At most one TLS record (16 KiB) per write: several SSTP packets share it.
            let tls_out = self.client.transmit();
            let end = tls_out.len().min(self.tls_off + TLS_WRITE_MAX);
            let out = &tls_out[self.tls_off..end];
            tokio::select! {
                w = pty_write(&self.pty, &self.pty_out[self.pty_off..]), if pty_pending => match w {
                    Ok(n) => {
                        self.pty_off += n;
                        // The written front of a queue that is not empty yet is dropped by
                        // queue_room(), when a read would not fit behind it.
                        if self.pty_off == self.pty_out.len() {
                            self.pty_out.clear();
                            self.pty_off = 0;
                        }
                    }
                    Err(e) => {
                        debug!("pty write: {e}");
                        self.pty_out.clear();
                        self.pty_off = 0;
                    }
                },
                io = std::future::poll_fn(|cx| poll_tls(cx, tls, tls_buf, out, read_first && take_from_server, take_from_server)) => {
                    let now = std::time::Instant::now();
                    match io {
                        TlsIo::Wrote(Ok(n)) => {
                            self.tls_off += n;
                            let tls_out = self.client.transmit();
                            if self.tls_off == tls_out.len() {
                                tls_out.clear();
                                self.tls_off = 0;
                            }
                            self.tls_written += n as u64;
                            if self.ack_at.is_some_and(|a| self.tls_written >= a) {
                                self.ack_at = None;
                                self.ack_pending = true;
                            }
                        }
                        TlsIo::Wrote(Err(e)) => {
                            warn!("TLS write: {e}");
                            self.client.transmit().clear();
                            self.tls_off = 0;
                            self.client.handle_tls_closed(now);
                        }
                        TlsIo::Read(Ok(0)) => self.client.handle_tls_closed(now),
                        TlsIo::Read(Ok(n)) => self.client.handle_tls_bytes(&tls_buf[..n], now),
                        TlsIo::Read(Err(e)) => {
                            warn!("TLS read: {e}");
                            self.client.handle_tls_closed(now);
                        }
                    }
                }
                r = pty_read(&self.pty, pty_buf), if take_from_pppd => match r {
                    Ok(n) if n > 0 => {
                        // Every frame in the chunk is appended to the client's transmit
                        // buffer, so the next TLS write carries all of them at once.
                        let now = std::time::Instant::now();
                        let (client, ready) = (&mut self.client, &mut self.pppd_ready);
                        self.deframer.push_frames(&pty_buf[..n], |f| match f {
                            Ok(frame) => {
                                if !*ready {
                                    debug!("pppd is ready (first frame)");
                                    *ready = true;
                                }
                                client.handle_ppp_frame(frame, now);
                            }
                            Err(e) => debug!("from pppd: {e}"),
                        });
                    }
                    Ok(_) | Err(_) => {
                        debug!("pty closed");
                        self.pty = None;
                    }
                },
                m = link.recv() => match m {
                    Ok(m) => self.on_plugin(m, link).await,
                    Err(e) => debug!("plugin link: {e}"),
                },
                _ = sleep_opt(deadline) => {
                    self.client.handle_timeout(std::time::Instant::now());
                }
                st = child_wait(&mut self.child) => {
                    let code = st.as_ref().map(|s| exit_code(*s)).unwrap_or(-1);
                    self.pppd_signal = st.ok().and_then(|s| {
                        use std::os::unix::process::ExitStatusExt;
                        s.signal()
                    });
                    self.child = None;
                    self.pty = None;
                    self.pppd_exit = Some(code);
                    if code == 0 || (self.stop_requested && code == 5) {
                        info!("pppd exited ({})", pppd_exit_meaning(code));
                    } else {
                        warn!("pppd {}", describe_exit(code, self.pppd_signal));
                    }
                    self.pppd_kill_at = None;
                    self.client.disconnect(std::time::Instant::now());
                }
                _ = sleep_opt(self.pppd_kill_at) => {
                    warn!("pppd did not stop within {} s: killing it", PPPD_STOP_GRACE.as_secs());
                    if let Some(c) = self.child.as_mut() {
                        let _ = c.start_kill();
                    }
                    self.pppd_kill_at = None;
                    self.client.disconnect(std::time::Instant::now());
                }
                sig = signals.recv() => {
                    if self.stop_requested {
                        info!("{sig} again: disconnecting now");
                        self.client.disconnect(std::time::Instant::now());
                    } else {
                        info!("{sig} received: disconnecting");
                        self.stop_requested = true;
                        if self.terminate_pppd() {
                            // pppd sends LCP Terminate through us; Call Disconnect follows its exit.
                            self.pppd_kill_at = Some(Instant::now() + PPPD_STOP_GRACE);
                        } else {
                            self.client.disconnect(std::time::Instant::now());
                        }
                    }
                }
            }
        }
    }

    /// SIGTERM to pppd; false when it is not running.
    fn terminate_pppd(&mut self) -> bool {
        let Some(pid) = self.child.as_ref().and_then(|c| c.id()) else {
            return false;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        true
    }

    /// Drain until handling the events produced nothing more to send: an event such as a
    /// failed pppd start queues Call Disconnect, which must go out now, not at the next wake-up.
    async fn drain(&mut self, link: &mut PluginLink) -> Option<CloseReason> {
        loop {
            let queued = self.client.transmit().len();
            if let Some(r) = self.drain_once(link).await {
                return Some(r);
            }
            if self.client.transmit().len() == queued && !self.ack_pending {
                return None;
            }
        }
    }

    async fn drain_once(&mut self, link: &mut PluginLink) -> Option<CloseReason> {
        if self.ack_pending {
            self.ack_pending = false;
            if let Err(e) = link.send(&Msg::AuthAck).await {
                warn!("cannot release pppd after the crypto binding: {e}");
            }
        }
        let out = &mut self.pty_out;
        let escape = self.client.pty_escape();
        self.client.poll_ppp(|f| hdlc::encode_with(f, escape, out));
        if self.pty.is_none() {
            // pppd is gone: nobody will take these.
            self.pty_out.clear();
            self.pty_off = 0;
        }
        while let Some(ev) = self.client.poll_event() {
            match ev {
                Event::HttpAccepted => info!("HTTP: SSTP_DUPLEX_POST accepted (200)"),
                Event::Negotiated { hash } => {
                    info!(
                        "SSTP negotiated with {} crypto binding; starting pppd",
                        hash.name()
                    );
                    if let Err(e) = self.start_pppd(link) {
                        debug!("{e}");
                        self.pppd_start_error = Some(e.to_string());
                        self.client.disconnect(std::time::Instant::now());
                    }
                }
                Event::AuthAgreed(m) => {
                    debug!("PPP: server asks for {m}");
                    self.auth_method = Some(m);
                }
                Event::AuthSucceeded => info!(
                    "PPP authenticated with {}",
                    self.auth_method
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "the server's method".into())
                ),
                Event::AuthRejected(t) => {
                    warn!("PPP: the server rejected the credentials: {t}");
                    self.auth_rejected = Some(t);
                }
                Event::BindingSent { hash, hlak } => {
                    let src = match hlak {
                        HlakSource::Zero => "no keys (zero HLAK)",
                        HlakSource::SendRecv16 => "MPPE send+receive keys",
                        HlakSource::Send32 => "the 32-byte MPPE send key",
                    };
                    info!(
                        "crypto binding sent ({}, HLAK from {src}); SSTP call connected",
                        hash.name()
                    );
                    self.binding_sent = true;
                    // Call Connected is queued: release pppd once it is written.
                    let unwritten = self.client.transmit().len() - self.tls_off;
                    self.ack_at = Some(self.tls_written + unwritten as u64);
                }
                Event::Closed(r) => return Some(r),
            }
        }
        None
    }

    fn start_pppd(&mut self, link: &mut PluginLink) -> Result<(), Error> {
        let pty = Pty::open().map_err(|e| Error::Internal(format!("cannot open a pty: {e}")))?;
        let args = pppd::build_args(
            &pty.slave_path,
            Some(&self.s.user),
            &self.s.plugin,
            link.socket(),
            &self.s.pppd_options,
        );
        debug!("{} {}", self.s.pppd.display(), args.join(" "));
        let mut child = pppd::spawn(&self.s.pppd, &args)?;
        let pid = child.id().unwrap_or(0);
        link.expect_pid(pid);
        for (stream, name) in [
            (
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
                "stdout",
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
                "stderr",
            ),
        ] {
            if let Some(st) = stream {
                tokio::spawn(log_pppd_output(st, name));
            }
        }
        self.pty = Some(pty);
        self.child = Some(child);
        Ok(())
    }

    async fn on_plugin(&mut self, m: Msg, link: &mut PluginLink) {
        if matches!(m, Msg::IpUp { .. } | Msg::Ip6Up { .. }) {
            self.s.report(&m);
        }
        match m {
            Msg::PasswordRequest => {
                debug!("plugin asks for the password");
                let reply = Msg::Password {
                    user: self.s.user.clone(),
                    password: self.s.password.clone(),
                };
                if let Err(e) = link.send(&reply).await {
                    warn!("cannot answer the plugin: {e}");
                }
            }
            Msg::AuthUp { send_key, recv_key } => {
                debug!(
                    "plugin: authentication done, keys {} + {} bytes",
                    send_key.len(),
                    recv_key.len()
                );
                if let Some(e) = eap_key_error(self.auth_method, send_key.len()) {
                    // A binding from a truncated MSK is wrong: the server would abort the call
                    // with a misleading "invalid crypto binding". Say why and stop instead.
                    log::error!("{e}");
                    let _ = link.send(&Msg::Error(e.clone())).await;
                    self.key_error = Some(e);
                    self.stop_requested = true;
                    if !self.terminate_pppd() {
                        self.client.disconnect(std::time::Instant::now());
                    }
                    return;
                }
                if !self
                    .client
                    .handle_auth_keys(&send_key, &recv_key, std::time::Instant::now())
                {
                    let _ = link
                        .send(&Msg::Error(
                            "the SSTP call is not ready for the crypto binding".into(),
                        ))
                        .await;
                }
            }
            Msg::IpUp {
                ifname,
                local,
                remote,
                dns,
                mtu,
                ..
            } => {
                let dns = if dns.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", DNS {}",
                        dns.iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                };
                info!("IP up with {local} on {ifname} (peer {remote}, MTU {mtu}{dns})");
                self.ip_up = true;
            }
            Msg::Ip6Up {
                ifname, local_id, ..
            } => {
                let id: Vec<String> = local_id
                    .chunks(2)
                    .map(|c| format!("{:x}", u16::from_be_bytes([c[0], c[1]])))
                    .collect();
                info!("IPv6 up on {ifname} (fe80::{})", id.join(":"));
                self.ip_up = true;
            }
            other => debug!("unexpected message from the plugin: {other:?}"),
        }
    }

    /// After the loop: close TLS, stop pppd, leave nothing behind.
    async fn finish(&mut self) {
        // What is still queued (a last Call Abort or Disconnect Ack) goes out if the server
        // takes it within the second the close gets.
        let tls = &mut self.tls;
        let mut out = std::mem::take(self.client.transmit());
        out.drain(..std::mem::take(&mut self.tls_off));
        let _ = timeout(Duration::from_secs(1), async move {
            if tls.write_all(&out).await.is_ok() {
                let _ = tls.shutdown().await;
            }
        })
        .await;
        // Close our side of the pty first: pppd sees a hangup at once instead of retrying
        // LCP Terminate-Request into a link that is gone.
        self.pty = None;
        if let Some(mut c) = self.child.take() {
            // The SSTP call is over, so the link is gone: SIGHUP makes pppd treat it as a
            // hangup (ip-down runs, no LCP Terminate-Request retries into a dead link).
            if let Some(pid) = c.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGHUP,
                );
            }
            match timeout(PPPD_STOP_GRACE, c.wait()).await {
                Ok(Ok(st)) => {
                    self.pppd_exit.get_or_insert(exit_code(st));
                }
                _ => {
                    warn!("pppd did not stop: killing it");
                    let _ = c.kill().await;
                }
            }
        }
        let st = self.client.stats();
        info!(
            "session ended: sent {} frames / {} bytes, received {} frames / {} bytes",
            st.frames_out, st.bytes_out, st.frames_in, st.bytes_in
        );
    }

    fn outcome(&self, reason: CloseReason) -> Result<(), Error> {
        if let Some(e) = &self.key_error {
            return Err(Error::Auth(e.clone()));
        }
        if let Some(t) = &self.auth_rejected {
            return Err(Error::Auth(if t.is_empty() {
                "the server rejected the user name or password".into()
            } else {
                format!("the server said: {t}")
            }));
        }
        if self.pppd_exit == Some(19) {
            return Err(Error::Auth(
                "pppd could not authenticate to the server (wrong user name or password?)".into(),
            ));
        }
        if self.stop_requested {
            // The user asked to stop; however the call then ended (our Call Disconnect acked,
            // or the server disconnecting first in answer to PPP's Terminate), we are done.
            match reason {
                CloseReason::Local => info!("disconnected"),
                r => info!("disconnected ({r})"),
            }
            return Ok(());
        }
        match reason {
            CloseReason::Local if self.pppd_start_error.is_some() => Err(Error::PppdStart(
                self.pppd_start_error.clone().unwrap_or_default(),
            )),
            CloseReason::Local => {
                let code = self.pppd_exit.unwrap_or(-1);
                if code < 0 && !self.ip_up {
                    return Err(Error::PppdStart("pppd could not be started".into()));
                }
                let what = if code < 0 {
                    "pppd could not be started".to_string()
                } else {
                    format!("pppd {}", describe_exit(code, self.pppd_signal))
                };
                if self.ip_up {
                    Err(Error::Lost(what))
                } else if matches!(code, 1..=4) {
                    // fatal error, bad options, not root, no kernel PPP: trying again won't help
                    Err(Error::PppdStart(format!("{what} before the link came up")))
                } else {
                    Err(Error::Pppd(format!("{what} before the link came up")))
                }
            }
            CloseReason::Http(e) => Err(Error::Http(e.to_string())),
            CloseReason::HttpTimeout => Err(Error::Http(reason.to_string())),
            CloseReason::ServerAbort(_) if self.binding_sent && !self.ip_up => {
                Err(Error::BindingRejected(format!(
                    "{reason} right after the crypto binding: the server rejected the binding \
                     (is something intercepting the TLS connection?)"
                )))
            }
            r if self.ip_up => Err(Error::Lost(r.to_string())),
            r => Err(Error::Sstp(r.to_string())),
        }
    }
}

async fn log_pppd_output(st: Box<dyn AsyncRead + Unpin + Send>, name: &'static str) {
    let mut lines = BufReader::new(st).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        let low = l.to_ascii_lowercase();
        if ["fail", "error", "refused", "couldn't", "cannot", "unable"]
            .iter()
            .any(|w| low.contains(w))
        {
            warn!(target: "pppd", "{l}");
        } else {
            debug!(target: "pppd", "{l}");
        }
    }
    debug!("pppd {name} closed");
}

/// EAP (EAP-TLS) keys too short for the binding: the HLAK is the first 32 bytes of the MSK
/// (MS-SSTP 3.2.5.2.3), but pppd 2.4.x keeps only 16 bytes of each MPPE key (pppd 2.5 hands out
/// 32). `None` when the keys are usable.
fn eap_key_error(method: Option<AuthMethod>, send_key_len: usize) -> Option<String> {
    (method == Some(AuthMethod::Eap) && send_key_len > 0 && send_key_len < 32).then(|| {
        format!(
            "EAP authentication needs pppd 2.5 or later for the crypto binding: this pppd hands \
             out {send_key_len}-byte MPPE keys, not the 32-byte EAP-TLS MSK part, so the binding \
             would be wrong (use MS-CHAPv2 or pppd >= 2.5)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_random() {
        let a = random_16().unwrap();
        let b = random_16().unwrap();
        assert_ne!(a, b, "two draws of 128 bits were equal");
        assert_ne!(a, [0u8; 16]);
        // a few draws cover every byte position with a non-zero byte (a short read that
        // left a tail unwritten would show as zeros there)
        let mut seen = [0u8; 16];
        for _ in 0..8 {
            for (s, x) in seen.iter_mut().zip(random_16().unwrap()) {
                *s |= x;
            }
        }
        assert!(seen.iter().all(|&x| x != 0), "{seen:?}");
    }

    #[test]
    fn eap_with_short_keys_is_refused_with_a_reason() {
        let e = eap_key_error(Some(AuthMethod::Eap), 16).expect("refused");
        assert!(e.contains("pppd 2.5"), "{e}");
        assert!(eap_key_error(Some(AuthMethod::Eap), 32).is_none());
        assert!(eap_key_error(Some(AuthMethod::Eap), 0).is_none());
        assert!(eap_key_error(Some(AuthMethod::MsChapV2), 16).is_none());
        assert!(eap_key_error(Some(AuthMethod::MsChapV2), 20).is_none());
        assert!(eap_key_error(None, 16).is_none());
    }

    /// A queue fed at the room `queue_room` gives (plus the worst overshoot) and drained a TLS
    /// record at a time never reallocates, and never starves: below the mark less a record,
    /// there is always at least a record's worth of room.
    #[test]
    fn queues_stay_in_their_allocation() {
        let mut buf: Vec<u8> = Vec::with_capacity(TLS_OUT_HIGH_WATER + QUEUE_SLACK);
        let cap = buf.capacity();
        let mut off = 0;
        let mut seed = 0x2545_f491_u32;
        let mut rnd = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize % n.max(1)
        };
        let mut compactions = 0;
        for _ in 0..20_000 {
            let pending = buf.len() - off;
            let before = off;
            let room = queue_room(&mut buf, &mut off, TLS_OUT_HIGH_WATER);
            if off < before {
                compactions += 1;
            }
            assert_eq!(
                buf.len() - off,
                pending,
                "compaction keeps the unwritten bytes"
            );
            assert!(room <= TLS_OUT_HIGH_WATER.saturating_sub(pending));
            if pending + TLS_WRITE_MAX <= TLS_OUT_HIGH_WATER {
                assert!(room >= TLS_WRITE_MAX, "room {room} with {pending} pending");
            }
            if room > 0 {
                let read = 1 + rnd(room);
                let overshoot = rnd(QUEUE_SLACK + 1);
                buf.resize(buf.len() + read + overshoot, 0x55);
            }
            let write = rnd(TLS_WRITE_MAX + 1).min(buf.len() - off);
            off += write;
            if off == buf.len() {
                buf.clear();
                off = 0;
            }
            assert_eq!(buf.capacity(), cap, "the queue reallocated");
        }
        assert!(compactions > 100, "{compactions} compactions");
    }
}
