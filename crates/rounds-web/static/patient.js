// The patient page: fields edited like cells (with the conflict choice),
// and notes: add, and edit or delete one's own. In EHR mode, every section
// read from the EHR with its status, or linking a patient typed in by hand
// to their EHR record.
import { el, api, sentence, makeEditor, displayNode, readJsonAttr, fmtTime, fmtDateTime, showBanner } from "/static/rounds.js";
import { ago, makeEhrSearch, confirmLink, linkPatient } from "/static/ehr.js";

const root = document.getElementById("patient-app");
const TEAM = root.dataset.team;
const PATIENT = root.dataset.patient;
const ME = root.dataset.me;
const members = readJsonAttr(root, "data-members", []);
const columns = readJsonAttr(root, "data-columns", []);
const apiPatient = `/api/v1/teams/${TEAM}/patients/${PATIENT}`;

// Every field's value and version, as the page was rendered.
const fields = {};
const specs = {};
for (const f of root.querySelectorAll(".field")) {
  const key = f.dataset.key;
  fields[key] = { value: f.dataset.value || null, version: Number(f.dataset.version) };
  const col = columns.find((c) => c.key === key);
  const label = f.querySelector("dt").textContent;
  specs[key] = col
    ? { key, type: col.type, label, unit: col.unit, options: col.options || [], col }
    : { key, type: f.dataset.kind, label, max: key === "mrn" ? 64 : key === "family" || key === "given" ? 100 : 50 };
}

function show(key) {
  const box = root.querySelector(`.field[data-key="${CSS.escape(key)}"]`);
  const dd = box.querySelector("dd");
  dd.replaceChildren();
  const spec = specs[key];
  if (spec.col) dd.append(displayNode(spec.col, fields, null, members));
  else dd.append(fields[key] && fields[key].value ? fields[key].value : "");
  if (!dd.textContent) dd.append(el("span", { class: "muted", text: "—" }));
  dd.classList.add("editable");
  dd.tabIndex = 0;
  dd.setAttribute("role", "button");
  dd.setAttribute("aria-label", `${spec.label}: edit`);
}

function edit(key) {
  const box = root.querySelector(`.field[data-key="${CSS.escape(key)}"]`);
  const dd = box.querySelector("dd");
  if (dd.querySelector("form")) return;
  const form = makeEditor({
    specs: [specs[key]],
    fields,
    members,
    save: (edits) => api("PATCH", apiPatient, { fields: edits }),
    done: (saved) => {
      if (saved) for (const [k, v] of Object.entries(saved)) fields[k] = { value: v.value, version: v.version };
      show(key);
      dd.focus();
    },
  });
  dd.replaceChildren(form);
  dd.removeAttribute("role");
  dd.tabIndex = -1;
  form.focusFirst();
}

for (const key of Object.keys(fields)) {
  show(key);
  const dd = root.querySelector(`.field[data-key="${CSS.escape(key)}"] dd`);
  dd.addEventListener("click", (e) => {
    if (!dd.querySelector("form")) edit(key);
    e.stopPropagation();
  });
  dd.addEventListener("keydown", (e) => {
    if (e.target === dd && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      edit(key);
    }
  });
}

// ---------------------------------------------------------------- notes

const notesList = document.getElementById("notes");

function noteItem(n) {
  const li = el("li", { class: "note", "data-id": n.id });
  const body = el("p", { class: "note-body", text: n.body });
  li.append(
    el("p", { class: "note-meta" }, el("strong", { text: n.authorName }), " · ", el("time", { datetime: n.createdAt, title: fmtDateTime(n.createdAt), text: fmtTime(n.createdAt) }), n.edited ? " · edited" : ""),
    body,
  );
  if (n.authorId === ME) {
    const editBtn = el("button", { type: "button", class: "small", text: "Edit" });
    const confirm = el("details", { class: "confirm" }, el("summary", { text: "Delete…" }));
    const yes = el("button", { type: "button", class: "small danger", text: "Yes, delete this note" });
    confirm.append(yes);
    const acts = el("div", { class: "acts" }, editBtn, confirm);
    li.append(acts);
    yes.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/v1/teams/${TEAM}/notes/${n.id}`);
        await loadNotes();
      } catch (e) {
        showBanner(sentence(e.message));
      }
    });
    editBtn.addEventListener("click", () => {
      const area = el("textarea", { rows: 4, maxlength: 10000, value: n.body, "aria-label": "Note" });
      const msg = el("p", { class: "form-msg", role: "status" });
      const form = el("form", { class: "editor" }, area, el("div", { class: "editor-buttons" }, el("button", { type: "submit", class: "small primary", text: "Save" }), el("button", { type: "button", class: "small", text: "Cancel", onclick: () => loadNotes() })), msg);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          await api("PATCH", `/api/v1/teams/${TEAM}/notes/${n.id}`, { body: area.value, baseVersion: n.version });
          await loadNotes();
        } catch (err) {
          msg.className = "form-msg error";
          msg.textContent = err.code === "edit_conflict" ? "This note was changed meanwhile (in another window?). Your text is still here: copy it, then reload." : sentence(err.message);
        }
      });
      body.replaceWith(form);
      acts.remove();
      area.focus();
    });
  }
  return li;
}

async function loadNotes() {
  try {
    const notes = await api("GET", `${apiPatient}/notes`);
    notesList.replaceChildren(...(notes.length ? notes.map(noteItem) : [el("li", { class: "empty", text: "No notes yet." })]));
  } catch (e) {
    showBanner(`The notes could not be loaded: ${e.message}`);
  }
}

// Times as the reader's clock shows them; own notes get their buttons.
const rendered = [...notesList.querySelectorAll("li.note")].map((li) => ({
  id: li.dataset.id,
  version: Number(li.dataset.version),
  authorId: li.dataset.mine === "true" ? ME : "",
  authorName: li.querySelector(".note-meta strong").textContent,
  createdAt: li.querySelector("time").getAttribute("datetime"),
  edited: li.querySelector(".note-meta").textContent.includes("edited"),
  body: li.querySelector(".note-body").textContent,
}));
if (rendered.length) notesList.replaceChildren(...rendered.map(noteItem));

const noteForm = document.getElementById("note-form");
const noteMsg = document.getElementById("note-msg");
noteForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const area = noteForm.querySelector("textarea");
  if (!area.value.trim()) return;
  noteMsg.className = "form-msg";
  noteMsg.textContent = "Saving…";
  try {
    await api("POST", `${apiPatient}/notes`, { body: area.value });
    area.value = "";
    noteMsg.textContent = "Note added.";
    await loadNotes();
  } catch (err) {
    noteMsg.className = "form-msg error";
    noteMsg.textContent = sentence(err.message);
  }
});

// ---------------------------------------------------------------- EHR

const ehrCard = document.getElementById("ehr-card");
const grid = document.getElementById("patient-grid");

/** A field of the summary, camelCase or snake_case. */
function g(o, key) {
  if (!o) return undefined;
  if (o[key] !== undefined) return o[key];
  return o[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
}

const VITAL_NAMES = {
  "8867-4": "Heart rate", "85354-9": "Blood pressure", "55284-4": "Blood pressure", "9279-1": "Respiratory rate",
  "8310-5": "Temperature", "59408-5": "SpO₂", "2708-6": "SpO₂", "29463-7": "Weight", "8302-2": "Height",
  "39156-5": "BMI", "8287-5": "Head circumference",
};
const SYSTOLIC = "8480-6";
const DIASTOLIC = "8462-4";

function num(v) {
  if (v === null || v === undefined || v === "") return "";
  const n = Number(v);
  return isNaN(n) ? String(v) : n.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function measurementOf(item) {
  return g(item, "measurement") || item; // nested, or flattened into the item
}

function vitalValue(item) {
  const m = measurementOf(item);
  const comps = g(item, "components") || [];
  const sys = comps.find((c) => c.code === SYSTOLIC);
  const dia = comps.find((c) => c.code === DIASTOLIC);
  if (sys || dia) {
    const unit = (sys && sys.unit) || (dia && dia.unit) || "";
    return `${num(sys && sys.value) || "?"}/${num(dia && dia.value) || "?"}${unit ? ` ${unit}` : ""}`;
  }
  if (m.value === null || m.value === undefined) {
    return comps.map((c) => `${c.display || c.code}: ${num(c.value)}${c.unit ? ` ${c.unit}` : ""}`).join(", ") || "—";
  }
  return `${num(m.value)}${m.unit ? ` ${m.unit}` : ""}`;
}

function when(iso) {
  if (!iso) return null;
  const d = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? iso : fmtDateTime(iso);
  return el("time", { datetime: iso, title: fmtDateTime(iso) }, el("span", { class: /T/.test(iso) ? "full-date" : "", text: d }), /T/.test(iso) ? el("span", { class: "ehr-age", text: ago(iso) }) : null);
}

/** The status of a section in words, next to its title. */
function statusTag(sec) {
  const st = g(sec, "status");
  if (st === "partial") return el("span", { class: "tag partial", title: "The EHR has more than Rounds shows", text: `${g(sec, "shown")} of ${g(sec, "total")}` });
  if (st === "failed") return el("span", { class: "tag failed", text: "not read" });
  if (st === "missing") return el("span", { class: "tag missing", text: "not offered" });
  return null;
}

function section(key, title, sec, body) {
  const box = el("section", { class: "ehr-sec", "data-section": key }, el("h3", {}, el("span", { text: title }), statusTag(sec)));
  const st = g(sec, "status");
  if (!sec) box.append(el("p", { class: "muted", text: "Not read." }));
  else if (st === "failed") {
    box.append(el("p", { class: "ehr-reason failed", text: `Could not be read: ${g(sec, "reason") || "no reason given"}${g(sec, "retryable") ? " — this may work again shortly." : ""}` }));
  } else if (st === "missing") box.append(el("p", { class: "ehr-reason", text: sentence(g(sec, "reason") || "The EHR does not offer this.") }));
  else if (st === "empty" || !(sec.items || []).length) box.append(el("p", { class: "empty", text: "None recorded" }));
  else {
    try {
      box.append(body(sec.items));
    } catch (e) {
      box.append(el("p", { class: "ehr-reason failed", text: "This section could not be shown." }));
    }
  }
  const dropped = g(sec, "foreignDropped");
  if (dropped) box.append(el("p", { class: "muted small", text: `${dropped} record${dropped === 1 ? "" : "s"} of other patients sent by the EHR ${dropped === 1 ? "was" : "were"} left out.` }));
  return box;
}

/** A date as given; a date and time in local time. */
function day(v) {
  return v && /T/.test(v) ? fmtDateTime(v) : v;
}

function joined(...parts) {
  return parts.filter(Boolean).join(" · ");
}

function personName(pt) {
  const family = g(pt, "family");
  const given = (g(pt, "given") || []).join(" ");
  if (family && given) return `${family.toUpperCase()}, ${given}`;
  return (family || "").toUpperCase() || given || g(pt, "nameText") || "";
}

function renderSummary(s) {
  const pt = g(s, "patient") || {};
  const out = [];
  const age = g(s, "age");
  out.push(
    el(
      "section",
      { class: "ehr-sec", "data-section": "patient" },
      el("h3", { text: "Patient" }),
      el(
        "dl",
        { class: "ehr-facts" },
        [
          ["Name", personName(pt) || "(no name)"],
          ["Sex", g(pt, "gender")],
          ["Born", g(pt, "birthDate") ? `${g(pt, "birthDate")}${age != null ? ` (${age} years)` : ""}` : ""],
          ["MRN", g(pt, "mrn")],
          ["Location", g(s, "location")],
          ["GP", g(pt, "generalPractitioner")],
          ["EHR id", pt.id ? `Patient/${pt.id}` : ""],
        ]
          .filter(([, v]) => v)
          .map(([k, v]) => el("div", { "data-fact": k }, el("dt", { text: k }), el("dd", { text: v }))),
      ),
    ),
  );
  out.push(
    section("vitals", "Vital signs", g(s, "vitals"), (items) =>
      el(
        "table",
        { class: "ehr-vitals" },
        el("thead", {}, el("tr", {}, ["Sign", "Value", "When"].map((h) => el("th", { scope: "col", text: h })))),
        el(
          "tbody",
          {},
          items.map((it) => {
            const m = measurementOf(it);
            return el("tr", { "data-code": m.code }, el("td", { text: VITAL_NAMES[m.code] || m.display || m.code }), el("td", { class: "value" }, el("strong", { text: vitalValue(it) })), el("td", {}, when(g(it, "effective"))));
          }),
        ),
      ),
    ),
  );
  out.push(
    section("conditions", "Problems", g(s, "conditions"), (items) =>
      el(
        "ul",
        { class: "ehr-list" },
        items.map((c) => el("li", {}, el("strong", { text: g(c, "display") || "(unnamed)" }), el("span", { class: "muted", text: ` ${joined(g(c, "clinicalStatus"), g(c, "verificationStatus"), g(c, "severity"), g(c, "recorded") ? `recorded ${day(g(c, "recorded"))}` : "")}` }))),
      ),
    ),
  );
  out.push(
    section("encounter", "Last encounter", g(s, "encounter"), (items) =>
      el(
        "dl",
        { class: "ehr-facts" },
        items.flatMap((e) =>
          [
            ["Location", g(e, "location")],
            ["Last known", g(e, "lastLocation") ? `${g(g(e, "lastLocation"), "display")}${g(g(e, "lastLocation"), "until") ? ` until ${day(g(g(e, "lastLocation"), "until"))}` : ""}` : ""],
            ["Status", g(e, "status")],
            ["Type", g(e, "kind")],
            ["Since", g(e, "start")],
          ]
            .filter(([, v]) => v)
            .map(([k, v]) => el("div", { "data-fact": k }, el("dt", { text: k }), el("dd", {}, k === "Since" ? when(v) : v))),
        ),
      ),
    ),
  );
  out.push(
    section("allergies", "Allergies", g(s, "allergies"), (items) =>
      el(
        "ul",
        { class: "ehr-list" },
        items.map((a) => {
          const reactions = g(a, "reactions") || [];
          return el(
            "li",
            {},
            el("strong", { text: g(a, "substance") || "(unnamed)" }),
            el("span", { class: "muted", text: ` ${joined(g(a, "clinicalStatus"), g(a, "verificationStatus"), g(a, "recorded") ? `recorded ${day(g(a, "recorded"))}` : "")}` }),
            reactions.length ? el("div", { class: "ehr-sub", text: `Reactions: ${reactions.join(", ")}` }) : null,
            g(a, "note") ? el("div", { class: "ehr-sub muted", text: g(a, "note") }) : null,
          );
        }),
      ),
    ),
  );
  out.push(
    section("medications", "Medications", g(s, "medications"), (items) =>
      el(
        "ul",
        { class: "ehr-list" },
        items.map((m) => {
          const dosage = g(m, "dosage") || [];
          return el(
            "li",
            {},
            el("strong", { text: g(m, "medication") || "(unnamed)" }),
            el("span", { class: "muted", text: ` ${joined(g(m, "status"), g(m, "written") ? `from ${day(g(m, "written"))}` : "", g(m, "ended") ? `until ${day(g(m, "ended"))}` : "", g(m, "prescriber"))}` }),
            dosage.length ? el("div", { class: "ehr-sub", text: dosage.join("; ") }) : null,
          );
        }),
      ),
    ),
  );
  out.push(
    section("coverage", "Coverage", g(s, "coverage"), (items) =>
      el(
        "ul",
        { class: "ehr-list" },
        items.map((c) => {
          const period = [g(c, "periodStart"), g(c, "periodEnd")].some(Boolean) ? `${g(c, "periodStart") || "…"} to ${g(c, "periodEnd") || "…"}` : "";
          return el(
            "li",
            {},
            el("strong", { text: g(c, "plan") || g(c, "payor") || "(unnamed plan)" }),
            el("span", { class: "muted", text: ` ${joined(g(c, "plan") ? g(c, "payor") : "", g(c, "group") ? `group ${g(c, "group")}` : "", g(c, "subscriberId") ? `member ${g(c, "subscriberId")}` : "", period, g(c, "status"))}` }),
          );
        }),
      ),
    ),
  );
  const gp = g(pt, "generalPractitioner");
  out.push(
    el("section", { class: "ehr-sec", "data-section": "gp" }, el("h3", { text: "GP" }), gp ? el("p", { text: gp }) : el("p", { class: "empty", text: "None recorded" })),
  );
  return out;
}

let ehrPolls = 0;

async function loadEhr(refresh = false) {
  let p;
  let conn = null;
  try {
    [p, conn] = await Promise.all([api("GET", refresh ? `${apiPatient}?refresh=true` : apiPatient), api("GET", `/api/v1/teams/${TEAM}/ehr-connection`).catch(() => null)]);
  } catch (e) {
    showBanner(`The EHR data could not be loaded: ${e.message}`);
    return;
  }
  const ehr = p.ehr;
  if (!ehr) {
    if (conn && conn.connected) renderLinkCard(p, conn);
    return;
  }
  grid.classList.add("has-ehr");
  ehrCard.hidden = false;
  document.getElementById("details-title").textContent = "The team’s fields";
  const summary = ehr.summary;
  const head = el(
    "div",
    { class: "ehr-head" },
    el("h2", { id: "ehr-title" }, "From the EHR ", el("span", { class: "ehr-badge", text: "EHR" })),
    el(
      "p",
      { class: "muted small" },
      el("span", { text: joined(conn && conn.name ? conn.name : "", ehr.fetchedAt ? `read ${fmtTime(ehr.fetchedAt)}` : "") }),
      el("button", { type: "button", class: "small", id: "ehr-reload", text: "Read again", onclick: () => loadEhr(true) }),
      unlinkControl(),
    ),
  );
  const parts = [head];
  if (ehr.state === "otherServer") parts.push(el("p", { class: "ehr-reason failed", text: ehr.reason || "This patient was added from another EHR server than the team's current connection; their EHR data cannot be read." }));
  else if (ehr.state === "failed") parts.push(el("p", { class: "ehr-reason failed", text: `The EHR record could not be read: ${ehr.reason || "no reason given"}. The team’s fields and notes keep working.` }));
  if (summary) {
    parts.push(el("div", { class: "ehr-sections" }, renderSummary(summary)));
    const h1 = document.getElementById("patient-name");
    const nm = personName(g(summary, "patient"));
    if (nm && h1.firstChild && /^\(no name\)\s*$/.test(h1.firstChild.textContent)) h1.firstChild.textContent = `${nm} `;
  } else if (ehr.state === "pending" || !ehr.state || ehr.state === "ok") {
    parts.push(el("p", { class: "muted", text: "Still reading the EHR…" }));
    if (ehrPolls++ < 40) setTimeout(loadEhr, ehrPolls > 10 ? 5000 : 1500);
  }
  ehrCard.replaceChildren(...parts);
}

/** "Unlink…": the patient becomes one typed in by hand again (the team's fields and notes stay). */
function unlinkControl() {
  const yes = el("button", { type: "button", class: "small danger", text: "Yes, unlink from the EHR record" });
  const box = el("details", { class: "confirm" }, el("summary", { text: "Unlink…" }), el("p", { class: "small", text: "The patient stays on their lists with the team’s fields and notes, but shows no EHR data until linked again." }), yes);
  yes.addEventListener("click", async () => {
    try {
      await api("DELETE", `${apiPatient}/ehr-link`);
      location.reload();
    } catch (e) {
      showBanner(sentence(e.message));
    }
  });
  return box;
}

function renderLinkCard(p, conn) {
  ehrCard.hidden = false;
  ehrCard.classList.add("link-card");
  const lists = p.lists || [];
  const v = (k) => (p.fields && p.fields[k] && p.fields[k].value) || "";
  const name = (p.display && p.display.name) || document.getElementById("patient-name").firstChild.textContent.trim();
  const parts = [
    el("h2", { id: "ehr-title", text: "EHR" }),
    el("p", {}, `This patient was typed in by hand. If they have a record in the team’s EHR${conn.name ? ` (${conn.name})` : ""}, link it: its data then shows here and in the lists. The team’s fields and notes are kept.`),
  ];
  if (!lists.length) {
    parts.push(el("p", { class: "muted", text: "Put the patient on one of the team’s lists to search the EHR from here." }));
    ehrCard.replaceChildren(...parts);
    return;
  }
  const msg = el("p", { class: "form-msg", role: "status" });
  const search = makeEhrSearch({
    path: () => `/api/v1/teams/${TEAM}/lists/${lists[0].id}/ehr-search`,
    action: (r) => {
      if (r.patientId && r.patientId !== PATIENT) return el("span", { class: "muted small", text: "Already a patient of the team" });
      const b = el("button", { type: "button", class: "small primary", text: "Link…" });
      b.addEventListener("click", async () => {
        const manual = { name, mrn: v("mrn"), birthDate: v("birthDate"), gender: v("sex") };
        if (!(await confirmLink(manual, { name: r.name, mrn: r.mrn, birthDate: r.birthDate, gender: r.gender }))) return;
        b.disabled = true;
        msg.className = "form-msg";
        msg.textContent = "Linking…";
        try {
          await linkPatient(TEAM, PATIENT, r.ehrId);
          location.reload();
        } catch (e) {
          b.disabled = false;
          msg.className = "form-msg error";
          msg.textContent = sentence(e.message);
        }
      });
      return b;
    },
  });
  const box = el("div", { class: "link-search", hidden: true }, search.node, msg);
  const start = el("button", { type: "button", id: "link-ehr", text: "Link to EHR…" });
  start.addEventListener("click", () => {
    box.hidden = false;
    start.hidden = true;
    search.fill({ family: v("family"), given: v("given"), birthDate: v("birthDate") });
    search.focus();
    if (v("family") || v("given") || v("birthDate")) search.run();
  });
  parts.push(start, box);
  ehrCard.replaceChildren(...parts);
}

loadEhr();
