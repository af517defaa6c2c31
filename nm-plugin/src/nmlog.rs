//! Logging the way NetworkManager's VPN plugins do: to stderr (NM's own log when it runs in
//! the foreground) or to syslog when `NM_VPN_LOG_SYSLOG=1`, at the level NM passes in
//! `NM_VPN_LOG_LEVEL` (a syslog priority, 0..7).

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;

/// Our level from `NM_VPN_LOG_LEVEL` and `--debug`.
pub fn level_from_env(nm_level: Option<&str>, debug: bool) -> LevelFilter {
    if debug {
        return LevelFilter::Debug;
    }
    match nm_level.and_then(|s| s.trim().parse::<i32>().ok()) {
        Some(n) if n >= 7 => LevelFilter::Debug,
        Some(5 | 6) => LevelFilter::Info,
        Some(4) => LevelFilter::Warn,
        Some(n) if n < 4 => LevelFilter::Error,
        _ => LevelFilter::Info,
    }
}

/// sstp-helper's `--log-level` for our level (at least `error`: its last ERROR line is the
/// reason we report).
pub fn helper_level(l: LevelFilter) -> &'static str {
    match l {
        LevelFilter::Off | LevelFilter::Error => "error",
        LevelFilter::Warn => "warn",
        LevelFilter::Info => "info",
        LevelFilter::Debug | LevelFilter::Trace => "debug",
    }
}

enum Sink {
    Stderr,
    Syslog(Mutex<Option<UnixDatagram>>),
}

struct Logger {
    sink: Sink,
    pid: u32,
}

fn syslog_priority(l: Level) -> u8 {
    // facility daemon (3) << 3
    24 + match l {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let tag = match r.level() {
            Level::Error => "<error>",
            Level::Warn => "<warn> ",
            Level::Info => "<info> ",
            Level::Debug | Level::Trace => "<debug>",
        };
        let to_stderr = || {
            let _ = writeln!(
                std::io::stderr().lock(),
                "nm-sstp[{}] {tag} {}",
                self.pid,
                r.args()
            );
        };
        match &self.sink {
            Sink::Stderr => to_stderr(),
            Sink::Syslog(sock) => {
                let line = format!(
                    "<{}>nm-sstp[{}]: {tag} {}",
                    syslog_priority(r.level()),
                    self.pid,
                    r.args()
                );
                let mut g = sock.lock().unwrap_or_else(|e| e.into_inner());
                if g.is_none() {
                    *g = UnixDatagram::unbound()
                        .and_then(|s| s.connect("/dev/log").map(|()| s))
                        .ok();
                }
                let sent = g.as_ref().map(|s| s.send(line.as_bytes()).is_ok());
                if sent != Some(true) {
                    // no syslog (a container, a test bed): NM's stderr, in the plain format
                    *g = None;
                    to_stderr();
                }
            }
        }
    }
    fn flush(&self) {}
}

/// Install the logger.
pub fn init(level: LevelFilter, syslog: bool) {
    let sink = if syslog {
        Sink::Syslog(Mutex::new(None))
    } else {
        Sink::Stderr
    };
    let l = Logger {
        sink,
        pid: std::process::id(),
    };
    if log::set_boxed_logger(Box::new(l)).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level_from_env(Some("7"), false), LevelFilter::Debug);
        assert_eq!(level_from_env(Some("5"), false), LevelFilter::Info);
        assert_eq!(level_from_env(Some("3"), false), LevelFilter::Error);
        assert_eq!(level_from_env(None, true), LevelFilter::Debug);
        assert_eq!(level_from_env(Some("x"), false), LevelFilter::Info);
        assert_eq!(helper_level(LevelFilter::Error), "error");
        assert_eq!(helper_level(LevelFilter::Off), "error");
        assert_eq!(helper_level(LevelFilter::Debug), "debug");
        assert_eq!(syslog_priority(Level::Error), 27);
    }
}
