// The team page: the EHR connection's name and health in its card.
import { el, api } from "/static/rounds.js";
import { healthText } from "/static/ehr.js";

const card = document.getElementById("ehr-card");
if (card) {
  const line = document.getElementById("ehr-summary");
  api("GET", `/api/v1/teams/${card.dataset.team}/ehr-connection`)
    .then((c) => {
      if (!c || !c.connected) {
        line.replaceChildren(el("span", { class: "ehr-dot unknown", "aria-hidden": "true" }), "Not connected: patients are typed in by hand.");
        return;
      }
      const [state, text] = healthText(c.health);
      if (card.dataset.owner === "true") document.getElementById("ehr-link").textContent = "Change the EHR connection";
      line.replaceChildren(el("span", { class: `ehr-dot ${state}`, "aria-hidden": "true" }), el("strong", { text: c.name || "EHR" }), ` — ${text}`);
    })
    .catch(() => {
      line.textContent = "The connection’s state could not be loaded.";
    });
}

// The team's reference ranges for flagging vital signs: a small form for
// owners, a table for members.
const rangesCard = document.getElementById("ranges-card");
if (rangesCard) {
  const team = rangesCard.dataset.team;
  const owner = rangesCard.dataset.owner === "true";
  const body = document.getElementById("ranges-body");
  const msg = el("p", { class: "form-msg", role: "status" });
  const num = (v) => (v === null || v === undefined ? "" : String(v));

  function draw(answer) {
    const rows = answer.ranges.map((r) => {
      const input = (end) =>
        el("input", { type: "number", step: "any", inputmode: "decimal", name: `${r.vital}-${end}`, value: num(r.range && r.range[end]), "aria-label": `${r.name}, ${end} end (${r.unit})`, class: "range-input" });
      const def = r.default ? r.default.text : "none";
      return el(
        "tr",
        { "data-vital": r.vital },
        el("th", { scope: "row", text: r.name }),
        owner ? el("td", {}, input("low"), " – ", input("high"), ` ${r.unit}`) : el("td", { text: r.range ? r.range.text : "not flagged" }),
        el("td", { class: "muted", text: r.custom ? `team's own (default ${def})` : "default" }),
      );
    });
    const table = el("table", { class: "ranges" }, el("thead", {}, el("tr", {}, ["Sign", "Range", "Set by"].map((h) => el("th", { scope: "col", text: h })))), el("tbody", {}, rows));
    if (!owner) {
      body.replaceChildren(table);
      return;
    }
    const save = el("button", { type: "submit", text: "Save ranges" });
    const form = el("form", { class: "ranges-form", novalidate: true }, table, el("div", { class: "acts" }, save), msg);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const read = (name) => {
        const v = form.elements[name].value.trim();
        return v === "" ? null : Number(v);
      };
      const ranges = answer.ranges.map((r) => ({ vital: r.vital, low: read(`${r.vital}-low`), high: read(`${r.vital}-high`) }));
      save.disabled = true;
      msg.className = "form-msg";
      msg.textContent = "Saving…";
      try {
        const next = await api("PUT", `/api/v1/teams/${team}/vital-ranges`, { ranges });
        draw(next);
        msg.textContent = "Saved: every view flags against these ranges now.";
      } catch (err) {
        msg.className = "form-msg error";
        msg.textContent = err.message;
      } finally {
        save.disabled = false;
      }
    });
    body.replaceChildren(form);
  }

  api("GET", `/api/v1/teams/${team}/vital-ranges`)
    .then(draw)
    .catch(() => {
      body.textContent = "The reference ranges could not be loaded.";
    });
}
