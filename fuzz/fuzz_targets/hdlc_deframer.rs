//! Async-HDLC deframer fed arbitrary pty bytes in two pieces (split where the first byte
//! says); the same bytes fed one at a time (which never takes the deframer's fast path for
//! escapes) must give the same frames and errors; and the encoder/deframer round trip, with
//! either escaping, for the input taken as one PPP frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sstp_proto::hdlc;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    let mut d = hdlc::Deframer::new();
    let mut pieces = Vec::new();
    for piece in [&data[..split], &data[split..]] {
        d.push(piece);
        while let Some(f) = d.next_frame() {
            if let Ok(f) = &f {
                assert!(f.len() <= hdlc::MAX_FRAME);
            }
            pieces.push(f);
        }
    }
    let mut d = hdlc::Deframer::new();
    let mut bytewise = Vec::new();
    for b in data {
        d.push_frames(std::slice::from_ref(b), |f| {
            bytewise.push(f.map(<[u8]>::to_vec))
        });
    }
    assert_eq!(pieces, bytewise);

    // Round trip with either escaping: whatever pppd hands us as a frame comes back unchanged,
    // and with only 7D/7E escaped no flag is inside.
    if !data.is_empty() && data.len() <= hdlc::MAX_FRAME - 2 {
        for escape in [hdlc::Escape::AllControl, hdlc::Escape::FlagsOnly] {
            let mut wire = Vec::new();
            hdlc::encode_with(data, escape, &mut wire);
            assert!(!wire[1..wire.len() - 1].contains(&hdlc::FLAG));
            if escape == hdlc::Escape::AllControl {
                assert!(wire.iter().all(|&b| b >= 0x20));
            }
            let mut d = hdlc::Deframer::new();
            d.push(&wire);
            let got = d.next_frame().expect("one frame").expect("a valid frame");
            assert_eq!(got, data);
            assert!(d.next_frame().is_none());
        }
    }
});
