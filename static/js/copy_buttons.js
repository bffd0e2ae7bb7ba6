// Copy buttons (the channel page's webhook addresses): a button with data-copy-from="<input id>"
// puts that input's value on the clipboard and says so beside it. A static file, because the
// Content-Security-Policy refuses inline scripts and onclick attributes. Where the clipboard API is
// missing (a page not served over HTTPS or from localhost) the text is selected for Ctrl-C instead.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy-from]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copyFrom);
      var result = button.parentElement.querySelector(".copy-result");
      var say = function (text) { if (result) result.textContent = text; };
      if (!input) return;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(
          function () { say("Copied"); },
          function () { input.select(); say("Selected: press Ctrl-C to copy"); }
        );
      } else {
        input.select();
        say(document.execCommand && document.execCommand("copy") ? "Copied" : "Selected: press Ctrl-C to copy");
      }
    });
  });
});
