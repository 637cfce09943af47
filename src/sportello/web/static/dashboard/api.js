// REST calls with the session cookie; unsafe methods carry the CSRF token from login.

import { t } from "./i18n.js";

let csrf = null;
let onUnauthorized = () => {};

export function setCsrf(token) {
  csrf = token;
}

export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // A sentence for the operator: the server's own message, prefixed for conflicts.
  get readable() {
    if (this.status === 409) return t("error_conflict", { msg: this.message });
    return this.message || t("error_generic");
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD"].includes(method) && csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, t("error_network"), "network");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = new ApiError(response.status, (data && data.message) || t("error_generic"), data && data.error);
    if (response.status === 401 && !path.endsWith("/auth/login")) onUnauthorized();
    throw err;
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
