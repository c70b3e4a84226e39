//! The link: one socket end with a shared seed (outgoing rendezvous layer, 11.3, plus the
//! frame crypto of section 6). Sessions embed it; it never queues anything itself.

use heapless::Deque;
use rand_core::{CryptoRng, RngCore};

use super::{Frame, Refusal, SessionError, REPLAY_WINDOW};
use crate::frame::{self, FrameError};
use crate::json::{self, Value};
use crate::message::{Body, Hex256, Message, MessageError, Timestamp};
use crate::seed::{AesKey, SharedSeed};
use crate::time::Instant;
use crate::uuid::Uuid;

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkState {
    /// No transport yet ([`Input::Opened`](super::Input::Opened) not seen).
    Idle,
    /// `REQUEST_RENDEZVOUS` sent, waiting for `NOTIFY_RENDEZVOUS`.
    Rendezvous,
    /// Paired with the peer: encrypted traffic flows.
    Paired,
    /// Closed; a new [`Input::Opened`](super::Input::Opened) starts over.
    Closed,
}

/// What a received frame meant to the link.
#[derive(Debug)]
pub(crate) enum Received<'s> {
    /// `NOTIFY_RENDEZVOUS_NOT_READY` while waiting.
    NotReady,
    /// `NOTIFY_RENDEZVOUS` while waiting: the link is paired now.
    Paired,
    /// `NOTIFY_RENDEZVOUS_END`: the link is closed now.
    End {
        /// Whether the link had been paired (peer gone) or not (rendezvous refused).
        was_paired: bool,
    },
    /// A decrypted, validated, fresh application message on a paired link, and its text.
    Message(Message<'s>, &'s [u8]),
    /// A `NOTIFY_ERROR` whose `error_msg` is not a string (the terminus sends a JSON array
    /// in one case, pitfall 15.28): its reference and the raw JSON of the value.
    LenientError {
        /// `request_reference_uuid`.
        reference: Option<Uuid>,
        /// The `error_msg` value as JSON text.
        raw: &'s str,
    },
    /// Dropped, with the reason.
    Refused(Refusal),
    /// The link is not open; the frame was ignored.
    Ignored,
}

/// One socket end: keys, rendezvous state, replay window.
#[derive(Debug)]
pub(crate) struct Link<R> {
    key: AesKey,
    rid: Hex256,
    pub(crate) rng: R,
    unix_offset_ms: u64,
    state: LinkState,
    seen: Deque<Uuid, REPLAY_WINDOW>,
}

impl<R: RngCore + CryptoRng> Link<R> {
    pub(crate) fn new(seed: &SharedSeed, unix_offset_ms: u64, rng: R) -> Self {
        Link {
            key: seed.v0_aes_key(),
            rid: Hex256::from(&seed.v0_rendezvous_id()),
            rng,
            unix_offset_ms,
            state: LinkState::Idle,
            seen: Deque::new(),
        }
    }

    pub(crate) fn state(&self) -> LinkState {
        self.state
    }

    pub(crate) fn set_closed(&mut self) {
        self.state = LinkState::Closed;
    }

    /// The rendezvous id, lowercase hex.
    pub(crate) fn rendezvous_id(&self) -> &Hex256 {
        &self.rid
    }

    pub(crate) fn uuid(&mut self) -> Uuid {
        Uuid::new_v4(&mut self.rng)
    }

    pub(crate) fn timestamp(&self, now: Instant) -> Timestamp<'static> {
        let ms = now.as_millis().saturating_add(self.unix_offset_ms);
        Timestamp::from_micros(ms.saturating_mul(1_000))
    }

    /// A new transport opened: the `REQUEST_RENDEZVOUS` frame to send first.
    pub(crate) fn open<const N: usize>(&mut self, now: Instant) -> Result<Frame<N>, SessionError> {
        self.state = LinkState::Rendezvous;
        let uuid = self.uuid();
        let msg = Message::request_rendezvous(uuid, self.timestamp(now), self.rid.clone());
        self.encode(&msg)
    }

    /// Serialises `msg` into a frame: clear for rendezvous kinds, sealed otherwise.
    pub(crate) fn encode<const N: usize>(
        &mut self,
        msg: &Message<'_>,
    ) -> Result<Frame<N>, SessionError> {
        let mut text: Frame<N> = Frame::new();
        msg.write_json(&mut text)
            .map_err(|_| SessionError::TooLarge)?;
        if msg.must_be_cleartext() {
            return Ok(text);
        }
        let mut out: Frame<N> = Frame::new();
        out.resize(frame::sealed_len(text.len()), 0)
            .map_err(|_| SessionError::TooLarge)?;
        frame::seal_with_rng(&self.key, &mut self.rng, &text, &mut out)
            .map_err(|_| SessionError::TooLarge)?;
        Ok(out)
    }

    /// Classifies, opens and validates a received frame. `scratch` holds decrypted text.
    pub(crate) fn receive<'s>(&mut self, bytes: &'s [u8], scratch: &'s mut [u8]) -> Received<'s> {
        let paired = match self.state {
            LinkState::Rendezvous => false,
            LinkState::Paired => true,
            LinkState::Idle | LinkState::Closed => return Received::Ignored,
        };
        if bytes.len() > scratch.len() {
            return Received::Refused(Refusal::TooLarge(bytes.len()));
        }
        if frame::is_cleartext(bytes) {
            return self.receive_clear(bytes, paired);
        }
        let text = match frame::decrypt_unpadded(&self.key, bytes, scratch) {
            Ok(t) => t,
            Err(e) => return Received::Refused(Refusal::Frame(e)),
        };
        let msg = match frame::parse_decrypted(text) {
            Ok(m) => m,
            Err(FrameError::Message(MessageError::ErrorMsgType)) if paired => {
                return match lenient_error(text) {
                    Some((uuid, reference, raw)) if self.fresh(uuid) => {
                        Received::LenientError { reference, raw }
                    }
                    Some(_) => Received::Refused(Refusal::Replayed(
                        crate::message::MessageKind::NotifyError,
                    )),
                    None => Received::Refused(Refusal::Frame(FrameError::Message(
                        MessageError::ErrorMsgType,
                    ))),
                }
            }
            Err(e) => return Received::Refused(Refusal::Frame(e)),
        };
        let kind = msg.kind();
        if kind.must_be_cleartext() {
            return Received::Refused(Refusal::Frame(FrameError::EncryptedShouldBeClear(kind)));
        }
        if !self.fresh(msg.uuid()) {
            return Received::Refused(Refusal::Replayed(kind));
        }
        if !paired {
            return Received::Refused(Refusal::Unexpected(kind));
        }
        Received::Message(msg, text)
    }

    fn receive_clear<'s>(&mut self, bytes: &'s [u8], paired: bool) -> Received<'s> {
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                return if lenient_end(bytes) {
                    self.end(paired)
                } else {
                    Received::Refused(Refusal::Frame(FrameError::Message(e)))
                }
            }
        };
        match msg.body() {
            Body::NotifyRendezvousNotReady { .. } if !paired => Received::NotReady,
            Body::NotifyRendezvous { .. } if !paired => {
                self.state = LinkState::Paired;
                Received::Paired
            }
            Body::NotifyRendezvousEnd { .. } => self.end(paired),
            b if !b.kind().must_be_cleartext() => {
                Received::Refused(Refusal::Frame(FrameError::ClearShouldBeEncrypted(b.kind())))
            }
            // REQUEST_RENDEZVOUS, or a repeated NOTIFY_RENDEZVOUS (a Python relay bug).
            b => Received::Refused(Refusal::Unexpected(b.kind())),
        }
    }

    fn end<'s>(&mut self, was_paired: bool) -> Received<'s> {
        self.state = LinkState::Closed;
        Received::End { was_paired }
    }

    /// Records `uuid`; false if it was seen recently (replay).
    fn fresh(&mut self, uuid: Uuid) -> bool {
        if self.seen.iter().any(|u| *u == uuid) {
            return false;
        }
        if self.seen.is_full() {
            self.seen.pop_front();
        }
        let _ = self.seen.push_back(uuid);
        true
    }
}

fn str_field<'a>(obj: &json::Object<'a>, key: &str, want: &str) -> bool {
    matches!(obj.get(key), Some(Value::String(s)) if s.eq_str(want))
}

fn uuid_field(v: Option<Value<'_>>) -> Option<Option<Uuid>> {
    match v? {
        Value::Null => Some(None),
        Value::String(s) => {
            let mut buf = [0u8; 64];
            let text = s.unescape_into(&mut buf).ok()?;
            Uuid::parse_lenient(text).ok().map(Some)
        }
        _ => None,
    }
}

/// A `NOTIFY_RENDEZVOUS_END` that fails strict validation only because of a sender quirk
/// (Go relays send `""` as its reference, pitfall 15.18).
fn lenient_end(bytes: &[u8]) -> bool {
    let Ok(Value::Object(obj)) = json::parse(bytes) else {
        return false;
    };
    str_field(&obj, "message_class", "NOTIFICATION")
        && str_field(&obj, "notification_name", "NOTIFY_RENDEZVOUS_END")
}

/// A `NOTIFY_ERROR` whose `error_msg` is JSON but not a string (pitfall 15.28): its
/// notification uuid, reference and the raw `error_msg` text.
fn lenient_error(text: &[u8]) -> Option<(Uuid, Option<Uuid>, &str)> {
    let Ok(Value::Object(obj)) = json::parse(text) else {
        return None;
    };
    if !(str_field(&obj, "message_class", "NOTIFICATION")
        && str_field(&obj, "notification_name", "NOTIFY_ERROR"))
    {
        return None;
    }
    let uuid = uuid_field(obj.get("notification_uuid"))??;
    let reference = uuid_field(obj.get("request_reference_uuid"))?;
    let raw = match obj.get("error_msg")? {
        Value::Array(a) => a.raw(),
        Value::Object(o) => o.raw(),
        _ => return None,
    };
    Some((uuid, reference, raw))
}
