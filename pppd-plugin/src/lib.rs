//! pppd plugin for the sstp-rs client (`libsstp_rs_pppd.so`).
//!
//! `sstp-helper` runs a stock pppd on a pty with `plugin libsstp_rs_pppd.so sstp-socket PATH`.
//! The plugin gives pppd the password from the helper (PAP/CHAP/MS-CHAP hooks), hands the
//! MPPE keys to the helper when authentication is done and waits until the helper has sent the
//! SSTP crypto binding, then reports the IPCP/IPv6CP results. Messages: [`sstp_proto::ipc`].
//!
//! No logic lives here: the unsafe pppd interface is in `ffi` (the only module allowed to use
//! `unsafe`), the helper conversation in [`relay`].

#![deny(unsafe_code)]

// Not in unit tests: the test executable has no pppd to resolve the plugin's imports against.
#[cfg(not(test))]
mod ffi;
pub mod relay;
