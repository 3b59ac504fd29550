// mtl-book: a table wider than the text column scrolls inside its own box (mtl-book.css). Phones
// and many desktops draw overlay scrollbars that stay invisible until touched, so such a box gets
// the class "mtl-scrolls", which shows a "scroll sideways" line above it (tests/book/test_browser.py
// requires it on every box that scrolls).
(function () {
  const BOXES = ".bd-article .cell_output .output, .bd-article .pst-scrollable-table-container";
  function mark() {
    document.querySelectorAll(BOXES).forEach(function (box) {
      box.classList.toggle("mtl-scrolls", box.scrollWidth > box.clientWidth + 1);
    });
  }
  window.mtlMarkScrollBoxes = mark;
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
})();
