// A frontend's subscription to the hub with graphql-ws, as docs/subscriptions.md explains it.
// Usage (what tests/e2e/test_subscription_client.py runs): node subscribe.mjs HTTP_URL TOKEN
// It subscribes to caseEvents, registers one case over HTTP, prints the event it receives as
// one JSON line and exits 0 (1 if none came within 15 s).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws'; // Node only: browsers have a global WebSocket

const TOKEN_REFUSED = 4403; // the hub's close code for a missing, expired or revoked token

/** A client with the settings that hold up in production. */
export function hubClient({ wsUrl, getToken, onConnected, webSocketImpl }) {
  return createClient({
    url: wsUrl, // wss://HOST/graphql behind TLS
    webSocketImpl,
    // A function, so every reconnect sends the current token, not the one of the first connect.
    connectionParams: async () => ({ Authorization: `Bearer ${await getToken()}` }),
    // Ping every 10 s: proxies and load balancers close sockets idle for longer (nginx: 60 s).
    keepAlive: 10_000,
    // Retry every failure (network, restart, deploy) for ever, with the built-in randomised
    // exponential backoff, except a refused token: retrying it cannot succeed.
    retryAttempts: Infinity,
    shouldRetry: (errOrClose) => !(errOrClose && errOrClose.code === TOKEN_REFUSED),
    on: {
      // Called on the first connect and on every reconnect: events sent while the socket was
      // down are not replayed, so catch up from the change feed then.
      connected: () => onConnected(),
      closed: (event) => {
        if (event && event.code === TOKEN_REFUSED) console.error('token refused: sign in again');
      },
    },
  });
}

/** Reads caseChanges from the last cursor seen until the feed is exhausted. */
export async function catchUp(httpUrl, token, state) {
  const query = `query Changes($after: String) {
    caseChanges(after: $after, first: 100) {
      edges { cursor node { id number status } }
      pageInfo { hasNextPage endCursor }
    } }`;
  let seen = 0;
  for (;;) {
    const { caseChanges } = await post(httpUrl, token, query, { after: state.cursor });
    seen += caseChanges.edges.length;
    if (caseChanges.pageInfo.endCursor) state.cursor = caseChanges.pageInfo.endCursor;
    if (!caseChanges.pageInfo.hasNextPage) return seen;
  }
}

async function post(httpUrl, token, query, variables) {
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json;q=0.9',
    },
    body: JSON.stringify({ query, variables }),
  });
  const payload = await response.json();
  if (payload.errors) throw new Error(JSON.stringify(payload.errors));
  return payload.data;
}

const REGISTER = `mutation Register($input: RegisterCaseInput!) {
  registerCase(input: $input) { __typename ... on CaseResult { case { id } } } }`;

async function main() {
  const [httpUrl, token] = process.argv.slice(2);
  const state = { cursor: null };
  const caughtUp = [];
  const client = hubClient({
    wsUrl: httpUrl.replace(/^http/, 'ws'),
    getToken: () => token,
    webSocketImpl: WebSocket,
    onConnected: () => {
      state.catchingUp = catchUp(httpUrl, token, state).then((n) => caughtUp.push(n));
    },
  });
  const events = client.iterate({
    query: 'subscription { caseEvents { kind at case { id title } } }',
  });
  const first = events.next();
  // The subscription starts once the socket is acknowledged; register until its event arrives.
  const title = `订阅示例 ${Date.now()}`;
  const input = { channel: 'OTHER', title, description: '订阅示例登记', category: 'DUST' };
  const deadline = Date.now() + 15_000;
  let event = null;
  while (!event && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    await post(httpUrl, token, REGISTER, { input: { ...input, tenantCode: 'laiji' } });
    event = await Promise.race([first, new Promise((r) => setTimeout(() => r(null), 3000))]);
  }
  await events.return();
  await state.catchingUp;
  client.dispose();
  if (!event) {
    console.error('no caseEvents event arrived');
    process.exit(1);
  }
  console.log(JSON.stringify({ event: event.value.data.caseEvents, title, caughtUp }));
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
