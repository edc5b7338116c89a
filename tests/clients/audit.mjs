// The graphql-http server audits (GraphQL over HTTP) against the URL given; prints one
// JSON line: each audit that is not "ok", and the counts.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
// One at a time: the audits check the protocol, not capacity (all at once, they meet
// the gateway's concurrent-request cap and get 503s).
const results = [];
for (const { fn } of serverAudits({ url })) results.push(await fn());
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const problems = [];
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== 'ok') {
    problems.push({ id: result.id, status: result.status, name: result.name, reason: result.reason });
  }
}
process.stdout.write(JSON.stringify({ counts, problems }) + '\n');
