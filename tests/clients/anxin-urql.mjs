// urql with graphcache (its normalized cache) for the anxin gateway, subscriptions over
// the graphql-ws client above: the README's urql snippet, run by
// tests/api/test_urql_client.py.
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { createLiveClient, currentToken } from './anxin-live.mjs';

// Every `id` is a global ID: an object is cached under it; one without an id (Money,
// SurveyQuestion, …) is part of its parent (null says so, without a warning per type).
const keyOf = (data) => data.id ?? null;

export function createAnxinUrql({ graphqlUrl, session, onSession, live = {} }) {
  const auth = { graphqlUrl, session, onSession };
  const socket = createLiveClient({ url: graphqlUrl.replace(/^http/, 'ws'), ...auth, ...live });
  return new Client({
    url: graphqlUrl,
    preferGetMethod: false, // urql sends short queries by GET by default: refused here
    fetch: async (url, init) => {
      const token = await currentToken(auth);
      return fetch(url, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });
    },
    exchanges: [
      cacheExchange({ keys: new Proxy({}, { get: () => keyOf }) }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: socket.subscribe(request, sink) }),
        }),
      }),
    ],
  });
}
