//! The v1 binary message envelope (draft §7).
//!
//! ```text
//! type 0 (message) TLV, the only record in the buffer; its value is a stream of:
//!   type 0  sender_version   3 bytes: major, minor, patch          (first)
//!   type 1  message_type     u8 type ‖ BigSize subtype             (second)
//!   type 2  language_object  UTF-8 JSON object                     (third)
//!   further "additional" records of any type but 0, 1, 2; any order, repeats allowed
//! ```
//!
//! Decoding follows `moneysocket1`'s order and error texts (typos included), parsing the
//! records positionally, with these additions (draft §7.5 recommendations): the
//! (type, subtype) pair of the TLV must match the JSON names for known subtypes, checked
//! last; swapped pairs (REQUEST/TRANSPORT_PONG, NOTIFICATION/TRANSPORT_PING) are unknown
//! subtypes; NaN/Infinity and other non-standard JSON are refused; a language object that
//! is not a JSON object is refused cleanly. Sans-IO: the "timestamp in the future" check
//! takes the current time as an argument.
//!
//! Encoding writes the three records, then the additional ones in stored order, with the
//! JSON text in Python `json.dumps` form (see [`super::pyjson`]), which reproduces
//! `moneysocket1`'s bytes.

use super::pyjson;
use super::wad::{is_integer, is_negative};
use crate::bigsize::{self, BigSizeError};
use crate::hex;
use crate::sink::{Overflow, Sink};
use crate::tlv::{self, write_bigsize, write_record, TlvError};
use crate::uuid::Uuid;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde_json::{Map, Number, Value};

const MESSAGE_TLV_TYPE: u64 = 0;
const SENDER_VERSION_TLV_TYPE: u64 = 0;
const MESSAGE_TYPE_TLV_TYPE: u64 = 1;
const LANGUAGE_OBJECT_TLV_TYPE: u64 = 2;
/// Allowed clock skew for message timestamps, as in `moneysocket1`.
pub const MAX_FUTURE_SECS: u64 = 60 * 60;

/// A version triple (the `sender_version` TLV and the JSON `version` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Patch version.
    pub patch: u8,
}

impl Version {
    /// The three bytes of the `sender_version` TLV.
    pub fn to_bytes(self) -> [u8; 3] {
        [self.major, self.minor, self.patch]
    }

    /// The JSON form `{"major": …, "minor": …, "patch": …}`.
    pub fn to_json(self) -> Value {
        let mut m = Map::new();
        m.insert("major".into(), self.major.into());
        m.insert("minor".into(), self.minor.into());
        m.insert("patch".into(), self.patch.into());
        Value::Object(m)
    }
}

/// One part of a version triple, for error reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionPart {
    /// `major`
    Major,
    /// `minor`
    Minor,
    /// `patch`
    Patch,
}

impl VersionPart {
    /// The JSON member name.
    pub fn name(self) -> &'static str {
        match self {
            VersionPart::Major => "major",
            VersionPart::Minor => "minor",
            VersionPart::Patch => "patch",
        }
    }
}

/// The message type: the TLV byte and the JSON `type` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `0`, `"REQUEST"`
    Request,
    /// `1`, `"NOTIFICATION"`
    Notification,
}

impl MessageType {
    /// The TLV byte.
    pub fn number(self) -> u8 {
        match self {
            MessageType::Request => 0,
            MessageType::Notification => 1,
        }
    }

    /// The JSON `type` string.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Request => "REQUEST",
            MessageType::Notification => "NOTIFICATION",
        }
    }

    /// From the TLV byte.
    pub fn from_number(n: u8) -> Option<MessageType> {
        match n {
            0 => Some(MessageType::Request),
            1 => Some(MessageType::Notification),
            _ => None,
        }
    }

    /// From the JSON `type` string (exact spelling).
    pub fn from_name(name: &str) -> Option<MessageType> {
        match name {
            "REQUEST" => Some(MessageType::Request),
            "NOTIFICATION" => Some(MessageType::Notification),
            _ => None,
        }
    }
}

/// A registered message subtype: what the decoder accepts ("has a parser class").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subtype {
    /// The message type it belongs to.
    pub msg_type: MessageType,
    /// Its number in the `message_type` TLV.
    pub number: u64,
    /// Its JSON `subtype` name.
    pub name: &'static str,
    /// Whether `request_uuid` must be a string (not null), as for TRANSPORT_PONG.
    pub requires_request_uuid: bool,
}

/// REQUEST TRANSPORT_PING: `(0, 0)`.
pub const TRANSPORT_PING: Subtype = Subtype {
    msg_type: MessageType::Request,
    number: 0,
    name: "TRANSPORT_PING",
    requires_request_uuid: false,
};

/// NOTIFICATION TRANSPORT_PONG: `(1, 0)`; its `request_uuid` is the ping's.
pub const TRANSPORT_PONG: Subtype = Subtype {
    msg_type: MessageType::Notification,
    number: 0,
    name: "TRANSPORT_PONG",
    requires_request_uuid: true,
};

/// The subtypes `moneysocket1` can parse (draft §7.4: the only settled numbers).
pub const RFC_SUBTYPES: &[Subtype] = &[TRANSPORT_PING, TRANSPORT_PONG];

/// A record after the three defined ones, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalTlv {
    /// Record type (never 0, 1 or 2 in a decoded message).
    pub typ: u64,
    /// Record value.
    pub value: Vec<u8>,
}

/// A v1 message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The `sender_version` TLV.
    pub sender_version: Version,
    /// The type byte of the `message_type` TLV.
    pub msg_type: MessageType,
    /// The subtype number of the `message_type` TLV.
    pub subtype: u64,
    /// The JSON language object, members in received order (with `std`).
    pub language_object: Map<String, Value>,
    /// Records after the language object, in wire order.
    pub additional_tlvs: Vec<AdditionalTlv>,
}

/// Why a message was refused. `Display` gives `moneysocket1`'s exact text (draft §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The outer record does not pop: `could not get type: …`, `could not get length: …`,
    /// `value truncated`.
    Tlv(TlvError),
    /// `extra bytes after message TLV`
    ExtraBytesAfterMessage,
    /// `unknown TLV`
    UnknownTlv,
    /// `invalid TLVs in message`
    InvalidTlvs,
    /// `no TLVs in message`
    NoTlvs,
    /// `missing sender_version TLV`
    MissingSenderVersion,
    /// `malformed sender_version TLV: unable to decode version from bytes`
    MalformedSenderVersion,
    /// `missing message_type TLV`
    MissingMessageType,
    /// `no message_type TLV after sender_version`
    NoMessageTypeAfterSenderVersion,
    /// `malformed message_type type value: underrun while popping a u8`
    MalformedMessageTypeType,
    /// `malformed message_type subtype value: <bigsize error>`
    MalformedMessageSubtype(BigSizeError),
    /// `extra bytes in message_type TLV`
    ExtraBytesInMessageType,
    /// `missing language_object TLV`
    MissingLanguageObject,
    /// `no language_object TLV after message_type`
    NoLanguageObjectAfterMessageType,
    /// `could not decode json object`
    InvalidJson,
    /// `timestamp not in language_object` (also for a language object that is not an
    /// object, which is what Python reports for arrays)
    TimestampMissing,
    /// `timestamp not an integer or float`
    TimestampType,
    /// `timestamp is not a positive value`
    TimestampNegative,
    /// `timestamp in the future` (more than [`MAX_FUTURE_SECS`] ahead of `now`)
    TimestampInFuture,
    /// `version not in language_object`
    VersionMissing,
    /// `version not an object`
    VersionType,
    /// `version missing <part> value`
    VersionPartMissing(VersionPart),
    /// `version <part> not integer`
    VersionPartType(VersionPart),
    /// `version <part> negative`
    VersionPartNegative(VersionPart),
    /// `version <part> greater than 255`
    VersionPartTooLarge(VersionPart),
    /// `language_object <part> version doesn't match TLV`
    VersionMismatch(VersionPart),
    /// `language_object features value not included`
    FeaturesMissing,
    /// `language_object features value not a list`
    FeaturesType,
    /// `language_object features list entry not a string`
    FeatureType,
    /// `language_object feature_data value not included`
    FeatureDataMissing,
    /// `language_object feature_data value not an object`
    FeatureDataType,
    /// `language_object feature_data for unknown feature`
    FeatureDataUnknown,
    /// `language_object feature_data value is null`
    FeatureDataNull,
    /// `language_object missing type`
    TypeMissing,
    /// `language_object type is not a string`
    TypeNotString,
    /// `language_object type is an empty string`
    TypeEmpty,
    /// `language_object missing subtype`
    SubtypeMissing,
    /// `language_object subtype is not a string`
    SubtypeNotString,
    /// `language_object subtype is an empty string`
    SubtypeEmpty,
    /// `no request_uuid for REQUEST`
    NoRequestUuidForRequest,
    /// `no request_uuid for NOTIFICATION`
    NoRequestUuidForNotification,
    /// `request_uuid is not a string`
    RequestUuidType,
    /// `invalid uuid`
    InvalidUuid,
    /// `uuid is not uuid version 4`
    UuidNotV4,
    /// `unknown message type`
    UnknownMessageType,
    /// `no subtype_data included`
    SubtypeDataMissing,
    /// `subtype_data not of object type`
    SubtypeDataType,
    /// `unknown message subtype parser`
    UnknownSubtype,
    /// `non-string request uuid for <SUBTYPE>`
    NonStringRequestUuid(&'static str),
    /// `aditional TLVs duplicates of defined values` (sic)
    DuplicateDefinedTlv,
    /// `message_type TLV doesn't match language_object type and subtype` (not in
    /// `moneysocket1`, which never compares them; checked last)
    TypeMismatch,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MessageError as E;
        f.write_str(match self {
            E::Tlv(e) => return write!(f, "{e}"),
            E::ExtraBytesAfterMessage => "extra bytes after message TLV",
            E::UnknownTlv => "unknown TLV",
            E::InvalidTlvs => "invalid TLVs in message",
            E::NoTlvs => "no TLVs in message",
            E::MissingSenderVersion => "missing sender_version TLV",
            E::MalformedSenderVersion => {
                "malformed sender_version TLV: unable to decode version from bytes"
            }
            E::MissingMessageType => "missing message_type TLV",
            E::NoMessageTypeAfterSenderVersion => "no message_type TLV after sender_version",
            E::MalformedMessageTypeType => {
                "malformed message_type type value: underrun while popping a u8"
            }
            E::MalformedMessageSubtype(e) => {
                return write!(f, "malformed message_type subtype value: {e}")
            }
            E::ExtraBytesInMessageType => "extra bytes in message_type TLV",
            E::MissingLanguageObject => "missing language_object TLV",
            E::NoLanguageObjectAfterMessageType => "no language_object TLV after message_type",
            E::InvalidJson => "could not decode json object",
            E::TimestampMissing => "timestamp not in language_object",
            E::TimestampType => "timestamp not an integer or float",
            E::TimestampNegative => "timestamp is not a positive value",
            E::TimestampInFuture => "timestamp in the future",
            E::VersionMissing => "version not in language_object",
            E::VersionType => "version not an object",
            E::VersionPartMissing(p) => return write!(f, "version missing {} value", p.name()),
            E::VersionPartType(p) => return write!(f, "version {} not integer", p.name()),
            E::VersionPartNegative(p) => return write!(f, "version {} negative", p.name()),
            E::VersionPartTooLarge(p) => return write!(f, "version {} greater than 255", p.name()),
            E::VersionMismatch(p) => {
                return write!(f, "language_object {} version doesn't match TLV", p.name())
            }
            E::FeaturesMissing => "language_object features value not included",
            E::FeaturesType => "language_object features value not a list",
            E::FeatureType => "language_object features list entry not a string",
            E::FeatureDataMissing => "language_object feature_data value not included",
            E::FeatureDataType => "language_object feature_data value not an object",
            E::FeatureDataUnknown => "language_object feature_data for unknown feature",
            E::FeatureDataNull => "language_object feature_data value is null",
            E::TypeMissing => "language_object missing type",
            E::TypeNotString => "language_object type is not a string",
            E::TypeEmpty => "language_object type is an empty string",
            E::SubtypeMissing => "language_object missing subtype",
            E::SubtypeNotString => "language_object subtype is not a string",
            E::SubtypeEmpty => "language_object subtype is an empty string",
            E::NoRequestUuidForRequest => "no request_uuid for REQUEST",
            E::NoRequestUuidForNotification => "no request_uuid for NOTIFICATION",
            E::RequestUuidType => "request_uuid is not a string",
            E::InvalidUuid => "invalid uuid",
            E::UuidNotV4 => "uuid is not uuid version 4",
            E::UnknownMessageType => "unknown message type",
            E::SubtypeDataMissing => "no subtype_data included",
            E::SubtypeDataType => "subtype_data not of object type",
            E::UnknownSubtype => "unknown message subtype parser",
            E::NonStringRequestUuid(name) => {
                return write!(f, "non-string request uuid for {name}")
            }
            E::DuplicateDefinedTlv => "aditional TLVs duplicates of defined values",
            E::TypeMismatch => "message_type TLV doesn't match language_object type and subtype",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for MessageError {}

/// `moneysocket1`'s `check_uuidv4`.
fn check_uuid_v4(text: &str) -> Result<Uuid, MessageError> {
    let u = Uuid::parse_lenient(text).map_err(|_| MessageError::InvalidUuid)?;
    if u.is_v4() {
        Ok(u)
    } else {
        Err(MessageError::UuidNotV4)
    }
}

fn check_timestamp(lo: &Map<String, Value>, now: u64) -> Result<(), MessageError> {
    use MessageError as E;
    let n = match lo.get("timestamp") {
        None => return Err(E::TimestampMissing),
        Some(Value::Number(n)) => n,
        Some(_) => return Err(E::TimestampType),
    };
    if is_negative(n) {
        return Err(E::TimestampNegative);
    }
    let limit = now.saturating_add(MAX_FUTURE_SECS);
    let future = match n.as_u64() {
        Some(u) => u > limit,
        None => n.as_f64().is_some_and(|f| f > limit as f64),
    };
    if future {
        return Err(E::TimestampInFuture);
    }
    Ok(())
}

fn check_version(lo: &Map<String, Value>, sender: Version) -> Result<(), MessageError> {
    use MessageError as E;
    let v = match lo.get("version") {
        None => return Err(E::VersionMissing),
        Some(Value::Object(v)) => v,
        Some(_) => return Err(E::VersionType),
    };
    let mut parts = [0u64; 3];
    let names = [VersionPart::Major, VersionPart::Minor, VersionPart::Patch];
    for (slot, part) in parts.iter_mut().zip(names) {
        let n = match v.get(part.name()) {
            None => return Err(E::VersionPartMissing(part)),
            Some(Value::Number(n)) if is_integer(n) => n,
            Some(_) => return Err(E::VersionPartType(part)),
        };
        if is_negative(n) {
            return Err(E::VersionPartNegative(part));
        }
        *slot = match n.as_u64() {
            Some(x) if x <= 255 => x,
            _ => return Err(E::VersionPartTooLarge(part)),
        };
    }
    for ((got, want), part) in parts.iter().zip(sender.to_bytes()).zip(names) {
        if *got != u64::from(want) {
            return Err(E::VersionMismatch(part));
        }
    }
    Ok(())
}

fn check_features(lo: &Map<String, Value>) -> Result<(), MessageError> {
    use MessageError as E;
    let features = match lo.get("features") {
        None => return Err(E::FeaturesMissing),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(E::FeaturesType),
    };
    if features.iter().any(|f| !f.is_string()) {
        return Err(E::FeatureType);
    }
    let data = match lo.get("feature_data") {
        None => return Err(E::FeatureDataMissing),
        Some(Value::Object(d)) => d,
        Some(_) => return Err(E::FeatureDataType),
    };
    // A set, not a scan per key: features × keys would be quadratic on hostile input.
    let declared: alloc::collections::BTreeSet<&str> =
        features.iter().filter_map(|f| f.as_str()).collect();
    for (k, v) in data {
        if !declared.contains(k.as_str()) {
            return Err(E::FeatureDataUnknown);
        }
        if v.is_null() {
            return Err(E::FeatureDataNull);
        }
    }
    Ok(())
}

fn nonempty_string<'a>(
    lo: &'a Map<String, Value>,
    key: &str,
    errs: [MessageError; 3],
) -> Result<&'a str, MessageError> {
    let [missing, not_string, empty] = errs;
    match lo.get(key) {
        None => Err(missing),
        Some(Value::String(s)) if s.is_empty() => Err(empty),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(not_string),
    }
}

/// Checks the language object and returns the registered subtype it names.
fn check_language_object(
    lo: &Map<String, Value>,
    sender: Version,
    now: u64,
    subtypes: &[Subtype],
) -> Result<Subtype, MessageError> {
    use MessageError as E;
    check_timestamp(lo, now)?;
    check_version(lo, sender)?;
    check_features(lo)?;
    let type_name = nonempty_string(lo, "type", [E::TypeMissing, E::TypeNotString, E::TypeEmpty])?;
    let subtype_name = nonempty_string(
        lo,
        "subtype",
        [E::SubtypeMissing, E::SubtypeNotString, E::SubtypeEmpty],
    )?;

    let msg_type = MessageType::from_name(type_name).ok_or(E::UnknownMessageType)?;
    let request_uuid = match (msg_type, lo.get("request_uuid")) {
        (MessageType::Request, None) => return Err(E::NoRequestUuidForRequest),
        (MessageType::Notification, None) => return Err(E::NoRequestUuidForNotification),
        (MessageType::Notification, Some(Value::Null)) => None,
        (_, Some(Value::String(s))) => Some(s),
        (_, Some(_)) => return Err(E::RequestUuidType),
    };
    if let Some(s) = request_uuid {
        check_uuid_v4(s)?;
    }

    match lo.get("subtype_data") {
        None => return Err(E::SubtypeDataMissing),
        Some(Value::Object(_)) => {}
        Some(_) => return Err(E::SubtypeDataType),
    }
    let subtype = *subtypes
        .iter()
        .find(|s| s.msg_type == msg_type && s.name == subtype_name)
        .ok_or(E::UnknownSubtype)?;
    if subtype.requires_request_uuid {
        let s = request_uuid.ok_or(E::NonStringRequestUuid(subtype.name))?;
        check_uuid_v4(s)?;
    }
    Ok(subtype)
}

/// Length of an encoded record with a value of `len` bytes.
fn record_len(typ: u64, len: usize) -> usize {
    bigsize::encoded_len(typ)
        .saturating_add(bigsize::encoded_len(len as u64))
        .saturating_add(len)
}

impl Message {
    /// Decodes a cleartext message, accepting the [`RFC_SUBTYPES`]. `now_unix_secs` is the
    /// receiver's clock (seconds since the Unix epoch) for the future-timestamp check.
    pub fn decode(bytes: &[u8], now_unix_secs: u64) -> Result<Message, MessageError> {
        Self::decode_with_subtypes(bytes, now_unix_secs, RFC_SUBTYPES)
    }

    /// Decodes a cleartext message, accepting the given subtypes (for custom subtypes;
    /// include [`RFC_SUBTYPES`] to keep ping/pong).
    pub fn decode_with_subtypes(
        bytes: &[u8],
        now_unix_secs: u64,
        subtypes: &[Subtype],
    ) -> Result<Message, MessageError> {
        use MessageError as E;
        let (outer, rest) = tlv::pop(bytes).map_err(E::Tlv)?;
        if !rest.is_empty() {
            return Err(E::ExtraBytesAfterMessage);
        }
        if outer.typ != MESSAGE_TLV_TYPE {
            return Err(E::UnknownTlv);
        }
        if !tlv::is_valid_stream(outer.value) {
            return Err(E::InvalidTlvs);
        }
        let mut records = tlv::records(outer.value);
        // The stream was validated above, so the records below pop cleanly.
        let Some(Ok(version)) = records.next() else {
            return Err(E::NoTlvs);
        };
        if version.typ != SENDER_VERSION_TLV_TYPE {
            return Err(E::MissingSenderVersion);
        }
        let sender_version = match version.value {
            [major, minor, patch] => Version {
                major: *major,
                minor: *minor,
                patch: *patch,
            },
            _ => return Err(E::MalformedSenderVersion),
        };

        let Some(Ok(mtype)) = records.next() else {
            return Err(E::MissingMessageType);
        };
        if mtype.typ != MESSAGE_TYPE_TLV_TYPE {
            return Err(E::NoMessageTypeAfterSenderVersion);
        }
        let (&type_byte, rest) = mtype
            .value
            .split_first()
            .ok_or(E::MalformedMessageTypeType)?;
        let (subtype_no, rest) = bigsize::decode(rest).map_err(E::MalformedMessageSubtype)?;
        if !rest.is_empty() {
            return Err(E::ExtraBytesInMessageType);
        }

        let Some(Ok(lo_rec)) = records.next() else {
            return Err(E::MissingLanguageObject);
        };
        if lo_rec.typ != LANGUAGE_OBJECT_TLV_TYPE {
            return Err(E::NoLanguageObjectAfterMessageType);
        }
        let language_object = match serde_json::from_slice::<Value>(lo_rec.value) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(E::TimestampMissing),
            Err(_) => return Err(E::InvalidJson),
        };
        let subtype =
            check_language_object(&language_object, sender_version, now_unix_secs, subtypes)?;

        let mut additional_tlvs = Vec::new();
        for r in records {
            let r = r.map_err(|_| E::InvalidTlvs)?;
            if matches!(
                r.typ,
                SENDER_VERSION_TLV_TYPE | MESSAGE_TYPE_TLV_TYPE | LANGUAGE_OBJECT_TLV_TYPE
            ) {
                return Err(E::DuplicateDefinedTlv);
            }
            additional_tlvs.push(AdditionalTlv {
                typ: r.typ,
                value: r.value.into(),
            });
        }

        if type_byte != subtype.msg_type.number() || subtype_no != subtype.number {
            return Err(E::TypeMismatch);
        }
        Ok(Message {
            sender_version,
            msg_type: subtype.msg_type,
            subtype: subtype.number,
            language_object,
            additional_tlvs,
        })
    }

    /// The language object text as `moneysocket1` writes it (Python `json.dumps`).
    pub fn language_object_text(&self) -> String {
        pyjson::object_to_string(&self.language_object)
    }

    /// Encodes into `sink`: the message record holding sender_version, message_type,
    /// language_object and the additional records in order. The message is written as
    /// stored; it is not validated.
    pub fn encode_into<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        let json = self.language_object_text();
        let (sub, sub_len) = bigsize::encode(self.subtype);
        let mut mtype = [0u8; 1 + bigsize::MAX_LEN];
        mtype[0] = self.msg_type.number();
        mtype[1..=sub_len].copy_from_slice(&sub[..sub_len]);
        let mtype = &mtype[..=sub_len];

        let inner = self.additional_tlvs.iter().fold(
            record_len(SENDER_VERSION_TLV_TYPE, 3)
                .saturating_add(record_len(MESSAGE_TYPE_TLV_TYPE, mtype.len()))
                .saturating_add(record_len(LANGUAGE_OBJECT_TLV_TYPE, json.len())),
            |acc, t| acc.saturating_add(record_len(t.typ, t.value.len())),
        );
        write_bigsize(sink, MESSAGE_TLV_TYPE)?;
        write_bigsize(sink, inner as u64)?;
        write_record(
            sink,
            SENDER_VERSION_TLV_TYPE,
            &self.sender_version.to_bytes(),
        )?;
        write_record(sink, MESSAGE_TYPE_TLV_TYPE, mtype)?;
        write_record(sink, LANGUAGE_OBJECT_TLV_TYPE, json.as_bytes())?;
        for t in &self.additional_tlvs {
            write_record(sink, t.typ, &t.value)?;
        }
        Ok(())
    }

    /// Encodes into a new buffer (see [`Message::encode_into`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a `Vec` cannot overflow.
        let _ = self.encode_into(&mut out);
        out
    }

    /// The "decoded" form of the message vectors: `{"type", "subtype", "language_object",
    /// "sender_version", "additional_tlvs": [{"t", "l", "v" (hex)}]}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), self.msg_type.number().into());
        m.insert("subtype".into(), self.subtype.into());
        m.insert(
            "language_object".into(),
            Value::Object(self.language_object.clone()),
        );
        m.insert("sender_version".into(), self.sender_version.to_json());
        let tlvs = self
            .additional_tlvs
            .iter()
            .map(|t| {
                let mut d = Map::new();
                d.insert("t".into(), t.typ.into());
                d.insert("l".into(), t.value.len().into());
                d.insert("v".into(), Value::String(hex::encode(&t.value)));
                Value::Object(d)
            })
            .collect();
        m.insert("additional_tlvs".into(), Value::Array(tlvs));
        Value::Object(m)
    }

    /// A message of a registered subtype with the standard language object members, in
    /// `moneysocket1`'s order: `timestamp`, `version`, `type`, `subtype`, `subtype_data`
    /// (`{}`), `request_uuid`, `features` (`[]`), `feature_data` (`{}`).
    pub fn new(
        subtype: Subtype,
        sender_version: Version,
        timestamp: Number,
        request_uuid: Option<Uuid>,
    ) -> Message {
        let mut lo = Map::new();
        lo.insert("timestamp".into(), Value::Number(timestamp));
        lo.insert("version".into(), sender_version.to_json());
        lo.insert("type".into(), subtype.msg_type.name().into());
        lo.insert("subtype".into(), subtype.name.into());
        lo.insert("subtype_data".into(), Value::Object(Map::new()));
        lo.insert(
            "request_uuid".into(),
            request_uuid.map_or(Value::Null, |u| {
                Value::String(u.to_str_buf().as_str().into())
            }),
        );
        lo.insert("features".into(), Value::Array(Vec::new()));
        lo.insert("feature_data".into(), Value::Object(Map::new()));
        Message {
            sender_version,
            msg_type: subtype.msg_type,
            subtype: subtype.number,
            language_object: lo,
            additional_tlvs: Vec::new(),
        }
    }

    /// A TRANSPORT_PING carrying the fresh `request_uuid` (a version-4 UUID).
    pub fn transport_ping(
        sender_version: Version,
        timestamp: Number,
        request_uuid: Uuid,
    ) -> Message {
        Self::new(
            TRANSPORT_PING,
            sender_version,
            timestamp,
            Some(request_uuid),
        )
    }

    /// The TRANSPORT_PONG answering a ping with `ping_uuid`.
    pub fn transport_pong(sender_version: Version, timestamp: Number, ping_uuid: Uuid) -> Message {
        Self::new(TRANSPORT_PONG, sender_version, timestamp, Some(ping_uuid))
    }

    /// The JSON `type` string, if present.
    pub fn type_name(&self) -> Option<&str> {
        self.language_object.get("type").and_then(Value::as_str)
    }

    /// The JSON `subtype` string, if present.
    pub fn subtype_name(&self) -> Option<&str> {
        self.language_object.get("subtype").and_then(Value::as_str)
    }

    /// The `request_uuid`, if present and a UUID.
    pub fn request_uuid(&self) -> Option<Uuid> {
        self.language_object
            .get("request_uuid")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_lenient(s).ok())
    }

    /// The `timestamp` member, if present and a number.
    pub fn timestamp(&self) -> Option<&Number> {
        self.language_object.get("timestamp").and_then(|v| match v {
            Value::Number(n) => Some(n),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use serde_json::json;

    const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const V: Version = Version {
        major: 1,
        minor: 0,
        patch: 0,
    };

    fn uuid() -> Uuid {
        Uuid::v4_from_bytes([7; 16])
    }

    #[test]
    fn ping_pong_round_trip() {
        let mut ping = Message::transport_ping(V, 1234.into(), uuid());
        ping.additional_tlvs.push(AdditionalTlv {
            typ: 444,
            value: vec![1, 2],
        });
        ping.additional_tlvs.push(AdditionalTlv {
            typ: 3,
            value: vec![],
        });
        let bytes = ping.encode();
        assert_eq!(Message::decode(&bytes, NOW), Ok(ping.clone()));
        let pong =
            Message::transport_pong(V, Number::from_f64(NOW as f64 + 3600.0).unwrap(), uuid());
        assert_eq!(Message::decode(&pong.encode(), NOW), Ok(pong));
        assert_eq!(
            ping.to_json()["additional_tlvs"],
            json!([{"t": 444, "l": 2, "v": "0102"}, {"t": 3, "l": 0, "v": ""}])
        );
    }

    fn with_header(msg: &Message, typ: u8, sub: u64) -> Vec<u8> {
        let mut m = msg.clone();
        m.msg_type = MessageType::Request;
        m.subtype = sub;
        let mut b = m.encode();
        // The type byte follows the outer header, "00 03 maj min patch" and "01 len".
        let (outer, _) = tlv::pop(&b).unwrap();
        let pos = b.len() - outer.value.len() + 7;
        b[pos] = typ;
        b
    }

    #[test]
    fn recommendations() {
        let ping = Message::transport_ping(V, 1.into(), uuid());
        // Wire type/subtype must match the JSON names.
        for (t, s) in [(1, 0), (0, 5), (7, 0)] {
            assert_eq!(
                Message::decode(&with_header(&ping, t, s), NOW),
                Err(MessageError::TypeMismatch),
                "{t} {s}"
            );
        }
        // Swapped names are unknown subtypes.
        let mut swapped = ping.clone();
        swapped.language_object["subtype"] = "TRANSPORT_PONG".into();
        assert_eq!(
            Message::decode(&swapped.encode(), NOW),
            Err(MessageError::UnknownSubtype)
        );
        // A pong needs a string request_uuid.
        let mut pong = Message::transport_pong(V, 1.into(), uuid());
        pong.language_object["request_uuid"] = Value::Null;
        assert_eq!(
            Message::decode(&pong.encode(), NOW).map_err(|e| e.to_string()),
            Err("non-string request uuid for TRANSPORT_PONG".to_string())
        );
        // Timestamps: one hour of skew, exactly.
        let at = |ts: Value| {
            let mut m = ping.clone();
            m.language_object["timestamp"] = ts;
            Message::decode(&m.encode(), NOW).map(|_| ())
        };
        assert_eq!(at(json!(NOW + 3600)), Ok(()));
        assert_eq!(at(json!(NOW + 3601)), Err(MessageError::TimestampInFuture));
        assert_eq!(
            at(json!(NOW as f64 + 3600.5)),
            Err(MessageError::TimestampInFuture)
        );
        assert_eq!(at(json!(-0.0)), Ok(()));
        assert_eq!(at(json!(true)), Err(MessageError::TimestampType));
        // Custom subtypes through the registry.
        const CUSTOM: Subtype = Subtype {
            msg_type: MessageType::Notification,
            number: 0x1_0000_0001,
            name: "X_CUSTOM",
            requires_request_uuid: false,
        };
        let custom = Message::new(CUSTOM, V, 5.into(), None);
        assert_eq!(
            Message::decode(&custom.encode(), NOW),
            Err(MessageError::UnknownSubtype)
        );
        assert_eq!(
            Message::decode_with_subtypes(&custom.encode(), NOW, &[CUSTOM]),
            Ok(custom)
        );
    }

    #[test]
    fn json_edge_cases() {
        let frame = |json: &[u8]| {
            let mut inner = vec![0, 3, 1, 0, 0, 1, 2, 0, 0, 2];
            let (b, n) = bigsize::encode(json.len() as u64);
            inner.extend_from_slice(&b[..n]);
            inner.extend_from_slice(json);
            let mut out = vec![0];
            let (b, n) = bigsize::encode(inner.len() as u64);
            out.extend_from_slice(&b[..n]);
            out.extend_from_slice(&inner);
            Message::decode(&out, NOW)
        };
        for (text, want) in [
            (&b"[]"[..], MessageError::TimestampMissing),
            (b"null", MessageError::TimestampMissing),
            (b"\"timestamp\"", MessageError::TimestampMissing),
            (b"5", MessageError::TimestampMissing),
            (b"{\"timestamp\": NaN}", MessageError::InvalidJson),
            (b"{\"timestamp\": Infinity}", MessageError::InvalidJson),
            (b"{} x", MessageError::InvalidJson),
            (b"{\"a\": \"\xff\"}", MessageError::InvalidJson),
            (b" {} ", MessageError::TimestampMissing),
        ] {
            assert_eq!(frame(text), Err(want), "{:?}", core::str::from_utf8(text));
        }
    }

    #[cfg(feature = "std")]
    mod props {
        use super::*;
        use crate::v1::strategies::json_value;
        use alloc::format;
        use proptest::prelude::*;

        fn message() -> impl Strategy<Value = Message> {
            (
                any::<[u8; 3]>(),
                any::<bool>(),
                prop_oneof![
                    (0..=NOW).prop_map(Number::from),
                    (0.0..(NOW as f64)).prop_filter_map("finite", Number::from_f64),
                ],
                any::<[u8; 16]>(),
                proptest::collection::vec(".*", 0..4),
                proptest::collection::vec(("[a-z_]{1,8}", json_value()), 0..3),
                proptest::collection::vec(
                    (3u64.., proptest::collection::vec(any::<u8>(), 0..20)),
                    0..4,
                ),
            )
                .prop_map(|(v, is_ping, ts, u, features, extra, tlvs)| {
                    let version = Version {
                        major: v[0],
                        minor: v[1],
                        patch: v[2],
                    };
                    let uuid = Uuid::v4_from_bytes(u);
                    let mut m = if is_ping {
                        Message::transport_ping(version, ts, uuid)
                    } else {
                        Message::transport_pong(version, ts, uuid)
                    };
                    let data: Map<String, Value> = features
                        .iter()
                        .map(|f| (f.clone(), Value::from(f.len())))
                        .collect();
                    m.language_object["features"] =
                        Value::Array(features.into_iter().map(Value::String).collect());
                    m.language_object["feature_data"] = Value::Object(data);
                    for (k, v) in extra {
                        m.language_object.insert(format!("x_{k}"), v);
                    }
                    m.additional_tlvs = tlvs
                        .into_iter()
                        .map(|(typ, value)| AdditionalTlv { typ, value })
                        .collect();
                    m
                })
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                           now in any::<u64>()) {
                let _ = Message::decode(&bytes, now);
            }

            #[test]
            fn mutated_messages_never_panic(m in message(), pos in any::<usize>(), byte in any::<u8>()) {
                let mut bytes = m.encode();
                let len = bytes.len();
                bytes[pos % len] = byte;
                let _ = Message::decode(&bytes, NOW);
                bytes.truncate(pos % len);
                let _ = Message::decode(&bytes, NOW);
            }

            #[test]
            fn messages_round_trip(m in message()) {
                let bytes = m.encode();
                let back = Message::decode(&bytes, NOW);
                prop_assert_eq!(back.as_ref(), Ok(&m));
                prop_assert_eq!(back.map(|b| b.encode()), Ok(bytes));
            }

            #[test]
            fn pyjson_parses_back(v in json_value()) {
                let text = pyjson::to_string(&v);
                prop_assert!(text.is_ascii());
                prop_assert_eq!(serde_json::from_str::<Value>(&text).ok(), Some(v.clone()));
                prop_assert_eq!(pyjson::tests::via_formatter(&v), text);
            }
        }
    }
}
