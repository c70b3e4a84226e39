// Drives the WASM build (host/src/web/pkg) from Node against a real relay and terminus:
//   node --experimental-websocket consumer.mjs RELAY_URL BUYER_BEACON SELLER_BEACON
// 1. a consumer of the seller's account asks for an invoice; a consumer of the buyer's
//    account pays it; both balances move and the seller hears of the payment;
// 2. a provider and a consumer on a fresh beacon meet through the relay: the consumer's
//    invoice request reaches the provider's on_invoice_request and its answer comes back;
//    they also exchange opinion-seller extension messages;
// 3. bad input throws typed errors instead of crashing; msat amounts are BigInts both ways
//    (a Number, a negative BigInt or one above 2^64 - 1 is refused, never rounded or
//    wrapped; amounts above 2^53 arrive exact).
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
/** An event's msat field: a BigInt of exactly `want`. */
function checkMsats(got, want, what) {
  check(typeof got === 'bigint' && got === want, `${what}: ${typeof got} ${got}, want ${want}n`);
}
const U64_MAX = 2n ** 64n - 1n;

try {
  // 1. through the terminus
  const seller = session(ms.Consumer, sellerBeacon);
  const buyer = session(ms.Consumer, buyerBeacon);
  const s0 = (await seller.next('provider')).msats;
  const b0 = (await buyer.next('provider')).msats;
  check(typeof s0 === 'bigint' && typeof b0 === 'bigint', 'balances are BigInts');
  const price = 21000n;
  const ask = seller.request_invoice(price);
  const inv = await seller.next('invoice');
  check(inv.request === ask, 'invoice answers the request');
  checkMsats(ms.bolt11_msats(inv.bolt11), price, 'invoice amount');
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
  provider.set_provider_info(account, true, true, 5000n);
  const consumer = session(ms.Consumer, beacon);
  const info = await consumer.next('provider');
  check(info.account_uuid === account && info.payee, 'provider info through the relay');
  checkMsats(info.msats, 5000n, 'provider info msats');
  await provider.next('consumer_ready');
  const r = consumer.request_invoice(3000n);
  const req = await provider.next('invoice_request');
  check(req.request === r, 'the invoice request reaches the provider');
  checkMsats(req.msats, 3000n, 'invoice request msats');
  provider.send_invoice(req.request, inv.bolt11);
  check((await consumer.next('invoice')).bolt11 === inv.bolt11, 'the provider answer reaches the consumer');
  const p = consumer.pay(inv.bolt11);
  const pr = await provider.next('pay_request');
  check(pr.request === p, 'pay request');
  checkMsats(pr.msats, price, 'pay request with the invoice amount');
  provider.send_error(pr.request, 'no thanks');
  const err = await consumer.next('error');
  check(err.request === p && err.message === 'no thanks', 'the refusal reaches the consumer');

  // amounts a Number cannot hold arrive exact, up to u64::MAX - 1 (and u64::MAX)
  for (const big of [2n ** 53n + 1n, U64_MAX - 1n, U64_MAX]) {
    provider.set_provider_info(account, true, true, big);
    checkMsats((await consumer.next('provider')).msats, big, 'provider info beyond 2^53');
    const rb = consumer.request_invoice(big);
    const qb = await provider.next('invoice_request');
    check(qb.request === rb, 'big invoice request reaches the provider');
    checkMsats(qb.msats, big, 'invoice request beyond 2^53');
    provider.send_error(qb.request, 'too much');
    check((await consumer.next('error')).request === rb, 'big invoice request answered');
  }
  provider.set_provider_info(account, true, true, null);
  check((await consumer.next('provider')).msats === null, 'no wad: msats null');

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
  const notBigInt = 'msats must be a BigInt (e.g. 1000n), not the number 1000';
  check(throws(() => consumer.request_invoice(1000)) === notBigInt, `a Number refused: ${throws(() => consumer.request_invoice(1000))}`);
  check(/must be a BigInt.*1\.5/.test(throws(() => consumer.request_invoice(1.5))), 'fractional Number refused');
  check(/must be a BigInt.*type string/.test(throws(() => consumer.request_invoice('1000'))), 'a string refused');
  check(/must be a BigInt/.test(throws(() => consumer.request_invoice())), 'no amount refused');
  // wasm-bindgen's own u64 conversion would wrap these to 2^64 - 1 and 0
  const negative = 'msats must not be negative, not -1n';
  const tooLarge = `msats must be at most ${U64_MAX}n (2^64 - 1), not ${2n ** 64n}n`;
  for (const [f, what] of [
    [(m) => consumer.request_invoice(m), 'request_invoice'],
    [(m) => provider.set_provider_info(account, true, true, m), 'set_provider_info'],
    [(m) => new ms.Allowance(m), 'Allowance'],
    [(m) => ms.Allowance.percent_of(m, 50), 'Allowance.percent_of'],
    [(m) => new ms.Allowance(1n).set_cap(m), 'set_cap'],
    [(m) => new ms.Allowance(1n).left(m), 'left'],
    [(m) => new ms.Allowance(1n).begin_pay('r', inv.bolt11, m), 'begin_pay'],
  ]) {
    check(throws(() => f(-1n)) === negative, `${what}(-1n): ${throws(() => f(-1n))}`);
    check(throws(() => f(2n ** 64n)) === tooLarge, `${what}(2n ** 64n): ${throws(() => f(2n ** 64n))}`);
    check(throws(() => f(-(2n ** 64n) + 5n)) !== null, `${what}(-(2n ** 64n) + 5n) refused`);
    check(/must be a BigInt/.test(throws(() => f(1000))), `${what}(1000) refused`);
  }
  check(/uuid/.test(throws(() => provider.send_invoice('nope', 'x'))), 'bad uuid');
  check(/preimage/.test(throws(() => provider.send_preimage(null, 'zz'))), 'bad preimage');
  const a = new ms.Allowance(10000n);
  check(/allowance exceeded/.test(throws(() => a.begin_pay('r', inv.bolt11, 10n ** 9n))), 'allowance refuses');
  // the allowance round-trips the whole range, BigInts out
  const top = new ms.Allowance(U64_MAX - 1n);
  checkMsats(top.cap(), U64_MAX - 1n, 'Allowance cap u64::MAX - 1');
  checkMsats(top.left(U64_MAX), U64_MAX - 1n, 'Allowance left');
  checkMsats(top.spent(), 0n, 'Allowance spent');
  checkMsats(ms.Allowance.percent_of(U64_MAX, 100), U64_MAX, 'percent_of u64::MAX');
  checkMsats(ms.Allowance.percent_of(1999n, 50), 999n, 'percent_of rounds down');
  top.begin_pay('big', inv.bolt11, U64_MAX);
  top.settle('big');
  checkMsats(top.spent(), price, 'spent after a settled pay');
  top.set_cap(U64_MAX);
  checkMsats(top.cap(), U64_MAX, 'set_cap u64::MAX');
  check(ms.bolt11_msats('nope') === undefined, 'not an invoice: undefined');

  for (const s of [seller, buyer, provider, consumer]) s.close();
  // BigInts are not JSON: written as exact integers by hand
  console.log(`{"ok":true,"price":${price},"buyer":[${b0},${b1}],"seller":[${s0},${s1}]}`);
  clearTimeout(deadline);
  process.exit(0);
} catch (e) {
  console.error(`FAIL ${e.message}`);
  process.exit(1);
}
