//! The network path (issue 6): the real `sstp-helper` through a real squid on loopback (no
//! auth, Basic, Digest, wrong password, no credentials, 403, unreachable, `https_proxy` with
//! `no_proxy`), and the outer TLS version limits against TLS 1.2-only and TLS 1.3-only servers.
//!
//! squid (Debian package `squid`, installed by `tests/install-deps.sh`) is started by each
//! test with a generated configuration in the test's scratch directory, in the foreground
//! (`-N`), and stopped at the end. The server listens on a random port, so every proxied test
//! also proves that CONNECT goes to the server's real port, not 443.

mod common;

use common::*;
use openssl::ssl::SslVersion;
use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::{Mode, ServerHandle, TestServer};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Generous: squid and the helper share two loaded cores with other builds.
const SLOW: Duration = Duration::from_secs(20);
const PROXY_PASSWORD: &str = "pr0xy pass";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    None,
    Basic,
    Digest,
    /// Every request is refused (403).
    DenyAll,
    /// NTLM only (squid's ntlm_fake_auth): a scheme the helper does not speak.
    Ntlm,
}

struct Squid {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Squid {
    /// `scratch` names the directory (its last component); the squid directory itself lives
    /// directly in the temp dir, because squid started as root drops to the `proxy` user,
    /// which must reach it (the scratch directory is private).
    fn start(scratch: &Path, auth: Auth) -> Squid {
        let squid = ["/usr/sbin/squid", "/usr/bin/squid"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("squid is not installed (apt install squid; tests/install-deps.sh does)");
        let dir = std::env::temp_dir().join(format!(
            "{}-squid",
            scratch.file_name().unwrap().to_string_lossy()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let d = dir.display();
        let mut conf = format!(
            "http_port 127.0.0.1:{port}\n\
             pid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\n\
             access_log stdio:{d}/access.log\n\
             cache deny all\n\
             cache_mem 8 MB\n\
             coredump_dir {d}\n\
             shutdown_lifetime 0 seconds\n\
             logfile_rotate 0\n\
             acl CONNECT method CONNECT\n"
        );
        match auth {
            Auth::None => conf.push_str("http_access allow CONNECT\n"),
            Auth::Basic => {
                // an MD5-crypt htpasswd line, which basic_ncsa_auth understands
                let out = Command::new("openssl")
                    .args(["passwd", "-1", PROXY_PASSWORD])
                    .output()
                    .expect("openssl passwd");
                let hash = String::from_utf8(out.stdout).unwrap();
                std::fs::write(dir.join("passwd"), format!("alice:{}", hash.trim())).unwrap();
                conf.push_str(&format!(
                    "auth_param basic program /usr/lib/squid/basic_ncsa_auth {d}/passwd\n\
                     auth_param basic realm sstp-test\n\
                     acl authed proxy_auth REQUIRED\n\
                     http_access allow authed\n"
                ));
            }
            Auth::Digest => {
                std::fs::write(dir.join("digest"), format!("alice:{PROXY_PASSWORD}\n")).unwrap();
                conf.push_str(&format!(
                    "auth_param digest program /usr/lib/squid/digest_file_auth {d}/digest\n\
                     auth_param digest realm sstp-test\n\
                     acl authed proxy_auth REQUIRED\n\
                     http_access allow authed\n"
                ));
            }
            Auth::DenyAll => {}
            Auth::Ntlm => conf.push_str(
                "auth_param ntlm program /usr/lib/squid/ntlm_fake_auth\n\
                 acl authed proxy_auth REQUIRED\n\
                 http_access allow authed\n",
            ),
        }
        conf.push_str("http_access deny all\n");
        for f in ["passwd", "digest"] {
            let _ = std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644));
        }
        let conf_path = dir.join("squid.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(squid)
            .arg("-N")
            .arg("-f")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ))
            .spawn()
            .expect("start squid");
        let s = Squid { child, port, dir };
        let up = wait_until(SLOW, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "squid did not listen on {port} within {SLOW:?}: {}\n{}",
            std::fs::read_to_string(s.dir.join("stderr.log")).unwrap_or_default(),
            std::fs::read_to_string(s.dir.join("cache.log")).unwrap_or_default()
        );
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// Wait until access.log has a line containing every word (squid logs a CONNECT when the
    /// tunnel closes).
    fn wait_log(&self, words: &[&str]) -> bool {
        wait_until(SLOW, || {
            self.access_log()
                .lines()
                .any(|l| words.iter().all(|w| l.contains(w)))
        })
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let end = std::time::Instant::now() + Duration::from_secs(10);
        let mut exited = false;
        while !exited && std::time::Instant::now() < end {
            exited = matches!(self.child.try_wait(), Ok(Some(_)));
            std::thread::sleep(Duration::from_millis(50));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn proxy_pw_file(h: &Helper, pw: &str) -> String {
    let p = h.scratch.path("proxy-password");
    std::fs::write(&p, format!("{pw}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.display().to_string()
}

/// A full call through the proxy: IP up through the stand-in, then SIGTERM.
fn connect_through(auth: Auth, user_args: bool) -> (Squid, SocketAddr, ServerHandle, Outcome) {
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, srv) = TestServer::start(Mode::Normal, &cert);
    let h = Helper::new(&cert).with_standin("idle");
    let squid = Squid::start(&h.scratch.dir, auth);
    let pwf = proxy_pw_file(&h, PROXY_PASSWORD);
    let url = squid.url();
    let mut extra = vec!["--proxy", url.as_str()];
    if user_args {
        extra.extend([
            "--proxy-user",
            "alice",
            "--proxy-password-file",
            pwf.as_str(),
        ]);
    }
    let o = h.run_with(&addr.to_string(), &extra, |pid| {
        assert!(
            h.wait_event("ip-up", SLOW),
            "no IP up through the proxy; report: {:?}",
            h.report()
        );
        sigterm(pid);
        true
    });
    // shown with --nocapture: the progress lines of a proxied connection
    println!("{auth:?} run:\n{}", o.stderr);
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "proxy 127.0.0.1:{}: tunnel to {addr} open",
            squid.port
        )),
        "{}",
        o.stderr
    );
    h.assert_nothing_left();
    // CONNECT went to the server's real (random, non-443) port
    assert_ne!(addr.port(), 443);
    assert!(
        squid.wait_log(&["CONNECT", &format!("127.0.0.1:{}", addr.port())]),
        "no CONNECT line in squid's access.log:\n{}",
        squid.access_log()
    );
    // the SSTP request inside the tunnel is the usual one
    let reqs = srv.http_requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(reqs[0].contains("SSTPVERSION: 1.0"), "{}", reqs[0]);
    assert!(
        reqs[0].contains(&format!("Host: 127.0.0.1:{}", addr.port())),
        "{}",
        reqs[0]
    );
    (squid, addr, srv, o)
}

#[test]
fn proxy_without_auth() {
    let (_squid, _, _, o) = connect_through(Auth::None, false);
    assert!(!o.stderr.contains("407"), "{}", o.stderr);
}

#[test]
fn proxy_basic_auth() {
    let (squid, _, _, o) = connect_through(Auth::Basic, true);
    assert!(
        o.stderr
            .contains("answering with Basic credentials for alice"),
        "{}",
        o.stderr
    );
    assert!(
        squid.wait_log(&["CONNECT", "alice"]),
        "{}",
        squid.access_log()
    );
    assert!(!o.stderr.contains(PROXY_PASSWORD));
}

#[test]
fn proxy_digest_auth() {
    let (squid, _, _, o) = connect_through(Auth::Digest, true);
    assert!(
        o.stderr
            .contains("answering with Digest credentials for alice"),
        "{}",
        o.stderr
    );
    assert!(
        squid.wait_log(&["CONNECT", "alice"]),
        "{}",
        squid.access_log()
    );
    assert!(!o.stderr.contains(PROXY_PASSWORD));
}

/// A proxy failure: the helper exits with `code` and one ERROR line, and the SSTP server is
/// never reached.
fn proxy_fails(auth: Auth, pw: Option<&str>, code: i32, words: &[&str]) -> (Squid, Outcome) {
    let (addr, srv, h) = scenario(Mode::Normal, LeafKind::Good);
    let squid = Squid::start(&h.scratch.dir, auth);
    let url = squid.url();
    let mut extra = vec!["--proxy".to_string(), url];
    if let Some(pw) = pw {
        extra.extend([
            "--proxy-user".into(),
            "alice".into(),
            "--proxy-password-file".into(),
            proxy_pw_file(&h, pw),
        ]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let o = h.run(&addr.to_string(), &extra);
    o.assert_exit(code);
    o.assert_error(words);
    o.assert_within(SLOW);
    assert_eq!(srv.connections(), 0, "the server must not be reached");
    h.assert_pppd_not_started();
    h.assert_nothing_left();
    (squid, o)
}

#[test]
fn proxy_wrong_password() {
    for auth in [Auth::Basic, Auth::Digest] {
        let (_s, o) = proxy_fails(
            auth,
            Some("wrong"),
            12,
            &[
                "proxy 127.0.0.1:",
                "proxy authentication failed (wrong proxy user or password?)",
            ],
        );
        assert!(!o.stderr.contains("wrong\n"), "{auth:?}");
    }
}

#[test]
fn proxy_needs_credentials() {
    proxy_fails(
        Auth::Digest,
        None,
        12,
        &["the proxy requires authentication (Digest)", "--proxy-user"],
    );
}

#[test]
fn proxy_with_unsupported_scheme() {
    proxy_fails(
        Auth::Ntlm,
        Some(PROXY_PASSWORD),
        12,
        &[
            "proxy 127.0.0.1:",
            "the proxy asks for authentication by NTLM (supported: Basic, Digest)",
        ],
    );
}

#[test]
fn proxy_forbids() {
    proxy_fails(
        Auth::DenyAll,
        None,
        12,
        &["proxy 127.0.0.1:", "refused CONNECT to 127.0.0.1:", "403"],
    );
}

/// squid cannot reach the server (closed port): 503 from the proxy, exit 12, naming both.
#[test]
fn proxy_cannot_reach_the_server() {
    let h = Helper::new(&ServerCert::generate(LeafKind::Good));
    let squid = Squid::start(&h.scratch.dir, Auth::None);
    let port = free_port();
    let o = h.run(&format!("127.0.0.1:{port}"), &["--proxy", &squid.url()]);
    o.assert_exit(12);
    o.assert_error(&[
        &format!("proxy 127.0.0.1:{}", squid.port),
        &format!("could not open a tunnel to 127.0.0.1:{port}"),
        "503",
    ]);
    h.assert_nothing_left();
}

#[test]
fn proxy_unreachable() {
    let (addr, srv, h) = scenario(Mode::Normal, LeafKind::Good);
    let port = free_port();
    let o = h.run(
        &addr.to_string(),
        &["--proxy", &format!("http://127.0.0.1:{port}")],
    );
    o.assert_exit(4);
    o.assert_error(&[
        &format!("cannot connect to proxy 127.0.0.1:{port}"),
        "refused",
    ]);
    assert_eq!(srv.connections(), 0);
    h.assert_nothing_left();
}

/// diagnose through the proxy: the proxy step, then the usual report.
#[test]
fn diagnose_through_digest_proxy() {
    let (addr, _srv, h) = scenario(Mode::Normal, LeafKind::Good);
    let squid = Squid::start(&h.scratch.dir, Auth::Digest);
    let pwf = proxy_pw_file(&h, PROXY_PASSWORD);
    let o = std::process::Command::new(helper_path())
        .args(["diagnose", &addr.to_string(), "--ca-cert"])
        .arg(&h.ca)
        .args(["--proxy", &squid.url(), "--proxy-user", "alice"])
        .args(["--proxy-password-file", &pwf])
        .env_remove("https_proxy")
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    println!("{t}");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{t}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        t.contains(&format!(
            "proxy    ok   CONNECT {addr} through 127.0.0.1:{}",
            squid.port
        )),
        "{t}"
    );
    assert!(t.contains("sstp     ok   Call Connect Ack"), "{t}");
    assert!(
        squid.wait_log(&["CONNECT", "alice"]),
        "{}",
        squid.access_log()
    );
}

#[test]
fn proxy_password_in_url_is_refused() {
    let (addr, _srv, h) = scenario(Mode::Normal, LeafKind::Good);
    let o = h.run(
        &addr.to_string(),
        &["--proxy", "http://alice:pw@127.0.0.1:1"],
    );
    o.assert_exit(2);
    o.assert_error(&["--proxy", "command line", "--proxy-password-file"]);
}

/// `https_proxy` is used, and `no_proxy` naming the server bypasses it. The server answers
/// 404 so the run ends right after the HTTP exchange, which shows which way it went.
#[test]
fn https_proxy_env_and_no_proxy() {
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, srv) = TestServer::start(Mode::HttpStatus(404), &cert);
    let h = Helper::new(&cert);
    let squid = Squid::start(&h.scratch.dir, Auth::None);
    let h = h.with_env("https_proxy", &squid.url());
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(7);
    assert!(o.stderr.contains("(from https_proxy)"), "{}", o.stderr);
    assert!(
        squid.wait_log(&["CONNECT", &addr.to_string()]),
        "{}",
        squid.access_log()
    );
    let h = h.with_env("no_proxy", "localhost,127.0.0.1");
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(7);
    assert!(
        o.stderr.contains("no_proxy matches 127.0.0.1"),
        "{}",
        o.stderr
    );
    assert_eq!(srv.http_requests().len(), 2);
    let connects = squid
        .access_log()
        .lines()
        .filter(|l| l.contains("CONNECT"))
        .count();
    assert_eq!(connects, 1, "{}", squid.access_log());
    // --proxy none ignores the environment too
    let h2 = Helper::new(&cert).with_env("https_proxy", "http://127.0.0.1:1");
    let o = h2.run(&addr.to_string(), &["--proxy", "none"]);
    o.assert_exit(7);
}

// ---------------------------------------------------------------------------
// Outer TLS versions and ciphers

/// A server speaking only `v`; it answers the HTTP request with 404, so a run that got
/// through TLS ends with exit 7 right after it.
fn tls_server(v: SslVersion) -> (SocketAddr, ServerHandle, Helper) {
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, srv) = TestServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        Mode::HttpStatus(404),
        &cert,
        Some(v),
        Some(v),
    );
    (addr, srv, Helper::new(&cert))
}

#[test]
fn tls_versions_that_match() {
    for (v, name, args) in [
        (SslVersion::TLS1_2, "TLSv1.2", vec!["--tls-max", "1.2"]),
        (SslVersion::TLS1_2, "TLSv1.2", vec![]),
        (SslVersion::TLS1_3, "TLSv1.3", vec!["--tls-min", "1.3"]),
        (
            SslVersion::TLS1_3,
            "TLSv1.3",
            vec!["--tls-min", "1.2", "--tls-max", "1.3"],
        ),
    ] {
        let (addr, _srv, h) = tls_server(v);
        let o = h.run(&addr.to_string(), &args);
        o.assert_exit(7);
        assert!(
            o.stderr.contains(&format!("TLS {name}, cipher")),
            "{args:?}: {}",
            o.stderr
        );
    }
}

#[test]
fn tls_versions_that_do_not_match() {
    for (v, args, allows) in [
        (
            SslVersion::TLS1_2,
            ["--tls-min", "1.3"],
            "client allows 1.3 only",
        ),
        (
            SslVersion::TLS1_3,
            ["--tls-max", "1.2"],
            "client allows 1.2 only",
        ),
    ] {
        let (addr, srv, h) = tls_server(v);
        let o = h.run(&addr.to_string(), &args);
        o.assert_exit(5);
        o.assert_error(&[
            "TLS",
            "no protocol version in common with the server",
            allows,
        ]);
        o.assert_within(QUICK);
        assert!(srv.http_requests().is_empty());
    }
}

#[test]
fn tls_ciphers() {
    // TLS 1.2 with one named cipher that the server has
    let (addr, _srv, h) = tls_server(SslVersion::TLS1_2);
    let o = h.run(
        &addr.to_string(),
        &[
            "--ciphers",
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
    );
    o.assert_exit(7);
    assert!(o.stderr.contains("GCM-SHA256"), "{}", o.stderr);
    // TLS 1.3 with one named suite
    let (addr, _srv, h) = tls_server(SslVersion::TLS1_3);
    let o = h.run(
        &addr.to_string(),
        &["--ciphers", "TLS_CHACHA20_POLY1305_SHA256"],
    );
    o.assert_exit(7);
    assert!(
        o.stderr.contains("cipher TLS_CHACHA20_POLY1305_SHA256"),
        "{}",
        o.stderr
    );
    // nothing in common: a CBC-only list against the server's GCM/ChaCha TLS 1.2 suites
    let (addr, srv, h) = tls_server(SslVersion::TLS1_2);
    let o = h.run(&addr.to_string(), &["--ciphers", "AES128-SHA"]);
    o.assert_exit(5);
    o.assert_error(&["TLS", "cipher"]);
    assert!(srv.http_requests().is_empty());
    // a list OpenSSL cannot use is a usage error
    let o = h.run(&addr.to_string(), &["--ciphers", "NO-SUCH-CIPHER"]);
    o.assert_exit(2);
    o.assert_error(&["--ciphers"]);
}
