// Small conveniences only: every page works without JavaScript.
(function () {
  "use strict";
  // A district chosen in the queue's filters loads its subdistricts at once.
  var selects = document.querySelectorAll("select[data-autosubmit]");
  for (var i = 0; i < selects.length; i++) {
    selects[i].addEventListener("change", function (event) {
      var form = event.target.form;
      if (form && form.elements.subdistrict) { form.elements.subdistrict.value = ""; }
      if (form) { form.submit(); }
    });
  }
  // A form sent once is not sent twice by an impatient second click.
  var forms = document.querySelectorAll("form[method=post]");
  for (var j = 0; j < forms.length; j++) {
    forms[j].addEventListener("submit", function (event) {
      var form = event.target;
      if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
    });
  }
})();
