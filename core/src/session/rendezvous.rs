//! The relay's side of the rendezvous as a client reads it (11.3–11.4): which cleartext
//! notification a frame is. The link uses it, and so does any client that speaks the
//! rendezvous without a session (the relay load generator).

use super::FrameRefusal;
use crate::frame::FrameError;
use crate::json::{self, Value};
use crate::message::{Body, Hex256, Message};

/// A rendezvous notification from a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RelayNotice {
    /// `NOTIFY_RENDEZVOUS_NOT_READY`: registered, waiting for the peer.
    NotReady,
    /// `NOTIFY_RENDEZVOUS`: paired.
    Paired,
    /// `NOTIFY_RENDEZVOUS_END`: refused (before pairing) or the peer left (after).
    End,
}

/// Reads a cleartext frame as a relay's rendezvous notification and the rendezvous id it
/// names (`None` for a Go relay's lenient `END`, pitfall 15.18, whose fields may not
/// validate). Anything else is refused: a cleartext application message
/// ([`FrameError::ClearShouldBeEncrypted`]), a `REQUEST_RENDEZVOUS`
/// ([`FrameRefusal::Unexpected`]), or invalid JSON.
pub fn read_notice(frame: &[u8]) -> Result<(RelayNotice, Option<Hex256>), FrameRefusal> {
    let msg = match Message::parse(frame) {
        Ok(m) => m,
        Err(_) if lenient_end(frame) => return Ok((RelayNotice::End, None)),
        Err(e) => return Err(FrameRefusal::Frame(FrameError::Message(e))),
    };
    match msg.body() {
        Body::NotifyRendezvousNotReady { rendezvous_id } => {
            Ok((RelayNotice::NotReady, Some(rendezvous_id.clone())))
        }
        Body::NotifyRendezvous { rendezvous_id } => {
            Ok((RelayNotice::Paired, Some(rendezvous_id.clone())))
        }
        Body::NotifyRendezvousEnd { rendezvous_id } => {
            Ok((RelayNotice::End, Some(rendezvous_id.clone())))
        }
        b if !b.kind().must_be_cleartext() => Err(FrameRefusal::Frame(
            FrameError::ClearShouldBeEncrypted(b.kind()),
        )),
        b => Err(FrameRefusal::Unexpected(b.kind())),
    }
}

/// A `NOTIFY_RENDEZVOUS_END` that fails strict validation only because of a sender quirk
/// (Go relays send `""` as its reference, pitfall 15.18).
pub(crate) fn lenient_end(bytes: &[u8]) -> bool {
    let Ok(Value::Object(obj)) = json::parse(bytes) else {
        return false;
    };
    str_field(&obj, "message_class", "NOTIFICATION")
        && str_field(&obj, "notification_name", "NOTIFY_RENDEZVOUS_END")
}

pub(crate) fn str_field(obj: &json::Object<'_>, key: &str, want: &str) -> bool {
    matches!(obj.get(key), Some(Value::String(s)) if s.eq_str(want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageKind, Timestamp};
    use crate::uuid::Uuid;

    #[test]
    fn notices_and_refusals() {
        let rid = Hex256::from_bytes(&[0xab; 32]);
        let mut buf = [0u8; 512];
        let mut write = |m: Message<'_>| {
            let mut s = crate::sink::SliceSink::new(&mut buf);
            m.write_json(&mut s).unwrap();
            let n = s.len();
            buf[..n].to_vec()
        };
        let u = Uuid::v4_from_bytes([1; 16]);
        let ts = Timestamp::from_secs(1);
        let paired = write(Message::notify_rendezvous(u, Some(u), ts, rid.clone()));
        assert_eq!(
            read_notice(&paired),
            Ok((RelayNotice::Paired, Some(rid.clone())))
        );
        let req = write(Message::request_rendezvous(u, ts, rid.clone()));
        assert_eq!(
            read_notice(&req),
            Err(FrameRefusal::Unexpected(MessageKind::RequestRendezvous))
        );
        let pay = write(Message::request_pay(u, ts, "lnbc1"));
        assert_eq!(
            read_notice(&pay),
            Err(FrameRefusal::Frame(FrameError::ClearShouldBeEncrypted(
                MessageKind::RequestPay
            )))
        );
        let go_end = br#"{"message_class": "NOTIFICATION", "notification_name": "NOTIFY_RENDEZVOUS_END", "request_reference_uuid": ""}"#;
        assert_eq!(read_notice(go_end), Ok((RelayNotice::End, None)));
    }
}
