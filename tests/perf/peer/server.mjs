// The peer of tests/perf/bench_peer.py: PostGraphile 5 on the hub's database, as the hub's app
// role under the same row-level security settings (role and sanwang.tenant_ids, set per
// transaction by Grafast's pgSettings, as hub/db.py sets them for the hub).
//
//   PEER_DATABASE_URL=postgres://postgres@127.0.0.1:5432/db PEER_PORT=5678 \
//   PEER_CALLERS='{"<token>": "{uuid,uuid}"}' PEER_ROLE=sanwang_app node server.mjs
//
// A caller is known by the bearer token the benchmark gives it (a table lookup: cheaper than
// the hub's JWT check); an unknown token sees no tenant (RLS fails closed).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

const callers = JSON.parse(process.env.PEER_CALLERS ?? "{}");
const role = process.env.PEER_ROLE ?? "sanwang_app";
const port = Number(process.env.PEER_PORT ?? 5678);

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.PEER_DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: { port, graphiql: false, watch: false },
  grafast: {
    explain: false,
    context(requestContext) {
      const auth = requestContext.node?.req?.headers?.authorization ?? "";
      const ids = callers[auth.replace(/^Bearer\s+/i, "")] ?? "{}";
      return { pgSettings: { role, "sanwang.tenant_ids": ids } };
    },
  },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (e) => {
  console.error(e);
  process.exit(1);
});
serv.addTo(server).catch((e) => {
  console.error(e);
  process.exit(1);
});
server.listen(port, "127.0.0.1", () => console.log(`peer listening on ${port}`));
