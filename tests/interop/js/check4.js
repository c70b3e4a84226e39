// Check 4: the WASM consumer (host/src/web/pkg) -> relay -> the reference ProviderStack app
// (provider.js, backed by a terminus account); and the other way round, the reference
// ConsumerStack -> relay -> the WASM Provider.
'use strict';
const fs = require('fs');
const path = require('path');
const { emit, deadline, tapFrames, frameCounts } = require('./lib.js');
const h = require('./harness.js');
const { JsProviderApp } = require('./provider.js');
const { Results } = require('./results.js');

const PKG = process.env.WASM_PKG ||
    path.resolve(__dirname, '../../../host/src/web/pkg');

/** A WASM session whose events are queued (as transports/wasm/tests/node/consumer.mjs). */
function session(Make, beaconStr) {
    const events = [];
    const waiters = [];
    const s = new Make(beaconStr, {
        on_event(e) {
            events.push(e);
            for (const w of waiters.splice(0)) {
                if (!tryResolve(w)) {
                    waiters.push(w);
                }
            }
        },
    });
    function tryResolve(w) {
        const i = events.findIndex((e, k) => k >= w.from && w.pred(e));
        if (i < 0) {
            return false;
        }
        clearTimeout(w.t);
        w.resolve(events[i]);
        return true;
    }
    s.events = events;
    s.wait = (pred, secs = 20, from = 0, what = '') => new Promise((resolve, reject) => {
        const w = { pred, from, resolve };
        if (tryResolve(w)) {
            return;
        }
        w.t = setTimeout(() => reject(new Error(`wasm: no ${what} within ${secs}s; last: ` +
            JSON.stringify(events.slice(-4), (k, v) => (typeof v === 'bigint' ? `${v}n` : v)))),
                         secs * 1000);
        waiters.push(w);
    });
    return s;
}

async function main() {
    deadline(240);
    tapFrames();
    const R = new Results('4');
    const wasm = await import(path.join(PKG, 'moneysocket_wasm.js'));
    wasm.initSync({ module: fs.readFileSync(path.join(PKG, 'moneysocket_wasm_bg.wasm')) });

    const relay = await h.startRelay();
    const t = await h.startTerminus();
    t.cli('create', '50000sat', '-a', 'jsapp');
    t.cli('create', '100000sat', '-a', 'other');
    const backing = h.newBeacon(relay.url);
    t.cli('connect', 'jsapp-0', backing);
    const otherB = h.newBeacon(relay.url);
    t.cli('connect', 'other-0', otherB);
    const other = new h.JsConsumer('other');
    other.connect(otherB);
    await other.wait((e) => e.event === 'provider', 30, 0, 'other provider info');

    // 4a: WASM Consumer -> JS provider (not ready for 2 s first)
    const pBeacon = h.newBeacon(relay.url);
    const app = new JsProviderApp(backing, { notReadyMs: 2000 });
    app.serve(pBeacon);
    const c = session(wasm.Consumer, pBeacon);
    const info = await c.wait((e) => e.type === 'provider', 30, 0, 'provider');
    R.check('4a WASM provider info from the JS provider (after provider_not_ready)',
            info.msats === 50000000n && c.events.some((e) => e.type === 'provider_not_ready'),
            { msats: String(info.msats), account_uuid: info.account_uuid });
    let from = c.events.length;
    let rq = c.request_invoice(4321000n);
    const inv = await c.wait((e) => (e.type === 'invoice' || e.type === 'error') &&
                             e.request === rq, 20, from, 'invoice');
    R.check('4b WASM request_invoice(4321000n) → invoice of that amount',
            inv.type === 'invoice' && wasm.bolt11_msats(inv.bolt11) === 4321000n,
            { type: inv.type, bolt11: inv.bolt11 });
    const target = await other.invoice(2500000);
    from = c.events.length;
    rq = c.pay(target.bolt11);
    const pre = await c.wait((e) => (e.type === 'preimage' || e.type === 'error') &&
                             e.request === rq, 30, from, 'preimage');
    const bal = await c.wait((e) => e.type === 'provider' && e.msats === 47500000n, 15, from,
                             'balance update');
    R.check('4c WASM pay within the balance → preimage + provider',
            pre.type === 'preimage' && !!bal, { pre: pre.type, msats: String(bal.msats) });
    const big = await other.invoice(90000000);
    from = c.events.length;
    rq = c.pay(big.bolt11);
    const err = await c.wait((e) => (e.type === 'preimage' || e.type === 'error') &&
                             e.request === rq, 30, from, 'error');
    R.check('4d WASM pay above the balance → error with the request uuid',
            err.type === 'error' && /insufficent account balance/.test(err.message),
            { type: err.type, message: err.message });
    const pong = await c.wait((e) => e.type === 'pong', 15, 0, 'pong');
    R.check('4e WASM pings, the JS provider pongs', pong.rtt_ms >= 0, { rtt_ms: pong.rtt_ms });
    c.close();
    app.stop();

    // 4f: JS ConsumerStack -> WASM Provider
    const b2 = h.newBeacon(relay.url);
    const p = session(wasm.Provider, b2);
    const acct = wasm.uuid_new();
    p.set_provider_info(acct, true, true, 123456n);
    const js = new h.JsConsumer('js-to-wasm');
    js.connect(b2);
    const jinfo = await js.wait((e) => e.event === 'provider', 30, 0, 'provider');
    const ask = js.invoice(1000);
    const ir = await p.wait((e) => e.type === 'invoice_request', 15, 0, 'invoice_request');
    p.send_invoice(ir.request, target.bolt11);
    const jinv = await ask;
    const payAsk = js.pay(target.bolt11);
    const pr = await p.wait((e) => e.type === 'pay_request', 15, 0, 'pay_request');
    p.send_error(pr.request, 'no thanks');
    const jerr = await payAsk;
    R.check('4f JS ConsumerStack → WASM Provider: info, invoice, refusal',
            jinfo.info.wad.msats === 123456 && jinfo.info.account_uuid === acct &&
            ir.msats === 1000n && jinv.bolt11 === target.bolt11 &&
            jerr.event === 'error' && jerr.error_msg === 'no thanks',
            { wad: jinfo.info.wad, error: jerr.error_msg });
    js.disconnect();
    p.close();
    other.disconnect();
    emit({ event: 'frames', counts: frameCounts });
    emit({ event: 'terminus_check', check: t.cli('check') });
    await t.child.kill();
    await relay.child.kill();
    R.done();
}

main().catch((e) => { emit({ event: 'fatal', err: String(e.stack || e) }); process.exit(1); });
