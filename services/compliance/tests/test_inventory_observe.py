"""The inventory's write path: configurations hashed and stored exactly as before it was made cheaper.

Stored hashes are compared with new ones to find drift, so the hash of a configuration must never
change with the code that computes it: the digest below was computed by the earlier implementation
(normalise, then ``config_hash`` normalising again and encoding with ``json.dumps``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from guardian_common import db
from guardian_common.events import ResourceSnapshot
from guardian_compliance.inventory.normalise import canonical_json, config_hash, hash_of_canonical, normalise
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_testkit.resources import empty_schema

SAMPLE: dict[str, Any] = {
    "Name": "bucket-a",
    "observed_at": "2026-01-01T00:00:00Z",
    "last_used": "yesterday",
    "Tags": [{"Value": "prod", "Key": "env"}, {"Key": "app", "Value": "web"}],
    "Grants": [["b", "a"], ["a"], [], [1, 2.5, True, None]],
    "Policy": {"Statement": [{"Sid": "z", "Effect": "Deny"}, {"Sid": "a", "Effect": "Allow", "password_last_used": 3}]},
    "Numbers": [3, 1, 2, 10, -1, 1.5, 1e20],
    "Mixed": ["x", 1, None, True, {"k": "v"}, ["n"], "é ü ✓"],
    "Nested": {"b": {"d": [{"y": 2, "x": 1}, {"x": 0}], "c": []}, "a": {}},
    "_errors": ["GetBucketPolicy"],
    "Empty": None,
    "Quote": 'a "quoted" \\ value\n',
}
# config_hash(SAMPLE) as the earlier implementation computed it.
SAMPLE_HASH = "2823daa025c8e8876d0f63ec1005c87d8c2596e52d6108cc220bcb96991facee"
ARN = "arn:aws:s3:::observed-bucket"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_hash_of_a_configuration_is_the_one_stored_before() -> None:
    assert config_hash(SAMPLE) == SAMPLE_HASH
    normalised = normalise(SAMPLE)
    assert hash_of_canonical(canonical_json(normalised)) == SAMPLE_HASH
    # Volatile fields dropped at every depth, keys sorted, list items in the order of their JSON.
    assert "observed_at" not in normalised
    assert "last_used" not in normalised
    assert normalised["Policy"]["Statement"] == [{"Effect": "Allow", "Sid": "a"}, {"Effect": "Deny", "Sid": "z"}]
    assert normalised["Numbers"] == [-1, 1, 1.5, 10, 1e20, 2, 3]
    assert normalised["Grants"] == [["a", "b"], ["a"], [1, 2.5, None, True], []]
    assert list(normalised) == sorted(normalised)


def snapshot(seq: int, observed_at: datetime, configuration: dict[str, Any]) -> ResourceSnapshot:
    return ResourceSnapshot(
        event_id=ResourceSnapshot.make_id("observe-scan", seq),
        scan_id="observe-scan",
        seq=seq,
        account_id="123456789012",
        region="us-east-1",
        collection_region="us-east-1",
        service="s3",
        resource_type="AWS::S3::Bucket",
        arn=ARN,
        name="observed-bucket",
        tags={"env": "prod", "team": "ö"},
        observed_at=observed_at,
        configuration=configuration,
    )


async def test_observe_stores_the_normalised_configuration_and_a_version_per_change(database: str) -> None:
    await empty_schema(database, "compliance")
    pool = await db.create_pool(database, "compliance", min_size=1, max_size=1)
    changed = {**SAMPLE, "Name": "bucket-b"}
    try:
        async with db.transaction(pool) as conn:
            await InventoryRepository(conn).observe([snapshot(1, T0, SAMPLE)])
        async with db.transaction(pool) as conn:
            inventory = InventoryRepository(conn)
            # Only volatile fields differ: the same configuration, no new version.
            await inventory.observe([snapshot(2, T0 + timedelta(hours=1), {**SAMPLE, "last_used": "today"})])
            # Older than stored: ignored altogether.
            await inventory.observe([snapshot(3, T0 - timedelta(hours=1), changed)])
        async with db.transaction(pool) as conn:
            # In one batch, the newest of a resource's snapshots wins.
            await InventoryRepository(conn).observe(
                [snapshot(5, T0 + timedelta(hours=3), changed), snapshot(4, T0 + timedelta(hours=2), SAMPLE)]
            )
        async with pool.acquire() as conn:
            resource = await conn.fetchrow("SELECT * FROM resources WHERE arn = $1", ARN)
            versions = await conn.fetch(
                "SELECT config_hash, observed_at, configuration FROM resource_configs WHERE arn = $1"
                " ORDER BY observed_at",
                ARN,
            )
            # Each stored document is the one the normalised dict encoded by json.dumps gives (as it
            # was stored before): jsonb equality, so numbers and key order compare as PostgreSQL does.
            same = await conn.fetchval(
                "SELECT (SELECT configuration FROM resources WHERE arn = $1) = $2::text::jsonb"
                " AND (SELECT configuration FROM resource_configs WHERE arn = $1 AND observed_at = $4)"
                " = $3::text::jsonb",
                ARN,
                json.dumps(normalise(changed)),
                json.dumps(normalise(SAMPLE)),
                T0,
            )
    finally:
        await pool.close()

    assert resource["config_hash"] == config_hash(changed)
    assert resource["configuration"] == normalise(changed)
    assert resource["tags"] == {"env": "prod", "team": "ö"}
    assert resource["observed_at"] == T0 + timedelta(hours=3)
    assert resource["first_seen"] == T0
    assert [(v["config_hash"], v["observed_at"]) for v in versions] == [
        (SAMPLE_HASH, T0),
        (config_hash(changed), T0 + timedelta(hours=3)),
    ]
    assert versions[0]["configuration"] == normalise(SAMPLE)
    assert same is True
