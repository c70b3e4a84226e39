//! Session events as JavaScript objects `{type, …}` and the handler each one goes to
//! (`on_<type>`). Amounts are msat as JavaScript `BigInt`s (exact over the whole `u64`
//! range), uuids as canonical strings, preimages as hex.

use alloc::string::{String, ToString};
use js_sys::{Object, Reflect};
use moneysocket_core::hex;
use moneysocket_core::host::SessionEvent;
use moneysocket_core::session::{ConsumerEvent, ProviderEvent, RequestKind};
use moneysocket_core::uuid::Uuid;
use wasm_bindgen::JsValue;

/// A JS object under construction.
pub struct Obj(Object);

impl Obj {
    /// `{type: name}`.
    pub fn new(name: &str) -> Self {
        let o = Obj(Object::new());
        o.set("type", name)
    }

    /// Sets a field.
    pub fn set(self, key: &str, value: impl Into<JsValue>) -> Self {
        // Reflect.set on a plain fresh object cannot fail.
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }

    /// Sets a msat field (a JS `BigInt`).
    pub fn msats(self, key: &str, msats: u64) -> Self {
        self.set(key, JsValue::from(msats))
    }

    /// Sets a request uuid field (`null` when absent).
    pub fn request(self, request: Option<Uuid>) -> Self {
        let v = match request {
            Some(u) => JsValue::from_str(&u.to_string()),
            None => JsValue::NULL,
        };
        self.set("request", v)
    }

    /// The object.
    pub fn into_value(self) -> JsValue {
        self.0.into()
    }

    /// The `type` field.
    pub fn kind(&self) -> String {
        Reflect::get(&self.0, &JsValue::from_str("type"))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    }
}

fn kind(k: RequestKind) -> &'static str {
    match k {
        RequestKind::Invoice => "invoice",
        RequestKind::Pay => "pay",
    }
}

/// The JS object for a session event.
pub fn to_js(event: &SessionEvent<String>) -> Obj {
    match event {
        SessionEvent::Consumer(e) => consumer(e),
        SessionEvent::Provider(e) => provider(e),
        _ => Obj::new("other"),
    }
}

fn consumer(e: &ConsumerEvent<String>) -> Obj {
    match e {
        ConsumerEvent::WaitingForPeer => Obj::new("waiting_for_peer"),
        ConsumerEvent::Paired => Obj::new("paired"),
        ConsumerEvent::ProviderNotReady => Obj::new("provider_not_ready"),
        ConsumerEvent::Provider(u) => {
            let o = Obj::new("provider")
                .set("account_uuid", u.account_uuid.to_string())
                .set("payer", u.payer)
                .set("payee", u.payee)
                .set("json", u.json());
            match u.msats {
                Some(m) => o.msats("msats", m),
                None => o.set("msats", JsValue::NULL),
            }
        }
        ConsumerEvent::Invoice { request, bolt11 } => Obj::new("invoice")
            .request(Some(*request))
            .set("bolt11", bolt11.as_str()),
        ConsumerEvent::Preimage { request, preimage } => Obj::new("preimage")
            .request(*request)
            .set("preimage", hex::encode(preimage)),
        ConsumerEvent::Error { request, message } => Obj::new("error")
            .request(*request)
            .set("message", message.as_str()),
        ConsumerEvent::Pong { rtt, .. } => Obj::new("pong").set("rtt_ms", rtt.as_millis() as f64),
        ConsumerEvent::RequestFailed {
            request,
            kind: k,
            reason,
        } => Obj::new("request_failed")
            .request(Some(*request))
            .set("kind", kind(*k))
            .set("reason", alloc::format!("{reason:?}")),
        ConsumerEvent::Extension { json } => extension(json),
        ConsumerEvent::Refused(r) => Obj::new("refused").set("reason", r.to_string()),
        ConsumerEvent::Closed(r) => Obj::new("closed").set("reason", r.to_string()),
        _ => Obj::new("other"),
    }
}

fn provider(e: &ProviderEvent<String>) -> Obj {
    match e {
        ProviderEvent::WaitingForPeer => Obj::new("waiting_for_peer"),
        ProviderEvent::Paired => Obj::new("paired"),
        ProviderEvent::InfoRequested => Obj::new("info_requested"),
        ProviderEvent::ConsumerReady => Obj::new("consumer_ready"),
        ProviderEvent::InvoiceRequested { request, msats } => Obj::new("invoice_request")
            .request(Some(*request))
            .msats("msats", *msats),
        ProviderEvent::PayRequested { request, bolt11 } => {
            let o = Obj::new("pay_request")
                .request(Some(*request))
                .set("bolt11", bolt11.as_str());
            match crate::bolt11_msats(bolt11) {
                Some(m) => o.msats("msats", m),
                None => o.set("msats", JsValue::NULL),
            }
        }
        ProviderEvent::RequestExpired { request, kind: k } => Obj::new("request_expired")
            .request(Some(*request))
            .set("kind", kind(*k)),
        ProviderEvent::RequestAbandoned { request, kind: k } => Obj::new("request_abandoned")
            .request(Some(*request))
            .set("kind", kind(*k)),
        ProviderEvent::Extension { json } => extension(json),
        ProviderEvent::Refused(r) => Obj::new("refused").set("reason", r.to_string()),
        ProviderEvent::Closed(r) => Obj::new("closed").set("reason", r.to_string()),
        _ => Obj::new("other"),
    }
}

/// `{type: "extension", name, uuid, reference, json}` (the session validated the message).
fn extension(json: &str) -> Obj {
    let o = Obj::new("extension").set("json", json);
    match crate::opinion::summary(json) {
        Some((name, uuid, reference)) => o.set("name", name).set("uuid", uuid.to_string()).set(
            "reference",
            reference.map_or(JsValue::NULL, |r| JsValue::from_str(&r.to_string())),
        ),
        None => o,
    }
}
