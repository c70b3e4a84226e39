//! The fourteen v0 messages: parsing with the Python reference's validation order and error
//! texts, and serialisation byte-identical to the reference's `json.dumps` output.
//!
//! Everything is zero-copy over the input text and works without `alloc`:
//!
//! ```
//! use moneysocket_core::message::{Message, MessageKind};
//! let text = br#"{"timestamp": 1612345678.123456, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "REQUEST", "request_uuid": "43291db8-bef4-4da0-ba48-7fa973d2c92b", "request_name": "REQUEST_INVOICE", "msats": 1000}"#;
//! let msg = Message::parse(text).unwrap();
//! assert_eq!(msg.kind(), MessageKind::RequestInvoice);
//! let mut buf = [0u8; 256];
//! let mut sink = moneysocket_core::sink::SliceSink::new(&mut buf);
//! msg.write_json(&mut sink).unwrap();
//! assert_eq!(sink.written(), &text[..]);
//! ```

mod error;
pub mod opinion;
mod text;
pub mod wad;

pub use error::{MessageError, UnknownName};
pub use text::{Hex256, Hex256Error, Text, TextCodePoints, Timestamp};
pub use wad::{Wad, WadError};

use crate::json::{self, JsonStr, Object, ObjectWriter, Value};
use crate::sink::{CountingSink, Overflow, Sink};
use crate::uuid::Uuid;
use core::fmt;

/// The value of the `protocol` field.
pub const PROTOCOL: &str = "Moneysocket";
/// The `protocol_version` the reference sends.
pub const PROTOCOL_VERSION: &str = "0.0.0";
/// Longest `ext` (characters) the reference accepts in `NOTIFY_PREIMAGE`.
pub const EXT_MAX_CHARS: usize = 4096;

/// `REQUEST` or `NOTIFICATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageClass {
    /// A request (`request_uuid`, `request_name`).
    Request,
    /// A notification (`notification_uuid`, `request_reference_uuid`, `notification_name`).
    Notification,
}

impl MessageClass {
    /// The `message_class` value.
    pub fn name(self) -> &'static str {
        match self {
            MessageClass::Request => "REQUEST",
            MessageClass::Notification => "NOTIFICATION",
        }
    }
}

/// The fourteen v0 message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageKind {
    /// `REQUEST_RENDEZVOUS`
    RequestRendezvous,
    /// `REQUEST_PROVIDER`
    RequestProvider,
    /// `REQUEST_PING`
    RequestPing,
    /// `REQUEST_INVOICE`
    RequestInvoice,
    /// `REQUEST_PAY`
    RequestPay,
    /// `NOTIFY_RENDEZVOUS`
    NotifyRendezvous,
    /// `NOTIFY_RENDEZVOUS_NOT_READY`
    NotifyRendezvousNotReady,
    /// `NOTIFY_RENDEZVOUS_END`
    NotifyRendezvousEnd,
    /// `NOTIFY_PROVIDER`
    NotifyProvider,
    /// `NOTIFY_PROVIDER_NOT_READY`
    NotifyProviderNotReady,
    /// `NOTIFY_PONG`
    NotifyPong,
    /// `NOTIFY_INVOICE`
    NotifyInvoice,
    /// `NOTIFY_PREIMAGE`
    NotifyPreimage,
    /// `NOTIFY_ERROR`
    NotifyError,
}

impl MessageKind {
    /// All kinds.
    pub const ALL: [MessageKind; 14] = [
        MessageKind::RequestRendezvous,
        MessageKind::RequestProvider,
        MessageKind::RequestPing,
        MessageKind::RequestInvoice,
        MessageKind::RequestPay,
        MessageKind::NotifyRendezvous,
        MessageKind::NotifyRendezvousNotReady,
        MessageKind::NotifyRendezvousEnd,
        MessageKind::NotifyProvider,
        MessageKind::NotifyProviderNotReady,
        MessageKind::NotifyPong,
        MessageKind::NotifyInvoice,
        MessageKind::NotifyPreimage,
        MessageKind::NotifyError,
    ];

    /// The `request_name` / `notification_name`.
    pub fn name(self) -> &'static str {
        use MessageKind as K;
        match self {
            K::RequestRendezvous => "REQUEST_RENDEZVOUS",
            K::RequestProvider => "REQUEST_PROVIDER",
            K::RequestPing => "REQUEST_PING",
            K::RequestInvoice => "REQUEST_INVOICE",
            K::RequestPay => "REQUEST_PAY",
            K::NotifyRendezvous => "NOTIFY_RENDEZVOUS",
            K::NotifyRendezvousNotReady => "NOTIFY_RENDEZVOUS_NOT_READY",
            K::NotifyRendezvousEnd => "NOTIFY_RENDEZVOUS_END",
            K::NotifyProvider => "NOTIFY_PROVIDER",
            K::NotifyProviderNotReady => "NOTIFY_PROVIDER_NOT_READY",
            K::NotifyPong => "NOTIFY_PONG",
            K::NotifyInvoice => "NOTIFY_INVOICE",
            K::NotifyPreimage => "NOTIFY_PREIMAGE",
            K::NotifyError => "NOTIFY_ERROR",
        }
    }

    /// The kind with this name (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<MessageKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    #[inline(never)]
    fn from_json_name(name: &JsonStr<'_>, class: MessageClass) -> Option<MessageKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.class() == class && name.eq_str(k.name()))
    }

    /// Request or notification.
    pub fn class(self) -> MessageClass {
        use MessageKind as K;
        match self {
            K::RequestRendezvous
            | K::RequestProvider
            | K::RequestPing
            | K::RequestInvoice
            | K::RequestPay => MessageClass::Request,
            _ => MessageClass::Notification,
        }
    }

    /// The four rendezvous kinds, which are never encrypted.
    pub fn must_be_cleartext(self) -> bool {
        matches!(
            self,
            MessageKind::RequestRendezvous
                | MessageKind::NotifyRendezvous
                | MessageKind::NotifyRendezvousNotReady
                | MessageKind::NotifyRendezvousEnd
        )
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The class-specific header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A request.
    Request {
        /// `request_uuid`
        request_uuid: Uuid,
    },
    /// A notification.
    Notification {
        /// `notification_uuid`
        notification_uuid: Uuid,
        /// `request_reference_uuid` (`null` for unsolicited notifications).
        request_reference_uuid: Option<Uuid>,
    },
}

impl Header {
    /// The class this header belongs to.
    pub fn class(&self) -> MessageClass {
        match self {
            Header::Request { .. } => MessageClass::Request,
            Header::Notification { .. } => MessageClass::Notification,
        }
    }
}

/// What a provider tells its consumer in `NOTIFY_PROVIDER`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProviderInfo<'a> {
    /// Stable identifier of the account behind the connection.
    pub account_uuid: Uuid,
    /// The provider will pay invoices for this consumer.
    pub payer: bool,
    /// The provider will create invoices to receive funds.
    pub payee: bool,
    /// Balance available to the consumer, or `None` (`null`).
    pub wad: Option<Wad<'a>>,
}

/// The kind-specific part of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Body<'a> {
    /// `REQUEST_RENDEZVOUS`
    RequestRendezvous {
        /// 64 hex characters, spelled as received.
        rendezvous_id: Hex256,
    },
    /// `REQUEST_PROVIDER`
    RequestProvider,
    /// `REQUEST_PING`
    RequestPing,
    /// `REQUEST_INVOICE`
    RequestInvoice {
        /// Amount in millisatoshi (> 0).
        msats: u64,
    },
    /// `REQUEST_PAY`
    RequestPay {
        /// The invoice (starts with `lnbc`).
        bolt11: Text<'a>,
    },
    /// `NOTIFY_RENDEZVOUS`
    NotifyRendezvous {
        /// The rendezvous id.
        rendezvous_id: Hex256,
    },
    /// `NOTIFY_RENDEZVOUS_NOT_READY`
    NotifyRendezvousNotReady {
        /// The rendezvous id.
        rendezvous_id: Hex256,
    },
    /// `NOTIFY_RENDEZVOUS_END`
    NotifyRendezvousEnd {
        /// The rendezvous id.
        rendezvous_id: Hex256,
    },
    /// `NOTIFY_PROVIDER`
    NotifyProvider(ProviderInfo<'a>),
    /// `NOTIFY_PROVIDER_NOT_READY`
    NotifyProviderNotReady,
    /// `NOTIFY_PONG`
    NotifyPong,
    /// `NOTIFY_INVOICE`
    NotifyInvoice {
        /// The invoice.
        bolt11: Text<'a>,
    },
    /// `NOTIFY_PREIMAGE`
    NotifyPreimage {
        /// 64 hex characters, spelled as received.
        preimage: Hex256,
        /// Extension text (≤ 4096 characters); always `None` in v0.
        ext: Option<Text<'a>>,
    },
    /// `NOTIFY_ERROR`
    NotifyError {
        /// Free text.
        error_msg: Text<'a>,
    },
}

impl Body<'_> {
    /// The message kind.
    pub fn kind(&self) -> MessageKind {
        use MessageKind as K;
        match self {
            Body::RequestRendezvous { .. } => K::RequestRendezvous,
            Body::RequestProvider => K::RequestProvider,
            Body::RequestPing => K::RequestPing,
            Body::RequestInvoice { .. } => K::RequestInvoice,
            Body::RequestPay { .. } => K::RequestPay,
            Body::NotifyRendezvous { .. } => K::NotifyRendezvous,
            Body::NotifyRendezvousNotReady { .. } => K::NotifyRendezvousNotReady,
            Body::NotifyRendezvousEnd { .. } => K::NotifyRendezvousEnd,
            Body::NotifyProvider(_) => K::NotifyProvider,
            Body::NotifyProviderNotReady => K::NotifyProviderNotReady,
            Body::NotifyPong => K::NotifyPong,
            Body::NotifyInvoice { .. } => K::NotifyInvoice,
            Body::NotifyPreimage { .. } => K::NotifyPreimage,
            Body::NotifyError { .. } => K::NotifyError,
        }
    }
}

/// [`Message::new`] was given a header of the other class than the body's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HeaderMismatch;

impl fmt::Display for HeaderMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("header class does not match the message kind")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HeaderMismatch {}

/// A v0 message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    timestamp: Timestamp<'a>,
    protocol_version: Text<'a>,
    header: Header,
    body: Body<'a>,
}

fn uuid_of(s: &JsonStr<'_>) -> Option<Uuid> {
    match s.as_unescaped() {
        Some(plain) => Uuid::parse_lenient(plain).ok(),
        None => {
            let mut buf = [0u8; 128];
            let plain = s.unescape_into(&mut buf).ok()?;
            Uuid::parse_lenient(plain).ok()
        }
    }
}

/// Required UUID field: missing / not a string / not a UUID.
fn req_uuid(obj: &Object<'_>, key: &str, errs: [MessageError; 3]) -> Result<Uuid, MessageError> {
    let [missing, ty, invalid] = errs;
    match obj.get(key) {
        None => Err(missing),
        Some(Value::String(s)) => uuid_of(&s).ok_or(invalid),
        Some(_) => Err(ty),
    }
}

fn rendezvous_id(obj: &Object<'_>) -> Result<Hex256, MessageError> {
    match obj.get("rendezvous_id") {
        None => Err(MessageError::NoRendezvousId),
        Some(Value::String(s)) => Hex256::from_text(&Text::Json(s)).map_err(|e| match e {
            Hex256Error::NotHex => MessageError::RendezvousIdNotHex,
            Hex256Error::BadLength => MessageError::RendezvousIdLength,
        }),
        Some(_) => Err(MessageError::RendezvousIdType),
    }
}

fn bolt11<'a>(obj: &Object<'a>) -> Result<Text<'a>, MessageError> {
    match obj.get("bolt11") {
        None => Err(MessageError::NoBolt11),
        Some(Value::String(s)) if s.starts_with("lnbc") => Ok(Text::Json(s)),
        Some(Value::String(_)) => Err(MessageError::NotBolt11),
        Some(_) => Err(MessageError::Bolt11Type),
    }
}

#[inline(never)]
fn parse_body<'a>(kind: MessageKind, obj: &Object<'a>) -> Result<Body<'a>, MessageError> {
    use MessageError as E;
    use MessageKind as K;
    Ok(match kind {
        K::RequestRendezvous => Body::RequestRendezvous {
            rendezvous_id: rendezvous_id(obj)?,
        },
        K::RequestProvider => Body::RequestProvider,
        K::RequestPing => Body::RequestPing,
        K::RequestInvoice => {
            let n = match obj.get("msats") {
                None => return Err(E::NoMsats),
                Some(Value::Number(n)) if n.is_integer() => n,
                Some(_) => return Err(E::MsatsType),
            };
            if n.is_negative() || n.as_u64() == Some(0) {
                return Err(E::MsatsNotPositive);
            }
            Body::RequestInvoice {
                msats: n.as_u64().ok_or(E::MsatsTooLarge)?,
            }
        }
        K::RequestPay => Body::RequestPay {
            bolt11: bolt11(obj)?,
        },
        K::NotifyRendezvous => Body::NotifyRendezvous {
            rendezvous_id: rendezvous_id(obj)?,
        },
        K::NotifyRendezvousNotReady => Body::NotifyRendezvousNotReady {
            rendezvous_id: rendezvous_id(obj)?,
        },
        K::NotifyRendezvousEnd => Body::NotifyRendezvousEnd {
            rendezvous_id: rendezvous_id(obj)?,
        },
        K::NotifyProvider => {
            let account_uuid = req_uuid(
                obj,
                "account_uuid",
                [E::NoAccountUuid, E::AccountUuidType, E::InvalidAccountUuid],
            )?;
            let payee = match obj.get("payee") {
                None => return Err(E::MissingPayee),
                Some(v) => v.as_bool().ok_or(E::PayeeType)?,
            };
            let payer = match obj.get("payer") {
                None => return Err(E::MissingPayer),
                Some(v) => v.as_bool().ok_or(E::PayerType)?,
            };
            let wad = match obj.get("wad") {
                None => return Err(E::MissingWad),
                Some(Value::Null) => None,
                Some(Value::Object(o)) => Some(Wad::from_object(o)?),
                Some(_) => return Err(E::WadType),
            };
            Body::NotifyProvider(ProviderInfo {
                account_uuid,
                payer,
                payee,
                wad,
            })
        }
        K::NotifyProviderNotReady => Body::NotifyProviderNotReady,
        K::NotifyPong => Body::NotifyPong,
        K::NotifyInvoice => Body::NotifyInvoice {
            bolt11: bolt11(obj)?,
        },
        K::NotifyPreimage => {
            let preimage = match obj.get("preimage") {
                None => return Err(E::NoPreimage),
                Some(Value::String(s)) => {
                    Hex256::from_text(&Text::Json(s)).map_err(|e| match e {
                        Hex256Error::NotHex => E::PreimageNotHex,
                        Hex256Error::BadLength => E::PreimageLength,
                    })?
                }
                Some(_) => return Err(E::PreimageType),
            };
            let ext = match obj.get("ext") {
                None => return Err(E::MissingExt),
                Some(Value::Null) => None,
                Some(Value::String(s)) if s.char_count() > EXT_MAX_CHARS => {
                    return Err(E::ExtTooLong)
                }
                Some(Value::String(s)) => Some(Text::Json(s)),
                Some(_) => return Err(E::ExtType),
            };
            Body::NotifyPreimage { preimage, ext }
        }
        K::NotifyError => match obj.get("error_msg") {
            None => return Err(E::NoErrorMsg),
            Some(Value::String(s)) => Body::NotifyError {
                error_msg: Text::Json(s),
            },
            Some(_) => return Err(E::ErrorMsgType),
        },
    })
}

/// The envelope every message shares (v0 and extensions): the fields before the kind's own,
/// validated in the Python reference's order, and the name, not yet looked up.
pub(crate) struct Envelope<'a> {
    pub(crate) object: Object<'a>,
    pub(crate) timestamp: Timestamp<'a>,
    pub(crate) protocol_version: Text<'a>,
    pub(crate) header: Header,
    /// `request_name` or `notification_name` (a string).
    pub(crate) name: JsonStr<'a>,
}

impl<'a> Envelope<'a> {
    /// `message_class`, `timestamp`, `protocol`, `protocol_version`, the class's uuid
    /// fields and its name field (present and a string), in that order. Not inlined (nor
    /// `parse_body`, `MessageKind::from_json_name`): inlined into `Message::parse` they cost
    /// kilobytes of flash on a device.
    #[inline(never)]
    pub(crate) fn parse(text: &'a [u8]) -> Result<Envelope<'a>, MessageError> {
        use MessageError as E;
        let obj = match json::parse(text).map_err(E::Json)? {
            Value::Object(o) => o,
            _ => return Err(E::NotAnObject),
        };
        let class = match obj.get("message_class") {
            None => return Err(E::NoMessageClass),
            Some(Value::String(s)) if s.eq_str("REQUEST") => MessageClass::Request,
            Some(Value::String(s)) if s.eq_str("NOTIFICATION") => MessageClass::Notification,
            Some(Value::String(_)) => return Err(E::UnknownMessageClass),
            Some(_) => return Err(E::MessageClassType),
        };
        let timestamp = match obj.get("timestamp") {
            None => return Err(E::NoTimestamp),
            Some(Value::Number(n)) if n.is_negative() => return Err(E::TimestampNegative),
            Some(Value::Number(n)) => Timestamp::from_json(n),
            Some(_) => return Err(E::TimestampType),
        };
        match obj.get("protocol") {
            None => return Err(E::NoProtocol),
            Some(Value::String(s)) if s.eq_str(PROTOCOL) => {}
            Some(Value::String(_)) => return Err(E::UnknownProtocol),
            Some(_) => return Err(E::ProtocolType),
        }
        let protocol_version = match obj.get("protocol_version") {
            None => return Err(E::NoProtocolVersion),
            Some(Value::String(s)) => Text::Json(s),
            Some(_) => return Err(E::ProtocolVersionType),
        };
        let (header, name) = match class {
            MessageClass::Request => {
                let request_uuid = req_uuid(
                    &obj,
                    "request_uuid",
                    [E::NoRequestUuid, E::RequestUuidType, E::InvalidRequestUuid],
                )?;
                let name = match obj.get("request_name") {
                    None => return Err(E::NoRequestName),
                    Some(Value::String(s)) => s,
                    Some(_) => return Err(E::RequestNameType),
                };
                (Header::Request { request_uuid }, name)
            }
            MessageClass::Notification => {
                let notification_uuid = req_uuid(
                    &obj,
                    "notification_uuid",
                    [
                        E::NoNotificationUuid,
                        E::NotificationUuidType,
                        E::InvalidNotificationUuid,
                    ],
                )?;
                let request_reference_uuid = match obj.get("request_reference_uuid") {
                    None => return Err(E::NoRequestReferenceUuid),
                    Some(Value::Null) => None,
                    Some(Value::String(s)) => {
                        Some(uuid_of(&s).ok_or(E::InvalidRequestReferenceUuid)?)
                    }
                    Some(_) => return Err(E::RequestReferenceUuidType),
                };
                let name = match obj.get("notification_name") {
                    None => return Err(E::NoNotificationName),
                    Some(Value::String(s)) => s,
                    Some(_) => return Err(E::NotificationNameType),
                };
                (
                    Header::Notification {
                        notification_uuid,
                        request_reference_uuid,
                    },
                    name,
                )
            }
        };
        Ok(Envelope {
            object: obj,
            timestamp,
            protocol_version,
            header,
            name,
        })
    }
}

/// Writes the envelope fields ([`Message::write_json`]'s order) and leaves the object open
/// for the kind's fields.
pub(crate) fn write_envelope<S: Sink + ?Sized>(
    o: &mut ObjectWriter<'_, S>,
    timestamp: &Timestamp<'_>,
    protocol_version: &Text<'_>,
    header: &Header,
    name: &str,
) -> Result<(), Overflow> {
    timestamp.write_json(o.key("timestamp")?)?;
    o.str("protocol", PROTOCOL)?;
    protocol_version.write_json(o.key("protocol_version")?)?;
    o.str("message_class", header.class().name())?;
    match *header {
        Header::Request { request_uuid } => {
            o.str("request_uuid", &request_uuid.to_str_buf())?;
            o.str("request_name", name)?;
        }
        Header::Notification {
            notification_uuid,
            request_reference_uuid,
        } => {
            o.str("notification_uuid", &notification_uuid.to_str_buf())?;
            match request_reference_uuid {
                Some(r) => o.str("request_reference_uuid", &r.to_str_buf())?,
                None => o.null("request_reference_uuid")?,
            }
            o.str("notification_name", name)?;
        }
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Parses and validates a message in the Python reference's order (`message_class`,
    /// `timestamp`, `protocol`, `protocol_version`, class fields, kind fields), returning its
    /// first error. Unknown extra keys are ignored; with duplicate keys the last one wins.
    pub fn parse(text: &'a [u8]) -> Result<Message<'a>, MessageError> {
        use MessageError as E;
        let env = Envelope::parse(text)?;
        let class = env.header.class();
        let kind = MessageKind::from_json_name(&env.name, class).ok_or_else(|| {
            let name = UnknownName::from_chars(env.name.chars());
            match class {
                MessageClass::Request => E::UnknownRequestName(name),
                MessageClass::Notification => E::UnknownNotificationName(name),
            }
        })?;
        let body = parse_body(kind, &env.object)?;
        Ok(Message {
            timestamp: env.timestamp,
            protocol_version: env.protocol_version,
            header: env.header,
            body,
        })
    }

    /// Assembles a message; fails if the header's class differs from the body's.
    pub fn new(
        header: Header,
        timestamp: Timestamp<'a>,
        body: Body<'a>,
    ) -> Result<Self, HeaderMismatch> {
        if header.class() != body.kind().class() {
            return Err(HeaderMismatch);
        }
        Ok(Message {
            timestamp,
            protocol_version: Text::Plain(PROTOCOL_VERSION),
            header,
            body,
        })
    }

    fn request(request_uuid: Uuid, timestamp: Timestamp<'a>, body: Body<'a>) -> Self {
        Message {
            timestamp,
            protocol_version: Text::Plain(PROTOCOL_VERSION),
            header: Header::Request { request_uuid },
            body,
        }
    }

    fn notification(
        notification_uuid: Uuid,
        request_reference_uuid: Option<Uuid>,
        timestamp: Timestamp<'a>,
        body: Body<'a>,
    ) -> Self {
        Message {
            timestamp,
            protocol_version: Text::Plain(PROTOCOL_VERSION),
            header: Header::Notification {
                notification_uuid,
                request_reference_uuid,
            },
            body,
        }
    }

    /// `REQUEST_RENDEZVOUS` (send in clear).
    pub fn request_rendezvous(uuid: Uuid, timestamp: Timestamp<'a>, rendezvous_id: Hex256) -> Self {
        Self::request(uuid, timestamp, Body::RequestRendezvous { rendezvous_id })
    }

    /// `REQUEST_PROVIDER`.
    pub fn request_provider(uuid: Uuid, timestamp: Timestamp<'a>) -> Self {
        Self::request(uuid, timestamp, Body::RequestProvider)
    }

    /// `REQUEST_PING`.
    pub fn request_ping(uuid: Uuid, timestamp: Timestamp<'a>) -> Self {
        Self::request(uuid, timestamp, Body::RequestPing)
    }

    /// `REQUEST_INVOICE` for `msats` millisatoshi (must be > 0 for peers to accept it).
    pub fn request_invoice(uuid: Uuid, timestamp: Timestamp<'a>, msats: u64) -> Self {
        Self::request(uuid, timestamp, Body::RequestInvoice { msats })
    }

    /// `REQUEST_PAY` (the invoice must start with `lnbc` for peers to accept it).
    pub fn request_pay(uuid: Uuid, timestamp: Timestamp<'a>, bolt11: impl Into<Text<'a>>) -> Self {
        Self::request(
            uuid,
            timestamp,
            Body::RequestPay {
                bolt11: bolt11.into(),
            },
        )
    }

    /// `NOTIFY_RENDEZVOUS` (send in clear).
    pub fn notify_rendezvous(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        rendezvous_id: Hex256,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            Body::NotifyRendezvous { rendezvous_id },
        )
    }

    /// `NOTIFY_RENDEZVOUS_NOT_READY` (send in clear).
    pub fn notify_rendezvous_not_ready(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        rendezvous_id: Hex256,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            Body::NotifyRendezvousNotReady { rendezvous_id },
        )
    }

    /// `NOTIFY_RENDEZVOUS_END` (send in clear; the reference is always `null`).
    pub fn notify_rendezvous_end(
        uuid: Uuid,
        timestamp: Timestamp<'a>,
        rendezvous_id: Hex256,
    ) -> Self {
        Self::notification(
            uuid,
            None,
            timestamp,
            Body::NotifyRendezvousEnd { rendezvous_id },
        )
    }

    /// `NOTIFY_PROVIDER`.
    pub fn notify_provider(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        info: ProviderInfo<'a>,
    ) -> Self {
        Self::notification(uuid, reference, timestamp, Body::NotifyProvider(info))
    }

    /// `NOTIFY_PROVIDER_NOT_READY`.
    pub fn notify_provider_not_ready(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
    ) -> Self {
        Self::notification(uuid, reference, timestamp, Body::NotifyProviderNotReady)
    }

    /// `NOTIFY_PONG`.
    pub fn notify_pong(uuid: Uuid, reference: Option<Uuid>, timestamp: Timestamp<'a>) -> Self {
        Self::notification(uuid, reference, timestamp, Body::NotifyPong)
    }

    /// `NOTIFY_INVOICE`.
    pub fn notify_invoice(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        bolt11: impl Into<Text<'a>>,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            Body::NotifyInvoice {
                bolt11: bolt11.into(),
            },
        )
    }

    /// `NOTIFY_PREIMAGE` (`ext` is `None` in v0; it is always written, as `null`).
    pub fn notify_preimage(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        preimage: Hex256,
        ext: Option<Text<'a>>,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            Body::NotifyPreimage { preimage, ext },
        )
    }

    /// `NOTIFY_ERROR`.
    pub fn notify_error(
        uuid: Uuid,
        reference: Option<Uuid>,
        timestamp: Timestamp<'a>,
        error_msg: impl Into<Text<'a>>,
    ) -> Self {
        Self::notification(
            uuid,
            reference,
            timestamp,
            Body::NotifyError {
                error_msg: error_msg.into(),
            },
        )
    }

    /// Replaces the `protocol_version` (default `"0.0.0"`; receivers do not compare it).
    pub fn with_protocol_version(mut self, version: impl Into<Text<'a>>) -> Self {
        self.protocol_version = version.into();
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
    pub fn body(&self) -> &Body<'a> {
        &self.body
    }
    /// The message kind.
    pub fn kind(&self) -> MessageKind {
        self.body.kind()
    }
    /// Request or notification.
    pub fn class(&self) -> MessageClass {
        self.header.class()
    }
    /// Whether this kind is never encrypted.
    pub fn must_be_cleartext(&self) -> bool {
        self.kind().must_be_cleartext()
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
    /// `request_uuid`, for requests.
    pub fn request_uuid(&self) -> Option<Uuid> {
        match self.header {
            Header::Request { request_uuid } => Some(request_uuid),
            Header::Notification { .. } => None,
        }
    }
    /// `notification_uuid`, for notifications.
    pub fn notification_uuid(&self) -> Option<Uuid> {
        match self.header {
            Header::Notification {
                notification_uuid, ..
            } => Some(notification_uuid),
            Header::Request { .. } => None,
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
    /// The provider info of a `NOTIFY_PROVIDER`.
    pub fn provider_info(&self) -> Option<&ProviderInfo<'a>> {
        match &self.body {
            Body::NotifyProvider(info) => Some(info),
            _ => None,
        }
    }

    /// Writes the message exactly as the Python reference serialises it (`json.dumps` of its
    /// dict: timestamp, protocol, protocol_version, message_class, uuid fields, name, then the
    /// kind's fields).
    pub fn write_json<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        let mut o = ObjectWriter::begin(sink)?;
        write_envelope(
            &mut o,
            &self.timestamp,
            &self.protocol_version,
            &self.header,
            self.kind().name(),
        )?;
        match &self.body {
            Body::RequestRendezvous { rendezvous_id }
            | Body::NotifyRendezvous { rendezvous_id }
            | Body::NotifyRendezvousNotReady { rendezvous_id }
            | Body::NotifyRendezvousEnd { rendezvous_id } => {
                o.str("rendezvous_id", rendezvous_id.as_str())?
            }
            Body::RequestProvider
            | Body::RequestPing
            | Body::NotifyProviderNotReady
            | Body::NotifyPong => {}
            Body::RequestInvoice { msats } => o.u64("msats", *msats)?,
            Body::RequestPay { bolt11 } | Body::NotifyInvoice { bolt11 } => {
                bolt11.write_json(o.key("bolt11")?)?
            }
            Body::NotifyProvider(info) => {
                o.str("account_uuid", &info.account_uuid.to_str_buf())?;
                o.bool("payer", info.payer)?;
                o.bool("payee", info.payee)?;
                match &info.wad {
                    Some(w) => w.write_json(o.key("wad")?)?,
                    None => o.null("wad")?,
                }
            }
            Body::NotifyPreimage { preimage, ext } => {
                o.str("preimage", preimage.as_str())?;
                match ext {
                    Some(t) => t.write_json(o.key("ext")?)?,
                    None => o.null("ext")?,
                }
            }
            Body::NotifyError { error_msg } => error_msg.write_json(o.key("error_msg")?)?,
        }
        o.end()
    }

    /// The length of [`Message::write_json`]'s output.
    pub fn json_len(&self) -> usize {
        CountingSink::measure(|c| self.write_json(c))
    }

    /// The serialised message as an owned `String`.
    #[cfg(feature = "alloc")]
    pub fn to_json_string(&self) -> alloc::string::String {
        crate::sink::ascii_string(self.json_len(), |v| self.write_json(v))
    }
}
