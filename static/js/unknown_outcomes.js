// The unknown outcomes page: the header box ticks every message of the group.
document.getElementById("tick-all").addEventListener("change", function (event) {
  document.querySelectorAll('#doubt-messages input[name="chosen"]').forEach(function (box) { box.checked = event.target.checked; });
});
