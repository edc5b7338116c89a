// GraphiQL for anxin, served from this gateway only (no CDN), with example operations.
(function () {
  const url = window.location.origin + window.location.pathname;
  const wsUrl = url.replace(/^http/, "ws");
  const token = "<paste the accessToken from loginWithCode, or run: anxin token --phone 13800000001>";
  const authHeaders = JSON.stringify({ Authorization: "Bearer " + token }, null, 2);

  const tabs = [
    {
      query: `# 1. Customer login by SMS code (in development the code is printed on the
#    server console). Run requestLoginCode, then loginWithCode with the code.
mutation RequestCode {
  requestLoginCode(input: { phone: "13800000001" }) {
    phone
    resendAfterSeconds
    errors { field message code }
  }
}

mutation Login {
  loginWithCode(input: { phone: "13800000001", code: "000000" }) {
    session { accessToken refreshToken accessTokenExpiresAt viewer { customer { name phone } } }
    errors { field message code }
  }
}
`,
    },
    {
      query: `# 2. My policies (保单查询). Put a token in the Headers tab below.
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
      headers: authHeaders,
    },
    {
      query: `# 3. Staff: log in (demo password in the README), then search policies by
#    number, holder phone or ID number. Use the staff accessToken in Headers.
mutation StaffLogin {
  staffLogin(input: { username: "agent.li", password: "anxin-demo-2026" }) {
    session { accessToken viewer { staffMember { displayName role } permissions } }
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
      headers: authHeaders,
    },
    {
      query: `# 4. Pay a premium with the sandbox provider (development): take an unpaid
#    installment's id from MyPolicies (nextPremiumDue { id }), start the payment,
#    then let the sandbox report it paid through the real callback path.
mutation Pay($installmentId: ID!) {
  createPremiumPayment(input: { installmentId: $installmentId, method: SANDBOX,
                                idempotencyKey: "pay-demo-0001" }) {
    order { id orderNumber status amount { amount } }
    errors { field message code }
  }
}

mutation Complete($orderId: ID!) {
  completeSandboxPayment(input: { orderId: $orderId }) {
    order { status paidAt }
    errors { code }
  }
}
`,
      variables: JSON.stringify({ installmentId: "<installment id>", orderId: "<order id>" }, null, 2),
      headers: authHeaders,
    },
    {
      query: `# 5. Report a loss (报案) and follow the claim.
query MyClaims {
  myClaims(first: 10) {
    edges { node { reportNumber statusName missingDocuments
      timeline { toStatus note at }
      documents { checklistCode thumbnailUrl } } }
  }
}
`,
      headers: authHeaders,
    },
    {
      query: `# 6. Staff: service quality (log in as supervisor.zhao, or run
#    anxin token --staff supervisor.zhao). Figures with the counts behind them,
#    the recovery queue and the follow-up visit list (定期回访).
query ServiceQuality {
  surveyFigures(groupBy: WEEK, firstDay: "2026-01-01", lastDay: "2030-12-31") {
    key responses invitations responseRate csat averageRating nps npsAnswers
  }
  recoveryTasks { customerName reason dueAt overdue }
  followUpVisits(filter: { status: SCHEDULED }) {
    totalCount
    edges { node { id version purpose channel dueAt overdue customerName customerPhone
      attempts maxAttempts changeRequested preferredTime customerNote assigneeName } }
  }
  visitRules { trigger version enabled channel days everyMonths maxAttempts }
}

mutation NotReached {
  recordVisitOutcome(input: { visitId: "<id from the list>", expectedVersion: 1,
      reached: false, note: "无人接听" }) {
    visit { status attempts dueAt }
    errors { field message code }
  }
}
`,
      headers: authHeaders,
    },
  ];

  const fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: wsUrl });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: tabs,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
      plugins: [explorer],
    }),
  );
})();
