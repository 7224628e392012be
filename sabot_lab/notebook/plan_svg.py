"""Static rendering of a plan view (:mod:`sabot_lab.notebook.plan_views`) as inline SVG, for
saved notebooks shown without a kernel (GitHub, nbviewer) and for ``Stream._repr_html_``.

Colours are SVG attributes (sanitizers drop stylesheets): translucent fills over the page's
own background and text in ``currentColor``, so light and dark themes both stay readable.
Each operator is a ``<g class="sabot-node" data-node-id=...>``, the same element the widget
draws.

>>> import sabot_lab as sl
>>> from sabot_lab.notebook.plan_views import plan_views
>>> view = plan_views(sl.from_pydict({"x": [1, 2]}).filter(sl.col("x") > 1))["optimized"]
>>> svg = plan_svg(view)
>>> svg.startswith("<svg"), svg.count('class="sabot-node"')
(True, 2)
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from sabot_lab.notebook.plan_views import NEUTRAL_COLOR, shorten

__all__ = ["MARGIN", "plan_html", "plan_svg"]

MARGIN = 8.0
"""Space around the drawing."""


def plan_svg(view: Mapping[str, Any], live: Mapping[str, Any] | None = None) -> str:
    """The view as one ``<svg>`` element: groups, then edges, then operators; with ``live``
    (:func:`~sabot_lab.notebook.plan_live.live_numbers` for a physical view) the job's
    numbers on its stages, exchanges and stage outputs."""
    live = live or {}
    width, height = view["width"] + 2 * MARGIN, view["height"] + 2 * MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sabot-plan-svg" '
        f'data-view="{_a(view["name"])}" width="{width:g}" height="{height:g}" '
        f'viewBox="{-MARGIN:g} {-MARGIN:g} {width:g} {height:g}" '
        'font-family="sans-serif" font-size="12" role="img">',
        f"<title>{_t(view['title'])}</title>",
        '<defs><marker id="sabot-plan-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{NEUTRAL_COLOR}"/></marker></defs>',
    ]
    stages, edges, nodes = (live.get(k, {}) for k in ("stages", "edges", "nodes"))
    parts += [_group(g, stages.get(str(g["details"].get("stage")))) for g in view["groups"]]
    parts += [_edge(e, edges.get(e["id"])) for e in view["edges"]]
    parts += [_node(n, nodes.get(n["id"])) for n in view["nodes"]]
    parts.append("</svg>")
    return "".join(parts)


def plan_html(view: Mapping[str, Any], text: str, live: Mapping[str, Any] | None = None) -> str:
    """The static HTML of a plan: a title line (and the followed job's state), the SVG of
    ``view`` (with ``live`` numbers, see :func:`plan_svg`), and ``text`` (the plan as text)
    folded below it.

    >>> import sabot_lab as sl
    >>> from sabot_lab.notebook.plan_views import plan_views
    >>> s = sl.from_pydict({"x": [1]})
    >>> page = plan_html(plan_views(s)["optimized"], str(s.explain()))
    >>> page.count("<svg"), "<details>" in page
    (1, True)
    """
    status = f' <span class="sabot-live-status">· {_t(live["text"])}</span>' if live else ""
    return (
        '<div class="sabot-plan sabot-plan-static">'
        f'<div class="sabot-plan-title" style="font-family: sans-serif; font-size: 12px; '
        f'opacity: 0.8; margin-bottom: 4px">{_t(view["title"])}{status}</div>'
        f"{plan_svg(view, live)}"
        "<details><summary>plan as text</summary>"
        f"<pre>{_t(text)}</pre></details></div>"
    )


def _group(g: Mapping[str, Any], live: Mapping[str, Any] | None) -> str:
    color = g["color"]
    dash = ' stroke-dasharray="5 3"' if g["kind"] == "fused" else ""
    return (
        f'<g class="sabot-group" data-group-id="{_a(g["id"])}" data-kind="{_a(g["kind"])}">'
        f'<rect class="sabot-group-box" x="{g["x"]:g}" y="{g["y"]:g}" width="{g["w"]:g}" '
        f'height="{g["h"]:g}" rx="10" fill="{color}" fill-opacity="0.06" stroke="{color}"'
        f"{dash}/>"
        f'<text class="sabot-group-label" x="{g["x"] + 8:g}" y="{g["y"] + 13:g}" '
        f'font-size="10.5" fill="currentColor" fill-opacity="0.75">{_t(g["label"])}</text>'
        + "".join(
            f'<text class="sabot-group-live" x="{g["x"] + 8:g}" y="{g["y"] + 26 + 11 * i:g}" '
            f'font-size="10" fill="currentColor">{_t(line)}</text>'
            for i, line in enumerate(live["lines"] if live else ())
        )
        + "</g>"
    )


def _edge(e: Mapping[str, Any], live: Mapping[str, Any] | None) -> str:
    rows = live["text"] if live else e["rows_text"]
    text = " · ".join(t for t in (e["label"], rows) if t)
    dash = ' stroke-dasharray="6 3"' if e["exchange"] else ""
    return (
        f'<g class="sabot-edge{" sabot-live-edge" if live else ""}" data-edge-id="{_a(e["id"])}" data-source="{_a(e["source"])}" '
        f'data-target="{_a(e["target"])}">'
        f'<path class="sabot-edge-line" d="{e["path"]}" fill="none" stroke="{NEUTRAL_COLOR}" '
        f'stroke-width="1.5"{dash} marker-end="url(#sabot-plan-arrow)"/>'
        f'<text class="sabot-edge-rows" x="{e["label_x"] + 6:g}" y="{e["label_y"] + 4:g}" '
        f'font-size="10" fill="currentColor" fill-opacity="0.7">{_t(text)}</text></g>'
    )


def _node(n: Mapping[str, Any], live: Mapping[str, Any] | None) -> str:
    color = n["color"]
    x, y, w, h = n["x"], n["y"], n["w"], n["h"]
    rows = n["details"]["estimated_rows"]
    tip = f"{n['id']}: {n['details']['description']}" + (
        f" (~{rows:.0f} rows)" if rows is not None else ""
    )
    return (
        f'<g class="sabot-node" data-node-id="{_a(n["id"])}" data-kind="{_a(n["kind"])}">'
        f"<title>{_t(tip)}</title>"
        f'<rect class="sabot-node-box" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="6" '
        f'fill="{color}" fill-opacity="0.16" stroke="{color}" stroke-width="1.5"/>'
        f'<text class="sabot-node-label" x="{x + 10:g}" y="{y + 17:g}" font-weight="600" '
        f'fill="currentColor">{_t(n["label"])}</text>'
        f'<text class="{"sabot-node-live" if live else "sabot-node-sublabel"}" x="{x + 10:g}" '
        f'y="{y + 33:g}" font-size="10.5" fill="currentColor" fill-opacity="0.75">'
        f"{_t(live['text'] if live else shorten(n['sublabel']))}</text></g>"
    )


def _a(value: str) -> str:
    return html.escape(value, quote=True)


def _t(value: str) -> str:
    return html.escape(value, quote=False)
