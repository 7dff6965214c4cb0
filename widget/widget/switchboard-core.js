/*!
 * Switchboard core (protocol v1): what the cardholder widget, the agent
 * pane and the supervisor console share. Defines window.SwitchboardCore and
 * nothing else.
 *
 * Served alone at /widget/switchboard-core.js (the agent pane and the
 * supervisor console load it before their own script) and, ahead of
 * switchboard-widget.js, in the one file the hub serves at
 * /widget/switchboard-widget.js, so embedding sites keep one tag.
 *
 * Invariants:
 * - h() puts text in the DOM with textContent only, never as HTML.
 * - Connection sends the token only in the first WebSocket frame
 *   ({"type":"auth"}), never in a URL.
 * - A Transcript shows an entry once, in seq order, whatever order and
 *   however often its `msg`s and `transcript` pages arrive.
 */
(function () {
  'use strict';

  /** Reconnect backoff: the first retry within 0.5 s, the window doubling up to 30 s. */
  var RECONNECT_BASE_MS = 500;
  var RECONNECT_MAX_MS = 30000;
  /** A refused frame is sent again within 1 s, the window doubling up to 15 s. */
  var RETRY_BASE_MS = 1000;
  var RETRY_MAX_MS = 15000;
  /** SPEC: message text is 1-4000 characters. */
  var MAX_TEXT_CHARS = 4000;
  /** After this much quiet in the composer, tell the other side typing stopped. */
  var TYPING_IDLE_MS = 3000;
  /** Hide the other side's typing indicator if no update arrives for this long. */
  var REMOTE_TYPING_TIMEOUT_MS = 10000;
  /** Live regions keep this many announcements, so they do not grow all day. */
  var MAX_ANNOUNCEMENTS = 5;

  // ---------------------------------------------------------------- helpers

  /** Builds an element. Text goes in with textContent only, never as HTML. */
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === 'class') el.className = value;
        else if (key === 'text') el.textContent = value;
        else if (key.slice(0, 2) === 'on') el.addEventListener(key.slice(2), value);
        else if (value === true) el.setAttribute(key, '');
        else el.setAttribute(key, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return el;
  }

  /** Web addresses in a message: http(s) only, up to the first space or quote. */
  var LINK_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  /** Punctuation that ends a sentence rather than the address it follows. */
  var LINK_TRAILER_RE = /[.,;:!?)\]}]+$/;

  /**
   * A message's text as nodes for `h`: plain strings, and links for http(s)
   * addresses (opened in a new tab, with no opener and no referrer). Other
   * schemes (javascript:, data:, …) stay text.
   */
  function linkify(text) {
    var s = String(text);
    var out = [];
    var last = 0;
    s.replace(LINK_RE, function (match, offset) {
      var url = match.replace(LINK_TRAILER_RE, '');
      var parsed = null;
      try { parsed = new URL(url); } catch (e) { parsed = null; }
      if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) return match;
      if (offset > last) out.push(s.slice(last, offset));
      out.push(h('a', { href: parsed.href, target: '_blank', rel: 'noopener noreferrer' }, [url]));
      last = offset + url.length;
      return match;
    });
    if (last < s.length) out.push(s.slice(last));
    return out;
  }

  /** "14:05" in the browser's locale; '' for an unreadable time, now for none. */
  function clockTime(at) {
    var d = at ? new Date(at) : new Date();
    if (isNaN(d.getTime())) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  /** A message id (idempotency key); prefix marks the fallback ids of each app. */
  function newId(prefix) {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    return (prefix || 'x') + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  /** The hub's WebSocket URL (ws: or wss:) for a page or hub URL. */
  function wsUrl(base) {
    var u = new URL('/ws', base);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  /** Adds text to a polite live region, keeping only the last few entries. */
  function announce(region, text) {
    region.appendChild(h('p', { text: text }));
    while (region.childNodes.length > MAX_ANNOUNCEMENTS) region.removeChild(region.firstChild);
  }

  /**
   * Whether an `error` code means "send the same frame again later": the
   * outcome is unknown (`unavailable`: resending the same `id` never stores
   * it twice), the node is overloaded (`busy`), or we went too fast.
   */
  function isRetryable(code) {
    return code === 'unavailable' || code === 'busy' || code === 'rate_limited';
  }

  /**
   * Milliseconds to wait before retry number `attempt` (0, 1, …), with full
   * jitter: a random time up to a ceiling that starts at baseMs and doubles
   * with every attempt up to capMs. Many clients refused together (a hub
   * restart, an overloaded node) spread over the whole window instead of
   * coming back together.
   */
  function backoff(attempt, baseMs, capMs) {
    var n = Math.max(0, Math.min(Number(attempt) || 0, 30));
    return Math.round(Math.random() * Math.min(capMs, baseMs * Math.pow(2, n)));
  }

  /** The backoff of a refused frame: up to 1 s, doubling up to 15 s. */
  function retryDelay(attempt) {
    return backoff(attempt, RETRY_BASE_MS, RETRY_MAX_MS);
  }

  /**
   * Runs `again` after the next backoff of `retry`, an object that counts
   * its attempts (`retry.attempts`, e.g. a pending message or a load in
   * flight), so every retry of the same thing waits longer. Returns the timer.
   */
  function retryLater(retry, again) {
    var delay = retryDelay(retry.attempts || 0);
    retry.attempts = (retry.attempts || 0) + 1;
    return setTimeout(again, delay);
  }

  /**
   * A load in flight (a `sync`, whose refusal names no frame) that is asked
   * again after a growing backoff each time it is refused, until done():
   * send() sends it (with what is shown by then); start() sends it anew,
   * refused() says the hub refused it (returns whether one was in flight).
   */
  function Reload(send) {
    this.send = send;
    this.active = false;
    this.attempts = 0;
    this.timer = null;
  }

  Reload.prototype.start = function () {
    clearTimeout(this.timer);
    this.active = true;
    this.attempts = 0;
    this.send();
  };

  Reload.prototype.refused = function () {
    if (!this.active) return false;
    var self = this;
    clearTimeout(this.timer);
    this.timer = retryLater(this, function () { if (self.active) self.send(); });
    return true;
  };

  Reload.prototype.done = function () {
    clearTimeout(this.timer);
    this.active = false;
  };

  // ------------------------------------------------------------- transcript

  /**
   * One conversation's transcript, shown in a list element (an <ol>): the
   * one implementation of what the widget, the agent pane and the supervisor
   * console do with entries. Entries are keyed by their seq: an entry shows
   * once (a `msg` and a `transcript` page may both carry it, in any order)
   * and in seq order; the view's own messages on their way ("sending") stay
   * last; lines without a seq (the view's notes) stay where they were put.
   *
   * options:
   * - render(entry) -> Element: the view's element for an entry (required).
   * - prefix: the view's class prefix ('sbw-', 'sba-', 'sbs-'). Pending lines
   *   carry prefix+'pending'; "Seen" is a prefix+'seen' in the prefix+'meta'.
   * - text: selector, inside an entry's element, of what `redact` replaces
   *   (default: the element itself).
   * - max: entries kept in the DOM (default: all); older ones are dropped
   *   and not shown again. trimmed() is called after a drop.
   * - own(entry): whether an entry is the viewer's (its `id` settles a
   *   pending line; "Seen" goes under the latest own entry read).
   * - more(after, frame): asks for the next page of a `transcript` frame
   *   whose `more` is true (`sync` or `transcript` with `after`).
   * - follow(): whether to scroll to the end now (default: always).
   */
  function Transcript(list, options) {
    this.list = list;
    this.options = options;
    this.prefix = options.prefix || '';
    this.pending = new Map();   // own messages on their way, by id: { id, el, … }
    this.clear();
  }

  /** Forgets everything shown and empties the list. */
  Transcript.prototype.clear = function () {
    this.list.textContent = '';
    this.rendered = new Map();  // seq -> element
    this.seqOf = new WeakMap(); // element -> seq
    this.pending.clear();
    this.maxSeq = 0;            // highest seq shown (what `sync` asks after)
    this.trimmedThrough = 0;    // seqs up to this were dropped for `max`
    this.ownSeqs = [];
    this.readSeq = 0;           // the other side read up to here
    this.lastOtherSeq = 0;      // highest seq from the other side
    this.readSent = 0;          // highest seq this view reported read
  };

  /** Whether an entry's seq was shown (or dropped for `max`). */
  Transcript.prototype.has = function (seq) {
    seq = Number(seq);
    return this.rendered.has(seq) || (seq > 0 && seq <= this.trimmedThrough);
  };

  /** The element shown for a seq, if any. */
  Transcript.prototype.get = function (seq) {
    return this.rendered.get(Number(seq));
  };

  Transcript.prototype.isOwn = function (entry) {
    return !!(this.options.own && this.options.own(entry));
  };

  /**
   * Shows an entry (`msg` shape) in seq order. Returns its element, or null
   * when it has no valid seq or is shown already; either way an own entry's
   * `id` settles the pending line of that id.
   */
  Transcript.prototype.add = function (entry) {
    var seq = Number(entry.seq);
    if (!(seq > 0)) return null;
    var own = this.isOwn(entry);
    if (own && entry.id) this.settle(entry.id);
    if (this.has(seq)) return null;
    var el = this.options.render(entry);
    this.place(el, seq);
    this.rendered.set(seq, el);
    this.seqOf.set(el, seq);
    if (seq > this.maxSeq) this.maxSeq = seq;
    if (own) {
      this.ownSeqs.push(seq);
      this.renderSeen();
    } else if (seq > this.lastOtherSeq) {
      this.lastOtherSeq = seq;
    }
    this.trim();
    this.scrollToEnd();
    return el;
  };

  /** Before the entry with the next higher seq; else last, ahead of pending lines. */
  Transcript.prototype.place = function (el, seq) {
    var before = null;
    if (seq < this.maxSeq) {
      var next = Infinity;
      this.rendered.forEach(function (e, s) {
        if (s > seq && s < next) { next = s; before = e; }
      });
    }
    this.list.insertBefore(el, before || this.firstPending());
  };

  Transcript.prototype.isPending = function (el) {
    return el.classList.contains(this.prefix + 'pending');
  };

  Transcript.prototype.firstPending = function () {
    var node = this.list.firstElementChild;
    while (node && !this.isPending(node)) node = node.nextElementSibling;
    return node;
  };

  /**
   * A `transcript` frame (one page, the answer to `sync` or `transcript`):
   * each entry through each(entry) (default: add), then, when more follow,
   * options.more(after). Returns the page's last seq.
   */
  Transcript.prototype.page = function (f, each) {
    var self = this;
    var last = 0;
    (f.entries || []).forEach(function (e) {
      var entry = Object.assign({ conversation: f.conversation }, e);
      if (each) each(entry); else self.add(entry);
      last = Math.max(last, Number(e.seq) || 0);
    });
    if (f.more && last > 0 && this.options.more) this.options.more(last, f);
    return last;
  };

  /** A `redact`: the entry's text, masked anew, replaces what is shown. */
  Transcript.prototype.redact = function (f) {
    var el = this.get(f.seq);
    var target = el && (this.options.text ? el.querySelector(this.options.text) : el);
    if (!target) return false;
    target.replaceChildren.apply(target, linkify(f.text));
    return true;
  };

  /** The other side read up to `seq` (a `read`): "Seen" moves under the latest own entry it covers. */
  Transcript.prototype.read = function (seq) {
    seq = Number(seq) || 0;
    if (seq <= this.readSeq) return;
    this.readSeq = seq;
    this.renderSeen();
  };

  Transcript.prototype.renderSeen = function () {
    var p = this.prefix;
    var readSeq = this.readSeq;
    var target = 0;
    this.ownSeqs.forEach(function (s) { if (s <= readSeq && s > target) target = s; });
    var old = this.list.querySelector('.' + p + 'seen');
    if (old) old.parentNode.removeChild(old);
    var el = target && this.rendered.get(target);
    if (el) el.querySelector('.' + p + 'meta').appendChild(h('span', { class: p + 'seen', text: 'Seen' }));
  };

  /**
   * The seq to report in a `read` now: the highest shown, when the other
   * side wrote something since the last report; else 0. Tell `reported`
   * once the `read` went out.
   */
  Transcript.prototype.toRead = function () {
    return this.lastOtherSeq > this.readSent ? this.maxSeq : 0;
  };

  Transcript.prototype.reported = function (seq) {
    if (seq > this.readSent) this.readSent = seq;
  };

  /** The next toRead reports what is shown again (the hub forgets nothing, but a new connection may). */
  Transcript.prototype.reportAgain = function () {
    this.readSent = 0;
  };

  /** A line of the view's own (no seq), ahead of pending lines. */
  Transcript.prototype.note = function (el) {
    this.list.insertBefore(el, this.firstPending());
    this.trim();
    this.scrollToEnd();
  };

  /** An own message on its way (p: { id, el, … }): shown last until its `msg` settles it. */
  Transcript.prototype.pend = function (p) {
    this.pending.set(p.id, p);
    this.list.appendChild(p.el);
    this.scrollToEnd();
    return p;
  };

  /** The hub acknowledged an own message: forget it and drop its "sending" line. */
  Transcript.prototype.settle = function (id) {
    var p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.el.parentNode) p.el.parentNode.removeChild(p.el);
  };

  /**
   * A pending own message that will not go out: forgets it and marks its
   * line failed (prefix + 'failed'). Returns the line's emptied meta
   * (prefix + 'meta') for the view's words.
   */
  Transcript.prototype.fail = function (p) {
    this.pending.delete(p.id);
    p.el.classList.remove(this.prefix + 'pending');
    p.el.classList.add(this.prefix + 'failed');
    var meta = p.el.querySelector('.' + this.prefix + 'meta');
    meta.textContent = '';
    return meta;
  };

  /** Keeps at most options.max entries in the DOM, dropping the oldest (never a pending line). */
  Transcript.prototype.trim = function () {
    var max = this.options.max;
    if (!max) return;
    var dropped = false;
    while (this.list.childElementCount > max) {
      var first = this.list.firstElementChild;
      if (this.isPending(first)) break;
      var seq = this.seqOf.get(first);
      if (seq) {
        this.rendered.delete(seq);
        if (seq > this.trimmedThrough) this.trimmedThrough = seq;
      }
      this.list.removeChild(first);
      dropped = true;
    }
    if (!dropped) return;
    var through = this.trimmedThrough;
    this.ownSeqs = this.ownSeqs.filter(function (s) { return s > through; });
    if (this.options.trimmed) this.options.trimmed();
  };

  Transcript.prototype.scrollToEnd = function () {
    if (this.options.follow && !this.options.follow()) return;
    this.list.scrollTop = this.list.scrollHeight;
  };

  // ------------------------------------------------------------- connection

  /**
   * One logical connection to the hub that survives network drops: it
   * reconnects with exponential backoff and jitter, asks getToken() (a token,
   * or a promise of one) for a fresh token before every attempt, and
   * authenticates with the first frame. Nothing happens until start().
   *
   * handlers: frame(f) for every frame; state(name, detail) with 'connecting',
   * 'connected', 'waiting' or 'offline' (detail { delayMs, code } while
   * waiting); optional down(code) when an open socket goes away (the close
   * code, or undefined when it was dropped here); optional token(t) with the
   * token about to be used.
   */
  function Connection(url, getToken, handlers) {
    this.url = url;
    this.getToken = getToken;
    this.handlers = handlers;
    this.ws = null;
    this.authed = false;
    this.attempt = 0;
    this.generation = 0;
    this.timer = null;
    this.retryAt = 0;
    this.stopped = true;
    this.onOnline = this.onOnline.bind(this);
    this.onOffline = this.onOffline.bind(this);
  }

  Connection.prototype.start = function () {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  };

  Connection.prototype.stop = function () {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.drop(1000);
  };

  /** Closes the current socket and connects again at once (e.g. with another token). */
  Connection.prototype.restart = function () {
    this.drop(1000);
    this.attempt = 0;
    this.connect();
  };

  Connection.prototype.isReady = function () {
    return !!(this.ws && this.authed && this.ws.readyState === 1);
  };

  /** Sends a frame if authenticated; returns whether it went out. */
  Connection.prototype.send = function (frame) {
    if (!this.isReady()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  };

  /** Detaches and closes the current socket without waiting for its close event. */
  Connection.prototype.drop = function (code) {
    var ws = this.ws;
    this.ws = null;
    this.authed = false;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(code || 1000); } catch (e) { /* already closing */ }
    if (this.handlers.down) this.handlers.down();
  };

  Connection.prototype.connect = function () {
    var self = this;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped || this.ws) return;
    var generation = ++this.generation;
    this.handlers.state('connecting');
    Promise.resolve()
      .then(function () { return self.getToken(); })
      .then(function (token) {
        if (generation !== self.generation || self.stopped || self.ws) return;
        if (typeof token !== 'string' || !token) throw new Error('getToken gave no token');
        if (self.handlers.token) self.handlers.token(token);
        // Again: getToken may have shown something else while it waited.
        self.handlers.state('connecting');
        var ws = new WebSocket(self.url);
        self.ws = ws;
        ws.onopen = function () { ws.send(JSON.stringify({ type: 'auth', token: token })); };
        ws.onmessage = function (ev) {
          var frame;
          try { frame = JSON.parse(ev.data); } catch (e) { return; }
          if (!frame || typeof frame.type !== 'string') return;
          if (frame.type === 'welcome') {
            self.authed = true;
            self.attempt = 0;
            self.handlers.state('connected');
          }
          self.handlers.frame(frame);
        };
        ws.onerror = function () { /* a close event follows */ };
        ws.onclose = function (ev) {
          if (self.ws !== ws) return;
          self.ws = null;
          self.authed = false;
          if (self.handlers.down) self.handlers.down(ev.code);
          self.retry(ev.code);
        };
      })
      .catch(function () {
        if (generation !== self.generation || self.stopped) return;
        self.retry(0);
      });
  };

  Connection.prototype.retry = function (closeCode) {
    if (this.stopped) return;
    // Full jitter, so a hub restart is not met by a stampede.
    var delay = backoff(this.attempt, RECONNECT_BASE_MS, RECONNECT_MAX_MS);
    this.attempt = Math.min(this.attempt + 1, 20);
    // An expired token (4401) on a working link is fixed by a fresh token: retry at once.
    if (closeCode === 4401 && this.attempt === 1) delay = 0;
    this.retryAt = Date.now() + delay;
    this.handlers.state(navigator.onLine === false ? 'offline' : 'waiting', { delayMs: delay, code: closeCode });
    var self = this;
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };

  Connection.prototype.onOnline = function () {
    if (this.stopped) return;
    // The backoff starts over: an attempt still on its way that fails (it
    // set out while the network was down) is retried within the first
    // window, not after the long wait the outage built up.
    this.attempt = 0;
    if (!this.ws) this.connect();
  };

  Connection.prototype.onOffline = function () {
    // The browser says the network is gone: the socket is dead even if it
    // has not noticed yet. Drop it and wait for `online` (or the backoff).
    if (this.stopped || !this.ws) return;
    this.drop(1000);
    this.retry(0);
  };

  // ------------------------------------------------------------ staff token

  /** While waiting for a token, ask the opener/parent again this often. */
  var TOKEN_REQUEST_RETRY_MS = 5000;

  /** Reads the (unverified) claims of a JWT, only to show the user's own name. */
  function tokenClaims(token) {
    try {
      var part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      while (part.length % 4) part += '=';
      var json = decodeURIComponent(Array.prototype.map.call(atob(part), function (c) {
        return '%' + ('00' + c.charCodeAt(0).toString(16)).slice(-2);
      }).join(''));
      return JSON.parse(json) || {};
    } catch (e) {
      return {};
    }
  }

  /**
   * The token of a staff app (agent pane, supervisor console): kept in
   * sessionStorage[storageKey], or handed over by the opener/parent (the
   * issuer's agent desktop, or the demo page) with
   * postMessage({ type: 'switchboard-token', token }) from a trusted origin
   * (this page's own and those in <meta name="switchboard-trusted-origins">).
   * Without one, it posts { type: 'switchboard-token-request' } to its
   * opener/parent until one comes. Tokens never go in a URL.
   *
   * hooks.waiting(hasHosts): asking for a token (hasHosts: someone to ask);
   * hooks.handedOver(token): a new token arrived while none was awaited.
   */
  function StaffToken(storageKey, hooks) {
    this.key = storageKey;
    this.hooks = hooks;
    this.memory = null;
    this.stale = false;
    this.awaiting = false;
    this.waiters = [];
    this.trusted = [location.origin].concat(
      ((document.querySelector('meta[name="switchboard-trusted-origins"]') || {}).content || '')
        .split(/\s+/).filter(Boolean)
    );
    var self = this;
    window.addEventListener('message', function (ev) { self.onMessage(ev); });
  }

  StaffToken.prototype.hosts = function () {
    var hosts = [];
    if (window.parent && window.parent !== window) hosts.push(window.parent);
    if (window.opener && !window.opener.closed) hosts.push(window.opener);
    return hosts;
  };

  StaffToken.prototype.stored = function () {
    try { return sessionStorage.getItem(this.key); } catch (e) { return null; }
  };

  StaffToken.prototype.onMessage = function (ev) {
    var data = ev.data;
    if (!data || data.type !== 'switchboard-token' || typeof data.token !== 'string' || !data.token) return;
    if (this.hosts().indexOf(ev.source) < 0 || this.trusted.indexOf(ev.origin) < 0) return;
    try { sessionStorage.setItem(this.key, data.token); } catch (e) { /* storage disabled: keep in memory */ }
    this.memory = data.token;
    this.stale = false;
    var waiters = this.waiters;
    this.waiters = [];
    waiters.forEach(function (resolve) { resolve(data.token); });
    if (!waiters.length) this.hooks.handedOver(data.token);
  };

  /** The hub refused the token (expired): the next `get` asks for a fresh one. */
  StaffToken.prototype.invalidate = function () { this.stale = true; };

  /** The token to connect with: stored unless known stale, else asked for. */
  StaffToken.prototype.get = function () {
    var self = this;
    var t = this.stored() || this.memory;
    if (t && !this.stale) return Promise.resolve(t);
    try { sessionStorage.removeItem(this.key); } catch (e) { /* ignore */ }
    this.memory = null;
    this.awaiting = true;
    return new Promise(function (resolve) {
      var again = null;
      self.waiters.push(function (token) { self.awaiting = false; clearInterval(again); resolve(token); });
      function ask() {
        var hosts = self.hosts();
        hosts.forEach(function (w) {
          // The request carries no secret, so any origin may see it; the answer is origin-checked.
          try { w.postMessage({ type: 'switchboard-token-request' }, '*'); } catch (e) { /* closed */ }
        });
        self.hooks.waiting(hosts.length > 0);
      }
      ask();
      again = setInterval(ask, TOKEN_REQUEST_RETRY_MS);
    });
  };

  window.SwitchboardCore = {
    version: '1',
    MAX_TEXT_CHARS: MAX_TEXT_CHARS,
    TYPING_IDLE_MS: TYPING_IDLE_MS,
    REMOTE_TYPING_TIMEOUT_MS: REMOTE_TYPING_TIMEOUT_MS,
    h: h,
    clockTime: clockTime,
    linkify: linkify,
    tokenClaims: tokenClaims,
    StaffToken: StaffToken,
    newId: newId,
    wsUrl: wsUrl,
    announce: announce,
    isRetryable: isRetryable,
    backoff: backoff,
    retryDelay: retryDelay,
    retryLater: retryLater,
    Reload: Reload,
    Transcript: Transcript,
    Connection: Connection,
  };
})();
