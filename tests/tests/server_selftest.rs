//! The test server against sstp-proto's own client state machine over real TLS on loopback:
//! proves the server's Normal path (HTTP, Ack, echo of data frames, Echo Response, Call
//! Disconnect Ack) and its Compound MAC check before the helper tests rely on them.

use openssl::ssl::{SslConnector, SslMethod};
use sstp_proto::client::{Client, CloseReason, Config, Event, Timers};
use sstp_proto::secret::Secret;
use sstp_proto::wire::MessageType;
use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::{Mode, TestServer};
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

async fn flush<S: AsyncWriteExt + Unpin>(c: &mut Client, s: &mut S) {
    let out = std::mem::take(c.transmit());
    if !out.is_empty() {
        s.write_all(&out).await.unwrap();
        s.flush().await.unwrap();
    }
}

/// Drive the client until `until` holds for the events and PPP frames seen; returns the events.
async fn pump<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    c: &mut Client,
    s: &mut S,
    frames: &mut Vec<Vec<u8>>,
    until: impl Fn(&[Event], &[Vec<u8>]) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 16384];
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        flush(c, s).await;
        c.poll_ppp(|f| frames.push(f.to_vec()));
        while let Some(e) = c.poll_event() {
            seen.push(e);
        }
        if until(&seen, frames) {
            return seen;
        }
        assert!(Instant::now() < end, "timed out; events so far: {seen:?}");
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(0)) => c.handle_tls_closed(Instant::now()),
            Ok(Ok(n)) => c.handle_tls_bytes(&buf[..n], Instant::now()),
            Ok(Err(e)) => panic!("read: {e}"),
            Err(_) => {}
        }
    }
}

#[tokio::test]
async fn normal_mode_full_call_with_binding_echo_and_disconnect() {
    let cert = ServerCert::generate(LeafKind::Good);
    let (addr, handle) = TestServer::start(Mode::Normal, &cert);

    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.cert_store_mut().add_cert(cert.ca.clone()).unwrap();
    let ssl = b
        .build()
        .configure()
        .unwrap()
        .into_ssl("127.0.0.1")
        .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = SslStream::new(ssl, tcp).unwrap();
    Pin::new(&mut tls)
        .connect()
        .await
        .expect("the client trusts the test CA and the leaf names 127.0.0.1");

    let cfg = Config {
        host_header: "127.0.0.1".into(),
        correlation_id: "{00000000-0000-4000-8000-000000000000}".into(),
        cert_sha1: cert.leaf_sha1(),
        cert_sha256: cert.leaf_sha256(),
        max_nak_retries: 3,
        timers: Timers::default(),
    };
    let mut c = Client::new(cfg, Instant::now());
    let mut frames = Vec::new();
    let ev = pump(&mut c, &mut tls, &mut frames, |ev, _| {
        ev.iter()
            .any(|e| matches!(e, Event::Negotiated { .. } | Event::Closed(_)))
    })
    .await;
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::Negotiated {
                hash: sstp_proto::binding::HashProtocol::Sha256
            }
        )),
        "{ev:?}"
    );

    // Authentication "done" with MS-CHAPv2-like 16+16 byte keys.
    let send = Secret::new((1..=16).collect());
    let recv = Secret::new((101..=116).collect());
    assert!(c.handle_auth_keys(&send, &recv, Instant::now()));
    flush(&mut c, &mut tls).await;

    // An IP data frame goes out and comes back.
    let frame = [0xff, 0x03, 0x00, 0x21, 0x45, 0x00, 0x00, 0x14, 1, 2, 3];
    c.handle_ppp_frame(&frame, Instant::now());
    pump(&mut c, &mut tls, &mut frames, |_, f| !f.is_empty()).await;
    assert_eq!(
        frames,
        vec![frame.to_vec()],
        "the server echoes data frames"
    );

    c.disconnect(Instant::now());
    let ev = pump(&mut c, &mut tls, &mut frames, |ev, _| {
        ev.iter().any(|e| matches!(e, Event::Closed(_)))
    })
    .await;
    assert_eq!(ev.last(), Some(&Event::Closed(CloseReason::Local)));
    drop(tls);
    assert!(handle.wait_idle(Duration::from_secs(5)));

    assert_eq!(
        handle.client_message_types(),
        vec![
            MessageType::CallConnectRequest,
            MessageType::CallConnected,
            MessageType::CallDisconnect
        ]
    );
    assert_eq!(handle.data_received(), (1, frame.len() as u64));
    let mut hlak = (1..=16).collect::<Vec<u8>>();
    hlak.extend(101..=116);
    assert_eq!(
        handle.verify_call_connected(&Secret::new(hlak)),
        Ok(sstp_proto::binding::HashProtocol::Sha256)
    );
    assert!(handle
        .verify_call_connected(&Secret::new(vec![0; 32]))
        .is_err());
    assert_eq!(handle.errors(), Vec::<String>::new());
}
