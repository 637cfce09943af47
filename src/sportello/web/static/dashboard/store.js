// The dashboard's shared state; views read it and re-render the parts that changed.

export const store = {
  me: null,
  settings: null,
  presence: "offline",
  conn: "closed",
  queue: [],
  offers: new Map(),
  chats: new Map(),
  activeChat: null,
  colleagues: [],
  canned: [],
  slaAlerts: 0,
};

const listeners = new Map();

export function on(topic, callback) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(callback);
  return () => listeners.get(topic).delete(callback);
}

export function changed(topic, detail) {
  for (const callback of listeners.get(topic) || []) callback(detail);
}

export function isSupervisor() {
  return store.me && ["supervisor", "admin"].includes(store.me.role);
}

export function isAdmin() {
  return store.me && store.me.role === "admin";
}

export function colleagueName(id) {
  if (!id) return null;
  const c = store.colleagues.find((op) => op.id === id);
  return c ? c.name : id.slice(0, 8);
}

export function announce(text) {
  const el = document.getElementById("announcer");
  if (!el) return;
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 30);
}

export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = `toast toast-${kind}`;
  item.textContent = text;
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}
