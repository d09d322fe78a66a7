// Small behaviours of the pages, kept out of the HTML so the Content-Security-Policy can forbid
// inline scripts: a <select data-autosubmit> submits its form when changed; a [data-print]
// button prints the page; a page leaves only once its live-saved form has saved (below).
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
// A live-saved form sends each change as it is made, one request at a time, the latest change queued
// behind the one in flight (htmx marks the form .htmx-request until both are done). Leaving the page
// meanwhile would drop the queued change, so a form submitted or a link followed on the page then
// waits for the saves, and goes on when they are done (or after 15 s: a save that hangs on a dead
// network must not keep the page from leaving, though the change it carries may then be lost). Asked
// again while waiting, the page takes the latest way out, once.
function savePending() {
  return document.querySelector("form[data-live-errors].htmx-request") !== null;
}
var leaving = null; // what the page does once its saves are done: the latest way out asked for
var released = false; // true while that is done, so that its own submit event is let through
function leaveAfterSaves(action) {
  var waiting = leaving !== null;
  leaving = action;
  if (waiting) { return; }
  var waited = 0;
  (function wait() {
    if (savePending() && waited < 15000) {
      waited += 50;
      window.setTimeout(wait, 50);
      return;
    }
    var go = leaving;
    leaving = null;
    released = true;
    try { go(); } finally { released = false; }
  })();
}
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (released || event.defaultPrevented || form.hasAttribute("data-live-errors") || !savePending()) { return; }
  event.preventDefault();
  var submitter = event.submitter || null;
  leaveAfterSaves(function () { form.requestSubmit(submitter); });
});
document.addEventListener("click", function (event) {
  if (released || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) { return; }
  var link = event.target.closest ? event.target.closest("a[href]") : null;
  if (!link || link.target || link.hasAttribute("download") || link.getAttribute("href").charAt(0) === "#" || !savePending()) { return; }
  event.preventDefault();
  var href = link.href;
  leaveAfterSaves(function () { window.location.assign(href); });
});
