//! What the tests that run the real `sstp-helper` binary share: building and locating it, a
//! scratch directory per run, running it against the test server, the pppd stand-ins (a shell
//! script that only records its pid, or the `pppd-standin` binary), and leftover checks.
#![allow(dead_code)]

use sstp_proto::wire::{MessageType, Status};
use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::standin;
use sstp_tests::{Mode, ServerHandle, TestServer};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Locating and building the helper

pub fn profile_dir() -> PathBuf {
    // target/<profile>/deps/helper_faults-HASH
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

pub fn helper_path() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let dir = profile_dir();
        let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cmd.args(["build", "-q", "-p", "sstp-helper", "--bin", "sstp-helper"])
            .arg("--manifest-path")
            .arg(&manifest);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            p => {
                cmd.args(["--profile", p]);
            }
        }
        let st = cmd.status().expect("run cargo build -p sstp-helper");
        assert!(st.success(), "cargo build -p sstp-helper failed: {st}");
        let p = dir.join("sstp-helper");
        assert!(p.is_file(), "{} missing after cargo build", p.display());
        p
    })
}

// ---------------------------------------------------------------------------
// A scratch directory per run

pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sstp-faults-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Scratch { dir }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Running the helper

pub struct Outcome {
    pub code: Option<i32>,
    pub stderr: String,
    /// stderr and stdout as bytes (for scans of raw secrets).
    pub raw: Vec<u8>,
    /// From start (or from SIGTERM, when one was sent) to exit.
    pub elapsed: Duration,
}

impl Outcome {
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("ERROR"))
            .collect()
    }

    /// Exactly one ERROR line, containing every word in `words`.
    pub fn assert_error(&self, words: &[&str]) {
        let errs = self.error_lines();
        assert_eq!(
            errs.len(),
            1,
            "expected exactly one ERROR line; stderr:\n{}",
            self.stderr
        );
        for w in words {
            assert!(
                errs[0].contains(w),
                "ERROR line lacks {w:?}: {}\nstderr:\n{}",
                errs[0],
                self.stderr
            );
        }
    }

    pub fn assert_exit(&self, code: i32) {
        assert_eq!(self.code, Some(code), "exit code; stderr:\n{}", self.stderr);
    }

    pub fn assert_within(&self, limit: Duration) {
        assert!(
            self.elapsed <= limit,
            "took {:?}, limit {limit:?}; stderr:\n{}",
            self.elapsed,
            self.stderr
        );
    }
}

pub struct Helper {
    pub scratch: Scratch,
    pub ca: PathBuf,
    pub pw: PathBuf,
    pub pppd: PathBuf,
    /// Stand-in mode when `pppd` is the `pppd-standin` binary.
    pub standin: Option<String>,
    /// Extra environment (proxy variables); the test's own proxy variables never leak in.
    pub env: Vec<(String, String)>,
}

impl Helper {
    pub fn new(cert: &ServerCert) -> Helper {
        let scratch = Scratch::new();
        let ca = scratch.path("ca.pem");
        cert.write_ca_pem(&ca).unwrap();
        let pw = scratch.path("password");
        std::fs::write(&pw, "secret\n").unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Stands in for pppd: records that it was started, then waits to be stopped.
        let pppd = scratch.path("fake-pppd");
        std::fs::write(
            &pppd,
            format!(
                "#!/bin/sh\necho $$ > {}\nexec sleep 120\n",
                scratch.path("pppd.pid").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&pppd, std::fs::Permissions::from_mode(0o755)).unwrap();
        Helper {
            scratch,
            ca,
            pw,
            pppd,
            standin: None,
            env: Vec::new(),
        }
    }

    /// Use the `pppd-standin` binary as pppd, in this stand-in mode (see
    /// `sstp_tests::standin::Mode`): it goes through authentication and IP up.
    pub fn with_standin(mut self, mode: &str) -> Helper {
        self.pppd = PathBuf::from(env!("CARGO_BIN_EXE_pppd-standin"));
        self.standin = Some(mode.to_string());
        self
    }

    /// Run with this environment variable set.
    pub fn with_env(mut self, k: &str, v: &str) -> Helper {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Use this password (the default is `secret`).
    pub fn set_password(&self, pw: &str) {
        std::fs::write(&self.pw, format!("{pw}\n")).unwrap();
    }

    /// The stand-in's report so far.
    pub fn report(&self) -> Vec<standin::Event> {
        standin::read_report(&self.scratch.dir)
    }

    /// Whether the stand-in reported `event`.
    pub fn reported(&self, event: &str) -> bool {
        self.report().iter().any(|e| e.name == event)
    }

    /// Wait until the stand-in reports `event`.
    pub fn wait_event(&self, event: &str, limit: Duration) -> bool {
        wait_until(limit, || self.reported(event))
    }

    /// The last `stats` (or `flood-done`) line of the stand-in's report.
    pub fn last_stats(&self) -> Option<standin::Event> {
        self.report()
            .into_iter()
            .rev()
            .find(|e| e.name == "stats" || e.name == "flood-done")
    }

    pub fn command(&self, server: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(helper_path());
        c.arg("--user")
            .arg("alice")
            .arg("--password-file")
            .arg(&self.pw)
            .arg("--ca-cert")
            .arg(&self.ca)
            .arg("--pppd")
            .arg(&self.pppd)
            .arg("--plugin")
            .arg("/bin/true")
            .arg("--connect-timeout")
            .arg("5")
            .args(extra)
            .arg(server)
            // The plugin socket directory goes here, and every descendant inherits the
            // variable: that is how leftovers are found.
            .env("XDG_RUNTIME_DIR", &self.scratch.dir)
            .env_remove("RUST_LOG")
            .env_remove("SSTP_LOG_LEVEL")
            .env_remove("SSLKEYLOGFILE")
            .env_remove(standin::ENV_MODE)
            .env_remove(standin::ENV_SEED)
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("no_proxy")
            .env_remove("NO_PROXY")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(m) = &self.standin {
            c.env(standin::ENV_DIR, &self.scratch.dir)
                .env(standin::ENV_MODE, m);
        }
        c
    }

    pub fn run(&self, server: &str, extra: &[&str]) -> Outcome {
        self.run_with(server, extra, |_| false)
    }

    /// Run; `during(pid)` is called once after start and returns true when it sent SIGTERM
    /// (then `elapsed` counts from that moment).
    pub fn run_with(
        &self,
        server: &str,
        extra: &[&str],
        during: impl FnOnce(i32) -> bool,
    ) -> Outcome {
        // Build the command first: the first call builds the helper binary (OnceLock), which
        // on a fresh checkout takes far longer than any time bound below.
        let mut cmd = self.command(server, extra);
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn sstp-helper");
        let mut err = child.stderr.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let err_t = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let out_t = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let mut t0 = start;
        if during(child.id() as i32) {
            t0 = Instant::now();
        }
        let hard = Instant::now() + Duration::from_secs(150);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() > hard {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = t0.elapsed();
        let mut raw = err_t.join().unwrap();
        raw.extend(out_t.join().unwrap());
        let stderr = String::from_utf8_lossy(&raw).into_owned();
        let status =
            status.unwrap_or_else(|| panic!("sstp-helper did not exit in 150 s:\n{stderr}"));
        Outcome {
            code: status.code(),
            stderr,
            raw,
            elapsed,
        }
    }

    pub fn pppd_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.scratch.path("pppd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Processes whose environment carries our scratch directory (the helper's descendants).
    pub fn leftovers(&self) -> Vec<String> {
        let needle = format!("XDG_RUNTIME_DIR={}", self.scratch.dir.display());
        let mut found = Vec::new();
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return found;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                found.push(format!("{pid}: {cmd}"));
            }
        }
        found
    }

    /// Nothing the helper started is still running.
    pub fn assert_nothing_left(&self) {
        let end = Instant::now() + Duration::from_secs(1);
        loop {
            let left = self.leftovers();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < end, "processes left behind: {left:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(pid) = self.pppd_pid() {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .map(|s| s.contains(") Z "))
                        .unwrap_or(true),
                "pppd stand-in {pid} still running"
            );
        }
    }

    pub fn assert_pppd_not_started(&self) {
        assert_eq!(self.pppd_pid(), None, "pppd must not be started");
    }

    pub fn assert_pppd_started(&self) {
        assert!(self.pppd_pid().is_some(), "pppd was expected to start");
    }
}

pub fn sigterm(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM the helper");
}

/// VmRSS of a process in KiB (the soak and back-pressure tests sample the helper with it).
pub fn rss_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn wait_until(limit: Duration, f: impl Fn() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

pub const QUICK: Duration = Duration::from_secs(5);

/// Server + helper in one go.
pub fn scenario(mode: Mode, leaf: LeafKind) -> (SocketAddr, ServerHandle, Helper) {
    let cert = ServerCert::generate(leaf);
    let (addr, srv) = TestServer::start(mode, &cert);
    (addr, srv, Helper::new(&cert))
}

pub fn types(srv: &ServerHandle) -> Vec<MessageType> {
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "the server's connection did not end"
    );
    srv.client_message_types()
}

pub fn last_abort(srv: &ServerHandle) -> (u8, Status) {
    let m = srv
        .client_messages()
        .into_iter()
        .rev()
        .find(|m| m.msg_type == MessageType::CallAbort)
        .expect("the client sent Call Abort");
    m.status_info.expect("Call Abort carries a Status Info")
}
