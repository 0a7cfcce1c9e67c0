"""AWS CloudTrail: every trail, in its home region, with its status and the exposure of its bucket.

Each region lists the trails created there (``includeShadowTrails=False``), so a multi-region
trail is emitted once, by its home region. For each trail the collector reads whether it is
logging, which management events its selectors record (classic or advanced selectors), and
whether the S3 bucket receiving its logs is publicly exposed (policy status, ACL grants and the
bucket's public access block, read here so the trail's checks need nothing else).

The account context gets ``cloudtrail_trails``: one summary per trail across all regions, and
the regions whose listing failed, so a missing multi-region trail is never mistaken for one that
does not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Facts,
    Read,
    Resource,
    UnitContext,
    UnitFailed,
    register,
    tags_of,
)

SERVICE = "cloudtrail"
TRAIL_TYPE = "AWS::CloudTrail::Trail"
TRAILS_FACT = "trails"
REGIONS_FACT = "regions"
TRAILS_FIELD = "cloudtrail_trails"

ALL_USERS_URI = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS_URI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PUBLIC_GROUPS = {ALL_USERS_URI: "AllUsers", AUTHENTICATED_USERS_URI: "AuthenticatedUsers"}
NO_POLICY = "NoSuchBucketPolicy"
NO_PUBLIC_ACCESS_BLOCK = "NoSuchPublicAccessBlockConfiguration"

# Advanced selector fields that only narrow *which* management events are recorded in ways we
# still count as recording them (excluding noisy sources such as KMS or the RDS Data API).
_MANAGEMENT_FIELDS = {"eventcategory", "readonly"}


def _strings(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def _classic_management(selectors: Iterable[Mapping[str, Any]]) -> tuple[bool, bool]:
    read = write = False
    for selector in selectors:
        if not selector.get("IncludeManagementEvents", True):
            continue
        kind = str(selector.get("ReadWriteType") or "All")
        read = read or kind in ("All", "ReadOnly")
        write = write or kind in ("All", "WriteOnly")
    return read, write


def _advanced_management(selectors: Iterable[Mapping[str, Any]]) -> tuple[bool, bool]:
    """Which management events (read, write) a list of advanced event selectors records.

    A selector counts when its eventCategory equals Management and no other field restricts it
    to particular sources or events (``eventSource`` exclusions with NotEquals are allowed).
    The readOnly field then says whether it records reads, writes or both.
    """
    read = write = False
    for selector in selectors:
        fields = selector.get("FieldSelectors") or []
        by_name = {str(f.get("Field", "")).lower(): f for f in fields}
        category = by_name.get("eventcategory")
        if category is None or "Management" not in _strings(category.get("Equals")):
            continue
        narrowing = [
            f
            for name, f in by_name.items()
            if name not in _MANAGEMENT_FIELDS and not (name == "eventsource" and set(f) <= {"Field", "NotEquals"})
        ]
        if narrowing:
            continue
        records_read, records_write = True, True
        ro = by_name.get("readonly")
        if ro is not None:
            equals = {v.lower() for v in _strings(ro.get("Equals"))}
            not_equals = {v.lower() for v in _strings(ro.get("NotEquals"))}
            if equals:
                records_read = "true" in equals
                records_write = "false" in equals
            records_read = records_read and "true" not in not_equals
            records_write = records_write and "false" not in not_equals
        read = read or records_read
        write = write or records_write
    return read, write


def management_events(answer: Mapping[str, Any]) -> dict[str, bool]:
    """Management events recorded by a trail, from GetEventSelectors (classic or advanced).

    A trail with no selector at all records nothing we can show, so both are False.
    """
    advanced = answer.get("AdvancedEventSelectors") or []
    if advanced:
        read, write = _advanced_management(advanced)
    else:
        read, write = _classic_management(answer.get("EventSelectors") or [])
    return {"read": read, "write": write}


def _read_write(read_only: Mapping[str, Any] | None) -> tuple[bool, bool]:
    """Which of reads and writes an advanced selector's readOnly field lets through."""
    if read_only is None:
        return True, True
    equals = {v.lower() for v in _strings(read_only.get("Equals"))}
    not_equals = {v.lower() for v in _strings(read_only.get("NotEquals"))}
    reads, writes = ("true" in equals, "false" in equals) if equals else (True, True)
    return reads and "true" not in not_equals, writes and "false" not in not_equals


_ALL_BUCKETS = {"arn:aws:s3", "arn:aws:s3:::", "arn:aws-us-gov:s3:::", "arn:aws-cn:s3:::"}


def s3_data_events(answer: Mapping[str, Any]) -> dict[str, bool]:
    """S3 object-level events (read, write) a trail records for *every* bucket, from GetEventSelectors.

    Classic selectors count when a data resource of type AWS::S3::Object lists the all-buckets value
    (``arn:aws:s3`` or ``arn:aws:s3:::``); advanced ones when eventCategory is Data, resources.type is
    AWS::S3::Object and no other field (resources.ARN, eventName, ...) narrows them.
    """
    read = write = False
    advanced = answer.get("AdvancedEventSelectors") or []
    if advanced:
        for selector in advanced:
            by_name = {str(f.get("Field", "")).lower(): f for f in selector.get("FieldSelectors") or []}
            category = by_name.get("eventcategory") or {}
            kind = by_name.get("resources.type") or {}
            if "Data" not in _strings(category.get("Equals")) or "AWS::S3::Object" not in _strings(kind.get("Equals")):
                continue
            if set(by_name) - {"eventcategory", "resources.type", "readonly"}:
                continue
            reads, writes = _read_write(by_name.get("readonly"))
            read, write = read or reads, write or writes
        return {"read": read, "write": write}
    for selector in answer.get("EventSelectors") or []:
        everywhere = any(
            str(resource.get("Type")) == "AWS::S3::Object" and _ALL_BUCKETS & set(_strings(resource.get("Values")))
            for resource in selector.get("DataResources") or []
        )
        if not everywhere:
            continue
        kind = str(selector.get("ReadWriteType") or "All")
        read = read or kind in ("All", "ReadOnly")
        write = write or kind in ("All", "WriteOnly")
    return {"read": read, "write": write}


def bucket_logging(answer: Mapping[str, Any]) -> dict[str, Any]:
    """Server access logging of the trail's bucket (GetBucketLogging): on when a target bucket is set."""
    enabled = answer.get("LoggingEnabled") or {}
    return {"enabled": bool(enabled.get("TargetBucket")), "target_bucket": enabled.get("TargetBucket") or None}


def _block(answer: Mapping[str, Any]) -> dict[str, bool]:
    config = answer.get("PublicAccessBlockConfiguration") or {}
    return {
        "ignore_public_acls": bool(config.get("IgnorePublicAcls", False)),
        "restrict_public_buckets": bool(config.get("RestrictPublicBuckets", False)),
    }


def bucket_exposure(bucket: str, status: Read, acl: Read, block: Read) -> dict[str, Any] | CallError:
    """Whether the trail's bucket is public, and why; the failed read's error when that is unknown.

    A public bucket policy is neutralised by RestrictPublicBuckets, public ACL grants by
    IgnorePublicAcls. A public source whose neutraliser is known to be off is a fact even when
    another read failed, so that case is still reported as public.
    """
    settings = None if block.error else _block({} if block.absent else block.value)
    restricted = settings is not None and settings["restrict_public_buckets"]
    ignored = settings is not None and settings["ignore_public_acls"]
    reasons: list[str] = []
    unknown: CallError | None = None

    if status.error is not None:
        if not restricted:
            unknown = status.error
    elif not status.absent and (status.value.get("PolicyStatus") or {}).get("IsPublic") and not restricted:
        if settings is None:
            unknown = block.error
        else:
            reasons.append(f"the bucket policy of {bucket} makes it public and RestrictPublicBuckets is off")

    if acl.error is not None:
        if not ignored:
            unknown = unknown or acl.error
    elif not ignored:
        grants = sorted(
            f"{PUBLIC_GROUPS[uri]}:{g.get('Permission')}"
            for g in acl.value.get("Grants") or []
            if (uri := str((g.get("Grantee") or {}).get("URI"))) in PUBLIC_GROUPS
        )
        if grants and settings is None:
            unknown = unknown or block.error
        elif grants:
            reasons.append(f"the ACL of {bucket} grants {', '.join(grants)} and IgnorePublicAcls is off")

    if reasons:
        return {"is_public": True, "reasons": reasons}
    if unknown is not None:
        return unknown
    return {"is_public": False, "reasons": []}


@register
class CloudTrailCollector(Collector):
    service = SERVICE
    permissions = (
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:ListTags",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketLogging",
    )
    resource_types = (TRAIL_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        ctx.facts.put(SERVICE, REGIONS_FACT, list(ctx.regions))
        client = await ctx.client("cloudtrail")
        try:
            trails = await ctx.list_all(client, "describe_trails", "trailList", includeShadowTrails=False)
        except UnitFailed as exc:
            ctx.facts.put_error(SERVICE, TRAILS_FACT, exc.error.describe(), region=region)
            raise
        own = [t for t in trails if (t.get("HomeRegion") or region) == region]
        summaries = await asyncio.gather(*(self._trail(ctx, client, trail) for trail in own))
        ctx.facts.put(SERVICE, TRAILS_FACT, [s for s in summaries if s is not None], region=region)

    async def _trail(self, ctx: UnitContext, client: Any, trail: Mapping[str, Any]) -> dict[str, Any] | None:
        arn = str(trail["TrailARN"])
        name = str(trail.get("Name") or arn.rsplit("/", 1)[-1])
        home = str(trail.get("HomeRegion") or ctx.unit_region)
        owner = arn.split(":")[4] if arn.count(":") >= 5 else ctx.account_id
        if owner != ctx.account_id:
            return await self._foreign_trail(ctx, client, trail, arn, name, home)
        bucket = trail.get("S3BucketName")
        cfg = ConfigBuilder(
            name=name,
            arn=arn,
            home_region=home,
            is_multi_region=bool(trail.get("IsMultiRegionTrail", False)),
            is_organization_trail=bool(trail.get("IsOrganizationTrail", False)),
            include_global_service_events=bool(trail.get("IncludeGlobalServiceEvents", False)),
            log_file_validation=bool(trail.get("LogFileValidationEnabled", False)),
            kms_key_id=trail.get("KmsKeyId") or None,
            cloudwatch_logs_log_group_arn=trail.get("CloudWatchLogsLogGroupArn") or None,
            s3_bucket_name=bucket or None,
            s3_key_prefix=trail.get("S3KeyPrefix") or None,
        )

        async def exposure() -> dict[str, Any] | CallError:
            if not bucket:
                missing = CallError("DescribeTrails", "MissingS3BucketName", "the trail names no S3 bucket", arn)
                ctx.record(missing)
                return missing
            s3 = await ctx.client("s3")
            status, acl, block = await asyncio.gather(
                ctx.read(s3, "get_bucket_policy_status", absent=(NO_POLICY,), resource_arn=arn, Bucket=bucket),
                ctx.read(s3, "get_bucket_acl", resource_arn=arn, Bucket=bucket),
                ctx.read(
                    s3,
                    "get_public_access_block",
                    absent=(NO_PUBLIC_ACCESS_BLOCK,),
                    resource_arn=arn,
                    Bucket=bucket,
                ),
            )
            return bucket_exposure(str(bucket), status, acl, block)

        async def access_logging() -> Read:
            if not bucket:
                missing = CallError("DescribeTrails", "MissingS3BucketName", "the trail names no S3 bucket", arn)
                return Read(error=missing)
            s3 = await ctx.client("s3")
            return await ctx.read(s3, "get_bucket_logging", resource_arn=arn, Bucket=bucket)

        status, selectors, tags, exposed, logged = await asyncio.gather(
            ctx.read(client, "get_trail_status", resource_arn=arn, Name=arn),
            ctx.read(client, "get_event_selectors", resource_arn=arn, TrailName=arn),
            ctx.read(client, "list_tags", resource_arn=arn, ResourceIdList=[arn]),
            exposure(),
            access_logging(),
        )
        cfg.from_read("is_logging", status, lambda v: bool(v.get("IsLogging", False)))
        cfg.from_read("management_events", selectors, management_events)
        cfg.from_read("s3_data_events", selectors, s3_data_events)
        cfg.from_read("bucket_logging", logged, bucket_logging)
        cfg.from_read("tags", tags, lambda v: _tags(v, arn))
        if isinstance(exposed, CallError):
            cfg.fail("bucket_exposure", exposed)
        else:
            cfg.put("bucket_exposure", exposed)
        configuration = cfg.build()

        await ctx.emit(
            Resource(
                resource_type=TRAIL_TYPE,
                arn=arn,
                name=name,
                region=home,
                configuration=configuration,
                tags=dict(configuration.get("tags") or {}),
            )
        )
        return {
            "arn": arn,
            "name": name,
            "home_region": home,
            "is_multi_region": configuration["is_multi_region"],
            "is_organization_trail": configuration["is_organization_trail"],
            "is_logging": configuration["is_logging"],
            "management_events": configuration["management_events"],
            "s3_data_events": configuration["s3_data_events"],
            "unreadable": sorted(f for f in configuration.get("_errors", {}) if f not in ("tags", "bucket_logging")),
        }

    async def _foreign_trail(
        self, ctx: UnitContext, client: Any, trail: Mapping[str, Any], arn: str, name: str, home: str
    ) -> dict[str, Any] | None:
        """An organisation trail seen from a member account.

        The management account's scan owns the trail as a resource (its bucket, key, validation); here
        it only counts towards this account's coverage, as AWS intends: it logs this account too. A
        trail of another account that is not an organisation trail does not log this account at all.
        """
        if not trail.get("IsOrganizationTrail", False):
            return None
        summary: dict[str, Any] = {
            "arn": arn,
            "name": name,
            "home_region": home,
            "is_multi_region": bool(trail.get("IsMultiRegionTrail", False)),
            "is_organization_trail": True,
            "owner_account_id": arn.split(":")[4],
            "is_logging": None,
            "management_events": None,
            "s3_data_events": None,
            "unreadable": [],
        }
        status, selectors = await asyncio.gather(
            ctx.read(client, "get_trail_status", resource_arn=arn, Name=arn),
            ctx.read(client, "get_event_selectors", resource_arn=arn, TrailName=arn),
        )
        unreadable = []
        if status.error is None and status.value is not None:
            summary["is_logging"] = bool(status.value.get("IsLogging", False))
        else:
            unreadable.append("is_logging")
        if selectors.error is None and selectors.value is not None:
            summary["management_events"] = management_events(selectors.value)
            summary["s3_data_events"] = s3_data_events(selectors.value)
        else:
            unreadable.extend(["management_events", "s3_data_events"])
        summary["unreadable"] = unreadable
        return summary

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            return {}, {}
        listed = facts.regions_of(SERVICE, TRAILS_FACT)
        failed = facts.errors_of(SERVICE, TRAILS_FACT)
        scanned = facts.get(SERVICE, REGIONS_FACT)
        expected = set(scanned) if scanned is not None else set()
        problems = {r: why for r, why in failed.items()}
        for missing in sorted(expected - set(listed) - set(failed)):
            problems[missing] = "trail listing not recorded (the collection of this region did not finish)"
        if scanned is None and not listed:
            problems["all regions"] = "no trail listing recorded (the CloudTrail collection did not run)"

        trails: dict[str, dict[str, Any]] = {}
        for reg in sorted(listed):
            for summary in listed[reg] or []:
                trails.setdefault(str(summary["arn"]), dict(summary))
        fields: dict[str, Any] = {TRAILS_FIELD: [trails[arn] for arn in sorted(trails)]}
        if not problems:
            return fields, {}
        detail = "; ".join(f"{r}: {why}" for r, why in sorted(problems.items()))
        fields["cloudtrail_trail_listing_failed_regions"] = sorted(problems)
        return fields, {TRAILS_FIELD: f"trails could not be listed in {len(problems)} region(s): {detail}"[:1000]}


def _tags(answer: Mapping[str, Any], arn: str) -> dict[str, str]:
    for entry in answer.get("ResourceTagList") or []:
        if entry.get("ResourceId") == arn:
            return tags_of(entry.get("TagsList"))
    return {}
