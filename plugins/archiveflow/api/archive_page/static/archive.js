// The archive page: plain JavaScript, no build step. Every request is relative to the page
// (…/archive/), and carries the Airflow UI's session cookie: the API answers as the logged-in user.
"use strict";

const $ = (selector) => document.querySelector(selector);
const STEPS = ["requested", "restoring", "extracted"];
const state = { me: null, cursors: [], next: null, files: new Map(), selected: new Set(), quote: 0 };

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: options.body ? { "Content-Type": "application/json" } : {},
    ...options,
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { detail: text }; }
  if (!response.ok) {
    const detail = body && (body.message || (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)));
    const error = new Error(detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

const bytes = (n) => {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = Number(n), unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
};
const usd = (n) => {
  const value = Number(n);
  if (value > 0 && value < 0.01) return `$${value.toPrecision(2)}`;  // fractions of a cent stay visible
  return `$${value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
};
const shortBundle = (bundle) => bundle.split("/").pop();
const count = (n) => Number(n).toLocaleString("en-US");
const day = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "");
const fileName = (f) => `${f.bucket}/${f.key}`;

function notice(message) {
  const box = $("#notice");
  box.textContent = message || "";
  box.hidden = !message;
}

// --- who is logged in ------------------------------------------------------------------------

async function loadMe() {
  try {
    state.me = await api("api/me");
  } catch (error) {
    const login = `../auth/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`;
    $("#who").replaceChildren(`Not signed in to Airflow (${error.message}). `, el("a", { href: login }, "Sign in"));
    return;
  }
  const role = state.me.can_restore ? "may search and restore" : "may search (read only)";
  $("#who").textContent = `Signed in as ${state.me.user}: ${role}. Index mode: ${state.me.index_mode}.`;
  $("#restore-denied").hidden = state.me.can_restore;
  updateSelection();
}

// --- search ----------------------------------------------------------------------------------

function searchQuery(after) {
  const form = new FormData($("#search"));
  const query = new URLSearchParams();
  for (const [name, value] of form.entries()) if (value) query.set(name, value.trim());
  if (after) query.set("after", after);
  return query;
}

async function runSearch(after = null) {
  const status = $("#result-status");
  status.textContent = "Searching…";
  try {
    const page = await api(`api/files?${searchQuery(after)}`);
    state.next = page.next;
    showFiles(page.files);
    const start = state.cursors.length > 1 ? "More files" : "Files";
    status.textContent = page.files.length
      ? `${start}: ${page.files.length} shown${page.next ? ", more on the next page" : ""}.`
      : "No archived file matches.";
    $("#next-page").hidden = !page.next;
    $("#first-page").hidden = state.cursors.length <= 1;
    loadBundleStatus(page.files);
  } catch (error) {
    status.textContent = "";
    status.append(el("span", { class: "error" }, `Search failed: ${error.message}`));
    if (error.status === 409) notice(error.message);
  }
}

function showFiles(files) {
  const body = $("#files tbody");
  body.replaceChildren();
  $("#files").hidden = files.length === 0;
  for (const file of files) {
    const name = fileName(file);
    state.files.set(name, file);
    const newest = file.versions[file.versions.length - 1];
    const versionsId = `versions-${body.children.length}`;
    const toggle = el("button", {
      type: "button", "aria-expanded": "false", "aria-controls": versionsId,
      onclick: (event) => {
        const open = event.currentTarget.getAttribute("aria-expanded") === "true";
        event.currentTarget.setAttribute("aria-expanded", String(!open));
        document.getElementById(versionsId).hidden = open;
      },
    }, `${file.versions.length} version${file.versions.length > 1 ? "s" : ""}`);
    const box = el("input", {
      type: "checkbox", class: "pick", value: name, "aria-label": `Select ${file.key}`,
      checked: state.selected.has(name), onchange: (event) => {
        if (event.target.checked) state.selected.add(name); else state.selected.delete(name);
        updateSelection();
      },
    });
    body.append(el("tr", {},
      el("td", {}, box),
      el("td", { class: "key", title: name }, file.key, el("div", { class: "muted" }, `${file.bucket} · ${file.project_name}`)),
      el("td", { class: "num" }, bytes(newest.size)),
      el("td", { class: "when" }, day(newest.archived_at)),
      el("td", {}, newest.storage_class),
      el("td", { class: "bundle", title: newest.bundle }, shortBundle(newest.bundle)),
      el("td", {}, el("span", { class: "badge", "data-bundle": newest.bundle }, "…")),
      el("td", {}, toggle)));
    body.append(el("tr", { class: "versions", id: versionsId, hidden: true },
      el("td", { colspan: "8" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Version", "Modified at the source", "Archived", "Size", "Class", "Bundle"]
          .map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, file.versions.slice().reverse().map((v) => el("tr", {},
          el("td", { class: "key" }, v.version), el("td", {}, day(v.source_last_modified)), el("td", {}, day(v.archived_at)),
          el("td", { class: "num" }, bytes(v.size)), el("td", {}, v.storage_class),
          el("td", { class: "bundle" }, v.bundle))))))));
  }
  $("#select-all").checked = files.length > 0 && files.every((f) => state.selected.has(fileName(f)));
}

const STATUS_TEXT = { none: "archived", in_progress: "restoring", available: "restored copy", not_needed: "readable" };

async function loadBundleStatus(files) {
  const bundles = [...new Set(files.map((f) => f.versions[f.versions.length - 1].bundle))];
  if (!bundles.length) return;
  try {
    const answer = await api("api/bundles", { method: "POST", body: { bundles } });
    for (const badge of document.querySelectorAll("[data-bundle]")) {
      const status = answer.bundles[badge.dataset.bundle];
      if (status) { badge.textContent = STATUS_TEXT[status] || status; badge.classList.add(status); }
    }
  } catch (error) {
    for (const badge of document.querySelectorAll("[data-bundle]")) badge.textContent = "unknown";
  }
}

// --- restore ---------------------------------------------------------------------------------

function updateSelection() {
  const n = state.selected.size;
  $("#selection").textContent = n ? `${n} file${n > 1 ? "s" : ""} selected.` : "No file selected.";
  const allowed = Boolean(state.me && state.me.can_restore);
  $("#restore-button").disabled = !(allowed && n);
  $("#tiers").disabled = !n;
  loadQuote();
}

async function loadQuote() {
  const ticket = ++state.quote;
  const options = $("#tier-options");
  if (!state.selected.size) {
    options.replaceChildren(el("p", { class: "muted" }, "Select files to see each tier's cost and wait."));
    return;
  }
  options.replaceChildren(el("p", { class: "muted" }, "Pricing…"));
  try {
    const days = Number($("#restore_days").value) || 7;
    const quote = await api("api/quote", { method: "POST", body: { files: [...state.selected], restore_days: days } });
    if (ticket !== state.quote) return;
    const chosen = (new FormData($("#restore-form"))).get("retrieval_tier");
    const offered = (tier) => quote.tiers.find((t) => t.offered && t.tier === tier);
    const pick = offered(chosen) || offered("Standard") || quote.tiers.find((t) => t.offered);
    options.replaceChildren(
      el("p", { class: "muted" }, `${count(quote.files)} files, ${bytes(quote.bytes)}, in ${count(quote.bundles)} archive object(s).`),
      ...quote.tiers.map((t) => el("div", { class: "tier" },
        el("span", {}, el("input", {
          type: "radio", name: "retrieval_tier", id: `tier-${t.tier}`, value: t.tier, disabled: !t.offered,
          checked: t === pick,
          "aria-describedby": `tier-${t.tier}-about`,
        }), " ", el("label", { for: `tier-${t.tier}` }, t.tier)),
        el("span", { class: "cost" }, t.offered ? usd(t.cost.total_usd) : "—"),
        el("span", { id: `tier-${t.tier}-about`, class: "muted" },
          t.offered ? `wait ${t.wait}` : "not offered for these files' storage class"))));
  } catch (error) {
    if (ticket === state.quote) options.replaceChildren(el("p", { class: "error" }, `Could not price the restore: ${error.message}`));
  }
}

async function startRestore(event) {
  event.preventDefault();
  const form = new FormData($("#restore-form"));
  const body = {
    files: [...state.selected],
    retrieval_tier: form.get("retrieval_tier") || "Standard",
    restore_days: Number(form.get("restore_days")),
  };
  const button = $("#restore-button");
  button.disabled = true;
  const item = el("li", {}, el("strong", {}, `Restoring ${body.files.length} file(s), ${body.retrieval_tier} tier`));
  $("#restores").prepend(item);
  try {
    const started = await api("api/restores", { method: "POST", body });
    item.dataset.runId = started.run_id;
    item.append(el("div", { class: "muted" }, `s3_restore run ${started.run_id}`));
    follow(item, started.run_id);
  } catch (error) {
    item.append(el("p", { class: "error", role: "alert" }, `Refused: ${error.message}`));
  } finally {
    updateSelection();
  }
}

function steps(status) {
  const reached = STEPS.indexOf(status);
  return el("ol", { class: "steps", "aria-label": "Restore progress" }, STEPS.map((step, i) => {
    const done = reached > i || status === "extracted";
    const current = reached === i && status !== "extracted";
    return el("li", { class: done ? "done" : current ? "current" : "", "aria-current": current ? "step" : false }, step);
  }), status === "failed" ? el("li", { class: "failed" }, "failed") : null);
}

async function follow(item, runId) {
  let answer;
  try {
    answer = await api(`api/restores/${encodeURIComponent(runId)}`);
  } catch (error) {
    answer = { status: "unknown", error: error.message };
  }
  item.querySelector(".progress")?.remove();
  const progress = el("div", { class: "progress", "data-status": answer.status }, steps(answer.status),
    el("p", { class: "status" }, `Status: ${answer.status}`));
  if (answer.status === "failed") progress.append(el("p", { class: "error", role: "alert" }, answer.error));
  if (answer.status === "extracted") {
    progress.append(el("ul", { class: "downloads" }, (answer.files || []).map((f) => el("li", {},
      el("a", {
        href: `api/restores/${encodeURIComponent(runId)}/download?name=${encodeURIComponent(f.name)}`,
        download: f.name.split("/").pop(), onclick: downloadOutsideFrame,
      }, `Download ${f.name.split("/").pop()}`), " ", el("span", { class: "muted" }, `${bytes(f.size)} · ${f.name}`)))));
  }
  item.append(progress);
  if (!["extracted", "failed", "unknown"].includes(answer.status)) setTimeout(() => follow(item, runId), 2000);
  else loadSavings();
}

// The Airflow UI frames this page without `allow-downloads`: a download is started from the top
// document (same origin) instead.
function downloadOutsideFrame(event) {
  if (window.top === window.self) return;
  try {
    const link = window.top.document.createElement("a");
    link.href = event.currentTarget.href;
    link.download = event.currentTarget.getAttribute("download");
    window.top.document.body.append(link);
    link.click();
    link.remove();
    event.preventDefault();
  } catch { /* not reachable: the link's own download */ }
}

// --- what archiving saved ----------------------------------------------------------------------

function chart(months) {
  const box = $("#chart");
  if (!months.length) { box.replaceChildren(el("p", { class: "muted" }, "Nothing archived yet.")); return; }
  const width = 760, height = 240, left = 64, bottom = 28, top = 12;
  const most = Math.max(...months.map((m) => m.monthly_before_usd), 0.0001);
  const slot = (width - left - 10) / months.length, bar = Math.max(4, Math.min(28, slot / 2 - 4));
  const y = (v) => top + (height - top - bottom) * (1 - v / most);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("aria-hidden", "true");
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  for (const fraction of [0, 0.5, 1]) {
    add("line", { class: "axis", x1: left, x2: width - 10, y1: y(most * fraction), y2: y(most * fraction) });
    add("text", { x: left - 6, y: y(most * fraction) + 4, "text-anchor": "end" }, usd(most * fraction));
  }
  months.forEach((m, i) => {
    const x = left + i * slot + slot / 2;
    add("rect", { class: "before", x: x - bar - 1, width: bar, y: y(m.monthly_before_usd), height: y(0) - y(m.monthly_before_usd) })
      .append(Object.assign(document.createElementNS(ns, "title"), { textContent: `${m.month} before: ${usd(m.monthly_before_usd)}` }));
    add("rect", { class: "after", x: x + 1, width: bar, y: y(m.monthly_after_usd), height: Math.max(1, y(0) - y(m.monthly_after_usd)) })
      .append(Object.assign(document.createElementNS(ns, "title"), { textContent: `${m.month} after: ${usd(m.monthly_after_usd)}` }));
    add("text", { x, y: height - 10, "text-anchor": "middle" }, m.month);
  });
  add("rect", { class: "before", x: left + 8, y: top, width: 10, height: 10 });
  add("text", { x: left + 22, y: top + 9 }, "before (S3 Standard)");
  add("rect", { class: "after", x: left + 160, y: top, width: 10, height: 10 });
  add("text", { x: left + 174, y: top + 9 }, "after (archive class + index)");
  box.replaceChildren(svg);
}

async function loadSavings() {
  const body = $("#savings tbody");
  try {
    const answer = await api("api/savings");
    chart(answer.months);
    body.replaceChildren(...answer.months.map((m) => el("tr", {},
      el("th", { scope: "row" }, m.month), el("td", { class: "num" }, count(m.files)),
      el("td", { class: "num" }, bytes(m.bytes)), el("td", { class: "num" }, count(m.bundles)),
      el("td", { class: "num" }, usd(m.monthly_before_usd)), el("td", { class: "num" }, usd(m.monthly_after_usd)),
      el("td", { class: "num" }, usd(m.monthly_saved_usd)),
      el("td", { class: "num" }, m.restores ? `${m.restores} · ${usd(m.restore_usd)}` : "—"))));
    if (!answer.months.length) body.replaceChildren(el("tr", {}, el("td", { colspan: "8", class: "muted" }, "Nothing archived yet.")));
    $("#chart-caption").textContent = `Monthly storage cost before and after archiving: ${usd(answer.totals.monthly_before_usd)} before, ${usd(answer.totals.monthly_after_usd)} after, ${usd(answer.totals.monthly_saved_usd)} saved every month.`;
  } catch (error) {
    $("#chart").replaceChildren();
    body.replaceChildren(el("tr", {}, el("td", { colspan: "8", class: "error" }, error.message)));
    if (error.status === 409) notice(error.message);
  }
}

async function loadTables() {
  const body = $("#tables tbody");
  try {
    const { runs } = await api("api/tables");
    const rows = runs.flatMap((run) => (run.tables.length ? run.tables : [null]).map((t, i) => el("tr", {},
      el("td", { class: "key" }, i ? "" : run.run_id), el("td", {}, i ? "" : run.status || ""),
      el("td", {}, t ? t.table : "—"), el("td", { class: "key" }, t && t.condition ? t.condition : ""),
      el("td", { class: "num" }, t && t.rows !== null ? count(t.rows) : ""),
      el("td", { class: "key" }, t && t.iceberg_table ? `${t.iceberg_table} @ ${t.snapshot_id}` : ""),
      el("td", { class: "bundle" }, i ? "" : run.report || ""))));
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "7", class: "muted" }, "No table archived yet."))]));
  } catch (error) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "7", class: "error" }, error.message)));
  }
}

// --- wiring ----------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#search").addEventListener("submit", (event) => {
    event.preventDefault();
    state.cursors = [null];
    runSearch(null);
  });
  $("#next-page").addEventListener("click", () => {
    state.cursors.push(state.next);
    runSearch(state.next).then(() => $("#results").focus());
  });
  $("#first-page").addEventListener("click", () => { state.cursors = [null]; runSearch(null); });
  $("#select-all").addEventListener("change", (event) => {
    for (const box of document.querySelectorAll("input.pick")) {
      box.checked = event.target.checked;
      if (box.checked) state.selected.add(box.value); else state.selected.delete(box.value);
    }
    updateSelection();
  });
  $("#restore_days").addEventListener("change", loadQuote);
  $("#restore-form").addEventListener("submit", startRestore);
  const asked = new URLSearchParams(window.location.search).get("prefix");
  if (asked !== null) { $("#prefix").value = asked; state.cursors = [null]; runSearch(null); }
  loadMe();
  loadSavings();
  loadTables();
});
