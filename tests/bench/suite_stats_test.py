"""The peer suite's statistics (bench/suite/run.py): the paired comparison and its sign test.

Run by ctest as bench.suite_stats (tests/bench_suite_test.cmake); plain unittest, no benchmark runs.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "suite"))
import run  # noqa: E402

THROUGHPUT = run.Metric("rtt_per_s", "throughput", "k rtt/s", 1e-3, "higher", 1)
LATENCY = run.Metric("p99_us", "p99", "us", 1.0, "lower", 0)


def runs(values, key="rtt_per_s", failed=()):
    return [{"rep": i, "ok": i not in failed, "result": {key: v}} for i, v in enumerate(values)]


class SignTest(unittest.TestCase):
    def test_every_pair_won_is_a_half_to_the_n(self):
        self.assertAlmostEqual(run.sign_test_p(5, 5), 1 / 32)
        self.assertAlmostEqual(run.sign_test_p(10, 10), 1 / 1024)

    def test_no_pair_won_is_certain(self):
        self.assertEqual(run.sign_test_p(0, 8), 1.0)

    def test_half_won_is_no_evidence(self):
        # P(X >= 3 | n=6) = (20 + 15 + 6 + 1) / 64
        self.assertAlmostEqual(run.sign_test_p(3, 6), 42 / 64)

    def test_no_pairs_has_no_p(self):
        self.assertIsNone(run.sign_test_p(0, 0))


class Paired(unittest.TestCase):
    def test_pairs_repetitions_not_sorted_values(self):
        # tether wins every repetition although its median is below the peer's: only pairing shows it.
        tether = runs([110, 55, 220, 60, 130])
        peer = runs([100, 50, 200, 300, 120])
        pr = run.paired(tether, peer, THROUGHPUT)
        self.assertEqual((pr["better"], pr["n"]), (4, 5))
        self.assertAlmostEqual(pr["median"], 1.1)
        self.assertAlmostEqual(pr["p"], 6 / 32)

    def test_lower_is_better_counts_smaller_ratios(self):
        tether = runs([10, 20, 30], key="p99_us")
        peer = runs([20, 10, 60], key="p99_us")
        pr = run.paired(tether, peer, LATENCY)
        self.assertEqual((pr["better"], pr["n"]), (2, 3))
        self.assertAlmostEqual(pr["median"], 0.5)

    def test_failed_runs_and_missing_repetitions_are_left_out(self):
        tether = runs([100, 100, 100, 100], failed={1})
        peer = runs([50, 200, 50])  # no repetition 3
        pr = run.paired(tether, peer, THROUGHPUT)
        self.assertEqual((pr["better"], pr["n"]), (2, 2))

    def test_ties_count_for_neither_side(self):
        pr = run.paired(runs([100, 100, 120]), runs([100, 100, 100]), THROUGHPUT)
        self.assertEqual((pr["better"], pr["n"]), (1, 3))
        self.assertAlmostEqual(pr["p"], 0.5)  # one decided pair

    def test_nothing_to_pair_is_none(self):
        self.assertIsNone(run.paired(runs([1, 2]), [], THROUGHPUT))

    def test_shown_with_p_only_from_five_pairs(self):
        self.assertEqual(run.fmt_paired({"median": 1.04, "better": 3, "n": 4, "p": 0.3}), "1.04, 3/4")
        self.assertEqual(run.fmt_paired({"median": 0.5, "better": 5, "n": 5, "p": 1 / 32}), "0.50, 5/5, p=0.031")


if __name__ == "__main__":
    unittest.main()
