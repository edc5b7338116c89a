// urql's graphcache against the gateway, through the README's urql client
// (anxin-urql.mjs): surveys, premiums and the inbox, before and after the mutations that
// change them. Reports the cache's answer (`cached`, cache-only) beside a plain request's
// (`fresh`, a client without a cache), one JSON line per step, for
// tests/api/test_urql_client.py to compare.
import { Client, fetchExchange, gql } from '@urql/core';
import WebSocket from 'ws';
import { createAnxinUrql } from './anxin-urql.mjs';

const plan = JSON.parse(process.env.ANXIN_PLAN);
const emit = (step, fields) => process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
const live = { webSocketImpl: WebSocket };
const app = createAnxinUrql({ graphqlUrl: plan.graphqlUrl, session: plan.customer, live });
const plain = new Client({
  url: plan.graphqlUrl,
  preferGetMethod: false,
  fetchOptions: { headers: { authorization: `Bearer ${plan.customer.accessToken}` } },
  exchanges: [fetchExchange],
});

const SURVEYS = gql`query Surveys { mySurveys { id title answered
  questions { key kind text required options { key text } } } }`;
const SURVEYS_KEYED_BY_LOCAL_ID = gql`query SurveysAsBefore { mySurveys { id title answered
  questions { id: key kind text required options { id: key text } } } }`;
const SURVEY = gql`query Survey($id: ID!) { node(id: $id) { ... on Survey { id title answered
  questions { key kind text required options { key text } } } } }`;
const INSTALLMENT = 'id sequence dueDate status paidAt amount { amount currency }';
const POLICIES = gql`query Policies { myPolicies(first: 20) { totalCount edges { node {
  id number status installments { ${INSTALLMENT} } nextPremiumDue { ${INSTALLMENT} } } } } }`;
const INBOX = gql`query Inbox { notifications(first: 20) { totalCount edges { node {
  id kind title read } } } }`;

async function run(client, query, variables = {}) {
  const result = await client.query(query, variables).toPromise();
  if (result.error) throw result.error;
  return result.data;
}
async function mutate(mutation, variables) {
  const result = await app.mutation(mutation, variables).toPromise();
  if (result.error) throw result.error;
  return Object.values(result.data)[0];
}
async function screen(step, client, query, variables = {}, extra = {}) {
  const cached = client.readQuery(query, variables, { requestPolicy: 'cache-only' })?.data ?? null;
  emit(step, { cached, fresh: await run(plain, query, variables), ...extra });
}

// The inbox first: later mutations announce events that land in it.
const inbox = await run(app, INBOX);
await screen('inbox', app, INBOX);
await mutate(
  gql`mutation MarkRead($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) {
    notifications { id kind title read } unreadCount errors { code } } }`,
  { input: { ids: [inbox.notifications.edges[0].node.id] } },
);
await screen('markNotificationsRead', app, INBOX);

await run(app, SURVEYS);
await screen('surveys', app, SURVEYS);
const before = createAnxinUrql({ graphqlUrl: plan.graphqlUrl, session: plan.customer, live });
await run(before, SURVEYS_KEYED_BY_LOCAL_ID);
await screen('surveys.keyedByLocalId', before, SURVEYS_KEYED_BY_LOCAL_ID);
await mutate(
  gql`mutation Answer($input: SubmitSurveyInput!) { submitSurvey(input: $input) {
    accepted survey { id title answered questions { key kind text required options { key text } } }
    errors { code } } }`,
  { input: { surveyId: plan.claimSurveyId, channel: 'APP', answers: plan.answers } },
);
const cachedSurveys = app.readQuery(SURVEYS, {}, { requestPolicy: 'cache-only' }).data.mySurveys;
emit('submitSurvey', {
  cached: cachedSurveys.find((survey) => survey.id === plan.claimSurveyId),
  fresh: (await run(plain, SURVEY, { id: plan.claimSurveyId })).node,
});

await run(app, POLICIES);
await screen('policies', app, POLICIES);
const created = await mutate(
  gql`mutation Pay($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
    order { id status installment { ${INSTALLMENT} } } errors { code } } }`,
  { input: { installmentId: plan.installmentId, method: 'SANDBOX', idempotencyKey: plan.paymentKey } },
);
await mutate(
  gql`mutation Complete($id: ID!) { completeSandboxPayment(input: {orderId: $id}) {
    order { id status installment { ${INSTALLMENT} }
      policy { id number status installments { ${INSTALLMENT} } nextPremiumDue { ${INSTALLMENT} } } }
    errors { code } } }`,
  { id: created.order.id },
);
await screen('completeSandboxPayment', app, POLICIES);

process.exit(0);
