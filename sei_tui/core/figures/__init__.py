"""Publication figures as files: the CS curve, latency by split, the Pareto plot and the
sensitivity map of a sweep, drawn with matplotlib from the same data as the JSON report.

`data` turns a report (or the saliency result) into plain per-figure data (no matplotlib:
the TUI's plots can share it); `draw` draws it (matplotlib's object-oriented API); `files`
renders byte-identical SVG/PDF/PNG, writes them atomically and embeds them in Markdown.
Importing this package does not import matplotlib; drawing does.
"""

from sei_tui.core.figures.data import (
    CAPTIONS,
    FIGURE_NAMES,
    CsCurve,
    LatencyBar,
    LatencyBars,
    ParetoData,
    ParetoPoint,
    SensitivityMap,
    cs_curve_from_report,
    cs_curve_from_saliency,
    latency_bars_from_report,
    pareto_from_report,
    sensitivity_map_from_report,
)
from sei_tui.core.figures.files import (
    FIGURE_FORMATS,
    analysis_figure_data,
    check_figure_file,
    check_figure_folder,
    draw,
    figure_format,
    markdown_figures,
    render,
    write_analysis_figures,
    write_saliency_figure,
)

__all__ = [
    "CAPTIONS",
    "FIGURE_FORMATS",
    "FIGURE_NAMES",
    "CsCurve",
    "LatencyBar",
    "LatencyBars",
    "ParetoData",
    "ParetoPoint",
    "SensitivityMap",
    "analysis_figure_data",
    "check_figure_file",
    "check_figure_folder",
    "cs_curve_from_report",
    "cs_curve_from_saliency",
    "draw",
    "figure_format",
    "latency_bars_from_report",
    "markdown_figures",
    "pareto_from_report",
    "render",
    "sensitivity_map_from_report",
    "write_analysis_figures",
    "write_saliency_figure",
]
