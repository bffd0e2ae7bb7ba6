// django-rq's job page (templates/django_rq/job_detail.html) opens a result when its row is
// clicked; its own template did it with inline onclick attributes, which the Content-Security-Policy
// refuses, so our copy names the address in data-href and this opens it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("tr.rq-clickable[data-href]").forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (!event.target.closest("a")) window.location = row.dataset.href;
    });
  });
});
