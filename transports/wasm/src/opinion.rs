//! The opinion-seller extension (docs/extensions.md) for pages: the messages a page sends,
//! built from JS arguments, and the fields of a received one. Plain Rust, tested on the
//! host.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use moneysocket_core::message::opinion::{OpinionItem, OpinionMessage};
use moneysocket_core::message::Timestamp;
use moneysocket_core::uuid::Uuid;
use serde_json::Value;

/// An item list as the page gives it: a JSON array of `{item_id, name, msats}` (msats an
/// integer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Items(Vec<(String, String, u64)>);

impl Items {
    /// Parses the page's JSON text; a typed message for anything else.
    pub fn parse(json: &str) -> Result<Items, String> {
        let v: Value =
            serde_json::from_str(json).map_err(|e| alloc::format!("items: not JSON: {e}"))?;
        let list = v.as_array().ok_or("items: not an array")?;
        let mut out = Vec::with_capacity(list.len());
        for (i, it) in list.iter().enumerate() {
            let text = |k: &str| {
                it.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| alloc::format!("items[{i}].{k}: not a string"))
            };
            let msats = it
                .get("msats")
                .and_then(Value::as_u64)
                .ok_or_else(|| alloc::format!("items[{i}].msats: not an integer msat amount"))?;
            out.push((text("item_id")?, text("name")?, msats));
        }
        Ok(Items(out))
    }

    /// The core's view of them, for `notify_opinion_seller`.
    pub fn as_core(&self) -> Vec<OpinionItem<'_>> {
        self.0
            .iter()
            .map(|(id, name, msats)| OpinionItem {
                item_id: id.as_str().into(),
                name: name.as_str().into(),
                msats: *msats,
            })
            .collect()
    }
}

/// What the page learns of a received extension message: its name, its own uuid, the
/// request it answers. `None` when it does not parse (the session already checked it).
pub fn summary(json: &str) -> Option<(&'static str, Uuid, Option<Uuid>)> {
    let m = OpinionMessage::parse(json.as_bytes()).ok()?;
    Some((m.kind().name(), m.uuid(), m.reference_uuid()))
}

/// The session stamps the real time when it sends.
pub fn ts() -> Timestamp<'static> {
    Timestamp::from_secs(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_parse_and_refuse() {
        let items =
            Items::parse(r#"[{"item_id":"hello","name":"Hello World","msats":10000}]"#).unwrap();
        let core = items.as_core();
        assert_eq!(core.len(), 1);
        assert_eq!(core[0].msats, 10_000);
        let m =
            OpinionMessage::notify_opinion_seller(Uuid([1; 16]), None, ts(), Uuid([2; 16]), &core);
        let json = m.to_json_string();
        let (name, uuid, reference) = summary(&json).unwrap();
        assert_eq!(
            (name, uuid, reference),
            ("NOTIFY_OPINION_SELLER", Uuid([1; 16]), None)
        );
        assert!(Items::parse("{}").unwrap_err().contains("not an array"));
        assert!(
            Items::parse("[{\"item_id\":\"a\",\"name\":\"b\",\"msats\":1.5}]")
                .unwrap_err()
                .contains("msats")
        );
        assert!(Items::parse("[{\"name\":\"b\",\"msats\":1}]")
            .unwrap_err()
            .contains("item_id"));
        assert!(Items::parse("nope").is_err());
        assert!(summary("{}").is_none());
    }
}
