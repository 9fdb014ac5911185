"""The look of every figure: palette, hatches, markers, fonts and the fixed rcParams.

Colours are Okabe & Ito's colour-blind-safe palette; nothing is told by colour alone
(bars carry hatches, deployments markers, lines styles), so a figure printed in black and
white still reads. The rcParams are applied in a local `rc_context` (never globally) and
fix everything that could make two runs differ: the font (DejaVu Sans, shipped with
matplotlib), the SVG id salt, text as paths, TrueType (Type 42) fonts in PDF.
"""

from __future__ import annotations

# Okabe, M. & Ito, K. (2008), "Color Universal Design"
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
CYCLE = tuple(
    OKABE_ITO[c]
    for c in (
        "blue",
        "orange",
        "bluish green",
        "vermillion",
        "reddish purple",
        "sky blue",
        "yellow",
    )
)

# The three parts of a latency bar: (label, colour, hatch)
LATENCY_PARTS = (
    ("edge: head + encode", OKABE_ITO["blue"], "///"),
    ("network p95", OKABE_ITO["orange"], "..."),
    ("server: decode + tail", OKABE_ITO["bluish green"], "\\\\\\"),
)

# Deployment strategies: marker and colour; any other strategy takes the next free pair.
STRATEGY_STYLE = {
    "local": ("s", OKABE_ITO["vermillion"]),
    "remote": ("^", OKABE_ITO["blue"]),
    "split": ("o", OKABE_ITO["sky blue"]),
}
SPARE_STYLES = (
    ("D", OKABE_ITO["reddish purple"]),
    ("v", OKABE_ITO["bluish green"]),
    ("P", OKABE_ITO["orange"]),
    ("X", OKABE_ITO["yellow"]),
    ("h", OKABE_ITO["black"]),
)

# Payload lines on the CS curve's right axis: (line style, marker), colour from CYCLE.
SERIES_STYLES = (("--", "s"), ("-.", "^"), (":", "v"), ((0, (5, 1, 1, 1, 1, 1)), "D"))

# Sensitivity-map cells: colour and hatch per recommended deployment (letters key them).
CELL_HATCHES = ("", "///", "...", "\\\\\\", "xxx", "ooo", "---", "+++", "|||", "***")

FONT = "DejaVu Sans"
SVG_HASH_SALT = "sei-figures"

RC_PARAMS = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": 9.0,
    "mathtext.fontset": "dejavusans",
    "text.usetex": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.linestyle": ":",
    "grid.linewidth": 0.6,
    "grid.color": "#999999",
    "hatch.color": "#000000",
    "hatch.linewidth": 0.6,
    "legend.fontsize": 8.0,
    "legend.framealpha": 1.0,
    "figure.dpi": 100.0,
    "figure.facecolor": "white",
    "savefig.dpi": 200.0,
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "savefig.transparent": False,
    "savefig.bbox": None,
    "svg.hashsalt": SVG_HASH_SALT,
    "svg.fonttype": "path",
    "svg.image_inline": True,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "pdf.compression": 6,
}


def rc_params() -> dict:
    """The rcParams of every figure (imports matplotlib: call only when drawing)."""
    from matplotlib import cycler

    params = dict(RC_PARAMS)
    params["axes.prop_cycle"] = cycler(color=list(CYCLE))  # a cycler object: built here
    return params


def strategy_style(strategy: str, others: list[str]) -> tuple[str, str]:
    """(marker, colour) of a strategy; `others` is the sorted list of unknown strategies."""
    if strategy in STRATEGY_STYLE:
        return STRATEGY_STYLE[strategy]
    return SPARE_STYLES[others.index(strategy) % len(SPARE_STYLES)]
