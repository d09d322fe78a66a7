// Small behaviours of the pages, kept out of the HTML so the Content-Security-Policy can forbid
// inline scripts: a <select data-autosubmit> submits its form when changed; a [data-print]
// button prints the page.
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target.matches && target.matches("select[data-autosubmit]") && target.form) {
    target.form.submit();
  }
});
document.addEventListener("click", function (event) {
  var target = event.target.closest ? event.target.closest("[data-print]") : null;
  if (target) {
    event.preventDefault();
    window.print();
  }
});
// A form saved live ([data-live-errors], e.g. the screening facts): after each answer swaps the
// error slots, an input is aria-invalid exactly when an error text it is described by is not empty.
function markInvalid(form) {
  form.querySelectorAll("input[aria-describedby], select[aria-describedby], textarea[aria-describedby]")
    .forEach(function (el) {
      var bad = el.getAttribute("aria-describedby").split(/\s+/).some(function (id) {
        var slot = id && document.getElementById(id);
        return slot && slot.classList.contains("field-error") && slot.textContent.trim() !== "";
      });
      if (bad) { el.setAttribute("aria-invalid", "true"); } else { el.removeAttribute("aria-invalid"); }
      var box = el.closest(".field, tr");
      if (box) { box.classList.toggle("has-error", bad); }
    });
}
document.addEventListener("htmx:afterSettle", function () {
  document.querySelectorAll("form[data-live-errors]").forEach(markInvalid);
});
