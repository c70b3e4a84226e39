// Check 1: JS ConsumerStack -> our relay -> our terminus (accounts connected to the relay).
'use strict';
const { emit, deadline, tapFrames } = require('./lib.js');
const h = require('./harness.js');
const { Results } = require('./results.js');

async function main() {
    deadline(240);
    tapFrames();
    const R = new Results('1');
    const relay = await h.startRelay();
    const t = await h.startTerminus();
    t.cli('create', '100000sat', '-a', 'buyer');
    t.cli('create', '0', '-a', 'seller');
    const bBeacon = h.newBeacon(relay.url);
    const sBeacon = h.newBeacon(relay.url);
    t.cli('connect', 'buyer-0', bBeacon);
    t.cli('connect', 'seller-0', sBeacon);

    const buyer = new h.JsConsumer('buyer');
    const seller = new h.JsConsumer('seller');
    buyer.connect(bBeacon);
    seller.connect(sBeacon);

    const bInfo = await buyer.wait((e) => e.event === 'provider', 30, 0, 'provider info');
    R.check('1a provider info (balance)', bInfo.info.wad && bInfo.info.wad.msats === 100000000 &&
            bInfo.info.payer === true && bInfo.info.payee === true, bInfo.info);
    await seller.wait((e) => e.event === 'provider', 30, 0, 'seller provider info');

    const inv = await seller.invoice(7000);
    R.check('1b invoice 7,000 msat', inv.event === 'invoice' && /^lnbcrt70n1/.test(inv.bolt11),
            inv);

    const bFrom = buyer.mark();
    const sFrom = seller.mark();
    const paid = await buyer.pay(inv.bolt11);
    R.check('1c pay another account\'s invoice: preimage', paid.event === 'preimage' &&
            /^[0-9a-f]{64}$/.test(paid.preimage), paid);
    const bBal = await buyer.wait((e) => e.event === 'provider' &&
                                  e.info.wad.msats === 100000000 - 7000, 10, bFrom,
                                  'buyer balance update');
    const sPre = await seller.wait((e) => e.event === 'preimage', 10, sFrom, 'seller preimage');
    const sBal = await seller.wait((e) => e.event === 'provider' && e.info.wad.msats === 7000,
                                   10, sFrom, 'seller balance update');
    R.check('1d balances after pay (buyer −7,000, seller preimage ref null, +7,000)',
            sPre.ref === null && sPre.preimage === paid.preimage && !!bBal && !!sBal,
            { seller_preimage: sPre, buyer_balance: bBal.info.wad.msats });

    const big = await seller.invoice(200000000);
    const refused = await buyer.pay(big.bolt11);
    R.check('1e pay above the balance → NOTIFY_ERROR with the request uuid',
            refused.event === 'error' && refused.ref === refused.request_uuid &&
            typeof refused.error_msg === 'string', refused);

    // bad requests a JS app can send (the library does not check what it sends)
    const bad = await buyer.pay('lnbc1notaninvoice');
    R.check('1i pay of a malformed bolt11 → NOTIFY_ERROR (string)', bad.event === 'error' &&
            bad.ref === bad.request_uuid, bad);
    const again = await buyer.pay(inv.bolt11);
    R.check('1j pay of an invoice already paid → NOTIFY_ERROR', again.event === 'error', again);
    for (const [name, msats] of [['0', 0], ['1500.5 (float)', 1500.5]]) {
        const r = await buyer.invoice(msats, 5).catch((e) => ({ event: 'no answer',
                                                                err: e.message }));
        R.note(`1k requestInvoice(${name}): what the JS app sees`, r.event,
               { error_msg: r.error_msg });
    }
    const still = await buyer.invoice(1000);
    R.check('1l the session survives the bad requests', still.event === 'invoice', still.event);

    const pong = await buyer.wait((e) => e.event === 'pong', 10, 0, 'pong');
    R.check('1f REQUEST_PING → NOTIFY_PONG (library pings every 3 s)', pong.msecs >= 0, pong);

    // Relay restart on the same port: what does the library do?
    const rFrom = buyer.mark();
    await relay.child.kill();
    const rev = await buyer.wait((e) => e.event === 'revoke', 10, rFrom, 'revoke');
    const relay2 = await h.startRelay(relay.port);
    let redialed = null;
    try {
        redialed = await buyer.wait((e) => e.event === 'provider', 15, rFrom, 'redial');
    } catch (_) { /* the library does not redial */ }
    R.note('1g relay restart: library redials by itself', redialed !== null,
           { revoke: !!rev, redialed: !!redialed });
    // The app redials (doConnect again); the terminus redials the relay with backoff.
    const aFrom = buyer.mark();
    buyer.connect(bBeacon);
    const back = await buyer.wait((e) => e.event === 'provider', 60, aFrom,
                                  'provider after app redial');
    const inv2 = await seller.invoice(1000).catch((e) => ({ event: 'none', err: e.message }));
    R.check('1h after relay restart + app redial: provider info, buyer served again',
            back.info.wad.msats === 100000000 - 7000, { balance: back.info.wad.msats,
                                                          seller_without_redial: inv2.event });
    // the app leaves and comes back: the terminus's connect session redials the relay
    buyer.disconnect();
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const cFrom = buyer.mark();
    buyer.connect(bBeacon);
    await buyer.wait((e) => e.event === 'provider', 60, cFrom, 'provider after reconnect');
    R.check('1m app disconnects and reconnects: served again', true,
            { ms_to_provider_info: Date.now() - t0 });
    // directly at the terminus's own listener (terminus-cli listen)
    const direct = new h.JsConsumer('direct');
    direct.connect(t.cli('listen', 'buyer-0').beacon);
    const dInfo = await direct.wait((e) => e.event === 'provider', 30, 0, 'direct provider');
    const dInv = await direct.invoice(5000);
    R.check('1n JS consumer at the terminus listener (no relay): info, invoice',
            dInfo.info.wad.msats === 100000000 - 7000 && dInv.event === 'invoice',
            { msats: dInfo.info.wad.msats, invoice: dInv.event });
    direct.disconnect();
    buyer.disconnect();
    seller.disconnect();
    emit({ event: 'terminus_check', check: t.cli('check') });
    await relay2.child.kill();
    await t.child.kill();
    R.done();
}

main().catch((e) => { emit({ event: 'fatal', err: String(e.stack || e) }); process.exit(1); });
