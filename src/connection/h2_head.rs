//! Where an HTTP/2 client's request heads stand, from the bytes it sends: the h1 head deadline's
//! counterpart for h2. A request head in HTTP/2 is a header block: a HEADERS frame and the
//! CONTINUATION frames after it, up to the one flagged END_HEADERS (RFC 9113 §4.3, §6.2, §6.10).
//! The h2 codec under pingora buffers a block until it ends and bounds its size, but not its
//! time, and pingora's HTTP/2 idle timeout only runs while no stream is open: a client with one
//! stream busy could trickle the next head in forever.
//!
//! Only the 9-byte frame headers are read; payloads are skipped by their length. A block may
//! not be interleaved with other frames (§4.3), so at most one is open at a time; a client that
//! breaks that gets a connection error from the codec anyway.

/// Frame types and the flag that matter here (RFC 9113 §6.2, §6.10).
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const FRAME_HEADER: usize = 9;

/// The length of the client connection preface (`PRI * HTTP/2.0…`), which comes before the
/// first frame both over TLS and with h2c.
pub const PREFACE_LEN: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Heads {
    /// Bytes of the connection preface still to come.
    preface: usize,
    /// The frame header being read and how much of it has come.
    header: [u8; FRAME_HEADER],
    have: usize,
    /// Payload bytes of the current frame still to come.
    payload: usize,
    /// The current frame ends a header block (END_HEADERS on HEADERS or CONTINUATION).
    ends_block: bool,
    /// A header block is open: it started and its last byte has not come yet.
    open: bool,
}

impl H2Heads {
    /// Before the connection preface.
    pub fn new() -> Self {
        H2Heads {
            preface: PREFACE_LEN,
            header: [0; FRAME_HEADER],
            have: 0,
            payload: 0,
            ends_block: false,
            open: false,
        }
    }

    /// A request head has started and not yet ended.
    pub fn open(&self) -> bool {
        self.open
    }

    /// Advances over freshly read bytes; true when a header block started among them (the
    /// deadline starts over for it).
    pub fn scan(&mut self, mut bytes: &[u8]) -> bool {
        let mut started = false;
        while !bytes.is_empty() {
            if self.preface > 0 {
                let n = self.preface.min(bytes.len());
                self.preface -= n;
                bytes = &bytes[n..];
                continue;
            }
            if self.payload > 0 {
                let n = self.payload.min(bytes.len());
                self.payload -= n;
                bytes = &bytes[n..];
                if self.payload == 0 && self.ends_block {
                    self.open = false;
                }
                continue;
            }
            let n = (FRAME_HEADER - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == FRAME_HEADER {
                self.have = 0;
                started |= self.frame();
            }
        }
        started
    }

    /// A whole frame header has come; true when it starts a header block.
    fn frame(&mut self) -> bool {
        let [l0, l1, l2, kind, flags, ..] = self.header;
        self.payload = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
        let starts = kind == HEADERS;
        if starts {
            self.open = true;
        }
        self.ends_block = matches!(kind, HEADERS | CONTINUATION) && flags & END_HEADERS != 0;
        if self.payload == 0 && self.ends_block {
            self.open = false;
        }
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    /// Feeds `bytes` in chunks of `size`; whether a block is open after each chunk.
    fn opens(bytes: &[u8], size: usize) -> Vec<bool> {
        let mut heads = H2Heads::new();
        bytes
            .chunks(size)
            .map(|c| {
                heads.scan(c);
                heads.open()
            })
            .collect()
    }

    #[test]
    fn a_header_block_is_open_from_its_headers_frame_to_its_last_byte() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let settings = frame(0x4, 0, &[0, 3, 0, 0, 0, 100]);
        let whole = frame(HEADERS, END_HEADERS | 0x1, b"abcdef");
        let mut stream = [&preface[..], &settings, &whole].concat();
        for size in 1..stream.len() {
            let states = opens(&stream, size);
            assert_eq!(states.last(), Some(&false), "chunks of {size}");
        }
        // HEADERS without END_HEADERS, then a CONTINUATION that ends the block.
        let start = frame(HEADERS, 0x1, b"abc");
        let end = frame(CONTINUATION, END_HEADERS, b"def");
        stream.extend_from_slice(&start);
        let mut heads = H2Heads::new();
        assert!(heads.scan(&stream), "a block starts");
        assert!(heads.open());
        assert!(!heads.scan(&end[..end.len() - 1]));
        assert!(heads.open(), "its last byte has not come");
        heads.scan(&end[end.len() - 1..]);
        assert!(!heads.open());
        // A DATA frame (a body) is not a head, however slowly it comes.
        let data = frame(0x0, 0, b"body");
        let mut heads = H2Heads::new();
        heads.scan(&[&preface[..], &whole].concat());
        for b in data {
            assert!(!heads.scan(&[b]));
            assert!(!heads.open());
        }
        // An empty HEADERS frame with END_HEADERS ends as soon as its header has come.
        let mut heads = H2Heads::new();
        assert!(heads.scan(&[&preface[..], &frame(HEADERS, END_HEADERS, b"")].concat()));
        assert!(!heads.open());
    }
}
