// The budget burn chart of a campaign page: spent so far (a line), the projection at the current
// pace (a dashed line) and the budget (a flat line). The data comes from <script id="burn-data">,
// written by the server; the table #burn-table holds the same numbers for screen readers and
// for browsers without JavaScript.
(function () {
  "use strict";

  function numbers(values) {
    return values.map(function (value) {
      return value === null ? null : Number(value);
    });
  }

  function draw() {
    var canvas = document.getElementById("burn-chart");
    var source = document.getElementById("burn-data");
    if (!canvas || !source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var budget = Number(data.budget);
    var styles = getComputedStyle(document.documentElement);
    var accent = styles.getPropertyValue("--accent").trim() || "#1f5fbf";
    var muted = styles.getPropertyValue("--muted").trim() || "#5a6270";
    var danger = styles.getPropertyValue("--bad").trim() || "#b3261e";
    canvas.chart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          {
            label: "Spent",
            data: numbers(data.spent),
            borderColor: accent,
            backgroundColor: accent,
            borderWidth: 2,
            pointRadius: 0,
            spanGaps: false,
          },
          {
            label: "Projection at the current pace",
            data: numbers(data.projection),
            borderColor: muted,
            backgroundColor: muted,
            borderDash: [6, 4],
            borderWidth: 2,
            pointRadius: 0,
            spanGaps: false,
          },
          {
            label: "Budget",
            data: data.labels.map(function () {
              return budget;
            }),
            borderColor: danger,
            backgroundColor: danger,
            borderWidth: 1,
            pointRadius: 0,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, suggestedMax: budget },
          x: { ticks: { autoSkip: true, maxRotation: 0 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
  // Pause and resume swap the page's <main> in place (htmx): the new canvas needs its chart.
  document.addEventListener("htmx:afterSettle", function () {
    var canvas = document.getElementById("burn-chart");
    if (canvas && !canvas.chart) {
      draw();
    }
  });
})();
