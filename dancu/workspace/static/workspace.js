// Keyboard shortcuts of the review workspace (no external assets).
// Queue: "/" search, j / k move the selection, Enter opens the pair.
// Pair: s same person, d different people, u not sure, n note, j / k next or
// previous pair, b back to the queue. Keys typed in a text field are text.
(function () {
  "use strict";
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }
  function click(id) {
    var el = document.getElementById(id);
    if (el) { el.click(); return true; }
    return false;
  }
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tr[data-href]"));
  var selected = -1;
  function select(i) {
    if (!rows.length) { return; }
    if (selected >= 0) { rows[selected].style.outline = ""; }
    selected = Math.max(0, Math.min(rows.length - 1, i));
    rows[selected].style.outline = "2px solid #3b6ea5";
    rows[selected].scrollIntoView({block: "nearest"});
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    var key = event.key;
    var done = false;
    if (document.getElementById("decide")) {
      if (key === "s") { done = click("same"); }
      else if (key === "d") { done = click("different"); }
      else if (key === "u") { done = click("unsure"); }
      else if (key === "n") { var note = document.getElementById("note"); if (note) { note.focus(); done = true; } }
      else if (key === "j") { done = click("next"); }
      else if (key === "k") { done = click("previous"); }
      else if (key === "b") { done = click("back"); }
    } else if (rows.length) {
      if (key === "j") { select(selected + 1); done = true; }
      else if (key === "k") { select(selected - 1); done = true; }
      else if (key === "Enter" && selected >= 0) { window.location = rows[selected].dataset.href; done = true; }
    }
    if (key === "/") { var q = document.getElementById("q"); if (q) { q.focus(); done = true; } }
    if (done) { event.preventDefault(); }
  });
}());
