// Postback admin UI: copy buttons, confirmations, local times and the
// events list's live refresh. Every page works without it.
"use strict";

// Times arrive in UTC; show them in the reader's time zone.
function localTimes(root) {
  const fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  root.querySelectorAll("time[datetime]").forEach((el) => {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) {
      el.title = el.textContent;
      el.textContent = fmt.format(d);
    }
  });
}

// <button data-copy="#id"> copies the value of the element it names.
async function copyFrom(button) {
  const target = document.querySelector(button.dataset.copy);
  if (!target) return;
  const text = target.value !== undefined ? target.value : target.textContent;
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch (e) {
    // Older browsers, or a page not served over HTTPS: select and copy.
    target.select && target.select();
    try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
  }
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = ok ? "Copied" : "Press Ctrl+C";
  button.classList.toggle("copied", ok);
  if (!ok && target.select) target.select();
  setTimeout(() => { button.textContent = label; button.classList.remove("copied"); }, 2000);
}

// <button data-copy-text="…"> copies its own value; delegated, so rows the
// live list replaces keep working.
async function copyText(button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(button.dataset.copyText);
    ok = true;
  } catch (e) { ok = false; }
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = ok ? "Copied" : "Copy failed";
  setTimeout(() => { button.textContent = label; }, 1500);
}

// The events list fetches its rows every 5 s while "Live" is ticked.
function liveEvents() {
  const body = document.getElementById("event-rows");
  const toggle = document.getElementById("live");
  const state = document.getElementById("live-state");
  if (!body || !toggle || !body.dataset.refresh) return;
  const stored = localStorage.getItem("postback.live");
  if (stored !== null) toggle.checked = stored === "1";
  let timer = null;
  const ids = () => new Set([...body.querySelectorAll("tr[data-id]")].map((r) => r.dataset.id));
  async function refresh() {
    if (document.hidden) return;
    try {
      const res = await fetch(body.dataset.refresh, { headers: { "X-Postback-Fragment": "1" }, credentials: "same-origin" });
      if (res.status === 401) {
        stop();
        state.textContent = "session ended: reload to log in";
        return;
      }
      if (!res.ok) { state.textContent = "refresh failed (" + res.status + "), retrying"; return; }
      const before = ids();
      const html = await res.text();
      body.innerHTML = html;
      body.querySelectorAll("tr[data-id]").forEach((r) => { if (before.size && !before.has(r.dataset.id)) r.classList.add("new"); });
      localTimes(body);
      state.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      state.textContent = "offline, retrying";
    }
  }
  function start() { if (!timer) timer = setInterval(refresh, 5000); state.textContent = "refreshes every 5 s"; }
  function stop() { clearInterval(timer); timer = null; }
  toggle.addEventListener("change", () => {
    localStorage.setItem("postback.live", toggle.checked ? "1" : "0");
    if (toggle.checked) { start(); refresh(); } else { stop(); state.textContent = "paused"; }
  });
  if (toggle.checked) start(); else state.textContent = "paused";
}

// An event page with deliveries about to be sent reloads itself every few
// seconds until they are done (the server stops asking once nothing is
// due soon), unless the reader is selecting text or typing.
function liveEvent() {
  const el = document.getElementById("event-live");
  if (!el) return;
  const wait = Number(el.dataset.reload) || 3000;
  const tick = () => {
    const busy = document.hidden || String(window.getSelection()) !== "" ||
      (document.activeElement && /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName));
    if (busy) { setTimeout(tick, wait); return; }
    location.replace(location.pathname + "#" + (location.hash.slice(1) || "live"));
    location.reload();
  };
  setTimeout(tick, wait);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  document.querySelectorAll("[data-copy]").forEach((b) => b.addEventListener("click", () => copyFrom(b)));
  document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit", (e) => {
    if (!window.confirm(f.dataset.confirm)) e.preventDefault();
  }));
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest("[data-copy-text]");
    if (b) copyText(b);
  });
  liveEvents();
  liveEvent();
});
