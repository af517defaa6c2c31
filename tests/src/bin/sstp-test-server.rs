//! `sstp-test-server [MODE] [--listen ADDR] [--ca-out FILE]`: the in-repo SSTP test server as
//! a program, for trying a client by hand (and, later, the benchmark). It generates a CA and a
//! leaf for 127.0.0.1, writes the CA to FILE (default `sstp-test-ca.pem`), prints the address
//! and the leaf's SHA-256, and serves until killed. Messages from clients are printed as they
//! arrive.

use sstp_tests::certs::{LeafKind, ServerCert};
use sstp_tests::{Mode, TestServer};
use std::path::PathBuf;
use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: sstp-test-server [MODE] [--listen ADDR] [--ca-out FILE] [--cert good|expired|wrong-name|no-server-auth]");
    eprintln!("modes:");
    for m in Mode::examples() {
        eprintln!("  {m}");
    }
    std::process::exit(2);
}

fn main() {
    let mut mode = Mode::Normal;
    let mut listen = "127.0.0.1:0".to_string();
    let mut ca_out = PathBuf::from("sstp-test-ca.pem");
    let mut kind = LeafKind::Good;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or_else(|| usage()),
            "--ca-out" => ca_out = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--cert" => {
                kind = match args.next().as_deref() {
                    Some("good") => LeafKind::Good,
                    Some("expired") => LeafKind::Expired,
                    Some("wrong-name") => LeafKind::WrongName,
                    Some("no-server-auth") => LeafKind::NoServerAuth,
                    _ => usage(),
                }
            }
            "-h" | "--help" => usage(),
            m => {
                mode = m.parse().unwrap_or_else(|e| {
                    eprintln!("{e}");
                    usage()
                })
            }
        }
    }
    let addr = listen.parse().unwrap_or_else(|e| {
        eprintln!("--listen {listen}: {e}");
        usage()
    });
    let cert = ServerCert::generate(kind);
    if let Err(e) = cert.write_ca_pem(&ca_out) {
        eprintln!("cannot write {}: {e}", ca_out.display());
        std::process::exit(1);
    }
    let (addr, handle) = TestServer::start_on(addr, mode, &cert);
    let pin: String = cert
        .leaf_sha256()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("listening on {addr} in mode {mode}");
    println!("CA certificate: {}", ca_out.display());
    println!("leaf SHA-256: {pin}");
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let msgs = handle.client_messages();
        for m in &msgs[seen..] {
            match m.status_info {
                Some((attr, st)) => println!("client -> {} (attribute {attr}, {st})", m.msg_type),
                None => println!("client -> {}", m.msg_type),
            }
        }
        seen = msgs.len();
    }
}
