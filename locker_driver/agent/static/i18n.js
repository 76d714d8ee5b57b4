// Messages for the kiosk and courier pages: Chinese by default, English on request.
const MESSAGES = {
  zh: {
    kiosk_title: "取件", enter_code: "请输入 7 位取件码", clear: "清除", backspace: "退格", open: "开门取件",
    opened: (d) => `门 ${d} 已打开，请取走包裹后关门`, wrong_or_expired_code: "取件码错误或已过期",
    locked_out: (m) => `输入错误次数过多，请 ${m} 分钟后再试`, bus_moving: "车辆行驶中，柜门暂不能打开，请在车辆停稳后取件",
    door_fault: (d) => `门 ${d} 打不开，已通知工作人员，您的取件码仍然有效`, not_ready: "柜子正在自检，请稍候",
    offline: "无法连接柜子，请稍后再试", error: "出现错误，请联系工作人员", lang: "English",
    courier_title: "快递员", name: "姓名", pin: "密码", sign_in: "登录", signed_in: (n) => `已登录：${n}`,
    wrong_login: "姓名或密码错误", parcel_id: "包裹单号（扫码或输入）", size: "格口大小", size_auto: "自动",
    deposit: "开门投递", deposit_opened: (d) => `门 ${d} 已打开，请放入包裹并关门`, closed_btn: "我已关门",
    closed_ok: (d) => `门 ${d} 已关好，包裹已入柜`, still_open: (d) => `门 ${d} 还开着，请关好`,
    faulty_skipped: (list) => `门 ${list} 故障，已换到其他格口`, no_free_compartment: "没有合适的空格口",
    unknown_parcel: "包裹不在本柜或已在柜中", expired_title: "待取回（已过期）", take_back: "开门取回",
    none: "无", take_back_opened: (d) => `门 ${d} 已打开，请取回包裹并关门`,
  },
  en: {
    kiosk_title: "Pick up", enter_code: "Enter your 7-digit pickup code", clear: "Clear", backspace: "Delete",
    open: "Open door", opened: (d) => `Door ${d} is open: take your parcel and close the door`,
    wrong_or_expired_code: "Wrong or expired code", locked_out: (m) => `Too many wrong codes. Try again in ${m} minutes`,
    bus_moving: "The bus is moving: doors open only when it has stopped",
    door_fault: (d) => `Door ${d} did not open. Staff have been told; your code stays valid`,
    not_ready: "The locker is checking its doors, please wait", offline: "Cannot reach the locker, try again later",
    error: "Something went wrong, please ask staff", lang: "中文",
    courier_title: "Courier", name: "Name", pin: "PIN", sign_in: "Sign in", signed_in: (n) => `Signed in: ${n}`,
    wrong_login: "Wrong name or PIN", parcel_id: "Parcel id (scan or type)", size: "Size", size_auto: "Auto",
    deposit: "Open a door", deposit_opened: (d) => `Door ${d} is open: put the parcel in and close it`,
    closed_btn: "I closed the door", closed_ok: (d) => `Door ${d} is closed: parcel deposited`,
    still_open: (d) => `Door ${d} is still open: please close it`,
    faulty_skipped: (list) => `Door ${list} is faulty; another door was used`,
    no_free_compartment: "No free compartment fits this parcel", unknown_parcel: "Parcel not here or already in the locker",
    expired_title: "To take back (expired)", take_back: "Open to take back", none: "None",
    take_back_opened: (d) => `Door ${d} is open: take the parcel and close the door`,
  },
};

let lang = localStorage.getItem("locker-lang") || "zh";

function t(key, ...args) {
  const value = MESSAGES[lang][key] ?? MESSAGES.zh[key] ?? key;
  return typeof value === "function" ? value(...args) : value;
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

function toggleLanguage() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("locker-lang", lang);
  applyLanguage();
  document.dispatchEvent(new Event("languagechange"));
}

async function api(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { ok: false, status: 0, data: { code: "offline" } };
  }
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}
