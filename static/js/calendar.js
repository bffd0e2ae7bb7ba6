/* The campaign calendar (templates/admin/campaigns/calendar.html) on FullCalendar (static/vendor/fullcalendar).
 *
 * Times arrive as wall-clock strings in the staff member's zone and FullCalendar is given that zone's
 * name; without a time zone plugin it keeps them as they are, so what is shown is what the server meant.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("calendar-config").textContent);
  var statusBox = document.getElementById("calendar-status");

  function say(text, isError) {
    statusBox.textContent = text;
    statusBox.className = "calendar-status" + (isError ? " is-error" : " is-ok");
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : match ? decodeURIComponent(match[1]) : "";
  }

  var today = config.now.slice(0, 10);

  function planOn(dateText) {
    if (!config.addUrl) return;
    if (dateText < today) {
      say("That day has passed: pick today or a later day to plan a campaign.", true);
      return;
    }
    // The day only: the campaign form starts a day given this way at its default time (09:00).
    window.location.href = config.addUrl + "?scheduled_at=" + encodeURIComponent(dateText);
  }

  function readableDay(date) {
    return date.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  }

  function readableTime(date) {
    return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "UTC" });
  }

  function moveCampaign(info) {
    // FullCalendar keeps the zone's wall-clock time in the Date's UTC fields (no time zone plugin).
    var day = info.event.start.toISOString().slice(0, 10);
    var question = "Move “" + info.event.title + "” to " + readableDay(info.event.start) + " at " +
      readableTime(info.event.start) + " (" + config.timeZone + ")?";
    if (!window.confirm(question)) {
      info.revert();
      say("Not moved.", false);
      return;
    }
    var body = new URLSearchParams({ date: day });
    var url = config.rescheduleUrl.replace("/0/", "/" + info.event.extendedProps.campaignId + "/");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return { error: "The server answered " + response.status + "." }; })
        .then(function (answer) { return { ok: response.ok, answer: answer }; });
    }).then(function (result) {
      if (!result.ok) {
        info.revert();
        say(result.answer.error || "Not moved.", true);
        window.alert(result.answer.error || "Not moved.");
        return;
      }
      say(result.answer.message, false);
    }).catch(function () {
      info.revert();
      say("Not moved: the server could not be reached.", true);
    });
  }

  function markEvent(info) {
    var props = info.event.extendedProps;
    info.el.setAttribute("data-campaign-id", String(props.campaignId));
    info.el.setAttribute("data-status", props.status);
    info.el.setAttribute("data-kind", props.kind);
    info.el.title = info.event.title + " — " + props.statusLabel + ", " + readableTime(info.event.start) +
      " (" + config.timeZone + "), " + props.channel + (info.event.startEditable ? ". Drag to another day to move it." : "");
  }

  function markDay(info) {
    if (!config.addUrl || info.isOther || info.isPast) return;
    var cell = info.el;
    cell.setAttribute("tabindex", "0");
    cell.setAttribute("aria-label", "Plan a campaign on " + readableDay(info.date));
    cell.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target === cell) planOn(cell.getAttribute("data-date"));
    });
  }

  function rememberMonth(info) {
    var middle = new Date((info.start.getTime() + info.end.getTime()) / 2);
    var month = middle.toISOString().slice(0, 7);
    var url = new URL(window.location.href);
    url.searchParams.set("month", month);
    window.history.replaceState(null, "", url.toString());
  }

  function start() {
    var element = document.getElementById("campaign-calendar");
    var calendar = new FullCalendar.Calendar(element, {
      timeZone: config.timeZone,
      now: config.now,
      initialDate: config.initialDate,
      initialView: "dayGridMonth",
      firstDay: 1,
      height: "auto",
      dayMaxEvents: 4,
      headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,dayGridWeek" },
      buttonText: { today: "Today", month: "Month", week: "Week" },
      buttonHints: { prev: "Previous $0 (Page Up)", next: "Next $0 (Page Down)", today: "This $0 (T)" },
      dayHeaderFormat: { weekday: "short" },
      views: { dayGridWeek: { dayHeaderFormat: { weekday: "short", day: "numeric", month: "short" }, dayMaxEvents: false } },
      eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      displayEventEnd: false,
      eventDurationEditable: false,
      events: {
        url: config.feedUrl,
        failure: function () { say("The calendar could not load campaigns; reload the page to try again.", true); }
      },
      dateClick: function (info) { planOn(info.dateStr.slice(0, 10)); },
      eventDidMount: markEvent,
      dayCellDidMount: markDay,
      eventDrop: moveCampaign,
      datesSet: rememberMonth
    });
    calendar.render();

    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      if (event.key === "PageUp") { calendar.prev(); event.preventDefault(); }
      else if (event.key === "PageDown") { calendar.next(); event.preventDefault(); }
      else if (event.key === "t" || event.key === "T") { calendar.today(); event.preventDefault(); }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
