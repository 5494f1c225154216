// The GraphQL-over-HTTP conformance audits (graphql-http's serverAudits) against a live hub.
// Usage: node audit.mjs URL TOKEN. Prints one JSON line per audit and exits 1 if any MUST or
// SHOULD audit fails (MAY audits are reported, not required).
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node audit.mjs URL TOKEN');
  process.exit(2);
}

// The hub answers 401 without a bearer token, so every audit request carries one.
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

let failed = 0;
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  const required = !audit.name.startsWith('MAY');
  if (result.status !== 'ok' && required) failed += 1;
  const line = { id: audit.id, name: audit.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    if (result.response) {
      line.response = { status: result.response.status, type: result.response.headers.get('content-type') };
    }
  }
  console.log(JSON.stringify(line));
}
process.exit(failed ? 1 : 0);
