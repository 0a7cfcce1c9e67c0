"""Every line a service writes is one JSON object: its own events and the libraries' records alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from guardian_common.logging import configure_logging, get_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging binds the stream pytest captures for this test: put everything back after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


@pytest.mark.usefixtures("restore_logging")
def test_library_records_and_service_events_are_json_lines_with_the_scan_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    structlog.contextvars.bind_contextvars(scan_id="scan-42")
    try:
        get_logger("guardian.test").info("unit_collected", service="s3")
        logging.getLogger("uvicorn.error").warning("Application shutdown failed")
        logging.getLogger("asyncpg.pool").debug("below the level: not written")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == ["unit_collected", "Application shutdown failed"]
    assert all(line["scan_id"] == "scan-42" for line in lines)
    assert lines[1]["logger"] == "uvicorn.error"
    assert lines[1]["level"] == "warning"
    configure_logging("INFO", json=True)
    assert len([h for h in logging.getLogger().handlers if h.get_name() == "guardian-json"]) == 1
