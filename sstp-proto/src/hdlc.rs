//! Async-HDLC framing (RFC 1662) for the pty between the helper and pppd.
//!
//! pppd in its default tty mode writes each PPP frame as `7E frame FCS16 7E`, with 0x7D-escaping.
//! [`encode`] always escapes every byte below 0x20 plus 0x7D and 0x7E, which any receiver accepts
//! whatever ACCM was negotiated. [`Deframer`] removes flags and escapes, checks the FCS (good
//! residue 0xF0B8) and yields the frame without FCS.

/// Flag byte.
pub const FLAG: u8 = 0x7e;
/// Control escape.
pub const ESCAPE: u8 = 0x7d;
/// FCS of a frame including its own FCS.
pub const GOOD_FCS: u16 = 0xf0b8;
/// Largest frame (unescaped, with FCS) the deframer keeps; longer ones are dropped.
pub const MAX_FRAME: usize = 16384;

const fn fcs_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut v = i as u16;
        let mut b = 0;
        while b < 8 {
            v = if v & 1 != 0 {
                (v >> 1) ^ 0x8408
            } else {
                v >> 1
            };
            b += 1;
        }
        t[i] = v;
        i += 1;
    }
    t
}

static FCS_TABLE: [u16; 256] = fcs_table();

const fn escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[FLAG as usize] = true;
    t[ESCAPE as usize] = true;
    t
}

static NEEDS_ESCAPE: [bool; 256] = escape_table();

/// FCS-16 over `data`, starting from `fcs` (0xFFFF for a new frame).
pub fn fcs16(mut fcs: u16, data: &[u8]) -> u16 {
    for &b in data {
        fcs = (fcs >> 8) ^ FCS_TABLE[((fcs ^ b as u16) & 0xff) as usize];
    }
    fcs
}

fn push_escaped(out: &mut Vec<u8>, data: &[u8]) {
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if NEEDS_ESCAPE[b as usize] {
            out.extend_from_slice(&data[start..i]);
            out.push(ESCAPE);
            out.push(b ^ 0x20);
            start = i + 1;
        }
    }
    out.extend_from_slice(&data[start..]);
}

/// Append `7E frame FCS 7E`, escaped, to `out`.
pub fn encode(frame: &[u8], out: &mut Vec<u8>) {
    out.reserve(frame.len() + frame.len() / 8 + 8);
    out.push(FLAG);
    push_escaped(out, frame);
    let fcs = !fcs16(0xffff, frame);
    push_escaped(out, &fcs.to_le_bytes());
    out.push(FLAG);
}

/// What went wrong with one frame (the deframer drops it and goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdlcError {
    /// FCS check failed.
    BadFcs,
    /// Shorter than FCS plus one byte.
    TooShort,
    /// Longer than [`MAX_FRAME`].
    TooLong,
}

impl std::fmt::Display for HdlcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HdlcError::BadFcs => write!(f, "HDLC frame with bad FCS"),
            HdlcError::TooShort => write!(f, "HDLC frame too short"),
            HdlcError::TooLong => write!(f, "HDLC frame longer than {MAX_FRAME} bytes"),
        }
    }
}

/// Incremental deframer: feed bytes with [`Deframer::push`], take frames with
/// [`Deframer::next_frame`].
#[derive(Debug, Default)]
pub struct Deframer {
    /// Unescaped bytes of the frame being assembled.
    cur: Vec<u8>,
    /// Last byte was an escape.
    escaped: bool,
    /// The current frame overflowed and is being skipped up to the next flag.
    overflow: bool,
    /// Completed frames (with FCS) and errors, in order.
    done: std::collections::VecDeque<Result<Vec<u8>, HdlcError>>,
}

impl Deframer {
    /// A new deframer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed raw bytes read from the pty.
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.escaped {
                self.escaped = false;
                if data[0] == FLAG {
                    // "7D 7E" aborts the frame (RFC 1662 §4.4.1).
                    self.cur.clear();
                    self.overflow = false;
                    data = &data[1..];
                    continue;
                }
                self.put(data[0] ^ 0x20);
                data = &data[1..];
                continue;
            }
            match data.iter().position(|&b| b == FLAG || b == ESCAPE) {
                None => {
                    self.put_slice(data);
                    return;
                }
                Some(i) => {
                    self.put_slice(&data[..i]);
                    if data[i] == ESCAPE {
                        self.escaped = true;
                    } else {
                        self.finish();
                    }
                    data = &data[i + 1..];
                }
            }
        }
    }

    fn put(&mut self, b: u8) {
        self.put_slice(&[b]);
    }

    fn put_slice(&mut self, s: &[u8]) {
        if self.overflow {
            return;
        }
        if self.cur.len() + s.len() > MAX_FRAME {
            self.overflow = true;
            self.cur.clear();
            return;
        }
        self.cur.extend_from_slice(s);
    }

    fn finish(&mut self) {
        if self.overflow {
            self.overflow = false;
            self.done.push_back(Err(HdlcError::TooLong));
            return;
        }
        if self.cur.is_empty() {
            return; // back-to-back flags
        }
        let frame = std::mem::take(&mut self.cur);
        if frame.len() < 3 {
            self.done.push_back(Err(HdlcError::TooShort));
        } else if fcs16(0xffff, &frame) != GOOD_FCS {
            self.done.push_back(Err(HdlcError::BadFcs));
        } else {
            let mut frame = frame;
            frame.truncate(frame.len() - 2);
            self.done.push_back(Ok(frame));
        }
    }

    /// The next complete frame (FCS removed), or an error for a dropped frame.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, HdlcError>> {
        self.done.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcs_of_rfc1662_check_value() {
        // The CRC-16/X-25 check value of "123456789" is 0x906E (= !fcs16).
        assert_eq!(!fcs16(0xffff, b"123456789"), 0x906e);
    }

    #[test]
    fn lcp_configure_request_byte_vector() {
        // An LCP Configure-Request with magic number, as pppd writes it with full ACCM.
        let frame = [
            0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x0a, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78,
        ];
        let mut out = Vec::new();
        encode(&frame, &mut out);
        let fcs = !fcs16(0xffff, &frame);
        let mut want = vec![
            0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x2a,
            0x7d, 0x25, 0x7d, 0x26, 0x7d, 0x32, 0x34, 0x56, 0x78,
        ];
        for b in fcs.to_le_bytes() {
            if b < 0x20 || b == 0x7d || b == 0x7e {
                want.extend([0x7d, b ^ 0x20]);
            } else {
                want.push(b);
            }
        }
        want.push(0x7e);
        assert_eq!(out, want);
        let mut d = Deframer::new();
        d.push(&out);
        assert_eq!(d.next_frame(), Some(Ok(frame.to_vec())));
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn round_trip_all_byte_values_any_split() {
        let frame: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        let mut enc = Vec::new();
        encode(&frame, &mut enc);
        encode(&[0x7e, 0x7d, 0x00], &mut enc);
        for split in [1, 2, 3, 7, 64, enc.len()] {
            let mut d = Deframer::new();
            for c in enc.chunks(split) {
                d.push(c);
            }
            assert_eq!(d.next_frame(), Some(Ok(frame.clone())), "split {split}");
            assert_eq!(d.next_frame(), Some(Ok(vec![0x7e, 0x7d, 0x00])));
            assert_eq!(d.next_frame(), None);
        }
    }

    #[test]
    fn accepts_unescaped_control_bytes_and_shared_flags() {
        // pppd with ACCM 0 does not escape control bytes; frames may share one flag.
        let a = [0xff, 0x03, 0x00, 0x21, 0x01, 0x02];
        let b = [0x21, 0x45, 0x00];
        let mut raw = vec![FLAG];
        for f in [&a[..], &b[..]] {
            raw.extend_from_slice(f);
            raw.extend_from_slice(&(!fcs16(0xffff, f)).to_le_bytes());
            raw.push(FLAG);
        }
        // FCS bytes might be 7E/7D; this vector's are not.
        let mut d = Deframer::new();
        d.push(&raw);
        assert_eq!(d.next_frame(), Some(Ok(a.to_vec())));
        assert_eq!(d.next_frame(), Some(Ok(b.to_vec())));
    }

    #[test]
    fn bad_fcs_short_and_long_frames_are_reported_and_skipped() {
        let mut d = Deframer::new();
        d.push(&[0x7e, 1, 2, 3, 4, 0x7e, 0x7e, 1, 0x7e]);
        assert_eq!(d.next_frame(), Some(Err(HdlcError::BadFcs)));
        assert_eq!(d.next_frame(), Some(Err(HdlcError::TooShort)));
        d.push(&vec![0x55; MAX_FRAME + 10]);
        d.push(&[0x7e]);
        assert_eq!(d.next_frame(), Some(Err(HdlcError::TooLong)));
        let mut ok = Vec::new();
        encode(&[1, 2, 3], &mut ok);
        d.push(&ok);
        assert_eq!(d.next_frame(), Some(Ok(vec![1, 2, 3])));
    }

    #[test]
    fn escape_then_flag_aborts_frame() {
        let mut d = Deframer::new();
        d.push(&[0x7e, 1, 2, 0x7d, 0x7e]);
        let mut ok = Vec::new();
        encode(&[9, 9, 9], &mut ok);
        d.push(&ok[1..]);
        assert_eq!(d.next_frame(), Some(Ok(vec![9, 9, 9])));
        assert_eq!(d.next_frame(), None);
    }
}
