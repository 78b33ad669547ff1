// The REST and WebSocket client of the dashboard: the same public API any
// other client uses (bearer tokens from POST /api/auth/token).

const SESSION_KEY = "quantdesk.session";

export const session = {
  get() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (s && s.token && s.expires > Date.now()) return s;
    } catch {
      /* a damaged entry counts as logged out */
    }
    return null;
  },
  set(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
  isAdmin() {
    return this.get()?.role === "admin";
  },
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** Called when the server says the token is no longer valid (set by main.js). */
export const hooks = { unauthorized: () => {} };

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
  }
  return u;
}

/** fetch + JSON, with the session's token; throws ApiError with the server's one-line detail. */
export async function api(path, { method = "GET", query, body, form } = {}) {
  const headers = {};
  const s = session.get();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  let payload;
  if (form) payload = new URLSearchParams(form);
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(url(path, query), { method, headers, body: payload });
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!response.ok) {
    const detail = typeof data?.detail === "string" ? data.detail : `HTTP ${response.status}`;
    if (response.status === 401 && s) hooks.unauthorized();
    throw new ApiError(response.status, detail);
  }
  return data;
}

export async function login(username, password) {
  const data = await api("/api/auth/token", { method: "POST", form: { username, password } });
  const value = {
    token: data.access_token,
    username,
    role: data.role,
    expires: Date.now() + (data.expires_in - 30) * 1000,
  };
  session.set(value);
  return value;
}

/**
 * A WebSocket channel (/ws/<name>) that authenticates with a first message,
 * re-sends its subscription and reconnects with back-off until closed.
 * onMessage(type, data); onStatus("connecting" | "live" | "closed" | "denied").
 */
export function channel(name, { onMessage, onStatus = () => {}, subscribe = null }) {
  let ws = null;
  let closed = false;
  let delay = 500;
  let timer = null;
  let sub = subscribe;

  function open() {
    const s = session.get();
    if (!s) return;
    onStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${scheme}://${location.host}/ws/${name}`);
    ws.onopen = () => ws.send(JSON.stringify({ token: s.token }));
    ws.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        delay = 500;
        onStatus("live");
        if (sub) ws.send(JSON.stringify({ subscribe: sub }));
        return;
      }
      onMessage(msg.type, msg.data);
    };
    ws.onclose = (event) => {
      ws = null;
      if (closed) return;
      if (event.code === 4401) {
        hooks.unauthorized();
        return;
      }
      if (event.code === 4403) {
        onStatus("denied");
        return;
      }
      onStatus("closed");
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

  open();
  return {
    /** Replace the subscription (market channel). */
    subscribe(next) {
      sub = next;
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ unsubscribe: true }));
        ws.send(JSON.stringify({ subscribe: next }));
      }
    },
    close() {
      closed = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}
