//! Real TLS over loopback against `sstp_helper::tls::connect`: certificates are
//! generated here with the openssl crate, the server is an OpenSSL acceptor
//! running in the same tokio runtime. No mocks.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{NameType, Ssl, SslAcceptor, SslAcceptorBuilder, SslMethod, SslVersion};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use sha2::Digest as _;
use sstp_helper::tls::{self, PeerInfo, TlsClass, TlsError, TlsOptions, TlsVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

// ---------------------------------------------------------------------------
// Certificates

fn new_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn time(days_from_now: i64) -> Asn1Time {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Asn1Time::from_unix(now + days_from_now * 86_400).unwrap()
}

fn serial() -> Asn1Integer {
    let mut bn = BigNum::new().unwrap();
    bn.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    bn.to_asn1_integer().unwrap()
}

#[derive(Clone, Copy)]
enum Eku {
    ServerAuth,
    ClientAuth,
    Any,
    Absent,
}

#[derive(Clone)]
struct Spec {
    cn: Option<&'static str>,
    dns: Vec<&'static str>,
    ips: Vec<&'static str>,
    eku: Eku,
    not_before_days: i64,
    not_after_days: i64,
}

impl Spec {
    /// A normal server certificate for vpn.example.com.
    fn vpn() -> Spec {
        Spec {
            cn: Some("vpn.example.com"),
            dns: vec!["vpn.example.com"],
            ips: vec![],
            eku: Eku::ServerAuth,
            not_before_days: -1,
            not_after_days: 30,
        }
    }
}

struct Ca {
    cert: X509,
    key: PKey<Private>,
}

struct Leaf {
    cert: X509,
    key: PKey<Private>,
}

fn make_ca(cn: &str) -> Ca {
    let key = new_key();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "sstp-rs tests")
        .unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&time(-2)).unwrap();
    b.set_not_after(&time(365)).unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    Ca {
        cert: b.build(),
        key,
    }
}

/// A leaf signed by `issuer`, or self-signed when `issuer` is `None`.
fn make_leaf(spec: &Spec, issuer: Option<&Ca>) -> Leaf {
    let key = new_key();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "sstp-rs tests")
        .unwrap();
    if let Some(cn) = spec.cn {
        name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    }
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial()).unwrap();
    b.set_subject_name(&name).unwrap();
    match issuer {
        Some(ca) => b.set_issuer_name(ca.cert.subject_name()).unwrap(),
        None => b.set_issuer_name(&name).unwrap(),
    }
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&time(spec.not_before_days)).unwrap();
    b.set_not_after(&time(spec.not_after_days)).unwrap();
    b.append_extension(BasicConstraints::new().build().unwrap())
        .unwrap();
    b.append_extension(KeyUsage::new().digital_signature().build().unwrap())
        .unwrap();
    if !spec.dns.is_empty() || !spec.ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in &spec.dns {
            san.dns(d);
        }
        for ip in &spec.ips {
            san.ip(ip);
        }
        let ext = san
            .build(&b.x509v3_context(issuer.map(|ca| &*ca.cert), None))
            .unwrap();
        b.append_extension(ext).unwrap();
    }
    match spec.eku {
        Eku::ServerAuth => b
            .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap(),
        Eku::ClientAuth => b
            .append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
            .unwrap(),
        Eku::Any => b
            .append_extension(
                ExtendedKeyUsage::new()
                    .other("anyExtendedKeyUsage")
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        Eku::Absent => {}
    }
    let signer = issuer.map(|ca| &ca.key).unwrap_or(&key);
    b.sign(signer, MessageDigest::sha256()).unwrap();
    Leaf {
        cert: b.build(),
        key,
    }
}

fn sha256(der: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(der).into()
}

// ---------------------------------------------------------------------------
// Files

fn tmp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sstp-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write_ca_file(name: &str, cas: &[&Ca]) -> PathBuf {
    let path = tmp_path(name);
    let mut pem = Vec::new();
    for ca in cas {
        pem.extend_from_slice(&ca.cert.to_pem().unwrap());
    }
    std::fs::write(&path, pem).unwrap();
    path
}

fn trust(ca_file: &Path) -> TlsOptions {
    TlsOptions {
        ca_cert: Some(ca_file.to_path_buf()),
        ..TlsOptions::default()
    }
}

// ---------------------------------------------------------------------------
// Server and client

/// What the server saw as SNI: `None` = callback not run yet, `Some(None)` = no SNI.
type SeenSni = Arc<Mutex<Option<Option<String>>>>;

struct Server {
    addr: SocketAddr,
    sni: SeenSni,
}

/// A TLS server on 127.0.0.1:0 serving `leaf` (plus `extra_chain`) to any
/// number of connections; it greets each client with "hello".
async fn serve(
    leaf: &Leaf,
    extra_chain: &[&X509],
    tweak: impl FnOnce(&mut SslAcceptorBuilder),
) -> Server {
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acc.set_private_key(&leaf.key).unwrap();
    acc.set_certificate(&leaf.cert).unwrap();
    for c in extra_chain {
        acc.add_extra_chain_cert((*c).clone()).unwrap();
    }
    let sni: SeenSni = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&sni);
    acc.set_servername_callback(move |ssl, _alert| {
        *seen.lock().unwrap() = Some(ssl.servername(NameType::HOST_NAME).map(str::to_owned));
        Ok(())
    });
    tweak(&mut acc);
    let acc = Arc::new(acc.build());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acc = Arc::clone(&acc);
            tokio::spawn(async move {
                let ssl = Ssl::new(acc.context()).unwrap();
                let mut s = SslStream::new(ssl, tcp).unwrap();
                if Pin::new(&mut s).accept().await.is_ok() {
                    let _ = s.write_all(b"hello").await;
                    let _ = s.flush().await;
                    let mut sink = Vec::new();
                    let _ = s.read_to_end(&mut sink).await;
                }
            });
        }
    });
    Server { addr, sni }
}

async fn connect_to(
    addr: SocketAddr,
    host: &str,
    opts: &TlsOptions,
) -> Result<(SslStream<TcpStream>, PeerInfo), TlsError> {
    let ctx = tls::context(opts)?;
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), tls::connect(&ctx, tcp, host, opts))
        .await
        .expect("TLS connect hung")
}

async fn expect_ok(addr: SocketAddr, host: &str, opts: &TlsOptions) -> PeerInfo {
    match connect_to(addr, host, opts).await {
        Ok((mut stream, info)) => {
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
            info
        }
        Err(e) => panic!("expected success for {host}, got {e:?} / {e}"),
    }
}

async fn expect_err(addr: SocketAddr, host: &str, opts: &TlsOptions) -> TlsError {
    match connect_to(addr, host, opts).await {
        Ok((_, info)) => panic!("expected an error for {host}, got {info:?}"),
        Err(e) => e,
    }
}

fn assert_words(e: &TlsError, words: &[&str]) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    for w in words {
        assert!(text.contains(w), "{text:?} lacks {w:?}");
    }
}

// ---------------------------------------------------------------------------
// Trust

#[tokio::test]
async fn good_certificate_with_ca_cert_is_accepted() {
    let ca = make_ca("Test Root A");
    let mut spec = Spec::vpn();
    spec.dns = vec!["vpn.example.com", "alt.example.com"];
    spec.ips = vec!["192.0.2.7"];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let ca_file = write_ca_file("good-ca.pem", &[&ca]);

    let info = expect_ok(server.addr, "vpn.example.com", &trust(&ca_file)).await;
    let der = leaf.cert.to_der().unwrap();
    assert_eq!(info.version, "TLSv1.3");
    assert!(info.cipher.starts_with("TLS_"), "{}", info.cipher);
    assert_eq!(info.leaf_der, der);
    assert_eq!(info.cert_sha256, sha256(&der));
    let sha1: [u8; 20] = sha1::Sha1::digest(&der).into();
    assert_eq!(info.cert_sha1, sha1);
    assert_eq!(info.subject, "O=sstp-rs tests, CN=vpn.example.com");
    assert_eq!(
        info.names,
        vec!["vpn.example.com", "alt.example.com", "192.0.2.7"]
    );
    assert_eq!(info.accepted_for, "vpn.example.com");

    // Case and a trailing dot do not matter; the second SAN works too.
    let info = expect_ok(server.addr, "ALT.Example.COM.", &trust(&ca_file)).await;
    assert_eq!(info.accepted_for, "alt.example.com");
}

#[tokio::test]
async fn ca_file_with_several_certificates() {
    let other = make_ca("Unrelated Root");
    let ca = make_ca("Test Root B");
    let leaf = make_leaf(&Spec::vpn(), Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let ca_file = write_ca_file("multi-ca.pem", &[&other, &ca]);
    let info = expect_ok(server.addr, "vpn.example.com", &trust(&ca_file)).await;
    assert_eq!(info.accepted_for, "vpn.example.com");
}

#[tokio::test]
async fn system_store_rejects_private_ca() {
    let ca = make_ca("Private Test Root");
    let leaf = make_leaf(&Spec::vpn(), Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(server.addr, "vpn.example.com", &TlsOptions::default()).await;
    match &e {
        TlsError::UnknownCa { subject, issuer } => {
            assert!(subject.contains("CN=vpn.example.com"), "{subject}");
            assert!(issuer.contains("CN=Private Test Root"), "{issuer}");
        }
        other => panic!("expected UnknownCa, got {other:?}"),
    }
    assert_eq!(e.class(), TlsClass::Certificate);
    assert_words(
        &e,
        &[
            "certificate for O=sstp-rs tests, CN=vpn.example.com",
            "unknown authority",
            "issuer O=sstp-rs tests, CN=Private Test Root",
            "--ca-cert",
            "--cert-sha256",
        ],
    );
}

#[tokio::test]
async fn untrusted_root_sent_in_chain_is_unknown_ca() {
    // The server sends its root too (X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN).
    let ca = make_ca("Chain Root");
    let leaf = make_leaf(&Spec::vpn(), Some(&ca));
    let server = serve(&leaf, &[&ca.cert], |_| {}).await;
    let e = expect_err(server.addr, "vpn.example.com", &TlsOptions::default()).await;
    match &e {
        TlsError::UnknownCa { subject, issuer } => {
            assert!(subject.contains("CN=vpn.example.com"), "{subject}");
            assert!(issuer.contains("CN=Chain Root"), "{issuer}");
        }
        other => panic!("expected UnknownCa, got {other:?}"),
    }
}

#[tokio::test]
async fn ca_cert_replaces_the_system_store() {
    // A leaf from CA X is rejected when --ca-cert names only CA Y.
    let x = make_ca("Root X");
    let y = make_ca("Root Y");
    let leaf = make_leaf(&Spec::vpn(), Some(&x));
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(
        server.addr,
        "vpn.example.com",
        &trust(&write_ca_file("y.pem", &[&y])),
    )
    .await;
    assert!(matches!(e, TlsError::UnknownCa { .. }), "{e:?}");
}

#[tokio::test]
async fn expired_certificate() {
    let ca = make_ca("Test Root");
    let mut spec = Spec::vpn();
    spec.not_before_days = -30;
    spec.not_after_days = -2;
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let ca_file = write_ca_file("expired-ca.pem", &[&ca]);
    let e = expect_err(server.addr, "vpn.example.com", &trust(&ca_file)).await;
    match &e {
        TlsError::Expired { not_after } => {
            assert_eq!(*not_after, leaf.cert.not_after().to_string())
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    assert_eq!(e.class(), TlsClass::Certificate);
    assert_words(&e, &["expired", "not valid after"]);
}

#[tokio::test]
async fn not_yet_valid_certificate() {
    let ca = make_ca("Test Root");
    let mut spec = Spec::vpn();
    spec.not_before_days = 3;
    spec.not_after_days = 30;
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let ca_file = write_ca_file("nyv-ca.pem", &[&ca]);
    let e = expect_err(server.addr, "vpn.example.com", &trust(&ca_file)).await;
    assert!(matches!(e, TlsError::NotYetValid { .. }), "{e:?}");
    assert_words(&e, &["not yet valid", "clock"]);
}

#[tokio::test]
async fn self_signed_certificate() {
    let leaf = make_leaf(&Spec::vpn(), None);
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(server.addr, "vpn.example.com", &TlsOptions::default()).await;
    assert!(matches!(e, TlsError::SelfSigned), "{e:?}");
    assert_eq!(e.class(), TlsClass::Certificate);
    assert_words(&e, &["self-signed", "--ca-cert", "--cert-sha256"]);

    // Also with an (unrelated) --ca-cert.
    let ca_file = write_ca_file("ss-ca.pem", &[&make_ca("Other")]);
    let e = expect_err(server.addr, "vpn.example.com", &trust(&ca_file)).await;
    assert!(matches!(e, TlsError::SelfSigned), "{e:?}");
}

#[tokio::test]
async fn self_signed_certificate_given_as_ca_cert_is_accepted() {
    let leaf = make_leaf(&Spec::vpn(), None);
    let server = serve(&leaf, &[], |_| {}).await;
    let path = tmp_path("ss-self.pem");
    std::fs::write(&path, leaf.cert.to_pem().unwrap()).unwrap();
    let info = expect_ok(server.addr, "vpn.example.com", &trust(&path)).await;
    assert_eq!(info.accepted_for, "vpn.example.com");
}

// ---------------------------------------------------------------------------
// Names

#[tokio::test]
async fn wrong_name_lists_the_certificate_names() {
    let ca = make_ca("Test Root");
    let mut spec = Spec::vpn();
    spec.cn = Some("ignored-cn.example");
    spec.dns = vec!["a.example", "b.example"];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let ca_file = write_ca_file("names-ca.pem", &[&ca]);
    let e = expect_err(server.addr, "vpn.example.com", &trust(&ca_file)).await;
    match &e {
        TlsError::NameMismatch { host, names } => {
            assert_eq!(host, "vpn.example.com");
            assert_eq!(names, &vec!["a.example".to_owned(), "b.example".to_owned()]);
        }
        other => panic!("expected NameMismatch, got {other:?}"),
    }
    assert_eq!(e.class(), TlsClass::Certificate);
    assert_words(
        &e,
        &["certificate is for a.example, b.example, not vpn.example.com"],
    );
}

#[tokio::test]
async fn wildcard_matches_exactly_one_label() {
    let ca = make_ca("Test Root");
    let mut spec = Spec::vpn();
    spec.cn = None;
    spec.dns = vec!["*.example.com"];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let opts = trust(&write_ca_file("wild-ca.pem", &[&ca]));

    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.accepted_for, "*.example.com");
    let info = expect_ok(server.addr, "Other.EXAMPLE.com", &opts).await;
    assert_eq!(info.accepted_for, "*.example.com");

    for host in ["a.b.example.com", "example.com", "vpn.example.org"] {
        let e = expect_err(server.addr, host, &opts).await;
        match &e {
            TlsError::NameMismatch { names, .. } => assert_eq!(names, &["*.example.com"]),
            other => panic!("{host}: expected NameMismatch, got {other:?}"),
        }
        assert_words(&e, &["certificate is for *.example.com, not ", host]);
    }
}

#[tokio::test]
async fn ip_literal_matches_ip_san_only() {
    let ca = make_ca("Test Root");
    let mut spec = Spec::vpn();
    spec.cn = Some("127.0.0.1");
    spec.dns = vec!["vpn.example.com"];
    spec.ips = vec!["127.0.0.1", "::1"];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let opts = trust(&write_ca_file("ip-ca.pem", &[&ca]));

    let info = expect_ok(server.addr, "127.0.0.1", &opts).await;
    assert_eq!(info.accepted_for, "127.0.0.1");
    let info = expect_ok(server.addr, "[::1]", &opts).await;
    assert_eq!(info.accepted_for, "::1");
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.accepted_for, "vpn.example.com");

    let e = expect_err(server.addr, "127.0.0.2", &opts).await;
    match &e {
        TlsError::NameMismatch { names, .. } => {
            assert_eq!(names, &["vpn.example.com", "127.0.0.1", "::1"])
        }
        other => panic!("expected NameMismatch, got {other:?}"),
    }

    // An IP literal never matches a DNS SAN spelled like an address, and the
    // CN "127.0.0.1" is ignored because there are SANs.
    let mut spec = Spec::vpn();
    spec.cn = Some("127.0.0.1");
    spec.dns = vec!["127.0.0.1"];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(server.addr, "127.0.0.1", &opts).await;
    assert!(matches!(e, TlsError::NameMismatch { .. }), "{e:?}");
}

#[tokio::test]
async fn common_name_is_used_only_without_sans() {
    let ca = make_ca("Test Root");
    let opts = trust(&write_ca_file("cn-ca.pem", &[&ca]));

    // No SAN at all: the CN counts (for names and, legacy, for IP literals).
    let mut spec = Spec::vpn();
    spec.dns = vec![];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.accepted_for, "vpn.example.com");
    assert_eq!(info.names, vec!["vpn.example.com"]);
    let e = expect_err(server.addr, "other.example.com", &opts).await;
    match &e {
        TlsError::NameMismatch { names, .. } => assert_eq!(names, &["vpn.example.com"]),
        other => panic!("expected NameMismatch, got {other:?}"),
    }

    let mut spec = Spec::vpn();
    spec.dns = vec![];
    spec.cn = Some("127.0.0.1");
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let info = expect_ok(server.addr, "127.0.0.1", &opts).await;
    assert_eq!(info.accepted_for, "127.0.0.1");

    // With a DNS SAN, the CN is not used (but still listed in PeerInfo::names).
    let mut spec = Spec::vpn();
    spec.cn = Some("vpn.example.com");
    spec.dns = vec!["other.example.com"];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(server.addr, "vpn.example.com", &opts).await;
    match &e {
        TlsError::NameMismatch { names, .. } => assert_eq!(names, &["other.example.com"]),
        other => panic!("expected NameMismatch, got {other:?}"),
    }
    let info = expect_ok(server.addr, "other.example.com", &opts).await;
    assert_eq!(info.names, vec!["other.example.com", "vpn.example.com"]);

    // With only an IP SAN, the CN is not used either.
    let mut spec = Spec::vpn();
    spec.dns = vec![];
    spec.ips = vec!["192.0.2.1"];
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(server.addr, "vpn.example.com", &opts).await;
    match &e {
        TlsError::NameMismatch { names, .. } => assert_eq!(names, &["192.0.2.1"]),
        other => panic!("expected NameMismatch, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// EKU

async fn eku_case(eku: Eku, file: &str) -> Result<PeerInfo, TlsError> {
    let ca = make_ca("Test Root");
    let mut spec = Spec::vpn();
    spec.eku = eku;
    let leaf = make_leaf(&spec, Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let opts = trust(&write_ca_file(file, &[&ca]));
    connect_to(server.addr, "vpn.example.com", &opts)
        .await
        .map(|(_, info)| info)
}

#[tokio::test]
async fn client_auth_only_eku_is_rejected() {
    let e = eku_case(Eku::ClientAuth, "eku-client.pem")
        .await
        .unwrap_err();
    assert!(matches!(e, TlsError::MissingEku), "{e:?}");
    assert_eq!(e.class(), TlsClass::Certificate);
    assert_words(&e, &["serverAuth", "anyExtendedKeyUsage"]);
}

#[tokio::test]
async fn absent_eku_is_accepted() {
    let info = eku_case(Eku::Absent, "eku-none.pem").await.unwrap();
    assert_eq!(info.accepted_for, "vpn.example.com");
}

#[tokio::test]
async fn any_extended_key_usage_is_accepted() {
    let info = eku_case(Eku::Any, "eku-any.pem").await.unwrap();
    assert_eq!(info.accepted_for, "vpn.example.com");
}

// ---------------------------------------------------------------------------
// Pinning and --insecure

#[tokio::test]
async fn pin_accepts_self_signed_without_ca() {
    let mut spec = Spec::vpn();
    spec.dns = vec!["some-other-name.example"];
    let leaf = make_leaf(&spec, None);
    let server = serve(&leaf, &[], |_| {}).await;
    let opts = TlsOptions {
        pin_sha256: Some(sha256(&leaf.cert.to_der().unwrap())),
        ..TlsOptions::default()
    };
    // Pinning replaces CA trust and the name check.
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.accepted_for, "(pinned)");
    assert_eq!(info.cert_sha256, sha256(&info.leaf_der));
}

#[tokio::test]
async fn pin_still_checks_the_eku() {
    let mut spec = Spec::vpn();
    spec.eku = Eku::ClientAuth;
    let leaf = make_leaf(&spec, None);
    let server = serve(&leaf, &[], |_| {}).await;
    let opts = TlsOptions {
        pin_sha256: Some(sha256(&leaf.cert.to_der().unwrap())),
        ..TlsOptions::default()
    };
    let e = expect_err(server.addr, "vpn.example.com", &opts).await;
    assert!(matches!(e, TlsError::MissingEku), "{e:?}");
}

#[tokio::test]
async fn pin_mismatch_is_fatal_even_with_a_valid_chain() {
    let ca = make_ca("Test Root");
    let leaf = make_leaf(&Spec::vpn(), Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let got = sha256(&leaf.cert.to_der().unwrap());
    let wrong = [0x5au8; 32];
    let mut opts = trust(&write_ca_file("pin-ca.pem", &[&ca]));
    opts.pin_sha256 = Some(wrong);
    let e = expect_err(server.addr, "vpn.example.com", &opts).await;
    match &e {
        TlsError::PinMismatch {
            expected_hex,
            got_hex,
        } => {
            assert_eq!(*expected_hex, "5a".repeat(32));
            assert_eq!(*got_hex, tls::hex(&got));
        }
        other => panic!("expected PinMismatch, got {other:?}"),
    }
    assert_eq!(e.class(), TlsClass::Certificate);
    assert_words(&e, &["does not match", "--cert-sha256", &tls::hex(&got)]);

    // Same without --ca-cert (system store, where the chain would fail anyway).
    let opts = TlsOptions {
        pin_sha256: Some(wrong),
        ..TlsOptions::default()
    };
    let e = expect_err(server.addr, "vpn.example.com", &opts).await;
    assert!(matches!(e, TlsError::PinMismatch { .. }), "{e:?}");

    // With the right pin and the CA, all is well and the name is reported.
    let mut opts = trust(&write_ca_file("pin-ca2.pem", &[&ca]));
    opts.pin_sha256 = Some(got);
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.accepted_for, "vpn.example.com");
}

#[tokio::test]
async fn pin_with_ca_cert_requires_both() {
    let ca = make_ca("Test Root");
    let opts_for = |leaf: &Leaf, file: &str| {
        let mut o = trust(&write_ca_file(file, &[&ca]));
        o.pin_sha256 = Some(sha256(&leaf.cert.to_der().unwrap()));
        o
    };
    // Matching pin, but the chain does not verify against --ca-cert.
    let leaf = make_leaf(&Spec::vpn(), None);
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(
        server.addr,
        "vpn.example.com",
        &opts_for(&leaf, "both1.pem"),
    )
    .await;
    assert!(matches!(e, TlsError::SelfSigned), "{e:?}");

    // Matching pin and chain, but the wrong name.
    let leaf = make_leaf(&Spec::vpn(), Some(&ca));
    let server = serve(&leaf, &[], |_| {}).await;
    let e = expect_err(
        server.addr,
        "other.example.com",
        &opts_for(&leaf, "both2.pem"),
    )
    .await;
    assert!(matches!(e, TlsError::NameMismatch { .. }), "{e:?}");
}

#[tokio::test]
async fn insecure_accepts_anything() {
    let mut spec = Spec::vpn();
    spec.dns = vec!["wrong.example"];
    spec.eku = Eku::ClientAuth;
    spec.not_before_days = -30;
    spec.not_after_days = -1;
    let leaf = make_leaf(&spec, None);
    let server = serve(&leaf, &[], |_| {}).await;
    let opts = TlsOptions {
        insecure: true,
        pin_sha256: Some([0u8; 32]),
        ca_cert: Some(PathBuf::from("/nonexistent/ignored-when-insecure.pem")),
        ..TlsOptions::default()
    };
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.accepted_for, "(insecure)");
    assert_eq!(info.leaf_der, leaf.cert.to_der().unwrap());
}

// ---------------------------------------------------------------------------
// Protocol

#[tokio::test]
async fn tls12_only_server_with_min_tls13_fails_naming_the_version() {
    let leaf = make_leaf(&Spec::vpn(), None);
    let server = serve(&leaf, &[], |acc| {
        acc.set_max_proto_version(Some(SslVersion::TLS1_2)).unwrap();
    })
    .await;
    let opts = TlsOptions {
        insecure: true,
        min_version: Some(TlsVersion::Tls13),
        ..TlsOptions::default()
    };
    let e = expect_err(server.addr, "vpn.example.com", &opts).await;
    assert!(matches!(e, TlsError::Handshake(_)), "{e:?}");
    assert_eq!(e.class(), TlsClass::Handshake);
    assert_words(&e, &["TLS handshake failed", "protocol version"]);

    // The same server is fine with the default minimum (TLS 1.2).
    let opts = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.version, "TLSv1.2");
}

#[tokio::test]
async fn max_version_and_cipher_options() {
    let ca = make_ca("Test Root");
    let leaf = make_leaf(&Spec::vpn(), Some(&ca));
    let server = serve(&leaf, &[], |acc| {
        acc.set_cipher_list("ECDHE-ECDSA-AES128-GCM-SHA256")
            .unwrap();
    })
    .await;
    let ca_file = write_ca_file("ciphers-ca.pem", &[&ca]);

    let mut opts = trust(&ca_file);
    opts.max_version = Some(TlsVersion::Tls12);
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.version, "TLSv1.2");
    assert_eq!(info.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");

    // TLS 1.3 suite selection.
    let mut opts = trust(&ca_file);
    opts.ciphers = Some("TLS_CHACHA20_POLY1305_SHA256".into());
    let info = expect_ok(server.addr, "vpn.example.com", &opts).await;
    assert_eq!(info.cipher, "TLS_CHACHA20_POLY1305_SHA256");

    // No TLS 1.2 cipher in common.
    let mut opts = trust(&ca_file);
    opts.max_version = Some(TlsVersion::Tls12);
    opts.ciphers = Some("ECDHE-ECDSA-AES256-GCM-SHA384".into());
    let e = expect_err(server.addr, "vpn.example.com", &opts).await;
    assert!(matches!(e, TlsError::Handshake(_)), "{e:?}");
    assert_words(&e, &["TLS handshake failed", "cipher"]);
}

#[tokio::test]
async fn sni_is_sent_only_for_names_and_only_when_enabled() {
    let leaf = make_leaf(&Spec::vpn(), None);
    let insecure = |sni: bool| TlsOptions {
        insecure: true,
        sni,
        ..TlsOptions::default()
    };

    let server = serve(&leaf, &[], |_| {}).await;
    expect_ok(server.addr, "vpn.example.com", &insecure(true)).await;
    assert_eq!(
        *server.sni.lock().unwrap(),
        Some(Some("vpn.example.com".to_owned()))
    );

    let server = serve(&leaf, &[], |_| {}).await;
    expect_ok(server.addr, "vpn.example.com", &insecure(false)).await;
    assert_eq!(server.sni.lock().unwrap().clone().flatten(), None);

    let server = serve(&leaf, &[], |_| {}).await;
    expect_ok(server.addr, "127.0.0.1", &insecure(true)).await;
    assert_eq!(server.sni.lock().unwrap().clone().flatten(), None);

    let server = serve(&leaf, &[], |_| {}).await;
    expect_ok(server.addr, "[::1]", &insecure(true)).await;
    assert_eq!(server.sni.lock().unwrap().clone().flatten(), None);
}

#[tokio::test]
async fn keylog_file_gets_nss_lines_and_mode_0600() {
    let leaf = make_leaf(&Spec::vpn(), None);
    let server = serve(&leaf, &[], |_| {}).await;
    let path = tmp_path("keylog.txt");
    let _ = std::fs::remove_file(&path);
    let mut opts = TlsOptions {
        insecure: true,
        keylog: Some(path.clone()),
        ..TlsOptions::default()
    };
    expect_ok(server.addr, "vpn.example.com", &opts).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET "), "{text}");
    assert!(text.contains("CLIENT_TRAFFIC_SECRET_0 "), "{text}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // TLS 1.2 appends a CLIENT_RANDOM line to the same file.
    opts.max_version = Some(TlsVersion::Tls12);
    expect_ok(server.addr, "vpn.example.com", &opts).await;
    let text2 = std::fs::read_to_string(&path).unwrap();
    assert!(text2.starts_with(&text), "appended, not truncated");
    assert!(text2.contains("CLIENT_RANDOM "), "{text2}");
    for line in text2.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[1].len(), 64, "client random hex: {line}");
    }
}

#[tokio::test]
async fn reset_during_handshake_is_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let _ = tcp.read(&mut buf).await; // part of the ClientHello
        tcp.set_zero_linger().unwrap();
        drop(tcp); // RST
    });
    let e = expect_err(addr, "vpn.example.com", &TlsOptions::default()).await;
    match &e {
        TlsError::Io(io) => assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset),
        other => panic!("expected Io, got {other:?}"),
    }
    assert_eq!(e.class(), TlsClass::Io);
    assert_words(&e, &["connection reset during the TLS handshake"]);
}

#[tokio::test]
async fn close_during_handshake_is_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let _ = tcp.read(&mut buf).await; // the whole ClientHello, so close sends FIN
        let _ = tcp.shutdown().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    let e = expect_err(addr, "vpn.example.com", &TlsOptions::default()).await;
    match &e {
        TlsError::Io(io) => assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("expected Io, got {other:?}"),
    }
    assert_eq!(e.class(), TlsClass::Io);
    assert_words(&e, &["closed the connection during the TLS handshake"]);
}

#[tokio::test]
async fn plain_http_server_is_a_handshake_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let _ = tcp.read(&mut buf).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    let e = expect_err(addr, "vpn.example.com", &TlsOptions::default()).await;
    assert!(matches!(e, TlsError::Handshake(_)), "{e:?}");
    assert_words(&e, &["TLS handshake failed", "did not answer with TLS"]);
}

#[tokio::test]
async fn unreadable_ca_file_is_a_config_error() {
    let bad = tmp_path("not-a-cert.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    for path in [bad, PathBuf::from("/nonexistent/ca.pem")] {
        let e = expect_err(addr, "vpn.example.com", &trust(&path)).await;
        assert_eq!(e.class(), TlsClass::Config, "{e:?}");
        assert_words(&e, &["--ca-cert", &path.display().to_string()]);
    }
}
