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
