// New-offer alerts: a short Web Audio beep and, once allowed, a desktop notification.
// Each alert is also dispatched as a `sportello:alert` event on document (for tests and add-ons).

import { t } from "./i18n.js";

let audio = null;

// Browsers start audio only after a user gesture: the first click or key unlocks it.
export function unlockAudioOnGesture() {
  const unlock = () => {
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
    } catch {
      audio = null;
    }
  };
  document.addEventListener("pointerdown", unlock, { once: true, capture: true });
  document.addEventListener("keydown", unlock, { once: true, capture: true });
}

function beep() {
  if (!audio || audio.state !== "running") return false;
  const now = audio.currentTime;
  const gain = audio.createGain();
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
  gain.connect(audio.destination);
  for (const [freq, start] of [[880, 0], [1175, 0.12]]) {
    const osc = audio.createOscillator();
    osc.type = "sine";
    osc.frequency.value = freq;
    osc.connect(gain);
    osc.start(now + start);
    osc.stop(now + start + 0.2);
  }
  return true;
}

export function notificationState() {
  if (!("Notification" in window)) return "unsupported";
  return Notification.permission;
}

export async function askNotificationPermission() {
  if (!("Notification" in window)) return "unsupported";
  return Notification.requestPermission();
}

export function alertNewOffer(offer) {
  const sound = beep();
  let notification = false;
  if (notificationState() === "granted") {
    try {
      const n = new Notification(t("notif_title"), {
        body: t("notif_body", { lang: (offer.language || "?").toUpperCase() }),
        tag: `offer-${offer.conversation_id}`,
      });
      n.onclick = () => window.focus();
      notification = true;
    } catch {
      notification = false;
    }
  }
  document.dispatchEvent(new CustomEvent("sportello:alert", { detail: { kind: "offer", conversation_id: offer.conversation_id, sound, notification } }));
}
