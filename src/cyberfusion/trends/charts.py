"""Charts of a trend series: static PNG with matplotlib (Agg) for reports, interactive HTML with
plotly (its JavaScript bundled, nothing fetched) for the web."""

from __future__ import annotations

import io
from typing import Any

KINDS = ("line", "area", "heatmap")


def _title(result: dict[str, Any]) -> str:
    scope = ", ".join(f"{v}" for v in result["filters"].values() if v)
    by = result["by"].replace("_", " ")
    return f"{result['measure'].capitalize()} per {result['interval']}" + (f" by {by}" if by != "total" else "") \
        + (f" — {scope}" if scope else "")


def png(result: dict[str, Any], *, kind: str = "line", width: float = 9.0, height: float = 4.2) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    ax = fig.add_subplot()
    labels = result["buckets"]
    xs = list(range(len(labels)))
    series = result["series"]
    if kind == "heatmap":
        groups = [s["group"] for s in series]
        grid = [[float("nan") if v is None else v for v in s["values"]] for s in series] or [[float("nan")]]
        image = ax.imshow(grid, aspect="auto", cmap="Oranges")
        ax.set_yticks(range(len(groups)), groups)
        fig.colorbar(image, ax=ax, label=result["measure"])
    elif kind == "area":
        stacked = [[v or 0 for v in s["values"]] for s in series]
        if stacked:
            ax.stackplot(xs, *stacked, labels=[s["group"] for s in series], alpha=0.85)
    else:
        for s in series:
            ys = [float("nan") if v is None else v for v in s["values"]]
            (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=s["group"])
            for sp in s["spikes"]:
                i = labels.index(sp["bucket"])
                ax.plot([i], [sp["value"]], marker="o", markersize=9, markerfacecolor="none",
                        markeredgecolor="red", markeredgewidth=2)
            fc = s.get("forecast")
            if fc:
                fx = list(range(len(labels), len(labels) + len(fc["values"])))
                ax.plot(fx, fc["values"], linestyle="--", color=line.get_color())
                ax.fill_between(fx, fc["lower"], fc["upper"], color=line.get_color(), alpha=0.15)
    shown = labels + ([] if kind != "line" else
                      next((s["forecast"]["buckets"] for s in series if s.get("forecast")), []))
    step = max(1, len(shown) // 12)
    ax.set_xticks(range(0, len(shown), step), shown[::step], rotation=45, ha="right", fontsize=7)
    ax.set_title(_title(result), fontsize=10)
    if series and kind != "heatmap":
        ax.legend(fontsize=7, loc="upper left", ncols=2)
        ax.set_ylabel(result["measure"])
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.text(0.99, 0.01, f"cells from fewer than {result['k_threshold']} organisations hidden "
                         f"({result['suppressed_cells']})", ha="right", va="bottom", fontsize=6)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def interactive_html(result: dict[str, Any], *, kind: str = "line") -> str:
    """A self-contained HTML page (plotly.js inlined: works offline, fetches nothing)."""
    import plotly.graph_objects as go

    labels = result["buckets"]
    fig = go.Figure()
    if kind == "heatmap":
        fig.add_trace(go.Heatmap(z=[s["values"] for s in result["series"]], x=labels,
                                 y=[s["group"] for s in result["series"]], colorscale="Oranges",
                                 hoverongaps=False))
    for s in result["series"] if kind != "heatmap" else ():
        fig.add_trace(go.Scatter(x=labels, y=s["values"], name=s["group"], mode="lines+markers",
                                 stackgroup="one" if kind == "area" else None, connectgaps=False))
        if kind == "line" and s["spikes"]:
            fig.add_trace(go.Scatter(
                x=[p["bucket"] for p in s["spikes"]], y=[p["value"] for p in s["spikes"]], mode="markers",
                name=f"{s['group']}: spike", marker={"size": 14, "symbol": "circle-open", "color": "red"},
                text=[p["explanation"] for p in s["spikes"]], hoverinfo="text"))
        fc = s.get("forecast")
        if kind == "line" and fc:
            fig.add_trace(go.Scatter(x=fc["buckets"] + fc["buckets"][::-1], y=fc["upper"] + fc["lower"][::-1],
                                     fill="toself", opacity=0.2, line={"width": 0}, showlegend=False,
                                     name=f"{s['group']}: band", hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=fc["buckets"], y=fc["values"], mode="lines",
                                     line={"dash": "dash"}, name=f"{s['group']}: forecast"))
    fig.update_layout(title=_title(result), xaxis_title=result["interval"], yaxis_title=result["measure"],
                      template="plotly_white")
    return fig.to_html(include_plotlyjs=True, full_html=True)
