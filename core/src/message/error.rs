//! Validation errors with the Python reference's texts.

use super::wad::WadError;
use crate::json::JsonError;
use core::fmt;

/// An unknown `request_name` / `notification_name`, kept for the error text (at most 64
/// bytes; longer names are cut at a character boundary and marked with `...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    text: heapless::String<64>,
    truncated: bool,
}

impl UnknownName {
    pub(crate) fn from_chars(chars: impl Iterator<Item = char>) -> Self {
        let mut text = heapless::String::new();
        let mut truncated = false;
        for c in chars {
            if text.push(c).is_err() {
                truncated = true;
                break;
            }
        }
        UnknownName { text, truncated }
    }

    /// The name (possibly truncated).
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// Why [`Message::parse`](super::Message::parse) refused a text. `Display` gives the Python
/// reference's error text (typos and misleading texts included); variants documented as
/// "Python raises" are inputs on which the reference crashes, with a text of our own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// Not JSON (`could not parse json`).
    Json(JsonError),
    /// Valid JSON but not an object (Python raises `AttributeError`).
    NotAnObject,
    /// `no message_class included`
    NoMessageClass,
    /// `unknown message_class type`
    MessageClassType,
    /// `not a known message`
    UnknownMessageClass,
    /// `no timestamp included`
    NoTimestamp,
    /// `could not understand timestamp`
    TimestampType,
    /// `timestamp not positive value`
    TimestampNegative,
    /// `protocol` missing; the reference says `no timestamp included`.
    NoProtocol,
    /// `unknown protocol type`
    ProtocolType,
    /// `unknown protocol`
    UnknownProtocol,
    /// `no protocol_version declared`
    NoProtocolVersion,
    /// `protocol_version` not a string; the reference says `unknown protocol type`.
    ProtocolVersionType,
    /// `no request_uuid included`
    NoRequestUuid,
    /// `unknown request_uuid type`
    RequestUuidType,
    /// `invalid request_uuid`
    InvalidRequestUuid,
    /// `request_name` missing; the reference says `invalid request_name`.
    NoRequestName,
    /// `unknown request_name type`
    RequestNameType,
    /// `unknown request_name: <name>`
    UnknownRequestName(UnknownName),
    /// `no notification_uuid included`
    NoNotificationUuid,
    /// `unknown notification_uuid type`
    NotificationUuidType,
    /// `invalid notification_uuid`
    InvalidNotificationUuid,
    /// `no request_reference_uuid included`
    NoRequestReferenceUuid,
    /// `unknown request_reference_uuid type`
    RequestReferenceUuidType,
    /// `invalid request_reference_uuid`
    InvalidRequestReferenceUuid,
    /// `notification_name` missing; the reference says `invalid notification_name`.
    NoNotificationName,
    /// `unknown notification_name type`
    NotificationNameType,
    /// `unknown notification_name: <name>`
    UnknownNotificationName(UnknownName),
    /// `no rendezvous_id included`
    NoRendezvousId,
    /// `unknown rendezvous_id type`
    RendezvousIdType,
    /// `rendezvous_id not hex string`
    RendezvousIdNotHex,
    /// `rendezvous_id not 256-bit value hex string`
    RendezvousIdLength,
    /// `no msats included`
    NoMsats,
    /// `unknown msats type` (not a JSON integer)
    MsatsType,
    /// `msats must be a positive non-zer integer`
    MsatsNotPositive,
    /// `msats` above `u64::MAX` (Python accepts any size; this crate refuses).
    MsatsTooLarge,
    /// `no bolt11 included`
    NoBolt11,
    /// `unknown bolt11 type`
    Bolt11Type,
    /// `doesn't look like a bolt11` (does not start with `lnbc`)
    NotBolt11,
    /// `no account_uuid included`
    NoAccountUuid,
    /// `unknown account_uuid type`
    AccountUuidType,
    /// `invalid account_uuid`
    InvalidAccountUuid,
    /// `payee` key missing (Python raises `KeyError`).
    MissingPayee,
    /// `payee must be True or False`
    PayeeType,
    /// `payer` key missing (Python raises `KeyError`).
    MissingPayer,
    /// `payer must be True or False`
    PayerType,
    /// `wad` key missing (Python raises `KeyError`).
    MissingWad,
    /// `wad must be a dictionary`
    WadType,
    /// The wad object is invalid (texts of [`WadError`]).
    Wad(WadError),
    /// `no preimage included`
    NoPreimage,
    /// `unknown preimage type`
    PreimageType,
    /// `preimage not hex string`
    PreimageNotHex,
    /// `preimage not 256-bit value hex string`
    PreimageLength,
    /// `ext` key missing (Python raises `KeyError`).
    MissingExt,
    /// `unknown ext type`
    ExtType,
    /// `ext is larger than 4096 characters`
    ExtTooLong,
    /// `no error_msg included`
    NoErrorMsg,
    /// `unknown error_msg type`
    ErrorMsgType,
}

impl MessageError {
    /// Whether the Python reference raises an exception on this input instead of returning
    /// an error text.
    pub fn python_raises(&self) -> bool {
        matches!(
            self,
            MessageError::NotAnObject
                | MessageError::MissingPayee
                | MessageError::MissingPayer
                | MessageError::MissingWad
                | MessageError::MissingExt
        )
    }

    fn fixed_text(&self) -> &'static str {
        use MessageError as E;
        match self {
            E::Json(_) => "could not parse json",
            E::NotAnObject => "message is not a json object",
            E::NoMessageClass => "no message_class included",
            E::MessageClassType => "unknown message_class type",
            E::UnknownMessageClass => "not a known message",
            E::NoTimestamp | E::NoProtocol => "no timestamp included",
            E::TimestampType => "could not understand timestamp",
            E::TimestampNegative => "timestamp not positive value",
            E::ProtocolType | E::ProtocolVersionType => "unknown protocol type",
            E::UnknownProtocol => "unknown protocol",
            E::NoProtocolVersion => "no protocol_version declared",
            E::NoRequestUuid => "no request_uuid included",
            E::RequestUuidType => "unknown request_uuid type",
            E::InvalidRequestUuid => "invalid request_uuid",
            E::NoRequestName => "invalid request_name",
            E::RequestNameType => "unknown request_name type",
            E::UnknownRequestName(_) => "unknown request_name: ",
            E::NoNotificationUuid => "no notification_uuid included",
            E::NotificationUuidType => "unknown notification_uuid type",
            E::InvalidNotificationUuid => "invalid notification_uuid",
            E::NoRequestReferenceUuid => "no request_reference_uuid included",
            E::RequestReferenceUuidType => "unknown request_reference_uuid type",
            E::InvalidRequestReferenceUuid => "invalid request_reference_uuid",
            E::NoNotificationName => "invalid notification_name",
            E::NotificationNameType => "unknown notification_name type",
            E::UnknownNotificationName(_) => "unknown notification_name: ",
            E::NoRendezvousId => "no rendezvous_id included",
            E::RendezvousIdType => "unknown rendezvous_id type",
            E::RendezvousIdNotHex => "rendezvous_id not hex string",
            E::RendezvousIdLength => "rendezvous_id not 256-bit value hex string",
            E::NoMsats => "no msats included",
            E::MsatsType => "unknown msats type",
            E::MsatsNotPositive => "msats must be a positive non-zer integer",
            E::MsatsTooLarge => "msats value too large",
            E::NoBolt11 => "no bolt11 included",
            E::Bolt11Type => "unknown bolt11 type",
            E::NotBolt11 => "doesn't look like a bolt11",
            E::NoAccountUuid => "no account_uuid included",
            E::AccountUuidType => "unknown account_uuid type",
            E::InvalidAccountUuid => "invalid account_uuid",
            E::MissingPayee => "payee missing",
            E::PayeeType => "payee must be True or False",
            E::MissingPayer => "payer missing",
            E::PayerType => "payer must be True or False",
            E::MissingWad => "wad missing",
            E::WadType => "wad must be a dictionary",
            E::Wad(w) => w.as_str(),
            E::NoPreimage => "no preimage included",
            E::PreimageType => "unknown preimage type",
            E::PreimageNotHex => "preimage not hex string",
            E::PreimageLength => "preimage not 256-bit value hex string",
            E::MissingExt => "ext missing",
            E::ExtType => "unknown ext type",
            E::ExtTooLong => "ext is larger than 4096 characters",
            E::NoErrorMsg => "no error_msg included",
            E::ErrorMsgType => "unknown error_msg type",
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.fixed_text())?;
        match self {
            MessageError::UnknownRequestName(n) | MessageError::UnknownNotificationName(n) => {
                write!(f, "{n}")
            }
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for MessageError {}

impl From<WadError> for MessageError {
    fn from(e: WadError) -> Self {
        MessageError::Wad(e)
    }
}
