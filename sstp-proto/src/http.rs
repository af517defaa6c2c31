//! The HTTPS exchange that opens an SSTP connection (MS-SSTP §3.2.4.1, §4.1).

use std::fmt;

/// The fixed resource of every SSTP server.
pub const SSTP_URI: &str = "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/";
/// Largest response head accepted.
pub const MAX_HEAD: usize = 8192;

/// Format 16 random bytes as a GUID string `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` (version 4).
pub fn guid_from_random(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

/// The `SSTP_DUPLEX_POST` request, with the `SSTPVERSION: 1.0` header Windows clients send
/// (MS-SSTP §4.5; some proxies and servers look for it). `host` is the Host header value (name, `[v6]`, with `:port`
/// when not 443); `correlation_id` the GUID.
pub fn request(host: &str, correlation_id: &str) -> Vec<u8> {
    format!(
        "SSTP_DUPLEX_POST {SSTP_URI} HTTP/1.1\r\n\
         Host: {host}\r\n\
         SSTPVERSION: 1.0\r\n\
         Content-Length: 18446744073709551615\r\n\
         SSTPCORRELATIONID: {correlation_id}\r\n\
         \r\n"
    )
    .into_bytes()
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The status line as sent, for error messages.
    pub status_line: String,
    /// Content-Length, if present and numeric.
    pub content_length: Option<u64>,
}

/// Why the response is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The head is longer than [`MAX_HEAD`] without ending.
    TooLong,
    /// Not an HTTP/1.x status line.
    Malformed(String),
    /// A status other than 200.
    Status(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::TooLong => write!(f, "HTTP response head longer than {MAX_HEAD} bytes"),
            HttpError::Malformed(l) => write!(f, "not an HTTP response: {l:?}"),
            HttpError::Status(l) => write!(f, "server answered \"{l}\" instead of 200"),
        }
    }
}
impl std::error::Error for HttpError {}

/// Parse the response head at the front of `buf`.
///
/// `Ok(None)`: need more bytes. `Ok(Some((response, n)))`: the head used `n` bytes; what follows
/// is SSTP. A status other than 200 is an error quoting the status line.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, HttpError> {
    // Reject early what cannot be HTTP, so a server speaking something else fails fast.
    let probe = &buf[..buf.len().min(5)];
    if !b"HTTP/".starts_with(probe) {
        return Err(HttpError::Malformed(printable(&buf[..buf.len().min(40)])));
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(HttpError::TooLong);
        }
        return Ok(None);
    };
    if end + 4 > MAX_HEAD {
        return Err(HttpError::TooLong);
    }
    let head = &buf[..end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = printable(lines.next().unwrap_or_default());
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") || code.len() != 3 {
        return Err(HttpError::Malformed(status_line));
    }
    let Ok(status) = code.parse::<u16>() else {
        return Err(HttpError::Malformed(status_line));
    };
    let mut content_length = None;
    for l in lines {
        let l = printable(l);
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse::<u64>().ok();
            }
        }
    }
    if status != 200 {
        return Err(HttpError::Status(status_line));
    }
    Ok(Some((
        Response {
            status,
            status_line,
            content_length,
        },
        end + 4,
    )))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_exact() {
        let r = request("vpn.example.com", "{6A2F3C9E-0B1D-4E5F-8A7B-1C2D3E4F5A6B}");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\n\
             Host: vpn.example.com\r\n\
             SSTPVERSION: 1.0\r\n\
             Content-Length: 18446744073709551615\r\n\
             SSTPCORRELATIONID: {6A2F3C9E-0B1D-4E5F-8A7B-1C2D3E4F5A6B}\r\n\r\n"
        );
    }

    #[test]
    fn guid_format() {
        let g = guid_from_random([0xab; 16]);
        assert_eq!(g, "{ABABABAB-ABAB-4BAB-ABAB-ABABABABABAB}");
        assert_eq!(g.len(), 38);
    }

    #[test]
    fn ok_response() {
        let b = b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\nContent-Length: 18446744073709551615\r\n\r\n\x10\x01";
        let (r, n) = parse_response(b).unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.content_length, Some(u64::MAX));
        assert_eq!(&b[n..], b"\x10\x01");
    }

    #[test]
    fn incremental() {
        let b = b"HTTP/1.1 200 OK\r\n\r\n";
        for i in 0..b.len() {
            assert_eq!(parse_response(&b[..i]), Ok(None), "prefix {i}");
        }
        assert!(parse_response(b).unwrap().is_some());
    }

    #[test]
    fn errors_quote_status_line() {
        let e = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap_err();
        assert_eq!(e, HttpError::Status("HTTP/1.1 404 Not Found".into()));
        assert!(e.to_string().contains("HTTP/1.1 404 Not Found"));
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        let long = [b"HTTP/1.1 200 OK\r\nX: ".to_vec(), vec![b'a'; MAX_HEAD]].concat();
        assert_eq!(parse_response(&long), Err(HttpError::TooLong));
    }
}
