//! NetworkManager VPN service for SSTP, a drop-in for network-manager-sstp: the same service
//! name (`org.freedesktop.NetworkManager.sstp`) and the same `vpn.data` / `vpn.secrets` keys,
//! with sstp-helper and a stock pppd underneath.
//!
//! - [`keys`]: every name shared with NM and network-manager-sstp;
//! - [`settings`]: the connection parsed into typed values, mapped to helper/pppd options;
//! - [`machine`]: the pure state machine (NM calls, helper status and exit, timers in;
//!   signals, process control and timers out);
//! - [`dbus`]: the `org.freedesktop.NetworkManager.VPN.Plugin` adapter and the driver;
//! - [`helper`]: running sstp-helper with its password and status pipes;
//! - [`auth_dialog`]: the `nm-sstp-auth-dialog` protocols (external UI and plain);
//! - [`nmlog`]: logging to NM's log or syslog.

pub mod auth_dialog;
pub mod dbus;
pub mod helper;
pub mod keys;
pub mod machine;
pub mod nmlog;
pub mod settings;
