"""Models of runs, above the store and below the api: comparing runs (``compare``, with the one
``same_value`` rule), content-addressed artifacts, the model registry (promote, rollback), validation
and drift against a baseline, and the replay notebook a rerun executes. No SQL here: records in,
records out, through the store's methods."""
