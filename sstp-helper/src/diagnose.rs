//! `sstp-helper diagnose SERVER`: walk the connection step by step and report each one,
//! without starting PPP: name resolution, TCP per address, (the proxy tunnel), TLS version and
//! cipher, the certificate chain and each check, the HTTP status line, the SSTP Call Connect
//! Ack, then a Call Disconnect. Human text by default, `--json` for tools. Exit 0 when every
//! step passed, else the exit code of the first failure (the same table as a connection).

use crate::cli::ProxyTlsArgs;
use crate::error::{exit, Error};
use crate::proxy::Proxy;
use crate::run;
use crate::tls::{self, TlsOptions};
use clap::Parser;
use serde_json::{json, Value};
use sstp_proto::http;
use sstp_proto::wire::{self, Attribute, ControlMessage, MessageType, Packet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// `sstp-helper diagnose`: check the way to an SSTP server without connecting PPP.
#[derive(Debug, Parser)]
#[command(
    name = "sstp-helper diagnose",
    bin_name = "sstp-helper diagnose",
    version,
    after_help = "Exit status: 0 when every check passed, otherwise the code of the first \
                  failure (see sstp-helper --help).",
    // The shared options (`ProxyTlsArgs`) carry the connection's help; here they keep the
    // shorter wording this command has always shown.
    mut_arg("proxy", |a| a.help("HTTP proxy, as for a connection (`none` ignores https_proxy)")),
    mut_arg("proxy_user", |a| a.help("Proxy user")),
    mut_arg("proxy_password_file", |a| a.help("Proxy password from the first line of FILE")),
    mut_arg("proxy_password_fd", |a| a.help("Proxy password from file descriptor N")),
    mut_arg("tls_min", |a| a.help("Lowest TLS version: 1.2 or 1.3")),
    mut_arg("tls_max", |a| a.help("Highest TLS version: 1.2 or 1.3")),
    mut_arg("ciphers", |a| a.help("Cipher list, as for a connection"))
)]
pub struct DiagArgs {
    /// SSTP server: NAME, NAME:PORT, IPv4, or `[IPv6]:PORT` (default port 443).
    #[arg(value_name = "SERVER[:PORT]")]
    pub server: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Trust only the CA certificates in FILE (PEM) instead of the system store.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Expected SHA-256 fingerprint of the server certificate.
    #[arg(long, value_name = "HEX")]
    pub cert_sha256: Option<String>,
    /// Report the certificate checks but go on even when they fail.
    #[arg(long)]
    pub insecure: bool,
    /// Name for SNI, Host and the certificate check, when SERVER is an address.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Do not send SNI.
    #[arg(long)]
    pub no_sni: bool,
    /// The proxy and TLS options, as for a connection.
    #[command(flatten)]
    pub proxy_tls: ProxyTlsArgs,
    /// Timeout of each step, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
}

/// The report being built: JSON steps plus the text lines.
struct Report {
    json: bool,
    steps: Vec<Value>,
    /// Exit code of the first failure.
    failed: Option<i32>,
}

impl Report {
    fn line(&self, s: &str) {
        if !self.json {
            println!("{s}");
        }
    }
    fn step(&mut self, v: Value) {
        self.steps.push(v);
    }
    fn fail(&mut self, code: i32) {
        self.failed.get_or_insert(code);
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "ok  ",
        Some(false) => "FAIL",
        None => "-   ",
    }
}

/// Run the diagnosis; returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let a = match DiagArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { 0 };
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("tokio runtime: {e}");
            return exit::INTERNAL;
        }
    };
    match rt.block_on(diagnose(&a)) {
        Ok(code) => code,
        Err(e) => {
            log::error!("{e}");
            e.exit_code()
        }
    }
}

async fn diagnose(a: &DiagArgs) -> Result<i32, Error> {
    let (host, port) = crate::cli::split_server(&a.server).map_err(Error::Usage)?;
    let name = a.host.clone().unwrap_or_else(|| host.clone());
    let pin = a
        .cert_sha256
        .as_deref()
        .map(crate::cli::parse_pin)
        .transpose()
        .map_err(Error::Usage)?;
    let opts = TlsOptions {
        ca_cert: a.ca_cert.clone(),
        pin_sha256: pin,
        insecure: a.insecure,
        sni: !a.no_sni,
        keylog: None,
        min_version: a.proxy_tls.tls_min,
        max_version: a.proxy_tls.tls_max,
        ciphers: a.proxy_tls.ciphers.clone(),
    };
    let proxy = run::proxy_from_args(&a.proxy_tls, &host, port)?;
    let wait = Duration::from_secs(a.timeout.max(1));
    let mut r = Report {
        json: a.json,
        steps: Vec::new(),
        failed: None,
    };
    r.line(&format!("sstp-helper diagnose {host}:{port}"));

    let tcp = match &proxy {
        None => direct_tcp(&mut r, &host, port, wait).await,
        Some(px) => proxied_tcp(&mut r, px, &host, port, wait).await,
    };
    if let Some(tcp) = tcp {
        after_tcp(&mut r, tcp, &name, port, &opts, wait).await;
    }
    let code = r.failed.unwrap_or(exit::OK);
    if r.json {
        let v = json!({
            "server": a.server,
            "host": host,
            "port": port,
            "ok": r.failed.is_none(),
            "exit_code": code,
            "steps": r.steps,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
        );
    } else {
        r.line(&format!(
            "result: {}",
            if code == 0 {
                "all checks passed".to_string()
            } else {
                format!("FAILED (exit code {code})")
            }
        ));
    }
    Ok(code)
}

/// Resolve, then TCP to every address in turn (each reported); the first that connected is
/// kept for TLS.
async fn direct_tcp(r: &mut Report, host: &str, port: u16, wait: Duration) -> Option<TcpStream> {
    let t0 = Instant::now();
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            r.line(&format!("resolve  FAIL {host}: {e}"));
            r.step(json!({"step": "resolve", "ok": false, "error": e.to_string()}));
            r.fail(exit::RESOLVE);
            return None;
        }
    };
    let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    r.line(&format!(
        "resolve  ok   {host}: {} ({} ms)",
        list.join(", "),
        ms(t0.elapsed())
    ));
    r.step(json!({"step": "resolve", "ok": true, "addresses": list, "ms": ms(t0.elapsed())}));
    let mut keep = None;
    let mut results = Vec::new();
    for a in &addrs {
        let t = Instant::now();
        let res = timeout(wait, TcpStream::connect(a)).await;
        let el = ms(t.elapsed());
        match res {
            Ok(Ok(s)) => {
                r.line(&format!("tcp      ok   {a} ({el} ms)"));
                results.push(json!({"address": a.to_string(), "ok": true, "ms": el}));
                if keep.is_none() {
                    keep = Some(s);
                }
            }
            Ok(Err(e)) => {
                r.line(&format!("tcp      FAIL {a}: {e} ({el} ms)"));
                results.push(
                    json!({"address": a.to_string(), "ok": false, "error": e.to_string(), "ms": el}),
                );
            }
            Err(_) => {
                r.line(&format!(
                    "tcp      FAIL {a}: no answer within {} s",
                    wait.as_secs()
                ));
                results.push(
                    json!({"address": a.to_string(), "ok": false, "error": "timeout", "ms": el}),
                );
            }
        }
    }
    r.step(json!({"step": "tcp", "ok": keep.is_some(), "attempts": results}));
    if keep.is_none() {
        r.fail(exit::CONNECT);
    }
    keep
}

async fn proxied_tcp(
    r: &mut Report,
    px: &Proxy,
    host: &str,
    port: u16,
    wait: Duration,
) -> Option<TcpStream> {
    let t = Instant::now();
    let res = run::open_tcp(host, port, Some(px), wait).await;
    let el = ms(t.elapsed());
    match res {
        Ok(s) => {
            r.line(&format!(
                "proxy    ok   CONNECT {} through {} ({el} ms)",
                crate::proxy::authority(host, port),
                px.authority()
            ));
            r.step(json!({"step": "proxy", "ok": true, "proxy": px.authority(), "ms": el}));
            Some(s)
        }
        Err(e) => {
            r.line(&format!("proxy    FAIL {e}"));
            r.step(json!({"step": "proxy", "ok": false, "proxy": px.authority(), "error": e.to_string()}));
            r.fail(e.exit_code());
            None
        }
    }
}

async fn after_tcp(
    r: &mut Report,
    tcp: TcpStream,
    name: &str,
    port: u16,
    opts: &TlsOptions,
    wait: Duration,
) {
    let t = Instant::now();
    let res = timeout(wait, tls::connect_unchecked(tcp, name, opts)).await;
    let mut stream = match res {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            r.line(&format!("tls      FAIL {e}"));
            r.step(json!({"step": "tls", "ok": false, "error": e.to_string()}));
            r.fail(Error::Tls(e).exit_code());
            return;
        }
        Err(_) => {
            r.line(&format!(
                "tls      FAIL no handshake within {} s",
                wait.as_secs()
            ));
            r.step(json!({"step": "tls", "ok": false, "error": "timeout"}));
            r.fail(exit::TLS);
            return;
        }
    };
    let ins = match tls::inspect(stream.ssl(), name, opts) {
        Ok(i) => i,
        Err(e) => {
            r.line(&format!("tls      FAIL {e}"));
            r.step(json!({"step": "tls", "ok": false, "error": e.to_string()}));
            r.fail(Error::Tls(e).exit_code());
            return;
        }
    };
    r.line(&format!(
        "tls      ok   {} {} ({} ms)",
        ins.version,
        ins.cipher,
        ms(t.elapsed())
    ));
    let mut chain_json = Vec::new();
    for (i, c) in ins.chain.iter().enumerate() {
        r.line(&format!("cert[{i}]  subject  {}", c.subject));
        r.line(&format!("         issuer   {}", c.issuer));
        r.line(&format!(
            "         valid    {} to {}",
            c.not_before, c.not_after
        ));
        if !c.sans.is_empty() {
            r.line(&format!("         SANs     {}", c.sans.join(", ")));
        }
        r.line(&format!(
            "         EKU      {}",
            c.eku
                .as_ref()
                .map(|v| if v.is_empty() {
                    "(other)".to_string()
                } else {
                    v.join(", ")
                })
                .unwrap_or_else(|| "(none)".to_string())
        ));
        r.line(&format!("         SHA-256  {}", c.sha256));
        chain_json.push(json!({
            "subject": c.subject, "issuer": c.issuer, "not_before": c.not_before,
            "not_after": c.not_after, "sans": c.sans, "eku": c.eku, "sha256": c.sha256,
        }));
    }
    let mut checks_json = Vec::new();
    for c in &ins.checks {
        r.line(&format!(
            "check    {} {:<8} {}",
            mark(c.ok),
            c.name,
            c.detail
        ));
        checks_json.push(json!({"check": c.name, "ok": c.ok, "detail": c.detail}));
    }
    r.step(json!({
        "step": "tls", "ok": ins.accepted, "version": ins.version, "cipher": ins.cipher,
        "chain": chain_json, "checks": checks_json, "ms": ms(t.elapsed()),
    }));
    if !ins.accepted {
        r.line("certificate: REJECTED; nothing is sent to this server");
        r.fail(exit::CERTIFICATE);
        return;
    }
    if opts.insecure && ins.checks.iter().any(|c| c.ok == Some(false)) {
        r.line("certificate: checks failed, going on because of --insecure");
        r.fail(exit::CERTIFICATE);
    }
    sstp_steps(r, &mut stream, name, port, wait).await;
}

/// HTTP, Call Connect Request / Ack, Call Disconnect.
async fn sstp_steps<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut Report,
    s: &mut S,
    name: &str,
    port: u16,
    wait: Duration,
) {
    let host_header = {
        let n = if name.contains(':') {
            format!("[{name}]")
        } else {
            name.to_string()
        };
        if port == 443 {
            n
        } else {
            format!("{n}:{port}")
        }
    };
    let mut b = [0u8; 16];
    let _ = openssl::rand::rand_bytes(&mut b);
    let guid = http::guid_from_random(b);
    let t = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let head = async {
        s.write_all(&http::request(&host_header, &guid)).await?;
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
            match http::parse_response(&buf) {
                Ok(None) => continue,
                Ok(Some((resp, used))) => return Ok(Ok((resp, used))),
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    let used = match timeout(wait, head).await {
        Ok(Ok(Ok((resp, used)))) => {
            r.line(&format!(
                "http     ok   {} ({} ms)",
                resp.status_line,
                ms(t.elapsed())
            ));
            r.step(json!({"step": "http", "ok": true, "status_line": resp.status_line, "ms": ms(t.elapsed())}));
            used
        }
        Ok(Ok(Err(e))) => {
            let line = match &e {
                http::HttpError::Status(l) | http::HttpError::Malformed(l) => l.clone(),
                http::HttpError::TooLong => String::new(),
            };
            r.line(&format!("http     FAIL {e}"));
            r.step(
                json!({"step": "http", "ok": false, "status_line": line, "error": e.to_string()}),
            );
            r.fail(exit::HTTP);
            return;
        }
        Ok(Err(e)) => {
            r.line(&format!("http     FAIL {e}"));
            r.step(json!({"step": "http", "ok": false, "error": e.to_string()}));
            r.fail(exit::HTTP);
            return;
        }
        Err(_) => {
            r.line(&format!(
                "http     FAIL no answer within {} s",
                wait.as_secs()
            ));
            r.step(json!({"step": "http", "ok": false, "error": "timeout"}));
            r.fail(exit::HTTP);
            return;
        }
    };
    buf.drain(..used);

    let t = Instant::now();
    let ack = async {
        s.write_all(&ControlMessage::connect_request().encode())
            .await?;
        read_control(s, &mut buf).await
    };
    match timeout(wait, ack).await {
        Ok(Ok(m)) if m.msg_type == MessageType::CallConnectAck => {
            let req = m.attributes.iter().find_map(|a| match a {
                Attribute::CryptoBindingRequest {
                    hash_bitmask,
                    nonce,
                } => Some((*hash_bitmask, *nonce)),
                _ => None,
            });
            let (bitmask, nonce_ok) = match req {
                Some((b, n)) => (Some(b), n.iter().any(|&x| x != 0)),
                None => (None, false),
            };
            let mut names = Vec::new();
            if let Some(b) = bitmask {
                if b & wire::hash_bits::SHA1 != 0 {
                    names.push("SHA-1");
                }
                if b & wire::hash_bits::SHA256 != 0 {
                    names.push("SHA-256");
                }
            }
            let ok = bitmask.is_some_and(|b| b & 0x03 != 0) && nonce_ok;
            r.line(&format!(
                "sstp     {} Call Connect Ack: hash bitmask {} ({}), nonce {} ({} ms)",
                mark(Some(ok)),
                bitmask
                    .map(|b| format!("0x{b:02x}"))
                    .unwrap_or_else(|| "missing".into()),
                if names.is_empty() {
                    "no usable hash".to_string()
                } else {
                    names.join(" + ")
                },
                if nonce_ok { "present" } else { "MISSING" },
                ms(t.elapsed())
            ));
            r.step(
                json!({"step": "sstp", "ok": ok, "message": "CallConnectAck",
                "hash_bitmask": bitmask, "hashes": names, "nonce_present": nonce_ok,
                "ms": ms(t.elapsed())}),
            );
            if !ok {
                r.fail(exit::SSTP);
            }
        }
        Ok(Ok(m)) => {
            let st = m
                .status_info()
                .map(|(a, s)| format!(" (attribute {a}, status {})", s.0))
                .unwrap_or_default();
            r.line(&format!(
                "sstp     FAIL the server answered {:?}{st}",
                m.msg_type
            ));
            r.step(json!({"step": "sstp", "ok": false, "message": format!("{:?}", m.msg_type)}));
            r.fail(exit::SSTP);
            return;
        }
        Ok(Err(e)) => {
            r.line(&format!("sstp     FAIL {e}"));
            r.step(json!({"step": "sstp", "ok": false, "error": e.to_string()}));
            r.fail(exit::SSTP);
            return;
        }
        Err(_) => {
            r.line(&format!(
                "sstp     FAIL no Call Connect Ack within {} s",
                wait.as_secs()
            ));
            r.step(json!({"step": "sstp", "ok": false, "error": "timeout"}));
            r.fail(exit::SSTP);
            return;
        }
    }

    // a clean end: Call Disconnect, wait a little for its Ack
    let t = Instant::now();
    let bye = async {
        s.write_all(&ControlMessage::bare(MessageType::CallDisconnect).encode())
            .await?;
        loop {
            let m = read_control(s, &mut buf).await?;
            if m.msg_type == MessageType::CallDisconnectAck {
                return Ok::<_, std::io::Error>(());
            }
        }
    };
    let acked = matches!(timeout(Duration::from_secs(3), bye).await, Ok(Ok(())));
    let _ = s.shutdown().await;
    r.line(&format!(
        "close    ok   Call Disconnect sent{} ({} ms)",
        if acked {
            ", acknowledged"
        } else {
            " (no Ack within 3 s)"
        },
        ms(t.elapsed())
    ));
    r.step(json!({"step": "disconnect", "ok": true, "acknowledged": acked}));
}

/// Read until one control packet is complete (data packets are skipped).
async fn read_control<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<ControlMessage> {
    let bad =
        |e: wire::WireError| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(n) = wire::packet_len(buf).map_err(bad)? {
            if buf.len() >= n {
                let pkt: Vec<u8> = buf.drain(..n).collect();
                match Packet::parse(&pkt).map_err(bad)? {
                    Packet::Control(m) => return Ok(m),
                    Packet::Data(_) => continue,
                }
            }
        }
        let k = s.read(&mut chunk).await?;
        if k == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        buf.extend_from_slice(&chunk[..k]);
    }
}
