// The dashboard's last 7 or 30 days (templates/admin/campaigns/dashboard.html): sends as bars, delivery
// rate (right axis, per cent), clicks, replies and opt-outs as lines; and the cost per currency. Drawn by
// the vendored Chart.js from the figures the page embedded.
(function () {
  "use strict";
  const COLOURS = ["#5b7fb8", "#2e7d32", "#b26a00", "#7b4bb3", "#c62828", "#0e7490"];

  function line(label, data, colour, axis) {
    return { type: "line", label: label, data: data, borderColor: colour, backgroundColor: colour, yAxisID: axis || "y", tension: 0.2, pointRadius: 3 };
  }

  function draw() {
    const source = document.getElementById("dashboard-chart-data");
    if (!source || typeof window.Chart === "undefined") return;
    const chart = JSON.parse(source.textContent);
    const f = chart.figures;
    const activity = document.getElementById("trend-activity");
    activity.chart = new window.Chart(activity, {
      data: {
        labels: chart.labels,
        datasets: [
          // order 1: drawn beneath the lines, so a day's delivery rate between two days without sends
          // (a gap, not a 0: the rate is null there) still shows over its bar.
          { type: "bar", label: "Sent", data: f.sent, backgroundColor: "#c7d5ea", yAxisID: "y", order: 1 },
          line("Delivery rate (%)", f.delivery_rate, COLOURS[1], "rate"),
          line("Clicks", f.clicks, COLOURS[2]),
          line("Replies", f.replies, COLOURS[3]),
          line("Opt-outs", f.opt_outs, COLOURS[4]),
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false, // the card's CSS sets the height
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { title: { display: true, text: "Day (" + chart.zone + ")" } },
          y: { beginAtZero: true, ticks: { precision: 0 } },
          rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "%" } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    const cost = document.getElementById("trend-cost-chart");
    const currencies = Object.keys(chart.cost);
    cost.chart = new window.Chart(cost, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: currencies.map(function (currency, n) {
          return { label: "Cost (" + currency + ")", data: chart.cost[currency], backgroundColor: COLOURS[(n + 5) % COLOURS.length] };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false, // the card's CSS sets the height
        scales: { y: { beginAtZero: true } },
        plugins: {
          legend: { position: "bottom" },
          title: { display: currencies.length === 0, text: "No cost yet: set a price per segment on the channels" },
        },
      },
    });
    activity.dataset.drawn = "true";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
