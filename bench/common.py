"""What the benchmark scripts share."""

#: A 72-hour retention policy written into each bench's temporary policies_dir.
POLICY = """id = "bench72h"
title = "Benchmark policy (72 h)"
jurisdiction = "Benchmark"
[retention]
minimum = "72h"
minimum_source = "bench"
maximum = "30d"
maximum_source = "bench"
hold_request_grace = "72h"
hold_review = "90d"
"""
