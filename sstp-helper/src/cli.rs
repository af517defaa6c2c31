//! Command line (clap). Keep in sync with `sstp-helper.8`.

use crate::tls::TlsVersion;
use clap::Parser;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Everything after `--` is passed to pppd unchanged (for example: refuse-eap noipdefault
defaultroute usepeerdns). The helper itself always adds: the pty device, nodetach, noauth,
nodeflate, nobsdcomp (no compression inside TLS; `deflate 15` or `bsdcomp 15` turn it back
on), user NAME, and its plugin with the socket it listens on.

The password is never put on a command line: it is read from --password-file, from
--password-fd, or asked for when standard input is a terminal, and handed to pppd through
the plugin.

Exit status:
   0  disconnected on request (SIGINT, SIGTERM, SIGHUP)
   1  internal error
   2  usage error, unreadable password or CA file
   3  the server name could not be resolved
   4  TCP connection failed
   5  TLS handshake failed
   6  server certificate rejected
   7  HTTP exchange failed
   8  SSTP negotiation failed (including a rejected crypto binding)
   9  PPP authentication failed
  10  pppd failed to start or stopped before the link came up
  11  an established connection was lost
  12  the HTTP proxy refused (403, 5xx, authentication failed or not supported)

A proxy comes from --proxy, else from https_proxy/HTTPS_PROXY unless no_proxy/NO_PROXY
(comma-separated: `*`, exact host, or domain suffix, optionally :PORT) names the server.
The proxy password, like the VPN password, is never taken from the command line.

`sstp-helper diagnose SERVER [--json] ...` checks each step (TCP, TLS, certificate, HTTP,
SSTP) without starting PPP; see `sstp-helper diagnose --help`.

Environment: SSLKEYLOGFILE=FILE appends TLS secrets to FILE (for Wireshark);
RUST_LOG overrides --log-level.";

/// SSTP VPN client: TLS, HTTP and SSTP to the server, PPP through a stock pppd.
#[derive(Debug, Parser)]
#[command(name = "sstp-helper", version, about, after_help = AFTER_HELP)]
pub struct Args {
    /// SSTP server: NAME, NAME:PORT, IPv4, or `[IPv6]:PORT` (default port 443).
    #[arg(value_name = "SERVER[:PORT]")]
    pub server: String,

    /// Options passed to pppd, after `--`.
    #[arg(last = true, value_name = "PPPD_OPTIONS")]
    pub pppd_options: Vec<String>,

    /// User name for PPP authentication.
    #[arg(long, short = 'u', env = "SSTP_USER")]
    pub user: Option<String>,

    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "password_fd")]
    pub password_file: Option<PathBuf>,

    /// Read the password from file descriptor N (first line).
    #[arg(long, value_name = "N")]
    pub password_fd: Option<i32>,

    /// Trust only the CA certificates in FILE (PEM) instead of the system store.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Accept only a server certificate whose SHA-256 fingerprint is HEX (colons allowed).
    /// A matching pin is trusted even without a CA.
    #[arg(long, value_name = "HEX")]
    pub cert_sha256: Option<String>,

    /// Do not verify the server certificate at all (insecure; logged as a warning).
    #[arg(long)]
    pub insecure: bool,

    /// Do not send the server name (SNI) in the TLS handshake.
    #[arg(long)]
    pub no_sni: bool,

    /// Name to use for SNI, the HTTP Host header and the certificate check, when SERVER is
    /// an address.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,

    /// The pppd plugin (default: next to this program, else `/usr/lib/pppd/VERSION/sstp-rs-pppd.so`).
    #[arg(long, value_name = "PATH")]
    pub plugin: Option<PathBuf>,

    /// The pppd program.
    #[arg(long, value_name = "PATH", default_value = "/usr/sbin/pppd")]
    pub pppd: PathBuf,

    /// SSTPCORRELATIONID to send (default: a new random GUID).
    #[arg(long, value_name = "GUID")]
    pub uuid: Option<String>,

    /// Log level: error, warn, info, debug, trace.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        env = "SSTP_LOG_LEVEL"
    )]
    pub log_level: log::LevelFilter,

    /// Write status messages (server address, IP configuration) to file descriptor N, for a
    /// supervisor such as the NetworkManager service.
    #[arg(long, value_name = "N")]
    pub status_fd: Option<i32>,

    /// TCP connect timeout in seconds (per address); also bounds the TLS handshake.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub connect_timeout: u64,

    /// Add a host route to the server through the gateway that reaches it now (netlink),
    /// removed on exit, so a default route into the tunnel cannot cut the tunnel itself.
    #[arg(long)]
    pub save_server_route: bool,

    /// After a failure the network or server may fix (unreachable, TLS handshake, HTTP, SSTP,
    /// PPP negotiation, connection lost), connect again: after 1 s, doubling up to
    /// --reconnect-max-delay. Never after a wrong password, a rejected certificate or
    /// crypto binding, or a usage error.
    #[arg(long)]
    pub reconnect: bool,

    /// The longest wait between reconnect attempts, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60,
        requires = "reconnect"
    )]
    pub reconnect_max_delay: u64,

    /// Give up after N failed attempts in a row (0: never).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "reconnect")]
    pub reconnect_attempts: u32,

    /// The HTTP proxy and the TLS bounds, shared with `sstp-helper diagnose`.
    #[command(flatten)]
    pub proxy_tls: ProxyTlsArgs,
}

/// The proxy and TLS options of a connection, flattened into both [`Args`] and
/// [`crate::diagnose::DiagArgs`] so the two commands cannot drift apart in name, value or
/// parsing. The help texts here are the connection's; `diagnose` replaces them with its
/// shorter ones (see its `mut_arg` list), so each `--help` reads as before.
#[derive(Debug, clap::Args)]
pub struct ProxyTlsArgs {
    /// Reach the server through this HTTP proxy (CONNECT): `http://[USER@]HOST[:PORT]`
    /// (port 8080 when absent). `none` ignores https_proxy from the environment.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// User name for the proxy (Basic or Digest authentication).
    #[arg(long, value_name = "NAME")]
    pub proxy_user: Option<String>,

    /// Read the proxy password from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "proxy_password_fd")]
    pub proxy_password_file: Option<PathBuf>,

    /// Read the proxy password from file descriptor N (first line).
    #[arg(long, value_name = "N")]
    pub proxy_password_fd: Option<i32>,

    /// Lowest TLS version to the server: 1.2 (default) or 1.3.
    #[arg(long, value_name = "VERSION", value_parser = parse_tls_version)]
    pub tls_min: Option<TlsVersion>,

    /// Highest TLS version to the server: 1.2 or 1.3 (default: the newest).
    #[arg(long, value_name = "VERSION", value_parser = parse_tls_version)]
    pub tls_max: Option<TlsVersion>,

    /// Ciphers to offer, colon-separated: names starting with TLS_ are TLS 1.3 suites
    /// (e.g. TLS_AES_256_GCM_SHA384), the rest an OpenSSL cipher list for TLS 1.2
    /// (e.g. ECDHE-RSA-AES256-GCM-SHA384). A protocol given no names keeps OpenSSL's defaults.
    #[arg(long, value_name = "LIST")]
    pub ciphers: Option<String>,
}

/// `1.2` or `1.3` (also `TLSv1.2`, `tls1.3`).
pub fn parse_tls_version(s: &str) -> Result<TlsVersion, String> {
    let v = s.to_ascii_lowercase();
    let v = v
        .trim_start_matches("tlsv")
        .trim_start_matches("tls")
        .trim();
    match v {
        "1.2" => Ok(TlsVersion::Tls12),
        "1.3" => Ok(TlsVersion::Tls13),
        _ => Err(format!("{s:?}: TLS version must be 1.2 or 1.3")),
    }
}

/// Split `SERVER[:PORT]` into host and port.
pub fn split_server(s: &str) -> Result<(String, u16), String> {
    let s = s
        .strip_prefix("https://")
        .unwrap_or(s)
        .trim_end_matches('/');
    if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("bad server address {s:?}: missing ']'"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if tail.is_empty() => 443,
            None => return Err(format!("bad server address {s:?}")),
        };
        return Ok((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((h, _)) if h.contains(':') => Ok((s.to_string(), 443)),
        Some((h, p)) => Ok((h.to_string(), parse_port(p)?)),
        None if s.is_empty() => Err("empty server name".into()),
        None => Ok((s.to_string(), 443)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("bad port {p:?}")),
        Ok(n) => Ok(n),
    }
}

/// Parse a SHA-256 fingerprint given as hex, with or without colons.
pub fn parse_pin(s: &str) -> Result<[u8; 32], String> {
    let h: String = s.chars().filter(|c| *c != ':' && *c != ' ').collect();
    if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "--cert-sha256 wants 64 hex digits (a SHA-256 fingerprint), got {} characters",
            h.len()
        ));
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn server_forms() {
        assert_eq!(
            split_server("vpn.example.com").unwrap(),
            ("vpn.example.com".into(), 443)
        );
        assert_eq!(split_server("vpn:8443").unwrap(), ("vpn".into(), 8443));
        assert_eq!(
            split_server("[2001:db8::1]:444").unwrap(),
            ("2001:db8::1".into(), 444)
        );
        assert_eq!(
            split_server("[2001:db8::1]").unwrap(),
            ("2001:db8::1".into(), 443)
        );
        assert_eq!(
            split_server("2001:db8::1").unwrap(),
            ("2001:db8::1".into(), 443)
        );
        assert_eq!(
            split_server("https://vpn.example.com/").unwrap(),
            ("vpn.example.com".into(), 443)
        );
        assert!(split_server("vpn:0").is_err());
        assert!(split_server("vpn:http").is_err());
        assert!(split_server("").is_err());
    }

    #[test]
    fn pins() {
        let p = parse_pin(&"ab:".repeat(31).to_string().add_last()).unwrap();
        assert_eq!(p, [0xab; 32]);
        assert!(parse_pin("abcd").is_err());
    }

    trait AddLast {
        fn add_last(self) -> String;
    }
    impl AddLast for String {
        fn add_last(self) -> String {
            self + "ab"
        }
    }

    #[test]
    fn pppd_options_after_double_dash() {
        let a = Args::try_parse_from([
            "sstp-helper",
            "--user",
            "alice",
            "vpn.example.com",
            "--",
            "refuse-eap",
            "noipdefault",
        ])
        .unwrap();
        assert_eq!(a.server, "vpn.example.com");
        assert_eq!(a.pppd_options, vec!["refuse-eap", "noipdefault"]);
        assert_eq!(a.user.as_deref(), Some("alice"));
        assert_eq!(a.log_level, log::LevelFilter::Info);
    }
}
