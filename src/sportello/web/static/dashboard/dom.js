// Element builder: customer text always goes in as text nodes, never as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") el.setAttribute("style", value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled" || key === "hidden") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

let uid = 0;
export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function field(label, control, hint) {
  const id = control.id || nextId("f");
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function options(pairs, selected) {
  return pairs.map(([value, label]) => h("option", { value, selected: value === selected }, label));
}

// A modal built on <dialog>: the browser traps focus and Escape cancels; focus returns after.
export function modal(title, body, { confirmLabel, cancelLabel, danger = false, onConfirm }) {
  const back = document.activeElement;
  const titleId = nextId("dlg");
  const error = h("p", { class: "form-error", role: "alert" });
  const confirmBtn = h("button", { type: "submit", class: `btn ${danger ? "btn-danger" : "btn-primary"}` }, confirmLabel);
  const form = h("form", { method: "dialog", class: "dialog-form" },
    h("h2", { id: titleId }, title), body, error,
    h("div", { class: "dialog-actions" },
      h("button", { type: "button", class: "btn", value: "cancel", onclick: () => dialog.close("cancel") }, cancelLabel),
      confirmBtn),
  );
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId }, form);
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      confirmBtn.disabled = true;
      try {
        const result = onConfirm ? await onConfirm() : true;
        dialog.close("ok");
        resolve(result);
      } catch (err) {
        error.textContent = err.readable || err.message || String(err);
        confirmBtn.disabled = false;
      }
    });
    dialog.addEventListener("close", () => {
      // The browser already returned focus when the dialog closed; this event comes a task later,
      // when the user may have moved on: take focus back only if it was left nowhere.
      const active = document.activeElement;
      const lost = !active || active === document.body || dialog.contains(active);
      dialog.remove();
      // A re-render while the dialog was open may have replaced the control that opened it.
      const target = back && (back.isConnected ? back : back.id && document.getElementById(back.id));
      if (lost && target) target.focus();
      if (dialog.returnValue !== "ok") resolve(null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
