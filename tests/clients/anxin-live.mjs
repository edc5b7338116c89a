// Live updates from the anxin gateway with the reference graphql-ws client: the README's
// "Using the API from an app" snippet, run by tests/api/test_graphql_ws_client.py.
import { createClient } from 'graphql-ws';

const REFRESH = `mutation Refresh($token: String!) { refreshToken(input: {refreshToken: $token}) {
  session { accessToken accessTokenExpiresAt refreshToken } errors { code } } }`;
const refreshing = new WeakMap(); // session → the refresh under way (one at a time)

// session: { accessToken, accessTokenExpiresAt, refreshToken } from loginWithCode,
// wechatLogin or refreshToken; onSession stores each new one (refresh tokens are single use).
// The access token to send now, refreshed first when it expires within 5 s.
export async function currentToken({ graphqlUrl, session, onSession }) {
  if (Date.parse(session.accessTokenExpiresAt) - Date.now() < 5000) {
    if (!refreshing.has(session)) {
      const done = refresh(graphqlUrl, session, onSession);
      refreshing.set(session, done.finally(() => refreshing.delete(session)));
    }
    await refreshing.get(session);
  }
  return session.accessToken;
}

async function refresh(graphqlUrl, session, onSession) {
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json;q=0.9',
    },
    body: JSON.stringify({ query: REFRESH, variables: { token: session.refreshToken } }),
  });
  const fresh = (await response.json()).data?.refreshToken?.session;
  if (!fresh) throw new Error('登录已失效，请重新登录'); // fatal: show the login page
  Object.assign(session, fresh);
  onSession?.(session);
}

export function createLiveClient({ url, graphqlUrl, session, onSession, ...options }) {
  return createClient({
    url,
    ...options,
    // Asked on every (re)connect. The server closes with 4403 when the token expires:
    // graphql-ws reconnects by itself (default retries), gets a fresh token here and
    // subscribes again. 4401 (logout, session revoked) is fatal: log in again.
    connectionParams: async () => ({
      authorization: `Bearer ${await currentToken({ graphqlUrl, session, onSession })}`,
    }),
  });
}
