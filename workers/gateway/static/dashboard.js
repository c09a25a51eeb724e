// The supervisors' dashboard: loads the read model's JSON, then follows the live updates
// (Server-Sent Events from /dashboard/events) without reloading the page.
"use strict";

// The open statuses and every count come from the gateway's JSON: the page derives none.
let OPEN = new Set();
const state = { incidents: new Map(), escalations: [], partnerships: [], recipients: [], source: null };

function make(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}

function when(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return moment.toLocaleString("sv-SE", { dateStyle: "short", timeStyle: "short" });
}

async function fetchJson(path) {
  const answer = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (answer.status === 401) {
    window.location.assign("/login");
    throw new Error("not logged in");
  }
  if (!answer.ok) throw new Error(`${path}: ${answer.status}`);
  return answer.json();
}

function setLive(text, ok) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = text;
  live.classList.toggle("offline", !ok);
}

// `onReady` runs on every (re)connection: whatever happened while the stream was down is
// read again from the JSON, since the stream itself replays nothing.
function follow(onIncident, onEscalation, onReady) {
  const source = new EventSource("/dashboard/events");
  state.source = source;
  let connections = 0;
  source.addEventListener("ready", () => {
    setLive("Live: updates appear as they happen", true);
    connections += 1;
    if (connections > 1) onReady();
  });
  source.addEventListener("incident", (event) => onIncident(JSON.parse(event.data)));
  source.addEventListener("escalation", (event) => onEscalation(JSON.parse(event.data)));
  source.addEventListener("error", () => setLive("Reconnecting…", false));
}

// ---- the overview ----

function escalatedIncidents() {
  const ids = new Set();
  for (const e of state.escalations) if (e.level !== "reminder") ids.add(e.incident_id);
  return ids;
}

function escalationKey(escalation) {
  return [escalation.task_id, escalation.reason, escalation.level, escalation.detected_at].join("|");
}

function hasOverdue(snapshot) {
  return snapshot.tasks_overdue > 0;
}

function hasEscalated(snapshot, escalated) {
  return escalated.has(snapshot.incident_id) || snapshot.tasks.some((line) => line.escalated);
}

function recipientSummary(snapshot) {
  const byRecipient = new Map();
  for (const line of snapshot.tasks) {
    const entry = byRecipient.get(line.recipient) || { total: 0, completed: 0, overdue: 0 };
    entry.total += 1;
    if (line.status === "completed") entry.completed += 1;
    if (line.overdue && OPEN.has(line.status)) entry.overdue += 1;
    byRecipient.set(line.recipient, entry);
  }
  const list = make("ul", { class: "recipients" });
  for (const [recipient, entry] of [...byRecipient.entries()].sort()) {
    const item = make("li", {
      class: entry.overdue ? "overdue" : entry.completed === entry.total ? "done" : null,
      "data-recipient": recipient,
    });
    item.append(make("span", { class: "name", text: recipient }));
    item.append(make("span", { text: ` ${entry.completed}/${entry.total}` }));
    if (entry.overdue) item.append(make("strong", { class: "flag", text: ` ${entry.overdue} overdue` }));
    list.append(item);
  }
  return list;
}

function renderOverview() {
  const municipality = document.getElementById("municipality").value;
  const wanted = document.getElementById("status").value;
  const escalated = escalatedIncidents();
  const body = document.querySelector("#incidents tbody");
  const rows = [];
  const municipalities = new Set();
  for (const snapshot of state.incidents.values()) {
    if (snapshot.municipality) municipalities.add(snapshot.municipality);
    if (municipality && snapshot.municipality !== municipality) continue;
    if (wanted === "open" && snapshot.progress === "done") continue;
    if (wanted === "done" && snapshot.progress !== "done") continue;
    if (wanted === "overdue" && !hasOverdue(snapshot)) continue;
    if (wanted === "escalated" && !hasEscalated(snapshot, escalated)) continue;
    rows.push(snapshot);
  }
  rows.sort((a, b) => (b.updated_at || "").localeCompare(a.updated_at || ""));
  body.replaceChildren(
    ...rows.map((snapshot) => {
      const percent = Math.round(snapshot.percent_complete);
      const classes = [hasOverdue(snapshot) ? "overdue" : null, hasEscalated(snapshot, escalated) ? "escalated" : null]
        .filter(Boolean)
        .join(" ");
      const link = make("a", { href: `/incidents/${encodeURIComponent(snapshot.incident_id)}`, text: snapshot.incident_id });
      const progress = make("progress", {
        max: 100,
        value: snapshot.percent_complete,
        "aria-label": `${snapshot.incident_id}: ${percent} % complete`,
      });
      const progressText = make("span", {
        class: "progress-text",
        text: `${snapshot.tasks_completed} of ${snapshot.tasks_total} completed (${percent} %)`,
      });
      const overdueCell = make("td", { class: snapshot.tasks_overdue ? "alert" : null });
      overdueCell.append(snapshot.tasks_overdue ? make("strong", { text: `${snapshot.tasks_overdue} overdue` }) : "none");
      if (hasEscalated(snapshot, escalated)) overdueCell.append(make("span", { class: "badge", text: "escalated" }));
      return make(
        "tr",
        { class: classes || null, "data-incident": snapshot.incident_id, "data-progress": snapshot.percent_complete },
        make("th", { scope: "row" }, link),
        make("td", { text: snapshot.municipality || "—" }),
        make("td", {}, progress, progressText),
        make("td", {}, recipientSummary(snapshot)),
        overdueCell,
        make("td", {}, make("time", { datetime: snapshot.updated_at, text: when(snapshot.updated_at) })),
      );
    }),
  );
  document.getElementById("empty").hidden = rows.length > 0;
  document.getElementById("incident-count").textContent = `(${rows.length} of ${state.incidents.size})`;
  const select = document.getElementById("municipality");
  const known = new Set([...select.options].map((option) => option.value));
  for (const name of [...municipalities].sort()) {
    if (!known.has(name)) select.append(make("option", { value: name, text: name }));
  }
  renderAgencies();
  renderEscalations();
}

function renderAgencies() {
  const body = document.querySelector("#agencies tbody");
  body.replaceChildren(
    ...state.recipients.map((entry) =>
      make(
        "tr",
        { class: entry.overdue ? "overdue" : null, "data-recipient": entry.recipient },
        make("th", { scope: "row", text: entry.recipient }),
        make("td", { text: entry.open }),
        make("td", { text: entry.completed }),
        make("td", { text: entry.overdue }),
        make("td", { class: "on-time", text: entry.on_time_percent === null ? "—" : `${Math.round(entry.on_time_percent)} %` }),
      ),
    ),
  );
}

function renderPartnerships() {
  const body = document.querySelector("#partnerships tbody");
  if (!body) return;
  body.replaceChildren(
    ...state.partnerships.map((entry) =>
      make(
        "tr",
        { class: entry.overdue ? "overdue" : null, "data-partnership": entry.partnership },
        make("th", { scope: "row", text: entry.partnership }),
        make("td", { text: entry.incidents }),
        make("td", { text: entry.tasks }),
        make("td", { text: entry.open }),
        make("td", { text: entry.completed }),
        make("td", { text: entry.overdue }),
        make("td", { class: "on-time", text: entry.on_time_percent === null ? "—" : `${entry.on_time_percent} %` }),
      ),
    ),
  );
}

function renderEscalations() {
  const list = document.getElementById("escalations");
  if (!list) return;
  const latest = state.escalations.slice(-50).reverse();
  list.replaceChildren(
    ...latest.map((e) =>
      make(
        "li",
        { class: e.level === "reminder" ? "reminder" : "escalation", "data-task": e.task_id },
        make("strong", { text: e.level === "reminder" ? "Reminder" : `Escalated: ${e.reason.replace("_", " ")}` }),
        " · ",
        make("a", { href: `/incidents/${encodeURIComponent(e.incident_id)}`, text: e.incident_id }),
        ` · ${e.recipient} · due ${when(e.deadline)} · `,
        make("span", { text: e.message }),
      ),
    ),
  );
}

async function startOverview() {
  let refreshing = null;
  const refresh = async () => {
    const data = await fetchJson("/dashboard/overview");
    for (const snapshot of data.incidents) state.incidents.set(snapshot.incident_id, snapshot);
    state.escalations = data.escalations;
    state.partnerships = data.partnerships;
    state.recipients = data.recipients;
    OPEN = new Set(data.open_statuses);
    const scope = document.getElementById("scope");
    scope.textContent = data.scope ? `Partnership: ${data.scope}` : "All partnerships (read only)";
    scope.dataset.scope = data.scope || "";
    renderPartnerships();
    renderOverview();
  };
  document.getElementById("filters").addEventListener("change", renderOverview);
  document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
  await refresh();
  follow(
    (snapshot) => {
      const known = state.incidents.get(snapshot.incident_id);
      state.incidents.set(snapshot.incident_id, { ...snapshot, municipality: known ? known.municipality : null });
      renderOverview();
      // the counts per partnership and recipient (and a new municipality) come from the gateway
      if (refreshing === null) {
        refreshing = setTimeout(() => {
          refreshing = null;
          refresh();
        }, 1000);
      }
    },
    (escalation) => {
      // the overview read again may already list it (or the stream sends it once its task is read)
      const key = escalationKey(escalation);
      if (state.escalations.some((known) => escalationKey(known) === key)) return;
      state.escalations.push(escalation);
      renderOverview();
    },
    refresh,
  );
}

// ---- one incident ----

async function startIncident() {
  const incidentId = decodeURIComponent(window.location.pathname.split("/").pop());
  let again = null;
  const render = async () => {
    const data = await fetchJson(`/dashboard/incidents/${encodeURIComponent(incidentId)}`);
    // tasks the gateway has not read yet are listed once it has (and has audited them)
    if (data.waiting > 0 && again === null) {
      again = setTimeout(() => {
        again = null;
        render();
      }, 1000);
    }
    const snapshot = data.snapshot;
    OPEN = new Set(data.open_statuses);
    document.title = `${incidentId} · GVI sanctions`;
    document.getElementById("incident-title").textContent = `Incident ${incidentId}`;
    document.getElementById("incident-summary").textContent =
      `${snapshot.tasks_completed} of ${snapshot.tasks_total} tasks completed, ${snapshot.tasks_open} open, ` +
      `${snapshot.tasks_overdue} overdue · policy ${snapshot.policy_version} · version ${snapshot.incident_version}`;
    const bar = document.getElementById("incident-progress");
    bar.value = snapshot.percent_complete;
    const lines = [...snapshot.tasks].sort(
      (a, b) => Number(OPEN.has(b.status)) - Number(OPEN.has(a.status)) || a.deadline.localeCompare(b.deadline),
    );
    document.querySelector("#tasks tbody").replaceChildren(
      ...lines.map((line) => {
        const view = data.views[line.task_id] || {};
        const flags = [line.overdue && OPEN.has(line.status) ? "overdue" : null, line.escalated ? "escalated" : null].filter(Boolean);
        const status = make("td", { text: line.status.replace("_", " ") });
        for (const flag of flags) status.append(make("span", { class: "badge", text: flag }));
        return make(
          "tr",
          { class: flags.join(" ") || null, "data-task": line.task_id },
          make("th", { scope: "row", text: line.recipient }),
          make("td", { text: line.action }),
          make("td", { text: line.kind.replace("_", " ") }),
          status,
          make("td", {}, make("time", { datetime: line.deadline, text: when(line.deadline) })),
          make("td", { text: view.rule_id || "—" }),
          make("td", { text: view.reason || "—" }),
        );
      }),
    );
  };
  await render();
  follow(
    (snapshot) => {
      if (snapshot.incident_id === incidentId) render();
    },
    () => {},
    render,
  );
}

function startLogin() {
  const failed = new URLSearchParams(window.location.search).has("failed");
  document.getElementById("failed").hidden = !failed;
  document.getElementById("token").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  const started = page === "overview" ? startOverview() : page === "incident" ? startIncident() : null;
  if (page === "login") startLogin();
  if (started) started.catch((error) => setLive(`Not loaded: ${error.message}`, false));
});
