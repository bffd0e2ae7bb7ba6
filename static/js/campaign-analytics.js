// The campaign page's analytics chart: sent, delivered, failed, clicks and replies per step, drawn by
// the vendored Chart.js (static/vendor/chartjs/) from the figures the page embedded (json_script).
(function () {
  "use strict";
  const COLOURS = {
    sent: "#5b7fb8",
    delivered: "#2e7d32",
    failed: "#c62828",
    clicks: "#b26a00",
    replies: "#7b4bb3",
  };
  const LABELS = { sent: "Sent", delivered: "Delivered", failed: "Failed", clicks: "Clicks", replies: "Replies" };

  function draw() {
    const canvas = document.getElementById("analytics-chart");
    const source = document.getElementById("analytics-chart-data");
    if (!canvas || !source || typeof window.Chart === "undefined") return;
    const chart = JSON.parse(source.textContent);
    const datasets = Object.keys(LABELS).map(function (name) {
      return {
        label: LABELS[name],
        data: chart.datasets[name] || [],
        borderColor: COLOURS[name],
        backgroundColor: COLOURS[name],
        borderWidth: 2,
        pointRadius: chart.labels.length > 60 ? 0 : 2,
        tension: 0.2,
      };
    });
    canvas.chart = new window.Chart(canvas, {
      type: chart.labels.length < 4 ? "bar" : "line", // a line needs a few points to say anything
      data: { labels: chart.labels, datasets: datasets },
      options: {
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { title: { display: true, text: "Per " + chart.step_name + " (" + chart.zone + ")" } },
          y: { beginAtZero: true, ticks: { precision: 0 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.dataset.drawn = "true";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
