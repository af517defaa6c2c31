//! The helper's errors: one line a user understands, and an exit code per class.

use std::fmt;

/// Exit codes, documented in `--help` and the man page.
pub mod exit {
    /// Connected, then disconnected on request (signal).
    pub const OK: i32 = 0;
    /// Internal error (a bug, or the system refused a basic operation).
    pub const INTERNAL: i32 = 1;
    /// Bad command line or unreadable option file (clap also uses 2).
    pub const USAGE: i32 = 2;
    /// The server name could not be resolved.
    pub const RESOLVE: i32 = 3;
    /// TCP connection failed (refused, unreachable, timed out).
    pub const CONNECT: i32 = 4;
    /// TLS handshake failed (alert, version or cipher mismatch, reset).
    pub const TLS: i32 = 5;
    /// The server certificate was rejected (expired, unknown CA, name, EKU, pin).
    pub const CERTIFICATE: i32 = 6;
    /// The HTTP exchange failed (status other than 200, no response).
    pub const HTTP: i32 = 7;
    /// SSTP negotiation failed (Nak, abort, timeout, protocol error, binding rejected).
    pub const SSTP: i32 = 8;
    /// PPP authentication failed (wrong user name or password).
    pub const AUTH: i32 = 9;
    /// pppd could not be started or failed before the link came up.
    pub const PPPD: i32 = 10;
    /// An established connection was lost (server disconnect or abort, echo timeout, pppd exit).
    pub const LOST: i32 = 11;
    /// The HTTP proxy refused or failed (403, 5xx, authentication failed or unsupported).
    /// An unreachable proxy is [`CONNECT`].
    pub const PROXY: i32 = 12;
}

/// Everything that ends the helper with an error.
#[derive(Debug)]
pub enum Error {
    /// Bad usage or unreadable input file.
    Usage(String),
    /// DNS.
    Resolve {
        /// Name looked up.
        host: String,
        /// Resolver message.
        why: String,
    },
    /// TCP.
    Connect {
        /// What was tried.
        target: String,
        /// Why it failed.
        why: String,
    },
    /// The HTTP proxy answered CONNECT with something other than success.
    Proxy {
        /// The proxy, `host:port`.
        proxy: String,
        /// What went wrong, one line.
        why: String,
        /// Whether the proxy may fix it by itself (5xx, no answer): `--reconnect` retries.
        retry: bool,
    },
    /// TLS layer.
    Tls(crate::tls::TlsError),
    /// HTTP layer.
    Http(String),
    /// SSTP layer.
    Sstp(String),
    /// The server aborted right after our crypto binding: a relay, or a misconfigured
    /// server. Never retried.
    BindingRejected(String),
    /// Authentication.
    Auth(String),
    /// pppd ran and stopped before the link came up (negotiation failed, peer silent).
    Pppd(String),
    /// pppd could not be started at all (missing program or plugin, bad options).
    PppdStart(String),
    /// Lost after connect.
    Lost(String),
    /// Anything else.
    Internal(String),
}

impl Error {
    /// Exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Resolve { .. } => exit::RESOLVE,
            Error::Connect { .. } => exit::CONNECT,
            Error::Proxy { .. } => exit::PROXY,
            Error::Tls(e) => match e.class() {
                crate::tls::TlsClass::Certificate => exit::CERTIFICATE,
                crate::tls::TlsClass::Handshake | crate::tls::TlsClass::Io => exit::TLS,
                crate::tls::TlsClass::Config => exit::USAGE,
            },
            Error::Http(_) => exit::HTTP,
            Error::Sstp(_) | Error::BindingRejected(_) => exit::SSTP,
            Error::Auth(_) => exit::AUTH,
            Error::Pppd(_) | Error::PppdStart(_) => exit::PPPD,
            Error::Lost(_) => exit::LOST,
            Error::Internal(_) => exit::INTERNAL,
        }
    }
}

impl Error {
    /// Whether `--reconnect` should try again after this: yes for what the network or the
    /// server may fix by itself (resolve, TCP, TLS handshake, HTTP, SSTP, PPP negotiation, a
    /// lost connection); never for a wrong password, a rejected certificate or binding, a
    /// usage error, or pppd that cannot start: retrying those cannot help, and retrying
    /// authentication can lock the account.
    pub fn worth_retrying(&self) -> bool {
        match self {
            Error::Resolve { .. }
            | Error::Connect { .. }
            | Error::Http(_)
            | Error::Sstp(_)
            | Error::Pppd(_)
            | Error::Lost(_) => true,
            Error::Proxy { retry, .. } => *retry,
            Error::Tls(e) => matches!(
                e.class(),
                crate::tls::TlsClass::Handshake | crate::tls::TlsClass::Io
            ),
            Error::Usage(_)
            | Error::Auth(_)
            | Error::BindingRejected(_)
            | Error::PppdStart(_)
            | Error::Internal(_) => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(s) => write!(f, "{s}"),
            Error::Resolve { host, why } => write!(f, "cannot resolve {host}: {why}"),
            Error::Connect { target, why } => write!(f, "cannot connect to {target}: {why}"),
            Error::Proxy { proxy, why, .. } => write!(f, "proxy {proxy}: {why}"),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Http(s) => write!(f, "HTTP: {s}"),
            Error::Sstp(s) | Error::BindingRejected(s) => write!(f, "SSTP: {s}"),
            Error::Auth(s) => write!(f, "authentication failed: {s}"),
            Error::Pppd(s) | Error::PppdStart(s) => write!(f, "{s}"),
            Error::Lost(s) => write!(f, "connection lost: {s}"),
            Error::Internal(s) => write!(f, "internal error: {s}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::tls::TlsError> for Error {
    fn from(e: crate::tls::TlsError) -> Self {
        Error::Tls(e)
    }
}

/// What pppd's exit status means (pppd(8), EXIT STATUS).
pub fn pppd_exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "normal exit",
        1 => "fatal error",
        2 => "error in its options",
        3 => "not run as root",
        4 => "the kernel lacks PPP support (no /dev/ppp)",
        5 => "terminated by a signal",
        6 => "could not lock the serial port",
        7 => "could not open the serial port",
        8 => "the connect script failed",
        9 => "the pty command failed",
        10 => "PPP negotiation failed",
        11 => "the peer failed to authenticate itself",
        12 => "idle timeout",
        13 => "connect time limit reached",
        14 => "callback negotiated",
        15 => "the peer stopped answering LCP echoes",
        16 => "hangup",
        17 => "loopback detected",
        18 => "the init script failed",
        19 => "we failed to authenticate to the peer",
        _ => "unknown exit status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_reconnect_retries() {
        let retried = [
            Error::Resolve {
                host: "h".into(),
                why: "w".into(),
            },
            Error::Connect {
                target: "t".into(),
                why: "w".into(),
            },
            Error::Http("503".into()),
            Error::Sstp("negotiation timeout".into()),
            Error::Pppd("pppd exited with status 10".into()),
            Error::Lost("echo timeout".into()),
        ];
        for e in &retried {
            assert!(e.worth_retrying(), "{e:?}");
        }
        let final_ = [
            Error::Usage("u".into()),
            Error::Auth("wrong password".into()),
            Error::BindingRejected("relay".into()),
            Error::PppdStart("no pppd".into()),
            Error::Internal("bug".into()),
        ];
        for e in &final_ {
            assert!(!e.worth_retrying(), "{e:?}");
        }
        assert_eq!(pppd_exit_meaning(10), "PPP negotiation failed");
        // same exit codes as before the split
        assert_eq!(
            Error::BindingRejected(String::new()).exit_code(),
            exit::SSTP
        );
        assert_eq!(Error::PppdStart(String::new()).exit_code(), exit::PPPD);
        let auth = Error::Proxy {
            proxy: "p:3128".into(),
            why: "proxy authentication failed (wrong proxy user or password?)".into(),
            retry: false,
        };
        assert_eq!(auth.exit_code(), exit::PROXY);
        assert!(!auth.worth_retrying());
        assert_eq!(
            auth.to_string(),
            "proxy p:3128: proxy authentication failed (wrong proxy user or password?)"
        );
    }
}
