//! SSTP packet decoder: `packet_len` and `Packet::parse` are total (never panic), agree with
//! each other, and a decoded control message re-encodes to bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sstp_proto::wire::{self, Packet};

fuzz_target!(|data: &[u8]| {
    let len = wire::packet_len(data);
    if let Ok(p) = Packet::parse(data) {
        // A whole packet parsed: its length field is the input length.
        assert_eq!(len, Ok(Some(data.len())));
        if let Packet::Control(m) = p {
            let again = m.encode();
            assert_eq!(Packet::parse(&again), Ok(Packet::Control(m)));
        }
    }
});
