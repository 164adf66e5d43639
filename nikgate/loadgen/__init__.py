"""The load generator behind `nikgate bench`: workloads, client processes, reports.

workload.py builds the items (NIK mixes) and request messages; runner.py drives M client
processes x C channels in closed or open loop; histogram.py wraps HDR histograms;
percentiles.py is the nearest-rank percentile of kept samples; report.py turns the
processes' results into a report (table, JSON, PNG); peers.py runs the same batched
verification against Redis and PostgreSQL for compare mode, on throwaway servers that
servers.py starts and stops.
"""
