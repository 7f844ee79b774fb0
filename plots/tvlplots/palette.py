"""The one palette: each model and each reference peer has one colour and one marker, defined
here and used by every figure, so `asyncloop-mt` is the same purple diamond in the cutlery
figure as in the capacity figure.

A model's variants (racy or safe, naive or improved, pinned or not) are told apart by line
style, hatching or a shade of the model's own colour — never by another model's hue. Red is
kept for flags (a failed check, a load-bound probe, a collapse), never a model.
"""

# model: (colour, marker, a light shade, more shades). Its first series in a figure takes the
# colour, the second the light shade, later ones the other shades; the light shade alone marks
# a weaker variant (a naive design, an unpinned run).
PALETTE = {
    "threads": ("#1f4e9c", "o", "#8fb5ea", ("#4f83d1",)),
    "threads-per-table": ("#138d90", "p", "#5cc4c6", ()),
    "pool": ("#7d7d1a", "h", "#c9c96a", ()),
    "tbb": ("#1b7a3a", "P", "#5fbf7a", ()),
    "asyncloop": ("#c05a00", "D", "#f0a030", ("#8c3b00", "#5a2600")),
    "asyncloop-mt": ("#7a2f9c", "d", "#b57fd6", ()),
    "redis": ("#444444", "s", "#999999", ()),
    "python": ("#8c564b", "^", "#c49c94", ()),
    "python-uvloop": ("#c2408f", "v", "#e89cc9", ()),
}
UNKNOWN = ("#777777", "x", "#bbbbbb", ())
PEERS = ("redis", "python", "python-uvloop")  # reference brokers: drawn dotted beside tvl's
FLAG = "#d62728"  # red: a flag on a point or bar, not a model
SIGNAL = "#b2182b"  # dark red: a significant difference in a comparison, not a model

# Everything that is not a model is drawn in greys, so no figure lends a model's hue to a
# quantity: INK for reference lines and text, then lighter for less important marks. A figure
# that shows several quantities side by side tells them apart by these greys and by hatching.
INK = "#333333"
MUTED = "#555555"
SOFT = "#777777"
RULE = "#888888"
FAINT = "#bbbbbb"
GRID = "#cccccc"
QUANTITIES = (("#d9d9d9", ""), ("#969696", ""), ("#525252", ""), ("white", "//"))  # (fill, hatch)


def model_of(series):
    """The model a series belongs to: 'asyncloop' of 'asyncloop/improved' or 'redis (peer)'."""
    return series.replace(" (peer)", "").split("/")[0].split(" ")[0]


def color(series, shade=0):
    """The series' model colour, or (shade > 0) the model's other shades in turn, cycling."""
    main, _, pale, more = PALETTE.get(model_of(series), UNKNOWN)
    shades = (main, pale, *more)
    return shades[shade % len(shades)]


def light(series):
    """The model's light shade: its naive design, its unpinned bar."""
    return PALETTE.get(model_of(series), UNKNOWN)[2]


def marker(series):
    """The series' model marker."""
    return PALETTE.get(model_of(series), UNKNOWN)[1]


def style(series):
    """Colour and marker of a series, plus a dotted line for a reference peer."""
    out = dict(color=color(series), marker=marker(series))
    if model_of(series) in PEERS:
        out["linestyle"] = ":"
    return out
