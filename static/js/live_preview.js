/* A form's live preview, asked of the server as staff type: the whole form is posted (with its CSRF
 * token) a quarter second after the last change, and only the latest answer is shown, so a slow
 * early answer never replaces a newer one. Used by the message template editor and the campaign
 * form's WhatsApp template picker.
 */
(function (root) {
  "use strict";

  // ask(arg) posts ``form`` to ``url`` after a pause; show(data, arg) gets the latest answer,
  // failed(error) is told when it could not be had.
  function poster(form, url, show, failed) {
    var timer = null;
    var asked = 0;
    return function ask(arg) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++asked;
        var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
        fetch(url, {
          method: "POST",
          body: new FormData(form),
          headers: { "X-CSRFToken": token },
          credentials: "same-origin",
        })
          .then(function (response) {
            if (!response.ok) throw new Error("preview answered " + response.status);
            return response.json();
          })
          .then(function (data) {
            if (mine === asked) show(data, arg);
          })
          .catch(failed);
      }, 250);
    };
  }

  root.LivePreview = { poster: poster };
})(window);
