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
