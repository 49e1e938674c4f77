"use strict";
// The control page: the state arrives as Server-Sent Events (so a hotkey shows here at
// once); changes go out as POSTs to the same server. No external assets, no framework.
(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  let state = null;
  let region = "person";
  let stylesShown = "";  // the style names the gallery was built for
  let titles = {};
  let dragging = null;  // the slider under the pointer: the state does not move it meanwhile
  let toastTimer = 0;

  function withToken(path) {
    return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  async function call(method, path, body) {
    const options = { method, headers: { "Authorization": "Bearer " + token } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      toast("live-nst is not reachable: " + error.message, true);
      return null;
    }
    const reply = await response.json().catch(() => ({}));
    if (!response.ok) {
      toast(reply.error || response.status + " " + response.statusText, true);
      if (reply.state) show(reply.state);
      return null;
    }
    if (reply.person) show(reply);  // a state
    else if (reply.state) show(reply.state);
    return reply;
  }

  function toast(text, error) {
    const box = $("toast");
    box.textContent = text;
    box.className = error ? "error" : "";
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, error ? 6000 : 3000);
  }

  function pick(name) {
    region = name;
    for (const button of document.querySelectorAll(".region")) {
      button.setAttribute("aria-pressed", String(button.dataset.region === name));
    }
    $("target").textContent = name;
  }

  async function loadStyles() {
    const reply = await call("GET", "/api/styles");
    if (!reply) return;
    const gallery = $("gallery");
    gallery.replaceChildren();
    titles = {};
    const loads = [];
    for (const style of reply.styles) {
      titles[style.name] = style.title;
      const tile = document.createElement("button");
      tile.className = "tile";
      tile.dataset.style = style.name;
      tile.title = style.artist ? style.title + " — " + style.artist : style.title;
      const image = document.createElement("img");
      image.alt = "";
      loads.push(new Promise((resolve) => { image.onload = image.onerror = resolve; }));
      image.src = withToken(style.thumbnail);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = style.title;
      const badges = document.createElement("span");
      badges.className = "badges";
      tile.append(image, name, badges);
      tile.addEventListener("click", () => call("POST", "/api/state", { [region]: { style: style.name } }));
      gallery.append(tile);
    }
    stylesShown = reply.styles.map((s) => s.name).join("\n");
    if (state) show(state);
    await Promise.all(loads);
    document.body.dataset.ready = "true";
  }

  function show(next) {
    state = next;
    $("status").textContent = next.fps.toFixed(1) + " fps · " + next.processing.width + "×" + next.processing.height;
    for (const name of ["person", "background"]) {
      const look = next[name];
      $(name + "-style").textContent = titles[look.style] || look.style;
      $(name + "-strength-value").textContent = look.strength.toFixed(2);
      const slider = $(name + "-strength");
      if (dragging !== slider) slider.value = look.strength;
    }
    $("segmentation").setAttribute("aria-pressed", String(next.segmentation));
    $("segmentation").disabled = !next.segmentation_available;
    $("styling").setAttribute("aria-pressed", String(next.styling));
    for (const tile of document.querySelectorAll(".tile")) {
      const badges = tile.querySelector(".badges");
      badges.replaceChildren();
      for (const name of ["person", "background"]) {
        const here = next[name].style === tile.dataset.style;
        tile.classList.toggle(name, here);
        if (here) {
          const badge = document.createElement("span");
          badge.className = "badge " + name;
          badge.textContent = name === "person" ? "P" : "B";
          badges.append(badge);
        }
      }
    }
    document.body.dataset.version = String(next.version);
    if (next.styles.join("\n") !== stylesShown) {
      stylesShown = next.styles.join("\n");  // once per change, even while it loads
      loadStyles();
    }
  }

  function connect() {
    const events = new EventSource(withToken("/api/events"));
    events.addEventListener("state", (event) => show(JSON.parse(event.data)));
    events.onopen = () => $("live").classList.add("on");
    events.onerror = () => $("live").classList.remove("on");  // EventSource reconnects by itself
  }

  for (const button of document.querySelectorAll(".region")) {
    button.addEventListener("click", () => pick(button.dataset.region));
  }
  for (const slider of document.querySelectorAll("input[type=range]")) {
    const name = slider.dataset.region;
    slider.addEventListener("pointerdown", () => { dragging = slider; });
    slider.addEventListener("pointerup", () => { dragging = null; });
    slider.addEventListener("pointercancel", () => { dragging = null; });
    slider.addEventListener("input", () => { $(name + "-strength-value").textContent = Number(slider.value).toFixed(2); });
    slider.addEventListener("change", () => {
      dragging = null;
      call("POST", "/api/state", { [name]: { strength: Number(slider.value) } });
    });
  }
  $("swap").addEventListener("click", () => call("POST", "/api/command", { command: "swap_styles" }));
  $("segmentation").addEventListener("click", () => state && call("POST", "/api/state", { segmentation: !state.segmentation }));
  $("styling").addEventListener("click", () => state && call("POST", "/api/state", { styling: !state.styling }));
  $("snapshot").addEventListener("click", async () => {
    const reply = await call("POST", "/api/snapshot");
    if (reply && reply.file) toast("saved " + reply.file);
    else if (reply) toast("snapshot asked for");
  });
  pick("person");
  connect();
})();
