// Calls to the gateway's API, from the page's own origin. Every failure becomes an ApiError
// whose message is the one the server wrote in its JSON error ({"error": {"code", "message"}}).

const KEY_STORE = "streaming-tts-stt.api-key";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function apiKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORE, key);
  else localStorage.removeItem(KEY_STORE);
}

// fetch() with the API key (when one is set) and errors turned into ApiError; resolves to the
// response of a 2xx answer, whose body is left to the caller to read (or stream).
export async function apiFetch(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("the gateway could not be reached; is the stack running?");
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: said below by status alone.
  }
  const error = body && body.error;
  if (error && typeof error.message === "string") {
    return new ApiError(error.message, { status: response.status, code: error.code || "" });
  }
  return new ApiError(`the server answered ${response.status} ${response.statusText}`.trim(), {
    status: response.status,
  });
}

// The WebSocket URL of a path of this page's own server (wss:// behind https).
export function webSocketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

// The WebSocket subprotocols that carry the API key (when one is set): a browser cannot put an
// Authorization header on a WebSocket, so the key goes as "bearer.<the key in base64url>".
export function keySubprotocols() {
  const key = apiKey();
  if (!key) return [];
  const bytes = new TextEncoder().encode(key);
  const base64 = btoa(String.fromCharCode(...bytes));
  return [`bearer.${base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`];
}

// How many seconds of audio the ASR service takes (MAX_AUDIO_DURATION), asked once; null when
// it cannot be asked (the recording is then refused by the service if too long, and says so).
let audioLimit = null;

export function maxAudioSeconds() {
  audioLimit =
    audioLimit ||
    apiFetch("/api/stt/models")
      .then((response) => response.json())
      .then((models) => models.max_audio_seconds || null)
      .catch(() => null);
  return audioLimit;
}
