//! The outer TLS layer of the SSTP client ([MS-SSTP] §3.2.4.1).
//!
//! [`connect`] runs the TLS handshake over an already connected TCP stream and
//! authenticates the server. The policy, secure by default (sstpc checks
//! neither SANs nor the EKU, and in default runs not even the host name):
//!
//! * **Chain.** Verified by OpenSSL during the handshake against the system
//!   store (`set_default_verify_paths`) or, when [`TlsOptions::ca_cert`] is
//!   set, against *only* the certificates in that PEM file. A failure aborts
//!   the handshake and is reported by its X509 verify code ([`TlsError::Expired`],
//!   [`TlsError::UnknownCa`], ...).
//! * **Name** (checked by us after the handshake, so the error can list the
//!   certificate's names). A host name is matched against the DNS SANs, an IP
//!   literal against the IP SANs; the subject CN is used only when the
//!   certificate has no DNS and no IP SAN at all. Matching is ASCII
//!   case-insensitive and ignores one trailing dot. Wildcards follow RFC 6125
//!   §6.4.3 in its strict form: only a left-most label that is exactly `*`,
//!   followed by at least two labels; it matches exactly one non-empty label
//!   (`*.example.com` matches `a.example.com`, not `example.com` and not
//!   `a.b.example.com`). Partial-label wildcards (`f*.example.com`) never match.
//! * **EKU** (checked by us after the handshake; MS-SSTP: MUST). A certificate
//!   whose Extended Key Usage extension lists neither `id-kp-serverAuth` nor
//!   `anyExtendedKeyUsage` is rejected with [`TlsError::MissingEku`]. A
//!   certificate *without* an EKU extension is accepted: RFC 5280 §4.2.1.12
//!   says the absence of the extension means the key is not restricted. (OpenSSL
//!   itself would reject an `anyExtendedKeyUsage`-only leaf with "unsupported
//!   certificate purpose"; we let that one error through the verify callback and
//!   decide ourselves.)
//! * **Pin** ([`TlsOptions::pin_sha256`], SHA-256 over the leaf DER). A mismatch
//!   is always fatal ([`TlsError::PinMismatch`]), even when the chain verifies.
//!   - Pin *without* `ca_cert`: the pin replaces CA trust, like an ssh known
//!     host key. Chain errors (self-signed, unknown CA, expired, ...) and the
//!     name check are not enforced (they are logged at debug level); the EKU is
//!     still checked. `accepted_for` is `"(pinned)"`.
//!   - Pin *and* `ca_cert`: everything must pass: chain against the CA file,
//!     name, EKU and pin. `accepted_for` is the matching name.
//! * **Insecure** ([`TlsOptions::insecure`]): no chain, name, EKU or pin check;
//!   a `warn!` line says so. `accepted_for` is `"(insecure)"`.
//!
//! Only debug lines are logged here (plus the insecure warning); the caller
//! logs the one-line summary from [`PeerInfo`].

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use log::{debug, warn};
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::ssl::{
    ErrorCode, NameType, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslRef,
    SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{
    X509ExtendedKeyUsage, X509KeyUsage, X509NameRef, X509Ref, X509StoreContextRef, X509,
};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

/// A TLS protocol version for [`TlsOptions::min_version`] / [`TlsOptions::max_version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2
    Tls12,
    /// TLS 1.3
    Tls13,
}

impl From<TlsVersion> for SslVersion {
    fn from(v: TlsVersion) -> SslVersion {
        match v {
            TlsVersion::Tls12 => SslVersion::TLS1_2,
            TlsVersion::Tls13 => SslVersion::TLS1_3,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        })
    }
}

/// How to set up TLS and authenticate the server. See the module documentation
/// for the exact policy.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// PEM file with one or more CA certificates. When set, these are the
    /// *only* trust anchors (the system store is not used).
    pub ca_cert: Option<PathBuf>,
    /// SHA-256 of the server's leaf certificate (DER). A mismatch is fatal even
    /// if the chain verifies. Without `ca_cert` a match replaces CA trust and
    /// the name check (self-signed certificates work); with `ca_cert` both the
    /// chain and the pin must pass.
    pub pin_sha256: Option<[u8; 32]>,
    /// Skip the chain, name, EKU and pin checks (logs a warning).
    pub insecure: bool,
    /// Send SNI (never for an IP literal host).
    pub sni: bool,
    /// Append NSS key-log lines (SSLKEYLOGFILE format) to this file, created
    /// with mode 0600. If the file cannot be opened, a warning is logged and
    /// the connection goes ahead without key logging.
    pub keylog: Option<PathBuf>,
    /// Lowest TLS version offered; `None` means TLS 1.2.
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version offered; `None` means the newest OpenSSL supports.
    pub max_version: Option<TlsVersion>,
    /// OpenSSL cipher string. Colon-separated elements starting with `TLS_`
    /// (TLS 1.3 suite names such as `TLS_AES_256_GCM_SHA384`) go to
    /// `set_ciphersuites` (TLS 1.3), all others to `set_cipher_list` (TLS <= 1.2).
    /// If only one kind is given, the other protocol keeps OpenSSL's defaults.
    pub ciphers: Option<String>,
}

impl Default for TlsOptions {
    /// Secure defaults: system trust store, SNI on, TLS 1.2 minimum.
    fn default() -> Self {
        TlsOptions {
            ca_cert: None,
            pin_sha256: None,
            insecure: false,
            sni: true,
            keylog: None,
            min_version: None,
            max_version: None,
            ciphers: None,
        }
    }
}

/// What was negotiated and whom we talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Protocol version as OpenSSL names it, e.g. `"TLSv1.3"`.
    pub version: String,
    /// Cipher (OpenSSL name; for TLS 1.3 this is the RFC name, e.g. `"TLS_AES_256_GCM_SHA384"`).
    pub cipher: String,
    /// The server's leaf certificate, DER.
    pub leaf_der: Vec<u8>,
    /// SHA-1 over `leaf_der` (SSTP crypto binding, CERT_HASH_PROTOCOL_SHA1).
    pub cert_sha1: [u8; 20],
    /// SHA-256 over `leaf_der` (SSTP crypto binding, CERT_HASH_PROTOCOL_SHA256; also the pin).
    pub cert_sha256: [u8; 32],
    /// Leaf subject on one line, e.g. `"CN=vpn.example.com, O=Example"`.
    pub subject: String,
    /// DNS SANs and IP SANs (in certificate order), then the subject CN(s); no duplicates.
    pub names: Vec<String>,
    /// The certificate name that matched the host, or `"(pinned)"` / `"(insecure)"`.
    pub accepted_for: String,
}

/// Coarse error class, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsClass {
    /// The server's certificate was not accepted.
    Certificate,
    /// The TLS handshake failed for a protocol reason (alert, version, cipher).
    Handshake,
    /// The TCP connection failed during the handshake.
    Io,
    /// The local TLS options are unusable (unreadable --ca-cert, bad cipher list, ...).
    Config,
}

/// Why [`connect`] failed. `Display` is one line meant for the user.
#[derive(Debug)]
pub enum TlsError {
    /// The certificate's notAfter is in the past (X509_V_ERR_CERT_HAS_EXPIRED).
    Expired {
        /// notAfter as OpenSSL prints it, e.g. `"Jan  2 03:04:05 2024 GMT"`.
        not_after: String,
    },
    /// The certificate's notBefore is in the future (X509_V_ERR_CERT_NOT_YET_VALID).
    NotYetValid {
        /// notBefore as OpenSSL prints it.
        not_before: String,
    },
    /// The chain does not lead to a trusted CA (X509 verify codes 19, 20, 21, 2).
    UnknownCa {
        /// Subject of the server's leaf certificate (one line).
        subject: String,
        /// Issuer that could not be found / is not trusted (one line).
        issuer: String,
    },
    /// The server's certificate is self-signed and not trusted (code 18).
    SelfSigned,
    /// No certificate name matches the host.
    NameMismatch {
        /// The host as the user gave it.
        host: String,
        /// The names that were checked (SANs, or the CN when there are none).
        names: Vec<String>,
    },
    /// The certificate's EKU has neither serverAuth nor anyExtendedKeyUsage.
    MissingEku,
    /// The leaf's SHA-256 differs from the pinned one (lower-case hex, no colons).
    PinMismatch {
        /// The pin from the options.
        expected_hex: String,
        /// The SHA-256 of the certificate the server sent.
        got_hex: String,
    },
    /// Any other X509 verification failure, with OpenSSL's text.
    OtherVerify(String),
    /// The handshake failed for a protocol reason; the text says which.
    Handshake(String),
    /// The connection failed during the handshake (reset, EOF, ...).
    Io(io::Error),
    /// The options could not be applied (file unreadable, bad cipher list, ...).
    Config(String),
}

impl TlsError {
    /// The error class, for exit codes.
    pub fn class(&self) -> TlsClass {
        match self {
            TlsError::Expired { .. }
            | TlsError::NotYetValid { .. }
            | TlsError::UnknownCa { .. }
            | TlsError::SelfSigned
            | TlsError::NameMismatch { .. }
            | TlsError::MissingEku
            | TlsError::PinMismatch { .. }
            | TlsError::OtherVerify(_) => TlsClass::Certificate,
            TlsError::Handshake(_) => TlsClass::Handshake,
            TlsError::Io(_) => TlsClass::Io,
            TlsError::Config(_) => TlsClass::Config,
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Expired { not_after } => write!(
                f,
                "the server certificate has expired (not valid after {not_after})"
            ),
            TlsError::NotYetValid { not_before } => write!(
                f,
                "the server certificate is not yet valid (not before {not_before}); check the clock"
            ),
            TlsError::UnknownCa { subject, issuer } => write!(
                f,
                "certificate for {subject} is signed by an unknown authority (issuer {issuer}); \
                 pass --ca-cert or --cert-sha256"
            ),
            TlsError::SelfSigned => f.write_str(
                "the server certificate is self-signed and not trusted; \
                 pass --ca-cert or --cert-sha256",
            ),
            TlsError::NameMismatch { host, names } => {
                if names.is_empty() {
                    write!(
                        f,
                        "certificate names no host at all (no SAN, no CN), not {host}"
                    )
                } else {
                    write!(f, "certificate is for {}, not {host}", names.join(", "))
                }
            }
            TlsError::MissingEku => f.write_str(
                "the server certificate is not meant for TLS servers: its extended key usage \
                 has neither serverAuth nor anyExtendedKeyUsage",
            ),
            TlsError::PinMismatch {
                expected_hex,
                got_hex,
            } => write!(
                f,
                "server certificate SHA-256 {got_hex} does not match the pinned --cert-sha256 \
                 {expected_hex}"
            ),
            TlsError::OtherVerify(s) => write!(f, "server certificate verification failed: {s}"),
            TlsError::Handshake(s) => write!(f, "TLS handshake failed: {s}"),
            TlsError::Io(e) => match e.kind() {
                io::ErrorKind::ConnectionReset => {
                    f.write_str("connection reset during the TLS handshake")
                }
                io::ErrorKind::UnexpectedEof => {
                    f.write_str("the server closed the connection during the TLS handshake")
                }
                _ => write!(f, "I/O error during the TLS handshake: {e}"),
            },
            TlsError::Config(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Lower-case hex without separators (the form used in [`TlsError::PinMismatch`]).
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses a SHA-256 fingerprint: 64 hex digits, either case, optionally
/// separated by `:` (as `openssl x509 -fingerprint -sha256` prints it).
pub fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let digits: Vec<u8> = s
        .trim()
        .bytes()
        .filter(|&c| c != b':')
        .map(|c| (c as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        out[i] = pair[0] << 4 | pair[1];
    }
    Some(out)
}

// X509 verify result codes (openssl/x509_vfy.h), stable across OpenSSL versions.
const X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
const X509_V_ERR_CERT_NOT_YET_VALID: i32 = 9;
const X509_V_ERR_CERT_HAS_EXPIRED: i32 = 10;
const X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: i32 = 18;
const X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: i32 = 19;
const X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
const X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
const X509_V_ERR_INVALID_PURPOSE: i32 = 26;

/// The first verification error seen by the verify callback.
#[derive(Debug, Clone)]
struct VerifyFailure {
    code: i32,
    depth: u32,
    text: String,
    /// Subject of the leaf (chain[0]) if known, else of the failing cert.
    leaf_subject: String,
    /// Subject / issuer / validity of the certificate at the failing depth.
    subject: String,
    issuer: String,
    not_before: String,
    not_after: String,
}

impl VerifyFailure {
    fn into_error(self) -> TlsError {
        match self.code {
            X509_V_ERR_CERT_HAS_EXPIRED => TlsError::Expired {
                not_after: self.not_after,
            },
            X509_V_ERR_CERT_NOT_YET_VALID => TlsError::NotYetValid {
                not_before: self.not_before,
            },
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT => TlsError::SelfSigned,
            X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
            | X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
            | X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
            | X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE => TlsError::UnknownCa {
                subject: self.leaf_subject,
                // For "self-signed certificate in chain" the failing cert is the
                // untrusted root itself; its subject is the issuer we could not trust.
                issuer: if self.code == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN {
                    self.subject
                } else {
                    self.issuer
                },
            },
            _ => TlsError::OtherVerify(if self.depth == 0 {
                format!("{} (certificate {})", self.text, self.subject)
            } else {
                format!(
                    "{} (certificate {} at chain depth {})",
                    self.text, self.subject, self.depth
                )
            }),
        }
    }
}

/// One-line form of an X509 name: `CN=a, O=b`.
fn name_line(name: &X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|e| {
            let key = e
                .object()
                .nid()
                .short_name()
                .map(str::to_owned)
                .unwrap_or_else(|_| e.object().to_string());
            let val = e.data().to_string().unwrap_or_else(|_| "?".to_owned());
            format!("{key}={val}")
        })
        .collect();
    if parts.is_empty() {
        "(empty subject)".to_owned()
    } else {
        parts.join(", ")
    }
}

fn common_names(cert: &X509Ref) -> Vec<String> {
    cert.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .filter_map(|e| e.data().to_string().ok())
        .collect()
}

/// DNS SANs and IP SANs, in certificate order.
fn san_names(cert: &X509Ref) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Some(sans) = cert.subject_alt_names() {
        for gn in &sans {
            if let Some(d) = gn.dnsname() {
                dns.push(d.to_owned());
            } else if let Some(ip) = gn.ipaddress() {
                if let Ok(b) = <[u8; 4]>::try_from(ip) {
                    ips.push(IpAddr::V4(Ipv4Addr::from(b)));
                } else if let Ok(b) = <[u8; 16]>::try_from(ip) {
                    ips.push(IpAddr::V6(Ipv6Addr::from(b)));
                }
            }
        }
    }
    (dns, ips)
}

fn all_names(cert: &X509Ref) -> Vec<String> {
    let (dns, ips) = san_names(cert);
    let mut out: Vec<String> = Vec::new();
    for n in dns
        .into_iter()
        .chain(ips.iter().map(IpAddr::to_string))
        .chain(common_names(cert))
    {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn normalize_dns(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase()
}

/// RFC 6125 matching of a presented DNS identifier (possibly `*.rest`)
/// against a reference host name. See the module docs for the rules.
pub fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = normalize_dns(pattern);
    let host = normalize_dns(host);
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    // Only LDH characters (plus `_`, seen in the wild, and the wildcard): a
    // name with an embedded NUL, space or other byte never matches.
    let ldh = |s: &str, star: bool| {
        s.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.') || (star && c == b'*')
        })
    };
    if !ldh(&pattern, true) || !ldh(&host, false) {
        return false;
    }
    if !pattern.contains('*') {
        return pattern == host;
    }
    let Some(rest) = pattern.strip_prefix("*.") else {
        return false; // partial-label or non-left-most wildcard
    };
    // `rest` must itself be at least two labels and contain no more wildcards.
    if rest.contains('*') || !rest.contains('.') || rest.split('.').any(str::is_empty) {
        return false;
    }
    match host.split_once('.') {
        Some((first, host_rest)) => !first.is_empty() && host_rest == rest,
        None => false,
    }
}

/// Host check. `Ok(name that matched)` or `Err(names that were checked)`.
fn check_name(cert: &X509Ref, host: &str, host_ip: Option<IpAddr>) -> Result<String, Vec<String>> {
    let (dns, ips) = san_names(cert);
    if dns.is_empty() && ips.is_empty() {
        // Legacy fallback: subject CN, only without any DNS/IP SAN (RFC 6125 §6.4.4).
        let cns = common_names(cert);
        let hit = cns.iter().find(|cn| match host_ip {
            Some(ip) => cn.trim().parse::<IpAddr>().ok() == Some(ip),
            None => dns_name_matches(cn, host),
        });
        return match hit {
            Some(cn) => Ok(cn.clone()),
            None => Err(cns),
        };
    }
    let hit = match host_ip {
        Some(ip) => ips.iter().find(|&&a| a == ip).map(IpAddr::to_string),
        None => dns.iter().find(|d| dns_name_matches(d, host)).cloned(),
    };
    hit.ok_or_else(|| {
        dns.into_iter()
            .chain(ips.iter().map(IpAddr::to_string))
            .collect()
    })
}

/// EKU check (MS-SSTP §3.2.4.1): no EKU extension is fine (RFC 5280: unrestricted).
fn eku_ok(cert: &X509Ref) -> bool {
    match cert.extended_key_usage() {
        None => true,
        Some(eku) => {
            eku.intersects(X509ExtendedKeyUsage::SSL_SERVER | X509ExtendedKeyUsage::ANYEKU)
        }
    }
}

/// Whether the key usage (if present) allows a TLS server key.
fn key_usage_ok(cert: &X509Ref) -> bool {
    match cert.key_usage() {
        None => true,
        Some(ku) => ku.intersects(
            X509KeyUsage::DIGITAL_SIGNATURE
                | X509KeyUsage::KEY_ENCIPHERMENT
                | X509KeyUsage::KEY_AGREEMENT,
        ),
    }
}

fn verify_callback(
    preverify_ok: bool,
    ctx: &mut X509StoreContextRef,
    pin_only: bool,
    slot: &Mutex<Option<VerifyFailure>>,
) -> bool {
    if preverify_ok {
        return true;
    }
    let code = ctx.error().as_raw();
    let depth = ctx.error_depth();
    let cert = ctx.current_cert();
    // OpenSSL's "ssl_server" purpose check rejects a leaf whose EKU lacks
    // serverAuth -- including an anyExtendedKeyUsage-only one, which MS-SSTP
    // accepts. Let that pass here; `eku_ok` decides after the handshake. A
    // purpose failure caused by something else (key usage) still counts.
    if code == X509_V_ERR_INVALID_PURPOSE && depth == 0 {
        if let Some(c) = cert {
            let eku_cause = c
                .extended_key_usage()
                .is_some_and(|e| !e.contains(X509ExtendedKeyUsage::SSL_SERVER));
            if eku_cause && key_usage_ok(c) {
                debug!("TLS: leaf EKU lacks serverAuth; deferring the EKU decision");
                return true;
            }
        }
    }
    let leaf_subject = ctx
        .chain()
        .and_then(|ch| ch.get(0).map(|c| name_line(c.subject_name())))
        .or_else(|| cert.map(|c| name_line(c.subject_name())))
        .unwrap_or_default();
    let failure = VerifyFailure {
        code,
        depth,
        text: ctx.error().error_string().to_owned(),
        leaf_subject,
        subject: cert
            .map(|c| name_line(c.subject_name()))
            .unwrap_or_default(),
        issuer: cert.map(|c| name_line(c.issuer_name())).unwrap_or_default(),
        not_before: cert.map(|c| c.not_before().to_string()).unwrap_or_default(),
        not_after: cert.map(|c| c.not_after().to_string()).unwrap_or_default(),
    };
    debug!(
        "TLS: certificate verify error {code} at depth {depth}: {} ({}){}",
        failure.text,
        failure.subject,
        if pin_only {
            "; not fatal, the pin decides"
        } else {
            ""
        }
    );
    if let Ok(mut guard) = slot.lock() {
        if guard.is_none() {
            *guard = Some(failure);
        }
    }
    pin_only
}

fn config_err(what: &str) -> impl FnOnce(ErrorStack) -> TlsError + '_ {
    move |e| TlsError::Config(format!("{what}: {e}"))
}

fn load_ca_file(path: &Path) -> Result<Vec<X509>, TlsError> {
    let pem = std::fs::read(path)
        .map_err(|e| TlsError::Config(format!("cannot read --ca-cert {}: {e}", path.display())))?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| {
        TlsError::Config(format!(
            "--ca-cert {}: not a PEM certificate file: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(TlsError::Config(format!(
            "--ca-cert {}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

fn set_ciphers(b: &mut SslContextBuilder, list: &str) -> Result<(), TlsError> {
    let (v13, v12): (Vec<&str>, Vec<&str>) = list
        .split(':')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .partition(|s| s.starts_with("TLS_"));
    if !v13.is_empty() {
        let v13 = v13.join(":");
        b.set_ciphersuites(&v13).map_err(config_err(&format!(
            "--ciphers: bad TLS 1.3 cipher suites {v13:?}"
        )))?;
    }
    if !v12.is_empty() {
        let v12 = v12.join(":");
        b.set_cipher_list(&v12).map_err(config_err(&format!(
            "--ciphers: no usable cipher in {v12:?}"
        )))?;
    }
    Ok(())
}

fn open_keylog(path: &Path) -> io::Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn build_context(opts: &TlsOptions) -> Result<SslContext, TlsError> {
    let mut b = SslContext::builder(SslMethod::tls_client())
        .map_err(config_err("cannot create the TLS context"))?;
    // The connection loop keeps unsent bytes in a growing buffer and retries a blocked write
    // from wherever that buffer now lives, taking whatever whole records fit.
    b.set_mode(SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::ENABLE_PARTIAL_WRITE);
    // Read as much as the socket has (whole records and the start of the next) per
    // recvfrom: without it OpenSSL reads each record's 5-byte header and then its body, in
    // pieces as they arrive. strace in the bench, going down: 20334 recvfrom in 2 s before,
    // 1499 after. The loop always calls SSL_read again until it wants the socket, so bytes
    // OpenSSL holds are never left waiting for socket readiness.
    b.set_read_ahead(true);

    let min = opts.min_version.unwrap_or(TlsVersion::Tls12);
    if let Some(max) = opts.max_version {
        if max < min {
            return Err(TlsError::Config(format!(
                "TLS minimum version {min} is newer than the maximum {max}"
            )));
        }
    }
    b.set_min_proto_version(Some(min.into()))
        .map_err(config_err("cannot set the minimum TLS version"))?;
    b.set_max_proto_version(opts.max_version.map(Into::into))
        .map_err(config_err("cannot set the maximum TLS version"))?;

    if let Some(list) = &opts.ciphers {
        set_ciphers(&mut b, list)?;
    }

    if !opts.insecure {
        match &opts.ca_cert {
            Some(path) => {
                let certs = load_ca_file(path)?;
                let mut store =
                    X509StoreBuilder::new().map_err(config_err("cannot create a trust store"))?;
                for c in certs {
                    debug!(
                        "TLS: trusting {} (from {})",
                        name_line(c.subject_name()),
                        path.display()
                    );
                    store
                        .add_cert(c)
                        .map_err(config_err(&format!("--ca-cert {}", path.display())))?;
                }
                b.set_cert_store(store.build());
            }
            None => {
                b.set_default_verify_paths()
                    .map_err(config_err("cannot load the system trust store"))?;
                debug!("TLS: trusting the system certificate store");
            }
        }
    }

    if let Some(path) = &opts.keylog {
        match open_keylog(path) {
            Ok(file) => {
                debug!("TLS: appending key-log lines to {}", path.display());
                let file = Mutex::new(file);
                b.set_keylog_callback(move |_, line| {
                    if let Ok(mut f) = file.lock() {
                        // One write per line so concurrent writers do not interleave.
                        let _ = f.write_all(format!("{line}\n").as_bytes());
                    }
                });
            }
            Err(e) => warn!(
                "SSLKEYLOGFILE {}: cannot open ({e}); TLS keys are not logged",
                path.display()
            ),
        }
    }
    Ok(b.build())
}

/// Turns the reason strings of a failed handshake into one line naming the cause.
fn describe_handshake_failure(reasons: &str, opts: &TlsOptions) -> String {
    let r = reasons.to_ascii_lowercase();
    let versions = allowed_versions(opts);
    let hint = if r.contains("wrong version number")
        || r.contains("packet length too long")
        || r.contains("record layer failure")
    {
        "the server did not answer with TLS (wrong port, or a plain HTTP server?)"
    } else if r.contains("protocol version")
        || r.contains("unsupported protocol")
        || r.contains("no protocols available")
        || r.contains("version too low")
        || r.contains("version too high")
    {
        return format!(
            "no protocol version in common with the server (client allows {versions}){}",
            if reasons.is_empty() {
                String::new()
            } else {
                format!(": {reasons}")
            }
        );
    } else if r.contains("no shared cipher")
        || r.contains("no ciphers available")
        || r.contains("no cipher")
        || r.contains("handshake failure")
    {
        "the server refused the handshake, most likely no cipher suite in common (check --ciphers)"
    } else if r.contains("alert") {
        "the server sent a TLS alert"
    } else {
        "protocol error"
    };
    if reasons.is_empty() {
        hint.to_owned()
    } else {
        format!("{hint}: {reasons}")
    }
}

/// "1.3 only", "1.2 only", "1.2 and 1.3".
fn allowed_versions(opts: &TlsOptions) -> String {
    let min = opts.min_version.unwrap_or(TlsVersion::Tls12);
    let max = opts.max_version.unwrap_or(TlsVersion::Tls13);
    let v = |x: TlsVersion| x.to_string().trim_start_matches("TLS ").to_string();
    if min == max {
        format!("{} only", v(min))
    } else {
        format!("{} to {}", v(min), v(max))
    }
}

fn classify_handshake_error(
    opts: &TlsOptions,
    e: openssl::ssl::Error,
    ssl: &SslRef,
    failure: Option<VerifyFailure>,
    pin_only: bool,
) -> TlsError {
    debug!(
        "TLS: handshake failed: {e}; verify result: {}",
        ssl.verify_result().error_string()
    );
    if let (Some(f), false) = (failure, pin_only) {
        return f.into_error();
    }
    let code = e.code();
    let reasons: Vec<String> = e
        .ssl_error()
        .map(|stack| {
            stack
                .errors()
                .iter()
                .map(|x| {
                    x.reason()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let reasons = reasons.join("; ");
    match e.into_io_error() {
        Ok(io_err) => return TlsError::Io(io_err),
        Err(_) if code == ErrorCode::SYSCALL || code == ErrorCode::ZERO_RETURN => {
            if reasons.is_empty() || reasons.contains("unexpected eof") {
                return TlsError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the TLS handshake",
                ));
            }
        }
        Err(_) => {}
    }
    if reasons.contains("unexpected eof") {
        return TlsError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed during the TLS handshake",
        ));
    }
    TlsError::Handshake(describe_handshake_failure(&reasons, opts))
}

/// Runs the TLS handshake over `tcp` and authenticates the server as
/// `host` (a DNS name or an IP literal, optionally in `[...]`, without port)
/// according to `opts`; see the module documentation for the policy.
///
/// `ctx` comes from [`context`] with the same `opts`; building it is most of the CPU work
/// before the first TLS byte (OpenSSL's start-up, the trust store), so the caller can do it
/// while the TCP connection is still being set up.
pub async fn connect(
    ctx: &SslContext,
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
) -> Result<(SslStream<TcpStream>, PeerInfo), TlsError> {
    match handshake(Some(ctx), tcp, host, opts, false).await? {
        (stream, Some(info)) => Ok((stream, info)),
        (_, None) => Err(TlsError::Handshake("no peer information".to_owned())),
    }
}

/// For `diagnose`: the handshake without any certificate check (nothing is logged as
/// insecure: the caller runs [`inspect`] and sends nothing before it passes).
pub async fn connect_unchecked(
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
) -> Result<SslStream<TcpStream>, TlsError> {
    Ok(handshake(None, tcp, host, opts, true).await?.0)
}

/// The TLS client context for `opts` (versions, ciphers, trust store, key log), for
/// [`connect`].
pub fn context(opts: &TlsOptions) -> Result<SslContext, TlsError> {
    build_context(opts)
}

async fn handshake(
    ctx: Option<&SslContext>,
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
    unchecked: bool,
) -> Result<(SslStream<TcpStream>, Option<PeerInfo>), TlsError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host_ip: Option<IpAddr> = bare.parse().ok();
    let pin_only = opts.pin_sha256.is_some() && opts.ca_cert.is_none() && !opts.insecure;

    let built;
    let ctx = match ctx {
        Some(c) => c,
        None => {
            built = build_context(opts)?;
            &built
        }
    };
    let mut ssl = Ssl::new(ctx).map_err(config_err("cannot create the TLS session"))?;

    let sni_name = normalize_sni(bare);
    if opts.sni && host_ip.is_none() && !sni_name.is_empty() {
        ssl.set_hostname(&sni_name)
            .map_err(config_err(&format!("cannot use {sni_name:?} as SNI name")))?;
        debug!("TLS: sending SNI {sni_name}");
    } else {
        debug!("TLS: not sending SNI");
    }

    let failure: Arc<Mutex<Option<VerifyFailure>>> = Arc::new(Mutex::new(None));
    if unchecked {
        ssl.set_verify(SslVerifyMode::NONE);
    } else if opts.insecure {
        warn!(
            "--insecure: the server certificate is NOT verified; anyone on the path can read \
             and change this connection"
        );
        ssl.set_verify(SslVerifyMode::NONE);
    } else {
        let slot = Arc::clone(&failure);
        ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
            verify_callback(ok, ctx, pin_only, &slot)
        });
    }

    let mut stream =
        SslStream::new(ssl, tcp).map_err(config_err("cannot create the TLS stream"))?;
    if let Err(e) = Pin::new(&mut stream).connect().await {
        let recorded = failure.lock().ok().and_then(|mut g| g.take());
        return Err(classify_handshake_error(
            opts,
            e,
            stream.ssl(),
            recorded,
            pin_only,
        ));
    }
    if unchecked {
        return Ok((stream, None));
    }
    let recorded = failure.lock().ok().and_then(|mut g| g.take());
    let info = check_peer(stream.ssl(), bare, host_ip, opts, pin_only, recorded)?;
    debug!(
        "TLS: {} {} with {} ({}), certificate SHA-256 {}",
        info.version,
        info.cipher,
        info.subject,
        info.names.join(", "),
        hex(&info.cert_sha256)
    );
    Ok((stream, Some(info)))
}

/// One certificate of the chain the server sent, for `diagnose`.
#[derive(Debug, Clone)]
pub struct CertSummary {
    /// Subject, one line.
    pub subject: String,
    /// Issuer, one line.
    pub issuer: String,
    /// notBefore as OpenSSL prints it.
    pub not_before: String,
    /// notAfter as OpenSSL prints it.
    pub not_after: String,
    /// DNS and IP SANs.
    pub sans: Vec<String>,
    /// Extended key usages (`serverAuth`, ...), `None` without the extension.
    pub eku: Option<Vec<String>>,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
}

/// One check of the server certificate: passed (`Some(true)`), failed, or not applied
/// (`None`, with the reason in `detail`).
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// `chain`, `name`, `eku`, `validity`, `pin`.
    pub name: &'static str,
    /// The outcome.
    pub ok: Option<bool>,
    /// One line.
    pub detail: String,
}

/// Everything `diagnose` reports about the TLS session and its certificates.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// `TLSv1.3`, ...
    pub version: String,
    /// Cipher name.
    pub cipher: String,
    /// The chain as sent, leaf first.
    pub chain: Vec<CertSummary>,
    /// The checks, in order chain, validity, name, eku, pin.
    pub checks: Vec<CheckResult>,
    /// Whether the connection would be accepted under the options (the same policy as
    /// [`connect`]).
    pub accepted: bool,
    /// SHA-1 of the leaf (for the crypto binding).
    pub cert_sha1: [u8; 20],
    /// SHA-256 of the leaf.
    pub cert_sha256: [u8; 32],
}

fn eku_names(cert: &X509Ref) -> Option<Vec<String>> {
    let e = cert.extended_key_usage()?;
    let mut v = Vec::new();
    for (flag, name) in [
        (X509ExtendedKeyUsage::SSL_SERVER, "serverAuth"),
        (X509ExtendedKeyUsage::SSL_CLIENT, "clientAuth"),
        (X509ExtendedKeyUsage::SMIME, "emailProtection"),
        (X509ExtendedKeyUsage::CODE_SIGN, "codeSigning"),
        (X509ExtendedKeyUsage::OCSP_SIGN, "OCSPSigning"),
        (X509ExtendedKeyUsage::TIMESTAMP, "timeStamping"),
        (X509ExtendedKeyUsage::ANYEKU, "anyExtendedKeyUsage"),
    ] {
        if e.contains(flag) {
            v.push(name.to_string());
        }
    }
    Some(v)
}

fn summarize(c: &X509Ref) -> CertSummary {
    let (dns, ips) = san_names(c);
    CertSummary {
        subject: name_line(c.subject_name()),
        issuer: name_line(c.issuer_name()),
        not_before: c.not_before().to_string(),
        not_after: c.not_after().to_string(),
        sans: dns
            .into_iter()
            .chain(ips.iter().map(IpAddr::to_string))
            .collect(),
        eku: eku_names(c),
        sha256: c
            .to_der()
            .map(|d| hex(&openssl::sha::sha256(&d)))
            .unwrap_or_default(),
    }
}

/// Check the certificate of an [`connect_unchecked`] session the way [`connect`] would, one
/// check at a time, so that every failure is reported, not only the first.
pub fn inspect(ssl: &SslRef, host: &str, opts: &TlsOptions) -> Result<Inspection, TlsError> {
    use openssl::asn1::Asn1Time;
    use openssl::x509::X509StoreContext;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host_ip: Option<IpAddr> = bare.parse().ok();
    let leaf = ssl
        .peer_certificate()
        .ok_or_else(|| TlsError::Handshake("the server sent no certificate".to_owned()))?;
    let der = leaf
        .to_der()
        .map_err(|e| TlsError::OtherVerify(format!("cannot encode the server certificate: {e}")))?;
    let cert_sha256 = openssl::sha::sha256(&der);
    let cert_sha1 = openssl::sha::sha1(&der);
    let mut chain: Vec<CertSummary> = Vec::new();
    let mut untrusted = openssl::stack::Stack::<X509>::new()
        .map_err(config_err("cannot create a certificate stack"))?;
    match ssl.peer_cert_chain() {
        Some(ch) if !ch.is_empty() => {
            for c in ch {
                chain.push(summarize(c));
                let _ = untrusted.push(c.to_owned());
            }
        }
        _ => chain.push(summarize(&leaf)),
    }
    let pin_only = opts.pin_sha256.is_some() && opts.ca_cert.is_none() && !opts.insecure;
    let mut checks = Vec::new();

    // chain, against the same trust anchors as connect()
    let mut store = X509StoreBuilder::new().map_err(config_err("cannot create a trust store"))?;
    match &opts.ca_cert {
        Some(p) => {
            for c in load_ca_file(p)? {
                store
                    .add_cert(c)
                    .map_err(config_err(&format!("--ca-cert {}", p.display())))?;
            }
        }
        None => store
            .set_default_paths()
            .map_err(config_err("cannot load the system trust store"))?,
    }
    let store = store.build();
    let mut ctx = X509StoreContext::new().map_err(config_err("cannot create a verify context"))?;
    let (chain_ok, chain_err) = ctx
        .init(&store, &leaf, &untrusted, |c| {
            let ok = c.verify_cert()?;
            Ok((ok, c.error().error_string().to_string()))
        })
        .map_err(config_err("certificate verification"))?;
    let anchors = match &opts.ca_cert {
        Some(p) => format!("--ca-cert {}", p.display()),
        None => "the system store".to_string(),
    };
    checks.push(CheckResult {
        name: "chain",
        ok: Some(chain_ok),
        detail: if chain_ok {
            format!("leads to a CA in {anchors}")
        } else {
            format!("{chain_err} (trust anchors: {anchors})")
        },
    });

    let now = Asn1Time::days_from_now(0).map_err(config_err("the current time"))?;
    let started = leaf.not_before() <= now;
    let not_expired = leaf.not_after() >= now;
    checks.push(CheckResult {
        name: "validity",
        ok: Some(started && not_expired),
        detail: if !started {
            format!("not valid before {} (check the clock)", leaf.not_before())
        } else if !not_expired {
            format!("expired {}", leaf.not_after())
        } else {
            format!("{} to {}", leaf.not_before(), leaf.not_after())
        },
    });

    let name = check_name(&leaf, bare, host_ip);
    checks.push(CheckResult {
        name: "name",
        ok: Some(name.is_ok()),
        detail: match &name {
            Ok(n) => format!("{bare} matches {n}"),
            Err(names) if names.is_empty() => format!("no name in the certificate, not {bare}"),
            Err(names) => format!("certificate is for {}, not {bare}", names.join(", ")),
        },
    });

    let eku = eku_ok(&leaf);
    checks.push(CheckResult {
        name: "eku",
        ok: Some(eku),
        detail: match eku_names(&leaf) {
            None => "no EKU extension (unrestricted)".to_string(),
            Some(v) if eku => v.join(", "),
            Some(v) => format!(
                "{} (neither serverAuth nor anyExtendedKeyUsage)",
                if v.is_empty() {
                    "other usages".to_string()
                } else {
                    v.join(", ")
                }
            ),
        },
    });

    let pin = opts.pin_sha256.map(|p| p == cert_sha256);
    checks.push(CheckResult {
        name: "pin",
        ok: pin,
        detail: match (opts.pin_sha256, pin) {
            (None, _) => "no --cert-sha256 given".to_string(),
            (Some(_), Some(true)) => "SHA-256 matches --cert-sha256".to_string(),
            (Some(p), _) => format!(
                "SHA-256 {} is not the pinned {}",
                hex(&cert_sha256),
                hex(&p)
            ),
        },
    });

    let accepted = if opts.insecure {
        true
    } else if pin_only {
        pin == Some(true) && eku
    } else {
        chain_ok && started && not_expired && name.is_ok() && eku && pin != Some(false)
    };
    if pin_only {
        for c in checks.iter_mut() {
            if matches!(c.name, "chain" | "name" | "validity") && c.ok == Some(false) {
                c.detail
                    .push_str(" (not enforced: the pin replaces CA trust)");
            }
        }
    }
    Ok(Inspection {
        version: ssl.version_str().to_owned(),
        cipher: ssl
            .current_cipher()
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| "(none)".to_owned()),
        chain,
        checks,
        accepted,
        cert_sha1,
        cert_sha256,
    })
}

fn normalize_sni(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_owned()
}

/// The post-handshake checks: pin, EKU, name.
fn check_peer(
    ssl: &SslRef,
    host: &str,
    host_ip: Option<IpAddr>,
    opts: &TlsOptions,
    pin_only: bool,
    chain_failure: Option<VerifyFailure>,
) -> Result<PeerInfo, TlsError> {
    let leaf = ssl
        .peer_certificate()
        .ok_or_else(|| TlsError::Handshake("the server sent no certificate".to_owned()))?;
    let leaf_der = leaf
        .to_der()
        .map_err(|e| TlsError::OtherVerify(format!("cannot encode the server certificate: {e}")))?;
    let cert_sha256 = openssl::sha::sha256(&leaf_der);
    let cert_sha1 = openssl::sha::sha1(&leaf_der);
    let mut info = PeerInfo {
        version: ssl.version_str().to_owned(),
        cipher: ssl
            .current_cipher()
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| "(none)".to_owned()),
        leaf_der,
        cert_sha1,
        cert_sha256,
        subject: name_line(leaf.subject_name()),
        names: all_names(&leaf),
        accepted_for: String::new(),
    };
    if let Some(chain) = ssl.peer_cert_chain() {
        for (i, c) in chain.iter().enumerate() {
            debug!(
                "TLS: chain[{i}] {} (issuer {})",
                name_line(c.subject_name()),
                name_line(c.issuer_name())
            );
        }
    }
    if let Some(sni) = ssl.servername(NameType::HOST_NAME) {
        debug!("TLS: SNI was {sni}");
    }

    if opts.insecure {
        info.accepted_for = "(insecure)".to_owned();
        return Ok(info);
    }

    if let Some(pin) = &opts.pin_sha256 {
        if *pin != info.cert_sha256 {
            return Err(TlsError::PinMismatch {
                expected_hex: hex(pin),
                got_hex: hex(&info.cert_sha256),
            });
        }
        debug!("TLS: certificate matches the pinned SHA-256");
    }

    if !eku_ok(&leaf) {
        return Err(TlsError::MissingEku);
    }

    if pin_only {
        if let Some(f) = chain_failure {
            debug!(
                "TLS: chain not trusted ({}), accepted because of the pin",
                f.into_error()
            );
        }
        if let Err(names) = check_name(&leaf, host, host_ip) {
            debug!(
                "TLS: certificate names ({}) do not match {host}; accepted because of the pin",
                names.join(", ")
            );
        }
        info.accepted_for = "(pinned)".to_owned();
        return Ok(info);
    }

    match check_name(&leaf, host, host_ip) {
        Ok(name) => {
            info.accepted_for = name;
            Ok(info)
        }
        Err(names) => Err(TlsError::NameMismatch {
            host: host.to_owned(),
            names,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_rules() {
        assert!(dns_name_matches("vpn.example.com", "VPN.Example.COM"));
        assert!(dns_name_matches("vpn.example.com.", "vpn.example.com"));
        assert!(dns_name_matches("vpn.example.com", "vpn.example.com."));
        assert!(dns_name_matches("*.example.com", "a.example.com"));
        assert!(dns_name_matches("*.Example.com", "A.example.COM"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.example.com", ".example.com"));
        assert!(!dns_name_matches("*.com", "example.com"));
        assert!(!dns_name_matches("*", "example"));
        assert!(!dns_name_matches("f*.example.com", "foo.example.com"));
        assert!(!dns_name_matches("a.*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.example..com", "a.example..com"));
        assert!(!dns_name_matches("", ""));
        assert!(!dns_name_matches(
            "vpn.example.com\0.evil.com",
            "vpn.example.com"
        ));
        assert!(!dns_name_matches("vpn.example.com\0", "vpn.example.com"));
        assert!(!dns_name_matches("vpn example.com", "vpn example.com"));
        assert!(!dns_name_matches("vpn.example.com", "vpn.example.org"));
    }

    #[test]
    fn hex_round_trip() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        let h = hex(&bytes);
        assert_eq!(h.len(), 64);
        assert_eq!(parse_sha256_hex(&h), Some(bytes));
        assert_eq!(parse_sha256_hex(&h.to_uppercase()), Some(bytes));
        let colons: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_sha256_hex(&colons.join(":")), Some(bytes));
        assert_eq!(parse_sha256_hex(&h[..62]), None);
        assert_eq!(parse_sha256_hex(&format!("{}zz", &h[..62])), None);
    }

    #[test]
    fn display_and_class_of_every_variant() {
        let cases: Vec<(TlsError, TlsClass, &[&str])> = vec![
            (
                TlsError::Expired {
                    not_after: "Jan  1 00:00:00 2020 GMT".into(),
                },
                TlsClass::Certificate,
                &["expired", "2020"],
            ),
            (
                TlsError::NotYetValid {
                    not_before: "Jan  1 00:00:00 2099 GMT".into(),
                },
                TlsClass::Certificate,
                &["not yet valid", "2099", "clock"],
            ),
            (
                TlsError::UnknownCa {
                    subject: "CN=vpn".into(),
                    issuer: "CN=Private CA".into(),
                },
                TlsClass::Certificate,
                &[
                    "certificate for CN=vpn",
                    "unknown authority",
                    "issuer CN=Private CA",
                    "--ca-cert",
                    "--cert-sha256",
                ],
            ),
            (
                TlsError::SelfSigned,
                TlsClass::Certificate,
                &["self-signed", "--ca-cert", "--cert-sha256"],
            ),
            (
                TlsError::NameMismatch {
                    host: "vpn.example.com".into(),
                    names: vec!["a.example".into(), "b.example".into()],
                },
                TlsClass::Certificate,
                &["certificate is for a.example, b.example, not vpn.example.com"],
            ),
            (
                TlsError::NameMismatch {
                    host: "vpn.example.com".into(),
                    names: vec![],
                },
                TlsClass::Certificate,
                &["no host", "vpn.example.com"],
            ),
            (
                TlsError::MissingEku,
                TlsClass::Certificate,
                &["serverAuth", "anyExtendedKeyUsage", "key usage"],
            ),
            (
                TlsError::PinMismatch {
                    expected_hex: "aa".repeat(32),
                    got_hex: "bb".repeat(32),
                },
                TlsClass::Certificate,
                &["SHA-256", "does not match", "--cert-sha256", "aaaa", "bbbb"],
            ),
            (
                TlsError::OtherVerify("certificate revoked".into()),
                TlsClass::Certificate,
                &["verification failed", "certificate revoked"],
            ),
            (
                TlsError::Handshake(describe_handshake_failure(
                    "tlsv1 alert protocol version",
                    &TlsOptions::default(),
                )),
                TlsClass::Handshake,
                &["handshake failed", "protocol version", "alert"],
            ),
            (
                TlsError::Handshake(describe_handshake_failure(
                    "sslv3 alert handshake failure",
                    &TlsOptions::default(),
                )),
                TlsClass::Handshake,
                &["handshake failed", "cipher", "handshake failure"],
            ),
            (
                TlsError::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
                TlsClass::Io,
                &["connection reset during the TLS handshake"],
            ),
            (
                TlsError::Io(io::Error::from(io::ErrorKind::UnexpectedEof)),
                TlsClass::Io,
                &["closed the connection", "handshake"],
            ),
            (
                TlsError::Io(io::Error::from(io::ErrorKind::TimedOut)),
                TlsClass::Io,
                &["I/O error", "handshake"],
            ),
            (
                TlsError::Config("cannot read --ca-cert /x: nope".into()),
                TlsClass::Config,
                &["--ca-cert", "/x"],
            ),
        ];
        for (err, class, words) in cases {
            let text = err.to_string();
            assert_eq!(err.class(), class, "{text}");
            assert!(!text.contains('\n'), "one line: {text:?}");
            for w in words {
                assert!(text.contains(w), "{text:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn bad_options_are_config_errors() {
        let opts = TlsOptions {
            min_version: Some(TlsVersion::Tls13),
            max_version: Some(TlsVersion::Tls12),
            ..TlsOptions::default()
        };
        let e = build_context(&opts).unwrap_err();
        assert_eq!(e.class(), TlsClass::Config);
        assert!(e.to_string().contains("TLS 1.3"), "{e}");

        let opts = TlsOptions {
            ciphers: Some("NOT-A-CIPHER".into()),
            ..TlsOptions::default()
        };
        let e = build_context(&opts).unwrap_err();
        assert!(e.to_string().contains("--ciphers"), "{e}");

        let opts = TlsOptions {
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let e = build_context(&opts).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
