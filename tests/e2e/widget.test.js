// End-to-end browser test: the cardholder widget and the agent pane against a
// real hub (`switchboard --dev`), driven in Debian's headless chromium.
//
//   SWITCHBOARD_BIN=target/debug/switchboard node --test tests/e2e/
//
// The hub is started on port 0; its bound URL is read from the
// "listening on http://…" line it prints. Tokens come from POST /dev/token.
// Every wait is on a DOM condition, never a fixed sleep.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.resolve(REPO, process.env.SWITCHBOARD_BIN || 'target/debug/switchboard');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
// Screenshots refresh the README's pictures only when asked
// (SAVE_SCREENSHOTS=1); otherwise they go to a temporary folder so a test
// run leaves the work tree clean.
const SHOTS = process.env.SAVE_SCREENSHOTS === '1'
  ? path.join(REPO, 'docs', 'screenshots')
  : fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-shots-'));
const HUB_LOG = path.join(os.tmpdir(), `switchboard-e2e-hub-${process.pid}.log`);
const STEP_TIMEOUT_MS = 20000;
const XSS = '<img src=x onerror=window.__xss=1>';
// axe-core, evaluated in the page (DevTools evaluation is not subject to the pages' CSP).
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let hub;
let hubUrl;
let browser;
let agentContext;
let agentPage;
let cardholderContext;
let cardholderPage;

/**
 * Starts a hub on port 0 with these arguments, its output going to `logPath`;
 * resolves with { proc, url } once it printed its "listening on" line.
 */
function launchHub(args, logPath, listen = '127.0.0.1:0') {
  if (!fs.existsSync(BIN)) {
    throw new Error(`hub binary not found at ${BIN}: build it (cargo build) or set SWITCHBOARD_BIN`);
  }
  const log = fs.createWriteStream(logPath);
  const proc = spawn(BIN, ['--dev', '--listen', listen, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', NO_COLOR: '1' },
  });
  return new Promise((resolve, reject) => {
    let seen = '';
    let url;
    const timer = setTimeout(() => reject(new Error(`hub printed no "listening on" line in 30 s; log: ${logPath}\n${seen.slice(-2000)}`)), 30000);
    const scan = (chunk) => {
      const text = chunk.toString();
      log.write(text);
      if (url) return;
      seen += text;
      // Strip ANSI colour codes a log formatter may add.
      const m = seen.replace(/\x1b\[[0-9;]*m/g, '').match(/listening on (https?:\/\/[0-9.]+:\d+)/);
      if (m) {
        url = m[1];
        clearTimeout(timer);
        resolve({ proc, url });
      }
    };
    proc.stdout.on('data', scan);
    proc.stderr.on('data', scan); // some log setups write to stderr; the line is looked for on both
    proc.on('exit', (code, signal) => {
      if (!url) {
        clearTimeout(timer);
        reject(new Error(`hub exited early (code ${code}, signal ${signal}); log: ${logPath}\n${seen.slice(-2000)}`));
      }
    });
  });
}

/** The issuer's push service, played by the suite: every notification the hub POSTs. */
const NOTIFY_SECRET = 'e2e-push-secret-0123456789';
const pushed = [];
const pushEvents = new (require('node:events').EventEmitter)();
let pushServer;

/** Resolves with the first notification (pushed already or to come) that `pred` accepts. */
function waitForPush(pred, ms = STEP_TIMEOUT_MS) {
  const found = pushed.find(pred);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { pushEvents.off('push', on); reject(new Error(`no notification in ${ms} ms`)); }, ms);
    const on = (n) => { if (pred(n)) { clearTimeout(timer); pushEvents.off('push', on); resolve(n); } };
    pushEvents.on('push', on);
  });
}

/** Starts the push receiver on a free port; resolves with its URL. */
function startPushReceiver() {
  const http = require('node:http');
  pushServer = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const n = {
        id: req.headers['webhook-id'],
        timestamp: req.headers['webhook-timestamp'],
        signature: req.headers['webhook-signature'],
        legacy: req.headers['x-switchboard-signature'],
        body: Buffer.concat(chunks),
      };
      pushed.push(n);
      pushEvents.emit('push', n);
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => pushServer.listen(0, '127.0.0.1', () => {
    resolve(`http://127.0.0.1:${pushServer.address().port}/push`);
  }));
}

/** Whether a notification passes docs/messaging.md's Standard Webhooks check, as the push service runs it. */
function signedByHub({ id, timestamp, signature, body }) {
  const crypto = require('node:crypto');
  if (!id || !/^\d+$/.test(timestamp || '') || typeof signature !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 5 * 60) return false;
  const mac = crypto.createHmac('sha256', NOTIFY_SECRET).update(`${id}.${timestamp}.`).update(body);
  const expected = Buffer.from('v1,' + mac.digest('base64'));
  return signature.split(' ').some((s) => {
    const given = Buffer.from(s);
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

/** Starts the suite's hub (memory engine) and resolves with its base URL. */
async function startHub() {
  const pushUrl = await startPushReceiver();
  ({ proc: hub, url: hubUrl } = await launchHub(
    ['--canned-replies', path.join(__dirname, 'fixtures', 'canned.json'),
      '--notify-url', pushUrl, '--notify-secret', NOTIFY_SECRET], HUB_LOG));
  return hubUrl;
}

async function stopHub() {
  if (!hub || hub.exitCode !== null) return;
  const exited = new Promise((resolve) => hub.once('exit', resolve));
  hub.kill('SIGTERM');
  const timer = setTimeout(() => hub.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function mintToken(claims, base = hubUrl) {
  const res = await fetch(`${base}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(claims),
  });
  assert.equal(res.status, 200, `POST /dev/token answered ${res.status}`);
  const body = await res.json();
  assert.equal(typeof body.token, 'string');
  return body.token;
}

/** A page on the hub's origin standing in for the issuer's website: one script tag, one mount call. */
const HOST_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Card issuer - my account</title>
<style>body{font-family:system-ui,sans-serif;margin:0;padding:16px;background:#f7f7f7}</style>
</head><body>
<h1>My card</h1><p>Balance and statements would be here.</p>
<script src="/widget/switchboard-widget.js"></script>
<script>
  Switchboard.mount({
    getToken: async () => {
      const res = await fetch('/dev/token', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify(window.__claims),
      });
      if (!res.ok) throw new Error('token ' + res.status);
      return (await res.json()).token;
    },
  });
</script>
</body></html>`;

/**
 * Page init script: keeps a handle on every socket the page opens and, while
 * window.__networkDown is set, points new ones at a closed port. Chromium's
 * offline emulation neither closes open WebSockets nor stops new ones to
 * 127.0.0.1, so this is what makes a network drop real for the sockets.
 */
function trackSockets() {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__networkDown = false;
  window.WebSocket = class extends Native {
    constructor(url, ...rest) {
      super(window.__networkDown ? 'ws://127.0.0.1:9/' : url, ...rest);
      window.__sockets.push(this);
    }
  };
}

/**
 * Page init script (after trackSockets): the suite's hand on the frames of
 * the page's sockets. Every frame sent is logged in window.__sent as
 * { at, frame } (at: performance.now()). An incoming frame that
 * window.__hold(frame) accepts is kept back in window.__held until
 * window.__release(order) hands the kept frames (by index, any order, as
 * often as listed) to the page; window.__rewrite(frame) may replace an
 * incoming frame (null: drop it). This is how a test shows the page what
 * the network may do (late, twice, refused) on demand, without waiting.
 */
function frameHooks() {
  const Native = window.WebSocket;
  window.__sent = [];
  window.__held = [];
  window.__hold = null;
  window.__rewrite = null;
  let current = null; // the socket's handler frames go to now: { ws, handler }
  const deliver = (ws, handler, frame) => handler.call(ws, new MessageEvent('message', { data: JSON.stringify(frame) }));
  window.__release = (order) => {
    const held = window.__held.slice();
    order.forEach((i) => deliver(held[i].ws, held[i].handler, held[i].frame));
  };
  /** Hands the page a frame as if the hub had sent it on the current socket. */
  window.__deliver = (frame) => deliver(current.ws, current.handler, frame);
  window.WebSocket = class extends Native {
    send(data) {
      try { window.__sent.push({ at: performance.now(), frame: JSON.parse(data) }); } catch (e) { /* not JSON */ }
      return super.send(data);
    }

    set onmessage(handler) {
      if (!handler) { super.onmessage = null; return; }
      const ws = this;
      current = { ws, handler };
      super.onmessage = (ev) => {
        let frame;
        try { frame = JSON.parse(ev.data); } catch (e) { return handler.call(ws, ev); }
        if (window.__hold && window.__hold(frame)) { window.__held.push({ ws, handler, frame }); return undefined; }
        if (window.__rewrite) {
          const out = window.__rewrite(frame);
          if (out === null) return undefined;
          if (out !== frame) return deliver(ws, handler, out);
        }
        return handler.call(ws, ev);
      };
    }

    get onmessage() { return super.onmessage; }
  };
}

/** A network drop: the browser goes offline and its sockets die and cannot reconnect. */
async function dropNetwork(context, page) {
  await page.evaluate(() => {
    window.__networkDown = true;
    window.__sockets.forEach((s) => { try { s.close(); } catch (e) { /* closed */ } });
  });
  await context.setOffline(true);
}

async function restoreNetwork(context, page) {
  await page.evaluate(() => { window.__networkDown = false; });
  await context.setOffline(false);
}

/**
 * Adds page init scripts to a context: `init` is a function, a
 * { script, arg } pair, or a list of them, run in that order.
 */
async function addInit(context, init) {
  for (const one of [].concat(init || [])) {
    if (typeof one === 'function') await context.addInitScript(one);
    else await context.addInitScript(one.script, one.arg);
  }
}

/**
 * Opens the host page as a cardholder with the given claims, on a 360 px
 * wide phone screen; `init`: more page init scripts (addInit), e.g. frameHooks.
 */
async function openCardholder(claims, base = hubUrl, init = null) {
  const context = await browser.newContext({
    viewport: { width: 360, height: 720 },
    deviceScaleFactor: 2,
    hasTouch: true,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  await context.addInitScript(trackSockets);
  await addInit(context, init);
  await context.addInitScript((c) => { window.__claims = c; }, claims);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('[cardholder page error]', err.message));
  // The host page must come from the hub's origin (same-origin /dev/token, and a
  // real loopback response so chromium's local-network checks let the socket
  // through): load a small hub page, then write the site into it.
  await page.goto(`${base}/healthz`);
  await page.setContent(HOST_PAGE);
  return { context, page };
}

/** Seqs of transcript entries shown, in DOM order. */
function seqs(page, selector) {
  return page.locator(selector).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
}

function assertContiguous(list, label) {
  assert.ok(list.length > 0, `${label}: empty transcript`);
  assert.equal(new Set(list).size, list.length, `${label}: duplicate seq in ${JSON.stringify(list)}`);
  const expected = Array.from({ length: list.length }, (_, i) => i + 1);
  assert.deepEqual(list, expected, `${label}: transcript has a gap or is out of order`);
}

/** The hub's last log lines, attached to a failure so CI output explains it. */
function hubLogTail(lines = 40) {
  try {
    return fs.readFileSync(HUB_LOG, 'utf8').replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return '(no hub log)';
  }
}

/** test() whose failures carry the hub's log tail. */
function e2e(name, options, body) {
  test(name, options, async (t) => {
    try {
      await body(t);
    } catch (err) {
      err.message += `\n--- hub log (last lines of ${HUB_LOG}) ---\n${hubLogTail()}`;
      throw err;
    }
  });
}

before(async () => {
  await startHub();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopHub();
  if (pushServer) pushServer.close();
});

e2e('premium cardholder and agent chat both ways', { timeout: 90000 }, async () => {
  // Agent pane: token handed over through sessionStorage, as the agent desktop would.
  const agentToken = await mintToken({
    role: 'agent', sub: 'e2e-agent', name: 'Alex Agent', max_chats: 3,
    teams: ['standard', 'premium', 'business', 'prepaid', 'identity', 'fraud'],
  });
  agentContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  agentContext.setDefaultTimeout(STEP_TIMEOUT_MS);
  await agentContext.addInitScript(trackSockets);
  await agentContext.addInitScript((token) => {
    try { sessionStorage.setItem('switchboard.agentToken', token); } catch (e) { /* about:blank */ }
  }, agentToken);
  agentPage = await agentContext.newPage();
  agentPage.on('pageerror', (err) => console.error('[agent page error]', err.message));
  await agentPage.goto(`${hubUrl}/agent/`);
  await agentPage.locator('#sba-conn[data-state="connected"]').waitFor();
  assert.ok(!agentPage.url().includes(agentToken), 'token must not be in the URL');
  await agentPage.locator('#sba-availability').click();
  await agentPage.locator('#sba-availability[aria-pressed="true"]').waitFor();
  // The queue overview arrives (the pane asks every 5 s).
  await agentPage.locator('#sba-queues tr[data-tier="premium"]').waitFor();

  // Cardholder: launcher, topic picker, start.
  ({ context: cardholderContext, page: cardholderPage } = await openCardholder({
    role: 'cardholder', sub: 'e2e-premium', tier: 'premium', name: 'Pat Premium', phone_last4: '4321',
  }));
  const launcher = cardholderPage.locator('.sbw-launcher');
  await launcher.click();
  await cardholderPage.locator('.sbw-topic-screen').waitFor();
  await cardholderPage.locator('.sbw-topic', { hasText: 'Dispute a charge' }).click();
  await cardholderPage.locator('.sbw-start').click();

  // The agent gets the chat in a tab with the premium badge and the topic.
  const tab = agentPage.locator('.sba-tab', { hasText: 'Pat Premium' });
  await tab.waitFor();
  await tab.locator('.sba-tier-premium').waitFor();
  await tab.locator('.sba-tab-meta', { hasText: 'Dispute a charge' }).waitFor();
  await cardholderPage.locator('.sbw-status', { hasText: 'Chatting with Alex Agent' }).waitFor();

  // Cardholder -> agent, with the typing indicator first.
  const composer = cardholderPage.locator('.sbw-composer');
  await composer.click();
  await composer.pressSequentially('Hello, a charge I do not recognise');
  await agentPage.locator('.sba-panel:not([hidden]) .sba-typing:not([hidden])').waitFor();
  await composer.press('Enter');
  await agentPage.locator('.sba-cardholder .sba-bubble', { hasText: 'Hello, a charge I do not recognise' }).waitFor();
  await cardholderPage.locator('.sbw-own[data-seq] .sbw-bubble', { hasText: 'a charge I do not recognise' }).waitFor();

  // Agent -> cardholder.
  const reply = agentPage.locator('.sba-panel:not([hidden]) .sba-composer');
  await reply.fill("Hi Pat, I'm Alex. Which charge is it?");
  await reply.press('Enter');
  await cardholderPage.locator('.sbw-agent .sbw-bubble', { hasText: 'Which charge is it?' }).waitFor();

  // Read receipts both ways: the agent's open tab saw the cardholder's line,
  // and the open widget saw the agent's.
  await cardholderPage.locator('.sbw-own .sbw-seen').waitFor();
  await agentPage.locator('.sba-own .sba-seen').waitFor();
});

e2e('network drop and return: no gap, no duplicate', { timeout: 90000 }, async () => {
  assert.ok(cardholderPage, 'needs the chat from the first test');
  await dropNetwork(cardholderContext, cardholderPage);
  await cardholderPage.locator('.sbw-banner:not([hidden])').waitFor();
  // The agent sees the cardholder is gone for now.
  await agentPage.locator('.sba-panel:not([hidden]) .sba-presence[data-presence="away"]').waitFor();
  await agentPage.locator('.sba-tab[aria-selected="true"] .sba-tab-presence[data-presence="away"]').waitFor();

  // The agent keeps talking while the cardholder is away.
  const reply = agentPage.locator('.sba-panel:not([hidden]) .sba-composer');
  for (const n of [1, 2, 3]) {
    await reply.fill(`While you were away ${n}`);
    await reply.press('Enter');
    await agentPage.locator('.sba-own[data-seq] .sba-bubble', { hasText: `While you were away ${n}` }).waitFor();
  }
  // The cardholder writes while offline: held and sent after reconnecting.
  const composer = cardholderPage.locator('.sbw-composer');
  await composer.fill('Sent while offline');
  await composer.press('Enter');
  await cardholderPage.locator('.sbw-pending .sbw-bubble', { hasText: 'Sent while offline' }).waitFor();

  // Really cut off meanwhile: none of the agent's lines got through.
  assert.equal(await cardholderPage.locator('.sbw-bubble', { hasText: 'While you were away' }).count(), 0);
  assert.ok(await cardholderPage.locator('.sbw-banner').isVisible(), 'the widget says it is offline');

  await restoreNetwork(cardholderContext, cardholderPage);
  await cardholderPage.locator('.sbw-agent[data-seq] .sbw-bubble', { hasText: 'While you were away 3' }).waitFor();
  await cardholderPage.locator('.sbw-own[data-seq] .sbw-bubble', { hasText: 'Sent while offline' }).waitFor();
  await agentPage.locator('.sba-cardholder .sba-bubble', { hasText: 'Sent while offline' }).waitFor();
  await cardholderPage.locator('.sbw-banner').waitFor({ state: 'hidden' });
  assert.equal(await cardholderPage.locator('.sbw-pending').count(), 0, 'nothing left pending');
  await agentPage.locator('.sba-panel:not([hidden]) .sba-presence[data-presence="online"]').waitFor();

  const cardholderSeqs = await seqs(cardholderPage, '.sbw-transcript [data-seq]');
  assertContiguous(cardholderSeqs, 'cardholder');
  const agentSeqs = await seqs(agentPage, '.sba-panel:not([hidden]) .sba-transcript [data-seq]');
  assertContiguous(agentSeqs, 'agent');
  assert.deepEqual(cardholderSeqs, agentSeqs, 'both sides show the same transcript');
  for (const text of ['While you were away 1', 'While you were away 2', 'While you were away 3', 'Sent while offline']) {
    assert.equal(await cardholderPage.locator('.sbw-bubble', { hasText: text }).count(), 1, `"${text}" shown once`);
  }

  // Back online, the widget reports what it has now seen.
  await agentPage.locator('.sba-own[data-seq]').last().locator('.sba-seen').waitFor();

  await cardholderPage.screenshot({ path: path.join(SHOTS, 'widget.png') });
  await agentPage.screenshot({ path: path.join(SHOTS, 'agent.png') });
});

e2e('an XSS attempt renders as text on both sides', { timeout: 60000 }, async () => {
  assert.ok(cardholderPage, 'needs the chat from the first test');
  const composer = cardholderPage.locator('.sbw-composer');
  await composer.fill(XSS);
  await composer.press('Enter');
  const atAgent = agentPage.locator('.sba-cardholder .sba-bubble', { hasText: 'onerror' });
  await atAgent.waitFor();
  assert.equal(await atAgent.textContent(), XSS);

  const reply = agentPage.locator('.sba-panel:not([hidden]) .sba-composer');
  await reply.fill(`Echo: ${XSS}`);
  await reply.press('Enter');
  const atCardholder = cardholderPage.locator('.sbw-agent .sbw-bubble', { hasText: 'Echo:' });
  await atCardholder.waitFor();
  assert.equal(await atCardholder.textContent(), `Echo: ${XSS}`);

  for (const page of [cardholderPage, agentPage]) {
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'the onerror handler never ran');
    assert.equal(await page.locator('.sbw-transcript img, .sba-transcript img').count(), 0, 'no <img> was created');
  }
});

e2e('a card number typed over two messages is masked on both sides', { timeout: 60000 }, async () => {
  assert.ok(cardholderPage, 'needs the chat from the first test');
  const composer = cardholderPage.locator('.sbw-composer');
  await composer.fill('my card is 4111 1111');
  await composer.press('Enter');
  const firstAtAgent = agentPage.locator('.sba-cardholder .sba-bubble', { hasText: 'my card is' });
  await firstAtAgent.waitFor();
  await composer.fill('1111 1111');
  await composer.press('Enter');
  // The earlier line is redacted in place on both sides; the new one arrives masked.
  await agentPage.locator('.sba-cardholder .sba-bubble', { hasText: 'my card is **** **** ****' }).waitFor();
  await cardholderPage.locator('.sbw-own .sbw-bubble', { hasText: 'my card is **** **** ****' }).waitFor();
  for (const page of [cardholderPage, agentPage]) {
    const shown = await page.locator('.sbw-bubble, .sba-bubble').allTextContents();
    assert.ok(!shown.some((t) => t.includes('4111 1111') || t.includes('1111 1111')), shown.join(' | '));
  }
});

e2e('the agent pane drops and resumes its chats without gaps', { timeout: 60000 }, async () => {
  assert.ok(cardholderPage, 'needs the chat from the first test');
  await dropNetwork(agentContext, agentPage);
  await agentPage.locator('#sba-conn:not([data-state="connected"])').waitFor();
  const composer = cardholderPage.locator('.sbw-composer');
  await composer.fill('Are you still there?');
  await composer.press('Enter');
  await cardholderPage.locator('.sbw-own[data-seq] .sbw-bubble', { hasText: 'Are you still there?' }).waitFor();

  assert.equal(await agentPage.locator('.sba-bubble', { hasText: 'Are you still there?' }).count(), 0, 'the pane was really cut off');
  await restoreNetwork(agentContext, agentPage);
  await agentPage.locator('#sba-conn[data-state="connected"]').waitFor();
  await agentPage.locator('.sba-cardholder .sba-bubble', { hasText: 'Are you still there?' }).waitFor();
  assert.equal(await agentPage.locator('.sba-tab').count(), 1, 'the chat is resumed in its tab, not duplicated');
  // The hub sets a vanished agent away; the pane restores the agent's choice.
  await agentPage.locator('#sba-availability[aria-pressed="true"]').waitFor();
  const agentSeqs = await seqs(agentPage, '.sba-panel:not([hidden]) .sba-transcript [data-seq]');
  assertContiguous(agentSeqs, 'agent after reconnect');
  assert.deepEqual(agentSeqs, await seqs(cardholderPage, '.sbw-transcript [data-seq]'));
});

e2e('the agent ends the chat and the cardholder is offered a new one', { timeout: 60000 }, async () => {
  assert.ok(cardholderPage, 'needs the chat from the first test');
  await agentPage.locator('.sba-panel:not([hidden]) .sba-end-chat').click();
  await agentPage.locator('.sba-panel:not([hidden]) .sba-confirm-end').click();
  await agentPage.locator('.sba-panel:not([hidden]) .sba-ended:not([hidden])').waitFor();
  await cardholderPage.locator('.sbw-ended:not([hidden])').waitFor();
  await cardholderPage.locator('.sbw-new-chat:visible').click();
  await cardholderPage.locator('.sbw-topic-screen').waitFor();
  await cardholderPage.keyboard.press('Escape');
  await cardholderPage.locator('.sbw-panel').waitFor({ state: 'hidden' });
  assert.equal(await cardholderPage.locator('.sbw-launcher').getAttribute('aria-expanded'), 'false');
});

e2e('earlier conversations: the cardholder reads a past chat, the agent sees it beside a new one', { timeout: 60000 }, async () => {
  assert.ok(cardholderPage, 'needs the ended chat from the tests above');
  // The cardholder opens the list from the topic screen and reads the chat back.
  await cardholderPage.locator('.sbw-launcher').click();
  await cardholderPage.locator('.sbw-topic-screen').waitFor();
  await cardholderPage.locator('.sbw-history-open').click();
  const item = cardholderPage.locator('.sbw-history-item', { hasText: 'Dispute a charge' });
  await item.waitFor();
  assert.equal(await cardholderPage.locator('.sbw-history-item').count(), 1, 'one earlier conversation');
  await item.locator('.sbw-history-when', { hasText: 'Alex Agent' }).waitFor();
  await item.click();
  await cardholderPage.locator('.sbw-past-transcript .sbw-bubble', { hasText: 'Which charge is it?' }).waitFor();
  await cardholderPage.locator('.sbw-past-transcript .sbw-bubble', { hasText: 'my card is **** **** ****' }).waitFor();
  const shown = await cardholderPage.locator('.sbw-past-transcript .sbw-bubble').allTextContents();
  assert.ok(!shown.some((t) => t.includes('4111 1111')), 'the past transcript is masked');
  await cardholderPage.locator('.sbw-past-back').click();
  await cardholderPage.locator('.sbw-history-back').click();

  // A new chat: its agent sees the cardholder's history beside it and reads the old chat.
  await cardholderPage.locator('.sbw-topic', { hasText: 'A general question' }).click();
  await cardholderPage.locator('.sbw-start').click();
  const tab = agentPage.locator('.sba-tab', { hasText: 'General question' });
  await tab.waitFor();
  await tab.click();
  const panel = agentPage.locator('.sba-panel:not([hidden])');
  await panel.locator('.sba-history-summary', { hasText: 'Earlier conversations (1)' }).waitFor();
  await panel.locator('.sba-history-item', { hasText: 'Dispute a charge' }).click();
  await panel.locator('.sba-past .sba-bubble', { hasText: 'Which charge is it?' }).waitFor();
  await cardholderPage.locator('.sbw-status', { hasText: 'Chatting with Alex Agent' }).waitFor();
  await panel.locator('.sba-end-chat').click();
  await panel.locator('.sba-confirm-end').click();
  await cardholderPage.locator('.sbw-ended:not([hidden])').waitFor();
  await cardholderPage.keyboard.press('Escape');
});

e2e('locked_account shows the callback screen with the reference', { timeout: 60000 }, async () => {
  const { context, page } = await openCardholder({
    role: 'cardholder', sub: 'e2e-locked', tier: 'standard', name: 'Lee Locked', phone_last4: '4321',
  });
  try {
    await page.locator('.sbw-launcher').click();
    await page.locator('.sbw-topic', { hasText: 'My account is locked' }).click();
    await page.locator('.sbw-start').click();
    await page.locator('.sbw-escalated').waitFor();
    await page.locator('.sbw-esc-phone', { hasText: "We'll call the number ending 4321" }).waitFor();
    const ref = (await page.locator('.sbw-ref').textContent()).trim();
    assert.ok(ref.length > 0, 'a callback reference is shown');
    await page.screenshot({ path: path.join(SHOTS, 'widget-callback.png') });

    // The identity desk sees the request live, claims it and closes it.
    const row = agentPage.locator(`.sba-desk[data-desk="identity"] .sba-callback[data-ref="${ref}"]`);
    await row.waitFor();
    await row.locator('.sba-claim').click();
    await row.locator('.sba-outcome-reached').waitFor();
    // What the desk works with: the name, the masked phone, a readable reason.
    await row.locator('.sba-callback-name', { hasText: 'Lee Locked' }).waitFor();
    await row.locator('.sba-phone', { hasText: '\u2022\u2022\u2022\u2022 4321' }).waitFor();
    await row.locator('.sba-callback-reason', { hasText: 'Locked account (chosen topic)' }).waitFor();
    await page.locator('.sbw-esc-hint', { hasText: "Chat can't unlock the account" }).waitFor();
    await agentPage.screenshot({ path: path.join(SHOTS, 'agent-callbacks.png') });
    // An outcome is confirmed before it is recorded.
    await row.locator('.sba-outcome-reached').click();
    await row.locator('.sba-outcome-cancel').click();
    await row.locator('.sba-outcome-reached').click();
    await row.locator('.sba-outcome-yes').click();
    await row.waitFor({ state: 'detached' });
    await agentPage.locator(`.sba-desk[data-desk="identity"] .sba-done-item[data-ref="${ref}"]`).waitFor({ state: 'attached' });
  } finally {
    await context.close();
  }
});

e2e('a secure message: left, the page closed, claimed and answered, the reply unread on return', { timeout: 90000 }, async () => {
  const claims = { role: 'cardholder', sub: 'e2e-msg-cardholder', tier: 'prepaid', name: 'Pat Prepaid' };
  let ch = await openCardholder(claims);
  let pane;
  try {
    await ch.page.locator('.sbw-launcher').click();
    await ch.page.locator('.sbw-messages-open').click();
    await ch.page.locator('.sbw-reply-within', { hasText: 'We usually reply within 1 day.' }).waitFor();
    assert.deepEqual(await axeViolations(ch.page), [], 'widget, message centre');
    await ch.page.locator('.sbw-message-topic').selectOption('billing');
    await ch.page.locator('.sbw-message-text').fill('Why was my top-up charged twice?');
    await ch.page.locator('.sbw-message-send').click();
    await ch.page.locator('.sbw-thread-transcript .sbw-own .sbw-bubble', { hasText: 'charged twice' }).waitFor();
    await ch.page.locator('.sbw-thread-status', { hasText: 'Waiting for our reply' }).waitFor();
    await ch.context.close();

    pane = await openAgent({ sub: 'e2e-msg-agent', name: 'Mo Message', max_chats: 2, teams: ['prepaid'] });
    const item = pane.page.locator('.sba-inbox-item', { hasText: 'Pat Prepaid' });
    await item.waitFor();
    assert.deepEqual(await axeViolations(pane.page), [], 'agent pane, inbox');
    await item.locator('.sba-claim-message').click();
    const panel = pane.page.locator('.sba-panel:not([hidden])');
    await panel.locator('.sba-transcript', { hasText: 'charged twice' }).waitFor();
    await pane.page.locator('.sba-inbox-item').waitFor({ state: 'detached' });
    await panel.locator('.sba-composer').fill('The second charge is refunded.');
    await panel.locator('.sba-composer').press('Enter');
    await panel.locator('.sba-transcript li[data-from="agent"]', { hasText: 'refunded' }).waitFor();

    // The cardholder was connected nowhere: the push service hears of the
    // reply, signed, without its text.
    const notice = await waitForPush((n) => JSON.parse(n.body).sub === claims.sub);
    assert.ok(signedByHub(notice), 'webhook-signature is the HMAC of id.timestamp.body');
    assert.equal(notice.legacy, undefined, 'the body-only signature is no longer sent');
    const sent = JSON.parse(notice.body);
    assert.equal(notice.id, sent.id, 'webhook-id is the event id');
    assert.deepEqual(Object.keys(sent).sort(), ['at', 'conversation', 'event', 'id', 'sub']);
    assert.ok(!notice.body.toString().includes('refunded'), 'never the text');

    ch = await openCardholder(claims);
    await ch.page.locator('.sbw-launcher').click();
    await ch.page.locator('.sbw-messages-badge:not([hidden])', { hasText: '1' }).waitFor();
    await ch.page.locator('.sbw-messages-open').click();
    const thread = ch.page.locator('.sbw-thread-item', { hasText: '1 new' });
    await thread.waitFor();
    await thread.click();
    await ch.page.locator('.sbw-thread-transcript .sbw-agent .sbw-bubble', { hasText: 'refunded' }).waitFor();
    await ch.page.locator('.sbw-messages-badge').waitFor({ state: 'hidden' });

    await panel.locator('.sba-resolve').click();
    await panel.locator('.sba-ended:not([hidden])', { hasText: 'Resolved' }).waitFor();
    await ch.page.locator('.sbw-thread-status', { hasText: 'Answered' }).waitFor();
  } finally {
    await ch.context.close().catch(() => {});
    if (pane) await pane.context.close().catch(() => {});
  }
});

e2e('an agent escalates a verification-code chat: the cardholder is told why, the desk reads the chat and logs each call', { timeout: 90000 }, async () => {
  await setAway(agentPage);
  const { context, page: pane } = await openAgent({ sub: 'e2e-esc-agent', name: 'Eve Escalates', max_chats: 2, teams: ['prepaid'] });
  const desk = await openAgent({ sub: 'e2e-desk-identity', name: 'Ida Identity', max_chats: 1, teams: ['identity'] });
  const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-codes', tier: 'prepaid', name: 'Cody Codes', phone_last4: '9876' });
  try {
    await pane.locator('#sba-availability').click();
    await pane.locator('#sba-availability[aria-pressed="true"]').waitFor();
    await ch.page.locator('.sbw-launcher').click();
    await ch.page.locator('.sbw-topic', { hasText: 'Trouble with verification codes' }).click();
    await ch.page.locator('.sbw-start').click();
    await pane.locator('.sba-tab', { hasText: 'Cody Codes' }).waitFor();
    const composer = ch.page.locator('.sbw-composer');
    await composer.fill('The codes never arrive on my phone');
    await composer.press('Enter');
    const panel = pane.locator('.sba-panel:not([hidden])');
    await panel.locator('.sba-cardholder .sba-bubble', { hasText: 'codes never arrive' }).waitFor();
    await panel.locator('.sba-more > summary').click();
    await panel.locator('.sba-escalate-desk').selectOption('identity');
    await panel.locator('.sba-escalate-note').fill('Phone number changed last month');
    await panel.locator('.sba-escalate button[type="submit"]').click();

    // The cardholder is told what the call is about, never the staff note.
    await ch.page.locator('.sbw-escalated[data-concern="verification_code"]').waitFor();
    await ch.page.locator('.sbw-esc-reason', { hasText: 'verification codes' }).waitFor();
    const widgetText = await ch.page.locator('.switchboard-widget-host').evaluate((host) => (host.shadowRoot || host).textContent);
    assert.ok(!widgetText.includes('changed last month'), 'no staff note in the widget');
    const ref = (await ch.page.locator('.sbw-ref').textContent()).trim();

    const row = desk.page.locator(`.sba-desk[data-desk="identity"] .sba-callback[data-ref="${ref}"]`);
    await row.waitFor();
    await row.locator('.sba-callback-name', { hasText: 'Cody Codes' }).waitFor();
    await row.locator('.sba-phone', { hasText: '\u2022\u2022\u2022\u2022 9876' }).waitFor();
    await row.locator('.sba-callback-reason', { hasText: 'Agent escalated: Phone number changed last month' }).waitFor();
    // The chat it came from, one click away.
    await row.locator('.sba-read-chat').click();
    await row.locator('.sba-desk-chat li', { hasText: 'codes never arrive' }).waitFor();

    // A call that nobody answered, with a note, confirmed; it stays on the list with its time.
    await row.locator('.sba-claim').click();
    await row.locator('.sba-call-note-input').fill('Voicemail left');
    await row.locator('.sba-outcome-no_answer').click();
    await row.locator('.sba-outcome-yes').click();
    await row.locator('.sba-call', { hasText: 'Voicemail left' }).waitFor();
    await row.locator('.sba-call-head', { hasText: 'No answer' }).waitFor();
    // The chat stays open across list updates.
    await row.locator('.sba-desk-chat li', { hasText: 'codes never arrive' }).waitFor();
    assert.deepEqual(await axeViolations(desk.page), [], 'agent pane, callback desk');
    await desk.page.screenshot({ path: path.join(SHOTS, 'agent-callback-desk.png') });
    // Reached on the second call: it moves to "Done today".
    await row.locator('.sba-claim').click();
    await row.locator('.sba-outcome-reached').click();
    await row.locator('.sba-outcome-yes').click();
    await row.waitFor({ state: 'detached' });
    const done = desk.page.locator(`.sba-desk[data-desk="identity"] .sba-done-item[data-ref="${ref}"]`);
    await desk.page.locator('.sba-desk[data-desk="identity"] .sba-done > summary', { hasText: 'Done today (1)' }).click();
    await done.locator('.sba-call', { hasText: 'Voicemail left' }).waitFor();
  } finally {
    await ch.context.close();
    await desk.context.close();
    await context.close();
  }
});

e2e('nobody can chat: the waiting cardholder is offered a secure message or, for a login problem, a call back', { timeout: 60000 }, async () => {
  // A hub of its own, with no agent signed in at all.
  const log = path.join(os.tmpdir(), `switchboard-e2e-offer-${process.pid}.log`);
  const node = await launchHub([], log);
  const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-offer', tier: 'standard', name: 'Olive Offer', phone_last4: '5511' }, node.url);
  try {
    const offer = await offeredWhileWaiting(ch.page, 'I forgot my login details');
    await offer.locator('.sbw-offer-call:not([hidden])', { hasText: 'Ask for a call back' }).waitFor();
    assert.deepEqual(await axeViolations(ch.page), [], 'widget, offer');
    await offer.locator('.sbw-offer-call').click();
    await ch.page.locator('.sbw-escalated[data-concern="identity"]').waitFor();
    await ch.page.locator('.sbw-esc-phone', { hasText: '5511' }).waitFor();
    assert.match(await ch.page.locator('.sbw-ref').textContent(), /\S/);

    // A billing question is not one the hub takes a call back for (it is not in
    // welcome's call_back_topics): only the secure message is offered.
    const billing = await openCardholder({ role: 'cardholder', sub: 'e2e-offer-billing', tier: 'standard', name: 'Bill Payer' }, node.url);
    try {
      const other = await offeredWhileWaiting(billing.page, 'My bill or a payment');
      assert.equal(await other.locator('.sbw-offer-call').isHidden(), true, 'no call back for a billing chat');
    } finally {
      await billing.context.close();
    }
  } finally {
    await ch.context.close();
    node.proc.kill('SIGTERM');
  }
});

/**
 * Starts a chat about the topic labelled `label` in the widget on `page` and
 * returns the waiting chat's offer bar, once it offers a secure message.
 */
async function offeredWhileWaiting(page, label) {
  await startChat(page, label);
  const offer = page.locator('.sbw-offer:not([hidden])');
  await offer.locator('.sbw-offer-message', { hasText: 'Leave a secure message' }).waitFor();
  return offer;
}

/** Opens the widget on `page` and starts a chat about the topic labelled `label`. */
async function startChat(page, label) {
  await page.locator('.sbw-launcher').click();
  await page.locator('.sbw-topic', { hasText: label }).click();
  await page.locator('.sbw-start').click();
}

/** Sets the agent of the pane on `page` available. */
async function setAvailable(page) {
  await page.locator('#sba-availability').click();
  await page.locator('#sba-availability[aria-pressed="true"]').waitFor();
}

/** axe-core's serious and critical violations on the page, one line each (widget's shadow DOM included). */
async function axeViolations(page) {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const { violations } = await window.axe.run(document, { resultTypes: ['violations'] });
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}) ×${v.nodes.length}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
}

/** Sets the pane's agent away, if it is available, so new chats go to another agent. */
async function setAway(page) {
  if (!page || page.isClosed()) return;
  const available = page.locator('#sba-availability[aria-pressed="true"]');
  if (await available.count()) {
    await available.click();
    await page.locator('#sba-availability[aria-pressed="false"]').waitFor();
  }
}

/** Where each staff app lives and keeps its token. */
const STAFF = {
  agent: { path: '/agent/', tokenKey: 'switchboard.agentToken', conn: '#sba-conn' },
  supervisor: { path: '/supervisor/', tokenKey: 'switchboard.supervisorToken', conn: '#sbs-conn' },
};

/**
 * A staff app (1280×800) of `role` on the hub at `base`, signed in with a
 * token handed over through sessionStorage, connected; `init`: more page
 * init scripts (addInit).
 */
async function openStaff(role, claims, base = hubUrl, init = null) {
  const app = STAFF[role];
  const token = await mintToken({ role, ...claims }, base);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  await context.addInitScript(trackSockets);
  await addInit(context, init);
  await context.addInitScript(([key, t]) => {
    try { sessionStorage.setItem(key, t); } catch (e) { /* about:blank */ }
  }, [app.tokenKey, token]);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${role} page error]`, err.message));
  await page.goto(`${base}${app.path}`);
  await page.locator(`${app.conn}[data-state="connected"]`).waitFor();
  return { context, page };
}

/** A new agent's pane on the hub at `base`, signed in, not yet available. */
function openAgent(claims, base = hubUrl, init = null) {
  return openStaff('agent', claims, base, init);
}

e2e('axe finds no serious or critical violation in the widget and the pane', { timeout: 90000 }, async () => {
  // The first test's agent serves every team: set it away so this chat reaches the new agent.
  await setAway(agentPage);
  // An agent of one team, so the queue table also shows tiers it does not serve.
  const { context, page: pane } = await openAgent({ sub: 'e2e-axe-agent', name: 'Ada Axe', max_chats: 2, teams: ['standard'] });
  const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-axe-cardholder', tier: 'standard', name: 'Sam Standard' });
  try {
    await pane.locator('#sba-availability').click();
    await pane.locator('#sba-queues tr[data-tier="prepaid"]').waitFor();
    assert.deepEqual(await axeViolations(pane), [], 'agent pane, no chat');

    await ch.page.locator('.sbw-launcher').click();
    await ch.page.locator('.sbw-topic-screen').waitFor();
    assert.deepEqual(await axeViolations(ch.page), [], 'widget, topic screen');
    await ch.page.locator('.sbw-topic', { hasText: 'My bill or a payment' }).click();
    await ch.page.locator('.sbw-start').click();
    await pane.locator('.sba-tab', { hasText: 'Sam Standard' }).waitFor();
    const composer = ch.page.locator('.sbw-composer');
    await composer.fill('Why was I charged twice?');
    await composer.press('Enter');
    await pane.locator('.sba-cardholder .sba-bubble', { hasText: 'charged twice' }).waitFor();
    const reply = pane.locator('.sba-panel:not([hidden]) .sba-composer');
    await reply.fill('Let me look at your statement.');
    await reply.press('Enter');
    await ch.page.locator('.sbw-agent .sbw-bubble', { hasText: 'your statement' }).waitFor();
    assert.deepEqual(await axeViolations(ch.page), [], 'widget, chat');
    assert.deepEqual(await axeViolations(pane), [], 'agent pane, with a chat');
  } finally {
    await ch.context.close();
    await context.close();
  }
});

e2e('the demo page: Start in sight on a laptop, the widget never over the agent on a phone', { timeout: 60000 }, async () => {
  for (const [width, height] of [[1366, 900], [390, 844]]) {
    const context = await browser.newContext({ viewport: { width, height } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    try {
      const page = await context.newPage();
      await page.goto(`${hubUrl}/`);
      const start = page.locator('.sbw-start');
      await start.waitFor();
      const slot = await page.locator('#widget-slot').boundingBox();
      const agentHeading = await page.locator('#agent-h').boundingBox();
      const button = await start.boundingBox();
      if (width > 820) {
        assert.ok(button.y + button.height <= height, `${width}×${height}: Start ends at ${button.y + button.height}, below the fold`);
        assert.deepEqual(await axeViolations(page), [], 'demo page');
      } else {
        assert.ok(slot.y + slot.height <= agentHeading.y, `${width}×${height}: the widget (to ${slot.y + slot.height}) runs into the agent section (${agentHeading.y})`);
        assert.ok(button.y + button.height <= slot.y + slot.height, `${width}×${height}: Start is outside the widget`);
      }
    } finally {
      await context.close();
    }
  }
});

e2e('the agent desk: canned replies by /, safe links, a confirmed end, transfer to other tiers', { timeout: 90000 }, async () => {
  await setAway(agentPage);
  const { context, page: pane } = await openAgent({ sub: 'e2e-desk-agent', name: 'Dee Desk', max_chats: 3, teams: ['standard', 'premium'] });
  const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-desk-cardholder', tier: 'standard', name: 'Robin Standard' });
  try {
    await pane.locator('#sba-alerts').click();
    await pane.locator('#sba-alerts[aria-pressed="true"]').waitFor();
    await pane.locator('#sba-availability').click();
    await ch.page.locator('.sbw-launcher').click();
    await ch.page.locator('.sbw-topic', { hasText: 'A general question' }).click();
    await ch.page.locator('.sbw-start').click();
    const tab = pane.locator('.sba-tab', { hasText: 'Robin Standard' });
    await tab.waitFor();

    // `/hel` lists the standard team's greeting (not premium's); Enter puts it in the composer to edit.
    const composer = pane.locator('.sba-panel:not([hidden]) .sba-composer');
    await composer.pressSequentially('/hel');
    const picker = pane.locator('.sba-panel:not([hidden]) .sba-canned');
    await picker.locator('[role="option"][aria-selected="true"]', { hasText: '/hello' }).waitFor();
    assert.equal(await picker.locator('[role="option"]').count(), 1, 'only the chat tier team\'s /hello');
    await composer.press('Enter');
    await picker.waitFor({ state: 'hidden' });
    assert.equal(await composer.inputValue(), 'Hi, thanks for contacting us. How can I help today?');
    await composer.press('End');
    await composer.pressSequentially(' Robin');
    await composer.press('Enter');
    await ch.page.locator('.sbw-agent .sbw-bubble', { hasText: 'How can I help today? Robin' }).waitFor();

    // Links: http(s) only, opened with no opener and no referrer; text direction follows the text.
    await composer.fill('See https://example.com/help?x=1. Not javascript:alert(1) nor data:text/html,hi');
    await composer.press('Enter');
    const bubble = ch.page.locator('.sbw-agent .sbw-bubble', { hasText: 'See https://example.com/help' });
    await bubble.waitFor();
    const links = await bubble.locator('a').evaluateAll((as) => as.map((a) => [a.getAttribute('href'), a.getAttribute('rel'), a.getAttribute('target'), a.textContent]));
    assert.deepEqual(links, [['https://example.com/help?x=1', 'noopener noreferrer', '_blank', 'https://example.com/help?x=1']]);
    assert.equal(await bubble.getAttribute('dir'), 'auto');
    await pane.locator('.sba-own .sba-bubble a[href="https://example.com/help?x=1"]').waitFor();

    // A message from the cardholder while the pane is in a background tab raises an alert.
    // (Headless Chromium has no background tabs: the page is told it is hidden, as a browser would.)
    const alertsBefore = await pane.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      return window.__sbaAlerts || 0;
    });
    const chComposer = ch.page.locator('.sbw-composer');
    await chComposer.fill('Thanks, one more thing');
    await chComposer.press('Enter');
    await pane.locator('.sba-cardholder .sba-bubble', { hasText: 'one more thing' }).waitFor();
    await pane.waitForFunction((n) => (window.__sbaAlerts || 0) > n, alertsBefore);
    await tab.locator('.sba-tab-unread:not([hidden])').waitFor();
    await pane.evaluate(() => { delete document.visibilityState; });

    // The counter appears near the limit.
    await composer.fill('x'.repeat(3600));
    await pane.locator('.sba-panel:not([hidden]) .sba-counter', { hasText: '3,600 / 4,000' }).waitFor();
    await composer.fill('');

    // Transfer offers the other tiers only.
    const options = await pane.locator('.sba-panel:not([hidden]) .sba-transfer-tier option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(options, ['premium', 'business', 'prepaid']);

    // Ending asks first; "Keep chatting" keeps it.
    await pane.locator('.sba-panel:not([hidden]) .sba-end-chat').click();
    const confirm = pane.locator('.sba-panel:not([hidden]) .sba-confirm');
    await confirm.waitFor();
    await confirm.locator('.sba-cancel-end').click();
    await confirm.waitFor({ state: 'hidden' });
    await composer.fill('Still here');
    await composer.press('Enter');
    await ch.page.locator('.sbw-agent .sbw-bubble', { hasText: 'Still here' }).waitFor();
    await pane.locator('.sba-panel:not([hidden]) .sba-end-chat').click();
    await confirm.locator('.sba-confirm-end').click();
    await ch.page.locator('.sbw-ended:not([hidden])').waitFor();
    await pane.locator('.sba-panel:not([hidden]) .sba-ended:not([hidden])').waitFor();
  } finally {
    await ch.context.close();
    await context.close();
  }
});

e2e('internal notes and a transfer note reach the next agent only; the cardholder rates the chat', { timeout: 90000 }, async () => {
  await setAway(agentPage);
  const first = await openAgent({ sub: 'e2e-note-a', name: 'Nia Notes', max_chats: 2, teams: ['business'] });
  const next = await openAgent({ sub: 'e2e-note-b', name: 'Ned Next', max_chats: 2, teams: ['prepaid'] });
  const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-note-cardholder', tier: 'business', name: 'Bea Business' });
  try {
    await first.page.locator('#sba-availability').click();
    await first.page.locator('#sba-availability[aria-pressed="true"]').waitFor();
    await ch.page.locator('.sbw-launcher').click();
    await ch.page.locator('.sbw-topic', { hasText: 'A general question' }).click();
    await ch.page.locator('.sbw-start').click();
    await first.page.locator('.sba-tab', { hasText: 'Bea Business' }).waitFor();
    await ch.page.locator('.sbw-status', { hasText: 'Nia Notes' }).waitFor();

    // An internal note: shown to the agent in its own box, never to the cardholder.
    const panel = first.page.locator('.sba-panel:not([hidden])');
    await panel.locator('.sba-notes-summary').click();
    await panel.locator('.sba-internal-note').fill('Verified by voice');
    await panel.locator('.sba-add-note').click();
    await panel.locator('.sba-notes-list .sba-note-text', { hasText: 'Verified by voice' }).waitFor();
    await panel.locator('.sba-notes-summary', { hasText: 'Internal notes (1)' }).waitFor();

    // Transfer with a note for the next agent.
    await next.page.locator('#sba-availability').click();
    await next.page.locator('#sba-availability[aria-pressed="true"]').waitFor();
    await panel.locator('.sba-more > summary').click();
    await panel.locator('.sba-transfer-tier').selectOption('prepaid');
    await panel.locator('.sba-transfer-note').fill('Wants a limit raise');
    await panel.locator('.sba-transfer button[type="submit"]').click();
    await ch.page.locator('.sbw-system', { hasText: 'transferred' }).first().waitFor();
    const nextPanel = next.page.locator('.sba-panel:not([hidden])');
    await next.page.locator('.sba-tab', { hasText: 'Bea Business' }).waitFor();
    await nextPanel.locator('.sba-note-transfer .sba-note-text', { hasText: 'Wants a limit raise' }).waitFor();
    await nextPanel.locator('.sba-note-transfer .sba-note-head', { hasText: 'by Nia Notes' }).waitFor();
    await nextPanel.locator('.sba-note .sba-note-text', { hasText: 'Verified by voice' }).waitFor();
    await ch.page.locator('.sbw-status', { hasText: 'Ned Next' }).waitFor();
    const widgetText = await ch.page.locator('.switchboard-widget-host').evaluate((host) => (host.shadowRoot || host).textContent);
    assert.ok(!widgetText.includes('Verified by voice') && !widgetText.includes('limit raise'), 'staff notes never reach the widget');

    // The next agent ends the chat; the cardholder rates it once and is thanked.
    await nextPanel.locator('.sba-end-chat').click();
    await nextPanel.locator('.sba-confirm-end').click();
    const rate = ch.page.locator('.sbw-rate:not([hidden])');
    await rate.waitFor();
    assert.deepEqual(await axeViolations(ch.page), [], 'widget, rating after the end');
    assert.equal(await ch.page.locator('.sbw-rate-send').isDisabled(), true, 'a score first');
    await ch.page.locator('.sbw-star[data-score="4"]').click();
    assert.deepEqual(
      await ch.page.locator('.sbw-star').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-pressed'))),
      ['true', 'true', 'true', 'true', 'false']);
    await ch.page.locator('.sbw-rate-comment').fill('Quick and kind');
    await ch.page.screenshot({ path: path.join(SHOTS, 'widget-rating.png') });
    await ch.page.locator('.sbw-rate-send').click();
    await ch.page.locator('.sbw-rate-thanks:not([hidden])', { hasText: 'Thank you' }).waitFor();
    await rate.waitFor({ state: 'hidden' });
    const metrics = await (await fetch(`${hubUrl}/metrics`)).text();
    assert.match(metrics, /switchboard_ratings_total\{score="4",tier="business"\} 1/);
  } finally {
    await ch.context.close();
    await first.context.close();
    await next.context.close();
  }
});

e2e('the supervisor console: live agents and queues, set an agent away, reassign a chat, a monitor that ends once the chat leaves the supervised teams', { timeout: 90000 }, async () => {
  await setAway(agentPage);
  const { context, page: pane } = await openAgent({ sub: 'e2e-sv-agent', name: 'Vic Visible', max_chats: 2, teams: ['prepaid'] });
  const other = await openAgent({ sub: 'e2e-sv-agent2', name: 'Wen Waiting', max_chats: 2, teams: ['prepaid'] });
  const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-sv-cardholder', tier: 'prepaid', name: 'Pia Prepaid' });
  const svToken = await mintToken({ role: 'supervisor', sub: 'e2e-sv', name: 'Sam Supervisor', teams: ['prepaid', 'fraud'] });
  const svContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  svContext.setDefaultTimeout(STEP_TIMEOUT_MS);
  await svContext.addInitScript((t) => {
    try { sessionStorage.setItem('switchboard.supervisorToken', t); } catch (e) { /* about:blank */ }
  }, svToken);
  const console_ = await svContext.newPage();
  console_.on('pageerror', (err) => console.error('[supervisor page error]', err.message));
  try {
    await pane.locator('#sba-availability').click();
    await pane.locator('#sba-availability[aria-pressed="true"]').waitFor();
    await ch.page.locator('.sbw-launcher').click();
    await ch.page.locator('.sbw-topic', { hasText: 'A general question' }).click();
    await ch.page.locator('.sbw-start').click();
    await pane.locator('.sba-tab', { hasText: 'Pia Prepaid' }).waitFor();

    await console_.goto(`${hubUrl}/supervisor/`);
    await console_.locator('#sbs-conn[data-state="connected"]').waitFor();
    const row = console_.locator('#sbs-agents tr[data-agent="e2e-sv-agent"]');
    await row.locator('.sbs-state-available').waitFor();
    await row.locator('li[data-conversation]').waitFor();
    await console_.locator('#sbs-queues tr[data-tier="prepaid"]').waitFor();
    assert.equal(await console_.locator('#sbs-queues tr').count(), 1, 'only the supervised tier');
    await console_.locator('#sbs-desks li[data-desk="fraud"]').waitFor();
    assert.deepEqual(await axeViolations(console_), [], 'supervisor console');

    // Monitor: the chat so far and live, read-only, unseen by the cardholder.
    const chComposer = ch.page.locator('.sbw-composer');
    await chComposer.fill('Is my top-up through yet?');
    await chComposer.press('Enter');
    await pane.locator('.sba-cardholder .sba-bubble', { hasText: 'top-up' }).waitFor();
    await row.locator('.sbs-monitor').click();
    const monitor = console_.locator('.sbs-monitored');
    await monitor.locator('.sbs-entry-text', { hasText: 'Is my top-up through yet?' }).waitFor();
    const reply = pane.locator('.sba-panel:not([hidden]) .sba-composer');
    await reply.fill('Checking your top-up now');
    await reply.press('Enter');
    await monitor.locator('.sbs-from-agent .sbs-entry-text', { hasText: 'Checking your top-up now' }).waitFor();
    await console_.locator('#sbs-audit li', { hasText: 'monitored' }).waitFor();
    assert.deepEqual(await axeViolations(console_), [], 'supervisor console, monitoring');
    await console_.screenshot({ path: path.join(SHOTS, 'supervisor.png'), fullPage: true });

    // Set away: the agent's pane follows and says who did it.
    await row.locator('.sbs-set-state[data-state="away"]').click();
    await pane.locator('#sba-availability[aria-pressed="false"]').waitFor();
    await pane.locator('#sba-toast', { hasText: 'Sam Supervisor set you Away' }).waitFor();
    await row.locator('.sbs-state-away').waitFor();
    await console_.locator('#sbs-audit li', { hasText: 'set the state of' }).waitFor();

    // Reassign: the chat goes to the other agent, transcript kept.
    await other.page.locator('#sba-availability').click();
    await other.page.locator('#sba-availability[aria-pressed="true"]').waitFor();
    await row.locator('.sbs-reassign').click();
    await other.page.locator('.sba-tab', { hasText: 'Pia Prepaid' }).waitFor();
    await ch.page.locator('.sbw-bubble', { hasText: 'another agent' }).waitFor();
    await console_.locator('#sbs-audit li', { hasText: 'reassigned' }).waitFor();

    // A transfer out of the supervisor's teams ends the monitor in that step:
    // the console says why, and nothing said afterwards reaches it.
    const otherPanel = other.page.locator('.sba-panel:not([hidden])');
    await otherPanel.locator('.sba-more > summary').click();
    await otherPanel.locator('.sba-transfer-tier').selectOption('standard');
    await otherPanel.locator('.sba-transfer button[type="submit"]').click();
    await monitor.locator('.sbs-monitor-state', { hasText: 'moved to a team you do not supervise' }).waitFor();
    await chComposer.fill('Still there after the transfer?');
    await chComposer.press('Enter');
    await ch.page.locator('.sbw-bubble', { hasText: 'Still there after the transfer?' }).waitFor();
    await console_.waitForTimeout(500);
    assert.equal(await console_.locator('.sbs-entry-text', { hasText: 'Still there after the transfer?' }).count(), 0,
      'no entry reaches a monitor that ended');
    assert.deepEqual(await axeViolations(console_), [], 'supervisor console, monitor ended');
  } finally {
    await svContext.close();
    await ch.context.close();
    await other.context.close();
    await context.close();
  }
});

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = require('node:net').createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server on a free port; resolves once it answers PING. */
async function startRedis() {
  const port = await freePort();
  // Its own folder, so nothing it might write lands in the working tree.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-e2e-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  proc.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (redisCli(port, ['PING']) === 'PONG') return { proc, port };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not start`);
}

function redisCli(port, args) {
  const r = require('node:child_process').spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  return (r.stdout || '').trim();
}

e2e('a message sent while Redis is paused arrives once', { timeout: 90000 }, async () => {
  const redis = await startRedis();
  const log = path.join(os.tmpdir(), `switchboard-e2e-redis-hub-${process.pid}.log`);
  // A node timeout above the pause, so the node is not taken for dead meanwhile.
  const node = await launchHub(['--redis-url', `redis://127.0.0.1:${redis.port}`, '--node-timeout', '15'], log);
  const contexts = [];
  try {
    const { context: agentCtx, page: agent } = await openAgent(
      { sub: 'e2e-pause-agent', name: 'Robin Agent', max_chats: 2, teams: ['standard'] }, node.url);
    contexts.push(agentCtx);
    await agent.locator('#sba-availability').click();
    await agent.locator('#sba-availability[aria-pressed="true"]').waitFor();

    const { context, page } = await openCardholder({
      role: 'cardholder', sub: 'e2e-pause', tier: 'standard', name: 'Sam Paused', phone_last4: '4321',
    }, node.url);
    contexts.push(context);
    await page.locator('.sbw-launcher').click();
    await page.locator('.sbw-topic', { hasText: 'Dispute a charge' }).click();
    await page.locator('.sbw-start').click();
    await agent.locator('.sba-tab', { hasText: 'Sam Paused' }).waitFor();
    await page.locator('.sbw-status', { hasText: 'Chatting with Robin Agent' }).waitFor();

    // Redis stops answering for longer than the hub waits (3 s), with room
    // for one frame ahead of the message on the connection (a read
    // receipt): the hub cannot tell whether the message was stored and says
    // `unavailable`. The text is set without typing events, so no typing
    // indicator goes ahead of it too.
    assert.equal(redisCli(redis.port, ['CLIENT', 'PAUSE', '8000', 'ALL']), 'OK');
    const composer = page.locator('.sbw-composer');
    await composer.evaluate((el) => { el.value = 'Typed while the store was paused'; });
    await composer.press('Enter');
    await page.locator('.sbw-alert:not([hidden])', { hasText: "couldn't confirm" }).waitFor();

    // The widget resends it with the same id by itself; it is stored once.
    await agent.locator('.sba-cardholder .sba-bubble', { hasText: 'Typed while the store was paused' }).waitFor();
    await page.locator('.sbw-own[data-seq] .sbw-bubble', { hasText: 'Typed while the store was paused' }).waitFor();
    await page.locator('.sbw-pending').waitFor({ state: 'detached' });
    // One more line from the agent after it: every resend has been answered by then.
    const reply = agent.locator('.sba-panel:not([hidden]) .sba-composer');
    await reply.fill('Got it, thanks');
    await reply.press('Enter');
    await page.locator('.sbw-agent .sbw-bubble', { hasText: 'Got it, thanks' }).waitFor();
    assert.equal(await agent.locator('.sba-bubble', { hasText: 'Typed while the store was paused' }).count(), 1);
    assert.equal(await page.locator('.sbw-bubble', { hasText: 'Typed while the store was paused' }).count(), 1);
    assertContiguous(await seqs(page, '.sbw-transcript [data-seq]'), 'cardholder transcript');
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    node.proc.kill('SIGTERM');
    redis.proc.kill('SIGTERM');
  }
});

e2e('a chat lost in a hub restart: the widget says so and carries what was typed into a new chat', { timeout: 90000 }, async () => {
  // The built-in engine keeps nothing across a restart: the chat is gone when the hub comes back.
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const secret = 'e2e-restart-secret-0123456789abcdef';
  const log = path.join(os.tmpdir(), `switchboard-e2e-restart-hub-${process.pid}.log`);
  let node = await launchHub(['--jwt-secret', secret], log, listen);
  const contexts = [];
  try {
    const { context: agentCtx, page: agent } = await openAgent(
      { sub: 'e2e-restart-agent', name: 'Rene Agent', max_chats: 2, teams: ['standard'] }, node.url);
    contexts.push(agentCtx);
    await agent.locator('#sba-availability').click();
    await agent.locator('#sba-availability[aria-pressed="true"]').waitFor();
    const { context, page } = await openCardholder({
      role: 'cardholder', sub: 'e2e-restart', tier: 'standard', name: 'Rita Restart',
    }, node.url);
    contexts.push(context);
    await page.locator('.sbw-launcher').click();
    await page.locator('.sbw-topic', { hasText: 'A general question' }).click();
    await page.locator('.sbw-start').click();
    await page.locator('.sbw-status', { hasText: 'Chatting with Rene Agent' }).waitFor();

    // The hub goes away; the cardholder keeps typing.
    const exited = new Promise((resolve) => node.proc.once('exit', resolve));
    node.proc.kill('SIGKILL');
    await exited;
    await page.locator('.sbw-banner:not([hidden])').waitFor();
    const composer = page.locator('.sbw-composer');
    await composer.fill('Typed while you were restarting');
    await composer.press('Enter');
    await page.locator('.sbw-pending .sbw-bubble', { hasText: 'Typed while you were restarting' }).waitFor();

    // It comes back on the same address (same secret: the widget's token still verifies), without the chat.
    node = await launchHub(['--jwt-secret', secret], log, listen);
    await page.locator('.sbw-note', { hasText: 'We lost the connection to this chat on our side' }).waitFor();
    await page.locator('.sbw-note', { hasText: 'ready to send in a new chat' }).waitFor();
    assert.equal(await page.locator('.sbw-note', { hasText: 'while you were offline' }).count(), 0,
      'the cardholder never went offline: the hub did');
    await page.locator('.sbw-new-chat:visible').click();
    await page.locator('.sbw-topic-screen').waitFor();
    assert.equal(await page.locator('#sbw-first-text').inputValue(), 'Typed while you were restarting');
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    node.proc.kill('SIGTERM');
  }
});

/** Waits until each view's page holds back `n` frames (frameHooks). */
async function heldInEach(views, n) {
  for (const v of views) await v.page.waitForFunction((k) => window.__held.length >= k, n);
}

e2e('entries late, out of order and twice show once, in seq order, in the widget, the pane and the console; a redaction replaces the text in each', { timeout: 90000 }, async () => {
  const log = path.join(os.tmpdir(), `switchboard-e2e-order-${process.pid}.log`);
  const node = await launchHub([], log);
  const contexts = [];
  try {
    const agent = await openAgent({ sub: 'e2e-order-agent', name: 'Ora Order', max_chats: 2, teams: ['prepaid'] }, node.url, frameHooks);
    contexts.push(agent.context);
    const sv = await openStaff('supervisor', { sub: 'e2e-order-sv', name: 'Sol Supervisor', teams: ['prepaid'] }, node.url, frameHooks);
    contexts.push(sv.context);
    const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-order', tier: 'prepaid', name: 'Oli Order' }, node.url, frameHooks);
    contexts.push(ch.context);
    await setAvailable(agent.page);
    await startChat(ch.page, 'A general question');
    await ch.page.locator('.sbw-status', { hasText: 'Chatting with Ora Order' }).waitFor();
    const chComposer = ch.page.locator('.sbw-composer');
    const reply = agent.page.locator('.sba-panel:not([hidden]) .sba-composer');
    await chComposer.fill('Before the monitor');
    await chComposer.press('Enter');
    await agent.page.locator('.sba-cardholder .sba-bubble', { hasText: 'Before the monitor' }).waitFor();
    await sv.page.locator('#sbs-agents tr[data-agent="e2e-order-agent"] li[data-conversation] .sbs-monitor').click();
    await sv.page.locator('.sbs-monitored .sbs-entry-text', { hasText: 'Before the monitor' }).waitFor();

    const views = [
      { name: 'widget', page: ch.page, list: '.sbw-transcript', text: '.sbw-bubble', pending: '.sbw-pending' },
      { name: 'pane', page: agent.page, list: '.sba-panel:not([hidden]) .sba-transcript', text: '.sba-bubble', pending: '.sba-pending' },
      { name: 'console', page: sv.page, list: '.sbs-monitored .sbs-transcript', text: '.sbs-entry-text', pending: '.sbs-pending' },
    ];
    // Every view's `msg`s are held back while three lines are written on both sides.
    for (const v of views) await v.page.evaluate(() => { window.__hold = (f) => f.type === 'msg'; });
    const lines = ['Line one', 'Line two', 'Line three'];
    await chComposer.fill(lines[0]);
    await chComposer.press('Enter');
    await heldInEach(views, 1);
    await reply.fill(lines[1]);
    await reply.press('Enter');
    await heldInEach(views, 2);
    await chComposer.fill(lines[2]);
    await chComposer.press('Enter');
    await heldInEach(views, 3);
    assert.equal(await ch.page.locator('.sbw-pending').count(), 2, 'the cardholder\'s lines wait as "sending"');

    // They arrive newest first, two of them twice, then all three again as a `transcript` page.
    for (const v of views) {
      await v.page.evaluate(() => {
        window.__hold = null;
        window.__release([2, 0, 1, 2, 0]);
        const entries = window.__held.map(({ frame }) => ({ seq: frame.seq, from: frame.from, text: frame.text, at: frame.at, id: frame.id }));
        window.__deliver({ type: 'transcript', conversation: window.__held[0].frame.conversation, entries: entries.reverse(), more: false });
      });
    }
    for (const v of views) {
      const texts = await v.page.locator(`${v.list} [data-seq] ${v.text}`).allTextContents();
      for (const line of lines) assert.equal(texts.filter((t) => t === line).length, 1, `${v.name}: "${line}" once in ${JSON.stringify(texts)}`);
      assert.deepEqual(texts.filter((t) => lines.includes(t)), lines, `${v.name}: in the order written`);
      assertContiguous(await seqs(v.page, `${v.list} [data-seq]`), v.name);
      assert.equal(await v.page.locator(`${v.list} ${v.pending}`).count(), 0, `${v.name}: nothing left "sending"`);
    }

    // A card number over two messages: the earlier entry is masked in place, under its seq, in every view.
    await chComposer.fill('my card is 4111 1111');
    await chComposer.press('Enter');
    const redacted = {};
    for (const v of views) {
      const entry = v.page.locator(`${v.list} [data-seq]`, { hasText: 'my card is 4111 1111' });
      await entry.waitFor();
      redacted[v.name] = await entry.getAttribute('data-seq');
    }
    await chComposer.fill('1111 1111');
    await chComposer.press('Enter');
    for (const v of views) {
      await v.page.locator(`${v.list} [data-seq="${redacted[v.name]}"] ${v.text}`, { hasText: 'my card is **** **** ****' }).waitFor();
      const shown = await v.page.locator(`${v.list} ${v.text}`).allTextContents();
      assert.ok(!shown.some((t) => t.includes('4111 1111') || t.includes('1111 1111')), `${v.name}: ${shown.join(' | ')}`);
      assertContiguous(await seqs(v.page, `${v.list} [data-seq]`), `${v.name} after the redaction`);
    }
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    node.proc.kill('SIGTERM');
  }
});

/** When each of `sends` (performance.now() times) followed the one before. */
function gaps(sends) {
  return sends.slice(1).map((at, i) => at - sends[i]);
}

e2e('a thread opened again shows what it showed; a refused thread load and a refused thread message are sent again after growing, jittered delays', { timeout: 90000 }, async () => {
  const log = path.join(os.tmpdir(), `switchboard-e2e-retry-${process.pid}.log`);
  const node = await launchHub([], log);
  const claims = { role: 'cardholder', sub: 'e2e-retry', tier: 'standard', name: 'Ray Retry' };
  let ch = await openCardholder(claims, node.url, frameHooks);
  try {
    let { page } = ch;
    // Full jitter: retry n waits anywhere in [0, min(15 s, 1 s × 2^n)], over the whole window.
    const spread = await page.evaluate(() => [0, 1, 2, 3, 4, 5].map((n) => {
      const drawn = Array.from({ length: 400 }, () => window.SwitchboardCore.retryDelay(n));
      return [Math.min(...drawn), Math.max(...drawn)];
    }));
    spread.forEach(([min, max], n) => {
      const ceiling = Math.min(15000, 1000 * 2 ** n);
      assert.ok(min >= 0 && max <= ceiling, `retry ${n}: ${min}–${max} outside 0–${ceiling}`);
      assert.ok(min < ceiling * 0.2 && max > ceiling * 0.8, `retry ${n}: ${min}–${max} does not spread over 0–${ceiling}`);
    });

    await page.locator('.sbw-launcher').click();
    await page.locator('.sbw-messages-open').click();
    await page.locator('.sbw-message-text').fill('Where is my new card?');
    await page.locator('.sbw-message-send').click();
    const line = (p, text) => p.locator('.sbw-thread-transcript .sbw-own[data-seq] .sbw-bubble', { hasText: text });
    await line(page, 'new card').waitFor();
    const conversation = await page.evaluate(() => window.__sent.filter((s) => s.frame.type === 'sync' && s.frame.conversation).pop().frame.conversation);
    // Back to the list and in again, on the same connection: the hub replays
    // nothing it sent live, and the thread still shows its message, once.
    await page.locator('.sbw-thread-back').click();
    await page.locator(`.sbw-thread-item[data-conversation="${conversation}"]`).click();
    await page.waitForFunction((c) => window.__sent.filter((s) => s.frame.type === 'sync' && s.frame.conversation === c).length >= 2, conversation);
    await line(page, 'new card').waitFor();
    assert.equal(await page.locator('.sbw-thread-transcript .sbw-bubble').count(), 1, 'shown once');
    await ch.context.close();

    // Another visit: the hub refuses the first three loads of the thread
    // (`unavailable`). Every draw is the same (half the window), so the
    // growth shows in the gaps.
    ch = await openCardholder(claims, node.url, [frameHooks, { arg: conversation, script: (c) => {
      Math.random = () => 0.5;
      let refusals = 3;
      window.__rewrite = (f) => (f.type === 'transcript' && f.conversation === c && refusals-- > 0
        ? { type: 'error', code: 'unavailable', message: 'the hub could not confirm the outcome' } : f);
    } }]);
    ({ page } = ch);
    await page.locator('.sbw-launcher').click();
    await page.locator('.sbw-messages-open').click();
    await page.locator(`.sbw-thread-item[data-conversation="${conversation}"]`).click();
    await page.locator('.sbw-alert:not([hidden])', { hasText: "couldn't load your messages" }).waitFor();
    await line(page, 'new card').waitFor();
    const loads = await page.evaluate((c) => window.__sent
      .filter((s) => s.frame.type === 'sync' && s.frame.conversation === c).map((s) => s.at), conversation);
    assert.equal(loads.length, 4, 'the load and three more after its refusals');
    gaps(loads).forEach((gap, n) => assert.ok(gap >= 0.9 * 500 * 2 ** n, `load retry ${n} after ${Math.round(gap)} ms: ${gaps(loads).map(Math.round)}`));

    // A reply refused three times (`unavailable`, naming its id) is resent with the same id, waiting longer each time.
    const saysFrom = await page.evaluate(() => {
      let refusals = 3;
      window.__rewrite = (f) => (f.type === 'msg' && f.from === 'cardholder' && f.id && refusals-- > 0
        ? { type: 'error', code: 'unavailable', message: 'the hub could not confirm the outcome', ref: f.id } : f);
      return window.__sent.length;
    });
    await page.locator('.sbw-thread-composer').fill('And my PIN?');
    await page.locator('.sbw-thread-send').click();
    await line(page, 'And my PIN?').waitFor();
    const says = await page.evaluate((from) => window.__sent.slice(from).filter((s) => s.frame.type === 'say'), saysFrom);
    assert.equal(says.length, 4, 'sent and resent three times');
    assert.equal(new Set(says.map((s) => s.frame.id)).size, 1, 'with the same id');
    const sayGaps = gaps(says.map((s) => s.at));
    sayGaps.forEach((gap, n) => assert.ok(gap >= 0.9 * 500 * 2 ** n, `resend ${n} after ${Math.round(gap)} ms: ${sayGaps.map(Math.round)}`));
    const thread = page.locator('.sbw-thread-transcript');
    assert.equal(await thread.locator('.sbw-bubble', { hasText: 'And my PIN?' }).count(), 1, 'shown once');
    assert.equal(await thread.locator('.sbw-pending, .sbw-failed').count(), 0, 'neither sending nor failed');

    // Three more replies whose `msg`s come late, the second first and twice, while the third is still "sending".
    await page.evaluate(() => { window.__hold = (f) => f.type === 'msg'; });
    const replies = ['Reply one', 'Reply two', 'Reply three'];
    for (const [n, text] of replies.entries()) {
      await page.locator('.sbw-thread-composer').fill(text);
      await page.locator('.sbw-thread-send').click();
      await page.waitForFunction((k) => window.__held.length >= k, n + 1);
    }
    await page.evaluate(() => { window.__hold = null; window.__release([1, 0]); });
    await thread.locator('.sbw-pending .sbw-bubble', { hasText: 'Reply three' }).waitFor();
    await page.evaluate(() => window.__release([2, 1]));
    const texts = await thread.locator('[data-seq] .sbw-bubble').allTextContents();
    assert.deepEqual(texts.filter((t) => replies.includes(t)), replies, `in the order written, once: ${JSON.stringify(texts)}`);
    assertContiguous(await seqs(page, '.sbw-thread-transcript [data-seq]'), 'thread');
    assert.equal(await thread.locator('.sbw-pending').count(), 0, 'nothing left "sending"');
  } finally {
    await ch.context.close().catch(() => {});
    node.proc.kill('SIGTERM');
  }
});

e2e('the waiting chat offers a secure message when queued says so, in the words of why: closed, nobody signed in, a long wait', { timeout: 90000 }, async () => {
  // The standard team opens for an hour, twelve hours from now (UTC): closed now, with a next opening.
  const opens = new Date(Math.ceil((Date.now() + 12 * 3600 * 1000) / 60000) * 60000);
  const closes = new Date(opens.getTime() + 3600 * 1000);
  const hhmm = (d) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][opens.getUTCDay()];
  const hours = path.join(os.tmpdir(), `switchboard-e2e-hours-${process.pid}.json`);
  fs.writeFileSync(hours, JSON.stringify({ standard: { zone: 'UTC', weekly: { [day]: [[hhmm(opens), hhmm(closes)]] } } }));
  const log = path.join(os.tmpdir(), `switchboard-e2e-offer-words-${process.pid}.log`);
  const node = await launchHub(['--hours', hours, '--offer-message-after', '1'], log);
  const contexts = [];
  const waiting = async (claims, label, init = null) => {
    const ch = await openCardholder({ role: 'cardholder', ...claims }, node.url, init);
    contexts.push(ch.context);
    await startChat(ch.page, label);
    return ch.page;
  };
  try {
    // Closed: when it opens again, in the browser's time.
    const closed = await waiting({ sub: 'e2e-words-closed', tier: 'standard', name: 'Cleo Closed' }, 'A general question');
    const clock = await closed.evaluate((at) => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }), opens.toISOString());
    const closedText = closed.locator('.sbw-offer:not([hidden]) .sbw-offer-text');
    await closedText.waitFor();
    assert.match(await closedText.textContent(), /^We're closed right now\. We open again .*at /);
    assert.ok((await closedText.textContent()).includes(clock), `the opening time ${clock}: ${await closedText.textContent()}`);
    assert.match(await closedText.textContent(), /Leave us a secure message and we'll reply here\.$/);

    // Nobody of the team signed in; a login problem can also be called back.
    const nobody = await waiting({ sub: 'e2e-words-nobody', tier: 'business', name: 'Nico Nobody' }, 'I forgot my login details');
    await nobody.locator('.sbw-offer:not([hidden]) .sbw-offer-text',
      { hasText: 'No one can answer right now. Leave us a secure message, or ask us to call you back.' }).waitFor();

    // Someone of the team is signed in (away): the offer comes once the wait is long.
    const agent = await openAgent({ sub: 'e2e-words-agent', name: 'Al Away', max_chats: 1, teams: ['prepaid'] }, node.url);
    contexts.push(agent.context);
    const long = await waiting({ sub: 'e2e-words-long', tier: 'prepaid', name: 'Lou Long' }, 'My bill or a payment');
    await long.locator('.sbw-offer:not([hidden]) .sbw-offer-text',
      { hasText: "It's taking longer than usual to answer. Leave us a secure message and we'll reply here." }).waitFor();

    // The widget follows the hub's `offer_message`, not its own reading of the other fields:
    // nobody signed in, but no offer made, is a plain wait.
    const plain = await waiting({ sub: 'e2e-words-plain', tier: 'business', name: 'Pat Plain' }, 'My bill or a payment', [frameHooks, () => {
      window.__rewrite = (f) => (f.type === 'queued' ? { ...f, offer_message: false } : f);
    }]);
    await plain.locator('.sbw-status', { hasText: 'in line' }).waitFor();
    assert.equal(await plain.locator('.sbw-offer').isHidden(), true, 'no offer the hub did not make');
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    node.proc.kill('SIGTERM');
    fs.rmSync(hours, { force: true });
  }
});

e2e('a message refused because the chat is full says so, with no Retry', { timeout: 60000 }, async () => {
  const log = path.join(os.tmpdir(), `switchboard-e2e-full-${process.pid}.log`);
  const node = await launchHub(['--max-transcript-entries', '2'], log);
  const ch = await openCardholder({ role: 'cardholder', sub: 'e2e-full', tier: 'standard', name: 'Fay Full' }, node.url);
  try {
    const { page } = ch;
    await startChat(page, 'A general question');
    await page.locator('.sbw-status', { hasText: 'in line' }).waitFor();
    const composer = page.locator('.sbw-composer');
    for (const text of ['First of two', 'Second of two']) {
      await composer.fill(text);
      await composer.press('Enter');
      await page.locator('.sbw-own[data-seq] .sbw-bubble', { hasText: text }).waitFor();
    }
    await composer.fill('One too many');
    await composer.press('Enter');
    const failed = page.locator('.sbw-failed', { hasText: 'One too many' });
    await failed.locator('.sbw-meta', { hasText: 'Not sent: this chat is full' }).waitFor();
    assert.equal(await failed.locator('button').count(), 0, 'no Retry: sending again does not help');
    await page.locator('.sbw-alert:not([hidden])', { hasText: 'This chat has reached its limit' }).waitFor();
  } finally {
    await ch.context.close();
    node.proc.kill('SIGTERM');
  }
});
