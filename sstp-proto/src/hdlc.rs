//! Async-HDLC framing (RFC 1662) for the pty between the helper and pppd.
//!
//! pppd in its default tty mode writes each PPP frame as `7E frame FCS16 7E`, with 0x7D-escaping.
//! [`encode`] escapes every byte below 0x20 plus 0x7D and 0x7E, which any receiver accepts
//! whatever ACCM was negotiated; [`encode_with`] with [`Escape::FlagsOnly`] escapes only 0x7D
//! and 0x7E, for a receiver whose ACCM is 0 (see `ppp::RecvAccm` for when pppd's is).
//! [`Deframer`] removes flags and escapes, checks the FCS (good residue 0xF0B8) and yields the
//! frame without FCS.

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

/// Slicing-by-16 tables (8 KiB): `T[0]` is the byte-at-a-time table, `T[k][i]` is the FCS of
/// byte `i` followed by `k` zero bytes, so sixteen bytes fold into the FCS with sixteen lookups
/// and no dependency between them.
const fn fcs_tables() -> [[u16; 256]; 16] {
    let mut t = [[0u16; 256]; 16];
    t[0] = fcs_table();
    let mut k = 1;
    while k < 16 {
        let mut i = 0;
        while i < 256 {
            let p = t[k - 1][i];
            t[k][i] = (p >> 8) ^ t[0][(p & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static FCS_TABLES: [[u16; 256]; 16] = fcs_tables();

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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Some byte of `x` is zero (exact: no false positives for the "any" question).
#[inline(always)]
fn has_zero_byte(x: u64) -> bool {
    (x.wrapping_sub(ONES) & !x & HIGHS) != 0
}

/// Some byte of `x` is below 0x20, or is 0x7D or 0x7E: the word needs escaping.
#[inline(always)]
fn word_needs_escape(x: u64) -> bool {
    // High bit clear and (b & 0x7f) < 0x20  <=>  b < 0x20.
    let below = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    below != 0
        || has_zero_byte(x ^ (ONES * FLAG as u64))
        || has_zero_byte(x ^ (ONES * ESCAPE as u64))
}

const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of the result is set exactly when that byte of `x` is zero (no
/// borrow runs between bytes, so none above a zero byte either).
#[inline(always)]
fn zero_byte_mask(x: u64) -> u64 {
    !(((x & LOWS) + LOWS) | x) & HIGHS
}

#[inline(always)]
fn word_at(data: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&data[i..i + 8]);
    u64::from_le_bytes(w)
}

/// FCS-16 over `data`, starting from `fcs` (0xFFFF for a new frame).
pub fn fcs16(fcs: u16, data: &[u8]) -> u16 {
    let t = &FCS_TABLES;
    let mut crc = fcs;
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let a = word_at(c, 0) ^ u64::from(crc);
        let b = word_at(c, 8);
        crc = t[15][(a & 0xff) as usize]
            ^ t[14][((a >> 8) & 0xff) as usize]
            ^ t[13][((a >> 16) & 0xff) as usize]
            ^ t[12][((a >> 24) & 0xff) as usize]
            ^ t[11][((a >> 32) & 0xff) as usize]
            ^ t[10][((a >> 40) & 0xff) as usize]
            ^ t[9][((a >> 48) & 0xff) as usize]
            ^ t[8][(a >> 56) as usize]
            ^ t[7][(b & 0xff) as usize]
            ^ t[6][((b >> 8) & 0xff) as usize]
            ^ t[5][((b >> 16) & 0xff) as usize]
            ^ t[4][((b >> 24) & 0xff) as usize]
            ^ t[3][((b >> 32) & 0xff) as usize]
            ^ t[2][((b >> 40) & 0xff) as usize]
            ^ t[1][((b >> 48) & 0xff) as usize]
            ^ t[0][(b >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u16::from(b)) & 0xff) as usize];
    }
    crc
}

fn push_escaped(out: &mut Vec<u8>, data: &[u8]) {
    // Room for the worst case (every byte escaped), trimmed at the end: the loop then writes
    // by index with no capacity checks. Clean words are copied whole; a word with a special
    // byte is escaped without branches (write 7D, then the byte over it or after it).
    let start = out.len();
    out.resize(start + 2 * data.len(), 0);
    let dst = &mut out[start..];
    let mut j = 0;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        if !word_needs_escape(u64::from_le_bytes(a)) {
            dst[j..j + 8].copy_from_slice(w);
            j += 8;
        } else {
            j = escape_bytes(dst, j, w);
        }
    }
    j = escape_bytes(dst, j, words.remainder());
    out.truncate(start + j);
}

/// Escape `src` into `dst` from `j` on, branch-free per byte; returns the new end.
#[inline(always)]
fn escape_bytes(dst: &mut [u8], mut j: usize, src: &[u8]) -> usize {
    for &b in src {
        let e = usize::from(NEEDS_ESCAPE[b as usize]);
        dst[j] = ESCAPE;
        dst[j + e] = b ^ (0x20 * e as u8);
        j += 1 + e;
    }
    j
}

/// Append `src` to `out` with only 7D and 7E escaped: the plain runs between them (in random
/// data about 128 bytes long) are copied whole.
fn push_flags_escaped(out: &mut Vec<u8>, src: &[u8]) {
    let mut last = 0;
    let mut base = 0;
    while base < src.len() {
        let mut specials = special_bitmap(&src[base..src.len().min(base + 64)]);
        while specials != 0 {
            let p = base + specials.trailing_zeros() as usize;
            specials &= specials - 1;
            out.extend_from_slice(&src[last..p]);
            out.extend_from_slice(&[ESCAPE, src[p] ^ 0x20]);
            last = p + 1;
        }
        base += 64;
    }
    out.extend_from_slice(&src[last..]);
}

/// Which bytes [`encode_with`] escapes (RFC 1662 section 7.1: the receiver's ACCM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Every byte below 0x20, and 0x7D and 0x7E: accepted whatever ACCM is in force.
    AllControl,
    /// Only 0x7D and 0x7E: for a receiver whose ACCM is 0.
    FlagsOnly,
}

/// Append `7E frame FCS 7E`, escaped as `escape` says, to `out`.
pub fn encode_with(frame: &[u8], escape: Escape, out: &mut Vec<u8>) {
    let fcs = !fcs16(0xffff, frame);
    match escape {
        Escape::AllControl => {
            out.reserve(frame.len() + frame.len() / 8 + 8);
            out.push(FLAG);
            push_escaped(out, frame);
            push_escaped(out, &fcs.to_le_bytes());
        }
        Escape::FlagsOnly => {
            out.reserve(frame.len() + frame.len() / 64 + 8);
            out.push(FLAG);
            push_flags_escaped(out, frame);
            push_flags_escaped(out, &fcs.to_le_bytes());
        }
    }
    out.push(FLAG);
}

/// Append `7E frame FCS 7E`, every control byte escaped, to `out`.
pub fn encode(frame: &[u8], out: &mut Vec<u8>) {
    encode_with(frame, Escape::AllControl, out);
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

/// The frame buffer: [`MAX_FRAME`] bytes, and room for the 32-byte copies that may run past the
/// end of the bytes they carry.
const BUF_LEN: usize = MAX_FRAME + 32;

/// Bit k set when `block[k]` (`block` at most 64 bytes) is 7D or 7E.
#[inline(always)]
fn special_bitmap(block: &[u8]) -> u64 {
    let mut ev = 0;
    let mut words = block.chunks_exact(8);
    // The fixed range bounds the loop at eight words, which the compiler unrolls; iterating
    // the chunks alone measured about 4% slower.
    for (k, _) in (0..64).step_by(8).zip(&mut words) {
        ev |= special_bits(word_at(block, k)) << k;
    }
    let rem = words.remainder();
    if !rem.is_empty() {
        // Zero padding: a zero byte is neither 7D nor 7E.
        let mut w = [0u8; 8];
        w[..rem.len()].copy_from_slice(rem);
        ev |= special_bits(u64::from_le_bytes(w)) << (block.len() - rem.len());
    }
    ev
}

/// Bit k set when byte k of `x` is 7D or 7E: after XOR 7D those are 00 and 03, the only bytes
/// with bits 2-7 clear and bit 0 equal to bit 1.
#[inline(always)]
fn special_bits(x: u64) -> u64 {
    let y = x ^ (ONES * ESCAPE as u64);
    let m = zero_byte_mask((y & (ONES * 0xfc)) | ((y ^ (y >> 1)) & ONES));
    // Gather the high bit of each byte into the low eight bits.
    (m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Incremental deframer: feed bytes with [`Deframer::push_frames`] (frames handed to a
/// callback, no allocation per frame), or with [`Deframer::push`] and take owned frames with
/// [`Deframer::next_frame`].
#[derive(Debug, Default)]
pub struct Deframer {
    /// Unescaped bytes of the frame being assembled are `buf[..n]`, `n <= MAX_FRAME`; `buf` is
    /// sized [`BUF_LEN`] on first use and kept, so unescaping writes by index.
    buf: Vec<u8>,
    n: usize,
    /// Last byte was an escape.
    escaped: bool,
    /// The current frame overflowed and is being skipped up to the next flag (escapes still
    /// count: 7D 7E aborts it).
    overflow: bool,
    /// Completed frames (with FCS removed) and errors, for [`Deframer::next_frame`].
    done: std::collections::VecDeque<Result<Vec<u8>, HdlcError>>,
}

impl Deframer {
    /// A new deframer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed raw bytes read from the pty; queue the frames for [`Deframer::next_frame`].
    pub fn push(&mut self, data: &[u8]) {
        let mut done = std::mem::take(&mut self.done);
        self.push_frames(data, |f| done.push_back(f.map(<[u8]>::to_vec)));
        self.done = done;
    }

    /// Feed raw bytes read from the pty; call `f` with each complete frame (FCS removed), or
    /// with the error of a dropped one, in order. The slice lives until `f` returns.
    pub fn push_frames(&mut self, data: &[u8], mut f: impl FnMut(Result<&[u8], HdlcError>)) {
        if self.buf.len() != BUF_LEN {
            self.buf.resize(BUF_LEN, 0);
        }
        // Bytes before `last` are dealt with.
        let mut last = 0;
        if self.escaped && data.first().is_some_and(|&b| b != FLAG) {
            // The byte after an escape that ended the last push (7D 7E is left to the flag).
            self.escaped = false;
            self.put_byte(data[0] ^ 0x20);
            last = 1;
        }
        // 64 bytes at a time: a bitmap of their 7D and 7E bytes, then the plain bytes up to
        // each of those are copied as they are. In random data about one byte in eight is
        // escaped and there is one flag per frame, so the loop runs once per escape.
        let mut base = 0;
        while base < data.len() {
            let mut specials = special_bitmap(&data[base..data.len().min(base + 64)]);
            while specials != 0 {
                let p = base + specials.trailing_zeros() as usize;
                specials &= specials - 1;
                if p < last {
                    continue; // a 7D that an escape before it made data
                }
                let gap = p - last;
                if data[p] == ESCAPE
                    && p + 1 < data.len()
                    && data[p + 1] != FLAG
                    && !self.overflow
                    && self.n + gap < MAX_FRAME
                    && last + 32 <= data.len()
                {
                    // The common case: plain bytes, then an escaped byte, with room for both.
                    // 32 bytes are copied whatever the gap (most are shorter); what lands past
                    // the gap is overwritten next, or lies beyond `n`.
                    let n = self.n;
                    self.buf[n..n + 32].copy_from_slice(&data[last..last + 32]);
                    if gap > 32 {
                        self.buf[n + 32..n + gap].copy_from_slice(&data[last + 32..p]);
                    }
                    self.buf[n + gap] = data[p + 1] ^ 0x20;
                    self.n = n + gap + 1;
                    last = p + 2;
                    continue;
                }
                self.put_run(&data[last..p]);
                if data[p] == FLAG {
                    self.flag(&mut f);
                    last = p + 1;
                } else if p + 1 == data.len() || data[p + 1] == FLAG {
                    // An escape at the end of the push, or "7D 7E" (the flag aborts the frame).
                    self.escaped = true;
                    last = p + 1;
                } else {
                    self.put_byte(data[p + 1] ^ 0x20);
                    last = p + 2;
                }
            }
            base += 64;
        }
        self.put_run(&data[last..]);
    }

    /// Append plain bytes to the frame, or skip them once it is longer than [`MAX_FRAME`].
    fn put_run(&mut self, run: &[u8]) {
        if self.overflow {
            return;
        }
        if self.n + run.len() > MAX_FRAME {
            self.overflow = true;
            self.n = 0;
            return;
        }
        self.buf[self.n..self.n + run.len()].copy_from_slice(run);
        self.n += run.len();
    }

    /// Append one unescaped byte, as [`Deframer::put_run`].
    fn put_byte(&mut self, b: u8) {
        self.put_run(&[b]);
    }

    /// A flag: it ends the frame, or aborts it after an escape ("7D 7E", RFC 1662 §4.4.1).
    #[inline]
    fn flag(&mut self, f: &mut impl FnMut(Result<&[u8], HdlcError>)) {
        if self.escaped {
            self.escaped = false;
            self.n = 0;
            self.overflow = false;
        } else {
            self.finish(f);
        }
    }

    fn finish(&mut self, f: &mut impl FnMut(Result<&[u8], HdlcError>)) {
        if self.overflow {
            self.overflow = false;
            f(Err(HdlcError::TooLong));
            return;
        }
        let n = std::mem::take(&mut self.n);
        if n == 0 {
            return; // back-to-back flags
        }
        let frame = &self.buf[..n];
        if n < 3 {
            f(Err(HdlcError::TooShort));
        } else if fcs16(0xffff, frame) != GOOD_FCS {
            f(Err(HdlcError::BadFcs));
        } else {
            f(Ok(&frame[..n - 2]));
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
    fn frame_of_exactly_max_frame_bytes_passes_one_more_is_too_long() {
        // MAX_FRAME counts the unescaped bytes between flags, FCS included.
        for (payload, want_ok) in [(MAX_FRAME - 2, true), (MAX_FRAME - 1, false)] {
            let frame: Vec<u8> = (0..payload).map(|i| (i * 7) as u8).collect();
            let mut enc = Vec::new();
            encode(&frame, &mut enc);
            for split in [enc.len(), 1000, 7] {
                let mut d = Deframer::new();
                for c in enc.chunks(split) {
                    d.push(c);
                }
                let want = if want_ok {
                    Ok(frame.clone())
                } else {
                    Err(HdlcError::TooLong)
                };
                assert_eq!(
                    d.next_frame(),
                    Some(want),
                    "payload {payload} split {split}"
                );
                assert_eq!(d.next_frame(), None);
            }
        }
    }

    #[test]
    fn max_frame_holds_when_the_last_byte_is_an_escaped_one() {
        // Every byte escaped (0x01 -> 7D 21), so the byte at the limit arrives as an escape,
        // with a good frame after it in the same push: MAX_FRAME bytes pass, one more is
        // TooLong (not a frame one byte too long with a bad FCS).
        let mut next = Vec::new();
        encode(&[0x41; 40], &mut next);
        for (len, want_ok) in [(MAX_FRAME, true), (MAX_FRAME + 1, false)] {
            let payload = vec![0x01; len - 2];
            let mut wire = vec![FLAG];
            for &b in payload
                .iter()
                .chain(&(!fcs16(0xffff, &payload)).to_le_bytes())
            {
                wire.extend([ESCAPE, b ^ 0x20]);
            }
            wire.extend_from_slice(&next);
            let mut d = Deframer::new();
            d.push(&wire);
            let want = if want_ok {
                Ok(payload)
            } else {
                Err(HdlcError::TooLong)
            };
            assert_eq!(d.next_frame(), Some(want), "{len} bytes");
            assert_eq!(d.next_frame(), Some(Ok(vec![0x41; 40])));
            assert_eq!(d.next_frame(), None);
        }
    }

    #[test]
    fn escapes_are_tracked_while_skipping_an_overlong_frame() {
        // "7D 7D" is an escaped 7D (5D after unescaping), so the flag after it ends the frame
        // (too long) ...
        let mut d = Deframer::new();
        d.push(&vec![0x55; MAX_FRAME + 10]);
        d.push(&[0x7d, 0x7d, 0x7e]);
        assert_eq!(d.next_frame(), Some(Err(HdlcError::TooLong)));
        // ... while "7D 7E" aborts it without an error.
        d.push(&vec![0x55; MAX_FRAME + 10]);
        d.push(&[0x7d, 0x7d, 0x7d, 0x7e]);
        let mut ok = Vec::new();
        encode(&[1, 2, 3], &mut ok);
        d.push(&ok[1..]);
        assert_eq!(d.next_frame(), Some(Ok(vec![1, 2, 3])));
        assert_eq!(d.next_frame(), None);
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

    /// The plain byte-at-a-time FCS the fast one must equal.
    fn fcs_reference(mut fcs: u16, data: &[u8]) -> u16 {
        for &b in data {
            fcs ^= u16::from(b);
            for _ in 0..8 {
                fcs = if fcs & 1 != 0 {
                    (fcs >> 1) ^ 0x8408
                } else {
                    fcs >> 1
                };
            }
        }
        fcs
    }

    /// The plain encoder the fast one must equal.
    fn encode_reference(frame: &[u8]) -> Vec<u8> {
        encode_reference_with(frame, Escape::AllControl)
    }

    fn encode_reference_with(frame: &[u8], escape: Escape) -> Vec<u8> {
        let mut out = vec![FLAG];
        let fcs = !fcs_reference(0xffff, frame);
        for &b in frame.iter().chain(fcs.to_le_bytes().iter()) {
            if (b < 0x20 && escape == Escape::AllControl) || b == FLAG || b == ESCAPE {
                out.extend([ESCAPE, b ^ 0x20]);
            } else {
                out.push(b);
            }
        }
        out.push(FLAG);
        out
    }

    /// xorshift64*: reproducible pseudo-random inputs without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// Bytes biased towards the special values so every word path is taken.
        fn frame(&mut self, max: usize) -> Vec<u8> {
            let n = 1 + (self.next() as usize % max);
            let mode = self.next() % 4;
            (0..n)
                .map(|_| {
                    let r = self.next();
                    match mode {
                        0 => r as u8,
                        1 => [0x7e, 0x7d, 0x00, 0x1f, 0x20, 0x7c, 0x7f, 0xff][(r % 8) as usize],
                        2 if r.trailing_zeros() >= 6 => 0x7d,
                        _ => 0x41 + (r % 26) as u8,
                    }
                })
                .collect()
        }
    }

    #[test]
    fn property_fast_fcs_and_encoder_equal_the_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let f = rng.frame(3000);
            let start = rng.next() as u16;
            assert_eq!(fcs16(start, &f), fcs_reference(start, &f));
            let mut out = Vec::new();
            encode(&f, &mut out);
            assert_eq!(out, encode_reference(&f), "frame {f:02x?}");
            let mut out = vec![0xaa];
            encode_with(&f, Escape::FlagsOnly, &mut out);
            assert_eq!(
                out[1..],
                encode_reference_with(&f, Escape::FlagsOnly),
                "frame {f:02x?}"
            );
        }
    }

    #[test]
    fn flags_only_leaves_control_bytes_and_the_deframer_takes_them() {
        // Every byte value, and each special one at a 64-byte block's first and last place.
        let mut frame: Vec<u8> = (0..=255u8).collect();
        frame.extend([0x7e; 70]);
        frame[63] = 0x7d;
        frame[64] = 0x7e;
        frame[127] = 0x7e;
        let mut out = Vec::new();
        encode_with(&frame, Escape::FlagsOnly, &mut out);
        let body = &out[1..out.len() - 1];
        assert!(!body.contains(&FLAG));
        // Control bytes go as they are: 0x00-0x1f appear unescaped, in order.
        assert!(body.windows(32).any(|w| w == (0..32u8).collect::<Vec<_>>()));
        let specials = frame.iter().filter(|&&b| b == FLAG || b == ESCAPE).count();
        let fcs = !fcs16(0xffff, &frame);
        let fcs_specials = fcs
            .to_le_bytes()
            .iter()
            .filter(|&&b| b == FLAG || b == ESCAPE)
            .count();
        assert_eq!(out.len(), frame.len() + 2 + 2 + specials + fcs_specials);
        let mut d = Deframer::new();
        d.push(&out);
        assert_eq!(d.next_frame(), Some(Ok(frame)));
    }

    #[test]
    fn property_decoder_returns_each_frame_for_any_chunking() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let frames: Vec<Vec<u8>> = (0..1 + rng.next() % 6).map(|_| rng.frame(2000)).collect();
            let mut wire = Vec::new();
            for f in &frames {
                wire.extend(encode_reference(f));
            }
            let got = deframe_in_chunks(&mut rng, &wire, 700);
            let want: Vec<_> = frames.into_iter().map(Ok).collect();
            assert_eq!(got, want);
        }
    }

    /// Everything one deframer returns for `wire` fed in random chunks of up to `max` bytes.
    fn deframe_in_chunks(
        rng: &mut Rng,
        wire: &[u8],
        max: usize,
    ) -> Vec<Result<Vec<u8>, HdlcError>> {
        let mut d = Deframer::new();
        let mut got = Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            let n = 1 + (rng.next() as usize % max).min(rest.len() - 1);
            d.push_frames(&rest[..n], |r| got.push(r.map(<[u8]>::to_vec)));
            rest = &rest[n..];
        }
        got
    }

    /// RFC 1662 deframing one byte at a time, the plain way: what the word-at-a-time
    /// deframer must match exactly, frames and errors, on any byte stream.
    fn deframe_reference(wire: &[u8]) -> Vec<Result<Vec<u8>, HdlcError>> {
        let (mut out, mut cur, mut esc, mut over) = (Vec::new(), Vec::new(), false, false);
        for &b in wire {
            if b == FLAG {
                if esc {
                    cur.clear();
                    over = false;
                } else if over {
                    out.push(Err(HdlcError::TooLong));
                    over = false;
                } else if cur.len() >= 3 {
                    out.push(if fcs_reference(0xffff, &cur) == GOOD_FCS {
                        Ok(cur[..cur.len() - 2].to_vec())
                    } else {
                        Err(HdlcError::BadFcs)
                    });
                    cur.clear();
                } else if !cur.is_empty() {
                    out.push(Err(HdlcError::TooShort));
                    cur.clear();
                }
                esc = false;
                continue;
            }
            if !esc && b == ESCAPE {
                esc = true;
                continue;
            }
            let v = if esc { b ^ 0x20 } else { b };
            esc = false;
            if !over {
                if cur.len() == MAX_FRAME {
                    over = true;
                    cur.clear();
                } else {
                    cur.push(v);
                }
            }
        }
        out
    }

    #[test]
    fn property_decoder_equals_bytewise_reference_on_hostile_streams() {
        let mut rng = Rng(7);
        for round in 0..400 {
            // Good frames, stray escapes and flags, "7D 7E" aborts, garbage, and now and
            // then a frame longer than MAX_FRAME; cut into random chunks.
            let mut wire = Vec::new();
            for _ in 0..1 + rng.next() % 8 {
                match rng.next() % 6 {
                    0 => wire.extend([ESCAPE, FLAG]),
                    1 => {
                        let junk = rng.frame(40);
                        wire.extend(junk);
                    }
                    2 if round % 10 == 0 => {
                        let big: Vec<u8> = (0..MAX_FRAME + 1 + rng.next() as usize % 50)
                            .map(|_| rng.next() as u8)
                            .collect();
                        wire.extend(encode_reference(&big));
                    }
                    3 => wire.push(ESCAPE),
                    _ => {
                        let f = rng.frame(3000);
                        wire.extend(encode_reference(&f));
                    }
                }
            }
            let want = deframe_reference(&wire);
            let got = deframe_in_chunks(&mut rng, &wire, 900);
            assert_eq!(got, want, "round {round}");
        }
    }
}
