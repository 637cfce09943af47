// The dashboard's service worker: shows web push notifications and opens the dashboard on click.
// Served at /dashboard/sw.js with `Service-Worker-Allowed: /dashboard`, registered with that scope.

const DASHBOARD = "/dashboard";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function isDashboard(client) {
  const path = new URL(client.url).pathname;
  return path === DASHBOARD || path.startsWith(`${DASHBOARD}/`);
}

async function dashboardWindows() {
  const all = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  return all.filter(isDashboard);
}

// Only same-origin dashboard addresses are opened, whatever the payload says.
function target(url) {
  try {
    const u = new URL(url || DASHBOARD, self.location.origin);
    if (u.origin === self.location.origin && (u.pathname === DASHBOARD || u.pathname.startsWith(`${DASHBOARD}/`))) return u.href;
  } catch {
    // fall through to the dashboard's entry page
  }
  return new URL(DASHBOARD, self.location.origin).href;
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil((async () => {
    const windows = await dashboardWindows();
    // An operator looking at the dashboard hears it there (sound, pop-up): no second alert.
    const watched = windows.some((w) => w.visibilityState === "visible");
    for (const w of windows) w.postMessage({ type: "sportello:push", shown: !watched, payload: data });
    if (watched) return;
    await self.registration.showNotification(data.title || "Sportello", {
      body: data.body || "",
      tag: data.tag || undefined,
      renotify: Boolean(data.tag),
      data: { url: target(data.url), kind: data.kind || null },
    });
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = target(event.notification.data && event.notification.data.url);
  event.waitUntil((async () => {
    const windows = await dashboardWindows();
    const open = windows.find((w) => "focus" in w);
    if (open) return open.focus();
    return self.clients.openWindow(url);
  })());
});
