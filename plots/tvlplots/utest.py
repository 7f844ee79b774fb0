"""The Mann–Whitney U test, two-sided, written out (no scipy): is one sample of repetitions
shifted against the other?

Google Benchmark's tools/compare.py runs this test on the repetitions of two runs and calls a
difference significant when p < alpha (0.05). The U statistic counts, over every pair (a, b)
of one value from each sample, how often a > b (a tie counts one half). If the two samples
come from the same distribution, every ordering of the pooled values is equally likely, and:

- with no ties and small samples, U's exact distribution is counted here: the number of
  orderings that give each U (`exact_counts`), so the p-value is a fraction of orderings;
- with ties, or samples too large to count quickly, U is close to normal with mean n1·n2/2 and
  a variance that ties reduce; the p-value comes from that normal curve, with the continuity
  correction of one half (as scipy's `mannwhitneyu(..., alternative='two-sided')` does).
"""
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

EXACT_MAX_PAIRS = 400  # n1·n2 up to which the exact distribution is counted (20 vs 20)


@dataclass(frozen=True)
class UTest:
    u: float        # U of the first sample: pairs in which its value is the larger
    p: float        # two-sided p-value
    method: str     # "exact" or "normal"
    n1: int
    n2: int


def u_statistic(x, y):
    """U of x against y: pairs (a from x, b from y) with a > b, ties counting one half."""
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)


@lru_cache(maxsize=None)
def exact_counts(n1, n2):
    """How many of the C(n1+n2, n1) orderings of two tie-free samples give U = 0, 1, … n1·n2.

    The largest pooled value belongs to the first sample (it then beats all n2 values of the
    second: U grows by n2) or to the second (U unchanged); the rest is the same problem with
    one value fewer, which gives the recursion below."""
    if n1 == 0 or n2 == 0:
        return (1,)
    first, second = exact_counts(n1 - 1, n2), exact_counts(n1, n2 - 1)
    counts = [0] * (n1 * n2 + 1)
    for u, ways in enumerate(first):
        counts[u + n2] += ways
    for u, ways in enumerate(second):
        counts[u] += ways
    return tuple(counts)


def smallest_p(n1, n2):
    """The smallest two-sided p-value that samples of these sizes can give (no ties): every
    value of one sample above every value of the other. Above alpha, no test can tell."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def normal_sf(z):
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def mann_whitney(x, y, method="auto"):
    """Two-sided Mann–Whitney U test of x against y; both need at least one value. method
    "auto" counts the exact distribution when it can (no ties, n1·n2 <= EXACT_MAX_PAIRS) and
    uses the normal approximation otherwise; "normal" forces the approximation."""
    x, y = list(x), list(y)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("the U test needs at least one value in each sample")
    u = u_statistic(x, y)
    big = max(u, n1 * n2 - u)  # the tail U lies in, by the symmetry of U's distribution
    ties = [t for t in Counter(x + y).values() if t > 1]
    if method not in ("auto", "normal"):
        raise ValueError(f"method {method!r} is not 'auto' or 'normal'")
    if method == "auto" and not ties and n1 * n2 <= EXACT_MAX_PAIRS:
        counts = exact_counts(n1, n2)
        upper = sum(counts[int(big):])  # orderings with U at least as far from the middle
        return UTest(u, min(1.0, 2 * upper / math.comb(n1 + n2, n1)), "exact", n1, n2)
    n = n1 + n2
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1))
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:  # every value the same: nothing tells the samples apart
        return UTest(u, 1.0, "normal", n1, n2)
    z = (big - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return UTest(u, min(1.0, 2 * normal_sf(z)), "normal", n1, n2)
