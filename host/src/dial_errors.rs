//! Why a dialed connection is down, for the daemons that dial (the terminus's `connect`
//! beacons, the wallet's downstream and upstream): logged once per new reason (a session
//! retrying with the same failure every backoff step does not fill the log), kept for status
//! answers, and cleared when the connection is up again.

use std::collections::HashMap;
use std::time::Duration;

use moneysocket_core::host::SessionId;
use moneysocket_driver::Disconnect;

/// The last reason per session whose connection is down.
#[derive(Debug, Default)]
pub struct DialErrors {
    last: HashMap<SessionId, String>,
}

impl DialErrors {
    /// A session lost its connection or a dial failed: `what` names it in the log (an
    /// account and its relay, "downstream"), `trust_hint` is added when a TLS certificate
    /// was refused (where this program takes its CA file).
    pub fn disconnected(
        &mut self,
        session: SessionId,
        what: &str,
        cause: &Disconnect,
        retry_in: Option<Duration>,
        trust_hint: &str,
    ) {
        let mut text = cause.to_string();
        if crate::trust::needs_ca_file(&text) {
            text = format!("{text} ({trust_hint})");
        }
        let retry = match retry_in {
            Some(d) => format!("dialing again in {:.1} s", d.as_secs_f64()),
            None => "not dialing again".to_owned(),
        };
        if self.last.get(&session) == Some(&text) {
            tracing::debug!("{what}: connection down: {text}; {retry}");
        } else {
            tracing::warn!("{what}: connection down: {text}; {retry}");
            self.last.insert(session, text);
        }
    }

    /// A session's connection is up: its reason is forgotten.
    pub fn connected(&mut self, session: SessionId, what: &str) {
        if self.last.remove(&session).is_some() {
            tracing::info!("{what}: connected again");
        }
    }

    /// Why `session`'s connection is down, if it failed since it was last up.
    pub fn last(&self, session: SessionId) -> Option<&str> {
        self.last.get(&session).map(String::as_str)
    }

    /// Forgets a session that is gone.
    pub fn remove(&mut self, session: SessionId) {
        self.last.remove(&session);
    }
}
