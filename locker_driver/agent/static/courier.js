// Courier: sign in, deposit (door opens, confirm closed), take expired parcels back.
let token = null;
let openDoor = null; // {board, lock} waiting to be closed
let last = null;
const result = document.getElementById("result");
const closedButton = document.getElementById("closed");

function show(kind, key, ...args) {
  last = [kind, key, args];
  result.className = `result ${kind}`;
  result.textContent = t(key, ...args);
}

function explain(reply) {
  const code = reply.data.code;
  if (code === "locked_out") return show("bad", "locked_out", Math.max(1, Math.ceil(reply.data.details.retry_after_s / 60)));
  if (code === "door_fault") return show("bad", "door_fault", reply.data.details.lock);
  if (["bus_moving", "not_ready", "offline", "no_free_compartment", "unknown_parcel"].includes(code)) return show("bad", code);
  if (code === "not_signed_in") return show("bad", "wrong_login");
  return show("bad", "error");
}

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value.trim();
  const reply = await api("POST", "/api/courier/login", { name, pin: document.getElementById("pin").value });
  document.getElementById("pin").value = "";
  if (!reply.ok) return explain(reply);
  token = reply.data.token;
  document.getElementById("login-section").hidden = true;
  document.getElementById("work").hidden = false;
  document.getElementById("who").textContent = t("signed_in", reply.data.name);
  result.textContent = "";
  result.className = "result";
  document.getElementById("parcel").focus();
  refreshExpired();
});

document.getElementById("deposit").addEventListener("submit", async (event) => {
  event.preventDefault();
  const parcel = document.getElementById("parcel");
  const size = document.getElementById("size").value || undefined;
  const reply = await api("POST", "/api/courier/deposit", { parcel_id: parcel.value.trim(), size }, token);
  if (!reply.ok) return explain(reply);
  parcel.value = "";
  openDoor = { board: reply.data.board, lock: reply.data.lock, key: "closed_ok" };
  show("ok", "deposit_opened", reply.data.lock);
  if (reply.data.faulty_doors.length) result.textContent += " · " + t("faulty_skipped", reply.data.faulty_doors.join(", "));
  closedButton.hidden = false;
  closedButton.focus();
});

closedButton.addEventListener("click", async () => {
  if (!openDoor) return;
  const reply = await api("POST", `/api/courier/doors/${openDoor.board}/${openDoor.lock}/check`, undefined, token);
  if (!reply.ok) return explain(reply);
  if (reply.data.door_open) return show("bad", "still_open", openDoor.lock);
  show("ok", openDoor.key, openDoor.lock);
  openDoor = null;
  closedButton.hidden = true;
  refreshExpired();
});

async function takeBack(parcelId) {
  const reply = await api("POST", "/api/courier/take-back", { parcel_id: parcelId }, token);
  if (!reply.ok) return explain(reply);
  openDoor = { board: reply.data.board, lock: reply.data.lock, key: "closed_ok" };
  show("ok", "take_back_opened", reply.data.lock);
  closedButton.hidden = false;
  closedButton.focus();
}

async function refreshExpired() {
  const reply = await api("GET", "/api/courier/expired", undefined, token);
  if (!reply.ok) return;
  const list = document.getElementById("expired");
  list.replaceChildren();
  document.getElementById("expired-section").hidden = false;
  if (!reply.data.length) {
    const li = document.createElement("li");
    li.textContent = t("none");
    list.append(li);
  }
  for (const item of reply.data) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = `${item.parcel_id} · ${item.lock}`;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = t("take_back");
    button.dataset.testid = `take-back-${item.parcel_id}`;
    button.addEventListener("click", () => takeBack(item.parcel_id));
    li.append(label, button);
    list.append(li);
  }
}

async function refreshStatus() {
  const reply = await api("GET", "/api/status");
  document.getElementById("moving").hidden = !(reply.ok && reply.data.moving);
}

document.getElementById("lang").addEventListener("click", toggleLanguage);
document.addEventListener("languagechange", () => { if (last) show(last[0], last[1], ...last[2]); if (token) refreshExpired(); });
applyLanguage();
refreshStatus();
setInterval(refreshStatus, 2000);
