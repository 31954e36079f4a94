// The studio's HTTP API: the only way this page talks to the server.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `the studio answered ${status}`);
    this.status = status;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

async function answer(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export async function get(path) {
  return answer(await fetch(path, { headers: { accept: "application/json" } }));
}

export async function post(path, data) {
  return answer(await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(data ?? {}),
  }));
}

// A file as the request body itself (uploads, dropped recipes).
export async function postFile(path, file) {
  return answer(await fetch(path, {
    method: "POST",
    headers: { "content-type": file.type || "application/octet-stream", accept: "application/json" },
    body: file,
  }));
}

export async function text(path) {
  const response = await fetch(path);
  if (!response.ok) throw new ApiError(response.status, null);
  return response.text();
}

export const runUrl = (id, rest = "") => `/api/runs/${encodeURIComponent(id)}${rest}`;
