/* The campaign form's WhatsApp template picker (campaigns/admin/template_picker.py).
 *
 * Offers only the chosen channel's approved templates, shows the typed-id field only for a WhatsApp
 * channel never synced, adds a row for each variable the chosen template has, and shows the template
 * as the phone will: the server fills it (from a chosen contact, or the samples) a moment after a change.
 */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var picker = document.getElementById("whatsapp-picker");
    var channel = document.getElementById("id_channel");
    var choice = document.getElementById("id_whatsapp_template");
    if (!picker || !channel || !choice) return;
    var form = choice.form;
    var section = choice.closest("fieldset");
    var channels = JSON.parse(document.getElementById("synced-channels").textContent);
    var idInput = document.getElementById("id_provider_template_id");
    var idRow = idInput ? idInput.closest(".form-row") : null;
    var rows = document.getElementById("variables-rows");
    var total = form.querySelector("input[name=variables-TOTAL_FORMS]");
    var variables = document.getElementById("template-variables");
    section.insertAdjacentElement("afterend", picker);
    var el = function (id) {
      return document.getElementById(id);
    };

    function current() {
      return channels[channel.value] || null; // {kind, synced} for a WhatsApp channel
    }

    function kind() {
      var chosen = current();
      return chosen ? chosen.kind : "";
    }

    function liveRows() {
      return Array.from(rows.querySelectorAll("tr.variable-row")).filter(function (row) {
        var remove = row.querySelector("input[name$=-DELETE]");
        return !(remove && remove.checked);
      });
    }

    function fitRow(row) {
      window.VariableRows.fit(row, kind() !== "gupshup");
    }

    function fit() {
      var chosen = current();
      section.hidden = !chosen;
      Array.from(choice.options).forEach(function (option) {
        if (!option.value) return;
        option.hidden = option.dataset.channel !== channel.value;
        if (option.hidden && option.selected) choice.value = "";
      });
      if (idRow) idRow.hidden = !chosen || (chosen.synced && !idInput.value);
      var using = !!chosen && (!!choice.value || !!(idInput && idInput.value.trim()));
      variables.hidden = !using;
      variables.classList.toggle("twilio", kind() !== "gupshup");
      variables.classList.toggle("gupshup", kind() === "gupshup");
      if (!using) {
        el("phone-preview").hidden = true;
        el("template-rules").hidden = true;
      }
      rows.querySelectorAll("tr.variable-row").forEach(fitRow);
    }

    function addRow(part, position) {
      var index = parseInt(total.value, 10);
      var html = el("variable-row-template").innerHTML.replace(/__prefix__/g, String(index));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      var row = rows.lastElementChild;
      row.querySelector("select[name$=-part]").value = part;
      fitRow(row);
      row.querySelector("select[name$=-part]").value = part;
      if (position) row.querySelector("input[name$=-position]").value = position;
      fitRow(row);
      return row;
    }

    function key(part, position) {
      return part + ":" + (part === "media" ? "" : String(position || ""));
    }

    /* The rows the chosen template needs: missing ones added, ones it does not have removed. */
    function matchRows(needed, preview) {
      var wanted = {};
      needed.forEach(function (item) {
        wanted[key(item.part, item.position)] = item;
      });
      var have = {};
      liveRows().forEach(function (row) {
        var part = row.querySelector("select[name$=-part]").value;
        var here = key(part, row.querySelector("input[name$=-position]").value);
        if (wanted[here] && !have[here]) {
          have[here] = true;
          return;
        }
        var remove = row.querySelector("input[name$=-DELETE]");
        if (remove) remove.checked = true;
        row.hidden = true;
      });
      needed.forEach(function (item) {
        if (have[key(item.part, item.position)]) return;
        var row = addRow(item.part, item.position);
        if (item.part === "media" && preview.header_media) {
          // The approved sample to start from: staff replace it with this campaign's picture.
          row.querySelector("select[name$=-source]").value = "fixed";
          row.querySelector("input[name$=-value]").value = preview.header_media;
          fitRow(row);
        }
      });
    }

    function showPreview(data, templateChanged) {
      if (!data.template) {
        el("phone-preview").hidden = true;
        el("template-rules").hidden = true;
        return;
      }
      if (templateChanged) matchRows(data.needed, data.preview);
      var preview = data.preview;
      var media = el("phone-media");
      media.hidden = !preview.header_media;
      media.textContent = preview.header_media ? (preview.header_kind || "media") + ": " + preview.header_media : "";
      el("phone-header").hidden = !preview.header_text;
      el("phone-header").textContent = preview.header_text;
      el("phone-body").textContent = preview.body;
      el("phone-footer").hidden = !preview.footer;
      el("phone-footer").textContent = preview.footer;
      el("phone-buttons").replaceChildren.apply(
        el("phone-buttons"),
        preview.buttons.map(function (button) {
          var item = document.createElement("li");
          item.textContent = button.title;
          if (button.url) item.title = button.url;
          return item;
        }),
      );
      el("phone-preview-for").textContent = data.contact ? "for " + data.contact : "with the template's sample values";
      var rules = data.rules.concat(data.missing);
      el("template-rules-list").replaceChildren.apply(
        el("template-rules-list"),
        rules.map(function (rule, index) {
          var item = document.createElement("li");
          item.textContent = rule;
          if (index >= data.rules.length) item.className = "missing";
          return item;
        }),
      );
      el("template-rules").hidden = false;
      el("phone-preview").hidden = false;
    }

    var postForm = window.LivePreview.poster(
      form,
      picker.dataset.previewUrl,
      function (data, templateChanged) {
        showPreview(data, templateChanged);
        if (templateChanged) askPreview(false); // again, with the rows just added
      },
      function (error) {
        el("phone-body").textContent = "The preview could not be loaded (" + error.message + ").";
      }
    );
    function askPreview(templateChanged) {
      if (!choice.value) {
        el("phone-preview").hidden = true;
        el("template-rules").hidden = true;
        return;
      }
      postForm(templateChanged);
    }

    function removeAllRows() {
      liveRows().forEach(function (row) {
        var remove = row.querySelector("input[name$=-DELETE]");
        if (remove) remove.checked = true;
        row.hidden = true;
      });
    }

    channel.addEventListener("change", function () {
      fit();
      if (!choice.value) removeAllRows(); // another channel's template went: so did its variables
      askPreview(true);
    });
    choice.addEventListener("change", function () {
      fit();
      askPreview(true);
    });
    if (idInput) idInput.addEventListener("input", fit);
    el("add-variable").addEventListener("click", function () {
      var row = addRow(kind() === "gupshup" ? "body" : "variable", liveRows().length + 1);
      row.querySelector("select[name$=-source]").focus();
    });
    rows.addEventListener("change", function (event) {
      var row = event.target.closest("tr.variable-row");
      if (row) fitRow(row);
      askPreview(false);
    });
    rows.addEventListener("input", function () {
      askPreview(false);
    });
    var contact = document.getElementById("id_preview_contact");
    if (contact && window.django && window.django.jQuery) {
      window.django.jQuery(contact).on("change", function () {
        askPreview(false);
      });
    }
    rows.querySelectorAll("tr.variable-row").forEach(function (row) {
      var remove = row.querySelector("input[name$=-DELETE]");
      row.hidden = !!(remove && remove.checked); // removed before a save that came back with errors
    });
    fit();
    askPreview(liveRows().length === 0);
  });
})();
