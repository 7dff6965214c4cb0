/*!
 * Switchboard agent pane (protocol v1).
 *
 * Token: read from sessionStorage['switchboard.agentToken'], or handed over by
 * the opener/parent (the issuer's agent desktop, or the demo page) with
 * postMessage({ type: 'switchboard-token', token }). When it has none, or the
 * hub rejects it (close 4401: expired), the pane posts
 * { type: 'switchboard-token-request' } to its opener/parent and waits.
 * Tokens never go in a URL (query or fragment).
 *
 * Built to run all day: each transcript keeps at most MAX_RENDERED_ENTRIES in
 * the DOM, ended chats' tabs go away after ENDED_TAB_TTL_MS, callbacks and
 * queues are replaced, not appended; a dropped connection comes back with
 * backoff and `sync` per open chat.
 */
(function () {
  'use strict';

  var core = window.SwitchboardCore; // switchboard-core.js, loaded first
  var h = core.h;
  var clockTime = core.clockTime;

  var TOKEN_KEY = 'switchboard.agentToken';
  var AVAILABILITY_KEY = 'switchboard.agentAvailability';
  /** Transcript entries kept in the DOM per chat; older ones are trimmed. */
  var MAX_RENDERED_ENTRIES = 200;
  /** An ended chat's tab stays this long so the agent can read the close. */
  var ENDED_TAB_TTL_MS = 30000;
  /** Queue overview refresh while connected. */
  var QUEUES_POLL_MS = 5000;
  /** Callback lists are pushed live; a full refresh this often is a backstop. */
  var CALLBACKS_REFRESH_MS = 60000;
  /** The character counter shows from this length on (the limit is core.MAX_TEXT_CHARS). */
  var COUNTER_FROM_CHARS = 3500;
  /** Canned replies the `/` picker lists at most. */
  var MAX_PICKER_ITEMS = 8;
  var ALERTS_KEY = 'switchboard.agentAlerts';

  var TIERS = ['standard', 'premium', 'business', 'prepaid'];
  var DESKS = ['identity', 'fraud'];
  var TIER_NAMES = { standard: 'Standard', premium: 'Premium', business: 'Business', prepaid: 'Prepaid' };
  var DESK_NAMES = { identity: 'Identity desk', fraud: 'Fraud desk' };
  var TOPIC_NAMES = {
    general: 'General question',
    billing: 'Billing / payment',
    dispute: 'Dispute a charge',
    lost_card: 'Lost or stolen card',
    forgot_login: 'Forgot login',
    locked_account: 'Locked account',
    two_factor: 'Verification codes',
    fraud_restriction: 'Fraud restriction',
    update_contact: 'Update contact details',
  };
  var PRESENCE = {
    online: 'Online',
    away: 'Disconnected \u2013 may come back',
    gone: 'Gone \u2013 left the page',
  };
  var END_REASONS = {
    agent_ended: 'You ended this chat.',
    cardholder_left: 'The cardholder left the chat.',
    escalated: 'Escalated to a callback desk.',
    transferred: 'Transferred to another queue.',
    abandoned: 'The cardholder lost connection; chat closed.',
    reassigned: 'This chat is no longer assigned to you.',
    lost: 'This chat was lost because of a system problem; the cardholder was asked to start a new one.',
    resolved: 'Resolved. If the cardholder writes again, the message returns to the inbox.',
  };
  var CALLBACK_STATUS = {
    requested: 'Waiting', claimed: 'Claimed', reached: 'Reached', no_answer: 'No answer', failed: 'Failed',
  };

  // ---------------------------------------------------------------- helpers

  function $(id) { return document.getElementById(id); }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + 's';
    var m = Math.floor(seconds / 60);
    if (m < 60) return m + 'm ' + String(seconds % 60).padStart(2, '0') + 's';
    return Math.floor(m / 60) + 'h ' + String(m % 60).padStart(2, '0') + 'm';
  }

  function tierBadge(tier) {
    return h('span', { class: 'sba-tier sba-tier-' + (TIERS.indexOf(tier) >= 0 ? tier : 'unknown'), text: TIER_NAMES[tier] || String(tier || '?') });
  }

  var tokenClaims = core.tokenClaims;

  // ------------------------------------------------------------------ token

  var staffToken = new core.StaffToken(TOKEN_KEY, {
    waiting: function (hasHosts) {
      setConnView('token', hasHosts
        ? 'Waiting for sign-in from the agent desktop\u2026'
        : 'Not signed in. Open this pane from your agent desktop.');
    },
    // A new token while connected (e.g. the desktop switched agent): reconnect with it.
    handedOver: function (token) {
      if (conn && conn.isReady() && tokenClaims(token).sub !== (me && me.sub)) conn.restart();
    },
  });

  function getToken() { return staffToken.get(); }

  // ------------------------------------------------------------------ state

  var me = null;            // { sub, name, teams, max_chats }
  var availability = 'away';
  var chats = new Map();    // conversation id -> Chat
  var selectedId = null;
  var pastReaders = new Map(); // an earlier conversation being read -> the chat it is shown in
  var connState = 'connecting';
  var queuesTimer = null;
  var callbacksTimer = null;
  var desks = new Map();    // desk -> Map(ref -> request)
  var doneToday = new Map(); // desk -> Map(ref -> request this agent closed)
  var deskDrafts = new Map(); // ref -> { note, confirming: outcome | null }
  var deskChats = new Map(); // conversation -> Transcript of the chat a request came from
  var toastTimer = null;
  var conn = null;
  var lastBackground = {};     // frame type -> when a background frame of it was last sent
  var lastUserAction = 0;      // when the agent last did something
  var callbacksUnavailable = null; // the hub's reason, when it refuses callback lists
  var canned = [];             // this agent's canned replies, from `welcome`
  var audio = null;            // AudioContext for the alert sound, made on the agent's click

  var els = {
    conn: $('sba-conn'), me: $('sba-me'), load: $('sba-load'), availability: $('sba-availability'),
    queues: $('sba-queues'), callbacks: $('sba-callbacks'), desks: $('sba-desks'),
    inbox: $('sba-inbox'), inboxes: $('sba-inboxes'),
    tabs: $('sba-tabs'), panels: $('sba-panels'), empty: $('sba-empty'), emptyHint: $('sba-empty-hint'),
    toast: $('sba-toast'), announcer: $('sba-announcer'), alerts: $('sba-alerts'),
  };

  function setConnView(state, text) {
    els.conn.setAttribute('data-state', state);
    els.conn.textContent = text;
  }

  function renderConn() {
    if (connState === 'connected') setConnView('connected', 'Connected');
    else if (connState === 'offline') setConnView('offline', 'Offline \u2013 waiting for network');
    else if (connState === 'waiting') {
      var s = Math.max(0, Math.ceil(((conn && conn.retryAt) || Date.now()) - Date.now()) / 1000);
      setConnView('waiting', 'Disconnected \u2013 retrying in ' + Math.ceil(s) + 's');
    } else if (!staffToken.awaiting) setConnView('connecting', 'Connecting\u2026');
    document.body.classList.toggle('sba-disconnected', connState !== 'connected');
    els.availability.disabled = connState !== 'connected';
  }

  function announce(text) {
    core.announce(els.announcer, text);
  }

  function toast(text) {
    els.toast.textContent = text;
    els.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { els.toast.hidden = true; }, 6000);
  }

  /**
   * Sends a frame. failText false marks a background frame (polling, typing,
   * read receipts): a refusal of one is not worth a toast (see onError).
   */
  function send(frame, failText) {
    if (failText === false) lastBackground[frame.type] = Date.now();
    else lastUserAction = Date.now();
    if (conn.send(frame)) return true;
    if (failText !== false) toast(failText || 'Not connected. Try again once the pane is reconnected.');
    return false;
  }

  // ---------------------------------------------------------------- frames

  function onFrame(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'assigned': return onAssigned(f);
      case 'msg': return onMsg(f);
      case 'transcript': return onTranscript(f);
      case 'history': return onHistory(f);
      case 'redact': return onRedact(f);
      case 'typing': return onTyping(f);
      case 'read': return onRead(f);
      case 'ended': return onEnded(f);
      case 'queues': return renderQueues(f.queues || []);
      case 'callbacks': return onCallbacks(f);
      case 'callback': return onCallback(f.request);
      case 'inbox': return onInbox(f);
      case 'inbox_item': return onInboxItem(f);
      case 'status': return onStatus(f);
      case 'presence': return onPresence(f);
      case 'note': return onNote(f);
      case 'error': return onError(f);
      default: return undefined;
    }
  }

  function onWelcome(f) {
    if (f.role && f.role !== 'agent' && f.role !== 'supervisor') {
      setConnView('error', 'This token is not an agent token.');
    }
    me = {
      sub: f.sub,
      name: lastTokenClaims.sub === f.sub ? lastTokenClaims.name || null : null,
      teams: Array.isArray(f.teams) ? f.teams : [],
      max_chats: f.max_chats || 3,
    };
    canned = Array.isArray(f.canned) ? f.canned : [];
    els.me.textContent = (me.name ? me.name + ' \u00b7 ' : '') + me.teams.map(function (t) { return TIER_NAMES[t] || DESK_NAMES[t] || t; }).join(', ');
    // The hub puts an agent whose connections all dropped `away` (so no chat
    // is routed to a dead pane). After a blip, restore what the agent chose.
    var wanted = wantedAvailability();
    if (wanted === 'available' && f.state !== 'available') {
      if (send({ type: 'status', state: 'available' }, false)) setAvailability('available', false);
    } else if (f.state) {
      setAvailability(f.state, false);
    }

    // Resume every chat the hub says is ours; anything else we show is no longer ours.
    var open = new Set();
    (f.conversations || []).forEach(function (c) {
      if (c.status === 'ended') return;
      open.add(c.id);
      var chat = chats.get(c.id);
      if (!chat || chat.status === 'ended') {
        if (chat) removeChat(chat);
        chat = createChat({ id: c.id, tier: c.tier, topic: c.topic, cardholder: c.cardholder, waited_s: null, kind: c.kind });
      }
      renderStaffNotes(chat, c.transfers, c.notes);
      send({ type: 'sync', conversation: c.id, after: chat.log.maxSeq }, false);
      send({ type: 'history', conversation: c.id }, false);
      chat.log.pending.forEach(function (p) { sendPending(chat, p); });
      chat.log.reportAgain();
    });
    chats.forEach(function (chat) {
      if (chat.status !== 'ended' && !open.has(chat.id)) endChat(chat, 'reassigned');
    });

    // Desks.
    var myDesks = DESKS.filter(function (d) { return me.teams.indexOf(d) >= 0; });
    callbacksUnavailable = null;
    els.callbacks.hidden = myDesks.length === 0;
    myDesks.forEach(function (d) {
      if (!desks.has(d)) desks.set(d, new Map());
      send({ type: 'callbacks', desk: d }, false);
    });
    renderCallbacks();
    clearInterval(callbacksTimer);
    if (myDesks.length) {
      callbacksTimer = setInterval(function () {
        myDesks.forEach(function (d) { send({ type: 'callbacks', desk: d }, false); });
      }, CALLBACKS_REFRESH_MS);
    }

    // Secure-message inboxes of the agent's tier teams.
    var myTiers = TIERS.filter(function (t) { return me.teams.indexOf(t) >= 0; });
    els.inbox.hidden = myTiers.length === 0;
    inboxes.clear();
    myTiers.forEach(function (t) {
      inboxes.set(t, []);
      send({ type: 'inbox', team: t }, false);
    });
    renderInboxes();

    // Queue overview.
    clearInterval(queuesTimer);
    send({ type: 'queues' }, false);
    queuesTimer = setInterval(function () { send({ type: 'queues' }, false); }, QUEUES_POLL_MS);
    renderLoad();
    renderTabs();
  }

  /** The socket went away; code is its close code (4401: the token expired). */
  function onDown(code) {
    if (code === 4401) staffToken.invalidate();
    clearInterval(queuesTimer);
    clearInterval(callbacksTimer);
    chats.forEach(function (chat) { showTyping(chat, false); chat.typingOn = false; });
  }

  function onAssigned(f) {
    var chat = chats.get(f.conversation);
    if (chat && chat.status === 'ended') { removeChat(chat); chat = null; }
    if (!chat) {
      chat = createChat({ id: f.conversation, tier: f.cardholder && f.cardholder.tier, topic: f.topic, cardholder: f.cardholder, waited_s: f.waited_s, kind: f.kind });
    } else {
      chat.waitedS = f.waited_s;
      renderChatHead(chat);
    }
    (f.transcript || []).forEach(function (entry) { addEntry(chat, entry, true); });
    if (Array.isArray(f.history)) renderHistory(chat, f.history);
    renderStaffNotes(chat, f.transfers, f.notes);
    var who = (f.cardholder && (f.cardholder.name || f.cardholder.sub)) || 'a cardholder';
    announce('New chat with ' + who + ', ' + (TIER_NAMES[chat.tier] || chat.tier) + ', ' + (TOPIC_NAMES[chat.topic] || chat.topic || 'no topic'));
    var current = selectedId && chats.get(selectedId);
    if (!current || current.status === 'ended') select(chat.id, false);
    // A new chat the agent is not looking at counts as unread, like a message.
    if (chat.id !== selectedId || document.visibilityState === 'hidden') {
      chat.unread = Math.max(chat.unread, 1);
      renderUnread(chat);
      renderTitle();
    }
    alertAgent('New chat', who + ' \u00b7 ' + (TOPIC_NAMES[chat.topic] || chat.topic || 'no topic'), chat.id);
    renderTabs();
    renderLoad();
  }

  // ------------------------------------------------------------------ staff notes

  /** Hand-over notes and internal notes: staff only, never the cardholder's. */
  function renderStaffNotes(chat, transfers, notes) {
    if (Array.isArray(transfers)) chat.transfers = transfers;
    if (Array.isArray(notes)) chat.notes = notes;
    chat.notesList.textContent = '';
    chat.transfers.forEach(function (t) {
      var from = t.from_tier ? (TIER_NAMES[t.from_tier] || t.from_tier) : 'another queue';
      var head = 'Transferred from ' + from + (t.by ? ' by ' + t.by : '');
      chat.notesList.appendChild(h('li', { class: 'sba-note sba-note-transfer' }, [
        h('span', { class: 'sba-note-head', text: head + ' · ' + core.clockTime(t.at) }),
        h('span', { class: 'sba-note-text', text: t.note || 'No note.' }),
      ]));
    });
    chat.notes.forEach(function (n) {
      chat.notesList.appendChild(h('li', { class: 'sba-note' }, [
        h('span', { class: 'sba-note-head', text: 'Note by ' + n.by + ' · ' + core.clockTime(n.at) }),
        h('span', { class: 'sba-note-text', text: n.text }),
      ]));
    });
    chat.notesSummary.textContent = 'Internal notes (' + (chat.transfers.length + chat.notes.length) + ')';
    if (chat.transfers.length) chat.notesBox.open = true;
  }

  function onNote(f) {
    var chat = chats.get(f.conversation);
    if (!chat || !f.note) return;
    chat.notes.push(f.note);
    renderStaffNotes(chat);
    announce('Internal note added.');
  }

  function onMsg(f) {
    var chat = chats.get(f.conversation);
    if (!chat) return;
    addEntry(chat, f, false);
  }

  /** Asks for the next page of a read-only transcript (a past chat, a desk's request). */
  function nextPage(after, f) {
    send({ type: 'transcript', conversation: f.conversation, after: after }, false);
  }

  // A page of a chat's transcript (the reply to `sync`); `more`: ask again.
  function onTranscript(f) {
    // The chat a callback request came from, read by its desk.
    var deskChat = deskChats.get(f.conversation);
    if (deskChat) {
      deskChat.page(f);
      return;
    }
    // An earlier conversation being read (its own tab may still be open, ended).
    var reader = pastReaders.get(f.conversation);
    if (reader) {
      if (!f.more) pastReaders.delete(f.conversation);
      reader.pastLog.page(f);
      return;
    }
    var chat = chats.get(f.conversation);
    if (chat) chat.log.page(f, function (e) { addEntry(chat, e, true); });
  }

  // The cardholder's earlier conversations, beside the chat.
  function onHistory(f) {
    var chat = chats.get(f.conversation);
    if (chat) renderHistory(chat, f.conversations || []);
  }

  function renderHistory(chat, items) {
    chat.historyList.textContent = '';
    chat.historySummary.textContent = 'Earlier conversations (' + items.length + ')';
    if (!items.length) {
      chat.historyList.appendChild(h('li', { class: 'sba-history-none', text: 'None: a first contact.' }));
      return;
    }
    items.forEach(function (c) {
      var day = new Date(c.started_at);
      var when = isNaN(day.getTime()) ? '' : day.toLocaleDateString();
      chat.historyList.appendChild(h('li', {}, [h('button', {
        type: 'button', class: 'sba-history-item', 'data-conversation': c.id,
        onclick: function () { readPast(chat, c); },
      }, [
        h('span', { class: 'sba-history-topic', text: TOPIC_NAMES[c.topic] || c.topic }),
        h('span', { class: 'sba-history-when', text: when + (c.agent_name ? ' \u00b7 ' + c.agent_name : '') + ' \u00b7 ' + String(c.end_reason).replace(/_/g, ' ') }),
      ])]));
    });
  }

  /** Shows one earlier conversation of the chat's cardholder, read-only, page by page. */
  function readPast(chat, c) {
    pastReaders.set(c.id, chat);
    chat.pastLog.clear();
    chat.pastList.hidden = false;
    chat.pastList.setAttribute('aria-label', 'Earlier conversation: ' + (TOPIC_NAMES[c.topic] || c.topic));
    send({ type: 'transcript', conversation: c.id });
  }

  /** An entry of an earlier conversation, read beside the chat. */
  function pastEntry(chat, e) {
    var who = e.from === 'agent' ? 'own' : e.from === 'cardholder' ? 'cardholder' : 'system';
    var label = who === 'own' ? 'Agent' : who === 'cardholder' ? chatTitle(chat) : 'System';
    return h('li', { class: 'sba-msg sba-' + who, 'data-past-seq': e.seq }, [
      h('div', { class: 'sba-meta' }, [h('span', { class: 'sba-author', text: label }), h('time', { datetime: e.at || null, text: clockTime(e.at) })]),
      h('div', { class: 'sba-bubble', text: String(e.text) }),
    ]);
  }

  // An earlier entry, masked anew (a card number typed over two messages).
  function onRedact(f) {
    var chat = chats.get(f.conversation);
    if (chat) chat.log.redact(f);
  }

  function onTyping(f) {
    var chat = chats.get(f.conversation);
    if (!chat || f.from === 'agent') return;
    showTyping(chat, !!f.on);
  }

  function onRead(f) {
    var chat = chats.get(f.conversation);
    if (!chat || f.from === 'agent') return;
    chat.log.read(f.seq);
  }

  function onEnded(f) {
    var chat = chats.get(f.conversation);
    if (!chat) return;
    endChat(chat, f.reason);
  }

  function onError(f) {
    var handled = false;
    if (f.ref) {
      chats.forEach(function (chat) {
        var p = chat.log.pending.get(f.ref);
        if (!p) return;
        handled = true;
        if (core.isRetryable(f.code)) {
          // Same id: a message is never stored twice, so resending is safe.
          core.retryLater(p, function () { if (chat.log.pending.has(p.id)) sendPending(chat, p); });
        } else {
          markFailed(chat, p, FAILED[f.code] || 'Not sent');
        }
      });
    }
    if (handled) return;
    // Errors carry no reference to frames without an `id`: one right after a
    // background frame, with no user action since, is taken as its answer.
    var now = Date.now();
    var recent = Object.keys(lastBackground).filter(function (t) {
      return now - lastBackground[t] < 3000 && lastBackground[t] > lastUserAction;
    });
    if (recent.length) {
      if (recent.indexOf('callbacks') >= 0 && f.code === 'not_allowed') {
        callbacksUnavailable = f.message || 'not available';
        clearInterval(callbacksTimer);
        renderCallbacks();
      }
      if (window.console) console.warn('switchboard: a background request was refused:', f.code, f.message);
      return;
    }
    toast(errorText(f));
  }

  function errorText(f) {
    switch (f.code) {
      case 'not_allowed': return 'Not allowed: ' + (f.message || 'that action is not possible now') + '.';
      case 'no_conversation': return 'That chat is no longer open.';
      case 'rate_limited': return 'Slow down: too many actions at once.';
      case 'unavailable': return 'The hub could not confirm that; try again shortly.';
      case 'busy': return 'The hub is very busy; try again shortly.';
      default: return 'Error: ' + (f.message || f.code || 'unknown');
    }
  }

  // ------------------------------------------------------------------ chats

  function createChat(info) {
    var chat = {
      id: info.id,
      tier: info.tier || (info.cardholder && info.cardholder.tier) || null,
      topic: info.topic || null,
      cardholder: info.cardholder || null,
      waitedS: typeof info.waited_s === 'number' ? info.waited_s : null,
      thread: info.kind === 'message',
      startedAt: Date.now(),
      status: 'active',
      unread: 0,
      typingOn: false,
      typingTimer: null,
      remoteTypingTimer: null,
      removeTimer: null,
      transfers: [],
      notes: [],
    };
    buildChat(chat);
    chats.set(chat.id, chat);
    els.empty.hidden = true;
    return chat;
  }

  function buildChat(chat) {
    var tabId = 'sba-tab-' + chats.size + '-' + Date.now().toString(36);
    var panelId = tabId + '-panel';
    chat.presence = 'online';
    chat.presenceEl = h('span', { class: 'sba-presence', 'data-presence': 'online' });
    chat.tabPresence = h('span', { class: 'sba-tab-presence', 'data-presence': 'online', role: 'img' });
    chat.tabName = h('span', { class: 'sba-tab-name' });
    chat.tabMeta = h('span', { class: 'sba-tab-meta' });
    chat.tabUnread = h('span', { class: 'sba-tab-unread', hidden: true });
    chat.tabTyping = h('span', { class: 'sba-tab-typing', hidden: true, text: 'typing\u2026' });
    chat.tab = h('button', {
      type: 'button', role: 'tab', id: tabId, class: 'sba-tab', 'aria-controls': panelId, 'aria-selected': 'false', tabindex: '-1',
      'data-conversation': chat.id,
      onclick: function () { select(chat.id, true); },
      onkeydown: function (ev) { tabKeys(ev, chat); },
    }, [h('span', { class: 'sba-tab-top' }, [chat.tabPresence, tierBadge(chat.tier), chat.tabName, chat.tabUnread]), chat.tabMeta, chat.tabTyping]);

    chat.headName = h('h2', { class: 'sba-chat-name' });
    chat.headInfo = h('p', { class: 'sba-chat-info' });
    chat.headTier = h('span', { class: 'sba-chat-tier' });

    // Ending is asked twice: a chat ended by mistake cannot be taken back.
    var confirmEnd = h('div', { class: 'sba-confirm', role: 'group', 'aria-label': 'Confirm ending the chat', hidden: true }, [
      h('span', { class: 'sba-confirm-text', text: 'End this chat for the cardholder?' }),
      h('button', {
        type: 'button', class: 'sba-btn sba-danger sba-confirm-end',
        onclick: function () {
          if (send({ type: 'end', conversation: chat.id })) { endBtn.disabled = true; confirmEnd.hidden = true; }
        },
      }, ['Yes, end chat']),
      h('button', {
        type: 'button', class: 'sba-btn sba-cancel-end',
        onclick: function () { confirmEnd.hidden = true; endBtn.hidden = false; endBtn.focus(); },
      }, ['Keep chatting']),
    ]);
    var endBtn = h('button', {
      type: 'button', class: 'sba-btn sba-danger sba-end-chat',
      onclick: function () {
        endBtn.hidden = true;
        confirmEnd.hidden = false;
        confirmEnd.querySelector('.sba-cancel-end').focus();
      },
    }, ['End chat']);
    chat.endBtn = endBtn;

    chat.transferSelect = h('select', { class: 'sba-transfer-tier', 'aria-label': 'Tier to transfer to' });
    renderTransferTiers(chat);
    var transferNote = h('input', {
      type: 'text', class: 'sba-transfer-note', maxlength: '1000',
      placeholder: 'Note for the next agent (not shown to the cardholder)', 'aria-label': 'Note for the next agent',
    });
    var transferForm = h('form', {
      class: 'sba-inline-form sba-transfer',
      onsubmit: function (ev) {
        ev.preventDefault();
        if (!chat.transferSelect.value) return;
        var frame = { type: 'transfer', conversation: chat.id, tier: chat.transferSelect.value };
        if (transferNote.value.trim()) frame.note = transferNote.value.trim();
        send(frame);
      },
    }, [h('label', { class: 'sba-label' }, ['Transfer to ', chat.transferSelect]), transferNote, h('button', { type: 'submit', class: 'sba-btn' }, ['Transfer'])]);

    var deskSelect = h('select', { class: 'sba-escalate-desk', 'aria-label': 'Desk to escalate to' },
      DESKS.map(function (d) { return h('option', { value: d, text: DESK_NAMES[d] }); }));
    var noteInput = h('input', { type: 'text', class: 'sba-escalate-note', maxlength: '1000', placeholder: 'Note for the desk', 'aria-label': 'Note for the desk' });
    var escalateForm = h('form', {
      class: 'sba-inline-form sba-escalate',
      onsubmit: function (ev) {
        ev.preventDefault();
        var frame = { type: 'escalate', conversation: chat.id, desk: deskSelect.value };
        if (noteInput.value.trim()) frame.note = noteInput.value.trim();
        send(frame);
      },
    }, [h('label', { class: 'sba-label' }, ['Escalate to ', deskSelect]), noteInput, h('button', { type: 'submit', class: 'sba-btn' }, ['Escalate'])]);

    // A secure-message thread is resolved (answered), not ended: the
    // cardholder's next message brings it back to the inbox.
    var resolveBtn = h('button', {
      type: 'button', class: 'sba-btn sba-primary sba-resolve', hidden: !chat.thread,
      onclick: function () { if (send({ type: 'resolve', conversation: chat.id })) resolveBtn.disabled = true; },
    }, ['Resolve']);
    chat.actions = h('div', { class: 'sba-actions' }, [
      resolveBtn,
      endBtn,
      confirmEnd,
      h('details', { class: 'sba-more' }, [h('summary', { text: 'Transfer or escalate' }), transferForm, escalateForm]),
    ]);

    // A plain ordered list ("Transcript, list, n items"): new lines are spoken
    // through the pane's own announcer, so no live region (and no role that
    // would take the list semantics away from its items).
    chat.transcript = h('ol', { class: 'sba-transcript', 'aria-label': 'Transcript', tabindex: '0' });
    chat.log = new core.Transcript(chat.transcript, {
      prefix: 'sba-', text: '.sba-bubble', max: MAX_RENDERED_ENTRIES,
      own: function (e) { return e.from === 'agent'; },
      render: function (e) { return entryElement(chat, e); },
      follow: function () { return !chat.panel.hidden; },
      trimmed: function () {
        if (chat.trimNote) return;
        chat.trimNote = h('p', { class: 'sba-trimmed-note', text: 'Older messages are hidden to keep the pane fast.' });
        chat.transcript.parentNode.insertBefore(chat.trimNote, chat.transcript);
      },
    });
    chat.typingEl = h('p', { class: 'sba-typing', hidden: true, 'aria-hidden': 'true', text: 'Cardholder is typing\u2026' });
    var pickerId = panelId + '-canned';
    chat.picker = h('ul', { class: 'sba-canned', id: pickerId, role: 'listbox', 'aria-label': 'Canned replies', hidden: true });
    chat.pickerItems = [];
    chat.pickerIndex = 0;
    chat.counter = h('span', { class: 'sba-counter', hidden: true });
    chat.composer = h('textarea', {
      class: 'sba-composer', rows: '2', maxlength: String(core.MAX_TEXT_CHARS), 'aria-label': 'Reply',
      placeholder: 'Type a reply \u2013 Enter to send, Shift+Enter for a new line, / for canned replies',
      'aria-autocomplete': 'list', 'aria-controls': pickerId,
      onkeydown: function (ev) {
        if (pickerKeys(ev, chat)) return;
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendSay(chat); }
      },
      oninput: function () { composerInput(chat); },
      onblur: function () { setTyping(chat, false); },
    });
    chat.composerForm = h('form', {
      class: 'sba-composer-form',
      onsubmit: function (ev) { ev.preventDefault(); sendSay(chat); },
    }, [chat.picker, chat.composer, h('div', { class: 'sba-composer-side' }, [
      h('button', { type: 'submit', class: 'sba-btn sba-primary sba-send' }, ['Send']), chat.counter,
    ])]);
    chat.endedText = h('p', { class: 'sba-ended-text' });
    chat.endedBar = h('div', { class: 'sba-ended', hidden: true }, [
      chat.endedText,
      h('button', { type: 'button', class: 'sba-btn sba-close-tab', onclick: function () { removeChat(chat); } }, ['Close tab']),
    ]);
    chat.historySummary = h('summary', { class: 'sba-history-summary', text: 'Earlier conversations' });
    chat.historyList = h('ul', { class: 'sba-history-list' });
    chat.pastList = h('ol', { class: 'sba-past', hidden: true, tabindex: '0' });
    chat.pastLog = new core.Transcript(chat.pastList, { prefix: 'sba-', render: function (e) { return pastEntry(chat, e); }, more: nextPage });
    chat.historyBox = h('details', { class: 'sba-history', open: true }, [chat.historySummary, chat.historyList, chat.pastList]);
    // Internal notes: staff only (hand-over notes and notes agents add).
    chat.notesSummary = h('summary', { class: 'sba-notes-summary', text: 'Internal notes (0)' });
    chat.notesList = h('ul', { class: 'sba-notes-list' });
    var internalInput = h('input', {
      type: 'text', class: 'sba-internal-note', maxlength: '1000',
      placeholder: 'Only staff see this', 'aria-label': 'Internal note',
    });
    chat.notesBox = h('details', { class: 'sba-notes' }, [
      chat.notesSummary,
      chat.notesList,
      h('form', {
        class: 'sba-inline-form sba-note-form',
        onsubmit: function (ev) {
          ev.preventDefault();
          var text = internalInput.value.trim();
          if (!text) return;
          if (send({ type: 'note', conversation: chat.id, text: text })) internalInput.value = '';
        },
      }, [internalInput, h('button', { type: 'submit', class: 'sba-btn sba-add-note' }, ['Add internal note'])]),
    ]);
    chat.panel = h('section', { class: 'sba-panel', role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, hidden: true }, [
      h('div', { class: 'sba-chat-head' }, [h('div', { class: 'sba-chat-who' }, [chat.headName, chat.presenceEl, chat.headInfo]), chat.actions]),
      chat.historyBox,
      chat.notesBox,
      chat.transcript,
      chat.typingEl,
      chat.composerForm,
      chat.endedBar,
    ]);
    els.tabs.appendChild(chat.tab);
    els.panels.appendChild(chat.panel);
    renderChatHead(chat);
    renderPresence(chat);
  }

  /** The transfer choices: every tier but the one the chat is in. */
  function renderTransferTiers(chat) {
    chat.transferSelect.replaceChildren.apply(chat.transferSelect, TIERS
      .filter(function (t) { return t !== chat.tier; })
      .map(function (t) { return h('option', { value: t, text: TIER_NAMES[t] }); }));
  }

  /** Whether the cardholder is there: in the tab (a dot) and the chat's head (words). */
  function renderPresence(chat) {
    var text = PRESENCE[chat.presence] || PRESENCE.online;
    chat.presenceEl.setAttribute('data-presence', chat.presence);
    chat.presenceEl.textContent = text;
    chat.tabPresence.setAttribute('data-presence', chat.presence);
    chat.tabPresence.setAttribute('aria-label', 'Cardholder: ' + text);
    chat.tabPresence.title = 'Cardholder: ' + text;
  }

  function onPresence(f) {
    var chat = chats.get(f.conversation);
    if (!chat || !PRESENCE[f.cardholder] || chat.status === 'ended') return;
    var was = chat.presence;
    chat.presence = f.cardholder;
    renderPresence(chat);
    if (was !== chat.presence && chat.presence !== 'online') announce(chatTitle(chat) + ': ' + PRESENCE[chat.presence]);
  }

  function chatTitle(chat) {
    var c = chat.cardholder || {};
    return c.name || c.sub || 'Cardholder';
  }

  function renderChatHead(chat) {
    chat.tabName.textContent = chatTitle(chat);
    chat.headName.textContent = chatTitle(chat);
    chat.headName.insertBefore(tierBadge(chat.tier), chat.headName.firstChild);
    renderChatTimes(chat);
  }

  function renderChatTimes(chat) {
    var topic = TOPIC_NAMES[chat.topic] || chat.topic || 'No topic';
    var inChat = duration((Date.now() - chat.startedAt) / 1000);
    var waited = chat.waitedS !== null ? 'waited ' + duration(chat.waitedS) : '';
    chat.tabMeta.textContent = chat.status === 'ended' ? 'Ended' : topic + (waited ? ' \u00b7 ' + waited : '');
    chat.headInfo.textContent = topic + (waited ? ' \u00b7 ' + waited + ' in queue' : '') + ' \u00b7 ' +
      (chat.status === 'ended' ? 'ended' : 'in chat ' + inChat) +
      (chat.cardholder && chat.cardholder.sub ? ' \u00b7 id ' + chat.cardholder.sub : '');
  }

  function tabKeys(ev, chat) {
    var tabs = Array.prototype.slice.call(els.tabs.querySelectorAll('[role="tab"]'));
    var i = tabs.indexOf(chat.tab);
    var next = null;
    if (ev.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
    else if (ev.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (ev.key === 'Home') next = tabs[0];
    else if (ev.key === 'End') next = tabs[tabs.length - 1];
    if (!next) return;
    ev.preventDefault();
    select(next.getAttribute('data-conversation'), false);
    next.focus();
  }

  function select(id, focusComposer) {
    selectedId = id;
    chats.forEach(function (chat) {
      var on = chat.id === id;
      chat.tab.setAttribute('aria-selected', on ? 'true' : 'false');
      chat.tab.tabIndex = on ? 0 : -1;
      chat.panel.hidden = !on;
      if (on) {
        chat.unread = 0;
        renderUnread(chat);
        chat.log.scrollToEnd();
        maybeSendRead(chat);
        if (focusComposer && chat.status !== 'ended') chat.composer.focus();
      }
    });
    renderTitle();
  }

  function renderTabs() {
    els.empty.hidden = chats.size > 0;
    if (!selectedId || !chats.has(selectedId)) {
      var first = chats.keys().next();
      if (!first.done) select(first.value, false);
      else selectedId = null;
    }
  }

  function renderLoad() {
    // Claimed secure messages take no live chat slot: shown apart.
    var active = 0;
    var threads = 0;
    chats.forEach(function (c) {
      if (c.status === 'ended') return;
      if (c.thread) threads++; else active++;
    });
    els.load.textContent = active + ' / ' + (me ? me.max_chats : 0) + ' chats' + (threads ? ' \u00b7 ' + threads + ' message' + (threads > 1 ? 's' : '') : '');
    els.load.classList.toggle('sba-full', !!me && active >= me.max_chats);
  }

  function renderUnread(chat) {
    chat.tabUnread.hidden = chat.unread === 0;
    chat.tabUnread.textContent = String(chat.unread);
    chat.tabUnread.setAttribute('aria-label', chat.unread + ' unread');
  }

  function renderTitle() {
    var total = 0;
    chats.forEach(function (c) { total += c.unread; });
    document.title = (total ? '(' + total + ') ' : '') + 'Switchboard agent';
  }

  /** A chat's entry as the pane shows it. */
  function entryElement(chat, f) {
    var who = f.from === 'agent' ? 'own' : f.from === 'cardholder' ? 'cardholder' : 'system';
    var label = who === 'own' ? 'You' : who === 'cardholder' ? chatTitle(chat) : 'System';
    return h('li', { class: 'sba-msg sba-' + who, 'data-seq': f.seq, 'data-from': f.from }, [
      h('div', { class: 'sba-meta' }, [h('span', { class: 'sba-author', text: label }), h('time', { datetime: f.at || null, text: clockTime(f.at) })]),
      h('div', { class: 'sba-bubble', dir: 'auto' }, core.linkify(f.text)),
    ]);
  }

  function addEntry(chat, f, replay) {
    if (!chat.log.add(f)) return;
    if (f.from === 'cardholder') {
      showTyping(chat, false);
      if (!replay && (chat.id !== selectedId || document.visibilityState === 'hidden')) {
        chat.unread++;
        renderUnread(chat);
        renderTitle();
        announce('Message from ' + chatTitle(chat) + ': ' + f.text);
        alertAgent('New message', chatTitle(chat), chat.id);
      }
    }
    maybeSendRead(chat);
  }

  function maybeSendRead(chat) {
    if (chat.id !== selectedId || document.visibilityState === 'hidden' || chat.status === 'ended') return;
    var seq = chat.log.toRead();
    if (seq && send({ type: 'read', conversation: chat.id, seq: seq }, false)) chat.log.reported(seq);
  }

  function showTyping(chat, on) {
    clearTimeout(chat.remoteTypingTimer);
    chat.typingEl.hidden = !on;
    chat.tabTyping.hidden = !on;
    if (on) {
      chat.typingEl.textContent = chatTitle(chat) + ' is typing\u2026';
      chat.remoteTypingTimer = setTimeout(function () { showTyping(chat, false); }, core.REMOTE_TYPING_TIMEOUT_MS);
    }
  }

  function composerInput(chat) {
    renderPicker(chat);
    renderCounter(chat);
    var hasText = chat.composer.value.trim().length > 0 && chat.picker.hidden;
    setTyping(chat, hasText);
    clearTimeout(chat.typingTimer);
    if (hasText) chat.typingTimer = setTimeout(function () { setTyping(chat, false); }, core.TYPING_IDLE_MS);
  }

  /** Near the 4,000-character limit, how much room is left. */
  function renderCounter(chat) {
    var n = chat.composer.value.length;
    chat.counter.hidden = n < COUNTER_FROM_CHARS;
    chat.counter.textContent = n.toLocaleString() + ' / ' + core.MAX_TEXT_CHARS.toLocaleString();
    chat.counter.classList.toggle('sba-counter-full', n >= core.MAX_TEXT_CHARS);
  }

  /** Canned replies for a chat: its tier's team's, else every one of the agent's. */
  function cannedFor(chat) {
    var mine = canned.filter(function (r) { return r.team === chat.tier; });
    return mine.length ? mine : canned;
  }

  /** `/` followed by a shortcut (the whole composer) lists the matching canned replies. */
  function renderPicker(chat) {
    var m = /^\/([^\s]*)$/.exec(chat.composer.value);
    var q = m ? m[1].toLowerCase() : null;
    chat.pickerItems = q === null ? [] : cannedFor(chat).filter(function (r) {
      return r.shortcut.indexOf(q) === 0 || r.title.toLowerCase().indexOf(q) >= 0;
    }).slice(0, MAX_PICKER_ITEMS);
    chat.pickerIndex = Math.min(chat.pickerIndex, Math.max(0, chat.pickerItems.length - 1));
    chat.picker.hidden = chat.pickerItems.length === 0;
    chat.picker.replaceChildren.apply(chat.picker, chat.pickerItems.map(function (r, i) {
      return h('li', {
        id: chat.picker.id + '-' + i, role: 'option', class: 'sba-canned-item',
        'aria-selected': i === chat.pickerIndex ? 'true' : 'false',
        onmousedown: function (ev) { ev.preventDefault(); insertCanned(chat, r); },
      }, [h('span', { class: 'sba-canned-shortcut', text: '/' + r.shortcut }), h('span', { class: 'sba-canned-title', text: r.title })]);
    }));
    if (chat.picker.hidden) chat.composer.removeAttribute('aria-activedescendant');
    else chat.composer.setAttribute('aria-activedescendant', chat.picker.id + '-' + chat.pickerIndex);
  }

  /** Arrow keys move in the open picker, Enter or Tab take the reply, Escape closes it. */
  function pickerKeys(ev, chat) {
    if (chat.picker.hidden) return false;
    var n = chat.pickerItems.length;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      chat.pickerIndex = (chat.pickerIndex + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n;
      renderPicker(chat);
    } else if ((ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) || ev.key === 'Tab') {
      insertCanned(chat, chat.pickerItems[chat.pickerIndex]);
    } else if (ev.key === 'Escape') {
      chat.picker.hidden = true;
      chat.composer.removeAttribute('aria-activedescendant');
    } else {
      return false;
    }
    ev.preventDefault();
    ev.stopPropagation();
    return true;
  }

  /** Puts a canned reply into the composer, to edit before sending. */
  function insertCanned(chat, reply) {
    chat.composer.value = reply.text;
    chat.composer.focus();
    chat.composer.setSelectionRange(reply.text.length, reply.text.length);
    composerInput(chat);
  }

  // ---------------------------------------------------------------- alerts

  function alertsOn() {
    try { return localStorage.getItem(ALERTS_KEY) === 'on'; } catch (e) { return false; }
  }

  function renderAlerts() {
    var on = alertsOn();
    els.alerts.setAttribute('aria-pressed', on ? 'true' : 'false');
    els.alerts.textContent = on ? 'Alerts on' : 'Alerts off';
  }

  /** The agent's opt-in: a sound and, when the browser allows it, a desktop notification. */
  function toggleAlerts() {
    var on = !alertsOn();
    try { localStorage.setItem(ALERTS_KEY, on ? 'on' : 'off'); } catch (e) { /* private mode */ }
    if (on) {
      try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
      if (window.Notification && Notification.permission === 'default') Notification.requestPermission();
    }
    renderAlerts();
  }

  /** A new chat or message while the pane is in a background tab (alerts on). */
  function alertAgent(title, body, conversation) {
    if (!alertsOn() || (document.visibilityState === 'visible' && document.hasFocus())) return;
    window.__sbaAlerts = (window.__sbaAlerts || 0) + 1; // for the browser suite
    if (audio) {
      try {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.08;
        osc.connect(gain).connect(audio.destination);
        osc.start();
        osc.stop(audio.currentTime + 0.15);
      } catch (e) { /* no sound device */ }
    }
    if (window.Notification && Notification.permission === 'granted') {
      // Never the message text: a desktop notification can be seen by anyone near the screen.
      var n = new Notification('Switchboard: ' + title, { body: body, tag: conversation });
      n.onclick = function () { window.focus(); select(conversation, true); n.close(); };
    }
  }

  function setTyping(chat, on) {
    if (on === chat.typingOn || (on && chat.status === 'ended')) return;
    chat.typingOn = on;
    if (!on) clearTimeout(chat.typingTimer);
    send({ type: 'typing', conversation: chat.id, on: on }, false);
  }

  function sendSay(chat) {
    var text = chat.composer.value.trim();
    if (!text || chat.status === 'ended') return;
    if (text.length > core.MAX_TEXT_CHARS) { toast('Messages can be up to 4000 characters.'); return; }
    var id = core.newId('a');
    var p = chat.log.pend({ id: id, text: text, el: h('li', { class: 'sba-msg sba-own sba-pending' }, [
      h('div', { class: 'sba-meta' }, [h('span', { class: 'sba-author', text: 'You' }), h('span', { class: 'sba-sending', text: 'sending\u2026' })]),
      h('div', { class: 'sba-bubble', dir: 'auto', text: text }),
    ]) });
    chat.composer.value = '';
    renderCounter(chat);
    setTyping(chat, false);
    sendPending(chat, p);
  }

  function sendPending(chat, p) {
    send({ type: 'say', conversation: chat.id, id: p.id, text: p.text }, false);
  }

  /** Why a reply was not sent, by the `error` code (else "Not sent"). */
  var FAILED = {
    too_long: 'Too long',
    transcript_full: 'Not sent: this chat is full (end or transfer it)',
  };

  function markFailed(chat, p, why) {
    chat.log.fail(p).appendChild(h('span', { class: 'sba-author', text: 'You \u2013 ' + why }));
  }

  function endChat(chat, reason) {
    if (chat.status === 'ended') return;
    chat.status = 'ended';
    chat.log.pending.forEach(function (p) { markFailed(chat, p, 'Not sent'); });
    showTyping(chat, false);
    clearTimeout(chat.typingTimer);
    chat.typingOn = false;
    chat.composerForm.hidden = true;
    chat.actions.hidden = true;
    chat.endedText.textContent = END_REASONS[reason] || 'This chat has ended.';
    chat.endedBar.hidden = false;
    chat.tab.classList.add('sba-tab-ended');
    renderChatTimes(chat);
    announce(chatTitle(chat) + ': ' + chat.endedText.textContent);
    renderLoad();
    chat.removeTimer = setTimeout(function () { removeChat(chat); }, ENDED_TAB_TTL_MS);
  }

  function removeChat(chat) {
    pastReaders.forEach(function (reader, id) { if (reader === chat) pastReaders.delete(id); });
    clearTimeout(chat.removeTimer);
    clearTimeout(chat.typingTimer);
    clearTimeout(chat.remoteTypingTimer);
    var hadFocus = chat.panel.contains(document.activeElement) || chat.tab === document.activeElement;
    chat.tab.remove();
    chat.panel.remove();
    if (chats.get(chat.id) === chat) chats.delete(chat.id);
    if (selectedId === chat.id) {
      selectedId = null;
      renderTabs();
      if (hadFocus) {
        var sel = selectedId && chats.get(selectedId);
        if (sel) sel.tab.focus(); else $('sba-main').focus();
      }
    } else {
      renderTabs();
    }
    renderLoad();
    renderTitle();
  }

  // --------------------------------------------------------- availability

  /** The availability the agent last picked in this tab (survives reloads and reconnects). */
  function wantedAvailability() {
    try { return sessionStorage.getItem(AVAILABILITY_KEY); } catch (e) { return null; }
  }

  function setAvailability(state, sendIt) {
    if (sendIt) {
      if (!send({ type: 'status', state: state })) return;
      try { sessionStorage.setItem(AVAILABILITY_KEY, state); } catch (e) { /* storage disabled */ }
    }
    availability = state;
    var on = state === 'available';
    els.availability.setAttribute('aria-pressed', on ? 'true' : 'false');
    els.availability.classList.toggle('sba-on', on);
    els.availability.querySelector('.sba-availability-label').textContent = on ? 'Available' : 'Away';
    els.availability.title = on ? 'You receive new chats. Click to go away.' : 'You receive no new chats. Click to become available.';
    els.emptyHint.textContent = on ? 'Waiting for the next cardholder\u2026' : 'Set yourself Available to receive chats.';
  }

  /** A supervisor set this agent available or away: that is now the agent's choice too. */
  function onStatus(f) {
    if (f.state !== 'available' && f.state !== 'away') return;
    try { sessionStorage.setItem(AVAILABILITY_KEY, f.state); } catch (e) { /* storage disabled */ }
    setAvailability(f.state, false);
    toast((f.by || 'A supervisor') + ' set you ' + (f.state === 'available' ? 'Available' : 'Away') + '.');
  }

  els.availability.addEventListener('click', function () {
    setAvailability(availability === 'available' ? 'away' : 'available', true);
  });
  els.alerts.addEventListener('click', toggleAlerts);
  renderAlerts();

  // --------------------------------------------------------------- queues

  function renderQueues(queues) {
    var byTier = new Map();
    queues.forEach(function (q) { byTier.set(q.tier, q); });
    var tiers = TIERS.filter(function (t) { return byTier.has(t); });
    byTier.forEach(function (q, t) { if (tiers.indexOf(t) < 0) tiers.push(t); });
    var rows = tiers.map(function (t) {
      var q = byTier.get(t);
      var mine = me && me.teams.indexOf(t) >= 0;
      return h('tr', { class: (mine ? 'sba-mine' : '') + (q.waiting > 0 ? ' sba-busy' : ''), 'data-tier': t }, [
        h('th', { scope: 'row' }, [tierBadge(t)]),
        h('td', { text: String(q.waiting) }),
        h('td', { text: q.waiting > 0 ? duration(q.oldest_wait_s || 0) : '\u2013' }),
      ]);
    });
    els.queues.replaceChildren.apply(els.queues, rows);
  }

  // ------------------------------------------------------------ callbacks

  function deskOrder(a, b) {
    var pa = a.tier === 'premium' ? 0 : 1;
    var pb = b.tier === 'premium' ? 0 : 1;
    if (pa !== pb) return pa - pb;
    return String(a.created_at).localeCompare(String(b.created_at));
  }

  function isOpenRequest(r) {
    return r.status !== 'reached' && r.status !== 'failed';
  }

  // ----------------------------------------------------------- inbox

  var inboxes = new Map(); // team -> items, in inbox order (reply due soonest first)

  function onInbox(f) {
    if (!inboxes.has(f.team)) return;
    inboxes.set(f.team, Array.isArray(f.items) ? f.items : []);
    renderInboxes();
  }

  // A thread entered or left a team's inbox: ask for the list again (the
  // hub keeps its order); a new one is announced.
  function onInboxItem(f) {
    if (!inboxes.has(f.team)) return;
    if (f.change === 'added') {
      var who = f.item && f.item.cardholder ? (f.item.cardholder.name || f.item.cardholder.sub) : 'a cardholder';
      announce('New secure message from ' + who + ' in the ' + (TIER_NAMES[f.team] || f.team) + ' inbox');
    }
    send({ type: 'inbox', team: f.team }, false);
  }

  function renderInboxes() {
    var sections = [];
    inboxes.forEach(function (items, team) {
      var rows = items.map(inboxRow);
      sections.push(h('section', { class: 'sba-inbox-team', 'data-team': team, 'aria-label': (TIER_NAMES[team] || team) + ' inbox' }, [
        h('h3', { text: (TIER_NAMES[team] || team) + ' (' + items.length + ')' }),
        rows.length ? h('ul', { class: 'sba-inbox-list' }, rows) : h('p', { class: 'sba-muted', text: 'No messages waiting.' }),
      ]));
    });
    els.inboxes.replaceChildren.apply(els.inboxes, sections);
  }

  function inboxRow(item) {
    var who = item.cardholder ? (item.cardholder.name || item.cardholder.sub) : 'Cardholder';
    return h('li', { class: 'sba-inbox-item', 'data-conversation': item.conversation }, [
      h('div', { class: 'sba-inbox-top' }, [
        tierBadge(item.cardholder && item.cardholder.tier),
        h('span', { class: 'sba-inbox-who', text: who }),
      ]),
      h('p', { class: 'sba-inbox-info', text: (TOPIC_NAMES[item.topic] || item.topic) + ' \u00b7 waiting ' + duration(item.waiting_s || 0) }),
      h('div', { class: 'sba-inbox-actions' }, [
        h('button', {
          type: 'button', class: 'sba-btn sba-primary sba-claim-message', 'aria-label': 'Claim the message from ' + who,
          onclick: function () { send({ type: 'claim_message', conversation: item.conversation }); },
        }, ['Claim']),
      ]),
    ]);
  }

  function onCallbacks(f) {
    var list = new Map();
    (f.items || []).forEach(function (r) { if (isOpenRequest(r)) list.set(r.ref, r); });
    desks.set(f.desk, list);
    if (Array.isArray(f.done)) {
      var done = new Map();
      f.done.forEach(function (r) { done.set(r.ref, r); });
      doneToday.set(f.desk, done);
    }
    renderCallbacks();
  }

  function onCallback(r) {
    if (!r || !r.ref) return;
    if (!desks.has(r.desk)) return;
    var list = desks.get(r.desk);
    var known = list.has(r.ref);
    if (isOpenRequest(r)) list.set(r.ref, r); else list.delete(r.ref);
    if (!known && isOpenRequest(r)) announce('New callback request ' + r.ref + ' for the ' + (DESK_NAMES[r.desk] || r.desk));
    // A request this agent closed joins its "done today" list.
    var calls = r.calls || [];
    var lastCall = calls[calls.length - 1];
    if (!isOpenRequest(r) && lastCall && me && lastCall.by === me.sub) {
      if (!doneToday.has(r.desk)) doneToday.set(r.desk, new Map());
      doneToday.get(r.desk).set(r.ref, r);
      deskDrafts.delete(r.ref);
    }
    renderCallbacks();
  }

  function renderCallbacks() {
    var sections = [];
    if (callbacksUnavailable) {
      els.desks.replaceChildren(h('p', { class: 'sba-muted', text: 'Callback lists are unavailable: ' + callbacksUnavailable }));
      return;
    }
    desks.forEach(function (list, desk) {
      var items = Array.from(list.values()).sort(deskOrder);
      var rows = items.map(callbackRow);
      var done = Array.from((doneToday.get(desk) || new Map()).values()).filter(closedToday);
      sections.push(h('section', { class: 'sba-desk', 'data-desk': desk, 'aria-label': DESK_NAMES[desk] || desk }, [
        h('h3', { text: (DESK_NAMES[desk] || desk) + ' (' + items.length + ')' }),
        rows.length ? h('ul', { class: 'sba-callback-list' }, rows) : h('p', { class: 'sba-muted', text: 'No open requests.' }),
        h('details', { class: 'sba-done' }, [
          h('summary', { text: 'Done today (' + done.length + ')' }),
          done.length
            ? h('ul', { class: 'sba-done-list' }, done.map(doneRow))
            : h('p', { class: 'sba-muted', text: 'Nothing closed today yet.' }),
        ]),
      ]));
    });
    els.desks.replaceChildren.apply(els.desks, sections);
  }

  /** Whether a closed request's last call was today, on this computer's clock. */
  function closedToday(r) {
    var calls = r.calls || [];
    var last = calls[calls.length - 1];
    return !!last && new Date(last.at).toDateString() === new Date().toDateString();
  }

  function masked(last4) {
    return last4 ? '\u2022\u2022\u2022\u2022 ' + last4 : 'no phone on file';
  }

  function callLines(r) {
    var calls = r.calls || [];
    if (!calls.length) return null;
    return h('ol', { class: 'sba-calls', 'aria-label': 'Calls' }, calls.map(function (c) {
      return h('li', { class: 'sba-call' }, [
        h('span', { class: 'sba-call-head', text: (CALLBACK_STATUS[c.outcome] || c.outcome) + ' \u00b7 ' + core.clockTime(c.at) }),
        c.note ? h('span', { class: 'sba-call-note', text: c.note }) : null,
      ]);
    }));
  }

  function doneRow(r) {
    return h('li', { class: 'sba-done-item', 'data-ref': r.ref }, [
      h('span', { class: 'sba-done-head' }, [tierBadge(r.tier), ' ', r.name || r.sub, ' \u00b7 ', h('code', { text: r.ref }), ' \u00b7 ' + (CALLBACK_STATUS[r.status] || r.status)]),
      callLines(r),
    ]);
  }

  /** Shows the chat a request came from under it (kept open across list updates). */
  function showDeskChat(r, box, button, open) {
    box.hidden = !open;
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (!open) return;
    if (!deskChats.has(r.conversation)) {
      var ol = h('ol', { class: 'sba-desk-chat', 'aria-label': 'Chat ' + r.ref + ' came from', tabindex: '0' });
      deskChats.set(r.conversation, new core.Transcript(ol, { prefix: 'sba-', render: deskLine, more: nextPage }));
      send({ type: 'transcript', conversation: r.conversation }, false);
    }
    box.replaceChildren(deskChats.get(r.conversation).list);
  }

  /** A line of the chat a callback request came from, as its desk reads it. */
  function deskLine(e) {
    return h('li', { class: 'sba-desk-line sba-desk-' + e.from }, [
      h('span', { class: 'sba-desk-from', text: (e.from === 'cardholder' ? 'Cardholder' : e.from === 'agent' ? 'Agent' : 'Notice') + ': ' }),
      h('span', { text: e.text }),
    ]);
  }

  function callbackRow(r) {
    var mine = me && r.claimed_by === me.sub;
    var draft = deskDrafts.get(r.ref) || { note: '', confirming: null, chatOpen: false };
    var buttons = [];
    if (r.status === 'requested' || r.status === 'no_answer' || !r.claimed_by) {
      buttons.push(h('button', { type: 'button', class: 'sba-btn sba-primary sba-claim', onclick: function () { send({ type: 'claim_callback', ref: r.ref }); } }, ['Claim']));
    } else if (mine && draft.confirming) {
      // An outcome is asked twice: it closes or returns the request for everyone.
      var word = CALLBACK_STATUS[draft.confirming] || draft.confirming;
      buttons.push(h('div', { class: 'sba-confirm sba-outcome-confirm', role: 'group', 'aria-label': 'Confirm the outcome' }, [
        h('span', { class: 'sba-confirm-text', text: 'Record \u201c' + word + '\u201d for ' + r.ref + '?' }),
        h('button', {
          type: 'button', class: 'sba-btn sba-primary sba-outcome-yes',
          onclick: function () {
            var frame = { type: 'complete_callback', ref: r.ref, outcome: draft.confirming };
            if (draft.note.trim()) frame.note = draft.note.trim();
            if (send(frame)) { draft.confirming = null; draft.note = ''; deskDrafts.set(r.ref, draft); }
          },
        }, ['Yes, record it']),
        h('button', {
          type: 'button', class: 'sba-btn sba-outcome-cancel',
          onclick: function () { draft.confirming = null; deskDrafts.set(r.ref, draft); renderCallbacks(); },
        }, ['Cancel']),
      ]));
    } else if (mine) {
      buttons.push(h('input', {
        type: 'text', class: 'sba-call-note-input', maxlength: '1000', value: draft.note,
        placeholder: 'Note on this call', 'aria-label': 'Note on the call to ' + r.ref,
        oninput: function (ev) { draft.note = ev.target.value; deskDrafts.set(r.ref, draft); },
      }));
      [['reached', 'Reached'], ['no_answer', 'No answer'], ['failed', 'Failed']].forEach(function (o) {
        buttons.push(h('button', {
          type: 'button', class: 'sba-btn sba-outcome sba-outcome-' + o[0], 'aria-label': o[1] + ' \u2013 ' + r.ref,
          onclick: function () { draft.confirming = o[0]; deskDrafts.set(r.ref, draft); renderCallbacks(); },
        }, [o[1]]));
      });
    } else {
      buttons.push(h('span', { class: 'sba-muted', text: 'Claimed by ' + r.claimed_by }));
    }
    var age = r.created_at ? duration((Date.now() - new Date(r.created_at).getTime()) / 1000) : '';
    var chatBox = h('div', { class: 'sba-desk-chat-box', hidden: true });
    var chatButton = h('button', {
      type: 'button', class: 'sba-btn sba-read-chat', 'aria-expanded': 'false',
      onclick: function () {
        draft.chatOpen = !draft.chatOpen;
        deskDrafts.set(r.ref, draft);
        showDeskChat(r, chatBox, chatButton, draft.chatOpen);
      },
    }, ['Read the chat']);
    if (draft.chatOpen) showDeskChat(r, chatBox, chatButton, true);
    return h('li', { class: 'sba-callback sba-callback-' + r.status, 'data-ref': r.ref }, [
      h('div', { class: 'sba-callback-top' }, [
        tierBadge(r.tier),
        h('span', { class: 'sba-callback-name', text: r.name || 'No name on file' }),
        h('code', { class: 'sba-ref', text: r.ref }),
        h('span', { class: 'sba-callback-status', text: CALLBACK_STATUS[r.status] || r.status }),
      ]),
      h('p', { class: 'sba-callback-info' }, [
        h('span', { class: 'sba-phone', text: 'Phone ' + masked(r.phone_last4) }),
        (age ? ' \u00b7 requested ' + age + ' ago' : '') + (r.attempts ? ' \u00b7 ' + r.attempts + ' attempt' + (r.attempts > 1 ? 's' : '') : ''),
      ]),
      r.reason ? h('p', { class: 'sba-callback-reason', text: r.reason }) : null,
      callLines(r),
      r.conversation ? chatButton : null,
      chatBox,
      h('div', { class: 'sba-callback-actions' }, buttons),
    ]);
  }

  // ------------------------------------------------------------------ start

  var lastTokenClaims = {};

  document.addEventListener('visibilitychange', function () {
    var chat = selectedId && chats.get(selectedId);
    if (chat) maybeSendRead(chat);
  });

  setInterval(function () {
    chats.forEach(function (chat) { if (chat.status !== 'ended') renderChatTimes(chat); });
    if (connState === 'waiting') renderConn();
  }, 1000);

  conn = new core.Connection(core.wsUrl(location.href), getToken, {
    frame: onFrame,
    state: function (s) { connState = s; renderConn(); },
    down: onDown,
    token: function (t) { lastTokenClaims = tokenClaims(t); },
  });
  renderConn();
  conn.start();
})();
