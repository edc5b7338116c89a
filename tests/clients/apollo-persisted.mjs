// Apollo Client 4 with automatic persisted queries (PersistedQueryLink, SHA-256 by Node's
// crypto) in front of the HTTP link, run by tests/api/test_persisted_queries.py. It loads
// the app's operations from operations/app.graphql and reports, per step, the answer and
// every HTTP request the link chain made (method, hash, whether the query text was sent).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client/core';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const { ANXIN_URL, ANXIN_TOKEN, ANXIN_POLICY_ID, ANXIN_USE_GET } = process.env;
const emit = (event, extra = {}) => console.log(JSON.stringify({ event, ...extra }));

const sent = [];
async function recordingFetch(url, options = {}) {
  const method = options.method ?? 'GET';
  const params = method === 'GET' ? new URL(url).searchParams : null;
  const body = method === 'POST' ? JSON.parse(options.body) : null;
  const extensions = params ? JSON.parse(params.get('extensions') ?? 'null') : body.extensions;
  const response = await fetch(url, options);
  sent.push({
    method,
    hash: extensions?.persistedQuery?.sha256Hash ?? null,
    withQuery: Boolean(params ? params.get('query') : body.query),
    status: response.status,
  });
  return response;
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const apollo = new ApolloClient({
  cache: new InMemoryCache(),
  link: ApolloLink.from([
    new PersistedQueryLink({ sha256, useGETForHashedQueries: ANXIN_USE_GET === '1' }),
    new HttpLink({
      uri: ANXIN_URL,
      headers: { authorization: `Bearer ${ANXIN_TOKEN}` },
      fetch: recordingFetch,
    }),
  ]),
});

const document = gql(readFileSync(new URL('./operations/app.graphql', import.meta.url), 'utf8'));
const WITH_CARD = new Set(['PolicyCards', 'PolicyScreen']); // they spread ...PolicyCard
const fragments = document.definitions.filter((d) => d.kind === 'FragmentDefinition');
const operation = (name) => ({
  kind: 'Document',
  definitions: [
    document.definitions.find((d) => d.kind === 'OperationDefinition' && d.name.value === name),
    ...(WITH_CARD.has(name) ? fragments : []),
  ],
});

async function step(name, run) {
  sent.length = 0;
  try {
    const result = await run();
    emit(name, { data: result.data ?? null, error: null, sent: [...sent] });
  } catch (error) {
    emit(name, { data: null, error: { message: error.message, errors: error.errors ?? null }, sent: [...sent] });
  }
}

const query = (name, variables) => () =>
  apollo.query({ query: operation(name), variables, fetchPolicy: 'network-only' });
await step('PolicyCards.first', query('PolicyCards'));
await step('PolicyCards.again', query('PolicyCards'));
await step('PolicyScreen', query('PolicyScreen', { id: ANXIN_POLICY_ID }));
await step('Inbox', query('Inbox'));
await step('MarkAllRead', () => apollo.mutate({ mutation: operation('MarkAllRead') }));
await step('AdHoc', () =>
  apollo.query({ query: gql`query AdHoc { myPolicies(first: 1) { totalCount } }`, fetchPolicy: 'network-only' }),
);
emit('done');
