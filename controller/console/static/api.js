// The console is an ordinary API client: bearer token in sessionStorage, JSON over /api/v1, SSE for live data.
const TOKEN_KEY = "dispatch.token";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || "http_error";
    this.body = body;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) { if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY); },
};

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const put = (path, body = {}) => api("PUT", path, body);

/**
 * Subscribe to the live event stream; reconnects with backoff when the server closes it.
 * ``handlers`` maps event kinds to callbacks; ``onStatus(connected)`` reports the link state.
 */
export function liveEvents(handlers, onStatus) {
  let source = null, delay = 1000, stopped = false, timer = null;
  function connect() {
    if (stopped || !session.token) return;
    source = new EventSource(`/api/v1/events?access_token=${encodeURIComponent(session.token)}`);
    source.onopen = () => { delay = 1000; onStatus(true); };
    source.onerror = () => {
      onStatus(false);
      if (source.readyState === EventSource.CLOSED) {  // the browser gave up: reconnect ourselves
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
    for (const [kind, handler] of Object.entries(handlers)) {
      source.addEventListener(kind, (event) => handler(JSON.parse(event.data)));
    }
  }
  connect();
  return () => { stopped = true; clearTimeout(timer); if (source) source.close(); onStatus(false); };
}
