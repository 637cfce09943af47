// Entry point: session, shell (header, navigation, presence, language), routing, socket events.

import { api, ApiError, get, post, put, setCsrf, whenUnauthorized } from "./api.js";
import { h, clear, field } from "./dom.js";
import { getLang, setLang, t } from "./i18n.js";
import { OperatorSocket } from "./socket.js";
import { unlockAudioOnGesture } from "./alerts.js";
import { store, changed, isSupervisor, announce, toast } from "./store.js";
import * as consoleView from "./console.js";
import * as ticketsView from "./tickets.js";
import * as adminView from "./admin.js";
import * as analyticsView from "./analytics.js";
import * as notificationsView from "./notifications.js";

const app = document.getElementById("app");
const BASE = "/dashboard";
const PRESENCE_KEY = "sportello.dashboard.offline";
let socket = null;
let slaTimer = null;
let cleanupView = null;

// Views in the navigation; `show` hides a view from roles that cannot use it.
// (Analytics joins this list when its issue lands; nothing is shown before then.)
const NAV = [
  { key: "console", path: `${BASE}`, label: "nav_console", show: () => true },
  { key: "tickets", path: `${BASE}/tickets`, label: "nav_tickets", show: () => true },
  { key: "admin", path: `${BASE}/admin`, label: "nav_admin", show: isSupervisor },
  { key: "analytics", path: `${BASE}/analytics`, label: "nav_analytics", show: isSupervisor },
  { key: "notifications", path: `${BASE}/notifications`, label: "nav_notifications", show: () => true },
];

function route() {
  const rest = location.pathname.replace(/^\/dashboard\/?/, "").replace(/\/$/, "");
  const parts = rest ? rest.split("/").map(decodeURIComponent) : [];
  if (parts[0] === "tickets" && parts[1] === "new") return { view: "tickets", page: "new" };
  if (parts[0] === "tickets" && parts[1]) return { view: "tickets", page: "detail", number: parts[1] };
  if (parts[0] === "tickets") return { view: "tickets", page: "list" };
  if (parts[0] === "admin" && isSupervisor()) return { view: "admin" };
  if (parts[0] === "analytics" && isSupervisor()) return { view: "analytics" };
  if (parts[0] === "notifications") return { view: "notifications" };
  return { view: "console" };
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  renderView();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", () => renderView());

// ---- Login ----

function renderLogin(message) {
  stopLive();
  store.me = null;
  app.setAttribute("aria-busy", "false");
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "form-error", role: "alert", id: "login-error" }, message || "");
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, t("login"));
  const form = h("form", { class: "login-card", "aria-labelledby": "login-title", novalidate: true },
    h("div", { class: "login-brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "S"), h("span", {}, "Sportello")),
    h("h1", { id: "login-title" }, t("login_title")),
    h("p", { class: "muted" }, t("login_intro")),
    field(t("email"), email),
    field(t("password"), password),
    error,
    submit,
    h("div", { class: "login-foot" }, langButton()),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!email.value || !password.value) {
      error.textContent = `${t("login_failed")}: ${t("email")} / ${t("password")}`;
      (email.value ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t("logging_in");
    try {
      const data = await post("/api/v1/auth/login", { email: email.value, password: password.value });
      setCsrf(data.csrf_token);
      await start();
    } catch (err) {
      error.textContent = `${t("login_failed")}: ${err instanceof ApiError ? err.message : t("error_generic")}`;
      submit.disabled = false;
      submit.textContent = t("login");
      password.select();
      password.focus();
    }
  });
  clear(app, h("main", { id: "main", class: "login-page", tabindex: "-1" }, form));
  email.focus();
}

// ---- Shell ----

function langButton() {
  return h("button", {
    type: "button", class: "btn btn-ghost lang", lang: getLang() === "it" ? "en" : "it",
    "aria-label": t("lang_switch_label"), onclick: switchLanguage,
  }, getLang() === "it" ? "EN" : "IT");
}

function switchLanguage() {
  setLang(getLang() === "it" ? "en" : "it");
  if (store.me) renderShell();
  else renderLogin();
  const again = document.querySelector("button.lang");
  if (again) again.focus();
}

function presenceSwitch() {
  const group = h("div", { class: "presence", role: "radiogroup", "aria-label": t("presence_label") });
  for (const value of ["online", "away", "offline"]) {
    const id = `presence-${value}`;
    const input = h("input", { type: "radio", name: "presence", id, value, checked: store.presence === value });
    input.addEventListener("change", () => setPresence(value));
    group.append(h("span", { class: `seg seg-${value}` }, input, h("label", { for: id }, h("span", { class: "dot", "aria-hidden": "true" }), t(`presence_${value}`))));
  }
  return group;
}

function renderShell() {
  const current = route().view;
  const nav = h("nav", { class: "nav", "aria-label": t("nav_label") },
    NAV.filter((item) => item.show()).map((item) => h("a", {
      href: item.path, "data-link": true, "data-nav": item.key,
      "aria-current": item.key === current ? "page" : null,
    }, t(item.label), item.key === "console" ? h("span", { class: "nav-count", id: "console-count", hidden: true }) : null)),
  );
  const sla = h("a", { href: `${BASE}/tickets?sla_state=breached`, "data-link": true, class: "sla-pill", id: "sla-pill", hidden: true });
  const header = h("header", { class: "topbar" },
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "S"), h("span", { class: "brand-name" }, "Sportello")),
    nav,
    h("div", { class: "topbar-right" },
      sla,
      h("span", { class: "conn", id: "conn", "data-state": store.conn }),
      presenceSwitch(),
      langButton(),
      h("span", { class: "me", title: store.me.email }, h("span", { class: "avatar", "aria-hidden": "true" }, initials(store.me.name)), h("span", { class: "me-name" }, store.me.name)),
      h("button", { type: "button", class: "btn btn-ghost", onclick: logout }, t("logout")),
    ),
  );
  clear(app, header, h("main", { id: "main", tabindex: "-1" }));
  app.setAttribute("aria-busy", "false");
  document.querySelector(".skip").textContent = t("skip");
  renderConn();
  renderSla();
  renderConsoleCount();
  renderView();
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((p) => p[0].toUpperCase()).join("");
}

function renderView() {
  const main = document.getElementById("main");
  if (!main || !store.me) return;
  if (cleanupView) cleanupView();
  cleanupView = null;
  const r = route();
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === r.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.className = `view view-${r.view}`;
  if (r.view === "console") cleanupView = consoleView.render(main);
  else if (r.view === "tickets") cleanupView = ticketsView.render(main, r, navigate);
  else if (r.view === "admin") cleanupView = adminView.render(main);
  else if (r.view === "analytics") cleanupView = analyticsView.render(main);
  else if (r.view === "notifications") cleanupView = notificationsView.render(main);
  document.title = `${t(`nav_${r.view}`)} · Sportello`;
}

function renderConn() {
  const el = document.getElementById("conn");
  if (!el) return;
  el.dataset.state = store.conn;
  el.textContent = store.conn === "connecting" ? t("conn_connecting") : store.conn === "lost" ? t("conn_lost") : "";
}

function renderSla() {
  const pill = document.getElementById("sla-pill");
  if (!pill) return;
  pill.hidden = store.slaAlerts === 0;
  pill.setAttribute("aria-label", t("sla_alerts_label", { n: store.slaAlerts }));
  clear(pill, `${t("sla_alerts")}: ${store.slaAlerts}`);
}

function renderConsoleCount() {
  const el = document.getElementById("console-count");
  if (!el) return;
  const n = store.offers.size + [...store.chats.values()].filter((c) => c.unread).length;
  el.hidden = n === 0;
  el.textContent = String(n);
}

// ---- Presence and the socket ----

async function setPresence(value) {
  store.presence = value;
  if (value === "offline") {
    sessionStorage.setItem(PRESENCE_KEY, "1");
    if (socket) socket.close();
  } else {
    sessionStorage.removeItem(PRESENCE_KEY);
    try {
      await put("/api/v1/operator/presence", { status: value });
    } catch (err) {
      toast(err.readable || t("error_generic"), "error");
    }
    if (socket && !socket.isOpen) socket.open();
  }
  changed("presence");
}

function onSocketState(state) {
  if (state === "unauthorized") {
    renderLogin();
    return;
  }
  store.conn = state;
  if (state === "closed") store.presence = sessionStorage.getItem(PRESENCE_KEY) ? "offline" : store.presence;
  renderConn();
}

function onSocketEvent(frame) {
  switch (frame.type) {
    case "ready":
      store.presence = frame.presence;
      syncPresenceInputs();
      break;
    case "presence.changed":
      if (frame.operator_id === store.me.id) {
        store.presence = frame.presence;
        syncPresenceInputs();
      } else {
        const c = store.colleagues.find((op) => op.id === frame.operator_id);
        if (c) c.presence = frame.presence;
      }
      break;
    case "presence.ack":
      store.presence = frame.presence;
      syncPresenceInputs();
      break;
    case "sla.warning":
    case "sla.breached":
      toast(t(frame.type === "sla.warning" ? "sla_toast_warning" : "sla_toast_breached", { n: frame.number }), frame.type === "sla.breached" ? "error" : "warn");
      announce(t(frame.type === "sla.warning" ? "sla_toast_warning" : "sla_toast_breached", { n: frame.number }));
      refreshSla();
      changed("tickets");
      break;
    default:
      if (frame.type.startsWith("ticket.")) {
        refreshSla();
        changed("tickets", frame);
      }
  }
  consoleView.handleEvent(frame);
  notificationsView.handleEvent(frame);
  renderConsoleCount();
}

function syncPresenceInputs() {
  for (const input of document.querySelectorAll('input[name="presence"]')) input.checked = input.value === store.presence;
}

async function refreshSla() {
  try {
    const [warning, breached] = await Promise.all([
      get("/api/v1/tickets?sla_state=warning&limit=200"),
      get("/api/v1/tickets?sla_state=breached&limit=200"),
    ]);
    const open = (items) => items.filter((tk) => !["resolved", "closed"].includes(tk.status)).length;
    store.slaAlerts = open(warning.items) + open(breached.items);
  } catch {
    return;
  }
  renderSla();
}

async function loadColleagues() {
  try {
    store.colleagues = await get("/api/v1/dashboard/colleagues");
  } catch {
    store.colleagues = [];
  }
}

function stopLive() {
  if (socket) socket.close();
  socket = null;
  clearInterval(slaTimer);
  consoleView.reset();
}

async function start() {
  const session = await get("/api/v1/dashboard/session");
  setCsrf(session.csrf_token);
  store.me = session.operator;
  store.settings = session.settings;
  store.presence = sessionStorage.getItem(PRESENCE_KEY) ? "offline" : session.operator.presence;
  await loadColleagues();
  if (location.pathname === `${BASE}/login`) history.replaceState(null, "", BASE);
  renderShell();
  document.getElementById("main").focus();
  socket = new OperatorSocket(onSocketEvent, onSocketState);
  consoleView.attach(socket, { loadColleagues, renderConsoleCount });
  if (!sessionStorage.getItem(PRESENCE_KEY)) socket.open();
  refreshSla();
  slaTimer = setInterval(refreshSla, 60000);
}

async function logout() {
  try {
    await post("/api/v1/auth/logout");
  } catch {
    // The session may already be gone; the login page is where we go either way.
  }
  setCsrf(null);
  sessionStorage.removeItem(PRESENCE_KEY);
  history.replaceState(null, "", BASE);
  renderLogin();
}

whenUnauthorized(() => {
  if (store.me) renderLogin();
});
unlockAudioOnGesture();

document.addEventListener("keydown", (event) => {
  if (!store.me || !event.altKey || event.ctrlKey || event.metaKey) return;
  if (consoleView.shortcut(event.key)) {
    event.preventDefault();
    if (route().view !== "console") navigate(BASE);
  }
});

(async () => {
  try {
    await start();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) renderLogin();
    else renderLogin(err.readable || t("error_network"));
  }
})();

export { api };
