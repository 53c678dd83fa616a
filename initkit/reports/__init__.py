"""Everything written from results: tables, feedback pages, nbgrader gradebook, terminal text."""
