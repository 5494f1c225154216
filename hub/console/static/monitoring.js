/* A pollutant of one monitoring point over one day (/console/monitoring/points/{id}), drawn
 * with the vendored ECharts from the readings the page carries; the limit as a dashed line. */
(function () {
  "use strict";
  var box = document.getElementById("chart");
  if (!box || !window.echarts) return;
  var d = JSON.parse(box.getAttribute("data-chart"));
  var lines = [];
  if (d.max !== null && d.max !== undefined) lines.push({ yAxis: d.max, name: "上限" });
  if (d.min !== null && d.min !== undefined) lines.push({ yAxis: d.min, name: "下限" });
  var chart = echarts.init(box);
  chart.setOption({
    animation: false,
    tooltip: { trigger: "axis" },
    grid: { left: 60, right: 90, top: 30, bottom: 40 },
    xAxis: { type: "time", min: d.day + " 00:00:00", max: d.day + " 23:59:59",
             axisLabel: { formatter: "{HH}:{mm}" } },
    yAxis: { type: "value", name: d.unit, scale: true },
    series: [{
      name: d.name, type: "line", showSymbol: d.series.length < 60, data: d.series,
      markLine: lines.length ? { symbol: "none", lineStyle: { color: "#d93025", type: "dashed" },
        label: { formatter: "{b} {c}" }, data: lines } : undefined
    }]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
