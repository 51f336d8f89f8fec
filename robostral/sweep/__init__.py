"""Simulation sweeps: policies x robots x tasks x randomization x seeds, as Ray tasks, into a Parquet store.

``spec`` reads the sweep file and plans the cells, ``cell`` runs one cell's
episodes, ``engine`` runs the cells on Ray and stores them (``store``), and
``report`` turns a sweep's folder into plots, tables and verdicts (``aggregate`` the numbers,
``figures`` the plots, ``sections`` what the report says, ``render`` its Markdown and HTML).
"""
