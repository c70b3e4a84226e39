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
    const again = await buyer.wait((e) => e.event === 'provider', 60, aFrom,
                                   'provider after app redial');
    const inv2 = await seller.invoice(1000).catch((e) => ({ event: 'none', err: e.message }));
    R.check('1h after relay restart + app redial: provider info, buyer served again',
            again.info.wad.msats === 100000000 - 7000, { balance: again.info.wad.msats,
                                                          seller_without_redial: inv2.event });
    buyer.disconnect();
    seller.disconnect();
    emit({ event: 'terminus_check', check: t.cli('check') });
    await relay2.child.kill();
    await t.child.kill();
    R.done();
}

main().catch((e) => { emit({ event: 'fatal', err: String(e.stack || e) }); process.exit(1); });
