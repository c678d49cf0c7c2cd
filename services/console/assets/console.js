// Earshot console: live fragments over Server-Sent Events, countdowns, local times and keys.
// Pages work without it (plain forms); this only keeps them current and quick to drive.
"use strict";

function pad(n) { return String(n).padStart(2, "0"); }

function localTimes(root) {
  root.querySelectorAll("time[data-at]").forEach((el) => {
    const at = new Date(Number(el.dataset.at));
    el.textContent = at.toLocaleTimeString();
    el.title = at.toISOString();
  });
}

function tickCountdowns() {
  const now = Date.now();
  document.querySelectorAll("[data-until]").forEach((el) => {
    const left = Math.round((Number(el.dataset.until) - now) / 1000);
    const span = Math.abs(left);
    const hours = Math.floor(span / 3600);
    const minutes = Math.floor(span / 60) % 60;
    const text = (hours ? hours + ":" + pad(minutes) : minutes) + ":" + pad(span % 60);
    const label = el.dataset.label ? el.dataset.label + ": " : "";
    el.textContent = label + (left >= 0 ? text + " left" : "overdue " + text);
    el.classList.toggle("overdue", left < 0);
  });
}

// An element with data-sse="/url" listens there. Events named like an element id replace its
// contents ("board", "agents", or the element's data-sse-event); "escalation" rows go on top of
// #feed, replacing the row of the same escalation.
function listen(el) {
  const source = new EventSource(el.dataset.sse);
  const own = el.dataset.sseEvent;
  if (own) {
    source.addEventListener(own, (event) => { el.innerHTML = event.data; localTimes(el); tickCountdowns(); });
  }
  ["board", "agents"].forEach((name) => {
    source.addEventListener(name, (event) => {
      const target = document.getElementById(name);
      if (target) { target.innerHTML = event.data; localTimes(target); }
    });
  });
  source.addEventListener("escalation", (event) => {
    const feed = document.getElementById("feed");
    if (!feed) { return; }
    const holder = document.createElement("tbody");
    holder.innerHTML = event.data;
    const row = holder.firstElementChild;
    if (!row) { return; }
    const old = document.getElementById(row.id);
    if (old) { old.replaceWith(row); } else { feed.prepend(row); }
    row.classList.add("fresh");
    localTimes(row);
    tickCountdowns();
  });
}

function submit(id) {
  const form = document.getElementById(id);
  if (form) { form.requestSubmit(); }
}

function keys(event) {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) { return; }
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) { return; }
  const focus = (id) => { const el = document.getElementById(id); if (el) { el.focus(); event.preventDefault(); } };
  switch (event.key) {
    case "n": submit("next"); break;
    case "r": focus("reply"); break;
    case "e": focus("escalate-note"); break;
    case "w": submit("wait"); break;
    case "d": submit("resolve"); break;
    case "?": { const help = document.getElementById("help"); if (help) { help.hidden = !help.hidden; } break; }
    default: return;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  document.querySelectorAll("[data-sse]").forEach(listen);
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
  document.addEventListener("keydown", keys);
});
