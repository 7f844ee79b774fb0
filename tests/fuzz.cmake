# fuzz corpus replay tests (issue 10): filled in by its work.
