//! Bounded storage shared by both beacon versions: a byte pool plus location entries that
//! refer to it by span.

use super::{
    CapacityError, Location, WebSocket, MAX_HOST_LEN, MAX_LOCATIONS, MAX_PATH_LEN,
    MAX_PLACEHOLDER_LEN, POOL_CAPACITY,
};

/// A range of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    start: u16,
    len: u16,
}

/// The three v0 placeholder location kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlaceholderKind {
    WebRtc,
    Bluetooth,
    Nfc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    WebSocket {
        host: Span,
        path: Span,
        use_tls: bool,
        port: u64,
        preference: u8,
    },
    Placeholder {
        kind: PlaceholderKind,
        text: Span,
    },
    Unknown {
        tlv_type: u64,
        bytes: Span,
    },
}

/// Location entries and the pool their strings and bytes live in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pool: heapless::Vec<u8, POOL_CAPACITY>,
    entries: heapless::Vec<Entry, MAX_LOCATIONS>,
}

impl Store {
    /// Number of locations.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Appends `bytes` to the pool.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<Span, CapacityError> {
        let start = self.pool.len();
        self.pool
            .extend_from_slice(bytes)
            .map_err(|_| CapacityError::PoolFull)?;
        // POOL_CAPACITY < 65536, so both fit.
        let start = u16::try_from(start).map_err(|_| CapacityError::PoolFull)?;
        let len = u16::try_from(bytes.len()).map_err(|_| CapacityError::PoolFull)?;
        Ok(Span { start, len })
    }

    /// The bytes of a span (empty if out of range, which cannot happen for our own spans).
    pub(crate) fn bytes(&self, span: Span) -> &[u8] {
        let start = usize::from(span.start);
        self.pool
            .get(start..start + usize::from(span.len))
            .unwrap_or(&[])
    }

    /// A span holding a string (only valid UTF-8 is ever stored under string spans).
    pub(crate) fn str(&self, span: Span) -> &str {
        core::str::from_utf8(self.bytes(span)).unwrap_or("")
    }

    /// Runs `f`, restoring the pool length if it fails, so no partial data stays behind.
    fn atomically<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, CapacityError>,
    ) -> Result<T, CapacityError> {
        let mark = self.pool.len();
        let r = f(self);
        if r.is_err() {
            self.pool.truncate(mark);
        }
        r
    }

    fn push_entry(&mut self, e: Entry) -> Result<(), CapacityError> {
        self.entries
            .push(e)
            .map_err(|_| CapacityError::TooManyLocations)
    }

    /// Stores a location (no version rules are checked here, only capacities).
    pub(crate) fn push(&mut self, loc: &Location<'_>) -> Result<(), CapacityError> {
        if self.entries.is_full() {
            return Err(CapacityError::TooManyLocations);
        }
        self.atomically(|s| {
            let entry = match *loc {
                Location::WebSocket(ws) => {
                    if ws.host.len() > MAX_HOST_LEN {
                        return Err(CapacityError::HostTooLong);
                    }
                    if ws.path.len() > MAX_PATH_LEN {
                        return Err(CapacityError::PathTooLong);
                    }
                    Entry::WebSocket {
                        host: s.put(ws.host.as_bytes())?,
                        path: s.put(ws.path.as_bytes())?,
                        use_tls: ws.use_tls,
                        port: ws.port,
                        preference: ws.preference,
                    }
                }
                Location::WebRtc(t) => placeholder(s, PlaceholderKind::WebRtc, t)?,
                Location::Bluetooth(t) => placeholder(s, PlaceholderKind::Bluetooth, t)?,
                Location::Nfc(t) => placeholder(s, PlaceholderKind::Nfc, t)?,
                Location::Unknown { tlv_type, bytes } => Entry::Unknown {
                    tlv_type,
                    bytes: s.put(bytes)?,
                },
            };
            s.push_entry(entry)
        })
    }

    /// The location at `i`.
    pub(crate) fn location(&self, i: usize) -> Option<Location<'_>> {
        Some(match *self.entries.get(i)? {
            Entry::WebSocket {
                host,
                path,
                use_tls,
                port,
                preference,
            } => Location::WebSocket(WebSocket {
                host: self.str(host),
                use_tls,
                port,
                path: self.str(path),
                preference,
            }),
            Entry::Placeholder { kind, text } => {
                let t = self.str(text);
                match kind {
                    PlaceholderKind::WebRtc => Location::WebRtc(t),
                    PlaceholderKind::Bluetooth => Location::Bluetooth(t),
                    PlaceholderKind::Nfc => Location::Nfc(t),
                }
            }
            Entry::Unknown { tlv_type, bytes } => Location::Unknown {
                tlv_type,
                bytes: self.bytes(bytes),
            },
        })
    }

    /// Iterates the locations.
    pub(crate) fn locations(&self) -> super::Locations<'_> {
        super::Locations {
            store: self,
            next: 0,
        }
    }
}

fn placeholder(s: &mut Store, kind: PlaceholderKind, t: &str) -> Result<Entry, CapacityError> {
    if t.len() > MAX_PLACEHOLDER_LEN {
        return Err(CapacityError::PlaceholderTooLong);
    }
    Ok(Entry::Placeholder {
        kind,
        text: s.put(t.as_bytes())?,
    })
}

/// Two stores are equal when they hold the same locations (pool layout is irrelevant).
impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.locations().eq(other.locations())
    }
}

impl Eq for Store {}
