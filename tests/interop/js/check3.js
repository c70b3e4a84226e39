// Check 3: `moneysocket consumer` (our client crate) -> relay -> the reference ProviderStack
// (provider.js, backed by a terminus account so that invoices and pays are real).
'use strict';
const { emit, deadline, tapFrames, frameCounts } = require('./lib.js');
const h = require('./harness.js');
const { JsProviderApp } = require('./provider.js');
const { Results } = require('./results.js');

async function consumer(beaconStr, ...args) {
    const r = await h.runAsync(['consumer', '--timeout', '20', beaconStr, ...args], 60);
    let json = null;
    try { json = JSON.parse(r.stdout); } catch (_) { /* not JSON */ }
    return { code: r.code, json, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

async function main() {
    deadline(300);
    tapFrames();
    const R = new Results('3');
    const relay = await h.startRelay();
    const t = await h.startTerminus();
    t.cli('create', '50000sat', '-a', 'jsapp');
    t.cli('create', '100000sat', '-a', 'other');
    const backing = h.newBeacon(relay.url);
    t.cli('connect', 'jsapp-0', backing);
    const other = t.cli('listen', 'other-0').beacon;

    const pBeacon = h.newBeacon(relay.url);
    const app = new JsProviderApp(backing, { notReadyMs: 3000 });
    app.serve(pBeacon);

    const info = await consumer(pBeacon, 'info');
    R.check('3a consumer info (provider NOT_READY for 3 s first)', info.code === 0 &&
            info.json && info.json.balance_msats === 50000000 &&
            frameCounts.out.NOTIFY_PROVIDER_NOT_READY >= 1,
            { info: info.json, not_ready_sent: frameCounts.out.NOTIFY_PROVIDER_NOT_READY });

    const inv = await consumer(pBeacon, 'invoice', '12345sat');
    R.check('3b consumer invoice 12345sat', inv.code === 0 && inv.json &&
            inv.json.msats === 12345000 && /^lnbcrt/.test(inv.json.bolt11), inv);

    const inv2 = await consumer(pBeacon, 'invoice', '777');
    R.check('3c consumer invoice 777 msat (the terminus makes exact-msat invoices)',
            inv2.code === 0 && inv2.json && inv2.json.msats === 777, inv2);

    const target = await consumer(other, 'invoice', '3000sat');
    const paid = await consumer(pBeacon, 'pay', target.json.bolt11);
    R.check('3d consumer pay 3,000 sat (preimage checked against the hash)',
            paid.code === 0 && paid.json && /^[0-9a-f]{64}$/.test(paid.json.preimage), paid);

    const big = await consumer(other, 'invoice', '60000sat');
    const refused = await consumer(pBeacon, 'pay', big.json.bolt11);
    R.check('3e consumer pay above the balance → exit 1, the provider\'s text',
            refused.code === 1 && /insufficent account balance/.test(refused.stderr), refused);

    // watch: the JS app's account is paid; the app passes NOTIFY_PREIMAGE (ref null) and the
    // new balance (NOTIFY_PROVIDER with its stale request_reference_uuid) upstream.
    const w = new h.Child(['consumer', pBeacon, 'watch'], 'watch');
    await w.waitLine(/"provider"/, 30);
    const from = w.lines.length;
    const own = await app.backing.invoice(4000000);
    const payer = await consumer(other, 'pay', own.bolt11);
    const pre = await w.waitLine(/preimage/, 20, from).catch((e) => e.message);
    const bal = await w.waitLine(/51000000/, 20, from).catch((e) => e.message);
    R.check('3f consumer watch: preimage then provider (47,000,000 + 4,000,000 msat)',
            payer.code === 0 && /preimage/.test(pre) && /51000000/.test(bal),
            { pre, bal, lines: w.lines.slice(from) });
    await w.kill('SIGINT');

    // 3h: the wallet between a JS consumer (upstream) and the JS provider (downstream)
    const wal = new h.Child(['wallet', '--no-qr', '--downstream', pBeacon, '--listen',
                             '127.0.0.1:0', '--allowance', '10000sat', '--data-dir',
                             h.tmpdir('wallet')], 'wallet');
    const wline = await wal.waitLine(/upstream beacon: moneysocket1/, 30);
    const jsc = new h.JsConsumer('js-via-wallet');
    jsc.connect(wline.split('upstream beacon: ')[1].trim());
    const winfo = await jsc.wait((e) => e.event === 'provider', 30, 0, 'wallet provider');
    const winv = await jsc.invoice(2000);
    const t2 = await consumer(other, 'invoice', '1000sat');
    const pFrom = jsc.mark();
    const wpaid = await jsc.pay(t2.json.bolt11);
    // The JS app sends the new balance before the preimage; the wallet takes the fee from
    // that balance once no update follows (10 s): 0 for this internal transfer, so
    // 9,000,000 msat left (the whole 10 sat reserve counted before the fix: 8,990,000).
    const left = await jsc.wait((e) => e.event === 'provider' && e.info.wad.msats === 9000000,
                                30, pFrom, 'allowance left without the reserve')
        .then((e) => e.info.wad.msats).catch(() => null);
    const t3 = await consumer(other, 'invoice', '9500sat');
    const wref = await jsc.pay(t3.json.bolt11);
    R.check('3h JS consumer → wallet → JS provider: allowance advertised, invoice, pay, refusal',
            winfo.info.wad.msats === 10000000 && winv.event === 'invoice' &&
            wpaid.event === 'preimage' && wref.event === 'error' &&
            /allowance exceeded/.test(wref.error_msg),
            { info: winfo.info.wad.msats, invoice: winv.event, pay: wpaid.event,
              refusal: wref.error_msg });
    R.check('3i the wallet counts the fee the JS provider\'s balance shows (0), not the reserve',
            left === 9000000, { left });
    jsc.disconnect();
    await wal.kill();
    R.note('3g provider redials after each consumer (the library does not)', app.connects,
           { requests: app.requests.length });
    emit({ event: 'frames', counts: frameCounts });
    app.stop();
    emit({ event: 'terminus_check', check: t.cli('check') });
    await t.child.kill();
    await relay.child.kill();
    R.done();
}

main().catch((e) => { emit({ event: 'fatal', err: String(e.stack || e) }); process.exit(1); });
