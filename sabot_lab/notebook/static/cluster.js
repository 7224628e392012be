// The ClusterWidget's view: draws the JSON data of
// sabot_lab.notebook.cluster_view.cluster_view (the model's traitlets) the way cluster_html
// does, plus scale buttons for a LocalCluster.

const UP = ["ACTIVE", "BUSY"];
const NOTICES = { closed: "closed", unreachable: "the JobManager does not answer" };

function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function state(name, className) {
  return node("span", `${className} sabot-state-${name.toLowerCase()}`, name);
}

function table(className, headings, rows, empty) {
  const t = node("table", className);
  const head = node("tr");
  for (const h of headings) head.append(node("th", "", h));
  if (!rows.length && empty) {
    const row = node("tr", "sabot-empty");
    const only = node("td", "", empty);
    only.colSpan = headings.length;
    row.append(only);
    rows = [row];
  }
  t.append(head, ...rows);
  return t;
}

function cell(content, className) {
  const td = node("td", className || "");
  td.append(content);
  return td;
}

function render({ model, el }) {
  const root = node("div", "sabot-widget sabot-cluster");
  el.appendChild(root);

  const draw = () => {
    const agents = model.get("agents");
    root.replaceChildren();

    const header = node("div", "sabot-cluster-header");
    header.append(node("b", "", "Cluster"), node("code", "", model.get("uri")));
    const status = model.get("status");
    const open = status === "open";
    const up = agents.filter((a) => UP.includes(a.state)).length;
    const live = agents.length;
    header.append(node("span", "sabot-cluster-agents", open ? `${up} of ${live} agents active` : ""));
    if (model.get("link") && open) {
      const link = node("a", "sabot-cluster-link", "status page");
      link.href = model.get("link");
      link.target = "_blank";
      header.append(link);
    }
    if (model.get("scalable")) {
      const busy = model.get("notice").startsWith("scaling to");
      for (const [label, className, by] of [["+ agent", "sabot-scale-up", 1], ["− agent", "sabot-scale-down", -1]]) {
        const button = node("button", className, label);
        button.disabled = !open || busy || (by < 0 && live === 0);
        button.addEventListener("click", () => {
          button.disabled = true;
          model.send({ type: "scale", by });
        });
        header.append(button);
      }
    }
    if (model.get("notice")) header.append(node("span", "sabot-cluster-notice", model.get("notice")));
    root.append(header);

    if (!open) {
      root.append(node("div", `sabot-cluster-notice sabot-status-${status}`, NOTICES[status]));
      return;
    }
    const agentRows = agents.map((a) => {
      const row = node("tr", "sabot-agent");
      row.dataset.agent = a.uri;
      row.append(
        cell(node("code", "", a.uri)),
        cell(state(a.state, "sabot-agent-state")),
        cell(`${a.running}/${a.slots}`, "sabot-number"),
        cell(`${Math.round(a.load * 100)}%`, "sabot-number"),
        cell(`${a.heartbeat_age_s} s`, "sabot-number"),
      );
      return row;
    });
    root.append(
      table("sabot-agents", ["agent", "state", "tasks/slots", "load", "heartbeat"], agentRows, "no agents running"),
    );
    const history = model.get("history");
    if (history.length) {
      const fold = node("details", "sabot-agent-history");
      fold.append(node("summary", "", `${history.length} stopped or failed agents`));
      const pastRows = history.map((a) => {
        const row = node("tr", "sabot-agent-past");
        row.dataset.agent = a.uri;
        row.append(
          cell(node("code", "", a.uri)),
          cell(state(a.state, "sabot-agent-state")),
          cell(`${a.heartbeat_age_s} s ago`, "sabot-number"),
        );
        return row;
      });
      fold.append(table("", ["agent", "state", "last heartbeat"], pastRows));
      root.append(fold);
    }
    const jobRows = model.get("jobs").map((j) => {
      const row = node("tr", "sabot-cluster-job");
      row.dataset.jobId = j.job_id;
      row.append(
        cell(node("code", "", j.job_id)),
        cell(j.name),
        cell(state(j.state, "sabot-cluster-job-state")),
        cell(j.error),
      );
      return row;
    });
    root.append(table("sabot-cluster-jobs", ["job", "name", "state", "error"], jobRows, "no jobs yet"));
  };

  draw();
  model.on("change", draw);
  return () => model.off("change", draw);
}

export default { render };
