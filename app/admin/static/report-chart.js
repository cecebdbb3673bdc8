// The Reports page's chart: money given per store day, net of that day's rollbacks (bars; a day when
// more was given back than given goes below zero). The data comes from <script id="report-data">,
// written by the server; the table #per-day-table holds the same numbers for screen readers and for
// browsers without JavaScript.
(function () {
  "use strict";

  function draw() {
    var canvas = document.getElementById("report-chart");
    var source = document.getElementById("report-data");
    if (!canvas || !source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var accent = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#1f5fbf";
    canvas.chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          {
            label: "Money given",
            data: data.given.map(Number),
            backgroundColor: accent,
            borderColor: accent,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          y: { beginAtZero: true },
          x: { ticks: { autoSkip: true, maxRotation: 0 } },
        },
        plugins: { legend: { display: false } },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
