// The console's live parts: tables and timelines refreshed from server-sent events, the hang-up button,
// the recording's waveform (both channels, drawn from the WAV) and seeking to a turn. No external code.
"use strict";

function refresher(element, url, after) {
  let pending = null;
  return function () {
    if (pending) return;
    pending = setTimeout(async function () {
      pending = null;
      const response = await fetch(url(), { credentials: "same-origin", headers: { Accept: "text/x-fragment" } });
      if (response.ok) {
        element.innerHTML = await response.text();
        if (after) after(response);
      }
    }, 150);
  };
}

function live(element, url, after) {
  const refresh = refresher(element, url, after);
  const events = new EventSource(element.dataset.live);
  events.onmessage = refresh;
  window.addEventListener("beforeunload", function () { events.close(); });
  return refresh;
}

function drawWaveform(canvas, buffer) {
  const view = new DataView(buffer);
  let offset = 12, data = 0, size = 0, channels = 2;
  while (offset + 8 <= view.byteLength) {
    const id = String.fromCharCode(view.getUint8(offset), view.getUint8(offset + 1), view.getUint8(offset + 2), view.getUint8(offset + 3));
    const length = view.getUint32(offset + 4, true);
    if (id === "fmt ") channels = view.getUint16(offset + 10, true);
    if (id === "data") { data = offset + 8; size = Math.min(length, view.byteLength - data); break; }
    offset += 8 + length;
  }
  const frames = Math.floor(size / (2 * channels));
  const context = canvas.getContext("2d");
  const width = canvas.width, half = canvas.height / 2;
  context.clearRect(0, 0, width, canvas.height);
  const colours = ["#157f3b", "#0b63c9"];
  for (let channel = 0; channel < 2; channel++) {
    context.fillStyle = colours[channel];
    const middle = half * channel + half / 2;
    for (let x = 0; x < width; x++) {
      const from = Math.floor(x * frames / width), to = Math.max(from + 1, Math.floor((x + 1) * frames / width));
      let low = 0, high = 0;
      for (let i = from; i < to && i < frames; i++) {
        const sample = view.getInt16(data + (i * channels + channel) * 2, true) / 32768;
        if (sample < low) low = sample;
        if (sample > high) high = sample;
      }
      context.fillRect(x, middle - high * half / 2, 1, Math.max(1, (high - low) * half / 2));
    }
  }
  canvas.dataset.drawn = String(frames);
}

function seekable(list, player) {
  list.addEventListener("click", function (event) {
    const item = event.target.closest("[data-seek]");
    if (!item || !player) return;
    player.currentTime = parseFloat(item.dataset.seek);
    player.play().catch(function () {});
  });
}

document.addEventListener("DOMContentLoaded", function () {
  const calls = document.getElementById("calls");
  if (calls) {
    live(calls, function () {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      return url.toString();
    });
  }
  const player = document.getElementById("player");
  const timeline = document.getElementById("timeline");
  if (timeline) {
    seekable(timeline, player);
    const hangup = document.querySelector("form.hangup");
    const callUrl = window.location.pathname;
    const status = document.querySelector(".facts dd");
    if (hangup) {
      live(timeline, function () { return callUrl + "?fragment=1"; }, function (response) {
        const now = response.headers.get("X-Call-Status");
        if (now && status) status.textContent = now;
      });
    }
    if (hangup) {
      hangup.addEventListener("submit", async function (event) {
        event.preventDefault();
        const response = await fetch(hangup.dataset.action, { method: "POST", credentials: "same-origin" });
        hangup.querySelector("button").textContent = response.ok ? "Hanging up…" : "Hang-up refused";
      });
    }
  }
  const canvas = document.getElementById("waveform");
  if (canvas && player) {
    fetch(player.getAttribute("src"), { credentials: "same-origin" })
      .then(function (response) { return response.arrayBuffer(); })
      .then(function (buffer) { drawWaveform(canvas, buffer); });
    canvas.addEventListener("click", function (event) {
      const box = canvas.getBoundingClientRect();
      if (player.duration) player.currentTime = (event.clientX - box.left) / box.width * player.duration;
    });
  }
});
