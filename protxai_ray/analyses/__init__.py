"""Analyses of a run that need its model (``protxai analyze``), written as tables of the run.

The report only draws tables: anything that runs the model happens here, once, and lands in the store
next to the stats tables (``runs/run_id=ID/stats/<table>/part-0.parquet``, a view of the same name).

- ``faithfulness``: flip the n most relevant residues vs n random residues, both replaced from the
  protein's own composition, and measure the drop of the target logit (``faithfulness.py``; the
  statistics across proteins in ``summary.py``, which needs neither torch nor the model).
- ``run.analyze_run``: reads the run from the store, loads the model, writes the tables.
- ``attention``: the attention each token receives per layer and head, written as a pseudo-run (method
  ``attention``) that ``protxai stats`` tests like head relevance (``protxai analyze --attention-run``).
- ``randomization``: Adebayo et al.'s sanity checks (cascading re-initialisation, a random-label model);
  run by ``benchmarks/sanity.py``.
"""
