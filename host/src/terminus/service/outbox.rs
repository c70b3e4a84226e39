//! The outbox of a poll round: what the round's handling sends to consumers and starts at
//! the node, held until the round's ledger transaction has committed (group commit).
//!
//! After the commit every item goes out in the order it was made. When the commit fails,
//! nothing that depends on the round's ledger changes leaves the process: each item says
//! what stands in for it ([`IfLost`]), and the ledger is as it was before the round.

use std::sync::Arc;
use std::time::Duration;

use moneysocket_core::host::SessionId;
use moneysocket_core::uuid::Uuid;

use super::{errors, Job, Terminus};
use crate::terminus::node::{Node, NodeError, PaymentHash};

/// An answer to one consumer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    /// NOTIFY_INVOICE with the BOLT11.
    Invoice(String),
    /// NOTIFY_PREIMAGE (when the requester left, the account's other sessions hear it).
    Preimage([u8; 32]),
    /// NOTIFY_ERROR with the text.
    Error(String),
}

/// What becomes of an answer when its round's commit fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IfLost {
    /// What the request did was rolled back: the requester hears [`errors::LEDGER`] and
    /// may ask again.
    Refuse,
    /// As `Refuse`, and the invoice the node made is cancelled there (it was never
    /// recorded, so it could never be credited).
    CancelAndRefuse(PaymentHash),
    /// The node finished a pay whose outcome was not recorded: the pay stays in flight in
    /// the ledger and the node is asked again a little later (as after a restart); the
    /// requester hears nothing now.
    Recheck(PaymentHash),
}

/// One item of the outbox.
#[derive(Debug)]
pub(super) enum Out {
    /// An answer to a request of `account` (`session`: the requester, if any).
    Answer {
        session: Option<SessionId>,
        account: Uuid,
        request: Uuid,
        answer: Answer,
        if_lost: IfLost,
    },
    /// NOTIFY_PREIMAGE without a request to every session of the account: an invoice of
    /// its was paid. Dropped when the commit fails.
    PreimageToAll { account: Uuid, preimage: [u8; 32] },
    /// A pay through the node, started only once its reservation (amount + fee reserve
    /// debited, payment recorded in flight) has committed. When the commit fails it is not
    /// started and the requester hears [`errors::LEDGER`].
    StartPay {
        session: SessionId,
        request: Uuid,
        account: Uuid,
        hash: PaymentHash,
        bolt11: String,
        reserve: u64,
    },
    /// Cancel an invoice at the node; `if_lost`: also when the commit failed (the invoice
    /// was not recorded in any case).
    Cancel { hash: PaymentHash, if_lost: bool },
    /// (Re)start the settlement stream from the committed settle index (when the commit
    /// failed too: the stream then hears the lost settlements again).
    Settlement,
    /// Ask the node about every invoice still open (when the commit failed too).
    OpenRecheck,
}

impl<N: Node> Terminus<N> {
    /// Ends a round: commits the ledger's round transaction, then sends and starts what
    /// depended on it, or, when the commit failed, what stands in for it; then the
    /// balances that changed (read from the committed ledger).
    pub(super) fn end_round(&mut self) {
        let mut committed = match self.ledger.commit_round() {
            Ok(_) => true,
            Err(e) => {
                let before = self.round_counters;
                self.counters.roll_back(&before);
                self.counters.commit_failures += 1;
                tracing::error!("ledger commit failed, the round is rolled back: {e}");
                false
            }
        };
        // Delivering may run ledger operations (a pay that could not start is refunded):
        // the round is over, so each commits by itself and its answers come next.
        while !self.outbox.is_empty() {
            for out in std::mem::take(&mut self.outbox) {
                if committed {
                    self.deliver(out);
                } else {
                    self.recover(out);
                }
            }
            committed = true;
        }
        self.send_balances();
    }

    /// Sends or starts an item whose ledger changes are durable.
    fn deliver(&mut self, out: Out) {
        match out {
            Out::Answer {
                session,
                account,
                request,
                answer,
                ..
            } => self.send_answer(session, account, request, &answer),
            Out::PreimageToAll { account, preimage } => self.preimage_to_all(account, &preimage),
            Out::StartPay {
                session,
                request,
                account,
                hash,
                bolt11,
                reserve,
            } => {
                let node = Arc::clone(&self.node);
                let timeout = self.policy.pay_timeout;
                let spawned = self.driver.spawn(move || Job::Pay {
                    session: Some(session),
                    request,
                    account,
                    hash,
                    result: node.pay(&bolt11, reserve, timeout),
                });
                match spawned {
                    Ok(_) => self.busy += 1,
                    Err(_) => self.finish_pay(
                        Some(session),
                        request,
                        account,
                        hash,
                        Err(NodeError::Unavailable("too many payments under way".into())),
                    ),
                }
            }
            Out::Cancel { hash, .. } => self.cancel_at_node(hash),
            Out::Settlement => self.spawn_settlement(),
            Out::OpenRecheck => self.spawn_open_recheck(),
        }
    }

    /// What goes out instead of an item whose round failed to commit.
    fn recover(&mut self, out: Out) {
        let refuse = |t: &mut Self, session: Option<SessionId>, request: Uuid| {
            if let Some(s) = session {
                if let Err(e) = t.driver.send_error(s, Some(request), errors::LEDGER) {
                    tracing::debug!("error not delivered: {e}");
                }
            }
        };
        match out {
            Out::Answer {
                session,
                account,
                request,
                if_lost,
                ..
            } => match if_lost {
                IfLost::Refuse => refuse(self, session, request),
                IfLost::CancelAndRefuse(hash) => {
                    self.cancel_at_node(hash);
                    refuse(self, session, request);
                }
                IfLost::Recheck(hash) => self.spawn_recheck(hash, account, Duration::from_secs(2)),
            },
            Out::StartPay {
                session, request, ..
            } => refuse(self, Some(session), request),
            Out::Cancel {
                hash,
                if_lost: true,
            } => self.cancel_at_node(hash),
            Out::Settlement => self.spawn_settlement(),
            Out::OpenRecheck => self.spawn_open_recheck(),
            Out::PreimageToAll { .. } | Out::Cancel { .. } => {}
        }
    }

    /// Sends one answer to its requester.
    fn send_answer(
        &mut self,
        session: Option<SessionId>,
        account: Uuid,
        request: Uuid,
        answer: &Answer,
    ) {
        let Some(s) = session else {
            return;
        };
        match answer {
            Answer::Invoice(bolt11) => {
                if let Err(e) = self.driver.send_invoice(s, request, bolt11) {
                    tracing::debug!("invoice not delivered: {e}");
                }
            }
            Answer::Preimage(preimage) => {
                if let Err(e) = self.driver.send_preimage(s, Some(request), preimage) {
                    // The consumer left (or the request expired): its other sessions hear it.
                    tracing::info!("preimage not delivered to the requester: {e}");
                    self.preimage_to_all(account, preimage);
                }
            }
            Answer::Error(text) => {
                if let Err(e) = self.driver.send_error(s, Some(request), text) {
                    tracing::debug!("error not delivered: {e}");
                }
            }
        }
    }

    /// NOTIFY_PREIMAGE without a request to every session of `account`.
    pub(super) fn preimage_to_all(&mut self, account: Uuid, preimage: &[u8; 32]) {
        let sessions: Vec<SessionId> = self.driver.host().account_sessions(&account).collect();
        for s in sessions {
            let _ = self.driver.send_preimage(s, None, preimage);
        }
    }
}
