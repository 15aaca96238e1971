// Multi-tab safety for persistent databases. The tab holding the Web Lock `remdb:<name>` owns the
// database: it alone loads and writes the stored image. Every other tab queues for the lock and
// meanwhile proxies its calls to the owner over the BroadcastChannel `remdb:<name>`; when the
// owner closes (or its tab goes away, which frees the lock), the first queued tab takes over and
// the others re-send what is still unanswered. Committed writes are announced on the same
// channel so every tab can react to changes.

import { describe, failure, settle } from './calls.js';

function newTabId() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * Tries to become the owner of `name`. Resolves `{owner: true, release}` or
 * `{owner: false, promoted, cancel}` where `promoted` resolves with `release` once this tab owns it.
 */
export async function claimOwnership(name) {
  if (typeof navigator === 'undefined' || !navigator.locks || typeof navigator.locks.request !== 'function') {
    throw failure('UNSUPPORTED', 'persistent storage ("indexeddb", "opfs") needs the Web Locks API to keep tabs from overwriting each other');
  }
  const lockName = `remdb:${name}`;
  const held = (resolve) => () => new Promise((release) => resolve(() => release()));
  const release = await new Promise((resolve, reject) => {
    navigator.locks.request(lockName, { ifAvailable: true }, (lock) => {
      if (!lock) {
        resolve(null);
        return undefined;
      }
      return held(resolve)();
    }).catch(reject);
  });
  if (release) return { owner: true, release };
  const abort = new AbortController();
  const promoted = new Promise((resolve, reject) => {
    navigator.locks.request(lockName, { signal: abort.signal }, held(resolve)).catch(reject);
  });
  promoted.catch(() => {});
  return { owner: false, promoted, cancel: () => abort.abort() };
}

/** The BroadcastChannel of one database: serves calls (owner), proxies them, relays changes. */
export class TabChannel {
  constructor(name, onChange) {
    this.tabId = newTabId();
    this.onChange = onChange;
    this.engine = null;
    this.proxyEngine = null;
    this.channel = new BroadcastChannel(`remdb:${name}`);
    this.channel.onmessage = (event) => this.receive(event.data);
  }

  /** Answers other tabs' calls with `engine` from now on, and tells them an owner is here. */
  serve(engine) {
    this.engine = engine;
    this.channel.postMessage({ kind: 'owner', from: this.tabId });
  }

  /** An engine that sends every call to the owner tab. */
  proxy() {
    this.proxyEngine = new ProxyEngine(this);
    return this.proxyEngine;
  }

  /** Tells the other tabs that `tenant` committed up to WAL `seq` (a write asked for by tab `from`). */
  announce(tenant, seq, from) {
    this.post({ kind: 'change', tenant, seq, from });
  }

  post(message) {
    try {
      this.channel.postMessage(message);
      return null;
    } catch (e) {
      return failure('INVALID_ARGUMENT', `cannot send this call to the owner tab: ${e.message}`);
    }
  }

  receive(m) {
    if (!m || typeof m !== 'object') return;
    switch (m.kind) {
      case 'call':
        if (this.engine) this.answer(m);
        break;
      case 'reply':
        if (m.to === this.tabId && this.proxyEngine) settle(this.proxyEngine.pending, m);
        break;
      case 'owner':
        if (this.proxyEngine && !this.engine) this.proxyEngine.resend();
        break;
      case 'change':
        this.onChange({ tenant: m.tenant, seq: m.seq, remote: m.from !== this.tabId });
        break;
      default:
    }
  }

  async answer(m) {
    let reply;
    try {
      const value = await this.engine.call(m.tenant, m.method, m.args, m.from);
      reply = { kind: 'reply', to: m.from, id: m.id, ok: true, value };
    } catch (e) {
      reply = { kind: 'reply', to: m.from, id: m.id, ok: false, error: describe(e) };
    }
    const err = this.post(reply);
    if (err) this.post({ kind: 'reply', to: m.from, id: m.id, ok: false, error: describe(err) });
  }

  close() {
    if (this.proxyEngine) this.proxyEngine.close();
    this.engine = null;
    this.channel.close();
  }
}

/** Calls forwarded to the owner tab; re-sent when a new owner appears, or run here on promotion. */
class ProxyEngine {
  constructor(channel) {
    this.channel = channel;
    this.proxied = true;
    this.pending = new Map();
    this.nextId = 0;
    this.target = null;
    this.failed = null;
  }

  call(tenant, method, args) {
    if (this.target) return this.target.call(tenant, method, args);
    if (this.failed) return Promise.reject(this.failed);
    const id = ++this.nextId;
    const message = { kind: 'call', id, from: this.channel.tabId, tenant, method, args };
    return new Promise((resolve, reject) => {
      const err = this.channel.post(message);
      if (err) {
        reject(err);
        return;
      }
      this.pending.set(id, { message, resolve, reject });
    });
  }

  /** A new owner tab: send it whatever the previous one left unanswered. */
  resend() {
    for (const { message } of this.pending.values()) this.channel.post(message);
  }

  /** This tab became the owner: run the unanswered calls here. */
  rerun(engine) {
    this.target = engine;
    this.proxied = false;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const { message, resolve, reject } of pending) {
      engine.call(message.tenant, message.method, message.args).then(resolve, reject);
    }
  }

  fail(error) {
    this.failed = error;
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  async close() {
    this.fail(failure('CLOSED', 'database handle closed'));
  }
}
