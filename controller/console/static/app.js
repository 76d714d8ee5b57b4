// The dispatcher console: sign-in, map + approval queue + active sorties, board, parcel lookup,
// statistics and admin pages. Every action calls the same /api/v1 endpoints as any other client.
import { ApiError, get, liveEvents, post, put, session } from "./api.js";
import { barChart, lineChart } from "./charts.js";
import { applyStatic, fmtDateTime, fmtDuration, fmtTime, getLang, nameOf, setLang, t } from "./i18n.js";
import { LAYERS, MapView } from "./map.js";

const ACTIVE = ["approved", "uploading", "ready", "airborne", "delivering", "returning", "landing", "link_lost",
  "failsafe", "aborted", "diverted"];
const FLYING = new Set(["airborne", "delivering", "returning", "landing", "link_lost", "failsafe", "aborted", "diverted"]);
const STAFF = new Set(["admin", "dispatcher"]);
const SETTLE_ALERTS = new Set(["launch_outcome_unknown", "executor_error"]);

const state = {
  me: null, network: null, sorties: [], alerts: [], board: null, parcel: null, newCode: null, stats: null, view: null,
  selected: null, checked: new Set(), names: { points: {}, pads: {}, lockers: {} }, telemetry: {},
};
let map = null, stopLive = null;
const $ = (sel) => document.querySelector(sel);

const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const num = (v, digits = 0) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
const pointName = (id) => nameOf(state.names.points[id]) || id;
const padName = (id) => nameOf(state.names.pads[id]) || id;

// --- coalesced refreshes (event-driven, never on a timer loop) -------------------------------------
const pending = new Map();
function refreshSoon(key, fn, delay = 250) {
  if (pending.has(key)) return;
  pending.set(key, setTimeout(() => { pending.delete(key); fn().catch(showError); }, delay));
}

function showError(error) {
  const target = state.view === "ops" ? $("#queue-message") : state.view === "parcels" ? $("#parcel-error") : null;
  const message = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  if (target) target.textContent = message;
  console.error(error);
}

// --- sign-in -----------------------------------------------------------------------------------------
async function signIn(token) {
  session.token = token;
  let me;
  try {
    me = await get("/me");
  } catch (error) {
    session.token = null;
    $("#signin-error").textContent = `${t("signInFailed")}: ${error.message}`;
    return false;
  }
  if (!STAFF.has(me.role)) {
    session.token = null;
    $("#signin-error").textContent = t("staffOnly");
    return false;
  }
  state.me = me;
  $("#signin-error").textContent = "";
  document.body.dataset.role = me.role;
  $("#nav").hidden = false;
  $("#sign-out").hidden = false;
  $("#who").hidden = false;
  $("#live").hidden = false;
  document.querySelectorAll("[data-role]").forEach((n) => { n.hidden = n.dataset.role !== me.role; });
  renderWho();
  stopLive = liveEvents({ sortie: onSortieEvent, vehicle: onVehicle, bus: onBus, locker: onLocker, alert: onAlert, parcel: onParcel },
    (on) => { const live = $("#live"); live.classList.toggle("on", on); live.classList.toggle("off", !on);
      live.dataset.state = on ? "connected" : "disconnected"; live.textContent = t(on ? "live_on" : "live_off"); });
  await loadNetwork();
  if (!location.hash || location.hash === "#signin") location.hash = "#ops";
  await route();
  return true;
}

/** Fetch /network (map layers, names, current geofence) and redraw the map from it. */
async function loadNetwork() {
  state.network = await get("/network");
  for (const p of state.network.service_points) state.names.points[p.id] = p;
  for (const p of state.network.pads) state.names.pads[p.id] = p;
  for (const l of state.network.lockers) state.names.lockers[l.id] = l;
  map.setNetwork(state.network);
}

function signOut() {
  if (stopLive) stopLive();
  session.token = null;
  state.me = null;
  location.hash = "";
  location.reload();
}

function renderWho() {
  if (state.me) $("#who").textContent = `${state.me.name} · ${t(`role_${state.me.role}`)}`;
}

// --- routing -----------------------------------------------------------------------------------------
const LOADERS = { ops: loadOps, board: loadBoard, parcels: async () => renderParcel(), stats: loadStats, admin: loadAdmin };

async function route() {
  let view = location.hash.replace(/^#/, "").split("/")[0] || "ops";
  if (!state.me) view = "signin";
  if (!LOADERS[view] && view !== "signin") view = "ops";
  if (view === "admin" && state.me?.role !== "admin") view = "ops";
  state.view = view;
  document.querySelectorAll(".view").forEach((s) => { s.hidden = s.id !== `view-${view}`; });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("current", a.dataset.view === view));
  document.body.dataset.view = view;
  if (LOADERS[view]) await LOADERS[view]().catch(showError);
}

// --- operations: map, queue, active sorties ----------------------------------------------------------
async function loadOps() {
  const query = ["planned", ...ACTIVE].map((s) => `status=${s}`).join("&");
  const [sorties, alerts] = await Promise.all([get(`/sorties?${query}`), get("/alerts?open=true")]);
  state.sorties = sorties;
  state.alerts = alerts;
  for (const s of sorties) if (s.position) state.telemetry[s.id] = { ...s.position, ...(state.telemetry[s.id] || {}) };
  renderOps();
  if (state.selected) await showDetail(state.selected, { keepIfGone: true });
}

function renderOps() {
  // Draw markers at the newest position known: a live one from a vehicle event, not the older stored
  // track point of the list just fetched (that made the drone jump back on every refresh).
  map.setSorties(state.sorties.map((s) => (state.telemetry[s.id] ? { ...s, position: state.telemetry[s.id] } : s)));
  map.select(state.selected);
  const planned = state.sorties.filter((s) => s.state === "planned");
  const active = state.sorties.filter((s) => s.state !== "planned");
  for (const id of [...state.checked]) if (!planned.some((s) => s.id === id)) state.checked.delete(id);
  $("#queue-count").textContent = `(${planned.length})`;
  $("#active-count").textContent = `(${active.length})`;
  $("#queue").innerHTML = planned.length ? planned.map(queueCard).join("") : `<p class="muted">${t("none")}</p>`;
  $("#active").innerHTML = active.length ? active.map(activeCard).join("") : `<p class="muted">${t("none")}</p>`;
  updateBatch();
}

function routeText(s) { return [padName(s.origin_pad), ...s.stops.map(padName)].join(" → "); }

function energyBar(s) {
  const budget = s.energy_budget_wh ?? s.battery_wh;
  const pct = (v) => Math.min(100, (100 * v) / s.battery_wh).toFixed(1);
  const tight = s.energy_wh > 0.9 * budget ? " tight" : "";
  return `<div class="energy${tight}" title="${esc(t("energy"))}">
      <div class="energy-budget" style="width:${pct(budget)}%"></div>
      <div class="energy-need" style="width:${pct(s.energy_wh)}%"></div></div>
    <div class="small">${t("energyNeed")} <b>${num(s.energy_wh)} Wh</b> / ${t("energyBudget")} ${num(budget)} Wh /
      ${t("battery")} ${num(s.battery_wh)} Wh · ${t("reserve")} ${num((s.reserve_fraction ?? 0) * 100)}%</div>`;
}

function windText(w) {
  if (!w) return "—";
  return `${num(w.speed_m_s, 1)} m/s ${getLang() === "zh" ? "来自" : "from"} ${num(w.from_deg)}°` +
    (w.gust_m_s ? ` (${getLang() === "zh" ? "阵风" : "gust"} ${num(w.gust_m_s, 1)})` : "");
}

function separationText(sep) {
  if (!sep) return "—";
  const avoided = sep.avoided?.length ? ` · ${t("avoided")}: ${sep.avoided.map(esc).join(", ")}` : "";
  const shift = sep.shift_s ? ` · ${t("shift")} ${fmtDuration(sep.shift_s)}` : "";
  return `${num(sep.altitude_m)} m${shift}${avoided} <span class="muted">(${esc(sep.reason)})</span>`;
}

function queueCard(s) {
  const checked = state.checked.has(s.id) ? "checked" : "";
  const voided = s.void_reason ? `<p class="voided" data-testid="void-reason">${t("voided")}: ${esc(s.void_reason)}</p>` : "";
  return `<article class="sortie-card${s.id === state.selected ? " selected" : ""}" data-sortie-id="${esc(s.id)}" data-state="planned">
    <header><label><input type="checkbox" class="pick" ${checked}> <b class="sortie-id">${esc(s.id)}</b></label>
      <span class="drone">${esc(s.drone_name)}</span></header>
    ${voided}
    <dl>
      <dt>${t("route")}</dt><dd class="route-text">${esc(routeText(s))} · ${num((s.length_m || 0) / 1000, 1)} km · ${num(s.altitude_m)} m</dd>
      <dt>${t("depart")}</dt><dd>${fmtDateTime(s.depart_at)} → ${fmtTime(s.arrive_at)}</dd>
      <dt>${t("parcels")}</dt><dd class="parcels">${s.parcels.length ? s.parcels.map(esc).join(", ") : "—"} · ${num(s.payload_kg, 2)} kg</dd>
      <dt>${t("energy")}</dt><dd>${energyBar(s)}</dd>
      <dt>${t("wind")}</dt><dd>${windText(s.wind)}</dd>
      <dt>${t("separation")}</dt><dd>${separationText(s.separation)}</dd>
      <dt>${t("planHash")}</dt><dd><code title="${esc(s.plan_hash)}">${esc(s.plan_hash.slice(0, 12))}…</code> · ${t("age")} <span class="age">${fmtDuration(s.age_s)}</span></dd>
    </dl>
    <div class="actions">
      <button type="button" class="approve primary" data-action="approve">${t("approve")}</button>
      <button type="button" class="reject" data-action="reject">${t("reject")}</button>
    </div>
    <form class="reject-form" hidden>
      <input class="reject-reason" required maxlength="500" placeholder="${esc(t("rejectReason"))}">
      <button type="submit" class="danger" data-action="confirm-reject">${t("confirmReject")}</button>
      <button type="button" data-action="cancel-reject">${t("cancel")}</button>
    </form>
  </article>`;
}

function telemetryText(s) {
  const p = state.telemetry[s.id];
  if (!p) return `<span class="muted">${t("noPosition")}</span>`;
  return `${num(p.lat_deg, 5)}, ${num(p.lon_deg, 5)} · ${num(p.alt_m)} m · ${num(p.groundspeed_m_s, 1)} m/s` +
    (p.mode ? ` · ${esc(p.mode)}` : "");
}

function progressHtml(s) {
  const progress = s.mission_total ? Math.min(100, (100 * (s.progress_seq ?? 0)) / s.mission_total) : 0;
  return `<progress max="100" value="${progress.toFixed(0)}"></progress> ${s.progress_seq ?? 0}/${s.mission_total}`;
}

function activeCard(s) {
  const p = state.telemetry[s.id] || {};
  const battery = p.battery_pct ?? null;
  const alerts = state.alerts.filter((a) => a.object_type === "sortie" && a.object_id === s.id)
    .concat(state.alerts.filter((a) => a.object_type === "drone" && a.object_id === s.drone_id));
  const canLand = FLYING.has(s.state);
  // The controller handed this sortie to an operator: someone checks the drone and settles it.
  const canSettle = alerts.some((a) => a.object_type === "sortie" && SETTLE_ALERTS.has(a.kind) && !a.acknowledged_at);
  return `<article class="sortie-card active-card${s.id === state.selected ? " selected" : ""}" data-sortie-id="${esc(s.id)}" data-state="${esc(s.state)}">
    <header><b class="sortie-id">${esc(s.id)}</b> <span class="drone">${esc(s.drone_name)}</span>
      <span class="badge state-${esc(s.state)}" data-testid="sortie-state">${t(`ss_${s.state}`)}</span></header>
    <dl>
      <dt>${t("route")}</dt><dd>${esc(routeText(s))}</dd>
      <dt>${t("progress")}</dt><dd class="progress" data-testid="progress">${progressHtml(s)}</dd>
      <dt>${t("battery")}</dt><dd class="battery" data-testid="battery">${battery === null ? "—" : `${num(battery)}%`}</dd>
      <dt>${t("position")}</dt><dd class="telemetry" data-testid="telemetry">${telemetryText(s)}</dd>
      ${s.state_reason ? `<dt>${t("state")}</dt><dd>${esc(s.state_reason)}</dd>` : ""}
      ${s.approved_by ? `<dt>${t("approvedBy")}</dt><dd>${esc(s.approved_by)} · ${t("expires")} ${fmtTime(s.approval_expires_at)}</dd>` : ""}
      ${alerts.length ? `<dt>${t("alerts")}</dt><dd>${alerts.map((a) => `<span class="sev-${esc(a.severity)}">${esc(a.message)}</span>`).join("<br>")}</dd>` : ""}
    </dl>
    <div class="actions">
      <button type="button" class="danger" data-action="abort">${t("abort")}</button>
      ${canLand ? `<button type="button" class="warn" data-action="land">${t("land")}</button>` : ""}
      ${canSettle ? `<button type="button" data-action="settle-flown">${t("settleFlown")}</button>
        <button type="button" data-action="settle-not-flown">${t("settleNotFlown")}</button>` : ""}
    </div>
  </article>`;
}

function updateBatch() {
  const n = state.checked.size;
  const button = $("#approve-selected");
  button.disabled = n === 0;
  button.textContent = `${t("approveSelected")}${n ? ` (${n})` : ""}`;
  const planned = state.sorties.filter((s) => s.state === "planned").length;
  $("#select-all").checked = planned > 0 && n === planned;
}

function confirmDialog(text, { askReason = true } = {}) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-reason").value = "";
  $("#confirm-reason").hidden = !askReason;
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? { reason: $("#confirm-reason").value } : null), { once: true });
  });
}

async function onQueueClick(event) {
  const card = event.target.closest("[data-sortie-id]");
  if (!card) return;
  const id = card.dataset.sortieId;
  const sortie = state.sorties.find((s) => s.id === id);
  const action = event.target.closest("[data-action]")?.dataset.action;
  if (event.target.classList.contains("pick")) {
    if (event.target.checked) state.checked.add(id); else state.checked.delete(id);
    updateBatch();
    return;
  }
  $("#queue-message").textContent = "";
  try {
    if (action === "approve") {
      await post(`/sorties/${encodeURIComponent(id)}/approve`, { plan_hash: sortie.plan_hash });
      await loadOps();
    } else if (action === "reject") {
      card.querySelector(".reject-form").hidden = false;
      card.querySelector(".reject-reason").focus();
    } else if (action === "cancel-reject") {
      card.querySelector(".reject-form").hidden = true;
    } else if (action === "abort" || action === "land") {
      const answer = await confirmDialog(`${t(action === "abort" ? "confirmAbort" : "confirmLand")} ${id}`);
      if (!answer) return;
      await post(`/sorties/${encodeURIComponent(id)}/${action}`, { reason: answer.reason });
      await loadOps();
    } else if (action === "settle-flown" || action === "settle-not-flown") {
      const flown = action === "settle-flown";
      const answer = await confirmDialog(`${t(flown ? "confirmSettleFlown" : "confirmSettleNotFlown")} ${id}`);
      if (!answer) return;
      if (!answer.reason.trim()) { $("#queue-message").textContent = t("settleNeedsReason"); return; }
      await post(`/sorties/${encodeURIComponent(id)}/resolve`, { flown, reason: answer.reason.trim() });
      await loadOps();
    } else if (!event.target.closest("input, button, form, label")) {
      await showDetail(id);
    }
  } catch (error) { showError(error); }
}

async function onRejectSubmit(event) {
  event.preventDefault();
  const card = event.target.closest("[data-sortie-id]");
  const reason = card.querySelector(".reject-reason").value.trim();
  if (!reason) return;
  try {
    await post(`/sorties/${encodeURIComponent(card.dataset.sortieId)}/reject`, { reason });
    await loadOps();
  } catch (error) { showError(error); }
}

async function approveSelected() {
  const items = state.sorties.filter((s) => s.state === "planned" && state.checked.has(s.id))
    .map((s) => ({ id: s.id, plan_hash: s.plan_hash }));
  if (!items.length) return;
  try {
    const result = await post("/sorties/approve", { items });
    state.checked.clear();
    $("#queue-message").textContent = result.failed.length
      ? `${t("approveFailed")}: ${result.failed.map((f) => `${f.id} (${f.code}: ${f.message})`).join("; ")}` : "";
    await loadOps();
  } catch (error) { showError(error); }
}

async function showDetail(id, { keepIfGone = false } = {}) {
  let s;
  try { s = await get(`/sorties/${encodeURIComponent(id)}`); } catch (error) {
    if (keepIfGone) return;
    throw error;
  }
  state.selected = id;
  map.select(id);
  document.querySelectorAll(".sortie-card").forEach((c) => c.classList.toggle("selected", c.dataset.sortieId === id));
  const panel = $("#detail");
  panel.hidden = false;
  panel.dataset.sortieId = id;
  panel.innerHTML = `<header><h3>${t("detail")} <span class="sortie-id">${esc(s.id)}</span></h3>
      <button type="button" id="close-detail" aria-label="${esc(t("close"))}">×</button></header>
    <p><span class="badge state-${esc(s.state)}">${t(`ss_${s.state}`)}</span> ${esc(s.drone_name)} (${esc(s.drone_model || "")}) ·
      ${esc(routeText(s))}</p>
    ${s.void_reason ? `<p class="voided">${t("voided")}: ${esc(s.void_reason)}</p>` : ""}
    <dl>
      <dt>${t("depart")}</dt><dd>${fmtDateTime(s.depart_at)} → ${fmtTime(s.arrive_at)}</dd>
      <dt>${t("parcels")}</dt><dd>${s.parcels.map(esc).join(", ") || "—"} · ${num(s.payload_kg, 2)} kg</dd>
      <dt>${t("energy")}</dt><dd>${energyBar(s)}</dd>
      <dt>${t("separation")}</dt><dd>${separationText(s.separation)}</dd>
      <dt>${t("missionItems")}</dt><dd>${s.mission_items.length}</dd>
      <dt>${t("planHash")}</dt><dd><code class="hash">${esc(s.plan_hash)}</code></dd>
    </dl>
    <h4>${t("legs")}</h4>
    <ol class="legs">${(s.legs || []).map((l) => `<li>${esc(padName(l.from))} → ${esc(padName(l.to))} · ${num((l.length_m || 0) / 1000, 1)} km${
      l.depart_at ? ` · ${fmtTime(l.depart_at)}–${fmtTime(l.arrive_at)}` : ""}${l.energy_wh !== undefined ? ` · ${num(l.energy_wh)} Wh` : ""}</li>`).join("")}</ol>
    <h4>${t("transitions")}</h4>
    <ol class="transitions" data-testid="transitions">${s.transitions.map((tr) => `<li>${fmtDateTime(tr.at)} · ${esc(tr.from_state ? t(`ss_${tr.from_state}`) : "—")} →
      <b>${esc(t(`ss_${tr.to_state}`))}</b> · ${esc(tr.actor)}${tr.reason ? ` · ${esc(tr.reason)}` : ""}</li>`).join("")}</ol>`;
  panel.querySelector("#close-detail").addEventListener("click", () => {
    panel.hidden = true; state.selected = null; map.select(null);
    document.querySelectorAll(".sortie-card.selected").forEach((c) => c.classList.remove("selected"));
  });
}

// --- live events ---------------------------------------------------------------------------------------
function onSortieEvent() { if (state.view === "ops") refreshSoon("ops", loadOps); }

function onVehicle(v) {
  const sortie = state.sorties.find((s) => s.id === v.sortie_id) || state.sorties.find((s) => s.drone_id === v.drone_id && s.state !== "planned");
  if (sortie) state.telemetry[sortie.id] = { ...(state.telemetry[sortie.id] || {}), ...v };
  map.updateVehicle(v, sortie?.drone_name || v.drone_id);
  if (sortie) {
    const card = document.querySelector(`#active [data-sortie-id="${CSS.escape(sortie.id)}"]`);
    if (card) {
      card.querySelector(".telemetry").innerHTML = telemetryText(sortie);
      if (typeof v.battery_pct === "number") card.querySelector(".battery").textContent = `${num(v.battery_pct)}%`;
      // The vehicle reports the mission item it flies to; the stored progress only arrives with the next refresh.
      if (typeof v.mission_seq === "number" && v.mission_seq !== sortie.progress_seq) {
        sortie.progress_seq = v.mission_seq;
        card.querySelector(".progress").innerHTML = progressHtml(sortie);
      }
    }
  }
}

function positionOf(e) {
  const lat = e.lat_deg ?? e.position?.lat_deg, lon = e.lon_deg ?? e.position?.lon_deg;
  return typeof lat === "number" && typeof lon === "number" ? [lat, lon] : null;
}

function onBus(e) {
  const pos = positionOf(e);
  const id = e.locker_id || e.bus_id || e.line_id || e.id;
  if (pos && id) map.updateBus(id, pos[0], pos[1], nameOf(state.names.lockers[id]) || id);
}

function onLocker(e) {
  const pos = positionOf(e);
  const id = e.locker_id || e.id;
  if (pos && id && state.names.lockers[id]?.kind === "bus") map.updateBus(id, pos[0], pos[1], nameOf(state.names.lockers[id]));
  if (state.view === "board") refreshSoon("board", loadBoard);
}

function onAlert() {
  if (state.view === "board") refreshSoon("board", loadBoard);
  if (state.view === "ops") refreshSoon("ops", loadOps);
}

function onParcel(e) {
  if (state.view === "board") refreshSoon("board", loadBoard);
  if (state.view === "parcels" && state.parcel && (e.id === state.parcel.parcel.id || e.parcel_id === state.parcel.parcel.id)) {
    refreshSoon("parcel", () => lookupParcel(state.parcel.parcel.id));
  }
}

// --- board ---------------------------------------------------------------------------------------------
async function loadBoard() { state.board = await get("/board"); renderBoard(); }

function renderBoard() {
  const b = state.board;
  if (!b) return;
  $("#board-alerts").innerHTML = b.alerts.length
    ? `<ul class="alerts">${b.alerts.map((a) => `<li class="alert sev-${esc(a.severity)}" data-alert-id="${a.id}">
        <span class="badge sev-${esc(a.severity)}">${t(`severity_${a.severity}`)}</span>
        <span class="when">${fmtDateTime(a.at)}</span> <b>${esc(a.object_type)} ${esc(a.object_id)}</b> ${esc(a.message)}
        <button type="button" data-action="ack">${t("ack")}</button></li>`).join("")}</ul>`
    : `<p class="ok-banner">${t("noAlerts")}</p>`;
  $("#board-points").innerHTML = `<table><thead><tr><th>${t("name")}</th><th>${t("waiting")}</th><th>${t("overdue")}</th>
      <th>${t("lockers")}</th><th>${t("lastEvent")}</th></tr></thead><tbody>
    ${b.service_points.map((p) => `<tr data-point-id="${esc(p.id)}" class="${p.overdue ? "has-overdue" : ""}">
      <td>${esc(nameOf(p))}</td><td class="num waiting">${p.waiting}</td><td class="num overdue">${p.overdue}</td>
      <td>${p.lockers.map((id) => esc(nameOf(state.names.lockers[id]) || id)).join(", ") || "—"}</td>
      <td class="small">${p.last_event ? `${fmtDateTime(p.last_event.at)} · ${esc(p.last_event.parcel_id)} ${esc(t(`ps_${p.last_event.to_state}`))}` : "—"}</td></tr>`).join("")}
    </tbody></table>`;
  $("#board-lockers").innerHTML = `<table><thead><tr><th>${t("name")}</th><th>${t("online")}</th>
      <th>${t("free")}</th><th>${t("occupied")}</th><th>${t("faulty")}</th><th>${t("lastEvent")}</th></tr></thead><tbody>
    ${b.lockers.map((l) => `<tr data-locker-id="${esc(l.id)}" class="${l.online ? "" : "is-offline"}">
      <td>${esc(l.name)} <span class="muted small">${t(l.kind === "bus" ? "busLocker" : "fixedLocker")}</span></td>
      <td><span class="dot-status ${l.online ? "up" : "down"}" data-online="${l.online}"></span>${t(l.online ? "online" : "offline")}</td>
      <td class="num free">${l.compartments.free}</td><td class="num occupied">${l.compartments.occupied}</td>
      <td class="num faulty">${l.compartments.faulty + l.compartments.offline}</td>
      <td class="small">${l.last_event ? `${fmtDateTime(l.last_event.at)} · ${esc(l.last_event.kind)}` : "—"}</td></tr>`).join("")}
    </tbody></table>`;
}

async function onBoardClick(event) {
  const button = event.target.closest("[data-action=ack]");
  if (!button) return;
  const id = button.closest("[data-alert-id]").dataset.alertId;
  button.disabled = true;
  try { await post(`/alerts/${id}/ack`); await loadBoard(); } catch (error) { showError(error); button.disabled = false; }
}

// --- parcel lookup -------------------------------------------------------------------------------------
async function lookupParcel(id) {
  $("#parcel-error").textContent = "";
  try {
    state.newCode = null;
    const parcel = await get(`/parcels/${encodeURIComponent(id)}`);
    const events = await get(`/parcels/${encodeURIComponent(parcel.id)}/events`);
    state.parcel = { parcel, events };
  } catch (error) {
    state.parcel = null;
    $("#parcel-error").textContent = error.status === 404 ? `${t("notFound")}: ${id}` : error.message;
  }
  renderParcel();
}

// A parcel in these states has no live pickup code (the controller refuses a re-issue).
const DONE_PARCEL_STATES = new Set(["picked_up", "returned", "cancelled", "lost"]);

async function reissueCode() {
  const p = state.parcel?.parcel;
  if (!p?.locker_id) return;
  const answer = await confirmDialog(`${t("confirmReissue")} ${p.id}`);
  if (!answer) return;
  const reason = answer.reason.trim();
  if (!reason) { $("#parcel-error").textContent = t("reasonRequired"); return; }
  $("#parcel-error").textContent = "";
  try {
    const issued = await post(`/lockers/${encodeURIComponent(p.locker_id)}/parcels/${encodeURIComponent(p.id)}/code`,
      { reason });
    // Kept in memory only for this card: looking up another parcel forgets it.
    state.newCode = { parcel_id: issued.parcel_id, code: issued.code };
    renderParcel();
  } catch (error) { showError(error); }
}

function renderParcel() {
  const box = $("#parcel-result");
  if (!state.parcel) { box.innerHTML = ""; return; }
  const { parcel: p, events } = state.parcel;
  box.innerHTML = `<article class="card parcel-card" data-parcel-id="${esc(p.id)}">
      <h3>${esc(p.id)} <span class="badge" data-testid="parcel-state">${esc(t(`ps_${p.state}`))}</span></h3>
      <dl>
        <dt>${t("origin")}</dt><dd>${esc(pointName(p.origin_id))}</dd>
        <dt>${t("destination")}</dt><dd>${esc(pointName(p.destination_id))}</dd>
        <dt>${t("direction")}</dt><dd>${t(`dir_${p.direction}`)}</dd>
        <dt>${t("weight")}</dt><dd>${num(p.weight_kg, 2)} kg · ${esc(p.kind)}</dd>
        <dt>${t("due")}</dt><dd>${fmtDateTime(p.due_at)}</dd>
        <dt>${t("recipient")}</dt><dd>${esc(p.recipient_name)}</dd>
        ${p.sortie_id ? `<dt>${t("sortie")}</dt><dd><a href="#ops" data-sortie-link="${esc(p.sortie_id)}">${esc(p.sortie_id)}</a></dd>` : ""}
        ${p.locker_id ? `<dt>${t("locker")}</dt><dd>${esc(nameOf(state.names.lockers[p.locker_id]) || p.locker_id)}</dd>` : ""}
      </dl>
      ${p.locker_id && !DONE_PARCEL_STATES.has(p.state) ? `<button type="button" data-action="reissue-code"
        data-testid="reissue-code">${t("reissueCode")}</button>` : ""}
      ${state.newCode?.parcel_id === p.id ? `<p class="new-code" data-testid="new-code">${t("newCode")}:
        <b class="num">${esc(state.newCode.code)}</b></p>` : ""}
      </article>
    <h3>${t("timeline")}</h3>
    <ol class="timeline" data-testid="timeline">${events.map((e) => `<li data-state="${esc(e.to_state)}">
      <time datetime="${esc(e.at)}">${fmtDateTime(e.at)}</time>
      <b>${esc(t(`ps_${e.to_state}`))}</b>
      <span class="small">${e.place_id ? `${t("place")}: ${esc(pointName(e.place_id))} · ` : ""}${t("actor")}: ${esc(e.actor)}${e.reason ? ` · ${esc(e.reason)}` : ""}</span>
    </li>`).join("")}</ol>`;
}

// --- statistics ----------------------------------------------------------------------------------------
function todayInShanghai() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}

async function loadStats() {
  if (!$("#stats-end").value) $("#stats-end").value = todayInShanghai();
  state.stats = await get(`/stats/daily?days=${$("#stats-days").value}&end=${$("#stats-end").value}`);
  renderStats();
}

function renderStats() {
  const s = state.stats;
  if (!s) return;
  const labels = s.days.map((d) => d.date.slice(5));
  barChart($("#chart-parcels"), { labels, series: [
    { name: t("down"), values: s.days.map((d) => d.parcels_down), cls: "s-down" },
    { name: t("up"), values: s.days.map((d) => d.parcels_up), cls: "s-up" }] });
  lineChart($("#chart-ontime"), { labels, values: s.days.map((d) => d.on_time_rate === null ? null : d.on_time_rate * 100),
    max: 100, cls: "s-ontime", name: `${t("onTimeRate")} (%)`, format: (v) => `${Math.round(v)}%` });
  barChart($("#chart-sorties"), { labels, series: [
    { name: t("completed"), values: s.days.map((d) => d.sorties_completed), cls: "s-done" },
    { name: t("sorties"), values: s.days.map((d) => d.sorties - d.sorties_completed), cls: "s-sorties" }] });
  barChart($("#chart-energy"), { labels, series: [{ name: "Wh", values: s.days.map((d) => d.energy_wh), cls: "s-energy" }] });
}

// --- admin ---------------------------------------------------------------------------------------------
/** An API error as one line: code, message and (for request validation) which fields were wrong. */
function errorText(error) {
  if (!(error instanceof ApiError)) return String(error?.message || error);
  const details = Array.isArray(error.body?.details)
    ? error.body.details.map((d) => `${(d.loc || []).filter((x) => x !== "body").join(".")}: ${d.msg}`).join("; ") : "";
  return `${error.code}: ${error.message}${details ? ` (${details})` : ""}`;
}

async function loadAdmin() {
  const [users, drones, pads] = await Promise.all([get("/users"), get("/drones"), get("/pads")]);
  $("#users").innerHTML = `<table><thead><tr><th>${t("userName")}</th><th>${t("role")}</th></tr></thead><tbody>
    ${users.map((u) => `<tr data-user="${esc(u.name)}"><td>${esc(u.name)}</td><td>${t(`role_${u.role}`)}${u.disabled ? " ✕" : ""}</td></tr>`).join("")}</tbody></table>`;
  $("#drones").innerHTML = `<table><thead><tr><th>ID</th><th>${t("name")}</th><th>${t("model")}</th><th>${t("home")}</th><th>sysid</th><th>${t("battery")}</th></tr></thead><tbody>
    ${drones.map((d) => `<tr data-drone="${esc(d.id)}"><td>${esc(d.id)}</td><td>${esc(d.name)}</td><td>${esc(d.model)}</td><td>${esc(padName(d.home_pad_id ?? d.home_pad))}</td>
      <td>${esc(d.sysid)}</td><td>${num(d.battery_pct)}%</td></tr>`).join("")}</tbody></table>`;
  const padSelect = $("#drone-pad");
  const chosen = padSelect.value;
  padSelect.innerHTML = pads.map((p) => `<option value="${esc(p.id)}">${esc(nameOf(p))} (${esc(p.id)})</option>`).join("");
  if (pads.some((p) => p.id === chosen)) padSelect.value = chosen;
  renderFence();
  document.querySelectorAll("#user-role option").forEach((o) => { o.textContent = t(`role_${o.value}`); });
}

/** The fence summary, and the editor filled with the current version (kept while the admin edits it). */
function renderFence({ force = false } = {}) {
  const fence = state.network.geofence;
  $("#fences").innerHTML = `<p>${t("fenceVersion")}: <b data-testid="fence-version">${esc(fence.version)}</b></p>
    <ul>${fence.geojson.features.map((f) =>
    `<li class="zone-${esc(f.properties?.kind)}">${esc(f.properties?.kind)} · ${esc(f.properties?.name)}</li>`).join("")}</ul>`;
  const editor = $("#fence-json");
  if (force || editor.dataset.version !== String(fence.version)) {
    editor.value = JSON.stringify(fence.geojson, null, 2);
    editor.dataset.version = String(fence.version);
  }
}

async function saveFence(event) {
  event.preventDefault();
  const error = $("#fence-error"), result = $("#fence-result");
  error.textContent = "";
  let geojson;
  try { geojson = JSON.parse($("#fence-json").value); } catch (exc) {
    error.textContent = `${t("fenceBadJson")}: ${exc.message}`;
    return;
  }
  const reason = $("#fence-reason").value.trim();
  if (!reason) { $("#fence-reason").focus(); return; }
  if (!await confirmDialog(t("fenceConfirm"), { askReason: false })) return;
  try {
    const saved = await put("/geofence", { geojson, reason });
    await loadNetwork();
    $("#fence-reason").value = "";
    renderFence({ force: true });
    const voided = saved.voided_approvals || [];
    result.innerHTML = `${t("fenceSaved")} <b data-testid="fence-saved-version">${esc(saved.version)}</b> · ${t("fenceVoided")}:
      <span data-testid="fence-voided">${voided.length ? voided.map(esc).join(", ") : t("none")}</span>`;
    result.hidden = false;
  } catch (exc) {
    result.hidden = true;
    error.textContent = `${t("fenceFailed")}: ${errorText(exc)}`;
  }
}

async function registerDrone(event) {
  event.preventDefault();
  const message = $("#drone-message");
  message.textContent = "";
  message.classList.remove("ok");
  const url = $("#drone-url").value.trim();
  const body = { id: $("#drone-id").value.trim(), name: $("#drone-name").value.trim(), model: $("#drone-model").value,
    home_pad: $("#drone-pad").value, sysid: Number($("#drone-sysid").value) };
  if (url) body.connection_url = url;
  try {
    const drone = await post("/drones", body);
    $("#drone-form").reset();
    await loadAdmin();
    message.classList.add("ok");
    message.textContent = `${t("droneRegistered")}: ${drone.id}`;
  } catch (exc) { message.textContent = `${t("droneFailed")}: ${errorText(exc)}`; }
}

async function createUser(event) {
  event.preventDefault();
  try {
    const created = await post("/users", { name: $("#user-name").value.trim(), role: $("#user-role").value });
    $("#user-token").textContent = `${t("tokenOnce")}: ${created.token}`;
    $("#user-name").value = "";
    await loadAdmin();
  } catch (error) { $("#user-token").textContent = `${error.code}: ${error.message}`; }
}

// --- language ------------------------------------------------------------------------------------------
function rerender() {
  applyStatic();
  $("#lang").textContent = getLang() === "zh" ? "EN" : "中文";
  renderWho();
  const live = $("#live");
  if (state.me) live.textContent = t(live.classList.contains("on") ? "live_on" : "live_off");
  buildLayerToggles();
  if (!state.me) return;
  if (state.network) map.setNetwork(state.network);
  map.view = { ...map.view };
  if (state.view === "ops") renderOps();
  if (state.view === "board") renderBoard();
  if (state.view === "parcels") renderParcel();
  if (state.view === "stats") renderStats();
  if (state.view === "admin") loadAdmin().catch(showError);
}

function buildLayerToggles() {
  const box = $("#layer-toggles");
  const hidden = new Set(JSON.parse(localStorage.getItem("dispatch.hiddenLayers") || "[]"));
  box.innerHTML = LAYERS.map((name) => `<label><input type="checkbox" data-layer-toggle="${name}" ${hidden.has(name) ? "" : "checked"}>
    ${t(`layer_${name === "vehicles" ? "vehicles" : name}`)}</label>`).join("");
  for (const name of LAYERS) map.setLayerVisible(name, !hidden.has(name));
}

function onLayerToggle(event) {
  const name = event.target.dataset.layerToggle;
  if (!name) return;
  map.setLayerVisible(name, event.target.checked);
  const hidden = LAYERS.filter((n) => !document.querySelector(`[data-layer-toggle="${n}"]`).checked);
  localStorage.setItem("dispatch.hiddenLayers", JSON.stringify(hidden));
}

// --- boot ----------------------------------------------------------------------------------------------
function boot() {
  map = new MapView($("#map"), { onSelectSortie: (id) => showDetail(id).catch(showError) });
  setLang(getLang());
  rerender();
  $("#lang").addEventListener("click", () => { setLang(getLang() === "zh" ? "en" : "zh"); rerender(); });
  $("#sign-out").addEventListener("click", signOut);
  $("#signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("#token").value.trim()); });
  $("#queue").addEventListener("click", onQueueClick);
  $("#active").addEventListener("click", onQueueClick);
  $("#queue").addEventListener("submit", onRejectSubmit);
  $("#select-all").addEventListener("change", (e) => {
    state.checked = new Set(e.target.checked ? state.sorties.filter((s) => s.state === "planned").map((s) => s.id) : []);
    renderOps();
  });
  $("#approve-selected").addEventListener("click", approveSelected);
  $("#reset-view").addEventListener("click", () => map.resetView());
  $("#layer-toggles").addEventListener("change", onLayerToggle);
  $("#board-alerts").addEventListener("click", onBoardClick);
  $("#parcel-form").addEventListener("submit", (e) => { e.preventDefault(); lookupParcel($("#parcel-id").value.trim()); });
  $("#parcel-result").addEventListener("click", (e) => {
    const link = e.target.closest("[data-sortie-link]");
    if (link) { state.selected = link.dataset.sortieLink; }
    if (e.target.closest("[data-action=reissue-code]")) reissueCode();
  });
  $("#stats-form").addEventListener("change", () => loadStats().catch(showError));
  $("#user-form").addEventListener("submit", createUser);
  $("#drone-form").addEventListener("submit", registerDrone);
  $("#fence-form").addEventListener("submit", saveFence);
  $("#fence-reset").addEventListener("click", () => { $("#fence-error").textContent = ""; renderFence({ force: true }); });
  window.addEventListener("hashchange", () => route());
  if (session.token) signIn(session.token); else route();
}

boot();
