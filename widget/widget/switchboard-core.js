/*!
 * Switchboard core (protocol v1): what the cardholder widget and the agent
 * pane share. Defines window.SwitchboardCore and nothing else.
 *
 * Served alone at /widget/switchboard-core.js (the agent pane loads it before
 * agent.js) and, ahead of switchboard-widget.js, in the one file the hub
 * serves at /widget/switchboard-widget.js, so embedding sites keep one tag.
 *
 * Invariants:
 * - h() puts text in the DOM with textContent only, never as HTML.
 * - Connection sends the token only in the first WebSocket frame
 *   ({"type":"auth"}), never in a URL.
 */
(function () {
  'use strict';

  /** Reconnect backoff: first retry after 0.25-0.5 s, doubling, capped at 30 s. */
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_MAX_MS = 30000;
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

  /** An own message the hub acknowledged: forget it and drop its "sending" line. */
  function settlePending(pending, id) {
    var p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (p.el.parentNode) p.el.parentNode.removeChild(p.el);
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
   * Milliseconds before retry number `attempt` (0, 1, …): 1 s doubling up to
   * 15 s, with jitter so that many clients refused together do not come
   * back together.
   */
  function retryDelay(attempt) {
    var base = Math.min(15000, 1000 * Math.pow(2, Math.min(attempt || 0, 4)));
    return Math.round(base * (0.5 + Math.random() / 2));
  }

  /**
   * A pending own message that will not go out: forgets it and marks its
   * entry failed (class prefix + 'failed'). Returns the entry's emptied meta
   * line (prefix + 'meta') for the caller's words.
   */
  function markFailed(pending, p, prefix) {
    pending.delete(p.id);
    p.el.classList.remove(prefix + 'pending');
    p.el.classList.add(prefix + 'failed');
    var meta = p.el.querySelector('.' + prefix + 'meta');
    meta.textContent = '';
    return meta;
  }

  /**
   * Puts "Seen" (class prefix + 'seen') under the latest own message whose
   * seq is at most readSeq; rendered maps seq -> entry with a prefix + 'meta'.
   */
  function renderSeen(transcript, rendered, ownSeqs, readSeq, prefix) {
    var target = 0;
    ownSeqs.forEach(function (s) { if (s <= readSeq && s > target) target = s; });
    var old = transcript.querySelector('.' + prefix + 'seen');
    if (old) old.parentNode.removeChild(old);
    var li = target && rendered.get(target);
    if (li) li.querySelector('.' + prefix + 'meta').appendChild(h('span', { class: prefix + 'seen', text: 'Seen' }));
  }

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
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, this.attempt));
    this.attempt = Math.min(this.attempt + 1, 20);
    // Jitter in the upper half, so a hub restart is not met by a stampede.
    var delay = ceiling / 2 + Math.random() * (ceiling / 2);
    // An expired token (4401) on a working link is fixed by a fresh token: retry at once.
    if (closeCode === 4401 && this.attempt === 1) delay = 0;
    this.retryAt = Date.now() + delay;
    this.handlers.state(navigator.onLine === false ? 'offline' : 'waiting', { delayMs: delay, code: closeCode });
    var self = this;
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };

  Connection.prototype.onOnline = function () {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
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
    settlePending: settlePending,
    markFailed: markFailed,
    isRetryable: isRetryable,
    retryDelay: retryDelay,
    renderSeen: renderSeen,
    Connection: Connection,
  };
})();
