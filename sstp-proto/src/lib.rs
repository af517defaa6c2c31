//! Sans-IO MS-SSTP client core.
//!
//! This crate knows nothing of sockets, clocks, TLS libraries, tokio or pppd: every input is
//! bytes plus `now`, every output is bytes to send, frames for pppd, events and a deadline.
//! `#![forbid(unsafe_code)]` and a dependency list of `log`, RustCrypto hashes (MD5 only for proxy Digest) and `zeroize`
//! keep it that way.
//!
//! # Layout
//! - [`wire`]: SSTP packets, control messages and attributes (MS-SSTP §2.2): encoder and total decoder.
//! - [`http`]: the `SSTP_DUPLEX_POST` request and response head (MS-SSTP §3.2.4.1, §4.1).
//! - [`hdlc`]: async-HDLC framing (RFC 1662) for the pty between the helper and pppd.
//! - [`binding`]: crypto binding: HLAK, CMK, Compound MAC (MS-SSTP §3.2.5.2).
//! - [`client`]: the client state machine of MS-SSTP §3.2 with its timers.
//! - [`proxy`]: HTTP proxy CONNECT, its answer, Basic and Digest proxy authentication.
//! - [`ppp`]: read-only PPP frame inspection (which auth method, LCP terminate) for progress lines.
//! - [`ipc`]: the messages between the pppd plugin and the helper.
//! - [`secret`]: redacted, zeroed secret bytes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binding;
pub mod client;
pub mod hdlc;
pub mod http;
pub mod ipc;
pub mod ppp;
pub mod proxy;
pub mod secret;
pub mod wire;
