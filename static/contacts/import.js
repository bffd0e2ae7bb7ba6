/* Contact import pages: refuse a too-large file before uploading it, and move the progress bar
   by polling the import's status (JSON) until it is done or failed. No library. */
(function () {
  "use strict";

  var upload = document.getElementById("import-upload");
  if (upload) {
    var input = upload.querySelector("input[type=file]");
    var error = document.getElementById("import-size-error");
    var submit = upload.querySelector("input[type=submit]");
    input.addEventListener("change", function () {
      var file = input.files[0];
      var tooBig = file && file.size > Number(upload.dataset.maxBytes);
      error.hidden = !tooBig;
      submit.disabled = Boolean(tooBig);
      if (tooBig) {
        error.textContent = "“" + file.name + "” is " + (file.size / 1048576).toFixed(1) + " MB; the largest file you can import is " +
          upload.dataset.maxMb + " MB. Split it into smaller files, or remove columns you do not need.";
      }
    });
  }

  var box = document.getElementById("import-progress");
  if (!box) { return; }
  var number = new Intl.NumberFormat();

  function show(id, visible) { document.getElementById(id).hidden = !visible; }

  function render(status) {
    document.getElementById("import-state").textContent = status.state_label;
    document.getElementById("import-bar-fill").style.width = status.percent + "%";
    box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", status.percent);
    document.getElementById("import-percent").textContent = status.percent + "%";
    document.getElementById("import-rows").textContent = number.format(status.rows_read) + " of " + number.format(status.rows_total);
    var body = document.querySelector("#import-counts tbody");
    body.replaceChildren.apply(body, status.counts.map(function (count) {
      var row = document.createElement("tr");
      var label = document.createElement("th");
      var value = document.createElement("td");
      label.textContent = count.label;
      value.textContent = number.format(count.value);
      row.append(label, value);
      return row;
    }));
    var error = document.getElementById("import-error");
    error.textContent = status.error;
    error.hidden = !status.error;
    show("import-report", status.finished && status.rejected > 0);
    show("import-next", status.state === "done");
    show("import-resume", status.state === "failed" && !status.file_removed);
    show("import-live", !status.finished);
  }

  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (status) {
        render(status);
        if (!status.finished) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });  // the server restarting: try again later
  }
  poll();
}());
