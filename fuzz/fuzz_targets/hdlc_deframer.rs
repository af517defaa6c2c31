//! Async-HDLC deframer fed arbitrary pty bytes in two pieces (split where the first byte
//! says); the same bytes fed one at a time (which never takes the deframer's fast path for
//! escapes) must give the same frames and errors; and the encoder/deframer round trip for the
//! input taken as one PPP frame.
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

    // Round trip: whatever pppd hands us as a frame comes back unchanged.
    if !data.is_empty() && data.len() <= hdlc::MAX_FRAME - 2 {
        let mut wire = Vec::new();
        hdlc::encode(data, &mut wire);
        let mut d = hdlc::Deframer::new();
        d.push(&wire);
        let got = d.next_frame().expect("one frame").expect("a valid frame");
        assert_eq!(got, data);
        assert!(d.next_frame().is_none());
    }
});
