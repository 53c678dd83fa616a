"""From a notebook to a result: collect the hidden tests, run them against a sandboxed student,
cache results, grade many in a worker pool."""
