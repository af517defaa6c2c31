//! Stands in for pppd + the sstp-rs plugin in host tests (no /dev/ppp, no root): see
//! `sstp_tests::standin` for the environment, the modes and the report.

use nix::sys::signal::{SigSet, Signal};
use sstp_proto::hdlc;
use sstp_proto::ipc::Msg;
use sstp_proto::secret::Secret;
use sstp_tests::standin::{self, Mode};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

static REPORT: OnceLock<Mutex<File>> = OnceLock::new();

/// Traffic through the pty, from the stand-in's side.
static RX_FRAMES: AtomicU64 = AtomicU64::new(0);
static RX_BYTES: AtomicU64 = AtomicU64::new(0);
static TX_FRAMES: AtomicU64 = AtomicU64::new(0);
static TX_BYTES: AtomicU64 = AtomicU64::new(0);

fn report(line: &str) {
    if let Some(f) = REPORT.get() {
        let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

fn stats() -> String {
    format!(
        "rx_frames={} rx_bytes={} tx_frames={} tx_bytes={}",
        RX_FRAMES.load(Ordering::Relaxed),
        RX_BYTES.load(Ordering::Relaxed),
        TX_FRAMES.load(Ordering::Relaxed),
        TX_BYTES.load(Ordering::Relaxed)
    )
}

fn exit(code: i32, why: &str) -> ! {
    report(&format!("stats {}", stats()));
    report(&format!("exit code={code} why={why}"));
    std::process::exit(code)
}

/// pppd's command line as the helper builds it: the device first, `sstp-socket PATH` later.
fn parse_args() -> Result<(PathBuf, PathBuf), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = args.first().ok_or("no device argument")?;
    let socket = args
        .iter()
        .position(|a| a == "sstp-socket")
        .and_then(|i| args.get(i + 1))
        .ok_or("no sstp-socket option")?;
    Ok((PathBuf::from(device), PathBuf::from(socket)))
}

fn write_pid(dir: &Path) -> std::io::Result<()> {
    let tmp = dir.join(format!("{}.tmp", standin::PID_FILE));
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::rename(tmp, dir.join(standin::PID_FILE))
}

/// SIGTERM/SIGINT end pppd with 5, SIGHUP with 16 (pppd(8)); taken synchronously on a thread.
fn signal_thread() {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    if let Err(e) = set.thread_block() {
        eprintln!("pppd-standin: cannot block signals: {e}");
        std::process::exit(1);
    }
    std::thread::spawn(move || match set.wait() {
        Ok(Signal::SIGHUP) => {
            report("signal name=HUP");
            exit(16, "sighup")
        }
        Ok(s) => {
            report(&format!("signal name={}", &s.as_str()[3..]));
            exit(5, "signal")
        }
        Err(e) => exit(1, &format!("sigwait:{e}")),
    });
}

/// Count what the helper writes to the pty; a hangup ends the stand-in as it ends pppd.
fn reader_thread(mut tty: File) {
    std::thread::spawn(move || {
        let mut d = hdlc::Deframer::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match tty.read(&mut buf) {
                Ok(0) | Err(_) => {
                    report("hangup");
                    exit(16, "hangup")
                }
                Ok(n) => {
                    d.push(&buf[..n]);
                    while let Some(f) = d.next_frame() {
                        if let Ok(f) = f {
                            RX_FRAMES.fetch_add(1, Ordering::Relaxed);
                            RX_BYTES.fetch_add(f.len() as u64, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    });
}

fn send(sock: &mut UnixStream, m: &Msg) -> std::io::Result<()> {
    sock.write_all(&m.encode())
}

fn recv(sock: &mut UnixStream) -> std::io::Result<Msg> {
    let mut len = [0u8; 4];
    sock.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > sstp_proto::ipc::MAX_BODY {
        return Err(std::io::Error::other(format!("bad message length {n}")));
    }
    let mut v = vec![0u8; 4 + n];
    v[..4].copy_from_slice(&len);
    sock.read_exact(&mut v[4..])?;
    let whole = Secret::new(v);
    Msg::decode(whole.expose())
        .map(|(m, _)| m)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Read the pty until the server's LCP Configure-Ack of `request` arrives, as pppd reaches
/// LCP Opened before it authenticates (10 s at most).
fn wait_lcp_ack(tty: &mut File, request: &[u8]) -> Result<(), String> {
    let Some(ack) = sstp_tests::bench::lcp_configure_ack(request) else {
        return Err("not an LCP Configure-Request".into());
    };
    let mut d = hdlc::Deframer::new();
    let mut buf = vec![0u8; 4096];
    let (tx, rx) = std::sync::mpsc::channel();
    let mut t = tty.try_clone().map_err(|e| format!("dup tty: {e}"))?;
    // A thread reads, so that the wait has a deadline without touching the tty's flags.
    std::thread::spawn(move || loop {
        match t.read(&mut buf) {
            Ok(n) if n > 0 => {
                d.push(&buf[..n]);
                while let Some(f) = d.next_frame() {
                    if f.is_ok_and(|f| f == ack || f == ack[2..]) {
                        let _ = tx.send(());
                        return;
                    }
                }
            }
            _ => return,
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "no LCP Configure-Ack from the server".to_string())
}

fn ipv4_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0xff, 0x03, 0x00, 0x21];
    f.resize(len.max(24), 0x41);
    f
}

fn write_frame(tty: &mut File, hdlc_bytes: &[u8], ppp_len: usize) -> std::io::Result<()> {
    tty.write_all(hdlc_bytes)?;
    TX_FRAMES.fetch_add(1, Ordering::Relaxed);
    TX_BYTES.fetch_add(ppp_len as u64, Ordering::Relaxed);
    Ok(())
}

/// Report the counters every `STATS_EVERY` until the process ends (even while the main
/// thread is blocked writing to a full pty).
fn stats_thread() {
    std::thread::spawn(|| loop {
        std::thread::sleep(STATS_EVERY);
        report(&format!("stats {}", stats()));
    });
}

const STATS_EVERY: Duration = Duration::from_millis(500);

/// Nothing more to do: wait for a signal or a hangup.
fn idle() -> ! {
    loop {
        std::thread::park();
    }
}

fn flood(tty: &mut File, bytes: Option<u64>, frame_len: usize) -> ! {
    let frame = ipv4_frame(frame_len);
    let mut enc = Vec::new();
    hdlc::encode(&frame, &mut enc);
    loop {
        if bytes.is_some_and(|b| TX_BYTES.load(Ordering::Relaxed) >= b) {
            report(&format!("flood-done {}", stats()));
            idle()
        }
        if let Err(e) = write_frame(tty, &enc, frame.len()) {
            report(&format!("tty-error op=write error={}", e.kind()));
            idle()
        }
    }
}

fn run() -> Result<(), String> {
    let dir = std::env::var_os(standin::ENV_DIR)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{} is not set", standin::ENV_DIR))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(standin::LOG_FILE))
        .map_err(|e| format!("report file: {e}"))?;
    let _ = REPORT.set(Mutex::new(log));
    let mode: Mode = std::env::var(standin::ENV_MODE)
        .unwrap_or_else(|_| "idle".into())
        .parse()?;
    let seed: u64 = match std::env::var(standin::ENV_SEED) {
        Ok(s) => s
            .parse()
            .map_err(|e| format!("{}: {e}", standin::ENV_SEED))?,
        Err(_) => 1,
    };
    let (device, socket) = parse_args()?;
    signal_thread();
    write_pid(&dir).map_err(|e| format!("pid file: {e}"))?;
    report(&format!(
        "started pid={} mode={mode} tty={} socket={}",
        std::process::id(),
        device.display(),
        socket.display()
    ));

    let mut tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&device)
        .map_err(|e| format!("open {}: {e}", device.display()))?;
    let first = sstp_tests::bench::lcp_configure_request();
    let mut enc = Vec::new();
    hdlc::encode(&first, &mut enc);
    write_frame(&mut tty, &enc, first.len()).map_err(|e| format!("tty write: {e}"))?;
    if mode == Mode::Bench {
        wait_lcp_ack(&mut tty, &first)?;
        report("lcp-ack");
    } else {
        reader_thread(tty.try_clone().map_err(|e| format!("dup tty: {e}"))?);
    }

    let mut sock =
        UnixStream::connect(&socket).map_err(|e| format!("connect {}: {e}", socket.display()))?;
    send(&mut sock, &Msg::PasswordRequest).map_err(|e| format!("send: {e}"))?;
    match recv(&mut sock).map_err(|e| format!("recv: {e}"))? {
        Msg::Password { user, password } => report(&format!(
            "password user={user} len={} fnv={:016x}",
            password.len(),
            standin::fnv1a(password.expose())
        )),
        Msg::Error(t) => {
            report(&format!("password-error text={}", t.replace(' ', "_")));
            exit(19, "no-password")
        }
        other => return Err(format!("unexpected answer {other:?}")),
    }
    if mode == Mode::HoldAuth {
        report("holding-auth");
        stats_thread();
        idle()
    }
    let (s, r) = standin::keys(seed);
    send(
        &mut sock,
        &Msg::AuthUp {
            send_key: Secret::from(&s[..]),
            recv_key: Secret::from(&r[..]),
        },
    )
    .map_err(|e| format!("send: {e}"))?;
    match recv(&mut sock).map_err(|e| format!("recv: {e}"))? {
        Msg::AuthAck => report("auth-ack"),
        Msg::Error(t) => {
            report(&format!("auth-error text={}", t.replace(' ', "_")));
            exit(19, "auth-refused")
        }
        other => return Err(format!("unexpected answer {other:?}")),
    }
    send(
        &mut sock,
        &Msg::IpUp {
            ifname: "ppp0".into(),
            local: Ipv4Addr::new(10, 77, 0, 2),
            remote: Ipv4Addr::new(10, 77, 0, 1),
            dns: vec![Ipv4Addr::new(10, 77, 0, 53)],
            wins: vec![],
            mtu: 1400,
        },
    )
    .map_err(|e| format!("send: {e}"))?;
    report("ip-up ifname=ppp0 local=10.77.0.2");
    stats_thread();
    match mode {
        Mode::Idle | Mode::Sink | Mode::HoldAuth | Mode::Bench => idle(),
        Mode::Exit { code, after_ms } => {
            std::thread::sleep(Duration::from_millis(after_ms));
            exit(code, "mode-exit")
        }
        Mode::Flood { bytes, frame_len } => flood(&mut tty, bytes, frame_len),
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("pppd-standin: {e}");
        report(&format!("error text={}", e.replace(' ', "_")));
        exit(1, "error")
    }
}
