// GraphiQL for anxin, served from this gateway only (no CDN), with example operations.
// One token serves every tab (anxin-session.js): a login in any tab is remembered, or
// paste one from `anxin token` with the key button in the toolbar.
(function () {
  const url = window.location.origin + window.location.pathname;
  const wsUrl = url.replace(/^http/, "ws");
  const session = AnxinSession.store(window.sessionStorage);
  // GraphiQL keeps its tabs (queries, variables) in this browser tab's session only, so
  // a new browser tab starts from these examples with new idempotency keys; running a
  // tab again in the same session is a retry (same answer).
  const run = Date.now().toString(36);
  const hoursAgo = (hours) => new Date(Date.now() - hours * 3600 * 1000).toISOString();
  const json = (value) => JSON.stringify(value, null, 2);

  const tabs = [
    {
      query: `# 1. 登录 Customer login by SMS code. In development the code is printed on the
#    server console ([anxin dev sms] … 登录验证码 482913). Run RequestCode, put the
#    code in Variables, run Login: every tab then sends its token (the key button
#    in the toolbar shows, replaces or clears it).
mutation RequestCode($phone: String!) {
  requestLoginCode(input: { phone: $phone }) {
    phone
    resendAfterSeconds
    errors { field message code }
  }
}

mutation Login($phone: String!, $code: String!) {
  loginWithCode(input: { phone: $phone, code: $code }) {
    session { accessToken refreshToken accessTokenExpiresAt viewer { customer { name phone } } }
    errors { field message code }
  }
}
`,
      variables: json({ phone: "13800000001", code: "the 6 digits printed on the server console" }),
    },
    {
      query: `# 2. 保单查询 My policies (customer token: log in in tab 1).
query MyPolicies {
  myPolicies(first: 10, filter: { status: ACTIVE }) {
    totalCount
    edges {
      node {
        id
        number
        status
        myRoles
        product { name kind }
        startsAt
        endsAt
        daysToExpiry
        renewable
        sumInsured { amount currency }
        coverages { name sumInsured { amount } remainingAmount { amount } }
        insuredPersons { name idNumber relationToHolder }
        beneficiaries { name sharePercent }
        nextPremiumDue { id dueDate amount { amount } status }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`,
    },
    {
      query: `# 3. 报案 Report a loss (customer token). Run AutoPolicies, put an auto policy's id
#    in Variables, try ReportLoss with dryRun true (checks only), then false; follow
#    the claim in MyClaims.
query AutoPolicies {
  myPolicies(first: 5, filter: { status: ACTIVE, productKind: AUTO }) {
    edges { node { id number product { name lossTypes { code name } } } }
  }
}

mutation ReportLoss($policyId: ID!, $lossAt: DateTime!, $dryRun: Boolean!) {
  reportLoss(input: {
    policyId: $policyId, lossType: "COLLISION", lossAt: $lossAt,
    location: "上海市浦东新区世纪大道100号", description: "倒车时与路边石墩碰撞，后保险杠受损",
    channel: APP, contactName: "张伟", contactPhone: "13800000001", dryRun: $dryRun
  }) {
    claim { id reportNumber status statusName }
    warnings
    checklist { code name required }
    confirmation
    nextSteps
    errors { field message code }
  }
}

query MyClaims {
  myClaims(first: 10) {
    edges { node { id reportNumber statusName missingDocuments
      timeline { toStatus note at }
      documents { checklistCode thumbnailUrl } } }
  }
}
`,
      variables: json({ policyId: "<an id from AutoPolicies>", lossAt: hoursAgo(3), dryRun: true }),
    },
    {
      query: `# 4. 缴费 Pay a premium with the sandbox provider (customer token): take an
#    unpaid installment's id from MyPolicies (nextPremiumDue { id }), start the
#    payment, then let the sandbox report it paid through the real callback path.
#    The idempotency key is new in each browser tab; running Pay again is a retry.
#    Complete answers the order with its installment (now PAID) and policy: a
#    client cache updates from the answer, no refetch.
mutation Pay($installmentId: ID!, $key: String!) {
  createPremiumPayment(input: { installmentId: $installmentId, method: SANDBOX,
                                idempotencyKey: $key }) {
    order { id orderNumber status method amount { amount } }
    replacedOrder { id status }
    errors { field message code }
  }
}

mutation Complete($orderId: ID!) {
  completeSandboxPayment(input: { orderId: $orderId }) {
    order { id status paidAt
      installment { id status paidAt }
      policy { id status nextPremiumDue { id dueDate amount { amount } } } }
    errors { code }
  }
}
`,
      variables: json({ installmentId: "<installment id>", orderId: "<order id>", key: "pay-" + run }),
    },
    {
      query: `# 5. 实时 Live updates over WebSocket (customer token): run MyInbox and keep it
#    open; act in another tab (pay, report, ...) and watch messages arrive.
#    ClaimLive follows one claim (its id from MyClaims in tab 3).
subscription MyInbox {
  myNotifications { kind title body urgent createdAt }
}

subscription ClaimLive($claimId: ID!) {
  claimUpdated(claimId: $claimId) { reportNumber status statusName timeline { note at } }
}
`,
      variables: json({ claimId: "<a claim id from MyClaims>" }),
    },
    {
      query: `# 6. Staff: log in (demo password in the README); the staff token then replaces
#    the customer's in every tab (or use the key button with
#    anxin token --staff agent.li). Search policies by number, phone or ID number.
mutation StaffLogin {
  staffLogin(input: { username: "agent.li", password: "anxin-demo-2026" }) {
    session { accessToken viewer { staffMember { displayName role team } permissions } }
    errors { field message code }
  }
}

query Search {
  searchPolicies(input: { holderPhone: "13800000001" }, first: 20) {
    totalCount
    edges { node { number status product { name } holder { name phone idNumber } } }
  }
}
`,
    },
    {
      query: `# 7. Staff: service quality, with a supervisor's token (StaffLogin in tab 6 as
#    supervisor.zhao, or anxin token --staff supervisor.zhao with the key button).
#    Figures with the counts behind them, the recovery queue, the follow-up visit
#    list (定期回访) and the colleagues to assign work to.
query ServiceQuality {
  surveyFigures(groupBy: WEEK, firstDay: "2026-01-01", lastDay: "2030-12-31") {
    key responses invitations responseRate csat averageRating nps npsAnswers
  }
  recoveryTasks { id customerName reason dueAt overdue }
  followUpVisits(filter: { status: [SCHEDULED], channel: [PHONE] }) {
    totalCount
    edges { node { id version purpose channel dueAt overdue customerName customerPhone
      attempts maxAttempts changeRequested preferredTime customerNote assigneeName } }
  }
  visitRules { trigger version enabled channel days everyMonths maxAttempts }
  staffMembers(filter: { roles: [AGENT, ADJUSTER] }) {
    edges { node { id displayName role team } }
  }
}

mutation NotReached($visitId: ID!) {
  recordVisitOutcome(input: { visitId: $visitId, expectedVersion: 1,
      reached: false, note: "无人接听" }) {
    visit { id version status attempts dueAt }
    errors { field message code }
  }
}
`,
      variables: json({ visitId: "<an id from the visit list>" }),
    },
    {
      query: `# 8. 投诉 File a complaint (customer token: log in in tab 1). FileComplaint
#    answers at once with its number, proposed class and clocks (answer due in 15
#    days); put its id in Variables and keep ComplaintLive open while staff act in
#    tab 9; accept the answer, or ask for a review once.
mutation FileComplaint {
  fileComplaint(input: { channel: APP, text: "理赔报案两周了一直没人联系我，审核太慢" }) {
    changed
    complaint { id number version status statusName contentClassName urgency
      firstResponseDueAt answerDueAt timeline { action note at } }
    errors { field message code }
  }
}

query MyComplaints {
  myComplaints { id number statusName answer answerDueAt timeline { action note at } }
}

subscription ComplaintLive($complaintId: ID!) {
  complaintUpdated(complaintId: $complaintId) { number status statusName answer }
}

mutation AcceptAnswer($complaintId: ID!, $version: Int!) {
  acceptComplaintAnswer(input: { complaintId: $complaintId, expectedVersion: $version }) {
    complaint { id version status statusName }
    errors { field message code }
  }
}
`,
      variables: json({ complaintId: "<an id from FileComplaint>", version: 1 }),
    },
    {
      query: `# 9. Staff: complaints, with agent.li's token (StaffLogin in tab 6) or
#    supervisor.zhao's for the figures and the work calendar. QueueLive shows every
#    change of the queue as it happens (any API process).
query ComplaintQueue {
  complaintQueue(filter: { status: [RECEIVED, ASSIGNED, IN_PROGRESS] }, first: 20) {
    edges { node { id number version statusName contentClassName urgency overdue
      firstResponseDueAt answerDueAt handledByMe proposedClass text } }
  }
}

subscription QueueLive {
  complaintQueueChanged { eventType number status urgency handlerId }
}

mutation Assign($complaintId: ID!, $version: Int!) {
  assignComplaint(input: { complaintId: $complaintId, expectedVersion: $version }) {
    complaint { id version statusName hasHandler }
    errors { field message code }
  }
}

query Figures {
  complaintFigures(period: WEEK, from: "2026-11-01", to: "2026-12-31") {
    firstDay received byClass { name count ratePercent }
    firstResponse { count medianHours p90Hours } answerLate { count total ratePercent }
    reopened { count total ratePercent } satisfied { count total ratePercent }
    proposalsAccepted { count total ratePercent }
  }
  workCalendar(from: "2026-09-20", to: "2026-10-10") { day kind name }
}
`,
      variables: json({ complaintId: "<an id from ComplaintQueue>", version: 1 }),
    },
    {
      query: `# 10. 在线客服 Ask the service assistant (customer token: log in in tab 1).
#    Ask answers from the knowledge base or from your own policies and claims, with
#    what it is based on and buttons to offer; "转人工" hands the conversation to an
#    agent. Keep ConversationLive open to see the agent's answers as they come.
mutation Ask {
  startConversation(input: { channel: APP, text: "我的理赔到哪一步了？" }) {
    conversation { id status queuePosition expectedWaitMinutes }
    reply { text intent confidence handoff answerId
      citations { kind recordId title } actions { kind label targetId } }
    notice { text }
    errors { field message code }
  }
}

mutation AskAgain($conversationId: ID!) {
  sendMessage(input: { conversationId: $conversationId, text: "犹豫期内退保能退多少钱" }) {
    reply { text intent confidence handoff answerId citations { kind title } }
    conversation { id status queuePosition }
    errors { field message code }
  }
}

subscription ConversationLive($conversationId: ID!) {
  conversationUpdated(conversationId: $conversationId) {
    conversation { status agentName queuePosition }
    messages { seq author text }
  }
}

mutation ThumbsUp($answerId: ID!) {
  rateAssistantAnswer(input: { answerId: $answerId, helpful: true }) {
    changed
    errors { field message code }
  }
}
`,
      variables: json({
        conversationId: "<an id from Ask>",
        answerId: "<a reply's answerId>",
      }),
    },
    {
      query: `# 11. 定制化服务 My service plan (customer token: log in in tab 1). Questionnaire
#    shows the questions the app renders; SubmitAnswers makes a plan: gaps in cover
#    from my in-force policies with the rule, reason and facts behind each, products
#    sold online that close them, service suggestions. Interested asks an agent to
#    follow up (a NEW_POLICY_INTEREST visit on the staff visit list, tab 7).
query Questionnaire {
  serviceQuestionnaire { version questions { key text hint kind min max maxItems options { key text } } }
}

mutation SubmitAnswers($key: String!) {
  submitServiceQuestionnaire(input: {
    idempotencyKey: $key, hasSpouse: true, childrenAges: [11], parentsOver60: 1,
    incomeBand: FROM_100K_TO_300K, hasSocialMedicalInsurance: true, ownsCar: true,
    travelsAbroad: true, riskAttitude: BALANCED
  }) {
    plan { id ruleVersion
      existingCover { policyNumber productName kind role covers endsOn }
      gaps { code priority reason facts { label value } products { id name } }
      suggestedProducts { product { id name } gapCodes interested }
      serviceSuggestions { title text } }
    errors { field message code }
  }
}

query MyPlan {
  myServicePlan { id createdAt gaps { code reason } suggestedProducts { product { id name } interested } }
}

mutation Interested($planId: ID!, $productId: ID!) {
  markServicePlanInterest(input: { planId: $planId, productId: $productId }) {
    plan { id suggestedProducts { product { name } interested } }
    visit { id purpose dueAt }
    errors { field message code }
  }
}
`,
      variables: json({
        key: "plan-" + run,
        planId: "<an id from SubmitAnswers or MyPlan>",
        productId: "<a suggested product's id>",
      }),
    },
    {
      query: `# 12. 保全 Change a policy (customer token: log in in tab 1 as 13800000001).
#    MyChanges lists each policy's endorsements (批单). ChangeBeneficiaries names new
#    beneficiaries (shares sum to 100); on 李娜's policy 张伟 is the insured and must
#    consent (Consent). SurrenderQuote shows a surrender value first; Surrender
#    confirms that amount and the account. ChangeSumInsured raises (reviewed, then its
#    premiumDue paid) or lowers (refunded) the sum from the next day, within the
#    product's limits; RemoveMember takes a family member off a health policy (refunded).
#    Staff review: EndorsementReviewQueue with a supervisor's token (tab 6), then
#    ApproveChange.
query MyChanges {
  myPolicies(first: 20) { edges { node { id number status product { name }
    endorsements(first: 5) { edges { node { id number type status statusName
      consentRequired timeline { action note } } } } } } }
}

mutation ChangeBeneficiaries($policyId: ID!, $key: String!) {
  requestPolicyChange(input: { policyId: $policyId, idempotencyKey: $key,
    beneficiaries: { beneficiaries: [
      { name: "李娜", idNumber: "110105198706210484", relationToInsured: "SPOUSE", sharePercent: "100.00" }
    ] } }) {
    endorsement { number status statusName beneficiariesBefore { name sharePercent }
      beneficiariesAfter { name idNumber sharePercent } timeline { action note } }
    policy { beneficiaries { name sharePercent } }
    errors { field message code }
  }
}

mutation Consent($endorsementId: ID!) {
  consentToPolicyChange(input: { endorsementId: $endorsementId, agree: true }) {
    endorsement { status consentedAt } errors { field message code }
  }
}

query SurrenderQuote($policyId: ID!) {
  surrenderQuote(policyId: $policyId) {
    quote { amount { amount } premiumPaid { amount } policyYear percent }
    errors { code message }
  }
}

mutation Surrender($policyId: ID!, $amount: Amount!, $key: String!) {
  requestPolicyChange(input: { policyId: $policyId, idempotencyKey: $key,
    surrender: { confirmedAmount: $amount, provider: SANDBOX, account: "2088000000000001" } }) {
    endorsement { number status surrender { amount { amount } account } }
    policy { status }
    errors { field message code }
  }
}

mutation ChangeSumInsured($policyId: ID!, $key: String!) {
  requestPolicyChange(input: { policyId: $policyId, idempotencyKey: $key,
    sumInsured: { sumInsured: "4000000.00" } }) {
    endorsement { number status statusName effectiveDate
      sumInsured { sumInsuredBefore { amount } sumInsuredAfter { amount }
        difference { amount } effectiveDate coverages { name before { amount } after { amount } } }
      timeline { action note } }
    errors { field message code }
  }
}

mutation RemoveMember($policyId: ID!, $insuredPersonId: ID!, $key: String!) {
  requestPolicyChange(input: { policyId: $policyId, idempotencyKey: $key,
    memberRemoval: { insuredPersonId: $insuredPersonId } }) {
    endorsement { number status effectiveDate
      removedMember { name refund { amount } effectiveDate refunds } }
    policy { insuredPersons { id name coveredUntil } }
    errors { field message code }
  }
}

query EndorsementReviewQueue {
  endorsementReviewQueue(first: 20) { edges { node { id number version type typeName
    reinstatement { total { amount } healthySinceLapse notes }
    sumInsured { sumInsuredBefore { amount } sumInsuredAfter { amount } difference { amount } }
    beneficiariesAfter { name sharePercent } policy { number } } } }
}

mutation ApproveChange($endorsementId: ID!, $version: Int!) {
  approvePolicyChange(input: { endorsementId: $endorsementId, expectedVersion: $version,
    reason: "已核验被保险人书面同意及健康告知" }) {
    endorsement { status premiumDue { id amount { amount } } } errors { field message code }
  }
}
`,
      variables: json({
        policyId: "<a policy id from MyChanges>",
        endorsementId: "<an id from MyChanges or EndorsementReviewQueue>",
        insuredPersonId: "<a family member's id from RemoveMember's policy.insuredPersons>",
        version: 2,
        amount: "<the amount SurrenderQuote shows>",
        key: "change-" + run,
      }),
    },
    {
      query: `# 13. 在线投保与续保 Buy online and renew (customer token: log in in tab 1).
#    OnlineProducts lists the quote forms; Quote prices every plan (and says why a
#    plan is not offered); Apply underwrites: ACCEPTED (pay installmentToPay with
#    PayFirstPremium, then CompleteSandbox: the policy is issued), REFERRED (an
#    underwriter decides in tab 14) or DECLINED. RenewalOffer/Renew: one tap.
query OnlineProducts {
  onlineProducts {
    product { id code name kind }
    plans { code name sumInsured { amount } minAge maxAge termDays
      coverages { code name sumInsured { amount } } }
    occupationClasses
    destinations { key label }
    healthQuestions { key text }
  }
}

query Quote($productId: ID!, $startDate: Date!) {
  quote(input: { productId: $productId, startDate: $startDate, occupationClass: 2,
    birthDate: "1985-03-12" }) {
    age
    plans { plan { code name } available premium { amount } reasons }
    errors { field message code }
  }
}

mutation Apply($productId: ID!, $startDate: Date!, $key: String!) {
  applyForPolicy(input: {
    productId: $productId, planCode: "BASIC", startDate: $startDate, occupationClass: 1,
    healthAnswers: [{ key: "HOSPITAL", answer: false }, { key: "CANCER", answer: false },
      { key: "DISABILITY", answer: false }],
    idempotencyKey: $key
  }) {
    application { id number status premium { amount } pricing decisionReason payBy
      installmentToPay { id amount { amount } } }
    errors { field message code }
  }
}

mutation PayFirstPremium($installmentId: ID!, $payKey: String!) {
  createPremiumPayment(input: { installmentId: $installmentId, method: SANDBOX,
    idempotencyKey: $payKey }) {
    order { id orderNumber amount { amount } }
    errors { field message code }
  }
}

mutation CompleteSandbox($orderId: ID!) {
  completeSandboxPayment(input: { orderId: $orderId }) {
    order { status paidAt policyNumber }
    errors { code }
  }
}

query MyApplications {
  myApplications(first: 10) {
    edges { node { number kind status planName premium { amount } decisionReason
      policy { number status startsAt } } }
  }
}

query RenewalOffer($policyId: ID!) {
  renewalOffer(policyId: $policyId) {
    available unavailableReason startsAt endsAt premium { amount } reRated changes
    application { id status installmentToPay { id } }
  }
}

mutation Renew($policyId: ID!, $premium: Amount!, $renewKey: String!) {
  renewPolicy(input: { policyId: $policyId, premium: $premium, idempotencyKey: $renewKey }) {
    application { id number status premium { amount } changes installmentToPay { id } }
    errors { field message code }
  }
}
`,
      variables: json({
        productId: "<an id from OnlineProducts>",
        startDate: new Date(Date.now() + 3 * 86400 * 1000).toISOString().slice(0, 10),
        key: "apply-" + run,
        installmentId: "<installmentToPay.id from Apply>",
        payKey: "pay-" + run,
        orderId: "<order.id from PayFirstPremium>",
        policyId: "<a policy id from tab 2 or MyApplications>",
        premium: "<premium.amount from RenewalOffer>",
        renewKey: "renew-" + run,
      }),
    },
    {
      query: `# 14. Staff: underwriting (核保), with supervisor.zhao's token (StaffLogin in
#    tab 6): applications the rules referred, why, and one decision each.
query UnderwritingQueue {
  underwritingQueue(first: 20) {
    edges { node { id number kind planName insuredName insuredIdNumber premium { amount }
      underwritingNotes startsAt } }
  }
}

mutation Decide($applicationId: ID!) {
  decideApplication(input: { applicationId: $applicationId, decision: ACCEPT,
    reason: "住院原因为急性阑尾炎，已治愈，标准体承保" }) {
    application { id status decisionReason payBy }
    errors { field message code }
  }
}
`,
      variables: json({ applicationId: "<an id from UnderwritingQueue>" }),
    },
    {
      query: `# 15. 服务承诺 Service commitments. MyClaimPromises with a customer token (log in
#    in tab 1 as 13800000001): each claim's promises (承诺1个工作日内审核 — 已兑现/未兑现)
#    and its fast track. PromisesKept with a staff token of supervisor.zhao (StaffLogin
#    in tab 6): kept/broken per promise, per month and per handler.
query MyClaimPromises {
  myClaims(first: 10) {
    edges { node { id reportNumber fastTrack claimedAmount { amount }
      commitments { title status statusText deadline metAt } } }
  }
}

query PromisesKept($from: Date!, $to: Date!) {
  serviceCommitments(from: $from, to: $to, period: MONTH) {
    commitment { code title workingDays minutes goodwillPoints }
    total { kept broken pending keptRate }
    periods { start tally { kept broken pending keptRate } }
    handlers { handler { displayName } role tally { kept broken keptRate } }
  }
}
`,
      variables: json({ from: "2026-11-01", to: "2026-12-31" }),
    },
    {
      query: `# 16. 增值服务 Value-added services (customer token: log in in tab 1 as
#    13800000001). ValueAddedServices shows what I may book, why and the uses left this
#    year; BookService books one (APPOINTMENT services take a preferredAt time); a
#    roadside request (RoadsideHelp) is followed live by BookingLive; in development
#    AdvanceSandbox makes the sandbox partner report the next state (signed, as a real
#    partner's callback to /partners/{code}/notify). Rate a DONE booking with
#    rateService (subjectType: BOOKING).
query ValueAddedServices {
  valueAddedServices { entitled reason leftThisYear policyNumber
    service { id name kind bookingMethod partnerName yearlyQuota } }
}

mutation BookService($serviceId: ID!, $at: DateTime, $key: String) {
  bookService(input: { serviceId: $serviceId, preferredAt: $at, note: "上午更方便",
    idempotencyKey: $key }) {
    booking { id number state stateText entitlement preferredAt service { name } }
    errors { field message code retryAfterSeconds }
  }
}

mutation RoadsideHelp($policyId: ID!) {
  requestRoadsideAssistance(input: { policyId: $policyId, latitude: 39.990464,
    longitude: 116.480881, need: BATTERY, plateNumber: "京N8A123", address: "望京街" }) {
    booking { id number state requestedAt roadside { need address } }
    errors { field message code }
  }
}

subscription BookingLive($bookingId: ID!) {
  bookingUpdated(bookingId: $bookingId) { id state stateText etaAt arrivedAt finishedAt }
}

mutation AdvanceSandbox($bookingId: ID!) {
  advanceSandboxBooking(input: { bookingId: $bookingId, state: EN_ROUTE, etaMinutes: 15 }) {
    booking { id state etaAt } errors { code }
  }
}

query MyBookings {
  myBookings(first: 20) { totalCount edges { node { id number state stateText
    requestedAt arrivedAt rateable service { name } } } }
}
`,
      variables: json({
        serviceId: "<a service id from ValueAddedServices>",
        at: new Date(Date.now() + 3 * 86400e3).toISOString(),
        key: "book-" + run,
        policyId: "<my car policy's id (tab 2)>",
        bookingId: "<an id from MyBookings or RoadsideHelp>",
      }),
    },
    {
      query: `# 17. 缴费/领款账户与自动续保 Accounts on file and automatic renewal (customer
#    token: log in in tab 1 as 13800000001). AccountsOnFile shows each policy's
#    withholding agreement, payout account and auto-renewal (张伟's accident policy
#    bought online has all three). ChangeAccounts asks for an Alipay withholding
#    agreement (with Alipay configured: open paymentAccount.signUrl to sign; the change
#    takes effect when Alipay's signed notification arrives) and sets the payout account.
query AccountsOnFile {
  myPolicies(first: 20) { edges { node { id number product { name } endsAt
    accountOnFile { collection payout autoRenewal } } } }
}

mutation ChangeAccounts($policyId: ID!, $key: String!) {
  requestPolicyChange(input: { policyId: $policyId, idempotencyKey: $key,
    paymentAccount: { collection: ALIPAY, payout: { provider: BANK,
      bankCard: { holderName: "张伟", bankName: "招商银行", cardNumber: "6225880137700010" } } } }) {
    endorsement { number status paymentAccount { collectionBefore collectionAfter
      payoutBefore payoutAfter agreementStatus signUrl } timeline { action note } }
    errors { field message code }
  }
}

mutation AutoRenewal($policyId: ID!, $enabled: Boolean!) {
  setAutoRenewal(input: { policyId: $policyId, enabled: $enabled }) {
    policy { number accountOnFile { collection autoRenewal } }
    errors { field message code }
  }
}
`,
      variables: json({
        policyId: "<a policy id from AccountsOnFile>",
        key: "account-" + run,
        enabled: true,
      }),
    },
    {
      query: `# 18. 会员 My membership (customer token: log in in tab 1 as 13800000001, 张伟,
#    a gold member): tier, what the next tier misses, points and their history,
#    rewards left this year; redeem points; health tasks that earn points.
query MyMembership {
  myMembership {
    id tier tierName since pendingTier graceUntil pointsBalance
    progress { nextTierName missing { label required actual } }
    privileges { code name }
    allowances { name perYear }
    dedicatedAgent { name team }
    rewards { reward { id name pointsCost } usedThisYear remainingThisYear available }
    pointsHistory(first: 10) {
      totalCount
      edges { node { id points kind reason createdAt expiresOn } }
    }
  }
}

mutation RedeemPoints($rewardId: ID!, $redeemKey: String!) {
  redeemPoints(input: { rewardId: $rewardId, idempotencyKey: $redeemKey }) {
    redemption { id voucherCode points reward { name } }
    membership { id pointsBalance }
    errors { field message code }
  }
}

query HealthProgrammes {
  healthProgrammes {
    id name description
    tasks { id name period points valueLabel minValue maxValue doneThisPeriod }
  }
}

mutation CompleteHealthTask($taskId: ID!, $value: Int) {
  completeHealthTask(input: { taskId: $taskId, value: $value }) {
    completion { id periodKey value points }
    membership { id pointsBalance }
    errors { field message code }
  }
}
`,
      variables: json({
        rewardId: "<rewards.reward.id from MyMembership>",
        redeemKey: "redeem-" + run,
        taskId: "<a task id from HealthProgrammes>",
        value: 8800,
      }),
    },
    {
      query: `# 19. Staff: data security (数据安全) with the admin's token (StaffLogin in tab 6
#    as admin, or anxin token --staff admin): who read which full phone number or
#    document and why, reveal alerts, live staff sessions and revoke. With a customer
#    token (tab 1): marketing consent, download my data, the deletion rules.
query PiiAccessLog {
  piiAccessLog(first: 20) {
    totalCount
    edges { node { id staffId customerId subjectKind subjectId field purpose accessedAt } }
  }
  piiRevealAlerts(openOnly: true) {
    edges { node { id staffId windowStart revealCount threshold } }
  }
}

query ActiveStaffSessions {
  activeStaffSessions(first: 20) {
    edges { node { id username channel startedAt lastUsedAt } }
  }
}

mutation RevokeStaffSession($sessionId: ID!) {
  revokeStaffSession(input: { sessionId: $sessionId }) {
    session { id revokedAt revokedReason }
    errors { field message code }
  }
}

mutation SetMarketingConsent {
  setMarketingConsent(input: { given: false }) {
    consent { id given changedAt }
    errors { field message code }
  }
}

mutation RequestMyData {
  requestMyData(input: { includeDocuments: true }) {
    export { id status sizeBytes expiresAt url }
    errors { field message code retryAfterSeconds }
  }
}

query DataRetentionRules {
  dataRetentionRules {
    deleted { kind name how }
    kept { kind name reason retention }
    retention { kind name afterDays }
  }
}
`,
      variables: json({ sessionId: "<an id from ActiveStaffSessions>" }),
    },
    {
      query: `# 20. 服务团队 Staff: the service team (staff token: StaffLogin in tab 6 as
#    supervisor.zhao; as admin for CreateTeam and GrantCertificate). Teams with skills
#    and members; a member's open work with its clocks; their performance (only the
#    person, their supervisor and admin see it); the quality-review sample and a review;
#    certificates (deciding claims needs a valid claims-adjuster certificate in the demo).
query Teams {
  teams(first: 20) { edges { node { id name version supervisor { displayName }
    skills { kind kindName value } members { id displayName role } } } }
  certificateRequirements { permission kind }
}

query Workload($staffId: ID!) {
  staffWorkload(staffId: $staffId) { openItems overdueItems onLeave
    items { kind number status dueAt overdue } }
  staffLeaves(staffId: $staffId) { startsAt endsAt reason }
  staffCertificates(staffId: $staffId) { kindName number expiresOn valid daysLeft }
}

query Performance($staffId: ID!, $firstDay: Date!, $lastDay: Date!) {
  staffPerformance(staffId: $staffId, period: { firstDay: $firstDay, lastDay: $lastDay }) {
    staff { displayName }
    figures { handled claimsDecided claimMedianHours claimBreaches complaintsAnswered
      visitsDone ratings ratingAverage complaintRate reviews reviewAverage }
  }
}

query ReviewQueue {
  qualityReviewQueue(kind: CLAIM, first: 5) { subjectId number staffId closedAt
    checklist { key maxPoints } }
}

mutation SubmitReview($subjectId: ID!) {
  submitQualityReview(input: { subjectId: $subjectId, note: "流程规范", scores: [
    { key: "documents_checked", points: 30 }, { key: "decision_explained", points: 25 },
    { key: "within_clock", points: 20 }, { key: "courtesy", points: 20 } ] }) {
    review { id score items { key points maxPoints } } errors { field message code }
  }
}

mutation RecordLeave($staffId: ID!, $startsAt: DateTime!, $endsAt: DateTime!) {
  recordLeave(input: { staffId: $staffId, startsAt: $startsAt, endsAt: $endsAt, reason: "年假" }) {
    leave { id startsAt endsAt } errors { field message code }
  }
}

mutation ReassignInBulk($staffId: ID!) {
  reassignInBulk(input: { staffId: $staffId }) {
    moved { kind objectId toStaffId } left { kind objectId reason } errors { message code }
  }
}

mutation GrantCertificate($staffId: ID!, $expiresOn: Date!) {
  grantCertificate(input: { staffId: $staffId, kind: CLAIMS_ADJUSTER, expiresOn: $expiresOn }) {
    certificate { number kindName expiresOn valid } errors { field message code }
  }
}
`,
      variables: json({
        staffId: "<a member id from Teams, e.g. 孙丽>",
        firstDay: new Date(Date.now() - 30 * 86400e3).toISOString().slice(0, 10),
        lastDay: new Date().toISOString().slice(0, 10),
        subjectId: "<a subjectId from ReviewQueue>",
        startsAt: new Date(Date.now() + 14 * 86400e3).toISOString(),
        endsAt: new Date(Date.now() + 16 * 86400e3).toISOString(),
        expiresOn: new Date(Date.now() + 365 * 86400e3).toISOString().slice(0, 10),
      }),
    },
    {
      query: `# 21. 运营看板 Staff: the operations dashboard (supervisor or admin token: run
#    StaffLogin below as supervisor.zhao, password anxin-demo-2026; the page /console/
#    draws the same figures). Claims funnel per product kind and channel with cycle
#    times, regulatory clock breaches, payouts, premium collection, deliveries, CSAT/NPS,
#    complaints with root causes, conversations and open items per staff member.
mutation StaffLogin {
  staffLogin(input: { username: "supervisor.zhao", password: "anxin-demo-2026" }) {
    session { accessToken } errors { code message }
  }
}

query ServiceDashboard($from: Date!, $to: Date!) {
  serviceDashboard(period: MONTH, from: $from, to: $to) {
    errors { code field message }
    dashboard {
      periods overdueClaimsNow
      claimFunnel { period segment reported complete decided paid
        paidRatio { count total ratePercent } toDecision { medianHours p90Hours } }
      clockBreaches { period decision { count total } payment { count total } }
      payouts { period lossType count total { amount } average { amount } }
      premiumCollection { period due paidOnTime { ratePercent } overdue lapse { count total } }
      deliveries { period channel sent failed }
      surveys { period responses csat { ratePercent } nps }
      topRootCauses { name count total }
      workload { displayName team claims claimsOverdue complaints visits conversations }
    }
  }
}
`,
      variables: json({
        from: new Date(Date.now() - 90 * 86400e3).toISOString().slice(0, 10),
        to: new Date().toISOString().slice(0, 10),
      }),
    },
  ];

  // GraphiQL's toolkit sends an operation's headers over HTTP, and for a subscription
  // as the socket's connection_init payload: the shared token reaches both.
  // Plain JSON answers (no incremental delivery): the fetcher reads a login's token.
  const transport = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: wsUrl,
    enableIncrementalDelivery: false,
  });
  const fetcher = async (params, options) => {
    const headers = AnxinSession.withToken(options && options.headers, session.get());
    const result = await transport(params, Object.assign({}, options, { headers: headers }));
    const token = AnxinSession.tokenIn(result);
    if (token) session.set(token);
    return result;
  };

  const tokenButton = React.createElement(
    "button",
    {
      type: "button",
      className: "graphiql-un-styled graphiql-toolbar-button",
      title: "Access token for every tab (a login in any tab sets it)",
      "aria-label": "Access token",
      onClick: () => {
        const pasted = window.prompt(
          "Access token for every tab (from a login, or `anxin token --phone …`); empty clears it:",
          session.get(),
        );
        if (pasted === null) return;
        const token = AnxinSession.parsePasted(pasted);
        if (token === null) window.alert("That does not look like a token.");
        else session.set(token);
      },
    },
    "🔑",
  );

  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: tabs,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
      plugins: [explorer],
      storage: window.sessionStorage,
      toolbar: { additionalContent: tokenButton },
    }),
  );
})();
