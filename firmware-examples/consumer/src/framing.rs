//! Frames on the UART: a big-endian `u16` length, then that many bytes (one WebSocket
//! message each way). A zero-length frame is a control signal: from the host it means
//! "a new transport is open"; from the device, "close the transport".

/// Reassembles frames from a byte stream. Frames longer than `N` are skipped whole.
pub struct FrameReader<const N: usize> {
    buf: [u8; N],
    /// Bytes of the length prefix seen (0..2), then the body.
    header: [u8; 2],
    header_len: u8,
    len: usize,
    got: usize,
}

impl<const N: usize> FrameReader<N> {
    pub const fn new() -> Self {
        FrameReader {
            buf: [0; N],
            header: [0; 2],
            header_len: 0,
            len: 0,
            got: 0,
        }
    }

    /// Feeds one byte; returns a whole frame when it completes. Oversized frames are
    /// consumed and dropped.
    pub fn push(&mut self, b: u8) -> Option<&[u8]> {
        if self.header_len < 2 {
            self.header[usize::from(self.header_len)] = b;
            self.header_len += 1;
            if self.header_len < 2 {
                return None;
            }
            self.len = usize::from(u16::from_be_bytes(self.header));
            self.got = 0;
            if self.len == 0 {
                self.header_len = 0;
                return Some(&[]);
            }
            return None;
        }
        if self.got < N {
            self.buf[self.got] = b;
        }
        self.got += 1;
        if self.got < self.len {
            return None;
        }
        self.header_len = 0;
        if self.len > N {
            return None;
        }
        Some(&self.buf[..self.len])
    }
}

/// Writes one frame with its length prefix (`frame` must be shorter than 64 KiB).
pub fn write_frame(frame: &[u8]) {
    let len = u16::try_from(frame.len()).unwrap_or(u16::MAX);
    crate::uart::write_all(&len.to_be_bytes());
    crate::uart::write_all(&frame[..usize::from(len)]);
}
