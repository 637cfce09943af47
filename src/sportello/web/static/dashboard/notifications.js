// "Notifiche": each operator's channels per event kind, web push on this browser, and the
// pop-ups for `notification` events on the operator socket.

import { get, post, put } from "./api.js";
import { h, clear } from "./dom.js";
import { getLang } from "./i18n.js";
import { toast, announce } from "./store.js";

const TEXT = {
  it: {
    title: "Notifiche", prefs_title: "Dove ricevi ogni avviso",
    intro: "Scegli dove ricevere ogni avviso. Finché la dashboard è aperta gli avvisi delle chat arrivano qui; le email delle chat partono solo quando sei offline.",
    event: "Evento", dashboard: "Dashboard", email: "Email", push: "Push", slack: "Slack",
    save: "Salva preferenze", saved: "Preferenze salvate.", unchanged: "Nessuna modifica da salvare.",
    off_hint: "non configurato sul server", always: "sempre: la richiesta compare nella console",
    cell: "{kind}: {channel}",
    push_title: "Notifiche push su questo browser",
    push_intro: "Le notifiche push arrivano anche quando la dashboard è chiusa o in un'altra finestra.",
    push_on: "Attive su questo browser.", push_off: "Non attive su questo browser.",
    push_enable: "Attiva le notifiche push", push_disable: "Disattiva su questo browser",
    push_enabled: "Notifiche push attivate.", push_disabled: "Notifiche push disattivate.",
    push_unsupported: "Questo browser non supporta le notifiche push.",
    push_denied: "Il browser blocca le notifiche per questo sito: sbloccale nelle impostazioni del sito.",
    push_failed: "Attivazione non riuscita: {msg}",
    "k_chat.waiting": "Chat in attesa da troppo tempo",
    "k_chat.unattended": "Coda senza operatori online",
    "k_chat.offered": "Nuova richiesta di chat per te",
    "k_chat.assigned": "Chat trasferita a te",
    "k_chat.unanswered": "Visitatore senza risposta",
    "k_ticket.assigned": "Ticket assegnato a te",
    "k_ticket.customer_replied": "Risposta del cliente a un ticket",
    "k_sla.warning": "SLA a rischio",
    "k_sla.breached": "SLA scaduto",
    "k_ticket.escalated": "Escalation di un ticket",
  },
  en: {
    title: "Notifications", prefs_title: "Where each alert reaches you",
    intro: "Choose where each alert reaches you. While the dashboard is open, chat alerts arrive here; chat emails go out only when you are offline.",
    event: "Event", dashboard: "Dashboard", email: "Email", push: "Push", slack: "Slack",
    save: "Save preferences", saved: "Preferences saved.", unchanged: "Nothing changed to save.",
    off_hint: "not configured on the server", always: "always: the request shows in the console",
    cell: "{kind}: {channel}",
    push_title: "Push notifications in this browser",
    push_intro: "Push notifications arrive even when the dashboard is closed or in another window.",
    push_on: "On in this browser.", push_off: "Off in this browser.",
    push_enable: "Turn on push notifications", push_disable: "Turn off in this browser",
    push_enabled: "Push notifications on.", push_disabled: "Push notifications off.",
    push_unsupported: "This browser does not support push notifications.",
    push_denied: "The browser blocks notifications for this site: allow them in the site settings.",
    push_failed: "Could not turn them on: {msg}",
    "k_chat.waiting": "A chat waiting too long",
    "k_chat.unattended": "Queue with no operator online",
    "k_chat.offered": "New chat request for you",
    "k_chat.assigned": "Chat transferred to you",
    "k_chat.unanswered": "Visitor without a reply",
    "k_ticket.assigned": "Ticket assigned to you",
    "k_ticket.customer_replied": "Customer replied to a ticket",
    "k_sla.warning": "SLA at risk",
    "k_sla.breached": "SLA breached",
    "k_ticket.escalated": "Ticket escalated",
  },
};

// Alerts with their own place in the dashboard (offer cards, SLA pop-ups): no second pop-up.
const SHOWN_ELSEWHERE = new Set(["chat.offered", "chat.assigned", "sla.warning", "sla.breached"]);
// The offer card is the dashboard alert for an offer: its checkbox cannot be turned off.
const FIXED_ON = new Set(["chat.offered:dashboard", "chat.assigned:dashboard"]);
const SW_URL = "/dashboard/sw.js";
const SW_SCOPE = "/dashboard";

export function tn(key, params) {
  let text = TEXT[getLang()][key] ?? TEXT.it[key] ?? key;
  for (const [name, value] of Object.entries(params || {})) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

// ---- Pop-ups for `notification` frames ----

function describe(frame) {
  const data = frame.data || {};
  const label = tn(`k_${frame.kind}`);
  const detail = data.number ? ` · ${data.number}` : data.language ? ` · ${String(data.language).toUpperCase()}` : "";
  const waited = data.waited_minutes ? ` · ${data.waited_minutes} min` : data.silent_minutes ? ` · ${data.silent_minutes} min` : "";
  return `${label}${detail}${waited}`;
}

export function handleEvent(frame) {
  if (frame.type !== "notification" || SHOWN_ELSEWHERE.has(frame.kind)) return;
  const text = describe(frame);
  const urgent = ["chat.unattended", "chat.unanswered", "ticket.escalated"].includes(frame.kind);
  toast(text, urgent ? "error" : "warn");
  announce(text);
  document.dispatchEvent(new CustomEvent("sportello:notice", { detail: { kind: frame.kind, text } }));
}

// A push that arrived while a dashboard window was visible: the service worker left it to us.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (!event.data || event.data.type !== "sportello:push") return;
    document.dispatchEvent(new CustomEvent("sportello:push", { detail: event.data }));
  });
  // addEventListener (unlike onmessage) leaves the queue closed until the document has loaded.
  navigator.serviceWorker.startMessages();
}

// ---- Web push on this browser ----

function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function registration() {
  return navigator.serviceWorker.register(SW_URL, { scope: SW_SCOPE });
}

async function currentSubscription() {
  if (!pushSupported()) return null;
  const reg = await navigator.serviceWorker.getRegistration(SW_SCOPE);
  return reg ? reg.pushManager.getSubscription() : null;
}

export async function enablePush() {
  if (!pushSupported()) throw new Error(tn("push_unsupported"));
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error(tn("push_denied"));
  const reg = await registration();
  await navigator.serviceWorker.ready;
  const { application_server_key: key } = await get("/api/v1/notifications/push/key");
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  const json = sub.toJSON();
  await post("/api/v1/notifications/push/subscriptions", { endpoint: json.endpoint, keys: json.keys });
  return sub;
}

export async function disablePush() {
  const sub = await currentSubscription();
  if (!sub) return;
  await post("/api/v1/notifications/push/unsubscribe", { endpoint: sub.endpoint });
  await sub.unsubscribe();
}

// ---- The view ----

export function render(main) {
  const prefsBox = h("section", { class: "panel", "aria-labelledby": "prefs-h" });
  const pushBox = h("section", { class: "panel", "aria-labelledby": "push-h" });
  clear(main, h("div", { class: "page-head" }, h("h1", {}, tn("title"))), h("div", { class: "admin-grid" }, prefsBox, pushBox));
  loadPreferences(prefsBox);
  renderPush(pushBox);
  return () => {};
}

async function loadPreferences(box) {
  let data;
  let channels = [];
  try {
    [data, channels] = await Promise.all([get("/api/v1/notifications/preferences"), get("/api/v1/notifications/channels")]);
  } catch (err) {
    clear(box, h("h2", { id: "prefs-h", class: "panel-title" }, tn("prefs_title")), h("p", { class: "form-error", role: "alert" }, err.readable));
    return;
  }
  const configured = new Map(channels.map((c) => [c.channel, c.configured]));
  const inputs = [];
  const head = h("tr", {}, h("th", { scope: "col" }, tn("event")), data.channels.map((ch) => h("th", { scope: "col" },
    tn(ch), configured.get(ch) === false ? h("span", { class: "hint block" }, tn("off_hint")) : null)));
  const rows = data.event_kinds.map((kind) => h("tr", { dataset: { kind } },
    h("th", { scope: "row" }, tn(`k_${kind}`)),
    data.channels.map((ch) => {
      const fixed = FIXED_ON.has(`${kind}:${ch}`);
      const box = h("input", {
        type: "checkbox", checked: fixed || data.preferences[kind][ch], disabled: fixed,
        "aria-label": tn("cell", { kind: tn(`k_${kind}`), channel: tn(ch) }),
        title: fixed ? tn("always") : null, dataset: { kind, channel: ch },
      });
      if (!fixed) inputs.push(box);
      return h("td", { class: "cell-check" }, box);
    })));
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "stack prefs-form" },
    h("div", { class: "table-wrap" }, h("table", { class: "table prefs-table" }, h("thead", {}, head), h("tbody", {}, rows))),
    error, h("div", {}, h("button", { type: "submit", class: "btn btn-primary" }, tn("save"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const changes = {};
    for (const input of inputs) {
      const { kind, channel } = input.dataset;
      if (input.checked === data.preferences[kind][channel]) continue;
      (changes[kind] ||= {})[channel] = input.checked;
    }
    if (!Object.keys(changes).length) {
      toast(tn("unchanged"));
      return;
    }
    try {
      data = await put("/api/v1/notifications/preferences", { preferences: changes });
      toast(tn("saved"));
      announce(tn("saved"));
    } catch (err) {
      error.textContent = err.readable;
    }
  });
  clear(box, h("h2", { id: "prefs-h", class: "panel-title" }, tn("prefs_title")), h("p", { class: "muted" }, tn("intro")), form);
}

async function renderPush(box) {
  const title = h("h2", { id: "push-h", class: "panel-title" }, tn("push_title"));
  if (!pushSupported()) {
    clear(box, title, h("p", { class: "muted" }, tn("push_unsupported")));
    return;
  }
  let sub = null;
  try {
    sub = await currentSubscription();
  } catch {
    sub = null;
  }
  const status = h("p", { class: "push-state", role: "status" }, sub ? tn("push_on") : tn("push_off"));
  const error = h("p", { class: "form-error", role: "alert" });
  const button = h("button", { type: "button", class: sub ? "btn" : "btn btn-primary" }, sub ? tn("push_disable") : tn("push_enable"));
  button.addEventListener("click", async () => {
    error.textContent = "";
    button.disabled = true;
    try {
      if (sub) {
        await disablePush();
        toast(tn("push_disabled"));
      } else {
        await enablePush();
        toast(tn("push_enabled"));
      }
    } catch (err) {
      error.textContent = tn("push_failed", { msg: err.readable || err.message || String(err) });
      button.disabled = false;
      return;
    }
    renderPush(box);
  });
  clear(box, title, h("p", { class: "muted" }, tn("push_intro")), status, error, h("div", {}, button));
}
