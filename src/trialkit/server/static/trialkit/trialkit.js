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
// error slots, an input is aria-invalid exactly when its error slot ([data-error-slot], also one of
// the ids it is aria-describedby) holds a message.
function markInvalid(form) {
  form.querySelectorAll("[data-error-slot]").forEach(function (el) {
    var slot = document.getElementById(el.getAttribute("data-error-slot"));
    var bad = !!slot && slot.textContent.trim() !== "";
    if (bad) { el.setAttribute("aria-invalid", "true"); } else { el.removeAttribute("aria-invalid"); }
    var box = el.closest(".field, tr");
    if (box) { box.classList.toggle("has-error", bad); }
  });
}
document.addEventListener("htmx:afterSettle", function () {
  document.querySelectorAll("form[data-live-errors]").forEach(markInvalid);
});
