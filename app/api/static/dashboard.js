// The dashboard: polls the API and renders workers, queue, dead letters, history and repositories;
// submits, cancels, requeues and deletes with the admin token kept in this tab's sessionStorage.
// Everything that comes from the server is put into the page as text, never as HTML.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "neo-alexandria-admin-token";
const TRACKED_KEY = "neo-alexandria-tracked-jobs";
const STATUS_EVERY_MS = 2000;
const LISTS_EVERY_MS = 10000;
const ENDED = new Set(["finished", "failed", "skipped", "dead", "cancelled"]);
const STAGES = ["cloning", "parsing", "training", "uploading"];

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---- the token and the API ------------------------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, { method = "GET", body, admin = false } = {}) {
  const headers = { Accept: "application/json" };
  if (admin || method !== "GET") {
    if (!token()) throw new ApiError(401, "Type the admin token at the top of the page first.");
    headers.Authorization = `Bearer ${token()}`;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, `The server did not answer (${error.message}).`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    let detail = data && data.detail !== undefined ? data.detail : text || response.statusText;
    if (Array.isArray(detail)) detail = detail.map((item) => `${(item.loc || []).slice(1).join(".")}: ${item.msg}`).join("; ");
    if (response.status === 401) detail = "The admin token was refused: check it at the top of the page.";
    throw new ApiError(response.status, String(detail));
  }
  return data;
}

function say(text, kind = "error") {
  const box = $("#message");
  box.textContent = text;
  box.className = kind === "error" ? "message" : "message info";
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.hidden = false;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 15000 : 6000);
}

function showToken() {
  const state = $("#token-state");
  state.textContent = token() ? "Token in use for this tab." : "No token: you can watch, not act.";
  $("#requeue-all").disabled = !token();
}

// ---- formatting -----------------------------------------------------------------------------------------

function ago(value) {
  if (!value) return "—";
  const seconds = Math.max(0, (Date.now() - new Date(value).getTime()) / 1000);
  return `${duration(seconds)} ago`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  return el("time", { datetime: value, title: date.toString() }, date.toLocaleString());
}

function seconds(value) { return value === null || value === undefined ? "—" : Number(value).toFixed(1); }

function progressBar(percent, label) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  return el("div", { class: "bar" },
    el("progress", { max: 100, value, "aria-label": label }, `${value}%`),
    el("span", { "aria-hidden": "true" }, `${value}%`));
}

// Long errors (a git message can run to lines) are cut in the table; the whole text is in the tooltip.
function errorCell(text) {
  const value = text || "";
  return el("td", { class: "error", title: value.length > 220 ? value : null },
    value.length > 220 ? `${value.slice(0, 219)}…` : value);
}

function fillTable(table, rows, emptyText, columns) {
  const body = $(`${table} tbody`);
  body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: columns }, emptyText))]));
}

// ---- workers --------------------------------------------------------------------------------------------

let lastJobs = "";

async function refreshStatus() {
  try {
    const status = await api(`${API}/ingestion/worker/status`);
    $("#overall-status").textContent = `Status: ${status.status}`;
    const cards = status.workers.map(workerCard);
    $("#workers").replaceChildren(...(cards.length ? cards : [el("p", { class: "hint" },
      "No worker is running. Start one with python worker.py (or python -m app.cli serve in MODE=LOCAL).")]));
    const jobs = status.workers.map((worker) => `${worker.worker_id}:${worker.job_id || ""}`).join(",");
    if (jobs !== lastJobs) { lastJobs = jobs; refreshLists(); }
  } catch (error) {
    $("#overall-status").textContent = `Status unknown: ${error.message}`;
  }
  await refreshTracked();
}

function workerCard(worker) {
  const busy = worker.online && worker.job_id;
  const failed = worker.online && (worker.status || "").startsWith("Error:");
  const state = !worker.online ? "offline" : busy ? "busy" : failed ? "error" : "idle";
  const words = { offline: "offline", busy: "working", error: "last job failed", idle: "idle" };
  const rows = [
    ["Stage", worker.stage || "—"],
    ["Heartbeat", worker.online ? (worker.heartbeat_age_seconds === null ? "—" : `${duration(worker.heartbeat_age_seconds)} ago`)
      : `none for ${duration(worker.offline_seconds || 0)}`],
    ["Device", worker.device || "—"],
    ["Host", worker.hostname || "—"],
    ["Polls every", worker.poll_interval_seconds ? `${worker.poll_interval_seconds} s` : "—"],
    ["Job", worker.job_id ? `${worker.repo_url || ""} (${worker.job_id.slice(0, 8)})` : "—"],
  ];
  return el("article", { class: `card ${state}`, "aria-label": `Worker ${worker.worker_id}, ${words[state]}` },
    el("h3", {}, worker.worker_id, " ", el("span", { class: `badge ${state}` }, words[state])),
    el("p", { class: "status-line" }, worker.online ? worker.status || "Idle" : "Offline: its heartbeat stopped"),
    busy ? progressBar(worker.progress, `Progress of ${worker.repo_url}`) : null,
    el("dl", {}, rows.map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])));
}

// ---- jobs submitted from this page ---------------------------------------------------------------------

function tracked() {
  try { return JSON.parse(sessionStorage.getItem(TRACKED_KEY) || "[]"); } catch { return []; }
}

function track(job) {
  const jobs = [job, ...tracked().filter((item) => item.job_id !== job.job_id)].slice(0, 5);
  sessionStorage.setItem(TRACKED_KEY, JSON.stringify(jobs));
}

async function refreshTracked() {
  const jobs = tracked();
  for (const job of jobs) {
    if (ENDED.has(job.state)) continue;
    try {
      Object.assign(job, await api(`${API}/ingestion/jobs/${job.job_id}`));
      if (ENDED.has(job.state)) refreshLists();
    } catch (error) {
      if (error.status === 404) job.state = "expired";
    }
  }
  sessionStorage.setItem(TRACKED_KEY, JSON.stringify(jobs));
  const items = jobs.map((job) => el("li", { "data-job-id": job.job_id },
    el("div", { class: "repo" }, job.repo_url || job.job_id),
    el("div", {}, el("span", { class: `state ${job.state}` }, job.state || "queued"),
      job.stage ? ` · ${job.stage}` : "", job.attempts ? ` · attempt ${job.attempts}` : ""),
    progressBar(job.state === "finished" ? 100 : job.progress, `Progress of ${job.repo_url}`),
    job.error ? el("div", { class: "hint" }, job.error) : null));
  $("#tracked").replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "Nothing yet.")]));
}

async function submitRepository(event) {
  event.preventDefault();
  const input = $("#repo-url");
  const repo = input.value.trim();
  if (!repo) return;
  try {
    const accepted = await api(`${API}/ingestion/ingest`, { method: "POST", body: { repo_url: repo } });
    track({ job_id: accepted.job_id, repo_url: repo, state: "queued", progress: 0 });
    say(`Queued ${repo} (position ${accepted.queue_position} of ${accepted.queue_size}).`, "info");
    input.value = "";
    refreshTracked();
    refreshLists();
  } catch (error) {
    say(`Not queued: ${error.message}`);
  }
}

// ---- queue, dead letters, history, repositories ---------------------------------------------------------

let listsPending = null;

function refreshLists() {
  listsPending = listsPending || Promise.allSettled([refreshQueue(), refreshDead(), refreshHistory(), refreshRepos()])
    .finally(() => { listsPending = null; });
  return listsPending;
}

async function refreshQueue() {
  if (!token()) {
    $("#queue-note").textContent = "Type the admin token to see the waiting jobs.";
    fillTable("#queue-table", [], "Hidden without the token.", 6);
    return;
  }
  try {
    const listing = await api(`${API}/ingestion/queue`, { admin: true });
    $("#queue-note").textContent = `${listing.total} waiting.`;
    fillTable("#queue-table", listing.jobs.map((job) => el("tr", {},
      el("td", { class: "num" }, job.position),
      el("td", { class: "repo" }, job.repo_url),
      el("td", {}, ago(job.submitted_at)),
      el("td", { class: "num" }, job.attempts),
      errorCell(job.error),
      el("td", {}, el("button", { type: "button", class: "danger", "aria-label": `Cancel the job of ${job.repo_url}`,
        onclick: () => act(`${API}/ingestion/jobs/${job.job_id}/cancel`, `Cancelled ${job.repo_url}.`) }, "Cancel")),
    )), "The queue is empty.", 6);
  } catch (error) {
    $("#queue-note").textContent = error.message;
  }
}

async function refreshDead() {
  if (!token()) {
    $("#dead-note").textContent = "Type the admin token to see the dead letters.";
    fillTable("#dead-table", [], "Hidden without the token.", 5);
    return;
  }
  try {
    const listing = await api(`${API}/ingestion/dead`, { admin: true });
    $("#dead-note").textContent = `${listing.total} dead ${listing.total === 1 ? "job" : "jobs"}: they failed on every attempt with an error that might go away (network, timeouts, a store down).`;
    fillTable("#dead-table", listing.jobs.map((job) => el("tr", {},
      el("td", { class: "repo" }, job.repo_url),
      el("td", {}, ago(job.finished_at || job.updated_at)),
      el("td", { class: "num" }, job.attempts),
      errorCell(job.error),
      el("td", {}, el("button", { type: "button", "aria-label": `Requeue the job of ${job.repo_url}`,
        onclick: () => act(`${API}/ingestion/jobs/${job.job_id}/requeue`, `Requeued ${job.repo_url}.`) }, "Requeue")),
    )), "No dead jobs.", 5);
    $("#requeue-all").disabled = listing.total === 0;
  } catch (error) {
    $("#dead-note").textContent = error.message;
  }
}

async function act(path, done, method = "POST") {
  try {
    const result = await api(path, { method });
    say(typeof done === "function" ? done(result) : done, "info");
  } catch (error) {
    say(error.message);
  }
  refreshLists();
}

async function refreshHistory() {
  try {
    const history = await api(`${API}/ingestion/jobs/history?limit=50`);
    fillTable("#history-table", history.jobs.map((job) => el("tr", { "data-job-id": job.job_id },
      el("td", {}, when(job.timestamp)),
      el("td", { class: "repo" }, job.repo_url),
      el("td", {}, el("span", { class: `state ${job.status}` }, job.status)),
      el("td", { class: "num" }, job.attempts),
      el("td", { class: "num" }, seconds(job.duration_seconds)),
      STAGES.map((stage) => el("td", { class: "num" }, seconds((job.stage_seconds || {})[stage]))),
      el("td", { class: "num" }, job.files_processed),
      el("td", { class: "num" }, job.edges ?? "—"),
      errorCell(job.status === "finished" ? "" : [job.stage ? `${job.stage}: ` : "", job.error || ""].join("")),
    )), "No job has ended yet.", 12);
  } catch (error) {
    fillTable("#history-table", [], `History unavailable: ${error.message}`, 12);
  }
}

let repositories = [];

async function refreshRepos() {
  try {
    repositories = (await api(`${API}/repos`)).repositories;
  } catch (error) {
    fillTable("#repos-table", [], `Repositories unavailable: ${error.message}`, 6);
    return;
  }
  fillTable("#repos-table", repositories.map((repo) => el("tr", {},
    el("td", { class: "repo" }, repo.repo_url),
    el("td", {}, el("code", {}, (repo.last_commit || "—").slice(0, 12))),
    el("td", {}, when(repo.last_ingested_at)),
    el("td", { class: "num" }, repo.file_count),
    el("td", { class: "num" }, repo.edge_count),
    el("td", {}, el("button", { type: "button", class: "danger", "aria-label": `Delete ${repo.repo_url}`,
      onclick: () => deleteRepository(repo.repo_url) }, "Delete")),
  )), "Nothing ingested yet.", 6);
  for (const select of [$("#similar-repo"), $("#graph-repo")]) fillRepoSelect(select);
}

function fillRepoSelect(select) {
  const current = select.value;
  select.replaceChildren(...repositories.map((repo) => el("option", { value: repo.repo_url }, repo.repo_url)));
  if (repositories.some((repo) => repo.repo_url === current)) select.value = current;
  else if (repositories.length) { select.value = repositories[0].repo_url; select.dispatchEvent(new Event("change")); }
}

async function deleteRepository(repoUrl) {
  if (!window.confirm(`Delete the vectors, files and edges of ${repoUrl}? Its job history stays.`)) return;
  await act(`${API}/repos?repo_url=${encodeURIComponent(repoUrl)}`,
    (result) => `Deleted ${result.repo_url}: ${result.files} files, ${result.edges} edges, ${result.vectors} vectors.`, "DELETE");
}

async function requeueAll() {
  await act(`${API}/ingestion/dead/requeue`, (summary) => summary.left
    ? `Requeued ${summary.requeued}; ${summary.left} left: ${summary.results.filter((r) => r.reason).map((r) => `${r.repo_url} (${r.reason})`).join(", ")}.`
    : `Requeued ${summary.requeued} dead ${summary.requeued === 1 ? "job" : "jobs"}.`);
}

// ---- files of a repository, for the search boxes ------------------------------------------------------

const filesCache = new Map();

async function fillFiles(repoUrl, list) {
  if (!repoUrl) return;
  if (!filesCache.has(repoUrl)) {
    try {
      filesCache.set(repoUrl, (await api(`${API}/repos/files?repo_url=${encodeURIComponent(repoUrl)}`)).files);
    } catch { return; }
  }
  list.replaceChildren(...filesCache.get(repoUrl).map((file) => el("option", { value: file.path })));
}

// ---- similar files ---------------------------------------------------------------------------------------

const EVIDENCE_WORDS = {
  imports_it: () => "the file imports it",
  imported_by_it: () => "it imports the file",
  shared_neighbours: (n, evidence) => `${n} shared neighbour${n === 1 ? "" : "s"}: ${evidence.shared_examples.join(", ")}`,
  shared_examples: () => null,
  changed_together: (n, evidence) => `changed together ${n}×, last ${evidence.last_changed_together}`,
  last_changed_together: () => null,
  same_folder: () => "same folder",
  name_words: (words) => (words.length ? `name: ${words.join(", ")}` : null),
  cosine: (value) => `cosine ${Number(value).toFixed(3)}`,
};

function evidenceChips(evidence) {
  if (!evidence || typeof evidence !== "object") return "—";
  const chips = [];
  for (const [name, value] of Object.entries(evidence)) {
    if (value === null || value === false || value === 0 || value === undefined) continue;
    const words = EVIDENCE_WORDS[name] ? EVIDENCE_WORDS[name](value, evidence) : `${name.replaceAll("_", " ")}: ${value}`;
    if (words) chips.push(el("li", { title: `${name} = ${JSON.stringify(value)}` }, words));
  }
  return chips.length ? el("ul", { class: "chips" }, chips) : "—";
}

async function searchSimilar(event) {
  event.preventDefault();
  const repo = $("#similar-repo").value;
  const path = $("#similar-path").value.trim();
  const k = $("#similar-k").value || 10;
  const query = new URLSearchParams({ repo_url: repo, path, k });
  $("#similar-summary").textContent = "Searching…";
  try {
    const found = await api(`${API}/search/similar?${query}`);
    const hits = found.results || found.hits || [];
    $("#similar-summary").textContent = `${hits.length} files most like ${path} in ${repo}, best first.`;
    fillTable("#similar-table", hits.map((hit, index) => el("tr", {},
      el("td", { class: "num" }, index + 1),
      el("td", { class: "repo" }, hit.repo_url && hit.repo_url !== repo ? `${hit.repo_url}: ${hit.path}` : hit.path),
      el("td", {}, hit.language || "—"),
      el("td", { class: "num" }, hit.score === undefined ? "—" : Number(hit.score).toFixed(3)),
      el("td", {}, evidenceChips(hit.evidence)),
    )), "No similar file found.", 5);
  } catch (error) {
    $("#similar-summary").textContent = `Search failed: ${error.message}`;
    fillTable("#similar-table", [], "—", 5);
  }
}

// ---- the neighbourhood picture ---------------------------------------------------------------------------

async function showNeighbourhood(event) {
  if (event) event.preventDefault();
  const repo = $("#graph-repo").value;
  const focus = $("#graph-focus").value.trim();
  const query = new URLSearchParams({ repo_url: repo, focus, depth: $("#graph-depth").value });
  if ($("#graph-collapse").value) query.set("collapse", $("#graph-collapse").value);
  $("#graph-summary").textContent = "Drawing…";
  try {
    const view = await api(`${API}/repos/graph?${query}`);
    $("#graph-summary").textContent = Neighbourhood.describe(view);
    Neighbourhood.draw($("#graph-picture"), view, (path) => { $("#graph-focus").value = path; showNeighbourhood(); });
    $("#graph-list").replaceChildren(...Neighbourhood.listItems(view));
  } catch (error) {
    $("#graph-summary").textContent = `Cannot draw it: ${error.message}`;
    $("#graph-picture").replaceChildren();
  }
}

// ---- health and start-up ---------------------------------------------------------------------------------

async function refreshHealth() {
  const badge = $("#health");
  try {
    const response = await fetch("/health");
    const health = await response.json();
    const down = Object.entries(health.dependencies).filter(([, state]) => !state.ok).map(([name]) => name);
    badge.textContent = down.length ? `Not answering: ${down.join(", ")}` : "Redis, database and Qdrant answer";
    badge.className = down.length ? "health bad" : "health ok";
  } catch {
    badge.textContent = "The server does not answer";
    badge.className = "health bad";
  }
}

function every(milliseconds, task) {
  const run = async () => {
    if (!document.hidden) await task();
    setTimeout(run, milliseconds);
  };
  run();
}

function start() {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $("#token").value = "";
    showToken();
    refreshLists();
  });
  $("#forget-token").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showToken(); refreshLists(); });
  $("#submit-form").addEventListener("submit", submitRepository);
  $("#requeue-all").addEventListener("click", requeueAll);
  $("#similar-form").addEventListener("submit", searchSimilar);
  $("#graph-form").addEventListener("submit", showNeighbourhood);
  $("#similar-repo").addEventListener("change", () => fillFiles($("#similar-repo").value, $("#similar-files")));
  $("#graph-repo").addEventListener("change", () => fillFiles($("#graph-repo").value, $("#graph-files")));
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { refreshStatus(); refreshLists(); } });
  $("#footer-note").textContent = `Worker status every ${STATUS_EVERY_MS / 1000} s, lists every ${LISTS_EVERY_MS / 1000} s and after each action; nothing is polled while this tab is hidden.`;
  showToken();
  every(STATUS_EVERY_MS, refreshStatus);
  every(LISTS_EVERY_MS, refreshLists);
  every(60000, refreshHealth);
}

document.addEventListener("DOMContentLoaded", start);
