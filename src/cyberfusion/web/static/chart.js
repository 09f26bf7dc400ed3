// Draws the trend chart from the JSON data block on the page with the bundled plotly.js.
(function () {
  "use strict";
  var block = document.getElementById("chart-data");
  var target = document.getElementById("chart");
  if (!block || !target || !window.Plotly) { return; }
  var fig = JSON.parse(block.textContent);
  target.hidden = false;
  window.Plotly.newPlot(target, fig.data, fig.layout, {responsive: true, displaylogo: false});
})();
