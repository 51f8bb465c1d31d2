// Urgent notes on every signed-in page. For each of the person's teams it
// follows the team's feed; an urgent note addressed to them shows as an
// alert at the top of the page until it is acknowledged ("Seen — I'll
// handle it"), by them or anyone else addressed. A new alert, and each
// re-notification, also sounds (unless turned off here) and raises a
// browser notification where the person allowed it. On a list page the
// team's open urgent notes stand at the top of the list (#urgent-board).
import { el, api, sentence, fmtTime, fmtDateTime } from "/static/rounds.js";
import { LiveFeed } from "/static/live.js";

const box = document.getElementById("alerts");
const board = document.getElementById("urgent-board");
const SOUND_KEY = "rounds.alertSound";
const open = new Map(); // team id → the team's open urgent notes
const heard = new Map(); // note id → repeats last sounded for
let teamNames = new Map();

const soundOn = () => localStorage.getItem(SOUND_KEY) !== "off";

function beep() {
  if (!soundOn()) return;
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const tone = (at, freq) => {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = freq;
      g.gain.setValueAtTime(0.25, ctx.currentTime + at);
      g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + at + 0.25);
      o.connect(g).connect(ctx.destination);
      o.start(ctx.currentTime + at);
      o.stop(ctx.currentTime + at + 0.3);
    };
    tone(0, 880);
    tone(0.35, 660);
    setTimeout(() => ctx.close(), 1200);
  } catch (e) {
    // No sound here: the alert on the page still stands.
  }
}

function notify(u) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(`Urgent: ${u.patientName || "a patient"}`, { body: u.note.body, tag: `urgent-${u.note.id}`, renotify: true, requireInteraction: true });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch (e) {
    // Some browsers only notify from a service worker: the page alert stays.
  }
}

function audience(u) {
  const x = u.urgent;
  const base = x.audience === "team" ? "the team" : x.audience === "owners" ? "the owners" : "named members";
  return x.escalatedAt ? `${base}, escalated to the owners` : base;
}

async function acknowledge(team, u, button) {
  button.disabled = true;
  button.textContent = "Saving…";
  try {
    await api("POST", `/api/v1/teams/${team}/notes/${u.note.id}/acknowledge`);
  } catch (e) {
    button.disabled = false;
    button.textContent = "Seen — I'll handle it";
    button.after(el("span", { class: "form-msg error", text: ` ${sentence(e.message)}` }));
    return;
  }
  await refresh(team);
}

function ackButton(team, u) {
  const b = el("button", { type: "button", class: "ack", text: "Seen — I'll handle it" });
  b.addEventListener("click", () => acknowledge(team, u, b));
  return b;
}

function patientLink(team, u) {
  return el("a", { href: `/teams/${team}/patients/${u.note.patientId}`, text: u.patientName || "(patient)" });
}

function alertCard(team, u) {
  const x = u.urgent;
  const card = el("section", { class: x.escalatedAt ? "alert-urgent escalated" : "alert-urgent", role: "alert", "data-note": u.note.id, "aria-label": `Urgent note about ${u.patientName}` });
  card.append(
    el("h2", {}, "Urgent · ", patientLink(team, u), u.location ? el("span", { class: "muted", text: ` · ${u.location}` }) : "", teamNames.size > 1 ? ` · ${teamNames.get(team) || ""}` : ""),
    el("p", { class: "alert-body", text: u.note.body }),
    el(
      "p",
      { class: "muted" },
      `${u.note.authorName} · `,
      el("time", { datetime: u.note.createdAt, title: fmtDateTime(u.note.createdAt), text: fmtTime(u.note.createdAt) }),
      ` · to ${audience(u)}`,
      x.repeats ? ` · alerted again ${x.repeats}×` : "",
    ),
    el("div", { class: "alert-acts" }, ackButton(team, u)),
  );
  return card;
}

function tools() {
  const wrap = el("div", { class: "alerts-tools" });
  const sound = el("button", { type: "button", class: "small", "aria-pressed": String(soundOn()), text: soundOn() ? "Alert sound: on" : "Alert sound: off" });
  sound.addEventListener("click", () => {
    localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
    render();
  });
  wrap.append(sound);
  if ("Notification" in window && Notification.permission === "default") {
    const ask = el("button", { type: "button", class: "small", text: "Allow desktop notifications" });
    ask.addEventListener("click", async () => {
      await Notification.requestPermission();
      render();
    });
    wrap.append(ask);
  }
  return wrap;
}

/**
 * Marks the list's rows (table rows and phone cards) of patients with an
 * open urgent note: a tag beside the name that leads to the note at the
 * top of the list. Drawn again after every render of the rows.
 */
function markRows() {
  if (!board) return;
  const count = new Map();
  for (const u of open.get(board.dataset.team) || []) count.set(u.note.patientId, (count.get(u.note.patientId) || 0) + 1);
  for (const tr of document.querySelectorAll("#plist tbody tr[data-patient]")) {
    const n = count.get(tr.dataset.patient) || 0;
    let tag = tr.querySelector(".urgent-row-tag");
    tr.classList.toggle("has-urgent", n > 0);
    if (!n) {
      if (tag) tag.remove();
      continue;
    }
    const line = tr.querySelector(".pin-line");
    if (!line) continue;
    if (!tag) {
      tag = el("a", { class: "urgent-tag urgent-row-tag", href: "#urgent-board" });
      tag.addEventListener("click", (e) => {
        e.preventDefault();
        board.scrollIntoView({ block: "start" });
        const first = board.querySelector("a, button");
        if (first) first.focus({ preventScroll: true });
      });
      line.append(tag);
    }
    const words = n > 1 ? `URGENT ×${n}` : "URGENT";
    if (tag.dataset.words !== words) {
      tag.dataset.words = words;
      tag.replaceChildren(words, el("span", { class: "sr", text: n > 1 ? " notes not yet acknowledged" : " note not yet acknowledged" }));
    }
  }
}
document.addEventListener("rounds:rows", markRows);

function render() {
  markRows();
  const cards = [];
  for (const [team, items] of open) {
    for (const u of items) if (u.urgent.toMe) cards.push(alertCard(team, u));
  }
  box.replaceChildren(...cards, ...(cards.length ? [tools()] : []));
  box.hidden = !cards.length;
  if (board) {
    const items = open.get(board.dataset.team) || [];
    board.hidden = !items.length;
    board.replaceChildren(
      ...(items.length
        ? [
            el("h2", { text: `Urgent, not yet acknowledged (${items.length})` }),
            el(
              "ul",
              {},
              ...items.map((u) =>
                el(
                  "li",
                  { "data-note": u.note.id },
                  el("span", { class: "urgent-tag", text: "URGENT" }),
                  " ",
                  el("strong", {}, patientLink(board.dataset.team, u)),
                  ` — ${u.note.body} `,
                  el("span", { class: "muted", text: `(${u.note.authorName}, ${fmtTime(u.note.createdAt)}, to ${audience(u)}${u.urgent.repeats ? `, alerted again ${u.urgent.repeats}×` : ""}${u.urgent.toMe ? "; for you: see the alert above" : ""})` }),
                ),
              ),
            ),
          ]
        : []),
    );
  }
}

/**
 * A new urgent note for me, from the event alone: shown (and sounded) at
 * once; the read that follows fills in the patient and the rest.
 */
function provisional(team, d) {
  if (d.action === "acknowledged" && open.has(team)) {
    // Gone from every screen at once; the read that follows confirms it.
    open.set(team, open.get(team).filter((u) => u.note.id !== d.noteId));
    render();
    return;
  }
  if (d.action !== "sent" || !d.body || !(d.to || []).includes(box.dataset.me)) return;
  const items = open.get(team) || [];
  if (items.some((u) => u.note.id === d.noteId)) return;
  const u = {
    note: { id: d.noteId, patientId: d.patientId, body: d.body, authorName: (d.by && d.by.name) || "", createdAt: new Date().toISOString() },
    urgent: { toMe: true, repeats: 0, audience: d.audience || "team", to: d.to },
    patientName: "",
    location: "",
  };
  open.set(team, [...items, u]);
  heard.set(d.noteId, 0);
  notify(u);
  render();
  beep();
}

/** Reads a team's open urgent notes again; sounds and notifies for what is new to me. */
async function refresh(team) {
  let items;
  try {
    items = await api("GET", `/api/v1/teams/${team}/urgent`);
  } catch (e) {
    return { ok: false, status: e.status || 0 };
  }
  open.set(team, items);
  let fresh = false;
  for (const u of items) {
    if (!u.urgent.toMe) continue;
    const before = heard.get(u.note.id);
    if (before === undefined || before < u.urgent.repeats) {
      heard.set(u.note.id, u.urgent.repeats);
      fresh = true;
      notify(u);
    }
  }
  render();
  if (fresh) beep();
  document.dispatchEvent(new CustomEvent("rounds:urgent", { detail: { team, items } }));
  return { ok: true };
}

/**
 * After an event about one urgent note: that note alone is read (not every
 * open note again), and merged. An acknowledged or deleted note leaves at
 * once without a read.
 */
async function refreshNote(team, d) {
  const items = open.get(team);
  if (!items) return refresh(team);
  const drop = () => {
    open.set(team, (open.get(team) || []).filter((u) => u.note.id !== d.noteId));
    render();
    document.dispatchEvent(new CustomEvent("rounds:urgent", { detail: { team, items: open.get(team) } }));
  };
  if (d.action === "acknowledged" || d.action === "deleted") return drop();
  let u;
  try {
    u = await api("GET", `/api/v1/teams/${team}/urgent/${d.noteId}`);
  } catch (e) {
    if (e.status === 404) return drop();
    return;
  }
  if (u.urgent.acknowledgedAt) return drop();
  const rest = (open.get(team) || []).filter((x) => x.note.id !== u.note.id);
  open.set(team, [...rest, u].sort((a, b) => (a.urgent.sentAt < b.urgent.sentAt ? -1 : a.urgent.sentAt > b.urgent.sentAt ? 1 : 0)));
  let fresh = false;
  if (u.urgent.toMe) {
    const before = heard.get(u.note.id);
    if (before === undefined || before < u.urgent.repeats) {
      heard.set(u.note.id, u.urgent.repeats);
      fresh = true;
      notify(u);
    }
  }
  render();
  if (fresh) beep();
  document.dispatchEvent(new CustomEvent("rounds:urgent", { detail: { team, items: open.get(team) } }));
}

/** What a team feed said: the same in the tab that follows it and in the others. */
function heardOf(team, kind, d) {
  // Other parts of the page (shift-handoff.js) hear the team feed from here:
  // a browser follows each team's feed once.
  document.dispatchEvent(new CustomEvent("rounds:team-event", { detail: { team, kind, data: d } }));
  if (kind === "ready") refresh(team);
  else if (kind === "urgentChanged") {
    provisional(team, d);
    refreshNote(team, d);
  } else if (kind === "noteChanged" && (open.get(team) || []).some((u) => u.note.id === d.noteId)) {
    // An open urgent note was edited or deleted: that one is read again.
    refreshNote(team, { noteId: d.noteId, action: d.action === "deleted" ? "deleted" : "changed" });
  }
}

/**
 * Follows each team's feed. Browsers allow a few connections per server
 * (six over HTTP/1.1), and every list or patient page holds one already:
 * so only one tab of the browser follows the team feeds (it holds a Web
 * Lock) and passes what it hears to the other tabs (BroadcastChannel);
 * when it closes, another tab takes over.
 */
async function start() {
  if (!box) return;
  let teams;
  try {
    teams = await api("GET", "/api/v1/teams");
  } catch (e) {
    return;
  }
  teamNames = new Map(teams.map((t) => [t.id, t.name]));
  const channel = "BroadcastChannel" in window ? new BroadcastChannel(`rounds-alerts-${box.dataset.me}`) : null;
  const follow = () => {
    for (const t of teams) {
      const pass = (kind) => (d) => {
        heardOf(t.id, kind, d);
        if (channel) channel.postMessage({ team: t.id, kind, data: d });
      };
      const feed = new LiveFeed({
        path: `/api/v1/teams/${t.id}/events`,
        kinds: ["shiftHandoffChanged"],
        handlers: {
          // Resume from here after a reconnect (the feed may have no event of ours yet).
          ready: (d) => {
            if (d && d.lastEventId != null && !feed.lastId) feed.lastId = String(d.lastEventId);
            pass("ready")(d);
          },
          urgentChanged: pass("urgentChanged"),
          noteChanged: pass("noteChanged"),
          shiftHandoffChanged: pass("shiftHandoffChanged"),
          other: () => {},
          ended: () => {},
        },
        reload: () => refresh(t.id),
      });
      feed.start();
    }
  };
  if (channel && navigator.locks) {
    channel.onmessage = (m) => m.data && heardOf(m.data.team, m.data.kind, m.data.data);
    for (const t of teams) refresh(t.id);
    // Held until this tab goes away.
    navigator.locks.request(`rounds-alerts-${box.dataset.me}`, () => {
      follow();
      return new Promise(() => {});
    });
  } else {
    follow();
  }
}

start();
