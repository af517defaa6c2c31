//! The crypto binding (MS-SSTP §3.2.5.2): HLAK, CMK and the Compound MAC.

use crate::secret::Secret;
use crate::wire::{
    Attribute, ControlMessage, MessageType, CALL_CONNECTED_LEN, CALL_CONNECTED_MAC_OFFSET,
};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// The hash the binding uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashProtocol {
    /// CERT_HASH_PROTOCOL_SHA1.
    Sha1,
    /// CERT_HASH_PROTOCOL_SHA256.
    Sha256,
}

impl HashProtocol {
    /// Choose from the server's bitmask: SHA-256 when offered (MS-SSTP §2.2.6), else SHA-1.
    pub fn choose(bitmask: u8) -> Option<HashProtocol> {
        if bitmask & crate::wire::hash_bits::SHA256 != 0 {
            Some(HashProtocol::Sha256)
        } else if bitmask & crate::wire::hash_bits::SHA1 != 0 {
            Some(HashProtocol::Sha1)
        } else {
            None
        }
    }
    /// Wire value.
    pub fn value(self) -> u8 {
        match self {
            HashProtocol::Sha1 => 1,
            HashProtocol::Sha256 => 2,
        }
    }
    /// Digest length.
    pub fn digest_len(self) -> usize {
        match self {
            HashProtocol::Sha1 => 20,
            HashProtocol::Sha256 => 32,
        }
    }
    /// Name for logs.
    pub fn name(self) -> &'static str {
        match self {
            HashProtocol::Sha1 => "SHA-1",
            HashProtocol::Sha256 => "SHA-256",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            HashProtocol::Sha1 => {
                let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            HashProtocol::Sha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }
}

/// Where the HLAK came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlakSource {
    /// No keys (PAP, CHAP-MD5): 32 zero bytes.
    Zero,
    /// MS-CHAPv2 style: send[0..16) ‖ recv[0..16).
    SendRecv16,
    /// A key of 32 bytes or more (EAP-TLS on pppd 2.5): send[0..32).
    Send32,
}

/// Build the 32-byte HLAK from the MPPE keys pppd holds (MS-SSTP §3.2.5.2.3).
///
/// A send key of at least 32 bytes is used alone (EAP-TLS MSK); otherwise the first 16 bytes of
/// each key are concatenated (MS-CHAPv2, where pppd 2.5 hands out 20-byte keys); no keys give
/// zeros. Short keys are zero padded.
pub fn hlak(send: &Secret, recv: &Secret) -> (Secret, HlakSource) {
    let mut out = vec![0u8; 32];
    let s = send.expose();
    let r = recv.expose();
    let source = if s.is_empty() && r.is_empty() {
        HlakSource::Zero
    } else if s.len() >= 32 {
        out.copy_from_slice(&s[..32]);
        HlakSource::Send32
    } else {
        let n = s.len().min(16);
        out[..n].copy_from_slice(&s[..n]);
        let m = r.len().min(16);
        out[16..16 + m].copy_from_slice(&r[..m]);
        HlakSource::SendRecv16
    };
    (Secret::new(out), source)
}

/// The seed of the CMK PRF.
const CMK_SEED: &[u8; 29] = b"SSTP inner method derived CMK";

/// CMK = T1 = HMAC-H(HLAK, seed ‖ LEN(16-bit little endian) ‖ 0x01).
pub fn cmk(hash: HashProtocol, hlak: &Secret) -> Secret {
    let mut input = Vec::with_capacity(32);
    input.extend_from_slice(CMK_SEED);
    input.extend_from_slice(&(hash.digest_len() as u16).to_le_bytes());
    input.push(1);
    Secret::new(hash.hmac(hlak.expose(), &input))
}

/// The complete 112-byte Call Connected message with the Compound MAC filled in.
pub fn call_connected(
    hash: HashProtocol,
    nonce: &[u8; 32],
    cert_hash: &[u8],
    hlak: &Secret,
) -> Vec<u8> {
    let mut ch = [0u8; 32];
    let n = cert_hash.len().min(32);
    ch[..n].copy_from_slice(&cert_hash[..n]);
    let msg = ControlMessage {
        msg_type: MessageType::CallConnected,
        attributes: vec![Attribute::CryptoBinding {
            hash_protocol: hash.value(),
            nonce: *nonce,
            cert_hash: ch,
            compound_mac: [0u8; 32],
        }],
    };
    let mut out = msg.encode();
    debug_assert_eq!(out.len(), CALL_CONNECTED_LEN);
    let mac = hash.hmac(cmk(hash, hlak).expose(), &out);
    out[CALL_CONNECTED_MAC_OFFSET..CALL_CONNECTED_MAC_OFFSET + mac.len()].copy_from_slice(&mac);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }
    fn n32(s: &str) -> [u8; 32] {
        hex(s).try_into().unwrap()
    }

    // MS-SSTP §4.7, SHA-256 case.
    #[test]
    fn spec_vector_sha256() {
        let nonce = n32("41 2B 48 9A EB D7 EC C7 D0 89 66 F2 6B E7 CD 72 B2 31 A0 E9 21 0D 7C 91 B3 08 86 2B 03 44 C4 35");
        let hlak = Secret::new(hex("2A 1B B4 0D 55 AB 0F 5E F3 2F 06 F2 B3 CC 73 C4 8F D3 FA C4 1D 7A 13 15 A1 92 28 D9 02 4C A1 64"));
        let cert = hex("79 93 EF 31 4C 49 3D AC E9 F0 2D 60 E7 E6 1C 84 B6 69 0A AF E9 D7 AE EA 92 CB BE 8A D5 99 42 2D");
        let expected = hex("10 01 00 70 00 04 00 01 00 03 00 68 00 00 00 02
            41 2B 48 9A EB D7 EC C7 D0 89 66 F2 6B E7 CD 72
            B2 31 A0 E9 21 0D 7C 91 B3 08 86 2B 03 44 C4 35
            79 93 EF 31 4C 49 3D AC E9 F0 2D 60 E7 E6 1C 84
            B6 69 0A AF E9 D7 AE EA 92 CB BE 8A D5 99 42 2D
            52 A6 8E FD 8C FF BF 52 77 0B 8F 0F E8 EC 73 71
            65 83 AF 6D 61 1E B6 D1 79 B3 B2 08 40 98 54 49");
        assert_eq!(
            call_connected(HashProtocol::Sha256, &nonce, &cert, &hlak),
            expected
        );
    }

    // MS-SSTP §4.7, SHA-1 case; the HLAK is built from the two 16-byte MPPE keys.
    #[test]
    fn spec_vector_sha1_from_keys() {
        let nonce = n32("0F 1A 2D 58 D4 A3 E3 00 0F AD 3C E4 90 6E 07 B7 07 AA 9E 44 1C CE AC 5C BD 7B 2C C1 C9 D8 6C DF");
        let send = Secret::new(hex("4B 31 28 F4 39 25 D9 00 6E EF B1 C4 E8 65 15 A1"));
        let recv = Secret::new(hex("D8 8E 56 BA B3 CA 2B DF 03 73 B7 F5 A8 A1 3B 19"));
        let (h, src) = hlak(&send, &recv);
        assert_eq!(src, HlakSource::SendRecv16);
        let cert = hex("58 26 B6 29 BD A5 9B 8E 6F D8 DC D2 62 2F D3 4C 53 48 05 A5");
        let expected = hex("10 01 00 70 00 04 00 01 00 03 00 68 00 00 00 01
            0F 1A 2D 58 D4 A3 E3 00 0F AD 3C E4 90 6E 07 B7
            07 AA 9E 44 1C CE AC 5C BD 7B 2C C1 C9 D8 6C DF
            58 26 B6 29 BD A5 9B 8E 6F D8 DC D2 62 2F D3 4C
            53 48 05 A5 00 00 00 00 00 00 00 00 00 00 00 00
            69 91 5D D5 83 D8 06 2F EF 16 F6 1D B2 F0 32 90
            EC 27 CB 6C 00 00 00 00 00 00 00 00 00 00 00 00");
        assert_eq!(
            call_connected(HashProtocol::Sha1, &nonce, &cert, &h),
            expected
        );
    }

    // EAP-TLS vector (Windows 8.1 -> Windows Server 2019 RAS), a 32-byte send key.
    #[test]
    fn eap_tls_vector_32_byte_key() {
        let nonce = n32("38 8a 1e cb f3 02 ba 02 f9 f3 72 ce 37 48 8e c3 6b 71 a2 8b 5e 1b 19 fb e4 4d 54 65 a6 31 c4 63");
        let cert = hex("7f f1 50 17 6f a8 e3 8a 1f 40 2d 11 ff 89 ff 11 b6 65 05 ad 7f 9a e8 12 05 27 7b a4 a6 b9 ef 9d");
        let send = Secret::new(hex("bb 2c 17 ed ba a6 43 b3 d5 11 eb 98 48 79 2b 7c ab 5f 5d 70 9f e9 bd f8 9b 5d ea f5 a8 c1 7d b7"));
        let (h, src) = hlak(&send, &Secret::new(vec![9u8; 32]));
        assert_eq!(src, HlakSource::Send32);
        let msg = call_connected(HashProtocol::Sha256, &nonce, &cert, &h);
        assert_eq!(
            &msg[80..112],
            &hex("fe 64 73 c7 d1 83 91 4e 48 3f ea 1b 12 a6 e7 60 a4 da 16 b6 2f ab 12 a0 a1 e5 4e 0e c3 25 b2 4e")[..]
        );
    }

    #[test]
    fn hlak_rules() {
        let (z, s) = hlak(&Secret::default(), &Secret::default());
        assert_eq!(s, HlakSource::Zero);
        assert_eq!(z.expose(), &[0u8; 32]);
        // pppd 2.5 MS-CHAPv2: 20-byte keys, only the first 16 of each count.
        let send = Secret::new((0..20).collect());
        let recv = Secret::new((100..120).collect());
        let (h, s) = hlak(&send, &recv);
        assert_eq!(s, HlakSource::SendRecv16);
        let mut want: Vec<u8> = (0..16).collect();
        want.extend(100..116);
        assert_eq!(h.expose(), &want[..]);
    }

    #[test]
    fn hash_choice() {
        assert_eq!(HashProtocol::choose(3), Some(HashProtocol::Sha256));
        assert_eq!(HashProtocol::choose(2), Some(HashProtocol::Sha256));
        assert_eq!(HashProtocol::choose(1), Some(HashProtocol::Sha1));
        assert_eq!(HashProtocol::choose(0), None);
        assert_eq!(HashProtocol::choose(0xf4), None);
    }
}
