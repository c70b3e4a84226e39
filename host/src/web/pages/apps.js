// The demo apps of host-apps §3 on the WASM core: a web wallet (consumer downstream,
// provider upstream, an allowance it enforces), a seller (a consumer of its terminus account
// and a provider for buyers) and a buyer (a consumer of the wallet and one of the seller).
// Amounts are msat, JavaScript integers.
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
  return r.json();
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

export const sats = (msats) => msats == null ? '?' : `${Math.floor(msats / 1000)} sat`;

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
        if (!w.allowance) w.allowance = new ms.Allowance(ms.Allowance.percent_of(e.msats ?? 0, w.percent));
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
        w.routes.set(w.down.pay(e.bolt11), e.request);
      },
      on_invoice_request(e) { w.routes.set(w.down.request_invoice(e.msats), e.request); },
    });
  }

  /** What the upstream app may still spend, msat. */
  left() { return this.allowance && this.balance != null ? this.allowance.left(this.balance) : 0; }

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

  /** The slider: a new allowance, `percent` of the balance now. */
  setPercent(percent) {
    this.percent = percent;
    this.allowance = new ms.Allowance(ms.Allowance.percent_of(this.balance ?? 0, percent));
    this.log(`allowance set to ${percent}% = ${sats(this.allowance.cap())}`);
    this.advertise();
  }
}

/**
 * The seller: `wallet` is its terminus account's beacon (it makes the invoices), `store`
 * the beacon buyers connect to. Each invoice request of a buyer becomes one of its account.
 */
export class Seller {
  constructor({ wallet, store, log = () => {}, onChange = () => {} }) {
    this.log = log;
    this.onChange = onChange;
    this.balance = null;
    this.sales = 0;
    this.routes = new Map();
    const s = this;
    this.wallet = new ms.Consumer(wallet, {
      on_connected: (e) => log(`wallet connected to ${e.url}`),
      on_provider(e) { s.balance = e.msats; log(`balance ${sats(e.msats)}`); onChange(s); },
      on_invoice(e) {
        const buyer = s.routes.get(e.request);
        if (buyer === undefined) return;
        s.routes.delete(e.request);
        s.store.send_invoice(buyer, e.bolt11);
      },
      on_error(e) {
        const buyer = s.routes.get(e.request);
        if (buyer !== undefined) { s.routes.delete(e.request); s.store.send_error(buyer, e.message); }
      },
      on_preimage(e) { if (e.request === null) { s.sales += 1; log(`sold: paid, preimage ${e.preimage.slice(0, 16)}…`); onChange(s); } },
    });
    this.store = new ms.Provider(store, {
      on_connected: (e) => log(`store connected to ${e.url}`),
      on_consumer_ready: () => log('a buyer is in the store'),
      on_invoice_request(e) {
        log(`invoice of ${sats(e.msats)} asked`);
        s.routes.set(s.wallet.request_invoice(e.msats), e.request);
      },
      on_pay_request(e) { s.store.send_error(e.request, 'the store does not pay'); },
    });
    this.store.set_provider_info(ms.uuid_new(), false, true, null);
  }
}

/**
 * The buyer: `wallet` is the web wallet's upstream beacon, `store` the seller's. `buy(msats)`
 * asks the store for an invoice and its wallet to pay it; resolves to `{paid, error}`.
 */
export class Buyer {
  constructor({ wallet, store, log = () => {}, onChange = () => {} }) {
    this.log = log;
    this.onChange = onChange;
    this.balance = null;
    this.purchases = 0;
    this.refusals = 0;
    this.pending = new Map();
    const b = this;
    const settle = (e, result) => {
      const done = b.pending.get(e.request);
      if (done) { b.pending.delete(e.request); done(result); }
    };
    this.wallet = new ms.Consumer(wallet, {
      on_connected: (e) => log(`wallet connected to ${e.url}`),
      on_provider(e) { b.balance = e.msats; log(`wallet allows ${sats(e.msats)}`); onChange(b); },
      on_preimage: (e) => settle(e, { paid: true }),
      on_error: (e) => settle(e, { paid: false, error: e.message }),
      on_request_failed: (e) => settle(e, { paid: false, error: `wallet ${e.reason}` }),
    });
    this.store = new ms.Consumer(store, {
      on_connected: (e) => log(`store connected to ${e.url}`),
      on_provider: () => { log('in the store'); onChange(b); },
      on_invoice: (e) => settle(e, { bolt11: e.bolt11 }),
      on_error: (e) => settle(e, { error: e.message }),
      on_request_failed: (e) => settle(e, { error: `store ${e.reason}` }),
    });
  }

  ask(consumer, f) {
    return new Promise((resolve) => {
      try { this.pending.set(f(consumer), resolve); } catch (err) { resolve({ paid: false, error: err.message }); }
    });
  }

  /** One purchase of `msats`. */
  async buy(msats) {
    const inv = await this.ask(this.store, (c) => c.request_invoice(msats));
    if (!inv.bolt11) { this.log(`no invoice: ${inv.error}`); return { paid: false, error: inv.error }; }
    const r = await this.ask(this.wallet, (c) => c.pay(inv.bolt11));
    if (r.paid) { this.purchases += 1; this.log(`bought for ${sats(msats)}`); }
    else { this.refusals += 1; this.log(`purchase refused: ${r.error}`); }
    this.onChange(this);
    return r;
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
