//! The real `sstp-helper` binary against the in-repo test server, one fault per test: exit
//! code, the one ERROR line, how long it took, what the helper put on the wire, and that no
//! process is left behind. No root and no pppd: every scenario ends before pppd matters; where
//! the helper does start "pppd" it is a shell script that records its pid and sleeps.
//!
//! The helper is built once per test run with `cargo build -p sstp-helper` (same profile as
//! this test) and run from `target/<profile>/sstp-helper`.

mod common;

use common::*;
use sstp_proto::wire::{attr_id, MessageType, Status};
use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::standin;
use sstp_tests::{Mode, ServerHandle, TestServer};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Before TLS

#[test]
fn tcp_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = Helper::new(&ServerCert::generate(LeafKind::Good));
    let o = h.run(&format!("127.0.0.1:{port}"), &[]);
    o.assert_exit(4);
    o.assert_error(&["cannot connect to", &format!("127.0.0.1:{port}"), "refused"]);
    o.assert_within(QUICK);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn unresolvable_name() {
    let h = Helper::new(&ServerCert::generate(LeafKind::Good));
    let o = h.run("no-such-host.invalid", &[]);
    o.assert_exit(3);
    o.assert_error(&["cannot resolve", "no-such-host.invalid"]);
    o.assert_within(Duration::from_secs(15));
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// TLS and the certificate

#[test]
fn reset_during_tls_handshake() {
    let (addr, srv, h) = scenario(Mode::ResetMidTls, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(5);
    o.assert_error(&["TLS", "reset"]);
    o.assert_within(QUICK);
    assert_eq!(srv.connections(), 1);
    assert!(srv.http_requests().is_empty());
    h.assert_nothing_left();
}

/// A server that takes the connection and never answers the ClientHello: the handshake is
/// bounded by --connect-timeout (5 s in these tests), not left to hang until a signal.
#[test]
fn silent_tls_server_times_out() {
    let (addr, srv, h) = scenario(Mode::TlsSilent, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(5);
    o.assert_error(&[
        "TLS handshake",
        "no answer",
        "within 5 s",
        "--connect-timeout",
    ]);
    assert!(
        o.elapsed >= Duration::from_millis(4900),
        "gave up after {:?}, before the 5 s bound",
        o.elapsed
    );
    o.assert_within(Duration::from_secs(8));
    assert_eq!(srv.connections(), 1);
    assert!(srv.http_requests().is_empty());
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

/// The certificate scenarios: the helper must reject before it sends any HTTP.
fn cert_rejected(leaf: LeafKind, extra: &[&str], words: &[&str]) {
    let (addr, srv, h) = scenario(Mode::Normal, leaf);
    let o = h.run(&addr.to_string(), extra);
    o.assert_exit(6);
    o.assert_error(words);
    o.assert_within(QUICK);
    assert!(srv.wait_idle(QUICK));
    assert!(
        srv.http_requests().is_empty(),
        "no HTTP request may be sent to a rejected server"
    );
    assert!(srv.client_messages().is_empty());
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn expired_certificate() {
    cert_rejected(LeafKind::Expired, &[], &["TLS", "expired"]);
}

#[test]
fn wrong_name_lists_the_certificate_names() {
    cert_rejected(
        LeafKind::WrongName,
        &[],
        &["certificate is for a.example, b.example, not 127.0.0.1"],
    );
}

#[test]
fn no_server_auth_eku() {
    cert_rejected(
        LeafKind::NoServerAuth,
        &[],
        &["extended key usage", "serverAuth"],
    );
}

#[test]
fn wrong_pin() {
    let pin = "00".repeat(32);
    cert_rejected(
        LeafKind::Good,
        &["--cert-sha256", &pin],
        &["does not match the pinned --cert-sha256", &pin],
    );
}

// ---------------------------------------------------------------------------
// HTTP

fn http_failure(mode: Mode, words: &[&str]) {
    let (addr, srv, h) = scenario(mode, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(7);
    o.assert_error(words);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![],
        "no SSTP message after a failed HTTP exchange"
    );
    let reqs = srv.http_requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].contains("Content-Length: 18446744073709551615\r\n"));
    assert!(
        reqs[0].contains(&format!("Host: {addr}\r\n")),
        "{}",
        reqs[0]
    );
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn http_404_quotes_the_status_line() {
    http_failure(
        Mode::HttpStatus(404),
        &["HTTP", "\"HTTP/1.1 404 Not Found\""],
    );
}

#[test]
fn http_500_quotes_the_status_line() {
    http_failure(
        Mode::HttpStatus(500),
        &["HTTP", "\"HTTP/1.1 500 Internal Server Error\""],
    );
}

#[test]
fn http_garbage() {
    http_failure(
        Mode::HttpGarbage,
        &["HTTP", "not an HTTP response", "SSH-2.0"],
    );
}

#[test]
#[ignore = "waits the 60 s HTTP response timer; sstp-proto's client tests cover it in virtual time"]
fn http_silent_times_out() {
    let (addr, _srv, h) = scenario(Mode::HttpSilent, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(7);
    o.assert_error(&["no HTTP response", "60 s"]);
    o.assert_within(Duration::from_secs(65));
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// SSTP negotiation

#[test]
fn four_naks_then_call_abort_retry_count_exceeded() {
    let (addr, srv, h) = scenario(Mode::Nak(4), LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "refused the SSTP call", "Call Connect Nak"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnectRequest,
            MessageType::CallConnectRequest,
            MessageType::CallConnectRequest,
            MessageType::CallAbort,
        ]
    );
    assert_eq!(last_abort(&srv).1, Status::RETRY_COUNT_EXCEEDED);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn ack_without_binding_request() {
    let (addr, srv, h) = scenario(Mode::AckWithoutBindingRequest, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "without a Crypto Binding Request"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    let (attr, status) = last_abort(&srv);
    assert_eq!(attr, attr_id::CRYPTO_BINDING_REQ);
    assert_eq!(status, Status::INVALID_FRAME_RECEIVED);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn ack_bitmask_zero_is_value_not_supported() {
    let (addr, srv, h) = scenario(Mode::AckBitmask(0), LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "no supported binding hash", "0x00"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    assert_eq!(
        last_abort(&srv),
        (attr_id::CRYPTO_BINDING_REQ, Status::VALUE_NOT_SUPPORTED)
    );
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

/// Framing lost: MS-SSTP §3.1.5.1 says drop the connection without sending anything.
fn framing_lost(mode: Mode, words: &[&str]) {
    let (addr, srv, h) = scenario(mode, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(words);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest],
        "nothing may be sent after the framing is lost"
    );
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn bad_version_drops_without_a_message() {
    framing_lost(Mode::BadVersion, &["SSTP", "version 0x20"]);
}

#[test]
fn length_below_4_drops_without_a_message() {
    framing_lost(Mode::LengthBelow4, &["SSTP", "length 3"]);
}

#[test]
fn truncated_packet_then_close() {
    framing_lost(
        Mode::LengthPastData,
        &["SSTP", "closed the connection without Call Disconnect"],
    );
}

#[test]
fn truncated_header_then_close() {
    framing_lost(
        Mode::TruncatedHeader,
        &["SSTP", "closed the connection without Call Disconnect"],
    );
}

#[test]
fn attribute_overrun_is_aborted() {
    let (addr, srv, h) = scenario(Mode::AttributeOverrun, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "malformed packet", "runs past its packet"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    assert_eq!(last_abort(&srv).1, Status::INVALID_FRAME_RECEIVED);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
#[ignore = "waits the 60 s negotiation timer; sstp-proto's client tests cover it in virtual time"]
fn silent_after_ack_negotiation_timeout() {
    let (addr, srv, h) = scenario(Mode::SilentAfterAck, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "60 s"]);
    o.assert_within(Duration::from_secs(70));
    assert_eq!(last_abort(&srv).1, Status::NEGOTIATION_TIMEOUT);
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// After Call Connect Ack (pppd, here a stand-in, has been started)

#[test]
fn unknown_message_type_after_ack() {
    let (addr, srv, h) = scenario(Mode::UnknownMessageType, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "unexpected unknown message type 0x00ab"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    assert_eq!(last_abort(&srv).1, Status::UNACCEPTED_FRAME_RECEIVED);
    h.assert_pppd_started();
    h.assert_nothing_left();
}

#[test]
fn server_abort_after_ack() {
    let (addr, srv, h) = scenario(
        Mode::AbortAfterAck(Status::INVALID_FRAME_RECEIVED),
        LeafKind::Good,
    );
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "aborted the call", "invalid frame received (7)"]);
    o.assert_within(QUICK);
    // MS-SSTP §3.2.5.3: answer a Call Abort with a Call Abort.
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    h.assert_pppd_started();
    h.assert_nothing_left();
}

#[test]
fn server_disconnect_after_ack_is_acknowledged() {
    let (addr, srv, h) = scenario(Mode::DisconnectAfterAck, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "the server disconnected"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallDisconnectAck
        ]
    );
    h.assert_pppd_started();
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// SIGTERM: exit 0 within 2 s, nothing left

const STOP: Duration = Duration::from_secs(2);

#[test]
fn sigterm_during_tls_handshake() {
    let (addr, srv, h) = scenario(Mode::TlsSilent, LeafKind::Good);
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(srv.wait_connections(1, QUICK), "the helper never connected");
        std::thread::sleep(Duration::from_millis(200));
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    o.assert_within(STOP);
    assert!(srv.http_requests().is_empty());
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

fn sigterm_waiting_for_http(mode: Mode) {
    let (addr, srv, h) = scenario(mode, LeafKind::Good);
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(
            srv.wait_http_requests(1, QUICK),
            "the helper never sent its HTTP request"
        );
        std::thread::sleep(Duration::from_millis(700));
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    o.assert_within(STOP);
    assert_eq!(types(&srv), vec![]);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn sigterm_while_http_silent() {
    sigterm_waiting_for_http(Mode::HttpSilent);
}

#[test]
fn sigterm_during_slowloris_http_response() {
    sigterm_waiting_for_http(Mode::Slowloris);
}

#[test]
fn sigterm_after_ack_stops_pppd_and_sends_call_disconnect() {
    let (addr, srv, h) = scenario(Mode::Normal, LeafKind::Good);
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(
            wait_until(QUICK, || h.pppd_pid().is_some()),
            "pppd stand-in was not started after Call Connect Ack"
        );
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    assert!(
        o.stderr.contains("SSTP negotiated with SHA-256"),
        "{}",
        o.stderr
    );
    o.assert_within(STOP);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    let disc = srv.client_messages().pop().unwrap();
    assert_eq!(disc.status(), Some(Status::NO_ERROR));
    h.assert_nothing_left();
}

#[test]
fn sha1_only_server_is_accepted() {
    let (addr, srv, h) = scenario(Mode::AckBitmask(1), LeafKind::Good);
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(wait_until(QUICK, || h.pppd_pid().is_some()));
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(
        o.stderr.contains("SSTP negotiated with SHA-1"),
        "{}",
        o.stderr
    );
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// pppd itself fails (after Call Connect Ack)

#[test]
fn pppd_exits_at_once() {
    let (addr, srv, mut h) = scenario(Mode::Normal, LeafKind::Good);
    h.pppd = PathBuf::from("/bin/false");
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(10);
    o.assert_error(&["pppd exited with status 1", "before the link came up"]);
    o.assert_within(QUICK);
    // The call is torn down politely.
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    h.assert_nothing_left();
}

/// A pppd that cannot be started must give one ERROR line that says why, and the Call
/// Disconnect must go out at once (the server acks it at once).
#[test]
fn pppd_missing() {
    let (addr, srv, mut h) = scenario(Mode::Normal, LeafKind::Good);
    h.pppd = h.scratch.path("no-such-pppd");
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(10);
    o.assert_error(&["cannot start pppd", "no-such-pppd", "No such file"]);
    o.assert_within(Duration::from_secs(2));
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    h.assert_nothing_left();
}

/// The helper killed outright (SIGKILL, no chance to clean up): the kernel's parent-death
/// signal still takes pppd down, so nothing is left running.
#[test]
fn sigkill_to_the_helper_takes_pppd_down() {
    let (addr, _srv, h) = scenario(Mode::Normal, LeafKind::Good);
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(
            wait_until(QUICK, || h.pppd_pid().is_some()),
            "pppd stand-in was not started after Call Connect Ack"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("SIGKILL the helper");
        true
    });
    assert_eq!(o.code, None, "killed by a signal, no exit code");
    let pppd = h.pppd_pid().expect("pppd pid");
    assert!(
        wait_until(Duration::from_secs(2), || {
            !Path::new(&format!("/proc/{pppd}")).exists()
                || std::fs::read_to_string(format!("/proc/{pppd}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
        }),
        "pppd (pid {pppd}) outlived the killed helper"
    );
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// Past authentication: the `pppd-standin` binary plays pppd + plugin

/// Server + helper whose pppd is the stand-in in `standin_mode`.
fn connected_scenario(mode: Mode, standin_mode: &str) -> (SocketAddr, ServerHandle, Helper) {
    let (addr, srv, h) = scenario(mode, LeafKind::Good);
    (addr, srv, h.with_standin(standin_mode))
}

/// Wait until the stand-in has IP up (the call is fully connected).
fn wait_ip_up(h: &Helper) {
    assert!(
        h.wait_event("ip-up", QUICK),
        "the stand-in never got IP up; report: {:?}",
        h.report()
    );
}

#[test]
fn sigterm_when_connected_sends_call_disconnect() {
    let (addr, srv, h) = connected_scenario(Mode::Normal, "idle");
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        wait_ip_up(&h);
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    o.assert_within(STOP);
    assert!(
        o.stderr.contains("IP up with 10.77.0.2 on ppp0"),
        "{}",
        o.stderr
    );
    assert_eq!(
        types(&srv),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnected,
            MessageType::CallDisconnect
        ]
    );
    // The binding carries the stand-in's keys: the server-side check passes with its HLAK.
    assert_eq!(
        srv.verify_call_connected(&standin::hlak(1)),
        Ok(sstp_proto::binding::HashProtocol::Sha256)
    );
    let rep = h.report();
    let pw = rep
        .iter()
        .find(|e| e.name == "password")
        .expect("password asked");
    assert_eq!(pw.get("user"), Some("alice"));
    assert_eq!(
        pw.get("fnv"),
        Some(format!("{:016x}", standin::fnv1a(b"secret")).as_str())
    );
    assert!(rep
        .iter()
        .any(|e| e.name == "signal" && e.get("name") == Some("TERM")));
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// More of the fault matrix (issue 4)

#[test]
fn tls_alert_from_the_server() {
    let (addr, srv, h) = scenario(Mode::TlsAlert, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(5);
    o.assert_error(&["TLS", "the server sent a TLS alert", "internal error"]);
    o.assert_within(QUICK);
    assert_eq!(srv.connections(), 1);
    assert!(srv.http_requests().is_empty());
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn self_signed_certificate() {
    cert_rejected(LeafKind::SelfSigned, &[], &["TLS", "self-signed"]);
}

#[test]
fn ack_with_duplicate_binding_request() {
    let (addr, srv, h) = scenario(Mode::AckDuplicateBindingRequest, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "more than one Crypto Binding Request"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    assert_eq!(
        last_abort(&srv),
        (attr_id::CRYPTO_BINDING_REQ, Status::INVALID_FRAME_RECEIVED)
    );
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn ack_with_missing_attribute() {
    let (addr, srv, h) = scenario(Mode::AckMissingAttribute, LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "malformed packet", "2", "1"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    assert_eq!(last_abort(&srv).1, Status::INVALID_FRAME_RECEIVED);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn server_abort_during_ppp_authentication() {
    let (addr, srv, h) = connected_scenario(
        Mode::AbortDuringAuth(Status::NEGOTIATION_TIMEOUT),
        "hold-auth",
    );
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "aborted the call", "negotiation timeout"]);
    assert!(
        !o.error_lines()[0].contains("crypto binding"),
        "no binding was sent, so it cannot be blamed: {}",
        o.stderr
    );
    o.assert_within(QUICK);
    // §3.2.5.3: a Call Abort is answered with a Call Abort; no Call Connected was sent.
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallAbort]
    );
    assert!(h.reported("holding-auth"), "{:?}", h.report());
    assert!(!h.reported("auth-ack"));
    h.assert_nothing_left();
}

/// The hello timer is 60 s, so this takes two minutes: the sequence (Echo Request after 60 s
/// of silence, then closing without Call Abort after 60 s more, MS-SSTP §3.1.2.3) is covered
/// in virtual time by sstp-proto's `client::tests::hello_echo_then_timeout_without_abort`.
#[test]
#[ignore = "waits 2 x the 60 s hello timer; sstp-proto's client tests cover it in virtual time"]
fn server_silent_after_call_connected_echo_then_close() {
    let (addr, srv, h) = connected_scenario(Mode::SilentAfterAck, "idle");
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(11);
    o.assert_error(&["connection lost", "echo timeout"]);
    o.assert_within(Duration::from_secs(130));
    assert!(o.elapsed >= Duration::from_secs(119), "{:?}", o.elapsed);
    assert_eq!(
        types(&srv),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnected,
            MessageType::EchoRequest
        ]
    );
    h.assert_nothing_left();
}

#[test]
fn server_disconnect_after_call_connected() {
    let (addr, srv, h) = connected_scenario(Mode::DisconnectAfterConnected, "idle");
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(11);
    o.assert_error(&["connection lost", "the server disconnected"]);
    o.assert_within(QUICK);
    assert_eq!(
        types(&srv),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnected,
            MessageType::CallDisconnectAck
        ]
    );
    assert!(h.reported("ip-up"));
    h.assert_nothing_left();
}

#[test]
fn pppd_sigkill_mid_session() {
    let (addr, srv, h) = connected_scenario(Mode::Normal, "idle");
    let o = h.run_with(&addr.to_string(), &[], |_| {
        wait_ip_up(&h);
        let pppd = h.pppd_pid().expect("stand-in pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pppd),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("SIGKILL the stand-in");
        true
    });
    o.assert_exit(11);
    o.assert_error(&["connection lost", "pppd", "killed by signal 9 (SIGKILL)"]);
    o.assert_within(STOP);
    // The helper ends the call itself: Call Disconnect (MS-SSTP §3.1.5.2, local disconnect).
    assert_eq!(
        types(&srv),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnected,
            MessageType::CallDisconnect
        ]
    );
    assert_eq!(
        srv.client_messages().pop().unwrap().status(),
        Some(Status::NO_ERROR)
    );
    h.assert_nothing_left();
}

/// A listener whose accept queue is full: a further SYN is dropped, so connect(2) hangs.
fn blackhole_listener() -> (
    nix::sys::socket::SockaddrIn,
    Vec<std::net::TcpStream>,
    std::os::fd::OwnedFd,
) {
    use nix::sys::socket::{
        bind, getsockname, listen, socket, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    listen(&fd, Backlog::new(0).unwrap()).unwrap();
    let addr: SockaddrIn = getsockname(fd.as_raw_fd()).unwrap();
    let target: SocketAddr = format!("127.0.0.1:{}", addr.port()).parse().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match std::net::TcpStream::connect_timeout(&target, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
    }
    (addr, fillers, fd)
}

#[test]
fn sigterm_during_tcp_connect() {
    let (addr, _fillers, _fd) = blackhole_listener();
    let h = Helper::new(&ServerCert::generate(LeafKind::Good));
    let o = h.run_with(&format!("127.0.0.1:{}", addr.port()), &[], |pid| {
        std::thread::sleep(Duration::from_millis(800));
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    assert!(!o.stderr.contains("TCP connected"), "{}", o.stderr);
    assert!(
        o.stderr.contains("before the connection was up"),
        "{}",
        o.stderr
    );
    o.assert_within(STOP);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn sigterm_during_sstp_negotiation() {
    let (addr, srv, h) = scenario(Mode::NoAck, LeafKind::Good);
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(srv.wait_message(MessageType::CallConnectRequest, QUICK));
        std::thread::sleep(Duration::from_millis(300));
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    o.assert_within(STOP);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

#[test]
fn sigterm_during_ppp_authentication() {
    let (addr, srv, h) = connected_scenario(Mode::Normal, "hold-auth");
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(h.wait_event("holding-auth", QUICK), "{:?}", h.report());
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    o.assert_within(STOP);
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    assert!(h
        .report()
        .iter()
        .any(|e| e.name == "signal" && e.get("name") == Some("TERM")));
    h.assert_nothing_left();
}

/// A server that sends its Call Connect Ack one byte at a time but within the negotiation
/// timer is slow, not broken: the call completes.
#[test]
fn slowloris_call_connect_ack_within_the_timer_connects() {
    let (addr, srv, h) = connected_scenario(Mode::SlowlorisAck(40), "idle");
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        wait_until(Duration::from_secs(8), || h.reported("ip-up"));
        wait_ip_up(&h);
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    o.assert_within(STOP);
    assert_eq!(
        types(&srv),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnected,
            MessageType::CallDisconnect
        ]
    );
    h.assert_nothing_left();
}

/// One byte per second during SSTP negotiation: SIGTERM still ends the helper, bounded by
/// DISCONNECT_STATE_TIMER_1 (5 s) since the server does not answer mid-packet.
#[test]
fn slowloris_one_byte_per_second_during_negotiation_then_sigterm() {
    let (addr, srv, h) = scenario(Mode::SlowlorisAck(1000), LeafKind::Good);
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(srv.wait_message(MessageType::CallConnectRequest, QUICK));
        std::thread::sleep(Duration::from_millis(2500));
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    o.assert_within(Duration::from_secs(7));
    assert_eq!(
        types(&srv),
        vec![MessageType::CallConnectRequest, MessageType::CallDisconnect]
    );
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

/// A Call Connect Ack dribbled slower than the 60 s negotiation timer allows: Call Abort
/// (negotiation timeout) at 60 s. Virtual-time twin in sstp-proto:
/// `client::tests::slowloris_ack_is_bounded_by_the_negotiation_timer`.
#[test]
#[ignore = "waits the 60 s negotiation timer; sstp-proto's client tests cover it in virtual time"]
fn slowloris_call_connect_ack_past_the_negotiation_timer() {
    let (addr, srv, h) = scenario(Mode::SlowlorisAck(2000), LeafKind::Good);
    let o = h.run(&addr.to_string(), &[]);
    o.assert_exit(8);
    o.assert_error(&["SSTP", "60 s"]);
    o.assert_within(Duration::from_secs(70));
    assert_eq!(last_abort(&srv).1, Status::NEGOTIATION_TIMEOUT);
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// What a held-back helper did over 3 s, after 2 s for the queues to fill.
struct Stall {
    /// VmRSS samples, KiB.
    rss: Vec<u64>,
    /// CPU ticks (100 a second) used in the 3 s.
    cpu: u64,
    /// The flooding side's byte counter at the start and the end of the 3 s.
    sent: (u64, u64),
}

fn watch_stall(pid: i32, sent: impl Fn() -> u64) -> Stall {
    // Let the buffers fill, then watch for 3 s.
    std::thread::sleep(Duration::from_secs(2));
    let t0 = cpu_ticks(pid).unwrap();
    let s0 = sent();
    let mut rss = Vec::new();
    for _ in 0..12 {
        rss.push(rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(250));
    }
    let st = Stall {
        rss,
        cpu: cpu_ticks(pid).unwrap() - t0,
        sent: (s0, sent()),
    };
    eprintln!(
        "back-pressure: helper RSS {:?} KiB, CPU {} ticks in 3 s, the flooding side sent {} then {} bytes",
        st.rss, st.cpu, st.sent.0, st.sent.1
    );
    // 100 ticks a second: under a tenth of a core means it waits, it does not spin.
    assert!(
        st.cpu < 30,
        "the helper used {} ticks of CPU in 3 s while blocked",
        st.cpu
    );
    assert!(
        st.sent.1 - st.sent.0 < 1 << 20,
        "the flooding side was not held back: {} -> {}",
        st.sent.0,
        st.sent.1
    );
    assert!(
        st.rss.iter().all(|&k| k > 0 && k < 32 * 1024),
        "helper RSS {:?} KiB",
        st.rss
    );
    st
}

/// The server stops reading while pppd floods: the helper must stop taking from pppd (its
/// memory stays bounded), must not spin, and must still stop on SIGTERM within its timers.
#[test]
fn server_stops_reading_back_pressure() {
    let (addr, srv, h) = connected_scenario(Mode::StopReading, "flood");
    let mut stalled_at = 0;
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        wait_ip_up(&h);
        let st = watch_stall(pid, || {
            h.last_stats().and_then(|e| e.num("tx_bytes")).unwrap_or(0)
        });
        stalled_at = st.sent.1;
        sigterm(pid);
        true
    });
    assert!(stalled_at > 0, "the stand-in wrote nothing");
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    // pppd goes at once; Call Disconnect cannot be delivered to a server that does not read,
    // so DISCONNECT_STATE_TIMER_1 (5 s) bounds the wait, plus 1 s for the TLS close.
    o.assert_within(Duration::from_secs(8));
    // The call was up when the server stopped reading (how many PPP frames it read before
    // that depends on scheduling: under load it can be none, so that is not asserted).
    assert!(srv
        .client_message_types()
        .contains(&MessageType::CallConnected));
    h.assert_nothing_left();
}

/// pppd stops reading while the server floods: the helper must stop reading the server (the
/// server's writes back up instead of our memory growing), must not spin, and must still
/// stop on SIGTERM.
#[test]
fn pppd_stops_reading_back_pressure() {
    // The "bench" stand-in never touches the pty after IP up: nobody reads it.
    let (addr, srv, h) = connected_scenario(Mode::BenchSource(1400), "bench");
    let mut stalled_at = 0;
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        wait_ip_up(&h);
        stalled_at = watch_stall(pid, || srv.bench_stats().tx_bytes).sent.1;
        sigterm(pid);
        true
    });
    assert!(stalled_at > 0, "the server sent nothing");
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    // The bench server only writes from now on, so it never acknowledges Call Disconnect:
    // DISCONNECT_STATE_TIMER_1 (5 s) bounds the wait, plus 1 s for the TLS close.
    o.assert_within(Duration::from_secs(8));
    h.assert_nothing_left();
}

// ---------------------------------------------------------------------------
// --reconnect

/// The server goes away after the call started and comes back on the same port: the helper
/// (with --reconnect) says why and when it will try again, retries with backoff and gets a
/// new call; SIGTERM then ends it with exit 0, no ERROR line, nothing left.
#[test]
fn reconnect_after_the_server_restarts() {
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, srv) = TestServer::start(Mode::Normal, &cert);
    let h = Helper::new(&cert);
    let srv2 = std::sync::Mutex::new(None);
    let o = h.run_with(
        &addr.to_string(),
        &["--reconnect", "--reconnect-max-delay", "2"],
        |pid| {
            assert!(
                wait_until(QUICK, || h.pppd_pid().is_some()),
                "the first call did not reach pppd"
            );
            let first_pppd = h.pppd_pid();
            drop(srv); // the server and its connection vanish
            std::thread::sleep(Duration::from_millis(1500)); // at least one refused attempt
            let (_, s2) = TestServer::start_on(addr, Mode::Normal, &cert);
            assert!(
                s2.wait_message(MessageType::CallConnectRequest, Duration::from_secs(10)),
                "no new call after the server came back"
            );
            assert!(
                wait_until(QUICK, || h.pppd_pid().is_some()
                    && h.pppd_pid() != first_pppd),
                "no new pppd for the second call"
            );
            *srv2.lock().unwrap() = Some(s2);
            sigterm(pid);
            true
        },
    );
    o.assert_exit(0);
    assert!(
        o.error_lines().is_empty(),
        "no ERROR line expected:\n{}",
        o.stderr
    );
    assert!(
        o.stderr
            .lines()
            .any(|l| l.contains(" WARN ") && l.contains("reconnecting in 1 s")),
        "the first retry is announced with its delay:\n{}",
        o.stderr
    );
    o.assert_within(QUICK);
    let s2 = srv2.lock().unwrap().take().expect("second server");
    assert!(
        s2.wait_message(MessageType::CallDisconnect, QUICK),
        "the second call ended with Call Disconnect"
    );
    h.assert_nothing_left();
}

/// A wrong password (pppd exits 19) is never retried: retrying cannot help and can lock the
/// account. Exit 9 after one connection.
#[test]
fn reconnect_never_retries_a_wrong_password() {
    let (addr, srv, mut h) = scenario(Mode::Normal, LeafKind::Good);
    let pppd = h.scratch.path("pppd-auth-fails");
    std::fs::write(&pppd, "#!/bin/sh\nexit 19\n").unwrap();
    std::fs::set_permissions(&pppd, std::fs::Permissions::from_mode(0o755)).unwrap();
    h.pppd = pppd;
    let o = h.run(&addr.to_string(), &["--reconnect"]);
    o.assert_exit(9);
    o.assert_error(&["authentication failed"]);
    assert!(
        !o.stderr.contains("reconnecting"),
        "no retry:\n{}",
        o.stderr
    );
    assert_eq!(srv.connections(), 1, "exactly one connection");
    h.assert_nothing_left();
}

/// A rejected certificate is not retried either.
#[test]
fn reconnect_never_retries_a_rejected_certificate() {
    let (addr, srv, h) = scenario(Mode::Normal, LeafKind::Expired);
    let o = h.run(&addr.to_string(), &["--reconnect"]);
    o.assert_exit(6);
    assert!(
        !o.stderr.contains("reconnecting"),
        "no retry:\n{}",
        o.stderr
    );
    assert_eq!(srv.connections(), 1, "exactly one connection");
    h.assert_pppd_not_started();
    h.assert_nothing_left();
}

/// Backoff doubles (1 s, 2 s) and --reconnect-attempts bounds it: three refused attempts,
/// two announced retries, then the TCP error as the one ERROR line.
#[test]
fn reconnect_backs_off_and_gives_up_after_the_attempt_limit() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cert = ServerCert::generate(LeafKind::Good);
    let h = Helper::new(&cert);
    let o = h.run(
        &format!("127.0.0.1:{port}"),
        &["--reconnect", "--reconnect-attempts", "3"],
    );
    o.assert_exit(4);
    o.assert_error(&["cannot connect", "refused"]);
    let waits: Vec<&str> = o
        .stderr
        .lines()
        .filter_map(|l| l.split("reconnecting in ").nth(1))
        .collect();
    assert_eq!(waits, vec!["1 s", "2 s"], "stderr:\n{}", o.stderr);
    assert!(
        o.elapsed >= Duration::from_secs(3) && o.elapsed < Duration::from_secs(6),
        "1 s + 2 s of backoff, took {:?}",
        o.elapsed
    );
    h.assert_nothing_left();
}
