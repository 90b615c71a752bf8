// The kauth agent's status page: fetches data.json (same origin, with the
// session cookie) every few seconds and draws it. It builds the page with
// DOM calls and textContent only: nothing it shows is parsed as HTML.
"use strict";

const REFRESH_MS = 5000;
let timer = null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function add(parent, ...children) {
  for (const c of children) if (c) parent.appendChild(c);
  return parent;
}

function human(sec) {
  sec = Math.max(0, Math.round(sec));
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + String(m).padStart(2, "0") + "m";
  if (m > 0) return m + "m" + (s ? " " + String(s).padStart(2, "0") + "s" : "");
  return s + "s";
}

// kst shows the clock time of an RFC 3339 time in +09:00 as it is written:
// the agent sends KST, whatever the browser's zone.
function kst(iso, withDate) {
  if (!iso) return "-";
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)/.exec(iso);
  if (!m) return iso;
  return (withDate ? m[2] + "-" + m[3] + " " : "") + m[4] + ":" + m[5] + ":" + m[6];
}

function pct(x, total) {
  if (!(total > 0)) return 0;
  return Math.min(100, Math.max(0, x / total * 100));
}

function place(e, left, width) {
  e.style.left = left + "%";
  if (width !== undefined) e.style.width = width + "%";
  return e;
}

function lifeCell(a) {
  const cell = add(el("div", "cell life"), el("div", "label", "Token life"));
  const L = a.life;
  if (!L) {
    add(cell, el("div", "big", a.token_state === "none" ? "no token yet" : a.token_state),
      el("div", "sub", "the keeper is getting one"));
    return cell;
  }
  const left = Math.max(0, L.total - L.elapsed);
  add(cell, el("div", "big", human(left) + " left"));
  const bar = el("div", "bar");
  bar.title = "issued " + kst(L.issued_at, true) + " KST, expires " + kst(a.expires_at, true) + " KST";
  add(bar,
    place(el("div", "elapsed"), 0, pct(L.elapsed, L.total)),
    place(el("div", "window"), pct(L.refresh_at, L.total), pct(L.usable_until - L.refresh_at, L.total)),
    place(el("div", "margin"), pct(L.usable_until, L.total), 100 - pct(L.usable_until, L.total)),
    place(el("div", "now"), pct(L.elapsed, L.total)));
  add(cell, bar);
  const leg = el("div", "legend");
  const item = (cls, text) => { const s = el("span", null); add(s, el("i", cls)); s.appendChild(document.createTextNode(text)); return s; };
  add(leg, item("l-left", "left"), item("l-window", "refresh ahead from " + kst(addSec(L.issued_at, L.refresh_at), true).slice(0, -3)),
    item("l-margin", "margin " + human(L.total - L.usable_until)));
  add(cell, leg);
  let sub = "expires " + kst(a.expires_at, true) + " KST";
  if (a.next_turnover) sub += " · turns over " + kst(a.next_turnover, true);
  add(cell, el("div", "sub", sub));
  return cell;
}

// addSec adds n seconds to an RFC 3339 time in +09:00 and returns it in
// the same form, without the browser's zone.
function addSec(iso, n) {
  const t = Date.parse(iso);
  if (isNaN(t)) return "";
  const d = new Date(t + n * 1000 + 9 * 3600 * 1000);
  return d.toISOString().replace(/\.\d+Z$/, "+09:00");
}

function timelineCell(a, nowSecond) {
  const cell = add(el("div", "cell today"), el("div", "label", "Today's issuances (KST)"));
  const tl = el("div", "timeline");
  add(tl, el("div", "axis"), place(el("div", "past"), 0, pct(nowSecond, 86400)));
  const hours = el("div", "hours");
  for (let h = 0; h <= 24; h += 3) {
    add(tl, place(el("div", "tick"), pct(h * 3600, 86400)));
    add(hours, place(el("span", null, String(h).padStart(2, "0")), pct(h * 3600, 86400)));
  }
  for (const i of a.today) {
    const m = place(el("div", "mark " + i.outcome), pct(i.second, 86400));
    m.title = kst(i.at) + " " + i.outcome + (i.code ? " " + i.code : "") + " — " + i.host + " pid " + i.pid;
    add(tl, m);
  }
  add(cell, tl, hours);
  let sub = a.issued_today + " issued · " + a.same_today + " same · " + a.failed_today + " failed";
  sub += a.next_issue ? " · next allowed " + kst(a.next_issue) : " · next allowed now";
  add(cell, el("div", "sub", sub));
  return cell;
}

function budgetCell(a) {
  const b = a.budget;
  const cell = add(el("div", "cell budget"), el("div", "label", "Call budget"));
  if (b.groups) {
    add(cell, el("div", "big", "per API group"), el("div", "sub", b.in_flight + " in flight"));
    return cell;
  }
  let sub = b.rate_limit + "/s · " + b.in_flight + " in flight here";
  if (b.in_use_unknown) {
    // A shared budget whose Redis is out of reach: no figure to show.
    add(cell, el("div", "big", "? / " + b.burst + " in use"));
    sub += b.fallback ? " · shared budget unreachable, on this agent's share" : " · shared budget unreadable";
    add(cell, el("div", "sub", sub));
    return cell;
  }
  const used = Math.round(b.in_use * 10) / 10;
  add(cell, el("div", "big", used + " / " + b.burst + " in use"));
  const meter = el("div", b.burst > 0 && b.in_use / b.burst > 0.8 ? "meter hot" : "meter");
  add(meter, place(el("div", null), 0, pct(b.in_use, b.burst)));
  add(cell, meter);
  sub += b.shared ? " · shared: all agents' calls" : " · this agent";
  add(cell, el("div", "sub", sub));
  return cell;
}

function realtimeCell(a) {
  const cell = add(el("div", "cell rt"), el("div", "label", "Real-time session"));
  const r = a.realtime;
  if (!r) {
    add(cell, el("div", "big", "none"), el("div", "sub", "opens when a bot connects to /ws/" + a.name));
    return cell;
  }
  add(cell, el("div", "big", r.connected ? "connected" : "reconnecting"));
  let sub = r.subscriptions + (r.limit ? " / " + r.limit : "") + " subscriptions · " + r.members + (r.members === 1 ? " client" : " clients");
  if (r.reconnects) sub += " · " + r.reconnects + " reconnects";
  add(cell, el("div", "sub", sub));
  return cell;
}

function accountCard(a, nowSecond) {
  const card = el("section", "acct s-" + a.token_state);
  card.dataset.account = a.name;
  const head = el("header");
  const fps = el("span", "fps mono", "app " + a.app + (a.token_fingerprint ? " · token " + a.token_fingerprint : ""));
  add(head, el("h2", "name", a.name), el("span", "badge", a.broker), el("span", "badge " + a.env, a.env),
    el("span", "pill " + a.token_state, a.token_state.replace("_", " ")), fps);
  add(card, head);
  add(card, add(el("div", "grid"), lifeCell(a), timelineCell(a, nowSecond), budgetCell(a), realtimeCell(a)));
  return card;
}

function summary(d) {
  const s = document.getElementById("summary");
  const count = (f) => d.accounts.filter(f).length;
  const stat = (n, label) => add(el("div", "stat"), el("b", null, n), el("span", null, label));
  s.replaceChildren(
    stat(d.accounts.length, "accounts"),
    stat(count(a => a.token_state === "valid" || a.token_state === "refresh_due"), "tokens usable"),
    stat(d.accounts.reduce((n, a) => n + a.issued_today, 0), "issued today"),
    stat(d.accounts.reduce((n, a) => n + a.failed_today, 0), "failed today"),
    stat(d.accounts.reduce((n, a) => n + (a.realtime ? a.realtime.subscriptions : 0), 0), "subscriptions"));
}

function events(d) {
  const body = document.getElementById("events");
  body.replaceChildren(...d.events.map(e => {
    const tr = el("tr");
    let detail = e.detail || "";
    if (!detail && e.expires_at) detail = "expires " + kst(e.expires_at, true);
    if (e.source) detail += (detail ? " · " : "") + "from " + e.source;
    add(tr, el("td", "mono", kst(e.at, true)), el("td", null, e.account),
      add(el("td"), el("span", "pill " + e.kind, e.kind.replace("_", " "))), el("td", "mono", e.token || ""), el("td", null, detail));
    return tr;
  }));
  document.getElementById("no-events").hidden = d.events.length > 0;
}

function draw(d) {
  const m = /T(\d\d):(\d\d):(\d\d)/.exec(d.now);
  const nowSecond = m ? (+m[1]) * 3600 + (+m[2]) * 60 + (+m[3]) : 0;
  document.getElementById("version").textContent = "version " + d.version;
  summary(d);
  const main = document.getElementById("accounts");
  if (d.accounts.length === 0) {
    main.replaceChildren(el("p", "muted", "This session shows no account."));
  } else {
    main.replaceChildren(...d.accounts.map(a => accountCard(a, nowSecond)));
  }
  events(d);
  document.getElementById("updated").textContent = "updated " + kst(d.now, true) + " KST";
  document.getElementById("live-dot").className = "dot on";
  document.getElementById("banner").hidden = true;
}

function trouble(text, stop) {
  const b = document.getElementById("banner");
  b.textContent = text;
  b.hidden = false;
  document.getElementById("live-dot").className = "dot off";
  if (stop && timer) { clearInterval(timer); timer = null; }
}

async function refresh() {
  try {
    const r = await fetch("/status/data.json", { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) {
      trouble("The session ended (12 hours passed, the agent restarted, or its keys changed). Run kauth open to start another.", true);
      return;
    }
    if (!r.ok) {
      trouble("The agent answered HTTP " + r.status + ".", false);
      return;
    }
    draw(await r.json());
  } catch (e) {
    trouble("The agent does not answer (stopped?). Retrying every few seconds.", false);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
});
