// The switch's API with the session cookie: JSON in and out, the CSRF token on every
// request that changes something, errors as ApiError. A 401 while signed in means the
// session ended: the app hears "signed-out" and shows the sign-in form. (Before sign-in
// a 401 says nothing new: the form is there, and drawing it again would wipe what the
// person is typing.)

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Live pushes and request answers race: a push that came while a request was on its
// way is newer than the request's answer (available, then ringing at once). `heard()`
// counts the pushes; `answer(request)` is the request's answer, or null when a push came
// meanwhile and the answer must not be shown over it.
export class LiveOrder {
  constructor() {
    this.pushes = 0;
  }

  heard() {
    this.pushes += 1;
  }

  async answer(request) {
    const before = this.pushes;
    const result = await request();
    return this.pushes === before ? result : null;
  }
}

export async function api(method, path, body) {
  return (await request(method, path, body)).data;
}

// A GET of one page of a list: `data`, and `next`, the path of the page before it
// (from the Link header, rel="next"), null on the last page.
export async function apiPage(path) {
  const { data, res } = await request("GET", path);
  const link = res.headers.get("Link") || "";
  const next = link.match(/<\/api\/v1([^>]*)>;\s*rel="next"/);
  return { data, next: next ? next[1] : null };
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "unreachable", "the switch cannot be reached");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && path !== "/login" && csrf) {
      window.dispatchEvent(new CustomEvent("signed-out"));
    }
    throw new ApiError(res.status, err.code || "error", err.message || res.statusText);
  }
  return { data, res };
}
