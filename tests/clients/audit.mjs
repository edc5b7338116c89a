// The graphql-http server audits (GraphQL over HTTP) against the URL given; prints one
// JSON line: each audit that is not "ok", and the counts.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const results = await Promise.all(serverAudits({ url }).map(({ fn }) => fn()));
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const problems = [];
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== 'ok') {
    problems.push({ id: result.id, status: result.status, name: result.name, reason: result.reason });
  }
}
process.stdout.write(JSON.stringify({ counts, problems }) + '\n');
