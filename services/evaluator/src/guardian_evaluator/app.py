"""The evaluator service: app factory and lifespan."""

from __future__ import annotations

from fastapi import FastAPI

from guardian_common import bus
from guardian_common.service import Runtime, build_app
from guardian_evaluator.catalogue.router import router as checks_router
from guardian_evaluator.catalogue.service import catalogue
from guardian_evaluator.checks import load_all
from guardian_evaluator.consumer import make_consumer
from guardian_evaluator.custom_rules import load_and_install
from guardian_evaluator.registry import REGISTRY
from guardian_evaluator.settings import EvaluatorSettings


def create_app(settings: EvaluatorSettings | None = None) -> FastAPI:
    settings = settings or EvaluatorSettings()
    load_all()
    # A bad rule file or parameter override stops the service here, before anything is published.
    load_and_install(settings.rules_dir, company_controls=settings.control_ids)
    overrides = settings.check_overrides(REGISTRY)

    async def on_start(runtime: Runtime) -> None:
        js = runtime.require_js()
        current = catalogue()
        # Compliance learns which checks exist (and their versions) from this event.
        await bus.publish(js, runtime.subjects.catalogue, current)
        consumer = make_consumer(js, runtime.subjects, current.catalogue_version, settings.batch_size, overrides)
        await consumer.start()
        runtime.extras["consumer"] = consumer

    async def on_stop(runtime: Runtime) -> None:
        consumer = runtime.extras.get("consumer")
        if consumer is not None:
            await consumer.stop()

    return build_app(
        name="evaluator",
        title="Guardian evaluator",
        description="Runs the check catalogue on resource snapshots; lists the checks.",
        settings=settings,
        routers=[checks_router],
        schema=None,
        migrations_package=None,
        on_start=on_start,
        on_stop=on_stop,
    )
