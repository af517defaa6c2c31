//! HTTP proxies: the `CONNECT` request, the proxy's answer, and Basic / Digest
//! proxy authentication (RFC 9110 §9.3.6, RFC 7617, RFC 7616).
//!
//! Sans-IO like the rest of the crate: the caller opens TCP to the proxy, sends
//! [`connect_request`], feeds what comes back to [`parse_response`], and on a 407 asks
//! [`authorization`] for the `Proxy-Authorization` value of the next attempt (on a fresh
//! connection when the proxy said it would close, or when the 407 had a body of unknown
//! length).

use crate::secret::Secret;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Largest proxy response head accepted.
pub const MAX_HEAD: usize = 16384;

/// The `CONNECT` request for `authority` (`host:port`, IPv6 in brackets). `auth` is a
/// `Proxy-Authorization` value from [`authorization`].
pub fn connect_request(authority: &str, auth: Option<&str>) -> Vec<u8> {
    let mut s = format!(
        "CONNECT {authority} HTTP/1.1\r\n\
         Host: {authority}\r\n\
         Proxy-Connection: Keep-Alive\r\n\
         User-Agent: sstp-rs/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(a) = auth {
        s.push_str("Proxy-Authorization: ");
        s.push_str(a);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A parsed proxy response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The status line as sent (control characters replaced), for messages.
    pub status_line: String,
    /// Every `Proxy-Authenticate` challenge, in order (several per header are split).
    pub challenges: Vec<Challenge>,
    /// Content-Length, if present and numeric.
    pub content_length: Option<u64>,
    /// The proxy will close this connection (`Connection: close`, `Proxy-Connection: close`,
    /// or HTTP/1.0 without keep-alive).
    pub closes: bool,
}

impl Response {
    /// Whether the connection can carry another request after this (non-2xx) response:
    /// the proxy keeps it open and the body length is known. `Some(n)`: skip `n` body bytes,
    /// then send the next request on the same connection.
    pub fn reusable(&self) -> Option<u64> {
        if self.closes {
            None
        } else {
            self.content_length
        }
    }
}

/// Why the proxy's answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// The head is longer than [`MAX_HEAD`].
    TooLong,
    /// Not an HTTP/1.x status line.
    Malformed(String),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::TooLong => write!(f, "proxy response head longer than {MAX_HEAD} bytes"),
            ProxyError::Malformed(l) => write!(f, "not an HTTP response from the proxy: {l:?}"),
        }
    }
}
impl std::error::Error for ProxyError {}

/// Parse the response head at the front of `buf`. `Ok(None)`: need more bytes;
/// `Ok(Some((r, n)))`: the head used `n` bytes. Every status is returned; the caller decides.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, ProxyError> {
    let probe = &buf[..buf.len().min(5)];
    if !b"HTTP/".starts_with(probe) {
        return Err(ProxyError::Malformed(printable(&buf[..buf.len().min(40)])));
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(ProxyError::TooLong);
        }
        return Ok(None);
    };
    if end + 4 > MAX_HEAD {
        return Err(ProxyError::TooLong);
    }
    let mut lines = buf[..end]
        .split(|&b| b == b'\n')
        .map(|l| printable(l.strip_suffix(b"\r").unwrap_or(l)));
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let http10 = version == "HTTP/1.0";
    if !(version == "HTTP/1.1" || http10) || code.len() != 3 {
        return Err(ProxyError::Malformed(status_line));
    }
    let Ok(status) = code.parse::<u16>() else {
        return Err(ProxyError::Malformed(status_line));
    };
    let mut challenges = Vec::new();
    let mut content_length = None;
    let mut conn: Option<String> = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("proxy-authenticate") {
            challenges.extend(parse_challenges(v));
        } else if k.eq_ignore_ascii_case("content-length") {
            content_length = v.parse::<u64>().ok();
        } else if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("proxy-connection")
        {
            let v = v.to_ascii_lowercase();
            // "close" wins over "keep-alive" whichever header carries it
            if conn.as_deref() != Some("close") {
                conn = Some(v);
            }
        }
    }
    let closes = match conn.as_deref() {
        Some(c) if c.contains("close") => true,
        Some(c) if c.contains("keep-alive") => false,
        _ => http10,
    };
    Ok(Some((
        Response {
            status,
            status_line,
            challenges,
            content_length,
            closes,
        },
        end + 4,
    )))
}

/// One authentication challenge: scheme (as sent) and its parameters (names lower-cased,
/// values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `Basic`, `Digest`, `Negotiate`, ...
    pub scheme: String,
    /// `realm`, `nonce`, `qop`, ...
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Split one `Proxy-Authenticate` value into challenges (RFC 9110 §11.6.1: a header may carry
/// several, separated by commas like their parameters).
pub fn parse_challenges(v: &str) -> Vec<Challenge> {
    let b = v.as_bytes();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && !matches!(b[*i], b' ' | b'\t' | b',' | b'=') {
            *i += 1;
        }
        v[s..*i].to_string()
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let t = token(&mut i);
        // after the token: '=' makes it a parameter of the current challenge (unless it is
        // token68 padding, "==" at the end), otherwise it is a new scheme
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let val = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut s = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    s.push(b[i] as char);
                    i += 1;
                }
                i += 1;
                s
            } else {
                token(&mut i)
            };
            if let Some(c) = out.last_mut() {
                c.params.push((t.to_ascii_lowercase(), val));
            }
        } else if !t.is_empty() {
            out.push(Challenge {
                scheme: t,
                params: Vec::new(),
            });
        } else {
            i += 1;
        }
    }
    out
}

/// Proxy credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
}

/// Why no `Proxy-Authorization` can be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// 407 without any challenge we know; the schemes offered are listed.
    Unsupported(Vec<String>),
    /// A Digest challenge without a nonce, or with an algorithm or qop we do not do.
    BadDigest(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Unsupported(s) if s.is_empty() => {
                f.write_str("the proxy asks for authentication but offers no scheme")
            }
            AuthError::Unsupported(s) => write!(
                f,
                "the proxy asks for authentication by {} (supported: Basic, Digest)",
                s.join(", ")
            ),
            AuthError::BadDigest(s) => write!(f, "unusable Digest challenge from the proxy: {s}"),
        }
    }
}
impl std::error::Error for AuthError {}

/// The `Proxy-Authorization` value answering the best of `challenges`: Digest SHA-256, then
/// Digest MD5, then Basic. `uri` is the CONNECT authority; `cnonce` fresh random text (used
/// by Digest only); `nc` the nonce count (1 for a fresh nonce).
pub fn authorization(
    challenges: &[Challenge],
    creds: &Credentials,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, AuthError> {
    let digests: Vec<&Challenge> = challenges
        .iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case("digest"))
        .collect();
    let algo = |c: &Challenge| {
        c.param("algorithm")
            .unwrap_or("MD5")
            .to_ascii_uppercase()
            .replace("-SESS", "")
    };
    let pick = digests
        .iter()
        .find(|c| algo(c) == "SHA-256")
        .or_else(|| digests.iter().find(|c| algo(c) == "MD5"));
    if let Some(c) = pick {
        return digest(c, creds, method, uri, cnonce, nc);
    }
    if let Some(c) = digests.first() {
        return Err(AuthError::BadDigest(format!(
            "algorithm {} not supported",
            c.param("algorithm").unwrap_or("?")
        )));
    }
    if challenges
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
    {
        let mut raw = creds.user.as_bytes().to_vec();
        raw.push(b':');
        raw.extend_from_slice(creds.password.expose());
        let out = format!("Basic {}", base64(&raw));
        raw.iter_mut().for_each(|b| *b = 0);
        return Ok(out);
    }
    Err(AuthError::Unsupported(
        challenges.iter().map(|c| c.scheme.clone()).collect(),
    ))
}

fn hash_hex(sha256: bool, parts: &[&[u8]]) -> String {
    let bytes: Vec<u8> = if sha256 {
        let mut h = Sha256::new();
        parts.iter().for_each(|p| h.update(p));
        h.finalize().to_vec()
    } else {
        let mut h = Md5::new();
        parts.iter().for_each(|p| h.update(p));
        h.finalize().to_vec()
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(
    c: &Challenge,
    creds: &Credentials,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, AuthError> {
    let algorithm = c.param("algorithm").unwrap_or("MD5").to_string();
    let upper = algorithm.to_ascii_uppercase();
    let sha = upper.starts_with("SHA-256");
    let sess = upper.ends_with("-SESS");
    let realm = c.param("realm").unwrap_or("");
    let nonce = c
        .param("nonce")
        .ok_or_else(|| AuthError::BadDigest("no nonce".into()))?;
    let qop = match c.param("qop") {
        None => None,
        Some(q) if q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth")) => Some("auth"),
        Some(q) => return Err(AuthError::BadDigest(format!("qop {q:?} (only auth)"))),
    };
    let mut ha1 = hash_hex(
        sha,
        &[
            creds.user.as_bytes(),
            b":",
            realm.as_bytes(),
            b":",
            creds.password.expose(),
        ],
    );
    if sess {
        ha1 = hash_hex(
            sha,
            &[
                ha1.as_bytes(),
                b":",
                nonce.as_bytes(),
                b":",
                cnonce.as_bytes(),
            ],
        );
    }
    let ha2 = hash_hex(sha, &[method.as_bytes(), b":", uri.as_bytes()]);
    let nc = format!("{nc:08x}");
    let response = match qop {
        Some(q) => hash_hex(
            sha,
            &[
                ha1.as_bytes(),
                b":",
                nonce.as_bytes(),
                b":",
                nc.as_bytes(),
                b":",
                cnonce.as_bytes(),
                b":",
                q.as_bytes(),
                b":",
                ha2.as_bytes(),
            ],
        ),
        None => hash_hex(
            sha,
            &[ha1.as_bytes(), b":", nonce.as_bytes(), b":", ha2.as_bytes()],
        ),
    };
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", uri=\"{}\", algorithm={algorithm}, nonce=\"{}\"",
        q(&creds.user),
        q(realm),
        q(uri),
        q(nonce)
    );
    if let Some(qop) = qop {
        out.push_str(&format!(", nc={nc}, cnonce=\"{}\", qop={qop}", q(cnonce)));
    }
    out.push_str(&format!(", response=\"{response}\""));
    if let Some(o) = c.param("opaque") {
        out.push_str(&format!(", opaque=\"{}\"", q(o)));
    }
    Ok(out)
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if ch.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if ch.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Whether `host` bypasses the proxy under a `no_proxy` value: comma-separated entries, each
/// `*` (everything), an exact host, or a domain suffix (`example.com` and `.example.com` both
/// match `example.com` and `a.example.com`). An entry's `:port` must equal `port`.
pub fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).any(|e| {
        if e.is_empty() {
            return false;
        }
        if e == "*" {
            return true;
        }
        // an entry may carry a port; bare IPv6 entries have several colons and no port
        let (name, p) = match e.rsplit_once(':') {
            Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, p.parse::<u16>().ok()),
            _ => (e, None),
        };
        if p.is_some_and(|p| p != port) {
            return false;
        }
        let name = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            user: u.into(),
            password: Secret::from(p.to_string()),
        }
    }

    #[test]
    fn connect_request_bytes() {
        let r = connect_request("vpn.example.com:8443", None);
        assert_eq!(
            String::from_utf8(r).unwrap(),
            format!(
                "CONNECT vpn.example.com:8443 HTTP/1.1\r\nHost: vpn.example.com:8443\r\n\
                 Proxy-Connection: Keep-Alive\r\nUser-Agent: sstp-rs/{}\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let r = connect_request("[2001:db8::1]:443", Some("Basic YTpi"));
        let s = String::from_utf8(r).unwrap();
        assert!(s.starts_with("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"));
        assert!(s.ends_with("Proxy-Authorization: Basic YTpi\r\n\r\n"));
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn basic_rfc7617() {
        let c = parse_challenges("Basic realm=\"WallyWorld\"");
        let a = authorization(
            &c,
            &creds("Aladdin", "open sesame"),
            "CONNECT",
            "x:1",
            "n",
            1,
        );
        assert_eq!(a.unwrap(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    const RFC7616_SHA256: &str = "Digest realm=\"http-auth@example.org\", \
        qop=\"auth, auth-int\", algorithm=SHA-256, \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const RFC7616_MD5: &str = "Digest realm=\"http-auth@example.org\", \
        qop=\"auth, auth-int\", algorithm=MD5, \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    /// RFC 7616 §3.9.1: both responses, and SHA-256 preferred when both are offered.
    #[test]
    fn digest_rfc7616_example() {
        let c = creds("Mufasa", "Circle of Life");
        let md5 = authorization(
            &parse_challenges(RFC7616_MD5),
            &c,
            "GET",
            "/dir/index.html",
            CNONCE,
            1,
        )
        .unwrap();
        assert!(
            md5.contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""),
            "{md5}"
        );
        let both = format!("{RFC7616_MD5}, {RFC7616_SHA256}");
        let chs = parse_challenges(&both);
        assert_eq!(chs.len(), 2);
        let sha = authorization(&chs, &c, "GET", "/dir/index.html", CNONCE, 1).unwrap();
        assert_eq!(
            sha,
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
             uri=\"/dir/index.html\", algorithm=SHA-256, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
    }

    #[test]
    fn digest_is_preferred_and_unknown_schemes_refused() {
        let chs = parse_challenges("Negotiate, Basic realm=\"x\"");
        assert_eq!(chs.len(), 2);
        assert_eq!(chs[1].param("realm"), Some("x"));
        let c = creds("u", "p");
        assert!(authorization(&chs, &c, "CONNECT", "h:1", "cn", 1)
            .unwrap()
            .starts_with("Basic "));
        let e = authorization(
            &parse_challenges("Negotiate, NTLM"),
            &c,
            "CONNECT",
            "h:1",
            "cn",
            1,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the proxy asks for authentication by Negotiate, NTLM (supported: Basic, Digest)"
        );
        let mut chs = parse_challenges("Basic realm=\"x\"");
        chs.extend(parse_challenges(
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth\"",
        ));
        assert!(authorization(&chs, &c, "CONNECT", "h:1", "cn", 1)
            .unwrap()
            .starts_with("Digest username=\"u\", realm=\"r\", uri=\"h:1\", algorithm=MD5"));
        // no qop: RFC 2069 form
        let a = authorization(
            &parse_challenges("Digest realm=\"r\", nonce=\"n\""),
            &c,
            "CONNECT",
            "h:1",
            "cn",
            1,
        )
        .unwrap();
        assert!(!a.contains("qop"));
        assert!(matches!(
            authorization(
                &parse_challenges("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"),
                &c,
                "CONNECT",
                "h:1",
                "cn",
                1
            ),
            Err(AuthError::BadDigest(_))
        ));
    }

    #[test]
    fn response_407_with_two_challenge_headers() {
        let b = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
            Server: squid\r\n\
            Proxy-Authenticate: Basic realm=\"Squid\"\r\n\
            Proxy-Authenticate: Digest realm=\"sq\", nonce=\"abc\", qop=\"auth\", stale=false\r\n\
            Content-Length: 5\r\n\
            Connection: keep-alive\r\n\r\nhello";
        let (r, n) = parse_response(b).unwrap().unwrap();
        assert_eq!(r.status, 407);
        assert_eq!(r.challenges.len(), 2);
        assert_eq!(r.challenges[1].param("nonce"), Some("abc"));
        assert_eq!(r.challenges[1].param("stale"), Some("false"));
        assert_eq!(r.reusable(), Some(5));
        assert_eq!(&b[n..], b"hello");
        for i in 0..n {
            assert_eq!(parse_response(&b[..i]), Ok(None), "prefix {i}");
        }
        let (r, _) = parse_response(b"HTTP/1.1 407 x\r\nProxy-Connection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(r.closes);
        let (r, _) = parse_response(b"HTTP/1.0 200 Connection established\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(matches!(
            parse_response(b"SSH-2.0-x\r\n"),
            Err(ProxyError::Malformed(_))
        ));
        let long = [b"HTTP/1.1 200 OK\r\nX: ".to_vec(), vec![b'a'; MAX_HEAD]].concat();
        assert_eq!(parse_response(&long), Err(ProxyError::TooLong));
    }

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "anything", 443));
        assert!(no_proxy_matches("example.com", "example.com", 443));
        assert!(no_proxy_matches("example.com", "vpn.Example.com", 443));
        assert!(no_proxy_matches(".example.com", "vpn.example.com", 443));
        assert!(no_proxy_matches(
            "localhost, .example.com",
            "example.com.",
            443
        ));
        assert!(!no_proxy_matches("example.com", "badexample.com", 443));
        assert!(!no_proxy_matches("other.org", "vpn.example.com", 443));
        assert!(no_proxy_matches("vpn:8443", "vpn", 8443));
        assert!(!no_proxy_matches("vpn:8443", "vpn", 443));
        assert!(no_proxy_matches("10.0.0.1", "10.0.0.1", 443));
        assert!(no_proxy_matches("::1", "[::1]", 443));
        assert!(!no_proxy_matches("", "vpn", 443));
    }
}
