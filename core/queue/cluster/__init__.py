"""The queue on a Ray cluster: the head (this machine, with the library) claims jobs and records
their outputs; actors, one per GPU (or one per CPU-only node), only run the engine.

`head` holds the dispatch loop, `actor` what runs on each worker, `models` how models reach the
workers by fingerprint, `pool` how Ray is reached and actors are started. Ray is imported only
inside functions: it is an optional extra (`pip install 'atelier[ray]'`).
"""
