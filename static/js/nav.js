// On a narrow screen the main navigation folds behind the "Menu" button; this opens and closes it and tells
// assistive technology whether it is open. On a wide screen the button is hidden and the navigation always shown.
(function () {
  var toggle = document.querySelector(".nav-toggle");
  if (!toggle) return;
  var header = toggle.closest(".topbar");
  toggle.addEventListener("click", function () {
    var open = header.classList.toggle("nav-open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
