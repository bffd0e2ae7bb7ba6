// The time zone page: offers the zone the browser reports, when it differs from the one chosen.
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var select = document.getElementById("id_time_zone");
  var hint = document.getElementById("browser-zone");
  if (!zone || !select || select.value === zone || !select.querySelector('option[value="' + zone + '"]')) return;
  hint.querySelector("strong").textContent = zone.replace(/_/g, " ");
  hint.hidden = false;
  document.getElementById("use-browser-zone").addEventListener("click", function () { select.value = zone; });
})();
