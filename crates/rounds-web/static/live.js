// The live feed of a list, shared by the list page, the meeting view and
// the patient page: an EventSource on `…/events` that resumes from the last
// event seen (Last-Event-ID), the control events (`ready`, `resync`,
// `ping`, `closed`), and what to do when the feed stops.
//
// `closed` carries {reason, code}. A server that is restarting
// (serverClosing) is waited for: the page reloads its data and the feed
// resumes. Any other code means the session or the membership ended: the
// page says so and the feed stays stopped.
import { showBanner } from "/static/rounds.js";

/** The change events a list feed carries (rounds-app live.rs `Change`). */
export const CHANGE_KINDS = [
  "patientAdded",
  "patientRemoved",
  "patientMoved",
  "patientsReordered",
  "patientUpdated",
  "noteChanged",
  "columnsChanged",
  "listRenamed",
  "listDeleted",
  "taskChanged",
  "urgentChanged",
  "noteSeen",
  "handoffChanged",
  // Not a change but a notice (no id, never replayed): EHR data of the
  // list's patients was read again; pages fetch what they show again.
  "ehrRefreshed",
];

const RETRY_FIRST_MS = 3000;
const RETRY_AGAIN_MS = 2000;

function parse(e) {
  try {
    return JSON.parse(e.data);
  } catch (err) {
    return {};
  }
}

/**
 * One live feed.
 * - `path`: the events URL; `lastEventId`: resume after this event.
 * - `handlers[kind](data, kind)` for the change events, `other` for the rest;
 *   `resync` (default: `reload`), `ready`, and `ended(data)` once the feed
 *   stopped for good because access ended.
 * - `onStatus(state, text)`, state loading | live | reconnecting | ended.
 * - `reload()` loads the page's data again; resolves to {ok, status}
 *   (status: the HTTP status of a failure, 0 without an answer).
 * - `kinds`: event kinds besides CHANGE_KINDS that this page follows (the
 *   meeting view's `meetingFocus`, `meetingColumnsChanged`).
 */
export class LiveFeed {
  constructor({ path, lastEventId, handlers, onStatus, reload, kinds }) {
    this.path = path;
    this.lastId = lastEventId == null ? "" : String(lastEventId);
    this.handlers = handlers || {};
    this.onStatus = onStatus || (() => {});
    this.reload = reload;
    this.source = null;
    this.stopped = false;
    this.retry = null;
    this.kinds = CHANGE_KINDS.concat(kinds || []);
  }

  start() {
    if (this.stopped) return;
    if (this.source) this.source.close();
    const url = this.lastId ? `${this.path}?lastEventId=${encodeURIComponent(this.lastId)}` : this.path;
    const es = new EventSource(url);
    this.source = es;
    es.addEventListener("open", () => this.onStatus("live", "Live"));
    es.addEventListener("ready", (e) => {
      this.onStatus("live", "Live");
      if (this.handlers.ready) this.handlers.ready(parse(e));
    });
    es.addEventListener("error", () => {
      if (this.stopped || es !== this.source) return;
      this.onStatus("reconnecting", "Reconnecting…");
      // Refused outright (signed out, no access, server restarting): the
      // browser does not retry by itself. Find out why before trying again.
      if (es.readyState === EventSource.CLOSED) this.recover();
    });
    es.addEventListener("resync", (e) => {
      const h = this.handlers.resync || (() => this.reload());
      h(parse(e), "resync");
    });
    es.addEventListener("closed", (e) => this.closed(parse(e)));
    for (const kind of this.kinds) {
      es.addEventListener(kind, (e) => {
        if (e.lastEventId) this.lastId = e.lastEventId;
        const h = this.handlers[kind] || this.handlers.other;
        if (h) h(parse(e), kind);
      });
    }
  }

  /** The server ended the feed: wait for a restarting server, stop otherwise. */
  closed(data) {
    if (this.source) this.source.close();
    if (!data.code || data.code === "serverClosing") {
      this.recover();
      return;
    }
    const reason = data.reason || "access ended";
    this.stop("ended", `Live updates stopped: ${reason}`);
    showBanner(`Live updates stopped: ${reason}. Reload the page to sign in again or to see the latest.`);
    if (this.handlers.ended) this.handlers.ended(data);
  }

  /**
   * Reloads the data, then follows again; keeps trying while the server
   * cannot be reached, and stops for good on a refusal (4xx).
   */
  recover() {
    if (this.source) this.source.close();
    clearTimeout(this.retry);
    this.onStatus("reconnecting", "Reconnecting…");
    const attempt = async () => {
      if (this.stopped) return;
      const r = (await this.reload()) || { ok: false, status: 0 };
      if (this.stopped) return;
      if (r.ok) {
        this.start();
      } else if (r.status >= 400 && r.status < 500) {
        this.stop("ended", "Not connected");
      } else {
        this.onStatus("reconnecting", "Reconnecting…");
        this.retry = setTimeout(attempt, RETRY_AGAIN_MS);
      }
    };
    this.retry = setTimeout(attempt, RETRY_FIRST_MS);
  }

  /** Follows another feed (a patient page whose patient moved lists). */
  follow(path) {
    clearTimeout(this.retry);
    this.path = path;
    this.stopped = false;
    this.start();
  }

  stop(state, text) {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.source) this.source.close();
    this.source = null;
    if (state) this.onStatus(state, text);
  }
}

/** Shows the live state in the `#live` badge. */
export function liveBadge(node) {
  return (state, text) => {
    if (!node) return;
    node.dataset.state = state;
    node.textContent = state === "live" ? "● Live" : text;
    node.title = text;
  };
}
