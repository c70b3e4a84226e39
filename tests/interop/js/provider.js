// A small provider app on the reference ProviderStack. It is backed by a terminus account
// through a reference ConsumerStack: invoice and pay requests are passed to the account, so
// invoices are real BOLT11 of the terminus's simulated node and pays really move money.
// Nothing else is faked: the provider info is the account's balance (Wad.bitcoin) under the
// app's own account uuid.
'use strict';
const { ms, emit, beacon } = require('./lib.js');
const { JsConsumer } = require('./harness.js');

class JsProviderApp {
    /**
     * backingBeacon: a terminus account's beacon (the app is its consumer).
     * opts.notReadyMs: answer NOTIFY_PROVIDER_NOT_READY for this long after start.
     */
    constructor(backingBeacon, opts = {}) {
        this.uuid = ms.Uuid.uuidv4();
        this.backing = new JsConsumer('backing');
        this.backing.connect(backingBeacon);
        this.balance = null;
        this.readyAt = Date.now() + (opts.notReadyMs || 0);
        this.requests = [];
        this.connects = 0;
        this.stopped = false;
        this.stack = null;
    }

    /** Serve at `beaconStr` (a relay beacon); redial whenever the socket ends. */
    serve(beaconStr) {
        this.beaconStr = beaconStr;
        this._dial();
        // balance updates and payments received by the account go upstream
        this.backing.stack.onproviderinfo = (info) => {
            this.balance = info.wad ? info.wad.msats : 0;
            this.backing.events.push({ event: 'provider', info, at: Date.now() });
            this.backing._check();
            if (this.stack) {
                this.stack.sendProviderInfoUpdate();
            }
            this._maybeReady();
        };
        const origPre = this.backing.stack.onpreimage;
        this.backing.stack.onpreimage = (preimage, ref) => {
            origPre(preimage, ref);
            if (ref === null && this.stack && this.stack.nexus) {
                this.stack.fulfilRequestPay(preimage, null);
            }
        };
        const t = setInterval(() => this._maybeReady(), 250);
        t.unref();
    }

    _maybeReady() {
        if (this.balance !== null && Date.now() >= this.readyAt && this.stack) {
            this.stack.providerNowReadyFromApp();
        }
    }

    _dial() {
        if (this.stopped) {
            return;
        }
        const s = new ms.ProviderStack();
        this.stack = s;
        this.connects += 1;
        s.handleproviderinforequest = () => {
            const ready = this.balance !== null && Date.now() >= this.readyAt;
            return { ready, payer: true, payee: true, account_uuid: this.uuid,
                     wad: ms.Wad.bitcoin(this.balance || 0) };
        };
        s.handleinvoicerequest = (msats, uuid) => {
            this.requests.push({ kind: 'invoice', msats, uuid });
            this.backing.invoice(msats).then((ans) => {
                if (ans.event === 'invoice') {
                    s.fulfilRequestInvoice(ans.bolt11, uuid);
                } else {
                    s.sendErrorNotification(ans.error_msg, uuid);
                }
            }).catch((e) => s.sendErrorNotification('backing account: ' + e.message, uuid));
        };
        s.handlepayrequest = (bolt11, uuid) => {
            this.requests.push({ kind: 'pay', bolt11, uuid });
            this.backing.pay(bolt11).then((ans) => {
                if (ans.event === 'preimage') {
                    s.fulfilRequestPay(ans.preimage, uuid);
                } else {
                    s.sendErrorNotification(ans.error_msg, uuid);
                }
            }).catch((e) => s.sendErrorNotification('backing account: ' + e.message, uuid));
        };
        s.onstackevent = (layer, nexus, status) => {
            if (process.env.JS_VERBOSE) {
                emit({ event: 'provider_stack', layer, status });
            }
            // The relay ends the provider's socket with the consumer's session: redial, as
            // the library does not.
            if (layer === 'OUTGOING_WEBSOCKET' && status === 'NEXUS_DESTROYED' &&
                this.stack === s) {
                setTimeout(() => this._dial(), 200);
            }
        };
        s.doConnect(beacon(this.beaconStr));
    }

    stop() {
        this.stopped = true;
        if (this.stack) {
            this.stack.doDisconnect();
        }
        this.backing.disconnect();
    }
}

module.exports = { JsProviderApp };
