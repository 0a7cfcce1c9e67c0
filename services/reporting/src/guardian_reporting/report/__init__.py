"""The assembled report (model, builder) and its renderings: JSON, CSV, PDF and OCSF."""
