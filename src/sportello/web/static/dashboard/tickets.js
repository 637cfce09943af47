// Tickets: the filtered list with SLA state, the detail with conversation, notes and audit trail,
// and the form for a ticket opened by hand (a phone call).

import { get, patch, post } from "./api.js";
import { h, clear, field, options } from "./dom.js";
import { t, duration, when } from "./i18n.js";
import { store, toast, announce, colleagueName, on, isSupervisor } from "./store.js";

const STATUSES = ["open", "in_progress", "waiting_user", "resolved", "closed"];
const PRIORITIES = ["low", "medium", "high", "urgent"];
const SLA_STATES = ["ok", "warning", "breached", "paused", "met"];
const METHODS = ["phone", "email", "whatsapp", "sms"];

export function render(main, route, navigate) {
  if (route.page === "new") return renderCreate(main, navigate);
  if (route.page === "detail") return renderDetail(main, route.number, navigate);
  return renderList(main, navigate);
}

export function statusBadge(s) {
  return h("span", { class: `badge status-${s}` }, t(`s_${s}`));
}

export function priorityBadge(p) {
  return h("span", { class: `badge prio-${p}` }, t(`p_${p}`));
}

function slaDue(ticket) {
  if (ticket.sla_state === "paused" || ticket.sla_state === "met") return null;
  return ticket.first_responded_at ? ticket.resolution_due_at : ticket.first_response_due_at;
}

export function slaBadge(ticket) {
  const due = slaDue(ticket);
  let text = "";
  if (due) {
    const secs = (new Date(due).getTime() - Date.now()) / 1000;
    text = secs >= 0 ? t("due_in", { t: duration(secs) }) : t("overdue", { t: duration(-secs) });
  }
  return h("span", { class: "sla-cell" },
    h("span", { class: `badge sla`, dataset: { state: ticket.sla_state } }, t(`sla_${ticket.sla_state}`)),
    text ? h("span", { class: "muted small" }, ` ${text}`) : null);
}

function assigneeOptions(selected, { anyLabel } = {}) {
  const pairs = [];
  if (anyLabel) pairs.push(["", anyLabel], ["me", t("me")], ["none", t("unassigned")]);
  else pairs.push(["", t("unassignedOne")]);
  for (const c of store.colleagues) pairs.push([c.id, c.name]);
  return options(pairs, selected || "");
}

// ---- List ----

function renderList(main, navigate) {
  const params = new URLSearchParams(location.search);
  const q = h("input", { type: "search", name: "q", value: params.get("q") || "", placeholder: t("search_ph") });
  const status = h("select", { name: "status" }, options([["", t("all")], ...STATUSES.map((s) => [s, t(`s_${s}`)])], params.get("status") || ""));
  const priority = h("select", { name: "priority" }, options([["", t("all")], ...PRIORITIES.map((p) => [p, t(`p_${p}`)])], params.get("priority") || ""));
  const assignee = h("select", { name: "assignee" }, assigneeOptions(params.get("assignee"), { anyLabel: t("all") }));
  const sla = h("select", { name: "sla_state" }, options([["", t("all")], ...SLA_STATES.map((s) => [s, t(`sla_${s}`)])], params.get("sla_state") || ""));
  // The call-backs owed, soonest promised slot first.
  const callbacks = params.get("callback") === "true";
  const view = h("select", { name: "view" }, options([["", t("all")], ["callbacks", t("callbacks_view")]], callbacks ? "callbacks" : ""));
  const form = h("form", { class: "filters", role: "search", "aria-label": t("filters") },
    field(t("search"), q), field(t("status"), status), field(t("priority"), priority), field(t("assignee"), assignee), field(t("sla"), sla), field(t("view"), view),
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, t("apply")),
      h("button", { type: "button", class: "btn", onclick: () => navigate("/dashboard/tickets") }, t("reset"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [k, el] of [["q", q], ["status", status], ["priority", priority], ["assignee", assignee], ["sla_state", sla]]) {
      if (el.value.trim()) next.set(k, el.value.trim());
    }
    if (view.value === "callbacks") { next.set("callback", "true"); next.set("sort", "callback_at"); }
    navigate(`/dashboard/tickets${next.toString() ? `?${next}` : ""}`);
  });
  for (const el of [status, priority, assignee, sla, view]) el.addEventListener("change", () => form.requestSubmit());
  const tbody = h("tbody");
  const summary = h("p", { class: "muted small", role: "status", id: "ticket-count" });
  const more = h("button", { type: "button", class: "btn", hidden: true }, t("load_more"));
  const table = h("table", { class: "table tickets-table", "aria-describedby": "ticket-count" },
    h("caption", { class: "sr-only" }, t("tickets")),
    h("thead", {}, h("tr", {}, [t("number"), t("subject"), t("status"), t("priority"), t("assignee"), t("sla"), callbacks ? t("callback_at") : t("created")].map((c) => h("th", { scope: "col" }, c)))),
    tbody);
  clear(main,
    h("div", { class: "page-head" },
      h("h1", {}, t("tickets")),
      h("a", { href: "/dashboard/tickets/new", "data-link": true, class: "btn btn-primary" }, "+ ", t("new_ticket"))),
    form, summary, h("div", { class: "table-wrap" }, table), h("div", { class: "more" }, more));

  let cursor = null;
  let shown = 0;
  async function load(append) {
    const query = new URLSearchParams(params);
    query.set("limit", "50");
    if (append && cursor) query.set("cursor", cursor);
    let page;
    try {
      page = await get(`/api/v1/tickets?${query}`);
    } catch (err) {
      summary.textContent = err.readable;
      return;
    }
    if (!append) {
      tbody.replaceChildren();
      shown = 0;
    }
    for (const tk of page.items) tbody.append(row(tk));
    shown += page.items.length;
    if (!shown) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, t("no_tickets"))));
    summary.textContent = t("ticket_count", { n: shown + (page.next_cursor ? "+" : "") });
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => load(true));
  load(false);
  return on("tickets", () => load(false));
}

function row(tk) {
  return h("tr", { dataset: { number: tk.number, sla: tk.sla_state } },
    h("td", {}, h("a", { href: `/dashboard/tickets/${encodeURIComponent(tk.number)}`, "data-link": true, class: "mono" }, tk.number)),
    h("td", { class: "subject" }, tk.subject, tk.vip ? h("span", { class: "badge vip" }, "VIP") : null),
    h("td", {}, statusBadge(tk.status)),
    h("td", {}, priorityBadge(tk.priority)),
    h("td", {}, colleagueName(tk.assignee_id) || h("span", { class: "muted" }, t("unassignedOne"))),
    h("td", {}, slaBadge(tk)),
    h("td", { class: "muted small" }, when(new URLSearchParams(location.search).get("callback") === "true" && tk.callback_at ? tk.callback_at : tk.created_at)));
}

// ---- Detail ----

function renderDetail(main, number, navigate) {
  clear(main, h("p", { class: "muted" }, "…"));
  let alive = true;
  const load = async () => {
    let ticket, messages, notes, history;
    try {
      [ticket, messages, notes, history] = await Promise.all([
        get(`/api/v1/tickets/${encodeURIComponent(number)}`),
        get(`/api/v1/dashboard/tickets/${encodeURIComponent(number)}/messages`),
        get(`/api/v1/tickets/${encodeURIComponent(number)}/notes`),
        get(`/api/v1/tickets/${encodeURIComponent(number)}/history`),
      ]);
    } catch (err) {
      if (alive) clear(main, backLink(), h("p", { class: "form-error", role: "alert" }, err.readable));
      return;
    }
    if (alive) drawDetail(main, ticket, messages, notes, history, load);
  };
  load();
  const off = on("tickets", (frame) => {
    if (frame && frame.number === number) load();
  });
  return () => {
    alive = false;
    off();
  };
}

function backLink() {
  return h("a", { href: "/dashboard/tickets", "data-link": true, class: "back" }, "← ", t("back_to_list"));
}

function drawDetail(main, tk, messages, notes, history, reload) {
  const focusedId = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : null;
  // The conversation opens on its newest message (an answer just sent, the customer's last
  // words); a redraw leaves alone an operator who scrolled up to read.
  const before = main.querySelector(".transcript.static");
  const readingAt = before && before.scrollHeight - before.scrollTop - before.clientHeight > 40 ? before.scrollTop : null;
  const status = h("select", { id: "tk-status" }, options(STATUSES.map((s) => [s, t(`s_${s}`)]), tk.status));
  const priority = h("select", { id: "tk-priority" }, options(PRIORITIES.map((p) => [p, t(`p_${p}`)]), tk.priority));
  const assignee = h("select", { id: "tk-assignee" }, assigneeOptions(tk.assignee_id || ""));
  const tags = h("input", { id: "tk-tags", type: "text", value: tk.tags.join(", ") });
  const propsError = h("p", { class: "form-error", role: "alert", id: "props-error" });
  const props = h("form", { class: "panel stack", "aria-labelledby": "props-h" },
    h("h2", { class: "panel-title", id: "props-h" }, t("properties")),
    field(t("status"), status), field(t("priority"), priority), field(t("assignee"), assignee), field(t("tags"), tags, t("tags_hint")),
    propsError,
    h("button", { type: "submit", class: "btn btn-primary" }, t("save")));
  props.addEventListener("submit", async (event) => {
    event.preventDefault();
    propsError.textContent = "";
    const changes = {};
    if (status.value !== tk.status) changes.status = status.value;
    if (priority.value !== tk.priority) changes.priority = priority.value;
    if ((assignee.value || null) !== (tk.assignee_id || null)) changes.assignee_id = assignee.value || null;
    const newTags = tags.value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (newTags.join(",") !== tk.tags.join(",")) changes.tags = newTags;
    if (!Object.keys(changes).length) return;
    try {
      await patch(`/api/v1/tickets/${encodeURIComponent(tk.number)}`, changes);
    } catch (err) {
      propsError.textContent = err.readable;
      status.focus();
      return;
    }
    toast(t("saved"));
    announce(t("saved"));
    await reload();
    const again = document.getElementById("tk-status");
    if (again) again.focus();
  });

  const tierPanel = isSupervisor() ? tierForm(tk, reload) : null;

  const replyBox = h("textarea", { id: "tk-reply", rows: 3 });
  const replyError = h("p", { class: "form-error", role: "alert" });
  const replyForm = h("form", { class: "stack" }, field(t("reply_customer"), replyBox), replyError,
    h("div", {}, h("button", { type: "submit", class: "btn btn-primary" }, t("send"))));
  replyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!replyBox.value.trim()) return;
    try {
      await post(`/api/v1/tickets/${encodeURIComponent(tk.number)}/replies`, { body: replyBox.value });
    } catch (err) {
      replyError.textContent = err.readable;
      return;
    }
    toast(t("reply_sent"));
    await reload();
  });

  const noteBox = h("textarea", { id: "tk-note", rows: 2 });
  const noteError = h("p", { class: "form-error", role: "alert" });
  const noteForm = h("form", { class: "stack" }, field(t("note"), noteBox), noteError,
    h("div", {}, h("button", { type: "submit", class: "btn btn-note" }, t("add_note"))));
  noteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!noteBox.value.trim()) return;
    try {
      await post(`/api/v1/tickets/${encodeURIComponent(tk.number)}/notes`, { body: noteBox.value });
    } catch (err) {
      noteError.textContent = err.readable;
      return;
    }
    toast(t("note_added"));
    await reload();
    const again = document.getElementById("tk-note");
    if (again) again.focus();
  });

  const contact = [
    [t("contact_method"), t(`m_${tk.contact_method}`)],
    [t("email"), tk.email || t("none")],
    [t("phone"), tk.phone || t("none")],
    tk.callback_at ? [t("callback_at"), when(tk.callback_at)] : null,
    [t("customer_ref"), tk.customer_ref || t("none")],
    [t("language"), tk.language.toUpperCase()],
  ].filter(Boolean);
  const slaRows = [
    [t("sla"), slaBadge(tk)],
    [t("first_response"), tk.first_responded_at ? `✓ ${when(tk.first_responded_at)}` : when(tk.first_response_due_at)],
    [t("resolution"), tk.resolved_at ? `✓ ${when(tk.resolved_at)}` : when(tk.resolution_due_at)],
    [t("escalations"), String(tk.escalations)],
    [t("created"), when(tk.created_at)],
  ];

  clear(main,
    backLink(),
    h("div", { class: "page-head" },
      h("h1", {}, h("span", { class: "mono" }, tk.number), " · ", tk.subject),
      h("div", { class: "meta" }, statusBadge(tk.status), priorityBadge(tk.priority), tk.vip ? h("span", { class: "badge vip" }, "VIP") : null,
        tk.tags.map((tag) => h("span", { class: "badge tag" }, `#${tag}`)))),
    h("div", { class: "detail" },
      h("div", { class: "detail-main" },
        tk.description ? h("section", { class: "panel" }, h("h2", { class: "panel-title" }, t("description")), h("p", { class: "prewrap" }, tk.description)) : null,
        h("section", { class: "panel", "aria-labelledby": "conv-h" },
          h("h2", { class: "panel-title", id: "conv-h" }, t("conversation")),
          messages.length
            ? h("ol", { class: "transcript static" }, messages.map((m) => h("li", { class: m.sender === "system" ? "item system" : `item msg from-${m.sender}` },
              m.sender === "system" ? h("span", {}, m.body) : [
                h("div", { class: "who" }, h("span", {}, m.sender === "operator" ? (m.metadata.operator_name || t("operator")) : t(m.sender)), h("time", { datetime: m.created_at }, when(m.created_at))),
                h("div", { class: "body" }, m.body)])))
            : h("p", { class: "muted" }, t("no_conversation")),
          replyForm),
        h("section", { class: "panel notes-panel", "aria-labelledby": "notes-h" },
          h("h2", { class: "panel-title", id: "notes-h" }, t("notes")),
          notes.length ? h("ul", { class: "note-list" }, notes.map((n) => h("li", { class: "note" },
            h("div", { class: "muted small" }, `${colleagueName(n.operator_id) || ""} · ${when(n.created_at)}`), h("div", { class: "prewrap" }, n.body))))
            : h("p", { class: "muted small" }, t("no_notes")),
          noteForm)),
      h("div", { class: "detail-side" },
        props,
        tierPanel,
        h("section", { class: "panel" }, h("h2", { class: "panel-title" }, t("sla")), h("dl", { class: "props" }, slaRows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
        h("section", { class: "panel" }, h("h2", { class: "panel-title" }, t("contact")), h("dl", { class: "props" }, contact.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
        h("section", { class: "panel", "aria-labelledby": "hist-h" },
          h("h2", { class: "panel-title", id: "hist-h" }, t("history")),
          h("ol", { class: "history" }, history.map((e) => h("li", {},
            h("span", { class: "hist-action" }, t(`a_${e.action}`) === `a_${e.action}` ? e.action.replaceAll("_", " ") : t(`a_${e.action}`)),
            h("span", { class: "muted small" }, ` · ${actor(e)} · ${when(e.created_at)}`),
            describe(e)))))),
    ));
  const transcript = main.querySelector(".transcript.static");
  if (transcript) transcript.scrollTop = readingAt ?? transcript.scrollHeight;
  if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
}

// Moving a ticket to another tier's pool is for supervisors and admins (PATCH …/tier).
function tierForm(tk, reload) {
  const tier = h("select", { id: "tk-tier" }, options([1, 2, 3].map((n) => [String(n), t("tier", { n })]), String(tk.tier)));
  const reason = h("input", { id: "tk-tier-reason", type: "text", maxlength: "200" });
  const error = h("p", { class: "form-error", role: "alert", id: "tier-error" });
  const form = h("form", { class: "panel stack", "aria-labelledby": "tier-h" },
    h("h2", { class: "panel-title", id: "tier-h" }, t("tier_panel")),
    field(t("tier_h"), tier), field(t("tier_reason"), reason), error,
    h("button", { type: "submit", class: "btn" }, t("tier_move")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (tier.value === String(tk.tier)) return;
    try {
      await patch(`/api/v1/tickets/${encodeURIComponent(tk.number)}/tier`, { tier: Number(tier.value), reason: reason.value || null });
    } catch (err) {
      error.textContent = err.readable;
      tier.focus();
      return;
    }
    toast(t("tier_moved", { n: tier.value }));
    announce(t("tier_moved", { n: tier.value }));
    await reload();
    const again = document.getElementById("tk-tier");
    if (again) again.focus();
  });
  return form;
}

function actor(e) {
  if (e.actor_type === "operator") return colleagueName(e.actor_id) || t("operator");
  if (e.actor_type === "visitor") return t("by_visitor");
  return t("by_system");
}

function describe(e) {
  const d = e.data || {};
  const parts = [];
  const people = e.action === "assigned" || e.action === "unassigned";
  const fmt = (v) => {
    if (v === null || v === undefined) return people ? t("unassignedOne") : t("none");
    if (Array.isArray(v)) return v.length ? v.map((x) => `#${x}`).join(" ") : t("none");
    if (people) return colleagueName(v);
    if (STATUSES.includes(v)) return t(`s_${v}`);
    if (PRIORITIES.includes(v)) return t(`p_${v}`);
    return String(v);
  };
  if ("from" in d || "to" in d) parts.push(`${fmt(d.from)} → ${fmt(d.to)}`);
  if (e.action === "tier_changed" && Array.isArray(d.tier)) parts.push(d.tier.map((n) => t("tier", { n })).join(" → "));
  if (d.clock) parts.push(String(d.clock));
  if (d.reason) parts.push(String(d.reason));
  return parts.length ? h("div", { class: "small hist-data" }, parts.join(" · ")) : null;
}

// ---- Create ----

function renderCreate(main, navigate) {
  const method = h("select", { id: "nt-method", name: "contact_method" }, options(METHODS.map((m) => [m, t(`m_${m}`)]), "phone"));
  const phone = h("input", { id: "nt-phone", type: "tel", name: "phone", autocomplete: "off" });
  const email = h("input", { id: "nt-email", type: "email", name: "email", autocomplete: "off" });
  const callback = h("input", { id: "nt-callback", type: "datetime-local", name: "callback_at" });
  const ref = h("input", { id: "nt-ref", type: "text", name: "customer_ref" });
  const language = h("select", { id: "nt-lang", name: "language" }, options([["it", "Italiano"], ["en", "English"]], "it"));
  const subject = h("input", { id: "nt-subject", type: "text", name: "subject", required: true, maxlength: 200 });
  const description = h("textarea", { id: "nt-description", name: "description", rows: 5 });
  const priority = h("select", { id: "nt-priority", name: "priority" }, options([["", "—"], ...PRIORITIES.map((p) => [p, t(`p_${p}`)])], ""));
  const assignee = h("select", { id: "nt-assignee", name: "assignee" }, assigneeOptions(store.me.id));
  const tags = h("input", { id: "nt-tags", type: "text", name: "tags" });
  const error = h("p", { class: "form-error", role: "alert" });
  const callbackField = field(t("callback_at"), callback);
  const sync = () => { callbackField.hidden = method.value !== "phone"; };
  method.addEventListener("change", sync);
  const form = h("form", { class: "panel create-form", "aria-labelledby": "create-h" },
    h("h1", { id: "create-h" }, t("create_title")),
    h("div", { class: "grid2" }, field(t("contact_method"), method), field(t("language"), language)),
    h("div", { class: "grid2" }, field(t("phone"), phone), field(t("email"), email)),
    h("div", { class: "grid2" }, callbackField, field(t("customer_ref"), ref)),
    field(t("subject"), subject),
    field(t("description"), description),
    h("div", { class: "grid3" }, field(t("priority"), priority), field(t("assignee"), assignee), field(t("tags"), tags, t("tags_hint"))),
    error,
    h("div", { class: "form-actions" },
      h("a", { href: "/dashboard/tickets", "data-link": true, class: "btn" }, t("cancel")),
      h("button", { type: "submit", class: "btn btn-primary" }, t("create"))));
  sync();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = {
      contact_method: method.value,
      subject: subject.value.trim() || null,
      description: description.value,
      language: language.value,
      tags: tags.value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean),
    };
    if (phone.value.trim()) body.phone = phone.value.trim();
    if (email.value.trim()) body.email = email.value.trim();
    if (ref.value.trim()) body.customer_ref = ref.value.trim();
    if (priority.value) body.priority = priority.value;
    if (assignee.value) body.assignee_id = assignee.value;
    if (method.value === "phone" && callback.value) body.callback_at = new Date(callback.value).toISOString();
    try {
      const tk = await post("/api/v1/tickets", body);
      toast(t("created_ok", { n: tk.number }));
      announce(t("created_ok", { n: tk.number }));
      navigate(`/dashboard/tickets/${encodeURIComponent(tk.number)}`);
    } catch (err) {
      error.textContent = err.readable;
      error.focus?.();
    }
  });
  clear(main, backLink(), form);
  method.focus();
}
