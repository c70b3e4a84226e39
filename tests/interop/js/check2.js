// Check 2: JS ConsumerStack -> `moneysocket wallet` (--listen, then --upstream via the relay)
// -> terminus account. The allowance must be enforced and the refusal readable on the JS side.
'use strict';
const { emit, deadline, tapFrames, frameCounts } = require('./lib.js');
const h = require('./harness.js');
const { Results } = require('./results.js');

async function wallet(args, tag) {
    const w = new h.Child(['wallet', '--no-qr', ...args], tag);
    const line = await w.waitLine(/upstream beacon: moneysocket1/, 30).catch(() => null);
    return { child: w, beacon: line ? line.split('upstream beacon: ')[1].trim() : null };
}

async function session(R, tag, app, seller, allowanceMsat) {
    const info = await app.wait((e) => e.event === 'provider', 30, 0, 'wallet provider info');
    R.check(`${tag} provider info: the allowance`, info.info.wad.msats === allowanceMsat,
            info.info);
    const inv = await app.invoice(9000);
    R.check(`${tag} invoice 9,000 msat through the wallet`,
            inv.event === 'invoice' && /^lnbcrt90n1/.test(inv.bolt11), inv);
    const sInv = await seller.invoice(4000000);
    const from = app.mark();
    const paid = await app.pay(sInv.bolt11);
    const adv = await app.wait((e) => e.event === 'provider' &&
                               e.info.wad.msats === allowanceMsat - 4000000, 15, from,
                               'allowance left advertised');
    R.check(`${tag} pay 4,000 sat within the allowance → preimage, allowance left advertised`,
            paid.event === 'preimage' && !!adv, { paid, left: adv.info.wad.msats });
    const big = await seller.invoice(allowanceMsat);
    const refused = await app.pay(big.bolt11);
    R.check(`${tag} pay above what is left → NOTIFY_ERROR (string) with the request uuid`,
            refused.event === 'error' && refused.ref === refused.request_uuid &&
            typeof refused.error_msg === 'string' && /allowance/.test(refused.error_msg),
            refused);
    const pong = await app.wait((e) => e.event === 'pong', 10, 0, 'pong');
    R.check(`${tag} ping/pong through the wallet`, pong.msecs >= 0, pong);
}

async function main() {
    deadline(300);
    tapFrames();
    const R = new Results('2');
    const relay = await h.startRelay();
    const t = await h.startTerminus();
    t.cli('create', '100000sat', '-a', 'buyer');
    t.cli('create', '0', '-a', 'seller');
    const sBeacon = h.newBeacon(relay.url);
    t.cli('connect', 'seller-0', sBeacon);
    const seller = new h.JsConsumer('seller');
    seller.connect(sBeacon);
    await seller.wait((e) => e.event === 'provider', 30, 0, 'seller provider info');

    // 2a: --listen
    const down1 = t.cli('listen', 'buyer-0').beacon;
    const w1 = await wallet(['--downstream', down1, '--listen', '127.0.0.1:0',
                             '--allowance', '20000sat', '--data-dir', h.tmpdir('wallet1')],
                            'wallet-listen');
    R.check('2a wallet --listen printed its beacon', !!w1.beacon, w1.child.lines.slice(-3));
    const app1 = new h.JsConsumer('app-listen');
    app1.connect(w1.beacon);
    await session(R, '2a', app1, seller, 20000000);
    app1.disconnect();
    await w1.child.kill();

    // 2b: --upstream (the wallet dials the relay as the provider of the app's beacon)
    const down2 = t.cli('listen', 'buyer-0').beacon;
    const appBeacon = h.newBeacon(relay.url);
    const w2 = new h.Child(['wallet', '--no-qr', '--downstream', down2, '--upstream', appBeacon,
                            '--allowance', '30000sat', '--data-dir', h.tmpdir('wallet2')],
                           'wallet-upstream');
    const app2 = new h.JsConsumer('app-upstream');
    app2.connect(appBeacon);
    await session(R, '2b', app2, seller, 30000000);
    app2.disconnect();
    await w2.kill();
    // 2c: the downstream account is not served yet: the wallet answers NOT_READY; the
    // library only logs it and waits; the wallet's provider info follows once the account
    // is served (terminus-cli listen with the beacon's seed).
    const listenUrl = t.child.lines.find((l) => l.startsWith('listening at: '))
        .split('listening at: ')[1].trim();
    t.cli('create', '3000sat', '-a', 'late');
    const lateSeed = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
    const lateBeacon = h.run(['beacon', 'encode', '--seed', lateSeed, '--location',
                              listenUrl]).stdout.trim();
    const w3 = await wallet(['--downstream', lateBeacon, '--listen', '127.0.0.1:0',
                             '--allowance', '20000sat', '--data-dir', h.tmpdir('wallet3')],
                            'wallet-late');
    const app3 = new h.JsConsumer('app-late');
    const nr0 = frameCounts.in.NOTIFY_PROVIDER_NOT_READY || 0;
    app3.connect(w3.beacon);
    const until = Date.now() + 15000;
    while ((frameCounts.in.NOTIFY_PROVIDER_NOT_READY || 0) === nr0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
    }
    const sawNotReady = (frameCounts.in.NOTIFY_PROVIDER_NOT_READY || 0) > nr0;
    t.cli('listen', 'late-0', '-s', lateSeed);
    const late = await app3.wait((e) => e.event === 'provider', 40, 0, 'late provider info')
        .catch(() => null);
    R.check('2c wallet NOT_READY until its account is served, then provider info (3,000 sat)',
            sawNotReady && late !== null && late.info.wad.msats === 3000000,
            { sawNotReady, msats: late && late.info.wad.msats });
    app3.disconnect();
    await w3.child.kill();
    seller.disconnect();
    emit({ event: 'terminus_check', check: t.cli('check') });
    await t.child.kill();
    await relay.child.kill();
    R.done();
}

main().catch((e) => { emit({ event: 'fatal', err: String(e.stack || e) }); process.exit(1); });
