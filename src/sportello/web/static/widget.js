/*! Sportello chat widget: one dependency-free script, isolated in a Shadow DOM. Docs: docs/widget.md */
(function () {
  "use strict";
  if (window.Sportello && window.Sportello.version) return;

  var VERSION = "1";
  var MAX_CHARS = 4000;
  var PING_EVERY = 20000;
  var PONG_WITHIN = 8000;
  var RESUME_PARAMS = ["sportello_resume", "sportello_token"];

  var script = document.currentScript ||
    document.querySelector("script[src*='widget.js'][data-sportello]") ||
    document.querySelector("script[src*='widget.js']");
  var data = (script && script.dataset) || {};
  var server = (data.sportelloServer || (script && script.src ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, "");
  var wsBase = server.replace(/^http/, "ws");

  /* ---- texts ---- */
  var T = {
    it: {
      open: "Apri la chat di assistenza", close: "Chiudi la chat", title: "Assistenza",
      welcome: "Ciao! Come possiamo aiutarti? Scrivi la tua domanda qui sotto.",
      other: "English", otherLabel: "Switch to English",
      input: "Scrivi un messaggio", placeholder: "Scrivi un messaggio…", send: "Invia",
      you: "Tu", assistant: "Assistente", operator: "Operatore", notice: "Avviso",
      pending: "Invio in corso…", sent: "Inviato", failed: "Non inviato", retry: "Riprova",
      connecting: "Connessione in corso…", offline: "Sei offline: i messaggi partiranno appena torna la connessione.",
      bot: "Assistente virtuale", queued: "In attesa di un operatore", assigned: "Un operatore sta arrivando",
      live: "In chat con {name}", liveAnon: "In chat con un operatore", closed: "Conversazione chiusa",
      awaiting_contact: "Lasciaci un recapito", ticketed: "Richiesta registrata",
      queueTitle: "Sei in coda", queuePos: "Posizione {n}", queueNext: "Sei il prossimo!",
      waitAbout: "Attesa stimata: circa {t}", waitShort: "Attesa stimata: meno di un minuto",
      minutes: "{n} min", hours: "{h} h {m} min",
      joined: "{name} ti sta rispondendo", typing: "{name} sta scrivendo…",
      talk: "Parla con un operatore", askPerson: "Vorrei parlare con un operatore",
      nextOpening: "Riapriamo {when}",
      rateTitle: "Com'è andata la conversazione?", star: "{n} su 5",
      comment: "Commento (facoltativo)", rateSend: "Invia valutazione",
      rateThanks: "Grazie per la valutazione!", rateError: "Non siamo riusciti a inviare la valutazione. Riprova più tardi.",
      rateRequired: "Scegli un punteggio da 1 a 5.",
      newChat: "Nuova conversazione", gone: "Questa conversazione non è più disponibile. Puoi iniziarne una nuova.",
      resumeFailed: "Il link per riprendere la conversazione non è valido o è scaduto.",
      tooLong: "Il messaggio è troppo lungo: massimo {n} caratteri.",
      unread: "{n} nuovi messaggi", log: "Messaggi della conversazione",
      cTitle: "Lasciaci un recapito", cHow: "Come preferisci essere ricontattato?",
      email: "Email", whatsapp: "WhatsApp", sms: "SMS", phone: "Telefonata",
      cEmail: "Indirizzo email", cMobile: "Numero di cellulare", cPhone: "Numero di telefono",
      cPhoneHint: "Con il prefisso internazionale se non è italiano, per esempio +44…",
      cSlot: "Quando ti chiamiamo?",
      cConsent: "Acconsento a essere ricontattato per questa richiesta e al trattamento del recapito a questo scopo.",
      cSend: "Invia richiesta", cLater: "Preferisco scrivere in chat", cForm: "Lascia un recapito con il modulo",
      cFailed: "Non siamo riusciti a inviare la richiesta: controlla la connessione e riprova. I dati inseriti sono ancora qui.",
      cCheck: "Controlla i campi evidenziati.",
      tNumber: "Numero della richiesta", tAnswer: "Risposta prevista entro", tCall: "Ti chiameremo",
      tVia: "Ti ricontatteremo", via_email: "via email", via_sms: "via SMS", via_whatsapp: "su WhatsApp",
      tStays: "La conversazione resta qui: se ci scrivi ancora, aggiungiamo il messaggio alla richiesta.",
      tLink: "Ti mandiamo la conferma anche {via}, con un link per riprendere questa conversazione da qualsiasi dispositivo.",
      tOk: "Ho capito",
      wTitle: "Vuoi continuare ad aspettare?",
      wText: "Gli operatori sono ancora tutti occupati. Puoi restare in coda oppure lasciarci un recapito: ti ricontatteremo noi.",
      wKeep: "Continua ad aspettare", wLeave: "Lascia un recapito", wFailed: "Non è stato possibile: riprova."
    },
    en: {
      open: "Open the support chat", close: "Close the chat", title: "Support",
      welcome: "Hi! How can we help? Type your question below.",
      other: "Italiano", otherLabel: "Passa all'italiano",
      input: "Type a message", placeholder: "Type a message…", send: "Send",
      you: "You", assistant: "Assistant", operator: "Agent", notice: "Notice",
      pending: "Sending…", sent: "Sent", failed: "Not sent", retry: "Retry",
      connecting: "Connecting…", offline: "You are offline: your messages will go out when the connection is back.",
      bot: "Virtual assistant", queued: "Waiting for an agent", assigned: "An agent is on the way",
      live: "Chatting with {name}", liveAnon: "Chatting with an agent", closed: "Conversation closed",
      awaiting_contact: "Leave us a contact", ticketed: "Request registered",
      queueTitle: "You are in the queue", queuePos: "Position {n}", queueNext: "You're next!",
      waitAbout: "Estimated wait: about {t}", waitShort: "Estimated wait: under a minute",
      minutes: "{n} min", hours: "{h} h {m} min",
      joined: "{name} is answering you", typing: "{name} is typing…",
      talk: "Talk to a person", askPerson: "I would like to talk to a person",
      nextOpening: "We reopen {when}",
      rateTitle: "How was this conversation?", star: "{n} out of 5",
      comment: "Comment (optional)", rateSend: "Send rating",
      rateThanks: "Thank you for your rating!", rateError: "We could not send your rating. Please try again later.",
      rateRequired: "Choose a score from 1 to 5.",
      newChat: "New conversation", gone: "This conversation is no longer available. You can start a new one.",
      resumeFailed: "The link to resume the conversation is not valid or has expired.",
      tooLong: "The message is too long: at most {n} characters.",
      unread: "{n} new messages", log: "Conversation messages",
      cTitle: "Leave us a contact", cHow: "How would you like us to contact you?",
      email: "Email", whatsapp: "WhatsApp", sms: "SMS", phone: "Phone call",
      cEmail: "Email address", cMobile: "Mobile number", cPhone: "Phone number",
      cPhoneHint: "With the country code if not Italian, for example +44…",
      cSlot: "When should we call you?",
      cConsent: "I agree to be contacted about this request, and to you keeping this contact for that purpose.",
      cSend: "Send request", cLater: "I would rather type in the chat", cForm: "Leave a contact with the form",
      cFailed: "We could not send your request: check your connection and try again. What you typed is still here.",
      cCheck: "Please check the highlighted fields.",
      tNumber: "Request number", tAnswer: "Expected answer by", tCall: "We will call you",
      tVia: "We will contact you", via_email: "by email", via_sms: "by SMS", via_whatsapp: "on WhatsApp",
      tStays: "This conversation stays here: anything else you write is added to your request.",
      tLink: "We are also sending you the confirmation {via}, with a link to pick up this conversation on any device.",
      tOk: "Got it",
      wTitle: "Keep waiting?",
      wText: "Our agents are all still busy. You can stay in the queue, or leave us a contact and we will get back to you.",
      wKeep: "Keep waiting", wLeave: "Leave a contact", wFailed: "That did not work: please try again."
    }
  };
  var HANDOFF_ACTIONS = { handoff: 1, operator: 1, human: 1, talk_to_person: 1, request_operator: 1 };

  function pickLang(value) {
    var l = String(value || "").trim().toLowerCase().slice(0, 2);
    return T[l] ? l : null;
  }

  /* ---- storage (per server origin; the open flag per tab) ---- */
  var KEY = "sportello:v1:" + server;
  function load(store, key) {
    try { return JSON.parse(store.getItem(key) || "null") || {}; } catch (e) { return {}; }
  }
  var saved = load(window.localStorage, KEY);
  var tabState = load(window.sessionStorage, KEY);

  var S = {
    conv: saved.id && saved.token ? { id: saved.id, token: saved.token } : null,
    lastSeq: saved.lastSeq || 0,
    seenSeq: saved.seenSeq || 0,
    rated: saved.rated || null,
    ticketSeen: saved.ticketSeen || null,
    ticket: null,
    waitChoice: false,
    outbox: Array.isArray(saved.outbox) ? saved.outbox : [],
    chosenLang: pickLang(saved.lang),
    open: !!tabState.open,
    renderedSeq: 0,
    status: null,
    operator: null,
    unread: 0
  };
  var lang = S.chosenLang || pickLang(data.sportelloLanguage) || pickLang(document.documentElement.lang) ||
    pickLang(navigator.language) || "it";

  function save() {
    try {
      window.localStorage.setItem(KEY, JSON.stringify({
        id: S.conv && S.conv.id, token: S.conv && S.conv.token, lastSeq: S.lastSeq, seenSeq: S.seenSeq,
        rated: S.rated, ticketSeen: S.ticketSeen, outbox: S.outbox, lang: S.chosenLang
      }));
      window.sessionStorage.setItem(KEY, JSON.stringify({ open: S.open }));
    } catch (e) { /* storage blocked: the conversation lasts as long as the page */ }
  }

  function t(key, vars) {
    var s = (T[lang] && T[lang][key]) || T.it[key] || key;
    return s.replace(/\{(\w+)\}/g, function (_, k) { return vars && vars[k] != null ? vars[k] : ""; });
  }

  /* ---- colours: the accent comes from data-sportello-color; text on it keeps WCAG AA ---- */
  function rgb(hex) {
    var m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(hex || "").trim());
    if (!m) return null;
    var h = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    return [0, 2, 4].map(function (i) { return parseInt(h.substr(i, 2), 16); });
  }
  function lum(c) {
    var v = c.map(function (x) { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  function contrast(a, b) {
    var x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }
  function css(c) { return "rgb(" + c.map(Math.round).join(",") + ")"; }
  var accent = rgb(data.sportelloColor) || [11, 110, 79];
  var WHITE = [255, 255, 255], INK = [17, 20, 24];
  var onAccent = contrast(accent, WHITE) >= contrast(accent, INK) ? WHITE : INK;
  var accentText = accent.slice();
  while (contrast(accentText, WHITE) < 4.6) accentText = accentText.map(function (x) { return x * 0.9; });

  /* ---- DOM helpers: customer text only ever goes in as text ---- */
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v == null || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    (children || []).forEach(function (c) { if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return el;
  }
  function svg(path, size) {
    var s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("width", size || 24);
    s.setAttribute("height", size || 24);
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    var p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    p.setAttribute("fill", "currentColor");
    s.appendChild(p);
    return s;
  }
  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-4.5 3.6A.6.6 0 0 1 3.5 21V18H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.2a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6z";
  var ICON_CLOSE = "M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 0 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z";
  var ICON_SEND = "M3.4 20.4 21.3 12.8a.9.9 0 0 0 0-1.6L3.4 3.6a.9.9 0 0 0-1.2 1.1L4.6 11 13 12l-8.4 1-2.4 6.3a.9.9 0 0 0 1.2 1.1z";
  var ICON_CHECK = "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-1.2 14.2-4-4 1.4-1.4 2.6 2.6 5.6-5.6 1.4 1.4z";
  var ICON_CLOCK = "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 10.4 3.2 1.9a1 1 0 1 1-1 1.7l-3.7-2.2A1 1 0 0 1 11 13V7a1 1 0 1 1 2 0z";

  function linkify(text) {
    var frag = document.createDocumentFragment();
    var re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g, last = 0, m;
    while ((m = re.exec(text))) {
      frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      frag.appendChild(h("a", { href: m[0], target: "_blank", rel: "noopener noreferrer", text: m[0] }));
      last = m.index + m[0].length;
    }
    frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }
  function fmtTime(iso) {
    var d = iso ? new Date(iso) : new Date();
    return isNaN(d) ? "" : new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" }).format(d);
  }
  /** A date and time for the visitor; in `zone` (the business's) when given, as the server words it. */
  function fmtWhen(iso, zone) {
    var d = new Date(iso), o = { weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" };
    if (isNaN(d)) return String(iso);
    try { if (zone) o.timeZone = zone; return new Intl.DateTimeFormat(lang, o).format(d); } catch (e) { delete o.timeZone; }
    return new Intl.DateTimeFormat(lang, o).format(d);
  }
  function fmtWait(seconds) {
    if (seconds == null || isNaN(seconds)) return "";
    if (seconds < 60) return t("waitShort");
    var min = Math.round(seconds / 60);
    var span = min < 60 ? t("minutes", { n: min }) : t("hours", { h: Math.floor(min / 60), m: min % 60 });
    return t("waitAbout", { t: span });
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) return "w-" + crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return "w-" + Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  /* ---- the widget's DOM ---- */
  var host = document.createElement("sportello-widget");
  host.setAttribute("data-position", data.sportelloPosition === "left" ? "left" : "right");
  var shadow = host.attachShadow({ mode: "open" });
  var STYLE = `
:host{all:initial!important;display:block!important;position:fixed!important;top:0!important;left:0!important;width:0!important;height:0!important;overflow:visible!important;visibility:visible!important;opacity:1!important;z-index:2147483000!important;pointer-events:auto!important}
.root{--ink:#1b1f24;--muted:#56606b;--line:#dfe2e6;--bg:#f6f7f9;--focus:var(--accent-text);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);text-align:left;direction:ltr;-webkit-font-smoothing:antialiased}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{background:none;border:0;padding:0;cursor:pointer}
p,h2,fieldset,legend{margin:0;padding:0;border:0}
.sr-only{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
:focus{outline:none}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.launcher{position:fixed;bottom:20px;right:20px;width:60px;height:60px;border-radius:50%;background:var(--accent);color:var(--on-accent);display:flex;align-items:center;justify-content:center;box-shadow:0 6px 20px rgba(16,24,40,.28),0 1px 3px rgba(16,24,40,.2);transition:transform .15s ease}
.left .launcher{right:auto;left:20px}
.launcher:hover{transform:scale(1.05)}
.launcher:focus-visible{outline-color:#fff;box-shadow:0 0 0 6px var(--accent-text),0 6px 20px rgba(16,24,40,.28)}
.launcher svg+svg,.open .launcher svg:first-child{display:none}
.open .launcher svg+svg{display:block}
.badge{position:absolute;top:-2px;right:-2px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#c4122f;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;border:2px solid #fff}
.panel{position:fixed;bottom:92px;right:20px;width:380px;height:620px;max-height:calc(100vh - 112px);background:#fff;border-radius:16px;box-shadow:0 16px 48px rgba(16,24,40,.3),0 2px 8px rgba(16,24,40,.14);display:flex;flex-direction:column;overflow:hidden;animation:sp-in .18s ease-out}
.left .panel{right:auto;left:20px}
@keyframes sp-in{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}
@media (max-width:480px){.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0}.open .launcher{display:none}.form-open .composer{display:none}.form-open .cards{max-height:74%}}
@media (prefers-reduced-motion:reduce){.panel,.launcher,.dots i{animation:none!important;transition:none!important}}
.head{display:flex;align-items:center;gap:10px;padding:14px 12px 14px 16px;background:var(--accent);color:var(--on-accent)}
.avatar{flex:none;width:38px;height:38px;border-radius:50%;display:flex;align-items:center;justify-content:center;background:rgba(255,255,255,.18);box-shadow:inset 0 0 0 1px rgba(255,255,255,.35)}
.heading{flex:1;min-width:0}
.title{font-size:16px;font-weight:700;line-height:1.25}
.subtitle{font-size:13px;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.hbtn{flex:none;min-width:40px;height:40px;border-radius:20px;display:flex;align-items:center;justify-content:center;color:inherit}
.hbtn:hover{background:rgba(255,255,255,.16)}
.hbtn:focus-visible{outline-color:currentColor;outline-offset:-3px}
.lang{padding:0 10px;font-size:13px;font-weight:600;box-shadow:inset 0 0 0 1.5px currentColor;height:32px;min-width:0}
.conn{padding:8px 16px;font-size:13px;background:#fff4d6;color:#5c4200;border-bottom:1px solid #f0dca0}
.queue{display:flex;align-items:center;gap:12px;padding:10px 16px;background:#eef6f2;border-bottom:1px solid #d3e6dc;color:#17402e}
.q-pos{flex:none;width:40px;height:40px;border-radius:50%;background:#fff;border:2px solid var(--accent-text);color:var(--accent-text);font-size:18px;font-weight:800;display:flex;align-items:center;justify-content:center}
.q-title{font-weight:700;font-size:14px}
.q-wait,.q-line{font-size:13px}
.log{flex:1;overflow-y:auto;padding:16px 14px 8px;background:var(--bg);display:flex;flex-direction:column;gap:4px;overscroll-behavior:contain}
.log:focus-visible{outline-offset:-3px}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:86%;margin-top:6px}
.msg.visitor{align-self:flex-end;align-items:flex-end}
.who{font-size:12px;font-weight:600;color:var(--muted);margin:0 0 3px 4px}
.msg.assistant+.msg.assistant>.who,.msg.operator+.msg.operator>.who{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.bubble{padding:9px 13px;border-radius:18px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}
.bubble a{color:inherit;text-decoration:underline}
.assistant .bubble{background:#fff;border:1px solid var(--line);border-bottom-left-radius:6px}
.operator .bubble{background:#e8effa;border:1px solid #cfdcf1;border-bottom-left-radius:6px}
.visitor .bubble{background:var(--accent);color:var(--on-accent);border-bottom-right-radius:6px}
.visitor[data-state=failed] .bubble{background:#fff;color:#9b1c1c;border:1px dashed #c4122f}
.msg.system{align-self:center;align-items:center;max-width:92%;text-align:center;margin:8px 0}
.system .bubble{background:#eceef1;color:#3d4550;font-size:13px;border-radius:12px;padding:7px 12px}
.system .bubble svg{vertical-align:-3px;margin-right:6px}
.next-opening{display:block;margin-top:3px;color:var(--ink)}
.meta{font-size:11.5px;color:var(--muted);margin:3px 6px 0}
.retry{font-size:12.5px;font-weight:600;color:#9b1c1c;text-decoration:underline;margin:2px 6px}
.quick{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.chip{padding:7px 13px;border-radius:999px;border:1.5px solid var(--accent-text);color:var(--accent-text);background:#fff;font-size:14px;font-weight:600;line-height:1.2;text-align:left}
.chip:hover{background:var(--accent);color:var(--on-accent);border-color:var(--accent)}
.typing{display:flex;align-items:center;gap:8px;padding:4px 18px 8px;background:var(--bg);font-size:13px;color:var(--muted)}
.dots{display:inline-flex;gap:3px}
.dots i{width:6px;height:6px;border-radius:50%;background:#7a838e;animation:sp-b 1.2s infinite ease-in-out}
.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}
@keyframes sp-b{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-3px);opacity:1}}
.cards:empty{display:none}
.cards{flex:none;max-height:64%;overflow-y:auto;overscroll-behavior:contain;padding:10px 12px;background:var(--bg);border-top:1px solid var(--line)}
.card{background:#fff;border:1px solid var(--line);border-radius:12px;padding:14px;display:flex;flex-direction:column;gap:10px}
legend{font-weight:700;font-size:15px;margin-bottom:6px}
.stars{display:flex;gap:2px}
.stars label{font-size:30px;line-height:1;color:#8d96a0;cursor:pointer;padding:2px 3px;border-radius:6px}
.stars label.on{color:#b36b00}
.stars input:focus-visible+label{outline:3px solid var(--focus);outline-offset:1px}
.field{display:flex;flex-direction:column;gap:4px;font-size:13px;font-weight:600}
.field textarea{font-weight:400;font-size:14px;border:1px solid #8a939d;border-radius:8px;padding:8px 10px;resize:vertical;background:#fff}
.field-error{color:#b3141c;font-size:13px;font-weight:600}
.actions{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.primary{background:var(--accent);color:var(--on-accent);padding:9px 16px;border-radius:8px;font-weight:700}
.primary[disabled]{opacity:.6;cursor:progress}
.secondary{padding:9px 12px;border-radius:8px;font-weight:600;color:var(--accent-text);box-shadow:inset 0 0 0 1.5px var(--accent-text)}
.thanks{font-weight:700;color:#17402e}
.composer{display:flex;flex-wrap:wrap;align-items:flex-end;gap:8px;padding:10px 12px 12px;border-top:1px solid var(--line);background:#fff}
.composer textarea{flex:1;min-width:0;min-height:42px;max-height:120px;resize:none;border:1px solid #8a939d;border-radius:21px;padding:10px 16px;font-size:15px;line-height:1.35;background:#fff;color:var(--ink)}
.composer textarea::placeholder{color:#66707b;opacity:1}
.composer textarea:focus-visible,.field textarea:focus-visible{outline-width:2px;outline-offset:0;border-color:var(--accent-text)}
.composer .field-error{flex-basis:100%;padding:0 8px}
.send{flex:none;width:42px;height:42px;border-radius:50%;background:var(--accent);color:var(--on-accent);display:flex;align-items:center;justify-content:center}
.send:hover{filter:brightness(1.08)}
.card h3:focus{outline:none}
.card h3{margin:0;font-size:16px;font-weight:700;line-height:1.3;display:flex;align-items:center;gap:8px}
.card h3 svg{color:#17663f;flex:none}
.field input,.field select{font-weight:400;font-size:15px;min-height:42px;border:1px solid #8a939d;border-radius:8px;padding:8px 10px;background:#fff;color:var(--ink);width:100%}
.field input:focus-visible,.field select:focus-visible{outline-width:2px;outline-offset:0;border-color:var(--accent-text)}
.hint,.note{font-weight:400;font-size:13px;color:var(--muted)}
[aria-invalid=true]{border-color:#b3141c!important;box-shadow:0 0 0 1px #b3141c}
.opts{display:grid;grid-template-columns:1fr 1fr;gap:6px}
.opt{display:flex;align-items:center;gap:8px;min-height:40px;padding:4px 10px;border:1.5px solid #c4cad1;border-radius:10px;font-weight:600;font-size:14px;cursor:pointer;background:#fff}
.opt:has(:checked){border-color:var(--accent-text);box-shadow:inset 0 0 0 1px var(--accent-text)}
.opt input,.check input{flex:none;width:18px;height:18px;margin:0;accent-color:var(--accent-text)}
.check{flex-direction:row;flex-wrap:wrap;align-items:flex-start;gap:8px;font-weight:400;font-size:13.5px}
.check input{margin-top:2px}
.check label{flex:1 1 200px}
.check .field-error{flex-basis:100%}
.facts{margin:0}
.facts dt{font-size:12.5px;color:var(--muted);font-weight:600}
.facts dd{margin:0 0 6px;overflow-wrap:anywhere}
.ticket-no{font-size:20px;font-weight:800;letter-spacing:.5px;white-space:nowrap}
`;
  if (shadow.adoptedStyleSheets && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.appendChild(h("style", { text: STYLE }));
  }

  var ui = {};
  var root = h("div", { class: "root" + (host.getAttribute("data-position") === "left" ? " left" : "") });
  root.style.setProperty("--accent", css(accent));
  root.style.setProperty("--on-accent", css(onAccent));
  root.style.setProperty("--accent-text", css(accentText));
  shadow.appendChild(root);

  ui.badge = h("span", { class: "badge", hidden: true });
  ui.launcher = h("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "sp-panel", onclick: function () { setOpen(!S.open, true); } },
    [svg(ICON_CHAT, 28), svg(ICON_CLOSE, 26), ui.badge]);
  ui.title = h("h2", { id: "sp-title", class: "title" });
  ui.subtitle = h("p", { class: "subtitle" });
  ui.lang = h("button", { type: "button", class: "hbtn lang", lang: lang === "it" ? "en" : "it", onclick: function () { setLanguage(lang === "it" ? "en" : "it", true); } });
  ui.close = h("button", { type: "button", class: "hbtn", onclick: function () { setOpen(false, true); } }, [svg(ICON_CLOSE, 20)]);
  ui.conn = h("div", { class: "conn", role: "status", hidden: true });
  ui.queue = h("div", { class: "queue", role: "status", hidden: true });
  ui.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0" });
  ui.typing = h("div", { class: "typing", hidden: true }, [h("span", { class: "dots", "aria-hidden": "true" }, [h("i"), h("i"), h("i")]), h("span", { class: "typing-text" })]);
  ui.cards = h("div", { class: "cards" });
  ui.input = h("textarea", { id: "sp-input", rows: "1", maxlength: String(MAX_CHARS), autocomplete: "off" });
  ui.inputLabel = h("label", { for: "sp-input", class: "sr-only" });
  ui.inputError = h("p", { id: "sp-input-error", class: "field-error", hidden: true });
  ui.send = h("button", { type: "submit", class: "send" }, [svg(ICON_SEND, 20)]);
  ui.composer = h("form", { class: "composer", novalidate: true, onsubmit: function (e) { e.preventDefault(); submitComposer(); } },
    [ui.inputLabel, ui.input, ui.send, ui.inputError]);
  ui.panel = h("section", { id: "sp-panel", class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "sp-title", hidden: true }, [
    h("header", { class: "head" }, [
      h("span", { class: "avatar", "aria-hidden": "true" }, [svg(ICON_CHAT, 22)]),
      h("div", { class: "heading" }, [ui.title, ui.subtitle]),
      ui.lang, ui.close
    ]),
    ui.conn, ui.queue, ui.log, ui.typing, ui.cards, ui.composer
  ]);
  root.appendChild(ui.panel);
  root.appendChild(ui.launcher);

  var welcome = h("div", { class: "msg assistant welcome" }, [h("div", { class: "bubble" })]);
  ui.log.appendChild(welcome);

  function applyTexts() {
    ui.launcher.setAttribute("aria-label", S.open ? t("close") : t("open"));
    ui.title.textContent = data.sportelloTitle || t("title");
    ui.lang.textContent = t("other");
    ui.lang.setAttribute("lang", lang === "it" ? "en" : "it");
    ui.lang.setAttribute("aria-label", t("otherLabel"));
    ui.close.setAttribute("aria-label", t("close"));
    ui.log.setAttribute("aria-label", t("log"));
    ui.inputLabel.textContent = t("input");
    ui.input.setAttribute("placeholder", t("placeholder"));
    ui.send.setAttribute("aria-label", t("send"));
    ui.panel.setAttribute("lang", lang);
    welcome.firstChild.textContent = data["sportelloWelcome" + (lang === "it" ? "It" : "En")] || data.sportelloWelcome || t("welcome");
    renderStatus();
    renderConn();
    renderQueue();
    renderBadge();
    Array.prototype.forEach.call(ui.log.querySelectorAll(".msg[data-seq], .msg[data-cmid]"), relabel);
    rerenderCards();
  }

  function setLanguage(next, chosen) {
    if (!T[next]) return;
    lang = next;
    if (chosen) { S.chosenLang = next; save(); }
    applyTexts();
  }

  /* ---- messages ---- */
  var SENDER_CLASS = { visitor: "visitor", assistant: "assistant", operator: "operator", system: "system" };

  function senderName(m) {
    var meta = m.metadata || {};
    if (m.sender === "operator") return operatorName(meta) || S.operator || t("operator");
    return t(m.sender === "visitor" ? "you" : m.sender === "system" ? "notice" : "assistant");
  }

  function operatorName(meta) { return meta.operator_name || (meta.operator && meta.operator.name) || null; }

  function relabel(el) {
    var m = el._msg;
    if (!m) return;
    el.querySelector(".who").textContent = senderName(m);
    var when = el.querySelector(".meta");
    if (when) {
      var state = el.getAttribute("data-state");
      when.textContent = fmtTime(m.created_at) + (state ? " · " + t(state) : "");
    }
    var retry = el.querySelector(".retry");
    if (retry) retry.textContent = t("retry");
    var next = el.querySelector(".next-opening");
    if (next) next.textContent = t("nextOpening", { when: fmtWhen(m.metadata.next_opening) });
    var qr = el.querySelector(".quick");
    if (qr) qr.replaceWith(quickReplies(m));
  }

  function messageEl(m) {
    var cls = SENDER_CLASS[m.sender] || "system";
    var meta = m.metadata || {};
    var el = h("div", { class: "msg " + cls }, [
      h("span", { class: cls === "visitor" ? "who sr-only" : cls === "system" ? "who sr-only" : "who" }),
      h("div", { class: "bubble" }, [linkify(String(m.body || ""))])
    ]);
    if (meta.next_opening) {
      el.querySelector(".bubble").prepend(svg(ICON_CLOCK, 16));
      el.querySelector(".bubble").appendChild(h("strong", { class: "next-opening" }));
    }
    if (cls !== "system") el.appendChild(h("span", { class: "meta" }));
    if (cls === "assistant" || (meta.quick_replies || []).length) el.appendChild(h("div", { class: "quick" }));
    el._msg = m;
    return el;
  }

  function quickReplies(m) {
    var box = h("div", { class: "quick" });
    var items = ((m.metadata || {}).quick_replies || []).filter(function (q) { return q && q.label; });
    var asksPerson = function (q) { return HANDOFF_ACTIONS[q.action] || q.text === T.it.askPerson || q.text === T.en.askPerson; };
    // A way to a person is always on offer while the assistant answers.
    if (m.sender === "assistant" && !items.some(asksPerson)) items = items.concat([{ label: t("talk"), action: "handoff", fallback: true }]);
    items.forEach(function (q) {
      box.appendChild(h("button", { type: "button", class: "chip" + (q.fallback ? " fallback" : ""), text: q.label, onclick: function () { quickReply(q); } }));
    });
    return box;
  }

  function quickReply(q) {
    var action = String(q.action || "");
    if (q.text) return send(q.text);
    if (HANDOFF_ACTIONS[action]) return send(t("askPerson"));
    if (/^url:https?:\/\//.test(action)) return window.open(action.slice(4), "_blank", "noopener");
    if (action.indexOf("message:") === 0) return send(action.slice(8));
    send(q.label);
  }

  /** Only the newest message offers its quick replies; the way to a person only while the bot talks. */
  function refreshQuickReplies() {
    var newest = lastServerMessage();
    var bot = S.status === "bot" || S.status === null;
    Array.prototype.forEach.call(ui.log.querySelectorAll(".msg[data-seq] .quick"), function (box) {
      box.hidden = box.parentNode !== newest;
      Array.prototype.forEach.call(box.querySelectorAll(".fallback"), function (c) { c.hidden = !bot; });
      if (!box.querySelector(".chip:not([hidden])")) box.hidden = true;
    });
  }
  function lastServerMessage() {
    var list = ui.log.querySelectorAll(".msg[data-seq]");
    return list[list.length - 1] || null;
  }

  function firstPending() { return ui.log.querySelector(".msg[data-state='pending'], .msg[data-state='failed']"); }

  function nearBottom() { return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80; }
  function bottom() { ui.log.scrollTop = ui.log.scrollHeight; }
  /** Insert a message (before those still waiting, for server ones); true if the log should follow. */
  function insert(el, beforePending) {
    var stick = nearBottom() || !beforePending;
    ui.log.insertBefore(el, beforePending ? firstPending() : null);
    return stick;
  }

  function setState(el, state) {
    el.setAttribute("data-state", state);
    var old = el.querySelector(".retry");
    if (old) old.remove();
    if (state === "failed") {
      el.appendChild(h("button", { type: "button", class: "retry", onclick: function () { retry(el); } }));
    }
    relabel(el);
  }

  function renderPending(item) {
    var el = messageEl({ sender: "visitor", body: item.body, created_at: new Date(item.at).toISOString(), metadata: {} });
    el.setAttribute("data-cmid", item.cmid);
    insert(el, false);
    setState(el, item.failed ? "failed" : "pending");
    bottom();
  }

  function renderServerMessage(m) {
    var el = m.client_message_id && ui.log.querySelector(".msg[data-cmid='" + m.client_message_id.replace(/'/g, "") + "']");
    var stick = nearBottom();
    if (el && !el.hasAttribute("data-seq")) {
      el._msg = m;
      el.setAttribute("data-seq", m.seq);
      // An acknowledged message moves above messages still waiting, keeping server order.
      if (firstPending() !== el) ui.log.insertBefore(el, firstPending());
      setState(el, "sent");
    } else {
      el = messageEl(m);
      el.setAttribute("data-seq", m.seq);
      if (m.client_message_id) el.setAttribute("data-cmid", m.client_message_id);
      if (m.sender === "visitor") el.setAttribute("data-state", "sent");
      insert(el, true);
      relabel(el);
    }
    refreshQuickReplies();
    if (stick) bottom();
  }

  /* ---- the outbox: every visitor message stays here until the server echoes it ---- */
  function send(text) {
    text = String(text || "");
    if (!text.trim()) return false;
    if (text.length > MAX_CHARS) return false;
    if (S.status === "closed") startOver();
    var item = { cmid: newId(), body: text, at: Date.now() };
    S.outbox.push(item);
    save();
    renderPending(item);
    if (!S.conv) ensureConversation();
    else if (ready) transmit(item);
    else connect();
    return true;
  }

  function transmit(item) {
    if (!ready || !ws) return;
    ws.send(JSON.stringify({ type: "message", body: item.body, client_message_id: item.cmid }));
  }

  function retry(el) {
    var cmid = el.getAttribute("data-cmid");
    var item = S.outbox.filter(function (i) { return i.cmid === cmid; })[0];
    if (!item) return;
    item.failed = false;
    save();
    setState(el, "pending");
    if (!S.conv) ensureConversation(); else if (ready) transmit(item); else connect();
  }

  function submitComposer() {
    var text = ui.input.value;
    if (text.length > MAX_CHARS) return showInputError(t("tooLong", { n: MAX_CHARS }));
    if (send(text)) {
      ui.input.value = "";
      autosize();
      showInputError("");
    }
    ui.input.focus();
  }
  function showInputError(msg) {
    ui.inputError.textContent = msg;
    ui.inputError.hidden = !msg;
    if (msg) { ui.input.setAttribute("aria-invalid", "true"); ui.input.setAttribute("aria-describedby", "sp-input-error"); } else { ui.input.removeAttribute("aria-invalid"); ui.input.removeAttribute("aria-describedby"); }
  }
  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
  }
  var lastTypingSent = 0;
  ui.input.addEventListener("input", function () {
    autosize();
    if (ready && Date.now() - lastTypingSent > 3000 && ui.input.value.trim()) {
      lastTypingSent = Date.now();
      ws.send('{"type":"typing"}');
    }
  });
  ui.input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitComposer(); }
  });

  /* ---- the connection: REST to create/verify, one WebSocket with replay and backoff ---- */
  var ws = null, ready = false, attempts = 0, retryTimer = null, pingTimer = null, pongTimer = null, creating = false;
  var conn = "idle", statusGen = 0;

  function api(method, path, body, token) {
    var headers = { "Content-Type": "application/json" };
    token = token || (S.conv && S.conv.token);
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(server + "/api/v1/conversations" + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit", mode: "cors"
    });
  }

  function pageUrl() {
    var u = new URL(location.href);
    RESUME_PARAMS.forEach(function (p) { u.searchParams.delete(p); });
    return u.href.slice(0, 2048);
  }

  function ensureConversation() {
    if (S.conv || creating) return;
    creating = true;
    setConn("connecting");
    var body = { language: lang, page_url: pageUrl() };
    if (data.sportelloCustomerRef) body.customer_ref = data.sportelloCustomerRef;
    if (data.sportelloCustomerHmac) body.customer_hmac = data.sportelloCustomerHmac;
    api("POST", "", body).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (c) {
      creating = false;
      adopt({ id: c.id, token: c.token }, c.status);
      connect();
    }).catch(function () {
      creating = false;
      scheduleReconnect();
    });
  }

  function adopt(conv, status) {
    S.conv = conv;
    S.status = status || null;
    S.rated = null;
    save();
    renderStatus();
  }

  function refreshStatus() {
    if (!S.conv) return;
    var id = S.conv.id, gen = statusGen;
    api("GET", "/" + encodeURIComponent(id)).then(function (r) {
      if (r.status === 404) return conversationGone();
      return r.ok && r.json().then(function (c) {
        // A status frame that arrived meanwhile is newer than this answer.
        if (!S.conv || S.conv.id !== id || gen !== statusGen) return;
        setStatus(c.status);
        if (c.status !== "queued" || !c.queue) return;
        S.queue = { position: c.queue.position, wait: c.queue.estimated_wait_seconds };
        S.waitChoice = !!c.queue.wait_timed_out;
        renderQueue();
        syncCards(focusInWidget());
      });
    }).catch(function () { /* the socket's retry loop covers a network failure */ });
  }

  function connect() {
    if (ws || !S.conv) return;
    clearTimeout(retryTimer);
    setConn("connecting");
    var url = wsBase + "/ws/conversations/" + encodeURIComponent(S.conv.id) +
      "?token=" + encodeURIComponent(S.conv.token) + "&after=" + S.renderedSeq;
    var sock;
    try { sock = new WebSocket(url); } catch (e) { return scheduleReconnect(); }
    ws = sock;
    ui.log.setAttribute("aria-busy", "true");
    sock.onmessage = function (e) {
      if (ws !== sock) return;
      clearTimeout(pongTimer);
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      var handler = FRAMES[f && f.type];
      if (handler) handler(f);
    };
    sock.onclose = function (e) {
      if (ws !== sock) return;
      teardown();
      if (e.code === 4404) return conversationGone();
      scheduleReconnect();
    };
  }

  function teardown() {
    if (ws) { ws.onmessage = ws.onclose = null; try { ws.close(); } catch (e) { /* already closed */ } }
    ws = null;
    ready = false;
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    ui.log.removeAttribute("aria-busy");
  }

  /** Drop the socket now (network gone, heartbeat missed) and retry on the usual schedule. */
  function drop() {
    if (!ws) return;
    teardown();
    scheduleReconnect();
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    if (navigator.onLine === false) setConn("offline"); else setConn("connecting");
    var delay = Math.min(30000, 500 * Math.pow(2, attempts)) * (0.75 + Math.random() / 2);
    attempts++;
    retryTimer = setTimeout(function () {
      if (!S.conv) ensureConversation(); else connect();
    }, delay);
  }

  function reconnectNow() {
    attempts = 0;
    if (ws) return;
    clearTimeout(retryTimer);
    if (!S.conv) { if (S.outbox.length) ensureConversation(); } else connect();
  }

  function conversationGone() {
    teardown();
    clearTimeout(retryTimer);
    resetConversation();
    notice(t("gone"));
  }

  function resetConversation() {
    S.conv = null; S.status = null; S.operator = null; S.queue = null; S.hadOperator = false;
    S.lastSeq = S.seenSeq = S.renderedSeq = 0; S.rated = null;
    S.outbox = []; S.ticket = null; S.waitChoice = false; C = newContact();
    Array.prototype.forEach.call(ui.log.querySelectorAll(".msg:not(.welcome)"), function (el) { el.remove(); });
    save();
    closeCards();
    renderStatus(); renderQueue(); setConn("idle");
  }

  function startOver() {
    teardown();
    resetConversation();
  }

  function notice(text) {
    var el = h("div", { class: "msg system local-notice" }, [h("div", { class: "bubble", text: text })]);
    if (insert(el, true)) bottom();
  }

  /* Frame handlers by type; a new server frame (a contact form, a ticket) adds one entry. */
  var FRAMES = {
    message: function (f) {
      var m = f.message;
      if (!m || m.seq <= S.renderedSeq) return;
      S.renderedSeq = m.seq;
      S.lastSeq = Math.max(S.lastSeq, m.seq);
      if (m.sender === "visitor" && m.client_message_id) {
        S.outbox = S.outbox.filter(function (i) { return i.cmid !== m.client_message_id; });
      }
      var meta = m.metadata || {};
      if ((m.sender === "operator" || m.sender === "system") && operatorName(meta)) S.operator = operatorName(meta);
      if (m.sender === "operator") S.hadOperator = true;
      if (meta.kind === "contact.done" && meta.ticket_number) S.ticket = meta;
      if (S.operator) renderStatus();
      if (m.sender !== "visitor") hideTyping(m.sender);
      renderServerMessage(m);
      if (S.open && document.visibilityState !== "hidden") S.seenSeq = S.lastSeq;
      else if (m.sender !== "visitor" && m.seq > S.seenSeq) S.unread++;
      renderBadge();
      save();
      if (S.ticket === meta) syncCards(focusInWidget());
      if (m.sender === "operator" && S.ticket && meta.ticket === S.ticket.ticket_number && S.ticketSeen !== meta.ticket) {
        // The team's answer keeps the confirmation's promise: the card makes room for the answer.
        var inCard = ui.cards.contains(shadow.activeElement);
        S.ticketSeen = meta.ticket;
        save();
        syncCards();
        if (inCard) ui.input.focus();
      }
    },
    ready: function () {
      ready = true;
      attempts = 0;
      ui.log.removeAttribute("aria-busy");
      setConn("online");
      S.outbox.forEach(function (i) { if (!i.failed) transmit(i); });
      refreshStatus();
      clearInterval(pingTimer);
      pingTimer = setInterval(heartbeat, PING_EVERY);
    },
    pong: function () { /* any frame proves the socket alive */ },
    typing: function (f) { if (f.operator_name) S.operator = f.operator_name; showTyping(f.sender); },
    "rating.requested": function () { S.hadOperator = true; if (!card) openRating(); },
    "conversation.status_changed": function (f) { statusGen++; setStatus(f.status); },
    "queue.wait_timeout": function () { S.waitChoice = true; syncCards(focusInWidget()); },
    "queue.position_changed": function (f) {
      S.queue = { position: f.position, wait: f.estimated_wait_seconds };
      renderQueue();
    },
    "operator.joined": function (f) {
      S.operator = (f.operator && f.operator.name) || S.operator;
      S.hadOperator = true;
      S.queue = null;
      S.joined = true;
      renderQueue();
      renderStatus();
    },
    error: function (f) {
      if (!f.client_message_id) return;
      var item = S.outbox.filter(function (i) { return i.cmid === f.client_message_id; })[0];
      if (item) { item.failed = true; save(); }
      var el = ui.log.querySelector(".msg[data-cmid='" + String(f.client_message_id).replace(/'/g, "") + "']");
      if (el && !el.hasAttribute("data-seq")) setState(el, "failed");
    }
  };

  function heartbeat() {
    if (!ready || !ws) return;
    ws.send('{"type":"ping"}');
    clearTimeout(pongTimer);
    pongTimer = setTimeout(drop, PONG_WITHIN);
  }

  window.addEventListener("offline", function () { drop(); setConn("offline"); });
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && S.conv && !ws) reconnectNow();
  });

  /* ---- status, queue, typing, connection ---- */
  function setStatus(status) {
    if (!status) return;
    var was = S.status, focus = focusInWidget();
    S.status = status;
    if (status !== "queued") { S.queue = null; S.waitChoice = false; }
    if (status !== "live" && status !== "assigned") S.joined = false;
    renderStatus();
    renderQueue();
    refreshQuickReplies();
    if (status === "live" || status === "assigned") S.hadOperator = true;
    // Only a chat with a person is rated; the server asks with rating.requested too.
    if (status === "closed" && was !== "closed") { hideTyping(); if (S.hadOperator) openRating(); }
    if (status !== "closed" && was === "closed") closeCards();
    if (status === "awaiting_contact" && was !== status) C.later = false;
    syncCards(focus && was !== status);
  }

  function renderStatus() {
    var s = S.status || "bot";
    var text = s === "live" || (s === "assigned" && S.operator)
      ? (S.operator ? t("live", { name: S.operator }) : t("liveAnon"))
      : t(s in T.it ? s : "bot");
    ui.subtitle.textContent = text;
    var closed = s === "closed";
    ui.composer.hidden = closed;
    root.classList.toggle("closed", closed);
  }

  function renderQueue() {
    var q = S.queue;
    ui.queue.textContent = "";
    if (!q && !(S.joined && S.operator)) { ui.queue.hidden = true; return; }
    ui.queue.hidden = false;
    if (!q) {
      ui.queue.appendChild(h("p", { class: "q-line", text: t("joined", { name: S.operator }) }));
      return;
    }
    var pos = Number(q.position);
    ui.queue.appendChild(h("span", { class: "q-pos", "aria-hidden": "true", text: String(pos) }));
    ui.queue.appendChild(h("div", { class: "q-text" }, [
      h("p", { class: "q-title", text: pos <= 1 ? t("queueNext") : t("queueTitle") + " · " + t("queuePos", { n: pos }) }),
      q.wait != null ? h("p", { class: "q-wait", text: fmtWait(q.wait) }) : null
    ]));
  }

  var typingTimer = null, typingSender = null;
  function showTyping(sender) {
    if (sender === "visitor") return;
    typingSender = sender;
    var name = sender === "operator" ? (S.operator || t("operator")) : t("assistant");
    ui.typing.querySelector(".typing-text").textContent = t("typing", { name: name });
    ui.typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 6000);
  }
  function hideTyping(sender) {
    if (sender && typingSender && sender !== typingSender) return;
    ui.typing.hidden = true;
    clearTimeout(typingTimer);
  }

  function setConn(state) {
    conn = state;
    root.setAttribute("data-conn", state);
    renderConn();
  }
  function renderConn() {
    var show = (conn === "offline" || (conn === "connecting" && attempts > 1));
    ui.conn.hidden = !show;
    ui.conn.textContent = show ? (conn === "offline" ? t("offline") : t("connecting")) : "";
  }

  function renderBadge() {
    var n = S.open ? 0 : S.unread;
    ui.badge.hidden = !n;
    ui.badge.textContent = n > 9 ? "9+" : String(n);
    ui.launcher.setAttribute("aria-label", (S.open ? t("close") : t("open")) + (n ? " (" + t("unread", { n: n }) + ")" : ""));
  }

  /* ---- cards above the composer: queue choice, contact form, ticket confirmation, rating ---- */
  var card = null;
  function showCard(build) {
    closeCards();
    card = { build: build };
    rerenderCards();
  }
  function rerenderCards() {
    var stick = nearBottom();
    root.classList.toggle("form-open", !!card && card.build === contactCard);
    ui.cards.textContent = "";
    if (card) ui.cards.appendChild(card.build());
    if (stick) bottom();  // the log got shorter: keep its newest message in view
  }
  function closeCards() { card = null; ui.cards.textContent = ""; root.classList.remove("form-open"); }

  /** The card the conversation's state asks for (the rating card is opened on its own). */
  function wantedCard() {
    if (S.status === "queued" && S.waitChoice) return choiceCard;
    if (S.status === "awaiting_contact") return C.later ? laterCard : contactCard;
    if (S.status === "ticketed" && S.ticket && S.ticketSeen !== S.ticket.ticket_number) return ticketCard;
    return null;
  }
  /** Show the wanted card; `focus` moves the keyboard focus to it (the visitor is in the widget). */
  function syncCards(focus) {
    if (card && card.build === ratingCard) return;
    var want = wantedCard();
    if (want !== (card && card.build)) { if (want) showCard(want); else closeCards(); }
    // On a phone the open form hides the message box: focus there would be lost, so it follows.
    var hiddenFocus = ui.composer.contains(shadow.activeElement) && !ui.input.getClientRects().length;
    if (want && (focus || hiddenFocus)) focusCard();
  }
  function focusCard() {
    var el = ui.cards.querySelector("h3") || ui.cards.querySelector("button");
    if (el) el.focus();
  }
  /** A server-driven card may take the focus only from an empty message box or a card going away. */
  function focusInWidget() {
    var a = shadow.activeElement;
    return !!a && S.open && ((a === ui.input && !ui.input.value.trim()) || ui.cards.contains(a));
  }

  /** A labelled control with its error sentence under it (aria-invalid, aria-describedby). */
  function field(id, label, control, hint) {
    var err = h("p", { id: id + "-err", class: "field-error", hidden: true });
    var help = hint ? h("span", { id: id + "-hint", class: "hint", text: hint }) : null;
    control.id = id;
    var wrap = h("div", { class: "field" }, [h("label", { for: id, text: label }), help, control, err]);
    wrap.setError = function (msg) {
      err.textContent = msg || "";
      err.hidden = !msg;
      var ids = (help ? help.id + " " : "") + (msg ? err.id : "");
      if (ids.trim()) control.setAttribute("aria-describedby", ids.trim()); else control.removeAttribute("aria-describedby");
      if (msg) control.setAttribute("aria-invalid", "true"); else control.removeAttribute("aria-invalid");
    };
    wrap.setError("");
    return wrap;
  }

  /* The contact form: the server checks every field (POST …/contact) and answers per field. */
  var C = newContact();
  function newContact() { return { method: "email", email: "", phone: "", slot: "", consent: false, errors: {}, summary: "", busy: false, later: false, options: null }; }
  var METHODS = ["email", "whatsapp", "sms", "phone"];

  function loadContactOptions() {
    if (!S.conv || C.options) return;
    C.options = { loading: true, methods: METHODS, callback_slots: [] };
    api("GET", "/" + encodeURIComponent(S.conv.id) + "/contact").then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (o) {
      C.options = o;
      if (!C.slot && o.callback_slots.length) C.slot = o.callback_slots[0];
      if (card && card.build === contactCard) refreshContact();
    }, function () { C.options = null; /* no call-back slots: the form offers the written channels */ });
  }
  function offered() {
    var o = C.options || { methods: METHODS, callback_slots: [] };
    return o.methods.filter(function (m) { return METHODS.indexOf(m) >= 0 && (m !== "phone" || o.callback_slots.length); });
  }

  var cf = {};
  function contactCard() {
    loadContactOptions();
    var opts = h("div", { class: "opts" });
    METHODS.forEach(function (m) {
      var input = h("input", { type: "radio", name: "sp-method", value: m, id: "sp-m-" + m, checked: C.method === m,
        onchange: function () { C.method = m; refreshContact(); } });
      opts.appendChild(h("label", { class: "opt", "data-method": m }, [input, t(m)]));
    });
    var methodErr = h("p", { id: "sp-method-err", class: "field-error", hidden: true });
    cf.methods = h("fieldset", { class: "field" }, [h("legend", { class: "sr-only", text: t("cHow") }), opts, methodErr]);
    cf.methods.setError = function (msg) {
      methodErr.textContent = msg || "";
      methodErr.hidden = !msg;
      if (msg) cf.methods.setAttribute("aria-describedby", methodErr.id); else cf.methods.removeAttribute("aria-describedby");
    };
    function input(attrs, key) {
      var el = h("input", attrs);
      el.value = C[key];
      el.addEventListener("input", function () { C[key] = el.value; });
      return el;
    }
    cf.email = field("sp-c-email", t("cEmail"), input({ type: "email", autocomplete: "email", inputmode: "email", maxlength: "254", "aria-required": "true" }, "email"));
    cf.phone = field("sp-c-phone", t("cMobile"), input({ type: "tel", autocomplete: "tel", inputmode: "tel", maxlength: "32", "aria-required": "true" }, "phone"), t("cPhoneHint"));
    var slot = h("select", { "aria-required": "true", onchange: function () { C.slot = slot.value; } });
    cf.slot = field("sp-c-slot", t("cSlot"), slot);
    var consent = h("input", { type: "checkbox", checked: C.consent, onchange: function () { C.consent = consent.checked; } });
    cf.consent = field("sp-c-consent", t("cConsent"), consent);
    cf.consent.classList.add("check");
    cf.consent.insertBefore(consent, cf.consent.firstChild);
    cf.summary = h("p", { class: "field-error", role: "alert" });
    cf.submit = h("button", { type: "submit", class: "primary", text: t("cSend") });
    cf.form = h("form", { class: "card contact", novalidate: true, "aria-labelledby": "sp-contact-title", onsubmit: submitContact }, [
      h("h3", { id: "sp-contact-title", tabindex: "-1", text: t("cTitle") }),
      cf.methods, cf.email, cf.phone, cf.slot, cf.consent, cf.summary,
      h("div", { class: "actions" }, [cf.submit, h("button", { type: "button", class: "secondary", text: t("cLater"),
        onclick: function () { C.later = true; syncCards(); ui.input.focus(); } })])
    ]);
    refreshContact();
    return cf.form;
  }

  /** Update the form in place (the focus stays where it is): channels, fields, slots, errors. */
  function refreshContact() {
    var methods = offered();
    if (methods.indexOf(C.method) < 0) C.method = methods[0];
    Array.prototype.forEach.call(cf.methods.querySelectorAll(".opt"), function (l) {
      var m = l.getAttribute("data-method");
      l.hidden = methods.indexOf(m) < 0;
      l.firstChild.checked = m === C.method;
    });
    cf.email.hidden = C.method !== "email";
    cf.phone.hidden = C.method === "email";
    cf.phone.querySelector("label").textContent = t(C.method === "phone" ? "cPhone" : "cMobile");
    cf.slot.hidden = C.method !== "phone";
    var select = cf.slot.querySelector("select");
    select.textContent = "";
    ((C.options && C.options.callback_slots) || []).forEach(function (at) {
      select.appendChild(h("option", { value: at, selected: at === C.slot, text: fmtWhen(at, C.options.time_zone) }));
    });
    var e = C.errors;
    cf.methods.setError(e.method);
    cf.email.setError(e.email);
    cf.phone.setError(e.phone);
    cf.slot.setError(e.callback_slot);
    cf.consent.setError(e.consent);
    cf.summary.textContent = C.summary;
    cf.summary.hidden = !C.summary;
    cf.submit.textContent = C.busy ? t("pending") : t("cSend");
  }

  function submitContact(e) {
    e.preventDefault();
    if (C.busy || !S.conv) return;
    var id = S.conv.id;
    var body = { method: C.method, consent: C.consent, language: lang };
    if (C.method === "email") body.email = C.email; else body.phone = C.phone;
    if (C.method === "phone") body.callback_slot = C.slot || null;
    C.busy = true;
    C.summary = "";
    refreshContact();
    api("POST", "/" + encodeURIComponent(id) + "/contact", body).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, body: j }; });
    }).then(function (res) {
      C.busy = false;
      if (!S.conv || S.conv.id !== id) return;
      if (res.status === 201) {
        C = newContact();
        S.ticket = res.body;
        setStatus("ticketed");
        return syncCards(true);
      }
      if (res.status === 404) return conversationGone();
      if (res.status === 409) {
        // Already ticketed (a retry whose answer was lost) or no longer collecting: follow the server.
        C.later = true;
        return refreshStatus();
      }
      C.errors = res.body.fields || {};
      C.summary = res.body.fields ? res.body.message || t("cCheck") : res.status === 422 && res.body.message || t("cFailed");
      afterContactError();
    }, function () {
      C.busy = false;
      C.errors = {};
      C.summary = t("cFailed");
      afterContactError();
    });
  }
  function afterContactError() {
    if (!card || card.build !== contactCard) return;
    refreshContact();
    var bad = cf.form.querySelector("[aria-invalid=true]") ||
      (C.errors.method && cf.methods.querySelector("input:checked")) || cf.submit;
    bad.focus();
  }

  function laterCard() {
    return h("div", { class: "card" }, [h("button", { type: "button", class: "secondary", text: t("cForm"),
      onclick: function () { C.later = false; syncCards(true); } })]);
  }

  /* The ticket confirmation: number, promised answer time, channel, and where the chat goes on. */
  function ticketCard() {
    var k = S.ticket, m = k.contact_method;
    var facts = h("dl", { class: "facts" }, [
      h("dt", { text: t("tNumber") }), h("dd", { class: "ticket-no", text: k.ticket_number }),
      h("dt", { text: t(m === "phone" ? "tCall" : "tAnswer") }), h("dd", { class: "ticket-when", text: fmtWhen(k.expected_answer_at, k.time_zone) }),
      h("dt", { text: t("tVia") }), h("dd", { text: (T[lang][m] || m) + " · " + k.contact })
    ]);
    return h("section", { class: "card ticket", "aria-labelledby": "sp-ticket-title" }, [
      h("h3", { id: "sp-ticket-title", tabindex: "-1" }, [svg(ICON_CHECK, 22), t("ticketed")]),
      facts,
      h("p", { class: "note", text: t("tStays") }),
      k.confirmation_via ? h("p", { class: "note", text: t("tLink", { via: t("via_" + k.confirmation_via) }) }) : null,
      h("div", { class: "actions" }, [h("button", { type: "button", class: "primary", text: t("tOk"), onclick: function () {
        S.ticketSeen = k.ticket_number;
        save();
        syncCards();
        ui.input.focus();
      } })])
    ]);
  }

  /* The queue-wait time-out: keep waiting (the clock restarts) or leave a contact (the form opens). */
  var choice = { failed: false };
  function choiceCard() {
    function pick(keep) {
      if (!S.conv) return;
      var path = "/" + encodeURIComponent(S.conv.id) + (keep ? "/queue/keep-waiting" : "/queue/leave");
      // A fresh form now: the socket's status change may open it before this request answers,
      // and the visitor may already be filling it in by then.
      if (!keep) C = newContact();
      api("POST", path, keep ? null : { leave_contact: true }).then(function (r) {
        if (r.status === 404) return conversationGone();
        if (!r.ok && r.status !== 409) throw new Error("HTTP " + r.status);
        choice.failed = false;
        S.waitChoice = false;
        if (r.status === 409) { refreshStatus(); syncCards(); ui.input.focus(); return; }
        if (keep) { syncCards(); ui.input.focus(); return; }
        // The form may be open already (the status change came first): leave the focus where it is.
        var formOpen = card && card.build === contactCard && ui.cards.contains(shadow.activeElement);
        setStatus("awaiting_contact");
        syncCards(!formOpen);
      }).catch(function () { choice.failed = true; rerenderCards(); ui.cards.querySelector("button").focus(); });
    }
    return h("section", { class: "card choice", "aria-labelledby": "sp-wait-title" }, [
      h("h3", { id: "sp-wait-title", tabindex: "-1", text: t("wTitle") }),
      h("p", { class: "note", text: t("wText") }),
      h("p", { class: "field-error", role: "alert", hidden: !choice.failed, text: choice.failed ? t("wFailed") : "" }),
      h("div", { class: "actions" }, [
        h("button", { type: "button", class: "primary", text: t("wKeep"), onclick: function () { pick(true); } }),
        h("button", { type: "button", class: "secondary", text: t("wLeave"), onclick: function () { pick(false); } })
      ])
    ]);
  }

  var rating = { score: 0, comment: "", state: "form" };
  function openRating() {
    if (!S.conv) return;
    if (S.rated === S.conv.id) rating.state = "thanks";
    else rating = { score: 0, comment: "", state: "form" };
    showCard(ratingCard);
  }

  function ratingCard() {
    var newChat = h("button", { type: "button", class: "secondary", text: t("newChat"), onclick: function () { startOver(); ui.input.focus(); } });
    if (rating.state === "thanks") {
      return h("div", { class: "card" }, [h("p", { class: "thanks", role: "status", text: t("rateThanks") }), newChat]);
    }
    var stars = h("div", { class: "stars" });
    var err = h("p", { id: "sp-score-err", class: "field-error", hidden: !rating.error });
    err.textContent = rating.error || "";
    function paint(n) {
      Array.prototype.forEach.call(stars.querySelectorAll("label"), function (l, i) { l.classList.toggle("on", i < n); });
    }
    for (var i = 1; i <= 5; i++) {
      (function (n) {
        var input = h("input", { type: "radio", name: "sp-score", id: "sp-score-" + n, value: String(n), class: "sr-only", checked: rating.score === n,
          onchange: function () { rating.score = n; rating.error = ""; err.hidden = true; paint(n); } });
        stars.appendChild(input);
        stars.appendChild(h("label", { for: "sp-score-" + n, title: t("star", { n: n }),
          onmouseenter: function () { paint(n); }, onmouseleave: function () { paint(rating.score); } },
        ["★", h("span", { class: "sr-only", text: t("star", { n: n }) })]));
      })(i);
    }
    paint(rating.score);
    var comment = h("textarea", { rows: "2", maxlength: "1000" });
    comment.value = rating.comment;
    comment.addEventListener("input", function () { rating.comment = comment.value; });
    var commentField = field("sp-comment", t("comment"), comment);
    var status = h("p", { class: "field-error", role: "alert", hidden: !rating.failed, text: rating.failed ? t("rateError") : "" });
    var submit = h("button", { type: "submit", class: "primary", text: t("rateSend") });
    return h("form", { class: "card rating", novalidate: true, onsubmit: function (e) {
      e.preventDefault();
      if (!rating.score) {
        rating.error = t("rateRequired");
        err.textContent = rating.error;
        err.hidden = false;
        stars.querySelector("input").focus();
        return;
      }
      submit.disabled = true;
      sendRating().then(function (ok) {
        rating.state = ok ? "thanks" : "form";
        rating.failed = !ok;
        if (ok) { S.rated = S.conv && S.conv.id; save(); }
        rerenderCards();
        var focusable = ui.cards.querySelector("button");
        if (focusable) focusable.focus();
      });
    } }, [
      h("fieldset", { "aria-describedby": "sp-score-err" }, [h("legend", { text: t("rateTitle") }), stars, err]),
      commentField, status, h("div", { class: "actions" }, [submit, newChat])
    ]);
  }

  function sendRating() {
    if (!S.conv) return Promise.resolve(false);
    return api("POST", "/" + encodeURIComponent(S.conv.id) + "/rating", { rating: rating.score, comment: rating.comment || null })
      .then(function (r) { return r.ok; }, function () { return false; });
  }

  /* ---- open / close, focus management ---- */
  function focusables() {
    return Array.prototype.filter.call(
      ui.panel.querySelectorAll("button:not([disabled]), textarea:not([disabled]), input:not([disabled]), select:not([disabled]), a[href], [tabindex='0']"),
      function (el) { return el.getClientRects().length > 0 && !(el.type === "radio" && !el.checked && shadow.querySelector("input[name='" + el.name + "']:checked")); }
    );
  }

  function setOpen(open, byUser) {
    S.open = open;
    ui.panel.hidden = !open;
    root.classList.toggle("open", open);
    ui.launcher.setAttribute("aria-expanded", String(open));
    if (open) { S.unread = 0; S.seenSeq = S.lastSeq; ui.log.scrollTop = ui.log.scrollHeight; }
    renderBadge();
    save();
    if (!byUser) return;
    if (open) {
      var target = !ui.composer.hidden ? ui.input : focusables()[0];
      if (target) target.focus();
    } else {
      ui.launcher.focus();
    }
  }

  ui.panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); setOpen(false, true); return; }
    if (e.key !== "Tab") return;
    var list = focusables();
    if (!list.length) return;
    var first = list[0], last = list[list.length - 1], active = shadow.activeElement;
    // Inside the panel but not a tab stop (a card's heading): the browser's own order is right.
    var away = !active || !ui.panel.contains(active);
    if (e.shiftKey && (active === first || away)) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (active === last || away)) { e.preventDefault(); first.focus(); }
  });

  /* ---- reopen links: resolvers turn page-URL parameters into {id, token} ---- */
  var RESUME_RESOLVERS = [
    // Plain link: ?sportello_resume=<conversation id>&sportello_token=<token>.
    // Signed, expiring reopen links (a later issue) add a resolver here that exchanges their
    // parameter with the server for {id, token}; it may return a Promise.
    function (params) {
      var id = params.get("sportello_resume"), token = params.get("sportello_token");
      return id && token ? { id: id, token: token } : null;
    }
  ];

  function resumeFromLink() {
    var params = new URLSearchParams(location.search);
    if (!RESUME_PARAMS.some(function (p) { return params.has(p); })) return null;
    // Take the secret out of the address bar (and later Referer headers) at once.
    try { history.replaceState(history.state, "", pageUrl()); } catch (e) { /* sandboxed page */ }
    var found = null;
    RESUME_RESOLVERS.some(function (r) { found = r(params); return !!found; });
    return Promise.resolve(found);
  }

  /** Switch to conversation `id` once the server confirms the token; else keep the current one. */
  function resume(id, token) {
    return api("GET", "/" + encodeURIComponent(id), null, token).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (c) {
      if (!S.conv || S.conv.id !== c.id) { startOver(); adopt({ id: c.id, token: token }, c.status); }
      // A link from an email may be opened on another device: there the widget speaks the
      // conversation's language, unless the visitor chose one in this browser.
      if (!S.chosenLang && pickLang(c.language)) setLanguage(pickLang(c.language), true);
      setOpen(true, true);
      connect();
      if (c.status === "closed") openRating();
      return true;
    }, function () {
      setOpen(true, true);
      notice(t("resumeFailed"));
      if (S.conv) connect();
      return false;
    });
  }

  /* ---- start ---- */
  function mount() {
    // On <html>, not <body>: a transformed body would otherwise anchor the fixed panel.
    document.documentElement.appendChild(host);
    // The top layer escapes the page's stacking contexts, transforms and overflow altogether.
    if (host.showPopover) {
      host.setAttribute("popover", "manual");
      try { host.showPopover(); } catch (e) { host.removeAttribute("popover"); }
    }
    applyTexts();
    S.outbox.forEach(function (i) { i.failed = false; renderPending(i); });
    if (S.open) setOpen(true, false);
    var link = resumeFromLink();
    if (link) {
      link.then(function (found) {
        if (found) resume(found.id, found.token);
        else if (S.conv) connect();
      });
    } else if (S.conv) {
      connect();
    } else if (S.outbox.length) {
      ensureConversation();
    }
  }

  window.Sportello = {
    version: VERSION,
    open: function () { setOpen(true, true); },
    close: function () { setOpen(false, true); },
    setLanguage: function (l) { setLanguage(pickLang(l), true); },
    resume: resume,
    send: send
  };

  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
