// Kiosk: keypad (touch or keyboard) -> POST /api/pickup; plain results; interlock banner from /api/status.
const code = document.getElementById("code");
const result = document.getElementById("result");
const moving = document.getElementById("moving");
let last = null; // the last result, re-rendered when the language changes

function show(kind, key, ...args) {
  last = [kind, key, args];
  result.className = `result ${kind}`;
  result.textContent = t(key, ...args);
}

function explain(reply) {
  const code = reply.data.code;
  const details = reply.data.details || {};
  if (reply.ok) return show("ok", "opened", reply.data.lock);
  if (code === "locked_out") return show("bad", "locked_out", Math.max(1, Math.ceil(details.retry_after_s / 60)));
  if (code === "door_fault") return show("bad", "door_fault", details.lock);
  if (["wrong_or_expired_code", "bus_moving", "not_ready", "offline"].includes(code)) return show("bad", code);
  return show("bad", "error");
}

document.querySelector(".keypad").addEventListener("click", (event) => {
  const digit = event.target.dataset.digit;
  if (digit !== undefined && code.value.length < 7) code.value += digit;
  if (event.target.id === "clear") code.value = "";
  if (event.target.id === "back") code.value = code.value.slice(0, -1);
  code.focus();
});

code.addEventListener("input", () => { code.value = code.value.replace(/\D/g, "").slice(0, 7); });

document.getElementById("pickup").addEventListener("submit", async (event) => {
  event.preventDefault();
  const entered = code.value;
  code.value = "";
  explain(await api("POST", "/api/pickup", { code: entered }));
  code.focus();
});

async function refreshStatus() {
  const reply = await api("GET", "/api/status");
  moving.hidden = !(reply.ok && reply.data.moving);
}

document.getElementById("lang").addEventListener("click", toggleLanguage);
document.addEventListener("languagechange", () => { if (last) show(last[0], last[1], ...last[2]); });
applyLanguage();
refreshStatus();
setInterval(refreshStatus, 2000);
