// An active job's admin page refreshes its live fields in place (see finetunings/admin/live.py).
// Only the elements marked data-ft-live are swapped, and only when they changed, so the scroll
// position, the form's inputs and the focus stay; open <details> inside a swapped element are
// opened again. Once the server says the job has ended, the refresh stops.
(() => {
  "use strict";

  function start(root) {
    const url = root.dataset.ftLiveUrl;
    const every = Number(root.dataset.ftLiveMs) || 5000;
    const seen = new Map();

    function swap(name, html) {
      if (seen.get(name) === html) return;
      seen.set(name, html);
      for (const old of document.querySelectorAll(`[data-ft-live="${CSS.escape(name)}"]`)) {
        const open = new Set(
          [...old.querySelectorAll("details[open][data-ft-key]")].map((d) => d.dataset.ftKey)
        );
        const template = document.createElement("template");
        template.innerHTML = html;
        const fresh = template.content.firstElementChild;
        if (!fresh) continue;
        for (const details of fresh.querySelectorAll("details[data-ft-key]")) {
          if (open.has(details.dataset.ftKey)) details.open = true;
        }
        old.replaceWith(fresh);
      }
    }

    function ended() {
      root.dataset.ftLiveState = "stopped";
      root.textContent = root.dataset.ftLiveEndedText;
      for (const element of document.querySelectorAll("[data-ft-while-active]")) element.remove();
    }

    async function refresh() {
      let answer = null;
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
        });
        if (response.ok) answer = await response.json();
      } catch (error) {
        // A passing network failure: try again at the next turn.
      }
      if (answer) {
        for (const [name, html] of Object.entries(answer.parts)) swap(name, html);
        root.dataset.ftLiveRefreshes = String(Number(root.dataset.ftLiveRefreshes || 0) + 1);
        if (!answer.active) {
          ended();
          return;
        }
      }
      setTimeout(refresh, every);
    }

    setTimeout(refresh, every);
  }

  function ready() {
    const root = document.getElementById("ft-live");
    if (root && root.dataset.ftLiveUrl) start(root);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
