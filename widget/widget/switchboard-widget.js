/*!
 * Switchboard cardholder chat widget (protocol v1).
 *
 * Embed with one tag, then mount:
 *
 *   <script src="https://hub.example/widget/switchboard-widget.js"></script>
 *   <script>
 *     Switchboard.mount({ getToken: async () => fetchJwtFromYourBackend() });
 *   </script>
 *
 * Options: hubUrl (default: this script's origin), getToken (required; called
 * before every connect so an expired token is replaced), container (render
 * inline in this element instead of a floating launcher), open (start open).
 * mount() returns { open(), close(), destroy() }.
 *
 * The hub serves this file together with switchboard-core.js (the helpers, the
 * transcript and the reconnecting Connection shared with the agent pane and
 * the supervisor console), core first, as one response, so embedding sites
 * still need just the one tag.
 *
 * Invariants:
 * - The token only ever travels in the first WebSocket frame ({"type":"auth"}),
 *   never in a URL.
 * - User-supplied text is only ever put in the DOM with textContent.
 * - Transcript entries are keyed by their per-conversation seq: a line is shown
 *   once, and after every reconnect `sync` asks for everything after the highest
 *   seq shown, so a network drop neither loses nor duplicates lines.
 */
(function () {
  'use strict';

  if (window.Switchboard && typeof window.Switchboard.mount === 'function') return;

  // switchboard-core.js: the hub serves it ahead of this file, in the same response.
  var core = window.SwitchboardCore;
  if (!core) throw new Error('Switchboard: switchboard-core.js is missing; load /widget/switchboard-widget.js from the hub');
  var h = core.h;
  var clockTime = core.clockTime;

  var currentScript = document.currentScript;
  var SCRIPT_ORIGIN = currentScript && currentScript.src
    ? new URL(currentScript.src, location.href).origin
    : location.origin;

  /** Topics from SPEC, in the words a cardholder would use. */
  var TOPICS = [
    ['general', 'A general question'],
    ['billing', 'My bill or a payment'],
    ['dispute', 'Dispute a charge'],
    ['lost_card', 'My card is lost or stolen'],
    ['forgot_login', 'I forgot my login details'],
    ['locked_account', 'My account is locked'],
    ['two_factor', 'Trouble with verification codes'],
    ['fraud_restriction', 'My card was blocked for suspected fraud'],
    ['update_contact', 'Update my address, phone or email'],
  ];

  function topicLabel(topic) {
    for (var i = 0; i < TOPICS.length; i++) if (TOPICS[i][0] === topic) return TOPICS[i][1];
    return String(topic || 'A chat');
  }

  /** A day as people read it: "2 Dec 2026". */
  function dayText(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? '' : d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
  }

  /**
   * "We're closed right now. We open again at 08:00." (today), "… tomorrow
   * at 08:00", "… on Mon 7 Dec at 08:00", in the browser's time zone.
   */
  function closedText(nextOpen) {
    var d = nextOpen ? new Date(nextOpen) : null;
    if (!d || isNaN(d.getTime())) return "We're closed right now.";
    var today = new Date();
    var tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
    var day = d.toDateString() === today.toDateString() ? ''
      : d.toDateString() === tomorrow.toDateString() ? ' tomorrow'
        : ' on ' + d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
    return "We're closed right now. We open again" + day + ' at ' + clockTime(d.toISOString()) + '.';
  }

  /** Transcript entries kept in the DOM; older ones are trimmed. */
  var MAX_RENDERED_ENTRIES = 300;

  // ---------------------------------------------------------------- helpers

  function ordinal(n) {
    var mod100 = n % 100;
    if (mod100 >= 11 && mod100 <= 13) return n + 'th';
    switch (n % 10) {
      case 1: return n + 'st';
      case 2: return n + 'nd';
      case 3: return n + 'rd';
      default: return n + 'th';
    }
  }

  /** "You're 3rd in line, about 2 min" */
  function queueText(position, etaS) {
    var where = position <= 1 ? "You're next in line" : "You're " + ordinal(position) + ' in line';
    if (etaS === null || etaS === undefined) return where;
    if (etaS < 60) return where + ', less than a minute';
    return where + ', about ' + Math.round(etaS / 60) + ' min';
  }

  /** Whether a transcript entry is the cardholder's own. */
  function fromCardholder(entry) { return entry.from === 'cardholder'; }

  /** An own message on its way ("Sending…") until the hub echoes it. */
  function pendingLine(id, text) {
    return h('li', { class: 'sbw-msg sbw-own sbw-pending', 'data-pending-id': id }, [
      h('span', { class: 'sbw-visually-hidden', text: 'You: ' }),
      h('div', { class: 'sbw-bubble', dir: 'auto', text: text }),
      h('div', { class: 'sbw-meta' }, [h('span', { class: 'sbw-sending', text: 'Sending\u2026' })]),
    ]);
  }

  // ------------------------------------------------------- secure messages

  /** A reply target in words: "4 hours", "1 day", "2 days". */
  function replyWithin(seconds) {
    var hours = Math.round(seconds / 3600);
    if (hours >= 24 && hours % 24 === 0) return hours === 24 ? '1 day' : hours / 24 + ' days';
    if (hours >= 1) return hours + (hours === 1 ? ' hour' : ' hours');
    return Math.max(1, Math.round(seconds / 60)) + ' minutes';
  }

  /**
   * `transcript_full`: the conversation holds as much as one may, so the
   * message was not kept, and sending it again will not help.
   */
  var TRANSCRIPT_FULL = {
    chat: "This chat has reached its limit, so your message wasn't sent. " +
      'The agent can still finish it or pass it on; once it ends you can start a new chat.',
    thread: "This conversation has reached its limit, so your message wasn't sent. " +
      'Please write a new secure message instead.',
  };

  var THREAD_STATUS = {
    queued: 'Waiting for our reply', active: 'We are on it', resolved: 'Answered', ended: 'Closed',
  };

  /**
   * The message centre: the cardholder's secure-message threads (written
   * inquiries answered later, SPEC "Secure messaging"), reachable from the
   * launcher. Frames naming one of its threads come here, not to the chat.
   */
  function MessageCentre(w) {
    this.w = w;
    this.threads = new Map(); // id -> {conversation, topic, status, last_seq, unread, last_at}
    this.replyWithinS = null;
    this.open = null;         // the thread shown: { id }; its entries are in this.log
    // Each thread's transcript, kept while the page lives: the hub never
    // sends one connection an entry twice, so a thread opened again is not
    // read again from scratch (a page leaves out what came live).
    this.logs = new Map();    // conversation -> Transcript
    this.log = null;          // the open thread's
    this.starting = false;    // the `start` (mode message) frame on its way, resent as is
    this.startRetry = {};     // counts the resends of `starting`
    this.openNewest = false;  // show the new thread once the hub lists it
    this.build();
    var self = this;
    // The open thread's entries after `loadAfter`; a refusal is asked again after a backoff.
    this.loadAfter = 0;
    this.reload = new core.Reload(function () {
      if (self.open) self.conn().send({ type: 'sync', conversation: self.open.id, after: self.loadAfter });
    });
  }

  MessageCentre.prototype.build = function () {
    var self = this;
    this.listTitle = h('h3', { class: 'sbw-messages-title', id: 'sbw-messages-title', tabindex: '-1', text: 'Secure messages' });
    this.replyLine = h('p', { class: 'sbw-reply-within', hidden: true });
    this.list = h('ul', { class: 'sbw-thread-list' });
    this.empty = h('p', { class: 'sbw-thread-empty', text: 'No messages yet.' });
    var topics = h('select', { class: 'sbw-input sbw-message-topic', id: 'sbw-message-topic' },
      TOPICS.map(function (t) { return h('option', { value: t[0], text: t[1] }); }));
    this.newTopic = topics;
    this.newText = h('textarea', {
      class: 'sbw-input sbw-message-text', id: 'sbw-message-text', rows: '3', maxlength: String(core.MAX_TEXT_CHARS),
      placeholder: 'Write your message',
    });
    this.newForm = h('form', {
      class: 'sbw-message-new', 'aria-labelledby': 'sbw-message-new-h',
      onsubmit: function (ev) { ev.preventDefault(); self.startThread(self.newTopic.value, self.newText.value); },
    }, [
      h('h4', { id: 'sbw-message-new-h', class: 'sbw-message-new-h', text: 'Write a new message' }),
      h('label', { for: 'sbw-message-topic', text: 'About' }), topics,
      h('label', { for: 'sbw-message-text', text: 'Your message' }), this.newText,
      h('button', { type: 'submit', class: 'sbw-btn sbw-primary sbw-message-send' }, ['Send message']),
    ]);
    this.listScreen = h('section', { class: 'sbw-screen sbw-messages', 'aria-labelledby': 'sbw-messages-title' }, [
      this.listTitle, this.replyLine, this.list, this.empty, this.newForm,
      h('button', { type: 'button', class: 'sbw-btn sbw-secondary sbw-messages-back', onclick: function () { self.w.setScreen('topics'); } }, ['Back']),
    ]);

    this.threadTitle = h('h3', { class: 'sbw-thread-title', id: 'sbw-thread-title', tabindex: '-1' });
    this.threadStatus = h('p', { class: 'sbw-thread-status' });
    this.transcript = threadList(); // the open thread's list (replaced on open)
    this.composer = h('textarea', {
      class: 'sbw-input sbw-thread-composer', rows: '2', maxlength: String(core.MAX_TEXT_CHARS),
      placeholder: 'Write a reply', 'aria-label': 'Reply',
    });
    this.threadScreen = h('section', { class: 'sbw-screen sbw-thread', 'aria-labelledby': 'sbw-thread-title' }, [
      this.threadTitle, this.threadStatus, this.transcript,
      h('form', {
        class: 'sbw-thread-form',
        onsubmit: function (ev) { ev.preventDefault(); self.say(); },
      }, [this.composer, h('button', { type: 'submit', class: 'sbw-btn sbw-primary sbw-thread-send' }, ['Send'])]),
      h('button', { type: 'button', class: 'sbw-btn sbw-secondary sbw-thread-back', onclick: function () { self.show(); } }, ['All messages']),
    ]);

    this.entryBadge = h('span', { class: 'sbw-count sbw-messages-badge', hidden: true });
    this.entry = h('button', {
      type: 'button', class: 'sbw-link sbw-messages-open', onclick: function () { self.show(); },
    }, ['Secure messages', this.entryBadge]);
  };

  function threadList() {
    return h('ol', { class: 'sbw-thread-transcript', 'aria-label': 'Messages', tabindex: '0' });
  }

  /** A thread's transcript, made on its first entry or opening. */
  MessageCentre.prototype.logFor = function (id) {
    var self = this;
    if (!this.logs.has(id)) {
      this.logs.set(id, new core.Transcript(threadList(), {
        prefix: 'sbw-', text: '.sbw-bubble', own: fromCardholder,
        render: function (entry) { return self.w.entryElement(entry); },
        more: function (after) { self.loadAfter = after; self.reload.start(); },
      }));
    }
    return this.logs.get(id);
  };

  /** Unread agent replies over every thread. */
  MessageCentre.prototype.unreadTotal = function () {
    var n = 0;
    this.threads.forEach(function (t) { n += Number(t.unread) || 0; });
    return n;
  };

  /** Whether a frame is about one of the threads (or the one being started). */
  MessageCentre.prototype.claims = function (f) {
    if (f.type === 'threads') return true;
    if (!f.conversation) return false;
    if (this.threads.has(f.conversation)) return true;
    var live = this.w.conv && this.w.conv.id === f.conversation;
    if (this.starting && f.type === 'msg' && !live) {
      this.threads.set(f.conversation, { conversation: f.conversation, topic: null, status: 'queued', last_seq: 0, unread: 0 });
      return true;
    }
    return false;
  };

  MessageCentre.prototype.onWelcome = function (f) {
    if (Array.isArray(f.threads)) this.setThreads(f.threads);
    if (typeof f.message_reply_within_s === 'number') this.replyWithinS = f.message_reply_within_s;
    if (this.open) {
      this.loadAfter = this.log.maxSeq;
      this.reload.start();
    }
    var self = this;
    this.logs.forEach(function (log) { log.pending.forEach(function (p) { self.sendSay(p); }); });
    this.render();
  };

  MessageCentre.prototype.conn = function () { return this.w.conn; };

  MessageCentre.prototype.setThreads = function (list) {
    var self = this;
    this.threads = new Map();
    list.forEach(function (t) { self.threads.set(t.conversation, Object.assign({}, t)); });
  };

  MessageCentre.prototype.onFrame = function (f) {
    var t = this.threads.get(f.conversation);
    switch (f.type) {
      case 'threads':
        this.setThreads(f.threads || []);
        if (typeof f.message_reply_within_s === 'number') this.replyWithinS = f.message_reply_within_s;
        if (this.openNewest && f.threads && f.threads[0]) { this.openNewest = false; this.openThread(f.threads[0].conversation); }
        this.starting = false;
        break;
      case 'msg': this.onMsg(t, f); break;
      case 'transcript':
        if (this.open && this.open.id === f.conversation) {
          this.reload.done();
          this.log.page(f);
          this.sendRead();
        } else if (this.logs.has(f.conversation)) {
          this.logs.get(f.conversation).page(f);
        }
        break;
      case 'assigned': t.status = 'active'; break;
      case 'ended':
        t.status = f.reason === 'resolved' ? 'resolved' : 'ended';
        if (f.reason === 'resolved') this.w.announce('Your secure message was answered.');
        break;
      case 'redact':
        if (this.logs.has(f.conversation)) this.logs.get(f.conversation).redact(f);
        break;
      default: break;
    }
    this.render();
  };

  MessageCentre.prototype.onMsg = function (t, f) {
    var seq = Number(f.seq) || 0;
    var isNew = seq > (Number(t.last_seq) || 0);
    if (isNew) { t.last_seq = seq; t.last_at = f.at; }
    if (f.from === 'cardholder' && t.status === 'resolved') t.status = 'queued';
    var shown = this.open && this.open.id === f.conversation && this.w.screen === 'thread' && this.w.isOpen;
    this.logFor(f.conversation).add(f);
    if (f.from === 'agent' && isNew) {
      if (shown) this.sendRead();
      else {
        t.unread = (Number(t.unread) || 0) + 1;
        this.w.announce('New reply to your secure message');
      }
      this.w.renderBadge();
    }
  };

  /** Marks the open thread read up to what it shows (it is in sight). */
  MessageCentre.prototype.sendRead = function () {
    if (!this.open || this.w.screen !== 'thread' || !this.w.isOpen || document.visibilityState === 'hidden') return;
    var t = this.threads.get(this.open.id);
    var seq = this.log.toRead();
    if (!seq || !this.conn().send({ type: 'read', conversation: this.open.id, seq: seq })) return;
    this.log.reported(seq);
    if (t) {
      t.unread = 0;
      this.w.renderBadge();
      this.render();
    }
  };

  MessageCentre.prototype.show = function () {
    this.w.startConnection();
    this.open = null;
    this.reload.done();
    this.w.setScreen('messages');
    if (this.conn().isReady()) this.conn().send({ type: 'threads' });
  };

  MessageCentre.prototype.openThread = function (id) {
    var t = this.threads.get(id);
    this.open = { id: id };
    this.log = this.logFor(id);
    this.transcript.replaceWith(this.log.list);
    this.transcript = this.log.list;
    this.threadTitle.textContent = t && t.topic ? topicLabel(t.topic) : 'Secure message';
    this.w.setScreen('thread');
    // From the start: what came live is left out of the page, what is shown already is shown once.
    this.loadAfter = 0;
    this.reload.start();
    this.log.scrollToEnd();
    this.render();
  };

  /** Leaves a secure message; the new thread opens once the hub lists it. */
  MessageCentre.prototype.startThread = function (topic, text) {
    text = String(text || '').trim();
    if (!text) { this.w.showAlert('Please write your message first.'); this.newText.focus(); return; }
    // The key makes a resend (after `unavailable` or `busy`) open the thread once.
    var frame = { type: 'start', topic: topic || 'general', mode: 'message', text: text.slice(0, core.MAX_TEXT_CHARS), id: core.newId('t') };
    if (!this.conn().send(frame)) {
      this.w.showAlert("You're offline. Please try again when your connection is back.");
      return;
    }
    this.newText.value = '';
    this.starting = frame;
    this.startRetry = {};
    this.openNewest = true;
  };

  MessageCentre.prototype.say = function () {
    var text = this.composer.value.trim();
    if (!text || !this.open) return;
    var id = core.newId('m');
    var p = this.log.pend({ id: id, text: text, el: pendingLine(id, text), conversation: this.open.id });
    this.composer.value = '';
    this.sendSay(p);
  };

  MessageCentre.prototype.sendSay = function (p) {
    return this.conn().send({ type: 'say', conversation: p.conversation, id: p.id, text: p.text });
  };

  /** An `error` about what the centre sent; false when it is not ours. */
  MessageCentre.prototype.onError = function (f) {
    var centre = this;
    var log = null;
    this.logs.forEach(function (l) { if (f.ref && l.pending.has(f.ref)) log = l; });
    var p = log && log.pending.get(f.ref);
    if (p) {
      if (core.isRetryable(f.code)) {
        // Same id: resent after a growing backoff, never stored twice.
        core.retryLater(p, function () { if (log.pending.has(p.id)) centre.sendSay(p); });
      } else {
        log.fail(p).appendChild(h('span', { text: f.code === 'transcript_full' ? 'Not sent: this conversation is full' : 'Not sent' }));
        if (f.code === 'transcript_full') this.w.showAlert(TRANSCRIPT_FULL.thread);
      }
      return true;
    }
    if (this.starting && f.ref === this.starting.id && core.isRetryable(f.code)) {
      var again = this.starting;
      core.retryLater(this.startRetry, function () { if (centre.starting === again) centre.conn().send(again); });
      return true;
    }
    if (this.starting && (!f.ref || f.ref === this.starting.id)) {
      this.starting = false;
      this.openNewest = false;
      this.w.showAlert(f.message || "We couldn't send your message. Please try again.");
      return true;
    }
    return false;
  };

  MessageCentre.prototype.render = function () {
    var self = this;
    var total = this.unreadTotal();
    this.entryBadge.hidden = total === 0;
    this.entryBadge.textContent = total > 9 ? '9+' : String(total);
    this.entry.setAttribute('aria-label', 'Secure messages' + (total ? ', ' + total + ' unread' : ''));
    this.replyLine.hidden = this.replyWithinS === null;
    if (this.replyWithinS !== null) this.replyLine.textContent = 'We usually reply within ' + replyWithin(this.replyWithinS) + '.';
    var items = Array.from(this.threads.values());
    this.empty.hidden = items.length > 0;
    this.list.replaceChildren.apply(this.list, items.map(function (t) {
      var unread = Number(t.unread) || 0;
      return h('li', {}, [h('button', {
        type: 'button', class: 'sbw-thread-item', 'data-conversation': t.conversation,
        onclick: function () { self.openThread(t.conversation); },
      }, [
        h('span', { class: 'sbw-thread-topic', text: t.topic ? topicLabel(t.topic) : 'Secure message' }),
        h('span', { class: 'sbw-thread-when', text: (THREAD_STATUS[t.status] || t.status) + (t.last_at ? ' \u00b7 ' + dayText(t.last_at) : '') }),
        unread ? h('span', { class: 'sbw-count sbw-thread-unread', text: unread + ' new', 'aria-label': unread + ' unread' }) : null,
      ])]);
    }));
    var open = this.open && this.threads.get(this.open.id);
    if (open) this.threadStatus.textContent = THREAD_STATUS[open.status] || '';
  };

  // ----------------------------------------------------------------- widget

  function ensureStylesheet(root, hubUrl) {
    var link = h('link', { rel: 'stylesheet', href: new URL('/widget/switchboard-widget.css', hubUrl).toString() });
    root.appendChild(link);
  }

  function Widget(options) {
    if (!options || typeof options.getToken !== 'function') {
      throw new TypeError('Switchboard.mount: getToken must be a function returning a token');
    }
    this.hubUrl = options.hubUrl ? new URL(options.hubUrl, location.href).origin : SCRIPT_ORIGIN;
    this.getToken = options.getToken;
    this.inline = !!options.container;
    this.isOpen = this.inline || !!options.open;
    this.started = false;

    this.screen = 'connecting'; // connecting | topics | chat | escalated
    this.conv = null;           // { id, status, tier, agentName }
    this.connState = 'idle';
    this.everConnected = false;
    this.pendingStart = null;   // { topic, text } sent once connected
    this.unread = 0;
    this.typingOn = false;
    this.typingTimer = null;
    this.remoteTypingTimer = null;
    this.readTimer = null;
    this.callbacks = [];
    this.callBackTopics = [];
    this.dismissedRefs = new Set(); // callback refs whose screen the cardholder left

    this.build(options.container);
    var self = this;
    // The chat's entries after those shown (on every welcome); a refusal is asked again after a backoff.
    this.resync = new core.Reload(function () { self.conn.send({ type: 'sync', after: self.log.maxSeq }); });
    this.conn = new core.Connection(core.wsUrl(this.hubUrl), this.getToken, {
      frame: this.onFrame.bind(this),
      state: this.onConnState.bind(this),
    });
    this.wasOffline = false; // the browser lost its network since the last connection
    this.carryOver = '';     // unsent text of a chat that ended while reconnecting
    this.onVisibility = this.maybeSendRead.bind(this);
    document.addEventListener('visibilitychange', this.onVisibility);
    this.render();
    if (this.isOpen || this.wasActive()) this.startConnection();
    if (this.wasActive() && !this.inline) this.setOpen(true, false);
  }

  /** Whether this tab had a chat going (so a page navigation resumes it). */
  Widget.prototype.wasActive = function () {
    try { return sessionStorage.getItem('switchboard.widget.active') === '1'; } catch (e) { return false; }
  };

  Widget.prototype.markActive = function (active) {
    try {
      if (active) sessionStorage.setItem('switchboard.widget.active', '1');
      else sessionStorage.removeItem('switchboard.widget.active');
    } catch (e) { /* storage disabled */ }
  };

  Widget.prototype.startConnection = function () {
    if (this.started) return;
    this.started = true;
    this.conn.start();
  };

  Widget.prototype.build = function (container) {
    var self = this;
    this.host = h('div', { class: 'switchboard-widget-host', 'data-switchboard': 'widget' });
    var root = this.host.attachShadow ? this.host.attachShadow({ mode: 'open' }) : this.host;
    this.root = root;
    ensureStylesheet(root, this.hubUrl);

    this.launcherBadge = h('span', { class: 'sbw-badge', hidden: true, 'aria-hidden': 'true' });
    this.launcher = h('button', {
      type: 'button', class: 'sbw-launcher', 'aria-expanded': 'false', 'aria-controls': 'sbw-panel',
      'aria-label': 'Chat with customer service',
      onclick: function () { self.setOpen(!self.isOpen, true); },
    }, [h('span', { class: 'sbw-launcher-icon', 'aria-hidden': 'true' }), h('span', { class: 'sbw-launcher-text', text: 'Chat' }), this.launcherBadge]);

    this.statusLine = h('p', { class: 'sbw-status', id: 'sbw-status' });
    this.closeBtn = h('button', {
      type: 'button', class: 'sbw-icon-btn sbw-close', 'aria-label': 'Minimise chat',
      title: 'Minimise (Esc)', onclick: function () { self.setOpen(false, true); },
    }, [h('span', { 'aria-hidden': 'true', text: '\u2013' })]);
    this.endBtn = h('button', {
      type: 'button', class: 'sbw-end', onclick: function () { self.askEnd(); },
    }, ['End chat']);
    this.confirmBar = h('div', { class: 'sbw-confirm', role: 'group', 'aria-label': 'Confirm ending the chat', hidden: true }, [
      h('span', { text: 'End this chat?' }),
      h('button', { type: 'button', class: 'sbw-btn sbw-danger sbw-confirm-yes', onclick: function () { self.leave(); } }, ['Yes, end it']),
      h('button', { type: 'button', class: 'sbw-btn sbw-secondary sbw-confirm-no', onclick: function () { self.cancelEnd(); } }, ['Keep chatting']),
    ]);
    var header = h('header', { class: 'sbw-header' }, [
      h('div', { class: 'sbw-title-wrap' }, [h('h2', { class: 'sbw-title', id: 'sbw-title', text: 'Customer service' }), this.statusLine]),
      this.endBtn,
      this.inline ? null : this.closeBtn,
    ]);
    this.banner = h('div', { class: 'sbw-banner', role: 'status', hidden: true });

    // Topic picker.
    var topicList = h('div', { class: 'sbw-topics' });
    TOPICS.forEach(function (t, i) {
      var id = 'sbw-topic-' + t[0];
      topicList.appendChild(h('label', { class: 'sbw-topic', for: id }, [
        h('input', { type: 'radio', name: 'sbw-topic', id: id, value: t[0], checked: i === 0 }),
        h('span', { text: t[1] }),
      ]));
    });
    this.topicText = h('textarea', {
      class: 'sbw-input sbw-first-text', id: 'sbw-first-text', rows: '2', maxlength: String(core.MAX_TEXT_CHARS),
      placeholder: 'Tell us a little more (optional)',
    });
    this.startBtn = h('button', { type: 'submit', class: 'sbw-btn sbw-primary sbw-start' }, ['Start chat']);
    this.topicForm = h('form', {
      class: 'sbw-screen sbw-topic-screen', 'aria-labelledby': 'sbw-topic-legend',
      onsubmit: function (ev) { ev.preventDefault(); self.startChat(); },
    }, [
      // The topics scroll; the Start button stays in sight below them, on
      // a short laptop screen as on a phone.
      h('div', { class: 'sbw-topic-body' }, [
        h('fieldset', {}, [h('legend', { id: 'sbw-topic-legend', text: 'What can we help you with?' }), topicList]),
        h('label', { class: 'sbw-visually-hidden', for: 'sbw-first-text', text: 'Your question (optional)' }),
        this.topicText,
      ]),
      h('div', { class: 'sbw-topic-foot' }, [
        this.startBtn,
        h('button', { type: 'button', class: 'sbw-link sbw-history-open', onclick: function () { self.openHistory(); } }, ['Earlier conversations']),
      ]),
    ]);
    this.topicFoot = this.topicForm.querySelector('.sbw-topic-foot');

    // Earlier conversations, and one of them read back.
    this.historyList = h('ul', { class: 'sbw-history-list' });
    this.historyEmpty = h('p', { class: 'sbw-history-empty', hidden: true, text: 'No earlier conversations yet.' });
    this.historyMoreBtn = h('button', {
      type: 'button', class: 'sbw-btn sbw-secondary sbw-history-more', hidden: true, onclick: function () { self.moreHistory(); },
    }, ['Show older']);
    this.historyTitle = h('h3', { class: 'sbw-history-title', id: 'sbw-history-title', tabindex: '-1', text: 'Earlier conversations' });
    this.historyScreen = h('section', { class: 'sbw-screen sbw-history', 'aria-labelledby': 'sbw-history-title' }, [
      this.historyTitle, this.historyList, this.historyEmpty, this.historyMoreBtn,
      h('button', { type: 'button', class: 'sbw-btn sbw-secondary sbw-history-back', onclick: function () { self.setScreen('topics'); } }, ['Back']),
    ]);
    this.pastTitle = h('h3', { class: 'sbw-past-title', id: 'sbw-past-title', tabindex: '-1' });
    this.pastTranscript = h('ol', { class: 'sbw-past-transcript', 'aria-label': 'Earlier conversation', tabindex: '0' });
    this.pastLog = new core.Transcript(this.pastTranscript, {
      prefix: 'sbw-', render: function (entry) { return self.entryElement(entry); },
      more: function (after, f) { self.conn.send({ type: 'transcript', conversation: f.conversation, after: after }); },
    });
    this.pastScreen = h('section', { class: 'sbw-screen sbw-past', 'aria-labelledby': 'sbw-past-title' }, [
      this.pastTitle, this.pastTranscript,
      h('button', { type: 'button', class: 'sbw-btn sbw-secondary sbw-past-back', onclick: function () { self.past = null; self.setScreen('history'); } }, ['Back to the list']),
    ]);

    this.messages = new MessageCentre(this);

    // Chat screen.
    // A plain ordered list: new lines are spoken through `announcer`, so no
    // live region (and no role that would take the list semantics away).
    this.transcript = h('ol', { class: 'sbw-transcript', 'aria-label': 'Conversation', tabindex: '0' });
    this.log = new core.Transcript(this.transcript, {
      prefix: 'sbw-', text: '.sbw-bubble', max: MAX_RENDERED_ENTRIES, own: fromCardholder,
      render: function (entry) { return self.entryElement(entry); },
      more: function (after, f) { if (self.conv && self.conv.id === f.conversation) self.resync.start(); },
    });
    this.typingEl = h('p', { class: 'sbw-typing', hidden: true, 'aria-hidden': 'true' });
    this.composer = h('textarea', {
      class: 'sbw-input sbw-composer', id: 'sbw-composer', rows: '1', maxlength: String(core.MAX_TEXT_CHARS),
      placeholder: 'Type a message', 'aria-label': 'Message',
      onkeydown: function (ev) {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); self.sendMessage(); }
      },
      oninput: function () { self.onComposerInput(); },
      onblur: function () { self.setTyping(false); },
    });
    this.sendBtn = h('button', { type: 'submit', class: 'sbw-btn sbw-primary sbw-send', 'aria-label': 'Send message' }, ['Send']);
    this.composerForm = h('form', {
      class: 'sbw-composer-form',
      onsubmit: function (ev) { ev.preventDefault(); self.sendMessage(); },
    }, [this.composer, this.sendBtn]);
    this.offerText = h('p', { class: 'sbw-offer-text' });
    this.offerBar = h('div', { class: 'sbw-offer', role: 'group', 'aria-label': 'No one is free right now', hidden: true }, [
      this.offerText,
      h('button', { type: 'button', class: 'sbw-btn sbw-primary sbw-offer-message', onclick: function () { self.leaveMessageInstead(); } }, ['Leave a secure message']),
      // Identity and card-security topics: a phone call from the desk instead.
      this.offerCall = h('button', { type: 'button', class: 'sbw-btn sbw-secondary sbw-offer-call', hidden: true, onclick: function () { self.callMeBack(); } }, ['Ask for a call back']),
    ]);
    // Rating, once the chat ended (`rate`, answered with `rated`).
    this.rateButtons = [1, 2, 3, 4, 5].map(function (n) {
      return h('button', {
        type: 'button', class: 'sbw-star', 'data-score': n, 'aria-pressed': 'false',
        'aria-label': n + (n === 1 ? ' star' : ' stars') + ' out of 5',
        onclick: function () { self.pickScore(n); },
      }, ['\u2605']);
    });
    this.rateComment = h('textarea', {
      class: 'sbw-rate-comment', rows: '2', maxlength: '1000',
      placeholder: 'Anything to add? (optional)', 'aria-label': 'Anything to add? (optional)',
    });
    this.rateSend = h('button', { type: 'submit', class: 'sbw-btn sbw-primary sbw-rate-send', disabled: true }, ['Send rating']);
    this.rateForm = h('form', {
      class: 'sbw-rate', hidden: true,
      onsubmit: function (ev) { ev.preventDefault(); self.sendRating(); },
    }, [
      h('fieldset', { class: 'sbw-rate-set' }, [
        h('legend', { class: 'sbw-rate-legend', text: 'How was this chat?' }),
        h('div', { class: 'sbw-stars' }, this.rateButtons),
      ]),
      this.rateComment,
      this.rateSend,
    ]);
    this.rateThanks = h('p', { class: 'sbw-rate-thanks', hidden: true, text: 'Thank you for your feedback.' });
    this.endedBar = h('div', { class: 'sbw-ended', hidden: true }, [
      h('p', { class: 'sbw-ended-text', text: 'This chat has ended.' }),
      this.rateForm,
      this.rateThanks,
      h('button', { type: 'button', class: 'sbw-btn sbw-primary sbw-new-chat', onclick: function () { self.newChat(); } }, ['Start a new chat']),
    ]);
    this.chatScreen = h('div', { class: 'sbw-screen sbw-chat-screen' }, [this.offerBar, this.transcript, this.typingEl, this.composerForm, this.endedBar]);

    // Escalation (callback) screen.
    this.escTitle = h('h3', { class: 'sbw-esc-title', tabindex: '-1', text: "We'll call you back" });
    this.escReason = h('p', { class: 'sbw-esc-reason' });
    this.escPhone = h('p', { class: 'sbw-esc-phone' });
    this.escRef = h('strong', { class: 'sbw-ref' });
    this.escScreen = h('section', { class: 'sbw-screen sbw-escalated', 'aria-labelledby': 'sbw-esc-title' }, [
      h('div', { class: 'sbw-esc-icon', 'aria-hidden': 'true', text: '\u260E' }),
      this.escTitle,
      this.escReason,
      this.escPhone,
      h('p', { class: 'sbw-esc-ref-line' }, ['Your reference: ', this.escRef]),
      this.escHint = h('p', { class: 'sbw-esc-hint' }),
      h('button', { type: 'button', class: 'sbw-btn sbw-secondary sbw-new-chat', onclick: function () { self.newChat(); } }, ['Ask something else']),
    ]);
    this.escTitle.id = 'sbw-esc-title';

    this.connectingScreen = h('div', { class: 'sbw-screen sbw-connecting' }, [
      h('div', { class: 'sbw-spinner', 'aria-hidden': 'true' }),
      h('p', { text: 'Connecting you securely\u2026' }),
    ]);

    this.announcer = h('div', { class: 'sbw-visually-hidden', 'aria-live': 'polite', 'aria-atomic': 'false' });
    this.alertEl = h('div', { class: 'sbw-alert', role: 'alert', hidden: true });

    this.panel = h('section', {
      class: 'sbw-panel', id: 'sbw-panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'sbw-title',
      'aria-describedby': 'sbw-status', hidden: !this.isOpen,
      onkeydown: function (ev) {
        if (ev.key === 'Escape' && !self.inline) { ev.stopPropagation(); self.setOpen(false, true); }
      },
    }, [header, this.confirmBar, this.banner, this.alertEl, this.connectingScreen, this.topicForm, this.chatScreen, this.escScreen,
      this.historyScreen, this.pastScreen, this.messages.listScreen, this.messages.threadScreen]);
    this.topicFoot.appendChild(this.messages.entry);

    this.frame = h('div', { class: 'sbw-root' + (this.inline ? ' sbw-inline' : ' sbw-floating') }, [
      this.inline ? null : this.launcher,
      this.panel,
      this.announcer,
    ]);
    root.appendChild(this.frame);
    (container || document.body).appendChild(this.host);
  };

  // ------------------------------------------------------------ open/close

  Widget.prototype.setOpen = function (open, moveFocus) {
    if (this.inline) open = true;
    this.isOpen = open;
    this.panel.hidden = !open;
    this.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) {
      this.startConnection();
      this.unread = 0;
      this.renderBadge();
      if (moveFocus) this.focusScreen();
      this.maybeSendRead();
    } else if (moveFocus) {
      this.launcher.focus();
    }
  };

  Widget.prototype.focusScreen = function () {
    var target = null;
    if (this.screen === 'topics') target = this.root.querySelector('input[name="sbw-topic"]:checked');
    else if (this.screen === 'chat') target = this.composerForm.hidden ? this.endedBar.querySelector('button') : this.composer;
    else if (this.screen === 'escalated') target = this.escTitle;
    else if (this.screen === 'history') target = this.historyTitle;
    else if (this.screen === 'past') target = this.pastTitle;
    else if (this.screen === 'messages') target = this.messages.listTitle;
    else if (this.screen === 'thread') target = this.messages.threadTitle;
    else target = this.closeBtn;
    if (target && typeof target.focus === 'function') target.focus();
  };

  Widget.prototype.renderBadge = function () {
    var unread = this.unread + this.messages.unreadTotal();
    this.launcherBadge.hidden = unread === 0;
    this.launcherBadge.textContent = unread > 9 ? '9+' : String(unread);
    this.launcher.setAttribute('aria-label', unread
      ? 'Chat with customer service, ' + unread + ' new message' + (unread > 1 ? 's' : '')
      : 'Chat with customer service');
  };

  Widget.prototype.announce = function (text) {
    core.announce(this.announcer, text);
  };

  Widget.prototype.showAlert = function (text) {
    var self = this;
    this.alertEl.textContent = text;
    this.alertEl.hidden = !text;
    clearTimeout(this.alertTimer);
    if (text) this.alertTimer = setTimeout(function () { self.alertEl.hidden = true; }, 8000);
  };

  // ----------------------------------------------------------------- render

  Widget.prototype.setScreen = function (screen, moveFocus) {
    var changed = this.screen !== screen;
    this.screen = screen;
    this.render();
    if (changed && moveFocus !== false && this.isOpen && this.panel.contains(this.root.activeElement || document.activeElement)) {
      this.focusScreen();
    }
  };

  Widget.prototype.render = function () {
    var s = this.screen;
    this.connectingScreen.hidden = s !== 'connecting';
    this.topicForm.hidden = s !== 'topics';
    this.chatScreen.hidden = s !== 'chat';
    this.escScreen.hidden = s !== 'escalated';
    this.historyScreen.hidden = s !== 'history';
    this.pastScreen.hidden = s !== 'past';
    this.messages.listScreen.hidden = s !== 'messages';
    this.messages.threadScreen.hidden = s !== 'thread';
    this.renderOffer();
    var live = this.conv && (this.conv.status === 'queued' || this.conv.status === 'active');
    this.endBtn.hidden = !(s === 'chat' && live);
    this.endBtn.textContent = this.conv && this.conv.status === 'queued' ? 'Leave queue' : 'End chat';
    if (!(s === 'chat' && live)) this.confirmBar.hidden = true;
    var ended = s === 'chat' && this.conv && this.conv.status === 'ended';
    this.composerForm.hidden = !!ended;
    this.endedBar.hidden = !ended;
    this.rateForm.hidden = !(ended && this.conv.ratable && !this.conv.rated);
    this.rateThanks.hidden = !(ended && this.conv.rated);
    this.renderStatus();
  };

  /** The offer of the waiting chat, in the words of why `queued` made it. */
  Widget.prototype.renderOffer = function () {
    var offer = this.offer;
    this.offerBar.hidden = !(this.screen === 'chat' && offer && this.conv && this.conv.status === 'queued');
    var call = this.callBackTopics.indexOf(this.chatTopic) >= 0;
    this.offerCall.hidden = !call;
    if (!offer) return;
    var why = !offer.open ? closedText(offer.nextOpen)
      : offer.agentsOnline === 0 ? 'No one can answer right now.'
        : "It's taking longer than usual to answer.";
    this.offerBar.setAttribute('aria-label', !offer.open ? "We're closed" : offer.agentsOnline === 0 ? 'No one is free right now' : 'A long wait');
    this.offerText.textContent = why + ' ' + (call
      ? 'Leave us a secure message, or ask us to call you back.'
      : "Leave us a secure message and we'll reply here.");
  };

  // ------------------------------------------------------------ rating

  Widget.prototype.pickScore = function (n) {
    this.rateScore = n;
    this.rateButtons.forEach(function (b, i) {
      b.setAttribute('aria-pressed', i < n ? 'true' : 'false');
    });
    this.rateSend.disabled = false;
  };

  Widget.prototype.sendRating = function () {
    if (!this.conv || !this.rateScore) return;
    var frame = { type: 'rate', conversation: this.conv.id, score: this.rateScore };
    var comment = this.rateComment.value.trim();
    if (comment) frame.comment = comment;
    this.rateSend.disabled = true;
    this.ratingSent = this.conn.send(frame);
    if (!this.ratingSent) this.rateSend.disabled = false;
  };

  /** The hub did not keep the rating: say so; offer it again unless it never can be. */
  Widget.prototype.ratingRefused = function (f) {
    this.ratingSent = false;
    if (f.code === 'not_allowed' || f.code === 'no_conversation') {
      if (this.conv) this.conv.ratable = false;
      this.showAlert("This chat can't be rated any more.");
      this.render();
      return;
    }
    this.rateSend.disabled = false;
    this.showAlert("We couldn't save your rating. Please try again.");
  };

  Widget.prototype.onRated = function (f) {
    this.ratingSent = false;
    if (!this.conv || f.conversation !== this.conv.id) return;
    this.conv.rated = true;
    this.announce('Thank you for your feedback.');
    this.render();
  };

  Widget.prototype.renderStatus = function () {
    var text = '';
    if (this.screen === 'topics') text = "We're here to help";
    else if (this.screen === 'escalated') text = 'Callback requested';
    else if (this.screen === 'connecting') text = 'Connecting\u2026';
    else if (this.screen === 'messages' || this.screen === 'thread') text = 'Secure messages';
    else if (this.conv) {
      if (this.conv.status === 'active') text = this.conv.agentName ? 'Chatting with ' + this.conv.agentName : 'Chatting with an agent';
      else if (this.conv.status === 'queued') text = this.queue ? queueText(this.queue.position, this.queue.eta_s) : 'Finding someone to help you\u2026';
      else if (this.conv.status === 'ended') text = 'Chat ended';
    }
    this.statusLine.textContent = text;

    var banner = '';
    if (this.connState === 'offline') banner = "You're offline. We'll reconnect when your connection is back.";
    else if ((this.connState === 'waiting' || this.connState === 'connecting') && this.everConnected) banner = 'Connection lost. Reconnecting\u2026';
    this.banner.textContent = banner;
    this.banner.hidden = !banner;
    this.sendBtn.disabled = false;
  };

  // ------------------------------------------------------------ connection

  Widget.prototype.onConnState = function (state) {
    this.connState = state;
    if (state === 'offline') this.wasOffline = true;
    if (state === 'connected') this.everConnected = true;
    this.renderStatus();
  };

  Widget.prototype.onFrame = function (f) {
    if (f.type === 'error' && !f.ref && !this.ratingSent && core.isRetryable(f.code) && this.retryLoads()) return undefined;
    if (f.type === 'error' && this.messages.onError(f)) return undefined;
    if (this.messages.claims(f)) return this.messages.onFrame(f);
    switch (f.type) {
      case 'welcome': return this.onWelcome(f);
      case 'queued': return this.onQueued(f);
      case 'assigned': return this.onAssigned(f);
      case 'msg': return this.onMsg(f);
      case 'transcript': return this.onTranscript(f);
      case 'history': return this.onHistory(f);
      case 'redact': return this.onRedact(f);
      case 'typing': return this.onTyping(f);
      case 'read': return this.onRead(f);
      case 'escalated': return this.onEscalated(f);
      case 'ended': return this.onEnded(f);
      case 'rated': return this.onRated(f);
      case 'error': return this.onError(f);
      default: return undefined; // unknown frames are ignored (forward compatible)
    }
  };

  Widget.prototype.onWelcome = function (f) {
    this.messages.onWelcome(f);
    this.renderBadge();
    this.callbacks = Array.isArray(f.callbacks) ? f.callbacks : [];
    // Topics whose waiting chat the hub turns into a call back.
    this.callBackTopics = Array.isArray(f.call_back_topics) ? f.call_back_topics : [];
    var c = f.conversation;
    if (c && c.status !== 'ended') {
      if (!this.conv || this.conv.id !== c.id) this.resetTranscript();
      var agentName = c.agent && c.agent.name;
      this.conv = { id: c.id, status: c.status, tier: c.tier, agentName: agentName || (this.conv && this.conv.agentName) || null };
      if (c.topic) this.chatTopic = c.topic;
      this.markActive(true);
      this.pendingStart = null;
      this.setScreen('chat');
      // Resume: everything after the highest seq shown, then resend what is still unacknowledged.
      // Entries up to last_seq are history being replayed: shown, not announced.
      this.replayThrough = Number(c.last_seq) || 0;
      this.resync.start();
      var self = this;
      this.log.pending.forEach(function (p) { self.sendSay(p); });
      if (this.leaveWhenConnected) { this.leaveWhenConnected = false; this.conn.send({ type: 'leave' }); }
      this.maybeSendRead();
      return;
    }
    // No open conversation on the hub.
    if (this.conv && (this.conv.status === 'queued' || this.conv.status === 'active')) {
      // It closed while we were away; keep the transcript and show it as ended.
      // Say why in the cardholder's terms: their network, or ours. What they
      // wrote meanwhile goes into the next chat's first message.
      this.conv.status = 'ended';
      this.leaveWhenConnected = false;
      this.markActive(false);
      var unsent = Array.from(this.log.pending.values()).map(function (p) { return p.text; });
      this.failPending();
      this.carryOver = unsent.join('\n');
      this.addNote(this.wasOffline
        ? 'This chat ended while you were offline.'
        : 'We lost the connection to this chat on our side, and it has ended. Sorry about that.');
      if (unsent.length) this.addNote('What you wrote after that was not delivered; it is ready to send in a new chat.');
      this.wasOffline = false;
      this.setScreen('chat');
      return;
    }
    this.wasOffline = false;
    if (this.pendingHistory) {
      this.pendingHistory = false;
      this.requestHistory(null);
      this.setScreen('history');
      return;
    }
    if (this.screen === 'history' || this.screen === 'past') return;
    if (this.pendingStart) {
      var start = this.pendingStart;
      this.pendingStart = null;
      this.sendStart(start);
      return;
    }
    if (this.screen === 'escalated' || (this.conv && this.conv.status === 'ended' && this.screen === 'chat')) return;
    var dismissed = this.dismissedRefs;
    var open = this.callbacks.filter(function (cb) {
      return (cb.status === 'requested' || cb.status === 'claimed' || cb.status === 'no_answer') && !dismissed.has(cb.ref);
    });
    if (open.length) {
      this.showEscalation(open[0]);
      return;
    }
    this.setScreen('topics');
  };

  /** Takes a frame's conversation on when we have none open (e.g. started from another device). */
  Widget.prototype.adopt = function (f) {
    if (!f.conversation) return false;
    if (this.conv && this.conv.id === f.conversation) return true;
    var starting = this.screen === 'connecting' || this.awaitingStart;
    if (this.conv && !starting && this.conv.status !== 'ended') return false;
    if (!starting && this.screen === 'escalated') return false;
    this.resetTranscript();
    this.awaitingStart = false;
    this.conv = { id: f.conversation, status: 'queued', tier: f.tier || null, agentName: null };
    this.markActive(true);
    this.setScreen('chat');
    return true;
  };

  Widget.prototype.onQueued = function (f) {
    if (!this.adopt(f)) return;
    // Back in a queue after being active means a transfer; the hub says so
    // in a system message, the status line shows the new place.
    this.conv.status = 'queued';
    this.conv.agentName = null;
    this.queue = { position: f.position, eta_s: f.eta_s };
    // Nobody to answer now (no agent signed in, closed, or a long wait): the
    // hub says so (`offer_message`), and why; a secure message is offered
    // instead of an endless wait.
    this.offer = f.offer_message === true ? { open: f.open !== false, nextOpen: f.next_open || null, agentsOnline: f.agents_online } : null;
    var text = queueText(f.position, f.eta_s);
    if (text !== this.lastQueueAnnounce) { this.announce(text); this.lastQueueAnnounce = text; }
    this.render();
  };

  Widget.prototype.onAssigned = function (f) {
    if (!this.adopt(f)) return;
    var name = f.agent && f.agent.name ? f.agent.name : 'An agent';
    var first = this.conv.status !== 'active' || this.conv.agentName !== name;
    this.conv.status = 'active';
    this.conv.agentName = name;
    this.queue = null;
    if (first) {
      this.addNote(name + ' joined the chat');
      this.announce(name + ' joined the chat');
    }
    this.render();
  };

  Widget.prototype.onMsg = function (f) {
    if (!this.adopt(f)) return;
    if (!this.log.add(f)) return;
    if (f.from !== 'cardholder') {
      if (f.from === 'agent') this.showRemoteTyping(false);
      if (Number(f.seq) > (this.replayThrough || 0)) {
        this.announce((f.from === 'agent' ? (this.conv.agentName || 'Agent') : 'Notice') + ': ' + f.text);
        if (!this.isOpen) { this.unread++; this.renderBadge(); }
      }
    }
    this.scheduleRead();
  };

  // A page of the transcript (the reply to `sync`): shown entry by entry;
  // `more` asks for the next page.
  Widget.prototype.onTranscript = function (f) {
    if (this.past && this.past.id === f.conversation) {
      this.pastLog.page(f);
      return;
    }
    var self = this;
    if (this.conv && this.conv.id === f.conversation) this.resync.done();
    this.log.page(f, function (entry) { self.onMsg(Object.assign({ type: 'msg' }, entry)); });
  };

  // ------------------------------------------------ earlier conversations

  Widget.prototype.openHistory = function () {
    if (!this.conn.isReady()) {
      this.pendingHistory = true;
      this.startConnection();
      this.setScreen('connecting');
      return;
    }
    this.requestHistory(null);
    this.setScreen('history');
  };

  /** Asks for a page of history: the newest, or those older than `before`. */
  Widget.prototype.requestHistory = function (before) {
    if (!before) {
      this.historyList.textContent = '';
      this.historyLast = null;
    }
    var frame = { type: 'history' };
    if (before) frame.before = before;
    this.conn.send(frame);
  };

  Widget.prototype.moreHistory = function () {
    if (this.historyLast) this.requestHistory(this.historyLast);
  };

  Widget.prototype.onHistory = function (f) {
    var self = this;
    (f.conversations || []).forEach(function (c) {
      self.historyLast = c.id;
      var when = dayText(c.started_at) + (c.agent_name ? ' \u00b7 ' + c.agent_name : '');
      self.historyList.appendChild(h('li', {}, [h('button', {
        type: 'button', class: 'sbw-history-item', 'data-conversation': c.id, onclick: function () { self.openPast(c); },
      }, [h('span', { class: 'sbw-history-topic', text: topicLabel(c.topic) }), h('span', { class: 'sbw-history-when', text: when })])]));
    });
    this.historyEmpty.hidden = this.historyList.childElementCount > 0;
    this.historyMoreBtn.hidden = !f.more;
  };

  /** Reads one earlier conversation back, page by page. */
  Widget.prototype.openPast = function (c) {
    this.past = { id: c.id };
    this.pastTitle.textContent = topicLabel(c.topic) + ', ' + dayText(c.started_at);
    this.pastLog.clear();
    this.conn.send({ type: 'transcript', conversation: c.id });
    this.setScreen('past');
  };

  // An earlier entry, masked anew (a card number typed over two messages).
  Widget.prototype.onRedact = function (f) {
    if (this.conv && this.conv.id === f.conversation) this.log.redact(f);
  };

  Widget.prototype.entryElement = function (f) {
    var who = f.from === 'cardholder' ? 'own' : f.from === 'agent' ? 'agent' : 'system';
    var label = who === 'own' ? 'You' : who === 'agent' ? (this.conv && this.conv.agentName) || 'Agent' : 'Notice';
    return h('li', { class: 'sbw-msg sbw-' + who, 'data-seq': f.seq, 'data-from': f.from }, [
      h('span', { class: 'sbw-visually-hidden', text: label + ': ' }),
      h('div', { class: 'sbw-bubble', dir: 'auto' }, core.linkify(f.text)),
      h('div', { class: 'sbw-meta' }, [
        who === 'agent' ? h('span', { class: 'sbw-author', text: label }) : null,
        h('time', { datetime: f.at || null, text: clockTime(f.at) }),
      ]),
    ]);
  };

  /** A line of the widget's own in the chat (a join, a transfer, the end). */
  Widget.prototype.addNote = function (text) {
    this.log.note(h('li', { class: 'sbw-note' }, [h('span', { text: text })]));
  };

  Widget.prototype.resetTranscript = function () {
    this.log.clear();
    this.resync.done();
    this.queue = null;
    this.offer = null;
    this.replayThrough = 0;
    this.showRemoteTyping(false);
  };

  Widget.prototype.onTyping = function (f) {
    if (!this.conv || f.conversation !== this.conv.id || f.from === 'cardholder') return;
    this.showRemoteTyping(!!f.on);
  };

  Widget.prototype.showRemoteTyping = function (on) {
    var self = this;
    clearTimeout(this.remoteTypingTimer);
    this.typingEl.hidden = !on;
    if (on) {
      this.typingEl.textContent = ((this.conv && this.conv.agentName) || 'The agent') + ' is typing\u2026';
      this.remoteTypingTimer = setTimeout(function () { self.typingEl.hidden = true; }, core.REMOTE_TYPING_TIMEOUT_MS);
    }
  };

  /** "Seen" goes under the latest own message the agent has read. */
  Widget.prototype.onRead = function (f) {
    if (!this.conv || f.conversation !== this.conv.id || f.from === 'cardholder') return;
    this.log.read(f.seq);
  };

  Widget.prototype.onEscalated = function (f) {
    if (this.conv && f.conversation !== this.conv.id && !this.awaitingStart && this.conv.status !== 'ended') return;
    this.awaitingStart = false;
    if (!this.conv || this.conv.id !== f.conversation) {
      this.resetTranscript();
      this.conv = { id: f.conversation, status: 'ended', tier: null, agentName: null };
    }
    this.conv.status = 'ended';
    this.failPending();
    this.markActive(false);
    this.showEscalation(f.callback || {});
  };

  // What the callback screen says, by what the call is about (`cause.concern`;
  // the desk decides for requests without one). Never a staff note.
  var ESCALATION_WORDS = {
    verification_code: {
      reason: "We need to confirm it's you by phone before we can help with your verification codes.",
      hint: 'Keep this reference handy. The call is how we check it is really you.',
    },
    locked: {
      reason: 'To keep your account safe, we need to confirm your identity by phone.',
      hint: "Keep this reference handy. Chat can't unlock the account: the call is how we check it is really you.",
    },
    identity: {
      reason: "We need to confirm it's you by phone before we can help with this.",
      hint: 'Keep this reference handy. The call is how we check it is really you.',
    },
    fraud: {
      reason: 'Our fraud team will call you about the restriction on your card.',
      hint: 'Keep this reference handy. For your security, restrictions can only be lifted on the phone.',
    },
  };

  Widget.prototype.showEscalation = function (cb) {
    this.escRef.textContent = cb.ref || '';
    var concern = (cb.cause && cb.cause.concern) || (cb.desk === 'fraud' ? 'fraud' : 'locked');
    var words = ESCALATION_WORDS[concern] || ESCALATION_WORDS.locked;
    this.escReason.textContent = words.reason;
    this.escHint.textContent = words.hint;
    this.escScreen.setAttribute('data-concern', concern);
    this.escPhone.textContent = cb.phone_last4
      ? "We'll call the number ending " + cb.phone_last4 + '.'
      : "We'll call the phone number we have on file.";
    this.announce("Callback requested. " + this.escPhone.textContent + ' Your reference is ' + (cb.ref || '') + '.');
    this.setScreen('escalated');
  };

  Widget.prototype.onEnded = function (f) {
    if (!this.conv || f.conversation !== this.conv.id) return;
    if (f.reason === 'transferred') {
      // The chat moves to another team's queue; a `queued` frame follows.
      this.conv.status = 'queued';
      this.addNote("You're being transferred to another team. Please stay in the chat.");
      this.render();
      return;
    }
    if (f.reason === 'escalated') {
      this.conv.status = 'ended';
      this.markActive(false);
      if (this.screen !== 'escalated') this.render();
      return;
    }
    // A chat an agent served can be rated (once).
    this.conv.ratable = this.conv.status === 'active' && f.reason !== 'lost';
    this.conv.status = 'ended';
    this.markActive(false);
    this.failPending();
    this.showRemoteTyping(false);
    this.setTyping(false);
    var words = {
      agent_ended: 'The agent ended the chat.',
      cardholder_left: 'You ended the chat.',
      abandoned: 'The chat was closed because the connection was lost for too long.',
      lost: 'This chat was lost because of a system problem; please start a new one.',
    };
    this.addNote(words[f.reason] || 'This chat has ended.');
    this.announce(words[f.reason] || 'This chat has ended.');
    // Left for a secure message: the message centre stays in front.
    if (this.leftForMessage) { this.leftForMessage = false; this.render(); return; }
    this.setScreen('chat');
  };

  /**
   * A refusal that names no frame while a `sync` is in flight (the chat's
   * resume, the open thread) is taken as its answer: each is asked again
   * after a growing backoff. Returns whether one was.
   */
  Widget.prototype.retryLoads = function () {
    var thread = this.messages.reload.refused();
    var chat = this.resync.refused();
    if (thread || chat) this.showAlert("We couldn't load your messages. Trying again\u2026");
    return thread || chat;
  };

  Widget.prototype.onError = function (f) {
    if (this.ratingSent && !f.ref) return this.ratingRefused(f);
    var p = f.ref && this.log.pending.get(f.ref);
    if (p) {
      if (core.isRetryable(f.code)) {
        // Same id: the hub never stores a message twice, so a resend is safe
        // even when the first one was stored after all.
        this.showAlert(f.code === 'rate_limited' ? "You're sending messages too fast. We'll retry in a moment."
          : f.code === 'busy' ? "We're very busy right now. Your message will be sent in a moment\u2026"
          : "We couldn't confirm that message. Retrying\u2026");
        var self = this;
        core.retryLater(p, function () { if (self.log.pending.has(p.id)) self.sendSay(p); });
        return;
      }
      if (f.code === 'transcript_full') {
        this.markFailed(p, 'Not sent: this chat is full');
        this.showAlert(TRANSCRIPT_FULL.chat);
        return;
      }
      this.markFailed(p, f.code === 'too_long' ? 'Too long to send' : 'Not sent');
      return;
    }
    if (f.code === 'no_conversation' && this.conv && this.conv.status !== 'ended') {
      this.conv.status = 'ended';
      this.markActive(false);
      this.render();
      return;
    }
    if (f.code === 'busy' && this.awaitingStart && this.lastStart) {
      // The node refused the new chat without starting it: ask again shortly.
      var again = this.lastStart;
      var widget = this;
      this.statusLine.textContent = "We're very busy right now. Starting your chat in a moment\u2026";
      core.retryLater(again, function () { if (widget.awaitingStart && widget.conn.isReady()) widget.conn.send(again.frame); });
      return;
    }
    if (f.code === 'unavailable') {
      if (this.awaitingStart) { this.awaitingStart = false; this.setScreen('topics'); }
      this.showAlert("We're having trouble right now. Please try again in a moment.");
    } else if (f.code === 'rate_limited') {
      this.showAlert("You're going a little fast. Please wait a moment.");
    } else if (this.awaitingStart) {
      this.awaitingStart = false;
      this.setScreen('topics');
      this.showAlert("We couldn't start the chat. Please try again.");
    }
  };

  // --------------------------------------------------------------- actions

  Widget.prototype.startChat = function () {
    var checked = this.topicForm.querySelector('input[name="sbw-topic"]:checked');
    var topic = checked ? checked.value : 'general';
    var text = this.topicText.value.trim();
    var start = { topic: topic, text: text || null };
    this.topicText.value = '';
    if (!this.conn.isReady()) {
      this.pendingStart = start;
      this.startConnection();
      this.setScreen('connecting');
      return;
    }
    this.sendStart(start);
  };

  Widget.prototype.sendStart = function (start) {
    var frame = { type: 'start', topic: start.topic };
    this.chatTopic = start.topic;
    if (start.text) frame.text = start.text.slice(0, core.MAX_TEXT_CHARS);
    this.resetTranscript();
    this.conv = null;
    this.awaitingStart = true;
    this.markActive(true);
    this.screen = 'chat';
    this.render();
    this.statusLine.textContent = 'Starting your chat\u2026';
    this.lastStart = { frame: frame }; // counts its resends (`attempts`)
    this.conn.send(frame);
    this.focusScreen();
  };

  Widget.prototype.newChat = function () {
    // A callback screen the cardholder moved on from is not forced back on reconnect.
    if (this.screen === 'escalated' && this.escRef.textContent) this.dismissedRefs.add(this.escRef.textContent);
    this.resetTranscript();
    this.conv = null;
    if (this.carryOver) {
      this.topicText.value = this.carryOver.slice(0, core.MAX_TEXT_CHARS);
      this.carryOver = '';
    }
    this.setScreen('topics');
    this.focusScreen();
  };

  Widget.prototype.sendMessage = function () {
    var text = this.composer.value.trim();
    if (!text) return;
    if (!this.conv || this.conv.status === 'ended') return;
    if (text.length > core.MAX_TEXT_CHARS) { this.showAlert('Messages can be up to 4000 characters.'); return; }
    var id = core.newId('m');
    var p = this.log.pend({ id: id, text: text, el: pendingLine(id, text) });
    this.composer.value = '';
    this.setTyping(false);
    this.sendSay(p);
  };

  Widget.prototype.sendSay = function (p) {
    return this.conn.send({ type: 'say', id: p.id, text: p.text });
  };

  /** A message that will not go out: says why and, where sending again can help, offers Retry. */
  Widget.prototype.markFailed = function (p, why) {
    var self = this;
    var meta = this.log.fail(p);
    meta.appendChild(h('span', { text: why }));
    if (this.conv && this.conv.status !== 'ended' && why === 'Not sent') {
      meta.appendChild(h('button', {
        type: 'button', class: 'sbw-link', onclick: function () {
          if (p.el.parentNode) p.el.parentNode.removeChild(p.el);
          self.composer.value = p.text;
          self.sendMessage();
        },
      }, ['Retry']));
    }
  };

  Widget.prototype.failPending = function () {
    var self = this;
    Array.from(this.log.pending.values()).forEach(function (p) { self.markFailed(p, 'Not sent'); });
  };

  Widget.prototype.onComposerInput = function () {
    var self = this;
    var hasText = this.composer.value.trim().length > 0;
    this.setTyping(hasText);
    clearTimeout(this.typingTimer);
    if (hasText) this.typingTimer = setTimeout(function () { self.setTyping(false); }, core.TYPING_IDLE_MS);
  };

  /** Sends typing on/off only when the state changes. */
  Widget.prototype.setTyping = function (on) {
    if (on === this.typingOn) return;
    if (on && (!this.conv || this.conv.status !== 'active')) return;
    this.typingOn = on;
    if (!on) clearTimeout(this.typingTimer);
    this.conn.send({ type: 'typing', on: on });
  };

  Widget.prototype.scheduleRead = function () {
    var self = this;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(function () { self.maybeSendRead(); }, 250);
  };

  /** Sends `read` for the highest seq shown when the chat is actually visible. */
  Widget.prototype.maybeSendRead = function () {
    if (!this.isOpen || document.visibilityState === 'hidden' || this.screen !== 'chat') return;
    var seq = this.conv ? this.log.toRead() : 0;
    if (seq && this.conn.send({ type: 'read', seq: seq })) this.log.reported(seq);
  };

  /**
   * The offer taken: what the cardholder typed in the waiting chat (their
   * messages so far and the composer) becomes a secure message, and the
   * chat leaves the queue.
   */
  Widget.prototype.leaveMessageInstead = function () {
    var typed = Array.from(this.transcript.querySelectorAll('.sbw-own .sbw-bubble')).map(function (b) { return b.textContent; });
    if (this.composer.value.trim()) typed.push(this.composer.value.trim());
    var topic = this.chatTopic || 'general';
    if (!typed.length) {
      this.messages.newTopic.value = topic;
      this.messages.show();
      this.messages.newText.focus();
      return;
    }
    this.composer.value = '';
    this.messages.startThread(topic, typed.join('\n'));
    this.offer = null;
    if (this.conv && this.conv.status === 'queued' && this.conn.send({ type: 'leave' })) this.leftForMessage = true;
    this.messages.show();
  };

  /** The offer taken: the waiting chat becomes a call back (`escalated` follows). */
  Widget.prototype.callMeBack = function () {
    this.offer = null;
    this.conn.send({ type: 'call_me_back' });
    this.render();
  };

  Widget.prototype.askEnd = function () {
    this.confirmBar.hidden = false;
    this.confirmBar.querySelector('.sbw-confirm-no').focus();
  };

  Widget.prototype.cancelEnd = function () {
    this.confirmBar.hidden = true;
    this.composer.focus();
  };

  Widget.prototype.leave = function () {
    this.confirmBar.hidden = true;
    if (!this.conv) return;
    this.setTyping(false);
    if (!this.conn.send({ type: 'leave' })) {
      this.showAlert("You're offline. We'll end the chat when the connection is back.");
      this.leaveWhenConnected = true;
      return;
    }
    this.endBtn.hidden = true;
    this.composer.focus();
  };

  Widget.prototype.destroy = function () {
    this.conn.stop();
    document.removeEventListener('visibilitychange', this.onVisibility);
    clearTimeout(this.typingTimer);
    clearTimeout(this.remoteTypingTimer);
    clearTimeout(this.readTimer);
    if (this.host.parentNode) this.host.parentNode.removeChild(this.host);
  };

  window.Switchboard = {
    version: '1',
    mount: function (options) {
      var w = new Widget(options || {});
      return {
        open: function () { w.setOpen(true, true); },
        close: function () { w.setOpen(false, true); },
        destroy: function () { w.destroy(); },
      };
    },
  };
})();
