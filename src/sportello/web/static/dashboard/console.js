// The chat console: offers, the live queue, several concurrent chats with notes, transfer and end.

import { get, post } from "./api.js";
import { h, clear, modal, field, options, nextId } from "./dom.js";
import { t, duration, clock, when } from "./i18n.js";
import { alertNewOffer, askNotificationPermission, notificationState } from "./alerts.js";
import { store, announce, toast, colleagueName } from "./store.js";

let socket = null;
let ctx = null;
let root = null;
let ticker = null;
let queueTimer = null;
let queueDebounce = null;
let lastTyping = 0;

export function attach(sock, context) {
  socket = sock;
  ctx = context;
  clearInterval(queueTimer);
  queueTimer = setInterval(loadQueue, 15000);
  loadQueue();
  loadCanned();
}

export function reset() {
  clearInterval(queueTimer);
  store.offers.clear();
  store.chats.clear();
  store.queue = [];
  store.activeChat = null;
}

// ---- Data ----

function chatOf(id) {
  let chat = store.chats.get(id);
  if (!chat) {
    chat = { id, status: "assigned", language: "", priority: null, items: [], keys: new Set(), draft: "", mode: "reply", unread: false, typingUntil: 0, summary: null };
    store.chats.set(id, chat);
  }
  return chat;
}

function label(chat) {
  const ref = chat.summary && chat.summary.customer_ref;
  return ref ? `${ref}` : t("chat_with", { id: chat.id.slice(0, 4).toUpperCase() });
}

async function loadQueue() {
  try {
    store.queue = await get("/api/v1/queue");
  } catch {
    return;
  }
  renderQueue();
}

async function loadCanned() {
  try {
    store.canned = await get("/api/v1/canned-replies");
  } catch {
    store.canned = [];
  }
}

async function loadChats() {
  let chats = [];
  try {
    chats = await get("/api/v1/operator/chats");
  } catch {
    return;
  }
  const ids = new Set(chats.map((c) => c.id));
  for (const c of chats) {
    const chat = chatOf(c.id);
    chat.status = c.status;
    chat.language = c.language;
    chat.priority = c.priority;
    if (c.status === "assigned" && !store.offers.has(c.id)) store.offers.set(c.id, { conversation_id: c.id, language: c.language, priority: c.priority || "medium", reason: null, expires_at: null });
    if (c.status === "live") loadDetails(chat);
  }
  for (const [id, chat] of store.chats) if (!ids.has(id) && chat.status !== "closed") store.chats.delete(id);
  if (!store.activeChat) store.activeChat = [...store.chats.values()].find((c) => c.status === "live")?.id || null;
  renderAll();
}

async function loadDetails(chat) {
  try {
    const [summary, notes] = await Promise.all([
      get(`/api/v1/dashboard/conversations/${chat.id}`),
      get(`/api/v1/conversations/${chat.id}/notes`),
    ]);
    chat.summary = summary;
    chat.language = summary.language;
    chat.priority = summary.priority;
    for (const n of notes) addItem(chat, { kind: "note", key: `n${n.id}`, at: n.created_at, body: n.body, who: colleagueName(n.operator_id) }, false);
  } catch {
    return;
  }
  if (store.activeChat === chat.id) renderChat();
  renderChatList();
}

function addItem(chat, item, live = true) {
  if (item.client && chat.keys.has(`c${item.client}`)) {
    const idx = chat.items.findIndex((i) => i.key === `c${item.client}`);
    if (idx >= 0) chat.items.splice(idx, 1);
    chat.keys.delete(`c${item.client}`);
  }
  if (chat.keys.has(item.key)) return;
  chat.keys.add(item.key);
  chat.items.push(item);
  chat.items.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : (a.seq || 0) - (b.seq || 0)));
  if (!root) return;
  if (store.activeChat === chat.id) {
    if (live) renderTranscript();
    if (item.kind === "note") renderInfo(root.querySelector("#chat-info"), chat);
    if (live && item.kind === "msg") renderChatList();
  } else if (live && item.kind === "msg" && item.sender === "visitor") {
    chat.unread = true;
    announce(t("new_message", { who: label(chat) }));
    renderChatList();
  }
}

// ---- Socket events ----

export function handleEvent(frame) {
  const id = frame.conversation_id;
  switch (frame.type) {
    case "ready":
      loadChats();
      loadQueue();
      break;
    case "offer.created": {
      store.offers.set(id, frame);
      const chat = chatOf(id);
      chat.status = "assigned";
      chat.language = frame.language;
      chat.priority = frame.priority;
      alertNewOffer(frame);
      announce(t("new_offer"));
      renderOffers();
      break;
    }
    case "offer.withdrawn":
    case "offer.lapsed":
      store.offers.delete(id);
      if (store.chats.get(id)?.status === "assigned") store.chats.delete(id);
      renderOffers();
      break;
    case "chat.assigned": {
      store.offers.delete(id);
      const chat = chatOf(id);
      chat.status = "live";
      loadDetails(chat);
      renderAll();
      break;
    }
    case "queue.changed":
      clearTimeout(queueDebounce);
      queueDebounce = setTimeout(loadQueue, 250);
      break;
    case "message": {
      const m = frame.message;
      const chat = chatOf(m.conversation_id);
      addItem(chat, { kind: "msg", key: `m${m.seq}`, seq: m.seq, at: m.created_at, sender: m.sender, body: m.body, meta: m.metadata || {}, client: m.client_message_id });
      if (m.sender === "visitor") chat.typingUntil = 0;
      renderTyping();
      break;
    }
    case "note.created": {
      const chat = store.chats.get(id);
      if (chat) addItem(chat, { kind: "note", key: `n${frame.note.id}`, at: frame.note.created_at, body: frame.note.body, who: frame.note.operator_name });
      break;
    }
    case "typing":
      if (frame.sender === "visitor" && store.chats.has(id)) {
        store.chats.get(id).typingUntil = Date.now() + 4000;
        renderTyping();
      }
      break;
    case "conversation.status_changed": {
      const chat = store.chats.get(id);
      if (chat && chat.status !== "assigned" && frame.status !== "live" && frame.status !== "assigned") {
        chat.status = "closed";
        renderAll();
      }
      break;
    }
    case "chat.ended": {
      const chat = store.chats.get(id);
      if (chat) chat.status = "closed";
      renderAll();
      break;
    }
    case "chat.transferred":
      store.chats.delete(id);
      if (store.activeChat === id) store.activeChat = null;
      toast(t("transferred"));
      renderAll();
      break;
    case "error":
      toast(frame.message || t("error_generic"), "error");
      break;
    default:
      break;
  }
}

// ---- Actions ----

async function accept(id) {
  try {
    await post(`/api/v1/conversations/${id}/accept`);
  } catch (err) {
    toast(err.readable, "error");
    store.offers.delete(id);
    renderOffers();
    return;
  }
  store.offers.delete(id);
  const chat = chatOf(id);
  chat.status = "live";
  chat.unread = false;
  store.activeChat = id;
  announce(t("accepted"));
  loadDetails(chat);
  renderAll();
  const input = document.getElementById("composer-input");
  if (input) input.focus();
}

function send(chat, input) {
  const body = input.value.trim();
  if (!body) return;
  if (chat.mode === "note") {
    post(`/api/v1/conversations/${chat.id}/notes`, { body }).then((note) => {
      addItem(chat, { kind: "note", key: `n${note.id}`, at: note.created_at, body: note.body, who: store.me.name });
    }, (err) => toast(err.readable, "error"));
  } else {
    const client = `d-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    if (!socket || !socket.send({ type: "message", conversation_id: chat.id, body, client_message_id: client })) {
      toast(t("conn_lost"), "error");
      return;
    }
    addItem(chat, { kind: "msg", key: `c${client}`, client: null, at: new Date().toISOString(), seq: 1e9, sender: "operator", body, meta: {}, pending: true });
  }
  input.value = "";
  chat.draft = "";
}

async function endChat(chat) {
  await modal(t("end"), h("p", {}, t("end_confirm")), {
    confirmLabel: t("end"), cancelLabel: t("cancel"), danger: true,
    onConfirm: () => post(`/api/v1/conversations/${chat.id}/end`),
  });
}

async function transferChat(chat) {
  await ctx.loadColleagues();
  const online = store.colleagues.filter((c) => c.id !== store.me.id && c.presence === "online");
  const target = h("select", { name: "operator" }, online.length ? options(online.map((c) => [c.id, `${c.name} · ${t("tier", { n: c.tier })}`])) : h("option", { value: "" }, t("transfer_none")));
  const tier = h("select", { name: "tier" }, options([1, 2, 3].map((n) => [String(n), t("tier", { n })]), "2"));
  const toOp = h("input", { type: "radio", name: "target", value: "operator", id: nextId("to"), checked: online.length > 0, disabled: online.length === 0 });
  const toTier = h("input", { type: "radio", name: "target", value: "tier", id: nextId("to"), checked: online.length === 0 });
  const body = h("div", { class: "stack" },
    h("div", { class: "radio-row" }, toOp, h("label", { for: toOp.id }, t("transfer_to_op"))),
    field(t("operator"), target),
    h("div", { class: "radio-row" }, toTier, h("label", { for: toTier.id }, t("transfer_to_tier"))),
    field(t("tier_h"), tier),
  );
  await modal(t("transfer_title"), body, {
    confirmLabel: t("transfer"), cancelLabel: t("cancel"),
    onConfirm: () => post(`/api/v1/conversations/${chat.id}/transfer`,
      toOp.checked && target.value ? { operator_id: target.value } : { tier: Number(tier.value) }),
  });
}

export function shortcut(key) {
  if (key === "a" || key === "A") {
    const first = store.offers.keys().next().value;
    if (first) accept(first);
    return Boolean(first);
  }
  const n = Number(key);
  const chats = [...store.chats.values()].filter((c) => c.status !== "assigned");
  if (n >= 1 && n <= 9 && chats[n - 1]) {
    activate(chats[n - 1].id);
    return true;
  }
  return false;
}

function activate(id) {
  store.activeChat = id;
  const chat = store.chats.get(id);
  if (chat) chat.unread = false;
  renderChatList();
  renderChat();
  ctx.renderConsoleCount();
  const input = document.getElementById("composer-input");
  if (input && !input.disabled) input.focus();
}

// ---- Rendering ----

function reasonText(reason) {
  const key = `reason_${reason}`;
  return t(key) === key ? reason : t(key);
}

function priorityBadge(p) {
  return h("span", { class: `badge prio-${p || "medium"}` }, t(`p_${p || "medium"}`));
}

function waitSla(waited) {
  const limit = store.settings.queue_wait_seconds;
  const state = waited >= limit ? "breached" : waited >= limit * store.settings.sla_warn_ratio ? "warning" : "ok";
  return state;
}

export function render(main) {
  root = h("div", { class: "console" },
    h("aside", { class: "col-left", "aria-label": t("queue") },
      h("section", { id: "offers", class: "panel offers", "aria-labelledby": "offers-h", hidden: true }),
      h("section", { class: "panel", "aria-labelledby": "chats-h" },
        h("h2", { id: "chats-h", class: "panel-title" }, t("my_chats")),
        h("ul", { id: "chat-list", class: "chat-list" })),
      h("section", { class: "panel", "aria-labelledby": "queue-h" },
        h("h2", { id: "queue-h", class: "panel-title" }, t("queue"), h("span", { class: "count", id: "queue-count" })),
        h("ul", { id: "queue-list", class: "queue-list" })),
      h("div", { class: "panel-foot", id: "notif-box" }),
      h("p", { class: "hint shortcuts" }, t("shortcuts")),
    ),
    h("section", { class: "col-chat", id: "chat-pane", "aria-label": t("conversation") }),
    h("aside", { class: "col-info", id: "chat-info", "aria-label": t("details") }),
  );
  clear(main, h("h1", { class: "sr-only" }, t("nav_console")), root);
  renderAll();
  clearInterval(ticker);
  ticker = setInterval(tick, 1000);
  return () => {
    clearInterval(ticker);
    root = null;
  };
}

function renderAll() {
  if (!root) {
    if (ctx) ctx.renderConsoleCount();
    return;
  }
  renderOffers();
  renderQueue();
  renderChatList();
  renderChat();
  renderNotif();
  if (ctx) ctx.renderConsoleCount();
}

function renderNotif() {
  const box = root && root.querySelector("#notif-box");
  if (!box) return;
  const state = notificationState();
  if (state === "default") {
    clear(box, h("button", { type: "button", class: "btn btn-small", onclick: async () => { await askNotificationPermission(); renderNotif(); } }, t("notif_enable")));
  } else if (state === "granted") {
    clear(box, h("span", { class: "hint" }, t("notif_on")));
  } else if (state === "denied") {
    clear(box, h("span", { class: "hint" }, t("notif_denied")));
  } else {
    clear(box);
  }
}

function renderOffers() {
  if (ctx) ctx.renderConsoleCount();
  const box = root && root.querySelector("#offers");
  if (!box) return;
  box.hidden = store.offers.size === 0;
  clear(box, h("h2", { id: "offers-h", class: "panel-title" }, t("offers")),
    h("ul", { class: "offer-list" }, [...store.offers.values()].map((offer) => {
      const who = t("chat_with", { id: offer.conversation_id.slice(0, 4).toUpperCase() });
      return h("li", { class: "offer", dataset: { conversation: offer.conversation_id } },
        h("div", { class: "offer-main" },
          h("strong", {}, who),
          h("div", { class: "meta" },
            priorityBadge(offer.priority),
            h("span", { class: "badge lang" }, (offer.language || "?").toUpperCase()),
            offer.transfer ? h("span", { class: "badge" }, t("offer_transfer")) : null,
            offer.expires_at ? h("span", { class: "muted", dataset: { until: offer.expires_at, fmt: "offer_expires" } }) : null),
          offer.reason ? h("div", { class: "muted small" }, reasonText(offer.reason)) : null),
        h("button", { type: "button", class: "btn btn-primary", "aria-label": t("accept_label", { who }), onclick: () => accept(offer.conversation_id) }, t("accept")));
    })));
  tick();
}

function renderQueue() {
  if (!root) return;
  const list = root.querySelector("#queue-list");
  const count = root.querySelector("#queue-count");
  count.textContent = store.queue.length ? t("queue_count", { n: store.queue.length }) : "";
  if (!store.queue.length) {
    clear(list, h("li", { class: "empty" }, t("queue_empty")));
    return;
  }
  const now = Date.now();
  clear(list, store.queue.map((q) => {
    const since = new Date(now - q.waited_seconds * 1000).toISOString();
    return h("li", { class: "queue-item", dataset: { conversation: q.conversation_id } },
      h("span", { class: "pos" }, t("position", { n: q.position })),
      h("div", { class: "queue-main" },
        h("div", { class: "meta" }, priorityBadge(q.priority), h("span", { class: "badge lang" }, q.language.toUpperCase()),
          h("span", { class: "badge sla", dataset: { since, sla: "queue" } })),
        h("div", { class: "muted small" },
          h("span", { dataset: { since, fmt: "waiting" } }),
          q.estimated_wait_seconds != null ? ` · ${t("estimate", { t: duration(q.estimated_wait_seconds) })}` : "",
          q.reason ? ` · ${reasonText(q.reason)}` : "")));
  }));
  tick();
}

function renderChatList() {
  if (!root) return;
  const list = root.querySelector("#chat-list");
  const chats = [...store.chats.values()].filter((c) => c.status !== "assigned");
  if (!chats.length) {
    clear(list, h("li", { class: "empty" }, t("no_chats")));
    return;
  }
  clear(list, chats.map((chat, i) => {
    const last = [...chat.items].reverse().find((item) => item.kind === "msg" && item.sender !== "system");
    return h("li", {},
      h("button", {
        type: "button", class: `chat-tab${chat.status === "closed" ? " ended" : ""}`,
        "aria-current": store.activeChat === chat.id ? "true" : null,
        dataset: { conversation: chat.id }, onclick: () => activate(chat.id),
        "aria-keyshortcuts": i < 9 ? `Alt+${i + 1}` : null,
      },
      h("span", { class: "chat-tab-top" },
        h("span", { class: "chat-name" }, label(chat)),
        chat.unread ? h("span", { class: "unread", "aria-label": "•" }, "●") : null,
        chat.status === "closed" ? h("span", { class: "badge" }, t("chat_ended")) : priorityBadge(chat.priority)),
      h("span", { class: "chat-last muted small" }, last ? last.body.slice(0, 80) : "")));
  }));
}

function renderChat() {
  if (!root) return;
  const pane = root.querySelector("#chat-pane");
  const info = root.querySelector("#chat-info");
  const chat = store.chats.get(store.activeChat);
  if (!chat || chat.status === "assigned") {
    clear(pane, h("div", { class: "placeholder" }, h("p", {}, t("select_chat"))));
    clear(info);
    return;
  }
  const ended = chat.status === "closed";
  // Every control of the pane has a fixed id, so a re-render (details loaded, status changed)
  // gives focus back to the same control instead of dropping it on the page.
  const focused = document.activeElement && pane.contains(document.activeElement) ? document.activeElement.id : null;
  const header = h("div", { class: "chat-head" },
    h("div", {}, h("h2", { class: "chat-title" }, label(chat)),
      h("div", { class: "meta" }, priorityBadge(chat.priority), h("span", { class: "badge lang" }, (chat.language || "?").toUpperCase()),
        ended ? h("span", { class: "badge badge-muted" }, t("chat_ended")) : null)),
    h("div", { class: "actions" },
      ended
        ? h("button", { type: "button", id: "chat-close-tab", class: "btn", onclick: () => { store.chats.delete(chat.id); store.activeChat = [...store.chats.values()].find((c) => c.status !== "assigned")?.id || null; renderAll(); } }, t("close_tab"))
        : [h("button", { type: "button", id: "chat-transfer", class: "btn", onclick: () => transferChat(chat) }, t("transfer")),
          h("button", { type: "button", id: "chat-end", class: "btn btn-danger-outline", onclick: () => endChat(chat) }, t("end"))]),
  );
  const log = h("ol", { class: "transcript", id: "transcript", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": t("conversation"), tabindex: "0" });
  const typing = h("div", { class: "typing", id: "typing", "aria-live": "polite" });
  clear(pane, header, log, typing, ended ? null : composer(chat));
  renderTranscript();
  renderTyping();
  renderInfo(info, chat);
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

function composer(chat) {
  const input = h("textarea", { id: "composer-input", rows: 3, "aria-label": chat.mode === "note" ? t("composer_note") : t("composer_reply"), placeholder: chat.mode === "note" ? t("composer_note") : t("composer_reply") });
  input.value = chat.draft;
  input.addEventListener("input", () => {
    chat.draft = input.value;
    if (chat.mode === "reply" && Date.now() - lastTyping > 2500 && socket) {
      lastTyping = Date.now();
      socket.send({ type: "typing", conversation_id: chat.id });
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send(chat, input);
    }
  });
  const modeName = "composer-mode";
  const mode = h("div", { class: "mode-switch", role: "radiogroup", "aria-label": `${t("reply")} / ${t("note")}` },
    ["reply", "note"].map((m) => {
      const id = `${modeName}-${m}`;
      const radio = h("input", { type: "radio", name: modeName, id, value: m, checked: chat.mode === m });
      radio.addEventListener("change", () => {
        chat.mode = m;
        const box = input.closest(".composer");
        box.classList.toggle("is-note", m === "note");
        input.placeholder = m === "note" ? t("composer_note") : t("composer_reply");
        input.setAttribute("aria-label", input.placeholder);
        sendBtn.textContent = m === "note" ? t("add_note") : t("send");
      });
      return h("span", { class: `seg seg-${m}` }, radio, h("label", { for: id }, t(m)));
    }));
  const langReplies = store.canned.filter((r) => !chat.language || r.language === chat.language);
  const canned = h("select", { id: "composer-canned", class: "canned", "aria-label": t("canned") },
    h("option", { value: "" }, `${t("canned")}…`),
    (langReplies.length ? langReplies : store.canned).map((r) => h("option", { value: String(r.id) }, `/${r.shortcut} · ${r.title}`)));
  canned.disabled = store.canned.length === 0;
  canned.addEventListener("change", () => {
    const reply = store.canned.find((r) => String(r.id) === canned.value);
    if (reply) {
      input.value = input.value ? `${input.value} ${reply.body}` : reply.body;
      chat.draft = input.value;
    }
    canned.value = "";
    input.focus();
  });
  const sendBtn = h("button", { type: "button", id: "composer-send", class: "btn btn-primary", onclick: () => { send(chat, input); input.focus(); } }, chat.mode === "note" ? t("add_note") : t("send"));
  return h("div", { class: `composer${chat.mode === "note" ? " is-note" : ""}` },
    h("div", { class: "composer-bar" }, mode, canned),
    input,
    h("div", { class: "composer-actions" }, h("span", { class: "hint" }, chat.mode === "note" ? "" : ""), sendBtn));
}

function renderTranscript() {
  const log = root && root.querySelector("#transcript");
  const chat = store.chats.get(store.activeChat);
  if (!log || !chat) return;
  const present = new Set([...log.children].map((li) => li.dataset.key));
  const wanted = chat.items.map((i) => i.key);
  const inOrder = [...log.children].every((li, idx) => li.dataset.key === wanted[idx]);
  if (!inOrder) log.replaceChildren();
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  for (const item of chat.items) {
    if (inOrder && present.has(item.key)) continue;
    log.append(itemNode(item));
  }
  if (atBottom || !inOrder) log.scrollTop = log.scrollHeight;
}

function itemNode(item) {
  if (item.kind === "note") {
    return h("li", { class: "item note", dataset: { key: item.key } },
      h("div", { class: "note-head" }, h("strong", {}, t("internal_note")), h("span", { class: "muted small" }, ` · ${item.who || ""} · ${clock(item.at)} · ${t("note_hidden")}`)),
      h("div", { class: "body" }, item.body));
  }
  if (item.sender === "system") {
    return h("li", { class: "item system", dataset: { key: item.key } }, h("span", {}, item.body), h("span", { class: "muted small" }, ` · ${clock(item.at)}`));
  }
  const who = item.sender === "operator" ? (item.meta.operator_name || t("operator")) : t(item.sender);
  return h("li", { class: `item msg from-${item.sender}${item.pending ? " pending" : ""}`, dataset: { key: item.key, sender: item.sender } },
    h("div", { class: "who" }, h("span", {}, who), h("time", { datetime: item.at }, clock(item.at))),
    h("div", { class: "body" }, item.body));
}

function renderTyping() {
  const el = root && root.querySelector("#typing");
  const chat = store.chats.get(store.activeChat);
  if (!el) return;
  el.textContent = chat && chat.typingUntil > Date.now() ? t("typing") : "";
}

function renderInfo(info, chat) {
  const s = chat.summary;
  const rows = [
    [t("language"), (chat.language || "?").toUpperCase()],
    [t("priority"), t(`p_${chat.priority || "medium"}`)],
    [t("channel"), s ? s.channel : "…"],
    [t("customer"), s && s.customer_ref ? s.customer_ref : t("none")],
    [t("page"), s && s.page_url ? s.page_url : t("none")],
    [t("started"), s ? when(s.created_at) : "…"],
  ];
  const notes = chat.items.filter((i) => i.kind === "note");
  clear(info,
    h("section", { class: "panel" }, h("h2", { class: "panel-title" }, t("details")),
      h("dl", { class: "props" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
    h("section", { class: "panel" }, h("h2", { class: "panel-title" }, t("notes")),
      notes.length ? h("ul", { class: "note-list" }, notes.map((n) => h("li", { class: "note" }, h("div", { class: "muted small" }, `${n.who || ""} · ${clock(n.at)}`), h("div", {}, n.body))))
        : h("p", { class: "muted small" }, t("no_notes"))));
}

function tick() {
  if (!root) return;
  const now = Date.now();
  for (const el of root.querySelectorAll("[data-since]")) {
    const secs = (now - new Date(el.dataset.since).getTime()) / 1000;
    if (el.dataset.sla) {
      const state = waitSla(secs);
      el.dataset.state = state;
      el.textContent = t(`sla_${state}`);
    } else {
      el.textContent = t(el.dataset.fmt, { t: duration(secs) });
    }
  }
  for (const el of root.querySelectorAll("[data-until]")) {
    el.textContent = t(el.dataset.fmt, { t: duration((new Date(el.dataset.until).getTime() - now) / 1000) });
  }
  renderTyping();
}
