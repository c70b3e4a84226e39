// Process and peer helpers of the JS interop harness: our `moneysocket` binary as child
// processes (bounded, killed on exit) and the reference library's stacks wrapped as event
// queues.
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ms, emit, beacon } = require('./lib.js');

const BIN = process.env.MS_BIN || 'moneysocket';
const children = new Set();

function killAll() {
    for (const c of children) {
        try { c.kill('SIGTERM'); } catch (_) { /* already gone */ }
    }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => { killAll(); process.exit(130); });
}

/** A temporary directory removed at exit. */
function tmpdir(tag) {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'msjs-' + tag + '-'));
    process.on('exit', () => fs.rmSync(d, { recursive: true, force: true }));
    return d;
}

/** Run `moneysocket ARGS` to completion (bounded); returns {code, stdout, stderr}. */
function run(args, secs = 60) {
    try {
        const out = execFileSync(BIN, args, { timeout: secs * 1000, encoding: 'utf8',
                                              stdio: ['ignore', 'pipe', 'pipe'] });
        return { code: 0, stdout: out, stderr: '' };
    } catch (e) {
        return { code: e.status, stdout: e.stdout || '', stderr: e.stderr || '' };
    }
}

/** `run` without blocking the event loop (the JS peers in this process keep running). */
function runAsync(args, secs = 60) {
    return new Promise((resolve) => {
        const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        children.add(p);
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => { stdout += d; });
        p.stderr.on('data', (d) => { stderr += d; });
        const t = setTimeout(() => p.kill('SIGKILL'), secs * 1000);
        p.on('exit', (code, sig) => {
            clearTimeout(t);
            children.delete(p);
            resolve({ code: code === null ? sig : code, stdout, stderr });
        });
    });
}

/** `run` that must succeed and print JSON. */
function runJson(args, secs) {
    const r = run(args, secs);
    if (r.code !== 0) {
        throw new Error(`moneysocket ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    }
    return JSON.parse(r.stdout);
}

/** A long-running `moneysocket` child whose output lines are kept and can be waited for. */
class Child {
    constructor(args, tag) {
        this.tag = tag;
        this.lines = [];
        this.waiters = [];
        this.exited = null;
        this.p = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        children.add(this.p);
        const feed = (stream, name) => {
            let buf = '';
            stream.on('data', (d) => {
                buf += d.toString();
                let i;
                while ((i = buf.indexOf('\n')) >= 0) {
                    const line = buf.slice(0, i);
                    buf = buf.slice(i + 1);
                    this.lines.push(line);
                    if (process.env.JS_VERBOSE) {
                        process.stderr.write(`[${tag} ${name}] ${line}\n`);
                    }
                    this._check();
                }
            });
        };
        feed(this.p.stdout, 'out');
        feed(this.p.stderr, 'err');
        this.p.on('exit', (code, sig) => {
            children.delete(this.p);
            this.exited = { code, sig };
            this._check();
        });
    }

    _check() {
        this.waiters = this.waiters.filter((w) => {
            const hit = this.lines.slice(w.from).find((l) => w.re.test(l));
            if (hit !== undefined) {
                clearTimeout(w.t);
                w.resolve(hit);
                return false;
            }
            if (this.exited && w.untilExit !== true) {
                clearTimeout(w.t);
                w.reject(new Error(`${this.tag} exited ${JSON.stringify(this.exited)} ` +
                                   `before ${w.re}: ${this.lines.slice(-5).join(' | ')}`));
                return false;
            }
            return true;
        });
    }

    /** The first line (from line `from` on) matching `re`, within `secs`. */
    waitLine(re, secs = 30, from = 0) {
        return new Promise((resolve, reject) => {
            const w = { re, from, resolve, reject };
            w.t = setTimeout(() => {
                this.waiters = this.waiters.filter((x) => x !== w);
                reject(new Error(`${this.tag}: no line ${re} within ${secs}s: ` +
                                 this.lines.slice(-5).join(' | ')));
            }, secs * 1000);
            this.waiters.push(w);
            this._check();
        });
    }

    /** Resolves with the exit status within `secs`. */
    waitExit(secs = 30) {
        return new Promise((resolve, reject) => {
            if (this.exited) {
                resolve(this.exited);
                return;
            }
            const t = setTimeout(() => reject(new Error(`${this.tag} still running`)),
                                 secs * 1000);
            this.p.on('exit', (code, sig) => { clearTimeout(t); resolve({ code, sig }); });
        });
    }

    kill(sig = 'SIGTERM') {
        if (!this.exited) {
            this.p.kill(sig);
        }
        return this.waitExit(15);
    }
}

/** `moneysocket relay --port PORT ARGS…`; resolves with {child, url, port}. */
async function startRelay(port = 0, args = []) {
    const c = new Child(['relay', '--port', String(port), ...args], 'relay');
    const line = await c.waitLine(/^listening at: wss?:\/\//, 20);
    const url = line.split('listening at: ')[1].trim();
    return { child: c, url, port: Number(url.split(':').pop()) };
}

/** `moneysocket terminus` on a fresh data dir (simulated node), with `config` (TOML text)
 * when given; resolves with helpers. */
async function startTerminus(config = '') {
    const dir = tmpdir('terminus');
    const args = ['terminus', '--data-dir', dir, '--listen', '127.0.0.1:0',
                  '--rpc', '127.0.0.1:0'];
    if (config) {
        fs.writeFileSync(path.join(dir, 'terminus.toml'), config);
        args.push('--config', path.join(dir, 'terminus.toml'));
    }
    const c = new Child(args, 'terminus');
    await c.waitLine(/^control at: /, 30);
    const cli = (...args) => runJson(['terminus-cli', '--data-dir', dir, '--no-qr', ...args]);
    return { child: c, dir, cli };
}

/** A fresh v0 beacon at a relay url (our encoder). */
function newBeacon(relayUrl) {
    return run(['beacon', 'new', '--relay', relayUrl, '--no-qr']).stdout.trim();
}

/** Events of one reference ConsumerStack as a queue. */
class JsConsumer {
    constructor(tag) {
        this.tag = tag;
        this.events = [];
        this.waiters = [];
        const s = new ms.ConsumerStack();
        this.stack = s;
        const push = (ev) => {
            ev.who = tag;
            ev.at = Date.now();
            if (process.env.JS_VERBOSE) {
                emit(ev);
            }
            this.events.push(ev);
            this._check();
        };
        s.onannounce = () => push({ event: 'announce' });
        s.onrevoke = () => push({ event: 'revoke' });
        s.onproviderinfo = (info) => push({ event: 'provider', info });
        s.oninvoice = (bolt11, ref) => push({ event: 'invoice', bolt11, ref });
        s.onpreimage = (preimage, ref) => push({ event: 'preimage', preimage, ref });
        s.onerror = (error_msg, ref) => push({ event: 'error', error_msg, ref });
        s.onping = (msecs) => push({ event: 'pong', msecs });
        s.onstackevent = (layer, nexus, status) => push({ event: 'stack', layer, status });
    }

    connect(beaconStr) {
        this.stack.doConnect(beacon(beaconStr));
    }

    _check() {
        this.waiters = this.waiters.filter((w) => {
            const i = this.events.findIndex((e, k) => k >= w.from && w.pred(e));
            if (i >= 0) {
                clearTimeout(w.t);
                w.resolve(this.events[i]);
                return false;
            }
            return true;
        });
    }

    /** The first event (index >= from) satisfying pred, within secs. */
    wait(pred, secs = 20, from = 0, what = '') {
        return new Promise((resolve, reject) => {
            const w = { pred, from, resolve };
            w.t = setTimeout(() => {
                this.waiters = this.waiters.filter((x) => x !== w);
                reject(new Error(`${this.tag}: no ${what || pred} within ${secs}s; last: ` +
                                 JSON.stringify(this.events.slice(-4))));
            }, secs * 1000);
            this.waiters.push(w);
            this._check();
        });
    }

    mark() {
        return this.events.length;
    }

    /** Request an invoice; resolves with the NOTIFY_INVOICE or NOTIFY_ERROR answering it. */
    async invoice(msats, secs = 20) {
        const uuid = ms.Uuid.uuidv4();
        const from = this.mark();
        this.stack.requestInvoice(msats, uuid, '');
        return this.wait((e) => e.ref === uuid && (e.event === 'invoice' || e.event === 'error'),
                         secs, from, 'answer to invoice ' + uuid);
    }

    /** Request a pay; resolves with the NOTIFY_PREIMAGE or NOTIFY_ERROR answering it. */
    async pay(bolt11, secs = 30) {
        const uuid = ms.Uuid.uuidv4();
        const from = this.mark();
        this.stack.requestPay(bolt11, uuid);
        const ev = await this.wait((e) => e.ref === uuid &&
                                   (e.event === 'preimage' || e.event === 'error'),
                                   secs, from, 'answer to pay ' + uuid);
        ev.request_uuid = uuid;
        return ev;
    }

    disconnect() {
        this.stack.doDisconnect();
    }
}

module.exports = { BIN, Child, run, runAsync, runJson, tmpdir, startRelay, startTerminus, newBeacon,
                   JsConsumer, killAll };
