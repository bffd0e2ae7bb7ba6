/* The campaign form's SMS fallback text: characters, encoding and SMS segments as you type, counted
 * by the same rules as the template page (template_segments.js, tables from json_script
 * "segment-tables"). Placeholders are counted as typed; each recipient's own values change the count.
 */
(function () {
  "use strict";

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function start() {
    var text = document.getElementById("id_fallback_text");
    var tables = document.getElementById("segment-tables");
    if (!text || !tables || !window.TemplateSegments) return;
    var counter = window.TemplateSegments.makeCounter(JSON.parse(tables.textContent));
    var shown = document.createElement("div");
    shown.id = "fallback-counter";
    shown.className = "fallback-counter";
    shown.setAttribute("aria-live", "polite");
    text.insertAdjacentElement("afterend", shown);

    function recount() {
      var result = counter.count(text.value);
      var summary = result.encoding + " · " + plural(result.characters, "character") + ", ";
      summary += plural(result.segments, "SMS segment");
      if (result.segments) summary += " (" + result.remaining + " characters left in the last)";
      if (result.encoding === "UCS-2") summary += ": a character outside GSM-7 makes each segment hold 70, not 160";
      if (/\{\{/.test(text.value)) summary += "; placeholders counted as typed";
      shown.textContent = summary;
      shown.dataset.segments = result.segments;
      shown.dataset.encoding = result.encoding;
    }

    text.addEventListener("input", recount);
    recount();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
