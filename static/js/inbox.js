// The inbox (the conversation list) and a conversation's page: new replies appear without a reload.
// The list polls a token that moves whenever a conversation does and then fetches its own rows again;
// a conversation's page polls its latest messages and adds the new ones (and new statuses) in place.
"use strict";
(function () {
  function every(seconds, poll) {
    const wait = Math.max(1, Number(seconds) || 5) * 1000;
    const tick = () => poll().catch(() => null).finally(() => window.setTimeout(tick, wait));
    window.setTimeout(tick, wait);
  }

  async function json(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  // --- the list ----------------------------------------------------------------------------------------

  function watchList(live) {
    const status = document.getElementById("inbox-live-status");
    let token = live.dataset.token;

    function busy() {
      // Someone choosing rows or an action: their selection is not swapped away under them.
      const ticked = document.querySelector("#changelist-form input.action-select:checked");
      const action = document.querySelector("#changelist-form select[name=action]");
      return Boolean(ticked) || Boolean(action && action.value);
    }

    async function refresh() {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`inbox: ${response.status}`);
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const newForm = fresh.getElementById("changelist-form");
      const oldForm = document.getElementById("changelist-form");
      if (!newForm || !oldForm) return;
      oldForm.replaceWith(document.importNode(newForm, true));
      const count = document.querySelector("#changelist-search .quiet");
      const newCount = fresh.querySelector("#changelist-search .quiet");
      if (count && newCount) count.replaceChildren(...Array.from(newCount.childNodes, (n) => document.importNode(n, true)));
      const boxes = document.querySelectorAll("tr input.action-select");
      if (boxes.length && window.Actions) window.Actions(boxes); // Django's tick-all and counter, for the new rows
    }

    every(live.dataset.seconds, async () => {
      const data = await json(live.dataset.pollUrl);
      if (data.token === token) return;
      if (busy()) {
        status.textContent = "New replies: they will show once no row is ticked.";
        return;
      }
      await refresh();
      token = data.token;
      const unread = `${data.unread_conversations}${data.capped ? "+" : ""}`;
      status.textContent = `Updated ${new Date().toLocaleTimeString()}: ${unread} conversation(s) with unread replies.`;
    });
  }

  // --- a conversation ----------------------------------------------------------------------------------

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined) made.textContent = text;
    return made;
  }

  function entryItem(entry) {
    const item = element("li", `message message-${entry.direction} message-new`);
    item.dataset.key = entry.key;
    const meta = element("div", "message-meta");
    meta.append(element("span", "message-who", entry.direction === "in" ? "They wrote" : "We sent"), " ");
    const time = element("time", "", entry.at_text);
    time.dateTime = entry.at;
    meta.append(time, " ");
    if (entry.status_label) meta.append(element("span", `message-status status-${entry.status}`, entry.status_label), " ");
    if (entry.detail) meta.append(element("span", "message-detail", entry.detail));
    item.append(meta, element("div", "message-text", entry.text || "(no text)"));
    if (entry.media && entry.media.length) {
      const list = element("ul", "message-media");
      for (const url of entry.media) {
        const link = element("a", "", url);
        link.href = url;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        const line = element("li");
        line.append(link);
        list.append(line);
      }
      item.append(list);
    }
    return item;
  }

  function showStatus(item, entry) {
    let badge = item.querySelector(".message-status");
    if (!entry.status_label) return;
    if (!badge) {
      badge = element("span");
      item.querySelector(".message-meta").append(" ", badge);
    }
    badge.className = `message-status status-${entry.status}`;
    badge.textContent = entry.status_label;
  }

  function watchConversation(timeline) {
    const state = document.getElementById("conversation-state");
    every(timeline.dataset.seconds, async () => {
      const data = await json(timeline.dataset.pollUrl);
      let added = null;
      for (const entry of data.entries) {
        const shown = timeline.querySelector(`[data-key="${entry.key}"]`);
        if (shown) {
          showStatus(shown, entry);
        } else {
          added = entryItem(entry);
          timeline.append(added);
        }
      }
      if (added) {
        const empty = document.getElementById("conversation-empty");
        if (empty) empty.remove();
        added.scrollIntoView({ block: "nearest" });
      }
      if (state && data.state) {
        state.textContent = data.state_label;
        state.className = `inbox-state inbox-state-${data.state}`;
      }
    });
  }

  function start() {
    const live = document.getElementById("inbox-live");
    if (live) watchList(live);
    const timeline = document.getElementById("conversation-timeline");
    if (timeline && timeline.dataset.pollUrl) watchConversation(timeline);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  // --- outside WhatsApp's 24-hour window: the reply box offers templates; show the chosen one's values ---
  const templateChoice = document.getElementById("reply-template");
  if (templateChoice) {
    const show = () => {
      for (const values of document.querySelectorAll(".reply-template-values")) {
        values.hidden = values.dataset.template !== templateChoice.value;
        for (const input of values.querySelectorAll("input")) input.disabled = values.hidden;
      }
    };
    templateChoice.addEventListener("change", show);
    show();
  }
})();
