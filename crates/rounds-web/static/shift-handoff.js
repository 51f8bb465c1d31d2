// Shift hand-off of a list from one person to another, on the list page
// (that list's hand-offs, and starting one) and on "My tasks" (every open
// hand-off you give or receive; all of them for an owner). The giver marks
// patients ready, the receiver acknowledges them one by one or all at
// once; the hand-off stays here, for both and the owners, until the last
// patient is acknowledged. Kept live through the team's feed.
import { el, api, sentence, fmtTime, readJsonAttr } from "/static/rounds.js";

const root = document.getElementById("shift-handoff");
if (root) start(root);

function start(root) {
  const team = root.dataset.team;
  const list = root.dataset.list || "";
  const me = root.dataset.me;
  const isOwner = root.dataset.owner === "true";
  const members = readJsonAttr(root, "data-members", []);
  const apiTeam = `/api/v1/teams/${team}`;
  const board = el("div", { class: "shift-handoffs" });
  const msg = el("p", { class: "form-msg", role: "status", "aria-live": "polite" });
  let current = [];

  function say(text, error) {
    msg.className = error ? "form-msg error" : "form-msg";
    msg.textContent = text;
  }

  async function step(h, what, body) {
    try {
      await api("POST", `${apiTeam}/handoffs/${h.id}/${what}`, { baseVersion: h.version, ...body });
      say("");
    } catch (e) {
      say(e.status === 409 ? `${sentence(e.message)} The hand-off is shown as it is now.` : sentence(e.message), true);
    }
    await load();
  }

  function patientItem(h, p, giver, receiver) {
    const state = p.acknowledgedAt
      ? `Acknowledged ${fmtTime(p.acknowledgedAt)}`
      : p.readyAt
        ? `Ready ${fmtTime(p.readyAt)} — waiting for ${h.receiverName}`
        : "Not ready yet";
    const cls = p.acknowledgedAt ? "acked" : p.readyAt ? "ready" : "waiting";
    const label = p.name || "(no name)";
    return el(
      "li",
      { class: `handoff-patient ${cls}`, "data-patient": p.patientId },
      el(
        "span",
        { class: "handoff-who" },
        el("a", { href: `/teams/${team}/patients/${p.patientId}` }, label),
        p.location ? el("span", { class: "muted" }, ` · ${p.location}`) : null,
      ),
      el("span", { class: "handoff-state" }, state),
      giver && !p.readyAt
        ? el("button", { type: "button", class: "small", "aria-label": `Mark ${label} ready`, onclick: () => step(h, "ready", { patientIds: [p.patientId] }) }, "Mark ready")
        : null,
      receiver && p.readyAt && !p.acknowledgedAt
        ? el("button", { type: "button", class: "small primary", "aria-label": `Acknowledge ${label}`, onclick: () => step(h, "acknowledge", { patientIds: [p.patientId] }) }, "Acknowledge")
        : null,
    );
  }

  function handoffCard(h) {
    const giver = h.giverId === me;
    const receiver = h.receiverId === me;
    const title = giver
      ? `You are handing ${h.listName} to ${h.receiverName}`
      : receiver
        ? `${h.giverName} is handing ${h.listName} to you`
        : `${h.giverName} is handing ${h.listName} to ${h.receiverName}`;
    const n = h.patients.length;
    const waitingAck = h.patients.some((p) => p.readyAt && !p.acknowledgedAt);
    return el(
      "article",
      { class: "shift-handoff card", "data-handoff": h.id, "aria-label": title },
      el("h2", {}, title),
      el("p", { class: "handoff-count" }, `Open: ${h.acknowledged} of ${n} acknowledged, ${h.ready} of ${n} ready · started ${fmtTime(h.startedAt)}`),
      el("ol", { class: "plain handoff-patients" }, h.patients.map((p) => patientItem(h, p, giver, receiver))),
      el(
        "div",
        { class: "handoff-actions" },
        giver && h.ready < n ? el("button", { type: "button", onclick: () => step(h, "ready", { all: true }) }, "Mark all ready") : null,
        receiver && waitingAck ? el("button", { type: "button", class: "primary", onclick: () => step(h, "acknowledge", { all: true }) }, "Acknowledge all ready") : null,
        giver || isOwner
          ? el("button", { type: "button", class: "link handoff-cancel", onclick: () => confirm("Cancel this hand-off?") && api("POST", `${apiTeam}/handoffs/${h.id}/cancel`, { baseVersion: h.version }).then(load, (e) => say(sentence(e.message), true)) }, "Cancel hand-off")
          : null,
      ),
    );
  }

  function startForm() {
    const others = members.filter((m) => m.userId !== me);
    if (!list || !others.length || current.some((h) => h.giverId === me)) return null;
    const select = el("select", { name: "receiver", id: "handoff-receiver", required: true }, others.map((m) => el("option", { value: m.userId }, m.displayName)));
    const form = el(
      "form",
      {
        class: "row handoff-start",
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            await api("POST", `${apiTeam}/lists/${list}/handoffs`, { receiverId: select.value });
            say("Hand-off started: mark each patient ready when you have told them about it.");
          } catch (err) {
            say(sentence(err.message), true);
          }
          await load();
        },
      },
      el("label", { for: "handoff-receiver" }, "Hand this list to "),
      select,
      el("button", { type: "submit" }, "Start hand-off"),
    );
    return el("details", { class: "handoff-new" }, el("summary", {}, "Shift hand-off…"), form);
  }

  async function load() {
    try {
      current = await api("GET", `${apiTeam}/handoffs${list ? `?listId=${encodeURIComponent(list)}` : ""}`);
    } catch (e) {
      say(`Hand-offs could not be loaded: ${sentence(e.message)}`, true);
      return { ok: false, status: e.status || 0 };
    }
    board.replaceChildren(...current.map(handoffCard));
    // Starting one is among the list's other actions (the More menu on a
    // phone), so the list keeps its room; it is kept open across redraws.
    const before = document.querySelector(".handoff-new");
    const wasOpen = Boolean(before && before.open);
    if (before) before.remove();
    const form = startForm();
    if (form) form.open = wasOpen;
    const host = document.querySelector("#list-more .list-more-box");
    if (form && host) host.append(form);
    root.replaceChildren(board, ...(form && !host ? [form] : []), msg);
    root.hidden = !current.length && !(form && !host) && !msg.textContent;
    return { ok: true };
  }

  // The team's feed is followed once per browser, by alerts.js, which
  // passes its events on (a page holds few connections to the server).
  document.addEventListener("rounds:team-event", (e) => {
    const { team: from, kind, data } = e.detail || {};
    if (from !== team) return;
    if (kind === "ready" || (kind === "shiftHandoffChanged" && (!list || (data && data.listId === list)))) load();
  });
  load();
}
