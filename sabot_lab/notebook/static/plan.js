// sabot-lab PlanWidget: draws the plan views laid out in Python (traitlet `views`) as SVG,
// fitted to the output's width while readable (zoom buttons change that), toggles the view (`view`), shows
// the details of the clicked operator (`selected`) in a pane that is there only then, and
// overlays a followed job's live numbers (`live`). A text longer than its box is shortened
// with "…" (the whole text is its tooltip). Plain ESM for anywidget, no dependencies.

const SVG_NS = "http://www.w3.org/2000/svg";
const VIEWS = ["logical", "optimized", "physical"];
const MARGIN = 8;
const MIN_ZOOM = 0.2;
const READABLE_ZOOM = 0.6;
const MAX_ZOOM = 3;
const ZOOM_STEP = 1.25;

function el(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function html(tag, className = "", parent = null, text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

const TEXT_PAD = 10; // px between a box's edge and its text

// Shorten an SVG text element with "…" until it fits `width` px; its full text becomes its
// tooltip. Needs the element drawn (an output not shown yet measures 0: left as is).
function fitText(text, width) {
  const full = text.textContent;
  if (!(text.getComputedTextLength() > width)) return;
  el("title", {}, text, full);
  let keep = full.length;
  while (keep > 1 && text.getComputedTextLength() > width) {
    keep -= 1;
    text.firstChild.textContent = `${full.slice(0, keep).trimEnd()}…`;
  }
}

function label(parent, attrs, content, width) {
  const text = el("text", attrs, parent, content);
  fitText(text, width);
  return text;
}

function count(value) {
  return value === null || value === undefined ? "–" : Math.round(value).toLocaleString();
}

function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)}%`;
}

function drawGroup(svg, group, live) {
  const g = el("g", { class: "sabot-group", "data-group-id": group.id, "data-kind": group.kind }, svg);
  el("rect", {
    class: "sabot-group-box", x: group.x, y: group.y, width: group.w, height: group.h, rx: 10,
    fill: group.color, "fill-opacity": 0.06, stroke: group.color,
    ...(group.kind === "fused" ? { "stroke-dasharray": "5 3" } : {}),
  }, g);
  const width = group.w - 16;
  label(g, { class: "sabot-group-label", x: group.x + 8, y: group.y + 13, "font-size": 10.5 }, group.label, width);
  const numbers = group.kind === "stage" && live.stages ? live.stages[String(group.details.stage)] : null;
  if (numbers) {
    numbers.lines.forEach((line, i) => {
      label(g, { class: "sabot-group-live", x: group.x + 8, y: group.y + 26 + 11 * i, "font-size": 10 }, line, width);
    });
  }
  return g;
}

function drawEdge(svg, edge, live) {
  const numbers = live.edges ? live.edges[edge.id] : null;
  const g = el("g", {
    class: `sabot-edge${numbers ? " sabot-live-edge" : ""}`,
    "data-edge-id": edge.id, "data-source": edge.source, "data-target": edge.target,
  }, svg);
  el("path", {
    class: "sabot-edge-line", d: edge.path, fill: "none", "stroke-width": 1.5,
    "marker-end": "url(#sabot-plan-arrow)",
    ...(edge.exchange ? { "stroke-dasharray": "6 3" } : {}),
  }, g);
  const rows = numbers ? numbers.text : edge.rows_text;
  const text = [edge.label, rows].filter((t) => t).join(" · ");
  el("text", { class: "sabot-edge-rows", x: edge.label_x + 6, y: edge.label_y + 4, "font-size": 10 }, g, text);
}

function drawNode(svg, node, live, selected) {
  const numbers = live.nodes ? live.nodes[node.id] : null;
  const g = el("g", {
    class: `sabot-node sabot-kind-${node.kind}${node.id === selected ? " sabot-selected" : ""}`,
    "data-node-id": node.id, "data-kind": node.kind, tabindex: 0, role: "button",
  }, svg);
  el("title", {}, g, `${node.id}: ${node.details.description}`);
  el("rect", {
    class: "sabot-node-box", x: node.x, y: node.y, width: node.w, height: node.h, rx: 6,
    fill: node.color, "fill-opacity": 0.16, stroke: node.color, "stroke-width": 1.5,
  }, g);
  const width = node.w - 2 * TEXT_PAD;
  label(g, { class: "sabot-node-label", x: node.x + TEXT_PAD, y: node.y + 17, "font-weight": 600 }, node.label, width);
  const [className, text] = numbers ? ["sabot-node-live", numbers.text] : ["sabot-node-sublabel", node.sublabel];
  label(g, { class: className, x: node.x + TEXT_PAD, y: node.y + 33, "font-size": 10.5 }, text, width);
  return g;
}

function drawView(svg, view, live, selected, zoom) {
  svg.replaceChildren();
  const width = view.width + 2 * MARGIN;
  const height = view.height + 2 * MARGIN;
  svg.setAttribute("width", Math.round(width * zoom));
  svg.setAttribute("height", Math.round(height * zoom));
  svg.setAttribute("viewBox", `${-MARGIN} ${-MARGIN} ${width} ${height}`);
  svg.setAttribute("data-view", view.name);
  const defs = el("defs", {}, svg);
  const marker = el("marker", {
    id: "sabot-plan-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8c8c8c" }, marker);
  for (const group of view.groups) drawGroup(svg, group, live);
  for (const edge of view.edges) drawEdge(svg, edge, live);
  for (const node of view.nodes) drawNode(svg, node, live, selected);
}

function section(panel, title) {
  html("h4", "", panel, title);
}

function table(panel, rows, className) {
  const t = html("table", className, panel);
  for (const cells of rows) {
    const tr = html("tr", "", t);
    for (const cell of cells) html("td", "", tr, String(cell));
  }
}

function renderDetails(panel, view, selected, live, onClose) {
  panel.replaceChildren();
  const item = view.nodes.find((n) => n.id === selected) || view.groups.find((g) => g.id === selected);
  panel.hidden = !item;
  if (!item) return;
  const d = item.details;
  const close = html("button", "sabot-details-close", panel, "×");
  close.title = "close";
  close.addEventListener("click", onClose);
  html("div", "sabot-details-title", panel, item.label);
  html("div", "sabot-details-id", panel, d.id);
  if (d.description) html("div", "sabot-details-description", panel, d.description);
  if (d.estimated_rows !== undefined && d.estimated_rows !== null) {
    html("div", "sabot-details-rows", panel, `estimated output: ~${count(d.estimated_rows)} rows`);
  }
  const numbers = item.kind === "stage" && live.stages
    ? live.stages[String(d.stage)]
    : live.nodes && live.nodes[item.id];
  if (numbers) {
    section(panel, "live");
    const rows = [["rows out", count(numbers.rows_out)], ["rows/s", count(numbers.rows_per_s)]];
    if (numbers.rows_in !== undefined) rows.push(["rows in", count(numbers.rows_in)]);
    if (numbers.busy !== undefined) {
      rows.push(["busy", percent(numbers.busy)], ["backpressure", percent(numbers.backpressure)]);
      rows.push(["tasks", Object.entries(numbers.tasks).map(([s, n]) => `${n} ${s}`).join(", ")]);
    }
    table(panel, rows, "sabot-details-live");
  }
  if (d.schema && d.schema.length) {
    section(panel, "schema");
    table(panel, d.schema, "sabot-details-schema");
  }
  const expressions = Object.entries(d.expressions || {});
  if (expressions.length) {
    section(panel, "expressions");
    const ul = html("ul", "sabot-details-expressions", panel);
    for (const [key, exprs] of expressions) {
      for (const expr of exprs) {
        const li = html("li", "", ul, `${key}: `);
        html("code", "", li, expr);
      }
    }
  }
  const params = Object.entries(d.parameters || {});
  const extra = [];
  if (d.stage !== null && d.stage !== undefined) extra.push(["stage", d.stage]);
  if (d.fused_into) extra.push(["fused into", d.fused_into]);
  if (d.key_by && d.key_by.length) extra.push(["key by", d.key_by.join(", ")]);
  if (d.stateful) extra.push(["stateful", "yes"]);
  if (d.parallelism) extra.push(["parallelism", d.parallelism]);
  if (d.partitions) extra.push(["tasks", d.partitions]);
  if (d.reads && d.reads.length) extra.push(["reads", d.reads.join(", ")]);
  if (d.writes && d.writes.length) extra.push(["writes", d.writes.join(", ")]);
  if (params.length || extra.length) {
    section(panel, "parameters");
    table(panel, [...params, ...extra], "sabot-details-parameters");
  }
  section(panel, "optimizer rules");
  const rules = d.rules || [];
  if (!rules.length) {
    html("div", "sabot-details-hint", panel, "no rewrite touched this operator");
  } else {
    const ul = html("ul", "sabot-details-rules", panel);
    for (const r of rules) {
      const li = html("li", "sabot-details-rule", ul);
      li.dataset.rule = r.rule;
      html("code", "", li, `${r.step}. ${r.rule}`);
      li.appendChild(document.createTextNode(` ${r.role}: ${r.reason}`));
    }
  }
}

function liveStatus(status, live) {
  if (!live || !live.state) {
    status.textContent = "";
    status.removeAttribute("data-state");
    return;
  }
  status.dataset.state = live.state;
  status.textContent = live.text;
  if (live.error) html("span", "sabot-live-error", status, ` · ${live.error.split("\n")[0]}`);
}

function render({ model, el: root }) {
  const container = html("div", "sabot-plan", root);
  const toolbar = html("div", "sabot-plan-toolbar", container);
  const toggle = html("div", "sabot-view-toggle", toolbar);
  toggle.setAttribute("role", "group");
  const buttons = VIEWS.map((name) => {
    const button = html("button", "sabot-view-button", toggle, name);
    button.dataset.view = name;
    button.addEventListener("click", () => {
      model.set("view", name);
      model.save_changes();
    });
    return button;
  });
  const zoomBar = html("div", "sabot-zoom", toolbar);
  const zoomButtons = [["−", "sabot-zoom-out", "zoom out"], ["+", "sabot-zoom-in", "zoom in"],
    ["fit", "sabot-zoom-fit", "fit to width"], ["100%", "sabot-zoom-reset", "actual size"]]
    .map(([text, className, tip]) => {
      const button = html("button", `sabot-zoom-button ${className}`, zoomBar, text);
      button.title = tip;
      return button;
    });
  const title = html("span", "sabot-plan-title", toolbar);
  const hint = html("span", "sabot-details-hint", toolbar, "click an operator for its details");
  const status = html("span", "sabot-live-status", toolbar);
  const body = html("div", "sabot-plan-body", container);
  const canvas = html("div", "sabot-plan-canvas", body);
  const svg = el("svg", { class: "sabot-plan-svg", "font-family": "sans-serif", "font-size": 12 }, canvas);
  const details = html("div", "sabot-details", body);
  details.hidden = true;
  // "auto": fitted to the width, but never below a readable size (then it scrolls);
  // "fit": the whole width, however small; a number: that zoom
  let zoom = "auto";

  function shownZoom(view) {
    if (typeof zoom === "number") return zoom;
    const room = canvas.clientWidth - 2;
    const fitted = room > 0 ? Math.min(1, room / (view.width + 2 * MARGIN)) : 1;
    return Math.max(zoom === "fit" ? MIN_ZOOM : READABLE_ZOOM, fitted);
  }

  function select(id) {
    model.set("selected", id);
    model.save_changes();
  }

  function redraw() {
    const name = model.get("view");
    const view = (model.get("views") || {})[name];
    const live = model.get("live") || {};
    const selected = model.get("selected");
    for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.view === name));
    liveStatus(status, live);
    if (!view) return;
    title.textContent = view.title;
    renderDetails(details, view, selected, name === "physical" ? live : {}, () => select(""));
    hint.hidden = !details.hidden;
    const scale = shownZoom(view);
    svg.dataset.zoom = scale.toFixed(3);
    drawView(svg, view, name === "physical" ? live : {}, selected, scale);
  }

  const [zoomOut, zoomIn, zoomFit, zoomReset] = zoomButtons;
  const current = () => shownZoom((model.get("views") || {})[model.get("view")] || { width: 0 });
  zoomOut.addEventListener("click", () => { zoom = Math.max(MIN_ZOOM, current() / ZOOM_STEP); redraw(); });
  zoomIn.addEventListener("click", () => { zoom = Math.min(MAX_ZOOM, current() * ZOOM_STEP); redraw(); });
  zoomFit.addEventListener("click", () => { zoom = "fit"; redraw(); });
  zoomReset.addEventListener("click", () => { zoom = 1; redraw(); });
  // the output's width is known only once it is shown, and changes with the window
  let seenWidth = canvas.clientWidth;
  const resized = new ResizeObserver(() => {
    if (canvas.clientWidth === seenWidth) return;
    seenWidth = canvas.clientWidth;
    if (typeof zoom !== "number") redraw();
  });
  resized.observe(canvas);

  svg.addEventListener("click", (event) => {
    const node = event.target.closest(".sabot-node");
    const group = event.target.closest(".sabot-group-label") && event.target.closest(".sabot-group");
    if (node) select(node.dataset.nodeId);
    else if (group) select(group.dataset.groupId);
    else select("");
  });
  svg.addEventListener("keydown", (event) => {
    const node = event.target.closest(".sabot-node");
    if (node && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(node.dataset.nodeId);
    }
  });

  const events = ["change:views", "change:view", "change:live", "change:selected"];
  for (const name of events) model.on(name, redraw);
  redraw();
  return () => {
    resized.disconnect();
    for (const name of events) model.off(name, redraw);
  };
}

export default { render };
