"use strict";
(function () {
  function text(el, value) { if (el) { el.textContent = value; } }

  async function whoami() {
    try {
      const res = await fetch("/api/whoami", { headers: { accept: "application/json" } });
      const body = await res.json();
      text(document.getElementById("replica"), body.replica + " (pid " + body.pid + ")");
    } catch (err) {
      text(document.getElementById("replica"), "unreachable");
    }
  }

  async function search(event) {
    event.preventDefault();
    const q = document.getElementById("q").value;
    const list = document.getElementById("results");
    list.replaceChildren();
    const res = await fetch("/api/search?q=" + encodeURIComponent(q));
    const body = await res.json();
    if (!res.ok) {
      const li = document.createElement("li");
      text(li, "Error: " + (body.dependency || "") + " " + (body.detail || res.status));
      list.appendChild(li);
      return;
    }
    for (const hit of body.results) {
      const li = document.createElement("li");
      text(li, hit.title + " (distance " + hit.distance.toFixed(3) + ")");
      list.appendChild(li);
    }
  }

  function chat(event) {
    event.preventDefault();
    const out = document.getElementById("answer");
    text(out, "");
    const q = document.getElementById("prompt").value;
    const source = new EventSource("/api/chat/stream?q=" + encodeURIComponent(q));
    source.addEventListener("token", function (e) {
      out.textContent += JSON.parse(e.data).text + " ";
    });
    source.addEventListener("done", function () { source.close(); });
    source.onerror = function () { source.close(); };
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("search-form");
    if (form) { form.addEventListener("submit", search); whoami(); }
    const chatForm = document.getElementById("chat-form");
    if (chatForm) { chatForm.addEventListener("submit", chat); }
  });
})();
