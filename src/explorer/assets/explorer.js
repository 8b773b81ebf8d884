// The explorer's only script: a live countdown to the epoch's end. Pages are complete
// without it (the end time is printed beside it).
"use strict";

function remaining(seconds) {
  if (seconds <= 0) return "now (the epoch change is due)";
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + s + "s";
}

function tick() {
  for (const el of document.querySelectorAll("time[data-countdown]")) {
    const end = Date.parse(el.getAttribute("datetime"));
    if (!Number.isNaN(end)) el.textContent = remaining((end - Date.now()) / 1000);
  }
}

tick();
setInterval(tick, 1000);
