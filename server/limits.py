"""The process's file-descriptor limit, and the per-worker connection cap that fits under it.

Every TCP connection a worker holds is a file descriptor, handshaken or not. A worker that
runs out of descriptors cannot accept, and cannot open an audit segment or an LMDB file
either, so the connection cap is always kept below the limit with a reserve for files.

This module must not import grpc: the supervisor imports it before forking.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

# Descriptors kept back from the connection cap for everything else a worker opens:
# LMDB environments, audit segments, grpc's epoll/eventfd/pipes, the metrics files.
FD_RESERVE = 512
# The least cap we ever set, even under a tiny descriptor limit.
MIN_CONNECTIONS = 16
# grpc's own cap, as a multiple of the soft cap: an unhandshaken connection costs ~20 kB
# of worker memory, so 4 x 5,000 is at most ~400 MB even if shedding stalls.
HARD_FACTOR = 4
# Used only where the hard limit is "unlimited" (not Linux, where it is at most nr_open).
UNLIMITED_TARGET = 1 << 20


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (what an unprivileged process may);
    returns the (soft, hard) limits in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as e:
            log.warning("cannot raise the file-descriptor limit",
                        extra={"soft": soft, "hard": hard, "error": str(e)})
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def connection_caps(max_connections: int) -> tuple[int, int]:
    """(soft, hard) connection caps for one worker.

    soft: `max_connections` (0 = as many as fit), never more than the soft descriptor
    limit minus FD_RESERVE; the shedding thread keeps connections at or under it.
    hard: what grpc itself allows (beyond it new connections are closed at accept),
    HARD_FACTOR x soft, within the same descriptor bound. The gap absorbs a flood
    between two shedding scans, so a real client's connection is still accepted."""
    soft_fds, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    fits = UNLIMITED_TARGET if soft_fds == resource.RLIM_INFINITY else soft_fds - FD_RESERVE
    fits = max(MIN_CONNECTIONS, fits)
    soft = fits if max_connections <= 0 else min(max_connections, fits)
    return soft, min(fits, HARD_FACTOR * soft)
