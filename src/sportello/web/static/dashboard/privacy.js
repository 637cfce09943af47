// Admins only: data-subject requests (GDPR access and erasure) for an email address or phone number.
// Looking a person up is their export (the server audits it); erasure asks for the identifier again.

import { post } from "./api.js";
import { h, clear, field, modal } from "./dom.js";
import { getLang, when } from "./i18n.js";
import { toast } from "./store.js";

const T = {
  it: {
    title: "Dati personali (richieste GDPR)",
    intro: "Cerca tutto ciò che Sportello conserva su una persona, scaricalo in JSON per consegnarglielo, oppure cancellalo ovunque. Ogni richiesta lascia una voce nel registro di audit senza dati personali.",
    email: "Email", phone: "Telefono", hint: "Basta uno dei due; i numeri italiani possono omettere +39.",
    lookup: "Cerca dati", looking: "Ricerca…", need_one: "Scrivi un indirizzo email o un numero di telefono.",
    held_for: "Dati conservati per {who}", nothing: "Nessun dato trovato per questa persona.",
    looked_up: "Consultazione registrata nel registro di audit (esportazione).",
    download: "Scarica JSON", erase: "Cancella tutto…",
    c_conversations: "Conversazioni", c_messages: "Messaggi", c_tickets: "Ticket", c_contact_requests: "Richieste di contatto",
    c_notifications: "Notifiche", c_inbound_messages: "SMS/WhatsApp ricevuti", c_recipient_status: "Stato del destinatario",
    c_vip: "Riferimenti VIP", c_mentions: "Altri messaggi che la citano", c_notes: "Note interne (contate, non esportate)",
    confirm_title: "Cancellare i dati di questa persona?",
    confirm_text: "Elimina conversazioni, messaggi, ticket, contatti, note e notifiche della persona e sostituisce con [erased] ogni altra menzione. Non si può annullare.",
    confirm_email: "Per confermare, scrivi di nuovo l'indirizzo email", confirm_phone: "Per confermare, scrivi di nuovo il numero di telefono",
    confirm_button: "Cancella definitivamente", cancel: "Annulla",
    mismatch: "Non corrisponde a quanto cercato: ricontrolla e riscrivilo.",
    erased_title: "Dati cancellati", erased_toast: "Dati della persona cancellati.",
    e_conversations: "Conversazioni", e_messages: "Messaggi", e_tickets: "Ticket", e_notes: "Note interne",
    e_contact_requests: "Richieste di contatto", e_notifications: "Notifiche", e_inbound_messages: "SMS/WhatsApp ricevuti",
    e_recipient_status: "Stato del destinatario", e_vip_entries: "Voci VIP", e_push_subscriptions: "Iscrizioni push",
    e_redacted_values: "Menzioni oscurate altrove",
    audit_title: "Voce di audit n. {id}", audit_text: "Scritta il {when}: {type} / {action}. Contiene solo un'impronta (HMAC) degli identificativi e i conteggi, nessun dato personale.",
    audit_ref: "Riferimento", audit_data: "Contenuto",
    counts: "Conteggi",
  },
  en: {
    title: "Personal data (GDPR requests)",
    intro: "Find everything Sportello holds about a person, download it as JSON to hand it to them, or erase it everywhere. Every request leaves an audit entry that holds no personal data.",
    email: "Email", phone: "Phone", hint: "Either one is enough; Italian numbers may omit +39.",
    lookup: "Look up data", looking: "Looking up…", need_one: "Enter an email address or a phone number.",
    held_for: "Data held for {who}", nothing: "Nothing is held about this person.",
    looked_up: "Look-up recorded in the audit log (export).",
    download: "Download JSON", erase: "Erase everything…",
    c_conversations: "Conversations", c_messages: "Messages", c_tickets: "Tickets", c_contact_requests: "Contact requests",
    c_notifications: "Notifications", c_inbound_messages: "SMS/WhatsApp received", c_recipient_status: "Recipient status",
    c_vip: "VIP references", c_mentions: "Other messages mentioning them", c_notes: "Internal notes (counted, not exported)",
    confirm_title: "Erase this person's data?",
    confirm_text: "Deletes the person's conversations, messages, tickets, contacts, notes and notifications and replaces any other mention with [erased]. This cannot be undone.",
    confirm_email: "To confirm, type the email address again", confirm_phone: "To confirm, type the phone number again",
    confirm_button: "Erase for good", cancel: "Cancel",
    mismatch: "This does not match what you looked up: check it and type it again.",
    erased_title: "Data erased", erased_toast: "The person's data was erased.",
    e_conversations: "Conversations", e_messages: "Messages", e_tickets: "Tickets", e_notes: "Internal notes",
    e_contact_requests: "Contact requests", e_notifications: "Notifications", e_inbound_messages: "SMS/WhatsApp received",
    e_recipient_status: "Recipient status", e_vip_entries: "VIP entries", e_push_subscriptions: "Push subscriptions",
    e_redacted_values: "Mentions redacted elsewhere",
    audit_title: "Audit entry #{id}", audit_text: "Written {when}: {type} / {action}. It holds only a keyed hash (HMAC) of the identifiers and the counts, no personal data.",
    audit_ref: "Reference", audit_data: "Content",
    counts: "Counts",
  },
};

function tr(key, params) {
  let text = (T[getLang()] || T.it)[key] ?? T.it[key] ?? key;
  for (const [name, value] of Object.entries(params || {})) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

function ensureStyles() {
  if (document.querySelector("link[data-privacy]")) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/dashboard/privacy.css", "data-privacy": true }));
}

// What the admin must retype: the email when one was given, else the phone number.
const sameEmail = (a, b) => a.trim().toLowerCase() === b.trim().toLowerCase();
const samePhone = (a, b) => a.replace(/\D/g, "") === b.replace(/\D/g, "") && a.replace(/\D/g, "") !== "";

export function panel() {
  ensureStyles();
  const box = h("section", { class: "panel privacy", "aria-labelledby": "privacy-h", id: "privacy" });
  const email = h("input", { id: "dsr-email", type: "email", autocomplete: "off", maxlength: 254 });
  const phone = h("input", { id: "dsr-phone", type: "tel", autocomplete: "off", maxlength: 32 });
  const error = h("p", { class: "form-error", role: "alert", id: "dsr-error" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, tr("lookup"));
  const result = h("div", { class: "dsr-result", "aria-live": "polite", id: "dsr-result" });
  const form = h("form", { class: "dsr-form", novalidate: true, "aria-describedby": "dsr-hint" },
    h("div", { class: "grid2" }, field(tr("email"), email), field(tr("phone"), phone)),
    h("p", { class: "hint", id: "dsr-hint" }, tr("hint")),
    error, h("div", {}, submit));
  let download = null;
  const forget = () => {
    if (download) URL.revokeObjectURL(download);
    download = null;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    forget();
    clear(result);
    const body = { email: email.value.trim() || null, phone: phone.value.trim() || null };
    if (!body.email && !body.phone) {
      error.textContent = tr("need_one");
      email.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = tr("looking");
    try {
      const data = await post("/api/v1/admin/data-requests/export", body);
      download = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
      showSummary(result, data, body, download, () => {
        forget();
        email.value = "";
        phone.value = "";
      });
    } catch (err) {
      error.textContent = err.readable || String(err);
    } finally {
      submit.disabled = false;
      submit.textContent = tr("lookup");
    }
  });
  clear(box, h("h2", { id: "privacy-h", class: "panel-title" }, tr("title")), h("p", { class: "muted intro" }, tr("intro")), form, result);
  return box;
}

function summaryRows(data) {
  const messages = data.conversations.reduce((n, c) => n + c.messages.length, 0);
  return [
    ["c_conversations", data.conversations.length, ""],
    ["c_messages", messages, ""],
    ["c_tickets", data.tickets.length, data.tickets.map((tk) => tk.number).join(", ")],
    ["c_contact_requests", data.contact_requests.length, ""],
    ["c_notifications", data.notifications.length, ""],
    ["c_inbound_messages", data.inbound_messages.length, ""],
    ["c_recipient_status", data.recipient_status.length, ""],
    ["c_vip", data.vip_customer_refs.length, ""],
    ["c_mentions", data.other_messages_mentioning.length, ""],
    ["c_notes", data.internal_notes_held, ""],
  ];
}

function countsTable(rows, caption) {
  return h("table", { class: "table dsr-counts" },
    h("caption", { class: "sr-only" }, caption),
    h("tbody", {}, rows.map(([key, n, extra]) => h("tr", { dataset: { count: key }, class: n === 0 ? "zero" : null },
      h("th", { scope: "row" }, tr(key)), h("td", { class: "num" }, String(n)),
      extra === undefined ? null : h("td", { class: "small muted" }, extra)))));
}

function showSummary(result, data, body, href, done) {
  const who = [body.email, body.phone].filter(Boolean).join(" · ");
  const rows = summaryRows(data);
  const empty = rows.every(([, n]) => n === 0);
  const filename = `sportello-export-${data.generated_at.slice(0, 10)}.json`;
  const erase = h("button", { type: "button", class: "btn btn-danger-outline", onclick: () => confirmErase(result, body, done) }, tr("erase"));
  clear(result,
    h("h3", { id: "dsr-summary-h" }, tr("held_for", { who })),
    empty ? h("p", { class: "muted" }, tr("nothing")) : countsTable(rows, tr("counts")),
    h("p", { class: "small muted" }, tr("looked_up")),
    h("div", { class: "dsr-actions" },
      h("a", { class: "btn", href, download: filename, id: "dsr-download" }, tr("download")),
      erase));
  result.querySelector("h3").setAttribute("tabindex", "-1");
  result.querySelector("h3").focus();
}

async function confirmErase(result, body, done) {
  const typed = h("input", { id: "dsr-confirm", type: body.email ? "email" : "tel", autocomplete: "off", required: true });
  const matches = () => (body.email ? sameEmail(typed.value, body.email) : samePhone(typed.value, body.phone));
  const outcome = await modal(tr("confirm_title"),
    h("div", { class: "stack" }, h("p", {}, tr("confirm_text")), field(tr(body.email ? "confirm_email" : "confirm_phone"), typed)), {
      confirmLabel: tr("confirm_button"), cancelLabel: tr("cancel"), danger: true,
      onConfirm: async () => {
        if (!matches()) {
          typed.focus();
          throw new Error(tr("mismatch"));
        }
        return post("/api/v1/admin/data-requests/erase", body);
      },
    });
  if (!outcome) return;
  done();
  showErased(result, outcome);
  toast(tr("erased_toast"));
}

const ERASED_ORDER = [
  "conversations", "messages", "tickets", "contact_requests", "notes", "notifications",
  "inbound_messages", "recipient_status", "vip_entries", "push_subscriptions", "redacted_values",
];

function showErased(result, outcome) {
  const entry = outcome.audit;
  const known = ERASED_ORDER.filter((key) => key in outcome.counts);
  const rest = Object.keys(outcome.counts).filter((key) => !ERASED_ORDER.includes(key));
  const rows = [...known, ...rest].map((key) => [`e_${key}`, outcome.counts[key]]);
  clear(result,
    h("h3", { id: "dsr-erased-h", tabindex: "-1" }, tr("erased_title")),
    countsTable(rows, tr("counts")),
    h("div", { class: "dsr-audit", id: "dsr-audit", role: "group", "aria-labelledby": "dsr-audit-h" },
      h("h4", { id: "dsr-audit-h" }, tr("audit_title", { id: entry.id })),
      h("p", {}, tr("audit_text", { when: when(entry.created_at), type: entry.subject_type, action: entry.action })),
      h("dl", {},
        h("dt", {}, tr("audit_ref")), h("dd", { class: "mono small" }, entry.subject_id),
        h("dt", {}, tr("audit_data")), h("dd", { class: "mono small" }, JSON.stringify(entry.data)))));
  result.querySelector("h3").focus();
}
