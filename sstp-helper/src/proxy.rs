//! Reaching the server through an HTTP proxy: where the proxy comes from (`--proxy`,
//! `https_proxy` with `no_proxy`), and the CONNECT exchange with its 407 retries. The bytes are
//! built and parsed by [`sstp_proto::proxy`].

use crate::error::Error;
use log::{debug, info, warn};
use sstp_proto::proxy::{self as p, Credentials};
use sstp_proto::secret::Secret;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How many 407 answers with a stale Digest nonce are followed before giving up.
const MAX_STALE: u32 = 2;

/// The proxy to use.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User and password, when the proxy needs them.
    pub creds: Option<Credentials>,
    /// Where it came from (`--proxy`, `https_proxy`, ...), for messages.
    pub source: String,
}

impl Proxy {
    /// `host:port` (IPv6 in brackets), as messages name it.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The parts of a proxy URL `[http://][user[:password]@]host[:port][/]`.
#[derive(Debug, PartialEq, Eq)]
pub struct ProxyUrl {
    /// Host (IPv6 without brackets).
    pub host: String,
    /// Port (8080 when absent).
    pub port: u16,
    /// User, percent-decoded.
    pub user: Option<String>,
    /// Password, percent-decoded (only ever from the environment).
    pub password: Option<String>,
}

/// Parse a proxy URL. Only `http://` proxies: TLS to the proxy itself is not supported.
pub fn parse_url(url: &str) -> Result<ProxyUrl, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "proxy URL scheme {scheme}:// is not supported (only http://)"
            ))
        }
        None => url,
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        return Err(format!(
            "proxy URL {url:?} has a path; give http://[user@]host:port"
        ));
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((u, pw)) => (Some(percent_decode(u)), Some(percent_decode(pw))),
            None => (Some(percent_decode(u)), None),
        },
    };
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, tail) = r
            .split_once(']')
            .ok_or_else(|| format!("proxy URL {url:?}: missing ']'"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => parse_port(p, url)?,
            None if tail.is_empty() => 8080,
            None => return Err(format!("bad proxy URL {url:?}")),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), parse_port(p, url)?),
            None => (hostport.to_string(), 8080),
        }
    };
    if host.is_empty() {
        return Err(format!("proxy URL {url:?} has no host"));
    }
    Ok(ProxyUrl {
        host,
        port,
        user: user.filter(|u| !u.is_empty()),
        password,
    })
}

fn parse_port(p: &str, url: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("bad port {p:?} in proxy URL {url:?}")),
        Ok(n) => Ok(n),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Choose the proxy: `--proxy URL` (or `none`), else `https_proxy` / `HTTPS_PROXY` unless
/// `no_proxy` / `NO_PROXY` exempts the server. `user` and `password` are from
/// `--proxy-user` and `--proxy-password-*`. A password inside `--proxy` is refused (it would be
/// on a command line); inside the environment it is used with a warning.
pub fn choose(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    server_host: &str,
    server_port: u16,
    user: Option<String>,
    password: Option<Secret>,
) -> Result<Option<Proxy>, Error> {
    let (url, source) = match flag {
        Some(f) if f.eq_ignore_ascii_case("none") || f.is_empty() => return Ok(None),
        Some(f) => (f.to_string(), "--proxy".to_string()),
        None => {
            let Some((name, v)) = ["https_proxy", "HTTPS_PROXY"]
                .iter()
                .find_map(|n| env(n).filter(|v| !v.is_empty()).map(|v| (*n, v)))
            else {
                return Ok(None);
            };
            let np = env("no_proxy")
                .filter(|v| !v.is_empty())
                .or_else(|| env("NO_PROXY"));
            if let Some(np) = np {
                if p::no_proxy_matches(&np, server_host, server_port) {
                    info!("no_proxy matches {server_host}: not using the proxy from {name}");
                    return Ok(None);
                }
            }
            (v, name.to_string())
        }
    };
    let u = parse_url(&url).map_err(|e| Error::Usage(format!("{source}: {e}")))?;
    let mut pw = password;
    if let Some(url_pw) = u.password {
        if source == "--proxy" {
            return Err(Error::Usage(
                "--proxy: a password in the URL would be visible on the command line; use \
                 --proxy-user and --proxy-password-file or --proxy-password-fd"
                    .into(),
            ));
        }
        warn!("{source} contains a proxy password; prefer --proxy-password-file");
        if pw.is_none() {
            pw = Some(Secret::from(url_pw));
        }
    }
    let user = user.or(u.user);
    let creds = match (user, pw) {
        (Some(user), Some(password)) => Some(Credentials { user, password }),
        (Some(user), None) => Some(Credentials {
            user,
            password: Secret::default(),
        }),
        (None, Some(_)) => {
            return Err(Error::Usage(
                "a proxy password needs a proxy user (--proxy-user or user@ in the URL)".into(),
            ))
        }
        (None, None) => None,
    };
    Ok(Some(Proxy {
        host: u.host,
        port: u.port,
        creds,
        source,
    }))
}

fn proxy_err(px: &Proxy, why: impl Into<String>, retry: bool) -> Error {
    Error::Proxy {
        proxy: px.authority(),
        why: why.into(),
        retry,
    }
}

fn cnonce() -> Result<String, Error> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b)
        .map_err(|e| Error::Internal(format!("random cnonce: {e}")))?;
    Ok(crate::tls::hex(&b))
}

/// Read one response head from the proxy; returns it and the bytes after the head.
async fn read_head(
    px: &Proxy,
    tcp: &mut TcpStream,
    wait: Duration,
) -> Result<(p::Response, Vec<u8>), Error> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = match timeout(wait, tcp.read(&mut chunk)).await {
            Err(_) => {
                return Err(proxy_err(
                    px,
                    format!("no answer to CONNECT within {} s", wait.as_secs()),
                    true,
                ))
            }
            Ok(Err(e)) => return Err(proxy_err(px, format!("reading the answer: {e}"), true)),
            Ok(Ok(0)) => {
                return Err(proxy_err(
                    px,
                    "closed the connection without answering CONNECT",
                    true,
                ))
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        match p::parse_response(&buf) {
            Ok(None) => continue,
            Ok(Some((r, used))) => return Ok((r, buf.split_off(used))),
            Err(e) => return Err(proxy_err(px, e.to_string(), false)),
        }
    }
}

/// Skip `n` body bytes (some already in `have`).
async fn skip_body(tcp: &mut TcpStream, mut n: u64, have: usize, wait: Duration) -> bool {
    n = n.saturating_sub(have as u64);
    let mut chunk = [0u8; 4096];
    while n > 0 {
        match timeout(wait, tcp.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return false,
            Ok(Ok(k)) => n = n.saturating_sub(k as u64),
        }
    }
    true
}

/// Open a tunnel to `host:port` through the proxy: TCP to the proxy (`connect` is the caller's
/// Happy Eyeballs connector), CONNECT, and on 407 once more with credentials (on the same
/// connection when the proxy keeps it, else on a fresh one). The returned stream carries TLS
/// to the server next.
pub async fn tunnel<F, Fut>(
    px: &Proxy,
    host: &str,
    port: u16,
    wait: Duration,
    connect: F,
) -> Result<TcpStream, Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<TcpStream, Error>>,
{
    let target = authority(host, port);
    let mut auth: Option<String> = None;
    let mut sent_creds = 0u32;
    let mut tcp: Option<TcpStream> = None;
    loop {
        let mut s = match tcp.take() {
            Some(s) => s,
            None => connect().await?,
        };
        debug!(
            "proxy {}: CONNECT {target}{}",
            px.authority(),
            if auth.is_some() {
                " with Proxy-Authorization"
            } else {
                ""
            }
        );
        s.write_all(&p::connect_request(&target, auth.as_deref()))
            .await
            .map_err(|e| proxy_err(px, format!("sending CONNECT: {e}"), true))?;
        let (r, rest) = read_head(px, &mut s, wait).await?;
        debug!("proxy {}: {}", px.authority(), r.status_line);
        match r.status {
            200..=299 => {
                if !rest.is_empty() {
                    return Err(proxy_err(
                        px,
                        format!(
                            "sent {} unexpected bytes after \"{}\"",
                            rest.len(),
                            r.status_line
                        ),
                        false,
                    ));
                }
                info!(
                    "proxy {}: tunnel to {target} open ({})",
                    px.authority(),
                    r.status_line
                );
                return Ok(s);
            }
            407 => {
                let Some(creds) = &px.creds else {
                    let schemes: Vec<&str> =
                        r.challenges.iter().map(|c| c.scheme.as_str()).collect();
                    return Err(proxy_err(
                        px,
                        format!(
                            "the proxy requires authentication ({}); give --proxy-user and \
                             --proxy-password-file",
                            if schemes.is_empty() {
                                "no scheme offered".to_string()
                            } else {
                                schemes.join(", ")
                            }
                        ),
                        false,
                    ));
                };
                let stale = r.challenges.iter().any(|c| {
                    c.scheme.eq_ignore_ascii_case("digest")
                        && c.param("stale")
                            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                });
                if auth.is_some() && !(stale && sent_creds <= MAX_STALE) {
                    return Err(proxy_err(
                        px,
                        "proxy authentication failed (wrong proxy user or password?)",
                        false,
                    ));
                }
                let a = p::authorization(&r.challenges, creds, "CONNECT", &target, &cnonce()?, 1)
                    .map_err(|e| proxy_err(px, e.to_string(), false))?;
                let scheme = a.split(' ').next().unwrap_or_default().to_string();
                auth = Some(a);
                sent_creds += 1;
                match r.reusable() {
                    Some(n) if skip_body(&mut s, n, rest.len(), wait).await => {
                        info!(
                            "proxy {}: 407, answering with {scheme} credentials for {}",
                            px.authority(),
                            creds.user
                        );
                        tcp = Some(s);
                    }
                    _ => info!(
                        "proxy {}: 407 and the connection closes; answering with {scheme} \
                         credentials for {} on a new connection",
                        px.authority(),
                        creds.user
                    ),
                }
            }
            403 => {
                return Err(proxy_err(
                    px,
                    format!("refused CONNECT to {target}: \"{}\"", r.status_line),
                    false,
                ))
            }
            500..=599 => {
                return Err(proxy_err(
                    px,
                    format!("could not open a tunnel to {target}: \"{}\"", r.status_line),
                    true,
                ))
            }
            _ => {
                return Err(proxy_err(
                    px,
                    format!("answered CONNECT {target} with \"{}\"", r.status_line),
                    false,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proxy that closes after its 407: the credentials go on a second connection; a second
    /// 407 is "authentication failed".
    #[test]
    fn retries_on_a_new_connection_after_407_close() {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for accept_creds in [true, false] {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let port = l.local_addr().unwrap().port();
                let server = tokio::spawn(async move {
                    let mut heads = Vec::new();
                    for i in 0..2 {
                        let (s, _) = l.accept().await.unwrap();
                        let mut r = BufReader::new(s);
                        let mut head = String::new();
                        loop {
                            let mut line = String::new();
                            r.read_line(&mut line).await.unwrap();
                            head.push_str(&line);
                            if line == "\r\n" || line.is_empty() {
                                break;
                            }
                        }
                        heads.push(head);
                        let ok = i == 1 && accept_creds;
                        let answer: &[u8] = if ok {
                            b"HTTP/1.1 200 Connection established\r\n\r\n"
                        } else {
                            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                              Proxy-Authenticate: Basic realm=\"t\"\r\n\
                              Connection: close\r\n\r\n"
                        };
                        r.get_mut().write_all(answer).await.unwrap();
                        if ok {
                            break;
                        }
                    }
                    heads
                });
                let px = Proxy {
                    host: "127.0.0.1".into(),
                    port,
                    creds: Some(Credentials {
                        user: "u".into(),
                        password: Secret::from("p".to_string()),
                    }),
                    source: "--proxy".into(),
                };
                let r = tunnel(&px, "vpn.example", 8443, Duration::from_secs(5), || async {
                    TcpStream::connect(("127.0.0.1", port))
                        .await
                        .map_err(|e| Error::Internal(e.to_string()))
                })
                .await;
                let heads = server.await.unwrap();
                assert_eq!(heads.len(), 2);
                assert!(heads[0].starts_with("CONNECT vpn.example:8443 HTTP/1.1\r\n"));
                assert!(!heads[0].contains("Proxy-Authorization"));
                assert!(heads[1].contains("Proxy-Authorization: Basic dTpw\r\n"));
                if accept_creds {
                    assert!(r.is_ok());
                } else {
                    let e = r.unwrap_err();
                    assert_eq!(
                        e.to_string(),
                        format!(
                            "proxy 127.0.0.1:{port}: proxy authentication failed \
                             (wrong proxy user or password?)"
                        )
                    );
                    assert!(!e.worth_retrying());
                }
            }
        });
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://alice@proxy.example:3128/").unwrap(),
            ProxyUrl {
                host: "proxy.example".into(),
                port: 3128,
                user: Some("alice".into()),
                password: None
            }
        );
        let u = parse_url("[::1]:3128").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 3128));
        assert_eq!(parse_url("proxy").unwrap().port, 8080);
        let u = parse_url("http://a%40b:p%3Aw@h:1").unwrap();
        assert_eq!(u.user.as_deref(), Some("a@b"));
        assert_eq!(u.password.as_deref(), Some("p:w"));
        assert!(parse_url("https://h:1").is_err());
        assert!(parse_url("socks5://h:1").is_err());
        assert!(parse_url("http://h:0").is_err());
        assert!(parse_url("http://h:1/path").is_err());
        assert!(parse_url("http://:1").is_err());
    }

    #[test]
    fn choosing() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let none = env(&[]);
        assert!(choose(None, &none, "vpn", 443, None, None)
            .unwrap()
            .is_none());
        let px = choose(Some("http://p:3128"), &none, "vpn", 443, None, None)
            .unwrap()
            .unwrap();
        assert_eq!(px.authority(), "p:3128");
        assert!(px.creds.is_none());
        // a password on the command line is refused
        let e = choose(Some("http://u:pw@p:3128"), &none, "vpn", 443, None, None).unwrap_err();
        assert!(e.to_string().contains("command line"), "{e}");
        let e = env(&[
            ("https_proxy", "http://u:pw@p:1"),
            ("no_proxy", "other.org"),
        ]);
        let px = choose(None, &e, "vpn.example.com", 443, None, None)
            .unwrap()
            .unwrap();
        assert_eq!(px.source, "https_proxy");
        assert_eq!(px.creds.unwrap().password.expose(), b"pw");
        let e = env(&[("HTTPS_PROXY", "p:1"), ("NO_PROXY", ".example.com")]);
        assert!(choose(None, &e, "vpn.example.com", 443, None, None)
            .unwrap()
            .is_none());
        // --proxy wins over the environment, "none" ignores it
        assert!(choose(Some("none"), &e, "x", 443, None, None)
            .unwrap()
            .is_none());
        let e2 = env(&[("https_proxy", "p:1")]);
        let px = choose(
            Some("q:2"),
            &e2,
            "x",
            443,
            Some("bob".into()),
            Some(Secret::from("s".to_string())),
        )
        .unwrap()
        .unwrap();
        assert_eq!(px.authority(), "q:2");
        assert_eq!(px.creds.unwrap().user, "bob");
        assert!(choose(Some("q:2"), &none, "x", 443, None, Some(Secret::default())).is_err());
    }
}
