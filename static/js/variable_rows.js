/* A template variable's row, fitted to its provider: Twilio's numbered variables, or Gupshup's
 * header, body and media parts; the contact-field or fixed-value cells greyed as its source says.
 * Used by the message template editor and the campaign form's WhatsApp template picker.
 */
(function (root) {
  "use strict";

  function fit(row, twilio) {
    var part = row.querySelector("select[name$=-part]");
    var source = row.querySelector("select[name$=-source]");
    Array.from(part.options).forEach(function (option) {
      option.hidden = twilio ? option.value !== "variable" : option.value === "variable";
    });
    if (twilio) part.value = "variable";
    else if (part.value === "variable") part.value = "body";
    var fixed = source.value === "fixed";
    row.querySelectorAll(".when-field").forEach(function (cell) {
      cell.classList.toggle("inactive", fixed);
    });
    row.querySelectorAll(".when-fixed").forEach(function (cell) {
      cell.classList.toggle("inactive", !fixed);
    });
    var media = part.value === "media"; // the header's one media file has no number
    var position = row.querySelector("input[name$=-position]");
    position.disabled = media;
    position.closest("td").classList.toggle("inactive", media);
  }

  root.VariableRows = { fit: fit };
})(window);
