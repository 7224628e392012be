// The JobWidget's view: draws the JSON data of sabot_lab.notebook.job_view.job_view
// (the model's traitlets) the way job_html does, plus a Cancel button.

const ENDED = ["FINISHED", "FAILED", "CANCELLED"];
const SPARKLINE = [160, 28];

function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function count(n) {
  return Math.round(n).toLocaleString("en-US");
}

function figures(model) {
  const rows = [["rows out, all stages", "sabot-job-rows-all", count(model.get("rows_all_stages"))]];
  if (model.get("rows_read") !== null) rows.unshift(["rows read", "sabot-job-rows-read", count(model.get("rows_read"))]);
  const throughput = model.get("throughput");
  if (throughput.length) {
    rows.push(["throughput", "sabot-job-throughput", `${count(throughput[throughput.length - 1])} rows/s`]);
  }
  const latency = model.get("latency_s");
  if (latency !== null) rows.push(["latency", "sabot-job-latency", `${latency.toFixed(2)} s`]);
  rows.push(["backpressure", "sabot-job-backpressure", `${Math.round(model.get("backpressure") * 100)}%`]);
  const c = model.get("checkpoint");
  if (c) {
    const size = c.last_bytes === null ? "" : `, ${count(c.last_bytes)} B`;
    rows.push(["checkpoint", "sabot-job-checkpoint", `#${c.last} (${c.completed} done${size})`]);
  }
  rows.push(["attempts", "sabot-job-attempts", String(model.get("attempts"))]);
  return rows;
}

function sparkline(points) {
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  const [width, height] = SPARKLINE;
  svg.setAttribute("class", "sabot-sparkline");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const line = document.createElementNS(svgNs, "polyline");
  line.setAttribute("points", points);
  svg.appendChild(line);
  return svg;
}

function render({ model, el }) {
  const root = node("div", "sabot-widget sabot-job");
  el.appendChild(root);

  const draw = () => {
    const state = model.get("state");
    root.replaceChildren();
    root.dataset.jobId = model.get("job_id");

    const header = node("div", "sabot-job-header");
    header.append(node("b", "", "Job"), node("code", "", model.get("job_id")));
    header.append(node("span", `sabot-job-state sabot-state-${state.toLowerCase()}`, state));
    header.append(node("span", "sabot-job-rows", count(model.get("rows"))), " rows out");
    const cancel = node("button", "sabot-job-cancel", "Cancel");
    cancel.disabled = ENDED.includes(state) || model.get("notice") === "cancelling";
    cancel.addEventListener("click", () => {
      cancel.disabled = true;
      model.send({ type: "cancel" });
    });
    header.append(cancel);
    if (model.get("notice")) header.append(node("span", "sabot-job-notice", model.get("notice")));
    root.append(header);

    const progress = model.get("progress");
    if (progress) {
      const line = node("div", "sabot-job-progress");
      const bar = node("progress");
      bar.max = progress.total;
      bar.value = progress.done;
      line.append(bar, node("span", "sabot-job-tasks", progress.text));
      root.append(line);
    }

    const table = node("table", "sabot-figures");
    for (const [label, className, value] of figures(model)) {
      const row = node("tr");
      row.append(node("th", "", label), node("td", className, value));
      table.append(row);
    }
    root.append(table);
    if (model.get("sparkline")) root.append(sparkline(model.get("sparkline")));
    if (model.get("error")) root.append(node("pre", "sabot-job-error", model.get("error")));
  };

  draw();
  model.on("change", draw);
  return () => model.off("change", draw);
}

export default { render };
