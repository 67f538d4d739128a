// The printable page's "print" button (the page reads and prints without JavaScript too).
(function () {
  "use strict";
  var button = document.getElementById("print");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
})();
