/* kakehashi trace explorer: a small hash-routed single page app over the intake's JSON API.
 *
 *   #/traces?service=&env=&q=&errors=1&min=<ms>&range=15m|1h|4h|1d|all&live=1
 *   #/trace/<trace id>?span=<span id>
 *   #/services?range=...
 *
 * No framework, no external resources, no build step (embedded in the binary). Everything that
 * comes from the API is put into the DOM with textContent / createElement, never innerHTML.
 * Ids are u64 and travel as decimal strings; they are never converted to Number.
 */
"use strict";

(function () {
  // ------------------------------------------------------------------------------------------
  // DOM helpers

  /** el("div", {class, text, testid, title, href, style, data, attrs, on}, ...children) */
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const k in props) {
        const v = props[k];
        if (v === undefined || v === null || v === false) continue;
        switch (k) {
          case "class": e.className = v; break;
          case "text": e.textContent = String(v); break;
          case "testid": e.setAttribute("data-testid", v); break;
          case "style": Object.assign(e.style, v); break;
          case "data": for (const d in v) if (v[d] !== undefined) e.dataset[d] = String(v[d]); break;
          case "attrs": for (const a in v) if (v[a] !== undefined && v[a] !== null) e.setAttribute(a, String(v[a])); break;
          case "on": for (const ev in v) e.addEventListener(ev, v[ev]); break;
          default: e[k] = v;
        }
      }
    }
    append(e, kids);
    return e;
  }

  function append(parent, kids) {
    for (const c of kids) {
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) append(parent, c);
      else parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return parent;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  const view = document.getElementById("view");
  const bannerEl = document.getElementById("banner");
  const summaryEl = document.getElementById("summary");

  // ------------------------------------------------------------------------------------------
  // Formatting

  const NS_PER_MS = 1000000n;

  function big(s) {
    try { return BigInt(s); } catch (e) { return 0n; }
  }

  /** Epoch ms (a Number) of a decimal ns string. */
  function nsToMs(s) {
    return Number(big(s) / NS_PER_MS);
  }

  function pad(n, w) { return String(n).padStart(w || 2, "0"); }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function fmtClock(ms, withMillis) {
    const d = new Date(ms);
    const base = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    return withMillis === false ? base : base + "." + pad(d.getMilliseconds(), 3);
  }

  function fmtTime(ms) {
    const d = new Date(ms);
    const now = new Date();
    const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
    return (sameDay ? "" : MONTHS[d.getMonth()] + " " + d.getDate() + " ") + fmtClock(ms);
  }

  function fmtFull(ms) {
    const d = new Date(ms);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + fmtClock(ms) + " (" + fmtAgo(ms) + ")";
  }

  function fmtAgo(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 0) return "in the future";
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m ago";
    return Math.floor(s / 86400) + "d ago";
  }

  function fmtDur(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return "—";
    if (ms <= 0) return "0 ms";
    if (ms < 0.001) return Math.round(ms * 1e6) + " ns";
    if (ms < 1) { const us = ms * 1000; return (us < 10 ? us.toFixed(1) : Math.round(us)) + " µs"; }
    if (ms < 1000) return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    const m = Math.floor(ms / 60000);
    return m + "m " + Math.round((ms % 60000) / 1000) + "s";
  }

  const nf = new Intl.NumberFormat();
  function fmtNum(n) { return n === null || n === undefined ? "—" : nf.format(n); }

  function fmtBytes(b) {
    if (!b) return "0 B";
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b : b.toFixed(b < 10 ? 1 : 0)) + " " + u[i];
  }

  function fmtPct(x) {
    if (!isFinite(x)) return "—";
    if (x === 0) return "0%";
    if (x < 0.001) return "<0.1%";
    return (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%";
  }

  // ------------------------------------------------------------------------------------------
  // Service colours: a stable hash of the name into a palette readable on both themes.

  // Service colours: a palette readable on both themes (no reds: those mean errors). A service's
  // slot is a stable hash of its name; the services known at start-up (facets) are assigned in
  // name order with linear probing, so up to PALETTE.length services never share a colour.
  const PALETTE = [
    "#7b61ff", "#2fb5c9", "#e8a33d", "#3fbf85", "#e0569b", "#5a8dee", "#c2b02f", "#a76fe3",
    "#8fbf3f", "#e27d4f", "#4fb8e8", "#d47fd9", "#35a39c", "#b8925e", "#8d95e8", "#cf8fae",
  ];
  const colourOf = new Map();

  function nameHash(name) {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) {
      h ^= name.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h;
  }

  function assignColours(names) {
    const used = new Set();
    for (const name of Array.from(new Set(names)).sort()) {
      let slot = nameHash(name) % PALETTE.length;
      for (let k = 0; k < PALETTE.length && used.has(slot); k++) slot = (slot + 1) % PALETTE.length;
      used.add(slot);
      colourOf.set(name, PALETTE[slot]);
    }
  }

  function svcColour(name) {
    return colourOf.get(name) || PALETTE[nameHash(name) % PALETTE.length];
  }

  function svcChip(name, extra) {
    return el("span", { class: "svc", title: name },
      el("span", { class: "dot", style: { background: svcColour(name || "") } }),
      el("span", { class: "name", text: name || "(no service)" }),
      extra);
  }

  // ------------------------------------------------------------------------------------------
  // API and the error banner

  class ApiError extends Error {
    constructor(msg, status) { super(msg); this.status = status; }
  }

  const bannerMsgs = new Map();
  function renderBanner() {
    if (bannerMsgs.size === 0) { bannerEl.hidden = true; clear(bannerEl); return; }
    const msg = Array.from(bannerMsgs.values()).pop();
    clear(bannerEl);
    append(bannerEl, [
      el("span", { class: "banner-icon", text: "⚠" }),
      el("span", { class: "banner-msg", testid: "error-message", text: msg }),
      el("button", { class: "btn small", type: "button", text: "Retry", on: { click: () => { bannerMsgs.clear(); renderBanner(); route(); } } }),
      el("button", { class: "close-btn", type: "button", title: "Dismiss", text: "×", on: { click: () => { bannerMsgs.clear(); renderBanner(); } } }),
    ]);
    bannerEl.hidden = false;
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const k in params) {
      const v = params[k];
      if (v !== undefined && v !== null && v !== "" && v !== false) u.set(k, String(v));
    }
    const s = u.toString();
    return s ? "?" + s : "";
  }

  /** GET a JSON API path. Network errors and non-2xx answers (except those in `quiet`) raise the
   *  banner; a later success of the same path clears it. */
  async function api(path, params, quiet) {
    const url = path + qs(params || {});
    const key = path.replace(/\/api\/traces\/.*/, "/api/traces/{id}");
    let res;
    try {
      res = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (e) {
      bannerMsgs.set(key, "Cannot reach the intake API (GET " + url + "): " + (e && e.message ? e.message : e));
      renderBanner();
      throw new ApiError("network error", 0);
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const reason = body && typeof body.error === "string" ? body.error : res.status + " " + res.statusText;
      if (!(quiet && quiet.includes(res.status))) {
        bannerMsgs.set(key, "The intake API answered " + res.status + " to GET " + url + ": " + reason);
        renderBanner();
      }
      throw new ApiError(reason, res.status);
    }
    if (bannerMsgs.delete(key)) renderBanner();
    return body;
  }

  // ------------------------------------------------------------------------------------------
  // Top bar: summary and theme

  let summaryData = null;
  async function loadSummary() {
    let s;
    try { s = await api("/api/summary"); } catch (e) { return; }
    summaryData = s;
    clear(summaryEl);
    const item = (label, value, testid, title) =>
      el("span", { title: title, testid: testid }, el("b", { text: value }), " " + label);
    const rejected = (s.payloads || []).filter((p) => p.status >= 400);
    const rejectedCount = rejected.reduce((a, p) => a + p.count, 0);
    const accepted = (s.payloads || []).filter((p) => p.status < 400).reduce((a, p) => a + p.count, 0);
    append(summaryEl, [
      item("traces", fmtNum(s.traces), "summary-traces"),
      item("spans", fmtNum(s.spans), "summary-spans"),
      item("stats rows", fmtNum(s.stats_rows), "summary-stats"),
      item("payloads", fmtNum(accepted), "summary-payloads",
        (s.payloads || []).map((p) => p.path + " → " + p.status + ": " + p.count + " (" + fmtBytes(p.bytes) + ")").join("\n")),
      rejectedCount > 0 ? el("span", { class: "rejected", testid: "summary-rejected",
        title: rejected.map((p) => p.path + " → " + p.status + ": " + p.count).join("\n") },
        el("b", { text: fmtNum(rejectedCount) }), " rejected") : null,
      item("", fmtBytes(s.db_bytes), "summary-db", "SQLite database size"),
    ]);
  }

  document.getElementById("theme-toggle").addEventListener("click", () => {
    const root = document.documentElement;
    const next = root.getAttribute("data-theme") === "light" ? "dark" : "light";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("kakehashi.theme", next); } catch (e) { /* storage disabled */ }
  });

  // ------------------------------------------------------------------------------------------
  // Router

  let cleanups = [];
  let routeGen = 0;
  let lastListHash = "#/traces";
  let routedHash = null;

  function onCleanup(fn) { cleanups.push(fn); }

  function parseHash() {
    let h = location.hash.replace(/^#/, "");
    if (!h || h === "/") h = "/traces";
    const qi = h.indexOf("?");
    const path = qi < 0 ? h : h.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? "" : h.slice(qi + 1));
    return { parts: path.split("/").filter(Boolean), params: params };
  }

  function setNav(which) {
    for (const a of document.querySelectorAll(".nav a")) a.classList.toggle("active", a.dataset.nav === which);
  }

  /** Replaces the current hash without a navigation (filters, selected span). */
  function replaceHash(h) {
    if (location.hash !== h) history.replaceState(null, "", h);
    routedHash = location.hash;
  }

  function route() {
    for (const fn of cleanups) { try { fn(); } catch (e) { /* ignore */ } }
    cleanups = [];
    const gen = ++routeGen;
    routedHash = location.hash;
    const { parts, params } = parseHash();
    const page = parts[0] || "traces";
    if (page === "traces") {
      setNav("traces");
      document.title = "Traces · kakehashi";
      renderTraces(params, gen);
    } else if (page === "trace" && parts[1]) {
      setNav("traces");
      document.title = "Trace " + parts[1] + " · kakehashi";
      let id = parts[1];
      try {
        id = decodeURIComponent(id);
      } catch (e) {
        // A malformed escape (#/trace/%zz): shown as typed; the trace is then simply not found.
      }
      renderTrace(id, params, gen);
    } else if (page === "services") {
      setNav("services");
      document.title = "Services · kakehashi";
      renderServices(params, gen);
    } else if (page === "hosts") {
      setNav("hosts");
      document.title = "Hosts · kakehashi";
      renderHosts(gen);
    } else {
      location.replace("#/traces");
    }
  }

  // Back/forward between entries whose hash was rewritten with replaceState may come as
  // popstate, hashchange or both: route once per distinct hash.
  const onNav = () => { if (location.hash !== routedHash) route(); };
  window.addEventListener("hashchange", onNav);
  window.addEventListener("popstate", onNav);

  // Summary: now, every 10 s while the tab is visible, and when it becomes visible again.
  setInterval(() => { if (document.visibilityState === "visible") loadSummary(); }, 10000);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") loadSummary(); });

  // ------------------------------------------------------------------------------------------
  // Shared bits

  const RANGES = [
    ["15m", "15m", 15 * 60e3],
    ["1h", "1h", 3600e3],
    ["4h", "4h", 4 * 3600e3],
    ["1d", "1d", 24 * 3600e3],
    ["all", "All", null],
  ];
  const RANGE_MS = new Map(RANGES.map((r) => [r[0], r[2]]));

  function rangeFrom(range) {
    const ms = RANGE_MS.get(range);
    return ms ? Date.now() - ms : undefined;
  }

  function segmented(testid, current, onPick) {
    const seg = el("div", { class: "seg", testid: testid, attrs: { role: "group" } });
    for (const [key, label] of RANGES) {
      seg.appendChild(el("button", {
        type: "button", text: label, class: key === current ? "on" : "",
        data: { range: key }, testid: testid + "-" + key,
        title: key === "all" ? "Everything the intake holds" : "Last " + label,
        on: { click: () => {
          for (const b of seg.children) b.classList.toggle("on", b === seg.querySelector('[data-range="' + key + '"]'));
          onPick(key);
        } },
      }));
    }
    return seg;
  }

  function toggle(label, testid, checked, onChange, cls) {
    const input = el("input", { type: "checkbox", checked: !!checked, testid: testid,
      on: { change: () => onChange(input.checked) } });
    return el("label", { class: "toggle" + (cls ? " " + cls : "") }, input, el("span", { class: "track" }), el("span", { text: label }));
  }

  function loading(text) {
    return el("div", { class: "loading", testid: "loading" }, el("span", { class: "spinner" }), text || "Loading…");
  }

  function copyText(text, btn) {
    const done = (ok) => {
      if (!btn) return;
      const old = btn.dataset.label || btn.textContent;
      btn.dataset.label = old;
      btn.textContent = ok ? "Copied" : "Copy failed";
      btn.classList.add("copied");
      setTimeout(() => { btn.textContent = old; btn.classList.remove("copied"); }, 1200);
    };
    const fallback = () => {
      const ta = el("textarea", { value: text, style: { position: "fixed", left: "-1000px", top: "0" } });
      document.body.appendChild(ta);
      ta.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      ta.remove();
      done(ok);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(() => done(true), fallback);
    } else {
      fallback();
    }
  }

  function copyBtn(text, testid, title) {
    const b = el("button", { type: "button", class: "copy-btn", text: "Copy", testid: testid, title: title || "Copy to the clipboard",
      on: { click: (e) => { e.stopPropagation(); copyText(text, b); } } });
    return b;
  }

  function emptyHowTo() {
    const origin = location.origin;
    return el("div", { class: "empty", testid: "empty-state" },
      el("h2", { text: "No traces yet" }),
      el("p", { text: "This intake stores what a Datadog exporter sends it. Point the kakehashi collector's datadog exporter here:" }),
      el("pre", { text:
        "exporters:\n" +
        "  datadog:\n" +
        "    api:\n" +
        "      key: local            # any key is accepted\n" +
        "    traces:\n" +
        "      endpoint: " + origin + "\n" +
        "    metrics:\n" +
        "      endpoint: " + origin }),
      el("p", { class: "muted", text: "Traces arrive on POST /api/v0.2/traces and APM stats on POST /api/v0.2/stats (every 10 s). This page lists them as soon as they are stored." }));
  }

  // ------------------------------------------------------------------------------------------
  // Trace list

  const PAGE_SIZE = 50;

  function readFilters(params) {
    const range = params.get("range");
    return {
      service: params.get("service") || "",
      env: params.get("env") || "",
      q: params.get("q") || "",
      errors: params.get("errors") === "1",
      min: params.get("min") || "",
      range: RANGE_MS.has(range) ? range : "all",
      live: params.get("live") === "1",
    };
  }

  function filtersHash(f) {
    return "#/traces" + qs({
      service: f.service, env: f.env, q: f.q, errors: f.errors ? "1" : "",
      min: f.min, range: f.range === "all" ? "" : f.range, live: f.live ? "1" : "",
    });
  }

  function hasFilters(f) {
    return !!(f.service || f.env || f.q || f.errors || f.min || f.range !== "all");
  }

  function renderTraces(params, gen) {
    const f = readFilters(params);
    lastListHash = filtersHash(f);
    const state = { rows: [], cursor: null, seq: 0, maxDur: 0, ids: new Set(), inflight: false };

    const countEl = el("span", { class: "muted", testid: "trace-count" });
    const serviceSel = el("select", { testid: "filter-service", title: "Traces with at least one span of this service" },
      el("option", { value: "", text: "All services" }));
    const envSel = el("select", { testid: "filter-env" }, el("option", { value: "", text: "All environments" }));
    const qInput = el("input", { type: "search", placeholder: "Filter by resource or operation, e.g. GET /api", value: f.q,
      testid: "filter-q", spellcheck: false });
    const minInput = el("input", { type: "number", min: "0", step: "any", placeholder: "ms", value: f.min, testid: "filter-min-duration" });
    const tbody = el("tbody", { testid: "trace-rows" });
    const tableWrap = el("div", { class: "table-wrap" });
    const foot = el("div", { class: "list-foot", testid: "list-foot" });

    const table = el("table", { class: "grid traces-table", testid: "trace-table" },
      el("colgroup", null,
        el("col", { style: { width: "150px" } }), el("col", { style: { width: "180px" } }),
        el("col", { style: { width: "190px" } }), el("col"),
        el("col", { style: { width: "130px" } }), el("col", { style: { width: "84px" } }),
        el("col", { style: { width: "72px" } })),
      el("thead", null, el("tr", null,
        el("th", { text: "Date" }), el("th", { text: "Service" }), el("th", { text: "Operation" }),
        el("th", { text: "Resource" }), el("th", { class: "num", text: "Duration" }),
        el("th", { text: "Status" }), el("th", { class: "num", text: "Spans" }))),
      tbody);

    const apply = (reload) => {
      replaceHash(filtersHash(f));
      lastListHash = filtersHash(f);
      clearBtn.hidden = !hasFilters(f);
      if (reload) load(true);
    };

    serviceSel.addEventListener("change", () => { f.service = serviceSel.value; apply(true); });
    envSel.addEventListener("change", () => { f.env = envSel.value; apply(true); });
    let qTimer = null;
    qInput.addEventListener("input", () => {
      clearTimeout(qTimer);
      qTimer = setTimeout(() => { f.q = qInput.value.trim(); apply(true); }, 250);
    });
    qInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { clearTimeout(qTimer); f.q = qInput.value.trim(); apply(true); }
    });
    let minTimer = null;
    minInput.addEventListener("input", () => {
      clearTimeout(minTimer);
      minTimer = setTimeout(() => {
        const v = minInput.value.trim();
        f.min = v !== "" && isFinite(Number(v)) && Number(v) > 0 ? v : "";
        apply(true);
      }, 300);
    });
    onCleanup(() => { clearTimeout(qTimer); clearTimeout(minTimer); });

    const errorsToggle = toggle("Errors only", "filter-errors", f.errors, (on) => { f.errors = on; apply(true); }, "err");
    const liveToggle = toggle("Auto-refresh", "auto-refresh", f.live, (on) => { f.live = on; apply(false); setLive(); });
    const clearBtn = el("button", { type: "button", class: "btn small", text: "Clear filters", testid: "clear-filters",
      hidden: !hasFilters(f), on: { click: () => { location.hash = f.live ? "#/traces?live=1" : "#/traces"; } } });

    const page = el("div", { class: "page traces-page", testid: "traces-page" },
      el("div", { class: "page-head" },
        el("h1", { text: "Traces" }), countEl, el("span", { class: "spacer" }),
        liveToggle,
        el("button", { type: "button", class: "btn", text: "↻ Refresh", testid: "refresh", on: { click: () => { load(true); loadSummary(); } } })),
      el("div", { class: "filters", testid: "filters" },
        el("div", { class: "field" }, el("label", { text: "Service" }), serviceSel),
        el("div", { class: "field" }, el("label", { text: "Env" }), envSel),
        el("div", { class: "field grow" }, el("label", { text: "Resource" }), qInput),
        el("div", { class: "field" }, el("label", { text: "Min duration (ms)" }), minInput),
        el("div", { class: "field" }, el("span", { class: "label", text: "Time range" }),
          segmented("filter-range", f.range, (r) => { f.range = r; apply(true); })),
        el("div", { class: "field" }, el("span", { class: "label", text: "\u00a0" }),
          el("div", { class: "toggles" }, errorsToggle, clearBtn))),
      tableWrap, foot);

    clear(view).appendChild(page);
    tableWrap.appendChild(loading("Loading traces…"));

    // Facets fill the selects; a value from the URL that is not (or no longer) a facet stays.
    api("/api/facets").then((fc) => {
      if (gen !== routeGen) return;
      const fill = (sel, values, current) => {
        const vs = (values || []).slice();
        if (current && !vs.includes(current)) vs.unshift(current);
        for (const v of vs) sel.appendChild(el("option", { value: v, text: v }));
        sel.value = current;
      };
      fill(serviceSel, fc.services, f.service);
      fill(envSel, fc.envs, f.env);
    }).catch(() => {
      if (f.service) serviceSel.appendChild(el("option", { value: f.service, text: f.service }));
      if (f.env) envSel.appendChild(el("option", { value: f.env, text: f.env }));
      serviceSel.value = f.service;
      envSel.value = f.env;
    });

    function query(cursor, limit) {
      return {
        service: f.service, env: f.env, q: f.q, errors: f.errors ? "1" : "",
        min_duration_ms: f.min, from_ms: rangeFrom(f.range), limit: limit || PAGE_SIZE, cursor: cursor,
      };
    }

    function durBars() {
      for (const r of state.rows) r.bar.style.width = (state.maxDur > 0 ? Math.max(1, (r.t.duration_ms / state.maxDur) * 100) : 0) + "%";
    }

    function rowFor(t, fresh) {
      const ms = nsToMs(t.start_ns);
      const others = (t.services || []).filter((s) => s !== t.service);
      const bar = el("span", { class: "dur-bar" });
      const href = "#/trace/" + encodeURIComponent(t.trace_id);
      const tr = el("tr", {
        class: "clickable" + (t.error ? " has-err" : "") + (fresh ? " fresh" : ""),
        testid: "trace-row",
        data: { traceId: t.trace_id, service: t.service, services: (t.services || []).join(","), error: t.error ? "1" : "0" },
        on: { click: (e) => {
          if (e.target.closest("a")) return;
          if (e.ctrlKey || e.metaKey) window.open(href, "_blank");
          else location.hash = href;
        } },
      },
        el("td", { class: "mono time", text: fmtTime(ms), title: fmtFull(ms) }),
        el("td", null, svcChip(t.service, others.length ? el("span", { class: "more-svcs", text: "+" + others.length, title: others.join(", ") }) : null)),
        el("td", { class: "op", text: t.name, title: t.name }),
        el("td", { class: "res" }, el("a", { href: href, class: "res-link", text: t.resource || t.name, title: t.resource, testid: "trace-link" })),
        el("td", { class: "num dur-cell" + (t.error ? " err" : ""), testid: "trace-duration" }, el("span", { text: fmtDur(t.duration_ms) }), bar),
        el("td", null, t.error
          ? el("span", { class: "badge err", text: "ERROR", testid: "status-error" })
          : el("span", { class: "badge ok", text: "OK", testid: "status-ok" })),
        el("td", { class: "num", text: fmtNum(t.span_count), testid: "trace-span-count" }));
      return { t: t, tr: tr, bar: bar };
    }

    function renderFoot() {
      clear(foot);
      if (state.rows.length === 0) return;
      foot.appendChild(el("span", { text: "Showing " + fmtNum(state.rows.length) + " trace" + (state.rows.length === 1 ? "" : "s") + (state.cursor ? "" : " · end of results") }));
      if (state.cursor) {
        foot.appendChild(el("button", { type: "button", class: "btn", text: "Load more", testid: "load-more", on: { click: () => load(false) } }));
      }
    }

    function renderCount() {
      const n = state.rows.length;
      countEl.textContent = n === 0 ? "" : fmtNum(n) + (state.cursor ? "+" : "") + " trace" + (n === 1 && !state.cursor ? "" : "s");
    }

    function renderEmpty() {
      clear(tableWrap);
      const noData = summaryData && summaryData.traces === 0;
      if (!hasFilters(f) && noData !== false) {
        // Ask the summary to tell "nothing at all" from a race with retention.
        tableWrap.appendChild(emptyHowTo());
        return;
      }
      tableWrap.appendChild(el("div", { class: "empty", testid: "empty-state" },
        el("h2", { text: hasFilters(f) ? "No traces match these filters" : "No traces" }),
        el("p", { text: hasFilters(f) ? "Widen the time range or remove a filter." : "Nothing stored yet." }),
        hasFilters(f) ? el("div", { class: "actions" }, el("button", { type: "button", class: "btn", text: "Clear filters",
          on: { click: () => { location.hash = "#/traces"; } } })) : null));
    }

    /** reset: the first page again (filters changed, refresh); otherwise the next page. */
    async function load(reset, refreshLimit) {
      const seq = ++state.seq;
      state.inflight = true;
      let res;
      try {
        res = await api("/api/traces", query(reset ? undefined : state.cursor, refreshLimit));
      } catch (e) {
        if (seq === state.seq && gen === routeGen && state.rows.length === 0) {
          clear(tableWrap).appendChild(el("div", { class: "empty", testid: "load-error" },
            el("h2", { text: "Cannot load traces" }), el("p", { text: e.message })));
        }
        return;
      } finally {
        if (seq === state.seq) state.inflight = false;
      }
      if (seq !== state.seq || gen !== routeGen) return;
      const traces = res.traces || [];
      if (reset) {
        const known = state.ids;
        const markFresh = !!refreshLimit && known.size > 0;
        state.rows = [];
        state.ids = new Set();
        state.maxDur = 0;
        const frag = document.createDocumentFragment();
        for (const t of traces) {
          const r = rowFor(t, markFresh && !known.has(t.trace_id));
          state.rows.push(r);
          state.ids.add(t.trace_id);
          state.maxDur = Math.max(state.maxDur, t.duration_ms);
          frag.appendChild(r.tr);
        }
        if (traces.length === 0) {
          if (!summaryData) await loadSummary();
          if (gen !== routeGen || seq !== state.seq) return;
          state.cursor = null;
          renderEmpty();
          renderFoot();
          renderCount();
          return;
        }
        clear(tbody).appendChild(frag);
        if (!tableWrap.contains(table)) clear(tableWrap).appendChild(table);
      } else {
        const frag = document.createDocumentFragment();
        for (const t of traces) {
          if (state.ids.has(t.trace_id)) continue;
          const r = rowFor(t, false);
          state.rows.push(r);
          state.ids.add(t.trace_id);
          state.maxDur = Math.max(state.maxDur, t.duration_ms);
          frag.appendChild(r.tr);
        }
        tbody.appendChild(frag);
      }
      state.cursor = res.next_cursor || null;
      durBars();
      renderFoot();
      renderCount();
    }

    let liveTimer = null;
    function setLive() {
      clearInterval(liveTimer);
      liveTimer = null;
      if (f.live) {
        liveTimer = setInterval(() => {
          if (document.visibilityState !== "visible" || state.inflight) return;
          // Refresh what is shown (at least one page), marking rows that are new.
          load(true, Math.min(1000, Math.max(PAGE_SIZE, state.rows.length)));
          loadSummary();
        }, 5000);
      }
    }
    onCleanup(() => clearInterval(liveTimer));
    setLive();
    load(true);
  }

  // ------------------------------------------------------------------------------------------
  // Trace view

  /** Orders the spans depth-first (children by start time), computing depth and subtree size. */
  function buildTree(detail) {
    const t0 = big(detail.start_ns);
    const spans = detail.spans.map((s) => ({
      s: s,
      off: Number(big(s.start_ns) - t0) / 1e6,
      dur: s.duration_ms,
      children: [],
      depth: 0,
      parent: null,
      desc: 0,
    }));
    const byId = new Map();
    for (const n of spans) byId.set(n.s.span_id, n);
    const roots = [];
    for (const n of spans) {
      const p = n.s.parent_id !== "0" && n.s.parent_id !== n.s.span_id ? byId.get(n.s.parent_id) : undefined;
      if (p) { n.parent = p; p.children.push(n); } else roots.push(n);
    }
    const byStart = (a, b) => a.off - b.off || (a.s.span_id < b.s.span_id ? -1 : 1);
    // Real roots (parent 0) first, then orphans whose parent never arrived.
    roots.sort((a, b) => (a.s.parent_id === "0" ? 0 : 1) - (b.s.parent_id === "0" ? 0 : 1) || byStart(a, b));
    const order = [];
    const seen = new Set();
    const stack = roots.slice().reverse().map((n) => [n, 0]);
    while (stack.length) {
      const [n, depth] = stack.pop();
      if (seen.has(n)) continue; // cycles in broken data
      seen.add(n);
      n.depth = depth;
      n.index = order.length;
      order.push(n);
      n.children.sort(byStart);
      for (let i = n.children.length - 1; i >= 0; i--) stack.push([n.children[i], depth + 1]);
    }
    // Spans only reachable through a cycle.
    for (const n of spans) if (!seen.has(n)) { n.depth = 0; n.index = order.length; order.push(n); }
    // Subtree sizes (order is pre-order, so descendants follow contiguously).
    for (let i = order.length - 1; i >= 0; i--) {
      let j = i + 1;
      while (j < order.length && order[j].depth > order[i].depth) j++;
      order[i].desc = j - i - 1;
    }
    return { order: order, byId: byId, roots: roots };
  }

  function niceTicks(total) {
    // Four intervals on round values when possible.
    const raw = total / 4;
    const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = 0; v <= total * 1.0001; v += step) ticks.push(v);
    return ticks;
  }

  async function renderTrace(id, params, gen) {
    clear(view).appendChild(el("div", { class: "page" }, loading("Loading trace " + id + "…")));
    let detail;
    try {
      detail = await api("/api/traces/" + encodeURIComponent(id), null, [404]);
    } catch (e) {
      if (gen !== routeGen) return;
      clear(view).appendChild(el("div", { class: "page" }, el("div", { class: "table-wrap" },
        el("div", { class: "empty", testid: "trace-not-found" },
          el("h2", { text: e.status === 404 ? "Trace not found" : "Cannot load the trace" }),
          el("p", { text: e.status === 404 ? "Trace " + id + " is not in the intake (never received, or removed by retention)." : e.message }),
          el("div", { class: "actions" }, el("a", { class: "btn", href: lastListHash, text: "← Back to traces" }))))));
      return;
    }
    if (gen !== routeGen) return;

    const tree = buildTree(detail);
    const order = tree.order;
    const total = Math.max(detail.duration_ms, 1e-6);
    const root = order[0];
    const rootSpan = root.s;
    const errors = order.filter((n) => n.s.error).length;

    // Per service: span count and self time (duration minus the union of child intervals).
    const svcStats = new Map();
    for (const n of order) {
      let self = n.dur;
      if (n.children.length) {
        const iv = n.children.map((c) => [Math.max(c.off, n.off), Math.min(c.off + c.dur, n.off + n.dur)])
          .filter((x) => x[1] > x[0]).sort((a, b) => a[0] - b[0]);
        let covered = 0, cs = -Infinity, ce = -Infinity;
        for (const [a, b] of iv) {
          if (a > ce) { if (ce > cs) covered += ce - cs; cs = a; ce = b; } else ce = Math.max(ce, b);
        }
        if (ce > cs) covered += ce - cs;
        self = Math.max(0, n.dur - covered);
      }
      const k = n.s.service;
      const st = svcStats.get(k) || { spans: 0, self: 0, errors: 0 };
      st.spans++; st.self += self; if (n.s.error) st.errors++;
      svcStats.set(k, st);
    }
    const selfTotal = Array.from(svcStats.values()).reduce((a, s) => a + s.self, 0) || 1;
    const services = Array.from(svcStats.entries()).sort((a, b) => b[1].self - a[1].self);

    // ---- header
    const startMs = nsToMs(detail.start_ns);
    const meta = (k, v, testid) => el("span", { testid: testid }, el("span", { class: "k", text: k }), el("span", { class: "v", text: v }));
    const head = el("div", { class: "trace-head", testid: "trace-header" },
      el("div", { class: "crumbs" }, el("a", { href: lastListHash, text: "Traces", testid: "back-to-traces" }), " / ",
        el("span", { class: "mono", text: detail.trace_id })),
      el("div", { class: "trace-title" },
        svcChip(rootSpan.service),
        el("span", { class: "muted", text: rootSpan.name }),
        el("h1", { text: rootSpan.resource || rootSpan.name, title: rootSpan.resource, testid: "trace-title" }),
        errors ? el("span", { class: "badge err", text: "ERROR", testid: "trace-status" }) : el("span", { class: "badge ok", text: "OK", testid: "trace-status" })),
      el("div", { class: "trace-meta" },
        meta("Start", fmtFull(startMs)),
        meta("Duration", fmtDur(detail.duration_ms), "trace-duration"),
        meta("Spans", fmtNum(order.length), "trace-span-total"),
        meta("Services", String(svcStats.size)),
        el("span", { testid: "trace-errors", class: errors ? "has-err" : "" }, el("span", { class: "k", text: "Errors" }), el("span", { class: "v", text: String(errors) })),
        rootSpan.env ? meta("Env", rootSpan.env) : null,
        rootSpan.hostname ? meta("Host", rootSpan.hostname) : null,
        el("span", null, el("span", { class: "k", text: "Trace ID" }), el("span", { class: "v mono", text: detail.trace_id }), " ",
          copyBtn(detail.trace_id, "copy-trace-id", "Copy the trace id"))),
      el("div", { class: "legend", testid: "service-legend" }, services.map(([name, st]) =>
        el("span", { class: "legend-item", testid: "legend-item", data: { service: name },
          title: st.spans + " spans, " + fmtDur(st.self) + " self time" + (st.errors ? ", " + st.errors + " errors" : "") },
          svcChip(name), el("span", { class: "count", text: fmtPct(st.self / selfTotal) + " · " + st.spans + (st.spans === 1 ? " span" : " spans") })))));

    // ---- waterfall
    const ticks = niceTicks(total);
    const axisRight = el("div", { class: "axis-right" });
    const gridlines = el("div", { class: "wf-gridlines" });
    for (const v of ticks) {
      const pct = (v / total) * 100;
      if (pct > 90) continue;
      axisRight.appendChild(el("div", { class: "tick", style: { left: pct + "%" }, text: v === 0 ? "0" : fmtDur(v) }));
      if (v > 0) gridlines.appendChild(el("div", { style: { left: pct + "%" } }));
    }
    axisRight.appendChild(el("div", { class: "tick last", style: { left: "100%" }, text: fmtDur(total) }));

    const canvas = el("div", { class: "wf-canvas", testid: "waterfall" }, gridlines);
    const frag = document.createDocumentFragment();
    const rows = new Array(order.length);
    const INDENT = 14;
    for (let i = 0; i < order.length; i++) {
      const n = order[i];
      const s = n.s;
      const colour = svcColour(s.service);
      const left = (n.off / total) * 100;
      const width = (n.dur / total) * 100;
      const end = Math.min(100, left + width);
      const row = document.createElement("div");
      row.className = "wf-row" + (s.error ? " err" : "");
      row.setAttribute("data-testid", "wf-row");
      row.dataset.index = String(i);
      row.dataset.spanId = s.span_id;
      row.dataset.parentId = s.parent_id;
      row.dataset.depth = String(n.depth);
      row.dataset.service = s.service;
      const name = document.createElement("div");
      name.className = "wf-name";
      name.style.paddingLeft = 6 + Math.min(n.depth, 40) * INDENT + "px";
      const caret = document.createElement("button");
      caret.type = "button";
      caret.className = "caret" + (n.children.length ? "" : " leaf");
      caret.textContent = "▾";
      caret.tabIndex = -1;
      if (n.children.length) caret.title = "Collapse / expand " + n.desc + " descendant spans";
      name.appendChild(caret);
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = colour;
      name.appendChild(dot);
      const svc = document.createElement("span");
      svc.className = "svcname";
      svc.textContent = s.service;
      name.appendChild(svc);
      const op = document.createElement("span");
      op.className = "op";
      op.textContent = s.name;
      name.appendChild(op);
      if (s.resource && s.resource !== s.name) {
        const res = document.createElement("span");
        res.className = "res";
        res.textContent = s.resource;
        name.appendChild(res);
      }
      if (s.error) {
        const ei = document.createElement("span");
        ei.className = "err-icon";
        ei.textContent = "!";
        ei.title = "Error";
        name.appendChild(ei);
      }
      const cc = document.createElement("span");
      cc.className = "childcount";
      cc.hidden = true;
      name.appendChild(cc);
      name.title = s.service + " · " + s.name + (s.resource ? " · " + s.resource : "");
      const time = document.createElement("div");
      time.className = "wf-time";
      const bar = document.createElement("div");
      bar.className = "wf-bar";
      bar.setAttribute("data-testid", "wf-bar");
      bar.style.left = left + "%";
      bar.style.width = width + "%";
      bar.style.background = colour;
      bar.title = fmtDur(n.dur) + " at +" + fmtDur(n.off);
      time.appendChild(bar);
      const dl = document.createElement("span");
      dl.className = "wf-dur";
      dl.textContent = fmtDur(n.dur);
      dl.style.left = end + "%";
      time.appendChild(dl);
      row.appendChild(name);
      row.appendChild(time);
      rows[i] = { n: n, el: row, caret: caret, cc: cc, collapsed: false, hidden: false };
      frag.appendChild(row);
    }
    canvas.appendChild(frag);

    const axis = el("div", { class: "wf-axis" },
      el("div", { class: "axis-left", text: "Service · operation · resource" }), axisRight);
    const scroll = el("div", { class: "wf-scroll", testid: "waterfall-scroll" }, axis, canvas);
    const panel = el("aside", { class: "span-panel", testid: "span-panel" });
    const spanCount = el("span", { text: fmtNum(order.length) + " spans" + (errors ? " · " : "") });
    const errCount = errors ? el("span", { class: "err-text", text: errors + (errors === 1 ? " error" : " errors") }) : null;

    // Collapse / expand: one pass over the descendants, writes only.
    function applyCollapse(from, to) {
      let hideBelow = Infinity; // depth under which rows are hidden by a collapsed ancestor
      for (let j = from; j < to; j++) {
        const r = rows[j];
        const d = r.n.depth;
        if (d <= hideBelow) hideBelow = Infinity;
        const hide = hideBelow !== Infinity;
        if (r.hidden !== hide) { r.hidden = hide; r.el.hidden = hide; }
        if (!hide && r.collapsed) hideBelow = d;
      }
    }
    function setCollapsed(i, c) {
      const r = rows[i];
      if (!r.n.children.length || r.collapsed === c) return;
      r.collapsed = c;
      r.caret.textContent = c ? "▸" : "▾";
      r.el.classList.toggle("collapsed", c);
      r.cc.hidden = !c;
      r.cc.textContent = c ? "+" + r.n.desc : "";
      const base = r.n.depth;
      let end = i + 1;
      while (end < rows.length && rows[end].n.depth > base) end++;
      if (r.hidden) return;
      // Recompute visibility of the subtree from its root.
      let hideBelow = c ? base : Infinity;
      for (let j = i + 1; j < end; j++) {
        const rj = rows[j];
        const d = rj.n.depth;
        if (d <= hideBelow) hideBelow = Infinity;
        if (c) { if (!rj.hidden) { rj.hidden = true; rj.el.hidden = true; } continue; }
        const hide = hideBelow !== Infinity;
        if (rj.hidden !== hide) { rj.hidden = hide; rj.el.hidden = hide; }
        if (!hide && rj.collapsed) hideBelow = d;
      }
    }
    function setAll(c) {
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        if (!r.n.children.length) continue;
        r.collapsed = c && r.n.depth >= 1;
        r.caret.textContent = r.collapsed ? "▸" : "▾";
        r.el.classList.toggle("collapsed", r.collapsed);
        r.cc.hidden = !r.collapsed;
        r.cc.textContent = r.collapsed ? "+" + r.n.desc : "";
      }
      applyCollapse(0, rows.length);
    }

    const toolbar = el("div", { class: "wf-toolbar" },
      el("span", { class: "wf-count" }, spanCount, errCount),
      el("button", { type: "button", class: "btn small", text: "Expand all", testid: "expand-all", on: { click: () => setAll(false) } }),
      el("button", { type: "button", class: "btn small", text: "Collapse all", testid: "collapse-all", on: { click: () => setAll(true) } }),
      el("span", { class: "spacer" }),
      el("span", { class: "hint", text: "click a span for details · ↑ ↓ to move · ← → to fold" }));
    const wf = el("section", { class: "wf" }, toolbar, scroll);
    const page = el("div", { class: "trace-page", testid: "trace-page" }, head, el("div", { class: "trace-body" }, wf, panel));
    clear(view).appendChild(page);

    // Long traces: start collapsed below depth 1 beyond 2000 spans so the first paint stays fast.
    if (rows.length > 2000) setAll(true);

    // ---- selection and the span panel
    let selected = -1;
    function unselect() {
      if (selected >= 0) rows[selected].el.classList.remove("selected");
      selected = -1;
      clear(panel).appendChild(el("div", { class: "sp-placeholder", testid: "span-panel-empty", text: "Select a span in the waterfall to see its tags and metrics." }));
      replaceHash("#/trace/" + encodeURIComponent(detail.trace_id));
    }
    function select(i, scrollTo) {
      if (i < 0 || i >= rows.length) { unselect(); return; }
      if (selected >= 0) rows[selected].el.classList.remove("selected");
      selected = i;
      const r = rows[i];
      // Reveal a span hidden in a collapsed subtree.
      if (r.hidden) {
        const chain = [];
        for (let p = r.n.parent; p; p = p.parent) chain.push(p.index);
        for (let k = chain.length - 1; k >= 0; k--) setCollapsed(chain[k], false);
      }
      r.el.classList.add("selected");
      renderPanel(panel, r.n, detail, total, unselect);
      replaceHash("#/trace/" + encodeURIComponent(detail.trace_id) + "?span=" + encodeURIComponent(r.n.s.span_id));
      if (scrollTo) r.el.scrollIntoView({ block: "nearest" });
    }

    canvas.addEventListener("click", (e) => {
      const rowEl = e.target.closest(".wf-row");
      if (!rowEl) return;
      const i = Number(rowEl.dataset.index);
      if (e.target.closest(".caret")) { setCollapsed(i, !rows[i].collapsed); return; }
      select(i, false);
    });

    function step(dir) {
      let i = selected < 0 ? (dir > 0 ? -1 : rows.length) : selected;
      do { i += dir; } while (i >= 0 && i < rows.length && rows[i].hidden);
      if (i >= 0 && i < rows.length) select(i, true);
    }
    function onKey(e) {
      if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA" || e.target.tagName === "SELECT")) return;
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); step(1); }
      else if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); step(-1); }
      else if (e.key === "ArrowLeft" && selected >= 0) { e.preventDefault(); setCollapsed(selected, true); }
      else if (e.key === "ArrowRight" && selected >= 0) { e.preventDefault(); setCollapsed(selected, false); }
      else if (e.key === "Escape") unselect();
    }
    document.addEventListener("keydown", onKey);
    onCleanup(() => document.removeEventListener("keydown", onKey));

    const want = params.get("span");
    const wantNode = want ? tree.byId.get(want) : null;
    select(wantNode ? wantNode.index : 0, !!wantNode);
  }

  /** The side panel of one span: fields, error, meta and metrics (sorted), with a filter. */
  function idItem(label, value, testid, copyTestid) {
    return el("span", { class: "id-item" }, el("span", { class: "k", text: label }),
      el("span", { class: "mono v", text: value, testid: testid, data: { value: value } }), copyBtn(value, copyTestid, "Copy the " + label));
  }

  function renderPanel(panel, n, detail, total, onClose) {
    const s = n.s;
    clear(panel);
    const filterInput = el("input", { type: "search", class: "search", placeholder: "Filter tags and metrics", testid: "span-filter", spellcheck: false });
    const head = el("div", { class: "sp-head" },
      el("div", { class: "row1" },
        el("span", { class: "dot big", style: { background: svcColour(s.service) } }),
        el("h2", { title: s.service + " · " + s.name, testid: "span-title" }, s.service, el("span", { class: "muted", text: " · " }), s.name),
        s.error ? el("span", { class: "badge err", text: "ERROR" }) : el("span", { class: "badge ok", text: "OK" }),
        el("button", { type: "button", class: "close-btn", title: "Close (Esc)", text: "×", testid: "span-panel-close", on: { click: onClose } })),
      el("div", { class: "res mono", text: s.resource, testid: "span-resource" }),
      el("div", { class: "chips" },
        el("span", { class: "chip" }, el("span", { class: "k", text: "duration" }), fmtDur(n.dur)),
        el("span", { class: "chip" }, el("span", { class: "k", text: "of trace" }), fmtPct(n.dur / total)),
        el("span", { class: "chip" }, el("span", { class: "k", text: "start" }), "+" + fmtDur(n.off)),
        s.type ? el("span", { class: "chip" }, el("span", { class: "k", text: "type" }), s.type) : null),
      el("div", { class: "ids" },
        idItem("span id", s.span_id, "span-id", "copy-span-id"),
        s.parent_id !== "0" ? idItem("parent id", s.parent_id, "parent-id", "copy-parent-id") : el("span", { class: "id-item muted", text: "root span" })),
      filterInput);
    panel.appendChild(head);

    const meta = s.meta && typeof s.meta === "object" ? s.meta : {};
    const metrics = s.metrics && typeof s.metrics === "object" ? s.metrics : {};
    if (s.error) {
      const etype = meta["error.type"] || meta["error.kind"] || "";
      const emsg = meta["error.message"] || meta["error.msg"] || "";
      const stack = meta["error.stack"] || "";
      panel.appendChild(el("div", { class: "errbox", testid: "span-error" },
        el("div", { class: "etype", text: etype || "Error" }),
        emsg ? el("div", { class: "emsg", text: emsg }) : null,
        !etype && !emsg ? el("div", { class: "emsg muted", text: "The span is flagged as an error (no error.type / error.message tags)." }) : null,
        stack ? el("pre", { text: stack }) : null));
    }

    const startMs = nsToMs(s.start_ns);
    const fields = [
      ["span_id", s.span_id], ["parent_id", s.parent_id], ["trace_id", detail.trace_id], ["service", s.service], ["operation", s.name], ["resource", s.resource], ["type", s.type],
      ["env", s.env], ["hostname", s.hostname], ["start", fmtFull(startMs)], ["start_ns", s.start_ns],
      ["duration", fmtDur(s.duration_ms) + " (" + fmtNum(Math.round(s.duration_ms * 1e6)) + " ns)"], ["error", s.error ? "true" : "false"],
      ["sampling priority", String(s.priority)], ["origin", s.origin], ["language", s.language],
      ["tracer version", s.tracer_version], ["app version", s.app_version], ["container id", s.container_id],
    ];
    const fieldTable = el("table", { class: "kv", testid: "span-fields" },
      el("tbody", null,
        fields.filter((f) => f[1] !== "" && f[1] !== undefined && f[1] !== null)
          .map(([k, v]) => el("tr", { data: { key: k } }, el("td", { class: "k", text: k }), el("td", { class: "v", text: v })))));

    const kvRows = [];
    function kvTable(obj, testid, rowTestid, isNum) {
      const keys = Object.keys(obj).sort();
      if (keys.length === 0) return el("div", { class: "kv-empty", testid: testid, text: "none" });
      const tb = el("tbody");
      for (const k of keys) {
        const raw = obj[k];
        const v = isNum && typeof raw === "number" ? String(raw) : typeof raw === "string" ? raw : JSON.stringify(raw);
        const kc = el("td", { class: "k", text: k });
        const vc = el("td", { class: "v", text: v });
        const tr = el("tr", { testid: rowTestid, data: { key: k } }, kc, vc);
        tb.appendChild(tr);
        kvRows.push({ tr: tr, k: k, v: v, kc: kc, vc: vc });
      }
      return el("table", { class: "kv", testid: testid }, tb);
    }
    const metaKeys = Object.keys(meta).length;
    const metricKeys = Object.keys(metrics).length;
    panel.appendChild(el("section", { class: "sp-section" },
      el("h3", null, "Tags", el("span", { class: "count", text: "(" + metaKeys + ")" })),
      kvTable(meta, "meta-table", "meta-row", false)));
    panel.appendChild(el("section", { class: "sp-section" },
      el("h3", null, "Metrics", el("span", { class: "count", text: "(" + metricKeys + ")" })),
      kvTable(metrics, "metrics-table", "metric-row", true)));
    panel.appendChild(el("section", { class: "sp-section" },
      el("h3", { text: "Span" }), fieldTable));

    function highlight(td, text, needle) {
      clear(td);
      if (!needle) { td.textContent = text; return; }
      const lower = text.toLowerCase();
      let at = 0;
      for (;;) {
        const i = lower.indexOf(needle, at);
        if (i < 0) break;
        if (i > at) td.appendChild(document.createTextNode(text.slice(at, i)));
        td.appendChild(el("mark", { text: text.slice(i, i + needle.length) }));
        at = i + needle.length;
      }
      if (at < text.length) td.appendChild(document.createTextNode(text.slice(at)));
    }
    filterInput.addEventListener("input", () => {
      const needle = filterInput.value.trim().toLowerCase();
      for (const r of kvRows) {
        const hit = !needle || r.k.toLowerCase().includes(needle) || r.v.toLowerCase().includes(needle);
        r.tr.hidden = !hit;
        if (hit) { highlight(r.kc, r.k, needle); highlight(r.vc, r.v, needle); }
      }
    });
  }

  // ------------------------------------------------------------------------------------------
  // Services

  async function renderServices(params, gen) {
    const range = RANGE_MS.has(params.get("range")) ? params.get("range") : "all";
    const sortState = { key: params.get("sort") || "hits", dir: params.get("dir") === "asc" ? 1 : -1 };
    const tableWrap = el("div", { class: "table-wrap" }, loading("Loading services…"));
    const note = el("div", { class: "note", testid: "services-note", hidden: true });
    const countEl = el("span", { class: "muted", testid: "service-count" });
    const page = el("div", { class: "page services-page", testid: "services-page" },
      el("div", { class: "page-head" },
        el("h1", { text: "Services" }), countEl, el("span", { class: "spacer" }),
        segmented("services-range", range, (r) => { location.hash = "#/services" + qs({ range: r === "all" ? "" : r }); }),
        el("button", { type: "button", class: "btn", text: "↻ Refresh", testid: "refresh", on: { click: () => route() } })),
      note, tableWrap);
    clear(view).appendChild(page);

    let data, facets;
    try {
      [data, facets] = await Promise.all([api("/api/services", { from_ms: rangeFrom(range) }), api("/api/facets").catch(() => ({ services: [], envs: [] }))]);
    } catch (e) {
      if (gen !== routeGen) return;
      clear(tableWrap).appendChild(el("div", { class: "empty", testid: "load-error" }, el("h2", { text: "Cannot load services" }), el("p", { text: e.message })));
      return;
    }
    if (gen !== routeGen) return;
    const svcs = (data.services || []).slice();
    const withStats = new Set(svcs.map((s) => s.service));
    const traceOnly = (facets.services || []).filter((s) => !withStats.has(s));
    const names = new Set(svcs.map((s) => s.service));
    const envs = new Set(svcs.map((s) => s.env));
    countEl.textContent = svcs.length ? names.size + (names.size === 1 ? " service" : " services") +
      (envs.size > 1 ? " in " + envs.size + " environments" : "") : "";

    if (svcs.length === 0 && traceOnly.length === 0) {
      clear(tableWrap).appendChild(el("div", { class: "empty", testid: "empty-state" },
        el("h2", { text: "No services yet" }),
        el("p", { text: range === "all" ? "Services appear when APM stats arrive (POST /api/v0.2/stats, every 10 s from the exporter) or traces are stored." : "No APM stats in this time range." })));
      return;
    }
    if (traceOnly.length) {
      note.hidden = false;
      append(note, [el("span", { class: "note-icon", text: "i" }),
        el("span", { text: (svcs.length ? "Some services have" : "The services below have") + " traces but no APM stats" +
          (range === "all" ? "" : " in this time range") + " yet; stats are sent every 10 s by the exporter (POST /api/v0.2/stats)." })]);
    }

    const sorters = {
      service: (s) => s.service.toLowerCase(),
      env: (s) => s.env,
      hits: (s) => s.hits,
      errors: (s) => s.errors,
      rate: (s) => (s.hits ? s.errors / s.hits : 0),
      p50: (s) => s.p50_ms ?? -1,
      p95: (s) => s.p95_ms ?? -1,
      p99: (s) => s.p99_ms ?? -1,
    };
    const cols = [
      ["", null, "expander-h"], ["Service", "service"], ["Env", "env"], ["Requests", "hits", "num"], ["Errors", "errors", "num"],
      ["Error rate", "rate", "num"], ["P50", "p50", "num"], ["P95", "p95", "num"], ["P99", "p99", "num"], ["", null],
    ];
    const tbody = el("tbody", { testid: "service-rows" });
    const thead = el("thead");
    const table = el("table", { class: "grid svc-table", testid: "services-table" },
      el("colgroup", null, el("col", { style: { width: "34px" } }), el("col"), el("col", { style: { width: "120px" } }),
        el("col", { style: { width: "100px" } }), el("col", { style: { width: "90px" } }), el("col", { style: { width: "130px" } }),
        el("col", { style: { width: "90px" } }), el("col", { style: { width: "90px" } }), el("col", { style: { width: "90px" } }),
        el("col", { style: { width: "90px" } })),
      thead, tbody);

    function rateCell(hits, errs) {
      const r = hits ? errs / hits : 0;
      const level = !hits || r === 0 ? " zero" : r >= 0.05 ? " high" : r >= 0.01 ? " mid" : "";
      return el("td", { class: "num" }, el("span", { class: "rate" + level, testid: "error-rate", text: hits ? fmtPct(r) : "—" }));
    }
    const latCells = (x) => [
      el("td", { class: "num mono", text: fmtDur(x.p50_ms) }),
      el("td", { class: "num mono", text: fmtDur(x.p95_ms) }),
      el("td", { class: "num mono", text: fmtDur(x.p99_ms) })];
    const tracesHref = (svc, env) => "#/traces" + qs({ service: svc, env: env });

    function renderHead() {
      clear(thead).appendChild(el("tr", null, cols.map(([label, key, cls]) => {
        const th = el("th", { class: [cls || "", key ? "sortable" : ""].join(" ").trim(), text: label });
        if (key) {
          if (sortState.key === key) th.appendChild(el("span", { class: "arrow", text: sortState.dir > 0 ? "▲" : "▼" }));
          th.addEventListener("click", () => {
            if (sortState.key === key) sortState.dir = -sortState.dir;
            else { sortState.key = key; sortState.dir = key === "service" || key === "env" ? 1 : -1; }
            renderHead(); renderBody();
          });
        }
        return th;
      })));
    }

    const expanded = new Set();
    function renderBody() {
      const f = sorters[sortState.key] || sorters.hits;
      svcs.sort((a, b) => {
        const x = f(a), y = f(b);
        return (x < y ? -1 : x > y ? 1 : 0) * sortState.dir || a.service.localeCompare(b.service) || a.env.localeCompare(b.env);
      });
      const frag = document.createDocumentFragment();
      for (const s of svcs) {
        const key = s.service + "\u0000" + s.env;
        const open = expanded.has(key);
        const resRows = [];
        const exp = el("td", { class: "expander", text: s.resources.length ? (open ? "▾" : "▸") : "" });
        const tr = el("tr", { class: "clickable svc-row" + (open ? " open" : ""), testid: "service-row", data: { service: s.service, env: s.env },
          title: s.resources.length + " resources; click to " + (open ? "collapse" : "expand"),
          on: { click: (e) => {
            if (e.target.closest("a")) return;
            const nowOpen = !expanded.has(key);
            if (nowOpen) expanded.add(key); else expanded.delete(key);
            exp.textContent = s.resources.length ? (nowOpen ? "▾" : "▸") : "";
            tr.classList.toggle("open", nowOpen);
            for (const r of resRows) r.hidden = !nowOpen;
          } } },
          exp,
          el("td", { class: "svc-name" }, svcChip(s.service)),
          el("td", { class: "muted", text: s.env || "—" }),
          el("td", { class: "num", text: fmtNum(s.hits), testid: "service-hits" }),
          el("td", { class: "num" + (s.errors ? " err-text" : ""), text: fmtNum(s.errors), testid: "service-errors" }),
          rateCell(s.hits, s.errors),
          latCells(s),
          el("td", { class: "num" }, el("a", { href: tracesHref(s.service, s.env), text: "Traces →", testid: "service-traces-link" })));
        frag.appendChild(tr);
        for (const r of s.resources) {
          const rr = el("tr", { class: "res-row", testid: "resource-row", hidden: !open, data: { service: s.service, resource: r.resource } },
            el("td"),
            el("td", { class: "res-name", title: r.resource + " (" + r.name + ")" },
              el("span", { class: "mono", text: r.resource || r.name }), " ", el("span", { class: "muted", text: r.name })),
            el("td"),
            el("td", { class: "num", text: fmtNum(r.hits) }),
            el("td", { class: "num" + (r.errors ? " err-text" : ""), text: fmtNum(r.errors) }),
            rateCell(r.hits, r.errors),
            latCells(r),
            el("td", { class: "num" }, el("a", { href: "#/traces" + qs({ service: s.service, env: s.env, q: r.resource }), text: "Traces →", class: "muted-link" })));
          resRows.push(rr);
          frag.appendChild(rr);
        }
      }
      for (const name of traceOnly) {
        frag.appendChild(el("tr", { class: "svc-row nostats", testid: "service-row", data: { service: name, env: "", nostats: "1" } },
          el("td"),
          el("td", { class: "svc-name" }, svcChip(name)),
          el("td", { class: "muted", text: "—" }),
          el("td", { class: "muted nostats-msg", colSpan: 6, text: "traces only, no APM stats yet" }),
          el("td", { class: "num" }, el("a", { href: tracesHref(name, ""), text: "Traces →", testid: "service-traces-link" }))));
      }
      clear(tbody).appendChild(frag);
    }
    renderHead();
    renderBody();
    clear(tableWrap).appendChild(table);
  }

  // ------------------------------------------------------------------------------------------
  // Hosts: the latest host metadata of each host, as Datadog's infrastructure list shows it.

  /** `24683772kB` (gohai's memory total) as bytes for display; anything else as it came. */
  function fmtKb(v) {
    const m = /^(\d+)kB$/.exec(v || "");
    return m ? fmtBytes(Number(m[1]) * 1024) : (v || "—");
  }

  async function renderHosts(gen) {
    const tableWrap = el("div", { class: "table-wrap" }, loading("Loading hosts…"));
    const countEl = el("span", { class: "muted", testid: "host-count" });
    clear(view).appendChild(el("div", { class: "page hosts-page", testid: "hosts-page" },
      el("div", { class: "page-head" },
        el("h1", { text: "Hosts" }), countEl, el("span", { class: "spacer" }),
        el("button", { type: "button", class: "btn", text: "↻ Refresh", testid: "refresh", on: { click: () => route() } })),
      tableWrap));
    let data;
    try {
      data = await api("/api/hosts");
    } catch (e) {
      if (gen !== routeGen) return;
      clear(tableWrap).appendChild(el("div", { class: "empty", testid: "load-error" }, el("h2", { text: "Cannot load hosts" }), el("p", { text: e.message })));
      return;
    }
    if (gen !== routeGen) return;
    const hosts = data.hosts || [];
    countEl.textContent = hosts.length ? hosts.length + (hosts.length === 1 ? " host" : " hosts") : "";
    if (hosts.length === 0) {
      clear(tableWrap).appendChild(el("div", { class: "empty", testid: "empty-state" },
        el("h2", { text: "No hosts yet" }),
        el("p", { text: "Hosts appear when an exporter sends its host metadata (POST /intake, at start and every 30 minutes; host_metadata.enabled)." })));
      return;
    }
    const dash = (v) => v || "—";
    const cols = ["Host", "OS", "Kernel", "CPU", "Memory", "IP", "EC2 instance", "Tags", "Reported by", "Last seen"];
    const table = el("table", { class: "grid hosts-table", testid: "hosts-table" },
      el("thead", null, el("tr", null, cols.map((c) => el("th", { text: c })))),
      el("tbody", { testid: "host-rows" }, hosts.map((h) => el("tr", { testid: "host-row", data: { host: h.hostname } },
        el("td", { class: "mono", title: [h.socket_hostname, h.socket_fqdn].filter(Boolean).join(" · "), text: h.hostname, testid: "host-name" }),
        el("td", { text: dash(h.os), testid: "host-os" }),
        el("td", { class: "mono", text: [h.kernel, h.machine].filter(Boolean).join(" ") || "—" }),
        el("td", { title: h.cpu_model, text: h.logical_cpus ? h.logical_cpus + " × " + (h.cpu_model || "CPU") : dash(h.cpu_model) }),
        el("td", { class: "num", text: fmtKb(h.memory_total), testid: "host-memory" }),
        el("td", { class: "mono", text: dash(h.ip_address) }),
        el("td", { class: "mono", title: h.ec2_hostname, text: dash(h.instance_id) }),
        el("td", { class: "muted", text: (h.tags || []).join(", ") || "—" }),
        el("td", { class: "muted", text: [h.flavor, h.version].filter(Boolean).join(" ") || "—" }),
        el("td", { class: "muted", title: fmtFull(h.last_seen_ms), text: fmtAgo(h.last_seen_ms) + (h.reports > 1 ? " (" + h.reports + " reports)" : "") })))));
    clear(tableWrap).appendChild(table);
  }

  // ------------------------------------------------------------------------------------------
  // Start

  loadSummary();
  api("/api/facets")
    .then((f) => assignColours(f.services || []))
    .catch(() => { /* colours fall back to the plain hash */ })
    .finally(route);
})();
