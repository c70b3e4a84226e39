//! The link: the skeleton both sessions stand on. One socket end with a shared seed: the
//! outgoing rendezvous layer (11.3), the frame crypto of section 6, the replay window, the
//! queue of messages to send (small entries, sealed at poll time into the caller's buffer),
//! the queue of events, and the text store behind both.

use heapless::Deque;
use rand_core::{CryptoRng, RngCore};

use super::rendezvous::{lenient_end, str_field};
use super::store::{self, Span, TextStore};
use super::{CloseReason, FrameRefusal, SessionError, REPLAY_WINDOW};
use crate::frame::{self, FrameError, FramePolicy, IV_LEN};
use crate::json::{self, Value};
use crate::message::opinion::{OpinionError, OpinionMessage};
use crate::message::{Body, Hex256, Message, MessageError, MessageKind, ProviderInfo, Timestamp};
use crate::seed::{AesKey, SharedSeed};
use crate::sink::{Sink, SliceSink};
use crate::time::{Instant, UnixClock};
use crate::uuid::Uuid;

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkState {
    /// No transport yet ([`SessionInput::Opened`](super::SessionInput::Opened) not seen).
    Idle,
    /// `REQUEST_RENDEZVOUS` sent, waiting for `NOTIFY_RENDEZVOUS`.
    Rendezvous,
    /// Paired with the peer: encrypted traffic flows.
    Paired,
    /// Closed; a new [`SessionInput::Opened`](super::SessionInput::Opened) starts over.
    Closed,
}

/// A message waiting to be sealed. Texts live in the link's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Send {
    Rendezvous,
    RequestProvider,
    Ping,
    Pong {
        reference: Uuid,
    },
    ProviderNotReady {
        reference: Uuid,
    },
    /// `NOTIFY_PROVIDER` from the provider's stored info (passed to `poll_transmit`).
    ProviderInfo {
        reference: Option<Uuid>,
    },
    RequestInvoice {
        uuid: Uuid,
        msats: u64,
    },
    RequestPay {
        uuid: Uuid,
        bolt11: Span,
    },
    Invoice {
        reference: Uuid,
        bolt11: Span,
    },
    /// The 32 preimage bytes are in the store.
    Preimage {
        reference: Option<Uuid>,
        preimage: Span,
    },
    Error {
        reference: Option<Uuid>,
        text: Span,
    },
    FixedError {
        reference: Option<Uuid>,
        text: FixedText,
    },
    /// An extension message, already serialised (and stamped) into the store.
    Extension {
        uuid: Uuid,
        json: Span,
    },
}

/// Whether this build can carry extension messages (the `extensions` cargo feature); off,
/// the extension receive path is compiled out whatever a session's config says.
const EXTENSIONS_BUILT: bool = cfg!(feature = "extensions");

/// What [`Link::encode`] writes: a v0 message, or an extension message's stored text.
enum Outgoing<'a> {
    Message(&'a Message<'a>),
    Text(&'a [u8]),
}

/// The provider's own error texts (one byte in the queue instead of a `&str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FixedText {
    NotReady,
    TooManyRequests,
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
    /// A decrypted, fresh extension message on a paired link (sessions with `extensions`
    /// on): its validated text.
    Extension(&'s [u8]),
    /// Dropped, with the reason.
    Refused(FrameRefusal),
    /// The link is not open; the frame was ignored.
    Ignored,
}

/// One socket end: keys, rendezvous state, replay window, the two queues and their store.
#[derive(Debug)]
pub(crate) struct Link<B, E, const Q: usize> {
    key: AesKey,
    rid: [u8; 32],
    unix_offset_ms: u64,
    max_frame: usize,
    /// Whether extension messages are read and may be sent (the session's config).
    extensions: bool,
    state: LinkState,
    /// The time of the last input or call (message timestamps at poll time).
    pub(crate) now: Instant,
    /// Recent message uuids, each folded to 64 bits (a v4 uuid has 122 random bits; the
    /// only way to collide with one of the last 32 is a replay).
    seen: Deque<u64, REPLAY_WINDOW>,
    sends: Deque<Send, Q>,
    events: Deque<E, Q>,
    pub(crate) text: B,
    /// The refusal a queued `Refused` event reports (one at a time: refusals are
    /// diagnostics, and a full slot counts the next ones in `overflow` instead).
    pub(crate) refusal: Option<FrameRefusal>,
    /// Outputs lost because the caller did not drain, or frames that did not fit the
    /// caller's buffer (should stay 0).
    pub(crate) overflow: u64,
}

impl<B: TextStore, E, const Q: usize> Link<B, E, Q> {
    pub(crate) fn new(seed: &SharedSeed, unix_offset_ms: u64, max_frame: usize) -> Self {
        Link {
            key: seed.v0_aes_key(),
            rid: seed.v0_rendezvous_id().0,
            unix_offset_ms,
            max_frame,
            extensions: false,
            state: LinkState::Idle,
            now: Instant::ZERO,
            seen: Deque::new(),
            sends: Deque::new(),
            events: Deque::new(),
            text: B::default(),
            refusal: None,
            overflow: 0,
        }
    }

    /// The same link, reading and sending extension messages or not (never without the
    /// `extensions` feature).
    pub(crate) fn with_extensions(mut self, on: bool) -> Self {
        self.extensions = on && EXTENSIONS_BUILT;
        self
    }

    pub(crate) fn state(&self) -> LinkState {
        self.state
    }

    pub(crate) fn set_closed(&mut self) {
        self.state = LinkState::Closed;
    }

    /// The rendezvous id, lowercase hex.
    pub(crate) fn rendezvous_id(&self) -> Hex256 {
        Hex256::from_bytes(&self.rid)
    }

    /// Queued outputs (frames to seal and events).
    pub(crate) fn queued(&self) -> usize {
        self.sends.len() + self.events.len()
    }

    /// Free slots in the fuller of the two queues.
    pub(crate) fn room(&self) -> usize {
        Q - self.sends.len().max(self.events.len())
    }

    /// A new transport opened: `REQUEST_RENDEZVOUS` goes first, before anything queued.
    /// The replay window is kept: the key is the same on the new transport, so a frame
    /// captured on the old one must still be refused.
    pub(crate) fn open(&mut self) {
        self.state = LinkState::Rendezvous;
        self.sends.clear();
        self.send(Send::Rendezvous);
    }

    /// Whether the next frame to seal is a `NOTIFY_PROVIDER` (it needs the provider info).
    pub(crate) fn info_next(&self) -> bool {
        self.events.is_empty() && matches!(self.sends.front(), Some(Send::ProviderInfo { .. }))
    }

    /// The next event, without taking it.
    #[cfg(feature = "alloc")]
    pub(crate) fn front_event(&self) -> Option<&E> {
        self.events.front()
    }

    pub(crate) fn send(&mut self, s: Send) {
        if self.sends.push_back(s).is_err() {
            self.overflow += 1;
        }
    }

    pub(crate) fn event(&mut self, e: E) {
        if self.events.push_back(e).is_err() {
            self.overflow += 1;
        }
    }

    /// Stores an outgoing text for a message whose frame must fit `max_frame`; `overhead`
    /// is the rest of the message's JSON (its fields around the text) in bytes.
    pub(crate) fn store_outgoing(
        &mut self,
        text: &str,
        overhead: usize,
    ) -> Result<Span, SessionError> {
        // JSON escaping at most doubles ASCII control-free text; be exact enough: count it.
        let mut escaped = crate::sink::CountingSink::default();
        let _ = crate::message::Text::Plain(text).write_json(&mut escaped);
        if frame::sealed_len(escaped.0.saturating_add(overhead)) > self.max_frame {
            return Err(SessionError::TooLarge);
        }
        store::push_bytes(&mut self.text, text.as_bytes()).map_err(|_| SessionError::TooLarge)
    }

    /// Checks what app calls need: a paired link with room for one frame and one event.
    pub(crate) fn can_send(&self) -> Result<(), SessionError> {
        if self.room() < 2 {
            return Err(SessionError::QueueFull);
        }
        Ok(())
    }

    /// Queues an extension message (stamped `now`, serialised into the store now): the
    /// link must be paired, with `extensions` on, and the frame must fit `max_frame`.
    pub(crate) fn queue_extension(
        &mut self,
        msg: &OpinionMessage<'_>,
        now: Instant,
    ) -> Result<(), SessionError> {
        if !self.extensions {
            return Err(SessionError::ExtensionsDisabled);
        }
        match self.state {
            LinkState::Paired => {}
            LinkState::Closed => return Err(SessionError::Closed),
            LinkState::Idle | LinkState::Rendezvous => return Err(SessionError::NotReady),
        }
        self.can_send()?;
        self.now = now;
        let msg = msg.with_timestamp(self.timestamp());
        if frame::sealed_len(msg.json_len()) > self.max_frame {
            return Err(SessionError::TooLarge);
        }
        let json = store::push_with(&mut self.text, |s| msg.write_json(s))
            .map_err(|_| SessionError::TooLarge)?;
        self.send(Send::Extension {
            uuid: msg.uuid(),
            json,
        });
        Ok(())
    }

    pub(crate) fn timestamp(&self) -> Timestamp<'static> {
        Timestamp::at(UnixClock::from_offset_ms(self.unix_offset_ms), self.now)
    }

    /// Seals `s` into `buf` with a fresh uuid (returned with the frame length). `info` is
    /// the provider's stored `NOTIFY_PROVIDER` template, for [`Send::ProviderInfo`].
    fn seal<R: RngCore + CryptoRng + ?Sized>(
        &self,
        s: Send,
        info: Option<ProviderInfo<'_>>,
        rng: &mut R,
        buf: &mut [u8],
    ) -> Result<(Uuid, usize), SessionError> {
        let msg;
        let (uuid, out) = match s {
            Send::Extension { uuid, json } => {
                (uuid, Outgoing::Text(store::bytes(&self.text, json)))
            }
            _ => {
                msg = self.message(s, info, Uuid::new_v4(rng))?;
                (msg.uuid(), Outgoing::Message(&msg))
            }
        };
        let len = self.encode(out, rng, buf)?;
        Ok((uuid, len))
    }

    /// The v0 message `s` stands for (`fresh`: the uuid of a message of our own).
    fn message<'s>(
        &'s self,
        s: Send,
        info: Option<ProviderInfo<'s>>,
        fresh: Uuid,
    ) -> Result<Message<'s>, SessionError> {
        let ts = self.timestamp();
        let text = |span| store::text(&self.text, span);
        Ok(match s {
            Send::Rendezvous => Message::request_rendezvous(fresh, ts, self.rendezvous_id()),
            Send::RequestProvider => Message::request_provider(fresh, ts),
            Send::Ping => Message::request_ping(fresh, ts),
            Send::Pong { reference } => Message::notify_pong(fresh, Some(reference), ts),
            Send::ProviderNotReady { reference } => {
                Message::notify_provider_not_ready(fresh, Some(reference), ts)
            }
            Send::ProviderInfo { reference } => {
                let info = info.ok_or(SessionError::InvalidProviderInfo)?;
                Message::notify_provider(fresh, reference, ts, info)
            }
            Send::RequestInvoice { uuid, msats } => Message::request_invoice(uuid, ts, msats),
            Send::RequestPay { uuid, bolt11 } => Message::request_pay(uuid, ts, text(bolt11)),
            Send::Invoice { reference, bolt11 } => {
                Message::notify_invoice(fresh, Some(reference), ts, text(bolt11))
            }
            Send::Preimage {
                reference,
                preimage,
            } => {
                let bytes: [u8; 32] = store::bytes(&self.text, preimage)
                    .try_into()
                    .map_err(|_| SessionError::InvalidPreimage)?;
                Message::notify_preimage(fresh, reference, ts, Hex256::from_bytes(&bytes), None)
            }
            Send::Error { reference, text: t } => {
                Message::notify_error(fresh, reference, ts, text(t))
            }
            Send::FixedError { reference, text } => {
                let text = match text {
                    FixedText::NotReady => super::provider::NOT_READY_ERROR,
                    FixedText::TooManyRequests => super::provider::TOO_MANY_REQUESTS_ERROR,
                };
                Message::notify_error(fresh, reference, ts, text)
            }
            // Already serialised: `seal` takes it from the store.
            Send::Extension { .. } => return Err(SessionError::TooLarge),
        })
    }

    /// Serialises `out` into `buf`: clear for rendezvous kinds, sealed in place otherwise
    /// (one sealing call site for both kinds of output).
    fn encode<R: RngCore + CryptoRng + ?Sized>(
        &self,
        out: Outgoing<'_>,
        rng: &mut R,
        buf: &mut [u8],
    ) -> Result<usize, SessionError> {
        let limit = buf.len().min(self.max_frame);
        let buf = &mut buf[..limit];
        if let Outgoing::Message(msg) = out {
            if msg.must_be_cleartext() {
                let mut sink = SliceSink::new(buf);
                msg.write_json(&mut sink)
                    .map_err(|_| SessionError::TooLarge)?;
                return Ok(sink.len());
            }
        }
        let body = buf.get_mut(IV_LEN..).ok_or(SessionError::TooLarge)?;
        let mut sink = SliceSink::new(body);
        match out {
            Outgoing::Message(msg) => msg.write_json(&mut sink),
            Outgoing::Text(text) => sink.put(text),
        }
        .map_err(|_| SessionError::TooLarge)?;
        let text_len = sink.len();
        frame::seal_in_place(&self.key, rng, buf, text_len).map_err(|_| SessionError::TooLarge)
    }

    /// Classifies, opens (in place) and validates a received frame, through the one
    /// receive path ([`frame::receive_in_place`]); then the link's own rules: rendezvous
    /// notices, the replay window, the two lenient readings (Go's END, the terminus' error
    /// array).
    pub(crate) fn receive<'s>(&mut self, bytes: &'s mut [u8]) -> Received<'s> {
        let paired = match self.state {
            LinkState::Rendezvous => false,
            LinkState::Paired => true,
            LinkState::Idle | LinkState::Closed => return Received::Ignored,
        };
        if bytes.len() > self.max_frame {
            return Received::Refused(FrameRefusal::TooLarge(bytes.len()));
        }
        let clear = frame::is_cleartext(bytes);
        // Only the rendezvous kinds may come in clear, before and after pairing: a relay
        // must not inject application messages.
        let policy = FramePolicy::Paired;
        match frame::receive_classified(Some(&self.key), policy, bytes, clear) {
            Ok(r) if !r.encrypted => self.notice(&r.message, paired),
            Ok(r) => {
                let kind = r.message.kind();
                if !self.fresh(r.message.uuid()) {
                    return Received::Refused(FrameRefusal::Replayed(kind));
                }
                if !paired {
                    return Received::Refused(FrameRefusal::Unexpected(kind));
                }
                Received::Message(r.message, r.text)
            }
            Err((FrameError::Message(_), text)) if clear && lenient_end(text) => self.end(paired),
            Err((FrameError::Message(MessageError::ErrorMsgType), text)) if !clear && paired => {
                match lenient_error(text) {
                    Some((uuid, reference, raw)) if self.fresh(uuid) => {
                        Received::LenientError { reference, raw }
                    }
                    Some(_) => Received::Refused(FrameRefusal::Replayed(MessageKind::NotifyError)),
                    None => Received::Refused(FrameRefusal::Frame(FrameError::Message(
                        MessageError::ErrorMsgType,
                    ))),
                }
            }
            Err((
                FrameError::Message(
                    e @ (MessageError::UnknownRequestName(_)
                    | MessageError::UnknownNotificationName(_)),
                ),
                text,
            )) if EXTENSIONS_BUILT && self.extensions && !clear => self.extension(text, paired, e),
            Err((e, _)) => Received::Refused(FrameRefusal::Frame(e)),
        }
    }

    /// An encrypted message with a name v0 does not know, on a link with extensions on:
    /// an extension message (replay window and pairing rules as for any other), or the
    /// v0 refusal `unknown` if it is not one.
    fn extension<'s>(
        &mut self,
        text: &'s [u8],
        paired: bool,
        unknown: MessageError,
    ) -> Received<'s> {
        match OpinionMessage::parse(text) {
            Ok(m) if !self.fresh(m.uuid()) => {
                Received::Refused(FrameRefusal::ReplayedExtension(m.kind()))
            }
            Ok(m) if !paired => Received::Refused(FrameRefusal::UnexpectedExtension(m.kind())),
            Ok(_) => Received::Extension(text),
            Err(OpinionError::NotOpinion) => {
                Received::Refused(FrameRefusal::Frame(FrameError::Message(unknown)))
            }
            Err(e) => Received::Refused(FrameRefusal::Extension(e)),
        }
    }

    /// A cleartext rendezvous message from the relay.
    fn notice<'s>(&mut self, msg: &Message<'_>, paired: bool) -> Received<'s> {
        match msg.body() {
            Body::NotifyRendezvousNotReady { .. } if !paired => Received::NotReady,
            Body::NotifyRendezvous { .. } if !paired => {
                self.state = LinkState::Paired;
                Received::Paired
            }
            Body::NotifyRendezvousEnd { .. } => self.end(paired),
            // REQUEST_RENDEZVOUS, a repeated NOTIFY_RENDEZVOUS (a Python relay bug), a late
            // NOT_READY.
            b => Received::Refused(FrameRefusal::Unexpected(b.kind())),
        }
    }

    fn end<'s>(&mut self, was_paired: bool) -> Received<'s> {
        self.state = LinkState::Closed;
        Received::End { was_paired }
    }

    /// Records `uuid`; false if it was seen recently (replay).
    fn fresh(&mut self, uuid: Uuid) -> bool {
        let (a, b) = uuid.0.split_at(8);
        let lo = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]));
        let hi = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        // A mixing fold (a plain XOR of the halves maps patterned uuids together).
        let mut fold = lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi.rotate_left(31);
        fold = (fold ^ (fold >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        fold ^= fold >> 32;
        if self.seen.iter().any(|u| *u == fold) {
            return false;
        }
        if self.seen.is_full() {
            self.seen.pop_front();
        }
        let _ = self.seen.push_back(fold);
        true
    }

    /// Parks a refusal for the next `Refused` event; `false` (counted) if one is parked.
    pub(crate) fn park_refusal(&mut self, r: FrameRefusal) -> bool {
        if self.refusal.is_some() {
            self.overflow += 1;
            return false;
        }
        self.refusal = Some(r);
        true
    }
}

/// One drained item of a link, before the role turns it into its public output.
pub(crate) enum Polled<E> {
    /// A queued event.
    Event(E),
    /// A frame sealed into the caller's buffer: what it was, its uuid, its length.
    Sealed { send: Send, uuid: Uuid, len: usize },
}

impl<B: TextStore, E, const Q: usize> Link<B, E, Q> {
    /// Drains one item: events first (they report what already happened), then frames,
    /// sealed now into `buf`. `info` is the provider's stored `NOTIFY_PROVIDER` template.
    /// `None` once both queues are empty (the store is reset then).
    pub(crate) fn poll<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        info: Option<ProviderInfo<'_>>,
        rng: &mut R,
        buf: &mut [u8],
    ) -> Option<Polled<E>> {
        if let Some(e) = self.events.pop_front() {
            return Some(Polled::Event(e));
        }
        while let Some(send) = self.sends.pop_front() {
            match self.seal(send, info, rng, buf) {
                Ok((uuid, len)) => {
                    // Our own uuids join the replay window: a relay that echoes a frame to
                    // its sender (the Go relay broadcasts every frame to every client,
                    // docs/quirks-go-peers.md) is then refused as a replay instead of being
                    // read as the peer playing our role.
                    self.fresh(uuid);
                    return Some(Polled::Sealed { send, uuid, len });
                }
                // Does not fit the caller's buffer: counted, and the next one is tried.
                Err(_) => self.overflow += 1,
            }
        }
        self.text.reset();
        None
    }
}

/// The close reason an `END` means.
pub(crate) fn end_reason(was_paired: bool) -> CloseReason {
    if was_paired {
        CloseReason::PeerGone
    } else {
        CloseReason::RendezvousRefused
    }
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
