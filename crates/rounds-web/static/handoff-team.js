// The team page's "Urgent notes" card: how often an unacknowledged urgent
// note alerts again and after how many repeats the owners are alerted too;
// owners change it here.
import { api, sentence } from "/static/rounds.js";

const card = document.getElementById("urgent-rule");
const text = document.getElementById("urgent-rule-text");
const form = document.getElementById("urgent-rule-form");
const api_ = `/api/v1/teams/${card.dataset.team}/urgent-rule`;

function describe(rule) {
  const every = rule.intervalSecs % 60 === 0 ? `${rule.intervalSecs / 60} minute${rule.intervalSecs === 60 ? "" : "s"}` : `${rule.intervalSecs} seconds`;
  text.textContent = `An urgent note alerts the people it is for again every ${every} until one of them acknowledges it; after ${rule.escalateAfter} repeat${rule.escalateAfter === 1 ? "" : "s"} the owners are alerted too.`;
}

async function load() {
  try {
    const rule = await api("GET", api_);
    describe(rule);
    if (form) {
      form.minutes.value = Math.max(1, Math.round(rule.intervalSecs / 60));
      form.repeats.value = rule.escalateAfter;
      form.hidden = false;
    }
  } catch (e) {
    text.textContent = `The rule could not be loaded: ${e.message}`;
  }
}

if (form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const msg = form.querySelector(".form-msg");
    msg.className = "form-msg";
    try {
      const rule = await api("PUT", api_, { intervalSecs: Number(form.minutes.value) * 60, escalateAfter: Number(form.repeats.value) });
      describe(rule);
      msg.textContent = "Saved.";
    } catch (err) {
      msg.className = "form-msg error";
      msg.textContent = sentence(err.message);
    }
  });
}
load();
