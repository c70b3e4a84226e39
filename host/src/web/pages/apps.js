// The demo apps of host-apps §3 on the WASM core: a web wallet (consumer downstream,
// provider upstream, an allowance it enforces), a seller (a consumer of its terminus account
// and a provider for buyers) and a buyer (a consumer of the wallet and one of the seller).
// Amounts are msat as BigInts (`1000n`), as the WASM module takes and gives them: never a
// Number, which is exact only below 2^53 and would mix floats into money.
import init, * as ms from './pkg/moneysocket_wasm.js';

let ready = null;
/** Loads the WASM module once. */
export function load() {
  if (!ready) ready = init();
  return ready.then(() => ms);
}

/** The demo's beacons and relay (`GET /demo.json`). */
export async function demoConfig() {
  const r = await fetch('/demo.json');
  if (!r.ok) throw new Error(`demo.json: HTTP ${r.status}`);
  return fromJson(await r.text());
}

/** Whether a JSON field holds msat: `msats` or `…_msats`. */
const isMsatsKey = (key) => key === 'msats' || key.endsWith('_msats');

/**
 * `JSON.parse` with every msat field (`msats`, `…_msats`) a BigInt, read from the number's
 * own text where the engine gives it (exact over all of u64); elsewhere only a safe integer
 * is taken, anything else throws.
 */
export function fromJson(text) {
  return JSON.parse(text, function (key, value, context) {
    if (typeof value !== 'number' || !isMsatsKey(key)) return value;
    const source = context?.source;
    if (source !== undefined && /^[0-9]+$/.test(source)) return BigInt(source);
    if (Number.isSafeInteger(value) && value >= 0) return BigInt(value);
    throw new Error(`${key}: not an integer msat amount: ${source ?? value}`);
  });
}

/**
 * `JSON.stringify` for values holding BigInt msat (which it refuses): each BigInt is written
 * as its exact integer (`JSON.rawJSON` where the engine has it, else only a safe integer).
 */
export function toJson(value) {
  return JSON.stringify(value, (key, v) => {
    if (typeof v !== 'bigint') return v;
    if (JSON.rawJSON) return JSON.rawJSON(v.toString());
    if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    throw new Error(`${key}: ${v} cannot be written as JSON here`);
  });
}

/** A sat amount typed by a person (`"1000"`, `"1.5"`: at most three decimals) in msat. */
export function msatsOfSats(text) {
  const m = /^\s*([0-9]+)(?:\.([0-9]{1,3}))?\s*$/.exec(String(text));
  if (!m) throw new Error(`not a sat amount: ${JSON.stringify(String(text))}`);
  return BigInt(m[1]) * 1000n + BigInt((m[2] ?? '').padEnd(3, '0'));
}

/** A logger writing lines into `el` (and the console). */
export function logger(el, who) {
  return (text) => {
    const line = `${new Date().toISOString().slice(11, 23)} ${who}: ${text}`;
    console.log(line);
    if (el) {
      el.textContent += line + '\n';
      el.scrollTop = el.scrollHeight;
    }
  };
}

/** Msat (a BigInt) as sat text, exact: `1000n` → `1 sat`, `1500n` → `1.5 sat`; null → `?`. */
export function sats(msats) {
  if (msats == null) return '?';
  const whole = msats / 1000n;
  const rest = msats % 1000n;
  if (rest === 0n) return `${whole} sat`;
  return `${whole}.${rest.toString().padStart(3, '0').replace(/0+$/, '')} sat`;
}

/**
 * The web wallet: `downstream` is a terminus account's beacon, `upstream` the beacon its
 * app connects to (through the relay). The slider sets the allowance as a share of the
 * downstream balance at that moment; upstream pays above what is left are refused here.
 */
export class Wallet {
  constructor({ downstream, upstream, percent = 100, log = () => {}, onChange = () => {} }) {
    this.log = log;
    this.onChange = onChange;
    this.balance = null;
    this.percent = percent;
    this.allowance = null;
    this.account = ms.uuid_new();
    this.routes = new Map(); // downstream request -> upstream request
    this.paid = 0;
    this.refused = 0;
    const w = this;
    this.down = new ms.Consumer(downstream, {
      on_connected: (e) => log(`downstream connected to ${e.url}`),
      on_disconnected: (e) => log(`downstream disconnected: ${e.cause}`),
      on_provider(e) {
        w.balance = e.msats;
        if (!w.allowance) w.allowance = new ms.Allowance(ms.Allowance.percent_of(e.msats ?? 0n, w.percent));
        log(`downstream balance ${sats(e.msats)}`);
        w.advertise();
      },
      on_preimage(e) { w.answer(e.request, (up) => { w.allowance.settle(up); w.paid += 1; w.up.send_preimage(up, e.preimage); }); },
      on_invoice(e) { w.answer(e.request, (up) => w.up.send_invoice(up, e.bolt11)); },
      on_error(e) { w.answer(e.request, (up) => { w.allowance.release(up); w.up.send_error(up, e.message); }); },
      on_request_failed(e) { w.answer(e.request, (up) => { w.allowance.release(up); w.up.send_error(up, `downstream ${e.reason}`); }); },
    });
    this.up = new ms.Provider(upstream, {
      on_connected: (e) => log(`upstream connected to ${e.url}`),
      on_consumer_ready: () => log('upstream app ready'),
      on_info_requested: () => w.advertise(),
      on_pay_request(e) {
        if (w.balance == null) return w.up.send_error(e.request, 'wallet not ready');
        try {
          w.allowance.begin_pay(e.request, e.bolt11, w.balance);
        } catch (err) {
          w.refused += 1;
          log(`REFUSED pay of ${sats(e.msats)}: ${err.message}`);
          w.up.send_error(e.request, err.message);
          w.onChange(w);
          return;
        }
        log(`paying ${sats(e.msats)} (${sats(w.left())} left before it)`);
        try {
          w.routes.set(w.down.pay(e.bolt11), e.request);
        } catch (err) {
          w.allowance.release(e.request);
          w.up.send_error(e.request, `downstream: ${err.message}`);
        }
      },
      on_invoice_request(e) {
        try {
          w.routes.set(w.down.request_invoice(e.msats), e.request);
        } catch (err) {
          w.up.send_error(e.request, `downstream: ${err.message}`);
        }
      },
    });
  }

  /** What the upstream app may still spend, msat (a BigInt). */
  left() { return this.allowance && this.balance != null ? this.allowance.left(this.balance) : 0n; }

  /** A downstream answer goes back to the upstream request it serves. */
  answer(request, f) {
    const up = this.routes.get(request);
    if (up === undefined) return;
    this.routes.delete(request);
    try { f(up); } catch (err) { this.log(`upstream answer failed: ${err.message}`); }
    this.onChange(this);
  }

  /** Sends the upstream app the balance it may use (once the downstream one is known). */
  advertise() {
    this.onChange(this);
    if (this.balance == null) return;
    try { this.up.set_provider_info(this.account, true, true, this.left()); } catch (err) { this.log(`provider info: ${err.message}`); }
  }

  /** The slider: from now on the app may spend `percent` (a Number, 0..=100) of the balance
   * now (pays under way stay reserved; what was spent stays spent). */
  setPercent(percent) {
    this.percent = percent;
    const share = ms.Allowance.percent_of(this.balance ?? 0n, percent);
    if (!this.allowance) this.allowance = new ms.Allowance(share);
    else this.allowance.set_cap(this.allowance.spent() + share);
    this.log(`allowance set to ${percent}% = ${sats(share)}`);
    this.advertise();
  }
}

/** The seller's items (host-apps §3.1), priced from `price` msat (a BigInt). */
export function items(price) {
  return [
    { item_id: 'hello', name: 'Hello World', msats: price },
    { item_id: 'time', name: 'Current Timestamp', msats: 2n * price },
    { item_id: 'outlook', name: 'Market Outlook', msats: 3n * price },
  ];
}

/**
 * The seller (opinion-seller extension, docs/extensions.md): `wallet` is its terminus
 * account's beacon (it makes the invoices), `store` the beacon buyers connect to. A buyer's
 * `REQUEST_OPINION_INVOICE` becomes an invoice of its account; when the account reports the
 * payment (`NOTIFY_PREIMAGE`), the preimage's hash names the item and the seller sends the
 * opinion. `price` (msat, a BigInt) is the first item's; the others cost two and three times it.
 */
export class Seller {
  constructor({ wallet, store, price, log = () => {}, onChange = () => {} }) {
    this.log = log;
    this.onChange = onChange;
    this.balance = null;
    this.sales = 0;
    this.open = false;
    this.outlook = 'Bullish';
    this.uuid = ms.uuid_new();
    this.items = items(price);
    this.asked = new Map(); // wallet invoice request -> { buyer request, item }
    this.unpaid = new Map(); // payment hash -> { buyer request, item }
    const s = this;
    this.wallet = new ms.Consumer(wallet, {
      on_connected: (e) => log(`wallet connected to ${e.url}`),
      on_provider(e) { s.balance = e.msats; log(`balance ${sats(e.msats)}`); onChange(s); },
      on_invoice(e) {
        const sale = s.asked.get(e.request);
        if (!sale) return;
        s.asked.delete(e.request);
        s.unpaid.set(ms.bolt11_payment_hash(e.bolt11), sale);
        s.store.notify_opinion_invoice(sale.request, e.bolt11);
      },
      on_error(e) {
        const sale = s.asked.get(e.request);
        if (sale) { s.asked.delete(e.request); log(`no invoice for ${sale.item.item_id}: ${e.message}`); }
      },
      on_preimage(e) {
        if (e.request !== null) return;
        const sale = s.unpaid.get(ms.sha256_hex(e.preimage));
        if (!sale) return;
        s.unpaid.delete(ms.sha256_hex(e.preimage));
        s.sales += 1;
        log(`sold ${sale.item.item_id} for ${sats(sale.item.msats)}`);
        s.store.notify_opinion(sale.request, sale.item.item_id, s.opinion(sale.item.item_id));
        onChange(s);
      },
    });
    this.store = new ms.Provider(store, {
      on_connected: (e) => log(`store connected to ${e.url}`),
      on_consumer_ready: () => log('a buyer is in the store'),
      on_extension(e) {
        if (e.name === 'REQUEST_OPINION_SELLER') {
          if (s.open) s.store.notify_opinion_seller(e.uuid, s.uuid, toJson(s.items));
          else s.store.notify_opinion_seller_not_ready(e.uuid);
        } else if (e.name === 'REQUEST_OPINION_INVOICE') {
          const item = s.items.find((i) => i.item_id === fromJson(e.json).item_id);
          if (!item) return log(`unknown item asked`);
          log(`${item.item_id} asked`);
          try {
            s.asked.set(s.wallet.request_invoice(item.msats), { request: e.uuid, item });
          } catch (err) {
            log(`no invoice for ${item.item_id}: ${err.message}`);
          }
        }
      },
      on_invoice_request: (e) => s.store.send_error(e.request, 'buy items with the opinion-seller extension'),
      on_pay_request: (e) => s.store.send_error(e.request, 'the store does not pay'),
    });
    this.store.set_provider_info(this.uuid, false, true, null);
  }

  /** What an item delivers. */
  opinion(item_id) {
    if (item_id === 'hello') return 'Sincere Hello!!';
    if (item_id === 'time') return String(Math.floor(Date.now() / 1000));
    return this.outlook;
  }

  /** Opens the store: buyers get the item list. */
  openStore() { this.open = true; this.log('store open'); }
}

/**
 * The buyer: `wallet` is the web wallet's upstream beacon, `store` the seller's. It asks the
 * store for its items once in; `buy(item_id)` asks for the item's invoice, has its wallet
 * pay it and waits for the opinion; resolves to `{paid, opinion, error}`.
 */
export class Buyer {
  constructor({ wallet, store, log = () => {}, onChange = () => {} }) {
    this.log = log;
    this.onChange = onChange;
    this.balance = null;
    this.items = null;
    this.purchases = 0;
    this.refusals = 0;
    this.opinions = [];
    this.pending = new Map(); // request uuid -> resolve
    const b = this;
    const settle = (request, result) => {
      const done = b.pending.get(request);
      if (done) { b.pending.delete(request); done(result); }
    };
    this.wallet = new ms.Consumer(wallet, {
      on_connected: (e) => log(`wallet connected to ${e.url}`),
      on_provider(e) { b.balance = e.msats; log(`wallet allows ${sats(e.msats)}`); onChange(b); },
      on_preimage: (e) => settle(e.request, { paid: true }),
      on_error: (e) => settle(e.request, { paid: false, error: e.message }),
      on_request_failed: (e) => settle(e.request, { paid: false, error: `wallet ${e.reason}` }),
    });
    const askItems = () => { try { b.store.request_opinion_seller(); } catch (err) { log(`store: ${err.message}`); } };
    this.store = new ms.Consumer(store, {
      on_connected: (e) => log(`store connected to ${e.url}`),
      on_provider: () => { log('in the store'); askItems(); },
      on_extension(e) {
        const m = fromJson(e.json);
        if (e.name === 'NOTIFY_OPINION_SELLER') {
          b.items = m.items;
          log(`items: ${m.items.map((i) => `${i.name} ${sats(i.msats)}`).join(', ')}`);
          onChange(b);
        } else if (e.name === 'NOTIFY_OPINION_SELLER_NOT_READY') {
          setTimeout(askItems, 500);
        } else if (e.name === 'NOTIFY_OPINION_INVOICE') {
          settle(e.reference, { bolt11: m.bolt11 });
        } else if (e.name === 'NOTIFY_OPINION') {
          settle(`opinion:${e.reference}`, { opinion: m.opinion });
        }
      },
    });
  }

  /** Registers the answer to `key` (or to the uuid `f()` returns); resolves with it, or with
   * `{error}` when `f` throws or nothing came within `ms`. */
  wait(key, f, ms = 20000) {
    return new Promise((resolve) => {
      try {
        const k = key ?? f();
        if (key !== null) f();
        this.pending.set(k, resolve);
        setTimeout(() => { if (this.pending.get(k) === resolve) { this.pending.delete(k); resolve({ error: `no answer within ${ms / 1000} s` }); } }, ms);
      } catch (err) { resolve({ error: err.message }); }
    });
  }

  /** One purchase of `item_id`. */
  async buy(item_id) {
    const ask = this.store.request_opinion_invoice(item_id);
    const opinion = this.wait(`opinion:${ask}`, () => null);
    const inv = await this.wait(ask, () => null);
    if (!inv.bolt11) { this.log(`no invoice: ${inv.error}`); return { paid: false, error: inv.error }; }
    const r = await this.wait(null, () => this.wallet.pay(inv.bolt11));
    if (!r.paid) {
      this.refusals += 1;
      this.pending.delete(`opinion:${ask}`);
      this.log(`purchase refused: ${r.error}`);
      this.onChange(this);
      return r;
    }
    const o = await opinion;
    if (o.opinion === undefined) { this.log(`paid for ${item_id}: ${o.error}`); return { paid: true, error: o.error }; }
    this.purchases += 1;
    this.opinions.push(o.opinion);
    this.log(`bought ${item_id}: "${o.opinion}"`);
    this.onChange(this);
    return { paid: true, opinion: o.opinion };
  }
}

/** Resolves once `cond()` holds (checked every 50 ms), or rejects after `ms` with `what`. */
export function until(cond, what, ms = 20000) {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}
