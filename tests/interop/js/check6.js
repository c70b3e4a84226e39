// Check 6: the same paths over wss, with a self-signed certificate made the way most people
// make one (`openssl req -x509`: marked CA:true), trusted by Node through
// NODE_EXTRA_CA_CERTS and by our binary through --ca-file / relay_ca_file:
//   JS consumer -> wss relay -> terminus (which dials the relay with relay_ca_file)
//   JS consumer -> the terminus's own wss listener
//   `moneysocket consumer --ca-file` -> wss relay -> JS provider (ProviderStack over wss)
// Node reads NODE_EXTRA_CA_CERTS only at start, so the script makes the certificate and
// runs itself again with the variable set.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

if (!process.env.MSJS_WSS_CERT) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msjs-wss-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
                             'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
                             '-out', cert, '-days', '2', '-subj', '/CN=localhost',
                             '-addext', 'subjectAltName=DNS:localhost'],
                 { stdio: 'ignore' });
    const r = spawnSync(process.execPath, [...process.execArgv, __filename],
                        { stdio: 'inherit',
                          env: { ...process.env, MSJS_WSS_CERT: cert, MSJS_WSS_KEY: key,
                                 NODE_EXTRA_CA_CERTS: cert } });
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(r.status === null ? 1 : r.status);
}

const { deadline, tapFrames } = require('./lib.js');
const h = require('./harness.js');
const { JsProviderApp } = require('./provider.js');
const { Results } = require('./results.js');

const CERT = process.env.MSJS_WSS_CERT;
const KEY = process.env.MSJS_WSS_KEY;

async function main() {
    deadline(240);
    tapFrames();
    const R = new Results('6');
    const relay = await h.startRelay(0, ['--tls-cert', CERT, '--tls-key', KEY]);
    const wss = `wss://localhost:${relay.port}`;
    const t = await h.startTerminus(
        `relay_ca_file = ${JSON.stringify(CERT)}\n` +
        `[listen]\nexternal_host = "localhost"\n` +
        `tls_cert = ${JSON.stringify(CERT)}\ntls_key = ${JSON.stringify(KEY)}\n`);
    t.cli('create', '100000sat', '-a', 'buyer');
    t.cli('create', '0', '-a', 'seller');
    t.cli('create', '50000sat', '-a', 'jsapp');
    const bBeacon = h.newBeacon(wss);
    const sBeacon = t.cli('listen', 'seller-0').beacon;
    t.cli('connect', 'buyer-0', bBeacon);
    R.check('6a the terminus listener\'s beacon says wss://localhost',
            /^moneysocket1/.test(sBeacon) &&
            h.run(['beacon', 'decode', sBeacon]).stdout.includes('wss://localhost:'),
            h.run(['beacon', 'decode', sBeacon]).stdout.trim());

    const buyer = new h.JsConsumer('buyer');
    const seller = new h.JsConsumer('seller');
    buyer.connect(bBeacon);
    seller.connect(sBeacon);
    const bInfo = await buyer.wait((e) => e.event === 'provider', 30, 0, 'buyer info')
        .catch((e) => ({ info: { error: e.message } }));
    R.check('6b JS consumer → wss relay → terminus (relay_ca_file): provider info',
            bInfo.info.wad && bInfo.info.wad.msats === 100000000, bInfo.info);
    const sInfo = await seller.wait((e) => e.event === 'provider', 30, 0, 'seller info')
        .catch((e) => ({ info: { error: e.message } }));
    R.check('6c JS consumer → the terminus\'s wss listener: provider info',
            sInfo.info.wad && sInfo.info.wad.msats === 0, sInfo.info);

    const inv = await seller.invoice(7000);
    const paid = await buyer.pay(inv.bolt11);
    const sPre = await seller.wait((e) => e.event === 'preimage', 15, 0, 'seller preimage')
        .catch(() => null);
    R.check('6d invoice over one wss path, paid over the other, preimage on both',
            inv.event === 'invoice' && paid.event === 'preimage' && sPre !== null &&
            sPre.preimage === paid.preimage, { invoice: inv.event, pay: paid.event });

    // the reference ProviderStack dialing the wss relay, our consumer CLI with --ca-file
    const backing = h.newBeacon(wss);
    t.cli('connect', 'jsapp-0', backing);
    const pBeacon = h.newBeacon(wss);
    const app = new JsProviderApp(backing);
    app.serve(pBeacon);
    const cli = await h.runAsync(['consumer', '--timeout', '20', '--ca-file', CERT, pBeacon,
                                  'info'], 60);
    let info = null;
    try { info = JSON.parse(cli.stdout); } catch (_) { /* not JSON */ }
    R.check('6e moneysocket consumer --ca-file → wss relay → JS provider: info',
            cli.code === 0 && info && info.balance_msats === 50000000,
            { code: cli.code, stdout: cli.stdout.trim(), stderr: cli.stderr.trim() });
    const bare = await h.runAsync(['consumer', '--timeout', '3', pBeacon, 'info'], 30);
    R.check('6f without --ca-file (and no SSL_CERT_FILE) our consumer refuses the ' +
            'certificate and says so', bare.code === 1 && /certificate/.test(bare.stderr),
            bare.stderr.trim());

    buyer.disconnect();
    seller.disconnect();
    app.stop();
    R.done();
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
