from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from guardian_common.settings import ServiceSettings
from guardian_evaluator.control_ids import parse_control_ids
from guardian_evaluator.registry import Registry


class EvaluatorSettings(ServiceSettings):
    port: int = 8082
    batch_size: int = Field(default=256, ge=1, le=5000)
    # Folder of custom rule files (*.yaml), loaded and validated at start-up (GUARDIAN_RULES_DIR).
    rules_dir: Path | None = None
    # The company's own control ids a rule file may name besides the bundled library's
    # (GUARDIAN_CONTROL_IDS: comma-separated, or a JSON list); a rule naming any other is refused.
    control_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Per-check parameter overrides as JSON (GUARDIAN_CHECK_PARAMETERS), e.g.
    # {"rds_instance_backups_enabled": {"min_retention_days": 14}}.
    check_parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Data classification: the tag naming a data store's class, the classes, the one with the strictest
    # rules, and the tag marking critical stores.
    classification_tag_key: str = Field(default="data-classification", min_length=1)
    classification_levels: list[str] = Field(
        default_factory=lambda: ["public", "internal", "confidential", "restricted"], min_length=1
    )
    classification_restricted_level: str = "restricted"
    criticality_tag_key: str = Field(default="criticality", min_length=1)
    criticality_critical_value: str = Field(default="critical", min_length=1)
    # Off by default: an untagged data store is then not judged by the classification checks at all.
    fail_untagged_data_stores: bool = False

    @field_validator("control_ids", mode="before")
    @classmethod
    def _control_ids(cls, value: Any) -> list[str]:
        return parse_control_ids(value)

    @model_validator(mode="after")
    def _classification_consistent(self) -> EvaluatorSettings:
        if len(set(self.classification_levels)) != len(self.classification_levels):
            raise ValueError("GUARDIAN_CLASSIFICATION_LEVELS names a level twice")
        if self.classification_restricted_level not in self.classification_levels:
            raise ValueError(
                f"GUARDIAN_CLASSIFICATION_RESTRICTED_LEVEL {self.classification_restricted_level!r} "
                f"is not one of GUARDIAN_CLASSIFICATION_LEVELS {self.classification_levels}"
            )
        return self

    def classification_parameters(self) -> dict[str, Any]:
        """The check parameters the classification settings provide, by parameter name."""
        return {
            "classification_tag_key": self.classification_tag_key,
            "classification_levels": list(self.classification_levels),
            "restricted_level": self.classification_restricted_level,
            # Checks that demand a customer-managed key for some classes (e.g. DynamoDB's) name them so.
            "customer_key_levels": [self.classification_restricted_level],
            "criticality_tag_key": self.criticality_tag_key,
            "critical_value": self.criticality_critical_value,
            "fail_untagged": self.fail_untagged_data_stores,
        }

    def check_overrides(self, registry: Registry) -> dict[str, dict[str, Any]]:
        """Parameter overrides for the engine: the classification settings for every check that takes
        them, then GUARDIAN_CHECK_PARAMETERS on top. An unknown check or parameter is refused, so a
        typo never leaves a threshold silently at its default."""
        overrides: dict[str, dict[str, Any]] = {}
        provided = self.classification_parameters()
        for chk in registry:
            taken = {name: value for name, value in provided.items() if name in chk.parameters}
            if taken:
                overrides[chk.id] = taken
        for check_id, params in self.check_parameters.items():
            if check_id not in registry:
                raise ValueError(f"GUARDIAN_CHECK_PARAMETERS names an unknown check {check_id!r}")
            known = registry.get(check_id).parameters
            unknown = sorted(set(params) - set(known))
            if unknown:
                allowed = ", ".join(sorted(known)) or "none"
                raise ValueError(
                    f"GUARDIAN_CHECK_PARAMETERS: check {check_id!r} has no parameter {', '.join(unknown)} "
                    f"(it takes: {allowed})"
                )
            overrides[check_id] = {**overrides.get(check_id, {}), **params}
        return overrides
