// "My tasks": the person's tasks across all the team's lists and the
// team's unassigned ones, kept live through the team's own feed.
import { el, api, readJsonAttr } from "/static/rounds.js";
import { LiveFeed, liveBadge } from "/static/live.js";
import { taskItem } from "/static/tasks.js";

const root = document.getElementById("my-tasks-app");
const team = root.dataset.team;
const apiTeam = `/api/v1/teams/${team}`;
const opts = {
  apiTeam,
  me: root.dataset.me,
  isOwner: root.dataset.owner === "true",
  members: readJsonAttr(root, "data-members", []),
  changed: () => load(),
};

function draw(node, items, empty) {
  node.replaceChildren(
    ...(items.length
      ? items.map((x) =>
          taskItem(x.task, { ...opts, patient: { name: x.patientName, location: x.location, href: `/teams/${team}/patients/${x.task.patientId}#tasks` } }),
        )
      : [el("li", { class: "empty", text: empty })]),
  );
}

let failed = 0;
async function load() {
  try {
    const data = await api("GET", `${apiTeam}/my-tasks`);
    draw(document.getElementById("mine"), data.mine, "Nothing assigned to you.");
    draw(document.getElementById("unassigned"), data.unassigned, "Every open task has an owner.");
    failed = 0;
    return { ok: true };
  } catch (e) {
    failed = e.status || 0;
    return { ok: false, status: failed };
  }
}

const live = new LiveFeed({
  path: `${apiTeam}/events`,
  handlers: { taskChanged: () => load(), ready: () => load(), other: () => {} },
  onStatus: liveBadge(document.getElementById("live")),
  reload: load,
});
live.start();
setInterval(load, 60000);
