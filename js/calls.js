// Errors and calls that cross a postMessage boundary (the OPFS worker, other tabs). An Error loses
// its `code` and `issues` in a structured clone, so errors travel as plain `{code, message,
// issues}` objects and are revived on the other side; replies settle the caller's pending call.

/** An Error with a stable remdb `code` (the API turns it into a RemDBError). */
export function failure(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

/** Any thrown value as a plain object that survives postMessage. */
export function describe(e) {
  return { code: (e && e.code) || 'STORAGE', message: String((e && e.message) || e), issues: e && e.issues };
}

/** The Error a `describe`d object stands for. */
export function revive(described) {
  const e = failure(described.code, described.message);
  if (described.issues !== undefined) e.issues = described.issues;
  return e;
}

/** Settles the call `reply.id` of `pending` (a Map of `{resolve, reject}`) with `{ok, value | error}`. */
export function settle(pending, reply) {
  const p = pending.get(reply.id);
  if (!p) return;
  pending.delete(reply.id);
  if (reply.ok) p.resolve(reply.value);
  else p.reject(revive(reply.error));
}
