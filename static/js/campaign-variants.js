/* The campaign form's A/B variants: a live length and segment counter under the free text and each
 * variant's text (template_segments.js, the twin of campaigns/content/segments.py), and the running
 * total of the split percentages, so a split that does not add up to 100 shows before saving.
 * With "Track links" ticked each URL is counted at a short link's length, as recipients get it and
 * as the pre-launch panel counts it.
 */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  ready(function () {
    var source = document.getElementById("segment-tables");
    if (!source || !window.TemplateSegments) return;
    var counter = window.TemplateSegments.makeCounter(JSON.parse(source.textContent));
    var tracking = document.getElementById("id_track_links");
    var counted = [];

    function attach(area) {
      if (area.dataset.counted) return;
      area.dataset.counted = "1";
      var note = document.createElement("small");
      note.className = "variant-count";
      area.insertAdjacentElement("afterend", note);
      function update() {
        var tracked = tracking && tracking.checked;
        var sent = tracked ? counter.asSent(area.value) : area.value;
        var result = counter.count(sent);
        var words = result.characters
          ? plural(result.characters, "character") + ", " + plural(result.segments, "segment") + " (" + result.encoding + ")"
          : "";
        if (words && sent !== area.value) words += ", links counted as short links";
        note.textContent = words;
        note.dataset.segments = result.segments;
      }
      area.addEventListener("input", update);
      counted.push(update);
      update();
    }

    function shares() {
      var total = 0;
      var any = false;
      document.querySelectorAll('input[name^="variants-"][name$="-share"]').forEach(function (input) {
        var row = input.closest("tr");
        var deleted = row && row.querySelector('input[name$="-DELETE"]:checked');
        if (input.value && !deleted) {
          total += parseInt(input.value, 10) || 0;
          any = true;
        }
      });
      var shown = document.getElementById("variant-split-total");
      if (!shown) {
        var group = document.getElementById("variants-group");
        if (!group) return;
        shown = document.createElement("p");
        shown.id = "variant-split-total";
        group.appendChild(shown);
      }
      shown.textContent = any ? "Split: " + total + "% of 100%" + (total === 100 ? "" : " (must add up to 100)") : "";
      shown.className = any && total !== 100 ? "errornote" : "help";
    }

    function attachAll() {
      document.querySelectorAll("textarea#id_text, textarea.variant-text").forEach(attach);
      shares();
    }
    attachAll();
    if (tracking) {
      tracking.addEventListener("change", function () {
        counted.forEach(function (update) {
          update();
        });
      });
    }
    document.addEventListener("formset:added", attachAll);
    document.addEventListener("input", function (event) {
      if (event.target.name && /^variants-\d+-(share|DELETE)$/.test(event.target.name)) shares();
    });
    document.addEventListener("change", function (event) {
      if (event.target.name && /^variants-\d+-DELETE$/.test(event.target.name)) shares();
    });
  });
})();
