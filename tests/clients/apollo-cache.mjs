// Apollo Client's normalized InMemoryCache against the gateway, through the README's
// client (anxin-apollo.mjs): the main screens' queries, then every mutation that changes
// what they show. After each step it reports what the cache holds (`cached`) beside what a
// fresh network request answers (`fresh`, fetchPolicy "no-cache": not through the cache),
// one JSON line per step, for tests/api/test_apollo_client.py to compare.
import { readFile } from 'node:fs/promises';
import { parse, visit } from 'graphql';
import WebSocket from 'ws';
import { createAnxinClient } from './anxin-apollo.mjs';

const plan = JSON.parse(process.env.ANXIN_PLAN);
const emit = (step, fields) => process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
setTimeout(() => {
  emit('timeout', {});
  process.exit(2);
}, 90_000).unref();

const client = (session) =>
  createAnxinClient({ graphqlUrl: plan.graphqlUrl, session, live: { webSocketImpl: WebSocket } });
const app = client(plan.customer); // the policyholder's app
const staff = client(plan.supervisor); // a supervisor's console

// ------------------------------------------------------------------ what the screens show

const FIELDS = parse(`
  fragment Installment on PremiumInstallment {
    id sequence dueDate status paidAt amount { amount currency }
  }
  fragment PolicyCard on Policy {
    id number status myRoles daysToExpiry renewable startsAt endsAt
    product { id name kind coolingOffDays }
    sumInsured { amount currency }
    coverages { id name sumInsured { amount } deductible { amount } remainingAmount { amount } }
    insuredPersons { id name idNumber relationToHolder }
    beneficiaries { id name sharePercent }
    installments { ...Installment }
    nextPremiumDue { ...Installment }
  }
  fragment Refund on PaymentRefund { id refundNumber status reason amount { amount } }
  fragment Order on PaymentOrder {
    id orderNumber status method paidAt policyNumber amount { amount currency }
    installment { ...Installment }
    refunds { ...Refund }
  }
  fragment ClaimScreen on Claim {
    id reportNumber status statusName version myRoles lossType missingDocuments
    policy { id number }
    insuredPerson { id name }
    timeline { action actorKind fromStatus toStatus note at }
    checklist { code name required }
    documents { id checklistCode fileName contentType size width height }
    payoutAccount { provider account }
  }
  fragment Entry on Notification { id kind title body deepLink read createdAt }
  fragment SurveyScreen on Survey {
    id title about answered expiresAt templateVersion
    questions { key kind text required options { key text } }
  }
  fragment Visit on MyVisit {
    id purpose channel dueAt policyNumber changeRequested preferredTime status customerNote
  }
  fragment Task on RecoveryTask { id customerName reason source dueAt overdue doneAt outcome }
`);
const FRAGMENTS = new Map(FIELDS.definitions.map((fragment) => [fragment.name.value, fragment]));

// A document with the fragments it uses (a fragment it does not use would be invalid).
function withFields([source]) {
  const document = parse(source);
  const used = new Map();
  const collect = (node) =>
    visit(node, {
      FragmentSpread({ name: { value } }) {
        if (!used.has(value)) {
          used.set(value, FRAGMENTS.get(value));
          collect(FRAGMENTS.get(value));
        }
      },
    });
  collect(document);
  return { ...document, definitions: [...document.definitions, ...used.values()] };
}

const POLICIES = withFields`query Policies {
  myPolicies(first: 20) { totalCount edges { node { ...PolicyCard } } } }`;
const POLICY = withFields`query Policy($id: ID!) { policy(id: $id) { ...PolicyCard } }`;
const PAYMENTS = withFields`query Payments {
  myPayments(first: 20) { totalCount edges { node { ...Order } } } }`;
const ORDER = withFields`query OrderScreen($id: ID!) { paymentOrder(id: $id) { ...Order } }`;
const CLAIM = withFields`query ClaimScreen($id: ID!) { claim(id: $id) { ...ClaimScreen } }`;
const MY_CLAIMS = withFields`query MyClaims { myClaims(first: 20) { edges { node { ...ClaimScreen } } } }`;
const INBOX = withFields`query Inbox {
  unreadNotificationCount notifications(first: 20) { totalCount edges { node { ...Entry } } } }`;
const SURVEYS = withFields`query Surveys { mySurveys { ...SurveyScreen } }`;
const VISITS = withFields`query Visits { myVisits { ...Visit } }`;
const TASKS = withFields`query Tasks { recoveryTasks(openOnly: false) { ...Task } }`;
// How the schema answered before issue 13: a question's key was its `id` (q1, q2, …).
const SURVEYS_KEYED_BY_LOCAL_ID = withFields`query SurveysAsBefore { mySurveys {
  id title questions { id: key kind text options { id: key text } } } }`;

// ------------------------------------------------------------------ comparisons

async function load(apollo, query, variables) {
  return (await apollo.query({ query, variables })).data; // cache-first: the screen opens
}

// The screen's query read from the cache, and the same query sent anew.
async function screen(step, apollo, query, variables, extra = {}) {
  const cached = apollo.readQuery({ query, variables });
  const { data: fresh } = await apollo.query({ query, variables, fetchPolicy: 'no-cache' });
  emit(step, { kind: 'screen', cached, fresh, ...extra });
}

// One object as the cache holds it (found by its key), and as node(id:) answers it now.
async function object(step, apollo, { __typename, id }, fragmentName, extra = {}) {
  const cached = apollo.readFragment({
    id: apollo.cache.identify({ __typename, id }),
    fragment: FIELDS,
    fragmentName,
  });
  const query = withFields([`query Fresh($id: ID!) { node(id: $id) { ...${fragmentName} } }`]);
  const { data } = await apollo.query({ query, variables: { id }, fetchPolicy: 'no-cache' });
  emit(step, { kind: 'object', typename: __typename, cached, fresh: data.node, ...extra });
}

async function mutate(apollo, mutation, variables) {
  const { data } = await apollo.mutate({ mutation, variables });
  const payload = Object.values(data)[0];
  if (payload.errors?.length) throw new Error(JSON.stringify(payload.errors));
  return payload;
}

// Every normalized object: its cache key and the __typename and id it was stored with.
function keys(apollo) {
  return Object.entries(apollo.cache.extract())
    .filter(([key]) => !key.startsWith('ROOT_'))
    .map(([key, value]) => ({ key, typename: value.__typename, id: value.id }));
}

// ------------------------------------------------------------------ the journey

// Inbox: read one entry.
const inbox = await load(app, INBOX);
await screen('inbox', app, INBOX);
const first = inbox.notifications.edges[0].node;
const marked = await mutate(
  app,
  withFields`mutation MarkRead($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) {
    notifications { ...Entry } unreadCount errors { code } } }`,
  { input: { ids: [first.id] } },
);
await screen('markNotificationsRead', app, INBOX, undefined, { unreadCount: marked.unreadCount });
await object('markNotificationsRead.entry', app, first, 'Entry');

// Policies, then pay the next premium: the installment shows PAID from the answer alone.
await load(app, POLICIES);
await screen('policies', app, POLICIES);
const created = await mutate(
  app,
  withFields`mutation Pay($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
    order { ...Order } replacedOrder { ...Order } errors { code } } }`,
  { input: { installmentId: plan.installmentId, method: 'SANDBOX', idempotencyKey: plan.paymentKey } },
);
const paid = await mutate(
  app,
  withFields`mutation Complete($id: ID!) { completeSandboxPayment(input: {orderId: $id}) {
    order { ...Order policy { ...PolicyCard } } errors { code } } }`,
  { id: created.order.id },
);
const installment = app.readFragment({
  id: app.cache.identify({ __typename: 'PremiumInstallment', id: plan.installmentId }),
  fragment: FIELDS,
  fragmentName: 'Installment',
});
await screen('completeSandboxPayment', app, POLICIES, undefined, { installment });
await object('completeSandboxPayment.order', app, paid.order, 'Order');
await load(app, PAYMENTS);
await screen('payments', app, PAYMENTS);

// Surveys: the claim survey and the yearly one, each with its own questions.
await load(app, SURVEYS);
await screen('surveys', app, SURVEYS);
const before = client(plan.customer);
await load(before, SURVEYS_KEYED_BY_LOCAL_ID);
await screen('surveys.keyedByLocalId', before, SURVEYS_KEYED_BY_LOCAL_ID);
const submitted = await mutate(
  app,
  withFields`mutation Answer($input: SubmitSurveyInput!) { submitSurvey(input: $input) {
    accepted survey { ...SurveyScreen } errors { code } } }`,
  { input: { surveyId: plan.claimSurveyId, channel: 'APP', answers: plan.answers } },
);
await object('submitSurvey', app, submitted.survey, 'SurveyScreen');

// Follow-up visit: ask for another time, then decline.
await load(app, VISITS);
await screen('visits', app, VISITS);
const visitChange = withFields`mutation Later($input: RequestVisitChangeInput!) {
  requestVisitChange(input: $input) { changed visit { ...Visit } errors { code } } }`;
await mutate(app, visitChange, {
  input: { visitId: plan.visitId, preferredTime: plan.preferredTime, note: '晚上方便' },
});
await screen('requestVisitChange', app, VISITS);
const declined = await mutate(
  app,
  withFields`mutation Decline($input: DeclineVisitInput!) {
    declineVisit(input: $input) { changed visit { ...Visit } errors { code } } }`,
  { input: { visitId: plan.visitId, note: '不需要了' } },
);
await object('declineVisit', app, declined.visit, 'Visit');

// A claim: report it, open it, add a photo (a multipart request), follow it live.
const reported = await mutate(
  app,
  withFields`mutation Report($input: ReportLossInput!) { reportLoss(input: $input) {
    claim { ...ClaimScreen } errors { code } } }`,
  { input: plan.loss },
);
const claimId = reported.claim.id;
await load(app, CLAIM, { id: claimId });
await load(app, MY_CLAIMS);
const photo = new File([await readFile(plan.photo)], '现场照片.jpg', { type: 'image/jpeg' });
await mutate(
  app,
  withFields`mutation Upload($input: UploadClaimDocumentsInput!) { uploadClaimDocuments(input: $input) {
    claim { ...ClaimScreen } errors { code } } }`,
  { input: { claimId, files: [{ checklistCode: 'D01', file: photo }] } },
);
await screen('uploadClaimDocuments', app, CLAIM, { id: claimId });
await screen('myClaims', app, MY_CLAIMS);
const live = await new Promise((resolve, reject) => {
  const subscription = app
    .subscribe({
      query: withFields`subscription Live($id: ID!) { claimUpdated(claimId: $id) {
        id status version missingDocuments } }`,
      variables: { id: claimId },
    })
    .subscribe({
      next: (result) => {
        subscription.unsubscribe();
        resolve(result.data.claimUpdated);
      },
      error: reject,
    });
});
emit('claimUpdated', { live, cached: app.readQuery({ query: CLAIM, variables: { id: claimId } }) });

// Staff make the policyholder the payee; the policyholder then chooses the account.
const staffClaim = await load(staff, CLAIM, { id: claimId });
await mutate(
  staff,
  withFields`mutation Payee($input: ChangeClaimPayeeInput!) { changeClaimPayee(input: $input) {
    claim { ...ClaimScreen } errors { code } } }`,
  {
    input: {
      claimId,
      expectedVersion: staffClaim.claim.version,
      payTo: 'POLICYHOLDER',
      reason: '被保险人委托投保人代为领取，经电话确认',
    },
  },
);
await screen('changeClaimPayee', staff, CLAIM, { id: claimId });
await mutate(
  app,
  withFields`mutation Account($input: ChooseClaimPayoutAccountInput!) {
    chooseClaimPayoutAccount(input: $input) { claim { ...ClaimScreen } errors { code } } }`,
  { input: { claimId, provider: 'SANDBOX', account: '13912345678' } },
);
await screen('chooseClaimPayoutAccount', app, CLAIM, { id: claimId });
await screen('chooseClaimPayoutAccount.myClaims', app, MY_CLAIMS);

// Staff: a recovery call, then a cancellation within the cooling-off period.
await load(staff, TASKS);
await screen('recoveryTasks', staff, TASKS);
await mutate(
  staff,
  withFields`mutation Done($input: CompleteRecoveryTaskInput!) {
    completeRecoveryTask(input: $input) { completed task { ...Task } errors { code } } }`,
  { input: { taskId: plan.taskId, outcome: '已致电致歉，客户接受' } },
);
await screen('completeRecoveryTask', staff, TASKS);
await load(staff, POLICY, { id: plan.paidPolicyId });
await load(staff, ORDER, { id: paid.order.id });
await mutate(
  staff,
  withFields`mutation Cancel($input: CancelPolicyInCoolingOffInput!) {
    cancelPolicyInCoolingOff(input: $input) {
      cancelled policy { ...PolicyCard } orders { ...Order } refunds { ...Refund } errors { code } } }`,
  { input: { policyId: plan.paidPolicyId, idempotencyKey: plan.cancelKey } },
);
await screen('cancelPolicyInCoolingOff', staff, POLICY, { id: plan.paidPolicyId });
await screen('cancelPolicyInCoolingOff.order', staff, ORDER, { id: paid.order.id });

emit('keys', { app: keys(app), before: keys(before), staff: keys(staff) });
for (const apollo of [app, before, staff]) apollo.stop();
process.exit(0);
