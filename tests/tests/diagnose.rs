//! `sstp-helper diagnose` against the in-repo test server: a good server (text and JSON), and
//! each bad certificate of the reliability matrix (`LeafKind`), which must be reported as the
//! failed check with exit code 6 and no HTTP request sent.

mod common;

use common::*;
use sstp_proto::wire::MessageType;
use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::{Mode, TestServer};
use std::process::{Command, Output, Stdio};

fn diagnose(h: &Helper, args: &[&str]) -> Output {
    Command::new(helper_path())
        .arg("diagnose")
        .args(args)
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("RUST_LOG")
        .env("XDG_RUNTIME_DIR", &h.scratch.dir)
        .stdin(Stdio::null())
        .output()
        .expect("run sstp-helper diagnose")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn good_server_text() {
    let (addr, srv, h) = scenario(Mode::Normal, LeafKind::Good);
    let ca = h.ca.display().to_string();
    let o = diagnose(&h, &[&addr.to_string(), "--ca-cert", &ca]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    for want in [
        &format!("tcp      ok   {addr}"),
        "tls      ok   TLSv1.3",
        "cert[0]  subject  O=sstp-rs test server, CN=127.0.0.1",
        "cert[1]  subject  O=sstp-rs test server, CN=sstp-rs test CA",
        "SANs     localhost, 127.0.0.1",
        "EKU      serverAuth",
        "check    ok   chain",
        "check    ok   validity",
        "check    ok   name     127.0.0.1 matches 127.0.0.1",
        "check    ok   eku",
        "check    -    pin",
        "http     ok   HTTP/1.1 200 OK",
        "sstp     ok   Call Connect Ack: hash bitmask 0x03 (SHA-1 + SHA-256), nonce present",
        "close    ok   Call Disconnect sent, acknowledged",
        "result: all checks passed",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
    // no PPP: Call Connect Request then Call Disconnect, nothing else
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    h.assert_nothing_left();
}

#[test]
fn good_server_json_with_pin() {
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, _srv) = TestServer::start(Mode::Normal, &cert);
    let h = Helper::new(&cert);
    let pin: String = cert
        .leaf_sha256()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let o = diagnose(&h, &[&addr.to_string(), "--cert-sha256", &pin, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["ok"], true);
    assert_eq!(v["exit_code"], 0);
    let steps = v["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["resolve", "tcp", "tls", "http", "sstp", "disconnect"]
    );
    let tls = &steps[2];
    assert_eq!(tls["chain"][0]["sha256"], pin.as_str());
    let checks = tls["checks"].as_array().unwrap();
    let pin_check = checks.iter().find(|c| c["check"] == "pin").unwrap();
    assert_eq!(pin_check["ok"], true);
    // pinned without a CA: the untrusted chain is reported but not enforced
    let chain = checks.iter().find(|c| c["check"] == "chain").unwrap();
    assert_eq!(chain["ok"], false);
    assert!(chain["detail"].as_str().unwrap().contains("not enforced"));
    assert_eq!(steps[3]["status_line"], "HTTP/1.1 200 OK");
    assert_eq!(steps[4]["hash_bitmask"], 3);
    assert_eq!(steps[4]["nonce_present"], true);
}

/// Each bad certificate: exit 6, the named check fails, nothing sent after TLS.
#[test]
fn bad_certificates() {
    for (leaf, check, words) in [
        (LeafKind::Expired, "validity", "expired"),
        (LeafKind::Expired, "chain", "certificate has expired"),
        (
            LeafKind::WrongName,
            "name",
            "certificate is for a.example, b.example, not 127.0.0.1",
        ),
        (
            LeafKind::NoServerAuth,
            "eku",
            "clientAuth (neither serverAuth nor anyExtendedKeyUsage)",
        ),
        (LeafKind::SelfSigned, "chain", "self-signed certificate"),
    ] {
        let (addr, srv, h) = scenario(Mode::Normal, leaf.clone());
        let ca = h.ca.display().to_string();
        let o = diagnose(&h, &[&addr.to_string(), "--ca-cert", &ca]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(6), "{leaf:?}: {t}");
        let line = t
            .lines()
            .find(|l| l.starts_with("check    FAIL") && l.contains(&format!(" {check} ")))
            .unwrap_or_else(|| panic!("{leaf:?}: no failed {check} check in:\n{t}"));
        assert!(line.contains(words), "{leaf:?}: {line}");
        assert!(t.contains("certificate: REJECTED"), "{t}");
        assert!(t.contains("result: FAILED (exit code 6)"), "{t}");
        assert!(srv.wait_idle(QUICK));
        assert!(srv.http_requests().is_empty(), "{leaf:?}: HTTP sent");
    }
}

#[test]
fn server_problems_after_tls() {
    let (addr, _srv, h) = scenario(Mode::HttpStatus(503), LeafKind::Good);
    let ca = h.ca.display().to_string();
    let o = diagnose(&h, &[&addr.to_string(), "--ca-cert", &ca]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    assert!(
        text(&o).contains("http     FAIL server answered \"HTTP/1.1 503"),
        "{}",
        text(&o)
    );

    let (addr, _srv, h) = scenario(Mode::Nak(10), LeafKind::Good);
    let o = diagnose(
        &h,
        &[&addr.to_string(), "--ca-cert", &h.ca.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(8), "{}", text(&o));
    assert!(
        text(&o).contains("sstp     FAIL the server answered CallConnectNak"),
        "{}",
        text(&o)
    );

    let (addr, _srv, h) = scenario(Mode::AckBitmask(0), LeafKind::Good);
    let o = diagnose(
        &h,
        &[&addr.to_string(), "--ca-cert", &h.ca.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(8), "{}", text(&o));
    assert!(
        text(&o).contains("hash bitmask 0x00 (no usable hash)"),
        "{}",
        text(&o)
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = diagnose(&h, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("tcp      FAIL 127.0.0.1:{port}")),
        "{}",
        text(&o)
    );
}
