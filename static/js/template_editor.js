/* The message template page: a live length and segment counter, the characters that make the
 * text UCS-2 (pointed at in the text, with a one-click fix), a preview for a chosen contact from
 * the server, and the provider template's variable rows.
 *
 * The counter runs here on every keystroke (template_segments.js, the twin of campaigns/content/segments.py);
 * the preview is rendered by the server (campaigns/content/personalisation.py) a moment after typing stops,
 * and hands back the contact's values so the count is of that contact's real message.
 */
(function () {
  "use strict";

  var PLACEHOLDER = /^\s*([A-Za-z_]\w*(?:\.\w+)*)\s*(?:\|\s*default\s*:\s*(?:"([^"]*)"|'([^']*)'|(-?\d+(?:\.\d+)?))\s*)?$/;

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function lookup(context, dotted) {
    var value = context;
    var parts = dotted.split(".");
    for (var i = 0; i < parts.length; i++) {
      if (value === null || typeof value !== "object") return null;
      value = value[parts[i]];
    }
    if (value === undefined || value === null) return null;
    var text = String(value);
    return text.trim() ? text : null;
  }

  /* The same subset the server renders; anything it cannot read stays as written. */
  function render(text, context) {
    return text.replace(/{{([\s\S]*?)}}/g, function (whole, inside) {
      var match = PLACEHOLDER.exec(inside);
      if (!match) return whole;
      var fallback = match[2] !== undefined ? match[2] : match[3] !== undefined ? match[3] : match[4];
      var found = lookup(context, match[1]);
      return found === null ? fallback || "" : found;
    });
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function shownCharacter(ch) {
    if (/\s/.test(ch) || ch === "\u200b") return "\u2423"; // an open box, so a space can be seen
    return ch;
  }

  ready(function () {
    var live = document.getElementById("template-live");
    var body = document.getElementById("id_body");
    var form = body && body.form;
    if (!live || !body || !form) return;
    var tables = JSON.parse(document.getElementById("segment-tables").textContent);
    var counter = window.TemplateSegments.makeCounter(tables);
    var state = { context: {}, contact: "" };
    var anchor = document.querySelector(".form-row.field-preview_contact") || body.closest(".form-row");
    if (anchor) anchor.insertAdjacentElement("afterend", live);

    var el = function (id) {
      return document.getElementById(id);
    };

    function pointAt(ch) {
      var index = body.value.indexOf(ch);
      if (index < 0) return;
      body.focus();
      body.setSelectionRange(index, index + ch.length);
    }

    function showForcing(result) {
      var list = el("forcing-list");
      list.textContent = "";
      result.forcing.forEach(function (found) {
        var inText = Array.from(body.value).indexOf(found.character);
        var item = document.createElement("li");
        item.className = "forcing-item";
        item.dataset.codePoint = found.code_point;
        var button = document.createElement("button");
        button.type = "button";
        button.className = "forcing-char";
        button.textContent = shownCharacter(found.character);
        button.title = "Select it in the text";
        button.addEventListener("click", function () {
          pointAt(found.character);
        });
        item.appendChild(button);
        var where =
          inText >= 0
            ? "at character " + (inText + 1) + " of the text"
            : "in " + (state.contact || "the contact") + "'s values, not in the text";
        var words = " " + (found.name || "character") + " (" + found.code_point + ")";
        if (found.count > 1) words += ", " + found.count + " times";
        words += ", first " + where;
        item.appendChild(document.createTextNode(words));
        if (found.replacement !== null) {
          item.appendChild(document.createTextNode(found.replacement ? "; replace with " : "; can be removed"));
          if (found.replacement) {
            var twin = document.createElement("code");
            twin.textContent = found.replacement;
            item.appendChild(twin);
          }
        }
        list.appendChild(item);
      });
      el("template-forcing").hidden = result.forcing.length === 0;
      el("replace-lookalikes").hidden = !result.forcing.some(function (f) {
        return f.replacement !== null && body.value.indexOf(f.character) >= 0;
      });
    }

    function showMarked(result) {
      var marked = el("template-marked");
      if (!result.forcing.length) {
        marked.hidden = true;
        return;
      }
      marked.innerHTML = Array.from(body.value)
        .map(function (ch) {
          if (counter.isGsm7(ch)) return escapeHtml(ch);
          return '<mark class="ucs2" title="forces UCS-2">' + escapeHtml(shownCharacter(ch)) + "</mark>";
        })
        .join("");
      marked.hidden = false;
    }

    function recount() {
      var text = render(body.value, state.context);
      var result = counter.count(text);
      var badge = el("counter-encoding");
      badge.textContent = result.encoding;
      badge.className = "counter-encoding " + (result.encoding === "GSM-7" ? "gsm7" : "ucs2");
      var summary = plural(result.characters, "character") + ", " + plural(result.segments, "segment");
      if (result.segments) summary += " (" + result.remaining + " left in the last)";
      el("counter-summary").textContent = summary;
      el("counter-basis").textContent = state.contact
        ? "counted for " + state.contact + "'s message"
        : "counted with placeholders empty; choose a contact to count a real message";
      live.dataset.encoding = result.encoding;
      live.dataset.segments = result.segments;
      showForcing(result);
      showMarked(result);
    }

    function note(text, kind) {
      var item = document.createElement("li");
      item.className = kind;
      item.textContent = text;
      el("preview-notes").appendChild(item);
    }

    function showPreview(data) {
      state.context = data.context || {};
      state.contact = data.contact || "";
      el("preview-for").textContent = data.contact ? "for " + data.contact : "with placeholders empty";
      el("preview-text").textContent = data.text || "(no text)";
      el("preview-notes").textContent = "";
      (data.problems || []).forEach(function (problem) {
        note(problem, "problem");
      });
      (data.unknown || []).forEach(function (name) {
        note("No contact has {{ " + name + " }}: check the spelling, or import contacts with that column.", "unknown");
      });
      (data.missing || []).forEach(function (name) {
        note(data.contact + " has no value for {{ " + name + " }}: it stays empty unless you give a default.", "missing");
      });
      var table = el("preview-variables");
      table.querySelector("th:last-child").textContent = data.contact
        ? "Value for " + data.contact
        : "Value with placeholders empty";
      var rows = table.querySelector("tbody");
      rows.textContent = "";
      (data.variables || []).forEach(function (variable) {
        var tr = document.createElement("tr");
        var label = document.createElement("td");
        label.textContent = variable.label;
        var value = document.createElement("td");
        value.textContent = variable.value || "(empty)";
        if (variable.lacking) value.className = "lacking";
        tr.appendChild(label);
        tr.appendChild(value);
        rows.appendChild(tr);
      });
      table.hidden = !(data.variables || []).length;
      recount();
    }

    var askPreview = window.LivePreview.poster(form, live.dataset.previewUrl, showPreview, function (error) {
      el("preview-text").textContent = "The preview could not be loaded (" + error.message + ").";
    });

    body.addEventListener("input", function () {
      recount();
      askPreview();
    });
    el("replace-lookalikes").addEventListener("click", function () {
      body.value = counter.toGsm7(body.value);
      recount();
      askPreview();
    });
    var contact = document.getElementById("id_preview_contact");
    if (contact) {
      contact.addEventListener("change", askPreview);
      if (window.django && window.django.jQuery) window.django.jQuery(contact).on("change", askPreview);
    }

    setUpVariables(form, askPreview);
    recount();
    askPreview();
  });

  /* Provider template: which rows and columns show for the chosen provider, and adding rows. */
  function setUpVariables(form, changed) {
    var fieldset = document.getElementById("template-variables");
    var rows = document.getElementById("variables-rows");
    if (!fieldset || !rows) return;
    var total = form.querySelector("input[name=variables-TOTAL_FORMS]");
    var idRow = document.querySelector(".form-row.field-provider_template_id");

    function kind() {
      var checked = form.querySelector("input[name=provider_kind]:checked");
      return checked ? checked.value : "";
    }

    function fitRow(row) {
      window.VariableRows.fit(row, kind() === "twilio");
    }

    function fit() {
      var chosen = kind();
      fieldset.hidden = !chosen;
      if (idRow) idRow.hidden = !chosen;
      fieldset.classList.toggle("twilio", chosen === "twilio");
      fieldset.classList.toggle("gupshup", chosen === "gupshup");
      rows.querySelectorAll("tr.variable-row").forEach(fitRow);
    }

    function nextNumber(part) {
      var used = Array.from(rows.querySelectorAll("tr.variable-row"))
        .filter(function (row) {
          return row.querySelector("select[name$=-part]").value === part;
        })
        .map(function (row) {
          return parseInt(row.querySelector("input[name$=-position]").value, 10) || 0;
        });
      return used.length ? Math.max.apply(null, used) + 1 : 1;
    }

    document.getElementById("add-variable").addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      var html = document.getElementById("variable-row-template").innerHTML.replace(/__prefix__/g, String(index));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      var row = rows.lastElementChild;
      fitRow(row);
      row.querySelector("input[name$=-position]").value = nextNumber(row.querySelector("select[name$=-part]").value);
      row.querySelector("select[name$=-source]").focus();
    });
    form.querySelectorAll("input[name=provider_kind]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        fit();
        changed();
      });
    });
    rows.addEventListener("change", function (event) {
      var row = event.target.closest("tr.variable-row");
      if (row) fitRow(row);
      changed();
    });
    rows.addEventListener("input", changed);
    fit();
  }
})();
