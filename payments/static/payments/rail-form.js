// The disbursement form, rail first: once a rail is chosen, only the fields its request takes are shown.
// Each such field names its rails in data-rails (payments/forms.py); the others are hidden and disabled, so
// they are not sent either. Without this script every field shows and the server names each field the
// chosen rail refuses or misses.
(function () {
  "use strict";
  var form = document.querySelector("form[data-rail-form]");
  if (!form) return;
  var fields = form.querySelectorAll("[data-rails]");

  function chosenRail() {
    var checked = form.querySelector('input[name="rail"]:checked');
    return checked ? checked.value : "mobile";
  }

  function show() {
    var rail = chosenRail();
    fields.forEach(function (field) {
      var takes = field.getAttribute("data-rails").split(" ").indexOf(rail) !== -1;
      var row = field.closest(".form-row") || field;
      row.style.display = takes ? "" : "none";
      field.disabled = !takes;
      var label = field.getAttribute("data-label-" + rail);
      var labelTag = form.querySelector('label[for="' + field.id + '"]');
      if (label && labelTag) labelTag.textContent = label + ":";
    });
    form.setAttribute("data-rail", rail);
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "rail") show();
  });
  show();
})();
