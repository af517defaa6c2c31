//! Soak (issue 4): many calls in a row and one long transfer, watching the helper's resident
//! memory and open file descriptors. The helper is the real binary; pppd is the
//! `pppd-standin` binary (the host has no kernel PPP); the server is the in-repo test server.
//! The same long transfer through the real pppd and kernel PPP runs in the UML tier
//! (`tests/uml/run.sh mschap` samples the helper there too).
//!
//! Both tests print their samples, so `cargo test -p sstp-tests --test soak -- --nocapture`
//! shows the figures the README quotes.

mod common;

use common::*;
use sstp_proto::wire::MessageType;
use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::{Mode, TestServer};
use std::time::{Duration, Instant};

/// Open file descriptors of a process.
fn fds(pid: i32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn summary(v: &[u64]) -> String {
    let mut s = v.to_vec();
    s.sort_unstable();
    format!(
        "first {} median {} max {} last {}",
        v[0],
        s[s.len() / 2],
        s[s.len() - 1],
        v[v.len() - 1]
    )
}

/// 200 calls against one server, each a new helper (as NetworkManager starts one per
/// activation): connect through IP up, SIGTERM, exit 0 with Call Disconnect, nothing left
/// running. The helper's RSS and fd count at IP up are the same at the end as at the start.
#[test]
fn two_hundred_connect_disconnect_cycles() {
    const CYCLES: usize = 200;
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, srv) = TestServer::start(Mode::Normal, &cert);
    let server = addr.to_string();
    let (mut rss, mut fd) = (Vec::new(), Vec::new());
    let t0 = Instant::now();
    for i in 0..CYCLES {
        let h = Helper::new(&cert).with_standin("idle");
        let o = h.run_with(&server, &[], |pid| {
            assert!(
                h.wait_event("ip-up", Duration::from_secs(20)),
                "cycle {i}: no IP up; report: {:?}",
                h.report()
            );
            rss.push(rss_kib(pid).expect("helper RSS"));
            fd.push(fds(pid).expect("helper fds") as u64);
            sigterm(pid);
            true
        });
        assert_eq!(o.code, Some(0), "cycle {i}:\n{}", o.stderr);
        assert!(o.error_lines().is_empty(), "cycle {i}:\n{}", o.stderr);
        h.assert_nothing_left();
    }
    let took = t0.elapsed();
    assert!(srv.wait_idle(Duration::from_secs(10)));
    assert_eq!(srv.connections(), CYCLES, "one TCP connection per cycle");
    let types = srv.client_message_types();
    let count = |t| types.iter().filter(|&&m| m == t).count();
    assert_eq!(count(MessageType::CallConnected), CYCLES);
    assert_eq!(
        count(MessageType::CallDisconnect),
        CYCLES,
        "every cycle ends with Call Disconnect"
    );
    eprintln!(
        "soak: {CYCLES} cycles in {:.1} s; helper at IP up: RSS KiB {}; fds {}",
        took.as_secs_f64(),
        summary(&rss),
        summary(&fd)
    );
    // Flat: the last 50 cycles are no bigger than the first 50 (1 MiB of allocator slack).
    let max = |s: &[u64]| *s.iter().max().unwrap();
    assert!(
        max(&rss[CYCLES - 50..]) <= max(&rss[..50]) + 1024,
        "RSS grew: {rss:?}"
    );
    assert_eq!(max(&fd[CYCLES - 50..]), max(&fd[..50]), "fds grew: {fd:?}");
}

/// One call carrying 100 MB each way (the stand-in floods 1400-byte frames, the server echoes
/// them): the helper's RSS and fds, sampled every 250 ms, stay flat, and the data arrives.
#[test]
fn long_transfer_memory_and_fds_stay_flat() {
    const BYTES: u64 = 100_000_000;
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, srv) = TestServer::start(Mode::Normal, &cert);
    let h = Helper::new(&cert).with_standin(&format!("flood={BYTES}"));
    let (mut rss, mut fd) = (Vec::new(), Vec::new());
    let mut took = Duration::ZERO;
    let o = h.run_with(&addr.to_string(), &[], |pid| {
        assert!(
            h.wait_event("ip-up", Duration::from_secs(20)),
            "no IP up: {:?}",
            h.report()
        );
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(240);
        loop {
            rss.push(rss_kib(pid).expect("helper RSS"));
            fd.push(fds(pid).expect("helper fds") as u64);
            let rx = h
                .last_stats()
                .and_then(|e| e.num("rx_bytes"))
                .unwrap_or_default();
            if h.reported("flood-done") && rx >= BYTES * 99 / 100 {
                break;
            }
            assert!(
                Instant::now() < end,
                "transfer stalled: {:?}",
                h.last_stats()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        took = t0.elapsed();
        sigterm(pid);
        true
    });
    o.assert_exit(0);
    assert!(o.error_lines().is_empty(), "{}", o.stderr);
    let (frames, bytes) = srv.data_received();
    eprintln!(
        "soak transfer: {} MB each way in {:.1} s ({frames} frames to the server); helper RSS KiB {}; fds {} ({} samples)",
        bytes / 1_000_000,
        took.as_secs_f64(),
        summary(&rss),
        summary(&fd),
        rss.len()
    );
    assert!(bytes >= BYTES * 99 / 100, "server got {bytes} bytes");
    // Flat: after the first second the RSS moves by less than 2 MiB and stays under 32 MiB;
    // the fd count does not change.
    let warm = &rss[rss.len().min(4)..];
    if !warm.is_empty() {
        let (lo, hi) = (warm.iter().min().unwrap(), warm.iter().max().unwrap());
        assert!(hi - lo < 2048 && *hi < 32 * 1024, "RSS not flat: {rss:?}");
    }
    assert!(fd.iter().all(|&n| n == fd[0]), "fds changed: {fd:?}");
    h.assert_nothing_left();
}
