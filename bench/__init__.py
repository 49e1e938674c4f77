"""The benchmark (``live-nst-bench``) and the metrics the tests share; installed as
``live_nst.bench`` from the repository's bench/ folder."""
