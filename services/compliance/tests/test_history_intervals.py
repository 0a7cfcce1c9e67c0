"""The interval arithmetic and configuration diffs monitoring history is computed with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guardian_compliance.history.intervals import (
    FieldChange,
    Interval,
    clip,
    complement,
    diff,
    intersect,
    intersect_all,
    normalise,
    steps,
    total_seconds,
    windows,
)

T = datetime(2026, 1, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def iv(a: float, b: float) -> Interval:
    return Interval(h(a), h(b))


def test_overlapping_and_touching_intervals_merge_and_empty_ones_vanish() -> None:
    assert normalise([iv(5, 6), iv(0, 2), iv(2, 3), iv(1, 1.5), iv(4, 4)]) == [iv(0, 3), iv(5, 6)]


def test_windows_after_each_collection_leave_a_gap_when_a_day_is_missed() -> None:
    collections = [h(0), h(24), h(72)]
    assert windows(collections, timedelta(hours=26)) == [iv(0, 50), iv(72, 98)]


def test_complement_is_what_the_window_leaves_uncovered() -> None:
    covered = [iv(2, 4), iv(6, 8)]
    assert complement(covered, iv(0, 10)) == [iv(0, 2), iv(4, 6), iv(8, 10)]
    assert complement([], iv(0, 10)) == [iv(0, 10)]
    assert complement([iv(-5, 20)], iv(0, 10)) == []


def test_intersection_of_units_is_when_every_unit_was_monitored() -> None:
    s3 = [iv(0, 50), iv(72, 100)]
    iam = [iv(0, 50), iv(96, 100)]
    assert intersect(s3, iam) == [iv(0, 50), iv(96, 100)]
    assert intersect_all([s3, iam, [iv(10, 98)]]) == [iv(10, 50), iv(96, 98)]
    assert intersect_all([]) == []


def test_clip_and_totals() -> None:
    assert clip([iv(-3, 2), iv(8, 12)], iv(0, 10)) == [iv(0, 2), iv(8, 10)]
    assert total_seconds([iv(0, 2), iv(8, 10)]) == 4 * 3600


def test_status_points_become_steps_until_the_next_point() -> None:
    points = [(h(0), "PASS"), (h(24), "FAIL"), (h(24), "FAIL"), (h(48), "PASS")]
    assert steps(points, h(60)) == [(iv(0, 24), "PASS"), (iv(24, 48), "FAIL"), (iv(48, 60), "PASS")]


def test_diff_reports_each_changed_leaf_by_path() -> None:
    before = {"encryption": {"algorithm": "AES256", "key": "k1"}, "logging": {}, "tags": ["a"]}
    after = {"encryption": {"algorithm": "aws:kms", "bucket_key": True}, "logging": {"target": "logs"}, "tags": ["a"]}
    assert diff(before, after) == [
        FieldChange("encryption.algorithm", "changed", "AES256", "aws:kms"),
        FieldChange("encryption.bucket_key", "added", None, True),
        FieldChange("encryption.key", "removed", "k1", None),
        FieldChange("logging", "removed", {}, None),
        FieldChange("logging.target", "added", None, "logs"),
    ]
    assert diff(None, {"a": 1}) == [FieldChange("a", "added", None, 1)]
    assert diff({"a": [1, 2]}, {"a": [1, 2]}) == []


def test_diff_compares_leaves_as_json_values_not_as_python_equality() -> None:
    # 1, 1.0 and true are equal in Python but different configuration values.
    assert diff({"a": 1, "b": True, "c": 0.0, "d": [1]}, {"a": 1.0, "b": 1, "c": -0.0, "d": [True]}) == [
        FieldChange("a", "changed", 1, 1.0),
        FieldChange("b", "changed", True, 1),
        FieldChange("c", "changed", 0.0, -0.0),
        FieldChange("d", "changed", [1], [True]),
    ]
    unchanged = {"s": "x", "n": None, "i": 3, "f": 2.5, "l": ["a", {"k": 1}], "t": False}
    assert diff(unchanged, dict(unchanged)) == []
