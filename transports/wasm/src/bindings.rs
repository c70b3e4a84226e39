//! The JS API: one host per page (wasm instance) holding every session; `Consumer` and
//! `Provider` are handles to sessions in it. Each session dials its beacon's websocket
//! locations (in order, redialing with a growing pause after its link closes, unless the
//! page closed it) and reports events to its handlers object: `handlers.on_<type>(event)`
//! when that method exists, then `handlers.on_event(event)`.
//!
//! Re-entrancy: handlers run after the host is released, so they may call back into any
//! session (answer a request from inside `on_invoice_request`).

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;

use js_sys::{Function, Reflect, Uint8Array};
use moneysocket_core::conn::ConnId;
use moneysocket_core::host::{HostConfig, HostInput, HostOutput, SessionHost, SessionId};
use moneysocket_core::message::{ProviderInfo, Wad};
use moneysocket_core::session::{ConsumerConfig, ProviderConfig};
use moneysocket_core::time::{unix_offset_ms, Instant};
use moneysocket_core::uuid::Uuid;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::allowance::Allowance as RustAllowance;
use crate::events::{to_js, Obj};
use crate::js::{console_error, now_ms, set_timeout, unix_ms, JsRng};
use crate::msats::MsatsError;
use crate::opinion::{ts, Items};
use moneysocket_core::message::opinion::OpinionMessage;

/// Sessions a page holds at most in its matchmaker (none listen: a page only dials).
const CONNS: usize = 16;
/// First pause before a redial; doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

type Host = SessionHost<JsRng, CONNS>;

/// One websocket and the callbacks the browser holds for it.
struct Conn {
    ws: WebSocket,
    session: SessionId,
    opened: bool,
    _callbacks: [Closure<dyn FnMut(JsValue)>; 3],
}

/// What the host knows of a session besides the core's state.
struct Link {
    handlers: JsValue,
    urls: Vec<String>,
    next: usize,
    conn: Option<ConnId>,
    backoff: Duration,
    /// Closed or removed by the page: not redialed.
    done: bool,
}

struct Inner {
    host: Host,
    links: BTreeMap<SessionId, Link>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u32,
    /// The deadline a `setTimeout` is armed for.
    armed: Option<Instant>,
    unix_offset: u64,
}

/// Handlers to call once the host is released.
type Calls = Vec<(JsValue, Obj)>;

thread_local! {
    static INNER: Rc<RefCell<Inner>> = Rc::new(RefCell::new(Inner::new()));
}

fn now() -> Instant {
    Instant::from_millis(now_ms())
}

/// Runs `f` on the page's host, drains it, re-arms the timer, then calls the handlers.
fn with_host<T>(f: impl FnOnce(&mut Inner, &mut Calls) -> T) -> T {
    let mut calls = Vec::new();
    let out = INNER.with(|rc| {
        let mut inner = rc.borrow_mut();
        let out = f(&mut inner, &mut calls);
        inner.drain(&mut calls);
        inner.arm();
        out
    });
    dispatch(calls);
    out
}

fn dispatch(calls: Calls) {
    for (handlers, event) in calls {
        let name = alloc::format!("on_{}", event.kind());
        let value = event.into_value();
        for method in [name.as_str(), "on_event"] {
            if let Ok(f) = Reflect::get(&handlers, &JsValue::from_str(method)) {
                if let Some(f) = f.dyn_ref::<Function>() {
                    // A throwing handler must not stop the others (it is the page's bug):
                    // reported on the console.
                    if let Err(e) = f.call1(&handlers, &value) {
                        console_error(&alloc::format!("moneysocket: {method} threw"), &e);
                    }
                }
            }
        }
    }
}

impl Inner {
    fn new() -> Self {
        let t = now();
        let config = HostConfig::default();
        Inner {
            host: SessionHost::new(config, JsRng),
            links: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            armed: None,
            unix_offset: unix_offset_ms(unix_ms(), t),
        }
    }

    /// Dials the session's next location.
    fn dial(&mut self, session: SessionId, calls: &mut Calls) {
        let Some(link) = self.links.get_mut(&session) else {
            return;
        };
        if link.done || link.conn.is_some() {
            return;
        }
        let url = link.urls[link.next % link.urls.len()].clone();
        link.next = link.next.wrapping_add(1);
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(e) => {
                let msg = e.as_string().unwrap_or_else(|| "refused".into());
                calls.push((
                    link.handlers.clone(),
                    Obj::new("disconnected")
                        .set("url", url.as_str())
                        .set("cause", alloc::format!("cannot dial: {msg}")),
                ));
                self.retry(session);
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        self.next_conn = self.next_conn.wrapping_add(1);
        let conn = ConnId(self.next_conn);
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            with_host(|i, calls| i.opened(conn, calls));
        });
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            // Not `dyn_ref`: Node's WebSocket (undici) has its own MessageEvent class.
            let data = e.unchecked_ref::<MessageEvent>().data();
            // Moneysocket frames are binary; a text message is not one of ours.
            if data.is_instance_of::<js_sys::ArrayBuffer>() {
                let bytes = Uint8Array::new(&data).to_vec();
                with_host(|i, _| {
                    i.host.handle_input(HostInput::Frame(conn, &bytes), now());
                });
            }
        });
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            with_host(|i, calls| i.closed(conn, "connection closed", calls));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // `error` is always followed by `close`: one handler is enough.
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        link.conn = Some(conn);
        self.conns.insert(
            conn,
            Conn {
                ws,
                session,
                opened: false,
                _callbacks: [on_open, on_message, on_close],
            },
        );
    }

    fn opened(&mut self, conn: ConnId, calls: &mut Calls) {
        let t = now();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.opened = true;
        let session = c.session;
        let url = c.ws.url();
        if let Err(e) = self.host.attach(session, conn, true, t) {
            self.forget(conn);
            if let Some(link) = self.links.get_mut(&session) {
                link.conn = None;
                calls.push((
                    link.handlers.clone(),
                    Obj::new("disconnected").set("cause", e.to_string()),
                ));
            }
            return;
        }
        if let Some(link) = self.links.get(&session) {
            calls.push((link.handlers.clone(), Obj::new("connected").set("url", url)));
        }
    }

    fn closed(&mut self, conn: ConnId, cause: &str, calls: &mut Calls) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if c.opened {
            self.host.handle_input(HostInput::Closed(conn), now());
        }
        let session = c.session;
        if let Some(link) = self.links.get_mut(&session) {
            link.conn = None;
            if !link.done {
                calls.push((
                    link.handlers.clone(),
                    Obj::new("disconnected")
                        .set("url", c.ws.url())
                        .set("cause", cause)
                        .set("retry_in_ms", link.backoff.as_millis() as f64),
                ));
                self.retry(session);
            }
        }
    }

    /// Redials `session` after its backoff, which then doubles.
    fn retry(&mut self, session: SessionId) {
        let Some(link) = self.links.get_mut(&session) else {
            return;
        };
        let wait = link.backoff;
        link.backoff = (link.backoff * 2).min(MAX_BACKOFF);
        let f = Closure::once_into_js(move || {
            with_host(|i, calls| i.dial(session, calls));
        });
        set_timeout(&f, wait.as_millis() as f64);
    }

    /// Closes a websocket the host is done with.
    fn forget(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            c.ws.set_onclose(None);
            c.ws.set_onmessage(None);
            c.ws.set_onopen(None);
            let _ = c.ws.close();
            if let Some(link) = self.links.get_mut(&c.session) {
                if link.conn == Some(conn) {
                    link.conn = None;
                }
            }
        }
    }

    /// Moves the host's output to the websockets and the handlers.
    fn drain(&mut self, calls: &mut Calls) {
        let mut redial = Vec::new();
        while let Some(out) = self.host.poll_output() {
            match out {
                HostOutput::Transmit { conn, frame } => {
                    if let Some(c) = self.conns.get(&conn) {
                        // A send on a closing socket is dropped by the browser; the close
                        // event follows and the session is told then.
                        // A copy owned by JS: Node's WebSocket reads the buffer after
                        // `send` returns, when this memory may hold something else.
                        let copy = Uint8Array::from(frame.as_slice());
                        let _ = c.ws.send_with_array_buffer_view(&copy);
                    }
                }
                HostOutput::Close { conn } => {
                    let session = self.conns.get(&conn).map(|c| c.session);
                    self.forget(conn);
                    if let Some(s) = session {
                        redial.push(s);
                    }
                }
                HostOutput::Event { session, event } => {
                    let event = event.into_owned();
                    if let Some(link) = self.links.get_mut(&session) {
                        if event.is_ready() {
                            link.backoff = FIRST_BACKOFF;
                        }
                        calls.push((link.handlers.clone(), to_js(&event)));
                    }
                }
                _ => {}
            }
        }
        // A session that closed its link itself (peer gone, pong timeout) dials again.
        for s in redial {
            if self.links.get(&s).is_some_and(|l| !l.done) {
                self.retry(s);
            }
        }
    }

    /// Arms a `setTimeout` for the host's next deadline (one at a time, the earliest).
    fn arm(&mut self) {
        let Some(deadline) = self.host.poll_timeout() else {
            return;
        };
        if self.armed.is_some_and(|a| a <= deadline) {
            return;
        }
        self.armed = Some(deadline);
        let wait = deadline.as_millis().saturating_sub(now_ms());
        let f = Closure::once_into_js(move || {
            with_host(|i, _| {
                i.armed = None;
                let t = now();
                if i.host.poll_timeout().is_some_and(|d| d <= t) {
                    i.host.handle_input(HostInput::Timeout, t);
                }
            });
        });
        set_timeout(&f, wait as f64);
    }

    fn add(&mut self, session: SessionId, urls: Vec<String>, handlers: JsValue) {
        self.links.insert(
            session,
            Link {
                handlers,
                urls,
                next: 0,
                conn: None,
                backoff: FIRST_BACKOFF,
                done: false,
            },
        );
    }

    fn close(&mut self, session: SessionId, remove: bool) -> Result<(), JsError> {
        let t = now();
        if let Some(link) = self.links.get_mut(&session) {
            link.done = true;
        }
        let r = if remove {
            self.host.remove(session, t)
        } else {
            self.host.close(session, t)
        };
        r.map_err(|e| JsError::new(&e.to_string()))?;
        // Not yet open: nothing for the host to close.
        let dialing = self
            .links
            .get(&session)
            .and_then(|l| l.conn)
            .filter(|c| self.conns.get(c).is_some_and(|c| !c.opened));
        if let Some(c) = dialing {
            self.forget(c);
        }
        if remove {
            self.links.remove(&session);
        }
        Ok(())
    }
}

fn err(e: impl ToString) -> JsError {
    JsError::new(&e.to_string())
}

/// An msat amount from JS: a `BigInt` in 0 ..= `u64::MAX` (a Number, a negative or a too
/// large BigInt is refused, never rounded or wrapped; see [`crate::msats`]).
fn msats_arg(v: &JsValue) -> Result<u64, JsError> {
    if !v.is_bigint() {
        let js_type = v.js_typeof().as_string().unwrap_or_default();
        // A Number is shown as JavaScript prints it.
        let number = match js_type.as_str() {
            "number" => js_sys::Number::to_string_with_radix(v.unchecked_ref(), 10)
                .ok()
                .map(String::from),
            _ => None,
        };
        return Err(err(MsatsError::NotBigInt { js_type, number }));
    }
    let text: String = js_sys::BigInt::to_string(v.unchecked_ref(), 10)
        .map(String::from)
        .unwrap_or_default();
    crate::msats::from_decimal(&text).map_err(err)
}

/// An optional msat amount: `null` or `undefined` is none, else as [`msats_arg`].
fn opt_msats_arg(v: &JsValue) -> Result<Option<u64>, JsError> {
    if v.is_null() || v.is_undefined() {
        Ok(None)
    } else {
        msats_arg(v).map(Some)
    }
}

fn uuid_arg(v: Option<String>) -> Result<Option<Uuid>, JsError> {
    v.map(|s| {
        Uuid::parse_lenient(&s)
            .map_err(|e| JsError::new(&alloc::format!("invalid request uuid {s:?}: {e}")))
    })
    .transpose()
}

/// A consumer session: connects to a provider through a beacon.
#[wasm_bindgen]
pub struct Consumer {
    id: SessionId,
}

#[wasm_bindgen]
impl Consumer {
    /// A consumer of `beacon`, dialing its websocket locations at once; events go to
    /// `handlers` (`on_provider`, `on_invoice`, `on_preimage`, `on_error`, …, `on_event`).
    #[wasm_bindgen(constructor)]
    pub fn new(beacon: &str, handlers: JsValue) -> Result<Consumer, JsError> {
        let (seed, urls) = crate::beacon::dial_plan(beacon).map_err(err)?;
        let id = with_host(|i, calls| {
            let config = ConsumerConfig {
                unix_offset_ms: i.unix_offset,
                extensions: true,
                ..ConsumerConfig::default()
            };
            let id = i.host.add_consumer(&seed, config);
            i.add(id, urls, handlers);
            i.dial(id, calls);
            id
        });
        Ok(Consumer { id })
    }

    /// Asks the provider for an invoice of `msats` (a BigInt); returns the request uuid (the
    /// answer comes as `on_invoice` with the same `request`).
    pub fn request_invoice(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint")] msats: JsValue,
    ) -> Result<String, JsError> {
        let m = msats_arg(&msats)?;
        with_host(|i, _| i.host.request_invoice(self.id, m, now()))
            .map(|u| u.to_string())
            .map_err(err)
    }

    /// Asks the provider to pay `bolt11`; returns the request uuid (answered by
    /// `on_preimage` or `on_error` with the same `request`).
    pub fn pay(&self, bolt11: &str) -> Result<String, JsError> {
        with_host(|i, _| i.host.pay(self.id, bolt11.trim(), now()))
            .map(|u| u.to_string())
            .map_err(err)
    }

    /// Sends `REQUEST_OPINION_SELLER` (the opinion-seller extension); returns its uuid.
    pub fn request_opinion_seller(&self) -> Result<String, JsError> {
        let uuid = Uuid::new_v4(&mut JsRng);
        send_ext(self.id, &OpinionMessage::request_opinion_seller(uuid, ts()))?;
        Ok(uuid.to_string())
    }

    /// Sends `REQUEST_OPINION_INVOICE {item_id}`; returns its uuid.
    pub fn request_opinion_invoice(&self, item_id: &str) -> Result<String, JsError> {
        let uuid = Uuid::new_v4(&mut JsRng);
        send_ext(
            self.id,
            &OpinionMessage::request_opinion_invoice(uuid, ts(), item_id),
        )?;
        Ok(uuid.to_string())
    }

    /// Whether the provider's info arrived (requests may be sent).
    pub fn is_ready(&self) -> bool {
        INNER.with(|rc| {
            rc.borrow()
                .host
                .consumer(self.id)
                .is_some_and(|c| c.is_ready())
        })
    }

    /// Closes the session and stops redialing.
    pub fn close(&self) -> Result<(), JsError> {
        with_host(|i, _| i.close(self.id, true))
    }
}

/// A provider session: serves one consumer that connects with the same beacon.
#[wasm_bindgen]
pub struct Provider {
    id: SessionId,
}

#[wasm_bindgen]
impl Provider {
    /// A provider on `beacon`, dialing its websocket locations (a relay) at once; events go
    /// to `handlers` (`on_consumer_ready`, `on_invoice_request`, `on_pay_request`, …).
    #[wasm_bindgen(constructor)]
    pub fn new(beacon: &str, handlers: JsValue) -> Result<Provider, JsError> {
        let (seed, urls) = crate::beacon::dial_plan(beacon).map_err(err)?;
        let id = with_host(|i, calls| {
            let config = ProviderConfig {
                unix_offset_ms: i.unix_offset,
                extensions: true,
                ..ProviderConfig::default()
            };
            let id = i.host.add_provider(&seed, config, None);
            i.add(id, urls, handlers);
            i.dial(id, calls);
            id
        });
        Ok(Provider { id })
    }

    /// Sets (and sends, when the consumer is ready) the provider info: account uuid,
    /// payer/payee, and the balance in msat (a BigInt; `null`: no wad).
    pub fn set_provider_info(
        &self,
        account_uuid: &str,
        payer: bool,
        payee: bool,
        #[wasm_bindgen(unchecked_param_type = "bigint | null")] msats: JsValue,
    ) -> Result<(), JsError> {
        let account_uuid = Uuid::parse_lenient(account_uuid)
            .map_err(|e| JsError::new(&alloc::format!("invalid account uuid: {e}")))?;
        let wad = opt_msats_arg(&msats)?.map(Wad::bitcoin);
        let info = ProviderInfo {
            account_uuid,
            payer,
            payee,
            wad,
        };
        with_host(|i, _| i.host.set_provider_info(self.id, &info, now())).map_err(err)
    }

    /// Answers an invoice request with `bolt11`.
    pub fn send_invoice(&self, request: &str, bolt11: &str) -> Result<(), JsError> {
        let r = Uuid::parse_lenient(request.trim())
            .map_err(|e| JsError::new(&alloc::format!("invalid request uuid {request:?}: {e}")))?;
        with_host(|i, _| i.host.send_invoice(self.id, r, bolt11.trim(), now())).map_err(err)
    }

    /// Answers a pay request (or, with `request` null, reports a payment) with the
    /// preimage, 64 hex digits.
    pub fn send_preimage(&self, request: Option<String>, preimage: &str) -> Result<(), JsError> {
        let r = uuid_arg(request)?;
        let bytes = moneysocket_core::hex::decode_array::<32>(preimage.trim())
            .map_err(|e| JsError::new(&alloc::format!("invalid preimage: {e}")))?;
        with_host(|i, _| i.host.send_preimage(self.id, r, &bytes, now())).map_err(err)
    }

    /// Refuses a request (or, with `request` null, reports an error) with `message`.
    pub fn send_error(&self, request: Option<String>, message: &str) -> Result<(), JsError> {
        let r = uuid_arg(request)?;
        with_host(|i, _| i.host.send_error(self.id, r, message, now())).map_err(err)
    }

    /// Sends `NOTIFY_OPINION_SELLER` answering `reference`: the seller's uuid and its items,
    /// a JSON array of `{item_id, name, msats}`.
    pub fn notify_opinion_seller(
        &self,
        reference: Option<String>,
        seller_uuid: &str,
        items_json: &str,
    ) -> Result<(), JsError> {
        let r = uuid_arg(reference)?;
        let seller = Uuid::parse_lenient(seller_uuid)
            .map_err(|e| JsError::new(&alloc::format!("invalid seller uuid: {e}")))?;
        let items = Items::parse(items_json).map_err(err)?;
        let core = items.as_core();
        let uuid = Uuid::new_v4(&mut JsRng);
        send_ext(
            self.id,
            &OpinionMessage::notify_opinion_seller(uuid, r, ts(), seller, &core),
        )
    }

    /// Sends `NOTIFY_OPINION_SELLER_NOT_READY` answering `reference`.
    pub fn notify_opinion_seller_not_ready(
        &self,
        reference: Option<String>,
    ) -> Result<(), JsError> {
        let r = uuid_arg(reference)?;
        let uuid = Uuid::new_v4(&mut JsRng);
        send_ext(
            self.id,
            &OpinionMessage::notify_opinion_seller_not_ready(uuid, r, ts()),
        )
    }

    /// Sends `NOTIFY_OPINION_INVOICE {bolt11}` answering `reference`.
    pub fn notify_opinion_invoice(
        &self,
        reference: Option<String>,
        bolt11: &str,
    ) -> Result<(), JsError> {
        let r = uuid_arg(reference)?;
        let uuid = Uuid::new_v4(&mut JsRng);
        send_ext(
            self.id,
            &OpinionMessage::notify_opinion_invoice(uuid, r, ts(), bolt11),
        )
    }

    /// Sends `NOTIFY_OPINION {item_id, opinion}` (answering `reference`, or `null`).
    pub fn notify_opinion(
        &self,
        reference: Option<String>,
        item_id: &str,
        opinion: &str,
    ) -> Result<(), JsError> {
        let r = uuid_arg(reference)?;
        let uuid = Uuid::new_v4(&mut JsRng);
        send_ext(
            self.id,
            &OpinionMessage::notify_opinion(uuid, r, ts(), item_id, opinion),
        )
    }

    /// Whether the consumer has the provider info.
    pub fn is_ready(&self) -> bool {
        INNER.with(|rc| {
            rc.borrow()
                .host
                .provider(self.id)
                .is_some_and(|p| p.is_ready())
        })
    }

    /// Closes the session and stops redialing.
    pub fn close(&self) -> Result<(), JsError> {
        with_host(|i, _| i.close(self.id, true))
    }
}

/// Sends an extension message on session `id`.
fn send_ext(id: SessionId, msg: &OpinionMessage<'_>) -> Result<(), JsError> {
    with_host(|i, _| i.host.send_extension(id, msg, now())).map_err(err)
}

/// The payment hash of a BOLT11 invoice, hex, or `undefined` (not an invoice).
#[wasm_bindgen]
pub fn bolt11_payment_hash(bolt11: &str) -> Option<String> {
    moneysocket_core::bolt11::Invoice::parse(bolt11.trim())
        .ok()
        .map(|i| moneysocket_core::hex::encode(i.payment_hash()))
}

/// SHA-256 of the bytes in `hex` (a preimage → its payment hash), hex.
#[wasm_bindgen]
pub fn sha256_hex(hex: &str) -> Result<String, JsError> {
    let bytes = moneysocket_core::hex::decode_vec(hex.trim())
        .map_err(|e| JsError::new(&alloc::format!("invalid hex: {e}")))?;
    Ok(moneysocket_core::hex::encode(&crate::sha256(&bytes)))
}

/// A beacon decoded as a JSON text: `{format, hrp, shared_seed, locations:[{type, url}]}`.
#[wasm_bindgen]
pub fn beacon_decode(beacon: &str) -> Result<String, JsError> {
    crate::beacon::decode(beacon)
        .map(|v| v.to_string())
        .map_err(err)
}

/// A v0 beacon for `seed_hex` (32 hex digits) and websocket `urls`.
#[wasm_bindgen]
pub fn beacon_encode(seed_hex: &str, urls: Vec<String>) -> Result<String, JsError> {
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    crate::beacon::encode_hex(seed_hex, &urls).map_err(err)
}

/// A fresh beacon (random seed) for a relay's websocket URL.
#[wasm_bindgen]
pub fn beacon_new(relay_url: &str) -> Result<String, JsError> {
    let seed = moneysocket_core::seed::SharedSeed::generate(&mut JsRng);
    crate::beacon::encode(&seed, &[relay_url]).map_err(err)
}

/// The amount of a BOLT11 invoice in msat (a BigInt), or `undefined` (no amount, not an
/// invoice).
#[wasm_bindgen]
pub fn bolt11_msats(bolt11: &str) -> Option<u64> {
    crate::bolt11_msats(bolt11)
}

/// A fresh random uuid (v4), e.g. a wallet's own account uuid.
#[wasm_bindgen]
pub fn uuid_new() -> String {
    Uuid::new_v4(&mut JsRng).to_string()
}

/// The web wallet's spending allowance (see the Rust `allowance` module): refuses upstream
/// pays above what is left. Amounts are msat, BigInts both ways.
#[wasm_bindgen]
pub struct Allowance(RustAllowance);

#[wasm_bindgen]
impl Allowance {
    /// An allowance of `cap_msats`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "bigint")] cap_msats: JsValue,
    ) -> Result<Allowance, JsError> {
        Ok(Allowance(RustAllowance::new(msats_arg(&cap_msats)?)))
    }

    /// `percent` (a Number, 0..=100) of `balance_msats`, rounded down.
    pub fn percent_of(
        #[wasm_bindgen(unchecked_param_type = "bigint")] balance_msats: JsValue,
        percent: u8,
    ) -> Result<u64, JsError> {
        Ok(RustAllowance::percent_of(
            msats_arg(&balance_msats)?,
            percent,
        ))
    }

    /// Sets the cap.
    pub fn set_cap(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "bigint")] cap_msats: JsValue,
    ) -> Result<(), JsError> {
        self.0.set_cap(msats_arg(&cap_msats)?);
        Ok(())
    }

    /// The cap, msat.
    pub fn cap(&self) -> u64 {
        self.0.cap()
    }

    /// Spent through the wallet, msat.
    pub fn spent(&self) -> u64 {
        self.0.spent()
    }

    /// What is left given the downstream balance, msat.
    pub fn left(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint")] balance_msats: JsValue,
    ) -> Result<u64, JsError> {
        Ok(self.0.left(msats_arg(&balance_msats)?))
    }

    /// Reserves an upstream pay of `bolt11` under `request`, or throws why it is refused.
    pub fn begin_pay(
        &mut self,
        request: &str,
        bolt11: &str,
        #[wasm_bindgen(unchecked_param_type = "bigint")] balance_msats: JsValue,
    ) -> Result<(), JsError> {
        let b = msats_arg(&balance_msats)?;
        self.0
            .begin_pay(request, crate::bolt11_msats(bolt11), b)
            .map_err(err)
    }

    /// The pay `request` succeeded.
    pub fn settle(&mut self, request: &str) -> bool {
        self.0.settle(request).is_some()
    }

    /// The pay `request` failed.
    pub fn release(&mut self, request: &str) -> bool {
        self.0.release(request).is_some()
    }
}
