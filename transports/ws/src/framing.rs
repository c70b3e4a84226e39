//! Server-side output framing: the transport writes the binary frames it forwards or sends
//! on accepted connections itself (an unmasked header and the payload, RFC 6455 §5.2),
//! instead of building a tungstenite message and frame per payload. tungstenite still frames
//! everything else (control frames, and every frame of a dialed connection, which must be
//! masked).

/// Appends a final, unmasked binary frame carrying `payload` to `out`.
pub(crate) fn push_binary(out: &mut Vec<u8>, payload: &[u8]) {
    let len = payload.len();
    // FIN + opcode 2 (binary); no mask bit: a server's frames are not masked
    if len < 126 {
        out.extend_from_slice(&[0x82, len as u8]);
    } else if let Ok(short) = u16::try_from(len) {
        out.extend_from_slice(&[0x82, 126]);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.extend_from_slice(&[0x82, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;

    /// Byte for byte what tungstenite writes for the same frame, across the three length
    /// encodings and their edges.
    #[test]
    fn frames_match_tungstenite() {
        for len in [0usize, 1, 125, 126, 127, 300, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut ours = vec![0xaa];
            push_binary(&mut ours, &payload);
            let mut theirs = vec![0xaa];
            Frame::message(payload.clone(), OpCode::Data(Data::Binary), true)
                .format(&mut theirs)
                .unwrap();
            assert_eq!(ours, theirs, "payload of {len} bytes");
        }
    }
}
