// Italian (default) and English; the choice is remembered in this browser.

const KEY = "sportello.dashboard.lang";

const it = {
  skip: "Salta al contenuto",
  brand_sub: "Assistenza clienti",
  login_title: "Accesso operatori",
  login_intro: "Entra con l'email e la password del tuo account operatore.",
  email: "Email", password: "Password", login: "Accedi", logging_in: "Accesso in corso…",
  logout: "Esci", login_failed: "Accesso non riuscito",
  nav_console: "Console", nav_tickets: "Ticket", nav_admin: "Amministrazione", nav_analytics: "Statistiche", nav_notifications: "Notifiche",
  nav_label: "Navigazione principale",
  lang_switch: "English", lang_switch_label: "Switch to English",
  presence: "Stato", presence_online: "Online", presence_away: "Assente", presence_offline: "Offline",
  presence_label: "Il tuo stato di presenza",
  conn_connecting: "Connessione…", conn_lost: "Connessione persa, riprovo…",
  queue: "Coda", queue_empty: "Nessun visitatore in attesa.", queue_count: "{n} in attesa",
  waiting: "in attesa da {t}", estimate: "stima {t}", position: "n. {n}",
  reason_visitor_request: "il visitatore ha chiesto un operatore", "reason_visitor asked for a person": "il visitatore ha chiesto un operatore",
  offers: "Nuove richieste per te", offer_expires: "scade tra {t}", offer_transfer: "trasferita",
  accept: "Accetta", accept_label: "Accetta la chat {who}",
  my_chats: "Le mie chat", no_chats: "Nessuna chat aperta. Quando accetti una richiesta compare qui.",
  chat_with: "Visitatore {id}", chat_ended: "Chat terminata", close_tab: "Chiudi",
  select_chat: "Seleziona una chat a sinistra, oppure accetta una richiesta dalla coda.",
  reply: "Risposta", note: "Nota interna", send: "Invia", add_note: "Aggiungi nota",
  composer_reply: "Scrivi al visitatore (Invio per inviare, Maiusc+Invio per andare a capo)",
  composer_note: "Nota interna: la vedono solo gli operatori",
  internal_note: "Nota interna", note_hidden: "non visibile al visitatore",
  canned: "Risposte pronte", canned_none: "Nessuna risposta pronta.",
  transfer: "Trasferisci", end: "Termina", end_confirm: "Terminare questa chat? Al visitatore verrà chiesta una valutazione.",
  transfer_title: "Trasferisci la chat", transfer_to_op: "A un collega online", transfer_to_tier: "A un livello",
  transfer_none: "Nessun collega online", tier: "Livello {n}", cancel: "Annulla", confirm: "Conferma",
  typing: "Il visitatore sta scrivendo…", visitor: "Visitatore", operator: "Operatore", assistant: "Assistente", system: "Sistema",
  details: "Dettagli", language: "Lingua", priority: "Priorità", channel: "Canale", page: "Pagina", customer: "Cliente",
  started: "Iniziata",
  notif_enable: "Attiva notifiche desktop", notif_on: "Notifiche desktop attive", notif_denied: "Notifiche bloccate dal browser",
  notif_title: "Nuova richiesta di chat", notif_body: "Un visitatore ({lang}) chiede un operatore.",
  new_offer: "Nuova richiesta di chat da un visitatore", new_message: "Nuovo messaggio in {who}",
  chat_ended_by: "La chat è terminata.", transferred: "Chat trasferita.", accepted: "Chat accettata.",
  sla_ok: "In tempo", sla_warning: "A rischio", sla_breached: "Scaduto", sla_paused: "In pausa", sla_met: "Rispettato",
  sla_alerts: "Avvisi SLA", sla_alerts_label: "{n} ticket a rischio o scaduti",
  sla_toast_warning: "SLA a rischio: ticket {n}", sla_toast_breached: "SLA scaduto: ticket {n}",
  p_low: "Bassa", p_medium: "Media", p_high: "Alta", p_urgent: "Urgente",
  s_open: "Aperto", s_in_progress: "In lavorazione", s_waiting_user: "In attesa cliente", s_resolved: "Risolto", s_closed: "Chiuso",
  tickets: "Ticket", new_ticket: "Nuovo ticket", search: "Cerca", search_ph: "Numero, oggetto, testo…",
  status: "Stato", assignee: "Assegnatario", sla: "SLA", all: "Tutti", me: "Io", unassigned: "Non assegnati", unassignedOne: "Non assegnato",
  filters: "Filtri", apply: "Applica", reset: "Azzera", load_more: "Carica altri",
  number: "Numero", subject: "Oggetto", created: "Creato", due: "Scadenza", no_tickets: "Nessun ticket corrisponde ai filtri.",
  ticket_count: "{n} ticket",
  due_in: "entro {t}", overdue: "scaduto da {t}", none: "—",
  conversation: "Conversazione", no_conversation: "Nessuna conversazione collegata.",
  notes: "Note interne", no_notes: "Nessuna nota.", history: "Cronologia", properties: "Proprietà",
  tags: "Etichette", tags_hint: "Separate da virgola, es. rimborso, vip", save: "Salva modifiche", saved: "Modifiche salvate.",
  reply_customer: "Rispondi al cliente", reply_sent: "Risposta inviata.", note_added: "Nota aggiunta.",
  back_to_list: "Torna ai ticket", description: "Descrizione", contact: "Contatto", first_response: "Prima risposta",
  resolution: "Risoluzione", escalations: "Escalation",
  create_title: "Nuovo ticket (telefonata o contatto diretto)", contact_method: "Canale di contatto",
  m_phone: "Telefono", m_email: "Email", m_whatsapp: "WhatsApp", m_sms: "SMS", m_chat: "Chat",
  phone: "Telefono", callback_at: "Richiamare il", view: "Vista", callbacks_view: "Richiamate (per orario)", customer_ref: "Riferimento cliente",
  create: "Crea ticket", created_ok: "Ticket {n} creato.",
  admin: "Amministrazione", operators: "Operatori", dead_letters: "Notifiche non consegnate",
  name: "Nome", role: "Ruolo", tier_h: "Livello", languages: "Lingue", max_chats: "Chat max", active: "Attivo",
  yes: "Sì", no: "No", deactivate: "Disattiva", deactivate_confirm: "Disattivare {name}? Le sue sessioni terminano.",
  deactivated: "{name} disattivato.", add_operator: "Aggiungi operatore", operator_created: "Operatore {name} creato.",
  r_agent: "Agente", r_supervisor: "Supervisore", r_admin: "Amministratore",
  retry: "Riprova", retried: "Notifica {id} rimessa in coda.", no_dead: "Nessuna notifica non consegnata.",
  kind: "Tipo", recipient: "Destinatario", attempts: "Tentativi", last_error: "Ultimo errore", updated: "Aggiornata",
  channels: "Canali", configured: "configurato", not_configured: "non configurato", pending: "in attesa", dead: "non consegnate",
  held: "trattenute", st_dead: "Non consegnata", st_held: "Trattenuta", send_anyway: "Invia comunque", released: "Notifica {id} sbloccata: verrà inviata.",
  held_recipient: "Limite giornaliero per questo destinatario raggiunto", held_sms: "Limite giornaliero di SMS e WhatsApp raggiunto", held_email: "Limite giornaliero di email raggiunto",
  error_generic: "Qualcosa è andato storto. Riprova.", error_network: "Server non raggiungibile.",
  error_conflict: "Operazione non consentita: {msg}",
  a_created: "creato", a_status_changed: "stato cambiato", a_assigned: "assegnato", a_priority_changed: "priorità cambiata",
  a_tags_changed: "etichette cambiate", a_note_added: "nota aggiunta", a_replied: "risposta inviata",
  a_reopened: "riaperto", a_unassigned: "assegnazione rimossa", a_customer_replied: "risposta del cliente",
  a_sla_warning: "avviso SLA", a_sla_breached: "SLA scaduto", a_escalated: "escalation",
  a_contact_consent: "consenso al contatto", a_tier_changed: "livello cambiato", tier_panel: "Livello di assistenza", tier_move: "Sposta al livello", tier_reason: "Motivo (facoltativo)", tier_moved: "Ticket spostato al livello {n}.",
  by_system: "sistema", by_visitor: "cliente",
  shortcuts: "Scorciatoie: Alt+1…9 apre la chat n., Alt+A accetta la prima richiesta.",
};

const en = {
  skip: "Skip to content",
  brand_sub: "Customer support",
  login_title: "Operator login",
  login_intro: "Sign in with your operator account's email and password.",
  email: "Email", password: "Password", login: "Sign in", logging_in: "Signing in…",
  logout: "Sign out", login_failed: "Sign-in failed",
  nav_console: "Console", nav_tickets: "Tickets", nav_admin: "Admin", nav_analytics: "Analytics", nav_notifications: "Notifications",
  nav_label: "Main navigation",
  lang_switch: "Italiano", lang_switch_label: "Passa all'italiano",
  presence: "Status", presence_online: "Online", presence_away: "Away", presence_offline: "Offline",
  presence_label: "Your presence",
  conn_connecting: "Connecting…", conn_lost: "Connection lost, retrying…",
  queue: "Queue", queue_empty: "Nobody is waiting.", queue_count: "{n} waiting",
  waiting: "waiting {t}", estimate: "est. {t}", position: "#{n}",
  reason_visitor_request: "the visitor asked for a person", "reason_visitor asked for a person": "the visitor asked for a person",
  offers: "New requests for you", offer_expires: "expires in {t}", offer_transfer: "transferred",
  accept: "Accept", accept_label: "Accept chat {who}",
  my_chats: "My chats", no_chats: "No open chats. Accepted requests show up here.",
  chat_with: "Visitor {id}", chat_ended: "Chat ended", close_tab: "Close",
  select_chat: "Pick a chat on the left, or accept a request from the queue.",
  reply: "Reply", note: "Internal note", send: "Send", add_note: "Add note",
  composer_reply: "Write to the visitor (Enter sends, Shift+Enter for a new line)",
  composer_note: "Internal note: only operators see it",
  internal_note: "Internal note", note_hidden: "not visible to the visitor",
  canned: "Canned replies", canned_none: "No canned replies.",
  transfer: "Transfer", end: "End", end_confirm: "End this chat? The visitor will be asked for a rating.",
  transfer_title: "Transfer the chat", transfer_to_op: "To an online colleague", transfer_to_tier: "To a tier",
  transfer_none: "No colleague online", tier: "Tier {n}", cancel: "Cancel", confirm: "Confirm",
  typing: "The visitor is typing…", visitor: "Visitor", operator: "Operator", assistant: "Assistant", system: "System",
  details: "Details", language: "Language", priority: "Priority", channel: "Channel", page: "Page", customer: "Customer",
  started: "Started",
  notif_enable: "Enable desktop notifications", notif_on: "Desktop notifications on", notif_denied: "Notifications blocked by the browser",
  notif_title: "New chat request", notif_body: "A visitor ({lang}) asks for a person.",
  new_offer: "New chat request from a visitor", new_message: "New message in {who}",
  chat_ended_by: "The chat has ended.", transferred: "Chat transferred.", accepted: "Chat accepted.",
  sla_ok: "On time", sla_warning: "At risk", sla_breached: "Breached", sla_paused: "Paused", sla_met: "Met",
  sla_alerts: "SLA alerts", sla_alerts_label: "{n} tickets at risk or breached",
  sla_toast_warning: "SLA at risk: ticket {n}", sla_toast_breached: "SLA breached: ticket {n}",
  p_low: "Low", p_medium: "Medium", p_high: "High", p_urgent: "Urgent",
  s_open: "Open", s_in_progress: "In progress", s_waiting_user: "Waiting on customer", s_resolved: "Resolved", s_closed: "Closed",
  tickets: "Tickets", new_ticket: "New ticket", search: "Search", search_ph: "Number, subject, text…",
  status: "Status", assignee: "Assignee", sla: "SLA", all: "All", me: "Me", unassigned: "Unassigned", unassignedOne: "Unassigned",
  filters: "Filters", apply: "Apply", reset: "Reset", load_more: "Load more",
  number: "Number", subject: "Subject", created: "Created", due: "Due", no_tickets: "No ticket matches the filters.",
  ticket_count: "{n} tickets",
  due_in: "in {t}", overdue: "{t} overdue", none: "—",
  conversation: "Conversation", no_conversation: "No linked conversation.",
  notes: "Internal notes", no_notes: "No notes.", history: "History", properties: "Properties",
  tags: "Tags", tags_hint: "Comma-separated, e.g. refund, vip", save: "Save changes", saved: "Changes saved.",
  reply_customer: "Reply to the customer", reply_sent: "Reply sent.", note_added: "Note added.",
  back_to_list: "Back to tickets", description: "Description", contact: "Contact", first_response: "First response",
  resolution: "Resolution", escalations: "Escalations",
  create_title: "New ticket (phone call or direct contact)", contact_method: "Contact channel",
  m_phone: "Phone", m_email: "Email", m_whatsapp: "WhatsApp", m_sms: "SMS", m_chat: "Chat",
  phone: "Phone", callback_at: "Call back at", view: "View", callbacks_view: "Call-backs (by slot)", customer_ref: "Customer reference",
  create: "Create ticket", created_ok: "Ticket {n} created.",
  admin: "Admin", operators: "Operators", dead_letters: "Undelivered notifications",
  name: "Name", role: "Role", tier_h: "Tier", languages: "Languages", max_chats: "Max chats", active: "Active",
  yes: "Yes", no: "No", deactivate: "Deactivate", deactivate_confirm: "Deactivate {name}? Their sessions end.",
  deactivated: "{name} deactivated.", add_operator: "Add operator", operator_created: "Operator {name} created.",
  r_agent: "Agent", r_supervisor: "Supervisor", r_admin: "Admin",
  retry: "Retry", retried: "Notification {id} queued again.", no_dead: "No undelivered notifications.",
  kind: "Kind", recipient: "Recipient", attempts: "Attempts", last_error: "Last error", updated: "Updated",
  channels: "Channels", configured: "configured", not_configured: "not configured", pending: "pending", dead: "undelivered",
  held: "held", st_dead: "Undelivered", st_held: "Held", send_anyway: "Send anyway", released: "Notification {id} released: it will be sent.",
  held_recipient: "Daily limit for this recipient reached", held_sms: "Daily limit of SMS and WhatsApp messages reached", held_email: "Daily limit of emails reached",
  error_generic: "Something went wrong. Try again.", error_network: "Cannot reach the server.",
  error_conflict: "Not allowed: {msg}",
  a_created: "created", a_status_changed: "status changed", a_assigned: "assigned", a_priority_changed: "priority changed",
  a_tags_changed: "tags changed", a_note_added: "note added", a_replied: "reply sent",
  a_reopened: "reopened", a_unassigned: "unassigned", a_customer_replied: "customer replied",
  a_sla_warning: "SLA warning", a_sla_breached: "SLA breached", a_escalated: "escalated",
  a_contact_consent: "contact consent", a_tier_changed: "tier changed", tier_panel: "Support tier", tier_move: "Move to tier", tier_reason: "Reason (optional)", tier_moved: "Ticket moved to tier {n}.",
  by_system: "system", by_visitor: "customer",
  shortcuts: "Shortcuts: Alt+1…9 opens chat n., Alt+A accepts the first request.",
};

const DICTS = { it, en };
let lang = localStorage.getItem(KEY) === "en" ? "en" : "it";

export function getLang() {
  return lang;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "it";
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
}

export function t(key, params) {
  let text = DICTS[lang][key] ?? DICTS.it[key] ?? key;
  for (const [name, value] of Object.entries(params || {})) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(lang === "it" ? "it-IT" : "en-GB", { dateStyle: "short", timeStyle: "short" });
}

export function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(lang === "it" ? "it-IT" : "en-GB", { hour: "2-digit", minute: "2-digit" });
}

document.documentElement.lang = lang;
