//! Secrets on the host (issue 4): with the helper connected at its most verbose log level
//! (pppd is the `pppd-standin` binary, so the MPPE keys are known), no process's command line
//! or environment and nothing the helper printed holds the password or the MPPE keys, as text,
//! hex or raw bytes; the plugin socket is private (directory 0700, socket 0600) and another
//! process gets nothing from it. The SO_PEERCRED refusal itself is unit-tested in
//! `sstp-helper/src/plugin_link.rs` (`private_dir_socket_mode_and_peer_check`), since the
//! helper accepts no second connection while its pppd is connected.

mod common;

use common::*;
use sstp_proto::wire::MessageType;
use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::{standin, Mode, TestServer};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

const PASSWORD: &str = "pw-Zq7!kR2#vX9-only-here";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every form in which a secret could leak.
fn needles() -> Vec<(String, Vec<u8>)> {
    let (s, r) = standin::keys(1);
    let mut v = vec![("password".to_string(), PASSWORD.as_bytes().to_vec())];
    for (name, k) in [("MPPE send key", s), ("MPPE receive key", r)] {
        v.push((format!("{name} (raw)"), k.to_vec()));
        v.push((format!("{name} (hex)"), hex(&k).into_bytes()));
        v.push((
            format!("{name} (HEX)"),
            hex(&k).to_ascii_uppercase().into_bytes(),
        ));
        // Both halves of the key (a split or truncated dump).
        v.push((
            format!("{name} (hex, first half)"),
            hex(&k[..8]).into_bytes(),
        ));
    }
    v.push((
        "HLAK (hex)".into(),
        hex(standin::hlak(1).expose()).into_bytes(),
    ));
    v
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `/proc/*/cmdline` and `/proc/*/environ` of every process: where each secret was found.
fn scan_proc() -> (usize, Vec<String>) {
    let needles = needles();
    let mut scanned = 0;
    let mut hits = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        for f in ["cmdline", "environ"] {
            let Ok(b) = std::fs::read(e.path().join(f)) else {
                continue;
            };
            scanned += 1;
            for (name, n) in &needles {
                if find(&b, n) {
                    hits.push(format!("{name} in /proc/{pid}/{f}"));
                }
            }
        }
    }
    (scanned, hits)
}

#[test]
fn no_secret_in_proc_or_logs_and_the_socket_is_private() {
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, srv) = TestServer::start(Mode::Normal, &cert);
    let h = Helper::new(&cert).with_standin("idle");
    h.set_password(PASSWORD);
    let mut proc_scan = (0, Vec::new());
    let mut socket_dir = PathBuf::new();
    let o = h.run_with(&addr.to_string(), &["--log-level", "trace"], |pid| {
        assert!(
            h.wait_event("ip-up", Duration::from_secs(5)),
            "{:?}",
            h.report()
        );
        // The password did reach pppd (the stand-in reports a hash of what it got).
        let pw = h
            .report()
            .into_iter()
            .find(|e| e.name == "password")
            .unwrap();
        assert_eq!(
            pw.get("fnv"),
            Some(format!("{:016x}", standin::fnv1a(PASSWORD.as_bytes())).as_str())
        );
        proc_scan = scan_proc();

        // The plugin socket: a private directory and socket, owned by the helper's user.
        let dir = std::fs::read_dir(&h.scratch.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("sstp-helper."))
            })
            .expect("the helper's runtime directory");
        let sock = dir.join("plugin.sock");
        let dm = std::fs::metadata(&dir).unwrap();
        let sm = std::fs::symlink_metadata(&sock).unwrap();
        assert_eq!(dm.mode() & 0o777, 0o700, "{}", dir.display());
        assert_eq!(sm.mode() & 0o777, 0o600, "{}", sock.display());
        let uid = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
        assert_eq!((dm.uid(), sm.uid()), (uid, uid));
        socket_dir = dir;

        // Another process (this test) connects and asks for the password: nothing comes back.
        let mut intruder = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        use std::io::Write;
        intruder
            .write_all(&sstp_proto::ipc::Msg::PasswordRequest.encode())
            .unwrap();
        intruder
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut got = Vec::new();
        let _ = intruder.read_to_end(&mut got);
        assert!(got.is_empty(), "the socket answered a stranger: {got:?}");

        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    o.assert_within(Duration::from_secs(2));
    assert!(
        o.stderr
            .lines()
            .filter(|l| l.contains(" TRACE ") || l.contains(" DEBUG "))
            .count()
            >= 5,
        "expected a verbose log:\n{}",
        o.stderr
    );
    assert_eq!(
        srv.client_message_types(),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnected,
            MessageType::CallDisconnect
        ]
    );
    // The keys were really used: the binding verifies with them.
    assert!(srv.verify_call_connected(&standin::hlak(1)).is_ok());

    let (scanned, hits) = proc_scan;
    eprintln!(
        "secrets: scanned {scanned} /proc cmdline+environ files and {} bytes of helper output; {} needles",
        o.raw.len(),
        needles().len()
    );
    assert!(scanned > 10, "too few processes scanned: {scanned}");
    assert!(hits.is_empty(), "secrets found: {hits:?}");
    let leaks: Vec<String> = needles()
        .into_iter()
        .filter(|(_, n)| find(&o.raw, n))
        .map(|(name, _)| name)
        .collect();
    assert!(leaks.is_empty(), "in the helper's output: {leaks:?}");
    assert!(!socket_dir.exists(), "runtime directory left behind");
    h.assert_nothing_left();
}
