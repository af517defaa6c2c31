//! Certificates for the test server, generated with the openssl crate: one CA and leaves
//! signed by it, good or broken in one way each.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which leaf certificate the server presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafKind {
    /// SAN IP 127.0.0.1 and DNS localhost, serverAuth EKU, valid for 30 days.
    Good,
    /// As `Good`, but notAfter was yesterday.
    Expired,
    /// SAN DNS names only, none of them the loopback address: `a.example`, `b.example`.
    WrongName,
    /// As `Good`, but the EKU is clientAuth only.
    NoServerAuth,
    /// As `Good`, but signed by its own key (issuer = subject), not by the CA.
    SelfSigned,
}

/// A test CA and the key material of one leaf it signed.
pub struct ServerCert {
    /// The CA certificate (trust anchor for `--ca-cert`).
    pub ca: X509,
    /// The server's leaf certificate.
    pub leaf: X509,
    /// The leaf's private key.
    pub key: PKey<Private>,
}

/// A CA that can sign leaves.
pub struct TestCa {
    /// CA certificate.
    pub cert: X509,
    key: PKey<Private>,
}

fn new_key() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn days_from_now(days: i64) -> Result<Asn1Time, ErrorStack> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Asn1Time::from_unix(now + days * 86_400)
}

fn serial() -> Result<Asn1Integer, ErrorStack> {
    let mut bn = BigNum::new()?;
    bn.rand(64, MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}

impl TestCa {
    /// A new self-signed CA, valid from two days ago for a year.
    pub fn new() -> Result<TestCa, ErrorStack> {
        let key = new_key()?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "sstp-rs test server")?;
        name.append_entry_by_nid(Nid::COMMONNAME, "sstp-rs test CA")?;
        let name = name.build();
        let mut b = X509Builder::new()?;
        b.set_version(2)?;
        b.set_serial_number(serial()?.as_ref())?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        b.set_not_before(days_from_now(-2)?.as_ref())?;
        b.set_not_after(days_from_now(365)?.as_ref())?;
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        b.sign(&key, MessageDigest::sha256())?;
        Ok(TestCa {
            cert: b.build(),
            key,
        })
    }

    /// A leaf of the given kind signed by this CA.
    pub fn leaf(&self, kind: LeafKind) -> Result<ServerCert, ErrorStack> {
        let key = new_key()?;
        let cn = match kind {
            LeafKind::WrongName => "a.example",
            _ => "127.0.0.1",
        };
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "sstp-rs test server")?;
        name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
        let name = name.build();
        let mut b = X509Builder::new()?;
        b.set_version(2)?;
        b.set_serial_number(serial()?.as_ref())?;
        b.set_subject_name(&name)?;
        if kind == LeafKind::SelfSigned {
            b.set_issuer_name(&name)?;
        } else {
            b.set_issuer_name(self.cert.subject_name())?;
        }
        b.set_pubkey(&key)?;
        let (from, to) = match kind {
            LeafKind::Expired => (-30, -1),
            _ => (-1, 30),
        };
        b.set_not_before(days_from_now(from)?.as_ref())?;
        b.set_not_after(days_from_now(to)?.as_ref())?;
        b.append_extension(BasicConstraints::new().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_agreement()
                .build()?,
        )?;
        let eku = match kind {
            LeafKind::NoServerAuth => ExtendedKeyUsage::new().client_auth().build()?,
            _ => ExtendedKeyUsage::new().server_auth().build()?,
        };
        b.append_extension(eku)?;
        let issuer = (kind != LeafKind::SelfSigned).then_some(&*self.cert);
        let ctx = b.x509v3_context(issuer, None);
        let san = match kind {
            LeafKind::WrongName => SubjectAlternativeName::new()
                .dns("a.example")
                .dns("b.example")
                .build(&ctx)?,
            _ => SubjectAlternativeName::new()
                .ip("127.0.0.1")
                .dns("localhost")
                .build(&ctx)?,
        };
        b.append_extension(san)?;
        let signer = if kind == LeafKind::SelfSigned {
            &key
        } else {
            &self.key
        };
        b.sign(signer, MessageDigest::sha256())?;
        Ok(ServerCert {
            ca: self.cert.clone(),
            leaf: b.build(),
            key,
        })
    }
}

impl ServerCert {
    /// A fresh CA and one leaf of the given kind.
    pub fn generate(kind: LeafKind) -> ServerCert {
        TestCa::new()
            .and_then(|ca| ca.leaf(kind))
            .expect("openssl can generate test certificates")
    }

    /// SHA-256 of the leaf (DER), the value `--cert-sha256` pins.
    pub fn leaf_sha256(&self) -> [u8; 32] {
        openssl::sha::sha256(&self.leaf_der())
    }

    /// SHA-1 of the leaf (DER).
    pub fn leaf_sha1(&self) -> [u8; 20] {
        openssl::sha::sha1(&self.leaf_der())
    }

    /// The leaf in DER.
    pub fn leaf_der(&self) -> Vec<u8> {
        self.leaf
            .to_der()
            .expect("DER encoding of a built certificate")
    }

    /// Write the CA certificate as PEM to `path` (for `--ca-cert`).
    pub fn write_ca_pem(&self, path: &Path) -> std::io::Result<()> {
        let pem = self
            .ca
            .to_pem()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        std::fs::write(path, pem)
    }
}
