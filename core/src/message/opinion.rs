//! The opinion-seller demo extension (wire reference 7.6, flow in host-apps 3.1–3.2): six
//! application messages on the v0 envelope, spoken by the prototype's seller and buyer apps.
//!
//! They are opt-in, beside the v0 parser: [`Message::parse`](super::Message::parse) keeps
//! refusing these names as unknown (as every v0 receiver does); a session configured with
//! `extensions: true` reads them with [`OpinionMessage::parse`] instead. Zero-copy and
//! without `alloc`, like the v0 messages:
//!
//! ```
//! use moneysocket_core::message::opinion::{OpinionBody, OpinionMessage};
//! let text = br#"{"timestamp": 1612345678.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "43291db8-bef4-4da0-ba48-7fa973d2c92b", "request_reference_uuid": null, "notification_name": "NOTIFY_OPINION_SELLER", "items": [{"item_id": "hello", "name": "Hello World", "msats": 1000}], "seller_uuid": "9d3c6d2b-7b7e-4c1e-8f0e-3a1b2c3d4e5f"}"#;
//! let msg = OpinionMessage::parse(text).unwrap();
//! let OpinionBody::NotifyOpinionSeller { items, .. } = msg.body() else { panic!() };
//! let first = items.iter().next().unwrap();
//! assert!(first.item_id.eq_str("hello"));
//! assert_eq!(first.msats, 1000);
//! let mut buf = [0u8; 512];
//! let mut sink = moneysocket_core::sink::SliceSink::new(&mut buf);
//! msg.write_json(&mut sink).unwrap();
//! assert_eq!(sink.written(), &text[..]);
//! ```

use super::{uuid_of, PROTOCOL_VERSION};
use super::{write_envelope, Envelope, Header, MessageClass, MessageError, Text, Timestamp};
use crate::json::{Array, JsonStr, Object, ObjectWriter, Value};
use crate::sink::{CountingSink, Overflow, Sink};
use crate::uuid::Uuid;
use core::fmt;

/// The `extension_protocol` the prototype puts on (and requires of) its two requests.
pub const EXTENSION_PROTOCOL: &str = "OPINION_SELLER_DEMO_V0";

/// The six opinion-seller message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpinionKind {
    /// `REQUEST_OPINION_SELLER`: the buyer asks for the seller's items.
    RequestOpinionSeller,
    /// `REQUEST_OPINION_INVOICE`: the buyer asks for an invoice for one item.
    RequestOpinionInvoice,
    /// `NOTIFY_OPINION_SELLER`: the seller's uuid and items.
    NotifyOpinionSeller,
    /// `NOTIFY_OPINION_SELLER_NOT_READY`: the store is not open yet.
    NotifyOpinionSellerNotReady,
    /// `NOTIFY_OPINION_INVOICE`: the invoice for an item.
    NotifyOpinionInvoice,
    /// `NOTIFY_OPINION`: the paid-for opinion.
    NotifyOpinion,
}

impl OpinionKind {
    /// All kinds.
    pub const ALL: [OpinionKind; 6] = [
        OpinionKind::RequestOpinionSeller,
        OpinionKind::RequestOpinionInvoice,
        OpinionKind::NotifyOpinionSeller,
        OpinionKind::NotifyOpinionSellerNotReady,
        OpinionKind::NotifyOpinionInvoice,
        OpinionKind::NotifyOpinion,
    ];

    /// The `request_name` / `notification_name`.
    pub fn name(self) -> &'static str {
        match self {
            OpinionKind::RequestOpinionSeller => "REQUEST_OPINION_SELLER",
            OpinionKind::RequestOpinionInvoice => "REQUEST_OPINION_INVOICE",
            OpinionKind::NotifyOpinionSeller => "NOTIFY_OPINION_SELLER",
            OpinionKind::NotifyOpinionSellerNotReady => "NOTIFY_OPINION_SELLER_NOT_READY",
            OpinionKind::NotifyOpinionInvoice => "NOTIFY_OPINION_INVOICE",
            OpinionKind::NotifyOpinion => "NOTIFY_OPINION",
        }
    }

    /// Request or notification.
    pub fn class(self) -> MessageClass {
        match self {
            OpinionKind::RequestOpinionSeller | OpinionKind::RequestOpinionInvoice => {
                MessageClass::Request
            }
            _ => MessageClass::Notification,
        }
    }

    fn from_json_name(name: &JsonStr<'_>, class: MessageClass) -> Option<OpinionKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.class() == class && name.eq_str(k.name()))
    }
}

impl fmt::Display for OpinionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One item of a seller's list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpinionItem<'a> {
    /// The seller's id for the item (what `REQUEST_OPINION_INVOICE` names).
    pub item_id: Text<'a>,
    /// Display name.
    pub name: Text<'a>,
    /// Price in millisatoshi.
    pub msats: u64,
}

/// The `items` of a `NOTIFY_OPINION_SELLER`: the parsed (already validated) JSON array, or
/// the application's slice when it builds one. No allocation either way.
#[derive(Debug, Clone, Copy)]
pub enum OpinionItems<'a> {
    /// As received.
    Json(Array<'a>),
    /// Built by the application.
    Slice(&'a [OpinionItem<'a>]),
}

impl<'a> OpinionItems<'a> {
    /// The items in order.
    pub fn iter(&self) -> impl Iterator<Item = OpinionItem<'a>> + 'a {
        let (json, slice) = match *self {
            OpinionItems::Json(a) => (Some(a.iter()), None),
            OpinionItems::Slice(s) => (None, Some(s.iter().copied())),
        };
        // A parsed array was validated: every element reads.
        json.into_iter()
            .flatten()
            .filter_map(|v| item(v).ok())
            .chain(slice.into_iter().flatten())
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl PartialEq for OpinionItems<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// The kind-specific part of an opinion-seller message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpinionBody<'a> {
    /// `REQUEST_OPINION_SELLER`
    RequestOpinionSeller,
    /// `REQUEST_OPINION_INVOICE`
    RequestOpinionInvoice {
        /// The item to buy.
        item_id: Text<'a>,
    },
    /// `NOTIFY_OPINION_SELLER`
    NotifyOpinionSeller {
        /// The seller's identity.
        seller_uuid: Uuid,
        /// What is on sale.
        items: OpinionItems<'a>,
    },
    /// `NOTIFY_OPINION_SELLER_NOT_READY`
    NotifyOpinionSellerNotReady,
    /// `NOTIFY_OPINION_INVOICE`
    NotifyOpinionInvoice {
        /// The invoice to pay for the item.
        bolt11: Text<'a>,
    },
    /// `NOTIFY_OPINION`
    NotifyOpinion {
        /// The item paid for.
        item_id: Text<'a>,
        /// What the buyer paid for.
        opinion: Text<'a>,
    },
}

impl OpinionBody<'_> {
    /// The message kind.
    pub fn kind(&self) -> OpinionKind {
        match self {
            OpinionBody::RequestOpinionSeller => OpinionKind::RequestOpinionSeller,
            OpinionBody::RequestOpinionInvoice { .. } => OpinionKind::RequestOpinionInvoice,
            OpinionBody::NotifyOpinionSeller { .. } => OpinionKind::NotifyOpinionSeller,
            OpinionBody::NotifyOpinionSellerNotReady => OpinionKind::NotifyOpinionSellerNotReady,
            OpinionBody::NotifyOpinionInvoice { .. } => OpinionKind::NotifyOpinionInvoice,
            OpinionBody::NotifyOpinion { .. } => OpinionKind::NotifyOpinion,
        }
    }
}

/// Why [`OpinionMessage::parse`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpinionError {
    /// The v0 envelope (class, timestamp, protocol, uuids, name field) does not validate.
    Envelope(MessageError),
    /// The name is not one of the six (of this message class).
    NotOpinion,
    /// A required field is missing (its name; `items[].x` for an item's field).
    Missing(&'static str),
    /// A field has the wrong JSON type.
    WrongType(&'static str),
    /// `seller_uuid` is not a UUID.
    InvalidSellerUuid,
    /// An item's `msats` is a number but not an integer (e.g. `1.5`, `1e3`).
    MsatsNotInteger,
    /// An item's `msats` is negative or above `u64::MAX`.
    MsatsOutOfRange,
    /// `extension_protocol` is present but not [`EXTENSION_PROTOCOL`].
    UnknownExtensionProtocol,
}

impl fmt::Display for OpinionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpinionError::Envelope(e) => write!(f, "invalid envelope: {e}"),
            OpinionError::NotOpinion => f.write_str("not an opinion-seller message"),
            OpinionError::Missing(k) => write!(f, "no {k} included"),
            OpinionError::WrongType(k) => write!(f, "unknown {k} type"),
            OpinionError::InvalidSellerUuid => f.write_str("invalid seller_uuid"),
            OpinionError::MsatsNotInteger => f.write_str("item msats must be an integer"),
            OpinionError::MsatsOutOfRange => f.write_str("item msats must be between 0 and 2^64-1"),
            OpinionError::UnknownExtensionProtocol => f.write_str("protocol not understood"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OpinionError {}

impl From<MessageError> for OpinionError {
    fn from(e: MessageError) -> Self {
        OpinionError::Envelope(e)
    }
}

/// An opinion-seller message: the v0 envelope and an [`OpinionBody`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpinionMessage<'a> {
    timestamp: Timestamp<'a>,
    protocol_version: Text<'a>,
    header: Header,
    body: OpinionBody<'a>,
}

fn text_field<'a>(obj: &Object<'a>, key: &'static str) -> Result<Text<'a>, OpinionError> {
    match obj.get(key) {
        None => Err(OpinionError::Missing(key)),
        Some(Value::String(s)) => Ok(Text::Json(s)),
        Some(_) => Err(OpinionError::WrongType(key)),
    }
}

/// One element of `items`.
fn item(v: Value<'_>) -> Result<OpinionItem<'_>, OpinionError> {
    let Value::Object(o) = v else {
        return Err(OpinionError::WrongType("items[]"));
    };
    let item_id = match o.get("item_id") {
        None => return Err(OpinionError::Missing("items[].item_id")),
        Some(Value::String(s)) => Text::Json(s),
        Some(_) => return Err(OpinionError::WrongType("items[].item_id")),
    };
    let name = match o.get("name") {
        None => return Err(OpinionError::Missing("items[].name")),
        Some(Value::String(s)) => Text::Json(s),
        Some(_) => return Err(OpinionError::WrongType("items[].name")),
    };
    let msats = match o.get("msats") {
        None => return Err(OpinionError::Missing("items[].msats")),
        Some(Value::Number(n)) if !n.is_integer() => return Err(OpinionError::MsatsNotInteger),
        Some(Value::Number(n)) => n.as_u64().ok_or(OpinionError::MsatsOutOfRange)?,
        Some(_) => return Err(OpinionError::WrongType("items[].msats")),
    };
    Ok(OpinionItem {
        item_id,
        name,
        msats,
    })
}

/// `extension_protocol` on a request: optional (the prototype sends it; other senders
/// may not), but if present it must name this extension.
fn check_extension_protocol(obj: &Object<'_>) -> Result<(), OpinionError> {
    match obj.get("extension_protocol") {
        None => Ok(()),
        Some(Value::String(s)) if s.eq_str(EXTENSION_PROTOCOL) => Ok(()),
        Some(Value::String(_)) => Err(OpinionError::UnknownExtensionProtocol),
        Some(_) => Err(OpinionError::WrongType("extension_protocol")),
    }
}

fn parse_body<'a>(kind: OpinionKind, obj: &Object<'a>) -> Result<OpinionBody<'a>, OpinionError> {
    Ok(match kind {
        OpinionKind::RequestOpinionSeller => {
            check_extension_protocol(obj)?;
            OpinionBody::RequestOpinionSeller
        }
        OpinionKind::RequestOpinionInvoice => {
            let item_id = text_field(obj, "item_id")?;
            check_extension_protocol(obj)?;
            OpinionBody::RequestOpinionInvoice { item_id }
        }
        OpinionKind::NotifyOpinionSeller => {
            let seller_uuid = match obj.get("seller_uuid") {
                None => return Err(OpinionError::Missing("seller_uuid")),
                Some(Value::String(s)) => uuid_of(&s).ok_or(OpinionError::InvalidSellerUuid)?,
                Some(_) => return Err(OpinionError::WrongType("seller_uuid")),
            };
            let items = match obj.get("items") {
                None => return Err(OpinionError::Missing("items")),
                Some(Value::Array(a)) => a,
                Some(_) => return Err(OpinionError::WrongType("items")),
            };
            for v in items.iter() {
                item(v)?;
            }
            OpinionBody::NotifyOpinionSeller {
                seller_uuid,
                items: OpinionItems::Json(items),
            }
        }
        OpinionKind::NotifyOpinionSellerNotReady => OpinionBody::NotifyOpinionSellerNotReady,
        OpinionKind::NotifyOpinionInvoice => OpinionBody::NotifyOpinionInvoice {
            bolt11: text_field(obj, "bolt11")?,
        },
        OpinionKind::NotifyOpinion => {
            let opinion = text_field(obj, "opinion")?;
            OpinionBody::NotifyOpinion {
                item_id: text_field(obj, "item_id")?,
                opinion,
            }
        }
    })
}

impl<'a> OpinionMessage<'a> {
    /// Parses an opinion-seller message: the v0 envelope first (same checks and errors as
    /// [`Message::parse`](super::Message::parse)), then the name, then the kind's fields.
    /// Unknown extra keys are ignored.
    pub fn parse(text: &'a [u8]) -> Result<OpinionMessage<'a>, OpinionError> {
        let env = Envelope::parse(text)?;
        let kind = OpinionKind::from_json_name(&env.name, env.header.class())
            .ok_or(OpinionError::NotOpinion)?;
        let body = parse_body(kind, &env.object)?;
        Ok(OpinionMessage {
            timestamp: env.timestamp,
            protocol_version: env.protocol_version,
            header: env.header,
            body,
        })
    }

    /// Whether `text` names one of the six (envelope valid, name known), without checking
    /// the kind's fields.
    pub fn is_opinion(text: &[u8]) -> bool {
        Envelope::parse(text)
            .ok()
            .is_some_and(|e| OpinionKind::from_json_name(&e.name, e.header.class()).is_some())
    }

    fn new(header: Header, timestamp: Timestamp<'a>, body: OpinionBody<'a>) -> Self {
        OpinionMessage {
            timestamp,
            protocol_version: Text::Plain(PROTOCOL_VERSION),
            header,
            body,
        }
    }

    fn notification(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        body: OpinionBody<'a>,
    ) -> Self {
        Self::new(
            Header::Notification {
                notification_uuid: uuid,
                request_reference_uuid: reference,
            },
            timestamp,
            body,
        )
    }

    /// `REQUEST_OPINION_SELLER` (with `extension_protocol`).
    pub fn request_opinion_seller(uuid: Uuid, timestamp: Timestamp<'a>) -> Self {
        Self::new(
            Header::Request { request_uuid: uuid },
            timestamp,
            OpinionBody::RequestOpinionSeller,
        )
    }

    /// `REQUEST_OPINION_INVOICE` for `item_id` (with `extension_protocol`).
    pub fn request_opinion_invoice(
        uuid: Uuid,
        timestamp: Timestamp<'a>,
        item_id: impl Into<Text<'a>>,
    ) -> Self {
        Self::new(
            Header::Request { request_uuid: uuid },
            timestamp,
            OpinionBody::RequestOpinionInvoice {
                item_id: item_id.into(),
            },
        )
    }

    /// `NOTIFY_OPINION_SELLER`.
    pub fn notify_opinion_seller(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        seller_uuid: Uuid,
        items: &'a [OpinionItem<'a>],
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            OpinionBody::NotifyOpinionSeller {
                seller_uuid,
                items: OpinionItems::Slice(items),
            },
        )
    }

    /// `NOTIFY_OPINION_SELLER_NOT_READY`.
    pub fn notify_opinion_seller_not_ready(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            OpinionBody::NotifyOpinionSellerNotReady,
        )
    }

    /// `NOTIFY_OPINION_INVOICE`.
    pub fn notify_opinion_invoice(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        bolt11: impl Into<Text<'a>>,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            OpinionBody::NotifyOpinionInvoice {
                bolt11: bolt11.into(),
            },
        )
    }

    /// `NOTIFY_OPINION`.
    pub fn notify_opinion(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        item_id: impl Into<Text<'a>>,
        opinion: impl Into<Text<'a>>,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            OpinionBody::NotifyOpinion {
                item_id: item_id.into(),
                opinion: opinion.into(),
            },
        )
    }

    /// The same message with another timestamp (a session stamps what it sends).
    pub fn with_timestamp(mut self, timestamp: Timestamp<'a>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The timestamp.
    pub fn timestamp(&self) -> Timestamp<'a> {
        self.timestamp
    }
    /// The `protocol_version` text.
    pub fn protocol_version(&self) -> Text<'a> {
        self.protocol_version
    }
    /// The class-specific header.
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// The kind-specific body.
    pub fn body(&self) -> &OpinionBody<'a> {
        &self.body
    }
    /// The message kind.
    pub fn kind(&self) -> OpinionKind {
        self.body.kind()
    }
    /// The message's own uuid (`request_uuid` or `notification_uuid`).
    pub fn uuid(&self) -> Uuid {
        match self.header {
            Header::Request { request_uuid } => request_uuid,
            Header::Notification {
                notification_uuid, ..
            } => notification_uuid,
        }
    }
    /// `request_reference_uuid`, for notifications that carry one.
    pub fn reference_uuid(&self) -> Option<Uuid> {
        match self.header {
            Header::Notification {
                request_reference_uuid,
                ..
            } => request_reference_uuid,
            Header::Request { .. } => None,
        }
    }

    /// Writes the message: the envelope as v0 messages write it, then the kind's fields in
    /// the prototype's order (requests end with `extension_protocol`).
    pub fn write_json<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        let mut o = ObjectWriter::begin(sink)?;
        // The header must be of the body's class; a mismatch cannot be built (the
        // constructors pick the header), so the name is the body's.
        write_envelope(
            &mut o,
            &self.timestamp,
            &self.protocol_version,
            &self.header,
            self.kind().name(),
        )?;
        match &self.body {
            OpinionBody::RequestOpinionSeller => {}
            OpinionBody::RequestOpinionInvoice { item_id } => {
                item_id.write_json(o.key("item_id")?)?
            }
            OpinionBody::NotifyOpinionSeller { seller_uuid, items } => {
                let s = o.key("items")?;
                s.put(b"[")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        s.put(b", ")?;
                    }
                    let mut w = ObjectWriter::begin(&mut *s)?;
                    it.item_id.write_json(w.key("item_id")?)?;
                    it.name.write_json(w.key("name")?)?;
                    w.u64("msats", it.msats)?;
                    w.end()?;
                }
                s.put(b"]")?;
                o.str("seller_uuid", &seller_uuid.to_str_buf())?;
            }
            OpinionBody::NotifyOpinionSellerNotReady => {}
            OpinionBody::NotifyOpinionInvoice { bolt11 } => bolt11.write_json(o.key("bolt11")?)?,
            OpinionBody::NotifyOpinion { item_id, opinion } => {
                opinion.write_json(o.key("opinion")?)?;
                item_id.write_json(o.key("item_id")?)?;
            }
        }
        if self.kind().class() == MessageClass::Request {
            o.str("extension_protocol", EXTENSION_PROTOCOL)?;
        }
        o.end()
    }

    /// The length of [`OpinionMessage::write_json`]'s output.
    pub fn json_len(&self) -> usize {
        CountingSink::measure(|c| self.write_json(c))
    }

    /// The serialised message as an owned `String`.
    #[cfg(feature = "alloc")]
    pub fn to_json_string(&self) -> alloc::string::String {
        crate::sink::ascii_string(self.json_len(), |v| self.write_json(v))
    }
}

#[cfg(test)]
mod tests;
