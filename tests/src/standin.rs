//! The pppd stand-in (`pppd-standin` binary): what it is told through its environment and what
//! it reports, shared by the binary and the tests that read its report.
//!
//! The helper starts it exactly as it starts pppd (`DEVICE nodetach noauth nodeflate nobsdcomp
//! user U plugin P sstp-socket PATH [options]`), so it is the process the helper's plugin socket accepts
//! (SO_PEERCRED). It then does what pppd with the sstp-rs plugin does, without PPP itself:
//! writes one async-HDLC LCP frame to the pty (the helper holds the server's frames until
//! pppd's first one), asks the helper for the password, hands over MPPE keys (`AuthUp`), waits
//! for `AuthAck`, reports `IpUp`, then behaves as its [`Mode`] says.
//!
//! Environment (nothing secret travels here: the keys are derived from a seed):
//! - [`ENV_DIR`]: directory for `pppd.pid` and the report `standin.log` (required);
//! - [`ENV_MODE`]: a [`Mode`] (default `idle`);
//! - [`ENV_SEED`]: seed for the MPPE keys, see [`keys`] (default 1).
//!
//! The report is one line per event, `EVENT key=value ...`, appended as it happens (so it
//! survives a SIGKILL): `started`, `password`, `auth-ack`, `ip-up`, `stats`, `signal`,
//! `hangup`, `exit`.
//!
//! Exit codes follow pppd(8): 5 after SIGTERM/SIGINT, 16 after SIGHUP or when the pty hangs up,
//! 19 when the helper refuses the password or the keys, 1 for anything else that fails.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Directory for `pppd.pid` and `standin.log`.
pub const ENV_DIR: &str = "SSTP_STANDIN_DIR";
/// The [`Mode`].
pub const ENV_MODE: &str = "SSTP_STANDIN_MODE";
/// Seed of the MPPE keys (a decimal u64).
pub const ENV_SEED: &str = "SSTP_STANDIN_SEED";
/// File (in [`ENV_DIR`]) holding the stand-in's pid.
pub const PID_FILE: &str = "pppd.pid";
/// File (in [`ENV_DIR`]) holding the report.
pub const LOG_FILE: &str = "standin.log";

/// What the stand-in does once IP is up (or how far it gets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Full start-up, then wait for a signal (or the pty hanging up).
    Idle,
    /// Write the first frame and fetch the password, but never finish authentication
    /// (no `AuthUp`): the call stays in the PPP authentication phase.
    HoldAuth,
    /// Full start-up, then exit with `code` after `after_ms` milliseconds.
    Exit {
        /// Exit status.
        code: i32,
        /// Delay after `IpUp`.
        after_ms: u64,
    },
    /// Full start-up, then write IPv4 frames of `frame_len` bytes to the pty as fast as it
    /// takes them, until `bytes` (if given) have been written; then idle.
    Flood {
        /// Stop after this many PPP bytes.
        bytes: Option<u64>,
        /// PPP frame length (protocol field included).
        frame_len: usize,
    },
    /// Full start-up, then count the frames the helper writes (like `Idle`, named for intent).
    Sink,
    /// As pppd, wait for the server's LCP Configure-Ack of the first frame (the bench-mode
    /// server sends one) before authenticating; after start-up leave the pty alone (no reading
    /// either): the benchmark's pump opens the pty itself and does the data phase.
    Bench,
}

/// Default PPP frame length for [`Mode::Flood`].
pub const FLOOD_FRAME_LEN: usize = 1400;

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Idle => f.write_str("idle"),
            Mode::HoldAuth => f.write_str("hold-auth"),
            Mode::Exit { code, after_ms } => write!(f, "exit={code}@{after_ms}"),
            Mode::Flood { bytes, frame_len } => {
                f.write_str("flood")?;
                if let Some(b) = bytes {
                    write!(f, "={b}")?;
                }
                if *frame_len != FLOOD_FRAME_LEN {
                    write!(f, "/{frame_len}")?;
                }
                Ok(())
            }
            Mode::Sink => f.write_str("sink"),
            Mode::Bench => f.write_str("bench"),
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    /// `idle`, `hold-auth`, `exit=CODE@MS`, `flood[=BYTES][/FRAMELEN]`, `sink`, `bench`.
    fn from_str(s: &str) -> Result<Mode, String> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => match s.split_once('/') {
                Some(("flood", _)) => ("flood", None),
                _ => (s, None),
            },
        };
        let bad = |e: &dyn fmt::Display| format!("stand-in mode {s:?}: {e}");
        Ok(match name {
            "idle" => Mode::Idle,
            "hold-auth" => Mode::HoldAuth,
            "sink" => Mode::Sink,
            "bench" => Mode::Bench,
            "exit" => {
                let (c, ms) = arg
                    .and_then(|a| a.split_once('@'))
                    .ok_or_else(|| bad(&"needs =CODE@MS"))?;
                Mode::Exit {
                    code: c.parse().map_err(|e| bad(&e))?,
                    after_ms: ms.parse().map_err(|e| bad(&e))?,
                }
            }
            "flood" => {
                let len = s.split_once('/').map(|(_, l)| l);
                let bytes = arg.map(|a| a.split('/').next().unwrap_or(a));
                Mode::Flood {
                    bytes: bytes
                        .filter(|b| !b.is_empty())
                        .map(|b| b.parse().map_err(|e| bad(&e)))
                        .transpose()?,
                    frame_len: len
                        .map(|l| l.parse().map_err(|e| bad(&e)))
                        .transpose()?
                        .unwrap_or(FLOOD_FRAME_LEN),
                }
            }
            _ => return Err(bad(&"unknown mode")),
        })
    }
}

/// The MPPE send and receive keys the stand-in hands over for `seed` (splitmix64 output).
pub fn keys(seed: u64) -> ([u8; 16], [u8; 16]) {
    let mut x = seed;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut send = [0u8; 16];
    let mut recv = [0u8; 16];
    for k in [&mut send, &mut recv] {
        k[..8].copy_from_slice(&next().to_le_bytes());
        k[8..].copy_from_slice(&next().to_le_bytes());
    }
    (send, recv)
}

/// The HLAK the helper derives from [`keys`]`(seed)` (MS-CHAPv2: send key ‖ receive key).
pub fn hlak(seed: u64) -> sstp_proto::secret::Secret {
    let (s, r) = keys(seed);
    let mut v = s.to_vec();
    v.extend_from_slice(&r);
    sstp_proto::secret::Secret::new(v)
}

/// FNV-1a 64 of `b`: the report names the password it received by this, never by value.
pub fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One report line: the event and its `key=value` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Event name.
    pub name: String,
    /// Fields in order.
    pub fields: Vec<(String, String)>,
}

impl Event {
    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// A numeric field.
    pub fn num(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }
}

/// Parse the report in `dir` (empty when there is none yet).
pub fn read_report(dir: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split(' ');
            let name = it.next().unwrap_or_default().to_string();
            let fields = it
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Event { name, fields }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in [
            Mode::Idle,
            Mode::HoldAuth,
            Mode::Sink,
            Mode::Bench,
            Mode::Exit {
                code: 3,
                after_ms: 250,
            },
            Mode::Flood {
                bytes: None,
                frame_len: FLOOD_FRAME_LEN,
            },
            Mode::Flood {
                bytes: Some(1000),
                frame_len: 64,
            },
        ] {
            assert_eq!(m.to_string().parse::<Mode>(), Ok(m), "{m}");
        }
        assert_eq!(
            "flood/100".parse::<Mode>(),
            Ok(Mode::Flood {
                bytes: None,
                frame_len: 100
            })
        );
        assert!("exit=3".parse::<Mode>().is_err());
        assert!("nope".parse::<Mode>().is_err());
    }

    #[test]
    fn keys_are_fixed_per_seed_and_differ() {
        assert_eq!(keys(1), keys(1));
        assert_ne!(keys(1), keys(2));
        let (s, r) = keys(7);
        assert_ne!(s, r);
        assert_eq!(&hlak(7).expose()[..16], &s);
    }
}
