// The campaign page's analytics: the chart of sent, delivered, failed, clicks and replies per step, drawn
// by the vendored Chart.js (static/vendor/chartjs/) from the figures the page embedded (json_script),
// then the chart and the funnel refreshed from analytics.json every few seconds.
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

  const POLL_MS = 5000; // clicks and replies go on after the campaign ends: refresh while the page is seen

  function datasets(chart) {
    return Object.keys(LABELS).map(function (name) {
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
  }

  function axisTitle(chart) {
    return "Per " + chart.step_name + ", times in " + chart.zone; // the zone's own label has brackets
  }

  function draw(canvas, chart) {
    const type = chart.labels.length < 4 ? "bar" : "line"; // a line needs a few points to say anything
    if (canvas.chart && canvas.chart.config.type === type) {
      canvas.chart.data.labels = chart.labels;
      canvas.chart.data.datasets = datasets(chart);
      canvas.chart.options.scales.x.title.text = axisTitle(chart);
      canvas.chart.update();
    } else {
      if (canvas.chart) canvas.chart.destroy();
      canvas.chart = new window.Chart(canvas, {
        type: type,
        data: { labels: chart.labels, datasets: datasets(chart) },
        options: {
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { title: { display: true, text: axisTitle(chart) } },
            y: { beginAtZero: true, ticks: { precision: 0 } },
          },
          plugins: { legend: { position: "bottom" } },
        },
      });
    }
    canvas.hidden = chart.labels.length === 0;
    document.getElementById("analytics-chart-empty").hidden = chart.labels.length > 0;
    canvas.dataset.drawn = "true";
  }

  function show(panel, data) {
    for (const step of data.funnel) {
      const number = panel.querySelector('[data-figure="' + step.key + '"]');
      const rate = panel.querySelector('[data-rate="' + step.key + '"]');
      if (number) number.textContent = step.number;
      if (rate) rate.textContent = step.rate_text;
    }
    draw(document.getElementById("analytics-chart"), data.chart);
  }

  function start() {
    const panel = document.getElementById("campaign-analytics");
    const source = document.getElementById("analytics-chart-data");
    if (!panel || !source || typeof window.Chart === "undefined") return;
    draw(document.getElementById("analytics-chart"), JSON.parse(source.textContent));
    async function poll() {
      if (document.visibilityState === "visible") {
        try {
          const response = await fetch(panel.dataset.url, { headers: { Accept: "application/json" } });
          if (response.ok) show(panel, await response.json());
        } catch (error) {
          // The next poll tries again: a dropped request must not stop the refresh.
        }
      }
      window.setTimeout(poll, POLL_MS);
    }
    window.setTimeout(poll, POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
