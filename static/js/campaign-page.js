// The campaign page: confirm destructive verbs, and keep the progress panel live (polled every 2 s).
"use strict";
(function () {
  const POLL_MS = 2000;
  const FINAL = ["completed", "cancelled"];

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  const panel = document.getElementById("campaign-progress");
  if (!panel) return;
  const initial = JSON.parse(document.getElementById("campaign-progress-data").textContent);
  let previous = null; // {done, at} of the last poll, for the current rate

  function duration(seconds) {
    if (seconds === null || !isFinite(seconds)) return "—";
    if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function field(name) {
    return panel.querySelector(`[data-field="${name}"]`) || document.querySelector(`[data-field="${name}"]`);
  }

  function show(data) {
    const total = data.total || 0;
    for (const [part, number] of Object.entries(data.parts)) {
      const bar = panel.querySelector(`[data-part="${part}"]`);
      if (bar) {
        bar.style.width = total ? `${(100 * number) / total}%` : "0%";
        bar.title = `${part}: ${number.toLocaleString()}`;
      }
      const count = panel.querySelector(`[data-count="${part}"]`);
      if (count) count.textContent = number.toLocaleString();
    }
    field("done").textContent = data.done.toLocaleString();
    field("total").textContent = total.toLocaleString();
    const now = Date.parse(data.now);
    let rate = data.rate_per_second;
    if (previous && now > previous.at && data.status === "running") {
      rate = ((data.done - previous.done) * 1000) / (now - previous.at);
    }
    previous = { done: data.done, at: now };
    const running = data.status === "running";
    const left = data.parts.queued;
    // The average since the start is no rate while nothing is left to send (an A/B test's rest
    // waiting for its winner, or all handed over): "sending 0 a second", not the average.
    field("rate").textContent = running && left ? rate.toFixed(1) : "0";
    const waiting = data.parts.waiting || 0;
    const winner = data.parts.winner || 0; // an A/B test's rest, waiting for its winner
    field("eta").textContent = !left
      ? waiting ? "when their hours open" : winner ? "after the A/B winner is chosen" : "done"
      : running && rate > 0 ? duration(left / rate) : data.status === "paused" ? "paused" : "—";
    field("delivery").textContent = data.delivery_text;
    const fallbacks = field("fallbacks");
    if (fallbacks && data.fallbacks) fallbacks.textContent = data.fallbacks.text;
    const note = field("waiting_note");
    if (note) {
      note.hidden = !waiting;
      field("waiting").textContent = waiting.toLocaleString();
      field("waiting_opens").textContent = data.waiting_opens_text;
    }
    const failures = field("failures");
    const body = failures.querySelector("tbody");
    body.replaceChildren(
      ...data.failures.map((failure) => {
        const row = document.createElement("tr");
        for (const value of [failure.status, failure.reason, failure.count.toLocaleString()]) {
          const cell = document.createElement("td");
          cell.textContent = value;
          row.append(cell);
        }
        return row;
      }),
    );
    failures.hidden = data.failures.length === 0;
    const reason = field("status_reason");
    if (reason) {
      reason.textContent = data.status_reason;
      reason.hidden = !data.status_reason;
    }
    const label = field("status_label");
    if (label) label.textContent = data.status_label;
  }

  async function poll() {
    try {
      const response = await fetch(panel.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      show(data);
      if (data.status !== panel.dataset.status) {
        // The state changed (finished, paused by someone else): reload for the buttons that now fit.
        window.location.reload();
        return;
      }
      if (FINAL.includes(data.status) && data.parts.queued === 0 && !data.parts.waiting) return;
    } catch (error) {
      console.warn("campaign progress: poll failed, retrying", error);
    }
    window.setTimeout(poll, POLL_MS);
  }

  show(initial);
  window.setTimeout(poll, POLL_MS);
})();
