use super::*;
use moneysocket_core::bolt11::Description;
use std::thread;

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let mut r = [0u8; 8];
        OsRng.fill_bytes(&mut r);
        let dir = std::env::temp_dir().join(format!(
            "moneysocket-simnode-{}-{}",
            std::process::id(),
            hex::encode(&r)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const START: u64 = 10_000_000;
const T0: u64 = 1_700_000_000;

fn config() -> SimNodeConfig {
    SimNodeConfig {
        alias: "test".to_owned(),
        starting_balance_msat: START,
        fee_base_msat: 1_000,
        fee_ppm: 1_000,
        latency: Duration::ZERO,
        min_final_cltv_expiry_delta: 80,
        fsync: true,
    }
}

fn request(msats: u64, expiry_secs: u64) -> InvoiceRequest {
    InvoiceRequest {
        msats,
        expiry: Duration::from_secs(expiry_secs),
        memo: "coffee".to_owned(),
        description_hash: None,
        preimage: None,
    }
}

/// A network on a manual clock with nodes `a` (and `b`) in `tmp`.
fn network(tmp: &TempDir) -> (Arc<SimNetwork>, ManualClock, SimNode, SimNode) {
    let clock = ManualClock::new(T0);
    let net = SimNetwork::with_clock(Arc::new(clock.clone()));
    let a = net.open_node(&tmp.join("a"), config()).unwrap();
    let b = net.open_node(&tmp.join("b"), config()).unwrap();
    (net, clock, a, b)
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn invoice_round_trip() {
    let tmp = TempDir::new();
    let (_net, _clock, a, _b) = network(&tmp);
    let created = a.create_invoice(&request(1_234, 600)).unwrap();
    assert!(
        created.bolt11.starts_with("lnbcrt12340p1"),
        "{}",
        created.bolt11
    );
    let v = VerifiedInvoice::parse(&created.bolt11).unwrap();
    assert_eq!(v.payee_pubkey(), &a.pubkey());
    assert_eq!(v.network(), Network::Regtest);
    assert_eq!(v.amount_msat(), Some(1_234));
    assert_eq!(v.payment_hash(), &created.payment_hash);
    assert_eq!(v.timestamp(), T0);
    assert_eq!(v.expiry_secs(), 600);
    assert_eq!(v.expires_at(), created.expires_at);
    assert_eq!(created.expires_at, T0 + 600);
    assert_eq!(v.min_final_cltv_expiry_delta(), 80);
    assert!(matches!(v.description(), Description::Direct(d) if d == "coffee"));
    assert!(v.features().is_set(8) && v.features().is_set(14));
    assert_eq!(created.add_index, 1);
    assert_eq!(
        a.lookup_invoice(&created.payment_hash).unwrap(),
        Some(InvoiceState::Open)
    );
    assert_eq!(a.lookup_invoice(&[0; 32]).unwrap(), None);

    // A description hash instead of the memo.
    let mut req = request(5, 0);
    req.description_hash = Some([7; 32]);
    let created = a.create_invoice(&req).unwrap();
    let v = VerifiedInvoice::parse(&created.bolt11).unwrap();
    assert_eq!(v.description(), &Description::Hash([7; 32]));
    assert_eq!(v.expiry_secs(), DEFAULT_INVOICE_EXPIRY_SECS);
    assert_eq!(created.add_index, 2);
    assert!(a.create_invoice(&request(0, 60)).is_err());

    let info = a.info().unwrap();
    assert_eq!(info.pubkey, hex::encode(&a.pubkey()));
    assert_eq!(info.invoice_prefix, "lnbcrt");
    assert_eq!(info.network, "regtest");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(tmp.join("a").join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn pay_own_invoice() {
    let tmp = TempDir::new();
    let a = SimNode::open(&tmp.join("solo"), config()).unwrap();
    let inv = a.create_invoice(&request(50_000, 600)).unwrap();
    let paid = a.pay(&inv.bolt11, 0, SEC).unwrap();
    assert_eq!(paid.amount_msat, 50_000);
    assert_eq!(paid.fee_msat, 0);
    assert_eq!(
        <[u8; 32]>::from(Sha256::digest(paid.preimage)),
        inv.payment_hash
    );
    assert_eq!(a.spendable_msat().unwrap(), START);
    assert_eq!(
        a.lookup_invoice(&inv.payment_hash).unwrap(),
        Some(InvoiceState::Settled {
            amt_paid_msat: 50_000,
            preimage: paid.preimage,
            settle_index: 1
        })
    );
    assert_eq!(
        a.lookup_payment(&inv.payment_hash).unwrap(),
        Some(PaymentState::Succeeded(paid.clone()))
    );
    let s = a.settled_since(0, Duration::ZERO).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].payment_hash, inv.payment_hash);
    assert_eq!(a.pay(&inv.bolt11, 0, SEC), Err(NodeError::AlreadyPaid));
}

#[test]
fn pay_between_two_nodes_with_fee() {
    let tmp = TempDir::new();
    let (net, _clock, a, b) = network(&tmp);
    assert_eq!(net.node_ids().len(), 2);
    let inv = b.create_invoice(&request(1_000_000, 600)).unwrap();
    let paid = a.pay(&inv.bolt11, 2_000, SEC).unwrap();
    assert_eq!(paid.fee_msat, 2_000); // 1000 base + 1000 ppm of 1,000,000
    assert_eq!(paid.amount_msat, 1_000_000);
    assert_eq!(a.spendable_msat().unwrap(), START - 1_002_000);
    assert_eq!(b.spendable_msat().unwrap(), START + 1_000_000);
    match b.lookup_invoice(&inv.payment_hash).unwrap() {
        Some(InvoiceState::Settled {
            amt_paid_msat,
            preimage,
            settle_index,
        }) => {
            assert_eq!((amt_paid_msat, settle_index), (1_000_000, 1));
            assert_eq!(preimage, paid.preimage);
        }
        other => panic!("{other:?}"),
    }
    // The payer has no invoice of that hash, the payee no payment.
    assert_eq!(a.lookup_invoice(&inv.payment_hash).unwrap(), None);
    assert_eq!(b.lookup_payment(&inv.payment_hash).unwrap(), None);
    assert!(a.settled_since(0, Duration::ZERO).unwrap().is_empty());

    // Paid exactly once, whoever tries again.
    assert_eq!(a.pay(&inv.bolt11, 10_000, SEC), Err(NodeError::AlreadyPaid));
    assert_eq!(b.pay(&inv.bolt11, 10_000, SEC), Err(NodeError::AlreadyPaid));
    assert_eq!(a.spendable_msat().unwrap(), START - 1_002_000);
    assert_eq!(b.spendable_msat().unwrap(), START + 1_000_000);

    // More than the payer can spend: no route, nothing moves.
    let big = a.create_invoice(&request(START * 3, 600)).unwrap();
    assert_eq!(b.pay(&big.bolt11, u64::MAX, SEC), Err(NodeError::NoRoute));
    assert_eq!(b.lookup_payment(&big.payment_hash).unwrap(), None);
}

#[test]
fn concurrent_payers_pay_once() {
    let tmp = TempDir::new();
    let clock = ManualClock::new(T0);
    let net = SimNetwork::with_clock(Arc::new(clock));
    let slow = SimNodeConfig {
        latency: Duration::from_millis(100),
        ..config()
    };
    let payee = net.open_node(&tmp.join("p"), config()).unwrap();
    let x = Arc::new(net.open_node(&tmp.join("x"), slow.clone()).unwrap());
    let y = Arc::new(net.open_node(&tmp.join("y"), slow).unwrap());
    let inv = payee.create_invoice(&request(1_000, 600)).unwrap();
    let handles: Vec<_> = [Arc::clone(&x), Arc::clone(&y)]
        .into_iter()
        .map(|n| {
            let bolt11 = inv.bolt11.clone();
            thread::spawn(move || n.pay(&bolt11, 10_000, SEC))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results.contains(&Err(NodeError::AlreadyPaid)));
    assert_eq!(payee.spendable_msat().unwrap(), START + 1_000);
    let total = x.spendable_msat().unwrap() + y.spendable_msat().unwrap();
    assert_eq!(total, 2 * START - 1_000 - 1_001);
}

#[test]
fn expired_invoice_cannot_be_paid() {
    let tmp = TempDir::new();
    let (_net, clock, a, b) = network(&tmp);
    let inv = b.create_invoice(&request(1_000, 60)).unwrap();
    clock.advance(59);
    assert_eq!(
        b.lookup_invoice(&inv.payment_hash).unwrap(),
        Some(InvoiceState::Open)
    );
    clock.advance(1);
    assert_eq!(a.pay(&inv.bolt11, 10_000, SEC), Err(NodeError::Expired));
    assert_eq!(b.pay(&inv.bolt11, 10_000, SEC), Err(NodeError::Expired));
    assert_eq!(
        b.lookup_invoice(&inv.payment_hash).unwrap(),
        Some(InvoiceState::Cancelled)
    );
    assert_eq!(a.spendable_msat().unwrap(), START);

    // Cancelled before its expiry: not payable either.
    let inv = b.create_invoice(&request(1_000, 600)).unwrap();
    b.cancel_invoice(&inv.payment_hash).unwrap();
    assert!(matches!(
        a.pay(&inv.bolt11, 10_000, SEC),
        Err(NodeError::Other(_))
    ));
    assert_eq!(
        b.lookup_invoice(&inv.payment_hash).unwrap(),
        Some(InvoiceState::Cancelled)
    );
    assert!(b.cancel_invoice(&[9; 32]).is_err());
}

#[test]
fn unknown_and_invalid_invoices() {
    let tmp = TempDir::new();
    let (_net, _clock, a, _b) = network(&tmp);
    // An invoice of a node on another network: nobody here knows it.
    let stranger = SimNode::open(&tmp.join("stranger"), config()).unwrap();
    let inv = stranger.create_invoice(&request(1_000, 600)).unwrap();
    assert_eq!(a.pay(&inv.bolt11, 10_000, SEC), Err(NodeError::NoRoute));
    assert_eq!(a.lookup_payment(&inv.payment_hash).unwrap(), None);
    assert_eq!(a.spendable_msat().unwrap(), START);

    // Amount-less, mainnet, garbage: invalid.
    let key = SecretKey::from_slice(&[1; 32]).unwrap();
    let secp = Secp256k1::signing_only();
    let sign = |h: &[u8; 32]| {
        let (id, rs) = secp
            .sign_ecdsa_recoverable(&Message::from_digest(*h), &key)
            .serialize_compact();
        (rs, id.to_i32() as u8)
    };
    let mut fields = UnsignedInvoice::new(
        Network::Regtest,
        T0,
        [1; 32],
        [2; 32],
        DescriptionRef::Direct("x"),
    );
    let no_amount = fields.to_signed_string(sign).unwrap();
    assert!(matches!(
        a.pay(&no_amount, 10_000, SEC),
        Err(NodeError::InvalidInvoice(_))
    ));
    fields.network = Network::Bitcoin;
    fields.amount_msat = NonZeroU64::new(1_000);
    let mainnet = fields.to_signed_string(sign).unwrap();
    assert!(matches!(
        a.pay(&mainnet, 10_000, SEC),
        Err(NodeError::InvalidInvoice(_))
    ));
    assert!(matches!(
        a.pay("lnbcrt1garbage", 10_000, SEC),
        Err(NodeError::InvalidInvoice(_))
    ));
}

#[test]
fn fee_limit() {
    let tmp = TempDir::new();
    let (_net, _clock, a, b) = network(&tmp);
    let inv = b.create_invoice(&request(1_000_000, 600)).unwrap();
    assert_eq!(
        a.pay(&inv.bolt11, 1_999, SEC),
        Err(NodeError::FeeLimitExceeded)
    );
    assert_eq!(a.lookup_payment(&inv.payment_hash).unwrap(), None);
    assert_eq!(a.spendable_msat().unwrap(), START);
    assert_eq!(
        b.lookup_invoice(&inv.payment_hash).unwrap(),
        Some(InvoiceState::Open)
    );
    assert_eq!(a.pay(&inv.bolt11, 2_000, SEC).unwrap().fee_msat, 2_000);
}

#[test]
fn timeout_shorter_than_latency() {
    let tmp = TempDir::new();
    let net = SimNetwork::with_clock(Arc::new(ManualClock::new(T0)));
    let slow = SimNodeConfig {
        latency: Duration::from_millis(300),
        ..config()
    };
    let a = net.open_node(&tmp.join("a"), slow).unwrap();
    let b = net.open_node(&tmp.join("b"), config()).unwrap();
    let inv = b.create_invoice(&request(1_000, 600)).unwrap();
    let started = Instant::now();
    assert_eq!(
        a.pay(&inv.bolt11, 10_000, Duration::from_millis(50)),
        Err(NodeError::Timeout)
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(took < Duration::from_millis(300), "{took:?}");
    assert_eq!(a.spendable_msat().unwrap(), START);
    assert_eq!(b.spendable_msat().unwrap(), START);
    assert_eq!(
        b.lookup_invoice(&inv.payment_hash).unwrap(),
        Some(InvoiceState::Open)
    );
    assert_eq!(
        a.lookup_payment(&inv.payment_hash).unwrap(),
        Some(PaymentState::Failed(NodeError::Timeout))
    );
    // A retry with time enough goes through, once.
    let started = Instant::now();
    let paid = a.pay(&inv.bolt11, 10_000, SEC).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(a.spendable_msat().unwrap(), START - 1_000 - paid.fee_msat);
    assert_eq!(
        a.lookup_payment(&inv.payment_hash).unwrap(),
        Some(PaymentState::Succeeded(paid))
    );
}

#[test]
fn settled_since_resumes_and_wakes() {
    let tmp = TempDir::new();
    let (_net, _clock, a, b) = network(&tmp);
    let b = Arc::new(b);
    let invs: Vec<_> = (1..=4)
        .map(|i| b.create_invoice(&request(i * 1_000, 600)).unwrap())
        .collect();
    a.pay(&invs[0].bolt11, 10_000, SEC).unwrap();
    a.pay(&invs[1].bolt11, 10_000, SEC).unwrap();

    let all = b.settled_since(0, Duration::ZERO).unwrap();
    let idx: Vec<u64> = all.iter().map(|s| s.settle_index).collect();
    assert_eq!(idx, [1, 2]);
    assert_eq!(all[0].payment_hash, invs[0].payment_hash);
    assert_eq!(all[1].amt_paid_msat, 2_000);
    let rest = b.settled_since(1, Duration::ZERO).unwrap();
    assert_eq!(rest, all[1..]);
    let started = Instant::now();
    assert!(b
        .settled_since(2, Duration::from_millis(50))
        .unwrap()
        .is_empty());
    assert!(started.elapsed() >= Duration::from_millis(50));

    // A waiting thread wakes on the next settlement and gets exactly it.
    let waiter = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            let started = Instant::now();
            let got = b.settled_since(2, Duration::from_secs(10)).unwrap();
            (got, started.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(100));
    a.pay(&invs[2].bolt11, 10_000, SEC).unwrap();
    let (got, waited) = waiter.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].settle_index, 3);
    assert_eq!(got[0].payment_hash, invs[2].payment_hash);
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // Resuming from each index processed sees every settlement exactly once.
    b.pay(&invs[3].bolt11, 0, SEC).unwrap();
    let mut seen = Vec::new();
    let mut last = 0;
    loop {
        let batch = b.settled_since(last, Duration::ZERO).unwrap();
        let Some(first) = batch.first() else { break };
        seen.push(first.settle_index);
        last = first.settle_index;
    }
    assert_eq!(seen, [1, 2, 3, 4]);
}

#[test]
fn restart_keeps_key_and_paid_state() {
    let tmp = TempDir::new();
    let (a_id, b_id, inv, paid, open) = {
        let (_net, _clock, a, b) = network(&tmp);
        let inv = b.create_invoice(&request(3_000, 600)).unwrap();
        let paid = a.pay(&inv.bolt11, 10_000, SEC).unwrap();
        let open = b.create_invoice(&request(4_000, 600)).unwrap();
        (a.pubkey(), b.pubkey(), inv, paid, open)
    };
    // Same network object, or a new one: both work; a node is on one network at a time.
    let clock = ManualClock::new(T0 + 10);
    let net = SimNetwork::with_clock(Arc::new(clock));
    let changed = SimNodeConfig {
        starting_balance_msat: 1,
        ..config()
    };
    let a = net.open_node(&tmp.join("a"), changed.clone()).unwrap();
    assert!(matches!(
        net.open_node(&tmp.join("a"), changed.clone()),
        Err(SimNodeError::AlreadyOpen { .. })
    ));
    let b = net.open_node(&tmp.join("b"), changed).unwrap();
    assert_eq!((a.pubkey(), b.pubkey()), (a_id, b_id));
    assert_eq!(a.spendable_msat().unwrap(), START - 3_000 - paid.fee_msat);
    assert_eq!(b.spendable_msat().unwrap(), START + 3_000);
    assert_eq!(a.pay(&inv.bolt11, 10_000, SEC), Err(NodeError::AlreadyPaid));
    assert_eq!(
        a.lookup_payment(&inv.payment_hash).unwrap(),
        Some(PaymentState::Succeeded(paid))
    );
    assert!(matches!(
        b.lookup_invoice(&inv.payment_hash).unwrap(),
        Some(InvoiceState::Settled {
            settle_index: 1,
            ..
        })
    ));
    // The open invoice is still payable, and settle and add indexes continue.
    a.pay(&open.bolt11, 10_000, SEC).unwrap();
    let s = b.settled_since(1, Duration::ZERO).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].settle_index, 2);
    assert_eq!(b.create_invoice(&request(1, 60)).unwrap().add_index, 3);
}

#[test]
fn crash_leftovers_are_resolved() {
    let tmp = TempDir::new();
    let (open, settled) = {
        let (_net, _clock, a, b) = network(&tmp);
        let open = b.create_invoice(&request(1_000, 600)).unwrap();
        let settled = b.create_invoice(&request(2_000, 600)).unwrap();
        // A crash after `a` logged both payments, and after `b` settled the second one.
        let mut net = a.net.lock().unwrap();
        let started = |h: &PaymentHash| Record::PayStarted {
            hash: hex::encode(h),
            payee: hex::encode(&b.pubkey()),
            amount_msat: if *h == open.payment_hash {
                1_000
            } else {
                2_000
            },
            fee_msat: 5,
        };
        let an = net.nodes.get_mut(&a.pubkey()).unwrap();
        an.log.append(&started(&open.payment_hash)).unwrap();
        an.log.append(&started(&settled.payment_hash)).unwrap();
        let bn = net.nodes.get_mut(&b.pubkey()).unwrap();
        bn.log
            .append(&Record::Settled {
                hash: hex::encode(&settled.payment_hash),
                amt_paid_msat: 2_000,
                settle_index: 1,
                payer: hex::encode(&a.pubkey()),
                settled_at: None,
            })
            .unwrap();
        drop(net);
        (open, settled)
    };
    // And a torn last line.
    let mut log = OpenOptions::new()
        .append(true)
        .open(tmp.join("a").join(LOG_FILE))
        .unwrap();
    log.write_all(b"{\"k\":\"pay_fa").unwrap();
    drop(log);

    let net = SimNetwork::with_clock(Arc::new(ManualClock::new(T0)));
    let a = net.open_node(&tmp.join("a"), config()).unwrap();
    // The payee is not back yet: still in flight, the money reserved.
    assert_eq!(
        a.lookup_payment(&open.payment_hash).unwrap(),
        Some(PaymentState::InFlight)
    );
    assert_eq!(a.spendable_msat().unwrap(), START - 3_010);
    let b = net.open_node(&tmp.join("b"), config()).unwrap();
    assert!(matches!(
        a.lookup_payment(&open.payment_hash).unwrap(),
        Some(PaymentState::Failed(_))
    ));
    match a.lookup_payment(&settled.payment_hash).unwrap() {
        Some(PaymentState::Succeeded(p)) => {
            assert_eq!(
                <[u8; 32]>::from(Sha256::digest(p.preimage)),
                settled.payment_hash
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.spendable_msat().unwrap(), START - 2_005);
    assert_eq!(b.spendable_msat().unwrap(), START + 2_000);
    // The interrupted one can be paid again; the settled one not.
    a.pay(&open.bolt11, 10_000, SEC).unwrap();
    assert_eq!(
        a.pay(&settled.bolt11, 10_000, SEC),
        Err(NodeError::AlreadyPaid)
    );
    // The torn line was cut off; the log replays cleanly again.
    drop((a, b));
    let net = SimNetwork::with_clock(Arc::new(ManualClock::new(T0)));
    let a = net.open_node(&tmp.join("a"), config()).unwrap();
    assert_eq!(
        a.spendable_msat().unwrap(),
        START - 2_005 - 1_000 - config().fee_msat(1_000)
    );
}

#[test]
fn corrupt_files_are_refused() {
    let tmp = TempDir::new();
    let dir = tmp.join("n");
    drop(SimNode::open(&dir, config()).unwrap());
    let log = dir.join(LOG_FILE);
    let good = fs::read(&log).unwrap();
    let mut bad = b"not json\n".to_vec();
    bad.extend_from_slice(&good);
    fs::write(&log, &bad).unwrap();
    assert!(matches!(
        SimNode::open(&dir, config()),
        Err(SimNodeError::Corrupt { line: 1, .. })
    ));
    fs::write(&log, &good).unwrap();
    fs::write(dir.join(KEY_FILE), "zz\n").unwrap();
    assert!(matches!(
        SimNode::open(&dir, config()),
        Err(SimNodeError::Corrupt { .. })
    ));
    // Another key: the log is not this node's.
    fs::write(dir.join(KEY_FILE), format!("{}\n", "11".repeat(32))).unwrap();
    let err = SimNode::open(&dir, config()).unwrap_err();
    assert!(err.to_string().contains("not of this node's key"), "{err}");
}

#[test]
fn an_invoice_uses_the_callers_preimage() {
    let tmp = TempDir::new();
    let (_net, _clock, a, _b) = network(&tmp);
    let preimage = [0x42; 32];
    let inv = a
        .create_invoice(&InvoiceRequest {
            preimage: Some(preimage),
            ..request(5_000, 600)
        })
        .unwrap();
    assert_eq!(inv.payment_hash, <[u8; 32]>::from(Sha256::digest(preimage)));
    let paid = a.pay(&inv.bolt11, 10_000, Duration::from_secs(5)).unwrap();
    assert_eq!(paid.preimage, preimage);
}
