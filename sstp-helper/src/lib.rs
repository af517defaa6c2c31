//! `sstp-helper`: the I/O shell around `sstp-proto`. TLS (openssl), the HTTP and SSTP exchange,
//! the pty to a stock pppd, and the Unix socket to our pppd plugin.
//!
//! # Layout
//! - [`cli`]: the command line.
//! - [`diagnose`]: `sstp-helper diagnose SERVER`, the step-by-step check.
//! - [`run`]: one connection: TCP, TLS, then one loop feeding the sans-IO client.
//! - [`tls`]: openssl connector and the certificate checks.
//! - [`pppd`], [`pty`]: starting pppd on a pty.
//! - [`plugin_link`]: the socket the pppd plugin talks to.
//! - [`proxy`]: the HTTP proxy (CONNECT, 407 and its credentials).
//! - [`password`]: where the password comes from.
//! - [`error`]: errors and exit codes.

pub mod cli;
pub mod diagnose;
pub mod error;
pub mod password;
pub mod plugin_link;
pub mod pppd;
pub mod proxy;
pub mod pty;
pub mod route;
pub mod run;
pub mod tls;
