"""What the server extension's tests share besides fixtures: a never-ending job, and the
secrets of a cluster that no reply of the server may hold."""

import sabot_lab as sl
from sabot_lab import col


def tokens(cluster: sl.LocalCluster) -> list[str]:
    """The cluster's tokens (submit, read, cluster) that it has."""
    return [t for t in (cluster.token, cluster.read_token, cluster.cluster_auth.token) if t]


def endless() -> sl.Stream:
    """Even numbers of a generator that never ends, 50 a batch."""
    numbers = sl.from_generator(lambda i: {"n": list(range(50 * i, 50 * i + 50))}, 2000)
    return numbers.filter(col("n") % 2 == 0)
