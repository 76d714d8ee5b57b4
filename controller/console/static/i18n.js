// Chinese (default) and English UI text; times always shown in Asia/Shanghai.
const TEXT = {
  zh: {
    title: "嵊泗海岛无人机与车载柜调度台", signIn: "登录", signOut: "退出", token: "访问令牌",
    tokenHint: "粘贴您的用户令牌（dsp_…）", signInFailed: "登录失败", staffOnly: "本控制台仅供调度员和管理员使用",
    nav_ops: "调度", nav_board: "一屏掌握", nav_parcels: "包裹查询", nav_stats: "统计", nav_admin: "管理",
    role_admin: "管理员", role_dispatcher: "调度员", role_courier: "快递员", role_kiosk: "自助终端",
    live_on: "实时连接", live_off: "连接中断，重连中…",
    layers: "图层", layer_islands: "岛屿", layer_area: "作业区", layer_nofly: "禁飞区", layer_bus: "公交线路",
    layer_ferry: "渡轮航线", layer_points: "服务点", layer_pads: "起降场", layer_routes: "航线",
    layer_vehicles: "无人机/公交", resetView: "复位",
    queue: "待审批架次", active: "执行中架次", none: "无", selectAll: "全选", approveSelected: "批量批准",
    approve: "批准", reject: "驳回", rejectReason: "驳回理由", confirmReject: "确认驳回", cancel: "取消",
    abort: "中止", land: "就地降落", confirmAbort: "确认中止该架次？", confirmLand: "确认让无人机就地降落？",
    settleFlown: "确认已飞", settleNotFlown: "确认未起飞",
    confirmSettleFlown: "核实后确认：无人机已飞完整个任务，包裹已在各站点卸下。请写明核实情况。架次：",
    confirmSettleNotFlown: "核实后确认：无人机从未离开起降点，包裹退回待调度。请写明核实情况。架次：",
    settleNeedsReason: "请写明核实情况（谁检查了无人机和包裹）",
    reasonOptional: "理由（可选）", confirm: "确认", route: "航线", parcels: "包裹", payload: "载重",
    energy: "能耗", energyNeed: "需要", energyBudget: "可用", battery: "电池", reserve: "预留", wind: "风",
    separation: "间隔", planHash: "计划哈希", age: "已等待", depart: "起飞", arrive: "到达", altitude: "高度",
    length: "航程", voided: "批准已作废", state: "状态", progress: "进度", alerts: "告警", position: "位置",
    detail: "架次详情", close: "关闭", transitions: "状态记录", legs: "航段", missionItems: "航点指令",
    avoided: "避让", shift: "延后", approvedBy: "批准人", expires: "批准有效至", noPosition: "暂无位置",
    approveFailed: "批准失败", actionFailed: "操作失败", selected: "已选",
    boardTitle: "一屏掌握", servicePoints: "服务点", lockers: "智能柜", online: "在线", offline: "离线",
    waiting: "待发", overdue: "超时", lastEvent: "最近事件", compartments: "格口", free: "空闲",
    occupied: "占用", faulty: "故障", ack: "确认", noAlerts: "没有未处理告警", kind: "类型", name: "名称",
    severity_critical: "严重", severity_warning: "警告", severity_info: "提示", busLocker: "车载柜", fixedLocker: "固定柜",
    lookup: "查询", parcelId: "包裹号 / 条码 / RFID", notFound: "未找到该包裹", timeline: "跟踪记录",
    locker: "智能柜", reissueCode: "重发取件码", confirmReissue: "为该包裹生成新的取件码？旧码在柜子下次同步后失效。包裹：",
    newCode: "新取件码（仅显示一次，请发给收件人）", reasonRequired: "请填写原因",
    origin: "始发", destination: "目的地", due: "时限", weight: "重量", recipient: "收件人", direction: "方向",
    dir_down: "下行（县城→海岛）", dir_up: "上行（海岛→县城）", place: "地点", actor: "操作人", sortie: "架次",
    statsTitle: "每日统计", days: "天数", endDate: "截止日期", parcelsPerDay: "每日包裹（按方向）",
    onTimeRate: "准时率", sortiesPerDay: "每日架次", energyPerDay: "每日能耗 (Wh)", down: "下行", up: "上行",
    delivered: "送达", sorties: "架次", completed: "完成",
    users: "用户", drones: "无人机", fences: "电子围栏", createUser: "新建用户", userName: "用户名", role: "角色",
    tokenOnce: "新令牌（只显示一次）", home: "机场", model: "型号", fenceVersion: "围栏版本",
    fenceJsonHint: "当前围栏（GeoJSON FeatureCollection，可直接编辑；禁飞圆为 Point + radius_m）",
    fenceReason: "变更理由（必填）", fenceSave: "保存为新版本", fenceReset: "恢复当前版本",
    fenceConfirm: "保存新的围栏版本？所有基于旧围栏的已批准架次将被作废，需要重新审批。",
    fenceSaved: "已保存围栏版本", fenceVoided: "已作废批准的架次", fenceBadJson: "JSON 格式错误",
    fenceFailed: "围栏未保存", registerDrone: "登记无人机", connectionUrl: "连接地址（可选）",
    connectionUrlHint: "如 tcp:127.0.0.1:5760", droneRegistered: "已登记无人机", droneFailed: "登记失败",
    ps_received: "已收件", ps_scheduled: "已排班", ps_in_transit_drone: "无人机运输中", ps_in_transit_bus: "公交运输中",
    ps_in_transit_ferry: "渡轮运输中", ps_at_service_point: "到达服务点", ps_at_locker: "已入柜",
    ps_picked_up: "已取件", ps_returned: "已退回", ps_lost: "丢失", ps_cancelled: "已取消",
    ss_planned: "待审批", ss_approved: "已批准", ss_rejected: "已驳回", ss_uploading: "上传航线", ss_ready: "就绪",
    ss_airborne: "飞行中", ss_delivering: "投递中", ss_returning: "返航中", ss_landing: "降落中",
    ss_completed: "已完成", ss_upload_failed: "上传失败", ss_preflight_failed: "飞前检查失败", ss_aborted: "已中止",
    ss_diverted: "已备降", ss_link_lost: "链路中断", ss_failsafe: "失效保护", ss_cancelled: "已取消",
  },
  en: {
    title: "Shengsi island drone & bus-locker dispatch", signIn: "Sign in", signOut: "Sign out", token: "Access token",
    tokenHint: "Paste your user token (dsp_…)", signInFailed: "Sign-in failed", staffOnly: "This console is for dispatchers and admins",
    nav_ops: "Dispatch", nav_board: "Board", nav_parcels: "Parcels", nav_stats: "Statistics", nav_admin: "Admin",
    role_admin: "Admin", role_dispatcher: "Dispatcher", role_courier: "Courier", role_kiosk: "Kiosk",
    live_on: "Live", live_off: "Disconnected, reconnecting…",
    layers: "Layers", layer_islands: "Islands", layer_area: "Operating area", layer_nofly: "No-fly zones",
    layer_bus: "Bus lines", layer_ferry: "Ferry lines", layer_points: "Service points", layer_pads: "Pads",
    layer_routes: "Routes", layer_vehicles: "Drones / buses", resetView: "Reset",
    queue: "Approval queue", active: "Active sorties", none: "None", selectAll: "Select all", approveSelected: "Approve selected",
    approve: "Approve", reject: "Reject", rejectReason: "Reason for rejection", confirmReject: "Reject", cancel: "Cancel",
    abort: "Abort", land: "Land now", confirmAbort: "Abort this sortie?", confirmLand: "Land the drone where it is?",
    settleFlown: "It flew", settleNotFlown: "It never took off",
    confirmSettleFlown: "Checked: the drone flew the whole mission and left the parcels at their stops. Say what was checked. Sortie:",
    confirmSettleNotFlown: "Checked: the drone never left the pad; its parcels go back to the pool. Say what was checked. Sortie:",
    settleNeedsReason: "Say what was checked (who looked at the drone and the parcels)",
    reasonOptional: "Reason (optional)", confirm: "Confirm", route: "Route", parcels: "Parcels", payload: "Payload",
    energy: "Energy", energyNeed: "need", energyBudget: "usable", battery: "battery", reserve: "reserve", wind: "Wind",
    separation: "Separation", planHash: "Plan hash", age: "Waiting", depart: "Depart", arrive: "Arrive", altitude: "Altitude",
    length: "Length", voided: "Approval voided", state: "State", progress: "Progress", alerts: "Alerts", position: "Position",
    detail: "Sortie detail", close: "Close", transitions: "Transitions", legs: "Legs", missionItems: "Mission items",
    avoided: "avoided", shift: "shifted", approvedBy: "Approved by", expires: "Approval valid until", noPosition: "No position yet",
    approveFailed: "Approval failed", actionFailed: "Action failed", selected: "selected",
    boardTitle: "Board", servicePoints: "Service points", lockers: "Lockers", online: "online", offline: "offline",
    waiting: "Waiting", overdue: "Overdue", lastEvent: "Last event", compartments: "Compartments", free: "free",
    occupied: "occupied", faulty: "faulty", ack: "Acknowledge", noAlerts: "No open alerts", kind: "Kind", name: "Name",
    severity_critical: "critical", severity_warning: "warning", severity_info: "info", busLocker: "bus locker", fixedLocker: "fixed locker",
    lookup: "Look up", parcelId: "Parcel id / barcode / RFID", notFound: "No such parcel", timeline: "Tracking timeline",
    locker: "Locker", reissueCode: "Re-issue pickup code",
    confirmReissue: "Issue a new pickup code? The old one stops working when the locker next syncs. Parcel:",
    newCode: "New pickup code (shown once: send it to the recipient)", reasonRequired: "A reason is required",
    origin: "Origin", destination: "Destination", due: "Due", weight: "Weight", recipient: "Recipient", direction: "Direction",
    dir_down: "down (county → islands)", dir_up: "up (islands → county)", place: "Place", actor: "Actor", sortie: "Sortie",
    statsTitle: "Daily statistics", days: "Days", endDate: "Last day", parcelsPerDay: "Parcels per day by direction",
    onTimeRate: "On-time rate", sortiesPerDay: "Sorties per day", energyPerDay: "Energy per day (Wh)", down: "down", up: "up",
    delivered: "delivered", sorties: "sorties", completed: "completed",
    users: "Users", drones: "Drones", fences: "Geofence", createUser: "Create user", userName: "Name", role: "Role",
    tokenOnce: "New token (shown once)", home: "Home pad", model: "Model", fenceVersion: "Fence version",
    fenceJsonHint: "Current fence (GeoJSON FeatureCollection, editable; a no-fly circle is a Point with radius_m)",
    fenceReason: "Reason for the change (required)", fenceSave: "Save new version", fenceReset: "Revert to current",
    fenceConfirm: "Save a new geofence version? Every approval bound to the old fence will be voided and must be approved again.",
    fenceSaved: "Saved geofence version", fenceVoided: "Voided approvals", fenceBadJson: "Invalid JSON",
    fenceFailed: "Fence not saved", registerDrone: "Register drone", connectionUrl: "Connection URL (optional)",
    connectionUrlHint: "e.g. tcp:127.0.0.1:5760", droneRegistered: "Registered drone", droneFailed: "Registration failed",
    ps_received: "received", ps_scheduled: "scheduled", ps_in_transit_drone: "in transit (drone)", ps_in_transit_bus: "in transit (bus)",
    ps_in_transit_ferry: "in transit (ferry)", ps_at_service_point: "at service point", ps_at_locker: "in locker",
    ps_picked_up: "picked up", ps_returned: "returned", ps_lost: "lost", ps_cancelled: "cancelled",
    ss_planned: "planned", ss_approved: "approved", ss_rejected: "rejected", ss_uploading: "uploading", ss_ready: "ready",
    ss_airborne: "airborne", ss_delivering: "delivering", ss_returning: "returning", ss_landing: "landing",
    ss_completed: "completed", ss_upload_failed: "upload failed", ss_preflight_failed: "preflight failed", ss_aborted: "aborted",
    ss_diverted: "diverted", ss_link_lost: "link lost", ss_failsafe: "failsafe", ss_cancelled: "cancelled",
  },
};

export const TIME_ZONE = "Asia/Shanghai";
let lang = localStorage.getItem("dispatch.lang") === "en" ? "en" : "zh";

export function getLang() { return lang; }

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem("dispatch.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  applyStatic();
}

export function t(key) { return TEXT[lang][key] ?? TEXT.zh[key] ?? key; }

/** A place/name in the current language (objects carry ``name`` in Chinese and ``name_en``). */
export function nameOf(obj) {
  if (!obj) return "";
  return (lang === "en" && obj.name_en) ? obj.name_en : (obj.name || obj.id || "");
}

function formatter(opts) {
  return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: TIME_ZONE, hour12: false, ...opts });
}

/** "2026-12-01 07:00" style local (Asia/Shanghai) date and time. */
export function fmtDateTime(iso) {
  if (!iso) return "—";
  return formatter({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

export function fmtTime(iso) {
  if (!iso) return "—";
  return formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso));
}

export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  if (lang === "zh") return h ? `${h}小时${m}分` : `${m}分${s % 60}秒`;
  return h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

/** Fill every element carrying data-i18n (text) or data-i18n-placeholder. */
export function applyStatic(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.title = t("title");
}
