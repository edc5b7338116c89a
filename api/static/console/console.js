// The operations dashboard: staff log in with staffLogin, then the page reads
// serviceDashboard from /graphql with the staff token and draws it with the vendored
// Apache ECharts. The token lives in this tab's sessionStorage only.
/* global echarts */
(function () {
  "use strict";
  const TOKEN_KEY = "anxin.console.token";
  const NAME_KEY = "anxin.console.name";
  const $ = (id) => document.getElementById(id);
  const charts = {};
  window.anxinCharts = charts; // for tests and the browser console: one instance per chart

  const LOGIN = `mutation ConsoleLogin($u: String!, $p: String!) {
    staffLogin(input: { username: $u, password: $p }) {
      session { accessToken } errors { code message retryAfterSeconds } } }`;
  const DASHBOARD = `query ConsoleDashboard($period: DashboardPeriod!, $from: Date!, $to: Date!) {
    serviceDashboard(period: $period, from: $from, to: $to) {
      errors { code field message }
      dashboard {
        period periods overdueClaimsNow
        claimFunnel { period segment reported complete decided paid
          toComplete { medianHours p90Hours } toDecision { medianHours p90Hours }
          toPayment { medianHours p90Hours } }
        clockBreaches { period decision { count total } payment { count total } }
        payouts { period lossType count total { amount } }
        premiumCollection { period due paidOnTime { count total } paidLate overdue
          lapse { count total ratePercent } }
        deliveries { period channel total sent failed skipped pending }
        surveys { period responses csat { count total } nps promoters detractors npsAnswers }
        complaints { period received }
        topRootCauses { category name count total }
        conversations { period started handedOff { count total } }
        workload { displayName team claims claimsOverdue complaints visits conversations total }
      }
    }
  }`;

  const token = {
    get: () => sessionStorage.getItem(TOKEN_KEY),
    set: (value, name) => {
      sessionStorage.setItem(TOKEN_KEY, value);
      sessionStorage.setItem(NAME_KEY, name);
    },
    clear: () => {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(NAME_KEY);
    },
  };

  async function gql(query, variables) {
    const headers = { "content-type": "application/json" };
    const bearer = token.get();
    if (bearer) headers.authorization = "Bearer " + bearer;
    const response = await fetch("/graphql", {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ query: query, variables: variables }),
    });
    const body = await response.json();
    const first = body.errors && body.errors[0];
    if (first) {
      const code = first.extensions && first.extensions.code;
      const error = new Error(first.message);
      error.code = code;
      throw error;
    }
    return body.data;
  }

  function show(loggedIn) {
    $("login").hidden = loggedIn;
    $("board").hidden = !loggedIn;
    $("who").hidden = !loggedIn;
    $("who-name").textContent = loggedIn ? sessionStorage.getItem(NAME_KEY) || "" : "";
  }

  function isoDay(date) {
    const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 10);
  }

  function range() {
    return { period: $("period").value, from: $("from").value, to: $("to").value };
  }

  function label(day, period) {
    return period === "MONTH" ? day.slice(0, 7) : day.slice(5);
  }

  function draw(name, option) {
    const element = $("chart-" + name);
    const chart = charts[name] || echarts.init(element, null, { renderer: "canvas" });
    charts[name] = chart;
    chart.setOption(Object.assign({ animation: false }, option), true);
  }

  function sum(items, pick) {
    return items.reduce((total, item) => total + pick(item), 0);
  }

  function percent(count, total) {
    return total ? Math.round((1000 * count) / total) / 10 : null;
  }

  function kpis(board) {
    const all = board.claimFunnel.filter((f) => f.segment === "ALL");
    const ratings = sum(board.surveys, (s) => s.csat.total);
    const satisfied = sum(board.surveys, (s) => s.csat.count);
    const npsAnswers = sum(board.surveys, (s) => s.npsAnswers);
    const nps = npsAnswers
      ? Math.round((100 * (sum(board.surveys, (s) => s.promoters) - sum(board.surveys, (s) => s.detractors))) / npsAnswers)
      : null;
    const items = [
      ["报案 Claims reported", sum(all, (f) => f.reported)],
      ["已赔付 Claims paid", sum(all, (f) => f.paid)],
      ["当前超时 Overdue now", board.overdueClaimsNow],
      ["CSAT", ratings ? percent(satisfied, ratings) + "% (" + satisfied + "/" + ratings + ")" : "–"],
      ["NPS", nps === null ? "–" : nps + " (" + npsAnswers + ")"],
      ["投诉 Complaints", sum(board.complaints, (c) => c.received)],
    ];
    const box = $("kpis");
    box.replaceChildren();
    for (const [name, value] of items) {
      const item = document.createElement("div");
      item.className = "kpi";
      const strong = document.createElement("b");
      strong.textContent = String(value);
      const caption = document.createElement("span");
      caption.textContent = name;
      item.append(strong, caption);
      box.append(item);
    }
  }

  const SEGMENT_NAMES = {
    AUTO: "车险", HEALTH: "健康险", ACCIDENT: "意外险", PROPERTY: "家财险", TRAVEL: "旅行险",
    APP: "App", MINI_PROGRAM: "小程序", PHONE: "电话", WEB: "网页", COUNTER: "柜面",
  };
  let shown = null; // the dashboard on screen, for the segment selector

  function segments(board) {
    const select = $("segment");
    const keep = select.value;
    const found = [...new Set(board.claimFunnel.map((f) => f.segment))].filter((s) => s !== "ALL").sort();
    select.replaceChildren(new Option("全部 All", "ALL"));
    for (const segment of found) {
      const [kind, code] = segment.split(":");
      const name = (kind === "KIND" ? "险种 " : "渠道 ") + (SEGMENT_NAMES[code] || code);
      select.append(new Option(name, segment));
    }
    select.value = found.includes(keep) ? keep : "ALL";
    shown = board;
  }

  function hours(value) {
    return value === null ? "–" : value + " h";
  }

  function funnel(board) {
    const rows = board.claimFunnel.filter((f) => f.segment === $("segment").value);
    const last = (pick) => {
      const known = rows.map(pick).filter((d) => d.medianHours !== null);
      return known.length ? known[known.length - 1] : { medianHours: null, p90Hours: null };
    };
    const steps = [
      ["报案 Reported", sum(rows, (f) => f.reported), null],
      ["资料齐全 Complete", sum(rows, (f) => f.complete), last((f) => f.toComplete)],
      ["已决定 Decided", sum(rows, (f) => f.decided), last((f) => f.toDecision)],
      ["已赔付 Paid", sum(rows, (f) => f.paid), last((f) => f.toPayment)],
    ];
    draw("funnel", {
      tooltip: {
        trigger: "item",
        formatter: (p) => {
          const span = steps[p.dataIndex][2];
          return p.name + ": " + p.value + (span
            ? "<br>上一步耗时（最近一期）中位 " + hours(span.medianHours) + "，P90 " + hours(span.p90Hours)
            : "");
        },
      },
      series: [{
        name: "理赔漏斗", type: "funnel", sort: "none", left: "8%", width: "84%", top: 10, bottom: 10,
        minSize: "25%",
        label: { position: "inside", color: "#fff", formatter: (p) => p.name + " " + p.value + (steps[0][1] ? " (" + percent(p.value, steps[0][1]) + "%)" : "") },
        data: steps.map(([name, value]) => ({ name: name, value: value })),
      }],
    });

  }

  function render(board) {
    const period = board.period;
    const x = board.periods.map((day) => label(day, period));
    const byPeriod = (rows, pick) => board.periods.map((day) => {
      const row = rows.find((r) => r.period === day);
      return row ? pick(row) : 0;
    });
    const all = board.claimFunnel.filter((f) => f.segment === "ALL");
    const tooltip = { trigger: "axis" };
    const grid = { left: 48, right: 48, top: 40, bottom: 28 };
    kpis(board);

    draw("trends", {
      tooltip: tooltip, grid: grid, legend: { top: 0 },
      xAxis: { type: "category", data: x }, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "报案 Claims", type: "line", data: byPeriod(all, (f) => f.reported) },
        { name: "赔付 Paid", type: "line", data: byPeriod(all, (f) => f.paid) },
        { name: "投诉 Complaints", type: "line", data: byPeriod(board.complaints, (c) => c.received) },
        { name: "会话 Conversations", type: "line", data: byPeriod(board.conversations, (c) => c.started) },
        { name: "问卷 Surveys", type: "line", data: byPeriod(board.surveys, (s) => s.responses) },
      ],
    });

    segments(board);
    funnel(board);


    draw("breaches", {
      tooltip: tooltip, grid: grid, legend: { top: 0 },
      xAxis: { type: "category", data: x }, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "决定超时 Decision late", type: "bar", stack: "late", data: byPeriod(board.clockBreaches, (b) => b.decision.count) },
        { name: "支付超时 Payment late", type: "bar", stack: "late", data: byPeriod(board.clockBreaches, (b) => b.payment.count) },
        { name: "到期 Clocks due", type: "line", data: byPeriod(board.clockBreaches, (b) => b.decision.total + b.payment.total) },
      ],
    });

    draw("satisfaction", {
      tooltip: tooltip, grid: grid, legend: { top: 0 },
      xAxis: { type: "category", data: x },
      yAxis: [{ type: "value", name: "CSAT %", min: 0, max: 100 }, { type: "value", name: "NPS", min: -100, max: 100 }],
      series: [
        { name: "CSAT %", type: "line", connectNulls: true, data: byPeriod(board.surveys, (s) => percent(s.csat.count, s.csat.total)) },
        { name: "NPS", type: "line", yAxisIndex: 1, connectNulls: true, data: byPeriod(board.surveys, (s) => s.nps) },
      ],
    });

    const causes = board.topRootCauses.slice().reverse();
    draw("causes", {
      tooltip: { trigger: "axis" }, grid: { left: 90, right: 24, top: 10, bottom: 24 },
      xAxis: { type: "value", minInterval: 1 }, yAxis: { type: "category", data: causes.map((c) => c.name) },
      series: [{ name: "投诉 Complaints", type: "bar", data: causes.map((c) => c.count) }],
    });

    const people = board.workload.slice(0, 15).reverse();
    const names = people.map((w) => w.displayName + (w.team ? " · " + w.team : ""));
    draw("workload", {
      tooltip: tooltip, legend: { top: 0 }, grid: { left: 140, right: 24, top: 40, bottom: 24 },
      xAxis: { type: "value", minInterval: 1 }, yAxis: { type: "category", data: names },
      series: [
        ["理赔 Claims", (w) => w.claims - w.claimsOverdue],
        ["超时理赔 Overdue claims", (w) => w.claimsOverdue],
        ["投诉 Complaints", (w) => w.complaints],
        ["回访 Visits", (w) => w.visits],
        ["会话 Conversations", (w) => w.conversations],
      ].map(([name, pick]) => ({ name: name, type: "bar", stack: "open", data: people.map(pick) })),
    });

    const losses = {};
    for (const p of board.payouts) {
      const row = losses[p.lossType] || (losses[p.lossType] = { count: 0, total: 0 });
      row.count += p.count;
      row.total += Number(p.total.amount);
    }
    const lossTypes = Object.keys(losses).sort((a, b) => losses[b].total - losses[a].total);
    draw("payouts", {
      tooltip: tooltip, grid: Object.assign({}, grid, { bottom: 70 }), legend: { top: 0 },
      xAxis: { type: "category", data: lossTypes, axisLabel: { interval: 0, rotate: 30 } },
      yAxis: [{ type: "value", name: "¥" }, { type: "value", name: "件", minInterval: 1 }],
      series: [
        { name: "总额 Total", type: "bar", data: lossTypes.map((t) => Math.round(losses[t].total)) },
        { name: "平均 Average", type: "bar", data: lossTypes.map((t) => Math.round(losses[t].total / losses[t].count)) },
        { name: "件数 Count", type: "line", yAxisIndex: 1, data: lossTypes.map((t) => losses[t].count) },
      ],
    });

    draw("collection", {
      tooltip: tooltip, grid: grid, legend: { top: 0 },
      xAxis: { type: "category", data: x },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value", name: "%", min: 0, max: 100 }],
      series: [
        { name: "按时 On time", type: "bar", stack: "due", data: byPeriod(board.premiumCollection, (c) => c.paidOnTime.count) },
        { name: "逾期后缴 Late", type: "bar", stack: "due", data: byPeriod(board.premiumCollection, (c) => c.paidLate) },
        { name: "未缴 Overdue", type: "bar", stack: "due", data: byPeriod(board.premiumCollection, (c) => c.overdue) },
        { name: "失效率 Lapse %", type: "line", yAxisIndex: 1, connectNulls: true,
          data: byPeriod(board.premiumCollection, (c) => c.lapse.ratePercent === null ? null : Number(c.lapse.ratePercent)) },
      ],
    });

    const channels = {};
    for (const d of board.deliveries) {
      const row = channels[d.channel] || (channels[d.channel] = { sent: 0, failed: 0, other: 0 });
      row.sent += d.sent;
      row.failed += d.failed;
      row.other += d.skipped + d.pending;
    }
    const names2 = Object.keys(channels).sort();
    draw("deliveries", {
      tooltip: tooltip, grid: grid, legend: { top: 0 },
      xAxis: { type: "category", data: names2 }, yAxis: { type: "value", minInterval: 1 },
      series: [
        ["送达 Sent", "sent"], ["失败 Failed", "failed"], ["跳过/待发 Skipped/pending", "other"],
      ].map(([name, key]) => ({ name: name, type: "bar", stack: "d", data: names2.map((c) => channels[c][key]) })),
    });
  }

  async function load() {
    $("status").textContent = "加载中 Loading…";
    $("board-error").textContent = "";
    try {
      const data = await gql(DASHBOARD, range());
      const answer = data.serviceDashboard;
      if (answer.errors.length) {
        $("board-error").textContent = answer.errors.map((e) => e.message).join("；");
      } else {
        render(answer.dashboard);
        document.body.dataset.loaded = "yes";
      }
      $("status").textContent = "";
    } catch (error) {
      $("status").textContent = "";
      if (error.code === "UNAUTHENTICATED" || error.code === "STAFF_SESSION_IDLE") {
        token.clear();
        show(false);
        $("login-error").textContent = "登录已失效，请重新登录";
      } else if (error.code === "FORBIDDEN") {
        $("board-error").textContent = "此账号没有数据分析权限（需要主管或管理员）";
      } else {
        $("board-error").textContent = error.message;
      }
    }
  }

  async function download(figure, format) {
    const query = new URLSearchParams(Object.assign({ figure: figure, format: format }, range()));
    const response = await fetch("/console/export?" + query, {
      headers: { authorization: "Bearer " + token.get() },
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({ errors: [{ message: response.statusText }] }));
      $("board-error").textContent = body.errors[0].message;
      return;
    }
    const blob = await response.blob();
    const disposition = response.headers.get("content-disposition") || "";
    const match = /filename="([^"]+)"/.exec(disposition);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = match ? match[1] : figure + "." + format;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  function exportButtons() {
    for (const card of document.querySelectorAll(".card[data-figure]")) {
      const box = document.createElement("span");
      box.className = "exports";
      for (const format of ["csv", "xlsx"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = format.toUpperCase();
        button.dataset.export = card.dataset.figure + ":" + format;
        button.addEventListener("click", () => download(card.dataset.figure, format));
        box.append(button);
      }
      card.querySelector("h3").append(box);
    }
  }

  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    const username = $("username").value.trim();
    try {
      const data = await gql(LOGIN, { u: username, p: $("password").value });
      const answer = data.staffLogin;
      if (answer.errors.length) {
        $("login-error").textContent = answer.errors[0].message;
        return;
      }
      token.set(answer.session.accessToken, username);
      $("password").value = "";
      show(true);
      await load();
    } catch (error) {
      $("login-error").textContent = error.message;
    }
  });

  $("logout").addEventListener("click", async () => {
    try {
      await gql("mutation ConsoleLogout { logout { errors { code } } }", {});
    } finally {
      token.clear();
      show(false);
    }
  });

  $("segment").addEventListener("change", () => shown && funnel(shown));

  $("range").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });

  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));

  const today = new Date();
  $("to").value = isoDay(today);
  $("from").value = isoDay(new Date(today.getTime() - 90 * 86400e3));
  exportButtons();
  show(Boolean(token.get()));
  if (token.get()) load();
})();
