"""tvl's plots: figures and a report, regenerated from Google Benchmark JSON, never by hand.

Shared modules: load (the results, one row per benchmark, failures by structured field), files
(output written whole or not at all, SIGTERM handled as Ctrl-C), fmt
(numbers as text), palette (each model's one colour and marker), charts (the machine stamp,
axes), sweeps (points of `tvl sweep` and the ones that did not run), failures (what a failed
point is shown as), capacity_terms (a capacity in words — measured, at least, projected, no rate
passed — and ratios between brokers), headline (the findings the report opens with, each number
traced to its JSON rows) and report (sections assembled into Markdown and HTML, the command
line). One module per scenario: cutlery, primitives, restaurant, fanout (with fanout_figures),
capacity (with capacity_figures) and crossover (the echo grid of `tvl capacity echo`, with
crossover_terms for each cell's winner, crossover_statements and crossover_claims for what is
said about it, crossover_figures); a scenario module imports only the shared modules, never
another scenario's.

Entry point: plots/tvl_plots.py, run with an interpreter that imports matplotlib.
"""
