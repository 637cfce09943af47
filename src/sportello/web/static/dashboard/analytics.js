// Analytics (supervisors and admins): filters, report cards and hand-drawn SVG charts, CSV links.

import { get } from "./api.js";
import { h, clear } from "./dom.js";
import { getLang, duration } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const T = {
  it: {
    title: "Statistiche", from: "Dal", to: "Al", channel: "Canale", language: "Lingua", priority: "Priorità", all: "Tutti",
    apply: "Aggiorna", csv: "CSV", loading: "Caricamento…", outcomes: "Conversazioni per esito", volume: "Volume per giorno e ora",
    assistant: "Assistente", queue: "Coda", times: "Tempi di risposta", sla: "SLA", operators: "Operatori",
    satisfaction: "Soddisfazione", channels: "Canali di notifica", containment: "Contenimento", total: "Totale",
    o_assistant: "Assistente", o_operator: "Operatore", o_ticket: "Ticket", o_abandoned: "Abbandonate", o_in_queue: "In coda",
    answered: "Argomenti più risposti", missed: "Argomenti incerti", questions: "Domande incerte recenti",
    served: "Servite", abandoned: "Abbandonate", wait: "Attesa", rate: "Tasso di abbandono", chat_fr: "Chat: prima risposta",
    ticket_fr: "Ticket: prima risposta", resolution: "Ticket: risoluzione", priority_h: "Priorità", tickets: "Ticket",
    fr: "Prima risposta", res: "Risoluzione", tier: "Livello", breaches: "Violazioni", name: "Nome", chats: "Chat",
    handle: "Gestione media", rating: "Voto", resolved: "Ticket risolti", average: "Media", rated: "Valutate",
    comments: "Commenti", channel_h: "Canale", delivered: "Consegnate", failed: "Fallite", dead: "Scartate",
    links: "Link di riapertura aperti", none: "Nessun dato", days: ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
  },
  en: {
    title: "Analytics", from: "From", to: "To", channel: "Channel", language: "Language", priority: "Priority", all: "All",
    apply: "Update", csv: "CSV", loading: "Loading…", outcomes: "Conversations by outcome", volume: "Volume by day and hour",
    assistant: "Assistant", queue: "Queue", times: "Response times", sla: "SLA", operators: "Operators",
    satisfaction: "Satisfaction", channels: "Notification channels", containment: "Containment", total: "Total",
    o_assistant: "Assistant", o_operator: "Operator", o_ticket: "Ticket", o_abandoned: "Abandoned", o_in_queue: "In queue",
    answered: "Topics answered most", missed: "Topics it was unsure of", questions: "Recent unsure questions",
    served: "Served", abandoned: "Abandoned", wait: "Wait", rate: "Abandonment rate", chat_fr: "Chat: first response",
    ticket_fr: "Ticket: first response", resolution: "Ticket: resolution", priority_h: "Priority", tickets: "Tickets",
    fr: "First response", res: "Resolution", tier: "Tier", breaches: "Breaches", name: "Name", chats: "Chats",
    handle: "Avg handle", rating: "Rating", resolved: "Tickets resolved", average: "Average", rated: "Rated",
    comments: "Comments", channel_h: "Channel", delivered: "Delivered", failed: "Failed", dead: "Dead-lettered",
    links: "Reopen links opened", none: "No data", days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
  },
};
const OUTCOMES = ["assistant", "operator", "ticket", "abandoned", "in_queue"];
const tr = (key) => (T[getLang()] || T.it)[key] ?? key;
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const secs = (v) => (v === null || v === undefined ? "—" : duration(v));

function ensureStyles() {
  if (document.querySelector("link[data-analytics]")) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/dashboard/analytics.css", "data-analytics": true }));
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

function titled(el, text) {
  el.append(svg("title", {}, document.createTextNode(text)));
  return el;
}

// Stacked bars, one per day.
function stackedBars(days, keys) {
  const W = 720, H = 220, P = 28;
  const max = Math.max(1, ...days.map((d) => keys.reduce((s, k) => s + d[k], 0)));
  const bw = (W - P) / Math.max(1, days.length);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart chart-stacked", role: "img", "aria-label": tr("outcomes") });
  root.append(svg("line", { x1: P, y1: H - 20, x2: W, y2: H - 20, class: "axis" }));
  root.append(svg("text", { x: 2, y: 12, class: "tick" }, document.createTextNode(String(max))));
  days.forEach((d, i) => {
    let y = H - 20;
    for (const k of keys) {
      const hgt = ((H - 40) * d[k]) / max;
      if (hgt > 0) {
        y -= hgt;
        root.append(titled(svg("rect", { x: P + i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt, class: `bar o-${k}` }), `${d.day} ${tr(`o_${k}`)}: ${d[k]}`));
      }
    }
    if (days.length <= 31 || i % Math.ceil(days.length / 12) === 0) {
      root.append(svg("text", { x: P + i * bw + bw / 2, y: H - 6, class: "tick", "text-anchor": "middle" }, document.createTextNode(d.day.slice(5))));
    }
  });
  return root;
}

function legend(keys) {
  return h("ul", { class: "legend" }, keys.map((k) => h("li", {}, h("span", { class: `swatch o-${k}` }), tr(`o_${k}`))));
}

// Horizontal bars: [{label, value}].
function hbars(rows, label) {
  const W = 360, row = 22, H = Math.max(row, rows.length * row);
  const max = Math.max(1, ...rows.map((r) => r.value));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart chart-hbars", role: "img", "aria-label": label });
  rows.forEach((r, i) => {
    const w = ((W - 170) * r.value) / max;
    root.append(svg("text", { x: 0, y: i * row + 15, class: "tick" }, document.createTextNode(r.label.slice(0, 26))));
    root.append(titled(svg("rect", { x: 140, y: i * row + 4, width: Math.max(1, w), height: row - 8, class: "bar hbar" }), `${r.label}: ${r.value}`));
    root.append(svg("text", { x: 144 + w, y: i * row + 15, class: "tick" }, document.createTextNode(String(r.value))));
  });
  return root;
}

// Weekday × hour heatmap.
function heatmap(cells) {
  const cw = 26, ch = 20, L = 36, Tp = 16;
  const max = Math.max(1, ...cells.map((c) => c.conversations));
  const root = svg("svg", { viewBox: `0 0 ${L + 24 * cw} ${Tp + 7 * ch}`, class: "chart chart-heatmap", role: "img", "aria-label": tr("volume") });
  for (let hr = 0; hr < 24; hr += 3) root.append(svg("text", { x: L + hr * cw, y: 11, class: "tick" }, document.createTextNode(String(hr))));
  tr("days").forEach((d, i) => root.append(svg("text", { x: 0, y: Tp + i * ch + 14, class: "tick" }, document.createTextNode(d))));
  for (const c of cells) {
    const level = c.conversations / max;
    root.append(titled(svg("rect", {
      x: L + c.hour * cw, y: Tp + c.weekday * ch, width: cw - 2, height: ch - 2, class: "cell",
      "fill-opacity": (0.06 + 0.94 * level).toFixed(3),
    }), `${tr("days")[c.weekday]} ${c.hour}:00 — ${c.conversations}`));
  }
  return root;
}

function table(head, rows) {
  if (!rows.length) return h("p", { class: "muted" }, tr("none"));
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("span", { class: "stat-value" }, value), h("span", { class: "stat-label" }, label));
}

function card(key, title, query, body) {
  return h("section", { class: "panel a-card", "data-report": key, "aria-labelledby": `a-${key}` },
    h("div", { class: "a-card-head" },
      h("h2", { id: `a-${key}`, class: "panel-title" }, title),
      h("a", { class: "btn btn-small", href: `/api/v1/reports/${key}?${query}&format=csv`, download: "" }, tr("csv"))),
    body);
}

const RENDER = {
  outcomes: (d) => [
    h("div", { class: "stats" }, stat(tr("total"), String(d.total)), stat(tr("containment"), pct(d.containment_rate)),
      d.outcomes.map((o) => stat(tr(`o_${o.outcome}`), `${o.conversations} · ${pct(o.share)}`))),
    stackedBars(d.days, OUTCOMES), legend(OUTCOMES)],
  volume: (d) => [h("div", { class: "stats" }, stat(tr("total"), String(d.total))), heatmap(d.heatmap)],
  assistant: (d) => [
    h("div", { class: "stats" }, stat(tr("containment"), pct(d.containment_rate)), stat(`${tr("answered")}`, `${d.answered}/${d.questions}`)),
    h("h3", {}, tr("answered")), hbars(d.top_answered.map((t) => ({ label: t.title || t.topic_id || "—", value: t.answers })), tr("answered")),
    h("h3", {}, tr("missed")), hbars(d.top_missed.map((t) => ({ label: t.title || t.topic_id || "—", value: t.answers })), tr("missed")),
    h("h3", {}, tr("questions")), table(["", tr("language"), ""], d.missed_questions.slice(0, 10).map((q) => [q.asked_at.slice(0, 16).replace("T", " "), q.language, q.question]))],
  queue: (d) => [
    h("div", { class: "stats" }, stat(tr("served"), String(d.served)), stat(tr("abandoned"), String(d.abandoned)),
      stat(tr("rate"), pct(d.abandonment_rate)), stat(`${tr("wait")} p50`, secs(d.wait.p50)), stat(`${tr("wait")} p90`, secs(d.wait.p90)), stat(`${tr("wait")} max`, secs(d.wait.max))),
    hbars(d.wait_histogram.map((b) => ({ label: b.bucket, value: b.entries })), tr("wait"))],
  "response-times": (d) => [table(["", "n", tr("average"), "p50", "p90", "max"], [
    [tr("chat_fr"), d.chat_first_response], [tr("ticket_fr"), d.ticket_first_response], [tr("resolution"), d.ticket_resolution],
  ].map(([l, x]) => [l, String(x.count), secs(x.average), secs(x.p50), secs(x.p90), secs(x.max)]))],
  sla: (d) => [
    table([tr("priority_h"), tr("tickets"), tr("fr"), tr("res")], d.priorities.map((p) => [p.priority, String(p.tickets), pct(p.first_response_compliance), pct(p.resolution_compliance)])),
    table([tr("tier"), tr("tickets"), tr("breaches")], d.tiers.map((t) => [String(t.tier), String(t.tickets), String(t.breaches)]))],
  operators: (d) => [table([tr("name"), tr("chats"), tr("handle"), tr("fr"), tr("rating"), tr("resolved")], d.operators.map((o) => [
    o.name, String(o.chats), secs(o.handle_average_seconds), secs(o.first_response_average_seconds),
    o.rating_average === null ? "—" : `${o.rating_average} (${o.ratings})`, String(o.tickets_resolved)]))],
  satisfaction: (d) => [
    h("div", { class: "stats" }, stat(tr("average"), d.average === null ? "—" : String(d.average)), stat(tr("rated"), `${d.rated} · ${pct(d.response_rate)}`)),
    hbars(d.distribution.map((r) => ({ label: "★".repeat(r.rating), value: r.conversations })), tr("rating")),
    h("h3", {}, tr("comments")), table(["", tr("rating"), ""], d.comments.slice(0, 10).map((c) => [c.day, String(c.rating), c.comment]))],
  channels: (d) => [
    table([tr("channel_h"), tr("total"), tr("delivered"), tr("failed"), tr("dead")], d.channels.map((c) => [c.channel, String(c.total), `${c.delivered} · ${pct(c.delivery_rate)}`, String(c.failed), String(c.dead)])),
    h("h3", {}, tr("links")), table(["", "", ""], d.links.map((l) => [l.purpose, `${l.opened}/${l.sent}`, pct(l.open_rate)]))],
};
const CARDS = [["outcomes", "outcomes"], ["volume", "volume"], ["assistant", "assistant"], ["queue", "queue"], ["response-times", "times"],
  ["sla", "sla"], ["operators", "operators"], ["satisfaction", "satisfaction"], ["channels", "channels"]];

function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export function render(main) {
  ensureStyles();
  const today = new Date();
  const from = h("input", { type: "date", name: "from", value: isoDay(new Date(today.getTime() - 29 * 86400000)) });
  const to = h("input", { type: "date", name: "to", value: isoDay(today) });
  const channel = h("select", { name: "channel" }, ["", "web", "whatsapp", "sms", "email", "phone"].map((v) => h("option", { value: v }, v || tr("all"))));
  const language = h("select", { name: "language" }, ["", "it", "en"].map((v) => h("option", { value: v }, v ? v.toUpperCase() : tr("all"))));
  const priority = h("select", { name: "priority" }, ["", "urgent", "high", "medium", "low"].map((v) => h("option", { value: v }, v || tr("all"))));
  const grid = h("div", { class: "a-grid", "aria-live": "polite" });
  const label = (text, control) => h("label", { class: "a-filter" }, h("span", {}, text), control);
  const form = h("form", { class: "a-filters" }, label(tr("from"), from), label(tr("to"), to), label(tr("channel"), channel),
    label(tr("language"), language), label(tr("priority"), priority), h("button", { type: "submit", class: "btn btn-primary" }, tr("apply")));
  let alive = true;
  const load = async () => {
    const params = new URLSearchParams({ from: from.value, to: to.value });
    for (const el of [channel, language, priority]) if (el.value) params.set(el.name, el.value);
    const query = params.toString();
    clear(grid, h("p", { class: "muted" }, tr("loading")));
    grid.setAttribute("aria-busy", "true");
    const results = await Promise.all(CARDS.map(([key]) => get(`/api/v1/reports/${key}?${query}`).catch((err) => err)));
    if (!alive) return;
    clear(grid, CARDS.map(([key, title], i) => card(key, tr(title), query,
      results[i] instanceof Error ? h("p", { class: "form-error" }, results[i].readable || results[i].message) : RENDER[key](results[i]))));
    grid.setAttribute("aria-busy", "false");
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  clear(main, h("div", { class: "page-head" }, h("h1", {}, tr("title"))), form, grid);
  load();
  return () => { alive = false; };
}
