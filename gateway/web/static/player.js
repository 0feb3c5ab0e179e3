// Plays a window's segments one after the other as one video (without this file
// every segment still has its own player). No inline script: the CSP allows only
// this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var list = document.querySelector("[data-playlist]");
  if (!list) { return; }
  var figures = Array.prototype.slice.call(list.querySelectorAll("figure"));
  if (figures.length < 2) { return; }
  list.classList.add("js");
  var show = function (i, play) {
    figures.forEach(function (f, j) { f.classList.toggle("current", i === j); });
    var v = figures[i].querySelector("video");
    if (play) { v.play(); }
  };
  figures.forEach(function (f, i) {
    var v = f.querySelector("video");
    v.addEventListener("ended", function () {
      if (i + 1 < figures.length) {
        var next = figures[i + 1].querySelector("video");
        next.preload = "auto";
        show(i + 1, true);
      }
    });
  });
  show(0, false);
});
