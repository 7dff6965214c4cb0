/*!
 * Switchboard supervisor console (protocol v1, role `supervisor`).
 * A monitored chat's transcript is a SwitchboardCore.Transcript, as in the
 * widget and the agent pane (seq order, once, redactions).
 *
 * Token: as the agent pane (sessionStorage['switchboard.supervisorToken'],
 * or handed over by the opener/parent with postMessage). After `welcome` it
 * sends `watch`; the hub then pushes an `overview` of the supervised teams
 * at most once a second: queues with their service level, agents, desks,
 * and the latest supervisor actions. Actions: set an agent available or
 * away, reassign one of its chats (to the head of its queue or another
 * supervised tier). Every action is audited by the hub.
 */
(function () {
  'use strict';

  var core = window.SwitchboardCore; // switchboard-core.js, loaded first
  var h = core.h;

  var TOKEN_KEY = 'switchboard.supervisorToken';
  var TIERS = ['standard', 'premium', 'business', 'prepaid'];
  var TIER_NAMES = { standard: 'Standard', premium: 'Premium', business: 'Business', prepaid: 'Prepaid' };
  var TEAM_NAMES = { standard: 'Standard', premium: 'Premium', business: 'Business', prepaid: 'Prepaid', identity: 'Identity desk', fraud: 'Fraud desk' };
  var ACTIONS = { set_agent_state: 'set the state of', reassign: 'reassigned', monitor: 'monitored' };
  var FROM = { cardholder: 'Cardholder', agent: 'Agent', system: 'System' };

  function $(id) { return document.getElementById(id); }

  var els = {
    conn: $('sbs-conn'), me: $('sbs-me'), updated: $('sbs-updated'), queues: $('sbs-queues'), sla: $('sbs-sla'),
    desks: $('sbs-desks'), inboxes: $('sbs-inboxes'), agents: $('sbs-agents'), agentCount: $('sbs-agent-count'), audit: $('sbs-audit'), toast: $('sbs-toast'),
    monitor: $('sbs-monitor'), monitors: $('sbs-monitors'),
  };
  var monitored = new Map(); // conversation -> { panel, log: Transcript, state, stopped }
  var me = null;        // { sub, teams }
  var conn = null;
  var toastTimer = null;
  var lastTokenClaims = {};

  function duration(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  }

  function toast(text) {
    els.toast.textContent = text;
    els.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { els.toast.hidden = true; }, 6000);
  }

  function setConnView(state, text) {
    els.conn.setAttribute('data-state', state);
    els.conn.textContent = text;
  }

  var staffToken = new core.StaffToken(TOKEN_KEY, {
    waiting: function (hasHosts) {
      setConnView('token', hasHosts
        ? 'Waiting for sign-in from the agent desktop\u2026'
        : 'Not signed in. Open this console from your agent desktop.');
    },
    handedOver: function (token) {
      if (conn && conn.isReady() && core.tokenClaims(token).sub !== (me && me.sub)) conn.restart();
    },
  });

  function send(frame) {
    if (conn.send(frame)) return true;
    toast('Not connected. Try again once the console is reconnected.');
    return false;
  }

  // ---------------------------------------------------------------- frames

  function onFrame(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'overview': return renderOverview(f);
      case 'transcript': return onTranscript(f);
      case 'msg': return addEntry(f);
      case 'redact': return onRedact(f);
      case 'ended': return onEnded(f);
      case 'monitor_ended': return onMonitorEnded(f);
      case 'note': return onNote(f);
      case 'error': return toast(f.message || 'The hub refused that.');
      default: return undefined;
    }
  }

  function onWelcome(f) {
    if (f.role !== 'supervisor') {
      setConnView('error', 'This token is not a supervisor token.');
      return;
    }
    me = { sub: f.sub, teams: Array.isArray(f.teams) ? f.teams : [] };
    var name = lastTokenClaims.sub === f.sub ? lastTokenClaims.name : null;
    els.me.textContent = (name ? name + ' \u00b7 ' : '') + me.teams.map(function (t) { return TEAM_NAMES[t] || t; }).join(', ');
    send({ type: 'watch' });
    // After a reconnect, monitoring starts again (the hub forgets it with the connection).
    monitored.forEach(function (m, id) { if (!m.stopped) send({ type: 'monitor', conversation: id }); });
  }

  // ------------------------------------------------------------- monitoring

  function startMonitor(id, who) {
    if (!monitored.has(id)) {
      var list = h('ol', { class: 'sbs-transcript', 'aria-label': 'Transcript of ' + who });
      var state = h('p', { class: 'sbs-note sbs-monitor-state', text: 'Live' });
      var panel = h('section', { class: 'sbs-monitored', 'data-conversation': id, 'aria-label': 'Chat ' + who }, [
        h('div', { class: 'sbs-monitored-head' }, [
          h('strong', { text: who }), ' ', h('code', { text: id.slice(0, 10) + '\u2026', title: id }), state,
          h('button', { type: 'button', class: 'sbs-btn sbs-stop-monitor', onclick: function () { stopMonitor(id); } }, ['Stop']),
        ]),
        list,
      ]);
      var log = new core.Transcript(list, {
        prefix: 'sbs-', text: '.sbs-entry-text', render: monitorEntry,
        more: function (after) { send({ type: 'sync', conversation: id, after: after }); },
      });
      monitored.set(id, { panel: panel, log: log, state: state });
      els.monitors.appendChild(panel);
      els.monitor.hidden = false;
    }
    send({ type: 'monitor', conversation: id });
  }

  function stopMonitor(id) {
    var m = monitored.get(id);
    if (!m) return;
    if (!m.stopped) send({ type: 'unmonitor', conversation: id });
    m.panel.remove();
    monitored.delete(id);
    els.monitor.hidden = monitored.size === 0;
  }

  /** A monitored chat's entry, read-only. */
  function monitorEntry(e) {
    return h('li', { class: 'sbs-entry sbs-from-' + e.from, 'data-seq': e.seq }, [
      h('span', { class: 'sbs-entry-meta' }, [FROM[e.from] || e.from, ' ', h('time', { datetime: e.at || null, text: core.clockTime(e.at) })]),
      h('span', { class: 'sbs-entry-text', dir: 'auto' }, core.linkify(e.text)),
    ]);
  }

  /** The live monitor of a conversation, if it still receives entries. */
  function live(conversation) {
    var m = monitored.get(conversation);
    return m && !m.stopped ? m : null;
  }

  function onTranscript(f) {
    var m = live(f.conversation);
    if (m) m.log.page(f);
  }

  function addEntry(f) {
    var m = live(f.conversation);
    if (m) m.log.add(f);
  }

  function onRedact(f) {
    var m = monitored.get(f.conversation);
    if (m) m.log.redact(f);
  }

  // An agent's internal note on a monitored chat (staff only), set apart from the entries.
  function onNote(f) {
    var m = live(f.conversation);
    if (!m || !f.note) return;
    m.log.note(h('li', { class: 'sbs-entry sbs-internal-note' }, [
      h('span', { class: 'sbs-entry-meta' }, ['Internal note by ' + f.note.by + ' ', h('time', { datetime: f.note.at || null, text: core.clockTime(f.note.at) })]),
      h('span', { class: 'sbs-entry-text', dir: 'auto', text: f.note.text }),
    ]));
  }

  function onEnded(f) {
    var m = monitored.get(f.conversation);
    if (m) m.state.textContent = 'Ended (' + String(f.reason).replace(/_/g, ' ') + ')';
  }

  // The hub stopped the monitoring: the chat left the teams you supervise,
  // or it ended. What was seen stays on screen; nothing more arrives, and
  // a reconnect does not ask for it again. "Stop" then only closes the panel.
  var MONITOR_ENDED = {
    out_of_scope: 'Monitoring stopped: this chat moved to a team you do not supervise.',
    ended: 'Monitoring stopped: the chat is over.',
  };

  function onMonitorEnded(f) {
    var m = monitored.get(f.conversation);
    if (!m || f.reason === 'unmonitored') return;
    m.stopped = true;
    m.panel.classList.add('sbs-monitor-stopped');
    var why = MONITOR_ENDED[f.reason] || 'Monitoring stopped.';
    m.state.textContent = f.reason === 'ended' && m.state.textContent.indexOf('Ended') === 0
      ? m.state.textContent + ' \u00b7 ' + why : why;
    var stop = m.panel.querySelector('.sbs-stop-monitor');
    if (stop) stop.textContent = 'Close';
  }

  function renderOverview(f) {
    els.updated.textContent = 'Updated ' + core.clockTime();
    els.sla.textContent = 'Service level: the share of recently answered chats (the last 20 of each queue) that waited at most ' + f.sla_s + 's.';
    els.queues.replaceChildren.apply(els.queues, (f.queues || []).map(function (q) {
      var sl = q.service_level === null || q.service_level === undefined ? '\u2013' : Math.round(q.service_level * 100) + '%';
      return h('tr', { 'data-tier': q.tier }, [
        h('th', { scope: 'row' }, [h('span', { class: 'sbs-tier sbs-tier-' + q.tier, text: TIER_NAMES[q.tier] || q.tier })]),
        h('td', { text: String(q.waiting) }),
        h('td', { text: q.waiting ? duration(q.oldest_wait_s) : '\u2013' }),
        h('td', { class: 'sbs-sl', title: q.answered + ' answered recently' }, [sl, h('span', { class: 'sbs-note', text: ' of ' + q.answered })]),
      ]);
    }));
    els.desks.replaceChildren.apply(els.desks, (f.desks || []).map(function (d) {
      return h('li', { 'data-desk': d.desk }, [h('strong', { text: TEAM_NAMES[d.desk] || d.desk }), ': ' + d.open + ' open request' + (d.open === 1 ? '' : 's')]);
    }));
    if (!(f.desks || []).length) els.desks.replaceChildren(h('li', { class: 'sbs-note', text: 'No desk among your teams.' }));
    els.inboxes.replaceChildren.apply(els.inboxes, (f.inboxes || []).map(function (i) {
      return h('li', { 'data-team': i.team }, [h('strong', { text: TEAM_NAMES[i.team] || i.team }),
        ': ' + i.depth + ' waiting' + (i.depth ? ', oldest ' + duration(i.oldest_wait_s) : '')]);
    }));
    if (!(f.inboxes || []).length) els.inboxes.replaceChildren(h('li', { class: 'sbs-note', text: 'No tier team among your teams.' }));
    // Online agents first (those a supervisor can act on), then the signed-out ones.
    var agents = (f.agents || []).slice().sort(function (a, b) { return (b.online ? 1 : 0) - (a.online ? 1 : 0); });
    var online = agents.filter(function (a) { return a.online; }).length;
    els.agentCount.textContent = '(' + online + ' online, ' + agents.filter(function (a) { return a.online && a.state === 'available'; }).length + ' available)';
    // Not while the supervisor is choosing a queue in it (a re-render would
    // reset the choice); a focused button keeps its focus across the update.
    var active = document.activeElement;
    if (!(active && active.tagName === 'SELECT' && els.agents.contains(active))) {
      var focusKey = active && els.agents.contains(active) ? focusKeyOf(active) : null;
      els.agents.replaceChildren.apply(els.agents, agents.map(agentRow));
      if (focusKey) {
        var again = els.agents.querySelector(focusKey);
        if (again) again.focus();
      }
    }
    els.audit.replaceChildren.apply(els.audit, (f.audit || []).map(function (e) {
      return h('li', {}, [
        h('time', { datetime: e.at, text: core.clockTime(e.at) }), ' ',
        h('strong', { text: e.by }), ' ' + (ACTIONS[e.action] || e.action) + ' ',
        h('code', { text: e.target }), e.detail ? ' \u2013 ' + e.detail : '',
      ]);
    }));
    if (!(f.audit || []).length) els.audit.replaceChildren(h('li', { class: 'sbs-note', text: 'No actions yet.' }));
  }

  /** A selector that finds the same control in the re-rendered agents table. */
  function focusKeyOf(el) {
    var row = el.closest('tr[data-agent]');
    var chat = el.closest('li[data-conversation]');
    if (!row) return null;
    var key = 'tr[data-agent="' + CSS.escape(row.getAttribute('data-agent')) + '"]';
    if (chat) key += ' li[data-conversation="' + CSS.escape(chat.getAttribute('data-conversation')) + '"]';
    return key + ' .' + el.className.split(' ').filter(function (c) { return c !== 'sbs-btn'; })[0];
  }

  function agentRow(a) {
    var next = a.state === 'available' ? 'away' : 'available';
    var stateText = !a.online ? 'Offline' : a.state === 'available' ? 'Available' : 'Away';
    var chats = h('ul', { class: 'sbs-chats' }, (a.conversations || []).map(function (id) {
      var tier = h('select', { class: 'sbs-reassign-tier', 'aria-label': 'Queue to put chat ' + id + ' in' },
        TIERS.filter(function (t) { return me.teams.indexOf(t) >= 0; }).map(function (t) { return h('option', { value: t, text: TIER_NAMES[t] }); }));
      tier.insertBefore(h('option', { value: '', text: 'Same queue', selected: true }), tier.firstChild);
      return h('li', { 'data-conversation': id }, [
        h('code', { text: id.slice(0, 10) + '\u2026', title: id }), ' ',
        h('button', {
          type: 'button', class: 'sbs-btn sbs-monitor',
          onclick: function () { startMonitor(id, a.name + '\u2019s chat'); },
        }, ['Monitor']), ' ', tier, ' ',
        h('button', {
          type: 'button', class: 'sbs-btn sbs-reassign',
          onclick: function () {
            var frame = { type: 'reassign', conversation: id };
            if (tier.value) frame.tier = tier.value;
            send(frame);
          },
        }, ['Reassign']),
      ]);
    }));
    return h('tr', { 'data-agent': a.sub, class: a.online ? '' : 'sbs-offline' }, [
      h('th', { scope: 'row' }, [h('span', { class: 'sbs-name', text: a.name }), h('span', { class: 'sbs-note', text: ' ' + a.sub })]),
      h('td', {}, [h('span', { class: 'sbs-state sbs-state-' + (a.online ? a.state : 'offline'), text: stateText }),
        h('span', { class: 'sbs-note', text: ' for ' + duration(a.in_state_s) })]),
      h('td', {}, [a.chats + ' / ' + a.max_chats, chats]),
      h('td', { text: (a.teams || []).map(function (t) { return TEAM_NAMES[t] || t; }).join(', ') }),
      // A signed-out agent has nothing to set: it starts away when it signs in.
      h('td', {}, [a.online ? h('button', {
        type: 'button', class: 'sbs-btn sbs-set-state', 'data-state': next,
        onclick: function () { send({ type: 'set_agent_state', agent: a.sub, state: next }); },
      }, [next === 'away' ? 'Set away' : 'Set available']) : h('span', { class: 'sbs-note', text: 'Signed out' })]),
    ]);
  }

  // ------------------------------------------------------------ connection

  conn = new core.Connection(core.wsUrl(location.href), function () { return staffToken.get(); }, {
    frame: onFrame,
    state: function (s) {
      if (s === 'connected') setConnView('connected', 'Connected');
      else if (s === 'offline') setConnView('offline', 'Offline \u2013 waiting for network');
      else if (s === 'waiting') setConnView('waiting', 'Disconnected \u2013 retrying');
      else if (!staffToken.awaiting) setConnView('connecting', 'Connecting\u2026');
    },
    down: function (code) { if (code === 4401) staffToken.invalidate(); },
    token: function (t) { lastTokenClaims = core.tokenClaims(t); },
  });
  conn.start();
})();
