/* The command centre's wall screen (/console/board).
 *
 * Figures: GET /console/board/data.json (every figure, from the hub's services); the map from
 * GET /console/board/grid.geojson (the hub's own polygons, no tiles), drawn with the vendored
 * ECharts. Live: a graphql-transport-ws socket on /graphql subscribed to caseEvents, opened with
 * a short-lived read-only token from POST /console/board/socket-token; each event re-fetches the
 * figures (one fetch at a time, one more if events came meanwhile). On any close it reconnects by
 * itself (1 s, 2 s, 4 s ... 30 s, with a fresh token) and re-fetches once acknowledged, so what
 * happened during the gap shows. A slow timer refreshes device and air figures, which move
 * without case events. Exposes window.sanwangBoard for the browser test's timings.
 */
(function () {
  "use strict";
  var CSRF = document.querySelector('meta[name="csrf-token"]').content;
  var state = window.sanwangBoard = {
    firstPaintMs: null, renders: 0, lastRenderAt: null, lastEventAt: null, events: 0,
    connects: 0, live: false
  };
  var data = null, geo = null, layer = "town", charts = {};

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  var TZ = document.body.getAttribute("data-tz") || "Asia/Shanghai";
  var FORMAT = new Intl.DateTimeFormat("en-CA", { timeZone: TZ, hourCycle: "h23",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  function localTime(iso) {
    // The hub's local time (SANWANG_TIMEZONE), whatever the wall screen's PC is set to.
    if (!iso) return "—";
    var p = {};
    FORMAT.formatToParts(new Date(iso)).forEach(function (x) { p[x.type] = x.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }
  function status(text) { $("board-status").textContent = text; }

  function tick() { $("board-clock").textContent = localTime(new Date().toISOString()); }
  tick(); setInterval(tick, 10000);

  // --- figures ----------------------------------------------------------------------------------
  var fetching = false, again = false;
  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch("/console/board/data.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (found) { data = found; render(); status(""); })
      .catch(function (e) { status("数据加载失败（" + e.message + "），稍后重试"); })
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  function render() {
    if (!data) return;
    $("board-day").textContent = data.day;
    renderTowns(); renderIntake(); renderCards(); renderAir(); renderDevices(); renderOverdue();
    renderMap();
    state.renders += 1;
    state.lastRenderAt = Date.now();
    if (state.firstPaintMs === null) state.firstPaintMs = Math.round(performance.now());
    $("board-updated").textContent = localTime(data.generatedAt);
    document.body.setAttribute("data-renders", String(state.renders));
  }

  function cell(tr, text, cls) { tr.appendChild(el("td", cls, text)); }

  function renderTowns() {
    var body = $("board-towns").tBodies[0];
    body.textContent = "";
    data.towns.forEach(function (t) {
      var tr = el("tr");
      tr.setAttribute("data-town", t.code);
      cell(tr, t.name);
      cell(tr, t.open, "num");
      cell(tr, t.overdue, t.overdue ? "num hot" : "num");
      cell(tr, t.dueSoon, "num");
      cell(tr, t.yellowCards, "num");
      cell(tr, t.redCards, t.redCards ? "num hot" : "num");
      body.appendChild(tr);
    });
  }

  function renderIntake() {
    var box = $("board-intake");
    box.textContent = "";
    data.intake.forEach(function (i) {
      var f = el("div", "figure");
      f.setAttribute("data-channel", i.channel);
      f.appendChild(el("b", null, i.count));
      f.appendChild(el("span", null, i.label));
      box.appendChild(f);
    });
    if (!window.echarts) return;
    var chart = charts.intake || (charts.intake = echarts.init($("board-intake-chart"), "dark"));
    chart.setOption({
      backgroundColor: "transparent", animation: false,
      grid: { left: 8, right: 24, top: 8, bottom: 20, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: data.intake.map(function (i) { return i.label; }) },
      series: [{ type: "bar", data: data.intake.map(function (i) { return i.count; }),
                 itemStyle: { color: "#40a9ff" }, label: { show: true, position: "right" } }]
    });
  }

  function renderCards() {
    document.querySelectorAll("[data-card]").forEach(function (b) {
      b.textContent = data.cards[b.getAttribute("data-card")];
    });
  }

  function renderAir() {
    var list = $("board-air");
    list.textContent = "";
    if (!data.air.length) list.appendChild(el("li", "muted", "没有空气站"));
    data.air.forEach(function (a) {
      var li = el("li");
      li.appendChild(el("span", null, a.name + "（" + a.town + "）"));
      var badge;
      if (a.aqi === null) {
        badge = el("span", "aqi none", "暂无数据");
      } else {
        badge = el("span", "aqi", a.aqi + " " + a.category);
        badge.style.background = a.colour;
        if (a.level >= 4) badge.style.color = "#fff";
        badge.title = a.primary.length ? "首要污染物：" + a.primary.join("、") : "";
      }
      li.appendChild(badge);
      list.appendChild(li);
    });
  }

  var OFFLINE_SHOWN = 8;
  function renderDevices() {
    var d = data.devices, list = $("board-offline");
    $("board-devices-total").textContent =
      (d.offlinePoints.length + d.offlineCameras.length) + " 台离线 · 监测点 " + d.points +
      " 个，摄像头 " + d.cameras + " 个";
    list.textContent = "";
    var rows = d.offlinePoints.map(function (p) {
      return ["监测点", p.name + "（" + p.mn + "）", p.town, p.lastSeenAt];
    }).concat(d.offlineCameras.map(function (c) {
      return ["摄像头", c.name + "（" + c.cameraId + "）", c.town, c.lastSeenAt];
    }));
    if (!rows.length) list.appendChild(el("li", "muted", "全部在线"));
    rows.slice(0, OFFLINE_SHOWN).forEach(function (r) {
      var li = el("li");
      li.appendChild(el("span", null, r[0] + " · " + r[1] + " · " + r[2]));
      li.appendChild(el("span", "muted", r[3] ? "最后上报 " + localTime(r[3]) : "从未上报"));
      list.appendChild(li);
    });
    if (rows.length > OFFLINE_SHOWN) {
      list.appendChild(el("li", "muted", "另有 " + (rows.length - OFFLINE_SHOWN) + " 台离线设备"));
    }
  }

  function renderOverdue() {
    var body = $("board-overdue").tBodies[0];
    body.textContent = "";
    if (!data.overdue.length) {
      var tr = el("tr"); var td = el("td", "muted", "没有超期案件"); td.colSpan = 5;
      tr.appendChild(td); body.appendChild(tr);
    }
    data.overdue.forEach(function (c) {
      var tr = el("tr"), td = el("td"), a = el("a", null, c.number);
      a.href = "/console/cases/" + encodeURIComponent(c.number);
      td.appendChild(a); tr.appendChild(td);
      cell(tr, c.title); cell(tr, c.town); cell(tr, localTime(c.dueAt));
      cell(tr, c.overdueHours >= 24 ? (c.overdueHours / 24).toFixed(1) + " 天" : c.overdueHours + " 小时", "num hot");
      body.appendChild(tr);
    });
  }

  // --- the map ----------------------------------------------------------------------------------
  var LEVELS = ["无在办案件", "有在办案件", "有超期案件"];
  function mapData() {
    var towns = {}, cells = {};
    data.towns.forEach(function (t) { towns[t.code] = t; });
    data.cells.forEach(function (c) { cells[c.id] = c; });
    return geo.features.filter(function (f) { return inLayer(f, layer); }).map(function (f) {
      var p = f.properties;
      var n = layer === "town" ? (towns[p.town] || { open: 0, overdue: 0 })
                               : (cells[p.key] || { open: 0, overdue: 0 });
      return { name: p.key, value: n.overdue > 0 ? 2 : n.open > 0 ? 1 : 0,
               open: n.open, overdue: n.overdue, label: layer === "town" ? p.townName : p.name };
    });
  }
  function inLayer(f, which) {
    var level = f.properties.level;
    return which === "town" ? level === 2 : level >= 3; // 1 is the city itself: not drawn
  }
  function registerMaps() {
    ["town", "cell"].forEach(function (which) {
      var fs = geo.features.filter(function (f) { return inLayer(f, which); });
      echarts.registerMap("sanwang-" + which, { type: "FeatureCollection", features: fs });
    });
  }
  function renderMap() {
    if (!geo || !window.echarts || !data) return;
    var chart = charts.map || (charts.map = echarts.init($("board-map"), "dark"));
    var shown = mapData();
    if (!shown.length) { status("没有可显示的网格边界"); return; }
    chart.setOption({
      backgroundColor: "transparent", animation: false,
      tooltip: { formatter: function (p) {
        var d = p.data || {};
        return (d.label || "") + "<br>在办 " + (d.open || 0) + " 件，超期 " + (d.overdue || 0) + " 件";
      } },
      visualMap: { type: "piecewise", left: 8, bottom: 8, textStyle: { color: "#d8e6f3" },
        pieces: [{ value: 0, label: LEVELS[0], color: "#1f4e79" },
                 { value: 1, label: LEVELS[1], color: "#d4a017" },
                 { value: 2, label: LEVELS[2], color: "#cf1322" }] },
      series: [{ type: "map", map: "sanwang-" + layer, nameProperty: "key", roam: true,
        label: { show: layer === "town", color: "#fff", formatter: function (p) {
          return (p.data && p.data.label) || ""; } },
        itemStyle: { borderColor: "#8fb8de", borderWidth: layer === "town" ? 1.5 : 0.6 },
        emphasis: { label: { show: true, color: "#fff" }, itemStyle: { areaColor: "#40a9ff" } },
        data: shown }]
    }, true);
  }
  document.querySelectorAll(".switch button").forEach(function (b) {
    b.addEventListener("click", function () {
      layer = b.getAttribute("data-layer");
      document.querySelectorAll(".switch button").forEach(function (o) {
        o.classList.toggle("on", o === b);
      });
      renderMap();
    });
  });
  fetch("/console/board/grid.geojson", { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (found) { geo = found; registerMaps(); renderMap(); })
    .catch(function (e) { status("网格边界加载失败（" + e.message + "）"); });
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
  });

  // --- live: graphql-transport-ws on /graphql ---------------------------------------------------
  var SUBSCRIPTION = "subscription BoardEvents { caseEvents { kind at } }";
  var socket = null, backoff = 1000, pingTimer = null;

  function setLive(on, text) {
    state.live = on;
    var badge = $("board-live");
    badge.className = "live " + (on ? "on" : "off");
    badge.textContent = text;
  }

  function token() {
    return fetch("/console/board/socket-token", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "X-CSRF-Token": CSRF }
    }).then(function (r) {
      if (r.redirected || !r.ok) throw new Error(r.status === 403 ? "无权订阅" : "登录已过期");
      return r.json();
    }).then(function (found) { return found.token; });
  }

  function connect() {
    token().then(open, function (e) { setLive(false, "未连接：" + e.message); later(); });
  }

  function open(jwt) {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
    var ws = socket = new WebSocket(url, "graphql-transport-ws");
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "connection_init", payload: { Authorization: "Bearer " + jwt } }));
    };
    ws.onmessage = function (message) {
      var m;
      try { m = JSON.parse(message.data); } catch (e) { return; }
      if (m.type === "connection_ack") {
        backoff = 1000;
        state.connects += 1;
        setLive(true, "实时");
        ws.send(JSON.stringify({ id: "board", type: "subscribe", payload: { query: SUBSCRIPTION } }));
        refresh(); // catch up: whatever changed while the socket was down
      } else if (m.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (m.type === "next") {
        state.events += 1;
        var ev = m.payload && m.payload.data && m.payload.data.caseEvents;
        if (ev && ev.at) state.lastEventAt = Date.parse(ev.at); // the change's own time
        refresh();
      } else if (m.type === "error") {
        status("订阅被拒绝：" + JSON.stringify(m.payload));
        ws.close(4400);
      } else if (m.type === "complete") {
        ws.close(1000);
      }
    };
    ws.onclose = function () {
      if (socket === ws) { socket = null; setLive(false, "重新连接中…"); later(); }
    };
  }

  function later() {
    var wait = backoff;
    backoff = Math.min(backoff * 2, 30000);
    setTimeout(connect, wait);
  }

  // Keep the socket honest: a ping every 25 s; no socket means a reconnect is already queued.
  pingTimer = setInterval(function () {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
  }, 25000);
  window.addEventListener("beforeunload", function () {
    clearInterval(pingTimer);
    if (socket) { var s = socket; socket = null; s.close(1000); }
  });

  // Drop the socket as a network loss would (the browser test's reconnect check; harmless).
  state.drop = function () { if (socket) socket.close(4000, "dropped"); };

  refresh();
  connect();
  setInterval(refresh, 60000); // devices and air quality change without case events
})();
