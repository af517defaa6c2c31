//! In-repo SSTP test server (fault injection now, a benchmark later) built on sstp-proto.
//!
//! [`TestServer::start`] listens on loopback with TLS (openssl), answers the
//! `SSTP_DUPLEX_POST` exchange and speaks the server side of SSTP, scripted by a [`Mode`]. The
//! [`ServerHandle`] records what the client sent ([`ServerHandle::client_messages`]) and can
//! check a Call Connected's Compound MAC for a given HLAK. [`certs`] makes the certificates.
//!
//! ```no_run
//! use sstp_tests::{certs::{LeafKind, ServerCert}, Mode, TestServer};
//! let cert = ServerCert::generate(LeafKind::Good);
//! let (addr, handle) = TestServer::start(Mode::Nak(4), &cert);
//! // ... run a client against `addr` ...
//! for m in handle.client_messages() {
//!     println!("{} {:?}", m.msg_type, m.status());
//! }
//! ```

pub mod bench;
pub mod certs;
pub mod server;
pub mod standin;

pub use server::{
    verify_call_connected, BenchStats, ClientMessage, Mode, ServerHandle, TestServer,
};
