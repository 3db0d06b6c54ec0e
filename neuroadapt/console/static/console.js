// neuroadapt console: renders the server's view model and sends the therapist's actions.
// Vanilla JS, no external assets; the websocket reconnects by itself.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let socket = null;
  let retry = 1000;
  let nextId = 1;

  function fmt(value, digits) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return value.toFixed(digits === undefined ? 2 : digits);
    return String(value);
  }

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function rows(tbody, pairs) {
    tbody.replaceChildren();
    for (const [label, value] of pairs) {
      const tr = document.createElement("tr");
      const a = document.createElement("td");
      const b = document.createElement("td");
      a.textContent = label;
      b.textContent = typeof value === "number" ? fmt(value, 3) : fmt(value);
      tr.append(a, b);
      tbody.append(tr);
    }
  }

  function setPill(el, text, kind) {
    el.textContent = text;
    el.className = `pill ${kind ? "pill-" + kind : ""}`;
  }

  function renderChannels(channels) {
    const list = $("channels");
    list.replaceChildren();
    if (!channels.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "no quality report yet";
      list.append(li);
      return;
    }
    for (const ch of channels) {
      const li = document.createElement("li");
      li.className = `channel channel-${ch.level}`;
      li.dataset.name = ch.name;
      li.dataset.level = ch.level;
      const light = document.createElement("span");
      light.className = `light light-${ch.light}`;
      light.setAttribute("aria-hidden", "true");
      const text = document.createElement("span");
      const name = document.createElement("span");
      name.className = "channel-name";
      name.textContent = ch.name;
      const reason = document.createElement("span");
      reason.className = "channel-reason";
      reason.textContent = `${ch.level}${ch.reason ? " · " + ch.reason : ""}`;
      text.append(name, reason);
      li.append(light, text);
      list.append(li);
    }
  }

  function render(view) {
    const waiting = view.engine === "waiting";
    $("waiting").hidden = !waiting;
    $("main").hidden = waiting;
    const engineText = {waiting: "waiting for the engine", connected: "engine connected",
                        silent: "engine silent", ended: "session ended"}[view.engine];
    setPill($("connection"), engineText || view.engine,
            view.engine === "connected" ? "ok" : view.engine === "silent" ? "bad" : "wait");
    const st = view.stream;
    setPill($("stream-state"), `stream ${st.state || "—"}`,
            st.state === "ok" ? "ok" : st.state === "stalled" ? "bad" : "wait");
    setPill($("latency"), `latency ${fmt(view.latency_ms, 0)} ms`, "");

    const ph = view.phase;
    $("phase-name").textContent = ph.name || "—";
    $("phase-kind").textContent = ph.kind && ph.kind !== ph.name ? ph.kind : "";
    $("phase-elapsed").textContent = clock(ph.elapsed);
    $("phase-remaining").textContent = clock(ph.remaining);
    const share = ph.duration ? Math.min(1, (ph.elapsed || 0) / ph.duration) : 0;
    $("phase-progress").style.width = `${(100 * share).toFixed(1)}%`;
    $("instructions").textContent = ph.instructions || "";
    $("paused-badge").hidden = !view.paused;
    $("exit-badge").hidden = view.gentle_exit === null;

    const live = !view.ended;
    $("btn-start").disabled = view.started || !live;
    $("btn-pause").hidden = view.paused;
    $("btn-resume").hidden = !view.paused;
    $("btn-pause").disabled = !view.started || !live;
    $("btn-resume").disabled = !live;
    $("btn-stop").disabled = !live;
    $("btn-exit").disabled = !live || view.gentle_exit !== null;
    $("btn-note").disabled = !live;

    const diff = view.difficulty;
    const slider = $("difficulty");
    slider.disabled = !diff.adjustable || !live;
    if (diff.value !== null && document.activeElement !== slider) slider.value = diff.value;
    $("difficulty-value").textContent = fmt(diff.value);
    $("difficulty-note").hidden = diff.adjustable;

    renderChannels(view.channels);

    const fb = view.feedback;
    const reward = $("reward");
    reward.textContent = !ph.feedback_on ? "feedback off" : fb.reward ? "rewarded" : "not rewarded";
    reward.className = `reward ${fb.reward ? "reward-on" : ""}`;
    $("reward-rate").textContent =
      view.reward_rate === null ? "—" : `${Math.round(100 * view.reward_rate)} %`;
    const hold = $("hold");
    hold.hidden = !fb.hold;
    hold.textContent = fb.hold ? `Feedback held${fb.hold_reason ? ": " + fb.hold_reason : ""}` : "";
    const values = [];
    for (const [k, v] of fb.engine_feedback) values.push([`feedback ${k}`, v]);
    for (const [k, v] of fb.features) values.push([k, v]);
    for (const [k, v] of fb.normalised) values.push([`${k} (normalised)`, v]);
    for (const [k, v] of fb.thresholds) values.push([`threshold ${k}`, v]);
    rows($("feedback-values"), values);

    rows($("stream-values"), [
      ["name", st.name], ["state", st.state],
      ["rate (Hz)", st.sfreq === null ? null : fmt(st.sfreq, 0)],
      ["channels", st.n_channels === null ? null : fmt(st.n_channels, 0)],
      ["samples received", st.received === null ? null : fmt(st.received, 0)],
      ["last sample age (s)", st.last_sample_age],
      [`latency (ms, ${view.latency_source})`, view.latency_ms === null ? null : fmt(view.latency_ms, 0)],
    ]);

    const sc = view.scene;
    $("scene-source").textContent = sc.source === "scene" ? "(as rendered)"
      : sc.connected === false ? "(targets; scene stream not seen)" : "(targets)";
    rows($("scene-values"), sc.params);

    const sum = view.summary;
    $("summary").hidden = !sum;
    if (sum) {
      rows($("summary-values"), [
        ["how it ended", sum.ended],
        ["protocol", sum.protocol],
        ["duration", sum.duration_s === null ? null : clock(sum.duration_s)],
        ["phases done", sum.phases_done.length ? sum.phases_done.join(", ") : "none"],
        ["phase at the end", sum.phase_at_end],
        ["reward rate", sum.reward_rate === null ? null : `${Math.round(100 * sum.reward_rate)} %`],
      ]);
      $("report-link").hidden = !view.report_url;
      $("report-wait").hidden = !!view.report_url;
    }
  }

  function say(text, ok) {
    const li = document.createElement("li");
    li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    if (!ok) li.className = "refused";
    const list = $("messages");
    list.prepend(li);
    while (list.children.length > 6) list.lastChild.remove();
  }

  function send(request) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      say("Not connected to the console server; try again in a moment.", false);
      return false;
    }
    socket.send(JSON.stringify({...request, id: nextId++}));
    return true;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.onopen = () => { retry = 1000; };
    socket.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (msg.type === "view") render(msg.view);
      else if (msg.type === "reply") say(msg.message, msg.ok);
    };
    socket.onclose = () => {
      setPill($("connection"), "reconnecting…", "bad");
      setTimeout(connect, retry);
      retry = Math.min(5000, retry * 2);
    };
  }

  function confirmThen(text, action) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    dialog.onclose = () => { if (dialog.returnValue === "yes") action(); };
    dialog.returnValue = "";
    dialog.showModal();
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => {
        const request = {action: button.dataset.action};
        if (button.dataset.confirm) confirmThen(button.dataset.confirm, () => send(request));
        else send(request);
      });
    }
    $("note-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("note-text");
      const text = input.value.trim();
      if (!text) return;
      if (send({action: "note", text})) input.value = "";
    });
    $("difficulty").addEventListener("change", (event) => {
      send({action: "difficulty", value: Number(event.target.value)});
    });
    connect();
  });
})();
