// Supervisors and admins: operators (admins create and deactivate) and undelivered notifications;
// admins also get the personal-data requests panel (privacy.js).

import { get, post } from "./api.js";
import { h, clear, field, options, modal } from "./dom.js";
import { t, when } from "./i18n.js";
import { store, toast, isAdmin } from "./store.js";
import { panel as privacyPanel } from "./privacy.js";

export function render(main) {
  const ops = h("section", { class: "panel", "aria-labelledby": "ops-h" });
  const dead = h("section", { class: "panel", "aria-labelledby": "dead-h" });
  clear(main, h("div", { class: "page-head" }, h("h1", {}, t("admin"))), h("div", { class: "admin-grid" }, ops, dead, isAdmin() ? privacyPanel() : null));
  loadOperators(ops);
  loadDead(dead);
  return () => {};
}

async function loadOperators(box) {
  let list = [];
  try {
    list = await get("/api/v1/operators");
  } catch (err) {
    clear(box, h("h2", { id: "ops-h", class: "panel-title" }, t("operators")), h("p", { class: "form-error" }, err.readable));
    return;
  }
  const table = h("table", { class: "table" },
    h("thead", {}, h("tr", {}, [t("name"), t("email"), t("role"), t("tier_h"), t("languages"), t("max_chats"), t("presence"), t("active"), ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, list.map((op) => h("tr", { dataset: { email: op.email }, class: op.active ? "" : "inactive" },
      h("td", {}, op.name), h("td", { class: "small" }, op.email), h("td", {}, t(`r_${op.role}`)), h("td", {}, String(op.tier)),
      h("td", {}, op.languages.join(", ").toUpperCase()), h("td", {}, String(op.max_chats)),
      h("td", {}, h("span", { class: `presence-dot p-${op.presence}` }, t(`presence_${op.presence}`))),
      h("td", {}, op.active ? t("yes") : t("no")),
      h("td", {}, isAdmin() && op.active && op.id !== store.me.id
        ? h("button", { type: "button", class: "btn btn-small btn-danger-outline", "aria-label": `${t("deactivate")} ${op.name}`, onclick: () => deactivate(op, box) }, t("deactivate"))
        : null)))));
  clear(box, h("h2", { id: "ops-h", class: "panel-title" }, t("operators")), h("div", { class: "table-wrap" }, table), isAdmin() ? createForm(box) : null);
}

async function deactivate(op, box) {
  const done = await modal(t("deactivate"), h("p", {}, t("deactivate_confirm", { name: op.name })), {
    confirmLabel: t("deactivate"), cancelLabel: t("cancel"), danger: true,
    onConfirm: () => post(`/api/v1/operators/${op.id}/deactivate`),
  });
  if (done) {
    toast(t("deactivated", { name: op.name }));
    loadOperators(box);
  }
}

function createForm(box) {
  const name = h("input", { id: "op-name", type: "text", required: true });
  const email = h("input", { id: "op-email", type: "email", required: true, autocomplete: "off" });
  const password = h("input", { id: "op-password", type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const role = h("select", { id: "op-role" }, options(["agent", "supervisor", "admin"].map((r) => [r, t(`r_${r}`)]), "agent"));
  const tier = h("select", { id: "op-tier" }, options(["1", "2", "3"].map((n) => [n, n]), "1"));
  const languages = h("input", { id: "op-langs", type: "text", value: "it, en" });
  const maxChats = h("input", { id: "op-max", type: "number", min: 1, max: 20, value: "3" });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "stack create-op", "aria-labelledby": "add-op-h" },
    h("h3", { id: "add-op-h" }, t("add_operator")),
    h("div", { class: "grid3" }, field(t("name"), name), field(t("email"), email), field(t("password"), password)),
    h("div", { class: "grid4" }, field(t("role"), role), field(t("tier_h"), tier), field(t("languages"), languages), field(t("max_chats"), maxChats)),
    error, h("div", {}, h("button", { type: "submit", class: "btn btn-primary" }, t("add_operator"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const op = await post("/api/v1/operators", {
        name: name.value, email: email.value, password: password.value, role: role.value,
        tier: Number(tier.value), languages: languages.value, max_chats: Number(maxChats.value),
      });
      toast(t("operator_created", { name: op.name }));
      await loadOperators(box);
    } catch (err) {
      error.textContent = err.readable;
    }
  });
  return form;
}

async function loadDead(box) {
  let dead = [];
  let channels = [];
  try {
    [dead, channels] = await Promise.all([get("/api/v1/notifications/dead-letters"), get("/api/v1/notifications/channels")]);
  } catch (err) {
    clear(box, h("h2", { id: "dead-h", class: "panel-title" }, t("dead_letters")), h("p", { class: "form-error" }, err.readable));
    return;
  }
  clear(box,
    h("h2", { id: "dead-h", class: "panel-title" }, t("dead_letters")),
    h("ul", { class: "channel-list", "aria-label": t("channels") }, channels.map((c) => h("li", { class: c.configured ? "on" : "off" },
      h("strong", {}, c.channel), ` · ${c.configured ? t("configured") : t("not_configured")} · ${c.pending} ${t("pending")} · ${c.dead} ${t("dead")}`,
      c.held ? ` · ${c.held} ${t("held")}` : ""))),
    dead.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["#", t("status"), t("kind"), t("channel"), t("recipient"), t("attempts"), t("last_error"), t("updated"), ""].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, dead.map((row) => deadRow(row, box)))))
      : h("p", { class: "muted" }, t("no_dead")));
}

// A held row (over a daily limit) says which limit in the operator's language and is released
// with "send anyway"; a dead one is retried.
function deadRow(row, box) {
  const held = row.state === "held";
  const action = held ? t("send_anyway") : t("retry");
  return h("tr", { dataset: { id: row.id, state: row.state } },
    h("td", {}, String(row.id)), h("td", {}, h("span", { class: "badge" }, held ? t("st_held") : t("st_dead"))),
    h("td", {}, row.kind), h("td", {}, row.channel), h("td", { class: "small" }, row.recipient),
    h("td", {}, String(row.attempts)),
    h("td", { class: "small error-text" }, held && row.held_by ? t(`held_${row.held_by}`) : row.last_error || ""),
    h("td", { class: "small" }, when(row.updated_at)),
    h("td", {}, h("button", { type: "button", class: "btn btn-small", "aria-label": `${action} #${row.id}`, onclick: async () => {
      try {
        await post(`/api/v1/notifications/dead-letters/${row.id}/retry`);
        toast(t(held ? "released" : "retried", { id: row.id }));
      } catch (err) {
        toast(err.readable, "error");
      }
      loadDead(box);
    } }, action)));
}
