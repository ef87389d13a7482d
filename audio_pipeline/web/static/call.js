// Call page: seek on click, highlight the word being played, keyboard navigation, live form score.
(function () {
  "use strict";
  var audio = document.getElementById("player");
  if (!audio) { return; }
  var words = Array.prototype.slice.call(document.querySelectorAll("#transcript .w"));
  var starts = words.map(function (w) { return parseFloat(w.getAttribute("data-s")); });
  var ends = words.map(function (w) { return parseFloat(w.getAttribute("data-e")); });
  var findings = Array.prototype.slice.call(document.querySelectorAll("#findings .finding"));
  var cursor = document.getElementById("cursor");
  var timeline = document.getElementById("timeline");
  var duration = parseFloat(document.getElementById("call").getAttribute("data-duration")) || 0;
  var current = -1;

  function seek(t) {
    if (!isFinite(t)) { return; }
    audio.currentTime = Math.max(0, t);  // playing or paused, it stays that way
    update();
  }

  // last word starting at or before t (binary search: a one-hour call has ~10,000 words)
  function wordAt(t) {
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found >= 0 && t <= ends[found] + 0.15 ? found : -1;
  }

  function update() {
    var t = audio.currentTime;
    var i = wordAt(t);
    if (i !== current) {
      if (current >= 0) { words[current].classList.remove("now"); }
      if (i >= 0) {
        words[i].classList.add("now");
        if (!audio.paused) { words[i].scrollIntoView({block: "nearest"}); }
      }
      current = i;
    }
    if (cursor) { cursor.setAttribute("x1", t); cursor.setAttribute("x2", t); }
  }

  function tick() {
    update();
    if (!audio.paused) { window.requestAnimationFrame(tick); }
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-seek]");
    if (el) { ev.preventDefault(); seek(parseFloat(el.getAttribute("data-seek"))); return; }
    var w = ev.target.closest("#transcript .w");
    if (w) { seek(parseFloat(w.getAttribute("data-s"))); }
  });

  if (timeline) {  // a click on the timeline's background seeks to that point of the call
    timeline.addEventListener("click", function (ev) {
      if (ev.target.closest("[data-seek]")) { return; }
      var box = timeline.getBoundingClientRect();
      seek(duration * (ev.clientX - box.left) / box.width);
    });
  }

  function jump(direction) {
    var t = audio.currentTime, target = null;
    for (var i = 0; i < findings.length; i++) {
      var s = parseFloat(findings[i].getAttribute("data-start"));
      if (direction > 0 && s > t + 0.05 && (target === null || s < target.s)) { target = {s: s, el: findings[i]}; }
      if (direction < 0 && s < t - 0.05 && (target === null || s > target.s)) { target = {s: s, el: findings[i]}; }
    }
    if (target) {
      seek(target.s);
      findings.forEach(function (f) { f.classList.remove("selected"); });
      target.el.classList.add("selected");
      target.el.scrollIntoView({block: "nearest"});
    }
  }

  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === " ") { ev.preventDefault(); if (audio.paused) { audio.play(); } else { audio.pause(); } }
    else if (ev.key === "n" || ev.key === "j") { jump(1); }
    else if (ev.key === "p" || ev.key === "k") { jump(-1); }
  });

  audio.addEventListener("play", function () { window.requestAnimationFrame(tick); });
  audio.addEventListener("seeked", update);
  audio.addEventListener("timeupdate", update);

  // evaluation form: the score follows the answers before saving (the server computes the same)
  var form = document.getElementById("evaluation-form");
  var scoreEl = document.getElementById("score");
  if (form && scoreEl) {
    form.addEventListener("change", function () {
      var earned = 0, possible = 0, failed = false;
      form.querySelectorAll(".question").forEach(function (q) {
        var picked = q.querySelector("input[type=radio]:checked");
        if (!picked || picked.value === "na") { return; }
        var weight = parseFloat(q.getAttribute("data-weight")) || 0;
        possible += weight;
        if (picked.value === "yes") { earned += weight; }
        else if (q.getAttribute("data-autofail") === "1") { failed = true; }
      });
      scoreEl.textContent = failed ? "0 (auto-fail)" : (possible ? String(Math.round(100 * earned / possible)) : "—");
    });
  }
}());
