// The EHR summary on the patient page, section by section (patient facts,
// vital signs, problems, last encounter, allergies, medications, coverage,
// GP), each with its read status; a section that cannot be shown says so
// and leaves the others.
import { el, sentence, fmtDateTime } from "/static/rounds.js";
import { ago, showValue } from "/static/ehr.js";

/** A field of the summary, camelCase or snake_case. */
export function g(o, key) {
  if (!o) return undefined;
  if (o[key] !== undefined) return o[key];
  return o[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
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

export function joined(...parts) {
  return parts.filter(Boolean).join(" · ");
}

export function personName(pt) {
  if (g(pt, "displayName")) return g(pt, "displayName"); // written by the server
  const family = g(pt, "family");
  const given = (g(pt, "given") || []).join(" ");
  if (family && given) return `${family.toUpperCase()}, ${given}`;
  return (family || "").toUpperCase() || given || g(pt, "nameText") || "";
}

function patientFacts(s) {
  const pt = g(s, "patient") || {};
  const age = g(s, "age");
  return el(
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
  );
}

/**
 * The vital signs as the server wrote them (name, display text, flag); a
 * flagged value has its colour class, the symbol and the flag in words
 * (read out with the value, and on hover).
 */
function vitalsSection(s) {
  return section("vitals", "Vital signs", g(s, "vitals"), (items) =>
    el(
      "table",
      { class: "ehr-vitals" },
      el("thead", {}, el("tr", {}, ["Sign", "Value", "When"].map((h) => el("th", { scope: "col", text: h })))),
      el(
        "tbody",
        {},
        items.map((it) => {
          const value = el("td", { class: "value", title: it.flag ? it.flag.text : null });
          showValue(value, it.text || "—", { flag: it.flag }, { words: true });
          return el("tr", { "data-code": it.code, "data-key": it.key || null }, el("td", { text: it.name || it.code }), value, el("td", {}, when(g(it, "effective"))));
        }),
        news2Row(g(s, "news2")),
      ),
    ),
  );
}

/** NEWS2 under the vital signs: the score, its band, and what it lacks. */
function news2Row(n) {
  if (!n) return null;
  const value = el("td", { class: "value", title: n.riskText });
  showValue(value, n.text, { risk: n.risk, flag: n.flag, riskText: n.riskText }, { words: true });
  return el("tr", { "data-key": "news2", class: "news2-row" }, el("td", { text: "NEWS2" }), value, el("td", {}, when(n.at)));
}

function conditionsSection(s) {
  return section("conditions", "Problems", g(s, "conditions"), (items) =>
    el(
      "ul",
      { class: "ehr-list" },
      items.map((c) => el("li", {}, el("strong", { text: g(c, "display") || "(unnamed)" }), el("span", { class: "muted", text: ` ${joined(g(c, "clinicalStatus"), g(c, "verificationStatus"), g(c, "severity"), g(c, "recorded") ? `recorded ${day(g(c, "recorded"))}` : "")}` }))),
    ),
  );
}

function encounterSection(s) {
  return section("encounter", "Last encounter", g(s, "encounter"), (items) =>
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
  );
}

function allergiesSection(s) {
  return section("allergies", "Allergies", g(s, "allergies"), (items) =>
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
  );
}

function medicationsSection(s) {
  return section("medications", "Medications", g(s, "medications"), (items) =>
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
  );
}

function coverageSection(s) {
  return section("coverage", "Coverage", g(s, "coverage"), (items) =>
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
  );
}

function gpSection(s) {
  const gp = g(g(s, "patient") || {}, "generalPractitioner");
  return el("section", { class: "ehr-sec", "data-section": "gp" }, el("h3", { text: "GP" }), gp ? el("p", { text: gp }) : el("p", { class: "empty", text: "None recorded" }));
}

/** The EHR summary, section by section. */
export function renderSummary(s) {
  return [patientFacts, vitalsSection, conditionsSection, encounterSection, allergiesSection, medicationsSection, coverageSection, gpSection].map((part) => part(s));
}
