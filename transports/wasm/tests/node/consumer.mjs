// Drives the WASM build (host/src/web/pkg) from Node against a real relay and terminus:
//   node --experimental-websocket consumer.mjs RELAY_URL BUYER_BEACON SELLER_BEACON
// 1. a consumer of the seller's account asks for an invoice; a consumer of the buyer's
//    account pays it; both balances move and the seller hears of the payment;
// 2. a provider and a consumer on a fresh beacon meet through the relay: the consumer's
//    invoice request reaches the provider's on_invoice_request and its answer comes back;
//    they also exchange opinion-seller extension messages;
// 3. bad input throws typed errors instead of crashing.
// Prints one JSON line with what it saw and exits 0, or prints the failure and exits 1.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '../../../../host/src/web/pkg');
const ms = await import(join(pkg, 'moneysocket_wasm.js'));
ms.initSync({ module: readFileSync(join(pkg, 'moneysocket_wasm_bg.wasm')) });

const [relay, buyerBeacon, sellerBeacon] = process.argv.slice(2);
const deadline = setTimeout(() => { console.error('FAIL timed out'); process.exit(1); }, 20000);

/** A session whose events are queued; `next(type)` waits for the next event of that type. */
function session(make, beacon) {
  const queue = [];
  const waiters = [];
  const s = new make(beacon, {
    on_event(e) {
      const i = waiters.findIndex((w) => w.type === e.type);
      if (i >= 0) waiters.splice(i, 1)[0].resolve(e); else queue.push(e);
    },
  });
  s.next = (type) => {
    const i = queue.findIndex((e) => e.type === type);
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    return new Promise((resolve) => waiters.push({ type, resolve }));
  };
  return s;
}

function check(cond, what) { if (!cond) throw new Error(what); }

try {
  // 1. through the terminus
  const seller = session(ms.Consumer, sellerBeacon);
  const buyer = session(ms.Consumer, buyerBeacon);
  const s0 = (await seller.next('provider')).msats;
  const b0 = (await buyer.next('provider')).msats;
  const price = 21000;
  const ask = seller.request_invoice(price);
  const inv = await seller.next('invoice');
  check(inv.request === ask, 'invoice answers the request');
  check(ms.bolt11_msats(inv.bolt11) === price, 'invoice amount');
  const pay = buyer.pay(inv.bolt11);
  const pre = await buyer.next('preimage');
  check(pre.request === pay && /^[0-9a-f]{64}$/.test(pre.preimage), 'preimage answers the pay');
  const heard = await seller.next('preimage');
  check(heard.request === null && heard.preimage === pre.preimage, 'the seller hears of the payment');
  let b1;
  do { b1 = (await buyer.next('provider')).msats; } while (b1 === b0);
  let s1;
  do { s1 = (await seller.next('provider')).msats; } while (s1 === s0);
  check(b0 - b1 === price && s1 - s0 === price, `balances moved by the price: ${b0}->${b1}, ${s0}->${s1}`);

  // 2. through the relay: our provider serves our consumer
  const beacon = ms.beacon_new(relay);
  const provider = session(ms.Provider, beacon);
  const account = ms.uuid_new();
  provider.set_provider_info(account, true, true, 5000);
  const consumer = session(ms.Consumer, beacon);
  const info = await consumer.next('provider');
  check(info.account_uuid === account && info.msats === 5000 && info.payee, 'provider info through the relay');
  await provider.next('consumer_ready');
  const r = consumer.request_invoice(3000);
  const req = await provider.next('invoice_request');
  check(req.request === r && req.msats === 3000, 'the invoice request reaches the provider');
  provider.send_invoice(req.request, inv.bolt11);
  check((await consumer.next('invoice')).bolt11 === inv.bolt11, 'the provider answer reaches the consumer');
  const p = consumer.pay(inv.bolt11);
  const pr = await provider.next('pay_request');
  check(pr.request === p && pr.msats === price, 'pay request with the invoice amount');
  provider.send_error(pr.request, 'no thanks');
  const err = await consumer.next('error');
  check(err.request === p && err.message === 'no thanks', 'the refusal reaches the consumer');

  // the opinion-seller extension both ways
  const askItems = consumer.request_opinion_seller();
  const got = await provider.next('extension');
  check(got.name === 'REQUEST_OPINION_SELLER' && got.uuid === askItems, 'extension request reaches the provider');
  provider.notify_opinion_seller(got.uuid, account, JSON.stringify([{ item_id: 'hello', name: 'Hello World', msats: 1000 }]));
  const list = await consumer.next('extension');
  check(list.name === 'NOTIFY_OPINION_SELLER' && list.reference === askItems, 'extension answer references the request');
  check(JSON.parse(list.json).items[0].msats === 1000, 'items arrive');
  check(/items/.test((() => { try { provider.notify_opinion_seller(null, account, '[{"item_id":1}]'); } catch (e) { return e.message; } })()), 'bad items refused');

  // 3. bad input
  const throws = (f) => { try { f(); return null; } catch (e) { return e.message; } };
  check(/invalid beacon/.test(throws(() => new ms.Consumer('moneysocket1xyz', {}))), 'bad beacon');
  check(/msats/.test(throws(() => consumer.request_invoice(1.5))), 'fractional msats refused');
  check(/uuid/.test(throws(() => provider.send_invoice('nope', 'x'))), 'bad uuid');
  check(/preimage/.test(throws(() => provider.send_preimage(null, 'zz'))), 'bad preimage');
  const a = new ms.Allowance(10000);
  check(/allowance exceeded/.test(throws(() => a.begin_pay('r', inv.bolt11, 1e9))), 'allowance refuses');

  for (const s of [seller, buyer, provider, consumer]) s.close();
  console.log(JSON.stringify({ ok: true, price, buyer: [b0, b1], seller: [s0, s1] }));
  clearTimeout(deadline);
  process.exit(0);
} catch (e) {
  console.error(`FAIL ${e.message}`);
  process.exit(1);
}
