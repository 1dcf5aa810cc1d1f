// raftkv's live dashboard: follows every node's /api/events and draws the cluster.
//
// Happy path: read /api/state of the node that served the page, learn every member's HTTP
// address there (the --member flags' third address), open an EventSource to each node's
// /api/events, and redraw whenever a state event arrives (at most one per node per 100 ms; the
// node coalesces). Message rates are the differences of the counters between two events.
//
// Failure modes: a node whose stream fails, or that sends nothing (not even its heartbeat,
// every 2 s) for STALE_MS, is drawn greyed "unreachable since hh:mm:ss", and the page keeps
// reconnecting to it. With ?supervisor=URL, kill / restart / pause / resume buttons call that
// supervisor (scripts/supervisor.py); nodes started with --enable-fault-injection also get
// cut / heal / delay / loss buttons, which call the node's own POST /api/fault.
"use strict";

const STALE_MS = 5000; // no event for this long: the node is unreachable
const RECONNECT_MS = 1000;
const SUPERVISOR_POLL_MS = 1000;
const LOG_ROWS = 10;
const REQUEST_ROWS = 14;
const TIMELINE_ROWS = 60;
const RATE_WINDOW_MS = 1000; // message rates are averaged over about this long

const params = new URLSearchParams(location.search);
const supervisor = (params.get("supervisor") || "").replace(/\/+$/, "");

const nodes = new Map(); // id -> node record, see nodeRecord()
const timeline = [];
let supervisorReachable = null;
let lastLeader = 0;
let renderPending = false;

function nodeRecord(id) {
  let node = nodes.get(id);
  if (!node) {
    node = {
      id, http: "", client: "", state: null, reachable: false, everReached: false,
      downSince: Date.now(), lastEventAt: 0, source: null, retryAt: 0,
      samples: [], rates: {}, supervised: null, dom: null,
    };
    nodes.set(id, node);
  }
  return node;
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  }[c]));
}

function clock(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function note(text, kind) {
  timeline.unshift({ time: Date.now(), text, kind: kind || "" });
  timeline.length = Math.min(timeline.length, TIMELINE_ROWS);
  scheduleRender();
}

// ---- following the nodes ----

function learnMembers(state) {
  for (const member of state.members || []) {
    const node = nodeRecord(member.id);
    if (member.client) node.client = member.client;
    if (member.http && member.http !== node.http) {
      node.http = member.http;
      if (!node.source) connect(node);
    }
  }
}

function connect(node) {
  if (!node.http) return;
  if (node.source) node.source.close();
  const source = new EventSource(`http://${node.http}/api/events`);
  node.source = source;
  node.retryAt = 0;
  source.addEventListener("state", (event) => {
    if (node.source !== source) return;
    let state;
    try {
      state = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    received(node, state);
  });
  source.addEventListener("heartbeat", () => {
    if (node.source === source) alive(node);
  });
  source.onerror = () => {
    if (node.source !== source) return;
    markDown(node, "its event stream failed");
    if (source.readyState === EventSource.CLOSED) {
      node.source = null;
      node.retryAt = Date.now() + RECONNECT_MS;
    }
  };
}

function alive(node) {
  node.lastEventAt = Date.now();
  if (!node.reachable && node.state) {
    node.reachable = true;
    node.downSince = null;
    note(node.everReached ? `node ${node.id} is reachable again` : `node ${node.id} answers`, "up");
    node.everReached = true;
  }
}

function received(node, state) {
  const now = Date.now();
  const before = node.state;
  node.samples.push({ time: now, messages: state.messages || [] });
  while (node.samples.length > 2 && now - node.samples[1].time >= RATE_WINDOW_MS) {
    node.samples.shift();
  }
  node.rates = messageRates(node.samples[0], state, now);
  node.state = state;
  alive(node);
  if (before && before.role !== state.role) {
    note(`node ${node.id} is now ${state.role} (term ${state.term})`,
      state.role === "leader" ? "leader" : "");
  }
  learnMembers(state);
  scheduleRender();
}

function markDown(node, why) {
  if (node.reachable || node.downSince === null) {
    node.reachable = false;
    node.downSince = Date.now();
    note(`node ${node.id} is unreachable (${why})`, "down");
    scheduleRender();
  }
}

// Messages per second to and from each peer since an earlier sample (about a second ago).
function messageRates(previous, state, now) {
  const rates = {};
  for (const entry of state.messages || []) {
    const sent = sum(entry.sent);
    const got = sum(entry.received);
    let sentRate = 0;
    let receivedRate = 0;
    const old = previous && previous.messages.find((m) => m.peer === entry.peer);
    const seconds = previous ? (now - previous.time) / 1000 : 0;
    if (old && seconds >= 0.2) {
      sentRate = Math.max(0, sent - sum(old.sent)) / seconds;
      receivedRate = Math.max(0, got - sum(old.received)) / seconds;
    }
    rates[entry.peer] = { sent: sentRate, received: receivedRate, types: entry.sent };
  }
  return rates;
}

function sum(counts) {
  return Object.values(counts || {}).reduce((a, b) => a + b, 0);
}

function watchdog() {
  const now = Date.now();
  for (const node of nodes.values()) {
    if (node.source && node.reachable && now - node.lastEventAt > STALE_MS) {
      markDown(node, `nothing heard for ${STALE_MS / 1000} s`);
      node.source.close();
      node.source = null;
      node.retryAt = now + RECONNECT_MS;
    } else if (node.source && !node.reachable && node.lastEventAt === 0 &&
               now - node.downSince > STALE_MS && node.source.readyState !== EventSource.OPEN) {
      node.source.close(); // never answered: start over rather than wait on a hung connect
      node.source = null;
      node.retryAt = now;
    }
    if (!node.source && node.http && now >= node.retryAt) connect(node);
  }
  scheduleRender();
}

async function bootstrap() {
  try {
    const response = await fetchWithTimeout("/api/state", {}, 3000);
    const state = await response.json();
    const self = nodeRecord(state.id);
    self.http = self.http || location.host;
    learnMembers(state);
    if (!self.source) connect(self);
    showError("");
  } catch (error) {
    showError(`cannot read /api/state of ${location.host} (${error.message}); retrying`);
    setTimeout(bootstrap, 2000);
  }
}

async function pollSupervisor() {
  if (!supervisor) return;
  try {
    const response = await fetchWithTimeout(`${supervisor}/api/nodes`, {}, 2000);
    const list = await response.json();
    for (const entry of list) {
      const node = nodeRecord(entry.id);
      node.supervised = entry;
      if (entry.http && !node.http) {
        node.http = entry.http;
        connect(node);
      }
      if (entry.client && !node.client) node.client = entry.client;
    }
    if (supervisorReachable !== true) note(`supervisor ${supervisor} answers`);
    supervisorReachable = true;
  } catch (error) {
    if (supervisorReachable !== false) note(`supervisor ${supervisor} does not answer`, "down");
    supervisorReachable = false;
  }
  scheduleRender();
}

function fetchWithTimeout(url, options, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  return fetch(url, { ...options, signal: controller.signal }).then((response) => {
    clearTimeout(timer);
    return response;
  }, (error) => {
    clearTimeout(timer);
    throw error;
  });
}

// ---- buttons ----

async function supervise(id, action) {
  note(`asked the supervisor to ${action} node ${id}`);
  try {
    const response = await fetchWithTimeout(`${supervisor}/api/nodes/${id}/${action}`,
      { method: "POST" }, 5000);
    const text = await response.text();
    if (!response.ok) note(`${action} node ${id}: ${response.status} ${text}`, "down");
  } catch (error) {
    note(`${action} node ${id} failed: ${error.message}`, "down");
  }
  pollSupervisor();
}

async function fault(id, body) {
  const node = nodes.get(id);
  const words = `${body.action} ${body.peer === "all" ? "every link" : "link to " + body.peer}` +
    (body.direction ? ` (${body.direction})` : "") + (body.ms ? ` ${body.ms} ms` : "") +
    (body.percent ? ` ${body.percent}%` : "");
  note(`node ${id}: ${words}`);
  try {
    // text/plain keeps this a simple cross-origin request (no preflight); the body is JSON.
    const response = await fetchWithTimeout(`http://${node.http}/api/fault`, {
      method: "POST", headers: { "Content-Type": "text/plain" }, body: JSON.stringify(body),
    }, 5000);
    if (!response.ok) note(`node ${id} refused: ${response.status} ${await response.text()}`, "down");
  } catch (error) {
    note(`node ${id}: ${error.message}`, "down");
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const id = Number(button.dataset.node);
  const action = button.dataset.action;
  if (["kill", "restart", "pause", "resume"].includes(action)) {
    supervise(id, action);
    return;
  }
  const peer = button.dataset.peer === "all" ? "all" : Number(button.dataset.peer);
  const body = { action, peer, direction: button.dataset.direction || "both" };
  const row = button.closest("[data-link]");
  if (action === "delay") body.ms = Number(row.querySelector("input.ms").value) || 0;
  if (action === "loss") body.percent = Number(row.querySelector("input.percent").value) || 0;
  fault(id, body);
});

// ---- drawing ----

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

function setHTML(element, html) {
  if (element._html !== html) {
    element._html = html;
    element.innerHTML = html;
  }
}

function sortedNodes() {
  return [...nodes.values()].sort((a, b) => a.id - b.id);
}

function clusterLeader() {
  let best = null;
  const others = [];
  for (const node of nodes.values()) {
    if (!node.reachable || !node.state || node.state.role !== "leader") continue;
    if (!best || node.state.term > best.state.term) {
      if (best) others.push(best);
      best = node;
    } else {
      others.push(node);
    }
  }
  return { best, others };
}

function render() {
  const { best, others } = clusterLeader();
  const leaderElement = document.getElementById("leader");
  const leaderId = best ? best.id : 0;
  leaderElement.dataset.leaderId = String(leaderId);
  leaderElement.textContent = best ? `node ${best.id}` +
    (others.length ? ` (node ${others.map((n) => n.id).join(", ")} still believes it leads)` : "")
    : "none";
  if (leaderId !== lastLeader) {
    if (leaderId) note(`node ${leaderId} leads (term ${best.state.term})`, "leader");
    else note("no leader is known", "down");
    lastLeader = leaderId;
  }
  const terms = sortedNodes().filter((n) => n.reachable && n.state).map((n) => n.state.term);
  document.getElementById("term").textContent = terms.length ? Math.max(...terms) : "?";
  renderMode();
  const status = document.getElementById("supervisor-status");
  status.textContent = !supervisor ? "no supervisor (add ?supervisor=URL for kill / restart)"
    : supervisorReachable ? `supervisor ${supervisor}` : `supervisor ${supervisor} unreachable`;
  // The supervisor serves `make lecture`'s last report (404 until a run wrote one).
  const lecture = document.getElementById("lecture-link");
  lecture.hidden = !supervisor || !supervisorReachable;
  if (supervisor) lecture.href = `${supervisor}/lecture/report.html`;
  const container = document.getElementById("nodes");
  for (const node of sortedNodes()) renderNode(container, node);
  renderTopology();
  renderElections();
  renderRequests();
  setHTML(document.getElementById("timeline"), timeline.map((entry) =>
    `<li class="${entry.kind}"><span class="time">${clock(entry.time)}</span>${esc(entry.text)}</li>`
  ).join(""));
}

function renderMode() {
  const modes = new Set();
  for (const node of nodes.values()) {
    if (node.state && node.state.replication) modes.add(node.state.replication);
  }
  const banner = document.getElementById("mode-banner");
  const foreign = [...modes].filter((mode) => mode !== "raft");
  banner.hidden = foreign.length === 0;
  banner.className = "banner loud";
  banner.textContent = foreign.length ? `replication mode: ${foreign.join(", ")} — NOT Raft: ` +
    "this is the lecture's foil; split brain, stale reads and lost writes are expected" : "";
}

function showError(text) {
  const element = document.getElementById("page-error");
  element.hidden = !text;
  element.textContent = text;
}

function renderNode(container, node) {
  if (!node.dom) {
    node.dom = document.createElement("div");
    node.dom.className = "node";
    node.dom.dataset.nodeId = String(node.id);
    node.dom.innerHTML = '<h3><span class="name"></span><span class="role"></span></h3>' +
      '<div class="status"></div><div class="facts"></div><div class="peers"></div>' +
      '<div class="log"></div><div class="faults"></div><div class="buttons"></div>';
    container.appendChild(node.dom);
  }
  const state = node.state;
  const dom = node.dom;
  const role = node.reachable && state ? state.role : "unreachable";
  dom.dataset.role = role;
  dom.dataset.reachable = String(node.reachable);
  dom.querySelector(".name").textContent = `node ${node.id}`;
  dom.querySelector(".role").textContent = role;
  let status = "";
  if (!node.reachable) {
    status = node.http ? `unreachable since ${clock(node.downSince || Date.now())}` +
      (node.everReached ? " (showing what it said last)" : "")
      : "unreachable: its HTTP address is unknown (give --member its third address)";
  } else if (state && state.failed) {
    status = `storage failed: ${state.failure_reason || ""}`;
  }
  if (node.supervised && node.supervised.state !== "running") {
    status += ` — supervisor: ${node.supervised.state}`;
  }
  dom.querySelector(".status").textContent = status;
  setHTML(dom.querySelector(".facts"), state ? facts(node, state) : "");
  setHTML(dom.querySelector(".peers"), state ? peerTable(node, state) : "");
  setHTML(dom.querySelector(".log"), state ? logTable(state) : "");
  setHTML(dom.querySelector(".faults"), state ? activeFaults(state) : "");
  setHTML(dom.querySelector(".buttons"), buttons(node));
}

function facts(node, state) {
  const fact = (name, value) => `<span>${name} <b>${esc(value)}</b></span>`;
  return [
    fact("term", state.term), fact("voted for", state.voted_for || "—"),
    fact("leader", state.leader_id || "—"), fact("commit", state.commit),
    fact("applied", state.applied), fact("last", state.last_index),
  ].join("") + `<span class="addresses" style="grid-column: 1 / -1">client ${esc(node.client || "?")}` +
    ` · http ${esc(node.http || "?")} · ${esc(state.replication || "raft")}</span>`;
}

function peerTable(node, state) {
  const rows = (state.members || []).filter((m) => !m.self).map((member) => {
    const rate = node.rates[member.id] || { sent: 0, received: 0 };
    const link = member.connected ? '<span class="up">up</span>' : '<span class="down-text">down</span>';
    const progress = member.match !== undefined ? `${member.match} / ${member.next}` : "";
    return `<tr data-peer="${member.id}"><td>${member.id}${member.voter ? "" : " (learner)"}</td>` +
      `<td>${link}</td><td>${rate.sent.toFixed(0)}/s</td><td>${rate.received.toFixed(0)}/s</td>` +
      `<td>${progress}</td></tr>`;
  });
  return `<table><tr><th>peer</th><th>link</th><th>sent</th><th>received</th>` +
    `<th>${state.role === "leader" ? "match / next" : ""}</th></tr>${rows.join("")}</table>`;
}

function logTable(state) {
  const entries = (state.log || []).slice(-LOG_ROWS).reverse();
  const rows = entries.map((entry) => {
    const classes = [entry.index > state.commit ? "uncommitted" : "",
      entry.index > state.applied ? "unapplied" : ""].join(" ");
    return `<tr class="${classes}"><td class="index">${entry.index}</td><td>${entry.term}</td>` +
      `<td class="command" title="${esc(entry.command)}">${esc(entry.command)}</td></tr>`;
  });
  return `<table><tr><th>index</th><th>term</th><th>command (log tail)</th></tr>${rows.join("")}</table>`;
}

function activeFaults(state) {
  const faults = state.faults || {};
  if (!faults.enabled) return "";
  const active = (faults.active || []).map((f) => esc(typeof f === "string" ? f : describeFault(f)));
  return `<div>faults: ${active.length ? active.join("; ") : "none active"}</div>`;
}

// {"action":"delay","peer":2,"direction":"out","ms":200,"dropped_out":3,...} in words.
function describeFault(fault) {
  const amount = fault.ms !== undefined ? ` ${fault.ms} ms` : fault.percent !== undefined
    ? ` ${fault.percent}%` : "";
  const dropped = (fault.dropped_in || 0) + (fault.dropped_out || 0);
  return `${fault.action}${amount} ${fault.direction || "both"} ${fault.peer === "all" ? "all" : "→ " + fault.peer}` +
    (dropped ? ` (${dropped} dropped)` : "");
}

function buttons(node) {
  const parts = [];
  const id = node.id;
  if (supervisor) {
    const state = node.supervised ? node.supervised.state : "";
    parts.push(`<button class="danger" data-action="kill" data-node="${id}">kill</button>`);
    parts.push(`<button data-action="restart" data-node="${id}">restart</button>`);
    parts.push(state === "paused"
      ? `<button data-action="resume" data-node="${id}">resume</button>`
      : `<button data-action="pause" data-node="${id}">pause</button>`);
  }
  const state = node.state;
  if (node.reachable && state && state.faults && state.faults.enabled) {
    parts.push(`<button class="danger" data-action="cut" data-node="${id}" data-peer="all">cut off</button>`);
    parts.push(`<button data-action="heal" data-node="${id}" data-peer="all">heal</button>`);
    for (const member of (state.members || []).filter((m) => !m.self)) {
      parts.push(`<div class="link-controls" data-link="${member.id}">link to ${member.id}: ` +
        `<button data-action="cut" data-node="${id}" data-peer="${member.id}" data-direction="out">cut out</button>` +
        `<button data-action="cut" data-node="${id}" data-peer="${member.id}" data-direction="in">cut in</button>` +
        `<input class="ms" type="number" min="0" value="200" title="ms">` +
        `<button data-action="delay" data-node="${id}" data-peer="${member.id}">delay</button>` +
        `<input class="percent" type="number" min="0" max="100" value="30" title="%">` +
        `<button data-action="loss" data-node="${id}" data-peer="${member.id}">loss</button>` +
        `<button data-action="heal" data-node="${id}" data-peer="${member.id}">heal</button></div>`);
    }
  }
  return parts.join("");
}

function renderTopology() {
  const svg = document.getElementById("topology");
  const list = sortedNodes();
  const center = { x: 210, y: 150 };
  const radius = list.length > 1 ? 105 : 0;
  const place = new Map();
  list.forEach((node, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / list.length;
    place.set(node.id, { x: center.x + radius * Math.cos(angle), y: center.y + radius * Math.sin(angle) });
  });
  const phase = (Date.now() % 1000) / 1000;
  let html = "";
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i];
      const b = list[j];
      const up = linkUp(a, b) || linkUp(b, a);
      const injected = faultCuts(a, b.id) || faultCuts(b, a.id);
      const p = place.get(a.id);
      const q = place.get(b.id);
      const style = !up ? " cut" : injected ? " injected" : "";
      html += `<line class="link${style}" x1="${p.x}" y1="${p.y}" x2="${q.x}" y2="${q.y}"/>`;
      if (up) html += dots(p, q, rateOf(a, b.id), phase) + dots(q, p, rateOf(b, a.id), phase);
    }
  }
  for (const node of list) {
    const p = place.get(node.id);
    const role = node.reachable && node.state ? node.state.role : "down";
    const colour = { leader: "var(--leader)", candidate: "var(--candidate)",
      "pre-candidate": "var(--candidate)", follower: "var(--follower)" }[role] || "var(--down)";
    const label = node.reachable && node.state ? `${role} · t${node.state.term}` : "unreachable";
    html += `<circle cx="${p.x}" cy="${p.y}" r="26" fill="${colour}"/>` +
      `<text x="${p.x}" y="${p.y + 5}" text-anchor="middle" fill="#fff" font-weight="bold">${node.id}</text>` +
      `<text x="${p.x}" y="${p.y + 44}" text-anchor="middle">${esc(label)}</text>`;
  }
  svg.innerHTML = html;
}

// Does node's fault point cut (one way or both) its link to peer? The TCP link stays up.
function faultCuts(node, peer) {
  const faults = node.reachable && node.state && node.state.faults;
  return Boolean(faults && (faults.active || []).some((f) =>
    f.action === "cut" && (f.peer === peer || f.peer === "all")));
}

function linkUp(a, b) {
  if (!a.reachable || !a.state) return false;
  const member = (a.state.members || []).find((m) => m.id === b.id);
  return Boolean(member && member.connected);
}

function rateOf(node, peer) {
  return node.reachable && node.rates[peer] ? node.rates[peer].sent : 0;
}

// Up to three dots from p toward q, moving with the clock, when messages flow that way.
function dots(p, q, rate, phase) {
  if (rate <= 0) return "";
  const count = rate > 40 ? 3 : rate > 10 ? 2 : 1;
  let html = "";
  for (let k = 0; k < count; k++) {
    const t = (phase + k / count) % 1;
    html += `<circle class="dot" r="3.5" cx="${p.x + (q.x - p.x) * t}" cy="${p.y + (q.y - p.y) * t}"/>`;
  }
  return html;
}

function renderElections() {
  const seen = new Map();
  for (const node of nodes.values()) {
    for (const election of (node.state && node.state.elections) || []) {
      if (!election.leader) continue;
      const key = `${election.term}:${election.leader}`;
      const entry = seen.get(key) || { term: election.term, leader: election.leader,
        time: election.time_ms, witnesses: [] };
      entry.time = Math.min(entry.time, election.time_ms);
      entry.witnesses.push(node.id);
      seen.set(key, entry);
    }
  }
  const list = [...seen.values()].sort((a, b) => b.term - a.term || b.time - a.time);
  setHTML(document.getElementById("elections"), list.map((e) =>
    `<li><span class="time">${clock(e.time)}</span>term ${e.term}: node ${e.leader} elected ` +
    `<span class="muted">(seen by ${e.witnesses.sort().join(", ")})</span></li>`).join(""));
}

function renderRequests() {
  const all = [];
  for (const node of nodes.values()) {
    for (const request of (node.state && node.state.requests) || []) {
      all.push({ node: node.id, ...request });
    }
  }
  all.sort((a, b) => (b.stages.received || 0) - (a.stages.received || 0));
  if (all.length === 0) {
    const any = sortedNodes().find((node) => node.client);
    const [host, port] = any ? any.client.split(/:(?=\d+$)/) : ["127.0.0.1", "6379"];
    setHTML(document.getElementById("requests"), `<li class="muted">none yet: try ` +
      `<code>redis-cli -c -h ${esc(host)} -p ${esc(port)} SET favorite_food pickles</code></li>`);
    return;
  }
  const order = ["received", "redirected", "proposed", "committed", "applied", "answered"];
  setHTML(document.getElementById("requests"), all.slice(0, REQUEST_ROWS).map((request) => {
    const start = request.stages.received || 0;
    const stages = order.filter((stage) => request.stages[stage]).map((stage) =>
      `<span class="stage ${stage}">${stage} +${request.stages[stage] - start} ms</span>`).join("");
    return `<li><span class="time">${clock(start)}</span>node ${request.node}: ` +
      `<code>${esc(request.command)}</code> ${stages} ${esc(request.outcome || "")}</li>`;
  }).join(""));
}

setInterval(watchdog, 1000);
setInterval(() => { if (supervisor) pollSupervisor(); }, SUPERVISOR_POLL_MS);
setInterval(renderTopology, 200); // the dots move between events too
bootstrap();
pollSupervisor();
