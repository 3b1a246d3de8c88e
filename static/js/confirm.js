// A form marked data-confirm asks before it is sent ("Remove the certificate for mail.customer.example?"): small
// destructive actions that do not deserve a page of their own still never happen on a stray click.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
