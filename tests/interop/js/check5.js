// Check 5: beacons and message shapes, the reference library against our tools:
// JS-encoded beacons decoded by `moneysocket beacon decode` and ours by JS; every message the
// library builds, sealed by the library's codec, opened by `moneysocket frame open`; ours
// sealed by `moneysocket frame seal`, decoded by the library's codec.
'use strict';
const path = require('path');
const { ms, emit, deadline, JSMS } = Object.assign(require('./lib.js'),
                                                   { JSMS: process.env.JSMS });
const h = require('./harness.js');
const { Results } = require('./results.js');

const lib = (p) => require(path.resolve(JSMS, 'moneysocket', p));
const Codec = lib('message/codec.js').MoneysocketCodec;
const M = {
    RequestProvider: lib('message/request/provider.js').RequestProvider,
    RequestPing: lib('message/request/ping.js').RequestPing,
    RequestInvoice: lib('message/request/invoice.js').RequestInvoice,
    RequestPay: lib('message/request/pay.js').RequestPay,
    RequestRendezvous: lib('message/request/rendezvous.js').RequestRendezvous,
    NotifyProvider: lib('message/notification/provider.js').NotifyProvider,
    NotifyProviderNotReady: lib('message/notification/provider_not_ready.js').NotifyProviderNotReady,
    NotifyPong: lib('message/notification/pong.js').NotifyPong,
    NotifyInvoice: lib('message/notification/invoice.js').NotifyInvoice,
    NotifyPreimage: lib('message/notification/preimage.js').NotifyPreimage,
    NotifyError: lib('message/notification/error.js').NotifyError,
    NotifyRendezvous: lib('message/notification/rendezvous.js').NotifyRendezvous,
    NotifyRendezvousNotReady: lib('message/notification/rendezvous_not_ready.js').NotifyRendezvousNotReady,
    NotifyRendezvousEnd: lib('message/notification/rendezvous_end.js').NotifyRendezvousEnd,
};
const Rate = lib('wad/rate.js').Rate;

function jsBeacon(seedHex, locs) {
    const b = new ms.MoneysocketBeacon(new ms.SharedSeed(Buffer.from(seedHex, 'hex')));
    for (const [host, port, tls] of locs) {
        b.addLocation(new ms.WebsocketLocation(host, port, tls));
    }
    return b.toBech32Str();
}

function jsDecode(str) {
    const [b, err] = ms.MoneysocketBeacon.fromBech32Str(str);
    if (err != null) {
        return { err };
    }
    return { seed: Buffer.from(b.shared_seed.seed_bytes).toString('hex'),
             locations: b.locations.map((l) => ({ host: l.host, port: Number(l.port),
                                                  use_tls: l.use_tls })) };
}

const BOLT11 = 'lnbcrt70n1p43xyvlsp5c8m8hr8f7ms2m03tstw5dech0q9j5wpj23sy6mzhn2yyvhz03c9spp530' +
    '4hd5gxmhtlvdxw9amktuqalmh985yz2vt0hez2uhka5en39cjsdqqxqrrsscqzzs9qrsgqhz9u20nhq6trlyww' +
    'naglslv3udnxyk30tfhfc3n8uph8ez74ggjzefzucmyadetngm53f7y07taw780x6l58k4l9sw5uzk9w2xxxgus' +
    'qpq4r6f';

async function main() {
    deadline(120);
    const R = new Results('5');
    const seedHex = '00112233445566778899aabbccddeeff';

    // 5a JS -> ours
    const cases = [
        ['ws, port', [['127.0.0.1', 11060, false]], 'ws://127.0.0.1:11060'],
        ['ws, port 80 (omitted)', [['relay.example', 80, false]], 'ws://relay.example:80'],
        ['wss, 443 (omitted)', [['relay.socket.money', 443, true]], 'wss://relay.socket.money:443'],
        ['wss, other port', [['relay.socket.money', 8443, true]], 'wss://relay.socket.money:8443'],
        ['two locations', [['a.example', 1, false], ['b.example', 65535, true]], null],
        ['no location', [], null],
    ];
    for (const [name, locs] of cases) {
        const str = jsBeacon(seedHex, locs);
        const r = h.run(['beacon', 'decode', str]);
        let ok = r.code === 0;
        let got = null;
        if (ok) {
            got = JSON.parse(r.stdout);
            ok = got.shared_seed === seedHex && got.locations.length === locs.length &&
                got.locations.every((l, i) => l.host === locs[i][0] && l.port === locs[i][1] &&
                                    l.use_tls === locs[i][2]);
        }
        R.check(`5a JS beacon (${name}) decoded by us`, ok, { beacon: str, got, err: r.stderr });
        // and ours of the same seed/locations is byte-identical
        const args = ['beacon', 'encode', '--seed', seedHex];
        for (const [host, port, tls] of locs) {
            args.push('--location', `${tls ? 'wss' : 'ws'}://${host}:${port}`);
        }
        const ours = h.run(args).stdout.trim();
        const oursStr = ours.startsWith('{') ? JSON.parse(ours).beacon : ours;
        R.check(`5b our beacon (${name}) = the JS string; decoded by JS`,
                oursStr === str && JSON.stringify(jsDecode(oursStr).locations) ===
                JSON.stringify(locs.map(([host, port, use_tls]) => ({ host, port, use_tls }))),
                { ours: oursStr, js: jsDecode(oursStr) });
    }

    // 5c every message the JS library builds, sealed by its codec, opened by us
    const seed = new ms.SharedSeed(Buffer.from(seedHex, 'hex'));
    const ref = ms.Uuid.uuidv4();
    const usd = ms.Wad.usd(12.5, new Rate('BTC', 'USD', 40000.0, null));
    const msgs = {
        REQUEST_PROVIDER: new M.RequestProvider(),
        REQUEST_PING: new M.RequestPing(),
        REQUEST_INVOICE: new M.RequestInvoice(7000),
        REQUEST_PAY: new M.RequestPay(BOLT11),
        REQUEST_RENDEZVOUS: new M.RequestRendezvous(seed.deriveRendezvousIdHex()),
        NOTIFY_PROVIDER: new M.NotifyProvider(ms.Uuid.uuidv4(), ref, true, true,
                                              ms.Wad.bitcoin(50000000)),
        NOTIFY_PROVIDER_no_wad: new M.NotifyProvider(ms.Uuid.uuidv4(), null, true, false, null),
        NOTIFY_PROVIDER_NOT_READY: new M.NotifyProviderNotReady(ref),
        NOTIFY_PONG: new M.NotifyPong(ref),
        NOTIFY_INVOICE: new M.NotifyInvoice(BOLT11, ref),
        NOTIFY_PREIMAGE: new M.NotifyPreimage('11'.repeat(32), null, ref),
        NOTIFY_ERROR: new M.NotifyError('insufficent account balance', ref),
        NOTIFY_RENDEZVOUS: new M.NotifyRendezvous(seed.deriveRendezvousIdHex(), ref),
        NOTIFY_RENDEZVOUS_NOT_READY: new M.NotifyRendezvousNotReady(seed.deriveRendezvousIdHex(),
                                                                    ref),
        NOTIFY_RENDEZVOUS_END: new M.NotifyRendezvousEnd(seed.deriveRendezvousIdHex(), ref),
        NOTIFY_PROVIDER_usd_wad: new M.NotifyProvider(ms.Uuid.uuidv4(), ref, true, true, usd),
        REQUEST_INVOICE_float_msats: new M.RequestInvoice(1500.5),
    };
    const recorded = {};
    for (const [name, msg] of Object.entries(msgs)) {
        const bytes = Codec.wireEncode(msg, seed);
        recorded[name] = msg.toJson();
        const r = h.run(['frame', 'open', '--seed', seedHex, Buffer.from(bytes).toString('hex')]);
        // float msats: refused as Python refuses them; NOTIFY_RENDEZVOUS_END: the library's
        // constructor has no reference parameter, so its JSON lacks request_reference_uuid
        // (its own validator rejects it too; no JS peer sends it: there is no JS relay).
        const expectReject = /usd_wad|float_msats|RENDEZVOUS_END/.test(name);
        const ok = expectReject ? r.code !== 0 : r.code === 0;
        R.check(`5c JS ${name} (${msg.cryptLevel()}) opened by us` +
                (expectReject ? ' → refused (as Python and JS do)' : ''), ok,
                { json: msg.toJson(), ours: r.stdout.trim().slice(0, 200),
                  err: r.stderr.trim() });
    }

    // 5d our messages sealed by us, decoded by the JS codec
    for (const [name, json] of Object.entries(recorded)) {
        if (/usd_wad|float_msats|RENDEZVOUS_END/.test(name)) {
            continue;
        }
        const r = h.run(['frame', 'seal', '--seed', seedHex, json]);
        const isClear = /RENDEZVOUS/.test(name);
        const hex = r.stdout.trim();
        const bytes = isClear ? new TextEncoder().encode(json) : Uint8Array.from(
            Buffer.from(hex, 'hex'));
        const [msg, err] = Codec.wireDecode(bytes, seed);
        R.check(`5d ${name}: ${isClear ? 'clear' : 'sealed by us'}, decoded by JS`,
                r.code === 0 && err == null && msg != null, { err, sealed: hex.slice(0, 40),
                                                           stderr: r.stderr.trim() });
    }
    // the library's validator on its own RENDEZVOUS_END
    const [own, ownErr] = Codec.wireDecode(Codec.wireEncode(msgs.NOTIFY_RENDEZVOUS_END, seed),
                                           seed);
    R.check('5e the library refuses its own NOTIFY_RENDEZVOUS_END', own === null &&
            ownErr === 'no request_reference_uuid included', { ownErr });
    emit({ event: 'recorded_js_frames', recorded });
    R.done();
}

main().catch((e) => { emit({ event: 'fatal', err: String(e.stack || e) }); process.exit(1); });
