//! The demo apps' side of the opinion-seller extension: owned forms of the core's
//! `message::opinion` messages, and sending/receiving them through the driver.

use moneysocket_core::host::SessionId;
use moneysocket_core::message::opinion::{OpinionBody, OpinionItem, OpinionMessage};
use moneysocket_core::message::Timestamp;
use moneysocket_core::session::{ConsumerConfig, ProviderConfig};
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{ConsumerEvent, Driver, ProviderEvent};
use rand_core::{OsRng, RngCore};

/// An item of the store (owned).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Its id (what an invoice request names).
    pub item_id: String,
    /// Display name.
    pub name: String,
    /// Price, msat.
    pub msats: u64,
}

impl Item {
    /// An item.
    pub fn new(item_id: &str, name: &str, msats: u64) -> Item {
        Item {
            item_id: item_id.into(),
            name: name.into(),
            msats,
        }
    }
}

/// The six messages, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Opinion {
    /// `REQUEST_OPINION_SELLER`: what do you sell?
    RequestSeller,
    /// `REQUEST_OPINION_INVOICE`: an invoice for this item.
    RequestInvoice(String),
    /// `NOTIFY_OPINION_SELLER`: the items.
    Seller(Vec<Item>),
    /// `NOTIFY_OPINION_SELLER_NOT_READY`.
    SellerNotReady,
    /// `NOTIFY_OPINION_INVOICE`.
    Invoice(String),
    /// `NOTIFY_OPINION`: the goods.
    Delivered {
        /// Which item.
        item_id: String,
        /// The opinion.
        opinion: String,
    },
}

/// A consumer configuration that carries the extension.
pub fn consumer_config(c: ConsumerConfig) -> ConsumerConfig {
    ConsumerConfig {
        extensions: true,
        ..c
    }
}

/// A provider configuration that carries the extension.
pub fn provider_config(c: ProviderConfig) -> ProviderConfig {
    ProviderConfig {
        extensions: true,
        ..c
    }
}

fn new_uuid() -> Uuid {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    Uuid::v4_from_bytes(b)
}

/// Sends `msg` (a request, or a notification that answers nothing).
pub fn send(d: &mut Driver, session: SessionId, msg: &Opinion) -> Result<(), String> {
    send_with(d, session, None, msg)
}

/// Sends `msg` as the answer to `request`.
pub fn send_reply(
    d: &mut Driver,
    session: SessionId,
    request: Uuid,
    msg: &Opinion,
) -> Result<(), String> {
    send_with(d, session, Some(request), msg)
}

fn send_with(
    d: &mut Driver,
    session: SessionId,
    reference: Option<Uuid>,
    msg: &Opinion,
) -> Result<(), String> {
    // the session stamps what it sends
    let ts = Timestamp::from_secs(0);
    let uuid = new_uuid();
    let items: Vec<OpinionItem<'_>>;
    let m = match msg {
        Opinion::RequestSeller => OpinionMessage::request_opinion_seller(uuid, ts),
        Opinion::RequestInvoice(id) => {
            OpinionMessage::request_opinion_invoice(uuid, ts, id.as_str())
        }
        Opinion::Seller(list) => {
            items = list
                .iter()
                .map(|i| OpinionItem {
                    item_id: i.item_id.as_str().into(),
                    name: i.name.as_str().into(),
                    msats: i.msats,
                })
                .collect();
            OpinionMessage::notify_opinion_seller(uuid, reference, ts, new_uuid(), &items)
        }
        Opinion::SellerNotReady => {
            OpinionMessage::notify_opinion_seller_not_ready(uuid, reference, ts)
        }
        Opinion::Invoice(b) => {
            OpinionMessage::notify_opinion_invoice(uuid, reference, ts, b.as_str())
        }
        Opinion::Delivered { item_id, opinion } => {
            OpinionMessage::notify_opinion(uuid, reference, ts, item_id.as_str(), opinion.as_str())
        }
    };
    d.send_extension(session, &m).map_err(|e| e.to_string())
}

/// Reads a received extension message.
fn read(json: &str) -> Option<(Uuid, Opinion)> {
    let m = OpinionMessage::parse(json.as_bytes()).ok()?;
    let o = match m.body() {
        OpinionBody::RequestOpinionSeller => Opinion::RequestSeller,
        OpinionBody::RequestOpinionInvoice { item_id } => {
            Opinion::RequestInvoice(item_id.to_string())
        }
        OpinionBody::NotifyOpinionSeller { items, .. } => Opinion::Seller(
            items
                .iter()
                .map(|i| Item {
                    item_id: i.item_id.to_string(),
                    name: i.name.to_string(),
                    msats: i.msats,
                })
                .collect(),
        ),
        OpinionBody::NotifyOpinionSellerNotReady => Opinion::SellerNotReady,
        OpinionBody::NotifyOpinionInvoice { bolt11 } => Opinion::Invoice(bolt11.to_string()),
        OpinionBody::NotifyOpinion { item_id, opinion } => Opinion::Delivered {
            item_id: item_id.to_string(),
            opinion: opinion.to_string(),
        },
    };
    Some((m.uuid(), o))
}

/// The extension message a consumer event carries, if any.
pub fn from_consumer_event(ev: &ConsumerEvent) -> Option<Opinion> {
    match ev {
        ConsumerEvent::Extension { json } => read(json).map(|(_, o)| o),
        _ => None,
    }
}

/// The extension message a provider event carries, with its uuid (the request to answer).
pub fn from_provider_event(ev: &ProviderEvent) -> Option<(Uuid, Opinion)> {
    match ev {
        ProviderEvent::Extension { json } => read(json),
        _ => None,
    }
}
